//! 行政处罚决定公示: the publication record a logged penalty decision owes the public, with the
//! natural persons' personal data masked, its due date, and the CSV and JSON feeds of what is
//! published. Pure: no storage, no I/O (the publications and their history are kept by
//! [`crate::storage::PublicationStore`]).
//!
//! ## The record
//!
//! A [`PublicationRecord`] holds the administrative-penalty items of the national 双公示 data
//! format as credit platforms commonly use them (the platform's current template is the authority;
//! this list is what the server fills): 行政相对人名称, 行政相对人类别, 统一社会信用代码,
//! 法定代表人, 证件类型, 证件号码, 行政处罚决定书文号, 违法行为类型, 违法事实, 处罚依据, 处罚类别,
//! 处罚内容, 罚款金额（万元）, 没收违法所得、没收非法财物的金额（万元）, 暂扣或吊销证照名称及编号,
//! 处罚决定日期, 处罚有效期, 公示截止期, 处罚机关, 处罚机关统一社会信用代码, 数据来源单位,
//! 数据来源单位统一社会信用代码. Those Chinese names are the JSON keys and the CSV headers, in this
//! order; every value is text (amounts in 万元 as exact decimals, `0.02` for 200 元; days
//! `YYYY-MM-DD`; an item that does not apply is empty).
//!
//! It is built from the decision's signed body (`decision.penalty`, [`PenaltyDecision`]): the party,
//! each violation with the provision violated and the provision applied, the amounts, the other
//! penalties, the decision date and the 文书编号 (checked against the `document.issue` entry that
//! renders the decision, when the case has one). A `decision.no_penalty` is not a penalty and has
//! no 双公示 行政处罚 record.
//!
//! ## The due date
//!
//! A decision is published within 20 working days of the day it was made: the reference data's
//! deadline `publication` (policy.toml, counted by the core's working-day calendar: the decision
//! day is not counted). A decision in a year the calendar does not cover has no due date, and the
//! record is not built (`CALENDAR_YEAR_MISSING`), never guessed.
//!
//! ## Masking (脱敏)
//!
//! Legal persons and other organisations are published in full. For a natural person, by the
//! agency's [`PublicationPolicy`] (data, `server/data/publication.toml` unless the agency gives its
//! own; see `docs/publication.md`):
//! - the name becomes the surname and `某` (张三 → 张某; 欧阳娜娜 → 欧阳某, compound surnames from the
//!   policy's list; a name with no surname — many Tibetan names — keeps its first character), or
//!   `某某` when the policy says so;
//! - the 身份证号, address and phone are never published: 证件号码 is empty, and wherever the
//!   party's (or any person's in the case records) name, ID number, phone or address appears in
//!   the published text (违法事实, 处罚内容…) it is replaced (`张某`, `（身份证号码略）`,
//!   `（电话略）`, `（住址略）`; numbers and plates also when typed full-width, in lower case or
//!   with separators); any run of 8 or more digits left in the text (an ID, phone or
//!   account number written another way) becomes `（号码略）`;
//! - plates keep the province abbreviation and the issuing authority's letter, the rest is `*`
//!   (青E12345 → 青E*****): through the vehicle register a plate identifies its keeper, so it is
//!   personal data of a natural person; the region stays, for supervision by area.

use chrono::{Months, NaiveDate};
use roadside_core::codes::PLATE_PROVINCES;
use roadside_core::model::Party;
use roadside_core::rules::{DeadlineDue, RuleBook};
use roadside_core::steps::PenaltyDecision;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Result};
use crate::storage::{Agency, CaseDetail, CaseEntry, Publication, PublicationState};

/// The deadline of the reference data that a publication is due by.
pub const DEADLINE_ID: &str = "publication";

/// The agency policy compiled into the server (`server/data/publication.toml`).
pub const BUNDLED_POLICY: &str = include_str!("../data/publication.toml");

// ---------------------------------------------------------------------------------------------
// Policy

/// How a natural person's name is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameStyle {
    /// 张三 → 张某.
    SurnameMou,
    /// 张三 → 张某某.
    SurnameMoumou,
}

