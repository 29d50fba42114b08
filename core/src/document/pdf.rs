//! Layout and PDF writing: a [`Document`] is first laid out into pages of drawing operations (so
//! that the page count is known for "共 Y 页"), then written with pdf-writer: one Type 0 font
//! (Identity-H over a CID font, the subset embedded, a ToUnicode map), vector paths for rules, the
//! QR code and signatures, deflated content streams.

use std::cell::RefCell;
use std::collections::HashMap;

use std::collections::BTreeMap;

use pdf_writer::types::{
    CidFontType, FontFlags, LineCapStyle, LineJoinStyle, SystemInfo, UnicodeCmap,
};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use sha2::{Digest, Sha256};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::{FontRef, TableProvider};
use skrifa::MetadataProvider;
use subsetter::GlyphRemapper;

use super::fonts::{check_font, FontData, FontSource};
use super::text::{break_lines, break_lines_indented};
use super::{Block, Document, SignatureMark, SignatureStrokes};
use crate::error::{ErrorKind, Issue, Result, RoadsideError};

// A4 portrait in PDF points (1 pt = 1/72 in), 20 mm margins.
const MM: f32 = 72.0 / 25.4;
const PAGE_W: f32 = 210.0 * MM;
const PAGE_H: f32 = 297.0 * MM;
const MARGIN: f32 = 20.0 * MM;
const LEFT: f32 = MARGIN;
const RIGHT: f32 = PAGE_W - MARGIN;
const CONTENT_W: f32 = RIGHT - LEFT;
const BOTTOM: f32 = PAGE_H - MARGIN;

// The verification QR code, top right of every page, with the number under it.
const QR_SIZE: f32 = 22.0 * MM;
const QR_TOP: f32 = 10.0 * MM;
const QR_NUMBER_SIZE: f32 = 7.0;
/// Where the body starts on pages after the first: below the QR code and its caption.
const CONTINUATION_TOP: f32 = QR_TOP + QR_SIZE + 18.0;

const AGENCY_SIZE: f32 = 15.0;
const TITLE_SIZE: f32 = 22.0;
const BODY_SIZE: f32 = 12.0;
const LINE_H: f32 = 21.0;
const HEADING_SIZE: f32 = 13.5;
const TABLE_SIZE: f32 = 10.5;
const TABLE_LINE_H: f32 = 15.0;
const CELL_PAD: f32 = 4.0;
const FOOTER_SIZE: f32 = 9.0;
const RULE_W: f32 = 0.5;

// Signature blocks: the role at the left, the signing box, then name and time.
const SIG_LABEL_W: f32 = 96.0;
const SIG_BOX_W: f32 = 170.0;
const SIG_BOX_H: f32 = 52.0;

/// One drawing operation, in page coordinates (origin top left, y downwards, points).
enum Op {
    /// Text with its baseline starting at (x, y); justified to end at `x + justify` when set.
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
        justify: Option<f32>,
    },
    /// A straight rule.
    Rule { x1: f32, y1: f32, x2: f32, y2: f32 },
    /// Signature `index` of the document, fitted into the rectangle.
    Signature {
        index: usize,
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

/// The font's glyphs and horizontal advances (in em), cached per character for one render. Text
/// is set glyph by glyph from the font's character map and advances (no shaping: Chinese needs
/// none, and building a shaping plan per line of a large CJK font costs more than the rest of the
/// render), so what is measured for line breaking is exactly what is drawn.
struct Metrics<'a> {
    charmap: Charmap<'a>,
    glyphs: GlyphMetrics<'a>,
    upem: f32,
    cache: RefCell<HashMap<char, (u32, f32)>>,
}

impl<'a> Metrics<'a> {
    fn new(data: &'a FontData) -> Result<Self> {
        let face = FontRef::from_index(&data.bytes, data.index).map_err(|e| {
            RoadsideError::new(
                ErrorKind::NotFound,
                "FONT_INVALID",
                format!("字体无法读取（{e}）"),
            )
        })?;
        let upem = face
            .head()
            .map(|h| f32::from(h.units_per_em()))
            .unwrap_or(1000.0)
            .max(1.0);
        Ok(Metrics {
            charmap: face.charmap(),
            glyphs: face.glyph_metrics(Size::unscaled(), LocationRef::default()),
            upem,
            cache: RefCell::new(HashMap::new()),
        })
    }

    /// The glyph of a character (0, `.notdef`, when the font has none) and its advance in em.
    fn glyph(&self, c: char) -> (u32, f32) {
        if let Some(g) = self.cache.borrow().get(&c) {
            return *g;
        }
        let gid = self.charmap.map(c).unwrap_or_default();
        let w = self.glyphs.advance_width(gid).unwrap_or(self.upem) / self.upem;
        let g = (gid.to_u32(), w);
        self.cache.borrow_mut().insert(c, g);
        g
    }

    fn em(&self, c: char) -> f32 {
        self.glyph(c).1
    }

