//! Builders of the documents that end a case, from the bodies of their signed entries
//! (`crate::steps`): 当场行政处罚决定书 / 行政处罚决定书, 违法行为通知书, 不予行政处罚决定书,
//! 轻微违法行为告知承诺书, 行政强制措施决定书 with its 清单, and 送达回证.
//!
//! The text is what the party reads: the facts as the officer wrote them, the provision violated
//! and the provision applied as the benchmark cites them, the penalty, how to pay, the remedies.
//! Nothing internal (benchmark notes, unverified markers) is printed.

use crate::day::{format_day_cn, format_instant_cn, parse_day};
use crate::error::{Result, RoadsideError};
use crate::model::{CoerciveMeasureKind, Party};
use crate::rules::check::ProcedureKind;
use crate::rules::guidance::yuan;
use crate::steps::{
    DecidedViolation, DeliveryInput, Measure, NoPenaltyDecision, Notice, PenaltyDecision,
};

use super::forms::DocHeader;
use super::{Block, Document, SignatureBlock};

fn field(label: &str, value: impl Into<String>) -> Block {
    Block::Field {
        label: label.to_string(),
        value: value.into(),
    }
}

fn para(text: impl Into<String>) -> Block {
    Block::Paragraph { text: text.into() }
}

fn heading(text: &str) -> Block {
    Block::Heading {
        text: text.to_string(),
    }
}

fn verification(h: &DocHeader) -> super::VerificationRef {
    super::VerificationRef {
        agency: h.agency_code.clone(),
        number: h.number.clone(),
        entry_sha256: h.entry_sha256.clone(),
    }
}

fn day_cn(path: &str, day: &str) -> Result<String> {
    parse_day(day).map(format_day_cn).ok_or_else(|| {
        RoadsideError::invalid_field(
            path,
            "DOCUMENT_TIME_INVALID",
            format!("日期“{day}”不是 YYYY-MM-DD 格式，无法印在文书上"),
        )
    })
}

/// The party's identification, in the order of the forms.
fn party_blocks(party: &Party) -> Vec<Block> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    match party {
        Party::Person {
            name,
            id_number,
            address,
            phone,
        } => vec![
            heading("当事人"),
            field("姓名", name.clone()),
            field("身份证件号码", id_number.clone()),
            field("住址", opt(address)),
            field("联系电话", opt(phone)),
        ],
        Party::Organisation {
            name,
            uscc,
            address,
            phone,
            legal_representative,
        } => vec![
            heading("当事人"),
            field("名称", name.clone()),
            field("统一社会信用代码", uscc.clone()),
            field("法定代表人", opt(legal_representative)),
            field("地址", opt(address)),
            field("联系电话", opt(phone)),
        ],
    }
}

fn party_name(party: &Party) -> &str {
    match party {
        Party::Person { name, .. } | Party::Organisation { name, .. } => name,
    }
}

/// "警告" / "罚款人民币1,500元" / "警告，并处罚款人民币1,500元", then the other penalties
/// ("、没收违法所得人民币12,000元").
fn penalty_text(v: &DecidedViolation) -> String {
    let mut s = match (v.warning, v.amount_yuan > 0) {
        (true, true) => format!("警告，并处罚款人民币{}元", yuan(v.amount_yuan)),
        (true, false) => "警告".to_string(),
        (false, true) => format!("罚款人民币{}元", yuan(v.amount_yuan)),
        (false, false) => String::new(),
    };
    for p in &v.other_penalties {
        if !s.is_empty() {
            s.push('、');
        }
        s.push_str(p);
    }
    s
}

/// "违反了…的规定，依据…的规定，决定给予…的行政处罚" for each violation, with the measures the
/// article prescribes beside the fine.
fn basis_paragraph(violations: &[DecidedViolation], intended: bool) -> String {
    let mut out = Vec::new();
    for v in violations {
        let verb = if intended {
            "拟给予"
        } else {
            "决定给予"
        };
        let mut s = format!(
            "你（单位）的上述行为违反了{}的规定，依据{}的规定，{verb}{}的行政处罚",
            v.violated,
            v.basis,
            penalty_text(v)
        );
        if !v.measures.is_empty() {
            s.push_str(&format!("，并{}", v.measures.join("、")));
        }
        s.push('。');
        out.push(s);
    }
    out.join("\n")
}

