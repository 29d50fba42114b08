//! The rendered 文书 read back with real tools: poppler's `pdftotext`, `pdffonts`, `pdfinfo` and
//! `pdftoppm`, on a font from Debian's `fonts-noto-cjk`. A missing tool or font fails the test
//! under `CI=true` and is reported (not silently passed) elsewhere.

#![cfg(feature = "documents")]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use roadside_core::demo;
use roadside_core::document::forms::{site_record, DocHeader, RecordSignatures};
use roadside_core::document::{
    render, Block, Document, Renderer, SignatureBlock, SignatureMark, SystemFonts, VerificationRef,
};
use roadside_core::model::{InspectionDetail, PartyConfirmation, RecordKind};

const NUMBER: &str = "青海南交执笔〔2026〕0007号";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The poppler tools and the font are there; outside CI a missing one is reported and the test
/// returns early, under CI it fails.
fn tools_present() -> bool {
    let mut missing = Vec::new();
    for tool in ["pdftotext", "pdffonts", "pdftoppm", "pdfinfo"] {
        if Command::new(tool).arg("-v").output().is_err() {
            missing.push(tool.to_string());
        }
    }
    if let Err(e) = Renderer::new(&SystemFonts::new()) {
        missing.push(format!("CJK font ({})", e.message()));
    }
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "missing {}: install poppler-utils and fonts-noto-cjk",
        missing.join(", ")
    );
    assert!(!in_ci(), "{msg}");
    eprintln!("SKIPPED (not under CI): {msg}");
    false
}

fn header() -> DocHeader {
    DocHeader {
        agency_name: demo::AGENCY_NAME.to_string(),
        agency_code: demo::AGENCY_CODE.to_string(),
        number: NUMBER.to_string(),
        entry_sha256: "5e".repeat(32),
    }
}

fn at() -> chrono::DateTime<Utc> {
    // 2026-11-29 10:05 in agency time.
    Utc.with_ymd_and_hms(2026, 11, 29, 2, 5, 0).unwrap()
}

/// Writes the demo documents to `$ROADSIDE_DOC_OUT` (a directory) for a person to look at.
#[test]
fn write_samples_when_asked() {
    let Some(out) = std::env::var_os("ROADSIDE_DOC_OUT") else {
        return;
    };
    let out = PathBuf::from(out);
    let renderer = Renderer::new(&SystemFonts::new()).expect("font");
    write(
        &out,
        "site_record.pdf",
        &renderer.render(&signed_document()).expect("render"),
    );
    write(
        &out,
        "table.pdf",
        &renderer.render(&table_document(60)).expect("render"),
    );
}

