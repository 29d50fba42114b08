//! 备案: a major penalty decision is filed with the superior department and the justice bureau
//! of the same level within 5 days of the decision, with the 行政处罚决定备案报告, the decision
//! and the 行政处罚决定备案表 (《青海省重大行政处罚决定备案办法》, as the agency's plan cites it).
//!
//! - **Which decisions.** A decision is major when the legal-review catalogue required review
//!   before it (the same 目录清单 the province names with the filing rules): here, every penalty
//!   decision of a case that has a `review.request`.
//! - **Due day.** 5 working days after the decision day, by the reference data's calendar
//!   (处罚法 85 counts "五日" in working days; the filing rules say "5日内"); when the calendar
//!   does not cover the day the page says so instead of guessing.
//! - **Documents.** The report and the form are rendered by the core's document renderer from the
//!   signed decision and the signed opinion, with the CJK font of the machine (`ROADSIDE_CJK_FONT`
//!   or the Noto CJK fonts); the decision itself is rendered from its signed body the same way.
//! - **Filed.** The supervision office records the day it was filed, once.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::NaiveDate;
use maud::{html, Markup};
use roadside_core::document::decisions::{self, FilingFacts, FilingReview};
use roadside_core::document::forms::DocHeader;
use roadside_core::document::{Document, Renderer, SystemFonts};
use roadside_core::model::OfficerRole;
use roadside_core::steps::PenaltyDecision;
use serde::Deserialize;

use super::layout::page;
use super::{see_other, OfficeUser, PageError, PageForm, PageQuery, PageResult};
use crate::error::ApiError;
use crate::review;
use crate::state::AppState;
use crate::storage::{CaseDetail, Filing};

/// Days (working days) after the decision by which it is filed.
pub const FILING_DAYS: u32 = 5;

fn may_read(user: &OfficeUser) -> Result<(), PageError> {
    user.require(&[OfficerRole::Supervisor, OfficerRole::LegalReviewer])
}

/// A major decision with what the filing needs.
struct Major {
    detail: CaseDetail,
    entry_hash: String,
    decision: PenaltyDecision,
    review: Option<FilingReview>,
    grounds: Vec<String>,
    /// The due day, or why the calendar cannot give it.
    due: Result<NaiveDate, String>,
}

async fn majors(state: &AppState, scope: &[String]) -> Result<Vec<Major>, PageError> {
    let entries = state.storage.review_entries(scope).await?;
    let mut cases: Vec<String> = Vec::new();
    for e in &entries {
        if !cases.contains(&e.case_id) {
            cases.push(e.case_id.clone());
        }
    }
    let books = state.bundles.reference_books();
    let mut out = Vec::new();
    for case_id in cases {
        let Some(detail) = state.storage.case_detail(scope, &case_id).await? else {
            continue;
        };
        let requests = review::requests(
            &entries
                .iter()
                .filter(|e| e.case_id == case_id)
                .cloned()
                .collect::<Vec<_>>(),
        );
        let Some(entry) = detail
            .entries
            .iter()
            .find(|e| e.kind == "decision.penalty" && e.refused.is_none())
        else {
            continue;
        };
        let Ok(decision) = serde_json::from_value::<PenaltyDecision>(entry.body.clone()) else {
            continue;
        };
        let reviewed = decision.review.as_ref().and_then(|r| {
            requests
                .iter()
                .find(|q| q.hash == r.request)
                .map(|q| (q, q.opinions.iter().find(|o| o.hash == r.opinion)))
        });
        let grounds = reviewed
            .map(|(q, _)| q.request.reasons.clone())
            .or_else(|| requests.last().map(|q| q.request.reasons.clone()))
            .unwrap_or_default();
        let review = reviewed.and_then(|(_, o)| o).map(|o| FilingReview {
            verdict: o.opinion.verdict.label().to_string(),
            reviewer: o.opinion.reviewer.clone(),
            reviewed_on: o.at.get(..10).unwrap_or_default().to_string(),
            reasons: o.opinion.reasons.clone(),
        });
        let book = books
            .get(&decision.reference.digest)
            .or_else(|| books.values().next());
        let due = match (
            book,
            NaiveDate::parse_from_str(&decision.decided_on, "%Y-%m-%d"),
        ) {
            (Some(b), Ok(day)) => b
                .calendar()
                .add_working_days(day, FILING_DAYS)
                .map_err(|e| e.message().to_string()),
            _ => Err("决定日期或参考数据无法读取".to_string()),
        };
        out.push(Major {
            entry_hash: entry.entry_hash.clone(),
            detail,
            decision,
            review,
            grounds,
            due,
        });
    }
    out.sort_by(|a, b| a.decision.decided_on.cmp(&b.decision.decided_on));
    Ok(out)
}

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    done: String,
}

