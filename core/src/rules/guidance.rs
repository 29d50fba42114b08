//! Guidance: from violations and facts to what the law allows and requires.
//!
//! For each violation: the version of the rule that applies (the text in force on the act's date,
//! unless the text in force on the decision date is lighter — 从旧兼从轻, 处罚法 37), the tier
//! (档次), the range, a recommended amount with its reasons written out (说理, citing articles), the
//! exemption outcome; for the case: the procedure (简易程序, 听证, 法制审核, 集体讨论) and the deadlines
//! it triggers. Unverified reference values used are listed, never passed off as law.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::check::ProcedureKind;
use super::model::*;
use super::review::{self, ReviewCase};
use super::RuleBook;
use crate::error::{Issue, Result, RoadsideError};

/// 当事人类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum PartyType {
    /// 公民 (natural person).
    #[default]
    Person,
    /// 法人或者其他组织.
    Organisation,
}

impl PartyType {
    fn chinese(self) -> &'static str {
        match self {
            PartyType::Person => "公民",
            PartyType::Organisation => "法人或者其他组织",
        }
    }
}

/// The facts of a case as far as the officer knows them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// Date of the act (违法行为发生之日), `YYYY-MM-DD`.
    pub act_date: String,
    #[serde(default)]
    pub party_type: PartyType,
    /// Age of a natural person.
    #[serde(default)]
    pub age: Option<u32>,
    /// 车货总质量, kg.
    #[serde(default)]
    pub gross_weight_kg: Option<f64>,
    #[serde(default)]
    pub axles: Option<u32>,
    /// 汽车列车 (true) or 货车 (false).
    #[serde(default)]
    pub combination: Option<bool>,
    /// 牵引车驱动轴为单轴.
    #[serde(default)]
    pub single_drive_axle: Option<bool>,
    /// 超限质量, kg (computed from the gross weight and the limit when absent).
    #[serde(default)]
    pub over_kg: Option<f64>,
    #[serde(default)]
    pub height_m: Option<f64>,
    #[serde(default)]
    pub width_m: Option<f64>,
    #[serde(default)]
    pub length_m: Option<f64>,
    #[serde(default)]
    pub area_m2: Option<f64>,
    #[serde(default)]
    pub depth_m: Option<f64>,
    /// 违法所得, 元 (0 when none).
    #[serde(default)]
    pub illegal_income_yuan: Option<i64>,
    #[serde(default)]
    pub count: Option<u32>,
    /// Prior violations of the same kind (0 = first offence as far as the device knows).
    #[serde(default)]
    pub prior_violations: Option<u32>,
    /// The first offence was confirmed online against the agency's records.
    #[serde(default)]
    pub first_offence_checked_online: bool,
    /// Circumstance flags (情节), see `reference/FORMAT.md`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// The day the decision is (to be) made, `YYYY-MM-DD`; today when absent.
    #[serde(default)]
    pub decision_date: Option<String>,
    /// 立案 date, `YYYY-MM-DD`, for the decision deadline.
    #[serde(default)]
    pub filing_date: Option<String>,
}

/// A guidance request: violation codes and the facts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct GuidanceRequest {
    pub violations: Vec<String>,
    pub facts: Facts,
}

/// Exemption result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum ExemptionStatus {
    /// The violation is not on the exemption list.
    NotListed,
    /// Every condition holds.
    Eligible,
    /// At least one condition does not hold (listed in `unmet`).
    NotEligible,
    /// Every condition holds as far as the device knows; the first offence must be checked online.
    NeedsOnlineCheck,
    /// The law forbids a penalty outright (under 14 — 处罚法 30; no fault — 处罚法 33 ¶2).
    MustNotPenalise,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ExemptionGuidance {
    pub status: ExemptionStatus,
    /// The exemption item considered.
    pub code: Option<String>,
    pub outcome: Option<ExemptionOutcome>,
    /// Conditions that do not hold, in words.
    pub unmet: Vec<String>,
    /// Conditions awaiting an online check.
    pub pending: Vec<String>,
    /// Documents to produce when exempted.
    pub documents: Vec<String>,
    pub basis: String,
    pub verified: bool,
}

/// Guidance for one violation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ViolationGuidance {
    pub code: String,
    pub name: String,
    pub category: String,
    pub violated: String,
    /// `violated` has been checked against the statute text.
    pub violated_verified: bool,
    pub basis: String,
    pub legal: String,
    /// The version applied.
    pub version_valid_from: NaiveDate,
    pub version_valid_to: Option<NaiveDate>,
    /// Which law applies and why (从旧兼从轻); empty when the rule has one version.
    pub law_choice: String,
    /// The facts show the act is not this violation (e.g. within the size limits), and why.
    pub not_offence: Option<String>,
    pub tier: Option<TierLevel>,
    pub tier_criteria: String,
    pub tier_basis: String,
    pub min_yuan: Option<i64>,
    pub max_yuan: Option<i64>,
    pub legal_min_yuan: Option<i64>,
    pub legal_max_yuan: Option<i64>,
    pub warning_allowed: bool,
    /// The fine is fixed by a formula (no discretion inside the tier).
    pub fixed_by_formula: bool,
    pub recommended_yuan: Option<i64>,
    pub recommended_warning: bool,
    /// 从轻/减轻 circumstances found.
    pub lighter: Vec<String>,
    /// 从重 circumstances found.
    pub heavier: Vec<String>,
    /// What the article prescribes besides the fine, on these facts.
    pub measures: Vec<MeasureGuidance>,
    pub sum_group: Option<String>,
    pub sum_cap_yuan: Option<i64>,
    pub hearing_required: bool,
    /// 说理: the reasons, each citing its article — legal statements a decision can carry.
    pub reasons: Vec<String>,
    /// The benchmark's recommendation in words ("…建议罚款 1500 元。"), for the officer; a
    /// decision states the amount decided instead.
    pub recommendation: String,
    pub exemption: ExemptionGuidance,
    /// Facts needed to pick the tier or compute the amount.
    pub missing_facts: Vec<String>,
    /// Other problems (e.g. the facts fit no tier).
    pub notes: Vec<String>,
    /// Unverified values used.
    pub unverified: Vec<String>,
}

/// A measure besides the fine (责令停止经营, 没收违法所得…) and whether it applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct MeasureGuidance {
    pub name: String,
    pub kind: MeasureKind,
    pub basis: String,
    /// The condition in words; empty when unconditional.
    pub condition: String,
    /// The condition holds on the facts (false: facts missing, listed).
    pub applies: bool,
    pub missing_facts: Vec<String>,
    /// The amount, for a measure with one (没收违法所得).
    pub amount_yuan: Option<i64>,
}

impl MeasureGuidance {
    /// "责令停止经营" / "没收违法所得人民币12,000元".
    pub fn text(&self) -> String {
        match self.amount_yuan {
            Some(a) if a > 0 => format!("{}人民币{}元", self.name, yuan(a)),
            _ => self.name.clone(),
        }
    }
}

