//! Case files: the filtered, paged list and a case's page (timeline of every logged entry, the
//! records, the decisions with the guidance beside the decided amount, the documents and the
//! evidence with playback and integrity status).
//!
//! Who sees what: supervisors and legal reviewers the cases of their agency and those below it;
//! officers and assistants only the cases they opened or decided; administrators none (they keep
//! the roster and devices, not case files).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use maud::{html, Markup};
use object_store::{ObjectStore, ObjectStoreExt};
use roadside_core::model::OfficerRole;
use serde::Deserialize;

use super::layout::page;
use super::{OfficeUser, PageError, PageQuery, PageResult};
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::{CaseDetail, CaseEntry, CaseFilter, CaseOutcome, CaseSummary};

/// Cases per page.
pub const PAGE_SIZE: u64 = 50;
/// Days from 立案 within which a decision is due (处罚法 60).
pub const DECISION_DAYS: i64 = 90;

/// Whether the user reads case files, and limited to their own.
fn case_access(user: &OfficeUser) -> Result<Option<String>, PageError> {
    match user.role() {
        OfficerRole::Supervisor | OfficerRole::LegalReviewer => Ok(None),
        OfficerRole::Officer | OfficerRole::Assistant => Ok(Some(
            user.certificate_no
                .clone()
                .unwrap_or_else(|| "\u{0}no certificate".to_string()),
        )),
        OfficerRole::Admin => Err(PageError(ApiError::forbidden(
            "ROLE_FORBIDDEN",
            "系统管理员不查看案卷；案件由执法监督、法制审核和办案人员查看",
        ))),
    }
}

/// A ledger entry kind in words.
pub fn kind_name(kind: &str) -> &str {
    match kind {
        "case.open" => "立案 / 开始检查",
        "record.create" => "制作笔录",
        "record.amend" => "更正笔录",
        "evidence.add" => "登记证据",
        "evidence.preserve" => "证据先行登记保存",
        "case.finalize" => "检查完成",
        "entry.void" => "作废条目",
        "decision.penalty" => "行政处罚决定",
        "decision.no_penalty" => "不予行政处罚决定",
        "notice.issue" => "行政处罚告知",
        "statement.record" => "陈述申辩 / 听证",
        "measure.apply" => "行政强制措施",
        "measure.extend" => "延长强制措施",
        "measure.release" => "解除强制措施",
        "document.issue" => "出具文书",
        "delivery.record" => "送达",
        "payment.record" => "缴纳罚款",
        "case.close" => "结案",
        "review.request" => "提请法制审核",
        "review.opinion" => "法制审核意见（机构签名）",
        other => other,
    }
}

fn procedure_name(p: Option<&str>) -> &'static str {
    match p {
        Some("summary") => "简易程序",
        Some("general") => "普通程序",
        _ => "—",
    }
}

fn outcome_name(o: Option<&str>) -> &'static str {
    match o {
        Some("penalty") => "行政处罚",
        Some("no_penalty") => "不予处罚",
        _ => "未决定",
    }
}

fn status_name(s: &str) -> &str {
    match s {
        "draft" => "办理中",
        "finalized" => "检查完成",
        "closed" => "已结案",
        other => other,
    }
}

fn yuan(v: i64) -> String {
    roadside_core::rules::guidance::yuan(v)
}

/// The list's query string: every filter is optional; empty fields mean "any".
#[derive(Debug, Deserialize, Default, Clone)]
pub struct ListQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    agency: String,
    #[serde(default)]
    officer: String,
    #[serde(default)]
    plate: String,
    #[serde(default)]
    item: String,
    #[serde(default)]
    procedure: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    page: String,
}