/// The agency's masking and publication-period rules (data, never constants in code).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicationPolicy {
    pub meta: PolicyMeta,
    pub person_name: NameRule,
    pub plate: PlateRule,
    pub public_period: PublicPeriod,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyMeta {
    /// Always `publication_policy`.
    pub kind: String,
    pub title: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRule {
    pub style: NameStyle,
    /// Two-character surnames (欧阳, 司马…), recognised at the start of a name.
    pub compound_surnames: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlateRule {
    /// Characters kept at the start of a natural person's plate (2: 省份简称 and 发牌机关代号).
    pub keep: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicPeriod {
    /// 公示截止期: months after the decision date.
    pub months: u32,
    pub basis: String,
    pub verified: bool,
}

impl PublicationPolicy {
    /// The policy compiled into the server.
    pub fn bundled() -> Result<Self> {
        Self::from_toml(BUNDLED_POLICY)
    }

    /// The agency's own policy, `<data_dir>/publication.toml`, when it has one; otherwise the
    /// policy compiled into the server. A file that cannot be read or does not have the policy's
    /// shape is an error (`PUBLICATION_POLICY_INVALID`), never silently replaced by the default.
    pub fn load(data_dir: &std::path::Path) -> Result<Self> {
        let path = data_dir.join("publication.toml");
        if !path.exists() {
            return Self::bundled();
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ApiError::internal(
                "PUBLICATION_POLICY_INVALID",
                format!("无法读取公示脱敏规则文件 {}：{e}", path.display()),
            )
        })?;
        Self::from_toml(&text)
    }

    /// An agency's policy file (`publication.toml`): `PUBLICATION_POLICY_INVALID` when it does not
    /// have the policy's shape.
    pub fn from_toml(text: &str) -> Result<Self> {
        let policy: PublicationPolicy = toml::from_str(text).map_err(|e| {
            ApiError::internal(
                "PUBLICATION_POLICY_INVALID",
                format!("公示脱敏规则文件无效：{e}"),
            )
        })?;
        if policy.meta.kind != "publication_policy" {
            return Err(ApiError::internal(
                "PUBLICATION_POLICY_INVALID",
                format!(
                    "公示脱敏规则文件的 [meta] kind 应为 publication_policy，实际为「{}」",
                    policy.meta.kind
                ),
            ));
        }
        if let Some(bad) = policy
            .person_name
            .compound_surnames
            .iter()
            .find(|s| s.chars().count() < 2)
        {
            return Err(ApiError::internal(
                "PUBLICATION_POLICY_INVALID",
                format!("公示脱敏规则中的复姓「{bad}」应至少两个字"),
            ));
        }
        Ok(policy)
    }
}

// ---------------------------------------------------------------------------------------------
// Masking

/// A natural person's name as published: the surname (a compound one from the policy's list, or
/// the first character) and `某` / `某某`. A name of one character or none becomes `某`.
pub fn mask_name(name: &str, rule: &NameRule) -> String {
    let name = name.trim();
    let mou = match rule.style {
        NameStyle::SurnameMou => "某",
        NameStyle::SurnameMoumou => "某某",
    };
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= 1 {
        return "某".to_string();
    }
    let surname: String = rule
        .compound_surnames
        .iter()
        .find(|s| name.starts_with(s.as_str()) && s.chars().count() < chars.len())
        .cloned()
        .unwrap_or_else(|| chars[0].to_string());
    format!("{surname}{mou}")
}

/// A natural person's plate as published: the first `keep` characters, each other one `*`.
pub fn mask_plate(plate: &str, rule: &PlateRule) -> String {
    plate
        .chars()
        .enumerate()
        .map(|(i, c)| if i < rule.keep { c } else { '*' })
        .collect()
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

fn is_plate_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

/// The personal data of the natural persons a case names, to be kept out of published text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonalData {
    /// (full name, masked name).
    pub names: Vec<(String, String)>,
    pub id_numbers: Vec<String>,
    pub phones: Vec<String>,
    pub addresses: Vec<String>,
    pub plates: Vec<String>,
    /// Plate-shaped strings in the text are masked too (the party is a natural person).
    pub mask_plates: bool,
}

impl PersonalData {
    fn add(list: &mut Vec<String>, v: Option<&str>) {
        if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
            if !list.iter().any(|x| x == v) {
                list.push(v.to_string());
            }
        }
    }

    fn add_person(
        &mut self,
        name: Option<&str>,
        id: Option<&str>,
        phone: Option<&str>,
        address: Option<&str>,
        rule: &NameRule,
    ) {
        if let Some(n) = name.map(str::trim).filter(|n| n.chars().count() > 1) {
            if !self.names.iter().any(|(x, _)| x == n) {
                self.names.push((n.to_string(), mask_name(n, rule)));
            }
        }
        Self::add(&mut self.id_numbers, id);
        Self::add(&mut self.phones, phone);
        Self::add(&mut self.addresses, address);
    }

    /// `text` with this personal data replaced, then every run of 8 or more digits, then every
    /// plate-shaped string (a province abbreviation, a capital, 5 or 6 serial characters) masked.
    /// Names and addresses are matched as written; ID numbers, phones and plates also when typed
    /// with full-width or lower-case characters or with spaces, dashes or dots between them.
    pub fn scrub(&self, text: &str, policy: &PublicationPolicy) -> String {
        // (what, replacement, matched loosely)
        let mut replacements: Vec<(&str, String, bool)> = Vec::new();
        for a in &self.addresses {
            replacements.push((a, "（住址略）".to_string(), false));
        }
        for id in &self.id_numbers {
            replacements.push((id, "（身份证号码略）".to_string(), true));
        }
        for p in &self.phones {
            replacements.push((p, "（电话略）".to_string(), true));
        }
        for p in &self.plates {
            replacements.push((p, mask_plate(p, &policy.plate), true));
        }
        for (n, masked) in &self.names {
            replacements.push((n, masked.clone(), false));
        }
        // Longest first: an address holding a name or a number goes as a whole.
        replacements.sort_by_key(|(from, _, _)| std::cmp::Reverse(from.chars().count()));
        let mut out = text.to_string();
        for (from, to, loose) in &replacements {
            out = if *loose {
                replace_loose(&out, from, to)
            } else {
                out.replace(from, to)
            };
        }
        let out = mask_long_numbers(&out);
        if self.mask_plates {
            mask_plates(&out, &policy.plate)
        } else {
            out
        }
    }
}

/// A character as compared in a loose match: full-width forms as half-width, letters upper-case.
fn loose_char(c: char) -> char {
    let half = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    half.to_ascii_uppercase()
}

/// What may stand between the characters of a number typed by hand.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{3000}' | '-' | '－' | '–' | '—' | '.' | '·' | '•' | '・'
    )
}