    /// The advance of `.notdef` (glyph 0), in em.
    fn notdef_width(&self) -> f32 {
        self.glyphs
            .advance_width(skrifa::GlyphId::new(0))
            .unwrap_or(self.upem)
            / self.upem
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.em(c)).sum::<f32>() * size
    }

    /// Every printed character the font has no glyph for, with where it is.
    fn missing_glyphs(&self, doc: &Document) -> Vec<Issue> {
        let charmap = &self.charmap;
        let mut issues = Vec::new();
        doc.for_each_text(&mut |path, text| {
            if let Some(c) = text
                .chars()
                .find(|&c| !c.is_whitespace() && charmap.map(c).is_none())
            {
                issues.push(Issue::new(
                    path,
                    "FONT_GLYPH_MISSING",
                    format!(
                        "字体中没有“{c}”（U+{:04X}）这个字，无法印出；请改用含此字的字体（{}）",
                        c as u32,
                        super::CJK_FONT_ENV
                    ),
                ));
            }
        });
        issues
    }

    /// Breaks `text` into lines of at most `width` points at `size`.
    fn lines(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut out = Vec::new();
        for para in text.split('\n') {
            let para = para.replace('\t', " ");
            let ranges = break_lines(&para, width, &|c| self.em(c) * size);
            if ranges.is_empty() {
                out.push(String::new());
            }
            out.extend(ranges.into_iter().map(|r| para[r].to_string()));
        }
        out
    }
}

