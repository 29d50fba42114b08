//! Reference bundles: the agency's reference data (discretion benchmark, exemption list, legal
//! review catalogue, procedure policy, calendar) and officer roster, versioned, signed with the
//! agency's key and fetched incrementally by devices (the pull half of sync).
//!
//! Pure domain, no I/O: the server builds and signs bundles with this module, the device's sync
//! client verifies them with it before use. Builds without the device layer.
//!
//! # Format (version 1)
//!
//! A bundle is a signed **manifest** plus the **components** it lists.
//!
//! ## Components
//!
//! A component is a file, identified by its name and the SHA-256 of its exact bytes:
//!
//! | name | content |
//! |------|---------|
//! | `policy.toml`, `calendar.toml`, `discretion/<stem>.toml`, `exemptions/<stem>.toml`, `review/<stem>.toml` | a reference file (`reference/FORMAT.md`), UTF-8 text as the agency publishes it |
//! | `roster.json` ([`ROSTER`]) | the agency's officer roster with certificate status, RFC 8785 canonical JSON (below) |
//! | `witnesses.json` ([`crate::witness::POLICY_COMPONENT`]) | the witness policy: how many of which witnesses must cosign the log's checkpoints (`crate::witness`); only when the server has witnesses configured |
//!
//! Names are lower-case ASCII paths: 1 to 4 segments separated by `/`, each made of `a-z 0-9 _ - .`,
//! not starting with `.`, at most 128 bytes, ending `.toml` or `.json` ([`valid_component_name`]).
//! A device ignores components of a name it does not know (a newer server may add kinds).
//!
//! The roster is `{"agency": "<code>", "officers": [<officer>…]}` with the officers of that agency
//! only, ordered by `certificate_no`, each exactly as [`OfficerCertificate`] serialises:
//! `{"agency","certificate_no","name","revoked_on" (string or null),"role" ("officer" |
//! "assistant" | "legal_reviewer" | "supervisor" | "admin"),"valid_from","valid_to"}` (dates
//! `YYYY-MM-DD`); see [`roster_component`].
//!
//! ## Manifest
//!
//! A JSON object with exactly these members, encoded as RFC 8785 canonical JSON ([`crate::jcs`]):
//!
//! | member | JSON type | meaning |
//! |--------|-----------|---------|
//! | `type` | string | `"roadside.bundle.manifest"` ([`MANIFEST_TYPE`]) |
//! | `v` | number | format version, [`FORMAT_VERSION`] (`1`) |
//! | `agency` | string | the agency code the bundle is for, e.g. `"632500"` |
//! | `version` | number | bundle version: 1, 2, 3… per agency, increased by one whenever any component changes, at most 2⁵³−1 |
//! | `issued_at` | string | when this version was built, RFC 3339 UTC with milliseconds |
//! | `key` | string | the signing public key (Ed25519, 64 lowercase hex) |
//! | `components` | array | one object per component, ordered by `name` (byte order), names unique |
//!
//! Each component object: `{"name": string, "version": number, "sha256": string (64 lowercase
//! hex), "size": number (bytes)}`; its `version` is the bundle version in which that component's
//! content last changed (1 ≤ component version ≤ bundle version). So "what changed since version
//! N" is every component with `version > N`.
//!
//! ## Signature
//!
//! Given the manifest's canonical bytes `M`: `signature = Ed25519(agency key, DOMAIN ‖ M)`, with
//! `DOMAIN` = the 28 bytes `roadside/bundle-manifest/v1` followed by one NUL byte
//! ([`SIGNATURE_DOMAIN`]); RFC 8032 pure Ed25519, verified with `verify_strict`. The prefix keeps a
//! bundle signature from ever passing as a ledger entry's signature (those sign JSON starting with
//! `{`) or a transparency-log checkpoint's (a C2SP signed note, whose text cannot contain NUL) —
//! and the bundle keys are per agency, distinct from the log key anyway.
//! The manifest's identity is `SHA-256(M)` in lowercase hex ([`manifest_id`]; the HTTP `ETag`).
//! **`M` is never re-encoded**: verifiers check the signature over the bytes they received and only
//! then read them.
//!
//! ## Worked example
//!
//! Agency key: 32 bytes of `0x01` (public key
//! `8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c`); agency `632500` with no
//! officers, so one component, `roster.json` = `{"agency":"632500","officers":[]}` (33 bytes);
//! version 1 issued at `2026-11-29T08:30:00.123Z`. `M` (one line, no trailing newline):
//!
//! ```text
//! {"agency":"632500","components":[{"name":"roster.json","sha256":"058b9193643b89fe79e521353fcd9c6b7c5179dec571f27c11c9f0cf6f0f85db","size":33,"version":1}],"issued_at":"2026-11-29T08:30:00.123Z","key":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c","type":"roadside.bundle.manifest","v":1,"version":1}
//! ```
//!
//! - id = `a0535c259b6fabff8143e20effa28d5607697c89a692d062ec3b1c6516d72f5c`
//! - signature = `32f0b4939ddf761547c5d8e7b1c03c98e59b24779fbdce1f690a7d7c9319bc0b`
//!   `db7a6287a2ccb8401744fdd7feb86a9e3e8fbf0a13e9bdaabbb78335f7669902` (one 128-digit value)
//!
//! ## Over HTTP (the server's `/api/v1/bundles`)
//!
//! - `GET /api/v1/bundles/manifest` (device bearer token) answers the **envelope**
//!   `{"manifest": base64(M), "signature": base64(64 bytes)}` (standard base64 with padding;
//!   [`SignedManifest::to_envelope`], [`SignedManifest::from_envelope`]), header
//!   `ETag: "<manifest id>"`, `Roadside-Bundle-Version: <version>`, `Cache-Control: private,
//!   no-cache`. With `If-None-Match: "<manifest id>"` or `?since=<version>` equal to the current
//!   one it answers `304 Not Modified` with no body; any other `since` (older, or newer after a
//!   server restore) gets the manifest, so the device's own checks decide (rollback is refused
//!   by [`check_update`], never silently accepted).
//! - `GET /api/v1/bundles/components/{name}/{sha256}` (device bearer token; `name` may contain `/`,
//!   e.g. `/api/v1/bundles/components/discretion/chaoxian.toml/<64 hex>`; [`component_path`])
//!   answers the component's bytes (`application/toml; charset=utf-8` or `application/json`,
//!   `ETag: "<sha256>"`, `Cache-Control: private, max-age=31536000, immutable`; 304 on a matching
//!   `If-None-Match`). Only components of the caller's agency's bundles (any version) are served;
//!   another agency's roster is 404 `BUNDLE_COMPONENT_NOT_FOUND`.
//!
//! ## What a device does
//!
//! 1. At enrolment it pins the agency's bundle key (`bundle_key` of the enrolment answer, 64 hex;
//!    [`parse_public_key`]).
//! 2. Pull: fetch the manifest (sending the held id as `If-None-Match`); [`verify_manifest`] with the
//!    pinned key; [`check_update`] against the held bundle (same agency, no rollback, no second
//!    manifest under one version number).
//! 3. [`plan_fetch`] with the components it holds: fetch only the ones listed there; each through
//!    [`verify_component`] (size, then SHA-256).
//! 4. [`load_bundle`]: every component verified again, the reference files validated as one rule
//!    set ([`RuleBook::from_files`]) and the roster parsed. Only on success does the device switch to
//!    the new version (and record it on each penalty draft that relies on it); on any error it keeps
//!    the bundle it had.
//!
//! # Error codes
//!
//! All failures are rules errors ([`crate::ErrorKind::Rules`]) with a code in [`code`], except an
//! invalid rule set in [`load_bundle`], which is the rules module's validation error with every
//! issue.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Result, RoadsideError};
use crate::jcs;
use crate::model::OfficerCertificate;
use crate::rules::{load::kind_of, FileKind, RuleBook};

