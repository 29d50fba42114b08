//! 法制审核 in the office: the queue of requests awaiting an opinion (and those answered), each
//! request's proposed decision beside the benchmark with the catalogue items that require review,
//! and the reviewer's form (同意 / 补充调查 / 不同意 with reasons). The opinion is recorded by
//! [`crate::review::record_opinion`], the function the API uses: signed with the agency key and
//! logged. Legal reviewers give opinions; the supervision office reads.

use axum::extract::{Path, State};
use maud::{html, Markup};
use roadside_core::model::OfficerRole;
use roadside_core::rules::guidance::yuan;
use roadside_core::steps::ReviewVerdict;
use serde::Deserialize;

use super::layout::page;
use super::{local_time, see_other, OfficeUser, PageError, PageForm, PageQuery, PageResult};
use crate::error::ApiError;
use crate::review::{self, RequestView};
use crate::state::AppState;

fn may_read(user: &OfficeUser) -> Result<(), PageError> {
    user.require(&[OfficerRole::LegalReviewer, OfficerRole::Supervisor])
}

fn party_name(r: &RequestView) -> String {
    match &r.request.proposal.party {
        roadside_core::model::Party::Person { name, .. } => name.clone(),
        roadside_core::model::Party::Organisation { name, .. } => name.clone(),
    }
}

fn verdict_badge(v: ReviewVerdict) -> Markup {
    let class = match v {
        ReviewVerdict::Agree => "ok",
        ReviewVerdict::Investigate => "warn",
        ReviewVerdict::Disagree => "bad",
    };
    html! { span class=(class) { (v.label()) } }
}

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    done: String,
}

/// `GET /reviews`: requests of the user's scope, those awaiting an opinion first.
pub async fn list(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(q): PageQuery<ListQuery>,
) -> PageResult<Markup> {
    may_read(&user)?;
    let entries = state.storage.review_entries(&user.scope()).await?;
    let mut by_case: Vec<(String, String, Vec<crate::storage::ReviewEntry>)> = Vec::new();
    for e in entries {
        match by_case.iter_mut().find(|(c, ..)| *c == e.case_id) {
            Some((_, _, v)) => v.push(e),
            None => by_case.push((e.case_id.clone(), e.agency.clone(), vec![e])),
        }
    }
    let mut pending = Vec::new();
    let mut answered = Vec::new();
    for (case_id, agency, entries) in by_case {
        let requests = review::requests(&entries);
        if let Some(last) = requests.last().cloned() {
            if last.opinions.is_empty() {
                pending.push((case_id, agency, last));
            } else {
                answered.push((case_id, agency, last));
            }
        }
    }
    pending.sort_by(|a, b| a.2.at.cmp(&b.2.at));
    answered.sort_by(|a, b| b.2.at.cmp(&a.2.at));
    let row = |case_id: &str, agency: &str, r: &RequestView| {
        html! {
            tr {
                td { a href={ "/reviews/" (case_id) } { (case_id) } }
                td { (user.agency_name(agency)) }
                td { (party_name(r)) }
                td.num { (yuan(r.request.proposal.total_yuan)) }
                td { @for reason in &r.request.reasons { div { (reason) } } }
                td { (local_time(&r.at)) }
                td { @match r.opinions.first() {
                    Some(o) => { (verdict_badge(o.opinion.verdict)) " " span.muted { (o.opinion.reviewer) } }
                    None => span.warn { "待审核" },
                } }
            }
        }
    };
    Ok(page(
        &user,
        "法制审核",
        "/reviews",
        html! {
            @if !q.done.is_empty() { p.notice { "审核意见已签署并写入透明日志；办案设备同步后即可据此作出决定。" } }
            p.muted { "重大执法决定作出前须经法制审核（《中华人民共和国行政处罚法》第五十八条）：未经法制审核或者审核未通过的，不得作出决定。下列为办案人员提请审核的拟处罚决定。" }
            h2 { "待审核（" (pending.len()) "）" }
            div.table-wrap { table #review-queue {
                thead { tr { th { "案件" } th { "单位" } th { "当事人" } th { "拟罚款（元）" } th { "须审核的情形" } th { "提请时间" } th { "状态" } } }
                tbody { @for (c, a, r) in &pending { (row(c, a, r)) } }
            } }
            h2 { "已审核" }
            div.table-wrap { table #review-done {
                thead { tr { th { "案件" } th { "单位" } th { "当事人" } th { "拟罚款（元）" } th { "须审核的情形" } th { "提请时间" } th { "审核意见" } } }
                tbody { @for (c, a, r) in &answered { (row(c, a, r)) } }
            } }
        },
    ))
}

