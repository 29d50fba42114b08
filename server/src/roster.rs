//! The officer roster imported from an Excel workbook (XLSX), as the back office's administrator
//! uploads it: [`parse_roster_xlsx`] reads the first worksheet into [`OfficerCertificate`]s, or
//! lists every problem at once. It is all or nothing: a file with any bad row gives no officers.
//!
//! The first row with content is the header row; columns are found by their Chinese header, in any
//! order ([`COLUMNS`]; `序号` and `备注` columns are allowed and not read). Below it, one officer per
//! row; empty rows are skipped. Dates are Excel date cells or `YYYY-MM-DD` text; the role is its
//! Chinese name ([`ROLE_NAMES`]). Text is read trimmed. Each problem names the row as Excel shows
//! it, the column's header, a stable code ([`code`]) and a Chinese message.
//!
//! The workbook is outside input: a package that unpacks to more than [`MAX_UNPACKED_BYTES`] is
//! refused before it is read; it is read cell by cell (never as a dense range, whose size a forged
//! cell reference could make huge); cells past [`MAX_ROWS`] rows or [`MAX_COLUMNS`] columns refuse
//! the file; and a panic inside the XLSX reader (calamine panics on some malformed files) is caught
//! and answered as an unreadable file.

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use calamine::{DataRef, Reader, Xlsx};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use roadside_core::day::{format_day, parse_day};
use roadside_core::model::{OfficerCertificate, OfficerRole};
use serde::Serialize;

use crate::error::ApiError;

/// The stable codes of roster import problems.
pub mod code {
    /// The file is not an XLSX workbook (not a ZIP package, an old `.xls`, another ZIP document).
    pub const NOT_XLSX: &str = "ROSTER_NOT_XLSX";
    /// The workbook cannot be read (damaged, no worksheet, the reader failed).
    pub const UNREADABLE: &str = "ROSTER_UNREADABLE";
    /// The worksheet has cells beyond [`super::MAX_ROWS`] rows or [`super::MAX_COLUMNS`] columns,
    /// or the package unpacks to more than [`super::MAX_UNPACKED_BYTES`].
    pub const TOO_LARGE: &str = "ROSTER_TOO_LARGE";
    /// The first worksheet is empty (no header row).
    pub const EMPTY: &str = "ROSTER_EMPTY";
    /// A required column's header is not in the header row.
    pub const HEADER_MISSING: &str = "ROSTER_HEADER_MISSING";
    /// A header appears twice.
    pub const HEADER_DUPLICATE: &str = "ROSTER_HEADER_DUPLICATE";
    /// A header that is none of the roster's columns.
    pub const HEADER_UNKNOWN: &str = "ROSTER_HEADER_UNKNOWN";
    /// The header row has no officer rows below it.
    pub const NO_OFFICERS: &str = "ROSTER_NO_OFFICERS";
    /// A required cell is empty.
    pub const VALUE_MISSING: &str = "ROSTER_VALUE_MISSING";
    /// A text column holds a number that is not a whole number, or one too long to be exact, a
    /// date or a truth value.
    pub const NOT_TEXT: &str = "ROSTER_NOT_TEXT";
    /// A cell holds a formula error (`#N/A`, `#REF!`, …).
    pub const CELL_ERROR: &str = "ROSTER_CELL_ERROR";
    /// A certificate number or agency code with spaces or control characters, or text too long.
    pub const TEXT_INVALID: &str = "ROSTER_TEXT_INVALID";
    /// A date column holds no date: text not `YYYY-MM-DD`, a plain number, a time of day.
    pub const DATE_INVALID: &str = "ROSTER_DATE_INVALID";
    /// The role is none of [`super::ROLE_NAMES`].
    pub const ROLE_UNKNOWN: &str = "ROSTER_ROLE_UNKNOWN";
    /// The certificate number is on an earlier row of the file too.
    pub const DUPLICATE_CERTIFICATE: &str = "ROSTER_DUPLICATE_CERTIFICATE";
    /// The last day of validity is before the first.
    pub const VALIDITY_INVERTED: &str = "ROSTER_VALIDITY_INVERTED";
    /// [`super::RosterErrors`] as one HTTP answer: rows with problems, nothing imported.
    pub const ROWS_INVALID: &str = "ROSTER_ROWS_INVALID";
}