fn bad(field: &str, message: String) -> PageError {
    PageError(ApiError::bad_request(
        "FILTER_INVALID",
        format!("筛选条件「{field}」有误：{message}"),
    ))
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl ListQuery {
    fn filter(&self, user: &OfficeUser, own: Option<String>) -> Result<CaseFilter, PageError> {
        let day = |field: &str, s: &str| -> Result<Option<chrono::NaiveDate>, PageError> {
            match opt(s) {
                None => Ok(None),
                Some(d) => roadside_core::day::parse_day(&d)
                    .map(Some)
                    .ok_or_else(|| bad(field, format!("「{d}」不是 YYYY-MM-DD 日期"))),
            }
        };
        let agency = opt(&self.agency);
        if let Some(a) = &agency {
            if !user.agencies.iter().any(|x| &x.code == a) {
                return Err(PageError(ApiError::forbidden(
                    "AGENCY_FORBIDDEN",
                    format!("无权访问其他机构（{a}）的数据"),
                )));
            }
        }
        let plate = opt(&self.plate).map(|p| {
            roadside_core::codes::check_plate(&p)
                .map(|c| c.plate)
                .unwrap_or_else(|_| p.to_uppercase())
        });
        let procedure = match opt(&self.procedure).as_deref() {
            None => None,
            Some(p @ ("summary" | "general")) => Some(p.to_string()),
            Some(p) => return Err(bad("程序", format!("未知的程序「{p}」"))),
        };
        let outcome = match opt(&self.outcome).as_deref() {
            None => None,
            Some("penalty") => Some(CaseOutcome::Penalty),
            Some("no_penalty") => Some(CaseOutcome::NoPenalty),
            Some("undecided") => Some(CaseOutcome::Undecided),
            Some(o) => return Err(bad("结果", format!("未知的结果「{o}」"))),
        };
        let status = match opt(&self.status).as_deref() {
            None => None,
            Some(s @ ("draft" | "finalized" | "closed")) => Some(s.to_string()),
            Some(s) => return Err(bad("状态", format!("未知的状态「{s}」"))),
        };
        let page = match opt(&self.page) {
            None => 1,
            Some(p) => p
                .parse::<u64>()
                .ok()
                .filter(|p| (1..=1_000_000).contains(p))
                .ok_or_else(|| bad("页码", format!("「{p}」不是 1 至 1000000 的整数")))?,
        };
        let undecided_before = (!self.overdue.is_empty())
            .then(|| crate::time_text(Utc::now() - Duration::days(DECISION_DAYS)));
        Ok(CaseFilter {
            agency,
            // Agency days (UTC+8), as instants.
            opened_from: day("立案日期起", &self.from)?.map(super::day_start_utc),
            opened_before: day("立案日期止", &self.to)?
                .map(|d| super::day_start_utc(d + Duration::days(1))),
            // An officer sees their own cases whatever the form says.
            officer: own.or_else(|| opt(&self.officer)),
            plate,
            item: opt(&self.item).map(|i| i.to_uppercase()),
            procedure,
            outcome,
            status,
            undecided_before,
            offset: (page - 1) * PAGE_SIZE,
            limit: PAGE_SIZE,
        })
    }

    /// This query on another page.
    fn with_page(&self, page: u64) -> String {
        let q = ListQuery {
            page: page.to_string(),
            ..self.clone()
        };
        let pairs = [
            ("from", &q.from),
            ("to", &q.to),
            ("agency", &q.agency),
            ("officer", &q.officer),
            ("plate", &q.plate),
            ("item", &q.item),
            ("procedure", &q.procedure),
            ("outcome", &q.outcome),
            ("status", &q.status),
            ("overdue", &q.overdue),
            ("page", &q.page),
        ];
        let kept: Vec<(&str, &String)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        format!(
            "/cases?{}",
            serde_urlencoded::to_string(kept).unwrap_or_default()
        )
    }
}

fn is_overdue(c: &CaseSummary, cutoff: &str) -> bool {
    c.index.outcome.is_none()
        && c.case.status != "closed"
        && c.case.opened_at.as_deref().is_some_and(|o| o < cutoff)
}

/// `GET /cases`.
pub async fn list(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(q): PageQuery<ListQuery>,
) -> PageResult<Markup> {
    let own = case_access(&user)?;
    let mine = own.is_some();
    let filter = q.filter(&user, own)?;
    let (rows, total) = state.storage.case_page(&user.scope(), &filter).await?;
    let page_no = filter.offset / PAGE_SIZE + 1;
    let capped = total > crate::storage::COUNT_CAP;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let cutoff = crate::time_text(Utc::now() - Duration::days(DECISION_DAYS));
    let sel = |v: &str, current: &str| v == current;
    Ok(page(
        &user,
        if mine { "我的案件" } else { "案件" },
        "/cases",
        html! {
            form.filters method="get" action="/cases" {
                label { "立案日期起" input type="date" name="from" value=(q.from); }
                label { "立案日期止" input type="date" name="to" value=(q.to); }
                @if !mine {
                    label { "机构"
                        select name="agency" {
                            option value="" { "全部" }
                            @for a in &user.agencies { option value=(a.code) selected[sel(&a.code, &q.agency)] { (a.name) } }
                        }
                    }
                    label { "执法证号" input name="officer" value=(q.officer) size="14"; }
                }
                label { "车牌" input name="plate" value=(q.plate) size="10"; }
                label { "违法行为编码" input name="item" value=(q.item) size="10" placeholder="如 CX-43-1"; }
                label { "程序"
                    select name="procedure" {
                        option value="" { "全部" }
                        option value="summary" selected[sel("summary", &q.procedure)] { "简易程序" }
                        option value="general" selected[sel("general", &q.procedure)] { "普通程序" }
                    }
                }
                label { "结果"
                    select name="outcome" {
                        option value="" { "全部" }
                        option value="penalty" selected[sel("penalty", &q.outcome)] { "行政处罚" }
                        option value="no_penalty" selected[sel("no_penalty", &q.outcome)] { "不予处罚" }
                        option value="undecided" selected[sel("undecided", &q.outcome)] { "未决定" }
                    }
                }
                label { "状态"
                    select name="status" {
                        option value="" { "全部" }
                        option value="draft" selected[sel("draft", &q.status)] { "办理中" }
                        option value="finalized" selected[sel("finalized", &q.status)] { "检查完成" }
                        option value="closed" selected[sel("closed", &q.status)] { "已结案" }
                    }
                }
                label { "逾期" span { input type="checkbox" name="overdue" value="1" checked[!q.overdue.is_empty()]; " 超过 90 日未决定" } }
                button type="submit" { "查询" }
                a href="/cases" { "清除" }
            }
            @if capped {
                p.muted { "超过 " (crate::storage::COUNT_CAP) " 件，第 " (page_no) " 页（请用筛选条件缩小范围）" }
            } @else {
                p.muted { "共 " (total) " 件，第 " (page_no) " / " (pages) " 页" }
            }
            div.table-wrap { table #cases {
                thead { tr {
                    th { "立案时间" } th { "案件" } th { "机构" } th { "车牌" } th { "违法行为" }
                    th { "办案人员" } th { "程序" } th { "结果" } th { "罚款" } th { "状态" }
                } }
                tbody {
                    @for c in &rows {
                        tr.deviates[c.index.deviates] {
                            td { (c.case.opened_at.as_deref().map_or("—".to_string(), super::local_time)) }
                            td { a href={ "/cases/" (c.case.id) } { span.hash { (c.case.id) } } }
                            td { (user.agency_name(&c.case.agency)) }
                            td { (c.index.plate.as_deref().unwrap_or("—")) }
                            td { (c.index.items.join("、")) }
                            td.code { (c.index.officers.join("、")) }
                            td { (procedure_name(c.index.procedure.as_deref())) }
                            td { (outcome_name(c.index.outcome.as_deref())) }
                            td { @if let Some(t) = c.index.total_yuan { (yuan(t)) " 元" } @else { "—" }
                                 @if c.index.deviates { br; span.warn { "偏离基准" } } }
                            td { (status_name(&c.case.status))
                                 @if is_overdue(c, &cutoff) { br; span.bad { "逾期未决定" } } }
                        }
                    }
                }
            } }
            div.pager {
                @if page_no > 1 { a href=(q.with_page(page_no - 1)) { "上一页" } }
                @if page_no < pages || (capped && rows.len() as u64 == PAGE_SIZE) { a href=(q.with_page(page_no + 1)) { "下一页" } }
            }
        },
    ))
}

