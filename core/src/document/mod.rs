//! The standard enforcement documents (文书) of 《交通运输行政执法文书式样》, rendered to PDF.
//!
//! Pure: no store, no network, no ledger. A caller builds a [`Document`] — the typed content of one
//! 文书: agency, title, number, blocks of fields, paragraphs and tables, signature blocks, the
//! verification reference — usually through a builder in [`forms`], and [`render`]s it with a font
//! from a [`FontSource`]. The caller hashes the returned bytes and records that hash before the
//! document is shown or printed.
//!
//! # Layout
//!
//! A4 portrait, 20 mm margins. Page 1 starts with the agency's name, the title (centred, large) and
//! the number (right-aligned). Every page carries the verification QR code in its top right corner
//! (22 mm) with the number under it, and "第 X 页 共 Y 页" at the foot. Fields, rows of short
//! fields, headings and paragraphs flow down the page and onto the next; a table that continues on a
//! new page repeats its header row; the signature blocks (with the date and the agency for the seal)
//! are kept together at the end, on a new page when they do not fit. Text is set in one CJK face and
//! broken by [`text::break_lines`] (between CJK characters, never inside a Latin word or number,
//! closing punctuation never at a line's start), measured with the font's own advances.
//!
//! # Determinism
//!
//! The same [`Document`] and font give the same bytes: no creation date is written, and the PDF's
//! document ID is derived from the document's content. The PDF title is "title number".
//!
//! # Verification reference
//!
//! The QR code holds [`VerificationRef::payload`]:
//! `roadside:v1?agency=<agency code>&no=<number>&entry=<entry SHA-256>`, where the number is
//! percent-encoded as UTF-8 (every byte outside `A–Z a–z 0–9 - . _ ~`), the agency code likewise,
//! and the entry hash is the 64 lowercase hex digits of the SHA-256 of the ledger entry the
//! document renders. A verification page looks the document up by agency and number and compares
//! the entry hash.

pub mod decisions;
pub mod fonts;
pub mod forms;
mod pdf;
pub mod signature;
pub mod text;

use serde::{Deserialize, Serialize};

use crate::error::{Issue, Result, RoadsideError};

pub use fonts::{FontData, FontSource, SystemFonts, CJK_FONT_ENV};
pub use pdf::Renderer;
pub use signature::{SignatureStrokes, StrokePoint, MAX_SIGNATURE_POINTS};

/// One 文书, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// e.g. 当场行政处罚决定书.
    pub title: String,
    /// The 执法机关's full name, printed above the title.
    pub agency: String,
    /// 文书编号, e.g. 青海南交执罚〔2026〕0001号.
    pub number: String,
    pub blocks: Vec<Block>,
    pub signatures: Vec<SignatureBlock>,
    pub verification: VerificationRef,
    /// e.g. "2026年12月07日", printed at the end, right-aligned under the agency's name (the seal's place).
    #[serde(default)]
    pub date_line: Option<String>,
}

/// A piece of a document's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    /// "label：value" on one row; the value wraps under itself and is ruled like a paper form.
    Field { label: String, value: String },
    /// Two or three short fields side by side (性别 / 年龄 / 民族).
    FieldRow { fields: Vec<(String, String)> },
    /// A section heading.
    Heading { text: String },
    /// Running text that wraps over lines and pages; each `\n` starts a new indented paragraph.
    Paragraph { text: String },
    /// A ruled table (扣押清单, 证据登记保存清单); cells wrap, and a row split by a page break
    /// continues under a repeated header.
    Table {
        headers: Vec<String>,
        rows: Vec<Vec<String>>,
    },
}

/// A place for a signature: who signs, their name and the time, and the signature itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureBlock {
    /// 当事人签名 / 执法人员签名 / 见证人签名 / 受送达人签名.
    pub role: String,
    #[serde(default)]
    pub name: Option<String>,
    /// As printed, e.g. "2026年11月29日10时40分".
    #[serde(default)]
    pub time: Option<String>,
    pub mark: SignatureMark,
}

/// What stands in a signature block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignatureMark {
    /// The handwritten signature captured on the device, drawn into the box.
    Strokes { strokes: SignatureStrokes },
    /// The signer refused; printed as "当事人拒绝签名：<reason>" and the witness.
    Refused {
        reason: String,
        #[serde(default)]
        witness: Option<String>,
    },
    /// A ruled space to sign by hand on the printed paper.
    Blank,
}

/// What the QR code on every page holds: enough to look the document up and check it against
/// its ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerificationRef {
    /// The agency's code, e.g. 632500.
    pub agency: String,
    /// 文书编号.
    pub number: String,
    /// Lowercase hex SHA-256 of the ledger entry the document renders.
    pub entry_sha256: String,
}

impl VerificationRef {
    /// The QR code's text: `roadside:v1?agency=…&no=…&entry=…` (see the module docs).
    pub fn payload(&self) -> String {
        use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
        const QUERY: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        format!(
            "roadside:v1?agency={}&no={}&entry={}",
            utf8_percent_encode(&self.agency, QUERY),
            utf8_percent_encode(&self.number, QUERY),
            self.entry_sha256
        )
    }

    fn validate(&self, issues: &mut Vec<Issue>) {
        if self.agency.trim().is_empty() {
            issues.push(Issue::new(
                "verification.agency",
                "DOCUMENT_FIELD_EMPTY",
                "核验信息缺少执法机关代码",
            ));
        }
        if self.number.trim().is_empty() {
            issues.push(Issue::new(
                "verification.number",
                "DOCUMENT_FIELD_EMPTY",
                "核验信息缺少文书编号",
            ));
        }
        let h = &self.entry_sha256;
        if h.len() != 64 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            issues.push(Issue::new(
                "verification.entry_sha256",
                "VERIFICATION_HASH_INVALID",
                format!("核验哈希“{h}”应为 64 位小写十六进制 SHA-256"),
            ));
        }
    }
}