/// 人民币 amount in 元, e.g. `1,500`: forms print digits, grouped for reading.
pub fn yuan(n: i64) -> String {
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Penalties that carry the right to a hearing whatever the amount (处罚法 63).
const HEARING_MEASURES: &[&str] = &[
    "吊销",
    "降低资质等级",
    "停产停业",
    "责令关闭",
    "限制从业",
    "停止从事营业性运输",
];

/// "《…》第六十三条" once per distinct basis.
fn join_bases(ms: &[&MeasureGuidance]) -> String {
    let mut bases: Vec<&str> = Vec::new();
    for m in ms {
        if !bases.contains(&m.basis.as_str()) {
            bases.push(&m.basis);
        }
    }
    bases.join("、")
}

/// The penalties besides the fine that decide whether legal review is needed (处罚法 58 and the
/// catalogue): the names of the other penalties that apply, and the amount confiscated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OtherPenalties {
    pub names: Vec<String>,
    pub confiscated_yuan: i64,
}

impl OtherPenalties {
    /// From the guidance of each violation: its measures of the penalty kind that apply.
    pub(crate) fn of(violations: &[ViolationGuidance]) -> Self {
        let mut out = OtherPenalties::default();
        for m in violations
            .iter()
            .flat_map(|v| &v.measures)
            .filter(|m| m.applies && m.kind == MeasureKind::Penalty)
        {
            if m.name.starts_with("没收") {
                out.confiscated_yuan += m.amount_yuan.unwrap_or(0).max(0);
            }
            out.names.push(m.name.clone());
        }
        out
    }
}

/// The procedure the case needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ProcedureGuidance {
    /// No penalty is to be given (exempt, not a violation, or out of time): the decision is a
    /// 不予行政处罚决定, not a fine by either procedure.
    pub no_penalty: bool,
    pub no_penalty_reason: String,
    pub summary_allowed: bool,
    pub summary_reason: String,
    pub on_the_spot_collection_allowed: bool,
    pub hearing_required: bool,
    pub hearing_reason: String,
    pub legal_review_required: bool,
    pub legal_review_reasons: Vec<String>,
    pub collective_decision_required: bool,
    pub collective_decision_reasons: Vec<String>,
    /// Unverified thresholds the answer relied on.
    pub unverified: Vec<String>,
}

/// A deadline the case triggers (with its due date when the start is known).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct DeadlineNote {
    pub id: String,
    pub name: String,
    pub from_event: String,
    pub days: u32,
    pub unit: DeadlineUnit,
    pub basis: String,
    pub due: Option<NaiveDate>,
}

/// The whole guidance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Guidance {
    pub act_date: NaiveDate,
    pub decision_date: NaiveDate,
    pub violations: Vec<ViolationGuidance>,
    /// Sum of the recommended amounts (sum groups capped).
    pub total_recommended_yuan: i64,
    /// Sum of the range maxima (sum groups capped).
    pub total_max_yuan: i64,
    pub procedure: ProcedureGuidance,
    pub deadlines: Vec<DeadlineNote>,
    /// The limitation period (处罚法 36) has run out: no penalty, and why.
    pub limitation: Option<String>,
    /// The reasons of every violation, joined (说理).
    pub reasoning: String,
    /// Every unverified value used (to be confirmed by the agency).
    pub unverified: Vec<String>,
    pub warnings: Vec<String>,
}

/// Parses a `YYYY-MM-DD` date of an input, refusing absurd years.
pub fn parse_date(path: &str, s: &str) -> Result<NaiveDate> {
    let d = crate::day::parse_day(s).ok_or_else(|| {
        RoadsideError::invalid_field(
            path,
            "DATE_INVALID",
            format!("日期「{s}」无效，应为 YYYY-MM-DD"),
        )
    })?;
    if d.year() < 1990 || d.year() > 2100 {
        return Err(RoadsideError::invalid_field(
            path,
            "DATE_OUT_OF_RANGE",
            format!("日期 {d} 不在合理范围内（1990—2100 年）"),
        ));
    }
    Ok(d)
}

/// Validated facts with the derived values.
pub(crate) struct Prepared<'a> {
    pub facts: &'a Facts,
    pub act: NaiveDate,
    pub decision: NaiveDate,
    pub over_kg: std::result::Result<Option<f64>, String>,
    /// How many of height, width and length (of those given) exceed 超限规定 第三条's limits;
    /// `None` while none given is over and some is unknown.
    pub size_over: Option<f64>,
}

/// Whether conditions hold on the facts.
pub(crate) enum Holds {
    Yes,
    No,
    /// Facts needed (labelled).
    Unknown(Vec<String>),
}

impl Prepared<'_> {
    pub fn has(&self, flag: &str) -> bool {
        self.facts.flags.iter().any(|f| f == flag)
    }

    /// Whether every condition and flag holds.
    pub(crate) fn holds(&self, when: &[Condition], flags: &[String]) -> Holds {
        if !flags.iter().all(|f| self.has(f)) {
            return Holds::No;
        }
        let mut unknown = Vec::new();
        for c in when {
            match self.value(&c.fact) {
                Ok(Some(v)) if !c.interval.contains(v) => return Holds::No,
                Ok(Some(_)) => {}
                Ok(None) => unknown.push(labelled(&c.fact)),
                Err(e) => unknown.push(e),
            }
        }
        if unknown.is_empty() {
            Holds::Yes
        } else {
            Holds::Unknown(unknown)
        }
    }

    /// The value of a fact, `Ok(None)` when unknown.
    fn value(&self, name: &str) -> std::result::Result<Option<f64>, String> {
        let f = self.facts;
        Ok(match name {
            "over_kg" => return self.over_kg.clone(),
            "size_over" => self.size_over,
            "gross_weight_kg" => f.gross_weight_kg,
            "axles" => f.axles.map(f64::from),
            "height_m" => f.height_m,
            "width_m" => f.width_m,
            "length_m" => f.length_m,
            "area_m2" => f.area_m2,
            "depth_m" => f.depth_m,
            "illegal_income_yuan" => f.illegal_income_yuan.map(|v| v as f64),
            "count" => f.count.map(f64::from),
            "prior_violations" => f.prior_violations.map(f64::from),
            "age" => f.age.map(f64::from),
            _ => None,
        })
    }
}