/// A ruled list of items (清单): 序号, the name column, 规格, 数量, 备注.
fn items_table(name_header: &str, items: &[crate::steps::MeasureItem]) -> Block {
    Block::Table {
        headers: vec![
            "序号".into(),
            name_header.into(),
            "规格".into(),
            "数量".into(),
            "备注".into(),
        ],
        rows: items
            .iter()
            .enumerate()
            .map(|(n, it)| {
                vec![
                    (n + 1).to_string(),
                    it.name.clone(),
                    it.spec.clone(),
                    it.quantity.clone(),
                    it.note.clone(),
                ]
            })
            .collect(),
    }
}

const REMEDIES: &str = "如不服本处罚决定，可以在收到本决定书之日起六十日内依法申请行政复议，或者在六个月内依法向人民法院提起行政诉讼。行政复议和行政诉讼期间，本决定不停止执行，法律另有规定的除外。";

/// 当场行政处罚决定书 (summary) or 行政处罚决定书 (general), from a `decision.penalty` body.
pub fn penalty_decision(
    d: &PenaltyDecision,
    header: &DocHeader,
    signatures: Vec<SignatureBlock>,
) -> Result<Document> {
    let summary = d.procedure == ProcedureKind::Summary;
    let mut blocks = party_blocks(&d.party);
    blocks.push(heading("违法事实"));
    blocks.push(para(d.facts_text.clone()));
    blocks.push(heading("处罚依据及内容"));
    blocks.push(para(basis_paragraph(&d.violations, false)));
    if d.violations.len() > 1 {
        blocks.push(para(format!(
            "以上合计罚款人民币{}元。",
            yuan(d.total_yuan)
        )));
    }
    if !d.justification.trim().is_empty() {
        blocks.push(heading("裁量理由"));
        blocks.push(para(d.justification.clone()));
    }
    if summary {
        blocks.push(para(
            "执法人员在作出本决定前，已告知你（单位）拟作出行政处罚的内容及事实、理由、依据，并告知你（单位）依法享有陈述、申辩的权利。",
        ));
    } else if let Some(n) = &d.notice_number {
        blocks.push(para(format!(
            "本机关已于作出本决定前以违法行为通知书（{n}）告知你（单位）拟作出行政处罚的内容及事实、理由、依据，以及依法享有的陈述、申辩等权利。"
        )));
    }
    if d.total_yuan > 0 {
        blocks.push(heading("罚款缴纳方式"));
        let how = if d.collect_on_the_spot {
            "罚款由执法人员当场收缴，并出具省级财政部门统一制发的专用票据。".to_string()
        } else {
            "请自收到本决定书之日起十五日内，到指定的银行或者通过电子支付系统缴纳罚款。".to_string()
        };
        blocks.push(para(format!(
            "{how}到期不缴纳罚款的，每日按罚款数额的百分之三加处罚款，加处罚款的数额不超出罚款的数额。"
        )));
    }
    blocks.push(heading("救济途径"));
    blocks.push(para(REMEDIES));
    Ok(Document {
        title: if summary {
            "当场行政处罚决定书"
        } else {
            "行政处罚决定书"
        }
        .to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures,
        verification: verification(header),
        date_line: Some(day_cn("decided_on", &d.decided_on)?),
    })
}

/// 违法行为通知书, from a `notice.issue` body.
pub fn notice(n: &Notice, header: &DocHeader, signatures: Vec<SignatureBlock>) -> Result<Document> {
    let mut blocks = party_blocks(&n.party);
    blocks.push(heading("违法事实"));
    blocks.push(para(n.facts_text.clone()));
    blocks.push(heading("拟作出的行政处罚"));
    blocks.push(para(basis_paragraph(&n.violations, true)));
    blocks.push(heading("你（单位）的权利"));
    let reply_by = format_day_cn(n.reply_by);
    let mut rights = format!(
        "根据《中华人民共和国行政处罚法》第四十四条、第四十五条的规定，你（单位）有权进行陈述和申辩。请于{reply_by}前（{}个工作日内）向本机关提出陈述、申辩意见；逾期未提出的，视为放弃此权利。",
        n.reply_days
    );
    if n.hearing_right {
        rights.push_str(&format!(
            "\n根据《中华人民共和国行政处罚法》第六十三条、第六十四条的规定，你（单位）有权要求举行听证。要求听证的，请于{reply_by}前（{}个工作日内）向本机关提出；逾期未提出的，视为放弃此权利。",
            n.reply_days
        ));
    }
    blocks.push(para(rights));
    Ok(Document {
        title: "违法行为通知书".to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures,
        verification: verification(header),
        date_line: Some(day_cn("issued_on", &n.issued_on)?),
    })
}

