//! 公示: every penalty decision owes a publication within 20 working days (the reference data's
//! `publication` deadline and calendar). The supervision office sees them by due day with the
//! overdue ones flagged, publishes, withdraws (with a reason; a withdrawn publication is never
//! published again) and reads each one's history; the public reads what is published, as a page
//! and as CSV and JSON feeds for the provincial platform, without signing in.
//!
//! A decision's publication is registered (pending) the first time the list is opened after the
//! decision reached the server: the record is built from the signed decision by
//! [`crate::publication::publication_from_decision`], with natural persons masked.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::Utc;
use maud::{html, Markup};
use roadside_core::model::OfficerRole;
use serde::Deserialize;

use super::layout::{bare, page};
use super::{see_other, OfficeUser, PageError, PageForm, PageQuery, PageResult};
use crate::error::ApiError;
use crate::publication::{
    csv_feed, json_feed, publication_from_decision, published_records, PublicationPolicy,
    PublicationRecord, Publisher,
};
use crate::state::AppState;
use crate::storage::{Publication, PublicationFilter, PublicationState};

/// Who works on publications: the supervision office; legal reviewers read them.
fn may_read(user: &OfficeUser) -> Result<(), PageError> {
    user.require(&[OfficerRole::Supervisor, OfficerRole::LegalReviewer])
}

fn may_change(user: &OfficeUser) -> Result<(), PageError> {
    user.require(&[OfficerRole::Supervisor])
}

/// A decision that could not be registered, and why (shown to the office, not hidden).
struct NotRegistered {
    case_id: String,
    code: String,
    message: String,
}

/// Register the publication of every penalty decision of `scope` that has none yet. Returns the
/// decisions whose record could not be built, with the reason.
async fn register_owed(
    state: &AppState,
    scope: &[String],
    by: &str,
) -> Result<Vec<NotRegistered>, PageError> {
    let policy = PublicationPolicy::load(&state.config.data_dir)?;
    let books = state.bundles.reference_books();
    let agencies = state.storage.agencies().await?;
    let mut failures = Vec::new();
    // Only the penalty cases that have no publication yet are read: opening the list costs
    // what is new since it was last opened (and what still cannot be built), not every case.
    for (agency, case_id) in state.storage.cases_owing_publication(scope).await? {
        let Some(detail) = state
            .storage
            .case_detail(std::slice::from_ref(&agency), &case_id)
            .await?
        else {
            continue;
        };
        for decision in detail
            .entries
            .iter()
            .filter(|e| e.kind == "decision.penalty" && e.refused.is_none())
        {
            let agency_scope = [detail.case.agency.clone()];
            if state
                .storage
                .publication(&agency_scope, &detail.case.id, &decision.entry_hash)
                .await?
                .is_some()
            {
                continue;
            }
            let Some(agency) = agencies.iter().find(|a| a.code == detail.case.agency) else {
                continue;
            };
            let digest = decision
                .body
                .get("reference")
                .and_then(|r| r.get("digest"))
                .and_then(|d| d.as_str())
                .unwrap_or_default();
            let Some(book) = books.get(digest).or_else(|| books.values().next()) else {
                continue;
            };
            let publisher = Publisher {
                agency,
                agency_uscc: "",
                data_source: None,
            };
            match publication_from_decision(&detail, decision, &publisher, book, &policy) {
                Ok(draft) => {
                    state
                        .storage
                        .add_publication(&draft, by, &crate::now())
                        .await?;
                }
                Err(e) if e.kind.status().is_client_error() => failures.push(NotRegistered {
                    case_id: detail.case.id.clone(),
                    code: e.code,
                    message: e.message,
                }),
                Err(e) => return Err(PageError(e)),
            }
        }
    }
    Ok(failures)
}

fn state_name(s: PublicationState) -> &'static str {
    match s {
        PublicationState::Pending => "待公示",
        PublicationState::Published => "已公示",
        PublicationState::Withdrawn => "已撤回",
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    done: String,
}