/// `GET /filings`: major decisions with their due day and whether they are filed.
pub async fn list(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(q): PageQuery<ListQuery>,
) -> PageResult<Markup> {
    may_read(&user)?;
    let scope = user.scope();
    let majors = majors(&state, &scope).await?;
    let filings = state.storage.filings(&scope).await?;
    let today = roadside_core::day::agency_today();
    let can_file = user.role() == OfficerRole::Supervisor;
    Ok(page(
        &user,
        "重大行政处罚决定备案",
        "/filings",
        html! {
            @if !q.done.is_empty() { p.notice { "已登记备案。" } }
            p.muted { "重大行政处罚决定应当自作出之日起 5 日内（按工作日计）向上级主管部门和同级司法行政机关备案，并提交《行政处罚决定备案报告》《行政处罚决定书》《行政处罚决定备案表》（《青海省重大行政处罚决定备案办法》）。经法制审核后作出的决定列于此处。" }
            div.table-wrap { table #filings {
                thead { tr { th { "决定书文号" } th { "单位" } th { "当事人" } th { "决定日期" } th { "备案期限" } th { "备案材料" } th { "备案" } } }
                tbody { @for m in &majors {
                    @let filed = filings.iter().find(|f| f.decision_hash == m.entry_hash);
                    @let overdue = filed.is_none() && m.due.as_ref().is_ok_and(|d| *d < today);
                    tr class=[overdue.then_some("overdue")] {
                        td { a href={ "/cases/" (m.detail.case.id) } { (m.decision.number) } }
                        td { (user.agency_name(&m.detail.case.agency)) }
                        td { (party(&m.decision)) }
                        td { (m.decision.decided_on) }
                        td { @match &m.due { Ok(d) => { (d) @if overdue { br; span.bad { "已逾期" } } } Err(why) => span.warn { (why) } } }
                        td {
                            a href={ "/filings/" (m.detail.case.id) "/report.pdf" } { "备案报告" } " · "
                            a href={ "/filings/" (m.detail.case.id) "/form.pdf" } { "备案表" } " · "
                            a href={ "/filings/" (m.detail.case.id) "/decision.pdf" } { "决定书" }
                        }
                        td { @match filed {
                            Some(f) => { span.ok { "已备案" } " " (f.filed_on) " " span.muted { (f.filed_by) } @if !f.note.is_empty() { br; span.muted { (f.note) } } }
                            None => @if can_file {
                                form.inline method="post" action={ "/filings/" (m.detail.case.id) } {
                                    input type="hidden" name="csrf" value=(user.csrf);
                                    input type="date" name="filed_on" value=(today) required aria-label="备案日期";
                                    input type="text" name="note" placeholder="备注（报送机关、文号等）" maxlength="500" aria-label="备注";
                                    button type="submit" { "登记备案" }
                                }
                            } @else { span.warn { "未备案" } },
                        } }
                    }
                } }
            } }
        },
    ))
}

fn party(d: &PenaltyDecision) -> &str {
    match &d.party {
        roadside_core::model::Party::Person { name, .. }
        | roadside_core::model::Party::Organisation { name, .. } => name,
    }
}

async fn major(state: &AppState, user: &OfficeUser, case_id: &str) -> Result<Major, PageError> {
    majors(state, &user.scope())
        .await?
        .into_iter()
        .find(|m| m.detail.case.id == case_id)
        .ok_or_else(|| {
            PageError(ApiError::not_found(
                "FILING_NOT_FOUND",
                format!("案件 {case_id} 没有须备案的重大行政处罚决定，或不在本账号的范围内"),
            ))
        })
}