fn signed_document() -> Document {
    let record = demo::overload_record_long(at());
    let sigs = RecordSignatures {
        party: Some(demo::signature(1)),
        witness: None,
        officers: vec![Some(demo::signature(2)), None],
        officers_signed_at: None,
    };
    site_record(&record, &header(), &sigs).expect("document")
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write pdf");
    path
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn no_space(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The text of the PDF (or of one page) in drawing order, without whitespace.
fn text_of(pdf: &Path, page: Option<usize>) -> String {
    let p = pdf.to_str().expect("path");
    let out = match page {
        Some(n) => {
            let n = n.to_string();
            run("pdftotext", &["-raw", "-f", &n, "-l", &n, p, "-"])
        }
        None => run("pdftotext", &["-raw", p, "-"]),
    };
    no_space(&out)
}

fn pages(pdf: &Path) -> usize {
    let info = run("pdfinfo", &[pdf.to_str().expect("path")]);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("page count")
}

#[test]
fn a_site_record_prints_every_field_and_the_situation_over_two_pages() {
    if !tools_present() {
        return;
    }
    let doc = signed_document();
    let renderer = Renderer::new(&SystemFonts::new()).expect("font");
    let bytes = renderer.render(&doc).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write(dir.path(), "record.pdf", &bytes);
    assert!(bytes.len() <= 150 * 1024, "{} bytes", bytes.len());
    assert_eq!(pages(&pdf), 2, "the long situation runs onto a second page");

    let mut text = text_of(&pdf, None);
    // The running furniture of each page (number under the QR code, footer) interrupts a
    // paragraph that continues on the next page; take it out before looking for the paragraph.
    for page in 1..=2 {
        let furniture = format!("{NUMBER}第{page}页共2页");
        assert!(
            text.contains(&furniture),
            "page {page}'s furniture:\n{text}"
        );
        text = text.replacen(&furniture, "", 1);
    }
    let record = demo::overload_record_long(at());
    let mut expected: Vec<String> = vec![
        "现场笔录".into(),
        demo::AGENCY_NAME.into(),
        NUMBER.into(),
        "青海南交执〔2026〕第0137号".into(),
        record.place.address.clone(),
        "北纬36.422100°".into(),
        "2026年11月29日10时05分至2026年11月29日10时30分".into(),
        "才让多杰".into(),
        "QH6325000101".into(),
        "QH6325000102".into(),
        "记录人：李明".into(),
        "63252119850312123X".into(),
        "632521199007154526".into(),
        "见证人（检测站工作人员）".into(),
        "共和县倒淌河超限检测站称重员".into(),
        "09718512345".into(),
        "性别：女".into(),
        "青E67890".into(),
        "重型半挂牵引车".into(),
        "58760千克".into(),
        "以上笔录已阅，情况属实。".into(),
        "当事人签名：".into(),
        "执法人员签名：".into(),
        "时间：2026年11月29日10时30分".into(),
        "卸载货物约9.8吨袋装水泥".into(),
    ];
    expected.extend(record.situation.split('\n').map(str::to_string));
    for value in expected {
        assert!(
            text.contains(&no_space(&value)),
            "pdftotext output lacks “{value}”:\n{text}"
        );
    }
    // No English or internal notation reaches the party.
    for word in ["null", "None", "true", "false", "T02:05", "+08:00"] {
        assert!(!text.contains(word), "“{word}” printed:\n{text}");
    }

    let info = run("pdfinfo", &[pdf.to_str().expect("path")]);
    let title = info
        .lines()
        .find_map(|l| l.strip_prefix("Title:"))
        .map(str::trim);
    assert_eq!(title, Some(format!("现场笔录 {NUMBER}").as_str()), "{info}");
    assert!(!info.contains("CreationDate"), "no creation date: {info}");
}

#[test]
fn the_font_is_embedded_as_a_subset() {
    if !tools_present() {
        return;
    }
    let bytes = render(&signed_document(), &SystemFonts::new()).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write(dir.path(), "record.pdf", &bytes);
    let out = run("pdffonts", &[pdf.to_str().expect("path")]);
    let fonts: Vec<&str> = out.lines().skip(2).collect();
    assert!(!fonts.is_empty(), "{out}");
    for line in fonts {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // name type [encoding…] emb sub uni object-id generation
        let n = cols.len();
        assert!(n >= 7, "{line}");
        let (emb, sub, uni) = (cols[n - 5], cols[n - 4], cols[n - 3]);
        assert_eq!((emb, sub, uni), ("yes", "yes", "yes"), "{line}");
        assert!(
            cols[0].contains('+'),
            "a subset font's name has a tag: {line}"
        );
    }
}

/// Reads a binary PGM (P5, 8 bits) and answers whether any pixel is darker than mid-grey.
fn pgm_has_ink(path: &Path) -> bool {
    let data = std::fs::read(path).expect("pgm");
    // Header: "P5" ws width ws height ws maxval, one whitespace byte, then the pixels.
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while data[i].is_ascii_whitespace() {
            i += 1;
        }
        let start = i;
        while !data[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&data[start..i]).to_string());
    }
    assert_eq!(fields[0], "P5");
    let w: usize = fields[1].parse().expect("width");
    let h: usize = fields[2].parse().expect("height");
    let pixels = &data[i + 1..];
    assert_eq!(pixels.len(), w * h, "8-bit grey pixels");
    pixels.iter().any(|&p| p < 128)
}

