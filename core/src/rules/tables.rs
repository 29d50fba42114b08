//! Reference tables as CSV and Excel (.xlsx). A discretion benchmark has one row per tier, an
//! exemption list one row per condition; the item columns are repeated on every row of an item
//! (the first row of an item gives its values). A table with an `applies_to` column is an
//! exemption list. Columns and cell syntax: `reference/FORMAT.md`, "Tables".
//!
//! Import turns the table into a discretion or exemption TOML file and validates it with the same
//! checks as a hand-written file; every problem is reported as `row R, column C` (R counts the
//! header as row 1).

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
    "tier_hearing_required",
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

/// The columns of an exemption table (one row per condition), in export order.
pub const EXEMPTION_COLUMNS: &[&str] = &[
    "code",
    "violation",
    "applies_to",
    "basis",
    "outcome",
    "documents",
    "valid_from",
    "valid_to",
    "verified",
    "note",
    "condition",
    "check",
];

const EXEMPTION_STR: &[&str] = &[
    "code",
    "violation",
    "basis",
    "valid_from",
    "valid_to",
    "note",
];
const EXEMPTION_LIST: &[&str] = &["applies_to", "documents"];

/// The kind of table a header row describes: an `applies_to` column makes an exemption list.
fn is_exemption_header(header: &[String]) -> bool {
    header.iter().any(|h| h.trim() == "applies_to")
}

/// `应当不予处罚` / `可以不予处罚` (as the lists print them) or the codes of `exemptions/*.toml`.
fn outcome_code(s: &str) -> Option<&'static str> {
    match s.trim() {
        "must_not_penalise" | "应当不予行政处罚" | "应当不予处罚" | "不予行政处罚" | "不予处罚" => {
            Some("must_not_penalise")
        }
        "may_not_penalise" | "可以不予行政处罚" | "可以不予处罚" => {
            Some("may_not_penalise")
        }
        _ => None,
    }
}