/// The most rows (as Excel numbers them) a roster sheet may use.
pub const MAX_ROWS: u32 = 20_000;
/// The most columns a roster sheet may use.
pub const MAX_COLUMNS: u32 = 100;
/// The most bytes a roster workbook may unpack to: 20,000 rows of a roster are a few MiB of XML.
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;
/// The row problems an HTTP answer's message lists (all of them stay in [`RosterErrors::Rows`]).
pub const MAX_LISTED: usize = 20;
/// The longest certificate number, agency code or name, in characters.
pub const MAX_TEXT_CHARS: usize = 64;

/// A roster column: which field it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    CertificateNo,
    Name,
    Agency,
    Role,
    ValidFrom,
    ValidTo,
    RevokedOn,
}

/// The roster's columns: the field, its header and whether the header row must have it. Only
/// `注销日期` may be left out (no certificate in the file is revoked).
pub const COLUMNS: [(Field, &str, bool); 7] = [
    (Field::CertificateNo, "执法证号", true),
    (Field::Name, "姓名", true),
    (Field::Agency, "所属机构代码", true),
    (Field::Role, "角色", true),
    (Field::ValidFrom, "有效期起", true),
    (Field::ValidTo, "有效期止", true),
    (Field::RevokedOn, "注销日期", false),
];

/// Headers of columns a roster sheet may have and that are not read.
pub const IGNORED_COLUMNS: [&str; 2] = ["序号", "备注"];

/// The roles by their Chinese names, as the roster writes them.
pub const ROLE_NAMES: [(OfficerRole, &str); 5] = [
    (OfficerRole::Officer, "执法人员"),
    (OfficerRole::Assistant, "辅助人员"),
    (OfficerRole::LegalReviewer, "法制审核"),
    (OfficerRole::Supervisor, "执法监督"),
    (OfficerRole::Admin, "系统管理员"),
];

/// The Chinese name of a role.
pub fn role_name(role: OfficerRole) -> &'static str {
    ROLE_NAMES
        .iter()
        .find(|(r, _)| *r == role)
        .map_or("", |(_, name)| name)
}

/// The role a roster cell names: a name of [`ROLE_NAMES`], or `协助人员` for 辅助人员.
pub fn parse_role(s: &str) -> Option<OfficerRole> {
    let s = s.trim();
    if s == "协助人员" {
        return Some(OfficerRole::Assistant);
    }
    ROLE_NAMES.iter().find(|(_, n)| *n == s).map(|(r, _)| *r)
}

fn header_of(field: Field) -> &'static str {
    COLUMNS
        .iter()
        .find(|(f, _, _)| *f == field)
        .map_or("", |(_, h, _)| h)
}

/// A problem with the file as a whole (its rows were not read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub code: &'static str,
    pub message: String,
}

/// A problem with one cell of an officer row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The row's number as Excel shows it (the header row is usually 1).
    pub row: u32,
    /// The column's header.
    pub column: &'static str,
    pub code: &'static str,
    /// Chinese, naming the row and the column.
    pub message: String,
}

/// Why a roster file gives no officers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RosterErrors {
    /// The file cannot be read as a roster (not XLSX, unreadable, too large, header row wrong):
    /// every such problem found, its rows not looked at.
    #[error("{}", summary(.0.iter().map(|e| e.message.as_str())))]
    File(Vec<FileError>),
    /// The rows with problems, every one, in sheet order: none of the file is imported.
    #[error("{}", summary(.0.iter().map(|e| e.message.as_str())))]
    Rows(Vec<RowError>),
}

fn summary<'a>(messages: impl Iterator<Item = &'a str>) -> String {
    messages.collect::<Vec<_>>().join("；")
}

impl RosterErrors {
    /// The stable code of the first problem.
    pub fn code(&self) -> &'static str {
        match self {
            RosterErrors::File(e) => e.first().map_or(code::UNREADABLE, |e| e.code),
            RosterErrors::Rows(e) => e.first().map_or(code::ROWS_INVALID, |e| e.code),
        }
    }
}

/// As one HTTP answer (400): a file problem with its own code; bad rows as `ROSTER_ROWS_INVALID`
/// listing each row's problem.
impl From<RosterErrors> for ApiError {
    fn from(e: RosterErrors) -> Self {
        match &e {
            RosterErrors::File(list) => {
                ApiError::bad_request(e.code(), summary(list.iter().map(|p| p.message.as_str())))
            }
            RosterErrors::Rows(list) => {
                let shown = summary(list.iter().take(MAX_LISTED).map(|p| p.message.as_str()));
                let more = if list.len() > MAX_LISTED {
                    "；……"
                } else {
                    ""
                };
                ApiError::bad_request(
                    code::ROWS_INVALID,
                    format!(
                        "名册中有 {} 处错误，未导入任何人员：{shown}{more}",
                        list.len()
                    ),
                )
            }
        }
    }
}