#[test]
fn every_page_renders_with_ink_and_two_renders_are_identical() {
    if !tools_present() {
        return;
    }
    let doc = signed_document();
    let renderer = Renderer::new(&SystemFonts::new()).expect("font");
    let a = renderer.render(&doc).expect("render");
    let b = renderer.render(&doc).expect("render");
    let c = render(&doc.clone(), &SystemFonts::new()).expect("render with a new renderer");
    assert!(
        a == b && b == c,
        "the same document renders to the same bytes"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write(dir.path(), "record.pdf", &a);
    let prefix = dir.path().join("page");
    run(
        "pdftoppm",
        &[
            "-r",
            "50",
            "-gray",
            pdf.to_str().expect("path"),
            prefix.to_str().expect("path"),
        ],
    );
    let mut pgms: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pgm"))
        .collect();
    pgms.sort();
    assert_eq!(pgms.len(), pages(&pdf));
    for p in &pgms {
        assert!(pgm_has_ink(p), "{} is blank", p.display());
    }

    // Another process (its own hash seeds, its own allocations) renders the same bytes.
    let out_dir = dir.path().join("other-process");
    std::fs::create_dir(&out_dir).expect("mkdir");
    // Under an emulator (the ARM64 run under qemu-aarch64 in scripts/test-arm64.sh) the binary is
    // started through the runner cargo used, given in ROADSIDE_TEST_RUNNER ("program args…").
    let exe = std::env::current_exe().expect("test binary");
    let runner = std::env::var("ROADSIDE_TEST_RUNNER").unwrap_or_default();
    let mut runner = runner.split_whitespace();
    let mut again = match runner.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(runner).arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    let status = again
        .args(["--exact", "write_samples_when_asked", "--test-threads", "1"])
        .env("ROADSIDE_DOC_OUT", &out_dir)
        .output()
        .expect("run the test binary again");
    assert!(status.status.success(), "{status:?}");
    assert_eq!(
        std::fs::read(out_dir.join("site_record.pdf")).expect("other process's pdf"),
        a,
        "a render in another process differs"
    );

    // Another document (one character changed) gives other bytes.
    let mut other = doc.clone();
    other.number.push('A');
    other.verification.number.push('A');
    assert_ne!(renderer.render(&other).expect("render"), a);
}

#[test]
fn a_refusal_is_printed_with_its_reason_and_witness() {
    if !tools_present() {
        return;
    }
    let mut record = demo::overload_record_long(at());
    record.party_confirmation = Some(PartyConfirmation::Refused {
        note: "当事人对称重结果有异议，拒绝在笔录上签名".to_string(),
        witness: Some("马秀兰（检测站称重员）".to_string()),
    });
    let sigs = RecordSignatures {
        party: None,
        witness: Some(demo::signature(3)),
        officers: vec![Some(demo::signature(2)), Some(demo::signature(4))],
        officers_signed_at: Some("2026-11-29T10:42:00+08:00".to_string()),
    };
    let doc = site_record(&record, &header(), &sigs).expect("document");
    let bytes = render(&doc, &SystemFonts::new()).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write(dir.path(), "refused.pdf", &bytes);
    let text = text_of(&pdf, None);
    for value in [
        "当事人拒绝签名：当事人对称重结果有异议，拒绝在笔录上签名",
        "见证人：马秀兰（检测站称重员）",
        "见证人签名：",
        "时间：2026年11月29日10时42分",
    ] {
        assert!(text.contains(&no_space(value)), "lacks “{value}”:\n{text}");
    }
    assert!(
        !text.contains("以上笔录已阅"),
        "a refusal is not a confirmation"
    );
}

#[test]
fn an_inspection_record_is_a_kanyan_bilu() {
    if !tools_present() {
        return;
    }
    let mut record = demo::on_site_record(at());
    record.kind = RecordKind::Inspection;
    record.inspection = Some(InspectionDetail {
        object: "G214线 K1876+300 处受损路面".to_string(),
        weather: Some("晴".to_string()),
        witnesses: vec!["马秀兰 632521199007154526".to_string()],
    });
    let doc = site_record(&record, &header(), &RecordSignatures::default()).expect("document");
    assert_eq!(doc.title, "勘验笔录");
    let bytes = render(&doc, &SystemFonts::new()).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write(dir.path(), "inspection.pdf", &bytes);
    let text = text_of(&pdf, None);
    for value in [
        "勘验笔录",
        "勘验对象：G214线K1876+300处受损路面",
        "天气：晴",
        "马秀兰632521199007154526",
        "勘验情况",
    ] {
        assert!(text.contains(&no_space(value)), "lacks “{value}”:\n{text}");
    }
}

fn table_document(rows: usize) -> Document {
    Document {
        title: "证据登记保存清单".to_string(),
        agency: demo::AGENCY_NAME.to_string(),
        number: "青海南交执保〔2026〕0003号".to_string(),
        blocks: vec![
            Block::Field {
                label: "当事人".to_string(),
                value: "青海某物流有限公司".to_string(),
            },
            Block::Table {
                headers: ["序号", "名称", "规格", "数量", "备注"]
                    .map(String::from)
                    .to_vec(),
                rows: (1..=rows)
                    .map(|i| {
                        vec![
                            i.to_string(),
                            format!("袋装水泥第{i}批"),
                            "P.O 42.5 普通硅酸盐水泥，每袋 50 千克".to_string(),
                            format!("{}袋", i * 10),
                            if i % 7 == 0 {
                                "外包装破损，已拍照登记，与当事人当场核对数量无误后封存".to_string()
                            } else {
                                String::new()
                            },
                        ]
                    })
                    .collect(),
            },
        ],
        signatures: vec![SignatureBlock {
            role: "当事人签名".to_string(),
            name: None,
            time: None,
            mark: SignatureMark::Blank,
        }],
        verification: VerificationRef {
            agency: demo::AGENCY_CODE.to_string(),
            number: "青海南交执保〔2026〕0003号".to_string(),
            entry_sha256: "0f".repeat(32),
        },
        date_line: Some("2026年11月29日".to_string()),
    }
}

#[test]
fn a_renderer_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Renderer>();
    shared::<Document>();
}

