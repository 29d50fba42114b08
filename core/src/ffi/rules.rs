//! The law as data, for the apps: search the discretion benchmark, get guidance while drafting a
//! penalty, check a draft, compute deadlines, import an agency's reference file.
//!
//! Thin wrapper over [`crate::rules::RuleBook`]; the logic and its tests live there.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::error::{Result, RoadsideError};
use crate::model::OfficerCertificate;
use crate::rules::{
    DeadlineDue, DeadlineOutcome, DiscretionItem, DraftCheck, FileMeta, Guidance, GuidanceRequest,
    ImportReport, ItemSummary, PenaltyDraft, Policy, ReviewCase, ReviewItem, ReviewNeed, RuleBook,
};

/// A category of the benchmark and how many violations it holds.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CategoryCount {
    pub category: String,
    pub count: u32,
}

/// The rules engine over one validated set of reference data.
#[derive(uniffi::Object)]
pub struct RulesEngine {
    data_dir: Option<PathBuf>,
    book: RwLock<Arc<RuleBook>>,
}

impl RulesEngine {
    pub(super) fn book(&self) -> Result<Arc<RuleBook>> {
        self.book
            .read()
            .map(|b| Arc::clone(&b))
            .map_err(|_| RoadsideError::internal("RULES_LOCK", "规则库状态异常，请重新打开"))
    }
}

#[uniffi::export]
impl RulesEngine {
    /// The reference data shipped with the app (works offline from first start).
    #[uniffi::constructor]
    pub fn bundled() -> Result<Arc<Self>> {
        Ok(Arc::new(RulesEngine {
            data_dir: None,
            book: RwLock::new(Arc::new(RuleBook::bundled()?)),
        }))
    }

    /// The shipped data with the files imported into `<data_dir>/reference/` laid over it.
    #[uniffi::constructor]
    pub fn open(data_dir: String) -> Result<Arc<Self>> {
        let dir = PathBuf::from(data_dir);
        let book = RuleBook::load(&dir)?;
        Ok(Arc::new(RulesEngine {
            data_dir: Some(dir),
            book: RwLock::new(Arc::new(book)),
        }))
    }

    /// Keyword search: code prefix, Chinese text, or pinyin initials (`cx` finds 超限).
    pub fn search(&self, query: String, limit: u32) -> Result<Vec<ItemSummary>> {
        Ok(self.book()?.search(&query, limit as usize))
    }

    /// The newest version of a discretion item.
    pub fn item(&self, code: String) -> Result<DiscretionItem> {
        Ok(self.book()?.item(&code)?.clone())
    }

    /// Every version of a code, oldest first.
    pub fn versions(&self, code: String) -> Result<Vec<DiscretionItem>> {
        Ok(self.book()?.versions(&code).into_iter().cloned().collect())
    }

    /// The categories of the benchmark.
    pub fn categories(&self) -> Result<Vec<CategoryCount>> {
        Ok(self
            .book()?
            .categories()
            .into_iter()
            .map(|(category, count)| CategoryCount { category, count })
            .collect())
    }

    /// The violations of one category.
    pub fn by_category(&self, category: String) -> Result<Vec<ItemSummary>> {
        Ok(self.book()?.by_category(&category))
    }

    /// Guidance for violations and facts: tier, range, recommended amount with 说理, procedure,
    /// exemption, deadlines.
    pub fn guide(&self, request: GuidanceRequest) -> Result<Guidance> {
        self.book()?.guide(&request)
    }

    /// Checks a drafted penalty against the officer roster (`RoadsideCore.roster()`); `ok` is
    /// false when it breaks a rule (each error names the field).
    pub fn check_draft(
        &self,
        draft: PenaltyDraft,
        roster: Vec<OfficerCertificate>,
    ) -> Result<DraftCheck> {
        self.book()?.check_draft(&draft, &roster)
    }

    /// The deadlines that run from an event (`decision`, `service`, `filing`…) on `date`
    /// (`YYYY-MM-DD`), each on its own: one ending in a year the calendar does not cover has no
    /// due date and says why (`error_code`, `reason`), the others keep theirs.
    pub fn deadlines(&self, event: String, date: String) -> Result<Vec<DeadlineOutcome>> {
        self.book()?.deadlines(&event, &date)
    }

    /// One deadline by id (`publication`, `payment`…); a year the calendar does not cover is an
    /// error.
    pub fn deadline(&self, id: String, date: String) -> Result<DeadlineDue> {
        self.book()?.deadline(&id, &date)
    }

    /// Imports a reference file (TOML; with feature `tables` also a CSV/XLSX discretion or
    /// exemption table): validated completely with the current data; written only if valid; the
    /// current data is kept on any error.
    pub fn import_file(&self, path: String) -> Result<ImportReport> {
        let dir = self.data_dir.clone().ok_or_else(|| {
            RoadsideError::rules(
                "RULES_NO_DATA_DIR",
                "未指定数据目录，无法导入（请用 RulesEngine.open 打开）",
            )
        })?;
        let current = self.book()?;
        let (book, report) = current.import_file(&dir, &PathBuf::from(path))?;
        let mut guard = self
            .book
            .write()
            .map_err(|_| RoadsideError::internal("RULES_LOCK", "规则库状态异常，请重新打开"))?;
        *guard = Arc::new(book);
        Ok(report)
    }

    /// The files the data was built from (title, source, version).
    pub fn files(&self) -> Result<Vec<FileMeta>> {
        Ok(self.book()?.files().to_vec())
    }

    /// The procedure policy in force.
    pub fn policy(&self) -> Result<Policy> {
        Ok(self.book()?.policy().clone())
    }

    /// The catalogue of decisions that need legal review (法制审核) before they are made.
    pub fn review_catalogue(&self) -> Result<Vec<ReviewItem>> {
        Ok(self.book()?.review_catalogue().to_vec())
    }

    /// Whether a decision needs legal review (处罚法 58 and the catalogue) and under which items,
    /// each with its article and whether it is verified; never for the summary procedure.
    pub fn legal_review(&self, case: ReviewCase) -> Result<ReviewNeed> {
        self.book()?.legal_review(&case)
    }
}
