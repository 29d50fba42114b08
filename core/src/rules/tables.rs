//! Benchmark tables as CSV and Excel (.xlsx): one row per tier, the item columns repeated (the
//! first row of an item gives its values). Columns and cell syntax: `reference/FORMAT.md`, "Tables".
//!
//! Import turns the table into a discretion TOML file and validates it with the same checks as a
//! hand-written file; every problem is reported as `row R, column C` (R counts the header as row 1).

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::model::*;
use super::RuleBook;
use crate::error::{ErrorKind, Issue, Result, RoadsideError};

/// The columns, in export order.
pub const COLUMNS: &[&str] = &[
    "code",
    "name",
    "category",
    "violated",
    "violated_verified",
    "basis",
    "legal",
    "legal_min_yuan",
    "legal_max_yuan",
    "measures",
    "offence_when",
    "not_offence",
    "keywords",
    "sum_group",
    "sum_cap_yuan",
    "hearing_required",
    "valid_from",
    "valid_to",
    "verified",
    "note",
    "level",
    "criteria",
    "when",
    "flags",
    "warning",
    "min_yuan",
    "max_yuan",
    "per_unit",
    "times",
    "tier_basis",
    "tier_measures",
    "tier_verified",
    "tier_note",
];

const ITEM_INT: &[&str] = &["legal_min_yuan", "legal_max_yuan", "sum_cap_yuan"];
const ITEM_BOOL: &[&str] = &["hearing_required", "verified", "violated_verified"];
const ITEM_LIST: &[&str] = &["keywords"];
const ITEM_STR: &[&str] = &[
    "code",
    "name",
    "category",
    "violated",
    "basis",
    "legal",
    "not_offence",
    "sum_group",
    "valid_from",
    "valid_to",
    "note",
];

fn read_rows(file: &Path) -> Result<Vec<Vec<String>>> {
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let err = |e: String| {
        RoadsideError::rules(
            "TABLE_READ",
            format!("无法读取表格 {}：{e}", file.display()),
        )
    };
    if ext == "xlsx" {
        use calamine::{open_workbook, Data, Reader, Xlsx};
        let mut wb: Xlsx<_> =
            open_workbook(file).map_err(|e: calamine::XlsxError| err(e.to_string()))?;
        let range = wb
            .worksheet_range_at(0)
            .ok_or_else(|| err("工作簿中没有工作表".into()))?
            .map_err(|e| err(e.to_string()))?;
        Ok(range
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::Empty => String::new(),
                        &Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                            format!("{}", f as i64)
                        }
                        Data::DateTime(d) => d
                            .as_datetime()
                            .map(|dt| dt.date().to_string())
                            .unwrap_or_else(|| c.to_string()),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect())
    } else {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(file)
            .map_err(|e| err(e.to_string()))?;
        let mut out = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| err(e.to_string()))?;
            out.push(
                rec.iter()
                    .map(|s| s.trim_start_matches('\u{feff}').to_string())
                    .collect(),
            );
        }
        Ok(out)
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split([';', '；'])
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// A measures cell: names separated by `；`, or — for measures with conditions, a kind, an amount
/// or their own article — a TOML array as in the reference files
/// (`["责令停止经营", { name = "没收违法所得", when = { illegal_income_yuan = "(0, ∞)" }, … }]`).
fn parse_measures(s: &str) -> Option<Value> {
    if s.starts_with('[') {
        let t: Table = toml::from_str(&format!("m = {s}")).ok()?;
        return t.get("m").cloned();
    }
    Some(Value::Array(
        split_list(s).into_iter().map(Value::String).collect(),
    ))
}