/// The pages being filled, and the position on the current one.
struct Layout<'a> {
    m: &'a Metrics<'a>,
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl<'a> Layout<'a> {
    fn ops(&mut self) -> &mut Vec<Op> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = CONTINUATION_TOP;
    }

    /// Starts a new page unless `h` points still fit on this one.
    fn ensure(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.new_page();
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, text: &str) {
        if !text.is_empty() {
            self.ops().push(Op::Text {
                x,
                y,
                size,
                text: text.to_string(),
                justify: None,
            });
        }
    }

    /// A line of running text that is not a paragraph's last: spread to the full `width` when
    /// the space left is small (at most an em and a half), as Chinese text is set.
    fn text_justified(&mut self, x: f32, y: f32, size: f32, text: &str, width: f32) {
        let slack = width - self.m.width(text, size);
        let justify =
            (slack > 0.0 && slack <= 1.5 * size && text.chars().count() > 1).then_some(width);
        if !text.is_empty() {
            self.ops().push(Op::Text {
                x,
                y,
                size,
                text: text.to_string(),
                justify,
            });
        }
    }

    fn rule(&mut self, x1: f32, y1: f32, x2: f32, y2: f32) {
        self.ops().push(Op::Rule { x1, y1, x2, y2 });
    }

    fn centered(&mut self, y: f32, size: f32, text: &str) {
        let x = (PAGE_W - self.m.width(text, size)) / 2.0;
        self.text(x, y, size, text);
    }

    fn right(&mut self, y: f32, size: f32, text: &str) {
        let x = RIGHT - self.m.width(text, size);
        self.text(x, y, size, text);
    }

    /// Agency, title and number at the top of page 1, kept clear of the QR code.
    fn header(&mut self, doc: &Document) {
        let width = CONTENT_W - 2.0 * (QR_SIZE + 8.0);
        self.y = MARGIN;
        for line in self.m.lines(&doc.agency, AGENCY_SIZE, width) {
            self.y += AGENCY_SIZE * 1.4;
            self.centered(self.y, AGENCY_SIZE, &line);
        }
        self.y += 10.0;
        for line in self.m.lines(&doc.title, TITLE_SIZE, width) {
            self.y += TITLE_SIZE * 1.35;
            self.centered(self.y, TITLE_SIZE, &line);
        }
        self.y = self.y.max(QR_TOP + QR_SIZE + QR_NUMBER_SIZE + 4.0);
        for line in self.m.lines(&doc.number, BODY_SIZE, CONTENT_W) {
            self.y += LINE_H;
            self.right(self.y, BODY_SIZE, &line);
        }
        self.y += 10.0;
    }

    /// "label：value", the value ruled and wrapped under itself.
    fn field(&mut self, label: &str, value: &str) {
        let label = format!("{label}：");
        let lw = self.m.width(&label, BODY_SIZE).min(CONTENT_W / 2.0);
        let vx = LEFT + lw;
        let lines = self.m.lines(value, BODY_SIZE, RIGHT - vx - 2.0);
        for (i, line) in lines.iter().enumerate() {
            self.ensure(LINE_H);
            self.y += LINE_H;
            if i == 0 {
                self.text(LEFT, self.y, BODY_SIZE, &label);
            }
            self.text(vx + 1.0, self.y, BODY_SIZE, line);
            self.rule(vx, self.y + 4.0, RIGHT, self.y + 4.0);
        }
    }

    /// Short fields side by side, each in an equal share of the line.
    fn field_row(&mut self, fields: &[(String, String)]) {
        if fields.is_empty() {
            return;
        }
        let cell_w = CONTENT_W / fields.len() as f32;
        let cells: Vec<(String, f32, Vec<String>)> = fields
            .iter()
            .map(|(label, value)| {
                let label = format!("{label}：");
                let lw = self.m.width(&label, BODY_SIZE).min(cell_w / 2.0);
                let lines = self.m.lines(value, BODY_SIZE, cell_w - lw - 8.0);
                (label, lw, lines)
            })
            .collect();
        let n = cells.iter().map(|c| c.2.len()).max().unwrap_or(1);
        self.ensure(LINE_H * n as f32);
        let top = self.y;
        for (i, (label, lw, lines)) in cells.iter().enumerate() {
            let x = LEFT + cell_w * i as f32;
            let vx = x + lw;
            let right = x + cell_w - 6.0;
            for k in 0..n {
                let y = top + LINE_H * (k + 1) as f32;
                if k == 0 {
                    self.text(x, y, BODY_SIZE, label);
                }
                if let Some(line) = lines.get(k) {
                    self.text(vx + 1.0, y, BODY_SIZE, line);
                }
                self.rule(vx, y + 4.0, right, y + 4.0);
            }
        }
        self.y = top + LINE_H * n as f32;
    }

    fn heading(&mut self, text: &str) {
        let lines = self.m.lines(text, HEADING_SIZE, CONTENT_W);
        // A heading is never the last line of a page.
        self.ensure(6.0 + LINE_H * (lines.len() + 1) as f32);
        self.y += 6.0;
        for line in lines {
            self.y += LINE_H;
            self.text(LEFT, self.y, HEADING_SIZE, &line);
        }
    }

    /// Running text, each paragraph's first line indented two characters.
    fn paragraph(&mut self, text: &str) {
        let indent = 2.0 * BODY_SIZE;
        for para in text.split('\n') {
            let para = para.replace('\t', " ");
            let ranges = break_lines_indented(&para, CONTENT_W - indent, CONTENT_W, &|c| {
                self.m.em(c) * BODY_SIZE
            });
            if ranges.is_empty() {
                self.ensure(LINE_H);
                self.y += LINE_H;
            }
            let last = ranges.len().saturating_sub(1);
            for (i, r) in ranges.into_iter().enumerate() {
                self.ensure(LINE_H);
                self.y += LINE_H;
                let x = if i == 0 { LEFT + indent } else { LEFT };
                if i < last {
                    self.text_justified(x, self.y, BODY_SIZE, &para[r], RIGHT - x);
                } else {
                    self.text(x, self.y, BODY_SIZE, &para[r]);
                }
            }
        }
    }

    /// Column widths: every column at least as wide as its header and its short cells (so that
    /// 序号 and 数量 do not wrap), then the rest of the line shared towards each column's natural
    /// width (its longest text, capped), and what is left over in proportion.
    fn column_widths(&self, headers: &[String], rows: &[Vec<String>]) -> Vec<f32> {
        fn cell(r: &[String], c: usize) -> &str {
            r.get(c).map(String::as_str).unwrap_or("")
        }
        let cols = headers
            .len()
            .max(rows.iter().map(Vec::len).max().unwrap_or(0))
            .max(1);
        let pad = 2.0 * CELL_PAD;
        let short = 4.5 * TABLE_SIZE;
        let mut min = vec![0.0f32; cols];
        let mut natural = vec![0.0f32; cols];
        for c in 0..cols {
            let head = self.m.width(cell(headers, c), TABLE_SIZE);
            min[c] = head;
            natural[c] = head;
            for r in rows {
                let w = self.m.width(cell(r, c), TABLE_SIZE);
                if w <= short {
                    min[c] = min[c].max(w);
                }
                natural[c] = natural[c].max(w.min(CONTENT_W * 0.6));
            }
            min[c] = min[c].max(TABLE_SIZE) + pad;
            natural[c] += pad;
        }
        let min_total: f32 = min.iter().sum();
        if min_total >= CONTENT_W {
            return min.iter().map(|w| w * CONTENT_W / min_total).collect();
        }
        let extra = CONTENT_W - min_total;
        let want: Vec<f32> = natural
            .iter()
            .zip(&min)
            .map(|(n, m)| (n - m).max(0.0))
            .collect();
        let want_total: f32 = want.iter().sum();
        let k = if want_total > 0.0 {
            (extra / want_total).min(1.0)
        } else {
            0.0
        };
        let mut widths: Vec<f32> = min.iter().zip(&want).map(|(m, w)| m + w * k).collect();
        let left = CONTENT_W - widths.iter().sum::<f32>();
        if left > 0.0 {
            let total: f32 = widths.iter().sum();
            for w in widths.iter_mut() {
                *w += left * *w / total;
            }
        }
        widths
    }

    fn table_row(&mut self, widths: &[f32], cells: &[Vec<String>], from: usize, n: usize) {
        let top = self.y;
        let h = TABLE_LINE_H * n as f32 + 2.0 * CELL_PAD;
        let mut x = LEFT;
        for (c, w) in widths.iter().enumerate() {
            if let Some(lines) = cells.get(c) {
                for (k, line) in lines.iter().skip(from).take(n).enumerate() {
                    let y = top + CELL_PAD + TABLE_LINE_H * (k + 1) as f32 - 3.5;
                    self.text(x + CELL_PAD, y, TABLE_SIZE, line);
                }
            }
            self.rule(x, top, x, top + h);
            x += w;
        }
        self.rule(RIGHT, top, RIGHT, top + h);
        self.rule(LEFT, top, RIGHT, top);
        self.rule(LEFT, top + h, RIGHT, top + h);
        self.y = top + h;
    }

    fn table(&mut self, headers: &[String], rows: &[Vec<String>]) {
        let widths = self.column_widths(headers, rows);
        let wrap = |row: &[String]| -> Vec<Vec<String>> {
            widths
                .iter()
                .enumerate()
                .map(|(c, w)| {
                    let t = row.get(c).map(String::as_str).unwrap_or("");
                    self.m.lines(t, TABLE_SIZE, w - 2.0 * CELL_PAD)
                })
                .collect()
        };
        let head = wrap(headers);
        let head_n = head.iter().map(Vec::len).max().unwrap_or(1);
        let head_h = TABLE_LINE_H * head_n as f32 + 2.0 * CELL_PAD;
        let row_h = |n: usize| TABLE_LINE_H * n as f32 + 2.0 * CELL_PAD;
        self.y += 6.0;
        // The header and at least one line of the first row stay together.
        self.ensure(head_h + row_h(1));
        if !headers.is_empty() {
            self.table_row(&widths, &head, 0, head_n);
        }
        for row in rows {
            let cells = wrap(row);
            let n = cells.iter().map(Vec::len).max().unwrap_or(1);
            let mut done = 0;
            while done < n {
                let room = ((BOTTOM - self.y - 2.0 * CELL_PAD) / TABLE_LINE_H).floor();
                let fits = if room < 1.0 { 0 } else { room as usize };
                // A row that fits on a fresh page is not split; a longer one is split by lines.
                let whole_fits_fresh = row_h(n - done) <= BOTTOM - CONTINUATION_TOP - head_h;
                if fits == 0 || (fits < n - done && whole_fits_fresh) {
                    self.new_page();
                    if !headers.is_empty() {
                        self.table_row(&widths, &head, 0, head_n);
                    }
                    continue;
                }
                let take = fits.min(n - done);
                self.table_row(&widths, &cells, done, take);
                done += take;
            }
        }
    }

    /// Height of one signature block as laid out by [`Self::signature`].
    fn signature_lines(&self, doc: &Document, index: usize) -> (f32, Vec<String>) {
        let s = &doc.signatures[index];
        let text_x = LEFT + SIG_LABEL_W;
        match &s.mark {
            SignatureMark::Refused { reason, witness } => {
                let who = s.role.strip_suffix("签名").unwrap_or(&s.role);
                let mut text = format!("{who}拒绝签名：{reason}");
                if let Some(w) = witness {
                    text.push_str(&format!("\n见证人：{w}"));
                }
                if let Some(n) = &s.name {
                    text.push_str(&format!("\n姓名：{n}"));
                }
                if let Some(t) = &s.time {
                    text.push_str(&format!("\n时间：{t}"));
                }
                let lines = self.m.lines(&text, BODY_SIZE, RIGHT - text_x);
                (LINE_H * lines.len() as f32 + 6.0, lines)
            }
            SignatureMark::Strokes { .. } | SignatureMark::Blank => {
                let meta_x = text_x + SIG_BOX_W + 12.0;
                let mut text = Vec::new();
                if let Some(n) = &s.name {
                    text.push(format!("姓名：{n}"));
                }
                if let Some(t) = &s.time {
                    text.push(format!("时间：{t}"));
                }
                let lines = self
                    .m
                    .lines(&text.join("\n"), BODY_SIZE - 1.0, RIGHT - meta_x);
                let h = SIG_BOX_H.max(LINE_H * lines.len() as f32) + 6.0;
                (h, lines)
            }
        }
    }

    fn signature(&mut self, doc: &Document, index: usize) {
        let (h, lines) = self.signature_lines(doc, index);
        self.ensure(h);
        let s = &doc.signatures[index];
        let top = self.y;
        let label = format!("{}：", s.role);
        self.text(LEFT, top + LINE_H, BODY_SIZE, &label);
        let box_x = LEFT + SIG_LABEL_W;
        match &s.mark {
            SignatureMark::Refused { .. } => {
                for (k, line) in lines.iter().enumerate() {
                    self.text(box_x, top + LINE_H * (k + 1) as f32, BODY_SIZE, line);
                }
            }
            SignatureMark::Strokes { .. } | SignatureMark::Blank => {
                if matches!(s.mark, SignatureMark::Strokes { .. }) {
                    self.ops().push(Op::Signature {
                        index,
                        x: box_x,
                        y: top + 2.0,
                        w: SIG_BOX_W,
                        h: SIG_BOX_H - 6.0,
                    });
                }
                self.rule(
                    box_x,
                    top + SIG_BOX_H - 2.0,
                    box_x + SIG_BOX_W,
                    top + SIG_BOX_H - 2.0,
                );
                let meta_x = box_x + SIG_BOX_W + 12.0;
                for (k, line) in lines.iter().enumerate() {
                    self.text(meta_x, top + LINE_H * (k + 1) as f32, BODY_SIZE - 1.0, line);
                }
            }
        }
        self.y = top + h;
    }

    /// The signatures, the agency (where the seal goes) and the date, kept together.
    fn closing(&mut self, doc: &Document) {
        let mut total: f32 = (0..doc.signatures.len())
            .map(|i| self.signature_lines(doc, i).0)
            .sum::<f32>()
            + 12.0;
        let seal = doc.date_line.is_some();
        if seal {
            total += 24.0 + 2.0 * LINE_H;
        }
        if self.y + total > BOTTOM && total <= BOTTOM - CONTINUATION_TOP {
            self.new_page();
        }
        self.y += 12.0;
        for i in 0..doc.signatures.len() {
            self.signature(doc, i);
        }
        if let Some(date) = &doc.date_line {
            self.ensure(24.0 + 2.0 * LINE_H);
            self.y += 24.0 + LINE_H;
            let aw = self.m.width(&doc.agency, BODY_SIZE);
            let dw = self.m.width(date, BODY_SIZE);
            // The date centred under the agency's name, as under a seal.
            let right = RIGHT - 12.0;
            let agency_x = (right - aw).max(LEFT);
            self.text(agency_x, self.y, BODY_SIZE, &doc.agency);
            self.y += LINE_H;
            let date_x = (agency_x + (aw.min(right - LEFT) - dw) / 2.0).max(LEFT);
            self.text(date_x, self.y, BODY_SIZE, date);
        }
    }
}