fn validate_facts(facts: &Facts) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut bad = |path: &str, code: &str, msg: String| {
        issues.push(Issue::new(format!("facts.{path}"), code, msg));
    };
    let ranges: [(&str, Option<f64>, f64, f64, &str); 8] = [
        (
            "gross_weight_kg",
            facts.gross_weight_kg,
            0.0,
            200_000.0,
            "千克",
        ),
        ("over_kg", facts.over_kg, 0.0, 200_000.0, "千克"),
        ("height_m", facts.height_m, 0.0, 30.0, "米"),
        ("width_m", facts.width_m, 0.0, 30.0, "米"),
        ("length_m", facts.length_m, 0.0, 200.0, "米"),
        ("area_m2", facts.area_m2, 0.0, 1_000_000.0, "平方米"),
        ("depth_m", facts.depth_m, 0.0, 1_000.0, "米"),
        (
            "illegal_income_yuan",
            facts.illegal_income_yuan.map(|v| v as f64),
            0.0,
            1e12,
            "元",
        ),
    ];
    for (name, v, lo, hi, unit) in ranges {
        if let Some(v) = v {
            if !v.is_finite() || v < lo || v > hi {
                bad(
                    name,
                    "FACT_OUT_OF_RANGE",
                    format!(
                        "{}「{v}」不在合理范围内（{lo}—{hi} {unit}）",
                        fact_label(name)
                    ),
                );
            }
        }
    }
    for (name, v) in [
        ("height_m", facts.height_m),
        ("width_m", facts.width_m),
        ("length_m", facts.length_m),
    ] {
        if v == Some(0.0) {
            bad(
                name,
                "FACT_OUT_OF_RANGE",
                format!("{}不能为 0", fact_label(name)),
            );
        }
    }
    if let Some(a) = facts.axles {
        if !(2..=20).contains(&a) {
            bad(
                "axles",
                "FACT_OUT_OF_RANGE",
                format!("轴数「{a}」无效（货车至少 2 轴）"),
            );
        }
    }
    if let Some(a) = facts.age {
        if a > 120 {
            bad("age", "FACT_OUT_OF_RANGE", format!("年龄「{a}」无效"));
        }
    }
    for (i, f) in facts.flags.iter().enumerate() {
        if flag_info(f).is_none() {
            issues.push(Issue::new(
                format!("facts.flags[{i}]"),
                "FLAG_UNKNOWN",
                format!("未知的情节标志「{f}」"),
            ));
        }
    }
    issues
}

