//! Layout and PDF writing: a [`Document`] is first laid out into pages of drawing operations (so
//! that the page count is known for "共 Y 页"), then drawn with krilla.

use std::cell::RefCell;
use std::collections::HashMap;

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::{Fill, LineCap, LineJoin, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use sha2::{Digest, Sha256};
use skrifa::charmap::Charmap;
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::GlyphMetrics;
use skrifa::raw::{FontRef, TableProvider};
use skrifa::MetadataProvider;

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

    /// The glyphs of a line of text, each with its advance (plus `gap` em after every glyph but
    /// the last, to justify the line) and the bytes of text it stands for.
    fn glyph_run(&self, text: &str, gap: f32) -> Vec<KrillaGlyph> {
        let n = text.chars().count();
        text.char_indices()
            .enumerate()
            .map(|(k, (i, c))| {
                let (gid, advance) = self.glyph(c);
                let gap = if k + 1 < n { gap } else { 0.0 };
                KrillaGlyph::new(
                    GlyphId::new(gid),
                    advance + gap,
                    0.0,
                    0.0,
                    0.0,
                    i..i + c.len_utf8(),
                    None,
                )
            })
            .collect()
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

/// A renderer holding a parsed font: make it once, render many documents.
pub struct Renderer {
    data: FontData,
    font: Font,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("font", &self.data)
            .finish()
    }
}

fn render_failed(what: impl std::fmt::Display) -> RoadsideError {
    RoadsideError::internal("PDF_RENDER_FAILED", format!("生成 PDF 失败：{what}"))
}

impl Renderer {
    /// Reads the font from `fonts` and checks it can set Chinese text.
    pub fn new(fonts: &dyn FontSource) -> Result<Self> {
        let data = fonts.cjk_font()?;
        check_font(&data)?;
        let font = Font::new(data.bytes.clone().into(), data.index).ok_or_else(|| {
            RoadsideError::new(
                ErrorKind::NotFound,
                "FONT_INVALID",
                format!("第 {} 号字体无法用于生成 PDF", data.index),
            )
        })?;
        Ok(Renderer { data, font })
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

        let mut pdf = krilla::Document::new();
        let total = pages.len();
        let number_w = metrics.width(&doc.number, QR_NUMBER_SIZE);
        for (i, ops) in pages.iter().enumerate() {
            let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
                .ok_or_else(|| render_failed("页面尺寸无效"))?;
            let mut page = pdf.start_page_with(settings);
            let mut surface = page.surface();
            surface.set_fill(Some(black_fill()));
            for op in ops {
                self.draw(&mut surface, &metrics, doc, op);
            }
            draw_qr(&mut surface, &qr, RIGHT - QR_SIZE, QR_TOP, QR_SIZE);
            let caption_x = (RIGHT - number_w).max(RIGHT - QR_SIZE - 40.0);
            self.draw_text(
                &mut surface,
                &metrics,
                (caption_x, QR_TOP + QR_SIZE + QR_NUMBER_SIZE + 2.0),
                QR_NUMBER_SIZE,
                &doc.number,
                None,
            );
            let footer = format!("第 {} 页 共 {} 页", i + 1, total);
            let fx = (PAGE_W - metrics.width(&footer, FOOTER_SIZE)) / 2.0;
            self.draw_text(
                &mut surface,
                &metrics,
                (fx, PAGE_H - 10.0 * MM),
                FOOTER_SIZE,
                &footer,
                None,
            );
            surface.finish();
            page.finish();
        }
        pdf.set_metadata(
            Metadata::new()
                .title(format!("{} {}", doc.title, doc.number))
                .language("zh-CN".to_string())
                .creator("Roadside".to_string())
                .document_id(content_id(doc)?),
        );
        pdf.finish().map_err(|e| render_failed(format!("{e:?}")))
    }

    fn draw_text(
        &self,
        surface: &mut Surface<'_>,
        m: &Metrics<'_>,
        (x, y): (f32, f32),
        size: f32,
        text: &str,
        justify: Option<f32>,
    ) {
        let gaps = text.chars().count().saturating_sub(1);
        let gap = match justify {
            Some(width) if gaps > 0 => {
                ((width - m.width(text, size)) / size / gaps as f32).max(0.0)
            }
            _ => 0.0,
        };
        let glyphs = m.glyph_run(text, gap);
        surface.draw_glyphs(
            Point::from_xy(x, y),
            &glyphs,
            self.font.clone(),
            text,
            size,
            false,
        );
    }

    fn draw(&self, surface: &mut Surface<'_>, m: &Metrics<'_>, doc: &Document, op: &Op) {
        match op {
            Op::Text {
                x,
                y,
                size,
                text,
                justify,
            } => self.draw_text(surface, m, (*x, *y), *size, text, *justify),
            Op::Rule { x1, y1, x2, y2 } => {
                let mut pb = PathBuilder::new();
                pb.move_to(*x1, *y1);
                pb.line_to(*x2, *y2);
                if let Some(path) = pb.finish() {
                    surface.set_fill(None);
                    surface.set_stroke(Some(stroke(RULE_W, LineCap::Butt)));
                    surface.draw_path(&path);
                    surface.set_stroke(None);
                    surface.set_fill(Some(black_fill()));
                }
            }
            Op::Signature { index, x, y, w, h } => {
                if let Some(SignatureMark::Strokes { strokes }) =
                    doc.signatures.get(*index).map(|s| &s.mark)
                {
                    draw_signature(surface, strokes, *x, *y, *w, *h);
                }
            }
        }
    }
}

fn black_fill() -> Fill {
    Fill {
        paint: rgb::Color::new(0, 0, 0).into(),
        ..Fill::default()
    }
}

fn stroke(width: f32, line_cap: LineCap) -> Stroke {
    Stroke {
        paint: rgb::Color::new(0, 0, 0).into(),
        width,
        line_cap,
        line_join: LineJoin::Round,
        ..Stroke::default()
    }
}

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

/// Draws the QR code as filled rectangles (a run of dark modules in a row is one rectangle), with
/// a quiet zone of two modules inside the square.
fn draw_qr(surface: &mut Surface<'_>, qr: &QrModules, x: f32, y: f32, size: f32) {
    let quiet = 2usize;
    let module = size / (qr.width + 2 * quiet) as f32;
    let mut pb = PathBuilder::new();
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
            let ry = y + (row + quiet) as f32 * module;
            if let Some(rect) = Rect::from_xywh(rx, ry, (col - start) as f32 * module, module) {
                pb.push_rect(rect);
            }
        }
    }
    if let Some(path) = pb.finish() {
        surface.set_fill(Some(black_fill()));
        surface.draw_path(&path);
    }
}

