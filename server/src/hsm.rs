//! The log's signing key in a PKCS#11 token, for agencies that keep keys in a hardware security
//! module: the private key never leaves the token; the server asks it for each checkpoint's
//! signature (`CKM_EDDSA`, pure Ed25519, which is what signed-note checkpoints use).
//!
//! The operator makes the key pair in the token (an `CKK_EC_EDWARDS` Ed25519 pair with one label
//! on both halves) and names the module, token label, user PIN (`ROADSIDE_PKCS11_PIN`, or a 0600
//! file) and key label. At start the server logs in, finds the pair, reads the public key
//! (`CKA_EC_POINT`) and has the token sign a probe that must verify with it, so a wrong pairing
//! stops the start instead of the first push. Its public half is pinned in the database like a key
//! file's (`crate::keys`). SoftHSM2 stands in for the HSM in the tests.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

use crate::error::{ApiError, Result};
use crate::tlog::LogSigner;

/// Where the token key is.
#[derive(Clone)]
pub struct TokenKey {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label.
    pub token: String,
    /// The user PIN.
    pub pin: String,
    /// The label of the key pair.
    pub key_label: String,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("module", &self.module)
            .field("token", &self.token)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

/// A signed-note signer whose Ed25519 key is in a PKCS#11 token.
pub struct TokenSigner {
    name: String,
    id: u32,
    key: ObjectHandle,
    /// One logged-in session; PKCS#11 sessions are not for concurrent use.
    session: Mutex<Session>,
    /// Declared after the session so it is finalised after the session closes.
    _context: Context,
}

/// The initialised module, finalised when dropped (so a later start in the same process can
/// initialise it again).
struct Context(Pkcs11);

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = self.0.clone().finalize() {
            tracing::warn!(error = %e, "PKCS#11 module finalisation failed");
        }
    }
}

fn failed(code: &str, what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(code, format!("{what}：{e}"))
}

impl TokenSigner {
    /// Log in to the token and find the key pair; answers the log signer for `origin`.
    pub fn open_log_signer(origin: &str, t: &TokenKey) -> Result<LogSigner> {
        let context = Pkcs11::new(&t.module).map_err(|e| {
            failed(
                "HSM_MODULE_FAILED",
                &format!("无法加载 PKCS#11 模块 {}", t.module.display()),
                e,
            )
        })?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(|e| failed("HSM_MODULE_FAILED", "PKCS#11 模块初始化失败", e))?;
        let context = Context(context);
        let slots = context
            .0
            .get_slots_with_token()
            .map_err(|e| failed("HSM_TOKEN_NOT_FOUND", "无法列出 PKCS#11 令牌", e))?;
        let slot = slots
            .into_iter()
            .find(|s| {
                context
                    .0
                    .get_token_info(*s)
                    .is_ok_and(|i| i.label().trim_end() == t.token)
            })
            .ok_or_else(|| {
                ApiError::internal(
                    "HSM_TOKEN_NOT_FOUND",
                    format!(
                        "PKCS#11 模块 {} 中找不到标签为 {} 的令牌",
                        t.module.display(),
                        t.token
                    ),
                )
            })?;
        let session = context
            .0
            .open_ro_session(slot)
            .map_err(|e| failed("HSM_SESSION_FAILED", "无法打开 PKCS#11 会话", e))?;
        session
            .login(UserType::User, Some(&AuthPin::new(t.pin.clone().into())))
            .map_err(|e| {
                failed(
                    "HSM_LOGIN_FAILED",
                    &format!("无法以用户 PIN 登录令牌 {}", t.token),
                    e,
                )
            })?;
        let private = one_object(&session, t, ObjectClass::PRIVATE_KEY)?;
        let public_handle = one_object(&session, t, ObjectClass::PUBLIC_KEY)?;
        let point = session
            .get_attributes(public_handle, &[AttributeType::EcPoint])
            .map_err(|e| failed("HSM_KEY_INVALID", "无法读取令牌中的公钥", e))?;
        let public = point
            .iter()
            .find_map(|a| match a {
                Attribute::EcPoint(p) => ed25519_point(p),
                _ => None,
            })
            .ok_or_else(|| {
                ApiError::internal(
                    "HSM_KEY_INVALID",
                    format!("令牌中的密钥 {} 不是 Ed25519 公钥", t.key_label),
                )
            })?;
        let verifier = signed_note::new_ed25519_verifier_key(origin, &public);
        let id = verifier
            .split('+')
            .nth(1)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| ApiError::internal("HSM_KEY_INVALID", "无法计算密钥编号"))?;
        let signer = TokenSigner {
            name: origin.to_string(),
            id,
            key: private,
            session: Mutex::new(session),
            _context: context,
        };
        // The token's private half must be the public half's.
        let probe = b"roadside pkcs11 probe";
        let signature = signer.sign_raw(probe)?;
        let signature = Signature::from_slice(&signature)
            .map_err(|_| ApiError::internal("HSM_KEY_INVALID", "令牌返回的签名长度不是 64 字节"))?;
        public.verify(probe, &signature).map_err(|_| {
            ApiError::internal(
                "HSM_KEY_INVALID",
                format!(
                    "令牌中标签为 {} 的私钥与公钥不配对（签名无法用公钥验证）",
                    t.key_label
                ),
            )
        })?;
        LogSigner::from_signer(origin, Arc::new(signer), &public)
    }

    fn sign_raw(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let session = self
            .session
            .lock()
            .map_err(|_| ApiError::internal("HSM_POISONED", "PKCS#11 会话锁已损坏"))?;
        session
            .sign(
                &Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
                self.key,
                msg,
            )
            .map_err(|e| failed("HSM_SIGN_FAILED", "令牌签名失败", e))
    }
}