impl RuleBook {
    pub(crate) fn prepare<'a>(&self, facts: &'a Facts) -> Result<Prepared<'a>> {
        let mut issues = validate_facts(facts);
        let act = parse_date("facts.act_date", &facts.act_date);
        let decision = match &facts.decision_date {
            Some(d) => parse_date("facts.decision_date", d),
            None => Ok(crate::day::agency_today()),
        };
        if let Some(fd) = &facts.filing_date {
            if let Err(e) = parse_date("facts.filing_date", fd) {
                issues.extend(e.issues().iter().cloned());
            }
        }
        let (act, decision) = match (act, decision) {
            (Ok(a), Ok(d)) => (a, d),
            (a, d) => {
                for e in [a.err(), d.err()].into_iter().flatten() {
                    issues.extend(e.issues().iter().cloned());
                }
                return Err(RoadsideError::invalid(issues));
            }
        };
        if act > decision {
            issues.push(Issue::new(
                "facts.act_date",
                "FACT_DATE_AFTER_DECISION",
                format!("违法行为日期 {act} 晚于决定日期 {decision}"),
            ));
        }
        if !issues.is_empty() {
            return Err(RoadsideError::invalid(issues));
        }
        let over_kg = match (facts.over_kg, facts.gross_weight_kg, facts.axles) {
            (Some(o), _, _) => Ok(Some(o)),
            (None, Some(g), Some(a)) => self.weight_limit(a, facts).map(|l| {
                let over = g - l as f64;
                Some(if over > 0.0 { over } else { 0.0 })
            }),
            _ => Ok(None),
        };
        let size_over = self.size_over(facts);
        Ok(Prepared {
            facts,
            act,
            decision,
            over_kg,
            size_over,
        })
    }

    /// How many outside dimensions exceed 超限规定 第三条 (see [`Prepared::size_over`]).
    fn size_over(&self, f: &Facts) -> Option<f64> {
        let limits = &self.policy().size_limits;
        if limits.is_empty() {
            return None;
        }
        let (mut over, mut unknown) = (0u32, false);
        for l in limits {
            let v = match l.fact.as_str() {
                "height_m" => f.height_m,
                "width_m" => f.width_m,
                "length_m" => f.length_m,
                _ => None,
            };
            match v {
                Some(v) if v > l.limit_m => over += 1,
                Some(_) => {}
                None => unknown = true,
            }
        }
        (over > 0 || !unknown).then_some(f64::from(over))
    }

    /// The gross-weight limit (超限规定 3) for the vehicle, or why it cannot be had.
    fn weight_limit(&self, axles: u32, f: &Facts) -> std::result::Result<i64, String> {
        let key = axles.min(6);
        let single = f.single_drive_axle.unwrap_or(false);
        let rows: Vec<&GrossWeightLimit> = self
            .policy()
            .gross_weight_limits
            .iter()
            .filter(|r| r.axles == key)
            .filter(|r| f.combination.is_none_or(|c| r.combination == c))
            .filter(|r| r.single_drive_axle == single)
            .collect();
        match rows.as_slice() {
            [one] => Ok(one.limit_kg),
            [] => Err(format!(
                "超限认定标准中没有 {axles} 轴{}的车货总质量限值",
                match f.combination {
                    Some(true) => "汽车列车",
                    Some(false) => "货车",
                    None => "车辆",
                }
            )),
            _ => Err("combination（是否汽车列车）".to_string()),
        }
    }

    /// Guidance for violations and facts.
    pub fn guide(&self, req: &GuidanceRequest) -> Result<Guidance> {
        if req.violations.is_empty() {
            return Err(RoadsideError::invalid_field(
                "violations",
                "VIOLATIONS_EMPTY",
                "至少需要一个违法行为编码",
            ));
        }
        let p = self.prepare(&req.facts)?;
        let mut violations = Vec::with_capacity(req.violations.len());
        for (i, code) in req.violations.iter().enumerate() {
            violations.push(self.guide_one(&p, code, &format!("violations[{i}]"))?);
        }
        let mut warnings = Vec::new();
        // Limitation (处罚法 36): found out by the filing, or by the decision when not filed yet.
        let discovered = p
            .facts
            .filing_date
            .as_deref()
            .and_then(crate::day::parse_day)
            .unwrap_or(p.decision);
        let limitation = self.limitation_expired(&p, discovered);
        if let Some(why) = &limitation {
            warnings.push(why.clone());
            for v in &mut violations {
                v.recommended_yuan = None;
                v.recommended_warning = false;
                v.reasons = vec![format!("{why}。")];
                v.recommendation.clear();
            }
        }
        let (total_recommended_yuan, total_max_yuan) = totals(&violations);
        let hearing_by_item = violations.iter().any(|v| v.hearing_required);
        let mut procedure = self.procedure(
            total_recommended_yuan,
            req.facts.party_type,
            hearing_by_item,
            &OtherPenalties::of(&violations),
            &p,
        );
        let no_penalty = limitation.is_some()
            || violations.iter().all(|v| {
                v.not_offence.is_some()
                    || matches!(
                        v.exemption.status,
                        ExemptionStatus::Eligible
                            | ExemptionStatus::NeedsOnlineCheck
                            | ExemptionStatus::MustNotPenalise
                    )
            });
        if no_penalty {
            let why = if let Some(l) = &limitation {
                format!(
                    "{l}；不再给予行政处罚的，不适用简易程序，依法作出不予行政处罚决定或者撤销案件"
                )
            } else if violations.iter().all(|v| v.not_offence.is_some()) {
                "按已填写的事实不构成所列违法行为，不予行政处罚".to_string()
            } else {
                "符合不予行政处罚的条件：应当（或者可以）不予行政处罚，制作不予行政处罚决定书并对当事人进行教育；决定仍予处罚的，须书面说明理由".to_string()
            };
            procedure.summary_allowed = false;
            procedure.on_the_spot_collection_allowed = false;
            procedure.summary_reason = why.clone();
            procedure.no_penalty = true;
            procedure.no_penalty_reason = why;
        }
        let deadlines = self.triggered_deadlines(&violations, &procedure, &p, &mut warnings);
        let mut unverified: Vec<String> = Vec::new();
        for v in &violations {
            for u in &v.unverified {
                if !unverified.contains(u) {
                    unverified.push(u.clone());
                }
            }
        }
        for u in &procedure.unverified {
            if !unverified.contains(u) {
                unverified.push(u.clone());
            }
        }
        let groups_capped: Vec<String> = violations
            .iter()
            .filter_map(|v| v.sum_group.clone().zip(v.sum_cap_yuan))
            .filter(|(g, cap)| {
                violations
                    .iter()
                    .filter(|v| v.sum_group.as_deref() == Some(g))
                    .filter_map(|v| v.recommended_yuan)
                    .sum::<i64>()
                    > *cap
            })
            .map(|(g, cap)| format!("{g} 组多项违法行为的罚款累计，累计不超过 {cap} 元"))
            .collect();
        let mut reasoning: Vec<String> = violations
            .iter()
            .map(|v| format!("{}{}", v.reasons.concat(), v.recommendation))
            .collect();
        let mut capped = groups_capped;
        capped.dedup();
        for c in capped {
            reasoning.push(format!(
                "{c}（《超限运输车辆行驶公路管理规定》第四十三条第二款等）。"
            ));
        }
        if violations.len() > 1 {
            reasoning.push(format!("以上合计建议罚款 {total_recommended_yuan} 元。"));
        }
        Ok(Guidance {
            act_date: p.act,
            decision_date: p.decision,
            violations,
            total_recommended_yuan,
            total_max_yuan,
            procedure,
            deadlines,
            limitation,
            reasoning: reasoning.join("\n"),
            unverified,
            warnings,
        })
    }

    /// Picks the version of `code` to apply and says why: the explanation for the officer, and
    /// the reason to state in the decision when the choice is settled (no dates of the data's
    /// own, only the act's date and the articles).
    fn choose_version(
        &self,
        p: &Prepared,
        code: &str,
        path: &str,
    ) -> Result<(usize, String, Option<String>)> {
        let idx = self.version_indices(code);
        if idx.is_empty() {
            return Err(RoadsideError::invalid_field(
                path,
                "RULE_NOT_FOUND",
                format!("裁量基准中没有编码 {code}"),
            ));
        }
        let old = idx.iter().copied().find(|&i| self.item_in_force(i, p.act));
        let new = idx
            .iter()
            .copied()
            .find(|&i| self.item_in_force(i, p.decision));
        let Some(old) = old else {
            return Err(RoadsideError::invalid_field(
                path,
                "RULE_NOT_IN_FORCE",
                format!(
                    "违法行为发生时（{}）{code} 没有施行中的规定，不能据此处罚（处罚法第四条、第三十七条）",
                    p.act
                ),
            ));
        };
        let Some(new) = new else {
            return Err(RoadsideError::invalid_field(
                path,
                "RULE_REPEALED",
                format!(
                    "{code} 在决定日期（{}）已不再施行；依据处罚法第三十七条，新规定不再处罚的不予处罚，请人工核实",
                    p.decision
                ),
            ));
        };
        if idx.len() == 1 {
            return Ok((old, String::new(), None));
        }
        let (o, n) = (self.item_at(old), self.item_at(new));
        if old == new {
            return Ok((
                old,
                format!(
                    "违法行为发生时和作出决定时施行的是同一规定（{}），适用该规定。",
                    o.basis
                ),
                None,
            ));
        }
        let eo = self.evaluate(old, p);
        let en = self.evaluate(new, p);
        let lighter_new = match (eo.range, en.range, eo.tier, en.tier) {
            (Some((omin, omax)), Some((nmin, nmax)), _, _) => (nmax, nmin) < (omax, omin),
            // Warning-only tiers on both sides: same weight, keep the old text.
            (None, None, Some(_), Some(_)) => false,
            _ => {
                return Ok((
                    old,
                    format!(
                        "违法行为发生于 {}，适用当时施行的{}；按已填写的事实无法自动比较它与现行{}的轻重，须人工比较，新规定较轻的适用新规定（《中华人民共和国行政处罚法》第三十七条）。",
                        p.act, o.basis, n.basis
                    ),
                    None,
                ))
            }
        };
        let text = if lighter_new {
            format!(
                "违法行为发生于{}，当时施行的{}规定：{}；作出决定时施行的{}处罚较轻，依据《中华人民共和国行政处罚法》第三十七条（从旧兼从轻），适用{}。",
                day_cn(p.act),
                o.basis,
                o.legal,
                n.basis,
                n.basis
            )
        } else {
            format!(
                "违法行为发生于{}，依据《中华人民共和国行政处罚法》第三十七条，适用违法行为发生时施行的{}；作出决定时施行的{}并不更轻。",
                day_cn(p.act),
                o.basis,
                n.basis
            )
        };
        Ok((
            if lighter_new { new } else { old },
            text.clone(),
            Some(text),
        ))
    }

    fn guide_one(&self, p: &Prepared, code: &str, path: &str) -> Result<ViolationGuidance> {
        let (idx, law_choice, law_reason) = self.choose_version(p, code, path)?;
        let item = self.item_at(idx);
        let policy = self.policy();
        let f = p.facts;
        let mut unverified = Vec::new();
        if !item.verified {
            unverified.push(format!("{}：{}", item.code, item.note));
        } else if !item.violated_verified {
            unverified.push(format!("{} 违反条款：{}", item.code, item.note));
        }
        let mut notes = Vec::new();
        let mut missing_facts = Vec::new();
        // Is the act a violation at all (e.g. a size within 超限规定 第三条)?
        let not_offence = match p.holds(&item.offence_when, &[]) {
            Holds::Yes => None,
            Holds::No => Some(item.not_offence.clone()),
            Holds::Unknown(m) => {
                missing_facts.extend(m);
                None
            }
        };
        if let Some(why) = &not_offence {
            notes.push(why.clone());
        }
        let ev = if not_offence.is_some() || !missing_facts.is_empty() {
            Eval::default()
        } else {
            self.evaluate(idx, p)
        };
        let mut lighter: Vec<String> = f
            .flags
            .iter()
            .filter_map(|fl| flag_info(fl).filter(|(_, k)| *k == FlagKind::Lighter))
            .map(|(t, _)| t.to_string())
            .collect();
        let minor =
            f.party_type == PartyType::Person && f.age.is_some_and(|a| (14..18).contains(&a));
        if minor {
            lighter.push("已满十四周岁不满十八周岁的未成年人（处罚法第三十条）".to_string());
        }
        let mut heavier: Vec<String> = f
            .flags
            .iter()
            .filter_map(|fl| flag_info(fl).filter(|(_, k)| *k == FlagKind::Heavier))
            .map(|(t, _)| t.to_string())
            .collect();
        if let Some(n) = f.prior_violations.filter(|n| *n > 0) {
            heavier.push(format!("此前有同类违法行为 {n} 次"));
        }
        let exemption = self.exemption(p, &item.code);
        if !exemption.verified && exemption.code.is_some() {
            unverified.push(format!(
                "免罚事项 {}（未核实）",
                exemption.code.as_deref().unwrap_or("")
            ));
        }
        let exempt = matches!(
            exemption.status,
            ExemptionStatus::Eligible
                | ExemptionStatus::NeedsOnlineCheck
                | ExemptionStatus::MustNotPenalise
        );
        // 说理: legal text only. The exemption, when it applies, leads.
        let mut reasons = Vec::new();
        match exemption.status {
            ExemptionStatus::Eligible | ExemptionStatus::NeedsOnlineCheck => {
                if let Some(o) = exemption.outcome {
                    reasons.push(format!(
                        "当事人{}的行为符合轻微违法行为免予处罚清单所列条件，依据{}，{}，并对当事人进行教育。",
                        item.name,
                        exemption.basis,
                        o.as_chinese()
                    ));
                }
                if exemption.status == ExemptionStatus::NeedsOnlineCheck {
                    notes.push(format!(
                        "免罚条件中的「{}」须联网核查后方可确定",
                        exemption.pending.join("、")
                    ));
                }
            }
            ExemptionStatus::MustNotPenalise => {
                reasons.push(format!("依据{}，不予行政处罚。", exemption.basis));
            }
            _ => {}
        }
        if let Some(why) = &not_offence {
            reasons.push(format!("{why}。"));
        }
        if let Some(r) = &law_reason {
            reasons.push(r.clone());
        }
        if not_offence.is_none() {
            reasons.push(format!(
                "当事人{}的行为违反了{}的规定；依据{}：{}。",
                item.name, item.violated, item.basis, item.legal
            ));
        }
        missing_facts.extend(ev.missing.iter().cloned());
        if let Some(e) = &ev.error {
            notes.push(e.clone());
        }
        let (mut recommended_yuan, mut recommended_warning) = (None, false);
        let mut recommendation: Vec<String> = Vec::new();
        let mut tier_fields = (None, String::new(), String::new());
        if let Some(ti) = ev.tier {
            let tier = &item.tiers[ti];
            if !tier.verified {
                let note = if tier.note.is_empty() {
                    &item.note
                } else {
                    &tier.note
                };
                unverified.push(format!("{} {}档：{}", item.code, tier.level.as_str(), note));
            }
            tier_fields = (Some(tier.level), tier.criteria.clone(), tier.basis.clone());
            // An unverified tier is the agency's working grouping, not law: it guides the
            // officer but is not stated to the party.
            if tier.verified {
                reasons.push(format!(
                    "根据裁量基准，本案属于「{}」档次：{}（{}）。",
                    tier.level.as_str(),
                    tier.criteria,
                    tier.basis
                ));
            }
            if let Some(t) = &ev.formula_text {
                reasons.push(t.clone());
            }
            if let Some((min, max)) = ev.range {
                let pct = match (lighter.is_empty(), heavier.is_empty()) {
                    (false, true) => policy.recommend_lighter_pct,
                    (true, false) => policy.recommend_heavier_pct,
                    _ => policy.recommend_base_pct,
                };
                if !lighter.is_empty() {
                    reasons.push(format!(
                        "当事人具有{}的情节，依据《中华人民共和国行政处罚法》第三十条、第三十二条，应当依法从轻或者减轻处罚。",
                        lighter.join("、")
                    ));
                }
                if !heavier.is_empty() {
                    reasons.push(format!(
                        "当事人具有{}的情节，依法从重处罚。",
                        heavier.join("、")
                    ));
                }
                let rec = if ev.fixed || max == min {
                    min
                } else {
                    let raw = min + (max - min) * pct / 100;
                    let r = raw / policy.recommend_round_to_yuan * policy.recommend_round_to_yuan;
                    r.clamp(min, max)
                };
                if !exempt {
                    if !ev.fixed && max > min {
                        if !policy.recommend.verified {
                            unverified.push(format!("建议金额位置：{}", policy.recommend.note));
                        }
                        recommendation.push(format!(
                            "罚款幅度为 {min} 元至 {max} 元，综合考虑上述情节，建议罚款 {rec} 元。"
                        ));
                    } else if rec > 0 {
                        recommendation.push(format!("建议罚款 {rec} 元。"));
                    }
                    if rec == 0 && tier.warning {
                        recommended_warning = true;
                        recommendation.push("建议给予警告。".to_string());
                    } else {
                        recommended_yuan = Some(rec);
                    }
                }
            } else if tier.warning && !exempt {
                recommended_warning = true;
                recommendation.push("建议给予警告。".to_string());
            }
            if ev.formula_text.is_some() && !policy.formula.verified {
                unverified.push(format!("不足计罚单位部分的计算：{}", policy.formula.note));
            }
        } else if not_offence.is_none() && missing_facts.is_empty() && ev.error.is_none() {
            notes.push(
                "已填写的事实不符合该违法行为的任何裁量档次，请核实是否构成该违法行为".into(),
            );
        }
        missing_facts.dedup();
        if !missing_facts.is_empty() {
            notes.push(format!(
                "尚缺少确定裁量档次所需的事实：{}",
                missing_facts.join("、")
            ));
        }
        let (min_yuan, max_yuan) = match ev.range {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let tier = ev.tier.map(|t| &item.tiers[t]);
        let measures = if not_offence.is_some() {
            Vec::new()
        } else {
            let tier_measures = tier.map(|t| (t.measures.as_slice(), t.basis.as_str()));
            self.measures(item, tier_measures, p)
        };
        let applied: Vec<&MeasureGuidance> = measures.iter().filter(|m| m.applies).collect();
        if !applied.is_empty() && not_offence.is_none() && !exempt {
            reasons.push(format!(
                "依据{}，{}。",
                join_bases(&applied),
                applied
                    .iter()
                    .map(|m| m.text())
                    .collect::<Vec<_>>()
                    .join("、")
            ));
        }
        for m in measures.iter().filter(|m| !m.applies) {
            notes.push(format!(
                "{}（{}）须补充事实后确定：{}",
                m.name,
                m.condition,
                m.missing_facts.join("、")
            ));
        }
        // 处罚法 63: 吊销许可证件、降低资质等级、责令停产停业、责令关闭、限制从业 and 没收较大数额
        // 违法所得 all carry the right to a hearing, like a large fine.
        let hearing_min = match f.party_type {
            PartyType::Person => policy.hearing.person_yuan,
            PartyType::Organisation => policy.hearing.organisation_yuan,
        };
        let hearing_required = item.hearing_required
            || tier.is_some_and(|t| t.hearing_required)
            || applied.iter().any(|m| {
                m.kind == MeasureKind::Penalty
                    && (HEARING_MEASURES.iter().any(|h| m.name.contains(h))
                        || m.amount_yuan.is_some_and(|a| a >= hearing_min))
            });
        if !item.violated_verified && item.verified {
            notes.push(format!("违反条款「{}」尚未核实", item.violated));
        }
        Ok(ViolationGuidance {
            code: item.code.clone(),
            name: item.name.clone(),
            category: item.category.clone(),
            violated: item.violated.clone(),
            violated_verified: item.violated_verified,
            basis: item.basis.clone(),
            legal: item.legal.clone(),
            version_valid_from: item.valid_from,
            version_valid_to: item.valid_to,
            law_choice,
            not_offence,
            tier: tier_fields.0,
            tier_criteria: tier_fields.1,
            tier_basis: tier_fields.2,
            min_yuan,
            max_yuan,
            legal_min_yuan: item.legal_min_yuan,
            legal_max_yuan: item.legal_max_yuan,
            warning_allowed: tier.is_some_and(|t| t.warning),
            fixed_by_formula: ev.fixed,
            recommended_yuan,
            recommended_warning,
            lighter,
            heavier,
            measures,
            sum_group: item.sum_group.clone(),
            sum_cap_yuan: item.sum_cap_yuan,
            hearing_required,
            reasons,
            recommendation: recommendation.concat(),
            exemption,
            missing_facts,
            notes,
            unverified,
        })
    }

    /// The item's measures and the tier's, each with whether it applies on the facts; those
    /// whose condition the facts rule out are left out.
    fn measures(
        &self,
        item: &DiscretionItem,
        tier: Option<(&[PrescribedMeasure], &str)>,
        p: &Prepared,
    ) -> Vec<MeasureGuidance> {
        let rows = item
            .measures
            .iter()
            .map(|m| (m, item.basis.as_str()))
            .chain(
                tier.into_iter()
                    .flat_map(|(ms, b)| ms.iter().map(move |m| (m, b))),
            );
        let mut out = Vec::new();
        for (m, basis) in rows {
            let (applies, missing_facts) = match p.holds(&m.when, &m.flags) {
                Holds::Yes => (true, Vec::new()),
                Holds::No => continue,
                Holds::Unknown(f) => (false, f),
            };
            let amount_yuan = m
                .amount_fact
                .as_deref()
                .and_then(|f| p.value(f).ok().flatten())
                .map(|v| v as i64);
            out.push(MeasureGuidance {
                name: m.name.clone(),
                kind: m.kind,
                basis: if m.basis.is_empty() {
                    basis.to_string()
                } else {
                    m.basis.clone()
                },
                condition: m.condition.clone(),
                applies,
                missing_facts,
                amount_yuan,
            });
        }
        out
    }

    /// Picks the tier of item `i` and computes its range.
    pub(crate) fn evaluate(&self, i: usize, p: &Prepared) -> Eval {
        let item = self.item_at(i);
        let mut ev = Eval::default();
        // Tiers whose flags hold, most flags first, then as written.
        let mut order: Vec<usize> = (0..item.tiers.len())
            .filter(|&t| item.tiers[t].flags.iter().all(|f| p.has(f)))
            .collect();
        order.sort_by_key(|&t| std::cmp::Reverse(item.tiers[t].flags.len()));
        let mut unknown = Vec::new();
        let mut chosen = None;
        for t in order {
            let mut holds = true;
            let mut t_unknown = false;
            for c in &item.tiers[t].when {
                match p.value(&c.fact) {
                    Ok(Some(v)) => {
                        if !c.interval.contains(v) {
                            holds = false;
                        }
                    }
                    Ok(None) => {
                        t_unknown = true;
                        unknown.push(c.fact.clone());
                    }
                    Err(e) => {
                        t_unknown = true;
                        if e.starts_with("combination") {
                            unknown.push(e);
                        } else {
                            ev.error = Some(e);
                        }
                    }
                }
            }
            if !holds {
                continue;
            }
            if t_unknown {
                break;
            }
            if unknown.is_empty() {
                chosen = Some(t);
            }
            break;
        }
        if chosen.is_none() {
            ev.missing = unknown
                .iter()
                .map(|f| {
                    let l = fact_label(f);
                    if l.is_empty() {
                        f.clone()
                    } else {
                        format!("{l}（{f}）")
                    }
                })
                .collect();
            ev.missing.dedup();
            return ev;
        }
        let Some(t) = chosen else { return ev };
        ev.tier = Some(t);
        let tier = &item.tiers[t];
        match &tier.fine {
            FineRule::None => {
                ev.range = None;
            }
            FineRule::Range { min_yuan, max_yuan } => ev.range = Some((*min_yuan, *max_yuan)),
            FineRule::PerUnit {
                fact,
                size,
                unit,
                yuan,
                cap_yuan,
            } => match p.value(fact) {
                Ok(Some(v)) => {
                    let q = v / size;
                    let units = match self.policy().part_unit {
                        PartUnit::Floor => q.floor(),
                        PartUnit::Ceil => q.ceil(),
                        PartUnit::Round => q.round(),
                    } as i64;
                    let raw = units.saturating_mul(*yuan);
                    let amount = raw.min(*cap_yuan);
                    ev.fixed = true;
                    ev.range = Some((amount, amount));
                    let rule = match self.policy().part_unit {
                        PartUnit::Floor => "不足一个单位的部分不计",
                        PartUnit::Ceil => "不足一个单位的按一个单位计",
                        PartUnit::Round => "不足一个单位的四舍五入",
                    };
                    ev.formula_text = Some(format!(
                        "{}为 {} {}，每 {} {}罚款 {yuan} 元，计 {units} 个单位（{rule}），计 {raw} 元{}。",
                        fact_label(fact),
                        trim_num(v),
                        base_unit_word(fact),
                        trim_num(*size / unit_factor_of(fact, unit)),
                        unit_word(unit),
                        if raw > *cap_yuan {
                            format!("，超过上限，按最高 {cap_yuan} 元")
                        } else {
                            String::new()
                        }
                    ));
                }
                Ok(None) => ev.missing.push(format!("{}（{fact}）", fact_label(fact))),
                Err(e) => ev.error = Some(e),
            },
            FineRule::Times {
                fact,
                min,
                max,
                cap_yuan,
            } => match p.value(fact) {
                Ok(Some(v)) => {
                    let x = v as i64;
                    let cap = cap_yuan.unwrap_or(i64::MAX);
                    let lo = x.saturating_mul(*min).min(cap);
                    let hi = x.saturating_mul(*max).min(cap);
                    ev.range = Some((lo, hi));
                    ev.formula_text = Some(format!(
                        "{}为 {x} 元，处 {min} 倍以上 {max} 倍以下罚款，即 {lo} 元至 {hi} 元。",
                        fact_label(fact)
                    ));
                }
                Ok(None) => ev.missing.push(format!("{}（{fact}）", fact_label(fact))),
                Err(e) => ev.error = Some(e),
            },
        }
        if !ev.missing.is_empty() {
            ev.tier = None;
            ev.range = None;
        }
        ev
    }

    /// Exemption outcome for a violation.
    pub(crate) fn exemption(&self, p: &Prepared, code: &str) -> ExemptionGuidance {
        let f = p.facts;
        let statutory = |basis: &str| ExemptionGuidance {
            status: ExemptionStatus::MustNotPenalise,
            code: None,
            outcome: Some(ExemptionOutcome::MustNotPenalise),
            unmet: vec![],
            pending: vec![],
            documents: vec!["不予行政处罚决定书".into(), "教育记录".into()],
            basis: basis.into(),
            verified: true,
        };
        if f.party_type == PartyType::Person && f.age.is_some_and(|a| a < 14) {
            return statutory("《中华人民共和国行政处罚法》第三十条（不满十四周岁的未成年人不予行政处罚，责令监护人加以管教）");
        }
        if p.has("no_fault") {
            return statutory(
                "《中华人民共和国行政处罚法》第三十三条第二款（当事人有证据足以证明没有主观过错）",
            );
        }
        let mut best: Option<ExemptionGuidance> = None;
        for e in self.exemptions_on(code, p.act) {
            let mut unmet = Vec::new();
            let mut pending = Vec::new();
            for c in &e.conditions {
                let ok = if c.check == "first_offence" {
                    match f.prior_violations {
                        Some(0) if f.first_offence_checked_online => true,
                        Some(0) => {
                            pending.push(format!("{}（需联网核查是否首次违法）", c.text));
                            true
                        }
                        Some(n) => {
                            unmet.push(format!("{}（此前已有 {n} 次违法）", c.text));
                            continue;
                        }
                        None => {
                            unmet.push(format!("{}（未填写此前违法次数）", c.text));
                            continue;
                        }
                    }
                } else if let Some(flag) = c.check.strip_prefix('!') {
                    !p.has(flag)
                } else {
                    p.has(&c.check)
                };
                if !ok {
                    unmet.push(c.text.clone());
                }
            }
            let status = if !unmet.is_empty() {
                ExemptionStatus::NotEligible
            } else if !pending.is_empty() {
                ExemptionStatus::NeedsOnlineCheck
            } else {
                ExemptionStatus::Eligible
            };
            let g = ExemptionGuidance {
                status,
                code: Some(e.code.clone()),
                outcome: Some(e.outcome),
                unmet,
                pending,
                documents: e.documents.clone(),
                basis: e.basis.clone(),
                verified: e.verified,
            };
            let better = match &best {
                None => true,
                Some(b) => rank(&g) < rank(b),
            };
            if better {
                best = Some(g);
            }
        }
        best.unwrap_or(ExemptionGuidance {
            status: ExemptionStatus::NotListed,
            code: None,
            outcome: None,
            unmet: vec![],
            pending: vec![],
            documents: vec![],
            basis: String::new(),
            verified: true,
        })
    }

    /// Why no penalty may be given any more (处罚法 36), when the act was found out after the
    /// limitation period: two years, five where life, health or financial safety was harmed.
    pub(crate) fn limitation_expired(&self, p: &Prepared, discovered: NaiveDate) -> Option<String> {
        let pol = self.policy();
        let years = if p.has("harm_life_health_finance") {
            pol.limitation_extended_years
        } else {
            pol.limitation_years
        };
        let limit = p
            .act
            .checked_add_months(chrono::Months::new(12 * years))
            .unwrap_or(NaiveDate::MAX);
        (discovered > limit).then(|| {
            format!(
                "违法行为发生于{}，至{}已超过{}年未被发现，依据{}，不再给予行政处罚",
                day_cn(p.act),
                day_cn(discovered),
                years,
                pol.limitation.basis
            )
        })
    }

    /// The procedure for a total fine and the other penalties that go with it.
    pub(crate) fn procedure(
        &self,
        total: i64,
        party: PartyType,
        hearing_by_item: bool,
        penalties: &OtherPenalties,
        p: &Prepared,
    ) -> ProcedureGuidance {
        let pol = self.policy();
        let pick = |t: &Threshold| match party {
            PartyType::Person => t.person_yuan,
            PartyType::Organisation => t.organisation_yuan,
        };
        let mut unverified = Vec::new();
        let mut note = |t: &Threshold, what: &str| {
            if !t.source.verified {
                unverified.push(format!("{what}：{}", t.source.note));
            }
        };
        let hearing_min = pick(&pol.hearing);
        let hearing_amount = total >= hearing_min;
        let hearing_required = hearing_amount || hearing_by_item;
        if hearing_amount {
            note(&pol.hearing, "听证标准（较大数额罚款）");
        }
        let hearing_reason = if hearing_by_item {
            "处罚种类含吊销许可证件、降级、责令停产停业、限制从业等，应当告知当事人有要求听证的权利（处罚法第六十三条）".to_string()
        } else if hearing_amount {
            format!(
                "罚款 {total} 元达到对{}较大数额罚款的标准 {hearing_min} 元（{}{}），应当告知当事人有要求听证的权利",
                party.chinese(),
                pol.hearing.source.basis,
                if pol.hearing.source.verified { "" } else { "；该标准为未核实的机构默认值" }
            )
        } else {
            format!("罚款 {total} 元未达到较大数额罚款标准 {hearing_min} 元")
        };
        let summary_max = pick(&pol.summary);
        let summary_allowed = total <= summary_max && !hearing_required;
        let summary_reason = if summary_allowed {
            format!(
                "对{}处 {summary_max} 元以下罚款或者警告，违法事实确凿并有法定依据的，可以当场作出行政处罚决定（{}）",
                party.chinese(),
                pol.summary.source.basis
            )
        } else {
            format!(
                "罚款 {total} 元超过简易程序对{}的上限 {summary_max} 元（{}），应当适用普通程序",
                party.chinese(),
                pol.summary.source.basis
            )
        };
        let on_the_spot_collection_allowed =
            summary_allowed && total <= pol.on_the_spot_collection_max_yuan;
        let mut legal_review_reasons = Vec::new();
        let mut review_unverified = Vec::new();
        if self.review_catalogue().is_empty() {
            if hearing_required {
                legal_review_reasons
                    .push("涉及重大权益且经过听证程序（处罚法第五十八条第一款第（二）项）".into());
            }
            if p.has("major_public_interest") {
                legal_review_reasons
                    .push("涉及重大公共利益（处罚法第五十八条第一款第（一）项）".into());
            }
            if p.has("complex") {
                legal_review_reasons.push(
                    "案件情况疑难复杂、涉及多个法律关系（处罚法第五十八条第一款第（三）项）".into(),
                );
            }
        } else {
            // The decision is not made yet: a hearing that must be offered is counted as held,
            // so the officer learns early that review will be needed if the party asks for it.
            let case = ReviewCase {
                procedure: ProcedureKind::General,
                party_type: party,
                fine_yuan: total.max(0),
                confiscated_yuan: penalties.confiscated_yuan,
                penalties: penalties.names.clone(),
                hearing_held: hearing_required,
                flags: p.facts.flags.clone(),
            };
            for m in review::matching(self.review_catalogue(), &case).matches {
                let hearing_item = self
                    .review_catalogue()
                    .iter()
                    .any(|i| i.code == m.code && i.trigger == review::ReviewTrigger::HearingHeld);
                let reason = if hearing_item {
                    "应当告知听证权利，当事人要求听证并经过听证程序的，作出决定前须经法制审核"
                        .to_string()
                } else {
                    m.reason
                };
                if !m.verified {
                    review_unverified.push(format!("法制审核目录 {}：{}", m.code, m.note));
                }
                legal_review_reasons.push(format!(
                    "{}：{reason}（{}）{}",
                    m.situation,
                    m.basis,
                    if m.verified {
                        ""
                    } else {
                        "（未核实的机构默认值）"
                    }
                ));
            }
        }
        if let Some(lr) = &pol.legal_review {
            // Reference data made before the catalogue: its one amount threshold.
            let lr_min = pick(lr);
            if total >= lr_min {
                note(lr, "法制审核金额标准");
                legal_review_reasons.push(format!(
                    "罚款 {total} 元达到本机构法制审核标准 {lr_min} 元{}",
                    if lr.source.verified {
                        ""
                    } else {
                        "（未核实的机构默认值）"
                    }
                ));
            }
        }
        let mut collective_decision_reasons = Vec::new();
        if p.has("complex") {
            collective_decision_reasons.push("情节复杂（处罚法第五十七条第二款）".into());
        }
        let cd_min = pick(&pol.collective_decision);
        if total >= cd_min {
            note(&pol.collective_decision, "集体讨论金额标准");
            collective_decision_reasons.push(format!(
                "罚款 {total} 元达到本机构集体讨论标准 {cd_min} 元{}",
                if pol.collective_decision.source.verified {
                    ""
                } else {
                    "（未核实的机构默认值）"
                }
            ));
        }
        unverified.extend(review_unverified);
        ProcedureGuidance {
            no_penalty: false,
            no_penalty_reason: String::new(),
            summary_allowed,
            summary_reason,
            on_the_spot_collection_allowed,
            hearing_required,
            hearing_reason,
            legal_review_required: !legal_review_reasons.is_empty(),
            legal_review_reasons,
            collective_decision_required: !collective_decision_reasons.is_empty(),
            collective_decision_reasons,
            unverified,
        }
    }

    fn triggered_deadlines(
        &self,
        violations: &[ViolationGuidance],
        proc_: &ProcedureGuidance,
        p: &Prepared,
        warnings: &mut Vec<String>,
    ) -> Vec<DeadlineNote> {
        let mut ids: Vec<&str> = vec!["decision", "service", "payment", "publication"];
        if proc_.summary_allowed {
            ids.push("on_spot_filing");
        }
        if proc_.hearing_required {
            ids.push("hearing_request");
        }
        if proc_.legal_review_required || proc_.collective_decision_required {
            ids.push("major_filing");
        }
        if violations.iter().any(|v| v.code.starts_with("CX-")) {
            ids.push("overload_notice");
        }
        ids.extend(["reconsideration", "litigation"]);
        let filing = p
            .facts
            .filing_date
            .as_deref()
            .and_then(crate::day::parse_day);
        let mut out = Vec::new();
        for id in ids {
            let Some(r) = self.policy().deadlines.iter().find(|r| r.id == id) else {
                continue;
            };
            let start = match r.from.as_str() {
                "filing" => filing,
                "decision" if p.facts.decision_date.is_some() => Some(p.decision),
                _ => None,
            };
            let due = match start {
                Some(s) => match self.calendar().due(r, s) {
                    Ok(d) => Some(d.due),
                    Err(e) => {
                        warnings.push(e.message().to_string());
                        None
                    }
                },
                None => None,
            };
            out.push(DeadlineNote {
                id: r.id.clone(),
                name: r.name.clone(),
                from_event: r.from.clone(),
                days: r.days,
                unit: r.unit,
                basis: r.source.basis.clone(),
                due,
            });
        }
        out
    }
}

