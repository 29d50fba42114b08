//! The reference-data model: discretion items (行政裁量权基准) with their tiers, exemption items
//! (轻微违法行为免予处罚清单), the procedure policy and the vocabulary of facts and circumstance
//! flags that conditions may name. The file format is written down in `reference/FORMAT.md`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// 裁量档次.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum TierLevel {
    /// 轻微.
    #[serde(rename = "轻微")]
    Slight,
    /// 一般.
    #[serde(rename = "一般")]
    Ordinary,
    /// 较重.
    #[serde(rename = "较重")]
    Heavier,
    /// 严重.
    #[serde(rename = "严重")]
    Serious,
    /// 特别严重.
    #[serde(rename = "特别严重")]
    VerySerious,
}

impl TierLevel {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "轻微" => TierLevel::Slight,
            "一般" => TierLevel::Ordinary,
            "较重" => TierLevel::Heavier,
            "严重" => TierLevel::Serious,
            "特别严重" => TierLevel::VerySerious,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TierLevel::Slight => "轻微",
            TierLevel::Ordinary => "一般",
            TierLevel::Heavier => "较重",
            TierLevel::Serious => "严重",
            TierLevel::VerySerious => "特别严重",
        }
    }
}

/// An interval over a fact, written `"[2, 5)"`, `"(1000, ∞)"`, `"(0, 1000]"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Interval {
    /// Lower end; `None` = unbounded.
    pub lo: Option<f64>,
    pub lo_closed: bool,
    /// Upper end; `None` = unbounded.
    pub hi: Option<f64>,
    pub hi_closed: bool,
}

impl Interval {
    /// Parses the school notation. Errors are Chinese messages.
    pub fn parse(text: &str) -> Result<Interval, String> {
        let t = text.trim();
        let bad = || format!("区间「{text}」格式不正确，应写作 \"[2, 5)\"、\"(1000, ∞)\" 之类");
        let mut chars = t.chars();
        let open = chars.next().ok_or_else(bad)?;
        let close = t.chars().last().ok_or_else(bad)?;
        let lo_closed = match open {
            '[' | '【' => true,
            '(' | '（' => false,
            _ => return Err(bad()),
        };
        let hi_closed = match close {
            ']' | '】' => true,
            ')' | '）' => false,
            _ => return Err(bad()),
        };
        let inner = &t[open.len_utf8()..t.len() - close.len_utf8()];
        let parts: Vec<&str> = inner.split([',', '，']).collect();
        if parts.len() != 2 {
            return Err(bad());
        }
        let end = |s: &str, neg: bool| -> Result<Option<f64>, String> {
            let s = s.trim();
            let s = s.strip_prefix('+').unwrap_or(s);
            let s = if neg {
                s.strip_prefix('-').unwrap_or(s)
            } else {
                s
            };
            if s.is_empty() || s == "∞" || s.eq_ignore_ascii_case("inf") {
                return Ok(None);
            }
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .map(Some)
                .ok_or_else(bad)
        };
        let lo_raw = parts[0].trim();
        let lo = if lo_raw.starts_with('-') && end(lo_raw, true)?.is_none() {
            None
        } else {
            end(lo_raw, false)?
        };
        let hi = end(parts[1], false)?;
        let iv = Interval {
            lo,
            lo_closed: lo_closed && lo.is_some(),
            hi,
            hi_closed: hi_closed && hi.is_some(),
        };
        if let (Some(a), Some(b)) = (lo, hi) {
            if a > b || (a == b && !(iv.lo_closed && iv.hi_closed)) {
                return Err(format!("区间「{text}」的下限大于上限或为空区间"));
            }
        }
        Ok(iv)
    }

    pub fn contains(&self, x: f64) -> bool {
        let lo_ok = match self.lo {
            None => true,
            Some(a) if self.lo_closed => x >= a,
            Some(a) => x > a,
        };
        let hi_ok = match self.hi {
            None => true,
            Some(b) if self.hi_closed => x <= b,
            Some(b) => x < b,
        };
        lo_ok && hi_ok
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lo = self
            .lo
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-∞".into());
        let hi = self.hi.map(|v| v.to_string()).unwrap_or_else(|| "∞".into());
        write!(
            f,
            "{}{lo}, {hi}{}",
            if self.lo_closed { '[' } else { '(' },
            if self.hi_closed { ']' } else { ')' }
        )
    }
}

