//! The log key in a PKCS#11 token, with SoftHSM2 standing in for an HSM (Debian `softhsm2`; the
//! module path from `ROADSIDE_TEST_PKCS11_MODULE`, default Debian's). A real server signs its
//! checkpoints through the token; they verify with the public key read from the token, the key
//! directory holds no log key, a wrong PIN or a readable PIN file stops the start, and the same
//! database without the token refuses to make a new log key.
//!
//! One test function: SoftHSM reads its configuration (`SOFTHSM2_CONF`) from the process
//! environment, and a PKCS#11 module is initialised once per process at a time.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use roadside_server::config::Config;
use roadside_server::Server;

const TOKEN: &str = "roadside-test";
const PIN: &str = "20261207";
const KEY_LABEL: &str = "roadside-log";
const ORIGIN: &str = "roadside.local/log";

fn module() -> PathBuf {
    let module = std::env::var_os("ROADSIDE_TEST_PKCS11_MODULE").map_or_else(
        || PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
        PathBuf::from,
    );
    assert!(
        module.exists(),
        "PKCS#11 module {} missing: install softhsm2 (scripts/test-all.sh does) or set \
         ROADSIDE_TEST_PKCS11_MODULE",
        module.display()
    );
    module
}

/// A SoftHSM token store of its own with one initialised token.
fn softhsm_token(dir: &Path) {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("mkdir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("conf");
    // The only test in this binary: no other thread reads the environment meanwhile.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let out = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN])
        .args(["--so-pin", "87654321", "--pin", PIN])
        .output()
        .expect("run softhsm2-util (install softhsm2)");
    assert!(out.status.success(), "{out:?}");
}

/// An Ed25519 key pair made in the token, as an operator would; its public key.
fn generate_pair(module: &Path) -> ed25519_dalek::VerifyingKey {
    let ctx = Pkcs11::new(module).expect("load module");
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("initialise");
    let slot = ctx
        .get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| ctx.get_token_info(*s).expect("info").label().trim_end() == TOKEN)
        .expect("token");
    let session = ctx.open_rw_session(slot).expect("session");
    session
        .login(UserType::User, Some(&AuthPin::new(PIN.into())))
        .expect("login");
    let label = Attribute::Label(KEY_LABEL.as_bytes().to_vec());
    let (public, _) = session
        .generate_key_pair(
            &Mechanism::EccEdwardsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                // PrintableString "edwards25519", as SoftHSM names the curve.
                Attribute::EcParams(b"\x13\x0cedwards25519".to_vec()),
                label.clone(),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                label,
            ],
        )
        .expect("generate Ed25519 pair");
    let point = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .expect("EC point");
    let raw = match point.first() {
        Some(Attribute::EcPoint(p)) => p.clone(),
        other => panic!("no EC point: {other:?}"),
    };
    let raw = if raw.len() == 34 {
        raw[2..].to_vec()
    } else {
        raw
    };
    drop(session);
    ctx.finalize().expect("finalise");
    ed25519_dalek::VerifyingKey::from_bytes(&raw.try_into().expect("32 bytes")).expect("point")
}

fn token_config(c: &mut Config, module: &Path) {
    c.pkcs11_module = Some(module.to_path_buf());
    c.pkcs11_token = Some(TOKEN.to_string());
    c.pkcs11_pin = Some(PIN.to_string());
    c.pkcs11_key_label = KEY_LABEL.to_string();
}

async fn refused(config: Config) -> roadside_server::error::ApiError {
    match Server::prepare(config).await {
        Ok(_) => panic!("the server started"),
        Err(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_signed_through_the_token() {
    let module = module();
    let hsm = tempfile::tempdir().expect("tempdir");
    softhsm_token(hsm.path());
    let public = generate_pair(&module);
    let verifier = signed_note::new_ed25519_verifier_key(ORIGIN, &public);

    let m = module.clone();
    let s = TestServer::start_with(None, move |c| token_config(c, &m)).await;
    assert_eq!(
        s.verifier_key, verifier,
        "the token's public key is the log's"
    );
    let admin = s.admin().await;
    let (key, token, _) = s.enrol(&admin, "QH6325000101").await;
    let entries = chain(&key, None, 4, &TWO_OFFICERS);
    let (status, body) = s.push(&token, &entries).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 4, "{body}");
    let receipt = body["results"][3]["receipt"]["checkpoint"]
        .as_str()
        .expect("receipt checkpoint")
        .to_string();
    assert!(
        roadside_server::tlog::verify_checkpoint(&receipt, &verifier).is_some(),
        "the receipt's checkpoint verifies"
    );
    let note = s
        .http
        .get(s.url("/log/checkpoint"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let cp = roadside_server::tlog::verify_checkpoint(&note, &verifier)
        .expect("the checkpoint signed in the token verifies with the token's public key");
    assert_eq!(cp.size(), 4);
    let (other, _) = roadside_server::tlog::LogSigner::generate_key(ORIGIN);
    let other = roadside_server::tlog::LogSigner::new(ORIGIN, &other).expect("signer");
    assert!(roadside_server::tlog::verify_checkpoint(&note, other.verifier_key()).is_none());
    let keys = s.key_dir();
    assert!(
        std::fs::read_dir(&keys).expect("key dir").all(|e| !e
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with("log-")),
        "no log key file"
    );
    let dir = s.stop_keeping_dir().await;

    // A wrong PIN stops the start.
    let mut config = Config::for_data_dir(dir.path());
    token_config(&mut config, &module);
    config.pkcs11_pin = Some("00000000".to_string());
    assert_eq!(refused(config).await.code, "HSM_LOGIN_FAILED");

    // The PIN from a file, refused while others can read it.
    let pin_file = hsm.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).expect("pin file");
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let with_pin_file = |c: &mut Config| {
        token_config(c, &module);
        c.pkcs11_pin = None;
        c.pkcs11_pin_file = Some(pin_file.clone());
    };
    let mut config = Config::for_data_dir(dir.path());
    with_pin_file(&mut config);
    assert_eq!(refused(config).await.code, "KEY_FILE_MODE");

    // Without the token the database's log refuses a new key.
    assert_eq!(
        refused(Config::for_data_dir(dir.path())).await.code,
        "LOG_KEY_MISSING"
    );

    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let s = TestServer::start_in(dir, None, with_pin_file).await;
    assert_eq!(s.verifier_key, verifier, "same key after a restart");
    let more = chain(&key, head_of(&entries), 2, &TWO_OFFICERS);
    let (status, body) = s.push(&token, &more).await;
    assert_eq!(status, 200, "{body}");
    s.stop().await;
}