fn rank(g: &ExemptionGuidance) -> (u8, usize) {
    let s = match g.status {
        ExemptionStatus::Eligible => 0,
        ExemptionStatus::NeedsOnlineCheck => 1,
        _ => 2,
    };
    (s, g.unmet.len())
}

/// Sums with sum groups capped: (recommended, max).
pub(crate) fn totals(v: &[ViolationGuidance]) -> (i64, i64) {
    sum_capped(v.iter().map(|g| {
        (
            g.sum_group.as_deref(),
            g.sum_cap_yuan,
            g.recommended_yuan.unwrap_or(0),
            g.max_yuan.unwrap_or(0),
        )
    }))
}

/// `(group, cap, a, b)` rows → totals of a and b with each group's total capped.
pub(crate) fn sum_capped<'a>(
    rows: impl Iterator<Item = (Option<&'a str>, Option<i64>, i64, i64)>,
) -> (i64, i64) {
    let mut groups: std::collections::BTreeMap<&str, (i64, i64, i64)> = Default::default();
    let (mut a, mut b) = (0i64, 0i64);
    for (g, cap, x, y) in rows {
        match (g, cap) {
            (Some(g), Some(cap)) => {
                let e = groups.entry(g).or_insert((0, 0, cap));
                e.0 += x;
                e.1 += y;
            }
            _ => {
                a += x;
                b += y;
            }
        }
    }
    for (x, y, cap) in groups.into_values() {
        a += x.min(cap);
        b += y.min(cap);
    }
    (a, b)
}

