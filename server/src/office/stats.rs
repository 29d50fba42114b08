//! Statistics (统计报表): the monthly report (due by the 5th of the next month) and the annual
//! report (due by the end of January), per unit of the user's scope, from the case index: cases
//! opened, decisions by outcome and procedure, fines, exemptions, deviations from the benchmark,
//! decisions within the 90-day deadline (处罚法 60), undecided cases past it, cases by benchmark
//! item, and the system usage rate against the 90 % target. Shown with an SVG chart drawn on the
//! server, and exported as CSV and XLSX.
//!
//! **System usage rate (系统使用率)**, as counted here: of the officers (role 执法人员) on the unit's
//! roster whose certificate is valid on some day of the period, the share who opened or decided at
//! least one case in the system in the period. A unit with no such officer has no rate.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{Datelike, Duration, NaiveDate};
use maud::{html, Markup, PreEscaped};
use roadside_core::model::OfficerRole;
use serde::Deserialize;

use super::layout::page;
use super::{OfficeUser, PageError, PageQuery, PageResult};
use crate::error::ApiError;
use crate::state::AppState;
use crate::storage::CaseStat;

/// The usage target (per unit).
pub const USAGE_TARGET_PERCENT: u64 = 90;

/// One unit's figures (or the total).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitFigures {
    pub agency: String,
    pub name: String,
    pub opened: u64,
    pub penalties: u64,
    pub no_penalty: u64,
    pub summary: u64,
    pub general: u64,
    pub fines_yuan: i64,
    pub deviations: u64,
    /// Decisions made within 90 days of the case's opening.
    pub on_time: u64,
    /// Undecided, not closed, opened more than 90 days before the period's end.
    pub overdue: u64,
    pub officers_active: u64,
    pub officers_on_roster: u64,
}

impl UnitFigures {
    /// The usage rate in whole percent, when the unit has officers.
    pub fn usage_percent(&self) -> Option<u64> {
        (self.officers_on_roster > 0).then(|| self.officers_active * 100 / self.officers_on_roster)
    }

    fn decided(&self) -> u64 {
        self.penalties + self.no_penalty
    }
}

/// A report over a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub title: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The day it is due to be reported by.
    pub due: NaiveDate,
    pub units: Vec<UnitFigures>,
    pub total: UnitFigures,
    /// Cases by benchmark item, most first.
    pub items: Vec<(String, u64)>,
}

#[derive(Debug, Deserialize, Default)]
pub struct ReportQuery {
    /// `YYYY-MM` for a monthly report.
    #[serde(default)]
    month: String,
    /// `YYYY` for an annual report.
    #[serde(default)]
    year: String,
}

fn bad(message: String) -> PageError {
    PageError(ApiError::bad_request("PERIOD_INVALID", message))
}

fn last_day_of_month(y: i32, m: u32) -> Option<NaiveDate> {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    NaiveDate::from_ymd_opt(ny, nm, 1).map(|d| d - Duration::days(1))
}

impl ReportQuery {
    /// (title, first day, last day, due day); the previous month when nothing is asked.
    fn period(&self) -> Result<(String, NaiveDate, NaiveDate, NaiveDate), PageError> {
        if !self.year.trim().is_empty() {
            let y: i32 = self
                .year
                .trim()
                .parse()
                .ok()
                .filter(|y| (2000..=2100).contains(y))
                .ok_or_else(|| bad(format!("年份「{}」应为 2000 至 2100 的四位数字", self.year)))?;
            let from = NaiveDate::from_ymd_opt(y, 1, 1).ok_or_else(|| bad("年份无效".into()))?;
            let to = NaiveDate::from_ymd_opt(y, 12, 31).ok_or_else(|| bad("年份无效".into()))?;
            let due =
                NaiveDate::from_ymd_opt(y + 1, 1, 31).ok_or_else(|| bad("年份无效".into()))?;
            return Ok((format!("{y} 年度执法统计"), from, to, due));
        }
        let (y, m) = if self.month.trim().is_empty() {
            let today = roadside_core::day::agency_today();
            if today.month() == 1 {
                (today.year() - 1, 12)
            } else {
                (today.year(), today.month() - 1)
            }
        } else {
            let text = self.month.trim();
            text.split_once('-')
                .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
                .filter(|(y, m)| {
                    (2000..=2100).contains(y) && (1..=12).contains(m) && text.len() == 7
                })
                .ok_or_else(|| bad(format!("月份「{text}」应写作 YYYY-MM，例如 2026-11")))?
        };
        let from = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(|| bad("月份无效".into()))?;
        let to = last_day_of_month(y, m).ok_or_else(|| bad("月份无效".into()))?;
        let due = (to + Duration::days(5))
            .with_day(5)
            .unwrap_or(to + Duration::days(5));
        Ok((format!("{y} 年 {m} 月执法统计"), from, to, due))
    }

