//! # The law as data
//!
//! While an officer drafts a penalty, Roadside tells them what the law allows and requires, offline,
//! with the articles. The law lives in reference files an agency edits by hand (`reference/`, the
//! format is in `reference/FORMAT.md`): the discretion benchmark (行政裁量权基准), the minor-violation
//! exemption list (轻微违法行为免予处罚清单), the procedure policy and the working-day calendar.
//!
//! - [`RuleBook`] holds one validated set. [`RuleBook::bundled`] is built from the repository's
//!   `reference/` files compiled in; [`RuleBook::load`] overlays files imported into a data
//!   directory; [`RuleBook::import_file`] validates a file completely and only then writes it
//!   (temp file + rename), so an invalid import leaves the previous data untouched.
//! - [`lookup`]: by code, by Chinese keyword (substring or pinyin initials), by category.
//! - [`guidance`]: from violations and facts to tier, range, recommended amount with 说理,
//!   procedure, exemption outcome and deadlines; the law in force on the act's date applies unless
//!   the newer text is lighter (从旧兼从轻, 处罚法 37).
//! - [`check`]: checks a drafted penalty.
//! - [`calendar`]: working days and deadlines.
//! - [`review`]: the catalogue of decisions that need legal review (法制审核, 处罚法 58) and
//!   whether a decision needs it.
//! - `tables` (feature `tables`): CSV and Excel import/export of benchmark and exemption tables.
//!
//! Pure domain: no I/O except reading and writing the files it is given.

pub mod bundled;
pub mod calendar;
pub mod check;
pub mod guidance;
pub mod load;
pub mod lookup;
pub mod model;
pub mod review;
#[cfg(feature = "tables")]
pub mod tables;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Serialize;

