//! Documents (文书) issued from a case: built from the signed entry they render, drawn with the
//! signatures captured on the device, rendered to PDF, and their SHA-256 recorded in a
//! `document.issue` entry in the same transaction — before the bytes are shown or printed. The
//! same inputs render to the same bytes, so a document can be rendered again later and checked
//! against its entry ([`Store::reprint_document`]).

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

use super::steps::{load, Loaded, StepEntry};
use super::{begin, case_status, db, latest_records, lock, Store};
use crate::document::{
    decisions, forms, Document, Renderer, SignatureBlock, SignatureMark, SignatureStrokes,
};
use crate::error::{Issue, Result, RoadsideError};
use crate::ledger::EntryKind;
use crate::model::CaseStatus;
use crate::steps::{DocType, DocumentIssued, SignatureRef};

/// A signature given for a document: the strokes captured on the device, or the refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct SignatureInput {
    /// 当事人, 执法人员, 见证人, 受送达人.
    pub role: String,
    pub name: String,
    /// The strokes as the pad captured them, as JSON ([`SignatureStrokes`]).
    #[serde(default)]
    pub strokes_json: Option<String>,
    /// The signer refused: why.
    #[serde(default)]
    pub refused: Option<String>,
    /// The witness to a refusal.
    #[serde(default)]
    pub witness: Option<String>,
    /// When it was signed (RFC 3339).
    #[serde(default)]
    pub signed_at: Option<String>,
}

/// A document issued: its entry, number and hash, and the exact bytes to show or print.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct IssuedDocument {
    pub entry: StepEntry,
    pub doc_type: DocType,
    pub number: String,
    pub sha256: String,
    pub pdf: Vec<u8>,
}

/// Builds a document from its header and signature blocks.
type Build = Box<dyn Fn(&forms::DocHeader, Vec<SignatureBlock>) -> Result<Document>>;

/// What a document renders: its source entry's hash, the body it is built from, and the number
/// it carries when the source has one.
struct Source {
    hash: String,
    number: Option<String>,
    build: Build,
}

fn role_label(role: &str) -> String {
    format!("{role}签名")
}

fn not_found(what: &str) -> RoadsideError {
    RoadsideError::invalid_field(
        "source",
        "DOCUMENT_SOURCE_NOT_FOUND",
        format!("本案没有可制作该文书的记录：{what}"),
    )
}

impl Store {
    /// Issue a document of the case: build it from the entry it renders (`source` names which one
    /// where a case has several: the measure's number, the record id, or the served document's
    /// number for a 送达回证), draw the signatures, render it with `renderer`, and record the
    /// SHA-256 of the bytes in a `document.issue` entry. Returns the bytes to show or print.
    pub fn issue_document(
        &self,
        case_id: &str,
        doc: DocType,
        source: Option<&str>,
        signatures: &[SignatureInput],
        renderer: &Renderer,
    ) -> Result<IssuedDocument> {
        let now = (self.clock)();
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        match case_status(&tx, case_id)? {
            CaseStatus::Voided => {
                return Err(RoadsideError::conflict("CASE_VOIDED", "案件已作废"));
            }
            CaseStatus::Closed => {
                return Err(RoadsideError::conflict("CASE_CLOSED", "案件已结案"));
            }
            _ => {}
        }
        let loaded = load(&tx, case_id)?;
        let src = source_of(&tx, case_id, &loaded, doc, source)?;
        if loaded
            .documents
            .iter()
            .any(|(d, _)| d.doc_type == doc && d.source == src.hash)
        {
            return Err(RoadsideError::conflict(
                "DOCUMENT_ALREADY_ISSUED",
                format!(
                    "该{}已经制作；需要再次打印时请重新打印原件（其哈希已记入账本）",
                    doc.title()
                ),
            ));
        }
        let (blocks, refs, strokes) = signature_blocks(signatures)?;
        let (agency, agency_name) = self.block_agency(&tx)?;
        let (number, taken) = match &src.number {
            Some(n) => (n.clone(), None),
            None => {
                let t = self.take_number(&tx, doc, now)?;
                (t.number.clone(), Some(t))
            }
        };
        let header = forms::DocHeader {
            agency_name: agency_name.clone(),
            agency_code: agency.clone(),
            number: number.clone(),
            entry_sha256: src.hash.clone(),
        };
        let document = (src.build)(&header, blocks)?;
        let pdf = renderer.render(&document)?;
        let sha256 = hex::encode(crate::ledger::sha256(&pdf));
        for (hash, bytes) in &strokes {
            if store_signature(&tx, case_id, hash, bytes, now)? {
                // Also as evidence, so the stroke data goes up with the case's media and the
                // server holds what the document's hash rests on.
                let path = self.signature_file(hash, bytes)?;
                let mut h = crate::evidence::EvidenceHasher::new();
                h.update(bytes);
                let meta = super::EvidenceMeta {
                    started_at: None,
                    ended_at: None,
                    latitude: None,
                    longitude: None,
                    clock_source: None,
                    important: true,
                };
                self.insert_evidence(
                    &tx,
                    now,
                    case_id,
                    &path,
                    crate::model::EvidenceKind::Signature,
                    &meta,
                    &h.finish(),
                )?;
            }
        }
        let body = DocumentIssued {
            doc_type: doc,
            number: number.clone(),
            source: src.hash.clone(),
            sha256: sha256.clone(),
            size: pdf.len() as u64,
            agency,
            agency_name,
            signatures: refs,
        };
        let body = serde_json::to_value(&body)
            .map_err(|e| RoadsideError::internal("STEP_BODY", format!("无法生成记录内容：{e}")))?;
        let entry = self.append_step(
            &tx,
            now,
            Vec::new(),
            EntryKind::DocumentIssue,
            case_id,
            body,
            taken.as_ref().map(|t| (t, doc)),
        )?;
        tx.commit().map_err(db::store_err)?;
        Ok(IssuedDocument {
            entry,
            doc_type: doc,
            number,
            sha256,
            pdf,
        })
    }