    fn query_string(&self) -> String {
        if !self.year.trim().is_empty() {
            format!("year={}", self.year.trim())
        } else if !self.month.trim().is_empty() {
            format!("month={}", self.month.trim())
        } else {
            String::new()
        }
    }
}

/// Count `cases` of the period into a report over the units of `user`.
fn count(
    title: String,
    (from, to, due): (NaiveDate, NaiveDate, NaiveDate),
    user: &OfficeUser,
    cases: &[CaseStat],
    roster: &[roadside_core::model::OfficerCertificate],
) -> Report {
    let mut units: BTreeMap<String, UnitFigures> = user
        .agencies
        .iter()
        .map(|a| {
            (
                a.code.clone(),
                UnitFigures {
                    agency: a.code.clone(),
                    name: a.name.clone(),
                    ..UnitFigures::default()
                },
            )
        })
        .collect();
    let mut items: BTreeMap<String, u64> = BTreeMap::new();
    let mut active: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    let overdue_before = to - Duration::days(super::cases::DECISION_DAYS);
    for c in cases {
        let Some(u) = units.get_mut(&c.agency) else {
            continue;
        };
        let i = &c.index;
        u.opened += 1;
        match i.outcome.as_deref() {
            Some("penalty") => u.penalties += 1,
            Some("no_penalty") => u.no_penalty += 1,
            _ => {}
        }
        match i.procedure.as_deref() {
            Some("summary") => u.summary += 1,
            Some("general") => u.general += 1,
            _ => {}
        }
        u.fines_yuan += i.total_yuan.unwrap_or(0);
        u.deviations += u64::from(i.deviates);
        let opened_day = c
            .opened_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| roadside_core::day::agency_day(&t.with_timezone(&chrono::Utc)));
        if let (Some(o), Some(d)) = (
            opened_day,
            i.decided_on
                .as_deref()
                .and_then(roadside_core::day::parse_day),
        ) {
            if (d - o).num_days() <= super::cases::DECISION_DAYS {
                u.on_time += 1;
            }
        }
        if i.outcome.is_none()
            && c.status != "closed"
            && opened_day.is_some_and(|o| o < overdue_before)
        {
            u.overdue += 1;
        }
        for item in &i.items {
            *items.entry(item.clone()).or_default() += 1;
        }
        active
            .entry(c.agency.clone())
            .or_default()
            .extend(i.officers.iter().cloned());
    }
    for o in roster.iter().filter(|o| {
        o.role == OfficerRole::Officer
            && o.valid_from <= to
            && o.valid_to >= from
            && o.revoked_on.is_none_or(|r| r > from)
    }) {
        if let Some(u) = units.get_mut(&o.agency) {
            u.officers_on_roster += 1;
            if active
                .get(&o.agency)
                .is_some_and(|s| s.contains(&o.certificate_no))
            {
                u.officers_active += 1;
            }
        }
    }
    let units: Vec<UnitFigures> = units.into_values().collect();
    let mut total = UnitFigures {
        agency: String::new(),
        name: "合计".into(),
        ..UnitFigures::default()
    };
    for u in &units {
        total.opened += u.opened;
        total.penalties += u.penalties;
        total.no_penalty += u.no_penalty;
        total.summary += u.summary;
        total.general += u.general;
        total.fines_yuan += u.fines_yuan;
        total.deviations += u.deviations;
        total.on_time += u.on_time;
        total.overdue += u.overdue;
        total.officers_active += u.officers_active;
        total.officers_on_roster += u.officers_on_roster;
    }
    let mut items: Vec<(String, u64)> = items.into_iter().collect();
    items.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Report {
        title,
        from,
        to,
        due,
        units,
        total,
        items,
    }
}

async fn report(state: &AppState, user: &OfficeUser, q: &ReportQuery) -> Result<Report, PageError> {
    user.require(&[OfficerRole::Supervisor])?;
    let (title, from, to, due) = q.period()?;
    let scope = user.scope();
    let cases = state
        .storage
        .case_stats(
            &scope,
            &super::day_start_utc(from),
            &super::day_start_utc(to + Duration::days(1)),
        )
        .await?;
    let roster = state.storage.officers(&scope).await?;
    Ok(count(title, (from, to, due), user, &cases, &roster))
}

/// The columns of the report's unit table, with each unit's values.
fn columns() -> [&'static str; 14] {
    [
        "单位",
        "立案",
        "行政处罚",
        "不予处罚（免罚）",
        "简易程序",
        "普通程序",
        "罚款（元）",
        "偏离基准",
        "90 日内决定",
        "逾期未决定",
        "办案执法人员",
        "持证执法人员",
        "系统使用率",
        "是否达标（90%）",
    ]
}