/// The manifest's `type`.
pub const MANIFEST_TYPE: &str = "roadside.bundle.manifest";
/// The manifest format version written into `v`.
pub const FORMAT_VERSION: u32 = 1;
/// Prefix of the signed message (domain separation): `roadside/bundle-manifest/v1` and a NUL byte.
pub const SIGNATURE_DOMAIN: &[u8] = b"roadside/bundle-manifest/v1\0";
/// Name of the roster component.
pub const ROSTER: &str = "roster.json";
/// Largest manifest accepted, in bytes.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// Largest component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: u64 = 32 << 20;
/// Most components in one bundle.
pub const MAX_COMPONENTS: usize = 1000;
/// Largest version number (JSON numbers are doubles).
pub const MAX_VERSION: u64 = (1 << 53) - 1;

/// Stable error codes.
pub mod code {
    /// The envelope or manifest is not what the format says (JSON, base64, members, shapes).
    pub const MALFORMED: &str = "BUNDLE_MALFORMED";
    /// The manifest bytes are not RFC 8785 canonical JSON.
    pub const NOT_CANONICAL: &str = "BUNDLE_NOT_CANONICAL";
    /// `v` or `type` is not one this build reads.
    pub const FORMAT_UNSUPPORTED: &str = "BUNDLE_FORMAT_UNSUPPORTED";
    /// The signature does not verify with the pinned agency key.
    pub const SIGNATURE_INVALID: &str = "BUNDLE_SIGNATURE_INVALID";
    /// The pinned key is not a valid Ed25519 public key.
    pub const KEY_INVALID: &str = "BUNDLE_KEY_INVALID";
    /// The manifest is for another agency than the device's.
    pub const AGENCY_MISMATCH: &str = "BUNDLE_AGENCY_MISMATCH";
    /// The manifest's version is older than the one the device holds.
    pub const VERSION_ROLLBACK: &str = "BUNDLE_VERSION_ROLLBACK";
    /// A different manifest carries the version number the device already holds.
    pub const VERSION_REUSED: &str = "BUNDLE_VERSION_REUSED";
    /// The manifest lists no component of that name.
    pub const COMPONENT_UNKNOWN: &str = "BUNDLE_COMPONENT_UNKNOWN";
    /// A listed component was not supplied.
    pub const COMPONENT_MISSING: &str = "BUNDLE_COMPONENT_MISSING";
    /// A component's size differs from the manifest's (truncated or padded download).
    pub const COMPONENT_SIZE_MISMATCH: &str = "BUNDLE_COMPONENT_SIZE_MISMATCH";
    /// A component's SHA-256 differs from the manifest's.
    pub const COMPONENT_HASH_MISMATCH: &str = "BUNDLE_COMPONENT_HASH_MISMATCH";
    /// A component's bytes are not what its kind requires (not UTF-8, roster not parsable).
    pub const COMPONENT_INVALID: &str = "BUNDLE_COMPONENT_INVALID";
}

fn err(code: &str, message: impl Into<String>) -> RoadsideError {
    RoadsideError::rules(code, message)
}

/// One component as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub name: String,
    /// The bundle version in which this content last changed.
    pub version: u64,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    pub size: u64,
}

/// What a component holds, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComponentKind {
    /// A reference file of the rules (`reference/FORMAT.md`).
    Reference(FileKind),
    /// The officer roster.
    Roster,
    /// The witness policy (`crate::witness`).
    Witnesses,
    /// A name this build does not know; ignored.
    Other,
}

impl Component {
    pub fn kind(&self) -> ComponentKind {
        component_kind(&self.name)
    }
}

/// The kind of component a name stands for.
pub fn component_kind(name: &str) -> ComponentKind {
    if name == ROSTER {
        ComponentKind::Roster
    } else if name == crate::witness::POLICY_COMPONENT {
        ComponentKind::Witnesses
    } else if let Some(k) = kind_of(name) {
        ComponentKind::Reference(k)
    } else {
        ComponentKind::Other
    }
}

/// A bundle manifest (see the module documentation for every member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "type")]
    pub kind: String,
    pub v: u32,
    pub agency: String,
    pub version: u64,
    pub issued_at: String,
    /// The signing public key, 64 lowercase hex.
    pub key: String,
    pub components: Vec<Component>,
}

impl Manifest {
    /// The component of that name.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.components[i])
    }

    /// Components changed after bundle version `since` (all of them for `since` = 0).
    pub fn changed_since(&self, since: u64) -> Vec<&Component> {
        self.components
            .iter()
            .filter(|c| c.version > since)
            .collect()
    }

    /// Total size of the components, in bytes.
    pub fn total_size(&self) -> u64 {
        self.components.iter().map(|c| c.size).sum()
    }
}