/// One machine-readable condition of a tier: the fact lies in the interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Condition {
    pub fact: String,
    pub interval: Interval,
}

/// The fine a tier provides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum FineRule {
    /// No fine (the tier is a warning).
    None,
    /// A fine from `min_yuan` to `max_yuan`.
    Range { min_yuan: i64, max_yuan: i64 },
    /// `units(fact / size) × yuan`, at most `cap_yuan`. `size` is in the fact's own unit.
    PerUnit {
        fact: String,
        size: f64,
        unit: String,
        yuan: i64,
        cap_yuan: i64,
    },
    /// From `min` to `max` times the fact (违法所得), at most `cap_yuan` when given.
    Times {
        fact: String,
        min: i64,
        max: i64,
        cap_yuan: Option<i64>,
    },
}

/// One tier (档次) of a discretion item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Tier {
    pub level: TierLevel,
    /// The criteria in words (情形).
    pub criteria: String,
    /// Machine-readable conditions; all must hold.
    pub when: Vec<Condition>,
    /// Circumstance flags that must all be set.
    pub flags: Vec<String>,
    /// A 警告 is available.
    pub warning: bool,
    pub fine: FineRule,
    /// Measures this tier adds to the item's.
    pub measures: Vec<PrescribedMeasure>,
    pub hearing_required: bool,
    /// The article (依据) of this tier.
    pub basis: String,
    pub verified: bool,
    pub note: String,
}

/// One row of the discretion benchmark (裁量基准): a violation and its tiers, for the dates the text
/// was law.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct DiscretionItem {
    /// Stable code, shared by the versions of the same rule, e.g. `CX-43-2`.
    pub code: String,
    /// The violation (违法行为).
    pub name: String,
    pub category: String,
    /// 违反条款: the provision that lays down the duty broken.
    pub violated: String,
    /// `violated` has been checked against the statute text (the penalty clause alone is not a
    /// violated provision).
    pub violated_verified: bool,
    /// 处罚依据.
    pub basis: String,
    /// The statutory penalty in words (法定处罚).
    pub legal: String,
    pub legal_min_yuan: Option<i64>,
    pub legal_max_yuan: Option<i64>,
    /// What the article prescribes besides the fine (责令改正, 没收违法所得, 吊销…), each with
    /// its condition.
    pub measures: Vec<PrescribedMeasure>,
    /// When the act is a violation at all (e.g. some size over 超限规定 第三条's limit); the
    /// facts outside these conditions mean no violation.
    pub offence_when: Vec<Condition>,
    /// What guidance says when the facts show no violation.
    pub not_offence: String,
    pub keywords: Vec<String>,
    pub sum_group: Option<String>,
    pub sum_cap_yuan: Option<i64>,
    pub hearing_required: bool,
    /// First day in force.
    #[serde(with = "crate::day::serde_day")]
    pub valid_from: NaiveDate,
    /// Last day in force (inclusive); `None` = still in force.
    #[serde(default, with = "crate::day::serde_opt_day")]
    pub valid_to: Option<NaiveDate>,
    pub verified: bool,
    pub note: String,
    pub tiers: Vec<Tier>,
    /// The reference file it came from, e.g. `discretion/chaoxian.toml`.
    pub source_file: String,
}

/// A measure besides the fine: an order that is not a penalty (责令改正、责令停止, 处罚法 28) or a
/// penalty of another kind (没收违法所得、暂扣、吊销…, 处罚法 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    Order,
    Penalty,
}

impl MeasureKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "order" => Some(MeasureKind::Order),
            "penalty" => Some(MeasureKind::Penalty),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MeasureKind::Order => "order",
            MeasureKind::Penalty => "penalty",
        }
    }
    /// The kind a measure's name states in the statute's own words: 没收、暂扣、吊销、降低、限制、
    /// 通报批评 and 责令停产停业 / 责令关闭 are penalties (处罚法 9); any other 责令… is an order.
    /// `None` when the name does not say.
    pub fn from_name(name: &str) -> Option<Self> {
        const PENALTY: &[&str] = &["没收", "暂扣", "吊销", "降低", "限制", "通报批评"];
        if PENALTY.iter().any(|p| name.starts_with(p))
            || name.contains("停产停业")
            || name.contains("责令关闭")
        {
            Some(MeasureKind::Penalty)
        } else if name.starts_with("责令") || name.starts_with("扣留") {
            Some(MeasureKind::Order)
        } else {
            None
        }
    }
}