/// `GET /reviews/{case}`: the case's requests with their proposals and opinions, and the form.
pub async fn show(
    State(state): State<AppState>,
    user: OfficeUser,
    Path(case_id): Path<String>,
) -> PageResult<Markup> {
    may_read(&user)?;
    let scope = user.scope();
    let detail = state
        .storage
        .case_detail(&scope, &case_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                "CASE_NOT_FOUND",
                format!("案件 {case_id} 不存在或不在本账号的范围内"),
            )
        })?;
    let requests = review::requests(&state.storage.case_review_entries(&case_id).await?);
    let Some(latest) = requests.last() else {
        return Err(PageError(ApiError::not_found(
            "REVIEW_REQUEST_NOT_FOUND",
            "本案没有提请法制审核的记录",
        )));
    };
    let can_answer = user.role() == OfficerRole::LegalReviewer
        && latest.opinions.is_empty()
        && !detail.case.decided;
    Ok(page(
        &user,
        "法制审核",
        "/reviews",
        html! {
            p { "案件 " a href={ "/cases/" (case_id) } { (case_id) } " · " (user.agency_name(&detail.case.agency)) }
            @for (i, r) in requests.iter().enumerate().rev() {
                section.review-request {
                    h2 { "第 " (i + 1) " 次提请 · " (local_time(&r.at)) @if i + 1 == requests.len() { " （最新）" } }
                    p { "须经法制审核的情形：" }
                    ul { @for reason in &r.request.reasons { li { (reason) } } }
                    @let d = &r.request.proposal;
                    p { "当事人：" (party_name(r)) "；程序：普通程序；拟罚款合计 " strong { (yuan(d.total_yuan)) } " 元" }
                    p { "违法事实：" (d.facts_text) }
                    div.table-wrap { table {
                        thead { tr { th { "违法行为" } th { "违反" } th { "依据" } th { "裁量档次" } th { "基准区间（元）" } th { "建议（元）" } th { "拟罚款（元）" } th { "其他处罚及措施" } } }
                        tbody { @for v in &d.violations {
                            tr class=[v.outside_band.then_some("deviates")] {
                                td { (v.name) " " span.muted { (v.code) } }
                                td { (v.violated) }
                                td { (v.basis) }
                                td { (v.tier.clone().unwrap_or_default()) }
                                td { (v.band_min_yuan.map(yuan).unwrap_or_default()) "—" (v.band_max_yuan.map(yuan).unwrap_or_default()) }
                                td.num { (v.recommended_yuan.map(yuan).unwrap_or_default()) }
                                td.num { (yuan(v.amount_yuan)) @if v.outside_band { br; span.bad { "偏离基准" } } }
                                td { @for m in v.other_penalties.iter().chain(&v.measures) { div { (m) } } }
                            }
                        } }
                    } }
                    @if !d.justification.trim().is_empty() { p { "偏离基准的说理：" (d.justification) } }
                    p.muted { "说理：" (d.reasoning) }
                    @for o in &r.opinions {
                        div.opinion {
                            p { "审核意见：" (verdict_badge(o.opinion.verdict)) " · " (o.opinion.reviewer) " · " (local_time(&o.at)) }
                            p { (o.opinion.reasons) }
                            p.muted { "机构签名记录 " code { (o.hash) } "，透明日志第 " (o.leaf_index) " 项" }
                        }
                    }
                }
            }
            @if can_answer {
                form.card method="post" action={ "/reviews/" (case_id) } {
                    input type="hidden" name="csrf" value=(user.csrf);
                    fieldset { legend { "审核意见（对最新一次提请）" }
                        @for (v, n) in [("agree", "同意"), ("investigate", "补充调查"), ("disagree", "不同意")] {
                            label.inline { input type="radio" name="verdict" value=(v) required; " " (n) }
                        }
                    }
                    label { "理由" textarea name="reasons" rows="5" maxlength="2000" required {} }
                    button type="submit" { "签署审核意见" }
                }
            } @else if latest.opinions.is_empty() && user.role() == OfficerRole::LegalReviewer && detail.case.decided {
                p.muted { "本案已作出决定。" }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpinionForm {
    csrf: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    reasons: String,
}

/// `POST /reviews/{case}`: the reviewer's opinion.
pub async fn give(
    State(state): State<AppState>,
    user: OfficeUser,
    Path(case_id): Path<String>,
    PageForm(form): PageForm<OpinionForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    let verdict = crate::routes::reviews::verdict(&form.verdict)?;
    review::record_opinion(&state, &user.caller, &case_id, verdict, &form.reasons).await?;
    Ok(see_other("/reviews?done=1"))
}