/// 不予行政处罚决定书, from a `decision.no_penalty` body.
pub fn no_penalty_decision(
    d: &NoPenaltyDecision,
    header: &DocHeader,
    signatures: Vec<SignatureBlock>,
) -> Result<Document> {
    let mut blocks = party_blocks(&d.party);
    blocks.push(heading("违法事实"));
    blocks.push(para(d.facts_text.clone()));
    blocks.push(heading("不予行政处罚的理由及依据"));
    let met: Vec<&str> = d.conditions.iter().map(|c| c.text.as_str()).collect();
    let mut why = format!("你（单位）的上述行为违反了{}的规定。", d.violated);
    if !met.is_empty() {
        why.push_str(&format!("经查，{}。", met.join("，")));
    }
    why.push_str(&format!(
        "依据{}，本机关决定不予行政处罚。",
        d.exemption_basis
    ));
    blocks.push(para(why));
    blocks.push(heading("教育情况"));
    blocks.push(para(d.education.clone()));
    blocks.push(heading("救济途径"));
    blocks.push(para(
        "如不服本决定，可以在收到本决定书之日起六十日内依法申请行政复议，或者在六个月内依法向人民法院提起行政诉讼。",
    ));
    Ok(Document {
        title: "不予行政处罚决定书".to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures,
        verification: verification(header),
        date_line: Some(day_cn("decided_on", &d.decided_on)?),
    })
}

/// 轻微违法行为告知承诺书, from the `decision.no_penalty` body it goes with.
pub fn commitment(
    d: &NoPenaltyDecision,
    header: &DocHeader,
    signatures: Vec<SignatureBlock>,
) -> Result<Document> {
    let mut blocks = party_blocks(&d.party);
    blocks.push(heading("告知事项"));
    blocks.push(para(format!(
        "你（单位）{}的行为违反了{}的规定，属于轻微违法行为。依据{}，本机关对你（单位）不予行政处罚，并对你（单位）进行了教育。",
        d.violation_name, d.violated, d.exemption_basis
    )));
    blocks.push(heading("承诺"));
    blocks.push(para(format!(
        "本人（单位）{}已知晓上述违法事实和法律规定，承诺立即改正违法行为，今后严格遵守相关法律法规，不再发生同类违法行为。如再次违反，愿依法承担相应的法律责任。",
        party_name(&d.party)
    )));
    Ok(Document {
        title: "轻微违法行为告知承诺书".to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures,
        verification: verification(header),
        date_line: Some(day_cn("decided_on", &d.decided_on)?),
    })
}

/// 行政强制措施决定书 with its 清单, from a `measure.apply` body.
pub fn measure_decision(
    m: &Measure,
    header: &DocHeader,
    signatures: Vec<SignatureBlock>,
) -> Result<Document> {
    let i = &m.input;
    let what = match i.kind {
        CoerciveMeasureKind::Seal => "查封",
        CoerciveMeasureKind::Seizure => "扣押",
        CoerciveMeasureKind::Other => "采取行政强制措施",
    };
    let mut blocks = party_blocks(&i.party);
    blocks.push(heading("理由及依据"));
    blocks.push(para(format!(
        "{}依据{}的规定，本机关决定对下列财物予以{what}。",
        i.reason.trim_end_matches('。').to_string() + "。",
        i.basis
    )));
    let starts = day_cn("starts_on", &i.starts_on)?;
    blocks.push(field(
        "期限",
        format!("{starts}至{}（{}日）", format_day_cn(m.ends_on), i.days),
    ));
    if !i.storage_place.trim().is_empty() {
        blocks.push(field("保管地点", i.storage_place.clone()));
    }
    blocks.push(heading(&format!("{what}清单")));
    blocks.push(items_table("名称", &i.items));
    blocks.push(heading("救济途径"));
    blocks.push(para(
        "如不服本决定，可以在收到本决定书之日起六十日内依法申请行政复议，或者在六个月内依法向人民法院提起行政诉讼。",
    ));
    Ok(Document {
        title: "行政强制措施决定书".to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures,
        verification: verification(header),
        date_line: Some(starts),
    })
}

