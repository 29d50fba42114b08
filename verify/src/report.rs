//! The verification report: every check run, on which file, and its outcome.

use serde::Serialize;

/// One check on one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The file in the package (`manifest.json`, `entries/<hash>.json`…), or `(package)`.
    pub file: String,
    /// The check's stable name (see [`crate::package`]).
    pub check: &'static str,
    pub ok: bool,
    /// Passed, but proves less than it should (what is missing is in the message); shown to a
    /// person and counted in [`Report::warnings`].
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
    /// What was found, in Chinese.
    pub message: String,
}

/// What the package proves, once every check passed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub case: Option<String>,
    pub origin: Option<String>,
    /// The log's verifier key the package carries (compare with the published one).
    pub log_key: Option<String>,
    pub agency: Option<String>,
    /// The agency's public key (hex) the package carries (compare with the published one).
    pub agency_key: Option<String>,
    pub entries: usize,
    pub media: usize,
    pub documents: usize,
    pub checkpoints: usize,
    pub key_history: usize,
    /// Size of the largest checkpoint in the package (everything is logged no later than it).
    pub newest_checkpoint: Option<u64>,
}

/// The result of verifying a package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Every check passed.
    pub ok: bool,
    /// Checks that passed with a warning (something could not be proven from the package).
    pub warnings: usize,
    pub summary: Summary,
    pub checks: Vec<Check>,
}

// Recorded by the package verifier; without the `package` feature nothing records.
#[cfg_attr(not(feature = "package"), allow(dead_code))]
impl Report {
    pub(crate) fn pass(&mut self, file: &str, check: &'static str, message: impl Into<String>) {
        self.checks.push(Check {
            file: file.to_string(),
            check,
            ok: true,
            warning: false,
            message: message.into(),
        });
    }

    pub(crate) fn warn(&mut self, file: &str, check: &'static str, message: impl Into<String>) {
        self.warnings += 1;
        self.checks.push(Check {
            file: file.to_string(),
            check,
            ok: true,
            warning: true,
            message: message.into(),
        });
    }

    pub(crate) fn fail(&mut self, file: &str, check: &'static str, message: impl Into<String>) {
        self.checks.push(Check {
            file: file.to_string(),
            check,
            ok: false,
            warning: false,
            message: message.into(),
        });
    }

    /// Record the outcome of a check.
    pub(crate) fn record(
        &mut self,
        file: &str,
        check: &'static str,
        outcome: Result<String, String>,
    ) -> bool {
        match outcome {
            Ok(m) => {
                self.pass(file, check, m);
                true
            }
            Err(m) => {
                self.fail(file, check, m);
                false
            }
        }
    }

    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }

    /// The report as text in Chinese for a person: the verdict, what is proven, then every failure
    /// (or, when `all`, every check).
    pub fn to_text(&self, all: bool) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let failed = self.failures().count();
        if self.ok && self.warnings == 0 {
            out.push_str("验证通过：证据包中的每个文件和每项证明都已核验无误。\n");
        } else if self.ok {
            out.push_str(&format!(
                "验证通过，但有 {} 项提示：以下内容无法仅凭证据包证明。\n",
                self.warnings
            ));
        } else {
            out.push_str(&format!(
                "验证未通过：共 {} 项检查中有 {failed} 项失败。\n",
                self.checks.len()
            ));
        }
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "（未知）".into());
        out.push_str(&format!("案件：{}\n", or_none(&s.case)));
        out.push_str(&format!(
            "执法单位：{}（公钥 {}）\n",
            or_none(&s.agency),
            or_none(&s.agency_key)
        ));
        out.push_str(&format!(
            "透明日志：{}（公钥 {}）\n",
            or_none(&s.origin),
            or_none(&s.log_key)
        ));
        out.push_str(&format!(
            "记录 {} 条，证据文件 {} 个，文书 {} 份，检查点 {} 个，密钥历史 {} 条",
            s.entries, s.media, s.documents, s.checkpoints, s.key_history
        ));
        if let Some(n) = s.newest_checkpoint {
            out.push_str(&format!("；全部记录已写入大小为 {n} 的检查点之前的日志"));
        }
        out.push('\n');
        out.push_str("请将以上两个公钥与执法单位和透明日志公开发布的公钥核对。\n");
        for c in &self.checks {
            if all || !c.ok || c.warning {
                out.push_str(&format!(
                    "{} {} [{}]：{}\n",
                    match (c.ok, c.warning) {
                        (false, _) => "失败",
                        (true, true) => "提示",
                        (true, false) => "通过",
                    },
                    c.file,
                    c.check,
                    c.message
                ));
            }
        }
        out
    }
}