impl Document {
    /// Checks what the renderer relies on: title, agency and number present, the verification
    /// reference well formed, no control characters in the text, every signature's strokes valid.
    pub fn validate(&self) -> Result<()> {
        let mut issues = Vec::new();
        for (path, value, what) in [
            ("title", &self.title, "文书名称"),
            ("agency", &self.agency, "执法机关名称"),
            ("number", &self.number, "文书编号"),
        ] {
            if value.trim().is_empty() {
                issues.push(Issue::new(
                    path,
                    "DOCUMENT_FIELD_EMPTY",
                    format!("缺少{what}"),
                ));
            }
        }
        self.verification.validate(&mut issues);
        self.for_each_text(&mut |path, text| {
            if let Some(c) = text
                .chars()
                .find(|&c| c.is_control() && c != '\n' && c != '\t')
            {
                issues.push(Issue::new(
                    path,
                    "DOCUMENT_TEXT_INVALID",
                    format!("含有不可打印的控制字符 U+{:04X}", c as u32),
                ));
            }
        });
        for (i, s) in self.signatures.iter().enumerate() {
            if let SignatureMark::Strokes { strokes } = &s.mark {
                if let Err(e) = strokes.validate() {
                    issues.extend(e.into_issues().into_iter().map(|mut issue| {
                        issue.path = format!("signatures[{i}].{}", issue.path);
                        issue
                    }));
                }
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(RoadsideError::invalid(issues))
        }
    }

    /// Every piece of text that is printed, with its path.
    pub(crate) fn for_each_text(&self, f: &mut dyn FnMut(&str, &str)) {
        f("title", &self.title);
        f("agency", &self.agency);
        f("number", &self.number);
        if let Some(d) = &self.date_line {
            f("date_line", d);
        }
        for (i, b) in self.blocks.iter().enumerate() {
            match b {
                Block::Field { label, value } => {
                    f(&format!("blocks[{i}].label"), label);
                    f(&format!("blocks[{i}].value"), value);
                }
                Block::FieldRow { fields } => {
                    for (j, (label, value)) in fields.iter().enumerate() {
                        f(&format!("blocks[{i}].fields[{j}].label"), label);
                        f(&format!("blocks[{i}].fields[{j}].value"), value);
                    }
                }
                Block::Heading { text } | Block::Paragraph { text } => {
                    f(&format!("blocks[{i}].text"), text)
                }
                Block::Table { headers, rows } => {
                    for (j, h) in headers.iter().enumerate() {
                        f(&format!("blocks[{i}].headers[{j}]"), h);
                    }
                    for (r, row) in rows.iter().enumerate() {
                        for (j, cell) in row.iter().enumerate() {
                            f(&format!("blocks[{i}].rows[{r}][{j}]"), cell);
                        }
                    }
                }
            }
        }
        for (i, s) in self.signatures.iter().enumerate() {
            f(&format!("signatures[{i}].role"), &s.role);
            if let Some(n) = &s.name {
                f(&format!("signatures[{i}].name"), n);
            }
            if let Some(t) = &s.time {
                f(&format!("signatures[{i}].time"), t);
            }
            if let SignatureMark::Refused { reason, witness } = &s.mark {
                f(&format!("signatures[{i}].reason"), reason);
                if let Some(w) = witness {
                    f(&format!("signatures[{i}].witness"), w);
                }
            }
        }
    }
}

/// Renders a document to PDF bytes with a font from `fonts`. To render many documents, make one
/// [`Renderer`] and keep it: it reads and parses the font once.
pub fn render(doc: &Document, fonts: &dyn FontSource) -> Result<Vec<u8>> {
    Renderer::new(fonts)?.render(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vref() -> VerificationRef {
        VerificationRef {
            agency: "632500".into(),
            number: "青海南交执罚〔2026〕0001号".into(),
            entry_sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn the_payload_is_a_stable_url_with_the_number_percent_encoded() {
        let p = vref().payload();
        assert_eq!(
            p,
            format!(
                "roadside:v1?agency=632500&no=%E9%9D%92%E6%B5%B7%E5%8D%97%E4%BA%A4%E6%89%A7%E7%BD%9A%E3%80%942026%E3%80%950001%E5%8F%B7&entry={}",
                "ab".repeat(32)
            )
        );
        assert!(p.is_ascii());
    }

    #[test]
    fn a_bad_reference_and_empty_fields_are_listed() {
        let doc = Document {
            title: " ".into(),
            agency: "机关".into(),
            number: "1".into(),
            blocks: vec![Block::Paragraph {
                text: "a\u{7}b".into(),
            }],
            signatures: vec![],
            verification: VerificationRef {
                entry_sha256: "AB".repeat(32),
                ..vref()
            },
            date_line: None,
        };
        let e = doc.validate().unwrap_err();
        let got: Vec<(&str, &str)> = e
            .issues()
            .iter()
            .map(|i| (i.path.as_str(), i.code.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("title", "DOCUMENT_FIELD_EMPTY"),
                ("verification.entry_sha256", "VERIFICATION_HASH_INVALID"),
                ("blocks[0].text", "DOCUMENT_TEXT_INVALID"),
            ]
        );
    }
}
