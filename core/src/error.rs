//! The one error type every public operation returns.
//!
//! Each error carries a **category** ([`ErrorKind`]: invalid input, not found, conflict, key,
//! store, evidence, ledger, rules, network, internal), a **stable code** (`SCREAMING_SNAKE_CASE`,
//! never renamed once shipped; programs match on it; every code is listed in `docs/errors.md`) and a
//! **Chinese message** for the officer. Validation failures also carry every problem found, each
//! with the path of the field it concerns.
//!
//! Across UniFFI the error is an object thrown as an exception (`RoadsideException` in Kotlin,
//! `RoadsideError` in Swift) with `kind()`, `code()`, `reason()` and `issues()`: one place to read
//! the code, whatever the category.
//!
//! A failure that comes from a library gets its stable code in one place per module, through
//! `From`: JSON here (`JSON_MALFORMED`, `JSON_SCHEMA`, `JSON_IO`), SQLite / SQLCipher in
//! `store::db` (`STORE_CORRUPT`, `STORE_DISK_FULL`…), the file system while hashing evidence through
//! `evidence`'s own error enum (`EVIDENCE_NOT_FOUND`, `EVIDENCE_CHANGED`…).

use serde::ser::SerializeStruct;
use serde::Serialize;

/// One problem with one field of an input, e.g. `parties[0].id_number`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Issue {
    /// Path of the field: `vehicle.plate`, `officers[1].certificate_no`, `rows[12].max_fine`.
    pub path: String,
    /// Stable machine-readable code, e.g. `PLATE_INVALID`.
    pub code: String,
    /// What is wrong, in Chinese, for the officer.
    pub message: String,
}

impl Issue {
    pub fn new(path: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Issue {
            path: path.into(),
            code: code.to_string(),
            message: message.into(),
        }
    }
}

/// The category of an error: what kind of thing went wrong, and so what the caller can do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The input is not acceptable; `issues` lists every problem found.
    Invalid,
    /// The thing asked for does not exist (case, evidence, reference item).
    NotFound,
    /// The action conflicts with the current state (finalized case, chain fork, duplicate).
    Conflict,
    /// The encrypted store could not be opened with the supplied key, or the key could not be had.
    Key,
    /// The local database failed (disk full, corrupt file, I/O error).
    Store,
    /// An evidence file could not be hashed (missing, changed while hashed, unreadable).
    Evidence,
    /// The signed ledger does not verify.
    Ledger,
    /// Reference data (benchmark, exemption list, policy, calendar) is missing or invalid.
    Rules,
    /// Talking to the server failed; the outbox is intact and the action can be retried.
    Network,
    /// A bug or a failed platform callback; never the officer's fault.
    Internal,
}

/// Every error Roadside's core can raise: a category, a stable code, a Chinese message and, for
/// invalid input, every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "ffi", derive(uniffi::Object))]
#[cfg_attr(feature = "ffi", uniffi::export(Debug, Display))]
#[error("{message}")]
pub struct RoadsideError {
    kind: ErrorKind,
    code: String,
    message: String,
    issues: Vec<Issue>,
}

pub type Result<T, E = RoadsideError> = std::result::Result<T, E>;

macro_rules! ctor {
    ($fn:ident, $kind:ident) => {
        pub fn $fn(code: &str, message: impl Into<String>) -> Self {
            RoadsideError::new(ErrorKind::$kind, code, message)
        }
    };
}

impl RoadsideError {
    /// An error of any category but `Invalid` (which is built from its issues by [`Self::invalid`]).
    pub fn new(kind: ErrorKind, code: &str, message: impl Into<String>) -> Self {
        RoadsideError {
            kind,
            code: code.to_string(),
            message: message.into(),
            issues: Vec::new(),
        }
    }

    ctor!(not_found, NotFound);
    ctor!(conflict, Conflict);
    ctor!(key, Key);
    ctor!(store, Store);
    ctor!(evidence, Evidence);
    ctor!(ledger, Ledger);
    ctor!(rules, Rules);
    ctor!(network, Network);
    ctor!(internal, Internal);

    /// A validation failure with one or more issues. The message summarises the first issue.
    pub fn invalid(issues: Vec<Issue>) -> Self {
        let message = match issues.as_slice() {
            [] => "输入无效".to_string(),
            [one] => format!("{}：{}", one.path, one.message),
            [first, rest @ ..] => format!(
                "{}：{}（另有 {} 处问题）",
                first.path,
                first.message,
                rest.len()
            ),
        };
        let code = if issues.len() == 1 {
            issues[0].code.clone()
        } else {
            "VALIDATION_FAILED".to_string()
        };
        RoadsideError {
            kind: ErrorKind::Invalid,
            code,
            message,
            issues,
        }
    }

