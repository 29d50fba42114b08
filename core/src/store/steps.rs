//! The end of a case in the store: each step (`crate::steps`) is one transaction that checks the
//! case's state, builds the step's body, takes a document number where the step produces a
//! document, and appends the signed entry. The steps live only in their entries; this module
//! reads them back (`ledger_case` index) when a later step needs them.

use chrono::{DateTime, Datelike, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{begin, case_officers, case_status, db, lock, new_id, Store};
use crate::day;
use crate::error::{Issue, Result, RoadsideError};
use crate::ledger::{EntryKind, LedgerEntry};
use crate::model::CaseStatus;
use crate::rules::RuleBook;
use crate::steps::{
    self, CaseSteps, CloseInput, DecisionContext, DeliveryInput, DocType, DocumentIssued, Measure,
    MeasureExtension, MeasureInput, MeasureRelease, NoPenaltyDecision, NoPenaltyInput, Notice,
    NoticeInput, NoticeState, NumberBlock, PaymentInput, PenaltyDecision, PenaltyDecisionInput,
    Preservation, PreservationInput, ReferenceId, Statement, StatementInput,
};

/// Numbers left below which a sync asks the server for another block.
pub const NUMBER_LOW_WATER: u64 = 20;

/// What a step appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct StepEntry {
    pub kind: EntryKind,
    pub seq: u64,
    /// Lowercase hex SHA-256 of the entry.
    pub hash: String,
    /// The document number the step took, if it took one.
    pub number: Option<String>,
}

/// One step of a case as read back from its entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct StepView {
    pub kind: EntryKind,
    pub seq: u64,
    pub hash: String,
    pub at: String,
    /// The entry's body, as JSON text.
    pub body: String,
}

/// What an officer does next on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// Finish and finalize the records.
    Finalize,
    /// Decide (penalty, no penalty), or first issue the notice (普通程序).
    Decide,
    /// Serve the documents not yet served.
    Deliver,
    /// Record the payment of the fine.
    Pay,
    /// Release a measure still in force.
    ReleaseMeasure,
    /// Close the case.
    Close,
    /// Nothing: closed or voided.
    Done,
}

/// Where a case stands after its records: what was decided, served, paid, and what comes next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct CaseProgress {
    pub status: CaseStatus,
    /// The decision's document number (penalty or no penalty).
    pub decision_number: Option<String>,
    pub penalised: bool,
    pub total_yuan: i64,
    pub paid_yuan: i64,
    pub notice_number: Option<String>,
    /// The last day of the notice's reply period.
    pub reply_by: Option<String>,
    pub statement_recorded: bool,
    /// Numbers of the case's documents that are not yet served.
    pub undelivered: Vec<String>,
    pub open_measures: Vec<String>,
    pub next: NextStep,
}

/// Everything the later steps of one case depend on, read from its entries.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    pub penalty: Option<(PenaltyDecision, String)>,
    pub no_penalty: Option<(NoPenaltyDecision, String)>,
    pub notice: Option<(Notice, String)>,
    pub statement: Option<Statement>,
    /// Measures with their entry hash, whether extended, whether released.
    pub measures: Vec<(Measure, String, bool, bool)>,
    pub documents: Vec<(DocumentIssued, String)>,
    pub preservations: Vec<(Preservation, String)>,
    pub deliveries: Vec<(DeliveryInput, String)>,
    pub delivered: Vec<String>,
    pub paid_yuan: i64,
}

fn body_of<T: DeserializeOwned>(entry: &LedgerEntry) -> Result<T> {
    serde_json::from_value(entry.body.clone()).map_err(|e| {
        RoadsideError::store(
            "STORE_STEP_BODY",
            format!(
                "账本第 {} 条（{}）的内容无法读取：{e}",
                entry.seq, entry.kind
            ),
        )
    })
}