/// A manifest's canonical bytes and their signature: what is stored and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    pub bytes: Vec<u8>,
    pub signature: [u8; 64],
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    manifest: String,
    signature: String,
}

impl SignedManifest {
    /// The manifest's identity: lowercase hex SHA-256 of its bytes.
    pub fn id(&self) -> String {
        manifest_id(&self.bytes)
    }

    /// The HTTP envelope: `{"manifest": base64, "signature": base64}`.
    pub fn to_envelope(&self) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let env = Envelope {
            manifest: b64.encode(&self.bytes),
            signature: b64.encode(self.signature),
        };
        // Two strings always serialise.
        serde_json::to_vec(&env).unwrap_or_default()
    }

    /// Read an HTTP envelope (members other than `manifest` and `signature` are ignored: they are
    /// not signed). Nothing is verified here; see [`SignedManifest::verify`].
    pub fn from_envelope(body: &[u8]) -> Result<SignedManifest> {
        if body.len() > MAX_MANIFEST_BYTES * 2 {
            return Err(err(
                code::MALFORMED,
                format!("数据包清单过大（{} 字节）", body.len()),
            ));
        }
        let env: Envelope = serde_json::from_slice(body).map_err(|e| {
            err(
                code::MALFORMED,
                format!("数据包清单的外层 JSON 无效（应为 {{\"manifest\",\"signature\"}}）：{e}"),
            )
        })?;
        let b64 = base64::engine::general_purpose::STANDARD;
        let bytes = b64.decode(env.manifest.as_bytes()).map_err(|_| {
            err(
                code::MALFORMED,
                "数据包清单的 manifest 字段不是有效的 base64",
            )
        })?;
        let sig = b64.decode(env.signature.as_bytes()).map_err(|_| {
            err(
                code::MALFORMED,
                "数据包清单的 signature 字段不是有效的 base64",
            )
        })?;
        let signature: [u8; 64] = sig.as_slice().try_into().map_err(|_| {
            err(
                code::SIGNATURE_INVALID,
                format!("签名长度应为 64 字节，实际为 {} 字节", sig.len()),
            )
        })?;
        Ok(SignedManifest { bytes, signature })
    }

    /// [`verify_manifest`] on these bytes.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Manifest> {
        verify_manifest(&self.bytes, &self.signature, key)
    }
}

/// Lowercase hex SHA-256 of manifest bytes: the manifest's identity and HTTP `ETag`.
pub fn manifest_id(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The pinned key from its 64-hex form (the enrolment answer's `bundle_key`).
pub fn parse_public_key(hex_key: &str) -> Result<VerifyingKey> {
    let bad = || {
        err(
            code::KEY_INVALID,
            "机构数据包公钥应为 64 位小写十六进制的 Ed25519 公钥",
        )
    };
    if hex_key.len() != 64 || !is_lower_hex(hex_key) {
        return Err(bad());
    }
    let mut raw = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut raw).map_err(|_| bad())?;
    let key = VerifyingKey::from_bytes(&raw).map_err(|_| bad())?;
    if key.is_weak() {
        return Err(bad());
    }
    Ok(key)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Whether `name` may name a component (module documentation, Components).
pub fn valid_component_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 128 || !(name.ends_with(".toml") || name.ends_with(".json"))
    {
        return false;
    }
    let segments: Vec<&str> = name.split('/').collect();
    segments.len() <= 4
        && segments.iter().all(|s| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
                })
        })
}

fn signed_message(bytes: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNATURE_DOMAIN.len() + bytes.len());
    msg.extend_from_slice(SIGNATURE_DOMAIN);
    msg.extend_from_slice(bytes);
    msg
}

/// Check the manifest's shape (every rule of the format that one manifest must follow).
pub fn check_manifest(m: &Manifest) -> Result<()> {
    if m.kind != MANIFEST_TYPE {
        return Err(err(
            code::FORMAT_UNSUPPORTED,
            format!("不是数据包清单（type 为「{}」）", m.kind),
        ));
    }
    if m.v != FORMAT_VERSION {
        return Err(err(
            code::FORMAT_UNSUPPORTED,
            format!(
                "数据包清单格式版本 {} 不受支持（本程序支持版本 {FORMAT_VERSION}），请升级应用",
                m.v
            ),
        ));
    }
    let bad = |msg: String| Err(err(code::MALFORMED, msg));
    if m.agency.trim().is_empty() || m.agency.trim() != m.agency {
        return bad("数据包清单的 agency（机构代码）为空或带首尾空格".into());
    }
    if m.version == 0 || m.version > MAX_VERSION {
        return bad(format!(
            "数据包版本号应在 1 到 {MAX_VERSION} 之间，实际为 {}",
            m.version
        ));
    }
    if DateTime::parse_from_rfc3339(&m.issued_at).is_err() {
        return bad(format!(
            "数据包清单的 issued_at「{}」不是 RFC 3339 时间",
            m.issued_at
        ));
    }
    if m.key.len() != 64 || !is_lower_hex(&m.key) {
        return bad("数据包清单的 key 应为 64 位小写十六进制公钥".into());
    }
    if m.components.len() > MAX_COMPONENTS {
        return bad(format!(
            "数据包组件过多（{} 个，最多 {MAX_COMPONENTS} 个）",
            m.components.len()
        ));
    }
    for (i, c) in m.components.iter().enumerate() {
        let at = format!("components[{i}]");
        if !valid_component_name(&c.name) {
            return bad(format!("{at}：组件名「{}」不合规", c.name));
        }
        if i > 0 && m.components[i - 1].name.as_str() >= c.name.as_str() {
            return bad(format!(
                "{at}：组件须按名称升序排列且不重复（「{}」）",
                c.name
            ));
        }
        if c.sha256.len() != 64 || !is_lower_hex(&c.sha256) {
            return bad(format!(
                "{at}：「{}」的 sha256 应为 64 位小写十六进制",
                c.name
            ));
        }
        if c.size > MAX_COMPONENT_BYTES {
            return bad(format!(
                "{at}：「{}」过大（{} 字节，最多 {MAX_COMPONENT_BYTES} 字节）",
                c.name, c.size
            ));
        }
        if c.version == 0 || c.version > m.version {
            return bad(format!(
                "{at}：「{}」的版本号 {} 应在 1 到数据包版本 {} 之间",
                c.name, c.version, m.version
            ));
        }
    }
    Ok(())
}