/// The case `id` as this user may see it.
async fn visible_case(
    state: &AppState,
    user: &OfficeUser,
    id: &str,
) -> Result<CaseDetail, PageError> {
    let own = case_access(user)?;
    let not_found = || {
        PageError(ApiError::not_found(
            "CASE_NOT_FOUND",
            format!("没有编号为 {id} 的案件，或您无权查看"),
        ))
    };
    let detail = state
        .storage
        .case_detail(&user.scope(), id)
        .await?
        .ok_or_else(not_found)?;
    if let Some(cert) = own {
        let mine = detail
            .entries
            .iter()
            .any(|e| e.refused.is_none() && e.officers.contains(&cert));
        if !mine {
            return Err(not_found());
        }
    }
    Ok(detail)
}

fn text<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("")
}

fn party_line(p: &serde_json::Value) -> String {
    match text(p, "type") {
        "person" => format!("{}（自然人）", text(p, "name")),
        "organisation" => format!(
            "{}（统一社会信用代码 {}）",
            text(p, "name"),
            text(p, "uscc")
        ),
        _ => String::new(),
    }
}

fn decision_block(e: &CaseEntry) -> Markup {
    let b = &e.body;
    let amount = |k: &str, v: &serde_json::Value| {
        v.get(k)
            .and_then(|x| x.as_i64())
            .map_or("—".to_string(), yuan)
    };
    html! {
        section.decision {
            h3 { (kind_name(&e.kind)) " " (text(b, "number")) }
            dl.facts {
                dt { "决定日期" } dd { (text(b, "decided_on")) }
                dt { "当事人" } dd { (party_line(b.get("party").unwrap_or(&serde_json::Value::Null))) }
                @if e.kind == "decision.penalty" {
                    dt { "程序" } dd { (procedure_name(b.get("procedure").and_then(|v| v.as_str()))) }
                    dt { "罚款合计" } dd { (amount("total_yuan", b)) " 元" }
                }
                dt { "违法事实" } dd { (text(b, "facts_text")) }
            }
            @if let Some(vs) = b.get("violations").and_then(|v| v.as_array()) {
                div.table-wrap { table {
                    thead { tr { th { "违法行为" } th { "违反" } th { "依据" } th { "裁量阶次" } th { "基准幅度（元）" } th { "建议（元）" } th { "决定（元）" } } }
                    tbody { @for v in vs {
                        @let outside = v.get("outside_band").and_then(|x| x.as_bool()).unwrap_or(false);
                        tr.deviates[outside] {
                            td { (text(v, "code")) " " (text(v, "name")) }
                            td { (text(v, "violated")) }
                            td { (text(v, "basis")) }
                            td { (text(v, "tier")) }
                            td { (amount("band_min_yuan", v)) " – " (amount("band_max_yuan", v)) }
                            td { (amount("recommended_yuan", v)) }
                            td { (amount("amount_yuan", v)) @if outside { br; span.warn { "超出基准幅度" } } }
                        }
                    } }
                } }
            }
            @if b.get("deviates").and_then(|v| v.as_bool()).unwrap_or(false) {
                p.warn { strong { "偏离裁量基准的说理：" } (text(b, "justification")) }
            }
            @if e.kind == "decision.no_penalty" {
                p { "免罚依据：" (text(b, "exemption_basis")) }
            }
            @if !text(b, "reasoning").is_empty() {
                details { summary { "说理" } p { (text(b, "reasoning")) } }
            }
        }
    }
}