#[test]
fn a_table_across_a_page_break_repeats_its_header() {
    if !tools_present() {
        return;
    }
    let doc = table_document(60);
    let bytes = render(&doc, &SystemFonts::new()).expect("render");
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write(dir.path(), "table.pdf", &bytes);
    let n = pages(&pdf);
    assert!(n >= 2, "60 rows take more than a page");
    let mut seen = 0;
    for page in 1..=n {
        let text = text_of(&pdf, Some(page));
        let rows_here = (1..=60)
            .filter(|i| text.contains(&format!("袋装水泥第{i}批")))
            .count();
        if rows_here > 0 {
            assert!(
                text.contains("序号名称规格数量备注"),
                "page {page} has rows but no header:\n{text}"
            );
        }
        seen += rows_here;
    }
    assert_eq!(seen, 60, "every row printed exactly once");
    let text = text_of(&pdf, None);
    assert!(text.contains("外包装破损，已拍照登记，与当事人当场核对数量无误后封存"));
    assert!(text.contains("2026年11月29日"));
}

#[test]
fn a_missing_font_and_a_glyph_the_font_lacks_are_refused() {
    let e = render(
        &table_document(1),
        &SystemFonts::at("/nonexistent/NotoSerifCJK-Regular.ttc", None),
    )
    .unwrap_err();
    assert_eq!(e.code(), "FONT_MISSING");
    assert!(e.message().contains("fonts-noto-cjk"), "{}", e.message());

    if !tools_present() {
        return;
    }
    let mut doc = table_document(1);
    doc.blocks.push(Block::Paragraph {
        text: "私用区字符\u{F0000}".to_string(),
    });
    let e = render(&doc, &SystemFonts::new()).unwrap_err();
    assert_eq!(e.code(), "FONT_GLYPH_MISSING");
    assert_eq!(e.issues()[0].path, "blocks[2].text");
}

#[test]
fn an_invalid_signature_is_refused_with_its_path() {
    let mut doc = signed_document();
    if let SignatureMark::Strokes { strokes } = &mut doc.signatures[0].mark {
        strokes.strokes[1][3].pressure = 2.0;
    }
    let e = doc.validate().unwrap_err();
    assert_eq!(e.code(), "SIGNATURE_POINT_INVALID");
    assert_eq!(e.issues()[0].path, "signatures[0].signature.strokes[1][3]");
    if !tools_present() {
        return;
    }
    let e = render(&doc, &SystemFonts::new()).unwrap_err();
    assert_eq!(e.code(), "SIGNATURE_POINT_INVALID");
}

/// A font with TrueType outlines (as iOS's PingFang has) is embedded as a CID font of type 2
/// with its subset, and its text extracts like the CFF one's (fonts-wqy-microhei).
#[test]
fn a_truetype_font_is_embedded_too() {
    const WQY: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
    if !tools_present() {
        return;
    }
    if !Path::new(WQY).is_file() {
        assert!(!in_ci(), "{WQY} missing: install fonts-wqy-microhei");
        eprintln!("SKIPPED (not under CI): {WQY} missing");
        return;
    }
    let renderer = Renderer::new(&SystemFonts::at(WQY, Some(0))).expect("font");
    let doc = signed_document();
    let bytes = renderer.render(&doc).expect("render");
    assert_eq!(bytes, renderer.render(&doc).expect("render"));
    let dir = tempfile::tempdir().expect("tempdir");
    let pdf = write(dir.path(), "truetype.pdf", &bytes);
    let fonts = run("pdffonts", &[pdf.to_str().expect("path")]);
    let line = fonts.lines().nth(2).expect("one font");
    assert!(line.contains("CID TrueType"), "{fonts}");
    let cols: Vec<&str> = line.split_whitespace().collect();
    let n = cols.len();
    assert_eq!(
        (cols[n - 5], cols[n - 4], cols[n - 3]),
        ("yes", "yes", "yes"),
        "{fonts}"
    );
    let text = text_of(&pdf, None);
    for value in [
        "现场笔录",
        "63252119850312123X",
        "青E67890",
        "以上笔录已阅，情况属实。",
    ] {
        assert!(text.contains(value), "lacks “{value}”:\n{text}");
    }
    assert!(bytes.len() <= 150 * 1024, "{} bytes", bytes.len());
    let prefix = dir.path().join("tt");
    run(
        "pdftoppm",
        &[
            "-r",
            "50",
            "-gray",
            "-f",
            "1",
            "-l",
            "1",
            pdf.to_str().expect("path"),
            prefix.to_str().expect("path"),
        ],
    );
    let page = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "pgm"))
        .expect("page image");
    assert!(pgm_has_ink(&page), "the TrueType page is blank");
}