fn file_error(code: &'static str, message: impl Into<String>) -> RosterErrors {
    RosterErrors::File(vec![FileError {
        code,
        message: message.into(),
    }])
}

/// A cell's value, owned, as the roster reads it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An Excel date cell (`None` when its serial is no date).
    Date(Option<NaiveDateTime>),
    /// A date cell stored as ISO 8601 text.
    IsoDate(String),
    /// A duration cell.
    Duration,
    /// A formula error, as Excel shows it.
    Error(String),
}

impl Value {
    fn from_cell(cell: &DataRef<'_>) -> Option<Value> {
        Some(match cell {
            DataRef::Empty => return None,
            DataRef::String(s) => Value::Text(s.clone()),
            DataRef::SharedString(s) => Value::Text((*s).to_string()),
            DataRef::Int(i) => Value::Int(*i),
            DataRef::Float(f) => Value::Float(*f),
            DataRef::Bool(b) => Value::Bool(*b),
            DataRef::DateTime(d) if d.is_duration() => Value::Duration,
            DataRef::DateTime(d) => Value::Date(d.as_datetime()),
            DataRef::DateTimeIso(s) => Value::IsoDate(s.clone()),
            DataRef::DurationIso(_) => Value::Duration,
            DataRef::Error(e) => Value::Error(e.to_string()),
        })
    }

    /// Whether the cell shows nothing (empty text counts as empty).
    fn is_blank(&self) -> bool {
        matches!(self, Value::Text(s) if s.trim().is_empty())
    }
}

/// The sheet's non-empty cells: row → column → value (0-based, as in the file).
type Cells = BTreeMap<u32, BTreeMap<u32, Value>>;

/// The roster in an XLSX workbook's first worksheet; see the module's documentation.
pub fn parse_roster_xlsx(bytes: &[u8]) -> Result<Vec<OfficerCertificate>, RosterErrors> {
    check_package(bytes)?;
    let cells = match catch_unwind(AssertUnwindSafe(|| read_cells(bytes))) {
        Ok(read) => read?,
        Err(_) => {
            return Err(file_error(
                code::UNREADABLE,
                "文件无法读取：工作簿已损坏或格式异常",
            ))
        }
    };
    let mut rows = cells
        .into_iter()
        .filter(|(_, r)| r.values().any(|v| !v.is_blank()));
    let Some((header_row, header)) = rows.next() else {
        return Err(file_error(
            code::EMPTY,
            "第一张工作表是空的：第一行应为列名（执法证号、姓名、所属机构代码、角色、有效期起、有效期止）",
        ));
    };
    let columns = read_header(header_row, &header)?;
    let mut officers = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, u32> = HashMap::new();
    let mut any = false;
    for (index, row) in rows {
        any = true;
        let number = index + 1;
        let before = errors.len();
        let (certificate_no, officer) = read_row(number, &row, &columns, &mut errors);
        if let Some(no) = certificate_no {
            match seen.get(&no) {
                Some(first) => errors.push(RowError {
                    row: number,
                    column: header_of(Field::CertificateNo),
                    code: code::DUPLICATE_CERTIFICATE,
                    message: format!("第 {number} 行「执法证号」{no} 与第 {first} 行重复"),
                }),
                None => {
                    seen.insert(no, number);
                }
            }
        }
        if let (Some(officer), true) = (officer, errors.len() == before) {
            officers.push(officer);
        }
    }
    if !any {
        return Err(file_error(
            code::NO_OFFICERS,
            format!("第 {} 行是列名，其下没有人员", header_row + 1),
        ));
    }
    if errors.is_empty() {
        Ok(officers)
    } else {
        Err(RosterErrors::Rows(errors))
    }
}

/// An XLSX workbook is a ZIP package; an old Excel file (`.xls`, an OLE compound file) and
/// anything else are refused before the reader sees them.
fn check_package(bytes: &[u8]) -> Result<(), RosterErrors> {
    const ZIP: &[u8] = b"PK\x03\x04";
    const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    if bytes.starts_with(ZIP) {
        return Ok(());
    }
    let message = if bytes.starts_with(OLE) {
        "这是旧版 Excel 文件（.xls），请在 Excel 中另存为 .xlsx 后再导入"
    } else if bytes.is_empty() {
        "文件是空的，应为 Excel 工作簿（.xlsx）"
    } else {
        "文件不是 Excel 工作簿（.xlsx）"
    };
    Err(file_error(code::NOT_XLSX, message))
}

