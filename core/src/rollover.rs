//! Log rollover: how the server and its devices recover, without hiding anything, when the server
//! has lost the end of its transparency log (a database restored from an older backup).
//!
//! # What goes wrong
//!
//! Devices keep a receipt for every entry they pushed: an inclusion proof against a checkpoint the
//! log signed. A server restored from a backup no longer holds the entries logged after the backup,
//! although devices hold receipts for them. If it simply went on, it would sign checkpoints that
//! contradict the ones devices have verified (two different trees under one origin), and every new
//! entry of those devices would be refused as `CHAIN_GAP`. A device therefore stops as soon as it
//! sees the log shrink or contradict itself, or the server deny an entry it holds a receipt for
//! (see `sync::verify`), and keeps everything it has.
//!
//! # Recovery
//!
//! The operator declares what happened. `roadside-server log rollover --reason …` (run on the
//! restored database before the server serves again) ends the old origin at the size the server
//! still holds and starts a **new origin** that continues the same tree: the new log's first
//! `size` leaves are the old log's, so every old checkpoint up to that size stays valid, and every
//! checkpoint signed from then on carries the new origin, so no two different trees are ever
//! signed under one origin. The declaration is a **rollover statement**, a C2SP signed note
//! signed by the log's key under the *old* origin's name (the key devices pinned at enrolment):
//!
//! ```text
//! roadside-log-rollover/v1
//! old-origin roadside.local/log
//! new-origin roadside.local/log/epoch2
//! size 12
//! root <base64 of the old tree's root hash at that size>
//! at 2026-12-07T10:00:00.000Z
//! reason 从 2026-12-01 的备份恢复数据库
//!
//! — roadside.local/log <base64 key id and signature>
//! ```
//!
//! Each line is a keyword, one space and a value with no line break; the lines come in exactly this
//! order and the text ends with a newline. The new origin's key is the *same* Ed25519 key under the
//! new name (a signed-note key name is part of its key id, [`rename_verifier_key`]), so a device
//! accepts the new origin only from the holder of the key it pinned. Statements are served, oldest
//! first, at `GET /api/v1/log/rollovers`.
//!
//! A device that finds a statement for the origin it follows:
//!
//! 1. verifies its signature with the pinned key and checks that its size and root agree with the
//!    checkpoints it has verified (a checkpoint of the same size must have the same root; the
//!    newest one below it must be consistent with it, by a consistency proof);
//! 2. records the statement, retires the checkpoints it saw beyond that size (kept, not deleted),
//!    and follows the new origin;
//! 3. puts back into its outbox every entry whose receipt names a leaf at or beyond that size: the
//!    server no longer holds those. It re-submits them with the old receipt attached;
//! 4. resumes: entries still held answer `duplicate`, the lost ones are logged again.
//!
//! The server accepts a re-submitted entry like any other (signature, place in the device's
//! chain), and when it carries an old receipt it checks that receipt (the checkpoint signed by its
//! key under a retired origin, the inclusion proof against it) and records, with the entry's new
//! leaf, the old origin, leaf index and checkpoint. `GET /api/v1/log/rollovers` lists these
//! recovered entries beside the statements: an auditor sees what was lost, which entries devices
//! brought back with proof, and that nothing else changed. An entry that never had a receipt is
//! simply pushed again; the device's alarms stay on record.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::{Result, RoadsideError};

/// First line of a rollover statement.
pub const STATEMENT_HEADER: &str = "roadside-log-rollover/v1";

/// What a rollover statement declares (the signed note's text, see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloverStatement {
    /// The origin that ends.
    pub old_origin: String,
    /// The origin that continues the tree.
    pub new_origin: String,
    /// Leaves of the old log the server still holds (the new log's first leaves).
    pub size: u64,
    /// The old tree's root hash at `size`.
    pub root: [u8; 32],
    /// When the rollover was declared, RFC 3339 UTC.
    pub at: String,
    /// Why, in the operator's words (one line).
    pub reason: String,
}

fn bad(why: impl Into<String>) -> RoadsideError {
    RoadsideError::network(
        "ROLLOVER_MALFORMED",
        format!("日志切换声明格式错误：{}", why.into()),
    )
}

/// A value fits on its line: no line break, no leading or trailing space, not empty.
fn one_line(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.contains(['\n', '\r']) || v.trim() != v {
        return Err(bad(format!("{what} 应为不空的一行文字")));
    }
    Ok(())
}

/// A signed-note key name: not empty, no white space, no `+`.
pub fn valid_origin(origin: &str) -> bool {
    !origin.is_empty() && !origin.chars().any(char::is_whitespace) && !origin.contains('+')
}

impl RolloverStatement {
    /// The note text (what is signed).
    pub fn to_text(&self) -> Result<String> {
        for (what, v) in [
            ("old-origin", &self.old_origin),
            ("new-origin", &self.new_origin),
        ] {
            if !valid_origin(v) {
                return Err(bad(format!("{what} “{v}” 不是有效的日志名")));
            }
        }
        if self.old_origin == self.new_origin {
            return Err(bad("新旧日志名相同"));
        }
        one_line("at", &self.at)?;
        one_line("reason", &self.reason)?;
        let root = base64::engine::general_purpose::STANDARD.encode(self.root);
        Ok(format!(
            "{STATEMENT_HEADER}\nold-origin {}\nnew-origin {}\nsize {}\nroot {root}\nat {}\nreason {}\n",
            self.old_origin, self.new_origin, self.size, self.at, self.reason
        ))
    }