/// What the PDF needs to know of the font besides its glyphs.
#[derive(Debug, Clone)]
struct FaceInfo {
    postscript_name: String,
    /// CFF outlines (embedded as a CID-keyed CFF), else TrueType outlines.
    cff: bool,
    serif: bool,
    /// Font units per em.
    upem: f32,
    bbox: [f32; 4],
    ascent: f32,
    descent: f32,
    cap_height: f32,
}

impl FaceInfo {
    fn read(data: &FontData) -> Result<Self> {
        let face = FontRef::from_index(&data.bytes, data.index).map_err(|e| {
            RoadsideError::new(
                ErrorKind::NotFound,
                "FONT_INVALID",
                format!("字体无法读取（{e}）"),
            )
        })?;
        let head = face.head().map_err(|e| {
            RoadsideError::new(
                ErrorKind::NotFound,
                "FONT_INVALID",
                format!("字体缺少 head 表（{e}）"),
            )
        })?;
        let cff = face.cff().is_ok();
        if !cff && face.glyf().is_err() {
            return Err(RoadsideError::new(
                ErrorKind::NotFound,
                "FONT_INVALID",
                "字体没有 CFF 或 TrueType 字形（可能是 CFF2 可变字体），无法嵌入 PDF",
            ));
        }
        let postscript_name: String = face
            .localized_strings(skrifa::string::StringId::POSTSCRIPT_NAME)
            .english_or_first()
            .map(|s| s.to_string())
            .unwrap_or_default()
            .chars()
            .filter(|c| c.is_ascii_graphic() && !"[](){}<>/%#".contains(*c))
            .collect();
        let postscript_name = if postscript_name.is_empty() {
            "CJKFont".to_string()
        } else {
            postscript_name
        };
        let metrics = face.metrics(Size::unscaled(), LocationRef::default());
        let upem = f32::from(head.units_per_em()).max(1.0);
        Ok(FaceInfo {
            serif: postscript_name.contains("Serif") || postscript_name.contains("Song"),
            postscript_name,
            cff,
            upem,
            bbox: [
                f32::from(head.x_min()),
                f32::from(head.y_min()),
                f32::from(head.x_max()),
                f32::from(head.y_max()),
            ],
            ascent: metrics.ascent,
            descent: metrics.descent,
            cap_height: metrics.cap_height.unwrap_or(metrics.ascent),
        })
    }