/// `text` with every loose occurrence of `needle` (see [`PersonalData::scrub`]) replaced by `to`.
fn replace_loose(text: &str, needle: &str, to: &str) -> String {
    let hay: Vec<char> = text.chars().collect();
    let needle: Vec<char> = needle.chars().map(loose_char).collect();
    let Some(&first) = needle.first() else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < hay.len() {
        if loose_char(hay[i]) == first {
            let (mut j, mut k) = (i + 1, 1);
            while k < needle.len() && j < hay.len() {
                if loose_char(hay[j]) == needle[k] {
                    k += 1;
                } else if !is_separator(hay[j]) {
                    break;
                }
                j += 1;
            }
            if k == needle.len() {
                out.push_str(to);
                i = j;
                continue;
            }
        }
        out.push(hay[i]);
        i += 1;
    }
    out
}

/// Every run of 8 or more digits (half- or full-width, with an ID number's trailing `X`) becomes
/// `（号码略）`.
fn mask_long_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if is_digit(chars[i]) {
            let start = i;
            while i < chars.len() && is_digit(chars[i]) {
                i += 1;
            }
            if i - start >= 8 {
                if i < chars.len() && matches!(chars[i], 'X' | 'x' | 'Ｘ' | 'ｘ') {
                    i += 1;
                }
                out.push_str("（号码略）");
            } else {
                out.extend(&chars[start..i]);
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Every plate-shaped string (province abbreviation, capital letter, 5 or 6 serial characters,
/// an optional 挂) masked by the plate rule.
fn mask_plates(text: &str, rule: &PlateRule) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = PLATE_PROVINCES.contains(c)
            && chars
                .get(i + 1)
                .is_some_and(|a| a.is_ascii_uppercase() && *a != 'I' && *a != 'O');
        if starts {
            let mut end = i + 2;
            while end < chars.len() && end - i < 8 && is_plate_char(chars[end]) {
                end += 1;
            }
            let serial = end - i - 2;
            if serial == 4 && chars.get(end) == Some(&'挂') {
                end += 1;
            }
            if (4..=6).contains(&serial) && (serial > 4 || chars[end - 1] == '挂') {
                let plate: String = chars[i..end].iter().collect();
                out.push_str(&mask_plate(&plate, rule));
                i = end;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The personal data of every natural person the case names: the decision's party, and in each
/// record the party, the persons on site and (when the decision's party is a natural person) the
/// vehicle's plate, read leniently: a record of an older shape still gives what it has. An
/// organisation's legal representative is published in full, so that name is left as it is.
pub fn personal_data(case: &CaseDetail, party: &Party, rule: &NameRule) -> PersonalData {
    let person_party = matches!(party, Party::Person { .. });
    let mut data = PersonalData {
        mask_plates: person_party,
        ..PersonalData::default()
    };
    if let Party::Person {
        name,
        id_number,
        address,
        phone,
    } = party
    {
        data.add_person(
            Some(name),
            Some(id_number),
            phone.as_deref(),
            address.as_deref(),
            rule,
        );
    }
    let s = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    for e in &case.entries {
        let Some(record) = e.body.get("record") else {
            continue;
        };
        if let Some(p) = record.get("party") {
            if s(p, "type").as_deref() == Some("person") {
                data.add_person(
                    s(p, "name").as_deref(),
                    s(p, "id_number").as_deref(),
                    s(p, "phone").as_deref(),
                    s(p, "address").as_deref(),
                    rule,
                );
            }
        }
        for p in record
            .get("persons")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            data.add_person(
                s(p, "name").as_deref(),
                s(p, "id_number").as_deref(),
                s(p, "phone").as_deref(),
                s(p, "address").as_deref(),
                rule,
            );
            PersonalData::add(&mut data.id_numbers, s(p, "other_id").as_deref());
        }
        if person_party {
            let plate = record.get("vehicle").and_then(|v| s(v, "plate"));
            PersonalData::add(&mut data.plates, plate.as_deref());
        }
    }
    if let Party::Organisation {
        legal_representative: Some(rep),
        ..
    } = party
    {
        data.names.retain(|(n, _)| n != rep.trim());
    }
    data
}

// ---------------------------------------------------------------------------------------------
// The record

/// One decision as published, in the items of the national 双公示 administrative-penalty format.
/// The serde names (the JSON keys and CSV headers) are the items' Chinese names, in the format's
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicationRecord {
    #[serde(rename = "行政相对人名称")]
    pub party_name: String,
    /// 自然人, 法人及非法人组织 or 个体工商户.
    #[serde(rename = "行政相对人类别")]
    pub party_category: String,
    #[serde(rename = "统一社会信用代码")]
    pub uscc: String,
    #[serde(rename = "法定代表人")]
    pub legal_representative: String,
    /// 身份证 for a natural person (the number itself is never published).
    #[serde(rename = "证件类型")]
    pub id_type: String,
    /// Always empty: natural persons' ID numbers are not published, organisations have the USCC.
    #[serde(rename = "证件号码")]
    pub id_number: String,
    #[serde(rename = "行政处罚决定书文号")]
    pub decision_number: String,
    #[serde(rename = "违法行为类型")]
    pub violation_types: String,
    #[serde(rename = "违法事实")]
    pub facts: String,
    #[serde(rename = "处罚依据")]
    pub basis: String,
    #[serde(rename = "处罚类别")]
    pub categories: String,
    #[serde(rename = "处罚内容")]
    pub content: String,
    #[serde(rename = "罚款金额（万元）")]
    pub fine_wan_yuan: String,
    #[serde(rename = "没收违法所得、没收非法财物的金额（万元）")]
    pub confiscated_wan_yuan: String,
    #[serde(rename = "暂扣或吊销证照名称及编号")]
    pub licences: String,
    #[serde(rename = "处罚决定日期")]
    pub decided_on: String,
    /// Empty: the decision body does not carry a term for a suspension, and a fine has none.
    #[serde(rename = "处罚有效期")]
    pub valid_until: String,
    #[serde(rename = "公示截止期")]
    pub public_until: String,
    #[serde(rename = "处罚机关")]
    pub agency_name: String,
    #[serde(rename = "处罚机关统一社会信用代码")]
    pub agency_uscc: String,
    #[serde(rename = "数据来源单位")]
    pub data_source: String,
    #[serde(rename = "数据来源单位统一社会信用代码")]
    pub data_source_uscc: String,
}

/// The Chinese names of a record's items, in order: the CSV header.
pub const HEADERS: [&str; 22] = [
    "行政相对人名称",
    "行政相对人类别",
    "统一社会信用代码",
    "法定代表人",
    "证件类型",
    "证件号码",
    "行政处罚决定书文号",
    "违法行为类型",
    "违法事实",
    "处罚依据",
    "处罚类别",
    "处罚内容",
    "罚款金额（万元）",
    "没收违法所得、没收非法财物的金额（万元）",
    "暂扣或吊销证照名称及编号",
    "处罚决定日期",
    "处罚有效期",
    "公示截止期",
    "处罚机关",
    "处罚机关统一社会信用代码",
    "数据来源单位",
    "数据来源单位统一社会信用代码",
];

/// A decision's publication as built: the record, the decision it publishes and the day it is
/// due by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicationDraft {
    pub case_id: String,
    pub agency: String,
    /// The decision entry's hash (lowercase hex).
    pub entry_hash: String,
    pub decided_on: NaiveDate,
    /// The last day to publish (20 working days after the decision), with its basis.
    pub due: DeadlineDue,
    pub record: PublicationRecord,
}

/// Who publishes: the deciding agency, its 统一社会信用代码 (the agencies table does not hold one;
/// empty when not known) and the data source unit (the agency itself unless another unit sends
/// the data to the platform).
#[derive(Debug, Clone, Copy)]
pub struct Publisher<'a> {
    pub agency: &'a Agency,
    pub agency_uscc: &'a str,
    pub data_source: Option<(&'a str, &'a str)>,
}

/// 元 as an exact decimal of 万元: 200 → `0.02`, 10000 → `1`, 12345 → `1.2345`.
pub fn wan_yuan(yuan: i64) -> String {
    let sign = if yuan < 0 { "-" } else { "" };
    let abs = yuan.unsigned_abs();
    let (whole, frac) = (abs / 10_000, abs % 10_000);
    if frac == 0 {
        format!("{sign}{whole}")
    } else {
        let f = format!("{frac:04}");
        format!("{sign}{whole}.{}", f.trim_end_matches('0'))
    }
}

/// The amount in a penalty text such as `没收违法所得人民币12,000元`.
fn amount_in(text: &str) -> Option<i64> {
    let after = text.split_once("人民币")?.1;
    let digits: String = after
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn refused(code: &str, message: String) -> ApiError {
    ApiError::bad_request(code, message)
}

fn join_distinct(items: impl IntoIterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for i in items {
        let i = i.trim().to_string();
        if !i.is_empty() && !seen.contains(&i) {
            seen.push(i);
        }
    }
    seen.join("；")
}

/// The publication a logged penalty decision owes: the record, masked by `policy`, and its due
/// date from `book`'s `publication` deadline and calendar.
///
/// Refused (400) when the entry is not an accepted `decision.penalty` of this case and agency
/// (`PUBLICATION_NOT_A_PENALTY_DECISION`, `PUBLICATION_DECISION_REFUSED`,
/// `PUBLICATION_CASE_MISMATCH`), when the case or the decision was voided by an accepted
/// `entry.void` (`PUBLICATION_DECISION_VOIDED`), when its body cannot be read
/// (`PUBLICATION_DECISION_UNREADABLE`),
/// when the document issued for it carries another number (`PUBLICATION_NUMBER_MISMATCH`), when
/// the publisher's USCC is not a valid one (`PUBLICATION_AGENCY_USCC_INVALID`), and when the due
/// date cannot be computed (the core's `CALENDAR_YEAR_MISSING`).
pub fn publication_from_decision(
    case: &CaseDetail,
    decision_entry: &CaseEntry,
    publisher: &Publisher<'_>,
    book: &RuleBook,
    policy: &PublicationPolicy,
) -> Result<PublicationDraft> {
    if decision_entry.kind != "decision.penalty" {
        return Err(refused(
            "PUBLICATION_NOT_A_PENALTY_DECISION",
            format!(
                "记录 {} 是「{}」，不是行政处罚决定（decision.penalty），没有行政处罚公示信息",
                decision_entry.entry_hash, decision_entry.kind
            ),
        ));
    }
    if let Some(r) = &decision_entry.refused {
        return Err(refused(
            "PUBLICATION_DECISION_REFUSED",
            format!(
                "处罚决定 {} 已被服务器拒收（{}：{}），不能公示",
                decision_entry.entry_hash, r.code, r.message
            ),
        ));
    }
    let in_case = case
        .entries
        .iter()
        .any(|e| e.entry_hash == decision_entry.entry_hash);
    if !in_case || publisher.agency.code != case.case.agency {
        return Err(refused(
            "PUBLICATION_CASE_MISMATCH",
            format!(
                "处罚决定 {} 不属于机构 {} 的案件 {}",
                decision_entry.entry_hash, publisher.agency.code, case.case.id
            ),
        ));
    }
    // A voided case (its opening voided) or a voided decision is not published.
    let voided: Vec<&str> = case
        .entries
        .iter()
        .filter(|e| e.kind == "entry.void" && e.refused.is_none())
        .filter_map(|e| e.body.get("supersedes").and_then(|s| s.as_str()))
        .collect();
    let void_hit = case.entries.iter().any(|e| {
        (e.kind == "case.open" || e.entry_hash == decision_entry.entry_hash)
            && voided.contains(&e.entry_hash.as_str())
    });
    if void_hit {
        return Err(refused(
            "PUBLICATION_DECISION_VOIDED",
            format!(
                "案件 {} 或其处罚决定 {} 已作废，不能公示",
                case.case.id, decision_entry.entry_hash
            ),
        ));
    }
    let decision: PenaltyDecision =
        serde_json::from_value(decision_entry.body.clone()).map_err(|e| {
            refused(
                "PUBLICATION_DECISION_UNREADABLE",
                format!("处罚决定 {} 的内容无法读取：{e}", decision_entry.entry_hash),
            )
        })?;
    let decided_on = roadside_core::day::parse_day(&decision.decided_on).ok_or_else(|| {
        refused(
            "PUBLICATION_DECISION_UNREADABLE",
            format!(
                "处罚决定 {} 的决定日期「{}」不是 YYYY-MM-DD",
                decision_entry.entry_hash, decision.decided_on
            ),
        )
    })?;
    for e in &case.entries {
        let issued_for_it = e.kind == "document.issue"
            && e.refused.is_none()
            && e.body.get("source").and_then(|s| s.as_str())
                == Some(decision_entry.entry_hash.as_str());
        if let Some(doc) = e.document.as_ref().filter(|_| issued_for_it) {
            if doc.number != decision.number {
                return Err(refused(
                    "PUBLICATION_NUMBER_MISMATCH",
                    format!(
                        "处罚决定的文书编号「{}」与为其出具的文书编号「{}」不一致",
                        decision.number, doc.number
                    ),
                ));
            }
        }
    }
    let agency_uscc = publisher.agency_uscc.trim();
    for uscc in [Some(agency_uscc), publisher.data_source.map(|d| d.1.trim())]
        .into_iter()
        .flatten()
        .filter(|u| !u.is_empty())
    {
        roadside_core::codes::check_uscc(uscc).map_err(|e| {
            refused(
                "PUBLICATION_AGENCY_USCC_INVALID",
                format!("公示机构的统一社会信用代码「{uscc}」无效：{}", e.message),
            )
        })?;
    }
    let due = book.deadline(DEADLINE_ID, &roadside_core::day::format_day(decided_on))?;
    let public_until = decided_on
        .checked_add_months(Months::new(policy.public_period.months))
        .ok_or_else(|| {
            refused(
                "PUBLICATION_PERIOD_OUT_OF_RANGE",
                format!(
                    "决定日期 {decided_on} 加公示期 {} 个月超出日期范围",
                    policy.public_period.months
                ),
            )
        })?;

    let data = personal_data(case, &decision.party, &policy.person_name);
    let scrub = |t: &str| data.scrub(t, policy);
    let (party_name, party_category, uscc, legal_rep, id_type) = match &decision.party {
        Party::Person { name, .. } => (
            mask_name(name, &policy.person_name),
            "自然人".to_string(),
            String::new(),
            String::new(),
            "身份证".to_string(),
        ),
        Party::Organisation {
            name,
            uscc,
            legal_representative,
            ..
        } => (
            name.trim().to_string(),
            if uscc.trim().starts_with("92") {
                "个体工商户".to_string()
            } else {
                "法人及非法人组织".to_string()
            },
            uscc.trim().to_uppercase(),
            legal_representative.clone().unwrap_or_default(),
            String::new(),
        ),
    };

    let v = &decision.violations;
    let mut categories = Vec::new();
    if v.iter().any(|v| v.warning) {
        categories.push("警告".to_string());
    }
    if decision.total_yuan > 0 {
        categories.push("罚款".to_string());
    }
    let others: Vec<&String> = v.iter().flat_map(|v| &v.other_penalties).collect();
    let mut confiscated: i64 = 0;
    let mut licences = Vec::new();
    for p in &others {
        if p.starts_with("没收") {
            categories.push("没收违法所得、没收非法财物".to_string());
            confiscated = confiscated.saturating_add(amount_in(p).unwrap_or(0));
        } else if p.contains("吊销") || p.contains("暂扣") {
            categories.push(if p.contains("吊销") {
                "吊销许可证件".to_string()
            } else {
                "暂扣许可证件".to_string()
            });
            licences.push((*p).clone());
        } else {
            categories.push("其他".to_string());
        }
    }
    let content = join_distinct(v.iter().map(|v| {
        let mut parts = Vec::new();
        if v.warning {
            parts.push("警告".to_string());
        }
        if v.amount_yuan > 0 {
            parts.push(format!(
                "罚款人民币{}元",
                roadside_core::rules::guidance::yuan(v.amount_yuan)
            ));
        }
        parts.extend(v.other_penalties.iter().cloned());
        parts.extend(v.measures.iter().cloned());
        format!("{}：{}", v.name, parts.join("，"))
    }));
    let (data_source, data_source_uscc) = publisher
        .data_source
        .map(|(n, u)| (n.trim().to_string(), u.trim().to_string()))
        .unwrap_or_else(|| (publisher.agency.name.clone(), agency_uscc.to_string()));

    let record = PublicationRecord {
        party_name,
        party_category,
        uscc,
        legal_representative: legal_rep,
        id_type,
        id_number: String::new(),
        decision_number: decision.number.clone(),
        violation_types: join_distinct(v.iter().map(|v| v.name.clone())),
        facts: scrub(&decision.facts_text),
        basis: join_distinct(v.iter().flat_map(|v| [v.violated.clone(), v.basis.clone()])),
        categories: join_distinct(categories),
        content: scrub(&content),
        fine_wan_yuan: wan_yuan(decision.total_yuan),
        confiscated_wan_yuan: wan_yuan(confiscated),
        licences: scrub(&join_distinct(licences)),
        decided_on: roadside_core::day::format_day(decided_on),
        valid_until: String::new(),
        public_until: roadside_core::day::format_day(public_until),
        agency_name: publisher.agency.name.clone(),
        agency_uscc: agency_uscc.to_string(),
        data_source,
        data_source_uscc,
    };
    Ok(PublicationDraft {
        case_id: case.case.id.clone(),
        agency: case.case.agency.clone(),
        entry_hash: decision_entry.entry_hash.clone(),
        decided_on,
        due,
        record,
    })
}

// ---------------------------------------------------------------------------------------------
// Feeds

/// The records the feeds may carry: those of the `published` publications, in the order given
/// (pending and withdrawn ones are left out whatever list they come from).
pub fn published_records(publications: &[Publication]) -> Vec<PublicationRecord> {
    publications
        .iter()
        .filter(|p| p.state == PublicationState::Published)
        .map(|p| p.record.clone())
        .collect()
}

/// The published records as CSV for the provincial platform and for Excel: UTF-8 with a byte
/// order mark (Excel reads UTF-8 only with it), the Chinese item names as the header row, every
/// field quoted when it holds a comma, quote or line break (RFC 4180), CRLF line ends.
pub fn csv_feed(records: &[PublicationRecord]) -> Result<Vec<u8>> {
    let failed = |e: csv::Error| {
        ApiError::internal(
            "PUBLICATION_FEED_FAILED",
            format!("无法生成公示数据（CSV）：{e}"),
        )
    };
    let mut out = "\u{feff}".as_bytes().to_vec();
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .has_headers(false)
            .from_writer(&mut out);
        // The header written from the item list, so an empty feed still names its columns.
        w.write_record(HEADERS).map_err(failed)?;
        for r in records {
            w.serialize(r).map_err(failed)?;
        }
        w.flush().map_err(|e| {
            ApiError::internal(
                "PUBLICATION_FEED_FAILED",
                format!("无法生成公示数据（CSV）：{e}"),
            )
        })?;
    }
    Ok(out)
}

/// The published records as a JSON array of objects keyed by the Chinese item names.
pub fn json_feed(records: &[PublicationRecord]) -> Result<Vec<u8>> {
    serde_json::to_vec(records).map_err(|e| {
        ApiError::internal(
            "PUBLICATION_FEED_FAILED",
            format!("无法生成公示数据（JSON）：{e}"),
        )
    })
}

#[cfg(test)]
mod tests;
