//! `roadside`: the desktop command line over Roadside's core, so the core runs without a phone.
//!
//! Prints JSON on stdout. On failure it exits non-zero and prints `{"code": …, "message": …}` (plus
//! `issues` for validation failures) on stderr; argument errors too (`CLI_ARGUMENT_*`,
//! `CLI_COMMAND_*`, exit status 2). The database key comes from `ROADSIDE_DB_KEY`
//! (64 hex digits) or from the key file `init` creates (`<data>/device.key`, mode 0600, in a data
//! directory created 0700; the database in it is 0600).

mod package;
mod rules;
mod sync;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use roadside_core::model::{EvidenceKind, InspectionRecord, OfficerCertificate};
use roadside_core::rules::RuleBook;
use roadside_core::steps::{CloseInput, CloseReason};
use roadside_core::store::{Durability, EvidenceMeta, Store};
use roadside_core::{Issue, RoadsideError};
use serde_json::{json, Value};

/// Largest JSON document accepted from a file (a record with a long 现场情况 is well below it).
const MAX_JSON_BYTES: u64 = 32 << 20;
const KEY_FILE: &str = "device.key";

#[derive(Parser)]
#[command(
    name = "roadside",
    version,
    about = "Roadside 路检执法 — 设备端命令行（JSON 输出）"
)]
struct Cli {
    /// Data directory holding the encrypted database.
    #[arg(
        long,
        global = true,
        env = "ROADSIDE_DATA",
        default_value = "roadside-device-data"
    )]
    data: PathBuf,
    /// Key file (64 hex digits). Defaults to <data>/device.key; ROADSIDE_DB_KEY overrides both.
    #[arg(long, global = true)]
    key_file: Option<PathBuf>,
    /// Commit durability: `normal` (survives a killed process; the default) or `full` (also
    /// survives a power cut, one fsync per action).
    #[arg(long, global = true, env = "ROADSIDE_DURABILITY", default_value = "normal", value_parser = parse_durability)]
    durability: Durability,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the data directory, the database key file and the device key.
    Init {
        /// Load the demo roster (海南州 officers) so demo records validate, and a demo block of
        /// document numbers (9001–9999 of this year) so decisions can be made without a server.
        #[arg(long)]
        demo_roster: bool,
    },
    /// Officer roster used for offline certificate checks.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Cases and their records.
    #[command(subcommand)]
    Case(CaseCommand),
    /// Validate a record JSON without storing it; prints every issue.
    Validate {
        #[arg(long)]
        json: PathBuf,
    },
    /// Evidence files.
    #[command(subcommand)]
    Evidence(EvidenceCommand),
    /// Documents (文书) of a case: rendered to PDF, their hash recorded in the ledger.
    #[command(subcommand)]
    Doc(DocCommand),
    /// The signed ledger.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// The encrypted database itself.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Demo data for training, tests and benchmarks.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// The law as data: discretion benchmark, exemptions, procedure, deadlines.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Enrol this device with a server, using a one-time enrolment code.
    Enrol(sync::EnrolArgs),
    /// Push the outbox (receipts verified) and upload evidence files; a progress bar on stderr.
    Sync(sync::SyncArgs),
    /// Sync status: outbox, refused entries with reasons, pending uploads, last checkpoint and error.
    Status,
    /// First-offence check (初次违法核查) of a plate: prior cases in the agency, online; offline,
    /// this device's own cases, flagged needs_recheck.
    History(sync::HistoryArgs),
    /// Evidence packages: one zip per case that anyone can verify offline.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Verify an evidence package with no network: every file's hash and chunk manifest, every
    /// signature, chain link, inclusion proof, checkpoint and the signing keys' enrolment. Prints a
    /// report in Chinese (or JSON with --json); exits non-zero on any failure, naming the file and
    /// the check.
    Verify {
        package: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// The log's verifier key obtained independently (`<origin>+<id>+<base64>`): the package's
        /// own must be it.
        #[arg(long)]
        log_key: Option<String>,
    },
}

#[derive(Subcommand)]
enum RosterCommand {
    /// Replace the roster with the JSON array in FILE.
    Import {
        #[arg(long)]
        json: PathBuf,
    },
    /// Print the roster.
    List,
}