    /// Parse a statement's text (the signature is checked by the caller, before).
    pub fn parse(text: &str) -> Result<Self> {
        let body = text.strip_suffix('\n').ok_or_else(|| bad("未以换行结束"))?;
        let mut lines = body.split('\n');
        if lines.next() != Some(STATEMENT_HEADER) {
            return Err(bad(format!("第一行应为 {STATEMENT_HEADER}")));
        }
        let mut field = |key: &str| -> Result<String> {
            let line = lines.next().ok_or_else(|| bad(format!("缺少 {key} 行")))?;
            let value = line
                .strip_prefix(key)
                .and_then(|v| v.strip_prefix(' '))
                .ok_or_else(|| bad(format!("应为 {key} 行，而是 “{line}”")))?;
            one_line(key, value)?;
            Ok(value.to_string())
        };
        let old_origin = field("old-origin")?;
        let new_origin = field("new-origin")?;
        let size_text = field("size")?;
        let root_text = field("root")?;
        let at = field("at")?;
        let reason = field("reason")?;
        if lines.next().is_some() {
            return Err(bad("reason 行之后还有内容"));
        }
        let size = size_text
            .parse::<u64>()
            .ok()
            .filter(|n| n.to_string() == size_text)
            .ok_or_else(|| bad(format!("size “{size_text}” 不是规范的非负整数")))?;
        let root = base64::engine::general_purpose::STANDARD
            .decode(&root_text)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| bad("root 不是 32 字节的 base64 哈希"))?;
        let statement = RolloverStatement {
            old_origin,
            new_origin,
            size,
            root,
            at,
            reason,
        };
        // The same rules as when writing, so a parsed statement writes back to the same text.
        if statement.to_text()? != text {
            return Err(bad("不是规范写法"));
        }
        Ok(statement)
    }
}

/// The origin a rollover of `origin` starts: `…/epoch2` after the first, then `…/epoch3`, ….
pub fn next_origin(origin: &str) -> String {
    if let Some((base, text)) = origin.rsplit_once("/epoch") {
        if let Ok(n) = text.parse::<u32>() {
            if n >= 2 && n.to_string() == text {
                return format!("{base}/epoch{}", n.saturating_add(1));
            }
        }
    }
    format!("{origin}/epoch2")
}

/// The signed-note key id of `name` and an encoded public key (algorithm byte and key): the first
/// four bytes of SHA-256(name ‖ "\n" ‖ key), as C2SP signed-note recommends.
pub fn key_id(name: &str, encoded_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(encoded_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The verifier key `<name>+<id>+<key>` of the same public key under another name: what a device
/// derives from the key it pinned to verify the new origin's checkpoints.
pub fn rename_verifier_key(verifier_key: &str, name: &str) -> Result<String> {
    let invalid = || {
        RoadsideError::internal(
            "LOG_KEY_INVALID",
            "登记时保存的日志公钥格式错误，无法用于新的日志名",
        )
    };
    if !valid_origin(name) {
        return Err(bad(format!("日志名 “{name}” 无效")));
    }
    let mut parts = verifier_key.splitn(3, '+');
    let (Some(_), Some(_), Some(key64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid());
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(key64)
        .map_err(|_| invalid())?;
    if key.is_empty() {
        return Err(invalid());
    }
    Ok(format!("{name}+{:08x}+{key64}", key_id(name, &key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RolloverStatement {
        RolloverStatement {
            old_origin: "roadside.local/log".into(),
            new_origin: "roadside.local/log/epoch2".into(),
            size: 12,
            root: [7; 32],
            at: "2026-12-07T10:00:00.000Z".into(),
            reason: "从 2026-12-01 的备份恢复数据库".into(),
        }
    }

    #[test]
    fn statement_text_round_trips_and_is_strict() {
        let s = sample();
        let text = s.to_text().unwrap();
        assert!(text.starts_with("roadside-log-rollover/v1\nold-origin roadside.local/log\n"));
        assert_eq!(RolloverStatement::parse(&text).unwrap(), s);
        for bad in [
            text.replace("size 12", "size 012"),
            text.replace("size 12", "size -1"),
            text.replace("\nat ", "\nwhen "),
            text.trim_end().to_string(),
            format!("{text}extra\n"),
            text.replace("reason 从", "reason  从"),
        ] {
            assert_eq!(
                RolloverStatement::parse(&bad).unwrap_err().code(),
                "ROLLOVER_MALFORMED",
                "{bad}"
            );
        }
        let mut two_lines = sample();
        two_lines.reason = "a\nb".into();
        assert!(two_lines.to_text().is_err());
        let mut same = sample();
        same.new_origin = same.old_origin.clone();
        assert!(same.to_text().is_err());
    }

    #[test]
    fn origins_count_up() {
        assert_eq!(
            next_origin("roadside.local/log"),
            "roadside.local/log/epoch2"
        );
        assert_eq!(
            next_origin("roadside.local/log/epoch2"),
            "roadside.local/log/epoch3"
        );
        assert_eq!(
            next_origin("roadside.local/log/epoch9"),
            "roadside.local/log/epoch10"
        );
        assert_eq!(next_origin("x/epochal"), "x/epochal/epoch2");
    }

    #[test]
    fn renamed_key_has_the_key_id_of_its_new_name() {
        // A verifier key as signed_note writes it: name, key id, base64 of 0x01 ‖ public key.
        let public = [0x01u8; 33];
        let key64 = base64::engine::general_purpose::STANDARD.encode(public);
        let old = format!(
            "a.example/log+{:08x}+{key64}",
            key_id("a.example/log", &public)
        );
        let new = rename_verifier_key(&old, "a.example/log/epoch2").unwrap();
        assert_eq!(
            new,
            format!(
                "a.example/log/epoch2+{:08x}+{key64}",
                key_id("a.example/log/epoch2", &public)
            )
        );
        assert!(rename_verifier_key(&old, "bad name").is_err());
        assert!(rename_verifier_key("nonsense", "x").is_err());
    }
}