/// The case's entries of the step kinds, in order.
fn step_entries(conn: &Connection, case_id: &str) -> Result<Vec<(LedgerEntry, String)>> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT bytes, hash FROM ledger WHERE case_id = ?1 AND kind NOT IN
             ('case.open', 'record.create', 'record.amend', 'evidence.add', 'case.finalize', 'entry.void')
             ORDER BY seq",
        )
        .map_err(db::store_err)?;
    let rows = stmt
        .query_map([case_id], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(db::store_err)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(db::store_err)?;
    rows.into_iter()
        .map(|(bytes, hash)| {
            let entry: LedgerEntry = serde_json::from_slice(&bytes).map_err(|e| {
                RoadsideError::store("STORE_STEP_BODY", format!("账本记录无法读取：{e}"))
            })?;
            Ok((entry, hex::encode(hash)))
        })
        .collect()
}

pub(super) fn load(conn: &Connection, case_id: &str) -> Result<Loaded> {
    let mut l = Loaded::default();
    for (entry, hash) in step_entries(conn, case_id)? {
        match entry.kind {
            EntryKind::DecisionPenalty => l.penalty = Some((body_of(&entry)?, hash)),
            EntryKind::DecisionNoPenalty => l.no_penalty = Some((body_of(&entry)?, hash)),
            EntryKind::NoticeIssue => {
                l.notice = Some((body_of(&entry)?, hash));
                l.statement = None;
            }
            EntryKind::StatementRecord => l.statement = Some(body_of(&entry)?),
            EntryKind::MeasureApply => l.measures.push((body_of(&entry)?, hash, false, false)),
            EntryKind::MeasureExtend => {
                let ext: MeasureExtension = body_of(&entry)?;
                if let Some(m) = l
                    .measures
                    .iter_mut()
                    .find(|m| m.0.number == ext.measure_number)
                {
                    m.0.ends_on = m.0.ends_on + chrono::Days::new(u64::from(ext.days));
                    m.2 = true;
                }
            }
            EntryKind::MeasureRelease => {
                let rel: MeasureRelease = body_of(&entry)?;
                if let Some(m) = l
                    .measures
                    .iter_mut()
                    .find(|m| m.0.number == rel.measure_number)
                {
                    m.3 = true;
                }
            }
            EntryKind::DocumentIssue => l.documents.push((body_of(&entry)?, hash)),
            EntryKind::EvidencePreserve => l.preservations.push((body_of(&entry)?, hash)),
            EntryKind::DeliveryRecord => {
                let d: DeliveryInput = body_of(&entry)?;
                l.delivered.push(d.document_number.clone());
                l.deliveries.push((d, hash));
            }
            EntryKind::PaymentRecord => {
                let p: PaymentInput = body_of(&entry)?;
                l.paid_yuan += p.amount_yuan - p.late_fee_yuan;
            }
            _ => {}
        }
    }
    Ok(l)
}

impl Loaded {
    fn decided(&self) -> bool {
        self.penalty.is_some() || self.no_penalty.is_some()
    }

    /// Numbers of every document this case has: the numbered steps and the documents issued.
    fn numbers(&self) -> Vec<&str> {
        let mut n: Vec<&str> = Vec::new();
        if let Some((d, _)) = &self.penalty {
            n.push(&d.number);
        }
        if let Some((d, _)) = &self.no_penalty {
            n.push(&d.number);
        }
        if let Some((d, _)) = &self.notice {
            n.push(&d.number);
        }
        n.extend(self.measures.iter().map(|m| m.0.number.as_str()));
        n.extend(self.preservations.iter().map(|p| p.0.number.as_str()));
        n.extend(self.documents.iter().map(|d| d.0.number.as_str()));
        n
    }
}

/// The case must be finalized (records closed for editing) and not closed or voided.
fn require_finalized(conn: &Connection, case_id: &str) -> Result<()> {
    match case_status(conn, case_id)? {
        CaseStatus::Finalized => Ok(()),
        CaseStatus::Draft => Err(RoadsideError::conflict(
            "CASE_NOT_FINALIZED",
            "案件笔录尚未定稿：先定稿（核对执法人员、结束时间、当事人确认和音像记录），再作出决定",
        )),
        CaseStatus::Voided => Err(RoadsideError::conflict("CASE_VOIDED", "案件已作废")),
        CaseStatus::Closed => Err(RoadsideError::conflict("CASE_CLOSED", "案件已结案")),
    }
}

