//! 法制审核 (处罚法 58: "未经法制审核或者审核未通过的，不得作出决定") on the server.
//!
//! - **Request.** Officers submit the decision they propose as a `review.request` entry from the
//!   device (the core checks it as a decision and records why the catalogue requires review).
//! - **Opinion.** A legal reviewer (account role `legal_reviewer`, linked to an officer on the
//!   roster) answers the case's latest request with 同意 / 补充调查 / 不同意 and reasons. The
//!   opinion is a `review.opinion` ledger entry that the server signs with the **agency's key** —
//!   the key every device of the agency pinned at enrolment — on the agency's signer chain (a
//!   `devices` row `agency:<code>` whose key is that agency key, never enrolled by a code and
//!   without a usable token). It goes through the same ingest as a device's push: chained,
//!   checked (the reviewer's certificate on the roster), appended to the transparency log and
//!   materialised with the case.
//! - **Delivery.** Devices fetch the opinions of their cases (`GET /api/v1/reviews?case=`) and
//!   keep one only after its signature verifies against the pinned agency key.
//! - **Decision.** A general-procedure decision the catalogue names is recorded on the device only
//!   after an opinion of 同意 on the same proposal has arrived; on push the server checks the same
//!   thing against the entries it holds (`check_reviews`), so a device that skipped the check has
//!   its decision logged but refused.

use std::collections::HashMap;

use base64::Engine;
use chrono::Utc;
use roadside_core::ledger::{self, DeviceKey, EntryKind, Head, LedgerEntry};
use roadside_core::model::OfficerRole;
use roadside_core::steps::{
    self, PenaltyDecision, ReviewOpinion, ReviewRequest, ReviewState, ReviewVerdict, StatementKind,
};
use serde::Serialize;

use crate::auth::AccountCaller;
use crate::error::{ApiError, Result};
use crate::ingest::{self, PreChecked, ReferenceBooks, Submitted};
use crate::state::AppState;
use crate::storage::{Device, DynStorage, ReviewEntry, Status};

/// Id prefix of the agencies' signer chains in `devices`.
pub const SIGNER_PREFIX: &str = "agency:";
/// Longest opinion reasons accepted.
pub const MAX_REASONS_CHARS: usize = 2000;

/// The device row that is `agency`'s signer chain.
pub fn signer_id(agency: &str) -> String {
    format!("{SIGNER_PREFIX}{agency}")
}

/// Whether `device` is an agency's signer chain (not a phone).
pub fn is_signer(device: &Device) -> bool {
    device.id.starts_with(SIGNER_PREFIX)
}

/// One request of a case with the opinions given on it.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub hash: String,
    pub at: String,
    pub request: ReviewRequest,
    /// Opinions on it (normally one), with their entry hash, time and log position.
    pub opinions: Vec<OpinionView>,
}

#[derive(Debug, Clone)]
pub struct OpinionView {
    pub hash: String,
    pub at: String,
    pub leaf_index: u64,
    pub opinion: ReviewOpinion,
    pub entry: ReviewEntry,
}