/// Every part of the package unpacked (and thrown away) up to [`MAX_UNPACKED_BYTES`] in all, so
/// that a small file that unpacks to gigabytes (a ZIP bomb) is refused before the XLSX reader
/// holds any of it in memory. What a part says its size is is not trusted: the bytes are counted.
fn check_unpacked_size(bytes: &[u8]) -> Result<(), RosterErrors> {
    use std::io::Read;
    let damaged = |e: &dyn std::fmt::Display| {
        file_error(
            code::UNREADABLE,
            format!("文件已损坏，无法作为 Excel 工作簿读取：{e}"),
        )
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| damaged(&e))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let part = archive.by_index(i).map_err(|e| damaged(&e))?;
        let left = MAX_UNPACKED_BYTES - total;
        let read = std::io::copy(&mut part.take(left + 1), &mut std::io::sink())
            .map_err(|e| damaged(&e))?;
        total += read;
        if total > MAX_UNPACKED_BYTES {
            return Err(file_error(
                code::TOO_LARGE,
                format!(
                    "文件解压后超过 {} MiB，不像是人员名册",
                    MAX_UNPACKED_BYTES / (1024 * 1024)
                ),
            ));
        }
    }
    Ok(())
}

/// The first worksheet's non-empty cells, read one by one.
fn read_cells(bytes: &[u8]) -> Result<Cells, RosterErrors> {
    check_unpacked_size(bytes)?;
    // A ZIP package without a workbook's parts is another kind of document; one the ZIP reader
    // fails on is damaged (cut short, altered).
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(|e| match e {
        calamine::XlsxError::FileNotFound(_) => file_error(
            code::NOT_XLSX,
            format!("文件不是 Excel 工作簿（.xlsx）：缺少工作簿的组成部分（{e}）"),
        ),
        calamine::XlsxError::Zip(_) => file_error(
            code::UNREADABLE,
            format!("文件已损坏，无法作为 Excel 工作簿读取：{e}"),
        ),
        e => file_error(code::UNREADABLE, format!("文件无法读取：{e}")),
    })?;
    let Some(first) = workbook.sheet_names().into_iter().next() else {
        return Err(file_error(code::UNREADABLE, "工作簿中没有工作表"));
    };
    let unreadable = |e: calamine::XlsxError| {
        file_error(code::UNREADABLE, format!("工作表「{first}」无法读取：{e}"))
    };
    let mut reader = workbook
        .worksheet_cells_reader(&first)
        .map_err(unreadable)?;
    let mut cells = Cells::new();
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        let Some(value) = Value::from_cell(cell.get_value()) else {
            continue;
        };
        let (row, column) = cell.get_position();
        if row >= MAX_ROWS || column >= MAX_COLUMNS {
            return Err(file_error(
                code::TOO_LARGE,
                format!(
                    "工作表「{first}」过大：名册最多 {MAX_ROWS} 行、{MAX_COLUMNS} 列，第 {} 行第 {} 列仍有内容",
                    u64::from(row) + 1,
                    u64::from(column) + 1
                ),
            ));
        }
        cells.entry(row).or_default().insert(column, value);
    }
    Ok(cells)
}

/// A header as written, compared without spaces and without a trailing `*` (templates mark
/// required columns so).
fn normalize_header(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    s.trim_end_matches(['*', '＊']).to_string()
}