#[derive(Subcommand)]
enum CaseCommand {
    /// Open a case with the record in FILE; prints the case.
    New {
        #[arg(long)]
        json: PathBuf,
    },
    /// Add another record to a case.
    AddRecord {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Amend a record (a new version; the old one stays in the ledger).
    Amend {
        case: String,
        record: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Finalize a case.
    Finalize { case: String },
    /// Void a case, giving the reason.
    Void {
        case: String,
        #[arg(long)]
        reason: String,
    },
    /// Show a case with its records and evidence.
    Show { case: String },
    /// List cases opened on a day (default today, China Standard Time).
    List {
        #[arg(long)]
        day: Option<String>,
    },
    /// Make the penalty decision (当场 or 普通程序) of a finalized case: FILE holds the draft, the
    /// party, the facts as written and `rights_told`; refused with every issue when the law forbids it.
    Decide {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Submit the general-procedure decision the officers propose for legal review (提请法制审核,
    /// 处罚法 58): FILE has the same shape as for `case decide`. The decision can be made once the
    /// reviewer's opinion of 同意 on it has arrived by sync.
    ReviewRequest {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// The case's latest legal-review request and the opinion received, if any.
    Review { case: String },
    /// Decide not to penalise under the exemption list (不予行政处罚): FILE holds the violation, the
    /// facts, the answer to each condition, the education given and the commitment.
    NoPenalty {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Issue the notice of intended penalty (违法行为通知书) of a general-procedure case.
    Notice {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Record the party's statement, waiver or hearing request on the notice.
    Statement {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Take a coercive measure (查封、扣押…) with its list of items.
    Measure {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Register and preserve evidence in advance (先行登记保存) with its list.
    Preserve {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Extend a measure (once, by at most 30 days).
    ExtendMeasure {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Release a measure.
    ReleaseMeasure {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Record the service (送达) of one of the case's documents.
    Deliver {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Record a payment of the case's fine.
    Pay {
        case: String,
        #[arg(long)]
        json: PathBuf,
    },
    /// Close the case (结案): `executed`, `exempted`, `withdrawn` or `transferred`.
    Close {
        case: String,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The case's steps after its records (decisions, notices, measures, documents, delivery,
    /// payment, closing), each with its entry.
    Steps { case: String },
}

#[derive(Subcommand)]
enum DocCommand {
    /// Render document DOC of CASE to FILE.pdf: the first time it is issued (its SHA-256 goes into
    /// a `document.issue` entry before the file is written); afterwards the issued document is
    /// rendered again and must match its entry. DOC is one of site_record, inspection_record,
    /// summary_decision, penalty_decision, notice, no_penalty_decision, commitment,
    /// measure_decision, evidence_list, delivery_receipt. Fonts: fonts-noto-cjk, or ROADSIDE_CJK_FONT=path[:index].
    Render {
        case: String,
        doc: String,
        /// Which one, where a case has several: the measure's number, the record id, or the served
        /// document's number for a delivery_receipt.
        #[arg(long)]
        source: Option<String>,
        /// Signatures (a JSON array: role, name, strokes_json or refused, witness, signed_at).
        #[arg(long)]
        signatures: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check FILE against the document entries of CASE: which document it is, or that it is none.
    Verify { case: String, file: PathBuf },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Hash FILE and declare it as evidence of CASE in a signed ledger entry.
    Add {
        case: String,
        file: PathBuf,
        #[arg(long, value_parser = parse_kind)]
        kind: EvidenceKind,
        /// Capture metadata JSON (started_at, ended_at, latitude, longitude, clock_source, important).
        #[arg(long)]
        meta: Option<PathBuf>,
    },
    /// Hash FILE (whole-file SHA-256 and the 1 MiB chunk manifest) without declaring it.
    Hash { file: PathBuf },
}

#[derive(Subcommand)]
enum PackageCommand {
    /// Write the evidence package of CASE (its signed entries, receipts, checkpoints, evidence
    /// files, the log's and the agency's keys, index.html, manifest.json) to OUT.
    Export {
        case: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Verify hashes, signatures and the chain, the tail against the server's receipts, the outbox,
    /// and every case, record-version and evidence row against its entry. Prints the report; on any
    /// problem exits non-zero, the first problem on stderr.
    Verify,
    /// Print every entry as a JSON line, with its exact signed bytes.
    Export,
}

#[derive(Subcommand)]
enum StoreCommand {
    /// SQLCipher's HMAC of every page, SQLite's integrity check, then everything `ledger verify`
    /// checks. Prints the report; on any problem exits non-zero, the first problem on stderr.
    Check,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Create N demo cases (each one signed ledger entry and transaction); prints each case id as a
    /// JSON line as soon as it is committed.
    Seed {
        #[arg(long, default_value_t = 10)]
        cases: u32,
    },
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "normal" => Ok(Durability::Normal),
        "full" => Ok(Durability::Full),
        _ => Err(format!("持久性设置 {s} 无效，应为 normal 或 full")),
    }
}

fn parse_kind(s: &str) -> Result<EvidenceKind, String> {
    EvidenceKind::parse(s)
        .ok_or_else(|| format!("证据类型 {s} 无效，应为 video、audio、photo 或 document"))
}

/// An argument error (clap's), in the CLI's error format: a stable code and a Chinese message
/// naming what is wrong, with clap's own line after it. Help and version are not errors.
fn argument_error(e: &clap::Error) -> Value {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join("、"),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let arg = context(ContextKind::InvalidArg);
    let (code, what) = match e.kind() {
        ErrorKind::UnknownArgument => ("CLI_ARGUMENT_UNKNOWN", format!("不认识的参数 {arg}")),
        ErrorKind::InvalidSubcommand => (
            "CLI_COMMAND_UNKNOWN",
            format!("不认识的命令 {}", context(ContextKind::InvalidSubcommand)),
        ),
        ErrorKind::MissingRequiredArgument => {
            ("CLI_ARGUMENT_MISSING", format!("缺少必需的参数 {arg}"))
        }
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            ("CLI_COMMAND_MISSING", "缺少命令".to_string())
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::InvalidUtf8 => (
            "CLI_ARGUMENT_INVALID",
            format!(
                "参数 {arg} 的值 {} 无效",
                context(ContextKind::InvalidValue)
            ),
        ),
        ErrorKind::ArgumentConflict => (
            "CLI_ARGUMENT_CONFLICT",
            format!("参数 {arg} 不能与其他参数同时使用"),
        ),
        _ => ("CLI_ARGUMENTS_INVALID", "命令行参数有误".to_string()),
    };
    // clap's own line says the same in English; kept when it is a complete sentence.
    let rendered = e.to_string();
    let detail = rendered
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("error: "))
        .filter(|l| !l.ends_with(':'));
    let message = match detail {
        Some(d) => format!("{what}（{d}）；用 roadside --help 查看用法"),
        None => format!("{what}；用 roadside --help 查看用法"),
    };
    json!({ "code": code, "message": message })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: what was asked for, on stdout.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", argument_error(&e));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(Some(value)) => {
            let mut out = std::io::stdout().lock();
            // A closed stdout (e.g. `| head`) is not worth a panic.
            let _ = writeln!(out, "{value}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            let mut body = json!({ "code": e.code(), "message": e.message() });
            if !e.issues().is_empty() {
                body["issues"] = json!(e.issues());
            }
            eprintln!("{body}");
            ExitCode::FAILURE
        }
    }
}

/// Where the store is and how to open it.
struct Ctx {
    data: PathBuf,
    key_file: Option<PathBuf>,
    durability: Durability,
}

fn run(cli: Cli) -> Result<Option<Value>, RoadsideError> {
    let Cli {
        data,
        key_file,
        durability,
        command,
    } = cli;
    let cli = Ctx {
        data: data.clone(),
        key_file,
        durability,
    };
    match command {
        Command::Init { demo_roster } => {
            let key_path = key_path(&cli);
            let created = ensure_key_file(&key_path)?;
            let store = open_store(&cli)?;
            if demo_roster {
                store.import_roster(&roster_demo())?;
                use chrono::Datelike;
                let year = roadside_core::day::agency_today().year();
                store.add_number_block(&roadside_core::demo::number_block(year))?;
            }
            Ok(Some(json!({
                "data_dir": data,
                "database": store.path(),
                "device_id": store.device_id(),
                "key_file": if std::env::var_os("ROADSIDE_DB_KEY").is_some() { Value::Null } else { json!(key_path) },
                "key_created": created,
                "roster_loaded": demo_roster,
            })))
        }
        Command::Roster(cmd) => {
            let store = open_store(&cli)?;
            match cmd {
                RosterCommand::Import { json } => {
                    let roster: Vec<OfficerCertificate> = read_json(&json)?;
                    let n = store.import_roster(&roster)?;
                    Ok(Some(json!({ "imported": n })))
                }
                RosterCommand::List => Ok(Some(json!(store.roster()?))),
            }
        }
        Command::Validate { json } => {
            let record: InspectionRecord = read_json(&json)?;
            let store = open_store(&cli)?;
            let issues = store.validate(&record)?;
            Ok(Some(
                json!({ "valid": issues.is_empty(), "issues": issues }),
            ))
        }
        Command::Case(cmd) => {
            let store = open_store(&cli)?;
            case(&store, &cli.data, cmd).map(Some)
        }
        Command::Doc(cmd) => {
            let store = open_store(&cli)?;
            doc(&store, cmd).map(Some)
        }
        Command::Evidence(EvidenceCommand::Hash { file }) => {
            Ok(Some(json!(roadside_core::evidence::hash_file(&file)?)))
        }
        Command::Evidence(EvidenceCommand::Add {
            case,
            file,
            kind,
            meta,
        }) => {
            let meta: EvidenceMeta = match meta {
                Some(p) => read_json(&p)?,
                None => EvidenceMeta::default(),
            };
            let store = open_store(&cli)?;
            Ok(Some(json!(
                store.attach_evidence(&case, &file, kind, &meta)?
            )))
        }
        Command::Ledger(LedgerCommand::Verify) => {
            let store = open_store(&cli)?;
            let report = store.verify()?;
            report_or_fail(json!(report), report.error())
        }
        Command::Store(StoreCommand::Check) => {
            let store = open_store(&cli)?;
            let report = store.check()?;
            report_or_fail(json!(report), report.error())
        }
        Command::Ledger(LedgerCommand::Export) => {
            let store = open_store(&cli)?;
            let mut out = std::io::stdout().lock();
            for entry in store.export_ledger()? {
                if writeln!(out, "{}", json!(entry)).is_err() {
                    break;
                }
            }
            Ok(None)
        }
        Command::Demo(DemoCommand::Seed { cases }) => {
            let store = open_store(&cli)?;
            if store.roster()?.is_empty() {
                store.import_roster(&roster_demo())?;
            }
            let mut out = std::io::stdout().lock();
            let start = chrono::Utc::now() - chrono::Duration::hours(2);
            for i in 0..cases {
                let record = roadside_core::demo::on_site_record(
                    start + chrono::Duration::milliseconds(i64::from(i)),
                );
                let summary = store.create_case(&record)?;
                // Printed only after the commit returned: a line on stdout means a durable case.
                let _ = writeln!(
                    out,
                    "{}",
                    json!({ "case_id": summary.id, "seq": summary.last_entry_seq })
                );
                let _ = out.flush();
            }
            Ok(None)
        }
        Command::Rules(cmd) => rules::run(cmd, &data, || open_store(&cli)?.roster()).map(Some),
        Command::Enrol(args) => sync::enrol(&open_store(&cli)?, &args).map(Some),
        Command::Sync(args) => sync::run_sync(&open_store(&cli)?, &args).map(Some),
        Command::Status => sync::status(&open_store(&cli)?).map(Some),
        Command::History(args) => sync::history(&open_store(&cli)?, &args).map(Some),
        Command::Package(PackageCommand::Export { case, out }) => {
            package::export(&open_store(&cli)?, &case, &out).map(Some)
        }
        Command::Verify {
            package,
            json,
            log_key,
        } => package::verify(&package, json, log_key.as_deref()),
    }
}

/// A check's report goes to stdout either way; a failed check also exits non-zero with its first
/// problem on stderr.
fn report_or_fail(
    report: Value,
    failure: Option<RoadsideError>,
) -> Result<Option<Value>, RoadsideError> {
    match failure {
        None => Ok(Some(report)),
        Some(e) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{report}");
            Err(e)
        }
    }
}

fn case(store: &Store, data: &Path, cmd: CaseCommand) -> Result<Value, RoadsideError> {
    Ok(match cmd {
        CaseCommand::New { json } => {
            let record: InspectionRecord = read_json(&json)?;
            json!(store.create_case(&record)?)
        }
        CaseCommand::AddRecord { case, json } => {
            let record: InspectionRecord = read_json(&json)?;
            json!(store.add_record(&case, &record)?)
        }
        CaseCommand::Amend { case, record, json } => {
            let new: InspectionRecord = read_json(&json)?;
            json!(store.amend_record(&case, &record, &new)?)
        }
        CaseCommand::Finalize { case } => json!(store.finalize_case(&case)?),
        CaseCommand::Void { case, reason } => json!(store.void_case(&case, &reason)?),
        CaseCommand::Show { case } => json!(store.case_detail(&case)?),
        CaseCommand::List { day } => match day {
            Some(d) => json!(store.cases_on(&d)?),
            None => json!(store.cases_today()?),
        },
        CaseCommand::Decide { case, json } => {
            let book = RuleBook::load(data)?;
            json!(store.decide_penalty(&case, &book, &read_json(&json)?)?)
        }
        CaseCommand::ReviewRequest { case, json } => {
            let book = RuleBook::load(data)?;
            json!(store.request_legal_review(&case, &book, &read_json(&json)?)?)
        }
        CaseCommand::Review { case } => json!(store.legal_review_status(&case)?),
        CaseCommand::NoPenalty { case, json } => {
            let book = RuleBook::load(data)?;
            json!(store.decide_no_penalty(&case, &book, &read_json(&json)?)?)
        }
        CaseCommand::Notice { case, json } => {
            let book = RuleBook::load(data)?;
            json!(store.issue_notice(&case, &book, &read_json(&json)?)?)
        }
        CaseCommand::Statement { case, json } => {
            json!(store.record_statement(&case, &read_json(&json)?)?)
        }
        CaseCommand::Measure { case, json } => {
            json!(store.apply_measure(&case, &read_json(&json)?)?)
        }
        CaseCommand::Preserve { case, json } => {
            let book = RuleBook::load(data)?;
            json!(store.preserve_evidence(&case, &book, &read_json(&json)?)?)
        }
        CaseCommand::ExtendMeasure { case, json } => {
            json!(store.extend_measure(&case, &read_json(&json)?)?)
        }
        CaseCommand::ReleaseMeasure { case, json } => {
            json!(store.release_measure(&case, &read_json(&json)?)?)
        }
        CaseCommand::Deliver { case, json } => {
            json!(store.record_delivery(&case, &read_json(&json)?)?)
        }
        CaseCommand::Pay { case, json } => {
            let book = RuleBook::load(data)?;
            json!(store.record_payment(&case, &book, &read_json(&json)?)?)
        }
        CaseCommand::Close { case, reason, note } => {
            let reason: CloseReason = serde_json::from_value(Value::String(reason.clone()))
                .map_err(|_| {
                    RoadsideError::invalid_field(
                        "reason",
                        "CLOSE_REASON",
                        format!(
                            "结案理由 “{reason}” 无效，应为 executed（执行完毕）、exempted（不予处罚）、withdrawn（撤销立案）或 transferred（移送）"
                        ),
                    )
                })?;
            json!(store.close_case(&case, &CloseInput { reason, note })?)
        }
        CaseCommand::Steps { case } => {
            let steps: Vec<Value> = store
                .case_steps(&case)?
                .into_iter()
                .map(|s| {
                    let body: Value = serde_json::from_str(&s.body).unwrap_or(Value::Null);
                    json!({"kind": s.kind, "seq": s.seq, "hash": s.hash, "at": s.at, "body": body})
                })
                .collect();
            json!(steps)
        }
    })
}

fn doc(store: &Store, cmd: DocCommand) -> Result<Value, RoadsideError> {
    use roadside_core::steps::{DocType, DocumentIssued};
    let issued = |case: &str| -> Result<Vec<DocumentIssued>, RoadsideError> {
        store
            .case_steps(case)?
            .into_iter()
            .filter(|s| s.kind == roadside_core::ledger::EntryKind::DocumentIssue)
            .map(|s| {
                serde_json::from_str(&s.body).map_err(|e| {
                    RoadsideError::store("STORE_STEP_BODY", format!("文书记录无法读取：{e}"))
                })
            })
            .collect()
    };
    match cmd {
        DocCommand::Render {
            case,
            doc,
            source,
            signatures,
            out,
        } => {
            let doc_type = DocType::parse(&doc).ok_or_else(|| {
                RoadsideError::invalid_field(
                    "doc",
                    "DOCUMENT_TYPE_UNKNOWN",
                    format!(
                        "文书种类 “{doc}” 无效，应为 {}",
                        DocType::ALL.map(|d| d.as_str()).join("、")
                    ),
                )
            })?;
            let sigs: Vec<roadside_core::store::documents::SignatureInput> = match &signatures {
                Some(p) => read_json(p)?,
                None => Vec::new(),
            };
            let renderer = roadside_core::document::Renderer::new(
                &roadside_core::document::SystemFonts::new(),
            )?;
            let (pdf, info) = match store.issue_document(
                &case,
                doc_type,
                source.as_deref(),
                &sigs,
                &renderer,
            ) {
                Ok(d) => {
                    let info = json!({"issued": true, "number": d.number, "sha256": d.sha256, "entry": d.entry});
                    (d.pdf, info)
                }
                Err(e) if e.code() == "DOCUMENT_ALREADY_ISSUED" => {
                    let all = issued(&case)?;
                    let numbers: Vec<&DocumentIssued> =
                        all.iter().filter(|d| d.doc_type == doc_type).collect();
                    let pick = match source.as_deref() {
                        Some(s) => numbers.iter().find(|d| d.number == s).or(numbers.first()),
                        None => numbers.first(),
                    };
                    let Some(d) = pick else { return Err(e) };
                    let pdf = store.reprint_document(&case, &d.number, &renderer)?;
                    let info = json!({"issued": false, "reprint": true, "number": d.number, "sha256": d.sha256});
                    (pdf, info)
                }
                Err(e) => return Err(e),
            };
            fs::write(&out, &pdf).map_err(|e| io_err("DOCUMENT_WRITE", &out, e))?;
            let mut info = info;
            info["out"] = json!(out);
            info["size"] = json!(pdf.len());
            Ok(info)
        }
        DocCommand::Verify { case, file } => {
            let bytes = fs::read(&file).map_err(|e| io_err("DOCUMENT_READ", &file, e))?;
            let all = issued(&case)?;
            match all
                .iter()
                .find(|d| roadside_core::store::documents::matches_entry(&bytes, d))
            {
                Some(d) => Ok(json!({"matches": true, "doc_type": d.doc_type, "number": d.number, "sha256": d.sha256})),
                None => Err(RoadsideError::ledger(
                    "DOCUMENT_NOT_ISSUED",
                    format!(
                        "文件 {} 不是本案已制作的任何文书（其 SHA-256 不在账本的文书记录中）：可能被修改过",
                        file.display()
                    ),
                )),
            }
        }
    }
}

fn roster_demo() -> Vec<OfficerCertificate> {
    roadside_core::demo::roster()
}

fn key_path(cli: &Ctx) -> PathBuf {
    cli.key_file
        .clone()
        .unwrap_or_else(|| cli.data.join(KEY_FILE))
}

/// Create the key file with 32 random bytes (hex) unless it exists or the key is in the environment.
fn ensure_key_file(path: &Path) -> Result<bool, RoadsideError> {
    if std::env::var_os("ROADSIDE_DB_KEY").is_some() || path.exists() {
        return Ok(false);
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            roadside_core::store::create_data_dir(dir)?;
        }
    }
    let mut key = [0u8; 32];
    rand_key(&mut key)?;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| io_err("KEY_FILE_WRITE", path, e))?;
    f.write_all(hex::encode(key).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| io_err("KEY_FILE_WRITE", path, e))?;
    Ok(true)
}

fn rand_key(buf: &mut [u8; 32]) -> Result<(), RoadsideError> {
    // The device-key generator of the core uses the OS RNG too; reuse it through a fresh key.
    let k = roadside_core::ledger::DeviceKey::generate();
    buf.copy_from_slice(&k.to_bytes());
    Ok(())
}

fn load_key(cli: &Ctx) -> Result<[u8; 32], RoadsideError> {
    let (text, source) = match std::env::var("ROADSIDE_DB_KEY") {
        Ok(v) => (v, "ROADSIDE_DB_KEY".to_string()),
        Err(_) => {
            let path = key_path(cli);
            let text = fs::read_to_string(&path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    RoadsideError::key(
                        "KEY_MISSING",
                        format!(
                            "找不到数据库密钥文件 {}；请先运行 roadside --data {} init，或设置 ROADSIDE_DB_KEY",
                            path.display(),
                            cli.data.display()
                        ),
                    )
                } else {
                    io_err("KEY_FILE_READ", &path, e)
                }
            })?;
            check_key_file_mode(&path)?;
            (text, path.display().to_string())
        }
    };
    let bytes = hex::decode(text.trim()).map_err(|_| {
        RoadsideError::key(
            "KEY_FORMAT",
            format!("{source} 中的密钥应为 64 位十六进制数字"),
        )
    })?;
    bytes.try_into().map_err(|_| {
        RoadsideError::key(
            "KEY_FORMAT",
            format!("{source} 中的密钥应为 32 字节（64 位十六进制数字）"),
        )
    })
}

/// Refuse a key file that others can read or write: whoever reads it can decrypt the database.
#[cfg(unix)]
fn check_key_file_mode(path: &Path) -> Result<(), RoadsideError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map_err(|e| io_err("KEY_FILE_READ", path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(RoadsideError::key(
            "KEY_FILE_MODE",
            format!(
                "数据库密钥文件 {} 的权限为 {:04o}，其他用户可以读取或改写；请执行 chmod 600 {} 后重试",
                path.display(),
                mode & 0o7777,
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_file_mode(_: &Path) -> Result<(), RoadsideError> {
    Ok(())
}

fn open_store(cli: &Ctx) -> Result<Store, RoadsideError> {
    let key = load_key(cli)?;
    Store::open(&cli.data, &key, cli.durability)
}

fn io_err(code: &str, path: &Path, e: std::io::Error) -> RoadsideError {
    RoadsideError::store(code, format!("{}：{e}", path.display()))
}

/// Read a JSON document from a file (or `-` for stdin), refusing oversized input, and name the
/// file in any error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RoadsideError> {
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_JSON_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| io_err("INPUT_READ", path, e))?;
    } else {
        let f = fs::File::open(path).map_err(|e| {
            RoadsideError::invalid_field(
                &path.display().to_string(),
                "INPUT_NOT_FOUND",
                format!("无法读取文件 {}：{e}", path.display()),
            )
        })?;
        f.take(MAX_JSON_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(|e| io_err("INPUT_READ", path, e))?;
    }
    if buf.len() as u64 > MAX_JSON_BYTES {
        return Err(RoadsideError::invalid_field(
            &path.display().to_string(),
            "INPUT_TOO_LARGE",
            format!("文件超过 {} MiB 上限", MAX_JSON_BYTES >> 20),
        ));
    }
    serde_json::from_slice(&buf).map_err(|e| {
        let inner = RoadsideError::from(e);
        let issues: Vec<Issue> = inner
            .issues()
            .iter()
            .map(|i| Issue {
                path: format!("{}: {}", path.display(), i.path),
                ..i.clone()
            })
            .collect();
        RoadsideError::invalid(issues)
    })
}
