//! Generates the Kotlin and Swift bindings from the built core library (library mode), with the
//! workspace's own `uniffi-bindgen`, and checks the exported surface is there.
//!
//! Needs the native library: `cargo build -p roadside-core` (scripts/test-all.sh does it first).

use std::path::{Path, PathBuf};
use std::process::Command;

fn native_library() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let name = format!(
        "{}roadside_core{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let candidates = [
        target.join("debug").join(&name),
        target.join("release").join(&name),
    ];
    candidates
        .iter()
        .filter(|p| p.exists())
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "{name} not found under {}: run `cargo build -p roadside-core` first",
                target.display()
            )
        })
}

fn generate(language: &str, out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .args(["generate", "--library"])
        .arg(native_library())
        .args(["--language", language, "--no-format", "--out-dir"])
        .arg(out)
        .status()
        .expect("run uniffi-bindgen");
    assert!(status.success(), "uniffi-bindgen {language} failed");
}

fn read_all(dir: &Path, ext: &str) -> String {
    let mut text = String::new();
    for entry in walk(dir) {
        if entry.extension().and_then(|e| e.to_str()) == Some(ext) {
            text.push_str(&std::fs::read_to_string(&entry).expect("read generated file"));
        }
    }
    text
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn kotlin_bindings_expose_the_core() {
    let out = tempfile::tempdir().expect("temp dir");
    generate("kotlin", out.path());
    let kt = read_all(out.path(), "kt");
    for name in [
        "class RoadsideCore",
        "interface SecretProvider",
        "fun `createCase`",
        "fun `finalizeCase`",
        "fun `verifyLedger`",
        "class EvidenceRecorder",
        "sealed class RoadsideException",
        "data class InspectionRecord",
    ] {
        assert!(kt.contains(name), "Kotlin bindings lack {name}");
    }
}

#[test]
fn swift_bindings_expose_the_core() {
    let out = tempfile::tempdir().expect("temp dir");
    generate("swift", out.path());
    let swift = read_all(out.path(), "swift");
    for name in [
        "class RoadsideCore",
        "protocol SecretProvider",
        "func createCase(",
        "func verifyLedger(",
        "enum RoadsideError",
        "struct InspectionRecord",
    ] {
        assert!(swift.contains(name), "Swift bindings lack {name}");
    }
    assert!(read_all(out.path(), "h").contains("uniffi_roadside_core_fn"));
}