    /// Font units to the PDF's glyph space (1000 per em).
    fn pdf_units(&self, v: f32) -> f32 {
        v * 1000.0 / self.upem
    }
}

/// A renderer holding a checked font: make it once, render many documents.
pub struct Renderer {
    data: FontData,
    face: FaceInfo,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("font", &self.data)
            .field("face", &self.face.postscript_name)
            .finish()
    }
}

fn render_failed(what: impl std::fmt::Display) -> RoadsideError {
    RoadsideError::internal("PDF_RENDER_FAILED", format!("生成 PDF 失败：{what}"))
}

/// The glyphs used in a document: each font glyph gets a CID (its number in the subset), with its
/// width and the character it prints (for the ToUnicode map that makes the text extractable).
struct GlyphSet {
    remapper: GlyphRemapper,
    chars: BTreeMap<u16, char>,
    widths: BTreeMap<u16, f32>,
}

impl GlyphSet {
    /// The 2-byte CIDs (Identity-H) of a line of text.
    fn encode(&mut self, m: &Metrics<'_>, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            let (gid, advance) = m.glyph(c);
            let gid = u16::try_from(gid).unwrap_or(0);
            let cid = self.remapper.remap(gid);
            self.chars.entry(cid).or_insert(c);
            self.widths.entry(cid).or_insert(advance * 1000.0);
            out.extend_from_slice(&cid.to_be_bytes());
        }
        out
    }
}