/// `GET /publications`.
pub async fn list(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(q): PageQuery<ListQuery>,
) -> PageResult<Markup> {
    may_read(&user)?;
    let scope = user.scope();
    let failures = register_owed(&state, &scope, user.login()).await?;
    let today = roadside_core::day::agency_today();
    let filter = PublicationFilter {
        state: match q.state.as_str() {
            "" => None,
            s => Some(PublicationState::parse(s).map_err(PageError)?),
        },
        overdue_on: (!q.overdue.is_empty()).then_some(today),
    };
    let list = state.storage.publications(&scope, &filter).await?;
    let notice = match q.done.as_str() {
        "published" => Some("已公示"),
        "withdrawn" => Some("已撤回公示"),
        _ => None,
    };
    Ok(page(
        &user,
        "行政处罚决定公示",
        "/publications",
        html! {
            @if let Some(n) = notice { p.notice { (n) } }
            p.muted { "行政处罚决定应当自作出之日起 20 个工作日内公示（工作日按参考数据中的日历计算）。自然人的姓名、证件号码、电话、住址和车牌依公示规则处理后公开。公开页面："
                a href="/public/decisions" { "/public/decisions" } "，数据：" a href="/public/decisions.csv" { "CSV 格式" } " · " a href="/public/decisions.json" { "JSON 格式" } }
            @if !failures.is_empty() {
                div.error role="alert" {
                    p { "以下处罚决定无法生成公示信息，请处理：" }
                    ul { @for f in &failures { li { a href={ "/cases/" (f.case_id) } { (f.case_id) } "：" (f.message) " (" (f.code) ")" } } }
                }
            }
            form.filters method="get" action="/publications" {
                label { "状态"
                    select name="state" {
                        option value="" { "全部" }
                        @for (v, n) in [("pending", "待公示"), ("published", "已公示"), ("withdrawn", "已撤回")] {
                            option value=(v) selected[q.state == v] { (n) }
                        }
                    }
                }
                label { "逾期" span { input type="checkbox" name="overdue" value="1" checked[!q.overdue.is_empty()]; " 只看逾期未公示" } }
                button type="submit" { "查询" }
            }
            div.table-wrap { table #publications {
                thead { tr { th { "决定书文号" } th { "相对人" } th { "决定日期" } th { "公示期限" } th { "状态" } th { "操作" } } }
                tbody { @for p in &list {
                    @let overdue = p.overdue_on(today);
                    tr {
                        td { a href={ "/publications/" (p.case_id) "/" (p.entry_hash) } { (p.record.decision_number) } }
                        td { (p.record.party_name) }
                        td { (p.decided_on) }
                        td { (p.due_on) @if overdue { br; span.bad { "已逾期" } } }
                        td { (state_name(p.state)) }
                        td { (actions(&user, p)) }
                    }
                } }
            } }
        },
    ))
}

fn actions(user: &OfficeUser, p: &Publication) -> Markup {
    let base = format!("/publications/{}/{}", p.case_id, p.entry_hash);
    html! {
        @if user.role() == OfficerRole::Supervisor {
            @if p.state == PublicationState::Pending {
                form.inline method="post" action={ (base) "/publish" } {
                    input type="hidden" name="csrf" value=(user.csrf);
                    button type="submit" { "公示" }
                }
                " "
            }
            @if p.state != PublicationState::Withdrawn {
                form.inline method="post" action={ (base) "/withdraw" } {
                    input type="hidden" name="csrf" value=(user.csrf);
                    input name="reason" placeholder="撤回理由" required aria-label="撤回理由" size="12";
                    " "
                    button.danger type="submit" { "撤回" }
                }
            }
        }
    }
}

fn record_table(r: &PublicationRecord) -> Result<Markup, PageError> {
    let value = serde_json::to_value(r)
        .map_err(|e| PageError(ApiError::internal("PUBLICATION_RECORD", e.to_string())))?;
    let fields: Vec<(String, String)> = crate::publication::HEADERS
        .iter()
        .map(|h| {
            let v = value
                .get(*h)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string();
            (h.to_string(), v)
        })
        .collect();
    Ok(html! {
        dl.facts { @for (k, v) in &fields { dt { (k) } dd { (v) } } }
    })
}

