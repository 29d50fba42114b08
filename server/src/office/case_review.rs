//! 案卷评查 pages: draw a year's round (recorded seed and method), see the sample per unit, score
//! each drawn file on the checklist, download the results as XLSX.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{Datelike, NaiveDate};
use maud::{html, Markup};
use rand_core::{OsRng, RngCore};
use roadside_core::model::OfficerRole;
use serde::Deserialize;

use super::layout::page;
use super::{see_other, OfficeUser, PageError, PageForm, PageResult};
use crate::case_review::{draw, Checklist, DEFAULT_PER_UNIT, METHOD};
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::{ReviewRound, ReviewSample, ReviewScore};

fn may_review(user: &OfficeUser) -> Result<(), PageError> {
    user.require(&[OfficerRole::Supervisor])
}

async fn round_of(
    state: &AppState,
    user: &OfficeUser,
    id: &str,
) -> Result<(ReviewRound, Vec<ReviewSample>), PageError> {
    state
        .storage
        .review_round(&user.scope(), id)
        .await?
        .ok_or_else(|| {
            PageError(ApiError::not_found(
                "REVIEW_ROUND_NOT_FOUND",
                "没有这一轮案卷评查，或您无权查看",
            ))
        })
}

/// `GET /case-review`.
pub async fn list(State(state): State<AppState>, user: OfficeUser) -> PageResult<Markup> {
    may_review(&user)?;
    let rounds = state.storage.review_rounds(&user.scope()).await?;
    let year = roadside_core::day::agency_today().year();
    Ok(page(
        &user,
        "案卷评查",
        "/case-review",
        html! {
            p { "每年至少开展一次案卷评查：每个单位随机抽取不少于 10 件已结案件（不足 10 件的全部抽取），按评分表逐项评分。抽取所用的随机种子和方法随本轮记录，任何人可据此复核抽取结果。" }
            form.stack method="post" action="/case-review" {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "年度" input type="number" name="year" value=(year) min="2000" max="2100" required; }
                label { "每单位抽取件数（不少于 10）" input type="number" name="per_unit" value=(DEFAULT_PER_UNIT) min=(DEFAULT_PER_UNIT) max="200" required; }
                button type="submit" { "抽取本轮案卷" }
            }
            table #rounds {
                thead { tr { th { "年度" } th { "范围" } th { "每单位" } th { "抽取时间" } th { "抽取人" } } }
                tbody { @for r in &rounds {
                    tr {
                        td { a href={ "/case-review/" (r.id) } { (r.year) " 年度" } }
                        td { (user.agency_name(&r.agency)) " 及下属单位" }
                        td { (r.per_unit) }
                        td { (super::local_time(&r.drawn_at)) }
                        td { (r.drawn_by) }
                    }
                } }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct DrawForm {
    csrf: String,
    year: String,
    per_unit: String,
}

/// `POST /case-review`: draw a round for the user's agency and those below it.
pub async fn create(
    State(state): State<AppState>,
    user: OfficeUser,
    PageForm(form): PageForm<DrawForm>,
) -> PageResult {
    user.check_csrf(&form.csrf)?;
    may_review(&user)?;
    let bad = |m: String| PageError(ApiError::bad_request("REVIEW_DRAW_INVALID", m));
    let year: i32 = form
        .year
        .trim()
        .parse()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
        .ok_or_else(|| bad(format!("年度「{}」应为 2000 至 2100 的四位数字", form.year)))?;
    let per_unit: u32 = form
        .per_unit
        .trim()
        .parse()
        .ok()
        .filter(|n| (DEFAULT_PER_UNIT..=200).contains(n))
        .ok_or_else(|| bad(format!("每单位抽取件数应为 {DEFAULT_PER_UNIT} 至 200")))?;
    let (from, before) = match (
        NaiveDate::from_ymd_opt(year, 1, 1),
        NaiveDate::from_ymd_opt(year + 1, 1, 1),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(bad("年度无效".into())),
    };
    // The candidates: each unit's cases opened in the year and closed.
    let mut candidates = Vec::new();
    for agency in user.scope() {
        let mut offset = 0;
        loop {
            let filter = crate::storage::CaseFilter {
                agency: Some(agency.clone()),
                opened_from: Some(super::day_start_utc(from)),
                opened_before: Some(super::day_start_utc(before)),
                status: Some("closed".into()),
                offset,
                limit: 1000,
                ..Default::default()
            };
            let (page, _) = state.storage.case_page(&user.scope(), &filter).await?;
            if page.is_empty() {
                break;
            }
            offset += page.len() as u64;
            candidates.extend(page.into_iter().map(|c| (c.case.agency, c.case.id)));
        }
    }
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let samples = draw(&seed, &candidates, per_unit);
    let round = ReviewRound {
        id: uuid::Uuid::now_v7().to_string(),
        agency: user.caller.session.agency.clone(),
        year,
        seed: hex::encode(seed),
        per_unit,
        method: METHOD.to_string(),
        drawn_at: crate::now(),
        drawn_by: user.login().to_string(),
    };
    if !state.storage.create_review_round(&round, &samples).await? {
        return Err(PageError(ApiError::conflict(
            "REVIEW_ROUND_EXISTS",
            format!("{year} 年度已抽取过案卷评查样本；为保证抽取结果不可挑选，同一年度只抽取一次"),
        )));
    }
    Ok(see_other(&format!("/case-review/{}", round.id)))
}

fn totals(scores: &[ReviewScore]) -> HashMap<&str, u32> {
    let mut t = HashMap::new();
    for s in scores {
        *t.entry(s.case_id.as_str()).or_insert(0) += s.score;
    }
    t
}

/// `GET /case-review/{id}`.
pub async fn show(
    State(state): State<AppState>,
    user: OfficeUser,
    Path(id): Path<String>,
) -> PageResult<Markup> {
    may_review(&user)?;
    let (round, samples) = round_of(&state, &user, &id).await?;
    let scores = state.storage.review_scores(&round.id).await?;
    let checklist = Checklist::load(&state.config.data_dir)?;
    let totals = totals(&scores);
    Ok(page(
        &user,
        &format!("{} 年度案卷评查", round.year),
        "/case-review",
        html! {
            dl.facts {
                dt { "范围" } dd { (user.agency_name(&round.agency)) " 及下属单位" }
                dt { "抽取" } dd { (super::local_time(&round.drawn_at)) "，" (round.drawn_by) "；每单位 " (round.per_unit) " 件" }
                dt { "随机种子" } dd.hash { (round.seed) }
                dt { "抽取方法" } dd { (round.method) }
                dt { "合格分" } dd { (checklist.pass_score) " 分（满分 100）"
                    @if !checklist.verified { " " span.warn { "评分表分值待确认：" (checklist.note) } } }
            }
            p { a href={ "/case-review/" (round.id) "/results.xlsx" } { "下载评查结果（Excel 格式）" } }
            @if samples.is_empty() { p.muted { "该年度没有已结案件可供抽取" } }
            table #sample {
                thead { tr { th { "单位" } th { "序号" } th { "案件" } th { "得分" } th { "评分" } } }
                tbody { @for s in &samples {
                    tr {
                        td { (user.agency_name(&s.agency)) }
                        td { (s.position) }
                        td { a href={ "/cases/" (s.case_id) } { span.hash { (s.case_id) } } }
                        td { @match totals.get(s.case_id.as_str()) {
                            Some(t) if *t >= checklist.pass_score => { span.ok { (t) " 合格" } }
                            Some(t) => { span.bad { (t) " 不合格" } }
                            None => { span.muted { "未评" } }
                        } }
                        td { a href={ "/case-review/" (round.id) "/cases/" (s.case_id) } { "评分" } }
                    }
                } }
            }
        },
    ))
}

/// `GET /case-review/{id}/cases/{case}`: the score form.
pub async fn score_form(
    State(state): State<AppState>,
    user: OfficeUser,
    Path((id, case_id)): Path<(String, String)>,
) -> PageResult<Markup> {
    may_review(&user)?;
    let (round, samples) = round_of(&state, &user, &id).await?;
    if !samples.iter().any(|s| s.case_id == case_id) {
        return Err(PageError(ApiError::not_found(
            "REVIEW_CASE_NOT_DRAWN",
            "该案件不在本轮抽取的样本中",
        )));
    }
    let checklist = Checklist::load(&state.config.data_dir)?;
    let scores = state.storage.review_scores(&round.id).await?;
    let mine: HashMap<&str, &ReviewScore> = scores
        .iter()
        .filter(|s| s.case_id == case_id)
        .map(|s| (s.item.as_str(), s))
        .collect();
    Ok(page(
        &user,
        &format!("评分：案件 {case_id}"),
        "/case-review",
        html! {
            p { a href={ "/cases/" (case_id) } { "打开案卷" } " · " a href={ "/case-review/" (round.id) } { "返回本轮评查" } }
            form method="post" action={ "/case-review/" (round.id) "/cases/" (case_id) } {
                input type="hidden" name="csrf" value=(user.csrf);
                table #checklist {
                    thead { tr { th { "项目" } th { "评查标准" } th { "依据" } th { "分值" } th { "得分" } th { "扣分说明" } } }
                    tbody { @for item in &checklist.items {
                        @let given = mine.get(item.code.as_str());
                        tr {
                            td { (item.name) }
                            td { (item.criteria) }
                            td { (item.basis) }
                            td { (item.points) }
                            td { input type="number" name={ "score_" (item.code) } min="0" max=(item.points) required
                                value=(given.map_or(item.points, |s| s.score)) aria-label={ (item.name) "得分" }; }
                            td { input name={ "note_" (item.code) } value=(given.map_or("", |s| s.note.as_str())) aria-label={ (item.name) "扣分说明" }; }
                        }
                    } }
                }
                p { button type="submit" { "保存评分" } }
            }
        },
    ))
}

/// `POST /case-review/{id}/cases/{case}`: every item scored within its points, or nothing saved.
pub async fn save_scores(
    State(state): State<AppState>,
    user: OfficeUser,
    Path((id, case_id)): Path<(String, String)>,
    PageForm(form): PageForm<HashMap<String, String>>,
) -> PageResult {
    user.check_csrf(form.get("csrf").map_or("", String::as_str))?;
    may_review(&user)?;
    let (round, samples) = round_of(&state, &user, &id).await?;
    if !samples.iter().any(|s| s.case_id == case_id) {
        return Err(PageError(ApiError::not_found(
            "REVIEW_CASE_NOT_DRAWN",
            "该案件不在本轮抽取的样本中",
        )));
    }
    let checklist = Checklist::load(&state.config.data_dir)?;
    let at = crate::now();
    let mut scores = Vec::new();
    for item in &checklist.items {
        let raw = form
            .get(&format!("score_{}", item.code))
            .map(|s| s.trim())
            .unwrap_or("");
        let score = raw
            .parse::<u32>()
            .ok()
            .filter(|s| *s <= item.points)
            .ok_or_else(|| {
                PageError(ApiError::bad_request(
                    "REVIEW_SCORE_RANGE",
                    format!(
                        "「{}」的得分应为 0 至 {} 的整数（收到「{raw}」）",
                        item.name, item.points
                    ),
                ))
            })?;
        let note = form
            .get(&format!("note_{}", item.code))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if score < item.points && note.is_empty() {
            return Err(PageError(ApiError::bad_request(
                "REVIEW_NOTE_REQUIRED",
                format!("「{}」扣了分，请写明扣分说明", item.name),
            )));
        }
        scores.push(ReviewScore {
            case_id: case_id.clone(),
            item: item.code.clone(),
            score,
            note,
            by: user.login().to_string(),
            at: at.clone(),
        });
    }
    state
        .storage
        .put_review_scores(&round.id, &case_id, &scores)
        .await?;
    Ok(see_other(&format!("/case-review/{}", round.id)))
}

/// `GET /case-review/{id}/results.xlsx`: one row per drawn case, a column per checklist item.
pub async fn results_xlsx(
    State(state): State<AppState>,
    user: OfficeUser,
    Path(id): Path<String>,
) -> PageResult {
    may_review(&user)?;
    let (round, samples) = round_of(&state, &user, &id).await?;
    let scores = state.storage.review_scores(&round.id).await?;
    let checklist = Checklist::load(&state.config.data_dir)?;
    let failed = |e: rust_xlsxwriter::XlsxError| {
        PageError(ApiError::internal(
            "EXPORT_FAILED",
            format!("导出失败：{e}"),
        ))
    };
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("评查结果").map_err(failed)?;
    sheet
        .write_string(0, 0, format!("{} 年度案卷评查结果", round.year))
        .map_err(failed)?;
    sheet
        .write_string(1, 0, format!("随机种子 {}；{}", round.seed, round.method))
        .map_err(failed)?;
    let mut header = vec!["单位".to_string(), "序号".into(), "案件".into()];
    header.extend(
        checklist
            .items
            .iter()
            .map(|i| format!("{}（{}）", i.name, i.points)),
    );
    header.extend(["合计".to_string(), "结论".into()]);
    for (c, h) in header.iter().enumerate() {
        sheet.write_string(3, c as u16, h).map_err(failed)?;
    }
    let names: HashMap<&str, &str> = user
        .agencies
        .iter()
        .map(|a| (a.code.as_str(), a.name.as_str()))
        .collect();
    for (r, s) in samples.iter().enumerate() {
        let row = 4 + r as u32;
        sheet
            .write_string(
                row,
                0,
                names.get(s.agency.as_str()).copied().unwrap_or(&s.agency),
            )
            .map_err(failed)?;
        sheet
            .write_number(row, 1, s.position as f64)
            .map_err(failed)?;
        sheet.write_string(row, 2, &s.case_id).map_err(failed)?;
        let mine: Vec<&ReviewScore> = scores.iter().filter(|x| x.case_id == s.case_id).collect();
        let mut total = 0;
        for (i, item) in checklist.items.iter().enumerate() {
            if let Some(x) = mine.iter().find(|x| x.item == item.code) {
                total += x.score;
                sheet
                    .write_number(row, 3 + i as u16, x.score as f64)
                    .map_err(failed)?;
            }
        }
        let col = 3 + checklist.items.len() as u16;
        if mine.is_empty() {
            sheet.write_string(row, col + 1, "未评").map_err(failed)?;
        } else {
            sheet.write_number(row, col, total as f64).map_err(failed)?;
            let verdict = if total >= checklist.pass_score {
                "合格"
            } else {
                "不合格"
            };
            sheet.write_string(row, col + 1, verdict).map_err(failed)?;
        }
    }
    let body = book.save_to_buffer().map_err(failed)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"case-review-{}.xlsx\"", round.year),
            ),
        ],
        body,
    )
        .into_response())
}
