//! Legal review (法制审核, 处罚法 58) in the store: the officers' request is the device's own
//! `review.request` entry; the reviewer's opinion is a `review.opinion` entry the server signs with
//! the agency's key, brought here by sync and kept only after its signature verifies against the
//! agency key pinned at enrolment. A general-procedure decision that needs review is recorded only
//! after an opinion of 同意 on the very decision proposed (`steps::review_issues`).

use chrono::Utc;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use super::steps::StepEntry;
use super::{begin, db, lock, new_id, Store};
use crate::error::{Result, RoadsideError};
use crate::ledger::{self, EntryKind};
use crate::rules::RuleBook;
use crate::steps::{PenaltyDecisionInput, ReviewOpinion, ReviewRequest, ReviewState};

/// Where a case's legal review stands, for the officer's screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct LegalReviewStatus {
    /// Hex hash of the case's latest `review.request` entry.
    pub request_hash: String,
    pub request: ReviewRequest,
    /// The opinion on that request, once it has arrived by sync.
    pub opinion: Option<ReviewOpinion>,
    pub opinion_hash: Option<String>,
}

/// What [`Store::add_review_opinion`] did with an opinion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum OpinionAdded {
    /// Verified and kept.
    Added,
    /// Already held.
    Known,
}

fn refused(message: impl Into<String>) -> RoadsideError {
    RoadsideError::ledger("REVIEW_OPINION_INVALID", message.into())
}