/// The measures as a cell: plain names when that loses nothing, else a TOML array.
fn measures_cell(ms: &[PrescribedMeasure]) -> String {
    let plain = ms.iter().all(|m| {
        m.when.is_empty()
            && m.flags.is_empty()
            && m.amount_fact.is_none()
            && m.basis.is_empty()
            && MeasureKind::from_name(&m.name) == Some(m.kind)
            && !m.name.contains([';', '；'])
    });
    if plain {
        return ms
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join("；");
    }
    let arr: Vec<Value> = ms
        .iter()
        .map(|m| {
            let mut t = Table::new();
            t.insert("name".into(), Value::String(m.name.clone()));
            t.insert("kind".into(), Value::String(m.kind.as_str().into()));
            if !m.when.is_empty() {
                let mut w = Table::new();
                for c in &m.when {
                    w.insert(c.fact.clone(), Value::String(c.interval.to_string()));
                }
                t.insert("when".into(), Value::Table(w));
            }
            if !m.flags.is_empty() {
                t.insert(
                    "flags".into(),
                    Value::Array(m.flags.iter().cloned().map(Value::String).collect()),
                );
            }
            if !m.condition.is_empty() {
                t.insert("condition".into(), Value::String(m.condition.clone()));
            }
            if let Some(f) = &m.amount_fact {
                t.insert("amount_fact".into(), Value::String(f.clone()));
            }
            if !m.basis.is_empty() {
                t.insert("basis".into(), Value::String(m.basis.clone()));
            }
            Value::Table(t)
        })
        .collect();
    Value::Array(arr).to_string()
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "是" | "yes" | "y" => Some(true),
        "false" | "0" | "否" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// `over_kg/1000kg*500 cap 30000`.
/// Parses one formula cell (`when`, `per_unit`, `times`) into its TOML table.
type FormulaParser = fn(&str) -> Option<Table>;

fn parse_per_unit(s: &str) -> Option<Table> {
    let (fact, rest) = s.split_once('/')?;
    let (size_unit, rest) = rest.split_once('*')?;
    let (yuan, cap) = match rest.split_once("cap") {
        Some((y, c)) => (y.trim(), Some(c.trim())),
        None => (rest.trim(), None),
    };
    let su = size_unit.trim();
    let split = su
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(su.len());
    let size: f64 = su[..split].parse().ok()?;
    let mut t = Table::new();
    t.insert("fact".into(), Value::String(fact.trim().into()));
    t.insert("size".into(), Value::Float(size));
    t.insert("unit".into(), Value::String(su[split..].trim().into()));
    t.insert("yuan".into(), Value::Integer(yuan.parse().ok()?));
    if let Some(c) = cap {
        t.insert("cap_yuan".into(), Value::Integer(c.parse().ok()?));
    }
    Some(t)
}

/// `illegal_income_yuan*1..5` (optional ` cap N`).
fn parse_times(s: &str) -> Option<Table> {
    let (fact, rest) = s.split_once('*')?;
    let (range, cap) = match rest.split_once("cap") {
        Some((r, c)) => (r.trim(), Some(c.trim())),
        None => (rest.trim(), None),
    };
    let (a, b) = range.split_once("..")?;
    let mut t = Table::new();
    t.insert("fact".into(), Value::String(fact.trim().into()));
    t.insert("min".into(), Value::Integer(a.trim().parse().ok()?));
    t.insert("max".into(), Value::Integer(b.trim().parse().ok()?));
    if let Some(c) = cap {
        t.insert("cap_yuan".into(), Value::Integer(c.parse().ok()?));
    }
    Some(t)
}

/// `over_kg = "(1000, ∞)"; area_m2=[0,2)`.
fn parse_when(s: &str) -> Option<Table> {
    let mut t = Table::new();
    for part in s
        .split([';', '；'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (k, v) = part.split_once('=')?;
        t.insert(
            k.trim().into(),
            Value::String(v.trim().trim_matches('"').to_string()),
        );
    }
    Some(t)
}

/// An item being assembled from rows: its fields, its tiers, its first row and its tiers' rows.
type PendingItem = (Table, Vec<Value>, usize, Vec<usize>);

/// Reads a CSV/XLSX benchmark table and returns the equivalent discretion TOML file, or every
/// problem found with its row and column.
pub fn import_table(file: &Path, relpath: &str) -> Result<(String, RowMap)> {
    let rows = read_rows(file)?;
    let Some((header, body)) = rows.split_first() else {
        return Err(RoadsideError::invalid_field(
            "row 1",
            "TABLE_EMPTY",
            "表格为空（第 1 行应为列名）",
        ));
    };
    let mut issues = Vec::new();
    let mut col: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim();
        if h.is_empty() {
            continue;
        }
        match COLUMNS.iter().find(|c| **c == h) {
            Some(c) => {
                col.insert(c, i);
            }
            None => issues.push(Issue::new(
                format!("row 1, column {h}"),
                "TABLE_UNKNOWN_COLUMN",
                format!("未知的列「{h}」"),
            )),
        }
    }
    for required in ["code", "level", "criteria", "tier_basis"] {
        if !col.contains_key(required) {
            issues.push(Issue::new(
                format!("row 1, column {required}"),
                "TABLE_MISSING_COLUMN",
                format!("缺少列「{required}」"),
            ));
        }
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    let cell = |r: &[String], c: &str| -> String {
        col.get(c)
            .and_then(|&i| r.get(i))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    // Items keyed by (code, valid_from), in order of first appearance.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut items: BTreeMap<(String, String), PendingItem> = BTreeMap::new();
    for (k, r) in body.iter().enumerate() {
        let rowno = k + 2;
        if r.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let key = (cell(r, "code"), cell(r, "valid_from"));
        let mut bad = |c: &str, msg: String| {
            issues.push(Issue::new(
                format!("row {rowno}, column {c}"),
                "TABLE_BAD_CELL",
                msg,
            ))
        };
        if !items.contains_key(&key) {
            let mut t = Table::new();
            for c in ITEM_STR {
                let v = cell(r, c);
                if !v.is_empty() {
                    t.insert(c.to_string(), Value::String(v));
                }
            }
            for c in ITEM_INT {
                let v = cell(r, c);
                if !v.is_empty() {
                    match v.parse::<i64>() {
                        Ok(n) => {
                            t.insert(c.to_string(), Value::Integer(n));
                        }
                        Err(_) => bad(c, format!("「{v}」不是整数（元）")),
                    }
                }
            }
            for c in ITEM_BOOL {
                let v = cell(r, c);
                if !v.is_empty() {
                    match parse_bool(&v) {
                        Some(b) => {
                            t.insert(c.to_string(), Value::Boolean(b));
                        }
                        None => bad(c, format!("「{v}」应为 true/false 或 是/否")),
                    }
                }
            }
            for c in ITEM_LIST {
                let v = cell(r, c);
                if !v.is_empty() {
                    t.insert(
                        c.to_string(),
                        Value::Array(split_list(&v).into_iter().map(Value::String).collect()),
                    );
                }
            }
            let v = cell(r, "measures");
            if !v.is_empty() {
                match parse_measures(&v) {
                    Some(a) => {
                        t.insert("measures".into(), a);
                    }
                    None => bad(
                        "measures",
                        format!("「{v}」应为以；分隔的措施名称，或 TOML 数组（带条件的措施）"),
                    ),
                }
            }
            let v = cell(r, "offence_when");
            if !v.is_empty() {
                match parse_when(&v) {
                    Some(w) => {
                        t.insert("offence_when".into(), Value::Table(w));
                    }
                    None => bad("offence_when", format!("「{v}」应写作 size_over=[1,∞)")),
                }
            }
            order.push(key.clone());
            items.insert(key.clone(), (t, Vec::new(), rowno, Vec::new()));
        }
        let mut tier = Table::new();
        for (c, name) in [
            ("level", "level"),
            ("criteria", "criteria"),
            ("tier_basis", "basis"),
            ("tier_note", "note"),
        ] {
            let v = cell(r, c);
            if !v.is_empty() {
                tier.insert(name.into(), Value::String(v));
            }
        }
        for (c, name) in [("warning", "warning"), ("tier_verified", "verified")] {
            let v = cell(r, c);
            if !v.is_empty() {
                match parse_bool(&v) {
                    Some(b) => {
                        tier.insert(name.into(), Value::Boolean(b));
                    }
                    None => bad(c, format!("「{v}」应为 true/false 或 是/否")),
                }
            }
        }
        for c in ["min_yuan", "max_yuan"] {
            let v = cell(r, c);
            if !v.is_empty() {
                match v.parse::<i64>() {
                    Ok(n) => {
                        tier.insert(c.into(), Value::Integer(n));
                    }
                    Err(_) => bad(c, format!("「{v}」不是整数（元）")),
                }
            }
        }
        let v = cell(r, "flags");
        if !v.is_empty() {
            tier.insert(
                "flags".into(),
                Value::Array(split_list(&v).into_iter().map(Value::String).collect()),
            );
        }
        let v = cell(r, "tier_measures");
        if !v.is_empty() {
            match parse_measures(&v) {
                Some(a) => {
                    tier.insert("measures".into(), a);
                }
                None => bad(
                    "tier_measures",
                    format!("「{v}」应为以；分隔的措施名称，或 TOML 数组（带条件的措施）"),
                ),
            }
        }
        let formulas: [(&str, FormulaParser, &str); 3] = [
            ("when", parse_when, "over_kg=(1000,∞); area_m2=[0,2)"),
            ("per_unit", parse_per_unit, "over_kg/1000kg*500 cap 30000"),
            ("times", parse_times, "illegal_income_yuan*1..5"),
        ];
        for (c, parse, example) in formulas {
            let v = cell(r, c);
            if !v.is_empty() {
                match parse(&v) {
                    Some(t) => {
                        tier.insert(c.into(), Value::Table(t));
                    }
                    None => bad(c, format!("「{v}」格式不正确，应写作 {example}")),
                }
            }
        }
        if let Some(e) = items.get_mut(&key) {
            e.1.push(Value::Table(tier));
            e.3.push(rowno);
        }
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    let stem = relpath
        .rsplit('/')
        .next()
        .unwrap_or(relpath)
        .trim_end_matches(".toml");
    let mut meta = Table::new();
    meta.insert("kind".into(), Value::String("discretion".into()));
    meta.insert(
        "title".into(),
        Value::String(format!("裁量基准表格导入：{stem}")),
    );
    meta.insert(
        "source".into(),
        Value::String(
            file.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("table")
                .to_string(),
        ),
    );
    meta.insert(
        "version".into(),
        Value::String(
            (chrono::Utc::now() + chrono::Duration::hours(8))
                .date_naive()
                .to_string(),
        ),
    );
    let mut rowmap: RowMap = Vec::new();
    let mut arr = Vec::new();
    for key in &order {
        if let Some((mut t, tiers, first, tier_rows)) = items.remove(key) {
            t.insert("tier".into(), Value::Array(tiers));
            arr.push(Value::Table(t));
            rowmap.push((first, tier_rows));
        }
    }
    let mut root = Table::new();
    root.insert("meta".into(), Value::Table(meta));
    root.insert("item".into(), Value::Array(arr));
    let text = toml::to_string(&root)
        .map_err(|e| RoadsideError::internal("TABLE_SERIALIZE", format!("无法生成 TOML：{e}")))?;
    let header = format!(
        "# 由表格 {} 导入生成。格式见 reference/FORMAT.md。\n",
        file.file_name().and_then(|n| n.to_str()).unwrap_or("table")
    );
    let text = header + &text;
    if let Err(issues) = super::load::parse_file(relpath, &text) {
        return Err(RoadsideError::invalid(
            issues
                .into_iter()
                .map(|i| map_issue(i, relpath, &rowmap))
                .collect(),
        ));
    }
    Ok((text, rowmap))
}

/// For each item of an imported table: its first row and the row of each tier.
pub type RowMap = Vec<(usize, Vec<usize>)>;

/// Maps the issues of an error that concern the table's generated file to rows and columns.
pub fn map_error(e: RoadsideError, relpath: &str, rowmap: &RowMap) -> RoadsideError {
    match e.kind() {
        ErrorKind::Invalid => RoadsideError::invalid(
            e.into_issues()
                .into_iter()
                .map(|i| {
                    if i.path.starts_with(relpath) {
                        map_issue(i, relpath, rowmap)
                    } else {
                        i
                    }
                })
                .collect(),
        ),
        _ => e,
    }
}

/// `discretion/x.toml: item[3].tier[1].max_yuan` → `row 12, column max_yuan`.
fn map_issue(i: Issue, relpath: &str, rowmap: &RowMap) -> Issue {
    let p = i.path.strip_prefix(relpath).unwrap_or(&i.path);
    let p = p.trim_start_matches(':').trim();
    let num = |s: &str, key: &str| -> Option<(usize, String)> {
        let rest = s.strip_prefix(key)?.strip_prefix('[')?;
        let (n, tail) = rest.split_once(']')?;
        Some((n.parse().ok()?, tail.trim_start_matches('.').to_string()))
    };
    let Some((it, tail)) = num(p, "item") else {
        return i;
    };
    let Some((first, tiers)) = rowmap.get(it) else {
        return i;
    };
    let (row, field) = match num(&tail, "tier") {
        Some((t, f)) => {
            let field = f.split(['.', '[']).next().unwrap_or("").to_string();
            let col = match field.as_str() {
                "basis" => "tier_basis".to_string(),
                "measures" => "tier_measures".to_string(),
                "verified" => "tier_verified".to_string(),
                "note" => "tier_note".to_string(),
                "" => "level".to_string(),
                other => other.to_string(),
            };
            (tiers.get(t).copied().unwrap_or(*first), col)
        }
        None => (
            *first,
            tail.split(['.', '[']).next().unwrap_or("").to_string(),
        ),
    };
    Issue::new(format!("row {row}, column {field}"), &i.code, i.message)
}

fn tier_row(item: &DiscretionItem, t: &Tier) -> Vec<String> {
    let list = |v: &[String]| v.join("；");
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let (min, max, per_unit, times) = match &t.fine {
        FineRule::None => (String::new(), String::new(), String::new(), String::new()),
        FineRule::Range { min_yuan, max_yuan } => (
            min_yuan.to_string(),
            max_yuan.to_string(),
            String::new(),
            String::new(),
        ),
        FineRule::PerUnit {
            fact,
            size,
            unit,
            yuan,
            cap_yuan,
        } => {
            let factor = fact_unit(fact)
                .and_then(|u| unit_factor(u, unit))
                .unwrap_or(1.0);
            (
                String::new(),
                String::new(),
                format!("{fact}/{}{unit}*{yuan} cap {cap_yuan}", size / factor),
                String::new(),
            )
        }
        FineRule::Times {
            fact,
            min,
            max,
            cap_yuan,
        } => (
            String::new(),
            String::new(),
            String::new(),
            format!(
                "{fact}*{min}..{max}{}",
                cap_yuan.map(|c| format!(" cap {c}")).unwrap_or_default()
            ),
        ),
    };
    let when = t
        .when
        .iter()
        .map(|c| format!("{}={}", c.fact, c.interval))
        .collect::<Vec<_>>()
        .join("; ");
    vec![
        item.code.clone(),
        item.name.clone(),
        item.category.clone(),
        item.violated.clone(),
        item.violated_verified.to_string(),
        item.basis.clone(),
        item.legal.clone(),
        opt(item.legal_min_yuan),
        opt(item.legal_max_yuan),
        measures_cell(&item.measures),
        item.offence_when
            .iter()
            .map(|c| format!("{}={}", c.fact, c.interval))
            .collect::<Vec<_>>()
            .join("; "),
        item.not_offence.clone(),
        list(&item.keywords),
        item.sum_group.clone().unwrap_or_default(),
        opt(item.sum_cap_yuan),
        item.hearing_required.to_string(),
        crate::day::format_day(item.valid_from),
        item.valid_to
            .map(crate::day::format_day)
            .unwrap_or_default(),
        item.verified.to_string(),
        item.note.clone(),
        t.level.as_str().to_string(),
        t.criteria.clone(),
        when,
        list(&t.flags),
        t.warning.to_string(),
        min,
        max,
        per_unit,
        times,
        t.basis.clone(),
        measures_cell(&t.measures),
        t.verified.to_string(),
        t.note.clone(),
    ]
}

/// Exports the benchmark (every version; only items of `source_file` when given) as CSV or XLSX,
/// chosen by `format` (`csv` / `xlsx`). Returns the number of rows written (tiers).
pub fn export_table(
    book: &RuleBook,
    format: &str,
    out: &Path,
    source_file: Option<&str>,
) -> Result<usize> {
    let rows: Vec<Vec<String>> = book
        .items()
        .iter()
        .filter(|i| source_file.is_none_or(|f| i.source_file == f))
        .flat_map(|i| i.tiers.iter().map(move |t| tier_row(i, t)))
        .collect();
    let err =
        |e: String| RoadsideError::rules("TABLE_WRITE", format!("无法写入 {}：{e}", out.display()));
    match format {
        "csv" => {
            let mut w = csv::Writer::from_path(out).map_err(|e| err(e.to_string()))?;
            w.write_record(COLUMNS).map_err(|e| err(e.to_string()))?;
            for r in &rows {
                w.write_record(r).map_err(|e| err(e.to_string()))?;
            }
            w.flush().map_err(|e| err(e.to_string()))?;
        }
        "xlsx" => {
            let mut wb = rust_xlsxwriter::Workbook::new();
            let ws = wb.add_worksheet();
            ws.set_name("裁量基准").map_err(|e| err(e.to_string()))?;
            for (c, h) in COLUMNS.iter().enumerate() {
                ws.write_string(0, c as u16, *h)
                    .map_err(|e| err(e.to_string()))?;
            }
            for (r, row) in rows.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    ws.write_string((r + 1) as u32, c as u16, v)
                        .map_err(|e| err(e.to_string()))?;
                }
            }
            wb.save(out).map_err(|e| err(e.to_string()))?;
        }
        other => {
            return Err(RoadsideError::invalid_field(
                "format",
                "TABLE_FORMAT",
                format!("不支持的表格格式「{other}」，应为 csv 或 xlsx"),
            ))
        }
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_xlsx_round_trip() {
        let b = RuleBook::bundled().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for fmt in ["csv", "xlsx"] {
            let out = dir.path().join(format!("cx_table.{fmt}"));
            let n = export_table(&b, fmt, &out, Some("discretion/chaoxian.toml")).unwrap();
            assert_eq!(n, 5);
            let (text, _) = import_table(&out, "discretion/cx_table.toml").unwrap();
            let (_, parsed) =
                super::super::load::parse_file("discretion/cx_table.toml", &text).unwrap();
            let super::super::load::Parsed::Discretion(items) = parsed else {
                panic!("not discretion")
            };
            let orig: Vec<_> = b
                .items()
                .iter()
                .filter(|i| i.source_file == "discretion/chaoxian.toml")
                .collect();
            assert_eq!(items.len(), orig.len());
            for (a, o) in items.iter().zip(orig) {
                assert_eq!(a.tiers, o.tiers, "{fmt}");
                assert_eq!(a.legal, o.legal);
            }
        }
    }

    #[test]
    fn bad_cells_are_reported_by_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(
            &p,
            "code,name,category,violated,basis,legal,valid_from,verified,level,criteria,min_yuan,max_yuan,tier_basis\n\
             GL-X-1,擅自挖掘公路,公路路政,《公路法》第四十四条,《公路法》第七十六条,3万元以下,1999-01-01,true,轻微,不足2平方米,0,3000,《公路法》第七十六条\n\
             GL-X-1,擅自挖掘公路,公路路政,《公路法》第四十四条,《公路法》第七十六条,3万元以下,1999-01-01,true,一般,2至5平方米,5000,3000,《公路法》第七十六条\n\
             GL-X-2,x,公路路政,a,b,c,1999-01-01,true,一般,d,abc,3000,e\n",
        )
        .unwrap();
        let e = import_table(&p, "discretion/t.toml").unwrap_err();
        assert!(
            e.issues()
                .iter()
                .any(|i| i.path == "row 4, column min_yuan"),
            "{e:?}"
        );
        // Fix the bad cell: now the validation error is mapped to its row.
        let text = std::fs::read_to_string(&p).unwrap().replace("abc", "0");
        std::fs::write(&p, text).unwrap();
        let e = import_table(&p, "discretion/t.toml").unwrap_err();
        assert!(
            e.issues()
                .iter()
                .any(|i| i.path == "row 3, column max_yuan" && i.code == "REF_MIN_GT_MAX"),
            "{e:?}"
        );
    }
}
