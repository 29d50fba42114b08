//! Roster workbooks built with `rust_xlsxwriter` (as Excel would save them) and read back.

use super::*;
use proptest::prelude::*;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

/// A cell as a person fills it in Excel.
#[derive(Clone)]
enum C {
    /// Text.
    S(&'static str),
    /// A number.
    N(f64),
    /// A date cell (`yyyy-mm-dd` format).
    D(u16, u8, u8),
    /// A date and time cell.
    Dt(u16, u8, u8, u16, u8),
    /// A truth value.
    B(bool),
    /// Nothing.
    E,
}

use C::{Dt, B, D, E, N, S};

/// A workbook whose first sheet holds `rows` from A1 on.
fn xlsx(rows: &[Vec<C>]) -> Vec<u8> {
    xlsx_at(0, rows)
}

/// A workbook whose first sheet holds `rows` from row `first` (0-based) on.
fn xlsx_at(first: u32, rows: &[Vec<C>]) -> Vec<u8> {
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let datetime = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        let r = first + r as u32;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                S(s) => {
                    sheet.write_string(r, c, *s).expect("write");
                }
                N(n) => {
                    sheet.write_number(r, c, *n).expect("write");
                }
                D(y, m, d) => {
                    let day = ExcelDateTime::from_ymd(*y, *m, *d).expect("date");
                    sheet
                        .write_datetime_with_format(r, c, &day, &date)
                        .expect("write");
                }
                Dt(y, m, d, h, min) => {
                    let at = ExcelDateTime::from_ymd(*y, *m, *d)
                        .expect("date")
                        .and_hms(*h, *min, 0)
                        .expect("time");
                    sheet
                        .write_datetime_with_format(r, c, &at, &datetime)
                        .expect("write");
                }
                B(b) => {
                    sheet.write_boolean(r, c, *b).expect("write");
                }
                E => {}
            }
        }
    }
    book.save_to_buffer().expect("save")
}

fn header() -> Vec<C> {
    vec![
        S("执法证号"),
        S("姓名"),
        S("所属机构代码"),
        S("角色"),
        S("有效期起"),
        S("有效期止"),
    ]
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("day")
}

fn officer(
    no: &str,
    name: &str,
    agency: &str,
    role: OfficerRole,
    from: NaiveDate,
    to: NaiveDate,
    revoked_on: Option<NaiveDate>,
) -> OfficerCertificate {
    OfficerCertificate {
        certificate_no: no.into(),
        name: name.into(),
        agency: agency.into(),
        role,
        valid_from: from,
        valid_to: to,
        revoked_on,
    }
}

fn row_errors(bytes: &[u8]) -> Vec<RowError> {
    match parse_roster_xlsx(bytes) {
        Err(RosterErrors::Rows(e)) => e,
        other => panic!("expected row errors, got {other:?}"),
    }
}

fn file_errors(bytes: &[u8]) -> Vec<FileError> {
    match parse_roster_xlsx(bytes) {
        Err(RosterErrors::File(e)) => e,
        other => panic!("expected file errors, got {other:?}"),
    }
}