/// 证据登记保存清单, from an `evidence.preserve` body.
pub fn evidence_list(
    p: &crate::steps::Preservation,
    header: &DocHeader,
    signatures: Vec<SignatureBlock>,
) -> Result<Document> {
    let i = &p.input;
    let mut blocks = party_blocks(&i.party);
    blocks.push(heading("先行登记保存的理由及依据"));
    blocks.push(para(format!(
        "{}依据《中华人民共和国行政处罚法》第五十六条的规定，经本机关负责人批准，对下列证据予以先行登记保存。在此期间，当事人或者有关人员不得销毁或者转移证据。本机关将于{}前作出处理决定。",
        i.reason.trim_end_matches('。').to_string() + "。",
        format_day_cn(p.decide_by)
    )));
    blocks.push(field("保存地点", i.storage_place.clone()));
    blocks.push(heading("证据清单"));
    blocks.push(items_table("证据名称", &i.items));
    Ok(Document {
        title: "证据登记保存清单".to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures,
        verification: verification(header),
        date_line: Some(day_cn("on", &i.on)?),
    })
}

/// 送达回证 for the service of one document, from a `delivery.record` body and the served
/// document's title.
pub fn delivery_receipt(
    d: &DeliveryInput,
    served_title: &str,
    party: Option<&Party>,
    header: &DocHeader,
    signatures: Vec<SignatureBlock>,
) -> Result<Document> {
    let at = format_instant_cn(&d.at).ok_or_else(|| {
        RoadsideError::invalid_field(
            "at",
            "DOCUMENT_TIME_INVALID",
            format!("送达时间“{}”不是 RFC 3339 格式，无法印在文书上", d.at),
        )
    })?;
    let mut blocks = Vec::new();
    if let Some(p) = party {
        blocks.push(field("受送达人（当事人）", party_name(p)));
    }
    blocks.push(field(
        "送达文书",
        format!("{served_title}（{}）", d.document_number),
    ));
    blocks.push(field("送达方式", d.method.chinese()));
    blocks.push(field("送达时间", at));
    blocks.push(field("送达地点", d.place.clone()));
    blocks.push(field("收件人", d.receiver.clone()));
    blocks.push(field("与当事人关系", d.receiver_relation.clone()));
    match d.method {
        crate::steps::DeliveryMethod::Post => {
            blocks.push(field("邮寄单号", d.tracking_no.clone()));
        }
        crate::steps::DeliveryMethod::Electronic => {
            blocks.push(field("电子送达地址", d.electronic_address.clone()));
        }
        _ => {}
    }
    if !d.refusal_reason.trim().is_empty() {
        blocks.push(field("拒收事由", d.refusal_reason.clone()));
        blocks.push(field("见证人", d.witness.clone()));
        if d.evidence_id.is_some() {
            blocks.push(para("送达过程已以音像方式记录。"));
        }
    }
    let date = chrono::DateTime::parse_from_rfc3339(d.at.trim())
        .ok()
        .map(|t| format_day_cn(crate::day::agency_day(&t)));
    Ok(Document {
        title: "送达回证".to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures,
        verification: verification(header),
        date_line: date,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_by_thousands() {
        assert_eq!(yuan(0), "0");
        assert_eq!(yuan(999), "999");
        assert_eq!(yuan(1500), "1,500");
        assert_eq!(yuan(30_000), "30,000");
        assert_eq!(yuan(1_234_567), "1,234,567");
    }
}

/// The legal review a major decision went through, as the filing documents state it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilingReview {
    /// 同意 / 补充调查 / 不同意.
    pub verdict: String,
    pub reviewer: String,
    /// `YYYY-MM-DD`.
    pub reviewed_on: String,
    pub reasons: String,
}

/// What the filing letter and form say about the filing itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilingFacts {
    /// The unit that made the decision (its full name) and whom it files with.
    pub filed_with: String,
    /// The day of the letter, `YYYY-MM-DD`.
    pub dated: String,
    /// The catalogue items that made the decision major, each with its article.
    pub grounds: Vec<String>,
}