/// The rows of a table whose bytes are `bytes`; `file` names it (its extension picks the format:
/// `.xlsx` is Excel, anything else CSV) in messages.
fn read_rows(file: &Path, bytes: &[u8]) -> Result<Vec<Vec<String>>> {
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
        use calamine::{Data, Reader, Xlsx};
        let mut wb = Xlsx::new(std::io::Cursor::new(bytes))
            .map_err(|e: calamine::XlsxError| err(e.to_string()))?;
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
            .from_reader(bytes);
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

/// Reads a CSV/XLSX table and returns the relative path it is installed under
/// (`discretion/<stem>.toml`, or `exemptions/<stem>.toml` for an exemption list), the equivalent
/// TOML file, and the rows of each item; or every problem found with its row and column.
pub fn import_table(file: &Path, stem: &str) -> Result<(String, String, RowMap)> {
    let bytes = std::fs::read(file).map_err(|e| {
        RoadsideError::rules(
            "TABLE_READ",
            format!("无法读取表格 {}：{e}", file.display()),
        )
    })?;
    import_table_bytes(file, &bytes, stem)
}

/// [`import_table`] on a table already read: `bytes` are its content, `file` its name (the
/// extension picks the format, the name is what messages and the TOML's source say). The entry
/// point for tables that do not come from a file (and for the fuzz targets).
pub fn import_table_bytes(
    file: &Path,
    bytes: &[u8],
    stem: &str,
) -> Result<(String, String, RowMap)> {
    let rows = read_rows(file, bytes)?;
    let Some((header, body)) = rows.split_first() else {
        return Err(RoadsideError::invalid_field(
            "row 1",
            "TABLE_EMPTY",
            "表格为空（第 1 行应为列名）",
        ));
    };
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("table");
    if is_exemption_header(header) {
        let relpath = format!("exemptions/{stem}.toml");
        let (text, rowmap) = exemptions_from_rows(name, header, body, &relpath)?;
        Ok((relpath, text, rowmap))
    } else {
        let relpath = format!("discretion/{stem}.toml");
        let (text, rowmap) = discretion_from_rows(name, header, body, &relpath)?;
        Ok((relpath, text, rowmap))
    }
}

/// Maps the header's column names to their positions; unknown and missing columns are issues.
fn header_columns<'a>(
    header: &[String],
    known: &[&'a str],
    required: &[&str],
) -> std::result::Result<BTreeMap<&'a str, usize>, Vec<Issue>> {
    let mut issues = Vec::new();
    let mut col: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, h) in header.iter().enumerate() {
        let h = h.trim();
        if h.is_empty() {
            continue;
        }
        match known.iter().find(|c| **c == h) {
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
    for required in required {
        if !col.contains_key(required) {
            issues.push(Issue::new(
                format!("row 1, column {required}"),
                "TABLE_MISSING_COLUMN",
                format!("缺少列「{required}」"),
            ));
        }
    }
    if issues.is_empty() {
        Ok(col)
    } else {
        Err(issues)
    }
}

/// The trimmed cell of column `c` in row `r` ("" when the column or the cell is absent).
fn cell_of(col: &BTreeMap<&str, usize>, r: &[String], c: &str) -> String {
    col.get(c)
        .and_then(|&i| r.get(i))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A benchmark table (one row per tier) as a discretion TOML file.
fn discretion_from_rows(
    name: &str,
    header: &[String],
    body: &[Vec<String>],
    relpath: &str,
) -> Result<(String, RowMap)> {
    let col = header_columns(
        header,
        COLUMNS,
        &["code", "level", "criteria", "tier_basis"],
    )
    .map_err(RoadsideError::invalid)?;
    let mut issues = Vec::new();
    let cell = |r: &[String], c: &str| cell_of(&col, r, c);
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
        for (c, name) in [
            ("warning", "warning"),
            ("tier_verified", "verified"),
            ("tier_hearing_required", "hearing_required"),
        ] {
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
    let mut rowmap: RowMap = Vec::new();
    let mut arr = Vec::new();
    for key in &order {
        if let Some((mut t, tiers, first, tier_rows)) = items.remove(key) {
            t.insert("tier".into(), Value::Array(tiers));
            arr.push(Value::Table(t));
            rowmap.push((first, tier_rows));
        }
    }
    let text = finish(name, relpath, "discretion", "裁量基准表格导入", "item", arr)?;
    validate_mapped(relpath, &text, &rowmap)?;
    Ok((text, rowmap))
}

/// The TOML file of an imported table: `[meta]` (kind, title from the file's stem, the table's
/// file name as source, today's date in China as version) and the items under `key`.
fn finish(
    name: &str,
    relpath: &str,
    kind: &str,
    title: &str,
    key: &str,
    items: Vec<Value>,
) -> Result<String> {
    let stem = relpath
        .rsplit('/')
        .next()
        .unwrap_or(relpath)
        .trim_end_matches(".toml");
    let mut meta = Table::new();
    meta.insert("kind".into(), Value::String(kind.into()));
    meta.insert("title".into(), Value::String(format!("{title}：{stem}")));
    meta.insert("source".into(), Value::String(name.to_string()));
    meta.insert(
        "version".into(),
        Value::String(
            (chrono::Utc::now() + chrono::Duration::hours(8))
                .date_naive()
                .to_string(),
        ),
    );
    let mut root = Table::new();
    root.insert("meta".into(), Value::Table(meta));
    root.insert(key.into(), Value::Array(items));
    let text = toml::to_string(&root)
        .map_err(|e| RoadsideError::internal("TABLE_SERIALIZE", format!("无法生成 TOML：{e}")))?;
    Ok(format!("# 由表格 {name} 导入生成。格式见 reference/FORMAT.md。\n") + &text)
}

/// Validates the generated file on its own; its issues are reported by row and column.
fn validate_mapped(relpath: &str, text: &str, rowmap: &RowMap) -> Result<()> {
    super::load::parse_file(relpath, text)
        .map(|_| ())
        .map_err(|issues| {
            RoadsideError::invalid(
                issues
                    .into_iter()
                    .map(|i| map_issue(i, relpath, rowmap))
                    .collect(),
            )
        })
}

/// An exemption table (one row per condition) as an exemption TOML file.
fn exemptions_from_rows(
    name: &str,
    header: &[String],
    body: &[Vec<String>],
    relpath: &str,
) -> Result<(String, RowMap)> {
    let col = header_columns(header, EXEMPTION_COLUMNS, &["code", "condition", "check"])
        .map_err(RoadsideError::invalid)?;
    let mut issues = Vec::new();
    let cell = |r: &[String], c: &str| cell_of(&col, r, c);
    // Exemptions keyed by (code, valid_from), in order of first appearance.
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
            for c in EXEMPTION_STR {
                let v = cell(r, c);
                if !v.is_empty() {
                    t.insert(c.to_string(), Value::String(v));
                }
            }
            for c in EXEMPTION_LIST {
                let v = cell(r, c);
                if !v.is_empty() {
                    t.insert(
                        c.to_string(),
                        Value::Array(split_list(&v).into_iter().map(Value::String).collect()),
                    );
                }
            }
            let v = cell(r, "outcome");
            if !v.is_empty() {
                match outcome_code(&v) {
                    Some(o) => {
                        t.insert("outcome".into(), Value::String(o.into()));
                    }
                    None => bad(
                        "outcome",
                        format!("「{v}」应为 应当不予处罚（must_not_penalise）或 可以不予处罚（may_not_penalise）"),
                    ),
                }
            }
            let v = cell(r, "verified");
            if !v.is_empty() {
                match parse_bool(&v) {
                    Some(b) => {
                        t.insert("verified".into(), Value::Boolean(b));
                    }
                    None => bad("verified", format!("「{v}」应为 true/false 或 是/否")),
                }
            }
            order.push(key.clone());
            items.insert(key.clone(), (t, Vec::new(), rowno, Vec::new()));
        }
        let mut condition = Table::new();
        for (c, name) in [("condition", "text"), ("check", "check")] {
            let v = cell(r, c);
            if !v.is_empty() {
                condition.insert(name.into(), Value::String(v));
            }
        }
        if let Some(e) = items.get_mut(&key) {
            e.1.push(Value::Table(condition));
            e.3.push(rowno);
        }
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    let mut rowmap: RowMap = Vec::new();
    let mut arr = Vec::new();
    for key in &order {
        if let Some((mut t, conditions, first, rows)) = items.remove(key) {
            t.insert("condition".into(), Value::Array(conditions));
            arr.push(Value::Table(t));
            rowmap.push((first, rows));
        }
    }
    let text = finish(
        name,
        relpath,
        "exemptions",
        "免罚清单表格导入",
        "exemption",
        arr,
    )?;
    validate_mapped(relpath, &text, &rowmap)?;
    Ok((text, rowmap))
}

/// For each item of an imported table: its first row and the row of each tier (discretion) or
/// condition (exemptions).
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

/// `discretion/x.toml: item[3].tier[1].max_yuan` → `row 12, column max_yuan`;
/// `exemptions/x.toml: exemption[0].condition[2].check` → `row 4, column check`.
fn map_issue(i: Issue, relpath: &str, rowmap: &RowMap) -> Issue {
    let p = i.path.strip_prefix(relpath).unwrap_or(&i.path);
    let p = p.trim_start_matches(':').trim();
    let num = |s: &str, key: &str| -> Option<(usize, String)> {
        let rest = s.strip_prefix(key)?.strip_prefix('[')?;
        let (n, tail) = rest.split_once(']')?;
        Some((n.parse().ok()?, tail.trim_start_matches('.').to_string()))
    };
    let (it, tail, exemption) = match (num(p, "item"), num(p, "exemption")) {
        (Some((it, tail)), _) => (it, tail, false),
        (None, Some((it, tail))) => (it, tail, true),
        (None, None) => return i,
    };
    let Some((first, rows)) = rowmap.get(it) else {
        return i;
    };
    let sub = if exemption { "condition" } else { "tier" };
    let (row, field) = match num(&tail, sub) {
        Some((t, f)) => {
            let field = f.split(['.', '[']).next().unwrap_or("").to_string();
            let col = match (exemption, field.as_str()) {
                (true, "text" | "") => "condition".to_string(),
                (false, "basis") => "tier_basis".to_string(),
                (false, "measures") => "tier_measures".to_string(),
                (false, "verified") => "tier_verified".to_string(),
                (false, "note") => "tier_note".to_string(),
                (false, "") => "level".to_string(),
                (_, other) => other.to_string(),
            };
            (rows.get(t).copied().unwrap_or(*first), col)
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
        t.hearing_required.to_string(),
        t.verified.to_string(),
        t.note.clone(),
    ]
}

fn condition_row(e: &ExemptionItem, c: &ExemptionCondition) -> Vec<String> {
    let outcome = match e.outcome {
        ExemptionOutcome::MustNotPenalise => "must_not_penalise",
        ExemptionOutcome::MayNotPenalise => "may_not_penalise",
    };
    vec![
        e.code.clone(),
        e.violation.clone(),
        e.applies_to.join("；"),
        e.basis.clone(),
        outcome.to_string(),
        e.documents.join("；"),
        crate::day::format_day(e.valid_from),
        e.valid_to.map(crate::day::format_day).unwrap_or_default(),
        e.verified.to_string(),
        e.note.clone(),
        c.text.clone(),
        c.check.clone(),
    ]
}

/// Whether `source_file` names the exemption list (`exemptions` for every exemption file, or one
/// file `exemptions/<name>.toml`).
fn is_exemption_source(source_file: Option<&str>) -> bool {
    source_file.is_some_and(|f| f == "exemptions" || f.starts_with("exemptions/"))
}

/// Exports the reference data as CSV or XLSX, chosen by `format` (`csv` / `xlsx`): the discretion
/// benchmark (one row per tier; every version; only the items of `source_file` when given), or,
/// when `source_file` is `exemptions` or `exemptions/<name>.toml`, the exemption list (one row per
/// condition). Returns the number of rows written.
pub fn export_table(
    book: &RuleBook,
    format: &str,
    out: &Path,
    source_file: Option<&str>,
) -> Result<usize> {
    if is_exemption_source(source_file) {
        let only = source_file.filter(|f| *f != "exemptions");
        let rows: Vec<Vec<String>> = book
            .exemptions()
            .iter()
            .filter(|e| only.is_none_or(|f| e.source_file == f))
            .flat_map(|e| e.conditions.iter().map(move |c| condition_row(e, c)))
            .collect();
        return write_table(format, out, EXEMPTION_COLUMNS, &rows, "免罚清单");
    }
    let rows: Vec<Vec<String>> = book
        .items()
        .iter()
        .filter(|i| source_file.is_none_or(|f| i.source_file == f))
        .flat_map(|i| i.tiers.iter().map(move |t| tier_row(i, t)))
        .collect();
    write_table(format, out, COLUMNS, &rows, "裁量基准")
}

fn write_table(
    format: &str,
    out: &Path,
    columns: &[&str],
    rows: &[Vec<String>],
    sheet: &str,
) -> Result<usize> {
    let err =
        |e: String| RoadsideError::rules("TABLE_WRITE", format!("无法写入 {}：{e}", out.display()));
    match format {
        "csv" => {
            let mut w = csv::Writer::from_path(out).map_err(|e| err(e.to_string()))?;
            w.write_record(columns).map_err(|e| err(e.to_string()))?;
            for r in rows {
                w.write_record(r).map_err(|e| err(e.to_string()))?;
            }
            w.flush().map_err(|e| err(e.to_string()))?;
        }
        "xlsx" => {
            let mut wb = rust_xlsxwriter::Workbook::new();
            let ws = wb.add_worksheet();
            ws.set_name(sheet).map_err(|e| err(e.to_string()))?;
            for (c, h) in columns.iter().enumerate() {
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
    fn a_table_read_from_bytes_imports_as_from_its_file() {
        let b = RuleBook::bundled().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for fmt in ["csv", "xlsx"] {
            let out = dir.path().join(format!("cx_table.{fmt}"));
            export_table(&b, fmt, &out, Some("discretion/chaoxian.toml")).unwrap();
            let bytes = std::fs::read(&out).unwrap();
            let from_file = import_table(&out, "cx_table").unwrap();
            let from_bytes = import_table_bytes(&out, &bytes, "cx_table").unwrap();
            assert_eq!(from_bytes, from_file, "{fmt}");
        }
        // Excel bytes under a .csv name are read as CSV (the name picks the format), and are refused.
        let xlsx = std::fs::read(dir.path().join("cx_table.xlsx")).unwrap();
        assert!(import_table_bytes(Path::new("t.csv"), &xlsx, "t").is_err());
        // A file that cannot be read is TABLE_READ, naming it.
        let missing = dir.path().join("missing.csv");
        let e = import_table(&missing, "t").unwrap_err();
        assert_eq!(e.code(), "TABLE_READ");
        assert!(e.to_string().contains("missing.csv"), "{e}");
    }

    #[test]
    fn csv_and_xlsx_round_trip() {
        let b = RuleBook::bundled().unwrap();
        let dir = tempfile::tempdir().unwrap();
        for fmt in ["csv", "xlsx"] {
            let out = dir.path().join(format!("cx_table.{fmt}"));
            let n = export_table(&b, fmt, &out, Some("discretion/chaoxian.toml")).unwrap();
            assert_eq!(n, 5);
            let (relpath, text, _) = import_table(&out, "cx_table").unwrap();
            assert_eq!(relpath, "discretion/cx_table.toml");
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
    fn exemption_list_round_trips_through_csv_and_xlsx() {
        let b = RuleBook::bundled().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let orig: Vec<&ExemptionItem> = b
            .exemptions()
            .iter()
            .filter(|e| e.source_file == "exemptions/national.toml")
            .collect();
        let conditions: usize = orig.iter().map(|e| e.conditions.len()).sum();
        for fmt in ["csv", "xlsx"] {
            let out = dir.path().join(format!("mf_table.{fmt}"));
            let n = export_table(&b, fmt, &out, Some("exemptions/national.toml")).unwrap();
            assert_eq!(n, conditions, "one row per condition");
            let (relpath, text, rowmap) = import_table(&out, "mf_table").unwrap();
            assert_eq!(relpath, "exemptions/mf_table.toml");
            let (meta, parsed) = super::super::load::parse_file(&relpath, &text).unwrap();
            assert_eq!(meta.kind, "exemptions");
            let super::super::load::Parsed::Exemptions(items) = parsed else {
                panic!("not exemptions")
            };
            assert_eq!(items.len(), orig.len(), "{fmt}");
            for (a, o) in items.iter().zip(&orig) {
                let mut o = (*o).clone();
                o.source_file = relpath.clone();
                assert_eq!(a, &o, "{fmt}");
            }
            // Row 2 is the first condition of the first exemption.
            assert_eq!(rowmap[0].0, 2);
            assert_eq!(rowmap[0].1.len(), orig[0].conditions.len());
        }
        // `exemptions` alone exports every exemption file.
        let out = dir.path().join("all.csv");
        assert_eq!(
            export_table(&b, "csv", &out, Some("exemptions")).unwrap(),
            b.exemptions()
                .iter()
                .map(|e| e.conditions.len())
                .sum::<usize>()
        );
    }

    #[test]
    fn exemption_table_errors_are_reported_by_row_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mf.csv");
        let head = "code,violation,applies_to,basis,outcome,documents,valid_from,verified,note,condition,check\n";
        let row = |outcome: &str, verified: &str, text: &str, check: &str| {
            format!(
                "MF-X-1,将公路作为试车场地,GL-77-2,《中华人民共和国行政处罚法》第三十三条第一款,{outcome},不予行政处罚决定书；教育记录,2022-01-01,{verified},待核实,{text},{check}\n"
            )
        };
        // Cell errors: an outcome the lists do not use, a verified that is not yes/no.
        std::fs::write(
            &p,
            head.to_string()
                + &row("罚款", "true", "初次违法", "first_offence")
                + "MF-X-2,x,GL-77-2,b,may_not_penalise,d,2022-01-01,也许,n,c,no_harm\n",
        )
        .unwrap();
        let e = import_table(&p, "mf").unwrap_err();
        let at = |e: &RoadsideError, path: &str, code: &str| {
            e.issues().iter().any(|i| i.path == path && i.code == code)
        };
        assert!(at(&e, "row 2, column outcome", "TABLE_BAD_CELL"), "{e:?}");
        assert!(at(&e, "row 3, column verified", "TABLE_BAD_CELL"), "{e:?}");
        // Validation errors are mapped to the condition's row: an unknown check on row 3, a
        // missing condition text on row 4.
        std::fs::write(
            &p,
            head.to_string()
                + &row("应当不予处罚", "true", "初次违法", "first_offence")
                + &row("", "", "经指出后立即停止试车", "stoped_when_told")
                + &row("", "", "", "no_accident"),
        )
        .unwrap();
        let e = import_table(&p, "mf").unwrap_err();
        assert!(at(&e, "row 3, column check", "REF_BAD_CHECK"), "{e:?}");
        assert!(
            at(&e, "row 4, column condition", "REF_MISSING_FIELD"),
            "{e:?}"
        );
        // A table without the condition columns is rejected at the header.
        std::fs::write(&p, "code,applies_to\nMF-X-1,GL-77-2\n").unwrap();
        let e = import_table(&p, "mf").unwrap_err();
        assert!(
            at(&e, "row 1, column condition", "TABLE_MISSING_COLUMN"),
            "{e:?}"
        );
        assert!(
            at(&e, "row 1, column check", "TABLE_MISSING_COLUMN"),
            "{e:?}"
        );
        // The corrected table imports, with the Chinese outcome turned into its code.
        std::fs::write(
            &p,
            head.to_string()
                + &row("应当不予处罚", "是", "初次违法", "first_offence")
                + &row("", "", "经指出后立即停止试车", "stopped_when_told")
                + &row("", "", "未造成交通事故", "no_accident"),
        )
        .unwrap();
        let (_, text, rowmap) = import_table(&p, "mf").unwrap();
        assert!(text.contains("outcome = \"must_not_penalise\""), "{text}");
        assert_eq!(rowmap, vec![(2, vec![2, 3, 4])]);
    }

    #[test]
    fn example_provincial_exemption_table_installs_as_an_exemption_file() {
        let b = RuleBook::bundled().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/provincial_exemptions_example.csv");
        let (book, report) = b.import_file(dir.path(), &fixture).unwrap();
        assert_eq!(
            report.relpath,
            "exemptions/provincial_exemptions_example.toml"
        );
        assert_eq!(report.kind, "exemptions");
        assert_eq!(report.exemption_items, 1);
        assert_eq!(report.unverified, vec!["MF-EXAMPLE-65-3".to_string()]);
        assert!(dir
            .path()
            .join("reference/exemptions/provincial_exemptions_example.toml")
            .is_file());
        let e = book
            .exemptions()
            .iter()
            .find(|e| e.code == "MF-EXAMPLE-65-3")
            .unwrap();
        assert_eq!(e.conditions.len(), 3);
        assert_eq!(e.outcome, ExemptionOutcome::MustNotPenalise);
        // A cross-file error (a discretion code no file has) is reported by row and column too,
        // and nothing is installed.
        let bad = dir.path().join("bad_list.csv");
        let text = std::fs::read_to_string(&fixture)
            .unwrap()
            .replacen("DY-65-3", "DY-99-9", 1);
        std::fs::write(&bad, text).unwrap();
        let e = b.import_file(dir.path(), &bad).unwrap_err();
        assert!(
            e.issues()
                .iter()
                .any(|i| i.path == "row 2, column applies_to" && i.code == "REF_UNKNOWN_CODE"),
            "{e:?}"
        );
        assert!(!dir
            .path()
            .join("reference/exemptions/bad_list.toml")
            .exists());
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
        let e = import_table(&p, "t").unwrap_err();
        assert!(
            e.issues()
                .iter()
                .any(|i| i.path == "row 4, column min_yuan"),
            "{e:?}"
        );
        // Fix the bad cell: now the validation error is mapped to its row.
        let text = std::fs::read_to_string(&p).unwrap().replace("abc", "0");
        std::fs::write(&p, text).unwrap();
        let e = import_table(&p, "t").unwrap_err();
        assert!(
            e.issues()
                .iter()
                .any(|i| i.path == "row 3, column max_yuan" && i.code == "REF_MIN_GT_MAX"),
            "{e:?}"
        );
    }
}