/// A measure the article prescribes besides the fine, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PrescribedMeasure {
    /// As the statute words it, e.g. `责令停止经营`, `没收违法所得`.
    pub name: String,
    pub kind: MeasureKind,
    /// Conditions on facts; all must hold. Empty = always.
    pub when: Vec<Condition>,
    /// Circumstance flags that must all be set.
    pub flags: Vec<String>,
    /// The condition in words (`有违法所得的`); empty when unconditional.
    pub condition: String,
    /// The fact whose value is the measure's amount (`illegal_income_yuan` for 没收违法所得).
    pub amount_fact: Option<String>,
    /// The article; empty = the item's (or tier's) basis.
    pub basis: String,
}

/// 处罚法 33: must not / may not penalise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum ExemptionOutcome {
    /// 应当不予处罚.
    MustNotPenalise,
    /// 可以不予处罚.
    MayNotPenalise,
}

impl ExemptionOutcome {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "must_not_penalise" => Some(ExemptionOutcome::MustNotPenalise),
            "may_not_penalise" => Some(ExemptionOutcome::MayNotPenalise),
            _ => None,
        }
    }
    pub fn as_chinese(self) -> &'static str {
        match self {
            ExemptionOutcome::MustNotPenalise => "应当不予行政处罚",
            ExemptionOutcome::MayNotPenalise => "可以不予行政处罚",
        }
    }
}

/// One condition of an exemption; all must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ExemptionCondition {
    pub text: String,
    /// A flag that must be set, `!flag` for one that must not be, or `first_offence`.
    pub check: String,
}

/// One row of the exemption list (免予处罚清单).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ExemptionItem {
    pub code: String,
    pub violation: String,
    /// Discretion codes covered.
    pub applies_to: Vec<String>,
    pub basis: String,
    pub outcome: ExemptionOutcome,
    /// 不予处罚决定书, 告知承诺书, 教育记录…
    pub documents: Vec<String>,
    pub conditions: Vec<ExemptionCondition>,
    /// First day in force.
    #[serde(with = "crate::day::serde_day")]
    pub valid_from: NaiveDate,
    /// Last day in force (inclusive); `None` = still in force.
    #[serde(default, with = "crate::day::serde_opt_day")]
    pub valid_to: Option<NaiveDate>,
    pub verified: bool,
    pub note: String,
    pub source_file: String,
}

/// How the part unit of a per-unit formula counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum PartUnit {
    /// 不足一个单位不计.
    Floor,
    /// 不足一个单位按一个单位计.
    Ceil,
    /// 四舍五入.
    Round,
}

/// The common tail of every policy section: its article, and whether the value is verified law.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PolicySource {
    pub basis: String,
    pub verified: bool,
    pub note: String,
}

/// A threshold per party type (amounts at or above it trigger the procedure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Threshold {
    pub person_yuan: i64,
    pub organisation_yuan: i64,
    pub source: PolicySource,
}

/// 超限规定 第三条: the gross-weight limit of one vehicle class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct GrossWeightLimit {
    /// 6 means six or more.
    pub axles: u32,
    pub combination: bool,
    pub single_drive_axle: bool,
    pub limit_kg: i64,
    pub source: PolicySource,
}

/// 超限规定 第三条: the limit of one outside dimension (a vehicle is over the limit when the
/// dimension exceeds it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct SizeLimit {
    /// `height_m`, `width_m` or `length_m`.
    pub fact: String,
    pub limit_m: f64,
    pub source: PolicySource,
}

/// Unit of a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum DeadlineUnit {
    WorkingDays,
    CalendarDays,
    Months,
}

/// One deadline rule of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct DeadlineRule {
    pub id: String,
    pub name: String,
    /// The event it runs from: act, filing, notice, decision, service, closing, …
    pub from: String,
    pub days: u32,
    pub unit: DeadlineUnit,
    pub source: PolicySource,
}