/// The requests of a case, oldest first, from its review entries; entries whose body does not
/// parse are skipped (the ingest refuses such entries, so none is stored accepted).
pub fn requests(entries: &[ReviewEntry]) -> Vec<RequestView> {
    let mut out: Vec<RequestView> = Vec::new();
    for e in entries {
        let Ok(entry) = serde_json::from_slice::<LedgerEntry>(&e.bytes) else {
            continue;
        };
        match entry.kind {
            EntryKind::ReviewRequest => {
                if let Ok(request) = serde_json::from_value::<ReviewRequest>(entry.body) {
                    out.push(RequestView {
                        hash: e.hash.clone(),
                        at: e.at.clone(),
                        request,
                        opinions: Vec::new(),
                    });
                }
            }
            EntryKind::ReviewOpinion => {
                if let Ok(opinion) = serde_json::from_value::<ReviewOpinion>(entry.body) {
                    if let Some(r) = out.iter_mut().find(|r| r.hash == opinion.request) {
                        r.opinions.push(OpinionView {
                            hash: e.hash.clone(),
                            at: e.at.clone(),
                            leaf_index: e.leaf_index,
                            opinion,
                            entry: e.clone(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The latest request and its first opinion, as the decision check sees them.
pub fn latest_state(requests: &[RequestView]) -> Option<ReviewState> {
    let last = requests.last()?;
    Some(ReviewState {
        request_hash: last.hash.clone(),
        request: last.request.clone(),
        opinion: last
            .opinions
            .first()
            .map(|o| (o.hash.clone(), o.opinion.clone())),
    })
}

/// Whether the party's hearing on the case's latest notice was held, from the case's entries as
/// the server holds them (kind, body) in order.
fn hearing_held<'a>(entries: impl Iterator<Item = (&'a str, &'a serde_json::Value)>) -> bool {
    let mut held = false;
    for (kind, body) in entries {
        match kind {
            "notice.issue" => held = false,
            "statement.record" => {
                if let Ok(s) = serde_json::from_value::<steps::Statement>(body.clone()) {
                    held = s.kind == StatementKind::HearingHeld;
                }
            }
            _ => {}
        }
    }
    held
}

/// Step 5 for the legal review, after the entries' own checks: a `review.opinion` is accepted
/// only from an agency's signer chain, and a general-procedure penalty decision that the
/// catalogue of its reference data names must follow an opinion of 同意 on the same proposal
/// (`steps::review_issues`), judged on the case's entries already stored and those earlier in
/// the batch. A failure refuses the entry (logged, not materialised), with the reason.
pub async fn check_reviews(
    storage: &DynStorage,
    books: &ReferenceBooks,
    device: &Device,
    checked: &mut [PreChecked],
) -> Result<()> {
    let signer = is_signer(device);
    let mut earlier: Vec<(String, String, serde_json::Value, String)> = Vec::new();
    for c in checked.iter_mut() {
        let Ok(c) = c else { continue };
        if c.refusal.is_none() {
            match c.entry.kind {
                EntryKind::ReviewOpinion if !signer => {
                    c.refusal = Some(crate::storage::Refusal {
                        code: "REVIEW_OPINION_FORBIDDEN".to_string(),
                        message: format!(
                            "第 {} 条记录：法制审核意见只能由法制审核人员在服务器上签署，设备不能提交",
                            c.entry.seq
                        ),
                    });
                }
                EntryKind::DecisionPenalty => {
                    if let Some(refusal) =
                        check_decision(storage, books, device, &c.entry, &earlier).await?
                    {
                        c.refusal = Some(refusal);
                    }
                }
                _ => {}
            }
        }
        // Only what a later decision of the batch reads: its requests, notices and statements.
        let read_later = matches!(
            c.entry.kind,
            EntryKind::ReviewRequest | EntryKind::NoticeIssue | EntryKind::StatementRecord
        );
        if c.refusal.is_none() && read_later {
            earlier.push((
                c.entry.case.clone().unwrap_or_default(),
                c.entry.kind.as_str().to_string(),
                c.entry.body.clone(),
                hex::encode(c.hash),
            ));
        }
    }
    Ok(())
}

async fn check_decision(
    storage: &DynStorage,
    books: &ReferenceBooks,
    device: &Device,
    entry: &LedgerEntry,
    earlier: &[(String, String, serde_json::Value, String)],
) -> Result<Option<crate::storage::Refusal>> {
    let (Some(case_id), Ok(d)) = (
        entry.case.as_deref(),
        serde_json::from_value::<PenaltyDecision>(entry.body.clone()),
    ) else {
        return Ok(None);
    };
    let Some(book) = books.get(&d.reference.digest) else {
        return Ok(None);
    };
    if book.review_catalogue().is_empty() {
        return Ok(None);
    }
    let detail = storage
        .case_detail(std::slice::from_ref(&device.agency), case_id)
        .await?;
    let stored: Vec<(&str, &serde_json::Value)> = detail
        .as_ref()
        .map(|d| {
            d.entries
                .iter()
                .filter(|e| e.refused.is_none())
                .map(|e| (e.kind.as_str(), &e.body))
                .collect()
        })
        .unwrap_or_default();
    let batch = earlier
        .iter()
        .filter(|(c, ..)| c == case_id)
        .map(|(_, k, b, _)| (k.as_str(), b));
    let held = hearing_held(stored.iter().copied().chain(batch));
    let mut reviews = requests(&storage.case_review_entries(case_id).await?);
    for (c, kind, body, hash) in earlier {
        if c == case_id && kind == "review.request" {
            if let Ok(request) = serde_json::from_value::<ReviewRequest>(body.clone()) {
                reviews.push(RequestView {
                    hash: hash.clone(),
                    at: String::new(),
                    request,
                    opinions: Vec::new(),
                });
            }
        }
    }
    let need = match book.legal_review(&d.review_case(held)) {
        Ok(n) => n,
        Err(e) => {
            return Ok(Some(crate::storage::Refusal {
                code: e.code().to_string(),
                message: format!(
                    "第 {} 条记录（处罚决定 {}）：{}",
                    entry.seq,
                    d.number,
                    e.message()
                ),
            }))
        }
    };
    let state = latest_state(&reviews);
    let issues = steps::review_issues(&d, &need, state.as_ref());
    let Some(first) = issues.first() else {
        return Ok(None);
    };
    Ok(Some(crate::storage::Refusal {
        code: first.code.clone(),
        message: format!(
            "第 {} 条记录（处罚决定 {}）未通过服务器复核：{}",
            entry.seq,
            d.number,
            issues
                .iter()
                .map(|i| i.message.clone())
                .collect::<Vec<_>>()
                .join("；")
        ),
    }))
}

/// An opinion as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct OpinionRecorded {
    pub entry_hash: String,
    pub leaf_index: Option<u64>,
}

/// Serialises the server's own appends to a signer chain within this process (two reviewers at
/// once would otherwise sign two entries with the same seq; the ingest's transaction refuses the
/// second, and across replicas that answer is what the caller sees).
static SIGNER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A legal reviewer's opinion on the latest request of `case_id`: checked (role, scope, a request
/// without an opinion, an undecided case, reasons given, the reviewer's certificate on the
/// roster), signed with the agency's key on its signer chain and logged like any entry.
pub async fn record_opinion(
    state: &AppState,
    caller: &AccountCaller,
    case_id: &str,
    verdict: ReviewVerdict,
    reasons: &str,
) -> Result<OpinionRecorded> {
    caller.require(&[OfficerRole::LegalReviewer])?;
    let reasons = reasons.trim();
    if reasons.is_empty() {
        return Err(ApiError::bad_request(
            "REVIEW_REASONS_REQUIRED",
            "审核意见须写明理由（reasons 不能为空）",
        ));
    }
    let n = reasons.chars().count();
    if n > MAX_REASONS_CHARS {
        return Err(ApiError::bad_request(
            "REVIEW_REASONS_TOO_LONG",
            format!("审核意见过长（{n} 字，上限 {MAX_REASONS_CHARS} 字）"),
        ));
    }
    let scope = caller.scope(state).await?;
    let case = state
        .storage
        .case_detail(&scope, case_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "CASE_NOT_FOUND",
                format!("案件 {case_id} 不存在或不在本账号的范围内"),
            )
        })?;
    if case.case.decided {
        return Err(ApiError::conflict(
            "DECISION_EXISTS",
            "本案已作出决定，不能再发表法制审核意见",
        ));
    }
    let account = state
        .storage
        .account(&caller.session.login)
        .await?
        .ok_or_else(|| ApiError::forbidden("ROLE_FORBIDDEN", "当前账号不存在"))?;
    let Some(cert) = account.certificate_no.clone() else {
        return Err(ApiError::conflict(
            "REVIEWER_NOT_ON_ROSTER",
            "本账号未关联执法人员名册中的人员（执法证号），不能签署法制审核意见；请系统管理员为账号关联执法证号",
        ));
    };
    let officer = state.storage.officer(&cert).await?.ok_or_else(|| {
        ApiError::conflict(
            "REVIEWER_NOT_ON_ROSTER",
            format!("本账号关联的执法证号 {cert} 不在执法人员名册中"),
        )
    })?;
    let agency = case.case.agency.clone();
    let key = state.bundles.key(&state.storage, &agency).await?;
    let key = DeviceKey::from_bytes(&key.to_bytes());
    let _guard = SIGNER_LOCK.lock().await;
    let reviews = requests(&state.storage.case_review_entries(case_id).await?);
    let Some(latest) = reviews.last() else {
        return Err(ApiError::conflict(
            "REVIEW_REQUEST_NOT_FOUND",
            "本案没有提请法制审核的记录（设备同步后才会出现在审核队列中）",
        ));
    };
    if !latest.opinions.is_empty() {
        return Err(ApiError::conflict(
            "REVIEW_OPINION_EXISTS",
            "本案最新的法制审核请求已有审核意见；办案人员修改后重新提请的，再对新的请求发表意见",
        ));
    }
    let body = ReviewOpinion {
        request: latest.hash.clone(),
        request_id: latest.request.request_id.clone(),
        verdict,
        reasons: reasons.to_string(),
        reviewer: officer.name.clone(),
        reviewer_login: caller.session.login.clone(),
    };
    let now = Utc::now();
    let mut token_hash = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut token_hash);
    let device = state
        .storage
        .signer_device(
            Device {
                id: signer_id(&agency),
                public_key: key.public_hex(),
                agency: agency.clone(),
                certificate_no: String::new(),
                name: "机构签名密钥（法制审核意见）".to_string(),
                enrolled_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                revoked_at: None,
                head_seq: 0,
                head_hash: None,
            },
            &token_hash,
        )
        .await?;
    if device.public_key != key.public_hex() {
        return Err(ApiError::internal(
            "SIGNER_KEY_MISMATCH",
            format!("机构 {agency} 的签名链登记的公钥与机构签名密钥不一致"),
        ));
    }
    let head = device.head_hash.map(|hash| Head {
        seq: device.head_seq,
        hash,
    });
    let body = serde_json::to_value(&body)
        .map_err(|e| ApiError::internal("REVIEW_OPINION", e.to_string()))?;
    let entry = ledger::next_entry(
        &key,
        head,
        now,
        vec![cert],
        EntryKind::ReviewOpinion,
        Some(case_id.to_string()),
        body,
    );
    let roster: HashMap<_, _> = state
        .storage
        .officers(std::slice::from_ref(&agency))
        .await?
        .into_iter()
        .map(|o| (o.certificate_no.clone(), o))
        .collect();
    if let Err((code, message)) = ingest::check_officers(&entry, &agency, &roster) {
        return Err(ApiError::conflict(
            code,
            format!("不能签署法制审核意见：{message}"),
        ));
    }
    let sealed = ledger::seal(&entry, &key)
        .map_err(|e| ApiError::internal(e.code(), e.message().to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let pushed = ingest::push(
        &state.storage,
        &state.signer,
        &state.metrics,
        state.bundles.reference_books(),
        &device,
        vec![Submitted {
            bytes: b64.encode(&sealed.bytes),
            sig: b64.encode(sealed.sig),
            old_receipt: None,
        }],
    )
    .await?;
    let Some(outcome) = pushed.results.first() else {
        return Err(ApiError::internal(
            "REVIEW_OPINION",
            "push answered nothing",
        ));
    };
    if outcome.status != Status::Accepted {
        return Err(ApiError::conflict(
            outcome.code.as_deref().unwrap_or("REVIEW_OPINION_REFUSED"),
            format!(
                "法制审核意见未能记录：{}",
                outcome.message.clone().unwrap_or_default()
            ),
        ));
    }
    tracing::info!(case = case_id, verdict = verdict.as_str(), login = %caller.session.login, "legal review opinion");
    Ok(OpinionRecorded {
        entry_hash: outcome.hash.clone(),
        leaf_index: outcome.receipt.as_ref().map(|r| r.leaf_index),
    })
}