/// Which field each column fills; every header problem at once.
fn read_header(
    row: u32,
    header: &BTreeMap<u32, Value>,
) -> Result<BTreeMap<Field, u32>, RosterErrors> {
    let mut problems = Vec::new();
    let mut columns: BTreeMap<Field, u32> = BTreeMap::new();
    // Every header read so far, with its column: a header twice is a problem, known or ignored.
    let mut seen: HashMap<String, u32> = HashMap::new();
    let expected = COLUMNS
        .iter()
        .map(|(_, h, _)| *h)
        .collect::<Vec<_>>()
        .join("、");
    for (&column, value) in header {
        let place = format!("第 {} 行第 {} 列", row + 1, u64::from(column) + 1);
        let text = match value {
            Value::Text(s) => normalize_header(s),
            other => {
                problems.push(FileError {
                    code: code::HEADER_UNKNOWN,
                    message: format!(
                        "{place}的列名是{}，不是名册的列（应为：{expected}）",
                        describe(other)
                    ),
                });
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        if let Some(first) = seen.get(&text) {
            problems.push(FileError {
                code: code::HEADER_DUPLICATE,
                message: format!(
                    "列名「{text}」出现了两次（第 {} 列和第 {} 列）",
                    u64::from(*first) + 1,
                    u64::from(column) + 1
                ),
            });
            continue;
        }
        seen.insert(text.clone(), column);
        if let Some((field, _, _)) = COLUMNS.iter().find(|(_, h, _)| *h == text) {
            columns.insert(*field, column);
        } else if !IGNORED_COLUMNS.contains(&text.as_str()) {
            problems.push(FileError {
                code: code::HEADER_UNKNOWN,
                message: format!("{place}的列名「{text}」不是名册的列（应为：{expected}）"),
            });
        }
    }
    for (field, h, required) in COLUMNS {
        if required && !columns.contains_key(&field) {
            problems.push(FileError {
                code: code::HEADER_MISSING,
                message: format!("缺少列「{h}」（第 {} 行应为列名：{expected}）", row + 1),
            });
        }
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(RosterErrors::File(problems))
    }
}

/// One officer row: its certificate number when that cell reads, and the officer when every cell
/// does; its problems go to `errors`.
fn read_row(
    number: u32,
    row: &BTreeMap<u32, Value>,
    columns: &BTreeMap<Field, u32>,
    errors: &mut Vec<RowError>,
) -> (Option<String>, Option<OfficerCertificate>) {
    let cell = |field: Field| {
        columns
            .get(&field)
            .and_then(|c| row.get(c))
            .filter(|v| !v.is_blank())
    };
    let mut problem = |field: Field, code: &'static str, what: String| {
        let column = header_of(field);
        errors.push(RowError {
            row: number,
            column,
            code,
            message: format!("第 {number} 行「{column}」{what}"),
        });
    };
    let required = |field: Field, problem: &mut dyn FnMut(Field, &'static str, String)| {
        let value = cell(field);
        if value.is_none() {
            problem(field, code::VALUE_MISSING, "为空".to_string());
        }
        value
    };

    let certificate_no = required(Field::CertificateNo, &mut problem)
        .and_then(|v| identifier(v, Field::CertificateNo, &mut problem));
    let name = required(Field::Name, &mut problem).and_then(|v| person_name(v, &mut problem));
    let agency = required(Field::Agency, &mut problem)
        .and_then(|v| identifier(v, Field::Agency, &mut problem));
    let role = required(Field::Role, &mut problem).and_then(|v| role(v, &mut problem));
    let valid_from = required(Field::ValidFrom, &mut problem)
        .and_then(|v| date(v, Field::ValidFrom, &mut problem));
    let valid_to =
        required(Field::ValidTo, &mut problem).and_then(|v| date(v, Field::ValidTo, &mut problem));
    let revoked_on = match cell(Field::RevokedOn) {
        None => Some(None),
        Some(v) => date(v, Field::RevokedOn, &mut problem).map(Some),
    };
    if let (Some(from), Some(to)) = (valid_from, valid_to) {
        if to < from {
            problem(
                Field::ValidTo,
                code::VALIDITY_INVERTED,
                format!("{} 早于「有效期起」{}", format_day(to), format_day(from)),
            );
        }
    }
    let officer = (|| {
        Some(OfficerCertificate {
            certificate_no: certificate_no.clone()?,
            name: name?,
            agency: agency?,
            role: role?,
            valid_from: valid_from?,
            valid_to: valid_to?,
            revoked_on: revoked_on?,
        })
    })();
    (certificate_no, officer)
}

/// How a cell that is not text is described in a message.
fn describe(value: &Value) -> String {
    match value {
        Value::Text(s) => format!("“{}”", s.trim()),
        Value::Int(i) => format!("数字 {i}"),
        Value::Float(f) => format!("数字 {f}"),
        // As Excel shows it: TRUE or FALSE.
        Value::Bool(b) => format!("逻辑值 {}", b.to_string().to_uppercase()),
        Value::Date(Some(d)) if d.time() == NaiveTime::MIN => {
            format!("日期 {}", format_day(d.date()))
        }
        Value::Date(Some(d)) => format!("日期 {d}"),
        Value::Date(None) => "日期（超出范围）".to_string(),
        Value::IsoDate(s) => format!("日期 {s}"),
        Value::Duration => "时长".to_string(),
        Value::Error(e) => e.clone(),
    }
}

/// A cell read as text: text trimmed; a whole number as its digits (Excel keeps a code typed
/// without a text format as a number); anything else is a problem.
fn text(
    value: &Value,
    field: Field,
    problem: &mut dyn FnMut(Field, &'static str, String),
) -> Option<String> {
    match value {
        Value::Text(s) => Some(s.trim().to_string()),
        Value::Int(i) => Some(i.to_string()),
        // Whole numbers below 10^15 are exact in a double; longer ones Excel has already rounded.
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => Some(format!("{}", *f as i64)),
        Value::Float(f) if f.fract() == 0.0 => {
            problem(
                field,
                code::NOT_TEXT,
                format!("是数字 {f}，超过 15 位的数字 Excel 已无法精确保存：请将该列设为文本格式后重新填写"),
            );
            None
        }
        Value::Error(e) => {
            problem(field, code::CELL_ERROR, format!("是公式错误 {e}"));
            None
        }
        other => {
            problem(
                field,
                code::NOT_TEXT,
                format!("应为文字，单元格是{}", describe(other)),
            );
            None
        }
    }
}

/// A certificate number or agency code: text without spaces or control characters.
fn identifier(
    value: &Value,
    field: Field,
    problem: &mut dyn FnMut(Field, &'static str, String),
) -> Option<String> {
    let s = text(value, field, problem)?;
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        problem(
            field,
            code::TEXT_INVALID,
            format!("“{s}”中有空格或控制字符"),
        );
        return None;
    }
    if s.chars().count() > MAX_TEXT_CHARS {
        problem(
            field,
            code::TEXT_INVALID,
            format!("超过 {MAX_TEXT_CHARS} 个字符"),
        );
        return None;
    }
    Some(s)
}

/// A name: text without control characters.
fn person_name(
    value: &Value,
    problem: &mut dyn FnMut(Field, &'static str, String),
) -> Option<String> {
    let s = text(value, Field::Name, problem)?;
    if s.chars().any(char::is_control) {
        problem(
            Field::Name,
            code::TEXT_INVALID,
            "中有控制字符（如换行）".to_string(),
        );
        return None;
    }
    if s.chars().count() > MAX_TEXT_CHARS {
        problem(
            Field::Name,
            code::TEXT_INVALID,
            format!("超过 {MAX_TEXT_CHARS} 个字符"),
        );
        return None;
    }
    Some(s)
}

fn role(
    value: &Value,
    problem: &mut dyn FnMut(Field, &'static str, String),
) -> Option<OfficerRole> {
    let s = text(value, Field::Role, problem)?;
    let found = parse_role(&s);
    if found.is_none() {
        let names = ROLE_NAMES
            .iter()
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join("、");
        problem(
            Field::Role,
            code::ROLE_UNKNOWN,
            format!("“{s}”不是名册的角色（应为：{names}）"),
        );
    }
    found
}

/// A day: an Excel date cell without a time of day, or `YYYY-MM-DD` text.
fn date(
    value: &Value,
    field: Field,
    problem: &mut dyn FnMut(Field, &'static str, String),
) -> Option<NaiveDate> {
    // A date cell carries an instant: it is a day only at midnight.
    let instant = match value {
        Value::Date(Some(dt)) => Some(*dt),
        Value::IsoDate(s) => NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok(),
        _ => None,
    };
    let found = match value {
        Value::Text(s) | Value::IsoDate(s) => parse_day(s),
        Value::Error(e) => {
            problem(field, code::CELL_ERROR, format!("是公式错误 {e}"));
            return None;
        }
        _ => None,
    }
    .or_else(|| {
        instant
            .filter(|dt| dt.time() == NaiveTime::MIN)
            .map(|dt| dt.date())
    });
    if found.is_none() {
        let what = match (value, instant) {
            (_, Some(dt)) => format!("是带时间的日期 {dt}，应为日期（不含时间）"),
            (Value::Int(_) | Value::Float(_), _) => format!(
                "是{}，不是日期：请设为日期格式，或写成 YYYY-MM-DD",
                describe(value)
            ),
            _ => format!(
                "{}不是日期：应为日期单元格，或写成 YYYY-MM-DD（如 2026-01-05）",
                describe(value)
            ),
        };
        problem(field, code::DATE_INVALID, what);
    }
    found
}

#[cfg(test)]
mod tests;