/// The procedure policy (`policy.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Policy {
    /// 简易程序 maxima (fine ≤ this).
    pub summary: Threshold,
    pub on_the_spot_collection_max_yuan: i64,
    pub on_the_spot_collection: PolicySource,
    /// 较大数额罚款 (hearing) — fine ≥ this.
    pub hearing: Threshold,
    /// The earlier form of the legal-review amount (`[legal_review]`), present only in reference
    /// data made before the catalogue of the `review/` files; a set holds one or the other.
    pub legal_review: Option<Threshold>,
    pub collective_decision: Threshold,
    pub part_unit: PartUnit,
    pub formula: PolicySource,
    pub recommend_base_pct: i64,
    pub recommend_lighter_pct: i64,
    pub recommend_heavier_pct: i64,
    pub recommend_round_to_yuan: i64,
    pub recommend: PolicySource,
    pub limitation_years: u32,
    pub limitation_extended_years: u32,
    pub limitation: PolicySource,
    pub gross_weight_limits: Vec<GrossWeightLimit>,
    /// 超限规定 第三条 size limits (height, width, length).
    pub size_limits: Vec<SizeLimit>,
    pub deadlines: Vec<DeadlineRule>,
}

/// Unit kind of a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactUnit {
    Kg,
    Metre,
    SquareMetre,
    Yuan,
    Count,
}

/// The facts conditions and formulas may name: (name, unit, Chinese label).
pub const FACTS: &[(&str, FactUnit, &str)] = &[
    ("over_kg", FactUnit::Kg, "超限质量"),
    ("gross_weight_kg", FactUnit::Kg, "车货总质量"),
    ("axles", FactUnit::Count, "轴数"),
    ("height_m", FactUnit::Metre, "车货总高度"),
    ("width_m", FactUnit::Metre, "车货总宽度"),
    ("length_m", FactUnit::Metre, "车货总长度"),
    ("area_m2", FactUnit::SquareMetre, "面积"),
    ("depth_m", FactUnit::Metre, "深度"),
    ("illegal_income_yuan", FactUnit::Yuan, "违法所得"),
    ("count", FactUnit::Count, "次数/数量"),
    ("prior_violations", FactUnit::Count, "此前违法次数"),
    ("age", FactUnit::Count, "年龄"),
    ("size_over", FactUnit::Count, "超过外廓尺寸限定标准的项数"),
];

pub fn fact_unit(name: &str) -> Option<FactUnit> {
    FACTS.iter().find(|f| f.0 == name).map(|f| f.1)
}

pub fn fact_label(name: &str) -> &'static str {
    FACTS
        .iter()
        .find(|f| f.0 == name)
        .map(|f| f.2)
        .unwrap_or("")
}

/// How many of the fact's own unit one `unit` is, or `None` for a unit that does not fit the fact.
pub fn unit_factor(fact: FactUnit, unit: &str) -> Option<f64> {
    match (fact, unit) {
        (FactUnit::Kg, "kg" | "千克" | "公斤") => Some(1.0),
        (FactUnit::Kg, "t" | "吨") => Some(1000.0),
        (FactUnit::Metre, "m" | "米") => Some(1.0),
        (FactUnit::Metre, "cm" | "厘米") => Some(0.01),
        (FactUnit::SquareMetre, "m2" | "平方米") => Some(1.0),
        (FactUnit::Yuan, "yuan" | "元") => Some(1.0),
        (FactUnit::Count, "" | "times" | "次" | "辆" | "件" | "个") => Some(1.0),
        _ => None,
    }
}

/// Kind of circumstance flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// Selects a tier.
    Tier,
    /// 从轻/减轻 (处罚法 32).
    Lighter,
    /// 从重.
    Heavier,
    /// Exemption conditions and procedure triggers.
    Other,
}