/// Evaluation of one item against the facts.
#[derive(Debug, Default, Clone)]
pub(crate) struct Eval {
    pub tier: Option<usize>,
    pub range: Option<(i64, i64)>,
    pub fixed: bool,
    pub missing: Vec<String>,
    pub error: Option<String>,
    pub formula_text: Option<String>,
}

/// `2022年5月1日`.
fn day_cn(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

/// `超限质量（over_kg）`.
fn labelled(fact: &str) -> String {
    let l = fact_label(fact);
    if l.is_empty() {
        fact.to_string()
    } else {
        format!("{l}（{fact}）")
    }
}

fn trim_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn unit_word(unit: &str) -> &str {
    match unit {
        "kg" => "千克",
        "t" => "吨",
        "m" => "米",
        "cm" => "厘米",
        "m2" => "平方米",
        "yuan" => "元",
        other => other,
    }
}

fn base_unit_word(fact: &str) -> &'static str {
    match fact_unit(fact) {
        Some(FactUnit::Kg) => "千克",
        Some(FactUnit::Metre) => "米",
        Some(FactUnit::SquareMetre) => "平方米",
        Some(FactUnit::Yuan) => "元",
        _ => "",
    }
}

fn unit_factor_of(fact: &str, unit: &str) -> f64 {
    fact_unit(fact)
        .and_then(|u| unit_factor(u, unit))
        .unwrap_or(1.0)
}