fn cells(u: &UnitFigures) -> [String; 14] {
    let usage = u.usage_percent();
    [
        u.name.clone(),
        u.opened.to_string(),
        u.penalties.to_string(),
        u.no_penalty.to_string(),
        u.summary.to_string(),
        u.general.to_string(),
        u.fines_yuan.to_string(),
        u.deviations.to_string(),
        format!("{}/{}", u.on_time, u.decided()),
        u.overdue.to_string(),
        u.officers_active.to_string(),
        u.officers_on_roster.to_string(),
        usage.map_or("—".into(), |p| format!("{p}%")),
        match usage {
            None => "—".into(),
            Some(p) if p >= USAGE_TARGET_PERCENT => "达标".into(),
            Some(_) => "未达标".into(),
        },
    ]
}

/// A bar chart of cases opened and decided per unit, as SVG (drawn here: two series of bars).
fn chart(r: &Report) -> String {
    let units: Vec<&UnitFigures> = r.units.iter().collect();
    let max = units.iter().map(|u| u.opened).max().unwrap_or(0).max(1);
    let (w, h, left, bottom, top) = (760.0_f64, 260.0_f64, 40.0_f64, 70.0_f64, 20.0_f64);
    let band = (w - left) / units.len().max(1) as f64;
    let bar = (band * 0.35).min(36.0);
    let scale = |v: u64| (h - bottom - top) * v as f64 / max as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"各单位立案与决定数\" style=\"max-width:100%;background:#fff\">"
    );
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{w}\" y2=\"{y}\" stroke=\"#999\"/><text x=\"4\" y=\"{t}\" font-size=\"11\">{max}</text>",
        y = h - bottom,
        t = top + 4.0
    ));
    for (i, u) in units.iter().enumerate() {
        let x = left + band * i as f64 + band * 0.1;
        for (j, (v, color)) in [(u.opened, "#0b5cad"), (u.decided(), "#1e6b35")]
            .iter()
            .enumerate()
        {
            let bh = scale(*v);
            svg.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"{color}\"><title>{v}</title></rect>",
                x + j as f64 * (bar + 2.0),
                h - bottom - bh
            ));
        }
        let name: String = u.name.chars().take(6).collect();
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" transform=\"rotate(30 {:.1} {:.1})\">{}</text>",
            x,
            h - bottom + 14.0,
            x,
            h - bottom + 14.0,
            maud::html! { (name) }.into_string()
        ));
    }
    svg.push_str(&format!(
        "<rect x=\"{}\" y=\"4\" width=\"10\" height=\"10\" fill=\"#0b5cad\"/><text x=\"{}\" y=\"13\" font-size=\"11\">立案</text><rect x=\"{}\" y=\"4\" width=\"10\" height=\"10\" fill=\"#1e6b35\"/><text x=\"{}\" y=\"13\" font-size=\"11\">决定</text></svg>",
        w - 120.0,
        w - 106.0,
        w - 70.0,
        w - 56.0
    ));
    svg
}

/// `GET /statistics`.
pub async fn show(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(q): PageQuery<ReportQuery>,
) -> PageResult<Markup> {
    let r = report(&state, &user, &q).await?;
    let qs = q.query_string();
    let sep = if qs.is_empty() { "" } else { "?" };
    Ok(page(
        &user,
        &r.title,
        "/statistics",
        html! {
            form.filters method="get" action="/statistics" {
                label { "月报（YYYY-MM）" input name="month" value=(q.month) placeholder="2026-11" size="8"; }
                button type="submit" { "月报" }
            }
            form.filters method="get" action="/statistics" {
                label { "年报（YYYY）" input name="year" value=(q.year) placeholder="2026" size="6"; }
                button type="submit" { "年报" }
            }
            p { "统计期间 " (r.from) " 至 " (r.to) "（按立案日期），应于 " strong { (r.due) } " 前报送。"
                " 导出：" a href={ "/statistics.csv" (sep) (qs) } { "CSV 格式" } " · " a href={ "/statistics.xlsx" (sep) (qs) } { "Excel 格式" } }
            div.chart { (PreEscaped(chart(&r))) }
            div.table-wrap { table #units {
                thead { tr { @for c in columns() { th { (c) } } } }
                tbody {
                    @for u in &r.units {
                        @let usage = u.usage_percent();
                        tr { @for (i, v) in cells(u).iter().enumerate() {
                            @if i == 13 && usage.is_some_and(|p| p < USAGE_TARGET_PERCENT) { td.bad { (v) } } @else { td { (v) } }
                        } }
                    }
                    tr { @for v in cells(&r.total) { th { (v) } } }
                }
            } }
            p.muted { "系统使用率：单位名册上期间内持有效执法证的执法人员中，期间内在系统中立案或作出决定的人数所占比例；目标 90%。" }
            h2 { "按违法行为" }
            table #items { thead { tr { th { "违法行为编码" } th { "案件数" } } }
                tbody { @for (item, n) in &r.items { tr { td { (item) } td { (n) } } } } }
        },
    ))
}