/// Encode and sign a manifest with the agency's key. The manifest's `key` must be that key's
/// public half and its shape valid ([`check_manifest`]).
pub fn sign_manifest(m: &Manifest, key: &SigningKey) -> Result<SignedManifest> {
    check_manifest(m)?;
    if m.key != hex::encode(key.verifying_key().as_bytes()) {
        return Err(err(
            code::MALFORMED,
            "数据包清单的 key 与签名所用的密钥不一致",
        ));
    }
    let bytes = jcs::to_canonical_vec(m)?;
    let signature = key.sign(&signed_message(&bytes)).to_bytes();
    Ok(SignedManifest { bytes, signature })
}

/// Verify a manifest received (its canonical bytes and signature) with the pinned agency key, and
/// read it. In this order: size → signature over `DOMAIN ‖ bytes` → JSON → canonical → members →
/// shape ([`check_manifest`]) → `key` is the pinned key.
pub fn verify_manifest(bytes: &[u8], signature: &[u8], key: &VerifyingKey) -> Result<Manifest> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(err(
            code::MALFORMED,
            format!(
                "数据包清单过大（{} 字节，最多 {MAX_MANIFEST_BYTES} 字节）",
                bytes.len()
            ),
        ));
    }
    let sig = Signature::from_slice(signature).map_err(|_| {
        err(
            code::SIGNATURE_INVALID,
            format!("签名长度应为 64 字节，实际为 {} 字节", signature.len()),
        )
    })?;
    if key.verify_strict(&signed_message(bytes), &sig).is_err() {
        // Say which case it is when the (unverified) manifest names another key.
        let other = serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.get("key").and_then(|k| k.as_str()).map(str::to_string))
            .filter(|k| *k != hex::encode(key.as_bytes()));
        return Err(err(
            code::SIGNATURE_INVALID,
            match other {
                Some(k) => format!(
                    "数据包签名无效：清单由另一把密钥（{}…）签署，与登记设备时固定的机构密钥不符",
                    k.get(..16).unwrap_or(&k)
                ),
                None => "数据包签名无效：清单内容已被改动，或不是本机构密钥签署的".to_string(),
            },
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| err(code::MALFORMED, format!("数据包清单不是有效的 JSON：{e}")))?;
    if jcs::value_to_canonical_vec(&value).ok().as_deref() != Some(bytes) {
        return Err(err(
            code::NOT_CANONICAL,
            "数据包清单不是 RFC 8785 规范 JSON 编码",
        ));
    }
    if value.get("type").and_then(|t| t.as_str()) != Some(MANIFEST_TYPE) {
        return Err(err(code::FORMAT_UNSUPPORTED, "不是数据包清单（type 不符）"));
    }
    if value.get("v").and_then(|v| v.as_u64()) != Some(u64::from(FORMAT_VERSION)) {
        return Err(err(
            code::FORMAT_UNSUPPORTED,
            format!(
                "数据包清单格式版本 {} 不受支持（本程序支持版本 {FORMAT_VERSION}），请升级应用",
                value.get("v").map(|v| v.to_string()).unwrap_or_default()
            ),
        ));
    }
    let m: Manifest = serde_json::from_value(value)
        .map_err(|e| err(code::MALFORMED, format!("数据包清单字段不符合格式：{e}")))?;
    check_manifest(&m)?;
    if m.key != hex::encode(key.as_bytes()) {
        return Err(err(code::MALFORMED, "数据包清单中的 key 与签名密钥不一致"));
    }
    Ok(m)
}

/// The bundle a device holds (what [`check_update`] compares a new manifest with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBundle {
    pub agency: String,
    pub version: u64,
    /// [`manifest_id`] of the held manifest.
    pub manifest_id: String,
}

impl HeldBundle {
    pub fn of(m: &Manifest, manifest_id: &str) -> Self {
        HeldBundle {
            agency: m.agency.clone(),
            version: m.version,
            manifest_id: manifest_id.to_string(),
        }
    }
}

/// What a verified manifest means for the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// The same manifest as held: nothing to do.
    Unchanged,
    /// A newer version (or the first one).
    Newer,
}

/// Compare a verified manifest (with its [`manifest_id`]) with the device's agency and held bundle:
/// another agency → `BUNDLE_AGENCY_MISMATCH`; an older version → `BUNDLE_VERSION_ROLLBACK`; the
/// held version number with other content → `BUNDLE_VERSION_REUSED`.
pub fn check_update(
    new: &Manifest,
    new_id: &str,
    agency: &str,
    held: Option<&HeldBundle>,
) -> Result<Update> {
    if new.agency != agency {
        return Err(err(
            code::AGENCY_MISMATCH,
            format!("数据包属于机构 {}，而本设备登记在机构 {agency}", new.agency),
        ));
    }
    let Some(held) = held else {
        return Ok(Update::Newer);
    };
    if held.agency != agency {
        return Err(err(
            code::AGENCY_MISMATCH,
            format!(
                "本机保存的数据包属于机构 {}，而本设备登记在机构 {agency}",
                held.agency
            ),
        ));
    }
    if new.version < held.version {
        return Err(err(
            code::VERSION_ROLLBACK,
            format!(
                "服务器提供的数据包版本 {} 比本机已有的版本 {} 旧，已拒绝（防止回退到旧数据）",
                new.version, held.version
            ),
        ));
    }
    if new.version == held.version {
        return if new_id == held.manifest_id {
            Ok(Update::Unchanged)
        } else {
            Err(err(
                code::VERSION_REUSED,
                format!(
                    "服务器对同一版本号 {} 给出了与本机不同的数据包清单，已拒绝",
                    new.version
                ),
            ))
        };
    }
    Ok(Update::Newer)
}