    /// Render an issued document again (a reprint) from the entries and the stored signatures,
    /// and check the bytes are the ones its `document.issue` entry recorded. A document that no
    /// longer renders to those bytes (the store or the renderer changed) is refused, never printed.
    pub fn reprint_document(
        &self,
        case_id: &str,
        number: &str,
        renderer: &Renderer,
    ) -> Result<Vec<u8>> {
        let conn = lock(&self.reader);
        let loaded = load(&conn, case_id)?;
        let Some((issued, _)) = loaded.documents.iter().find(|(d, _)| d.number == number) else {
            return Err(RoadsideError::not_found(
                "DOCUMENT_NOT_FOUND",
                format!("本案没有编号为 {number} 的已制作文书"),
            ));
        };
        let source = source_for_reprint(&conn, case_id, &loaded, issued)?;
        let mut blocks = Vec::new();
        for s in &issued.signatures {
            let mark = match (&s.sha256, &s.refused) {
                (Some(h), _) => {
                    let bytes: Vec<u8> = conn
                        .query_row(
                            "SELECT bytes FROM signatures WHERE sha256 = ?1 AND case_id = ?2",
                            params![h, case_id],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(db::store_err)?
                        .ok_or_else(|| {
                            RoadsideError::store(
                                "SIGNATURE_MISSING",
                                format!("文书 {number} 的签名数据（{h}）不在本机"),
                            )
                        })?;
                    SignatureMark::Strokes {
                        strokes: SignatureStrokes::from_json(&bytes)?,
                    }
                }
                (None, Some(reason)) => SignatureMark::Refused {
                    reason: reason.clone(),
                    witness: s.witness.clone(),
                },
                (None, None) => SignatureMark::Blank,
            };
            blocks.push(SignatureBlock {
                role: role_label(&s.role),
                name: Some(s.name.clone()).filter(|n| !n.is_empty()),
                time: s.time.clone(),
                mark,
            });
        }
        let header = forms::DocHeader {
            agency_name: issued.agency_name.clone(),
            agency_code: issued.agency.clone(),
            number: issued.number.clone(),
            entry_sha256: issued.source.clone(),
        };
        let pdf = renderer.render(&(source.build)(&header, blocks)?)?;
        let sha = hex::encode(crate::ledger::sha256(&pdf));
        if sha != issued.sha256 {
            return Err(RoadsideError::ledger(
                "DOCUMENT_MISMATCH",
                format!(
                    "文书 {number} 重新生成的内容（SHA-256 {sha}）与账本记载的 {} 不一致，不能作为原件打印",
                    issued.sha256
                ),
            ));
        }
        Ok(pdf)
    }

    /// Write a signature's stroke data to `<data dir>/signatures/<sha256>.json` (written whole and
    /// synced before it is renamed into place), for the media upload.
    fn signature_file(&self, sha: &str, bytes: &[u8]) -> Result<std::path::PathBuf> {
        use std::io::Write;
        let dir = self
            .path
            .parent()
            .map(|p| p.join("signatures"))
            .unwrap_or_else(|| std::path::PathBuf::from("signatures"));
        let io = |e: std::io::Error| {
            RoadsideError::store(
                "SIGNATURE_WRITE",
                format!("签名数据无法写入 {}：{e}", dir.display()),
            )
        };
        std::fs::create_dir_all(&dir).map_err(io)?;
        let path = dir.join(format!("{sha}.json"));
        if std::fs::read(&path).is_ok_and(|b| b == bytes) {
            return Ok(path);
        }
        let tmp = dir.join(format!(".{sha}.json.tmp"));
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(path)
    }

    /// The agency of the number blocks (every block of a device is its agency's).
    fn block_agency(&self, tx: &Transaction) -> Result<(String, String)> {
        tx.query_row(
            "SELECT agency, agency_name FROM number_blocks ORDER BY year DESC, first DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db::store_err)?
        .ok_or_else(|| {
            RoadsideError::conflict(
                "NUMBER_BLOCK_EXHAUSTED",
                "本机还没有领取文书编号：请联网同步一次以领取编号段",
            )
        })
    }
}

/// Check a document against its `document.issue` entry: the SHA-256 of `pdf` is the one recorded.
pub fn matches_entry(pdf: &[u8], issued: &DocumentIssued) -> bool {
    hex::encode(crate::ledger::sha256(pdf)) == issued.sha256 && pdf.len() as u64 == issued.size
}

type Strokes = Vec<(String, Vec<u8>)>;

fn signature_blocks(
    inputs: &[SignatureInput],
) -> Result<(Vec<SignatureBlock>, Vec<SignatureRef>, Strokes)> {
    let mut blocks = Vec::new();
    let mut refs = Vec::new();
    let mut strokes = Vec::new();
    let mut issues = Vec::new();
    for (i, s) in inputs.iter().enumerate() {
        if s.role.trim().is_empty() {
            issues.push(Issue::new(
                format!("signatures[{i}].role"),
                "STEP_TEXT_REQUIRED",
                "签名人的身份（当事人、执法人员、见证人…）不能为空",
            ));
            continue;
        }
        let time = match &s.signed_at {
            Some(t) => match crate::day::format_instant_cn(t) {
                Some(cn) => Some(cn),
                None => {
                    issues.push(Issue::new(
                        format!("signatures[{i}].signed_at"),
                        "TIME_FORMAT",
                        format!("签名时间“{t}”应为带时区的 RFC 3339 时间"),
                    ));
                    None
                }
            },
            None => None,
        };
        let (mark, sha) = match (&s.strokes_json, &s.refused) {
            (Some(_), Some(_)) => {
                issues.push(Issue::new(
                    format!("signatures[{i}]"),
                    "SIGNATURE_AND_REFUSAL",
                    "同一签名栏不能既有签名又记载拒绝签名",
                ));
                continue;
            }
            (Some(json), None) => {
                let parsed = match SignatureStrokes::from_json(json.as_bytes()) {
                    Ok(p) => p,
                    Err(e) => {
                        issues.extend(e.into_issues().into_iter().map(|is| Issue {
                            path: format!("signatures[{i}].strokes_json.{}", is.path),
                            ..is
                        }));
                        continue;
                    }
                };
                let bytes = parsed.canonical_bytes()?;
                let sha = hex::encode(crate::ledger::sha256(&bytes));
                strokes.push((sha.clone(), bytes));
                (SignatureMark::Strokes { strokes: parsed }, Some(sha))
            }
            (None, Some(reason)) => {
                if reason.trim().is_empty() {
                    issues.push(Issue::new(
                        format!("signatures[{i}].refused"),
                        "STEP_TEXT_REQUIRED",
                        "拒绝签名的，应当注明拒签事由",
                    ));
                    continue;
                }
                (
                    SignatureMark::Refused {
                        reason: reason.clone(),
                        witness: s.witness.clone(),
                    },
                    None,
                )
            }
            (None, None) => (SignatureMark::Blank, None),
        };
        blocks.push(SignatureBlock {
            role: role_label(&s.role),
            name: Some(s.name.clone()).filter(|n| !n.is_empty()),
            time: time.clone(),
            mark,
        });
        refs.push(SignatureRef {
            role: s.role.clone(),
            name: s.name.clone(),
            sha256: sha,
            refused: s.refused.clone(),
            witness: s.witness.clone(),
            time,
        });
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    Ok((blocks, refs, strokes))
}

/// Keep a signature's stroke data by its hash; `true` when it was not kept yet.
fn store_signature(
    tx: &Transaction,
    case_id: &str,
    sha: &str,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<bool> {
    let exists: Option<i64> = tx
        .query_row("SELECT 1 FROM signatures WHERE sha256 = ?1", [sha], |r| {
            r.get(0)
        })
        .optional()
        .map_err(db::store_err)?;
    if exists.is_none() {
        tx.execute(
            "INSERT INTO signatures (sha256, case_id, bytes, captured_at) VALUES (?1, ?2, ?3, ?4)",
            params![sha, case_id, bytes, super::now_rfc3339(now)],
        )
        .map_err(db::store_err)?;
    }
    Ok(exists.is_none())
}

/// The entry a new document of `doc` renders.
fn source_of(
    conn: &rusqlite::Connection,
    case_id: &str,
    l: &Loaded,
    doc: DocType,
    source: Option<&str>,
) -> Result<Source> {
    match doc {
        DocType::SummaryDecision | DocType::PenaltyDecision => {
            let (d, hash) = l
                .penalty
                .clone()
                .ok_or_else(|| not_found("尚未作出行政处罚决定"))?;
            let summary = d.procedure == crate::rules::check::ProcedureKind::Summary;
            if summary != (doc == DocType::SummaryDecision) {
                return Err(RoadsideError::invalid_field(
                    "doc_type",
                    "DOCUMENT_TYPE_MISMATCH",
                    if summary {
                        "本案适用简易程序，决定书应为当场行政处罚决定书"
                    } else {
                        "本案适用普通程序，决定书应为行政处罚决定书"
                    },
                ));
            }
            Ok(Source {
                hash,
                number: Some(d.number.clone()),
                build: Box::new(move |h, s| decisions::penalty_decision(&d, h, s)),
            })
        }
        DocType::NoPenaltyDecision => {
            let (d, hash) = l
                .no_penalty
                .clone()
                .ok_or_else(|| not_found("尚未作出不予行政处罚决定"))?;
            Ok(Source {
                hash,
                number: Some(d.number.clone()),
                build: Box::new(move |h, s| decisions::no_penalty_decision(&d, h, s)),
            })
        }
        DocType::Commitment => {
            let (d, hash) = l
                .no_penalty
                .clone()
                .ok_or_else(|| not_found("尚未作出不予行政处罚决定"))?;
            Ok(Source {
                hash,
                number: None,
                build: Box::new(move |h, s| decisions::commitment(&d, h, s)),
            })
        }
        DocType::Notice => {
            let (n, hash) = l
                .notice
                .clone()
                .ok_or_else(|| not_found("尚未发出违法行为通知书"))?;
            Ok(Source {
                hash,
                number: Some(n.number.clone()),
                build: Box::new(move |h, s| decisions::notice(&n, h, s)),
            })
        }
        DocType::MeasureDecision => {
            let wanted = source.ok_or_else(|| not_found("请指明强制措施的编号"))?;
            let (m, hash, _, _) = l
                .measures
                .iter()
                .find(|m| m.0.number == wanted)
                .cloned()
                .ok_or_else(|| not_found(&format!("没有编号为 {wanted} 的强制措施")))?;
            Ok(Source {
                hash,
                number: Some(m.number.clone()),
                build: Box::new(move |h, s| decisions::measure_decision(&m, h, s)),
            })
        }
        DocType::DeliveryReceipt => {
            let wanted = source.ok_or_else(|| not_found("请指明所送达文书的编号"))?;
            let (d, hash) = l
                .deliveries
                .iter()
                .find(|d| d.0.document_number == wanted)
                .cloned()
                .ok_or_else(|| not_found(&format!("文书 {wanted} 尚未记录送达")))?;
            let title = served_title(l, wanted);
            let party = case_party(l);
            Ok(Source {
                hash,
                number: None,
                build: Box::new(move |h, s| {
                    decisions::delivery_receipt(&d, &title, party.as_ref(), h, s)
                }),
            })
        }
        DocType::SiteRecord | DocType::InspectionRecord => {
            let want_kind = if doc == DocType::SiteRecord {
                crate::model::RecordKind::OnSite
            } else {
                crate::model::RecordKind::Inspection
            };
            let records = latest_records(conn, case_id)?;
            let rv = records
                .into_iter()
                .find(|r| r.record.kind == want_kind && source.is_none_or(|s| s == r.record_id))
                .ok_or_else(|| not_found(&format!("没有{}", doc.title())))?;
            let hash = rv.entry_hash.clone();
            let record = rv.record;
            Ok(Source {
                hash,
                number: None,
                build: Box::new(move |h, s| site_record_with(&record, h, s)),
            })
        }
        DocType::EvidenceList => {
            let wanted = source.ok_or_else(|| not_found("请指明证据登记保存清单的编号"))?;
            let (p, hash) = l
                .preservations
                .iter()
                .find(|p| p.0.number == wanted)
                .cloned()
                .ok_or_else(|| not_found(&format!("没有编号为 {wanted} 的先行登记保存")))?;
            Ok(Source {
                hash,
                number: Some(p.number.clone()),
                build: Box::new(move |h, s| decisions::evidence_list(&p, h, s)),
            })
        }
    }
}

/// The source of an issued document again, for a reprint: the entry whose hash it names.
fn source_for_reprint(
    conn: &rusqlite::Connection,
    case_id: &str,
    l: &Loaded,
    issued: &DocumentIssued,
) -> Result<Source> {
    let source = match issued.doc_type {
        DocType::MeasureDecision | DocType::EvidenceList => Some(issued.number.clone()),
        DocType::DeliveryReceipt => l
            .deliveries
            .iter()
            .find(|d| d.1 == issued.source)
            .map(|d| d.0.document_number.clone()),
        DocType::SiteRecord | DocType::InspectionRecord => {
            let rows: Option<String> = conn
                .query_row(
                    "SELECT v.record_id FROM record_versions v JOIN ledger l ON l.seq = v.entry_seq
                     WHERE v.case_id = ?1 AND lower(hex(l.hash)) = ?2",
                    params![case_id, issued.source],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db::store_err)?;
            rows
        }
        _ => None,
    };
    let src = source_of(conn, case_id, l, issued.doc_type, source.as_deref())?;
    if src.hash != issued.source {
        return Err(RoadsideError::ledger(
            "DOCUMENT_MISMATCH",
            format!(
                "文书 {} 所依据的记录已不是账本记载的那一条（记录可能已被更正）",
                issued.number
            ),
        ));
    }
    Ok(src)
}

fn served_title(l: &Loaded, number: &str) -> String {
    if let Some((d, _)) = &l.penalty {
        if d.number == number {
            return if d.procedure == crate::rules::check::ProcedureKind::Summary {
                DocType::SummaryDecision.title()
            } else {
                DocType::PenaltyDecision.title()
            }
            .to_string();
        }
    }
    if l.no_penalty.as_ref().is_some_and(|d| d.0.number == number) {
        return DocType::NoPenaltyDecision.title().to_string();
    }
    if l.notice.as_ref().is_some_and(|n| n.0.number == number) {
        return DocType::Notice.title().to_string();
    }
    if l.measures.iter().any(|m| m.0.number == number) {
        return DocType::MeasureDecision.title().to_string();
    }
    if l.preservations.iter().any(|p| p.0.number == number) {
        return DocType::EvidenceList.title().to_string();
    }
    l.documents
        .iter()
        .find(|d| d.0.number == number)
        .map(|d| d.0.doc_type.title().to_string())
        .unwrap_or_default()
}

fn case_party(l: &Loaded) -> Option<crate::model::Party> {
    l.penalty
        .as_ref()
        .map(|d| d.0.party.clone())
        .or_else(|| l.no_penalty.as_ref().map(|d| d.0.party.clone()))
        .or_else(|| l.notice.as_ref().map(|n| n.0.party.clone()))
        .or_else(|| l.measures.first().map(|m| m.0.input.party.clone()))
        .or_else(|| l.preservations.first().map(|p| p.0.input.party.clone()))
}

/// A 现场笔录 / 勘验笔录 with the signatures given: the party's and a witness's strokes go under
/// the party's confirmation, the officers' in the record's order; the rest stay ruled spaces to
/// sign on paper (a refusal is the record's own party confirmation).
fn site_record_with(
    record: &crate::model::InspectionRecord,
    header: &forms::DocHeader,
    signatures: Vec<SignatureBlock>,
) -> Result<Document> {
    let mut sig = forms::RecordSignatures::default();
    let strokes = |b: &SignatureBlock| match &b.mark {
        SignatureMark::Strokes { strokes } => Some(strokes.clone()),
        _ => None,
    };
    for b in &signatures {
        match b.role.as_str() {
            "当事人签名" => sig.party = strokes(b),
            "见证人签名" => sig.witness = strokes(b),
            "执法人员签名" => sig.officers.push(strokes(b)),
            _ => {}
        }
    }
    forms::site_record(record, header, &sig)
}