    /// A single invalid field.
    pub fn invalid_field(path: &str, code: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![Issue::new(path, code, message)])
    }

    /// The category.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The Chinese message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Validation issues, empty for other categories.
    pub fn issues(&self) -> &[Issue] {
        &self.issues
    }

    /// The validation issues, taken out of the error (empty for other categories).
    pub fn into_issues(self) -> Vec<Issue> {
        self.issues
    }
}

/// What the shells read. The Rust accessors above borrow; these hand out copies, as UniFFI needs.
#[cfg(feature = "ffi")]
#[uniffi::export]
impl RoadsideError {
    /// The category: `INVALID`, `NOT_FOUND`, `CONFLICT`, `KEY`, `STORE`, `EVIDENCE`, `LEDGER`,
    /// `RULES`, `NETWORK` or `INTERNAL`.
    #[uniffi::method(name = "kind")]
    pub fn ffi_kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code (`STORE_WRONG_KEY`, `EVIDENCE_CANCELLED`…); `docs/errors.md` lists them all.
    #[uniffi::method(name = "code")]
    pub fn ffi_code(&self) -> String {
        self.code.clone()
    }

    /// The Chinese message for the officer.
    #[uniffi::method(name = "reason")]
    pub fn ffi_reason(&self) -> String {
        self.message.clone()
    }

    /// Every problem of a validation failure, each with its field path; empty for other categories.
    #[uniffi::method(name = "issues")]
    pub fn ffi_issues(&self) -> Vec<Issue> {
        self.issues.clone()
    }
}

/// `{"kind": "invalid", "code", "message", "issues": […]}`; the other categories have no `issues`.
impl Serialize for RoadsideError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let invalid = self.kind == ErrorKind::Invalid;
        let mut st = s.serialize_struct("RoadsideError", if invalid { 4 } else { 3 })?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("code", &self.code)?;
        st.serialize_field("message", &self.message)?;
        if invalid {
            st.serialize_field("issues", &self.issues)?;
        }
        st.end()
    }
}

impl From<serde_json::Error> for RoadsideError {
    /// A JSON document that does not parse or does not fit the schema. serde_json reports the line and
    /// column; the message keeps them so the officer (or the integrator) can find the spot.
    fn from(e: serde_json::Error) -> Self {
        let code = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "JSON_MALFORMED"
            }
            serde_json::error::Category::Data => "JSON_SCHEMA",
            serde_json::error::Category::Io => "JSON_IO",
        };
        let what = match e.classify() {
            serde_json::error::Category::Syntax => "JSON 格式错误",
            serde_json::error::Category::Eof => "JSON 不完整",
            serde_json::error::Category::Data => "JSON 字段不符合要求",
            serde_json::error::Category::Io => "读取 JSON 失败",
        };
        RoadsideError::invalid(vec![Issue::new(
            format!("line {} column {}", e.line(), e.column()),
            code,
            format!("{what}（第 {} 行第 {} 列）：{e}", e.line(), e.column()),
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_summarises_first_issue_and_counts_the_rest() {
        let e = RoadsideError::invalid(vec![
            Issue::new("vehicle.plate", "PLATE_INVALID", "车牌号格式不正确"),
            Issue::new("officers", "OFFICERS_TOO_FEW", "至少需要两名执法人员"),
        ]);
        assert_eq!(e.code(), "VALIDATION_FAILED");
        assert!(e.message().contains("vehicle.plate"));
        assert!(e.message().contains("另有 1 处问题"));
        assert_eq!(e.issues().len(), 2);
    }

    #[test]
    fn serialises_kind_code_message_and_issues_only_when_invalid() {
        let store = serde_json::to_value(RoadsideError::store("STORE_BUSY", "忙")).unwrap();
        assert_eq!(
            store,
            serde_json::json!({"kind": "store", "code": "STORE_BUSY", "message": "忙"})
        );
        let not_found = RoadsideError::not_found("CASE_NOT_FOUND", "无");
        assert_eq!(not_found.kind(), ErrorKind::NotFound);
        assert_eq!(
            serde_json::to_value(&not_found).unwrap()["kind"],
            "not_found"
        );
        let invalid = RoadsideError::invalid_field("vehicle.plate", "PLATE_LENGTH", "太短");
        assert_eq!(invalid.kind(), ErrorKind::Invalid);
        assert_eq!(
            serde_json::to_value(&invalid).unwrap(),
            serde_json::json!({
                "kind": "invalid",
                "code": "PLATE_LENGTH",
                "message": "vehicle.plate：太短",
                "issues": [{"path": "vehicle.plate", "code": "PLATE_LENGTH", "message": "太短"}],
            })
        );
    }

    #[test]
    fn json_errors_keep_line_and_column() {
        let err = serde_json::from_str::<serde_json::Value>("{\n  \"a\": ,\n}").unwrap_err();
        let e = RoadsideError::from(err);
        assert_eq!(e.code(), "JSON_MALFORMED");
        assert!(e.message().contains("第 2 行"), "{}", e.message());
    }
}