/// Check a component's bytes against the manifest: listed, same size, same SHA-256.
pub fn verify_component<'m>(m: &'m Manifest, name: &str, bytes: &[u8]) -> Result<&'m Component> {
    let c = m.component(name).ok_or_else(|| {
        err(
            code::COMPONENT_UNKNOWN,
            format!("数据包版本 {} 的清单中没有组件「{name}」", m.version),
        )
    })?;
    if bytes.len() as u64 != c.size {
        return Err(err(
            code::COMPONENT_SIZE_MISMATCH,
            format!(
                "组件「{name}」的大小为 {} 字节，清单记载为 {} 字节（下载不完整或内容被改动）",
                bytes.len(),
                c.size
            ),
        ));
    }
    if sha256_hex(bytes) != c.sha256 {
        return Err(err(
            code::COMPONENT_HASH_MISMATCH,
            format!("组件「{name}」的 SHA-256 与签名清单不符，内容已被改动，已拒绝"),
        ));
    }
    Ok(c)
}

/// A component the device holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldComponent {
    pub name: String,
    /// Lowercase hex SHA-256 of the held bytes.
    pub sha256: String,
}

/// What to fetch to go from the held components to a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchPlan {
    /// Listed components the device does not hold with that hash, in manifest order.
    pub fetch: Vec<Component>,
    /// Listed components the device already holds (same name and hash): reuse them.
    pub keep: Vec<String>,
    /// Held components the manifest no longer lists: delete after switching.
    pub drop: Vec<String>,
    /// Bytes to download (sum of `fetch` sizes), for a progress bar.
    pub fetch_bytes: u64,
}

/// The incremental download: compare the manifest with what the device holds.
pub fn plan_fetch(m: &Manifest, held: &[HeldComponent]) -> FetchPlan {
    let held_set: BTreeSet<(&str, &str)> = held
        .iter()
        .map(|h| (h.name.as_str(), h.sha256.as_str()))
        .collect();
    let mut plan = FetchPlan::default();
    for c in &m.components {
        if held_set.contains(&(c.name.as_str(), c.sha256.as_str())) {
            plan.keep.push(c.name.clone());
        } else {
            plan.fetch_bytes += c.size;
            plan.fetch.push(c.clone());
        }
    }
    let listed: BTreeSet<&str> = m.components.iter().map(|c| c.name.as_str()).collect();
    let dropped: BTreeSet<&str> = held
        .iter()
        .map(|h| h.name.as_str())
        .filter(|n| !listed.contains(n))
        .collect();
    plan.drop = dropped.into_iter().map(str::to_string).collect();
    plan
}

/// The URL path of a component under the server's base URL:
/// `/api/v1/bundles/components/{name}/{sha256}` (the name keeps its `/`).
pub fn component_path(c: &Component) -> String {
    format!("/api/v1/bundles/components/{}/{}", c.name, c.sha256)
}

/// The officer roster component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roster {
    pub agency: String,
    pub officers: Vec<OfficerCertificate>,
}

impl Roster {
    pub fn officer(&self, certificate_no: &str) -> Option<&OfficerCertificate> {
        self.officers
            .iter()
            .find(|o| o.certificate_no == certificate_no)
    }
}

/// The roster component's bytes for `agency`: its officers only, by certificate number, canonical
/// JSON (so the same roster always has the same hash).
pub fn roster_component(agency: &str, officers: &[OfficerCertificate]) -> Result<Vec<u8>> {
    let mut officers: Vec<OfficerCertificate> = officers
        .iter()
        .filter(|o| o.agency == agency)
        .cloned()
        .collect();
    officers.sort_by(|a, b| a.certificate_no.cmp(&b.certificate_no));
    jcs::to_canonical_vec(&Roster {
        agency: agency.to_string(),
        officers,
    })
}

/// Read a roster component.
pub fn parse_roster(bytes: &[u8]) -> Result<Roster> {
    serde_json::from_slice(bytes).map_err(|e| {
        err(
            code::COMPONENT_INVALID,
            format!("执法人员名册（{ROSTER}）格式无效：{e}"),
        )
    })
}

/// The reference files compiled into the library, as components (`name → bytes`).
pub fn bundled_reference() -> BTreeMap<String, Vec<u8>> {
    crate::rules::bundled::FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
        .collect()
}

/// The manifest for `files` as bundle `version` (server side). A component keeps the version of
/// `previous`'s entry when its hash is unchanged; otherwise it gets `version`.
pub fn build_manifest(
    agency: &str,
    version: u64,
    issued_at: DateTime<Utc>,
    key: &VerifyingKey,
    files: &BTreeMap<String, Vec<u8>>,
    previous: Option<&Manifest>,
) -> Result<Manifest> {
    let components = files
        .iter()
        .map(|(name, bytes)| {
            let sha256 = sha256_hex(bytes);
            let kept = previous
                .and_then(|p| p.component(name))
                .filter(|c| c.sha256 == sha256)
                .map(|c| c.version);
            Component {
                name: name.clone(),
                version: kept.unwrap_or(version),
                sha256,
                size: bytes.len() as u64,
            }
        })
        .collect();
    let m = Manifest {
        kind: MANIFEST_TYPE.to_string(),
        v: FORMAT_VERSION,
        agency: agency.to_string(),
        version,
        issued_at: crate::ledger::format_at(issued_at),
        key: hex::encode(key.as_bytes()),
        components,
    };
    check_manifest(&m)?;
    Ok(m)
}

/// Whether two manifests list the same components (names and hashes): no new version needed.
pub fn same_content(a: &Manifest, b: &Manifest) -> bool {
    a.components.len() == b.components.len()
        && a.components
            .iter()
            .zip(&b.components)
            .all(|(x, y)| x.name == y.name && x.sha256 == y.sha256)
}

/// A verified bundle, ready to use.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    pub manifest: Manifest,
    /// The rules engine built from the bundle's reference files.
    pub rules: RuleBook,
    pub roster: Roster,
    /// The witness policy, when the bundle carries one.
    pub witnesses: Option<crate::witness::WitnessPolicy>,
}