pub use calendar::{Calendar, DeadlineDue, DeadlineOutcome};
pub use check::{DraftCheck, DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
pub use guidance::{
    ExemptionGuidance, ExemptionStatus, Facts, Guidance, GuidanceRequest, PartyType,
    ProcedureGuidance, ViolationGuidance,
};
pub use load::{FileKind, FileMeta};
pub use lookup::{ItemSummary, SearchIndex};
pub use model::*;
pub use review::{ReviewCase, ReviewItem, ReviewMatch, ReviewNeed, ReviewTrigger};

use crate::error::{Issue, Result, RoadsideError};

/// One validated set of reference data.
#[derive(Debug, Clone)]
pub struct RuleBook {
    items: Vec<DiscretionItem>,
    /// Item indices per code, by `valid_from` ascending.
    by_code: HashMap<String, Vec<usize>>,
    exemptions: Vec<ExemptionItem>,
    /// Exemption indices per discretion code they apply to.
    exemptions_for: HashMap<String, Vec<usize>>,
    policy: Policy,
    calendar: Calendar,
    /// The legal-review catalogue (the `review/` files), in file and item order; empty only for
    /// reference data made before the catalogue (then `policy.legal_review` holds the amount).
    review: Vec<ReviewItem>,
    index: SearchIndex,
    files: Vec<FileMeta>,
    /// The text of every file, by relative path (for overlaying an import on this set).
    texts: BTreeMap<String, String>,
}

/// Rows of an imported table per item (first row, tier rows); see `tables`.
#[cfg(feature = "tables")]
type RowMap = tables::RowMap;
#[cfg(not(feature = "tables"))]
type RowMap = ();

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ImportReport {
    /// Where it was written, relative to the data directory's `reference/`.
    pub relpath: String,
    pub kind: String,
    pub discretion_items: u32,
    pub exemption_items: u32,
    /// Unverified values the file contains (codes or sections), to be confirmed.
    pub unverified: Vec<String>,
}

impl RuleBook {
    /// The reference data compiled into the library (the repository's `reference/`).
    pub fn bundled() -> Result<RuleBook> {
        Self::from_files(
            bundled::FILES
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        )
    }

    /// The bundled data with the files imported into `<data_dir>/reference/` laid over it (a file
    /// with the same relative path replaces the bundled one).
    pub fn load(data_dir: &Path) -> Result<RuleBook> {
        let mut files: BTreeMap<String, String> = bundled::FILES
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        for (rel, text) in read_overlay(&data_dir.join("reference"))? {
            files.insert(rel, text);
        }
        Self::from_files(files)
    }

    /// Builds a set from file texts keyed by relative path (`policy.toml`, `discretion/x.toml`…).
    /// Every problem of every file is reported at once.
    pub fn from_files(files: BTreeMap<String, String>) -> Result<RuleBook> {
        let mut issues: Vec<Issue> = Vec::new();
        let mut items = Vec::new();
        let mut exemptions = Vec::new();
        let mut policy = None;
        let mut calendar = None;
        let mut review = Vec::new();
        let mut metas = Vec::new();
        for (rel, text) in &files {
            match load::parse_file(rel, text) {
                Err(mut e) => issues.append(&mut e),
                Ok((meta, parsed)) => {
                    metas.push(meta);
                    match parsed {
                        load::Parsed::Discretion(mut v) => items.append(&mut v),
                        load::Parsed::Exemptions(mut v) => exemptions.append(&mut v),
                        load::Parsed::Policy(p) => policy = Some(*p),
                        load::Parsed::Calendar(c) => calendar = Some(c),
                        load::Parsed::Review(mut v) => review.append(&mut v),
                    }
                }
            }
        }
        if !issues.is_empty() {
            return Err(RoadsideError::invalid(issues));
        }
        issues.extend(load::cross_check(&items, &exemptions));
        issues.extend(load::cross_check_review(&review));
        let Some(policy) = policy else {
            issues.push(Issue::new(
                "policy.toml",
                "REF_MISSING_FILE",
                "缺少程序政策文件 policy.toml",
            ));
            return Err(RoadsideError::invalid(issues));
        };
        let Some(calendar) = calendar else {
            issues.push(Issue::new(
                "calendar.toml",
                "REF_MISSING_FILE",
                "缺少工作日历文件 calendar.toml",
            ));
            return Err(RoadsideError::invalid(issues));
        };
        match (review.is_empty(), policy.legal_review.is_some()) {
            (true, false) => issues.push(Issue::new(
                "review",
                "REF_MISSING_FILE",
                "缺少法制审核目录 review/<名称>.toml",
            )),
            (false, true) => issues.push(Issue::new(
                "policy.toml: legal_review",
                "REF_LEGAL_REVIEW_TWICE",
                "法制审核的情形和金额标准由法制审核目录（review/<名称>.toml）规定；policy.toml 中的 [legal_review] 是旧格式，请删除，金额标准写入目录",
            )),
            _ => {}
        }
        if !issues.is_empty() {
            return Err(RoadsideError::invalid(issues));
        }
        let mut by_code: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, it) in items.iter().enumerate() {
            by_code.entry(it.code.clone()).or_default().push(i);
        }
        for v in by_code.values_mut() {
            v.sort_by_key(|&i| items[i].valid_from);
        }
        let mut exemptions_for: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in exemptions.iter().enumerate() {
            for c in &e.applies_to {
                exemptions_for.entry(c.clone()).or_default().push(i);
            }
        }
        let index = SearchIndex::build(&items);
        Ok(RuleBook {
            items,
            by_code,
            exemptions,
            exemptions_for,
            policy,
            calendar,
            review,
            index,
            files: metas,
            texts: files,
        })
    }

    /// Every discretion item (all versions).
    pub fn items(&self) -> &[DiscretionItem] {
        &self.items
    }
    pub fn exemptions(&self) -> &[ExemptionItem] {
        &self.exemptions
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }
    /// The legal-review catalogue, in file and item order (empty for reference data made before
    /// the catalogue).
    pub fn review_catalogue(&self) -> &[ReviewItem] {
        &self.review
    }

    /// Whether a decision needs legal review before it is made (处罚法 58 and the catalogue), and
    /// under which items, each with its article and whether it is verified. A summary-procedure
    /// decision never does. Reference data without a catalogue (made before it) cannot answer:
    /// `REVIEW_CATALOGUE_MISSING`.
    pub fn legal_review(&self, case: &ReviewCase) -> Result<ReviewNeed> {
        if self.review.is_empty() {
            return Err(RoadsideError::rules(
                "REVIEW_CATALOGUE_MISSING",
                "这套参考数据没有法制审核目录（review/<名称>.toml），无法判断是否须经法制审核；请更新参考数据",
            ));
        }
        review::assess(&self.review, case)
    }
    /// The files the set was built from.
    pub fn files(&self) -> &[FileMeta] {
        &self.files
    }

    /// The text of every file of the set, by relative path (what a reference bundle publishes).
    pub fn texts(&self) -> &BTreeMap<String, String> {
        &self.texts
    }

    /// The versions of a code, oldest first.
    pub fn versions(&self, code: &str) -> Vec<&DiscretionItem> {
        self.by_code
            .get(code)
            .map(|v| v.iter().map(|&i| &self.items[i]).collect())
            .unwrap_or_default()
    }

    pub(crate) fn version_indices(&self, code: &str) -> &[usize] {
        self.by_code.get(code).map(Vec::as_slice).unwrap_or(&[])
    }

    pub(crate) fn item_at(&self, i: usize) -> &DiscretionItem {
        &self.items[i]
    }

    pub(crate) fn item_in_force(&self, i: usize, d: NaiveDate) -> bool {
        self.items[i].in_force_on(d)
    }

    /// The version of `code` in force on `date`.
    pub fn item_on(&self, code: &str, date: NaiveDate) -> Option<&DiscretionItem> {
        self.version_indices(code)
            .iter()
            .find(|&&i| self.item_in_force(i, date))
            .map(|&i| &self.items[i])
    }

    /// The exemptions covering `code` in force on `date`.
    pub fn exemptions_on(&self, code: &str, date: NaiveDate) -> Vec<&ExemptionItem> {
        self.exemptions_for
            .get(code)
            .map(|v| {
                v.iter()
                    .filter(|&&i| self.exemptions[i].in_force_on(date))
                    .map(|&i| &self.exemptions[i])
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The deadlines that run from `event` (act, filing, decision, service…), computed from `date`
    /// one by one: a deadline that cannot be computed (it ends in a year the calendar does not
    /// cover) is listed with no due date and the reason, and the others keep theirs. An unknown
    /// event or an invalid date is an error of the whole call.
    pub fn deadlines(&self, event: &str, date: &str) -> Result<Vec<DeadlineOutcome>> {
        if !EVENTS.iter().any(|e| e.0 == event) {
            return Err(RoadsideError::invalid_field(
                "event",
                "EVENT_UNKNOWN",
                format!(
                    "未知的起算事件「{event}」，应为 {}",
                    EVENTS.iter().map(|e| e.0).collect::<Vec<_>>().join("、")
                ),
            ));
        }
        let d = guidance::parse_date("date", date)?;
        Ok(self
            .policy
            .deadlines
            .iter()
            .filter(|r| r.from == event)
            .map(|r| self.calendar.outcome(r, d))
            .collect::<Vec<_>>())
    }

    /// One deadline by its id (`publication`, `payment`…); one that cannot be computed (a year the
    /// calendar does not cover) is an error.
    pub fn deadline(&self, id: &str, date: &str) -> Result<DeadlineDue> {
        let d = guidance::parse_date("date", date)?;
        let rule = self
            .policy
            .deadlines
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(|| {
                RoadsideError::not_found("DEADLINE_UNKNOWN", format!("没有编号为「{id}」的期限"))
            })?;
        self.calendar.due(rule, d)
    }

    /// A digest naming this exact set of reference files: lowercase hex SHA-256 over the lines
    /// `<file name> <SHA-256 of its text>\n` in file-name order. A decision records it, so the
    /// server can re-check the decision with the same data.
    pub fn reference_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (name, text) in &self.texts {
            h.update(name.as_bytes());
            h.update(b" ");
            h.update(hex::encode(Sha256::digest(text.as_bytes())).as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    /// This set with one file replaced or added; the whole set is validated again.
    pub fn with_file(&self, relpath: &str, text: &str) -> Result<RuleBook> {
        let mut files = self.texts.clone();
        files.insert(relpath.to_string(), text.to_string());
        Self::from_files(files)
    }

    /// Validates a reference file (TOML, or with feature `tables` a CSV/XLSX benchmark or exemption
    /// table) as part of this set and, only if the whole set is valid, writes it atomically under
    /// `<data_dir>/reference/`. Returns the new set and a report; on any error nothing is written.
    pub fn import_file(&self, data_dir: &Path, file: &Path) -> Result<(RuleBook, ImportReport)> {
        let (relpath, text, rowmap) = self.import_source(file)?;
        let book = self.with_file(&relpath, &text).map_err(|e| match &rowmap {
            #[cfg(feature = "tables")]
            Some(m) => tables::map_error(e, &relpath, m),
            _ => e,
        })?;
        let target = data_dir.join("reference").join(&relpath);
        write_atomic(&target, text.as_bytes())?;
        let mut report = ImportReport {
            relpath: relpath.clone(),
            kind: load::kind_of(&relpath)
                .map(|k| k.as_str().to_string())
                .unwrap_or_default(),
            discretion_items: 0,
            exemption_items: 0,
            unverified: Vec::new(),
        };
        for it in book.items.iter().filter(|i| i.source_file == relpath) {
            report.discretion_items += 1;
            if !it.verified || it.tiers.iter().any(|t| !t.verified) {
                report.unverified.push(it.code.clone());
            }
        }
        for e in book.exemptions.iter().filter(|e| e.source_file == relpath) {
            report.exemption_items += 1;
            if !e.verified {
                report.unverified.push(e.code.clone());
            }
        }
        for r in book.review.iter().filter(|r| r.source_file == relpath) {
            if !r.verified {
                report.unverified.push(r.code.clone());
            }
        }
        Ok((book, report))
    }

    /// Reads the file to import and decides its relative path.
    fn import_source(&self, file: &Path) -> Result<(String, String, Option<RowMap>)> {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| RoadsideError::invalid_field("file", "IMPORT_BAD_NAME", "文件名无效"))?
            .to_string();
        let ext = file
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "toml" => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    RoadsideError::rules("IMPORT_READ", format!("无法读取 {}：{e}", file.display()))
                })?;
                let kind = toml::from_str::<toml::Table>(&text).ok().and_then(|t| {
                    t.get("meta")
                        .and_then(|m| m.get("kind"))
                        .and_then(|k| k.as_str().map(str::to_string))
                });
                let relpath = match kind.as_deref() {
                    Some("policy") => "policy.toml".to_string(),
                    Some("calendar") => "calendar.toml".to_string(),
                    Some("discretion") => format!("discretion/{name}"),
                    Some("exemptions") => format!("exemptions/{name}"),
                    Some("review") => format!("review/{name}"),
                    _ => {
                        // Let the parser report the exact problem (syntax or missing kind).
                        let issues = match load::parse_file(&format!("discretion/{name}"), &text) {
                            Err(i) => i,
                            Ok(_) => Vec::new(),
                        };
                        return Err(RoadsideError::invalid(if issues.is_empty() {
                            vec![Issue::new(
                                "meta.kind",
                                "REF_MISSING_FIELD",
                                "缺少 [meta] kind（discretion、exemptions、review、policy 或 calendar）",
                            )]
                        } else {
                            issues
                        }));
                    }
                };
                if load::kind_of(&relpath).is_none() {
                    return Err(RoadsideError::invalid_field(
                        "file",
                        "IMPORT_BAD_NAME",
                        format!("文件名「{name}」须为小写英文字母、数字、_ 或 -，扩展名 .toml"),
                    ));
                }
                Ok((relpath, text, None))
            }
            #[cfg(feature = "tables")]
            "csv" | "xlsx" => {
                let stem = file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("table")
                    .to_ascii_lowercase();
                // The same naming rule for both kinds of table.
                if load::kind_of(&format!("discretion/{stem}.toml")).is_none() {
                    return Err(RoadsideError::invalid_field(
                        "file",
                        "IMPORT_BAD_NAME",
                        format!("文件名「{name}」须为小写英文字母、数字、_ 或 -"),
                    ));
                }
                let (relpath, text, rowmap) = tables::import_table(file, &stem)?;
                Ok((relpath, text, Some(rowmap)))
            }
            _ => Err(RoadsideError::invalid_field(
                "file",
                "IMPORT_BAD_TYPE",
                format!(
                    "不支持的文件类型「{ext}」{}",
                    if cfg!(feature = "tables") {
                        "（支持 .toml、.csv、.xlsx）"
                    } else {
                        "（支持 .toml）"
                    }
                ),
            )),
        }
    }
}