/// The case is finalized and nothing is decided yet; `then` says what a decision rules out.
pub(super) fn require_undecided(conn: &Connection, case_id: &str, then: &str) -> Result<Loaded> {
    require_finalized(conn, case_id)?;
    let loaded = load(conn, case_id)?;
    if loaded.decided() {
        return Err(RoadsideError::conflict(
            "DECISION_EXISTS",
            format!("本案已作出决定，{then}"),
        ));
    }
    Ok(loaded)
}

/// The case must be open (draft or finalized).
fn require_open(conn: &Connection, case_id: &str) -> Result<()> {
    match case_status(conn, case_id)? {
        CaseStatus::Draft | CaseStatus::Finalized => Ok(()),
        CaseStatus::Voided => Err(RoadsideError::conflict("CASE_VOIDED", "案件已作废")),
        CaseStatus::Closed => Err(RoadsideError::conflict("CASE_CLOSED", "案件已结案")),
    }
}

pub(super) fn officer_numbers(officers: &[crate::rules::check::DraftOfficer]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for o in officers {
        let no = o.certificate_no.trim().to_string();
        if !no.is_empty() && !v.contains(&no) {
            v.push(no);
        }
    }
    v
}

fn to_body<T: Serialize>(body: &T) -> Result<serde_json::Value> {
    serde_json::to_value(body)
        .map_err(|e| RoadsideError::internal("STEP_BODY", format!("无法生成记录内容：{e}")))
}

/// A number taken from a leased block, not yet tied to its entry.
pub(super) struct Taken {
    pub(super) number: String,
    agency: String,
    year: i32,
    serial: u64,
}

impl Store {
    /// Keep a block of document serials leased by the server. The same block again is a no-op; a
    /// block that overlaps one already held is refused.
    pub fn add_number_block(&self, block: &NumberBlock) -> Result<()> {
        block.check()?;
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        let same: Option<(i64, String)> = tx
            .query_row(
                "SELECT last, prefix FROM number_blocks WHERE agency = ?1 AND year = ?2 AND first = ?3",
                params![block.agency, block.year, block.first as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db::store_err)?;
        if let Some((last, prefix)) = same {
            if last as u64 == block.last && prefix == block.prefix {
                return Ok(());
            }
        }
        let overlaps: i64 = tx
            .query_row(
                "SELECT count(*) FROM number_blocks WHERE agency = ?1 AND year = ?2
                 AND first <= ?4 AND last >= ?3",
                params![
                    block.agency,
                    block.year,
                    block.first as i64,
                    block.last as i64
                ],
                |r| r.get(0),
            )
            .map_err(db::store_err)?;
        if overlaps > 0 {
            return Err(RoadsideError::conflict(
                "NUMBER_BLOCK_OVERLAP",
                format!(
                    "编号段 {}年 {}—{} 与本机已有的编号段重叠",
                    block.year, block.first, block.last
                ),
            ));
        }
        tx.execute(
            "INSERT INTO number_blocks (agency, year, first, last, next, prefix, agency_name, leased_at)
             VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6, ?7)",
            params![
                block.agency,
                block.year,
                block.first as i64,
                block.last as i64,
                block.prefix,
                block.agency_name,
                super::now_rfc3339(now)
            ],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)
    }

    /// Document numbers still available for `year` on this device.
    pub fn numbers_left(&self, year: i32) -> Result<u64> {
        let conn = lock(&self.reader);
        let n: i64 = conn
            .query_row(
                "SELECT coalesce(sum(last - next + 1), 0) FROM number_blocks WHERE year = ?1 AND next <= last",
                [year],
                |r| r.get(0),
            )
            .map_err(db::store_err)?;
        Ok(n.max(0) as u64)
    }