/// Build the rules engine and roster from a verified manifest and its components (`name → bytes`;
/// extra entries are ignored). Every listed component must be present and verify
/// ([`verify_component`]); the reference files must form a valid rule set; the roster must be the
/// manifest's agency's; a witness policy must be valid.
pub fn load_bundle(m: &Manifest, components: &BTreeMap<String, Vec<u8>>) -> Result<LoadedBundle> {
    let mut files = BTreeMap::new();
    let mut roster = None;
    let mut witnesses = None;
    for c in &m.components {
        let bytes = components.get(&c.name).ok_or_else(|| {
            err(
                code::COMPONENT_MISSING,
                format!("缺少数据包版本 {} 的组件「{}」", m.version, c.name),
            )
        })?;
        verify_component(m, &c.name, bytes)?;
        match c.kind() {
            ComponentKind::Reference(_) => {
                let text = String::from_utf8(bytes.clone()).map_err(|_| {
                    err(
                        code::COMPONENT_INVALID,
                        format!("组件「{}」不是 UTF-8 文本", c.name),
                    )
                })?;
                files.insert(c.name.clone(), text);
            }
            ComponentKind::Roster => roster = Some(parse_roster(bytes)?),
            ComponentKind::Witnesses => {
                witnesses = Some(crate::witness::WitnessPolicy::from_component(bytes)?)
            }
            ComponentKind::Other => {}
        }
    }
    let roster = roster.ok_or_else(|| {
        err(
            code::COMPONENT_MISSING,
            format!("数据包版本 {} 缺少执法人员名册（{ROSTER}）", m.version),
        )
    })?;
    if roster.agency != m.agency {
        return Err(err(
            code::COMPONENT_INVALID,
            format!(
                "执法人员名册属于机构 {}，数据包属于机构 {}",
                roster.agency, m.agency
            ),
        ));
    }
    if let Some(o) = roster.officers.iter().find(|o| o.agency != m.agency) {
        return Err(err(
            code::COMPONENT_INVALID,
            format!(
                "执法人员名册中的 {}（{}）不属于机构 {}",
                o.name, o.certificate_no, m.agency
            ),
        ));
    }
    let rules = RuleBook::from_files(files)?;
    Ok(LoadedBundle {
        manifest: m.clone(),
        rules,
        roster,
        witnesses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Facts, GuidanceRequest};
    use proptest::prelude::*;

    const AGENCY: &str = "632500";

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T08:30:00.123Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn files(officers: &[OfficerCertificate]) -> BTreeMap<String, Vec<u8>> {
        let mut f = bundled_reference();
        f.insert(
            ROSTER.to_string(),
            roster_component(AGENCY, officers).unwrap(),
        );
        f
    }

    fn signed(
        version: u64,
        files: &BTreeMap<String, Vec<u8>>,
        previous: Option<&Manifest>,
        k: &SigningKey,
    ) -> (Manifest, SignedManifest) {
        let m = build_manifest(AGENCY, version, at(), &k.verifying_key(), files, previous).unwrap();
        let s = sign_manifest(&m, k).unwrap();
        (m, s)
    }

    #[test]
    fn round_trip_through_the_envelope_and_load() {
        let k = key(7);
        let roster = crate::demo::roster();
        let files = files(&roster);
        let (m, s) = signed(1, &files, None, &k);
        assert!(jcs::is_canonical(&s.bytes));
        let env = s.to_envelope();
        let back = SignedManifest::from_envelope(&env).unwrap();
        assert_eq!(back, s);
        let pinned = parse_public_key(&hex::encode(k.verifying_key().as_bytes())).unwrap();
        let got = back.verify(&pinned).unwrap();
        assert_eq!(got, m);
        assert_eq!(got.components.len(), crate::rules::bundled::FILES.len() + 1);
        assert!(got.components.iter().all(|c| c.version == 1));
        assert_eq!(
            check_update(&got, &back.id(), AGENCY, None).unwrap(),
            Update::Newer
        );
        for (name, bytes) in &files {
            verify_component(&got, name, bytes).unwrap();
        }
        let loaded = load_bundle(&got, &files).unwrap();
        assert_eq!(
            loaded.roster.officers.len(),
            roster.iter().filter(|o| o.agency == AGENCY).count()
        );
        // The same guidance as the engine compiled in.
        let bundled = RuleBook::bundled().unwrap();
        let req = GuidanceRequest {
            violations: vec!["CX-43-2".to_string()],
            facts: serde_json::from_value::<Facts>(serde_json::json!({
                "act_date": "2026-05-01", "gross_weight_kg": 52000.0, "axles": 6, "combination": true
            }))
            .unwrap(),
        };
        let a = serde_json::to_value(bundled.guide(&req).unwrap()).unwrap();
        let b = serde_json::to_value(loaded.rules.guide(&req).unwrap()).unwrap();
        assert_eq!(a, b);
    }

    /// The worked example of the module documentation (fixed key, fixed time: fixed bytes).
    #[test]
    fn worked_example() {
        let k = key(1);
        let mut f = BTreeMap::new();
        f.insert(ROSTER.to_string(), roster_component(AGENCY, &[]).unwrap());
        let (_, s) = signed(1, &f, None, &k);
        let text = String::from_utf8(s.bytes.clone()).unwrap();
        assert_eq!(text, EXAMPLE_MANIFEST);
        assert_eq!(s.id(), EXAMPLE_ID);
        assert_eq!(hex::encode(s.signature), EXAMPLE_SIG);
    }

    const EXAMPLE_MANIFEST: &str = r#"{"agency":"632500","components":[{"name":"roster.json","sha256":"058b9193643b89fe79e521353fcd9c6b7c5179dec571f27c11c9f0cf6f0f85db","size":33,"version":1}],"issued_at":"2026-11-29T08:30:00.123Z","key":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c","type":"roadside.bundle.manifest","v":1,"version":1}"#;
    const EXAMPLE_ID: &str = "a0535c259b6fabff8143e20effa28d5607697c89a692d062ec3b1c6516d72f5c";
    const EXAMPLE_SIG: &str = "32f0b4939ddf761547c5d8e7b1c03c98e59b24779fbdce1f690a7d7c9319bc0b\
        db7a6287a2ccb8401744fdd7feb86a9e3e8fbf0a13e9bdaabbb78335f7669902";

    #[test]
    fn the_signed_message_is_domain_separated() {
        let k = key(7);
        let (_, s) = signed(1, &files(&[]), None, &k);
        // A signature over the bare manifest bytes (as a ledger entry or a note would be signed)
        // does not pass.
        let bare = k.sign(&s.bytes).to_bytes();
        let e = verify_manifest(&s.bytes, &bare, &k.verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::SIGNATURE_INVALID);
        assert!(SIGNATURE_DOMAIN.ends_with(b"\0"));
        assert_eq!(SIGNATURE_DOMAIN.len(), 28);
    }

    #[test]
    fn a_tampered_manifest_is_refused() {
        let k = key(7);
        let (_, s) = signed(3, &files(&[]), None, &k);
        let text = String::from_utf8(s.bytes.clone()).unwrap();
        let tampered = text.replace("\"version\":3", "\"version\":4");
        assert_ne!(tampered, text);
        let e = verify_manifest(tampered.as_bytes(), &s.signature, &k.verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::SIGNATURE_INVALID);
        assert!(e.message().contains("改动"), "{}", e.message());
        let mut sig = s.signature;
        sig[5] ^= 1;
        let e = verify_manifest(&s.bytes, &sig, &k.verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::SIGNATURE_INVALID);
        let e = verify_manifest(&s.bytes, &sig[..63], &k.verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::SIGNATURE_INVALID);
    }

    #[test]
    fn a_wrong_key_is_named() {
        let (_, s) = signed(1, &files(&[]), None, &key(7));
        let e = s.verify(&key(8).verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::SIGNATURE_INVALID);
        assert!(e.message().contains("另一把密钥"), "{}", e.message());
    }

    #[test]
    fn a_non_canonical_or_foreign_manifest_is_refused_even_when_signed() {
        let k = key(7);
        let (m, _) = signed(1, &files(&[]), None, &k);
        let pretty = serde_json::to_vec_pretty(&m).unwrap();
        let sig = k.sign(&signed_message(&pretty)).to_bytes();
        let e = verify_manifest(&pretty, &sig, &k.verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::NOT_CANONICAL);

        let mut v2 = serde_json::to_value(&m).unwrap();
        v2["v"] = 2.into();
        let bytes = jcs::to_canonical_vec(&v2).unwrap();
        let sig = k.sign(&signed_message(&bytes)).to_bytes();
        let e = verify_manifest(&bytes, &sig, &k.verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::FORMAT_UNSUPPORTED);

        let mut unsorted = m.clone();
        unsorted.components.reverse();
        let bytes = jcs::to_canonical_vec(&unsorted).unwrap();
        let sig = k.sign(&signed_message(&bytes)).to_bytes();
        let e = verify_manifest(&bytes, &sig, &k.verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::MALFORMED);

        let mut extra = serde_json::to_value(&m).unwrap();
        extra["note"] = "x".into();
        let bytes = jcs::to_canonical_vec(&extra).unwrap();
        let sig = k.sign(&signed_message(&bytes)).to_bytes();
        let e = verify_manifest(&bytes, &sig, &k.verifying_key()).unwrap_err();
        assert_eq!(e.code(), code::MALFORMED);

        let mut traversal = m.clone();
        traversal.components[0].name = "../etc/passwd.toml".into();
        assert_eq!(
            sign_manifest(&traversal, &k).unwrap_err().code(),
            code::MALFORMED
        );
    }

    #[test]
    fn a_tampered_component_is_refused() {
        let k = key(7);
        let files = files(&crate::demo::roster());
        let (m, _) = signed(1, &files, None, &k);
        let mut policy = files["policy.toml"].clone();
        let i = policy.iter().position(|&b| b == b'0').unwrap();
        policy[i] = b'9';
        let e = verify_component(&m, "policy.toml", &policy).unwrap_err();
        assert_eq!(e.code(), code::COMPONENT_HASH_MISMATCH);
        let e = verify_component(&m, "policy.toml", &files["policy.toml"][1..]).unwrap_err();
        assert_eq!(e.code(), code::COMPONENT_SIZE_MISMATCH);
        let e = verify_component(&m, "nope.toml", b"").unwrap_err();
        assert_eq!(e.code(), code::COMPONENT_UNKNOWN);
        let mut bad = files.clone();
        bad.insert("policy.toml".into(), policy);
        let e = load_bundle(&m, &bad).unwrap_err();
        assert_eq!(e.code(), code::COMPONENT_HASH_MISMATCH);
        let mut missing = files.clone();
        missing.remove(ROSTER);
        let e = load_bundle(&m, &missing).unwrap_err();
        assert_eq!(e.code(), code::COMPONENT_MISSING);
    }

    #[test]
    fn rollback_reuse_and_agency_are_checked() {
        let k = key(7);
        let (m1, s1) = signed(1, &files(&[]), None, &k);
        let roster = crate::demo::roster();
        let (m2, s2) = signed(2, &files(&roster), Some(&m1), &k);
        let held2 = HeldBundle::of(&m2, &s2.id());
        let e = check_update(&m1, &s1.id(), AGENCY, Some(&held2)).unwrap_err();
        assert_eq!(e.code(), code::VERSION_ROLLBACK);
        assert!(e.message().contains("旧"), "{}", e.message());
        assert_eq!(
            check_update(&m2, &s2.id(), AGENCY, Some(&held2)).unwrap(),
            Update::Unchanged
        );
        let held1 = HeldBundle::of(&m1, &s1.id());
        assert_eq!(
            check_update(&m2, &s2.id(), AGENCY, Some(&held1)).unwrap(),
            Update::Newer
        );
        // Another manifest under the held version number.
        let (m2b, s2b) = signed(2, &files(&roster[..1]), Some(&m1), &k);
        let e = check_update(&m2b, &s2b.id(), AGENCY, Some(&held2)).unwrap_err();
        assert_eq!(e.code(), code::VERSION_REUSED);
        let e = check_update(&m2, &s2.id(), "632521", None).unwrap_err();
        assert_eq!(e.code(), code::AGENCY_MISMATCH);
    }

    #[test]
    fn only_changed_components_are_fetched() {
        let k = key(7);
        let roster = crate::demo::roster();
        let f1 = files(&roster);
        let (m1, _) = signed(1, &f1, None, &k);
        let mut changed = roster.clone();
        changed[0].revoked_on = crate::day::parse_day("2026-11-29");
        let f2 = files(&changed);
        let (m2, _) = signed(2, &f2, Some(&m1), &k);
        assert!(!same_content(&m1, &m2));
        let held: Vec<HeldComponent> = m1
            .components
            .iter()
            .map(|c| HeldComponent {
                name: c.name.clone(),
                sha256: c.sha256.clone(),
            })
            .chain([HeldComponent {
                name: "discretion/old.toml".into(),
                sha256: "00".repeat(32),
            }])
            .collect();
        let plan = plan_fetch(&m2, &held);
        assert_eq!(
            plan.fetch
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            [ROSTER]
        );
        assert_eq!(plan.fetch_bytes, f2[ROSTER].len() as u64);
        assert_eq!(plan.keep.len(), m2.components.len() - 1);
        assert_eq!(plan.drop, ["discretion/old.toml"]);
        assert_eq!(
            m2.changed_since(1)
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            [ROSTER]
        );
        assert_eq!(m2.component(ROSTER).unwrap().version, 2);
        assert_eq!(m2.component("policy.toml").unwrap().version, 1);
        assert_eq!(plan_fetch(&m2, &[]).fetch.len(), m2.components.len());
        assert_eq!(
            component_path(m2.component("discretion/chaoxian.toml").unwrap()),
            format!(
                "/api/v1/bundles/components/discretion/chaoxian.toml/{}",
                sha256_hex(&f2["discretion/chaoxian.toml"])
            )
        );
    }

    #[test]
    fn an_invalid_rule_set_is_refused_with_its_issues() {
        let k = key(7);
        let mut f = files(&[]);
        f.insert(
            "policy.toml".into(),
            b"[meta]\nkind = \"policy\"\n".to_vec(),
        );
        let (m, _) = signed(1, &f, None, &k);
        let e = load_bundle(&m, &f).unwrap_err();
        assert!(!e.issues().is_empty(), "{e:?}");
        let mut g = files(&[]);
        g.insert(ROSTER.into(), b"[1,2]".to_vec());
        let (m, _) = signed(1, &g, None, &k);
        assert_eq!(
            load_bundle(&m, &g).unwrap_err().code(),
            code::COMPONENT_INVALID
        );
    }

    #[test]
    fn keys_and_envelopes_are_checked() {
        assert_eq!(
            parse_public_key("zz").unwrap_err().code(),
            code::KEY_INVALID
        );
        assert_eq!(
            parse_public_key(&"00".repeat(32)).unwrap_err().code(),
            code::KEY_INVALID
        );
        assert_eq!(
            SignedManifest::from_envelope(b"{}").unwrap_err().code(),
            code::MALFORMED
        );
        assert_eq!(
            SignedManifest::from_envelope(br#"{"manifest":"!!","signature":""}"#)
                .unwrap_err()
                .code(),
            code::MALFORMED
        );
        assert_eq!(
            SignedManifest::from_envelope(br#"{"manifest":"","signature":"AAAA"}"#)
                .unwrap_err()
                .code(),
            code::SIGNATURE_INVALID
        );
    }

    fn name_strategy() -> impl Strategy<Value = String> {
        (
            proptest::sample::select(vec!["discretion/", "exemptions/", "", "x/y/"]),
            "[a-z0-9_-]{1,12}",
            proptest::sample::select(vec![".toml", ".json"]),
        )
            .prop_map(|(d, s, e)| format!("{d}{s}{e}"))
    }

    fn files_strategy() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
        proptest::collection::btree_map(
            name_strategy(),
            proptest::collection::vec(any::<u8>(), 0..64),
            0..8,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_bundle_round_trips(
            f in files_strategy(),
            version in 1u64..=MAX_VERSION,
            seed in any::<[u8; 32]>(),
        ) {
            let k = SigningKey::from_bytes(&seed);
            let m = build_manifest(AGENCY, version, at(), &k.verifying_key(), &f, None).unwrap();
            let s = sign_manifest(&m, &k).unwrap();
            let back = SignedManifest::from_envelope(&s.to_envelope()).unwrap();
            let got = back.verify(&k.verifying_key()).unwrap();
            prop_assert_eq!(&got, &m);
            for (name, bytes) in &f {
                prop_assert!(verify_component(&got, name, bytes).is_ok());
            }
        }

        #[test]
        fn any_flipped_manifest_byte_is_refused(
            f in files_strategy(),
            pos in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let k = key(3);
            let (_, s) = signed(5, &f, None, &k);
            let mut bytes = s.bytes.clone();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            prop_assert!(verify_manifest(&bytes, &s.signature, &k.verifying_key()).is_err());
        }

        #[test]
        fn any_flipped_component_byte_is_refused(
            f in files_strategy(),
            pick in any::<prop::sample::Index>(),
            pos in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            prop_assume!(f.values().any(|b| !b.is_empty()));
            let k = key(3);
            let (m, _) = signed(5, &f, None, &k);
            let nonempty: Vec<_> = f.iter().filter(|(_, b)| !b.is_empty()).collect();
            let (name, bytes) = nonempty[pick.index(nonempty.len())];
            let mut bytes = bytes.clone();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            let e = verify_component(&m, name, &bytes).unwrap_err();
            prop_assert_eq!(e.code(), code::COMPONENT_HASH_MISMATCH);
        }

        #[test]
        fn the_fetch_plan_partitions_the_manifest(
            f in files_strategy(),
            held in proptest::collection::vec(
                (name_strategy(), proptest::sample::select(vec![true, false])), 0..10),
        ) {
            let k = key(3);
            let (m, _) = signed(2, &f, None, &k);
            let held: Vec<HeldComponent> = held
                .into_iter()
                .map(|(name, same)| {
                    let sha256 = match (same, f.get(&name)) {
                        (true, Some(b)) => sha256_hex(b),
                        _ => "ab".repeat(32),
                    };
                    HeldComponent { name, sha256 }
                })
                .collect();
            let plan = plan_fetch(&m, &held);
            prop_assert_eq!(plan.fetch.len() + plan.keep.len(), m.components.len());
            for c in &plan.fetch {
                prop_assert!(!held.iter().any(|h| h.name == c.name && h.sha256 == c.sha256));
            }
            for n in &plan.keep {
                prop_assert!(held.iter().any(|h| &h.name == n
                    && Some(&h.sha256) == m.component(n).map(|c| &c.sha256)));
            }
            for n in &plan.drop {
                prop_assert!(m.component(n).is_none());
            }
            prop_assert_eq!(plan.fetch_bytes, plan.fetch.iter().map(|c| c.size).sum::<u64>());
        }

        #[test]
        fn arbitrary_input_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            sig in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            let _ = verify_manifest(&bytes, &sig, &key(1).verifying_key());
            let _ = SignedManifest::from_envelope(&bytes);
            let _ = parse_roster(&bytes);
        }
    }
}