fn file_name(r: &Report, ext: &str) -> String {
    format!("roadside-statistics-{}-{}.{ext}", r.from, r.to)
}

/// `GET /statistics.csv`: the unit table (UTF-8 with BOM for Excel), then the items.
pub async fn csv(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(q): PageQuery<ReportQuery>,
) -> PageResult {
    let r = report(&state, &user, &q).await?;
    let failed = |e: String| {
        PageError(ApiError::internal(
            "EXPORT_FAILED",
            format!("导出失败：{e}"),
        ))
    };
    let mut w = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(vec![0xEF, 0xBB, 0xBF]);
    w.write_record(columns())
        .map_err(|e| failed(e.to_string()))?;
    for u in r.units.iter().chain(std::iter::once(&r.total)) {
        w.write_record(cells(u))
            .map_err(|e| failed(e.to_string()))?;
    }
    w.write_record(["", ""])
        .map_err(|e| failed(e.to_string()))?;
    w.write_record(["违法行为编码", "案件数"])
        .map_err(|e| failed(e.to_string()))?;
    for (item, n) in &r.items {
        w.write_record([item.as_str(), &n.to_string()])
            .map_err(|e| failed(e.to_string()))?;
    }
    let body = w.into_inner().map_err(|e| failed(e.to_string()))?;
    let disposition = format!("attachment; filename=\"{}\"", file_name(&r, "csv"));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// `GET /statistics.xlsx`: the unit table and the items, one sheet each.
pub async fn xlsx(
    State(state): State<AppState>,
    user: OfficeUser,
    PageQuery(q): PageQuery<ReportQuery>,
) -> PageResult {
    let r = report(&state, &user, &q).await?;
    let failed = |e: rust_xlsxwriter::XlsxError| {
        PageError(ApiError::internal(
            "EXPORT_FAILED",
            format!("导出失败：{e}"),
        ))
    };
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("各单位").map_err(failed)?;
    sheet.write_string(0, 0, &r.title).map_err(failed)?;
    sheet
        .write_string(
            0,
            3,
            format!("{} 至 {}，应于 {} 前报送", r.from, r.to, r.due),
        )
        .map_err(failed)?;
    for (c, h) in columns().iter().enumerate() {
        sheet.write_string(2, c as u16, *h).map_err(failed)?;
    }
    for (i, u) in r.units.iter().chain(std::iter::once(&r.total)).enumerate() {
        let row = 3 + i as u32;
        for (c, v) in cells(u).iter().enumerate() {
            match v.parse::<f64>() {
                Ok(n) if c > 0 => sheet.write_number(row, c as u16, n).map_err(failed)?,
                _ => sheet.write_string(row, c as u16, v).map_err(failed)?,
            };
        }
    }
    let items = book.add_worksheet();
    items.set_name("按违法行为").map_err(failed)?;
    items.write_string(0, 0, "违法行为编码").map_err(failed)?;
    items.write_string(0, 1, "案件数").map_err(failed)?;
    for (i, (item, n)) in r.items.iter().enumerate() {
        items.write_string(1 + i as u32, 0, item).map_err(failed)?;
        items
            .write_number(1 + i as u32, 1, *n as f64)
            .map_err(failed)?;
    }
    let body = book.save_to_buffer().map_err(failed)?;
    let disposition = format!("attachment; filename=\"{}\"", file_name(&r, "xlsx"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_their_due_days() {
        let q = |m: &str, y: &str| ReportQuery {
            month: m.into(),
            year: y.into(),
        };
        let (_, from, to, due) = q("2026-11", "").period().expect("month");
        assert_eq!(
            (from.to_string(), to.to_string(), due.to_string()),
            (
                "2026-11-01".into(),
                "2026-11-30".into(),
                "2026-12-05".into()
            )
        );
        let (_, _, to, due) = q("2026-12", "").period().expect("december");
        assert_eq!(
            (to.to_string(), due.to_string()),
            ("2026-12-31".into(), "2027-01-05".into())
        );
        let (_, _, to, due) = q("2028-02", "").period().expect("leap february");
        assert_eq!(
            (to.to_string(), due.to_string()),
            ("2028-02-29".into(), "2028-03-05".into())
        );
        let (_, from, to, due) = q("", "2026").period().expect("year");
        assert_eq!(
            (from.to_string(), to.to_string(), due.to_string()),
            (
                "2026-01-01".into(),
                "2026-12-31".into(),
                "2027-01-31".into()
            )
        );
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "x"] {
            assert!(q(bad, "").period().is_err(), "{bad}");
        }
        assert!(q("", "1999").period().is_err());
    }
}