#[test]
fn a_good_roster_is_read_whatever_the_column_order() {
    let bytes = xlsx(&[
        vec![
            S("序号"),
            S("角色"),
            S(" 姓名 "),
            S("执法证号*"),
            S("有效期止"),
            S("所属机构代码"),
            S("有效期起"),
            S("注销日期"),
            S("备注"),
        ],
        vec![
            N(1.0),
            S("执法人员"),
            S("才让多杰"),
            S("QH6325000101"),
            D(2028, 12, 31),
            S("632500"),
            D(2024, 1, 1),
            E,
            S("州局"),
        ],
        // Codes typed as numbers, dates as text, spaces around the text.
        vec![
            N(2.0),
            S(" 法制审核 "),
            S(" 李 明 "),
            N(632521001.0),
            S("2027-06-30"),
            N(632521.0),
            S("2025-07-01"),
            S("2026-03-01"),
        ],
        vec![],
        vec![
            N(3.0),
            S("协助人员"),
            S("王芳"),
            S("QH6325220009"),
            D(2026, 12, 31),
            S("632522"),
            D(2026, 1, 1),
            D(2026, 6, 1),
        ],
        vec![
            E,
            S("执法监督"),
            S("赵强"),
            S("632500-ZFJD-01"),
            D(2030, 1, 1),
            S("632500-ZFJD"),
            D(2026, 1, 1),
        ],
        vec![
            E,
            S("系统管理员"),
            S("管理员"),
            S("ADMIN-1"),
            D(2030, 1, 1),
            S("632500"),
            D(2026, 1, 1),
        ],
        vec![
            E,
            S("辅助人员"),
            S("马丽"),
            S("QH6325230001"),
            D(2026, 1, 1),
            S("632523"),
            D(2026, 1, 1),
        ],
    ]);
    let officers = parse_roster_xlsx(&bytes).expect("a good roster");
    assert_eq!(
        officers,
        vec![
            officer(
                "QH6325000101",
                "才让多杰",
                "632500",
                OfficerRole::Officer,
                day(2024, 1, 1),
                day(2028, 12, 31),
                None
            ),
            officer(
                "632521001",
                "李 明",
                "632521",
                OfficerRole::LegalReviewer,
                day(2025, 7, 1),
                day(2027, 6, 30),
                Some(day(2026, 3, 1))
            ),
            officer(
                "QH6325220009",
                "王芳",
                "632522",
                OfficerRole::Assistant,
                day(2026, 1, 1),
                day(2026, 12, 31),
                Some(day(2026, 6, 1))
            ),
            officer(
                "632500-ZFJD-01",
                "赵强",
                "632500-ZFJD",
                OfficerRole::Supervisor,
                day(2026, 1, 1),
                day(2030, 1, 1),
                None
            ),
            officer(
                "ADMIN-1",
                "管理员",
                "632500",
                OfficerRole::Admin,
                day(2026, 1, 1),
                day(2030, 1, 1),
                None
            ),
            // A certificate valid for one day.
            officer(
                "QH6325230001",
                "马丽",
                "632523",
                OfficerRole::Assistant,
                day(2026, 1, 1),
                day(2026, 1, 1),
                None
            ),
        ]
    );
}

#[test]
fn the_header_may_start_below_empty_rows_and_rows_are_numbered_as_excel_shows_them() {
    let bytes = xlsx_at(
        2,
        &[
            header(),
            vec![
                S("QH1"),
                S("甲"),
                S("632500"),
                S("执法人员"),
                S("2026-01-01"),
                S("2026-13-01"),
            ],
        ],
    );
    let errors = row_errors(&bytes);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].row, errors[0].column), (4, "有效期止"));
    assert!(
        errors[0].message.starts_with("第 4 行「有效期止」"),
        "{errors:?}"
    );
}