const FONT_NAME: Name<'static> = Name(b"F0");

/// Deflate at level 3: a third faster than the usual 6 on a document's font subset, for about
/// 1.5 % more bytes.
fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 3)
}

/// One page's content stream: what the layout put there, then the QR code, its caption and the
/// footer. PDF's y axis points up; the layout's points down from the top of the page.
struct PageWriter<'a> {
    c: Content,
    m: &'a Metrics<'a>,
    glyphs: &'a mut GlyphSet,
    char_spacing: f32,
}

impl PageWriter<'_> {
    fn text(&mut self, x: f32, y: f32, size: f32, text: &str, justify: Option<f32>) {
        let gaps = text.chars().count().saturating_sub(1);
        let spacing = match justify {
            Some(width) if gaps > 0 => ((width - self.m.width(text, size)) / gaps as f32).max(0.0),
            _ => 0.0,
        };
        let cids = self.glyphs.encode(self.m, text);
        self.c.begin_text();
        self.c.set_font(FONT_NAME, size);
        if spacing != self.char_spacing {
            self.c.set_char_spacing(spacing);
            self.char_spacing = spacing;
        }
        self.c.set_text_matrix([1.0, 0.0, 0.0, 1.0, x, PAGE_H - y]);
        self.c.show(Str(&cids));
        self.c.end_text();
    }

    fn rule(&mut self, x1: f32, y1: f32, x2: f32, y2: f32) {
        self.c.set_line_width(RULE_W);
        self.c.set_line_cap(LineCapStyle::ButtCap);
        self.c.move_to(x1, PAGE_H - y1);
        self.c.line_to(x2, PAGE_H - y2);
        self.c.stroke();
    }

    /// The QR code as filled rectangles (a run of dark modules in a row is one rectangle), with
    /// a quiet zone of two modules inside the square.
    fn qr(&mut self, qr: &QrModules, x: f32, y: f32, size: f32) {
        let quiet = 2usize;
        let module = size / (qr.width + 2 * quiet) as f32;
        for row in 0..qr.width {
            let mut col = 0;
            while col < qr.width {
                if !qr.dark[row * qr.width + col] {
                    col += 1;
                    continue;
                }
                let start = col;
                while col < qr.width && qr.dark[row * qr.width + col] {
                    col += 1;
                }
                let rx = x + (start + quiet) as f32 * module;
                let ry = y + (row + quiet + 1) as f32 * module;
                self.c
                    .rect(rx, PAGE_H - ry, (col - start) as f32 * module, module);
            }
        }
        self.c.fill_nonzero();
    }

    /// A signature's strokes fitted (aspect ratio kept, centred) into the box, as polylines whose
    /// width follows the pen pressure (in eight steps, so a stroke is a few paths, not one per
    /// segment).
    fn signature(&mut self, sig: &SignatureStrokes, x: f32, y: f32, w: f32, h: f32) {
        let scale = (w / sig.width).min(h / sig.height);
        let ox = x + (w - sig.width * scale) / 2.0;
        let oy = y + (h - sig.height * scale) / 2.0;
        let at = |p: &super::StrokePoint| (ox + p.x * scale, PAGE_H - (oy + p.y * scale));
        let width_for = |level: u8| 0.5 + 1.3 * f32::from(level) / 7.0;
        let level = |pressure: f32| (pressure.clamp(0.0, 1.0) * 7.0).round() as u8;
        self.c.set_line_cap(LineCapStyle::RoundCap);
        self.c.set_line_join(LineJoinStyle::RoundJoin);
        for pts in &sig.strokes {
            match pts.as_slice() {
                [] => {}
                [only] => {
                    let (px, py) = at(only);
                    self.c.set_line_width(width_for(level(only.pressure)));
                    self.c.move_to(px, py);
                    self.c.line_to(px + 0.01, py);
                    self.c.stroke();
                }
                pts => {
                    let mut i = 0;
                    while i + 1 < pts.len() {
                        let lv = level((pts[i].pressure + pts[i + 1].pressure) / 2.0);
                        let (sx, sy) = at(&pts[i]);
                        self.c.set_line_width(width_for(lv));
                        self.c.move_to(sx, sy);
                        while i + 1 < pts.len()
                            && level((pts[i].pressure + pts[i + 1].pressure) / 2.0) == lv
                        {
                            let (px, py) = at(&pts[i + 1]);
                            self.c.line_to(px, py);
                            i += 1;
                        }
                        self.c.stroke();
                    }
                }
            }
        }
        self.c.set_line_join(LineJoinStyle::MiterJoin);
    }
}