/// The circumstance flags (情节标志): (flag, Chinese meaning, kind).
pub const FLAGS: &[(&str, &str, FlagKind)] = &[
    ("serious", "情节严重", FlagKind::Tier),
    ("especially_serious", "情节特别严重", FlagKind::Tier),
    (
        "refused_correction",
        "拒不改正或者逾期不改正",
        FlagKind::Tier,
    ),
    (
        "remedied",
        "主动消除或者减轻违法行为危害后果（处罚法第三十二条第（一）项）",
        FlagKind::Lighter,
    ),
    (
        "coerced",
        "受他人胁迫或者诱骗实施违法行为（处罚法第三十二条第（二）项）",
        FlagKind::Lighter,
    ),
    (
        "confessed",
        "主动供述行政机关尚未掌握的违法行为（处罚法第三十二条第（三）项）",
        FlagKind::Lighter,
    ),
    (
        "meritorious",
        "配合行政机关查处违法行为有立功表现（处罚法第三十二条第（四）项）",
        FlagKind::Lighter,
    ),
    (
        "obstructed",
        "拒绝、阻碍、逃避检查或者调查取证",
        FlagKind::Heavier,
    ),
    (
        "serious_consequence",
        "造成严重危害后果（事故、人员伤亡、重大财产损失）",
        FlagKind::Heavier,
    ),
    (
        "emergency",
        "突发事件期间违反突发事件应对措施（处罚法第四十九条）",
        FlagKind::Heavier,
    ),
    (
        "harm_life_health_finance",
        "涉及公民生命健康安全、金融安全且有危害后果",
        FlagKind::Other,
    ),
    ("no_fault", "有证据足以证明没有主观过错", FlagKind::Other),
    ("corrected", "及时改正或者按要求改正", FlagKind::Other),
    ("no_harm", "没有造成危害后果", FlagKind::Other),
    ("slight_harm", "危害后果轻微", FlagKind::Other),
    ("no_accident", "未造成交通事故", FlagKind::Other),
    ("no_congestion", "未造成交通拥堵", FlagKind::Other),
    ("no_road_damage", "未造成公路损坏", FlagKind::Other),
    ("reloaded", "按要求重新装载、停止遗洒", FlagKind::Other),
    (
        "cleaned_or_paid",
        "在规定期限内清除、修复或者承担费用",
        FlagKind::Other,
    ),
    (
        "stopped_when_told",
        "经指出后立即停驶或者驶离公路",
        FlagKind::Other,
    ),
    ("removed_in_time", "在规定期限内拆除", FlagKind::Other),
    (
        "filed_in_time",
        "在规定期限内补办备案或者手续",
        FlagKind::Other,
    ),
    (
        "no_other_violation",
        "同时没有其他违法行为（如超限、超载、超员）",
        FlagKind::Other,
    ),
    ("complex", "案情复杂", FlagKind::Other),
    ("major_public_interest", "涉及重大公共利益", FlagKind::Other),
    (
        "law_requires_review",
        "法律、法规规定应当进行法制审核",
        FlagKind::Other,
    ),
];

pub fn flag_info(name: &str) -> Option<(&'static str, FlagKind)> {
    FLAGS.iter().find(|f| f.0 == name).map(|f| (f.1, f.2))
}

/// Events deadlines run from.
pub const EVENTS: &[(&str, &str)] = &[
    ("act", "违法行为发生"),
    ("filing", "立案"),
    ("notice", "告知"),
    ("decision", "作出处罚决定"),
    ("service", "送达"),
    ("closing", "结案"),
    ("preservation", "先行登记保存"),
    ("collection", "当场收缴"),
    ("decision_changed", "处罚决定被变更、撤销、确认违法或者无效"),
    ("coercive_measure", "采取查封、扣押"),
];

/// Whether `code` is a well-formed stable code: `^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$`.
pub fn is_valid_code(code: &str) -> bool {
    let mut parts = code.split('-');
    let Some(first) = parts.next() else {
        return false;
    };
    let mut chars = first.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && parts.all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
}

/// Whether `[from, to]` (inclusive, `to` open when `None`) contains `day`.
fn in_force(from: NaiveDate, to: Option<NaiveDate>, day: NaiveDate) -> bool {
    from <= day && to.is_none_or(|t| day <= t)
}

impl DiscretionItem {
    /// Whether this version is in force on `day`.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        in_force(self.valid_from, self.valid_to, day)
    }
}

impl ExemptionItem {
    /// Whether this entry of the list is in force on `day`.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        in_force(self.valid_from, self.valid_to, day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse_and_contain() {
        let iv = Interval::parse("(1000, ∞)").unwrap();
        assert!(!iv.contains(1000.0) && iv.contains(1000.5));
        let iv = Interval::parse("[0, 2)").unwrap();
        assert!(iv.contains(0.0) && !iv.contains(2.0));
        let iv = Interval::parse("(1000, )").unwrap();
        assert!(iv.hi.is_none());
        let iv = Interval::parse("（0，1000】").unwrap();
        assert!(iv.contains(1000.0));
        assert!(Interval::parse("[5, 2)").is_err());
        assert!(Interval::parse("5-2").is_err());
        assert!(Interval::parse("[2, 2)").is_err());
        let iv = Interval::parse("(-∞, 3]").unwrap();
        assert!(iv.lo.is_none() && iv.contains(-5.0));
    }

    #[test]
    fn codes() {
        assert!(is_valid_code("CX-43-2"));
        assert!(is_valid_code("MF-GB-69"));
        assert!(!is_valid_code("cx-43"));
        assert!(!is_valid_code("CX--43"));
        assert!(!is_valid_code("43"));
    }
}
