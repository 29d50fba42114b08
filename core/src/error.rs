//! The one error type every public operation returns.
//!
//! Each error carries a **stable code** (`SCREAMING_SNAKE_CASE`, never renamed once shipped; programs
//! match on it) and a **Chinese message** for the officer. Validation failures also carry every
//! problem found, each with the path of the field it concerns.

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

/// Every error Roadside's core can raise. The variant is the category; `code` is the stable detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Error))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RoadsideError {
    /// The input is not acceptable; `issues` lists every problem found.
    #[error("{message}")]
    Invalid {
        code: String,
        message: String,
        issues: Vec<Issue>,
    },
    /// The thing asked for does not exist (case, evidence, reference item).
    #[error("{message}")]
    NotFound { code: String, message: String },
    /// The action conflicts with the current state (finalized case, chain fork, duplicate).
    #[error("{message}")]
    Conflict { code: String, message: String },
    /// The encrypted store could not be opened with the supplied key, or the key could not be had.
    #[error("{message}")]
    Key { code: String, message: String },
    /// The local database failed (disk full, corrupt file, I/O error).
    #[error("{message}")]
    Store { code: String, message: String },
    /// An evidence file could not be hashed (missing, changed while hashed, unreadable).
    #[error("{message}")]
    Evidence { code: String, message: String },
    /// The signed ledger does not verify.
    #[error("{message}")]
    Ledger { code: String, message: String },
    /// Reference data (benchmark, exemption list, policy, calendar) is missing or invalid.
    #[error("{message}")]
    Rules { code: String, message: String },
    /// Talking to the server failed; the outbox is intact and the action can be retried.
    #[error("{message}")]
    Network { code: String, message: String },
    /// A bug or a failed platform callback; never the officer's fault.
    #[error("{message}")]
    Internal { code: String, message: String },
}

pub type Result<T, E = RoadsideError> = std::result::Result<T, E>;

macro_rules! ctor {
    ($fn:ident, $variant:ident) => {
        pub fn $fn(code: &str, message: impl Into<String>) -> Self {
            RoadsideError::$variant {
                code: code.to_string(),
                message: message.into(),
            }
        }
    };
}

impl RoadsideError {
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
        RoadsideError::Invalid {
            code,
            message,
            issues,
        }
    }

    /// A single invalid field.
    pub fn invalid_field(path: &str, code: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![Issue::new(path, code, message)])
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            RoadsideError::Invalid { code, .. }
            | RoadsideError::NotFound { code, .. }
            | RoadsideError::Conflict { code, .. }
            | RoadsideError::Key { code, .. }
            | RoadsideError::Store { code, .. }
            | RoadsideError::Evidence { code, .. }
            | RoadsideError::Ledger { code, .. }
            | RoadsideError::Rules { code, .. }
            | RoadsideError::Network { code, .. }
            | RoadsideError::Internal { code, .. } => code,
        }
    }

    /// The Chinese message.
    pub fn message(&self) -> &str {
        match self {
            RoadsideError::Invalid { message, .. }
            | RoadsideError::NotFound { message, .. }
            | RoadsideError::Conflict { message, .. }
            | RoadsideError::Key { message, .. }
            | RoadsideError::Store { message, .. }
            | RoadsideError::Evidence { message, .. }
            | RoadsideError::Ledger { message, .. }
            | RoadsideError::Rules { message, .. }
            | RoadsideError::Network { message, .. }
            | RoadsideError::Internal { message, .. } => message,
        }
    }

    /// Validation issues, empty for other categories.
    pub fn issues(&self) -> &[Issue] {
        match self {
            RoadsideError::Invalid { issues, .. } => issues,
            _ => &[],
        }
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

#[cfg(feature = "ffi")]
impl From<uniffi::UnexpectedUniFFICallbackError> for RoadsideError {
    /// A platform callback (Keystore, Keychain, an observer) threw something Rust did not expect.
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        RoadsideError::internal(
            "PLATFORM_CALLBACK_FAILED",
            format!("平台回调失败：{}", e.reason),
        )
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
    fn json_errors_keep_line_and_column() {
        let err = serde_json::from_str::<serde_json::Value>("{\n  \"a\": ,\n}").unwrap_err();
        let e = RoadsideError::from(err);
        assert_eq!(e.code(), "JSON_MALFORMED");
        assert!(e.message().contains("第 2 行"), "{}", e.message());
    }
}