/// The media type a browser plays an evidence file with, from its declared name.
fn media_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "m4a" | "aac" => "audio/mp4",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "heic" => "image/heic",
        "pdf" => "application/pdf",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// `GET /cases/{id}`.
pub async fn page_for(state: &AppState, user: &OfficeUser, id: &str) -> PageResult<Markup> {
    let detail = visible_case(state, user, id).await?;
    let c = &detail.case;
    let accepted = |e: &&CaseEntry| e.refused.is_none();
    let decisions: Vec<&CaseEntry> = detail
        .entries
        .iter()
        .filter(accepted)
        .filter(|e| e.kind.starts_with("decision."))
        .collect();
    let documents: Vec<&CaseEntry> = detail
        .entries
        .iter()
        .filter(accepted)
        .filter(|e| e.document.is_some())
        .collect();
    let records: Vec<&CaseEntry> = detail
        .entries
        .iter()
        .filter(accepted)
        .filter(|e| e.kind.starts_with("record."))
        .collect();
    let mut evidence = Vec::new();
    for e in detail
        .entries
        .iter()
        .filter(accepted)
        .filter(|e| e.kind == "evidence.add")
    {
        let sha = text(&e.body, "sha256").to_string();
        let stored = state
            .storage
            .media_object(std::slice::from_ref(&c.agency), &sha)
            .await?;
        evidence.push((e, sha, stored));
    }
    Ok(page(
        user,
        &format!("案件 {}", c.id),
        "/cases",
        html! {
            dl.facts {
                dt { "机构" } dd { (user.agency_name(&c.agency)) }
                dt { "立案时间" } dd { (c.opened_at.as_deref().map_or("—".to_string(), super::local_time)) }
                dt { "状态" } dd { (status_name(&c.status)) }
                dt { "笔录 / 证据" } dd { (c.records) " 份 / " (c.evidence) " 件" }
            }
            h2 { "决定" }
            @if decisions.is_empty() { p.muted { "尚未作出决定" } }
            @for d in &decisions { (decision_block(d)) }
            h2 { "文书" }
            @if documents.is_empty() { p.muted { "尚未出具文书" } }
            @else { div.table-wrap { table {
                thead { tr { th { "文书" } th { "文号" } th { "SHA-256" } th { "大小" } } }
                tbody { @for d in &documents { @if let Some(doc) = &d.document {
                    tr { td { (doc.doc_type) } td { (doc.number) } td.hash { (doc.sha256) } td { (doc.size) " 字节" } }
                } } }
            } } }
            h2 { "证据" }
            @if evidence.is_empty() { p.muted { "没有登记证据" } }
            @for (e, sha, stored) in &evidence {
                @let name = text(&e.body, "file_name");
                @let kind = text(&e.body, "kind");
                @let declared = e.body.get("size").and_then(|v| v.as_u64());
                section.evidence {
                    p { strong { (name) } " · " (kind) " · " (declared.map_or("—".to_string(), |s| format!("{s} 字节"))) }
                    p.hash { "SHA-256 " (sha) }
                    @match stored {
                        Some(o) if Some(o.size) == declared => {
                            p.ok { "已上传，整文件哈希已核验（" (super::local_time(&o.stored_at)) "）" }
                            @let src = format!("/cases/{}/media/{}", c.id, sha);
                            @match kind {
                                "video" => { video controls preload="metadata" src=(src) {} }
                                "audio" => { audio controls preload="metadata" src=(src) {} }
                                "photo" => { img src=(src) alt=(name) style="max-width:100%;max-height:360px"; }
                                _ => { a href=(src) { "下载" } }
                            }
                        }
                        Some(_) => { p.bad { "已上传的文件大小与登记的不一致" } }
                        None => { p.warn { "已登记，文件尚未上传" } }
                    }
                }
            }
            h2 { "笔录" }
            @if records.is_empty() { p.muted { "没有笔录" } }
            @for r in &records {
                details {
                    summary { (kind_name(&r.kind)) " · " (super::local_time(&r.at)) }
                    pre.code { (serde_json::to_string_pretty(&r.body).unwrap_or_default()) }
                }
            }
            h2 { "全过程记录（签名条目）" }
            div.table-wrap { table #timeline {
                thead { tr { th { "#" } th { "时间" } th { "事项" } th { "执法人员" } th { "终端签名" } th { "透明日志" } } }
                tbody { @for e in &detail.entries {
                    tr {
                        td { (e.seq) }
                        td { (super::local_time(&e.at)) }
                        td { (kind_name(&e.kind))
                             @if let Some(r) = &e.refused { br; span.bad { "未采纳：" (r.message) " (" (r.code) ")" } } }
                        td.code { (e.officers.join("、")) }
                        td { span.hash { (e.device_id) } br; span.hash title=(e.entry_hash) { (e.entry_hash.get(..16).unwrap_or(&e.entry_hash)) "…" } }
                        td { "已记入：第 " (e.leaf_index) " 号叶，首次公布于大小为 " (e.checkpoint_size) " 的检查点" }
                    }
                } }
            } }
        },
    ))
}