/// `GET /publications/{case}/{entry}`: the record and its history.
pub async fn show(
    State(state): State<AppState>,
    user: OfficeUser,
    Path((case_id, entry)): Path<(String, String)>,
) -> PageResult<Markup> {
    may_read(&user)?;
    let scope = user.scope();
    let p = state
        .storage
        .publication(&scope, &case_id, &entry)
        .await?
        .ok_or_else(|| {
            PageError(ApiError::not_found(
                "PUBLICATION_NOT_FOUND",
                "没有这项公示，或您无权查看",
            ))
        })?;
    let history = state
        .storage
        .publication_history(&scope, &case_id, &entry)
        .await?;
    let today = roadside_core::day::agency_today();
    Ok(page(
        &user,
        &format!("公示 {}", p.record.decision_number),
        "/publications",
        html! {
            p { "状态：" strong { (state_name(p.state)) } "；公示期限 " (p.due_on)
                @if p.overdue_on(today) { " " span.bad { "已逾期" } }
                @if let Some(r) = &p.withdrawn_reason { "；撤回理由：" (r) } }
            p { (actions(&user, &p)) " " a href={ "/cases/" (p.case_id) } { "查看案件" } }
            (record_table(&p.record)?)
            h2 { "变更记录" }
            table { thead { tr { th { "#" } th { "时间" } th { "操作" } th { "操作人" } th { "理由" } } }
                tbody { @for e in &history {
                    tr { td { (e.seq) } td { (e.at) } td { (e.action.as_str()) } td { (e.by) } td { (e.reason.as_deref().unwrap_or("")) } }
                } } }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /publications/{case}/{entry}/publish`.
pub async fn publish(
    State(state): State<AppState>,
    user: OfficeUser,
    Path((case_id, entry)): Path<(String, String)>,
    PageForm(form): PageForm<ActionForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    may_change(&user)?;
    state
        .storage
        .publish(&user.scope(), &case_id, &entry, user.login(), &crate::now())
        .await?;
    Ok(see_other("/publications?done=published"))
}

/// `POST /publications/{case}/{entry}/withdraw`.
pub async fn withdraw(
    State(state): State<AppState>,
    user: OfficeUser,
    Path((case_id, entry)): Path<(String, String)>,
    PageForm(form): PageForm<ActionForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    may_change(&user)?;
    state
        .storage
        .withdraw_publication(
            &user.scope(),
            &case_id,
            &entry,
            form.reason.trim(),
            user.login(),
            &crate::now(),
        )
        .await?;
    Ok(see_other("/publications?done=withdrawn"))
}

/// `GET /public/decisions`: what is published, for anyone.
pub async fn public_page(State(state): State<AppState>) -> PageResult<Markup> {
    let records = published_records(&state.storage.published_publications().await?);
    Ok(bare(
        "行政处罚决定公示",
        html! {
            main {
                h1 { "行政处罚决定公示" }
                p.muted { "数据下载：" a href="/public/decisions.csv" { "CSV 格式" } " · " a href="/public/decisions.json" { "JSON 格式" } "（共 " (records.len()) " 条，更新于 " (Utc::now().format("%Y-%m-%d %H:%M UTC")) "）" }
                div.table-wrap { table #public {
                    thead { tr { th { "行政处罚决定书文号" } th { "行政相对人名称" } th { "违法行为类型" } th { "处罚依据" } th { "处罚内容" } th { "处罚决定日期" } th { "处罚机关" } } }
                    tbody { @for r in &records {
                        tr { td { (r.decision_number) } td { (r.party_name) } td { (r.violation_types) } td { (r.basis) } td { (r.content) } td { (r.decided_on) } td { (r.agency_name) } }
                    } }
                } }
            }
        },
    ))
}

/// `GET /public/decisions.csv`.
pub async fn public_csv(State(state): State<AppState>) -> PageResult {
    let records = published_records(&state.storage.published_publications().await?);
    let body = csv_feed(&records)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"decisions.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /public/decisions.json`.
pub async fn public_json(State(state): State<AppState>) -> PageResult {
    let records = published_records(&state.storage.published_publications().await?);
    let body = json_feed(&records)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}