impl Renderer {
    /// Reads the font from `fonts` and checks it can set Chinese text and be embedded.
    pub fn new(fonts: &dyn FontSource) -> Result<Self> {
        let data = fonts.cjk_font()?;
        check_font(&data)?;
        let face = FaceInfo::read(&data)?;
        Ok(Renderer { data, face })
    }

    /// Renders `doc` to PDF bytes. Refuses (and lists every problem of) a document that does not
    /// [`validate`](Document::validate) or has a character the font cannot print.
    pub fn render(&self, doc: &Document) -> Result<Vec<u8>> {
        doc.validate()?;
        let metrics = Metrics::new(&self.data)?;
        let missing = metrics.missing_glyphs(doc);
        if !missing.is_empty() {
            return Err(RoadsideError::invalid(missing));
        }
        let qr = qr_modules(&doc.verification.payload())?;

        let mut layout = Layout {
            m: &metrics,
            pages: vec![Vec::new()],
            y: MARGIN,
        };
        layout.header(doc);
        for block in &doc.blocks {
            match block {
                Block::Field { label, value } => layout.field(label, value),
                Block::FieldRow { fields } => layout.field_row(fields),
                Block::Heading { text } => layout.heading(text),
                Block::Paragraph { text } => layout.paragraph(text),
                Block::Table { headers, rows } => layout.table(headers, rows),
            }
        }
        layout.closing(doc);
        let pages = layout.pages;

        // Object numbers: catalog, page tree, info, the font's five objects, then two per page.
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let info = Ref::new(3);
        let type0 = Ref::new(4);
        let cid_font = Ref::new(5);
        let descriptor = Ref::new(6);
        let font_file = Ref::new(7);
        let to_unicode = Ref::new(8);
        let page_ref = |i: usize| Ref::new(9 + 2 * i as i32);
        let content_ref = |i: usize| Ref::new(10 + 2 * i as i32);

        let mut pdf = Pdf::new();
        let mut glyphs = GlyphSet {
            remapper: GlyphRemapper::new(),
            chars: BTreeMap::new(),
            widths: BTreeMap::new(),
        };
        glyphs.widths.insert(0, metrics.notdef_width() * 1000.0);
        let total = pages.len();
        let number_w = metrics.width(&doc.number, QR_NUMBER_SIZE);
        for (i, ops) in pages.iter().enumerate() {
            let mut w = PageWriter {
                c: Content::new(),
                m: &metrics,
                glyphs: &mut glyphs,
                char_spacing: 0.0,
            };
            for op in ops {
                match op {
                    Op::Text {
                        x,
                        y,
                        size,
                        text,
                        justify,
                    } => w.text(*x, *y, *size, text, *justify),
                    Op::Rule { x1, y1, x2, y2 } => w.rule(*x1, *y1, *x2, *y2),
                    Op::Signature {
                        index,
                        x,
                        y,
                        w: bw,
                        h,
                    } => {
                        if let Some(SignatureMark::Strokes { strokes }) =
                            doc.signatures.get(*index).map(|s| &s.mark)
                        {
                            w.signature(strokes, *x, *y, *bw, *h);
                        }
                    }
                }
            }
            w.qr(&qr, RIGHT - QR_SIZE, QR_TOP, QR_SIZE);
            let caption_x = (RIGHT - number_w).max(RIGHT - QR_SIZE - 40.0);
            w.text(
                caption_x,
                QR_TOP + QR_SIZE + QR_NUMBER_SIZE + 2.0,
                QR_NUMBER_SIZE,
                &doc.number,
                None,
            );
            let footer = format!("第 {} 页 共 {} 页", i + 1, total);
            let fx = (PAGE_W - metrics.width(&footer, FOOTER_SIZE)) / 2.0;
            w.text(fx, PAGE_H - 10.0 * MM, FOOTER_SIZE, &footer, None);
            let content = deflate(&w.c.finish().into_vec());
            pdf.stream(content_ref(i), &content)
                .filter(Filter::FlateDecode);
            let mut page = pdf.page(page_ref(i));
            page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
                .parent(tree)
                .contents(content_ref(i));
            page.resources().fonts().pair(FONT_NAME, type0);
            page.finish();
        }
        pdf.pages(tree)
            .kids((0..total).map(page_ref))
            .count(i32::try_from(total).map_err(render_failed)?);
        pdf.catalog(catalog).pages(tree);

        self.write_font(
            &mut pdf,
            &glyphs,
            [type0, cid_font, descriptor, font_file, to_unicode],
        )?;

        let title = format!("{} {}", doc.title, doc.number);
        pdf.document_info(info)
            .title(TextStr(&title))
            .creator(TextStr("Roadside"));
        let id = content_id(doc)?.into_bytes();
        pdf.set_file_id((id.clone(), id));
        Ok(pdf.finish())
    }

