//! Builders of the standard forms: a record of the case in, a [`Document`] out, with every field
//! of the record in the order of 《交通运输行政执法文书式样》.

use crate::day::format_instant_cn;
use crate::error::{Result, RoadsideError};
use crate::model::{
    CoerciveMeasureKind, InspectionRecord, Party, PartyConfirmation, RecordKind, Sex,
};

use super::{Block, Document, SignatureBlock, SignatureMark, SignatureStrokes, VerificationRef};

/// What every document carries besides its content: who issues it, its number and the ledger
/// entry it renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocHeader {
    /// The 执法机关's full name.
    pub agency_name: String,
    /// The agency's code, e.g. 632500.
    pub agency_code: String,
    /// 文书编号.
    pub number: String,
    /// Lowercase hex SHA-256 of the ledger entry the document renders.
    pub entry_sha256: String,
}

impl DocHeader {
    fn verification(&self) -> VerificationRef {
        VerificationRef {
            agency: self.agency_code.clone(),
            number: self.number.clone(),
            entry_sha256: self.entry_sha256.clone(),
        }
    }
}

/// The captured signatures of a 现场笔录 / 勘验笔录. A signature not captured leaves a ruled space
/// to sign on paper.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordSignatures {
    /// The party's, under "以上笔录已阅，情况属实" (ignored when the record notes a refusal).
    pub party: Option<SignatureStrokes>,
    /// The witness's, when the party refused and a witness signs.
    pub witness: Option<SignatureStrokes>,
    /// One per officer of the record, in the record's order.
    pub officers: Vec<Option<SignatureStrokes>>,
    /// When the officers signed (RFC 3339); the record's end time when absent.
    pub officers_signed_at: Option<String>,
}

fn time_cn(path: &str, rfc3339: &str) -> Result<String> {
    format_instant_cn(rfc3339).ok_or_else(|| {
        RoadsideError::invalid_field(
            path,
            "DOCUMENT_TIME_INVALID",
            format!("时间“{rfc3339}”不是 RFC 3339 格式，无法印在文书上"),
        )
    })
}

fn field(label: &str, value: impl Into<String>) -> Block {
    Block::Field {
        label: label.to_string(),
        value: value.into(),
    }
}

