//! Document rendering figures, each beside references measured in the same run (criterion; the
//! ratios are printed at the end):
//!
//! - rendering the two-page 现场笔录 of a 超限运输 stop with the party's and an officer's
//!   handwritten signatures (`demo::overload_record_long`), with one [`Renderer`] kept across
//!   calls (the font read and parsed once), p50/p99, and the PDF's size;
//! - reference 1: the same render with a new renderer per call (the 26 MB Noto CJK collection
//!   read from disk and parsed each time), what a caller that does not keep a renderer pays;
//! - reference 2: poppler's `pdftotext` extracting the text of the same PDF (process start
//!   included), a stock tool doing the reverse work on the same bytes.
//!
//! Needs fonts-noto-cjk (or `ROADSIDE_CJK_FONT`) and poppler-utils.
//! `cargo bench -p roadside-core --bench document`

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use roadside_bench::{configured, print_ratio, Figures};
use roadside_core::demo;
use roadside_core::document::forms::{site_record, DocHeader, RecordSignatures};
use roadside_core::document::{render, Renderer, SystemFonts};

const RENDER: &str = "two-page 现场笔录 with signatures (renderer kept)";
const RENDER_FRESH: &str = "reference: same render, new renderer per call (font read + parsed)";
const PDFTOTEXT: &str = "reference: pdftotext of the same PDF (process included)";

fn main() {
    let mut c = configured();
    let figures = Figures::new();
    let at = Utc.with_ymd_and_hms(2026, 11, 29, 2, 5, 0).unwrap();
    let header = DocHeader {
        agency_name: demo::AGENCY_NAME.to_string(),
        agency_code: demo::AGENCY_CODE.to_string(),
        number: "青海南交执笔〔2026〕0007号".to_string(),
        entry_sha256: "5e".repeat(32),
    };
    let sigs = RecordSignatures {
        party: Some(demo::signature(1)),
        witness: None,
        officers: vec![Some(demo::signature(2)), None],
        officers_signed_at: None,
    };
    let doc = site_record(&demo::overload_record_long(at), &header, &sigs)
        .unwrap_or_else(|e| panic!("document: {e}"));
    let fonts = SystemFonts::new();
    let renderer = Renderer::new(&fonts).unwrap_or_else(|e| panic!("font: {e}"));
    let pdf = renderer
        .render(&doc)
        .unwrap_or_else(|e| panic!("render: {e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let path = dir.path().join("record.pdf");
    std::fs::write(&path, &pdf).unwrap_or_else(|e| panic!("write: {e}"));
    let pages = String::from_utf8_lossy(
        &Command::new("pdfinfo")
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("pdfinfo (poppler-utils): {e}"))
            .stdout,
    )
    .lines()
    .find_map(|l| l.strip_prefix("Pages:").map(|n| n.trim().to_string()))
    .unwrap_or_default();

    let mut g = c.benchmark_group("document");
    figures.bench(&mut g, RENDER, || {
        black_box(renderer.render(black_box(&doc)).ok());
    });
    figures.bench(&mut g, RENDER_FRESH, || {
        black_box(render(black_box(&doc), &fonts).ok());
    });
    figures.bench(&mut g, PDFTOTEXT, || {
        let out = Command::new("pdftotext")
            .arg(&path)
            .arg("-")
            .output()
            .unwrap_or_else(|e| panic!("pdftotext (poppler-utils): {e}"));
        black_box(out.stdout.len());
    });
    g.finish();

    println!(
        "document benchmark: {} pages, {} bytes ({:.1} KB)",
        pages,
        pdf.len(),
        pdf.len() as f64 / 1024.0
    );
    figures.print(&[RENDER, RENDER_FRESH, PDFTOTEXT]);
    print_ratio(
        "new renderer per call / renderer kept, p99",
        figures.time_ratio(RENDER_FRESH, RENDER, 0.99),
    );
    print_ratio(
        "pdftotext / render, p99",
        figures.time_ratio(PDFTOTEXT, RENDER, 0.99),
    );
    let time = match figures.quantile(RENDER, 0.99) {
        Some(p99) if p99 <= Duration::from_millis(50) => "met",
        Some(_) => "NOT met",
        None => "not run",
    };
    let size = if pdf.len() <= 150 * 1024 {
        "met"
    } else {
        "NOT met"
    };
    println!("targets: render p99 ≤ 50 ms: {time}; PDF ≤ 150 KB: {size}");
    c.final_summary();
}