/// The case's latest request and the opinion held for it.
pub(super) fn review_state(conn: &Connection, case_id: &str) -> Result<Option<ReviewState>> {
    let latest: Option<(Vec<u8>, Vec<u8>)> = conn
        .query_row(
            "SELECT bytes, hash FROM ledger WHERE case_id = ?1 AND kind = 'review.request'
             ORDER BY seq DESC LIMIT 1",
            [case_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db::store_err)?;
    let Some((bytes, hash)) = latest else {
        return Ok(None);
    };
    let request_hash = hex::encode(hash);
    let entry: ledger::LedgerEntry = serde_json::from_slice(&bytes).map_err(|e| {
        RoadsideError::store("STORE_STEP_BODY", format!("法制审核请求无法读取：{e}"))
    })?;
    let request: ReviewRequest = serde_json::from_value(entry.body).map_err(|e| {
        RoadsideError::store("STORE_STEP_BODY", format!("法制审核请求无法读取：{e}"))
    })?;
    let held: Option<(String, Vec<u8>)> = conn
        .query_row(
            "SELECT hash, bytes FROM review_opinions WHERE request_hash = ?1
             ORDER BY received_at DESC, hash LIMIT 1",
            [&request_hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db::store_err)?;
    let opinion = match held {
        None => None,
        Some((h, bytes)) => {
            let entry: ledger::LedgerEntry = serde_json::from_slice(&bytes).map_err(|e| {
                RoadsideError::store("STORE_STEP_BODY", format!("法制审核意见无法读取：{e}"))
            })?;
            let body: ReviewOpinion = serde_json::from_value(entry.body).map_err(|e| {
                RoadsideError::store("STORE_STEP_BODY", format!("法制审核意见无法读取：{e}"))
            })?;
            Some((h, body))
        }
    };
    Ok(Some(ReviewState {
        request_hash,
        request,
        opinion,
    }))
}

impl Store {
    /// Submit the decision the officers propose for legal review (提请法制审核): it is checked
    /// exactly as the decision would be (a proposal the law forbids is refused with every issue),
    /// and must be one the review catalogue names (`LEGAL_REVIEW_NOT_NEEDED` otherwise). A new
    /// request replaces the earlier one: only an opinion on the latest request lets the decision
    /// be made.
    pub fn request_legal_review(
        &self,
        case_id: &str,
        book: &RuleBook,
        input: &PenaltyDecisionInput,
    ) -> Result<StepEntry> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        if input.draft.procedure != crate::rules::check::ProcedureKind::General {
            return Err(RoadsideError::invalid_field(
                "draft.procedure",
                "LEGAL_REVIEW_NOT_NEEDED",
                "适用简易程序（当场处罚）的决定不经法制审核",
            ));
        }
        let (proposal, ctx) =
            self.checked_decision(&tx, case_id, book, input, "不能再提请法制审核")?;
        let hearing_held = ctx.hearing_held();
        let need = book.legal_review(&proposal.review_case(hearing_held))?;
        if !need.required {
            return Err(RoadsideError::invalid_field(
                "draft",
                "LEGAL_REVIEW_NOT_NEEDED",
                format!("本决定不属于须经法制审核的情形：{}", need.summary),
            ));
        }
        let request = ReviewRequest {
            request_id: new_id(),
            reasons: need
                .matches
                .iter()
                .map(|m| format!("{}：{}（{}）", m.situation, m.reason, m.basis))
                .collect(),
            proposal,
            hearing_held,
        };
        let officers = super::steps::officer_numbers(&request.proposal.officers);
        let body = serde_json::to_value(&request)
            .map_err(|e| RoadsideError::internal("STEP_BODY", format!("无法生成记录内容：{e}")))?;
        let entry = self.append_step(
            &tx,
            now,
            officers,
            EntryKind::ReviewRequest,
            case_id,
            body,
            None,
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(entry)
    }

    /// Keep a legal-review opinion received from the server. It must be a `review.opinion` entry
    /// signed with the agency key this device pinned at enrolment, about a case of this device,
    /// answering one of that case's requests; anything else is refused (`REVIEW_OPINION_INVALID`)
    /// and nothing is stored.
    pub fn add_review_opinion(&self, bytes: &[u8], sig: &[u8]) -> Result<OpinionAdded> {
        let config = self.sync_config()?.ok_or_else(|| {
            RoadsideError::conflict("NOT_ENROLLED", "本设备尚未登记到服务器，请先用登记码登记")
        })?;
        let Some(agency_key) = config.bundle_key.map(|k| k.to_ascii_lowercase()) else {
            return Err(refused(
                "本机没有机构签名公钥（登记时未取得），无法核验法制审核意见",
            ));
        };
        let entry = ledger::open(bytes, sig, None)
            .map_err(|e| refused(format!("法制审核意见的签名或格式无效：{}", e.message())))?;
        if entry.device != agency_key {
            return Err(refused(
                "法制审核意见不是用本机登记时确认的机构签名密钥签署的",
            ));
        }
        if entry.kind != EntryKind::ReviewOpinion {
            return Err(refused(format!(
                "收到的记录类型为 {}，不是法制审核意见",
                entry.kind
            )));
        }
        let body: ReviewOpinion = serde_json::from_value(entry.body.clone())
            .map_err(|e| refused(format!("法制审核意见的内容格式无效：{e}")))?;
        let Some(case_id) = entry.case.clone() else {
            return Err(refused("法制审核意见没有注明案件"));
        };
        let hash = hex::encode(ledger::sha256(bytes));
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        let known: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM review_opinions WHERE hash = ?1)",
                [&hash],
                |r| r.get(0),
            )
            .map_err(db::store_err)?;
        if known {
            return Ok(OpinionAdded::Known);
        }
        let request_of_case: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM ledger WHERE case_id = ?1 AND kind = 'review.request'
                 AND hash = ?2)",
                params![
                    case_id,
                    hex::decode(&body.request)
                        .map_err(|_| refused("法制审核意见所答复的请求哈希不是十六进制"))?
                ],
                |r| r.get(0),
            )
            .map_err(db::store_err)?;
        if !request_of_case {
            return Err(refused(format!(
                "法制审核意见答复的请求不是本机案件 {case_id} 的法制审核请求"
            )));
        }
        tx.execute(
            "INSERT INTO review_opinions (hash, case_id, request_hash, verdict, bytes, sig, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                hash,
                case_id,
                body.request,
                body.verdict.as_str(),
                bytes,
                sig,
                super::now_rfc3339(Utc::now())
            ],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)?;
        Ok(OpinionAdded::Added)
    }

    /// The case's latest legal-review request and its opinion, if any.
    pub fn legal_review_status(&self, case_id: &str) -> Result<Option<LegalReviewStatus>> {
        let conn = lock(&self.reader);
        Ok(review_state(&conn, case_id)?.map(|s| LegalReviewStatus {
            request_hash: s.request_hash,
            request: s.request,
            opinion_hash: s.opinion.as_ref().map(|(h, _)| h.clone()),
            opinion: s.opinion.map(|(_, o)| o),
        }))
    }

    /// Cases of this device with a legal-review request that has no opinion yet (what a sync
    /// asks the server about).
    pub fn reviews_awaited(&self) -> Result<Vec<String>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare(
                "SELECT DISTINCT l.case_id FROM ledger l WHERE l.kind = 'review.request'
                 AND NOT EXISTS (SELECT 1 FROM review_opinions o WHERE o.request_hash = lower(hex(l.hash)))
                 ORDER BY l.case_id",
            )
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err);
        rows
    }
}