impl signed_note::Signer for TokenSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, ed25519_dalek::SignatureError> {
        self.sign_raw(msg).map_err(|e| {
            tracing::error!(code = %e.code, detail = %e.message, "checkpoint signing failed");
            ed25519_dalek::SignatureError::new()
        })
    }
}

/// The one object of `class` with the key label.
fn one_object(session: &Session, t: &TokenKey, class: ObjectClass) -> Result<ObjectHandle> {
    let found = session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Label(t.key_label.as_bytes().to_vec()),
        ])
        .map_err(|e| failed("HSM_KEY_NOT_FOUND", "无法在令牌中查找密钥", e))?;
    let half = if class == ObjectClass::PRIVATE_KEY {
        "私钥"
    } else {
        "公钥"
    };
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(ApiError::internal(
            "HSM_KEY_NOT_FOUND",
            format!(
                "令牌 {} 中找不到标签为 {} 的 Ed25519 {half}",
                t.token, t.key_label
            ),
        )),
        more => Err(ApiError::internal(
            "HSM_KEY_AMBIGUOUS",
            format!(
                "令牌 {} 中有 {} 个标签为 {} 的 Ed25519 {half}；标签须唯一",
                t.token,
                more.len(),
                t.key_label
            ),
        )),
    }
}

/// `CKA_EC_POINT` of an Ed25519 key: the 32-byte point, raw or DER-wrapped as an OCTET STRING.
fn ed25519_point(p: &[u8]) -> Option<VerifyingKey> {
    let raw: &[u8] = match p {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        _ if p.len() == 32 => p,
        _ => return None,
    };
    VerifyingKey::from_bytes(raw.try_into().ok()?).ok()
}

/// The user PIN from a file, which must be the server user's alone, like a key file.
pub fn pin_from_file(path: &Path) -> Result<String> {
    crate::keys::check_private_file(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| {
        ApiError::internal(
            "HSM_PIN_FILE_FAILED",
            format!("无法读取 PIN 文件 {}：{e}", path.display()),
        )
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_points_raw_or_wrapped() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]).verifying_key();
        let raw = key.as_bytes().to_vec();
        let mut wrapped = vec![0x04, 0x20];
        wrapped.extend_from_slice(&raw);
        assert_eq!(ed25519_point(&raw), Some(key));
        assert_eq!(ed25519_point(&wrapped), Some(key));
        assert_eq!(ed25519_point(&raw[1..]), None);
    }
}