#[test]
fn every_bad_row_is_listed_with_its_row_column_and_code_and_nothing_is_imported() {
    let good = || {
        vec![
            S("QH-GOOD"),
            S("好人"),
            S("632500"),
            S("执法人员"),
            S("2026-01-01"),
            S("2027-01-01"),
        ]
    };
    let bytes = xlsx(&[
        header(),
        // 2: a good row — not imported either.
        good(),
        // 3: name missing, role missing.
        vec![
            S("QH3"),
            E,
            S("632500"),
            S("  "),
            S("2026-01-01"),
            S("2027-01-01"),
        ],
        // 4: a date as other text, a date as a plain number.
        vec![
            S("QH4"),
            S("四"),
            S("632500"),
            S("执法人员"),
            S("2026/01/05"),
            N(46000.0),
        ],
        // 5: a date with a time of day; an unknown role.
        vec![
            S("QH5"),
            S("五"),
            S("632500"),
            S("队长"),
            Dt(2026, 1, 1, 9, 30),
            D(2027, 1, 1),
        ],
        // 6: the good row's certificate number again.
        good(),
        // 7: validity inverted.
        vec![
            S("QH7"),
            S("七"),
            S("632500"),
            S("执法人员"),
            D(2027, 1, 1),
            D(2026, 12, 31),
        ],
        // 8: a certificate number with a space; an agency code as a fraction; a name as TRUE.
        vec![
            S("QH 8"),
            B(true),
            N(632.5),
            S("执法人员"),
            D(2026, 1, 1),
            D(2027, 1, 1),
        ],
        // 9: a certificate number typed as 18 digits, which Excel has already rounded.
        vec![
            N(632_500_000_000_000_123.0),
            S("九"),
            S("632500"),
            S("执法人员"),
            D(2026, 1, 1),
            D(2027, 1, 1),
        ],
        // 10: an impossible day.
        vec![
            S("QH10"),
            S("十"),
            S("632500"),
            S("执法人员"),
            S("2026-02-30"),
            D(2027, 1, 1),
        ],
    ]);
    let errors = row_errors(&bytes);
    let got: Vec<(u32, &str, &str)> = errors.iter().map(|e| (e.row, e.column, e.code)).collect();
    assert_eq!(
        got,
        vec![
            (3, "姓名", code::VALUE_MISSING),
            (3, "角色", code::VALUE_MISSING),
            (4, "有效期起", code::DATE_INVALID),
            (4, "有效期止", code::DATE_INVALID),
            (5, "角色", code::ROLE_UNKNOWN),
            (5, "有效期起", code::DATE_INVALID),
            (6, "执法证号", code::DUPLICATE_CERTIFICATE),
            (7, "有效期止", code::VALIDITY_INVERTED),
            (8, "执法证号", code::TEXT_INVALID),
            (8, "姓名", code::NOT_TEXT),
            (8, "所属机构代码", code::NOT_TEXT),
            (9, "执法证号", code::NOT_TEXT),
            (10, "有效期起", code::DATE_INVALID),
        ]
    );
    for e in &errors {
        assert!(
            e.message
                .starts_with(&format!("第 {} 行「{}」", e.row, e.column)),
            "{e:?}"
        );
    }
    let message = |row: u32, column: &str| {
        errors
            .iter()
            .find(|e| e.row == row && e.column == column)
            .map(|e| e.message.clone())
            .expect("error")
    };
    assert_eq!(message(3, "姓名"), "第 3 行「姓名」为空");
    assert!(message(4, "有效期起").contains("“2026/01/05”不是日期"));
    assert!(message(4, "有效期止").contains("数字 46000"));
    assert!(message(5, "角色").contains("“队长”不是名册的角色"));
    assert!(message(5, "角色").contains("执法人员、辅助人员、法制审核、执法监督、系统管理员"));
    assert_eq!(
        message(5, "有效期起"),
        "第 5 行「有效期起」是带时间的日期 2026-01-01 09:30:00，应为日期（不含时间）"
    );
    assert_eq!(
        message(6, "执法证号"),
        "第 6 行「执法证号」QH-GOOD 与第 2 行重复"
    );
    assert_eq!(
        message(7, "有效期止"),
        "第 7 行「有效期止」2026-12-31 早于「有效期起」2027-01-01"
    );
    assert!(message(8, "执法证号").contains("空格"));
    assert!(message(8, "姓名").contains("逻辑值 TRUE"));
    assert!(message(9, "执法证号").contains("文本格式"));

    // The same problems as one HTTP answer.
    let api: ApiError = RosterErrors::Rows(errors.clone()).into();
    assert_eq!(api.kind, crate::error::ErrorKind::BadRequest);
    assert_eq!(api.code, code::ROWS_INVALID);
    assert!(
        api.message
            .starts_with("名册中有 13 处错误，未导入任何人员：第 3 行「姓名」为空；"),
        "{}",
        api.message
    );
}

#[test]
fn a_duplicate_certificate_is_found_even_when_its_row_has_other_problems() {
    let bytes = xlsx(&[
        header(),
        vec![
            S("QH1"),
            S("甲"),
            S("632500"),
            S("执法人员"),
            D(2026, 1, 1),
            D(2027, 1, 1),
        ],
        vec![
            S("QH1"),
            E,
            S("632500"),
            S("执法人员"),
            D(2026, 1, 1),
            D(2027, 1, 1),
        ],
    ]);
    let got: Vec<_> = row_errors(&bytes).iter().map(|e| (e.row, e.code)).collect();
    assert_eq!(
        got,
        vec![(3, code::VALUE_MISSING), (3, code::DUPLICATE_CERTIFICATE)]
    );
}