fn pdf(doc: &Document, name: &str) -> PageResult {
    let fonts = SystemFonts::new();
    let bytes = Renderer::new(&fonts)
        .and_then(|r| r.render(doc))
        .map_err(|e| ApiError::internal(e.code(), e.message().to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{name}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /filings/{case}/{doc}`: `report.pdf`, `form.pdf` or `decision.pdf`.
pub async fn document(
    State(state): State<AppState>,
    user: OfficeUser,
    Path((case_id, doc)): Path<(String, String)>,
) -> PageResult {
    may_read(&user)?;
    let m = major(&state, &user, &case_id).await?;
    let agency_name = user.agency_name(&m.detail.case.agency).to_string();
    let header = DocHeader {
        agency_name: agency_name.clone(),
        agency_code: m.detail.case.agency.clone(),
        number: m.decision.number.clone(),
        entry_sha256: m.entry_hash.clone(),
    };
    let facts = FilingFacts {
        filed_with: "上级交通运输主管部门、同级司法行政机关".to_string(),
        dated: roadside_core::day::format_day(roadside_core::day::agency_today()),
        grounds: m.grounds.clone(),
    };
    let built = match doc.as_str() {
        "report.pdf" => decisions::filing_report(&m.decision, &header, m.review.as_ref(), &facts),
        "form.pdf" => decisions::filing_form(&m.decision, &header, m.review.as_ref(), &facts),
        "decision.pdf" => decisions::penalty_decision(&m.decision, &header, Vec::new()),
        _ => {
            return Err(PageError(ApiError::not_found(
                "FILING_DOCUMENT_UNKNOWN",
                "备案材料只有 report.pdf（备案报告）、form.pdf（备案表）和 decision.pdf（决定书）",
            )))
        }
    }
    .map_err(ApiError::from)?;
    pdf(&built, doc.trim_end_matches(".pdf"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileForm {
    csrf: String,
    #[serde(default)]
    filed_on: String,
    #[serde(default)]
    note: String,
}

/// `POST /filings/{case}`: record the filing (supervision office), once.
pub async fn file(
    State(state): State<AppState>,
    user: OfficeUser,
    Path(case_id): Path<String>,
    PageForm(form): PageForm<FileForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    user.require(&[OfficerRole::Supervisor])?;
    let m = major(&state, &user, &case_id).await?;
    let filed_on = NaiveDate::parse_from_str(form.filed_on.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(
            "FILING_DATE_INVALID",
            format!("备案日期“{}”不是 YYYY-MM-DD 格式的日期", form.filed_on),
        )
    })?;
    let decided = NaiveDate::parse_from_str(&m.decision.decided_on, "%Y-%m-%d")
        .map_err(|_| ApiError::internal("DECISION_DATE", "决定日期无法读取"))?;
    if filed_on < decided || filed_on > roadside_core::day::agency_today() {
        return Err(PageError(ApiError::bad_request(
            "FILING_DATE_INVALID",
            format!("备案日期 {filed_on} 应在决定日期 {decided} 与今天之间"),
        )));
    }
    let note = form.note.trim();
    if note.chars().count() > 500 {
        return Err(PageError(ApiError::bad_request(
            "FILING_NOTE_TOO_LONG",
            "备注至多 500 字",
        )));
    }
    let added = state
        .storage
        .put_filing(&Filing {
            decision_hash: m.entry_hash.clone(),
            case_id: case_id.clone(),
            agency: m.detail.case.agency.clone(),
            filed_on: filed_on.to_string(),
            filed_by: user.login().to_string(),
            recorded_at: crate::now(),
            note: note.to_string(),
        })
        .await?;
    if !added {
        return Err(PageError(ApiError::conflict(
            "FILING_EXISTS",
            format!("决定 {} 已登记备案，不能重复登记", m.decision.number),
        )));
    }
    Ok(see_other("/filings?done=1"))
}