    /// The font as a Type 0 font over a CID font (Identity-H: each glyph written as its 2-byte
    /// number in the subset), the subset embedded, widths and the ToUnicode map.
    fn write_font(&self, pdf: &mut Pdf, glyphs: &GlyphSet, refs: [Ref; 5]) -> Result<()> {
        let [type0, cid_font, descriptor, font_file, to_unicode] = refs;
        let face = &self.face;
        let subset = subsetter::subset(&self.data.bytes, self.data.index, &glyphs.remapper)
            .map_err(|e| render_failed(format!("字体子集化失败（{e:?}）")))?;

        // The subset's tag: six capital letters from the glyphs it holds.
        let mut h = Sha256::new();
        for g in glyphs.remapper.remapped_gids() {
            h.update(g.to_be_bytes());
        }
        let tag: String = h.finalize()[..6]
            .iter()
            .map(|b| char::from(b'A' + b % 26))
            .collect();
        let base = format!("{tag}+{}", face.postscript_name);

        let type0_name = if face.cff {
            format!("{base}-Identity-H")
        } else {
            base.clone()
        };
        pdf.type0_font(type0)
            .base_font(Name(type0_name.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid_font)
            .to_unicode(to_unicode);

        let mut cid = pdf.cid_font(cid_font);
        cid.subtype(if face.cff {
            CidFontType::Type0
        } else {
            CidFontType::Type2
        });
        cid.base_font(Name(base.as_bytes()));
        cid.system_info(SYSTEM_INFO);
        cid.font_descriptor(descriptor);
        cid.default_width(0.0);
        if !face.cff {
            cid.cid_to_gid_map_predefined(Name(b"Identity"));
        }
        let count = glyphs.remapper.num_gids();
        cid.widths().consecutive(
            0,
            (0..count).map(|c| glyphs.widths.get(&c).copied().unwrap_or(0.0)),
        );
        cid.finish();

        let mut flags = FontFlags::SYMBOLIC;
        if face.serif {
            flags |= FontFlags::SERIF;
        }
        let mut fd = pdf.font_descriptor(descriptor);
        fd.name(Name(base.as_bytes()))
            .flags(flags)
            .bbox(Rect::new(
                face.pdf_units(face.bbox[0]),
                face.pdf_units(face.bbox[1]),
                face.pdf_units(face.bbox[2]),
                face.pdf_units(face.bbox[3]),
            ))
            .italic_angle(0.0)
            .ascent(face.pdf_units(face.ascent))
            .descent(face.pdf_units(face.descent))
            .cap_height(face.pdf_units(face.cap_height))
            .stem_v(80.0);
        if face.cff {
            fd.font_file3(font_file);
        } else {
            fd.font_file2(font_file);
        }
        fd.finish();

        if face.cff {
            let sub = FontRef::new(&subset)
                .map_err(|e| render_failed(format!("字体子集无法读取（{e}）")))?;
            let cff = sub
                .data_for_tag(skrifa::raw::types::Tag::new(b"CFF "))
                .ok_or_else(|| render_failed("字体子集缺少 CFF 表"))?;
            let data = deflate(cff.as_bytes());
            pdf.stream(font_file, &data)
                .filter(Filter::FlateDecode)
                .pair(Name(b"Subtype"), Name(b"CIDFontType0C"));
        } else {
            let data = deflate(&subset);
            let mut s = pdf.stream(font_file, &data);
            s.filter(Filter::FlateDecode);
            s.pair(
                Name(b"Length1"),
                i32::try_from(subset.len()).map_err(render_failed)?,
            );
        }

        let mut cmap = UnicodeCmap::new(Name(b"Custom"), SYSTEM_INFO);
        for (cid, c) in &glyphs.chars {
            cmap.pair(*cid, *c);
        }
        let data = deflate(&cmap.finish().into_vec());
        pdf.stream(to_unicode, &data).filter(Filter::FlateDecode);
        Ok(())
    }
}

const SYSTEM_INFO: SystemInfo = SystemInfo {
    registry: Str(b"Adobe"),
    ordering: Str(b"Identity"),
    supplement: 0,
};

/// The PDF document ID: a hash of the whole document's content, so that it is the same for the
/// same document and different for any other.
fn content_id(doc: &Document) -> Result<String> {
    let json = serde_json::to_vec(doc)?;
    Ok(hex::encode(Sha256::digest(json)))
}

/// The QR code's dark modules as a square matrix (row-major), error correction level M.
struct QrModules {
    width: usize,
    dark: Vec<bool>,
}

fn qr_modules(payload: &str) -> Result<QrModules> {
    let code = qrcode::QrCode::with_error_correction_level(payload.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| {
            RoadsideError::invalid_field(
                "verification",
                "QR_ENCODE_FAILED",
                format!("核验二维码无法生成（{e}）：文书编号或机关代码过长"),
            )
        })?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok(QrModules { width, dark })
}