    /// The agency's name and code as the leased blocks give them (for printed documents).
    pub fn agency_of_blocks(&self) -> Result<Option<(String, String)>> {
        let conn = lock(&self.reader);
        conn.query_row(
            "SELECT agency, agency_name FROM number_blocks ORDER BY year DESC, first DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db::store_err)
    }

    pub(super) fn take_number(
        &self,
        tx: &Transaction,
        doc: DocType,
        now: DateTime<Utc>,
    ) -> Result<Taken> {
        let year = day::agency_day(&now).year();
        let block: Option<(String, i64, i64, String)> = tx
            .query_row(
                "SELECT agency, first, next, prefix FROM number_blocks
                 WHERE year = ?1 AND next <= last ORDER BY first LIMIT 1",
                [year],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(db::store_err)?;
        let Some((agency, first, next, prefix)) = block else {
            return Err(RoadsideError::conflict(
                "NUMBER_BLOCK_EXHAUSTED",
                format!(
                    "本机没有 {year} 年可用的文书编号：请联网同步一次以领取新的编号段（编号由服务器分段发放，离线时不能自行编号，以免重号）"
                ),
            ));
        };
        tx.execute(
            "UPDATE number_blocks SET next = next + 1 WHERE agency = ?1 AND year = ?2 AND first = ?3",
            params![agency, year, first],
        )
        .map_err(db::store_err)?;
        Ok(Taken {
            number: steps::format_number(&prefix, doc, year, next as u64),
            agency,
            year,
            serial: next as u64,
        })
    }

    fn record_number(
        &self,
        tx: &Transaction,
        taken: &Taken,
        case_id: &str,
        doc: DocType,
        seq: u64,
    ) -> Result<()> {
        tx.execute(
            "INSERT INTO numbers_used (number, agency, year, serial, case_id, doc_type, entry_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                taken.number,
                taken.agency,
                taken.year,
                taken.serial as i64,
                case_id,
                doc.as_str(),
                seq as i64
            ],
        )
        .map_err(db::store_err)?;
        Ok(())
    }

    /// Which reference data `book` is: its digest and the bundle version held, if any.
    pub(super) fn reference_id(&self, conn: &Connection, book: &RuleBook) -> Result<ReferenceId> {
        let held: Option<String> = conn
            .query_row(
                "SELECT v FROM sync_state WHERE k = 'bundle_manifest'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(db::store_err)?;
        let bundle_version = held
            .and_then(|h| serde_json::from_str::<crate::bundle::HeldBundle>(&h).ok())
            .map(|h| h.version);
        Ok(ReferenceId {
            bundle_version,
            digest: book.reference_digest(),
        })
    }

    /// Append a step's entry (and record the number it took) and touch the case.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn append_step(
        &self,
        tx: &Transaction,
        now: DateTime<Utc>,
        officers: Vec<String>,
        kind: EntryKind,
        case_id: &str,
        body: serde_json::Value,
        number: Option<(&Taken, DocType)>,
    ) -> Result<StepEntry> {
        let officers = if officers.is_empty() {
            case_officers(tx, case_id)?
        } else {
            officers
        };
        let (seq, hash) = self.append(tx, now, officers, kind, Some(case_id), body)?;
        if let Some((taken, doc)) = number {
            self.record_number(tx, taken, case_id, doc, seq)?;
        }
        super::touch_case(tx, case_id, seq, None)?;
        Ok(StepEntry {
            kind,
            seq,
            hash: hex::encode(hash),
            number: number.map(|(t, _)| t.number.clone()),
        })
    }

    /// Append a step that carries a document number: `body` was built and checked without one;
    /// here it gets its id and the next number of `doc` (`set`), so a refused step spends none.
    #[allow(clippy::too_many_arguments)]
    fn append_numbered<T: Serialize>(
        &self,
        tx: &Transaction,
        now: DateTime<Utc>,
        officers: Vec<String>,
        kind: EntryKind,
        case_id: &str,
        doc: DocType,
        mut body: T,
        set: impl FnOnce(&mut T, String, String),
    ) -> Result<StepEntry> {
        let taken = self.take_number(tx, doc, now)?;
        set(&mut body, new_id(), taken.number.clone());
        self.append_step(
            tx,
            now,
            officers,
            kind,
            case_id,
            to_body(&body)?,
            Some((&taken, doc)),
        )
    }

    /// The decision `input` would make on the case as it stands (finalized, undecided; its notice
    /// and statement), checked with the roster, without its id and number; `then` says what an
    /// existing decision rules out. For the decision itself and for a legal-review request.
    pub(super) fn checked_decision(
        &self,
        tx: &Transaction,
        case_id: &str,
        book: &RuleBook,
        input: &PenaltyDecisionInput,
        then: &str,
    ) -> Result<(PenaltyDecision, DecisionContext)> {
        let loaded = require_undecided(tx, case_id, then)?;
        let ctx = DecisionContext {
            notice: loaded.notice.clone().map(|(notice, _)| NoticeState {
                notice,
                statement: loaded.statement.clone(),
            }),
            already_fined_acts: Vec::new(),
        };
        let reference = self.reference_id(tx, book)?;
        let roster = self.cached_roster()?;
        let decision = steps::penalty_decision(
            book,
            &roster,
            input,
            &ctx,
            reference,
            String::new(),
            String::new(),
        )?;
        Ok((decision, ctx))
    }

    /// Make the penalty decision (当场 or 普通程序). The draft is checked again here, with the
    /// roster on the decision date; any error refuses the decision with every issue listed.
    pub fn decide_penalty(
        &self,
        case_id: &str,
        book: &RuleBook,
        input: &PenaltyDecisionInput,
    ) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        let doc = match input.draft.procedure {
            crate::rules::check::ProcedureKind::Summary => DocType::SummaryDecision,
            crate::rules::check::ProcedureKind::General => DocType::PenaltyDecision,
        };
        let (mut decision, ctx) =
            self.checked_decision(&tx, case_id, book, input, "同一案件不能再作出第二个决定")?;
        // 处罚法 58: a decision the review catalogue names is made only after an opinion of 同意
        // on this very proposal has reached the device.
        if !book.review_catalogue().is_empty() {
            let need = book.legal_review(&decision.review_case(ctx.hearing_held()))?;
            let state = super::review::review_state(&tx, case_id)?;
            if need.required && decision.procedure == crate::rules::check::ProcedureKind::General {
                if let Some(s) = &state {
                    if let Some((opinion, _)) = &s.opinion {
                        decision.review = Some(steps::ReviewRef {
                            request: s.request_hash.clone(),
                            opinion: opinion.clone(),
                        });
                    }
                }
            }
            let issues = steps::review_issues(&decision, &need, state.as_ref());
            if !issues.is_empty() {
                return Err(RoadsideError::invalid(issues));
            }
        }
        let entry = self.append_numbered(
            &tx,
            now,
            officer_numbers(&decision.officers),
            EntryKind::DecisionPenalty,
            case_id,
            doc,
            decision,
            |d, id, no| {
                d.decision_id = id;
                d.number = no;
            },
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Decide not to penalise under the exemption list (处罚法 33).
    pub fn decide_no_penalty(
        &self,
        case_id: &str,
        book: &RuleBook,
        input: &NoPenaltyInput,
    ) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_undecided(&tx, case_id, "同一案件不能再作出第二个决定")?;
        let reference = self.reference_id(&tx, book)?;
        let roster = self.cached_roster()?;
        let decision = steps::no_penalty_decision(
            book,
            &roster,
            input,
            reference,
            String::new(),
            String::new(),
        )?;
        let entry = self.append_numbered(
            &tx,
            now,
            officer_numbers(&decision.officers),
            EntryKind::DecisionNoPenalty,
            case_id,
            DocType::NoPenaltyDecision,
            decision,
            |d, id, no| {
                d.decision_id = id;
                d.number = no;
            },
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Issue the notice of intended penalty (普通程序).
    pub fn issue_notice(
        &self,
        case_id: &str,
        book: &RuleBook,
        input: &NoticeInput,
    ) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_undecided(&tx, case_id, "不能再发出违法行为通知书")?;
        let reference = self.reference_id(&tx, book)?;
        let roster = self.cached_roster()?;
        let notice = steps::notice(
            book,
            &roster,
            input,
            reference,
            String::new(),
            String::new(),
        )?;
        let entry = self.append_numbered(
            &tx,
            now,
            officer_numbers(&notice.officers),
            EntryKind::NoticeIssue,
            case_id,
            DocType::Notice,
            notice,
            |n, id, no| {
                n.notice_id = id;
                n.number = no;
            },
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Record the party's statement (or waiver, or hearing request) on the case's notice.
    pub fn record_statement(&self, case_id: &str, input: &StatementInput) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_finalized(&tx, case_id)?;
        let loaded = load(&tx, case_id)?;
        let Some((notice, _)) = &loaded.notice else {
            return Err(RoadsideError::invalid_field(
                "notice_number",
                "NOTICE_NOT_FOUND",
                "本案尚未发出违法行为通知书，没有可以记录的陈述、申辩",
            ));
        };
        if loaded.decided() {
            return Err(RoadsideError::conflict(
                "DECISION_EXISTS",
                "本案已作出决定，陈述、申辩应当在决定之前记录",
            ));
        }
        let statement = steps::statement(input, notice)?;
        let entry = self.append_step(
            &tx,
            now,
            Vec::new(),
            EntryKind::StatementRecord,
            case_id,
            to_body(&statement)?,
            None,
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Take a coercive measure (查封、扣押…) with its list; the case may still be a draft (the
    /// measure is taken at the roadside, and finalize then requires its AV record).
    pub fn apply_measure(&self, case_id: &str, input: &MeasureInput) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_open(&tx, case_id)?;
        let roster = self.cached_roster()?;
        let measure = steps::measure(&roster, input, String::new(), String::new())?;
        let entry = self.append_numbered(
            &tx,
            now,
            officer_numbers(&input.officers),
            EntryKind::MeasureApply,
            case_id,
            DocType::MeasureDecision,
            measure,
            |m, id, no| {
                m.measure_id = id;
                m.number = no;
            },
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Register and preserve evidence in advance (先行登记保存, 处罚法 56) with its list; the entry
    /// records the last day to decide what becomes of it.
    pub fn preserve_evidence(
        &self,
        case_id: &str,
        book: &RuleBook,
        input: &PreservationInput,
    ) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_open(&tx, case_id)?;
        let roster = self.cached_roster()?;
        let body = steps::preservation(book, &roster, input, String::new(), String::new())?;
        let entry = self.append_numbered(
            &tx,
            now,
            officer_numbers(&input.officers),
            EntryKind::EvidencePreserve,
            case_id,
            DocType::EvidenceList,
            body,
            |p, id, no| {
                p.preservation_id = id;
                p.number = no;
            },
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Extend a measure once (《行政强制法》 25).
    pub fn extend_measure(&self, case_id: &str, ext: &MeasureExtension) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_open(&tx, case_id)?;
        let loaded = load(&tx, case_id)?;
        let (measure, _, extended, released) = find_measure(&loaded, &ext.measure_number)?;
        if *released {
            return Err(RoadsideError::conflict(
                "MEASURE_RELEASED",
                format!("强制措施 {} 已解除", ext.measure_number),
            ));
        }
        let ext = steps::measure_extension(ext, measure, *extended, day::agency_day(&now))?;
        let entry = self.append_step(
            &tx,
            now,
            Vec::new(),
            EntryKind::MeasureExtend,
            case_id,
            to_body(&ext)?,
            None,
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Release a measure.
    pub fn release_measure(&self, case_id: &str, rel: &MeasureRelease) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_open(&tx, case_id)?;
        let loaded = load(&tx, case_id)?;
        let (_, _, _, released) = find_measure(&loaded, &rel.measure_number)?;
        if *released {
            return Err(RoadsideError::conflict(
                "MEASURE_RELEASED",
                format!("强制措施 {} 已解除", rel.measure_number),
            ));
        }
        let mut issues = Vec::new();
        for (path, text, what) in [
            ("reason", &rel.reason, "解除理由"),
            ("returned_to", &rel.returned_to, "物品退还的接收人"),
        ] {
            if text.trim().is_empty() {
                issues.push(Issue::new(
                    path,
                    "STEP_TEXT_REQUIRED",
                    format!("{what}不能为空"),
                ));
            }
        }
        if !issues.is_empty() {
            return Err(RoadsideError::invalid(issues));
        }
        let entry = self.append_step(
            &tx,
            now,
            Vec::new(),
            EntryKind::MeasureRelease,
            case_id,
            to_body(rel)?,
            None,
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Record the service of one of the case's documents.
    pub fn record_delivery(&self, case_id: &str, input: &DeliveryInput) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_open(&tx, case_id)?;
        let loaded = load(&tx, case_id)?;
        let mut issues = Vec::new();
        if !loaded.numbers().contains(&input.document_number.as_str()) {
            issues.push(Issue::new(
                "document_number",
                "DOCUMENT_NOT_FOUND",
                format!("本案没有编号为 {} 的文书", input.document_number),
            ));
        }
        if loaded.delivered.contains(&input.document_number) {
            issues.push(Issue::new(
                "document_number",
                "DOCUMENT_ALREADY_DELIVERED",
                format!("文书 {} 已记录送达", input.document_number),
            ));
        }
        if let Some(ev) = &input.evidence_id {
            let found: Option<String> = tx
                .query_row(
                    "SELECT kind FROM evidence WHERE id = ?1 AND case_id = ?2",
                    params![ev, case_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db::store_err)?;
            if found.is_none() {
                issues.push(Issue::new(
                    "evidence_id",
                    "EVIDENCE_NOT_FOUND",
                    format!("本案没有编号为 {ev} 的证据"),
                ));
            }
        }
        if let Err(e) = steps::delivery(input) {
            issues.extend(e.into_issues());
        }
        if !issues.is_empty() {
            return Err(RoadsideError::invalid(issues));
        }
        let entry = self.append_step(
            &tx,
            now,
            Vec::new(),
            EntryKind::DeliveryRecord,
            case_id,
            to_body(input)?,
            None,
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Record a payment of the case's fine.
    pub fn record_payment(
        &self,
        case_id: &str,
        book: &RuleBook,
        input: &PaymentInput,
    ) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_finalized(&tx, case_id)?;
        let loaded = load(&tx, case_id)?;
        let Some((decision, _)) = &loaded.penalty else {
            return Err(RoadsideError::conflict(
                "PAYMENT_NO_DECISION",
                "本案没有罚款决定，无需缴款",
            ));
        };
        if input.decision_number != decision.number {
            return Err(RoadsideError::invalid_field(
                "decision_number",
                "DOCUMENT_NOT_FOUND",
                format!(
                    "本案的处罚决定书编号是 {}，不是 {}",
                    decision.number, input.decision_number
                ),
            ));
        }
        let payment = steps::payment(book, input, decision, loaded.paid_yuan)?;
        let entry = self.append_step(
            &tx,
            now,
            Vec::new(),
            EntryKind::PaymentRecord,
            case_id,
            to_body(&payment)?,
            None,
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Close the case (结案).
    pub fn close_case(&self, case_id: &str, input: &CloseInput) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        require_finalized(&tx, case_id)?;
        let loaded = load(&tx, case_id)?;
        let steps_view = CaseSteps {
            penalty: loaded.penalty.clone().map(|p| p.0),
            no_penalty: loaded.no_penalty.clone().map(|p| p.0),
            delivered: loaded.delivered.clone(),
            paid_yuan: loaded.paid_yuan,
            open_measures: loaded
                .measures
                .iter()
                .filter(|m| !m.3)
                .map(|m| m.0.number.clone())
                .collect(),
        };
        let close = steps::close(input, &steps_view)?;
        let entry = self.append_step(
            &tx,
            now,
            Vec::new(),
            EntryKind::CaseClose,
            case_id,
            to_body(&close)?,
            None,
        )?;
        let reason = serde_json::to_value(close.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        tx.execute(
            "UPDATE cases SET closed = ?2 WHERE id = ?1",
            params![case_id, reason],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Where the case stands and what comes next.
    pub fn case_progress(&self, case_id: &str) -> Result<CaseProgress> {
        let conn = lock(&self.reader);
        let status = case_status(&conn, case_id)?;
        let l = load(&conn, case_id)?;
        // What is served on the party: the decision, the notice and each measure's decision.
        let mut served: Vec<&str> = Vec::new();
        if let Some((d, _)) = &l.penalty {
            served.push(&d.number);
        }
        if let Some((d, _)) = &l.no_penalty {
            served.push(&d.number);
        }
        if let Some((n, _)) = &l.notice {
            served.push(&n.number);
        }
        served.extend(l.measures.iter().map(|m| m.0.number.as_str()));
        let undelivered: Vec<String> = served
            .into_iter()
            .filter(|n| !l.delivered.iter().any(|d| d == n))
            .map(str::to_string)
            .collect();
        let open_measures: Vec<String> = l
            .measures
            .iter()
            .filter(|m| !m.3)
            .map(|m| m.0.number.clone())
            .collect();
        let (decision_number, penalised, total_yuan) = match (&l.penalty, &l.no_penalty) {
            (Some((d, _)), _) => (Some(d.number.clone()), true, d.total_yuan),
            (None, Some((d, _))) => (Some(d.number.clone()), false, 0),
            (None, None) => (None, false, 0),
        };
        let next = match status {
            CaseStatus::Draft => NextStep::Finalize,
            CaseStatus::Closed | CaseStatus::Voided => NextStep::Done,
            CaseStatus::Finalized if decision_number.is_none() => NextStep::Decide,
            CaseStatus::Finalized if !undelivered.is_empty() => NextStep::Deliver,
            CaseStatus::Finalized if l.paid_yuan < total_yuan => NextStep::Pay,
            CaseStatus::Finalized if !open_measures.is_empty() => NextStep::ReleaseMeasure,
            CaseStatus::Finalized => NextStep::Close,
        };
        Ok(CaseProgress {
            status,
            decision_number,
            penalised,
            total_yuan,
            paid_yuan: l.paid_yuan,
            notice_number: l.notice.as_ref().map(|n| n.0.number.clone()),
            reply_by: l.notice.as_ref().map(|n| day::format_day(n.0.reply_by)),
            statement_recorded: l.statement.is_some(),
            undelivered,
            open_measures,
            next,
        })
    }

    /// The case's steps after its records, in order, as their entries say.
    pub fn case_steps(&self, case_id: &str) -> Result<Vec<StepView>> {
        let conn = lock(&self.reader);
        case_status(&conn, case_id)?;
        step_entries(&conn, case_id)?
            .into_iter()
            .map(|(e, hash)| {
                Ok(StepView {
                    kind: e.kind,
                    seq: e.seq,
                    hash,
                    at: e.at,
                    body: serde_json::to_string(&e.body).map_err(|err| {
                        RoadsideError::internal("STEP_BODY", format!("无法输出记录内容：{err}"))
                    })?,
                })
            })
            .collect()
    }
}

fn find_measure<'a>(loaded: &'a Loaded, number: &str) -> Result<&'a (Measure, String, bool, bool)> {
    loaded
        .measures
        .iter()
        .find(|m| m.0.number == number)
        .ok_or_else(|| {
            RoadsideError::invalid_field(
                "measure_number",
                "MEASURE_NOT_FOUND",
                format!("本案没有编号为 {number} 的强制措施"),
            )
        })
}

#[cfg(test)]
#[path = "steps_tests.rs"]
mod tests;