/// Draws a signature's strokes fitted (aspect ratio kept, centred) into the box, as polylines
/// whose width follows the pen pressure (in eight steps, so a stroke is a few paths, not one per
/// segment).
fn draw_signature(
    surface: &mut Surface<'_>,
    sig: &SignatureStrokes,
    x: f32,
    y: f32,
    w: f32,
    h: f32,
) {
    let scale = (w / sig.width).min(h / sig.height);
    let ox = x + (w - sig.width * scale) / 2.0;
    let oy = y + (h - sig.height * scale) / 2.0;
    let at = |p: &super::StrokePoint| (ox + p.x * scale, oy + p.y * scale);
    let width_for = |level: u8| 0.5 + 1.3 * f32::from(level) / 7.0;
    let level = |pressure: f32| (pressure.clamp(0.0, 1.0) * 7.0).round() as u8;
    surface.set_fill(None);
    for stroke_pts in &sig.strokes {
        match stroke_pts.as_slice() {
            [] => {}
            [only] => {
                let (px, py) = at(only);
                let mut pb = PathBuilder::new();
                pb.move_to(px, py);
                pb.line_to(px + 0.01, py);
                if let Some(path) = pb.finish() {
                    surface.set_stroke(Some(stroke(
                        width_for(level(only.pressure)),
                        LineCap::Round,
                    )));
                    surface.draw_path(&path);
                }
            }
            pts => {
                let mut i = 0;
                while i + 1 < pts.len() {
                    let lv = level((pts[i].pressure + pts[i + 1].pressure) / 2.0);
                    let mut pb = PathBuilder::new();
                    let (sx, sy) = at(&pts[i]);
                    pb.move_to(sx, sy);
                    while i + 1 < pts.len()
                        && level((pts[i].pressure + pts[i + 1].pressure) / 2.0) == lv
                    {
                        let (px, py) = at(&pts[i + 1]);
                        pb.line_to(px, py);
                        i += 1;
                    }
                    if let Some(path) = pb.finish() {
                        surface.set_stroke(Some(stroke(width_for(lv), LineCap::Round)));
                        surface.draw_path(&path);
                    }
                }
            }
        }
    }
    surface.set_stroke(None);
    surface.set_fill(Some(black_fill()));
}