#[test]
fn a_wrong_header_row_refuses_the_file_with_every_header_problem() {
    let bytes = xlsx(&[
        vec![
            S("执法证号"),
            S("姓名"),
            S("姓名"),
            S("所属机构"),
            S("有效期起"),
            S("有效期止"),
            S("电话"),
        ],
        vec![
            S("QH1"),
            S("甲"),
            S("甲"),
            S("632500"),
            D(2026, 1, 1),
            D(2027, 1, 1),
            S("123"),
        ],
    ]);
    let errors = file_errors(&bytes);
    let codes: Vec<_> = errors.iter().map(|e| e.code).collect();
    assert_eq!(
        codes,
        vec![
            code::HEADER_DUPLICATE,
            code::HEADER_UNKNOWN,
            code::HEADER_UNKNOWN,
            code::HEADER_MISSING,
            code::HEADER_MISSING,
        ],
        "{errors:?}"
    );
    assert_eq!(
        errors[0].message,
        "列名「姓名」出现了两次（第 2 列和第 3 列）"
    );
    assert!(errors[1]
        .message
        .starts_with("第 1 行第 4 列的列名「所属机构」不是名册的列"));
    assert!(errors[3].message.starts_with("缺少列「所属机构代码」"));
    assert!(errors[4].message.starts_with("缺少列「角色」"));
    let api: ApiError = RosterErrors::File(errors).into();
    assert_eq!(api.code, code::HEADER_DUPLICATE);
}

#[test]
fn an_empty_sheet_and_a_header_without_officers_are_refused() {
    let empty = xlsx(&[]);
    assert_eq!(file_errors(&empty)[0].code, code::EMPTY);
    let blank = xlsx(&[vec![S(" "), E]]);
    assert_eq!(file_errors(&blank)[0].code, code::EMPTY);
    let only_header = xlsx(&[header(), vec![S("")]]);
    let errors = file_errors(&only_header);
    assert_eq!(errors[0].code, code::NO_OFFICERS);
    assert_eq!(errors[0].message, "第 1 行是列名，其下没有人员");
}

#[test]
fn a_file_that_is_not_an_xlsx_workbook_is_refused_clearly() {
    let not = |bytes: &[u8]| {
        let errors = file_errors(bytes);
        assert_eq!(errors.len(), 1);
        (errors[0].code, errors[0].message.clone())
    };
    assert_eq!(
        not(b""),
        (
            code::NOT_XLSX,
            "文件是空的，应为 Excel 工作簿（.xlsx）".into()
        )
    );
    assert_eq!(
        not("执法证号,姓名\nQH1,甲\n".as_bytes()),
        (code::NOT_XLSX, "文件不是 Excel 工作簿（.xlsx）".into())
    );
    let (code_xls, message_xls) = not(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0");
    assert_eq!(code_xls, code::NOT_XLSX);
    assert!(message_xls.contains("另存为 .xlsx"), "{message_xls}");
    // A ZIP package that is no workbook (say a zipped text file).
    let (code_zip, message_zip) = not(&stored_zip(&[("readme.txt", b"hello")]));
    assert_eq!(code_zip, code::NOT_XLSX, "{message_zip}");
    // A workbook cut short in the upload.
    let whole = xlsx(&[header()]);
    let (code_cut, message_cut) = not(&whole[..whole.len() / 2]);
    assert_eq!(code_cut, code::UNREADABLE, "{message_cut}");
    assert!(message_cut.contains("已损坏"), "{message_cut}");
}

#[test]
fn cells_far_out_refuse_the_file_without_building_a_huge_sheet() {
    // The last cell Excel has: a dense range from A1 to it would be 17 billion cells.
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in header().iter().enumerate() {
        if let S(s) = h {
            sheet.write_string(0, c as u16, *s).expect("write");
        }
    }
    sheet.write_string(1_048_575, 16_383, "x").expect("write");
    let bytes = book.save_to_buffer().expect("save");
    let errors = file_errors(&bytes);
    assert_eq!(errors[0].code, code::TOO_LARGE);
    assert!(
        errors[0]
            .message
            .contains("第 1048576 行第 16384 列仍有内容"),
        "{}",
        errors[0].message
    );
    let rows = xlsx_at(MAX_ROWS, &[vec![S("x")]]);
    assert_eq!(file_errors(&rows)[0].code, code::TOO_LARGE);
    let last_row = xlsx_at(MAX_ROWS - 1, &[vec![S("x")]]);
    // Within the limit the cell is read (here as a header nobody knows).
    assert_eq!(file_errors(&last_row)[0].code, code::HEADER_UNKNOWN);
}

#[test]
fn workbooks_the_xlsx_reader_panics_on_are_answered_as_unreadable() {
    // Inputs the fuzzer found: a cell reference whose row number overflows inside calamine.
    for bytes in [
        &include_bytes!(
            "../../../fuzz/crashes/table_xlsx/crash-7daf279db9f76f369a2a76cfc3f67ebbcd1df97b"
        )[..],
        &include_bytes!(
            "../../../fuzz/crashes/table_xlsx/crash-bf7f236599d4b604980ff5e3c4e30d9fe643f36d"
        )[..],
    ] {
        let errors = file_errors(bytes);
        assert!(
            [code::UNREADABLE, code::TOO_LARGE].contains(&errors[0].code),
            "{errors:?}"
        );
    }
}

#[test]
fn role_names_both_ways() {
    for (role, name) in ROLE_NAMES {
        assert_eq!(role_name(role), name);
        assert_eq!(parse_role(name), Some(role));
    }
    assert_eq!(parse_role(" 协助人员 "), Some(OfficerRole::Assistant));
    assert_eq!(parse_role("officer"), None);
}

/// One part of a hand-made ZIP package: name, method (0 stored, 8 deflated), the bytes as stored,
/// the CRC-32 and size of the unpacked bytes as declared.
type Part<'a> = (&'a str, u16, &'a [u8], u32, u32);

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A ZIP package holding `files` stored (uncompressed).
fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let parts: Vec<Part> = files
        .iter()
        .map(|(name, data)| (*name, 0, *data, crc32(data), data.len() as u32))
        .collect();
    zip_package(&parts)
}

