//! `roadside rules …`: the law as data from the command line (JSON on stdout).
//!
//! The reference data is the bundled set with the files imported into `<data_dir>/reference/`
//! laid over it (see `roadside_core::rules::RuleBook::load`).

use std::path::{Path, PathBuf};

use roadside_core::model::OfficerCertificate;
use roadside_core::rules::{GuidanceRequest, PenaltyDraft, RuleBook};
use roadside_core::RoadsideError;
use serde_json::{json, Value};

#[derive(clap::Subcommand)]
pub enum RulesCommand {
    /// Search the discretion benchmark: code prefix, Chinese keyword, or pinyin initials (`cx`).
    Search {
        /// The keyword; empty with --category lists a category.
        #[arg(default_value = "")]
        query: String,
        /// Only this category (e.g. 超限运输); alone, lists the category.
        #[arg(long)]
        category: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show one discretion item (every version) by code.
    Show { code: String },
    /// Guidance for violations and facts: `{"violations": ["CX-43-2"], "facts": {...}}`.
    Guide {
        #[arg(long)]
        json: PathBuf,
    },
    /// Check a drafted penalty (JSON, see `PenaltyDraft`); its officers are checked against the
    /// device's roster (`roadside init`, `roadside roster import`).
    Check {
        #[arg(long)]
        json: PathBuf,
    },
    /// Deadlines running from an event (filing, notice, decision, service, closing…) on a date,
    /// each on its own: one ending in a year the calendar does not cover has `due: null` and the
    /// reason (`error_code`, `reason`).
    Deadlines { event: String, date: String },
    /// Validate a reference file (.toml, or a .csv/.xlsx discretion or exemption table) and, only
    /// if valid, install it.
    Import { file: PathBuf },
    /// Validate a reference file without installing it.
    Validate { file: PathBuf },
    /// Export the benchmark (one row per tier) or the exemption list (one row per condition) as a
    /// table.
    Export {
        /// csv or xlsx.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Output file.
        #[arg(long)]
        output: PathBuf,
        /// Only the items of this reference file, e.g. discretion/chaoxian.toml; an exemption file
        /// (exemptions/national.toml), or `exemptions` for every one, exports the exemption list.
        #[arg(long)]
        file: Option<String>,
    },
    /// The reference files in use (title, source, version) and the calendar's years.
    Info,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RoadsideError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        RoadsideError::invalid_field(
            "json",
            "JSON_IO",
            format!("无法读取 {}：{e}", path.display()),
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, RoadsideError> {
    serde_json::to_value(v)
        .map_err(|e| RoadsideError::internal("JSON_ENCODE", format!("无法输出 JSON：{e}")))
}

pub fn run(
    cmd: RulesCommand,
    data_dir: &Path,
    roster: impl FnOnce() -> Result<Vec<OfficerCertificate>, RoadsideError>,
) -> Result<Value, RoadsideError> {
    let book = RuleBook::load(data_dir)?;
    match cmd {
        RulesCommand::Search {
            query,
            category,
            limit,
        } => {
            let hits = match (&category, query.trim().is_empty()) {
                (Some(c), true) => book.by_category(c),
                (Some(c), false) => book
                    .search(&query, usize::MAX)
                    .into_iter()
                    .filter(|h| &h.category == c)
                    .take(limit)
                    .collect(),
                (None, _) => book.search(&query, limit),
            };
            Ok(json!({ "count": hits.len(), "items": to_value(&hits)? }))
        }
        RulesCommand::Show { code } => {
            book.item(&code)?;
            to_value(&book.versions(&code))
        }
        RulesCommand::Guide { json } => {
            let req: GuidanceRequest = read_json(&json)?;
            to_value(&book.guide(&req)?)
        }
        RulesCommand::Check { json } => {
            let draft: PenaltyDraft = read_json(&json)?;
            to_value(&book.check_draft(&draft, &roster()?)?)
        }
        RulesCommand::Deadlines { event, date } => to_value(&book.deadlines(&event, &date)?),
        RulesCommand::Import { file } => {
            let (_, report) = book.import_file(data_dir, &file)?;
            to_value(&report)
        }
        RulesCommand::Validate { file } => {
            // Import into a scratch directory: the same checks, nothing installed.
            let scratch = std::env::temp_dir().join(format!(
                "roadside-validate-{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
            ));
            let res = book.import_file(&scratch, &file);
            let _ = std::fs::remove_dir_all(&scratch);
            let (_, report) = res?;
            Ok(json!({ "valid": true, "report": to_value(&report)? }))
        }
        RulesCommand::Export {
            format,
            output,
            file,
        } => {
            let rows = roadside_core::rules::tables::export_table(
                &book,
                &format,
                &output,
                file.as_deref(),
            )?;
            Ok(json!({ "rows": rows, "output": output.display().to_string(), "format": format }))
        }
        RulesCommand::Info => Ok(json!({
            "files": to_value(&book.files())?,
            "discretion_items": book.items().len(),
            "codes": book.categories().iter().map(|c| c.1).sum::<u32>(),
            "exemption_items": book.exemptions().len(),
            "calendar_years": book.calendar().years(),
            "categories": book.categories().into_iter().map(|(c, n)| json!({"category": c, "count": n})).collect::<Vec<_>>(),
        })),
    }
}