/// Reads `<dir>/policy.toml`, `<dir>/calendar.toml`, `<dir>/discretion/*.toml`,
/// `<dir>/exemptions/*.toml`, the files of `<dir>/review/` (whatever exists).
fn read_overlay(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let read = |p: &Path| {
        std::fs::read_to_string(p)
            .map_err(|e| RoadsideError::rules("REF_READ", format!("无法读取 {}：{e}", p.display())))
    };
    for f in ["policy.toml", "calendar.toml"] {
        let p = dir.join(f);
        if p.is_file() {
            out.push((f.to_string(), read(&p)?));
        }
    }
    for sub in ["discretion", "exemptions", "review"] {
        let d = dir.join(sub);
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        names.sort();
        for p in names {
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let rel = format!("{sub}/{name}");
            if load::kind_of(&rel).is_some() && p.is_file() {
                out.push((rel, read(&p)?));
            }
        }
    }
    Ok(out)
}

/// Writes `bytes` to `target` through a temporary file in the same directory and a rename, so a
/// reader sees the old file or the new one, never half of one.
fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |e: std::io::Error| {
        RoadsideError::rules(
            "IMPORT_WRITE",
            format!("无法写入 {}：{e}", target.display()),
        )
    };
    let dir = target
        .parent()
        .ok_or_else(|| RoadsideError::rules("IMPORT_WRITE", "目标路径无效"))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("import"),
        std::process::id()
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, target)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res.map_err(io)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_exemptions;
#[cfg(test)]
mod tests_law;
#[cfg(test)]
mod tests_review;