const FILING_RULE: &str = "《青海省重大行政处罚决定备案办法》";

fn penalty_summary(d: &PenaltyDecision) -> String {
    d.violations
        .iter()
        .map(penalty_text)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("；")
}

/// 行政处罚决定备案报告: the letter filing a major penalty decision with the superior department
/// and the justice bureau of the same level, within 5 days of the decision (the province's filing
/// rules), sent with the decision and the 备案表.
pub fn filing_report(
    d: &PenaltyDecision,
    header: &DocHeader,
    review: Option<&FilingReview>,
    facts: &FilingFacts,
) -> Result<Document> {
    let decided = day_cn("decided_on", &d.decided_on)?;
    let mut text = format!(
        "{}于{decided}对{}作出{}行政处罚决定（{}），{}。",
        header.agency_name,
        party_name(&d.party),
        if d.procedure == ProcedureKind::General {
            "普通程序"
        } else {
            "简易程序"
        },
        d.number,
        penalty_summary(d)
    );
    if !facts.grounds.is_empty() {
        text.push_str(&format!(
            "该决定属于重大行政处罚决定（{}）。",
            facts.grounds.join("；")
        ));
    }
    if let Some(r) = review {
        text.push_str(&format!(
            "作出决定前，已于{}经法制审核，审核意见为“{}”。",
            day_cn("reviewed_on", &r.reviewed_on)?,
            r.verdict
        ));
    }
    text.push_str(&format!(
        "根据{FILING_RULE}的规定，现将该行政处罚决定报送备案。\n附件：1.行政处罚决定书；2.行政处罚决定备案表。"
    ));
    Ok(Document {
        title: "行政处罚决定备案报告".to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks: vec![para(format!("{}：", facts.filed_with)), para(text)],
        signatures: Vec::new(),
        verification: verification(header),
        date_line: Some(day_cn("dated", &facts.dated)?),
    })
}

/// 行政处罚决定备案表: the decision's particulars in one ruled form, with the legal review.
pub fn filing_form(
    d: &PenaltyDecision,
    header: &DocHeader,
    review: Option<&FilingReview>,
    facts: &FilingFacts,
) -> Result<Document> {
    let mut blocks = vec![
        field("作出决定机关", header.agency_name.clone()),
        field("行政处罚决定书文号", d.number.clone()),
        field("当事人", party_name(&d.party).to_string()),
        field("违法事实", d.facts_text.clone()),
        field(
            "违反的规定",
            d.violations
                .iter()
                .map(|v| v.violated.clone())
                .collect::<Vec<_>>()
                .join("；"),
        ),
        field(
            "处罚依据",
            d.violations
                .iter()
                .map(|v| v.basis.clone())
                .collect::<Vec<_>>()
                .join("；"),
        ),
        field("处罚内容", penalty_summary(d)),
        field("罚款金额", format!("人民币{}元", yuan(d.total_yuan))),
        field("决定日期", day_cn("decided_on", &d.decided_on)?),
        field("重大行政处罚决定的情形", facts.grounds.join("；")),
    ];
    match review {
        Some(r) => {
            blocks.push(field(
                "法制审核",
                format!(
                    "{}，审核人员{}，审核意见“{}”：{}",
                    day_cn("reviewed_on", &r.reviewed_on)?,
                    r.reviewer,
                    r.verdict,
                    r.reasons
                ),
            ));
        }
        None => blocks.push(field("法制审核", "无")),
    }
    blocks.push(field("备案机关", facts.filed_with.clone()));
    Ok(Document {
        title: "行政处罚决定备案表".to_string(),
        agency: header.agency_name.clone(),
        number: header.number.clone(),
        blocks,
        signatures: vec![
            SignatureBlock {
                role: "填表人".to_string(),
                name: None,
                time: None,
                mark: super::SignatureMark::Blank,
            },
            SignatureBlock {
                role: "单位负责人".to_string(),
                name: None,
                time: None,
                mark: super::SignatureMark::Blank,
            },
        ],
        verification: verification(header),
        date_line: Some(day_cn("dated", &facts.dated)?),
    })
}