/// A ZIP package of `parts`.
fn zip_package(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for &(name, method, stored, crc, size) in parts {
        let stored_len = stored.len() as u32;
        let name_len = name.len() as u16;
        let offset = out.len() as u32;
        // Local file header: version 2.0, no flags, the method, no time.
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&stored_len.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&name_len.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(stored);
        // Its central directory header.
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&stored_len.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&name_len.to_le_bytes());
        // Extra, comment, disk, internal and external attributes.
        central.extend_from_slice(&[0; 2 + 2 + 2 + 2 + 4]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let central_at = out.len() as u32;
    out.extend_from_slice(&central);
    // End of central directory.
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(parts.len() as u16).to_le_bytes());
    out.extend_from_slice(&(parts.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&central_at.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// A workbook written by hand, its one sheet's `<sheetData>` being `rows`: for cells no writer
/// library makes, such as formula errors (`t="e"`) and ISO 8601 date cells (`t="d"`).
fn hand_xlsx(rows: &str) -> Vec<u8> {
    let workbook = r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="名册" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{rows}</sheetData></worksheet>"#
    );
    let types = r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
    let package_rels = r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
    stored_zip(&[
        ("[Content_Types].xml", types.as_bytes()),
        ("_rels/.rels", package_rels.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes()),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes()),
    ])
}

/// An inline text cell.
fn t(at: &str, text: &str) -> String {
    format!(r#"<c r="{at}" t="inlineStr"><is><t>{text}</t></is></c>"#)
}

fn hand_header() -> String {
    [
        "执法证号",
        "姓名",
        "所属机构代码",
        "角色",
        "有效期起",
        "有效期止",
    ]
    .iter()
    .zip(["A1", "B1", "C1", "D1", "E1", "F1"])
    .map(|(h, at)| t(at, h))
    .collect()
}

#[test]
fn a_zip_bomb_is_refused_before_it_is_unpacked_into_memory() {
    use std::io::Write;
    // 100 MiB of XML-looking bytes, deflated to a few hundred KiB.
    let unpacked: u32 = 100 * 1024 * 1024;
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..100 {
        deflate.write_all(&chunk).expect("deflate");
    }
    let stored = deflate.finish().expect("deflate");
    assert!(stored.len() < 1024 * 1024, "{}", stored.len());
    // The CRC is wrong on purpose: the count stops the unpacking long before the end where a
    // reader would check it.
    let bomb = zip_package(&[("xl/sharedStrings.xml", 8, &stored, 0, unpacked)]);
    let errors = file_errors(&bomb);
    assert_eq!(errors[0].code, code::TOO_LARGE, "{errors:?}");
    assert_eq!(errors[0].message, "文件解压后超过 64 MiB，不像是人员名册");
    // A size declared small does not hide it: the part is damaged.
    let lying = zip_package(&[("xl/sharedStrings.xml", 8, &stored, 0, 1000)]);
    let lie = file_errors(&lying);
    assert_eq!(lie[0].code, code::UNREADABLE, "{lie:?}");
    assert!(lie[0].message.contains("已损坏"), "{lie:?}");
}

#[test]
fn iso_date_cells_are_days_and_formula_errors_are_named() {
    let good = hand_xlsx(&format!(
        r#"<row r="1">{}</row><row r="2">{}{}{}{}<c r="E2" t="d"><v>2026-01-01T00:00:00</v></c><c r="F2" t="d"><v>2027-06-30</v></c></row>"#,
        hand_header(),
        t("A2", "QH1"),
        t("B2", "甲"),
        t("C2", "632500"),
        t("D2", "执法人员"),
    ));
    assert_eq!(
        parse_roster_xlsx(&good).expect("roster"),
        vec![officer(
            "QH1",
            "甲",
            "632500",
            OfficerRole::Officer,
            day(2026, 1, 1),
            day(2027, 6, 30),
            None
        )]
    );

    let bad = hand_xlsx(&format!(
        r#"<row r="1">{}</row><row r="2">{}<c r="B2" t="e"><v>#N/A</v></c>{}{}{}<c r="F2" t="e"><v>#REF!</v></c></row><row r="3">{}{}{}{}{}<c r="F3" t="d"><v>2027-01-01T08:30:00</v></c></row>"#,
        hand_header(),
        t("A2", "QH1"),
        t("C2", "632500"),
        t("D2", "执法人员"),
        t("E2", "2026-01-01"),
        t("A3", "QH2"),
        t("B3", "乙"),
        t("C3", "632500"),
        t("D3", "执法人员"),
        t("E3", "2026-01-01"),
    ));
    let errors = row_errors(&bad);
    let got: Vec<_> = errors
        .iter()
        .map(|e| (e.row, e.column, e.code, e.message.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                2,
                "姓名",
                code::CELL_ERROR,
                "第 2 行「姓名」是公式错误 #N/A"
            ),
            (
                2,
                "有效期止",
                code::CELL_ERROR,
                "第 2 行「有效期止」是公式错误 #REF!"
            ),
            (
                3,
                "有效期止",
                code::DATE_INVALID,
                "第 3 行「有效期止」是带时间的日期 2027-01-01 08:30:00，应为日期（不含时间）"
            ),
        ]
    );
}

#[test]
fn a_header_cell_that_is_not_text_is_named() {
    let bytes = hand_xlsx(&format!(
        r#"<row r="1">{}<c r="G1"><v>2026</v></c></row>"#,
        hand_header()
    ));
    let errors = file_errors(&bytes);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].code, code::HEADER_UNKNOWN);
    assert!(
        errors[0]
            .message
            .starts_with("第 1 行第 7 列的列名是数字 2026，不是名册的列"),
        "{}",
        errors[0].message
    );
}

fn good_workbook() -> Vec<u8> {
    xlsx(&[
        header(),
        vec![
            S("QH1"),
            S("甲"),
            S("632500"),
            S("执法人员"),
            D(2026, 1, 1),
            D(2027, 1, 1),
        ],
        vec![
            S("QH2"),
            S("乙"),
            N(632521.0),
            S("法制审核"),
            S("2026-01-01"),
            D(2027, 1, 1),
        ],
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    /// Any bytes give officers or a reasoned refusal, never a panic.
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse_roster_xlsx(&bytes);
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&bytes);
        let _ = parse_roster_xlsx(&zip);
    }

    /// A real workbook altered anywhere, or cut anywhere, never panics either.
    #[test]
    fn an_altered_workbook_never_panics(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = good_workbook();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= b;
        }
        let _ = parse_roster_xlsx(&bytes);
        let end = cut.index(bytes.len());
        let _ = parse_roster_xlsx(&bytes[..end]);
    }
}

#[test]
fn the_good_workbook_of_the_property_tests_reads() {
    assert_eq!(
        parse_roster_xlsx(&good_workbook()).expect("roster").len(),
        2
    );
}