fn row(fields: &[(&str, String)]) -> Block {
    Block::FieldRow {
        fields: fields
            .iter()
            .map(|(l, v)| (l.to_string(), v.clone()))
            .collect(),
    }
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// A measured quantity as recorded: `49800`, `18.5`.
fn num(v: Option<f64>, unit: &str) -> String {
    v.map(|x| format!("{x}{unit}")).unwrap_or_default()
}

fn sex(s: Option<Sex>) -> String {
    match s {
        Some(Sex::Male) => "男".into(),
        Some(Sex::Female) => "女".into(),
        None => String::new(),
    }
}

fn mark(strokes: &Option<SignatureStrokes>) -> SignatureMark {
    match strokes {
        Some(s) => SignatureMark::Strokes { strokes: s.clone() },
        None => SignatureMark::Blank,
    }
}

/// The 现场笔录 (or 勘验笔录, for a record of kind `Inspection`) of a record.
pub fn site_record(
    record: &InspectionRecord,
    header: &DocHeader,
    signatures: &RecordSignatures,
) -> Result<Document> {
    let inspection = record.kind == RecordKind::Inspection;
    let title = if inspection {
        "勘验笔录"
    } else {
        "现场笔录"
    };
    let mut blocks = vec![field("案号", opt(&record.case_number))];

    let mut place = record.place.address.clone();
    if let (Some(lat), Some(lon)) = (record.place.latitude, record.place.longitude) {
        let ns = if lat >= 0.0 { "北纬" } else { "南纬" };
        let ew = if lon >= 0.0 { "东经" } else { "西经" };
        place.push_str(&format!("（{ns}{:.6}°，{ew}{:.6}°）", lat.abs(), lon.abs()));
    }
    blocks.push(field(
        if inspection {
            "勘验地点"
        } else {
            "执法地点"
        },
        place,
    ));

    let from = time_cn("started_at", &record.started_at)?;
    let to = match &record.ended_at {
        Some(t) if !t.trim().is_empty() => time_cn("ended_at", t)?,
        _ => String::new(),
    };
    blocks.push(field(
        if inspection {
            "勘验时间"
        } else {
            "执法时间"
        },
        format!("{from}至{to}"),
    ));
    for o in &record.officers {
        blocks.push(row(&[
            ("执法人员", o.name.clone()),
            ("执法证号", o.certificate_no.clone()),
        ]));
    }
    blocks.push(field("记录人", record.recorder.clone()));

    if let Some(detail) = &record.inspection {
        blocks.push(field("勘验对象", detail.object.clone()));
        blocks.push(field("天气", opt(&detail.weather)));
        blocks.push(field("见证人", detail.witnesses.join("；")));
    }

    match &record.party {
        Some(Party::Person {
            name,
            id_number,
            address,
            phone,
        }) => {
            blocks.push(Block::Heading {
                text: "当事人".into(),
            });
            blocks.push(row(&[
                ("姓名", name.clone()),
                ("身份证件号", id_number.clone()),
            ]));
            blocks.push(field("住址", opt(address)));
            blocks.push(field("联系电话", opt(phone)));
        }
        Some(Party::Organisation {
            name,
            uscc,
            address,
            phone,
            legal_representative,
        }) => {
            blocks.push(Block::Heading {
                text: "当事人".into(),
            });
            blocks.push(field("名称", name.clone()));
            blocks.push(field("统一社会信用代码", uscc.clone()));
            blocks.push(field("法定代表人", opt(legal_representative)));
            blocks.push(field("地址", opt(address)));
            blocks.push(field("联系电话", opt(phone)));
        }
        None => {}
    }

    if !record.persons.is_empty() {
        blocks.push(Block::Heading {
            text: "现场人员".into(),
        });
    }
    for p in &record.persons {
        let id = match (&p.id_number, &p.other_id) {
            (Some(id), Some(other)) => format!("{id}；{other}"),
            (Some(id), None) => id.clone(),
            (None, Some(other)) => other.clone(),
            (None, None) => String::new(),
        };
        blocks.push(row(&[
            ("姓名", p.name.clone()),
            ("性别", sex(p.sex)),
            ("与案件关系", p.relation.clone()),
        ]));
        blocks.push(field("身份证件号", id));
        blocks.push(field("单位及职务", opt(&p.employer_and_title)));
        blocks.push(field("联系电话", opt(&p.phone)));
        blocks.push(field("联系地址", opt(&p.address)));
    }

    match &record.vehicle {
        Some(v) => {
            blocks.push(row(&[
                ("车(船)号", v.plate.clone()),
                ("车(船)型", v.vehicle_type.clone()),
            ]));
            if v.axles.is_some() || v.gross_weight_kg.is_some() {
                blocks.push(row(&[
                    ("轴数", v.axles.map(|a| a.to_string()).unwrap_or_default()),
                    ("车货总质量", num(v.gross_weight_kg, "千克")),
                ]));
            }
            if v.length_m.is_some() || v.width_m.is_some() || v.height_m.is_some() {
                blocks.push(row(&[
                    ("长", num(v.length_m, "米")),
                    ("宽", num(v.width_m, "米")),
                    ("高", num(v.height_m, "米")),
                ]));
            }
        }
        None => blocks.push(row(&[
            ("车(船)号", String::new()),
            ("车(船)型", String::new()),
        ])),
    }

    blocks.push(Block::Heading {
        text: if inspection {
            "勘验情况"
        } else {
            "现场情况"
        }
        .into(),
    });
    let mut situation = record.situation.trim().to_string();
    if let Some(m) = &record.coercive_measure {
        let kind = match m.kind {
            CoerciveMeasureKind::Seal => "查封",
            CoerciveMeasureKind::Seizure => "扣押",
            CoerciveMeasureKind::Other => "其他行政强制",
        };
        situation.push_str(&format!("\n执法人员对当事人采取了{kind}措施。"));
        situation.push_str(if m.told_reasons_basis_rights {
            "执法人员已当场告知当事人采取行政强制措施的理由、依据以及当事人依法享有的权利、救济途径。"
        } else {
            "执法人员未告知当事人采取行政强制措施的理由、依据以及当事人依法享有的权利、救济途径。"
        });
        situation.push_str(if m.statement_heard {
            "已听取当事人的陈述和申辩。"
        } else {
            "未听取当事人的陈述和申辩。"
        });
    }
    blocks.push(Block::Paragraph { text: situation });

    let party_name = match &record.party {
        Some(Party::Person { name, .. }) | Some(Party::Organisation { name, .. }) => {
            Some(name.clone())
        }
        None => None,
    };
    let mut sigs = Vec::new();
    match &record.party_confirmation {
        Some(PartyConfirmation::Signed { signer, signed_at }) => {
            blocks.push(field("当事人意见", "以上笔录已阅，情况属实。"));
            sigs.push(SignatureBlock {
                role: "当事人签名".into(),
                name: Some(signer.clone()),
                time: Some(time_cn("party_confirmation.signed_at", signed_at)?),
                mark: mark(&signatures.party),
            });
        }
        Some(PartyConfirmation::Refused { note, witness }) => {
            sigs.push(SignatureBlock {
                role: "当事人签名".into(),
                name: party_name,
                time: None,
                mark: SignatureMark::Refused {
                    reason: note.clone(),
                    witness: witness.clone(),
                },
            });
            if witness.is_some() || signatures.witness.is_some() {
                sigs.push(SignatureBlock {
                    role: "见证人签名".into(),
                    name: witness.clone(),
                    time: None,
                    mark: mark(&signatures.witness),
                });
            }
        }
        None => {
            blocks.push(field("当事人意见", ""));
            sigs.push(SignatureBlock {
                role: "当事人签名".into(),
                name: party_name,
                time: None,
                mark: mark(&signatures.party),
            });
        }
    }
    blocks.push(field("备注", opt(&record.remarks)));

    let officers_time = match signatures
        .officers_signed_at
        .as_ref()
        .or(record.ended_at.as_ref())
    {
        Some(t) if !t.trim().is_empty() => Some(time_cn("officers_signed_at", t)?),
        _ => None,
    };
    for (i, o) in record.officers.iter().enumerate() {
        sigs.push(SignatureBlock {
            role: "执法人员签名".into(),
            name: Some(o.name.clone()),
            time: officers_time.clone(),
            mark: mark(signatures.officers.get(i).unwrap_or(&None)),
        });
    }

    Ok(Document {
        title: title.into(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures: sigs,
        verification: header.verification(),
        // A 笔录 is signed, not sealed: no agency-and-date line at its end.
        date_line: None,
    })
}