/// `GET /cases/{id}`.
pub async fn page_route(
    State(state): State<AppState>,
    user: OfficeUser,
    Path(id): Path<String>,
) -> PageResult<Markup> {
    page_for(&state, &user, &id).await
}

/// `GET /cases/{id}/media/{sha256}`: an evidence file of the case for playback, with HTTP range
/// requests (RFC 9110 14) so a video seeks without downloading it whole.
pub async fn media(
    State(state): State<AppState>,
    user: OfficeUser,
    Path((id, sha256)): Path<(String, String)>,
    headers: HeaderMap,
) -> PageResult {
    let detail = visible_case(&state, &user, &id).await?;
    let declared = detail
        .entries
        .iter()
        .filter(|e| e.refused.is_none() && e.kind == "evidence.add")
        .find(|e| text(&e.body, "sha256") == sha256)
        .ok_or_else(|| {
            PageError(ApiError::not_found(
                "EVIDENCE_NOT_FOUND",
                "该案件没有这个证据文件",
            ))
        })?;
    let object = state
        .storage
        .media_object(std::slice::from_ref(&detail.case.agency), &sha256)
        .await?
        .ok_or_else(|| {
            PageError(ApiError::not_found(
                "MEDIA_NOT_UPLOADED",
                "证据文件尚未上传",
            ))
        })?;
    let size = object.size;
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(|r| parse_range(r, size));
    let key = crate::media::Media::object_key(&sha256);
    let store_error = |e: object_store::Error| {
        PageError(ApiError::internal(
            "MEDIA_STORE_FAILED",
            format!("读取证据文件失败：{e}"),
        ))
    };
    let content_type = media_type(text(&declared.body, "file_name"));
    let mut r = match range {
        Some(Err(())) => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            set(&mut r, header::CONTENT_RANGE, format!("bytes */{size}"));
            return Ok(r);
        }
        Some(Ok((start, end))) => {
            let got = state
                .media
                .store
                .get_opts(
                    &key,
                    object_store::GetOptions {
                        range: Some(object_store::GetRange::Bounded(start..end + 1)),
                        ..Default::default()
                    },
                )
                .await
                .map_err(store_error)?;
            let mut r = Body::from_stream(got.into_stream()).into_response();
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            set(
                &mut r,
                header::CONTENT_RANGE,
                format!("bytes {start}-{end}/{size}"),
            );
            set(
                &mut r,
                header::CONTENT_LENGTH,
                (end - start + 1).to_string(),
            );
            r
        }
        None => {
            let got = state.media.store.get(&key).await.map_err(store_error)?;
            let mut r = Body::from_stream(got.into_stream()).into_response();
            set(&mut r, header::CONTENT_LENGTH, size.to_string());
            r
        }
    };
    set(&mut r, header::CONTENT_TYPE, content_type.to_string());
    set(&mut r, header::ACCEPT_RANGES, "bytes".to_string());
    set(&mut r, header::ETAG, format!("\"{sha256}\""));
    set(
        &mut r,
        header::CACHE_CONTROL,
        "private, max-age=3600".to_string(),
    );
    Ok(r)
}

fn set(r: &mut Response, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(name, v);
    }
}

/// One byte range of a `Range: bytes=…` header over a file of `size` bytes, as inclusive
/// `(first, last)`; `Err` when it cannot be satisfied. Several ranges are answered with the
/// first (a browser's media element asks for one).
pub fn parse_range(header: &str, size: u64) -> Result<(u64, u64), ()> {
    let spec = header.trim().strip_prefix("bytes=").ok_or(())?;
    let first = spec.split(',').next().ok_or(())?.trim();
    let (a, b) = first.split_once('-').ok_or(())?;
    if size == 0 {
        return Err(());
    }
    let (start, end) = match (a.trim(), b.trim()) {
        ("", "") => return Err(()),
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (s, "") => (s.parse().map_err(|_| ())?, size - 1),
        (s, e) => {
            let (s, e): (u64, u64) = (s.parse().map_err(|_| ())?, e.parse().map_err(|_| ())?);
            (s, e.min(size - 1))
        }
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-99", 1000), Ok((0, 99)));
        assert_eq!(parse_range("bytes=900-", 1000), Ok((900, 999)));
        assert_eq!(parse_range("bytes=-100", 1000), Ok((900, 999)));
        assert_eq!(parse_range("bytes=-5000", 1000), Ok((0, 999)));
        assert_eq!(parse_range("bytes=0-5000", 1000), Ok((0, 999)));
        assert_eq!(parse_range("bytes=0-0,5-9", 1000), Ok((0, 0)));
        assert_eq!(parse_range("bytes=1000-", 1000), Err(()));
        assert_eq!(parse_range("bytes=5-1", 1000), Err(()));
        assert_eq!(parse_range("bytes=-0", 1000), Err(()));
        assert_eq!(parse_range("items=0-1", 1000), Err(()));
        assert_eq!(parse_range("bytes=0-1", 0), Err(()));
    }

    proptest! {
        #[test]
        fn any_satisfiable_range_lies_inside_the_file(h in ".{0,40}", size in 0u64..10_000) {
            if let Ok((s, e)) = parse_range(&h, size) {
                prop_assert!(s <= e && e < size);
            }
        }
    }
}
