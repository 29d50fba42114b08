//! Reading and validating reference files (`reference/FORMAT.md`).
//!
//! Every file is parsed into loose "raw" structs (every field optional, unknown keys refused by the
//! TOML reader with its line), then checked field by field so that *every* problem is reported at
//! once with its file and path, e.g. `discretion/chaoxian.toml: item[1].tier[0].max_yuan`.
//! Cross-file checks (dates of the same code overlapping, exemptions naming unknown codes, one
//! policy and one calendar) run when the whole set is assembled.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

use super::calendar::{Calendar, CalendarYear};
use super::model::*;
use super::review::{ReviewItem, ReviewTrigger};
use crate::error::Issue;

/// Which kind of reference file a relative path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Discretion,
    Exemptions,
    Policy,
    Calendar,
    Review,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Discretion => "discretion",
            FileKind::Exemptions => "exemptions",
            FileKind::Policy => "policy",
            FileKind::Calendar => "calendar",
            FileKind::Review => "review",
        }
    }
}

/// The kind of file at `relpath` (`policy.toml`, `calendar.toml`, `discretion/<name>.toml`,
/// `exemptions/<name>.toml`, `review/<name>.toml`; names are lower-case ASCII), or `None` for any
/// other path.
pub fn kind_of(relpath: &str) -> Option<FileKind> {
    let ok_name = |n: &str| {
        n.strip_suffix(".toml").is_some_and(|stem| {
            !stem.is_empty()
                && stem
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        })
    };
    match relpath {
        "policy.toml" => Some(FileKind::Policy),
        "calendar.toml" => Some(FileKind::Calendar),
        _ => {
            let (dir, name) = relpath.split_once('/')?;
            if !ok_name(name) {
                return None;
            }
            match dir {
                "discretion" => Some(FileKind::Discretion),
                "exemptions" => Some(FileKind::Exemptions),
                "review" => Some(FileKind::Review),
                _ => None,
            }
        }
    }
}

/// Header of every file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct FileMeta {
    pub path: String,
    pub kind: String,
    pub title: String,
    pub source: String,
    pub version: String,
}

/// A parsed file.
#[derive(Debug, Clone)]
pub enum Parsed {
    Discretion(Vec<DiscretionItem>),
    Exemptions(Vec<ExemptionItem>),
    Policy(Box<Policy>),
    Calendar(Calendar),
    Review(Vec<ReviewItem>),
}

struct Ctx<'a> {
    file: &'a str,
    issues: Vec<Issue>,
}

impl Ctx<'_> {
    fn err(&mut self, path: &str, code: &str, msg: impl Into<String>) {
        self.issues
            .push(Issue::new(format!("{}: {path}", self.file), code, msg));
    }
    fn req_str(&mut self, path: &str, v: &Option<String>) -> String {
        match v.as_deref().map(str::trim) {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => {
                self.err(path, "REF_MISSING_FIELD", "缺少必填字段或字段为空");
                String::new()
            }
        }
    }
    fn req<T: Copy>(&mut self, path: &str, v: Option<T>, default: T) -> T {
        match v {
            Some(v) => v,
            None => {
                self.err(path, "REF_MISSING_FIELD", "缺少必填字段");
                default
            }
        }
    }
    fn date(&mut self, path: &str, v: &str) -> Option<NaiveDate> {
        match crate::day::parse_day(v) {
            Some(d) if d.year() >= 1949 && d.year() <= 2100 => Some(d),
            _ => {
                self.err(
                    path,
                    "REF_BAD_DATE",
                    format!("日期「{v}」无效，应为 YYYY-MM-DD"),
                );
                None
            }
        }
    }
    fn nonneg(&mut self, path: &str, v: Option<i64>) {
        if let Some(v) = v {
            if v < 0 {
                self.err(path, "REF_NEGATIVE", "金额不能为负数");
            }
        }
    }
    /// Text the party will read (names, articles, the statutory penalty, criteria, measures,
    /// conditions) is legal text: internal data notes belong in `note`, never here.
    fn legal_text(&mut self, path: &str, text: &str) {
        if let Some(m) = INTERNAL_MARKERS.iter().find(|m| text.contains(*m)) {
            self.err(
                path,
                "REF_INTERNAL_NOTE",
                format!("「{m}」是内部数据说明，不能写入当事人会看到的法律文本；请写入 note"),
            );
        }
    }
    fn verified_note(&mut self, path: &str, verified: bool, note: &str) {
        if !verified && note.trim().is_empty() {
            self.err(
                path,
                "REF_UNVERIFIED_NO_NOTE",
                "verified = false 时必须在 note 中说明未核实的内容",
            );
        }
    }
}

/// Phrases of internal data notes that must not appear in legal text.
pub(crate) const INTERNAL_MARKERS: &[&str] = &[
    "来源资料",
    "见备注",
    "未录入",
    "未核实",
    "待核实",
    "须核实",
    "本系统",
    "暂列",
];

fn toml_issue(file: &str, text: &str, e: &toml::de::Error) -> Issue {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let path = match line {
        Some(l) => format!("{file}: line {l}"),
        None => file.to_string(),
    };
    Issue::new(
        path,
        "REF_TOML",
        format!(
            "文件格式错误{}：{}",
            line.map(|l| format!("（第 {l} 行）")).unwrap_or_default(),
            e.message()
        ),
    )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    /// Read separately (`KindOnly`) to choose the schema; accepted here.
    #[allow(dead_code)]
    kind: Option<String>,
    title: Option<String>,
    source: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize)]
struct KindOnly {
    meta: Option<KindMeta>,
}
#[derive(Deserialize)]
struct KindMeta {
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscretionFile {
    meta: Option<RawMeta>,
    #[serde(default)]
    item: Vec<RawItem>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawItem {
    pub code: Option<String>,
    pub name: Option<String>,
    pub category: Option<String>,
    pub violated: Option<String>,
    pub violated_verified: Option<bool>,
    pub basis: Option<String>,
    pub legal: Option<String>,
    pub legal_min_yuan: Option<i64>,
    pub legal_max_yuan: Option<i64>,
    pub measures: Option<Vec<RawMeasure>>,
    pub offence_when: Option<BTreeMap<String, String>>,
    pub not_offence: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub sum_group: Option<String>,
    pub sum_cap_yuan: Option<i64>,
    pub hearing_required: Option<bool>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub verified: Option<bool>,
    pub note: Option<String>,
    #[serde(default)]
    pub tier: Vec<RawTier>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTier {
    pub level: Option<String>,
    pub criteria: Option<String>,
    pub when: Option<BTreeMap<String, String>>,
    pub flags: Option<Vec<String>>,
    pub warning: Option<bool>,
    pub min_yuan: Option<i64>,
    pub max_yuan: Option<i64>,
    pub per_unit: Option<RawPerUnit>,
    pub times: Option<RawTimes>,
    pub measures: Option<Vec<RawMeasure>>,
    pub hearing_required: Option<bool>,
    pub basis: Option<String>,
    pub verified: Option<bool>,
    pub note: Option<String>,
}

/// A measure: its name alone (unconditional, kind from the name) or a table.
#[derive(Deserialize, Clone)]
#[serde(untagged)]
pub(crate) enum RawMeasure {
    Name(String),
    Table(RawMeasureTable),
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMeasureTable {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub when: Option<BTreeMap<String, String>>,
    pub flags: Option<Vec<String>>,
    pub condition: Option<String>,
    pub amount_fact: Option<String>,
    pub basis: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPerUnit {
    pub fact: Option<String>,
    pub size: Option<f64>,
    pub unit: Option<String>,
    pub yuan: Option<i64>,
    pub cap_yuan: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTimes {
    pub fact: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub cap_yuan: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemptionFile {
    meta: Option<RawMeta>,
    #[serde(default)]
    exemption: Vec<RawExemption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemption {
    code: Option<String>,
    violation: Option<String>,
    applies_to: Option<Vec<String>>,
    basis: Option<String>,
    outcome: Option<String>,
    documents: Option<Vec<String>>,
    valid_from: Option<String>,
    valid_to: Option<String>,
    verified: Option<bool>,
    note: Option<String>,
    #[serde(default)]
    condition: Vec<RawCondition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    text: Option<String>,
    check: Option<String>,
}

/// Parses one file. `relpath` decides the kind (and must agree with `[meta] kind`).
pub fn parse_file(relpath: &str, text: &str) -> Result<(FileMeta, Parsed), Vec<Issue>> {
    let Some(kind) = kind_of(relpath) else {
        return Err(vec![Issue::new(
            relpath,
            "REF_BAD_PATH",
            "文件路径不是 policy.toml、calendar.toml、discretion/<名称>.toml、exemptions/<名称>.toml 或 review/<名称>.toml（名称为小写英文字母、数字、_ 或 -）",
        )]);
    };
    let mut ctx = Ctx {
        file: relpath,
        issues: Vec::new(),
    };
    match toml::from_str::<KindOnly>(text) {
        Err(e) => return Err(vec![toml_issue(relpath, text, &e)]),
        Ok(k) => {
            let declared = k.meta.and_then(|m| m.kind);
            match declared.as_deref() {
                None => ctx.err("meta.kind", "REF_MISSING_FIELD", "缺少 [meta] kind"),
                Some(d) if d != kind.as_str() => ctx.err(
                    "meta.kind",
                    "REF_KIND_MISMATCH",
                    format!("文件类型「{d}」与路径不符，应为「{}」", kind.as_str()),
                ),
                _ => {}
            }
        }
    }
    let parsed = match kind {
        FileKind::Discretion => match toml::from_str::<RawDiscretionFile>(text) {
            Err(e) => return Err(vec![toml_issue(relpath, text, &e)]),
            Ok(raw) => {
                let meta = check_meta(&mut ctx, &raw.meta.unwrap_or_default(), kind);
                if raw.item.is_empty() {
                    ctx.err("item", "REF_EMPTY", "文件中没有任何 [[item]]");
                }
                let items = raw
                    .item
                    .into_iter()
                    .enumerate()
                    .map(|(i, it)| check_item(&mut ctx, &format!("item[{i}]"), it))
                    .collect();
                (meta, Parsed::Discretion(items))
            }
        },
        FileKind::Exemptions => match toml::from_str::<RawExemptionFile>(text) {
            Err(e) => return Err(vec![toml_issue(relpath, text, &e)]),
            Ok(raw) => {
                let meta = check_meta(&mut ctx, &raw.meta.unwrap_or_default(), kind);
                if raw.exemption.is_empty() {
                    ctx.err("exemption", "REF_EMPTY", "文件中没有任何 [[exemption]]");
                }
                let items = raw
                    .exemption
                    .into_iter()
                    .enumerate()
                    .map(|(i, it)| check_exemption(&mut ctx, &format!("exemption[{i}]"), it))
                    .collect();
                (meta, Parsed::Exemptions(items))
            }
        },
        FileKind::Policy => match toml::from_str::<RawPolicyFile>(text) {
            Err(e) => return Err(vec![toml_issue(relpath, text, &e)]),
            Ok(raw) => {
                let meta = check_meta(&mut ctx, &raw.meta, kind);
                let p = check_policy(&mut ctx, raw);
                (meta, Parsed::Policy(Box::new(p)))
            }
        },
        FileKind::Review => match toml::from_str::<RawReviewFile>(text) {
            Err(e) => return Err(vec![toml_issue(relpath, text, &e)]),
            Ok(raw) => {
                let meta = check_meta(&mut ctx, &raw.meta.unwrap_or_default(), kind);
                if raw.item.is_empty() {
                    ctx.err("item", "REF_EMPTY", "文件中没有任何 [[item]]");
                }
                let items = raw
                    .item
                    .into_iter()
                    .enumerate()
                    .map(|(i, it)| check_review_item(&mut ctx, &format!("item[{i}]"), it))
                    .collect();
                (meta, Parsed::Review(items))
            }
        },
        FileKind::Calendar => match toml::from_str::<RawCalendarFile>(text) {
            Err(e) => return Err(vec![toml_issue(relpath, text, &e)]),
            Ok(raw) => {
                let meta = check_meta(&mut ctx, &raw.meta, kind);
                let c = check_calendar(&mut ctx, raw.year);
                (meta, Parsed::Calendar(c))
            }
        },
    };
    if ctx.issues.is_empty() {
        Ok(parsed)
    } else {
        Err(ctx.issues)
    }
}

fn check_meta(ctx: &mut Ctx, m: &RawMeta, kind: FileKind) -> FileMeta {
    FileMeta {
        path: ctx.file.to_string(),
        kind: kind.as_str().to_string(),
        title: ctx.req_str("meta.title", &m.title),
        source: ctx.req_str("meta.source", &m.source),
        version: ctx.req_str("meta.version", &m.version),
    }
}

fn check_dates(
    ctx: &mut Ctx,
    path: &str,
    from: &Option<String>,
    to: &Option<String>,
) -> (NaiveDate, Option<NaiveDate>) {
    // A date that does not read is an error of the load (no book is built), so the placeholder
    // `NaiveDate::MIN` never reaches a caller.
    let f = ctx.req_str(&format!("{path}.valid_from"), from);
    let fd = if f.is_empty() {
        None
    } else {
        ctx.date(&format!("{path}.valid_from"), &f)
    };
    let t = to.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let td = t.and_then(|t| ctx.date(&format!("{path}.valid_to"), t));
    if let (Some(fd), Some(td)) = (fd, td) {
        if td < fd {
            ctx.err(
                &format!("{path}.valid_to"),
                "REF_DATE_ORDER",
                "valid_to 早于 valid_from",
            );
        }
    }
    (fd.unwrap_or(NaiveDate::MIN), td)
}

fn check_flags(ctx: &mut Ctx, path: &str, flags: &[String]) {
    for (i, f) in flags.iter().enumerate() {
        if flag_info(f).is_none() {
            ctx.err(
                &format!("{path}[{i}]"),
                "REF_UNKNOWN_FLAG",
                format!("未知的情节标志「{f}」（可用标志见 FORMAT.md）"),
            );
        }
    }
}

/// `{ fact = "interval" }` → conditions.
fn check_when(ctx: &mut Ctx, path: &str, when: Option<BTreeMap<String, String>>) -> Vec<Condition> {
    let mut out = Vec::new();
    for (fact, iv) in when.unwrap_or_default() {
        let p = format!("{path}.{fact}");
        check_fact(ctx, &p, &fact);
        match Interval::parse(&iv) {
            Ok(interval) => out.push(Condition { fact, interval }),
            Err(m) => ctx.err(&p, "REF_BAD_INTERVAL", m),
        }
    }
    out
}

/// The measures of an item or tier: a bare name is unconditional and takes its kind from the
/// name; a table may add conditions, an amount fact and its own article.
fn check_measures(
    ctx: &mut Ctx,
    path: &str,
    raw: Option<Vec<RawMeasure>>,
) -> Vec<PrescribedMeasure> {
    let mut out = Vec::new();
    for (i, m) in raw.unwrap_or_default().into_iter().enumerate() {
        let p = format!("{path}[{i}]");
        let t = match m {
            RawMeasure::Name(name) => RawMeasureTable {
                name: Some(name),
                ..Default::default()
            },
            RawMeasure::Table(t) => t,
        };
        let name = ctx.req_str(&format!("{p}.name"), &t.name);
        ctx.legal_text(&format!("{p}.name"), &name);
        let kind = match t.kind.as_deref() {
            Some(k) => MeasureKind::parse(k).unwrap_or_else(|| {
                ctx.err(
                    &format!("{p}.kind"),
                    "REF_BAD_VALUE",
                    format!("措施种类「{k}」无效，应为 order（责令改正等，不是行政处罚）或 penalty（没收、暂扣、吊销等行政处罚）"),
                );
                MeasureKind::Order
            }),
            None => MeasureKind::from_name(&name).unwrap_or_else(|| {
                if !name.is_empty() {
                    ctx.err(
                        &format!("{p}.kind"),
                        "REF_MISSING_FIELD",
                        format!("无法从名称「{name}」判断措施种类，须写 kind = \"order\" 或 \"penalty\""),
                    );
                }
                MeasureKind::Order
            }),
        };
        let when = check_when(ctx, &format!("{p}.when"), t.when);
        let flags = t.flags.unwrap_or_default();
        check_flags(ctx, &format!("{p}.flags"), &flags);
        let condition = t.condition.unwrap_or_default();
        if (!when.is_empty() || !flags.is_empty()) && condition.trim().is_empty() {
            ctx.err(
                &format!("{p}.condition"),
                "REF_MISSING_FIELD",
                "有条件的措施须用 condition 写明条件（如「有违法所得的」）",
            );
        }
        ctx.legal_text(&format!("{p}.condition"), &condition);
        if let Some(f) = &t.amount_fact {
            if check_fact(ctx, &format!("{p}.amount_fact"), f) != Some(FactUnit::Yuan)
                && fact_unit(f).is_some()
            {
                ctx.err(
                    &format!("{p}.amount_fact"),
                    "REF_UNKNOWN_UNIT",
                    "措施金额的事实必须以元计（如 illegal_income_yuan）",
                );
            }
        }
        let basis = t.basis.unwrap_or_default();
        ctx.legal_text(&format!("{p}.basis"), &basis);
        out.push(PrescribedMeasure {
            name,
            kind,
            when,
            flags,
            condition,
            amount_fact: t.amount_fact,
            basis,
        });
    }
    out
}

fn check_fact(ctx: &mut Ctx, path: &str, fact: &str) -> Option<FactUnit> {
    let u = fact_unit(fact);
    if u.is_none() {
        ctx.err(
            path,
            "REF_UNKNOWN_FACT",
            format!("未知的事实「{fact}」（可用事实见 FORMAT.md）"),
        );
    }
    u
}

fn check_item(ctx: &mut Ctx, path: &str, r: RawItem) -> DiscretionItem {
    let code = ctx.req_str(&format!("{path}.code"), &r.code);
    if !code.is_empty() && !is_valid_code(&code) {
        ctx.err(
            &format!("{path}.code"),
            "REF_BAD_CODE",
            format!("编码「{code}」不符合格式（大写字母、数字和 -，如 CX-43-2）"),
        );
    }
    let name = ctx.req_str(&format!("{path}.name"), &r.name);
    let category = ctx.req_str(&format!("{path}.category"), &r.category);
    let violated = ctx.req_str(&format!("{path}.violated"), &r.violated);
    let basis = ctx.req_str(&format!("{path}.basis"), &r.basis);
    let legal = ctx.req_str(&format!("{path}.legal"), &r.legal);
    for (field, text) in [
        ("name", &name),
        ("violated", &violated),
        ("basis", &basis),
        ("legal", &legal),
    ] {
        ctx.legal_text(&format!("{path}.{field}"), text);
    }
    ctx.nonneg(&format!("{path}.legal_min_yuan"), r.legal_min_yuan);
    ctx.nonneg(&format!("{path}.legal_max_yuan"), r.legal_max_yuan);
    if let (Some(a), Some(b)) = (r.legal_min_yuan, r.legal_max_yuan) {
        if a > b {
            ctx.err(
                &format!("{path}.legal_min_yuan"),
                "REF_MIN_GT_MAX",
                format!("法定最低罚款 {a} 元大于最高罚款 {b} 元"),
            );
        }
    }
    match (&r.sum_group, r.sum_cap_yuan) {
        (Some(_), Some(c)) if c <= 0 => ctx.err(
            &format!("{path}.sum_cap_yuan"),
            "REF_NEGATIVE",
            "累计上限必须大于 0",
        ),
        (Some(_), None) | (None, Some(_)) => ctx.err(
            &format!("{path}.sum_group"),
            "REF_SUM_GROUP",
            "sum_group 与 sum_cap_yuan 必须同时填写",
        ),
        _ => {}
    }
    let (valid_from, valid_to) = check_dates(ctx, path, &r.valid_from, &r.valid_to);
    let verified = ctx.req(&format!("{path}.verified"), r.verified, false);
    let note = r.note.unwrap_or_default();
    if r.verified.is_some() {
        ctx.verified_note(&format!("{path}.note"), verified, &note);
    }
    let violated_verified = r.violated_verified.unwrap_or(verified);
    if violated_verified && !violated.is_empty() && violated == basis {
        ctx.err(
            &format!("{path}.violated"),
            "REF_VIOLATED_IS_BASIS",
            "违反条款与处罚依据相同：违反条款应为设定义务或者禁止的条款，处罚条款本身不是违反条款；未核实的须写 violated_verified = false 并在 note 中说明",
        );
    }
    if !violated_verified && note.trim().is_empty() {
        ctx.err(
            &format!("{path}.note"),
            "REF_UNVERIFIED_NO_NOTE",
            "violated_verified = false 时必须在 note 中说明违反条款须核实的内容",
        );
    }
    let measures = check_measures(ctx, &format!("{path}.measures"), r.measures);
    let offence_when = check_when(ctx, &format!("{path}.offence_when"), r.offence_when);
    let not_offence = r.not_offence.unwrap_or_default();
    if offence_when.is_empty() != not_offence.trim().is_empty() {
        ctx.err(
            &format!("{path}.not_offence"),
            "REF_MISSING_FIELD",
            "offence_when 与 not_offence 必须同时填写",
        );
    }
    ctx.legal_text(&format!("{path}.not_offence"), &not_offence);
    if r.tier.is_empty() {
        ctx.err(
            &format!("{path}.tier"),
            "REF_MISSING_FIELD",
            "至少需要一个裁量档次 [[item.tier]]",
        );
    }
    let item_has_measures = !measures.is_empty();
    let tiers: Vec<Tier> = r
        .tier
        .into_iter()
        .enumerate()
        .map(|(j, t)| {
            check_tier(
                ctx,
                &format!("{path}.tier[{j}]"),
                t,
                (verified, &note),
                (r.legal_min_yuan, r.legal_max_yuan),
                item_has_measures,
            )
        })
        .collect();
    check_tier_partition(ctx, path, &tiers);
    DiscretionItem {
        code,
        name,
        category,
        violated,
        violated_verified,
        basis,
        legal,
        legal_min_yuan: r.legal_min_yuan,
        legal_max_yuan: r.legal_max_yuan,
        measures,
        offence_when,
        not_offence,
        keywords: r.keywords.unwrap_or_default(),
        sum_group: r.sum_group,
        sum_cap_yuan: r.sum_cap_yuan,
        hearing_required: r.hearing_required.unwrap_or(false),
        valid_from,
        valid_to,
        verified,
        note,
        tiers,
        source_file: ctx.file.to_string(),
    }
}

fn check_tier(
    ctx: &mut Ctx,
    path: &str,
    t: RawTier,
    (item_verified, item_note): (bool, &str),
    legal: (Option<i64>, Option<i64>),
    item_has_measures: bool,
) -> Tier {
    let level_s = ctx.req_str(&format!("{path}.level"), &t.level);
    let level = TierLevel::parse(&level_s).unwrap_or_else(|| {
        if !level_s.is_empty() {
            ctx.err(
                &format!("{path}.level"),
                "REF_BAD_LEVEL",
                format!("档次「{level_s}」无效，应为 轻微/一般/较重/严重/特别严重"),
            );
        }
        TierLevel::Ordinary
    });
    let criteria = ctx.req_str(&format!("{path}.criteria"), &t.criteria);
    let basis = ctx.req_str(&format!("{path}.basis"), &t.basis);
    ctx.legal_text(&format!("{path}.criteria"), &criteria);
    ctx.legal_text(&format!("{path}.basis"), &basis);
    let when = check_when(ctx, &format!("{path}.when"), t.when);
    let flags = t.flags.unwrap_or_default();
    check_flags(ctx, &format!("{path}.flags"), &flags);
    let warning = t.warning.unwrap_or(false);
    let forms = [
        t.min_yuan.is_some() || t.max_yuan.is_some(),
        t.per_unit.is_some(),
        t.times.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if forms > 1 {
        ctx.err(
            path,
            "REF_FINE_FORM",
            "min_yuan/max_yuan、per_unit、times 只能填写一种",
        );
    }
    let (lmin, lmax) = legal;
    let mut fine = FineRule::None;
    if t.min_yuan.is_some() || t.max_yuan.is_some() {
        let min = ctx.req(&format!("{path}.min_yuan"), t.min_yuan, 0);
        let max = ctx.req(&format!("{path}.max_yuan"), t.max_yuan, 0);
        ctx.nonneg(&format!("{path}.min_yuan"), Some(min));
        ctx.nonneg(&format!("{path}.max_yuan"), Some(max));
        if t.min_yuan.is_some() && t.max_yuan.is_some() && min > max {
            ctx.err(
                &format!("{path}.max_yuan"),
                "REF_MIN_GT_MAX",
                format!("最低罚款 {min} 元大于最高罚款 {max} 元"),
            );
        }
        if let Some(lmax) = lmax {
            if max > lmax {
                ctx.err(
                    &format!("{path}.max_yuan"),
                    "REF_OUTSIDE_LEGAL",
                    format!("档次最高罚款 {max} 元超过法定最高罚款 {lmax} 元"),
                );
            }
        }
        if let Some(lmin) = lmin {
            if min < lmin {
                ctx.err(
                    &format!("{path}.min_yuan"),
                    "REF_OUTSIDE_LEGAL",
                    format!("档次最低罚款 {min} 元低于法定最低罚款 {lmin} 元"),
                );
            }
        }
        fine = FineRule::Range {
            min_yuan: min,
            max_yuan: max,
        };
    } else if let Some(pu) = t.per_unit {
        let p = format!("{path}.per_unit");
        let fact = ctx.req_str(&format!("{p}.fact"), &pu.fact);
        let unit = pu.unit.clone().unwrap_or_default();
        let fu = if fact.is_empty() {
            None
        } else {
            check_fact(ctx, &format!("{p}.fact"), &fact)
        };
        let factor = fu.and_then(|fu| unit_factor(fu, unit.trim()));
        if fu.is_some() && factor.is_none() {
            ctx.err(
                &format!("{p}.unit"),
                "REF_UNKNOWN_UNIT",
                format!("单位「{unit}」未知或与事实「{fact}」不符"),
            );
        }
        let size = ctx.req(&format!("{p}.size"), pu.size, 1.0);
        if !(size.is_finite() && size > 0.0) {
            ctx.err(&format!("{p}.size"), "REF_NEGATIVE", "计罚单位必须大于 0");
        }
        let yuan = ctx.req(&format!("{p}.yuan"), pu.yuan, 0);
        if yuan <= 0 {
            ctx.err(&format!("{p}.yuan"), "REF_NEGATIVE", "每单位罚款必须大于 0");
        }
        let cap = ctx.req(&format!("{p}.cap_yuan"), pu.cap_yuan, 0);
        if cap <= 0 {
            ctx.err(
                &format!("{p}.cap_yuan"),
                "REF_NEGATIVE",
                "罚款上限必须大于 0",
            );
        }
        if let Some(lmax) = lmax {
            if cap > lmax {
                ctx.err(
                    &format!("{p}.cap_yuan"),
                    "REF_OUTSIDE_LEGAL",
                    format!("罚款上限 {cap} 元超过法定最高罚款 {lmax} 元"),
                );
            }
        }
        fine = FineRule::PerUnit {
            fact,
            size: size * factor.unwrap_or(1.0),
            unit,
            yuan,
            cap_yuan: cap,
        };
    } else if let Some(tm) = t.times {
        let p = format!("{path}.times");
        let fact = ctx.req_str(&format!("{p}.fact"), &tm.fact);
        if !fact.is_empty() {
            if let Some(u) = check_fact(ctx, &format!("{p}.fact"), &fact) {
                if u != FactUnit::Yuan {
                    ctx.err(
                        &format!("{p}.fact"),
                        "REF_UNKNOWN_UNIT",
                        "倍数罚款的事实必须以元计（如 illegal_income_yuan）",
                    );
                }
            }
        }
        let min = ctx.req(&format!("{p}.min"), tm.min, 0);
        let max = ctx.req(&format!("{p}.max"), tm.max, 0);
        if min < 0 {
            ctx.err(&format!("{p}.min"), "REF_NEGATIVE", "倍数不能为负数");
        }
        if min > max {
            ctx.err(
                &format!("{p}.max"),
                "REF_MIN_GT_MAX",
                format!("最低倍数 {min} 大于最高倍数 {max}"),
            );
        }
        ctx.nonneg(&format!("{p}.cap_yuan"), tm.cap_yuan);
        fine = FineRule::Times {
            fact,
            min,
            max,
            cap_yuan: tm.cap_yuan,
        };
    } else if !warning && !item_has_measures && t.measures.as_ref().is_none_or(Vec::is_empty) {
        ctx.err(
            path,
            "REF_FINE_FORM",
            "档次既没有罚款（min_yuan/max_yuan、per_unit 或 times），也没有 warning = true 或 measures",
        );
    }
    let verified = t.verified.unwrap_or(item_verified);
    let note = t.note.unwrap_or_default();
    let effective_note = if note.is_empty() { item_note } else { &note };
    ctx.verified_note(&format!("{path}.note"), verified, effective_note);
    Tier {
        level,
        criteria,
        when,
        flags,
        warning,
        fine,
        measures: check_measures(ctx, &format!("{path}.measures"), t.measures),
        hearing_required: t.hearing_required.unwrap_or(false),
        basis,
        verified,
        note,
    }
}

/// Tiers that share the same flags and constrain exactly one and the same fact must partition it:
/// no overlap, no gap. Two tiers with the same flags and no conditions overlap.
fn check_tier_partition(ctx: &mut Ctx, path: &str, tiers: &[Tier]) {
    let mut groups: BTreeMap<Vec<String>, Vec<usize>> = BTreeMap::new();
    for (i, t) in tiers.iter().enumerate() {
        let mut f = t.flags.clone();
        f.sort();
        groups.entry(f).or_default().push(i);
    }
    for idx in groups.values() {
        let unconditioned: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| tiers[i].when.is_empty())
            .collect();
        if unconditioned.len() > 1 {
            ctx.err(
                &format!("{path}.tier[{}]", unconditioned[1]),
                "REF_TIER_OVERLAP",
                format!(
                    "与第 {} 档条件完全相同（都没有 when，情节标志也相同），档次重叠",
                    unconditioned[0] + 1
                ),
            );
        }
        let fact0 = match tiers[idx[0]].when.as_slice() {
            [c] => &c.fact,
            _ => continue,
        };
        if idx.len() < 2
            || !idx
                .iter()
                .all(|&i| matches!(tiers[i].when.as_slice(), [c] if &c.fact == fact0))
        {
            continue;
        }
        let mut sorted: Vec<(usize, &Interval)> = idx
            .iter()
            .map(|&i| (i, &tiers[i].when[0].interval))
            .collect();
        sorted.sort_by(|a, b| {
            let ka = a.1.lo.unwrap_or(f64::NEG_INFINITY);
            let kb = b.1.lo.unwrap_or(f64::NEG_INFINITY);
            ka.total_cmp(&kb)
                .then((!a.1.lo_closed).cmp(&(!b.1.lo_closed)))
        });
        for w in sorted.windows(2) {
            let (ia, a) = w[0];
            let (ib, b) = w[1];
            let p = format!("{path}.tier[{ib}].when.{fact0}");
            let label = |i: usize| format!("第 {} 档", i + 1);
            match (a.hi, b.lo) {
                (None, _) | (_, None) => ctx.err(
                    &p,
                    "REF_TIER_OVERLAP",
                    format!("{} 与 {} 的区间重叠（{a} 与 {b}）", label(ia), label(ib)),
                ),
                (Some(h), Some(l)) => {
                    if h > l || (h == l && a.hi_closed && b.lo_closed) {
                        ctx.err(
                            &p,
                            "REF_TIER_OVERLAP",
                            format!("{} 与 {} 的区间重叠（{a} 与 {b}）", label(ia), label(ib)),
                        );
                    } else if h < l || (!a.hi_closed && !b.lo_closed) {
                        ctx.err(
                            &p,
                            "REF_TIER_GAP",
                            format!(
                                "{} 与 {} 之间有空档（{a} 与 {b}），{} 在此范围内没有档次",
                                label(ia),
                                label(ib),
                                fact_label(fact0)
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn check_exemption(ctx: &mut Ctx, path: &str, r: RawExemption) -> ExemptionItem {
    let code = ctx.req_str(&format!("{path}.code"), &r.code);
    if !code.is_empty() && !is_valid_code(&code) {
        ctx.err(
            &format!("{path}.code"),
            "REF_BAD_CODE",
            format!("编码「{code}」不符合格式（大写字母、数字和 -）"),
        );
    }
    let violation = ctx.req_str(&format!("{path}.violation"), &r.violation);
    let basis = ctx.req_str(&format!("{path}.basis"), &r.basis);
    ctx.legal_text(&format!("{path}.violation"), &violation);
    ctx.legal_text(&format!("{path}.basis"), &basis);
    let applies_to = r.applies_to.unwrap_or_default();
    if applies_to.is_empty() {
        ctx.err(
            &format!("{path}.applies_to"),
            "REF_MISSING_FIELD",
            "applies_to 至少列出一个裁量基准编码",
        );
    }
    let outcome_s = ctx.req_str(&format!("{path}.outcome"), &r.outcome);
    let outcome = ExemptionOutcome::parse(&outcome_s).unwrap_or_else(|| {
        if !outcome_s.is_empty() {
            ctx.err(
                &format!("{path}.outcome"),
                "REF_BAD_OUTCOME",
                format!("「{outcome_s}」无效，应为 must_not_penalise 或 may_not_penalise"),
            );
        }
        ExemptionOutcome::MayNotPenalise
    });
    let documents = r.documents.unwrap_or_default();
    if documents.is_empty() {
        ctx.err(
            &format!("{path}.documents"),
            "REF_MISSING_FIELD",
            "documents 至少列出一种文书",
        );
    }
    if r.condition.is_empty() {
        ctx.err(
            &format!("{path}.condition"),
            "REF_MISSING_FIELD",
            "至少需要一个条件 [[exemption.condition]]",
        );
    }
    let conditions = r
        .condition
        .into_iter()
        .enumerate()
        .map(|(j, c)| {
            let p = format!("{path}.condition[{j}]");
            let text = ctx.req_str(&format!("{p}.text"), &c.text);
            ctx.legal_text(&format!("{p}.text"), &text);
            let check = ctx.req_str(&format!("{p}.check"), &c.check);
            let flag = check.strip_prefix('!').unwrap_or(&check);
            if !check.is_empty() && check != "first_offence" && flag_info(flag).is_none() {
                ctx.err(
                    &format!("{p}.check"),
                    "REF_BAD_CHECK",
                    format!("「{check}」无效，应为情节标志、!标志 或 first_offence"),
                );
            }
            ExemptionCondition { text, check }
        })
        .collect();
    let (valid_from, valid_to) = check_dates(ctx, path, &r.valid_from, &r.valid_to);
    let verified = ctx.req(&format!("{path}.verified"), r.verified, false);
    let note = r.note.unwrap_or_default();
    if r.verified.is_some() {
        ctx.verified_note(&format!("{path}.note"), verified, &note);
    }
    ExemptionItem {
        code,
        violation,
        applies_to,
        basis,
        outcome,
        documents,
        conditions,
        valid_from,
        valid_to,
        verified,
        note,
        source_file: ctx.file.to_string(),
    }
}

// ---- policy ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyFile {
    meta: RawMeta,
    summary: RawSummary,
    on_the_spot_collection: RawCollection,
    hearing: RawThreshold,
    /// The earlier form of the legal-review threshold, before the catalogue (the `review/` files):
    /// still read so that the reference data of earlier bundles loads.
    #[serde(default)]
    legal_review: Option<RawThreshold>,
    collective_decision: RawThreshold,
    formula: RawFormula,
    recommend: RawRecommend,
    limitation: RawLimitation,
    #[serde(default)]
    gross_weight_limit: Vec<RawWeightLimit>,
    #[serde(default)]
    size_limit: Vec<RawSizeLimit>,
    #[serde(default)]
    deadline: Vec<RawDeadline>,
}

macro_rules! with_source {
    ($name:ident { $($f:ident : $t:ty),* $(,)? }) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            $($f: $t,)*
            basis: String,
            verified: bool,
            #[serde(default)]
            note: String,
        }
        impl $name {
            fn source(&self, ctx: &mut Ctx, path: &str) -> PolicySource {
                if self.basis.trim().is_empty() {
                    ctx.err(&format!("{path}.basis"), "REF_MISSING_FIELD", "缺少依据");
                }
                ctx.verified_note(&format!("{path}.note"), self.verified, &self.note);
                PolicySource { basis: self.basis.clone(), verified: self.verified, note: self.note.clone() }
            }
        }
    };
}

with_source!(RawSummary {
    person_max_yuan: i64,
    organisation_max_yuan: i64
});
with_source!(RawCollection { max_yuan: i64 });
with_source!(RawThreshold {
    person_min_yuan: i64,
    organisation_min_yuan: i64
});
with_source!(RawFormula { part_unit: String });
with_source!(RawRecommend {
    base_pct: i64,
    lighter_pct: i64,
    heavier_pct: i64,
    round_to_yuan: i64
});
with_source!(RawLimitation {
    years: u32,
    extended_years: u32
});
with_source!(RawWeightLimit {
    axles: u32,
    combination: bool,
    single_drive_axle: Option<bool>,
    limit_kg: i64,
});
with_source!(RawSizeLimit {
    fact: String,
    limit_m: f64,
});
with_source!(RawDeadline {
    id: String,
    name: String,
    from: String,
    days: u32,
    unit: String
});

fn check_policy(ctx: &mut Ctx, r: RawPolicyFile) -> Policy {
    let thr = |ctx: &mut Ctx, path: &str, t: &RawThreshold| {
        for (f, v) in [
            ("person_min_yuan", t.person_min_yuan),
            ("organisation_min_yuan", t.organisation_min_yuan),
        ] {
            if v < 0 {
                ctx.err(&format!("{path}.{f}"), "REF_NEGATIVE", "金额不能为负数");
            }
        }
        Threshold {
            person_yuan: t.person_min_yuan,
            organisation_yuan: t.organisation_min_yuan,
            source: t.source(ctx, path),
        }
    };
    let summary = Threshold {
        person_yuan: r.summary.person_max_yuan,
        organisation_yuan: r.summary.organisation_max_yuan,
        source: r.summary.source(ctx, "summary"),
    };
    let hearing = thr(ctx, "hearing", &r.hearing);
    let legal_review = r.legal_review.as_ref().map(|t| thr(ctx, "legal_review", t));
    let collective_decision = thr(ctx, "collective_decision", &r.collective_decision);
    let part_unit = match r.formula.part_unit.as_str() {
        "floor" => PartUnit::Floor,
        "ceil" => PartUnit::Ceil,
        "round" => PartUnit::Round,
        other => {
            ctx.err(
                "formula.part_unit",
                "REF_BAD_VALUE",
                format!("「{other}」无效，应为 floor、ceil 或 round"),
            );
            PartUnit::Floor
        }
    };
    let rc = &r.recommend;
    for (f, v) in [
        ("base_pct", rc.base_pct),
        ("lighter_pct", rc.lighter_pct),
        ("heavier_pct", rc.heavier_pct),
    ] {
        if !(0..=100).contains(&v) {
            ctx.err(
                &format!("recommend.{f}"),
                "REF_BAD_VALUE",
                "百分比必须在 0 到 100 之间",
            );
        }
    }
    if rc.round_to_yuan <= 0 {
        ctx.err(
            "recommend.round_to_yuan",
            "REF_BAD_VALUE",
            "取整单位必须大于 0",
        );
    }
    if r.limitation.years == 0 || r.limitation.extended_years < r.limitation.years {
        ctx.err("limitation.extended_years", "REF_BAD_VALUE", "时效年数无效");
    }
    let mut gross_weight_limits = Vec::new();
    for (i, g) in r.gross_weight_limit.iter().enumerate() {
        let p = format!("gross_weight_limit[{i}]");
        if g.axles < 2 || g.limit_kg <= 0 {
            ctx.err(&p, "REF_BAD_VALUE", "轴数至少为 2，限值必须大于 0");
        }
        gross_weight_limits.push(GrossWeightLimit {
            axles: g.axles,
            combination: g.combination,
            single_drive_axle: g.single_drive_axle.unwrap_or(false),
            limit_kg: g.limit_kg,
            source: g.source(ctx, &p),
        });
    }
    let mut size_limits = Vec::new();
    for (i, l) in r.size_limit.iter().enumerate() {
        let p = format!("size_limit[{i}]");
        if !matches!(l.fact.as_str(), "height_m" | "width_m" | "length_m") {
            ctx.err(
                &format!("{p}.fact"),
                "REF_UNKNOWN_FACT",
                format!(
                    "外廓尺寸限值只能是 height_m、width_m 或 length_m，不是「{}」",
                    l.fact
                ),
            );
        }
        if size_limits.iter().any(|s: &SizeLimit| s.fact == l.fact) {
            ctx.err(
                &format!("{p}.fact"),
                "REF_DUPLICATE",
                format!("「{}」的限值重复", l.fact),
            );
        }
        if !(l.limit_m.is_finite() && l.limit_m > 0.0) {
            ctx.err(&format!("{p}.limit_m"), "REF_BAD_VALUE", "限值必须大于 0");
        }
        size_limits.push(SizeLimit {
            fact: l.fact.clone(),
            limit_m: l.limit_m,
            source: l.source(ctx, &p),
        });
    }
    let mut deadlines = Vec::new();
    let mut ids = HashMap::new();
    for (i, d) in r.deadline.iter().enumerate() {
        let p = format!("deadline[{i}]");
        if ids.insert(d.id.clone(), i).is_some() {
            ctx.err(
                &format!("{p}.id"),
                "REF_DUPLICATE",
                format!("期限编号「{}」重复", d.id),
            );
        }
        if !EVENTS.iter().any(|e| e.0 == d.from) {
            ctx.err(
                &format!("{p}.from"),
                "REF_BAD_EVENT",
                format!("未知的起算事件「{}」", d.from),
            );
        }
        let unit = match d.unit.as_str() {
            "working_days" => DeadlineUnit::WorkingDays,
            "calendar_days" => DeadlineUnit::CalendarDays,
            "months" => DeadlineUnit::Months,
            other => {
                ctx.err(
                    &format!("{p}.unit"),
                    "REF_UNKNOWN_UNIT",
                    format!("期限单位「{other}」无效，应为 working_days、calendar_days 或 months"),
                );
                DeadlineUnit::CalendarDays
            }
        };
        if d.days == 0 {
            ctx.err(&format!("{p}.days"), "REF_BAD_VALUE", "期限必须大于 0");
        }
        deadlines.push(DeadlineRule {
            id: d.id.clone(),
            name: d.name.clone(),
            from: d.from.clone(),
            days: d.days,
            unit,
            source: d.source(ctx, &p),
        });
    }
    Policy {
        summary,
        on_the_spot_collection_max_yuan: r.on_the_spot_collection.max_yuan,
        on_the_spot_collection: r
            .on_the_spot_collection
            .source(ctx, "on_the_spot_collection"),
        hearing,
        legal_review,
        collective_decision,
        part_unit,
        formula: r.formula.source(ctx, "formula"),
        recommend_base_pct: rc.base_pct,
        recommend_lighter_pct: rc.lighter_pct,
        recommend_heavier_pct: rc.heavier_pct,
        recommend_round_to_yuan: rc.round_to_yuan.max(1),
        recommend: rc.source(ctx, "recommend"),
        limitation_years: r.limitation.years,
        limitation_extended_years: r.limitation.extended_years,
        limitation: r.limitation.source(ctx, "limitation"),
        gross_weight_limits,
        size_limits,
        deadlines,
    }
}

// ---- legal review catalogue ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReviewFile {
    meta: Option<RawMeta>,
    #[serde(default)]
    item: Vec<RawReviewItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReviewItem {
    code: Option<String>,
    situation: Option<String>,
    basis: Option<String>,
    trigger: Option<String>,
    flag: Option<String>,
    person_min_yuan: Option<i64>,
    organisation_min_yuan: Option<i64>,
    penalties: Option<Vec<String>>,
    verified: Option<bool>,
    note: Option<String>,
}

/// The triggers of a catalogue item and the keys each one takes.
const REVIEW_TRIGGERS: &[(&str, &[&str])] = &[
    ("flag", &["flag"]),
    ("hearing_held", &[]),
    ("fine", &["person_min_yuan", "organisation_min_yuan"]),
    (
        "confiscation",
        &["person_min_yuan", "organisation_min_yuan"],
    ),
    ("penalty", &["penalties"]),
];

fn check_review_item(ctx: &mut Ctx, path: &str, r: RawReviewItem) -> ReviewItem {
    let code = ctx.req_str(&format!("{path}.code"), &r.code);
    if !code.is_empty() && !is_valid_code(&code) {
        ctx.err(
            &format!("{path}.code"),
            "REF_BAD_CODE",
            format!("编码「{code}」不符合格式（大写字母、数字和 -，如 SH-58-1）"),
        );
    }
    let situation = ctx.req_str(&format!("{path}.situation"), &r.situation);
    let basis = ctx.req_str(&format!("{path}.basis"), &r.basis);
    ctx.legal_text(&format!("{path}.situation"), &situation);
    ctx.legal_text(&format!("{path}.basis"), &basis);
    let verified = ctx.req(&format!("{path}.verified"), r.verified, false);
    let note = r.note.unwrap_or_default();
    ctx.verified_note(&format!("{path}.note"), verified, &note);
    let trigger_name = ctx.req_str(&format!("{path}.trigger"), &r.trigger);
    let given: Vec<&str> = [
        ("flag", r.flag.is_some()),
        ("person_min_yuan", r.person_min_yuan.is_some()),
        ("organisation_min_yuan", r.organisation_min_yuan.is_some()),
        ("penalties", r.penalties.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(k, _)| k)
    .collect();
    let keys = REVIEW_TRIGGERS
        .iter()
        .find(|(t, _)| *t == trigger_name)
        .map(|(_, k)| *k);
    match keys {
        None if trigger_name.is_empty() => {}
        None => ctx.err(
            &format!("{path}.trigger"),
            "REF_REVIEW_TRIGGER",
            format!(
                "「{trigger_name}」无效，应为 {}",
                REVIEW_TRIGGERS
                    .iter()
                    .map(|(t, _)| *t)
                    .collect::<Vec<_>>()
                    .join("、")
            ),
        ),
        Some(keys) => {
            for k in given.iter().filter(|k| !keys.contains(k)) {
                ctx.err(
                    &format!("{path}.{k}"),
                    "REF_REVIEW_TRIGGER",
                    format!("触发条件 {trigger_name} 不使用 {k}"),
                );
            }
        }
    }
    let amount = |ctx: &mut Ctx, field: &str, v: Option<i64>| {
        let p = format!("{path}.{field}");
        match v {
            None => {
                ctx.err(&p, "REF_MISSING_FIELD", "缺少必填字段");
                0
            }
            Some(v) if v < 0 => {
                ctx.err(&p, "REF_NEGATIVE", "金额不能为负数");
                0
            }
            Some(v) => v,
        }
    };
    let trigger = match trigger_name.as_str() {
        "flag" => {
            let flag = ctx.req_str(&format!("{path}.flag"), &r.flag);
            if !flag.is_empty() && flag_info(&flag).is_none() {
                ctx.err(
                    &format!("{path}.flag"),
                    "REF_UNKNOWN_FLAG",
                    format!("未知的情节标志「{flag}」（可用标志见 FORMAT.md）"),
                );
            }
            ReviewTrigger::Flag { flag }
        }
        "fine" | "confiscation" => {
            let person_min_yuan = amount(ctx, "person_min_yuan", r.person_min_yuan);
            let organisation_min_yuan =
                amount(ctx, "organisation_min_yuan", r.organisation_min_yuan);
            if trigger_name == "fine" {
                ReviewTrigger::Fine {
                    person_min_yuan,
                    organisation_min_yuan,
                }
            } else {
                ReviewTrigger::Confiscation {
                    person_min_yuan,
                    organisation_min_yuan,
                }
            }
        }
        "penalty" => {
            let words = r.penalties.unwrap_or_default();
            if words.is_empty() {
                ctx.err(
                    &format!("{path}.penalties"),
                    "REF_MISSING_FIELD",
                    "缺少必填字段：至少列出一个处罚名称中的词（如 吊销）",
                );
            }
            for (i, w) in words.iter().enumerate() {
                if w.trim().is_empty() {
                    ctx.err(
                        &format!("{path}.penalties[{i}]"),
                        "REF_MISSING_FIELD",
                        "处罚名称中的词不能为空",
                    );
                }
            }
            ReviewTrigger::Penalty { penalties: words }
        }
        // "hearing_held", and an invalid trigger already reported.
        _ => ReviewTrigger::HearingHeld,
    };
    ReviewItem {
        code,
        situation,
        basis,
        trigger,
        verified,
        note,
        source_file: ctx.file.to_string(),
    }
}

/// Catalogue codes are unique across every review file.
pub(crate) fn cross_check_review(items: &[ReviewItem]) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (n, it) in items.iter().enumerate() {
        match seen.get(it.code.as_str()) {
            Some(first) => {
                let pos = items[..n]
                    .iter()
                    .filter(|x| x.source_file == it.source_file)
                    .count();
                issues.push(Issue::new(
                    format!("{}: item[{pos}].code", it.source_file),
                    "REF_DUPLICATE",
                    format!("法制审核目录编码 {} 重复（已见于 {first}）", it.code),
                ));
            }
            None => {
                seen.insert(&it.code, &it.source_file);
            }
        }
    }
    issues
}

// ---- calendar ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendarFile {
    meta: RawMeta,
    #[serde(default)]
    year: Vec<RawYear>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i32,
    source: String,
    verified: bool,
    #[serde(default)]
    note: String,
    #[serde(default)]
    holidays: Vec<String>,
    #[serde(default)]
    working_weekends: Vec<String>,
}

fn expand_dates(ctx: &mut Ctx, path: &str, year: i32, list: &[String]) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let (a, b) = match s.split_once("..") {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (s.trim(), s.trim()),
        };
        let (Some(da), Some(db)) = (ctx.date(&p, a), ctx.date(&p, b)) else {
            continue;
        };
        if da > db {
            ctx.err(&p, "REF_DATE_ORDER", "日期范围的起点晚于终点");
            continue;
        }
        if da.year() != year || db.year() != year {
            ctx.err(&p, "REF_BAD_DATE", format!("日期不在 {year} 年内"));
            continue;
        }
        let mut d = da;
        while d <= db {
            out.push(d);
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
    }
    out
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn check_calendar(ctx: &mut Ctx, years: Vec<RawYear>) -> Calendar {
    let mut out = BTreeMap::new();
    if years.is_empty() {
        ctx.err("year", "REF_EMPTY", "日历中没有任何年份 [[year]]");
    }
    for (i, y) in years.into_iter().enumerate() {
        let p = format!("year[{i}]");
        if out.contains_key(&y.year) {
            ctx.err(
                &format!("{p}.year"),
                "REF_DUPLICATE",
                format!("{} 年重复", y.year),
            );
            continue;
        }
        if y.source.trim().is_empty() {
            ctx.err(&format!("{p}.source"), "REF_MISSING_FIELD", "缺少来源");
        }
        ctx.verified_note(&format!("{p}.note"), y.verified, &y.note);
        let holidays = expand_dates(ctx, &format!("{p}.holidays"), y.year, &y.holidays);
        let working = expand_dates(
            ctx,
            &format!("{p}.working_weekends"),
            y.year,
            &y.working_weekends,
        );
        for (k, d) in holidays.iter().enumerate() {
            if is_weekend(*d) {
                ctx.err(
                    &format!("{p}.holidays"),
                    "REF_CAL_WEEKEND",
                    format!("{d} 是周末，不必列入 holidays（第 {} 个日期）", k + 1),
                );
            }
        }
        for d in &working {
            if !is_weekend(*d) {
                ctx.err(
                    &format!("{p}.working_weekends"),
                    "REF_CAL_WEEKDAY",
                    format!("{d} 不是周六或周日，不能列入 working_weekends"),
                );
            }
        }
        out.insert(
            y.year,
            CalendarYear {
                holidays: holidays.into_iter().collect(),
                working_weekends: working.into_iter().collect(),
                source: y.source,
                verified: y.verified,
            },
        );
    }
    Calendar::new(out)
}

fn item_pos(items: &[DiscretionItem], i: usize) -> usize {
    let f = &items[i].source_file;
    items[..i].iter().filter(|x| &x.source_file == f).count()
}

fn ex_pos(items: &[ExemptionItem], i: usize) -> usize {
    let f = &items[i].source_file;
    items[..i].iter().filter(|x| &x.source_file == f).count()
}

/// Cross-file checks over the whole set. Returns issues.
pub(crate) fn cross_check(items: &[DiscretionItem], exemptions: &[ExemptionItem]) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut by_code: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate() {
        by_code.entry(&it.code).or_default().push(i);
    }
    let overlaps =
        |af: &NaiveDate, a_to: &Option<NaiveDate>, bf: &NaiveDate, b_to: &Option<NaiveDate>| {
            af <= &b_to.unwrap_or(NaiveDate::MAX) && bf <= &a_to.unwrap_or(NaiveDate::MAX)
        };
    for (code, idx) in &by_code {
        for (x, &i) in idx.iter().enumerate() {
            for &j in &idx[x + 1..] {
                let (a, b) = (&items[i], &items[j]);
                if overlaps(&a.valid_from, &a.valid_to, &b.valid_from, &b.valid_to) {
                    issues.push(Issue::new(
                        format!("{}: item[{}].valid_from", b.source_file, item_pos(items, j)),
                        "REF_DATES_OVERLAP",
                        format!(
                            "编码 {code} 的两个版本施行期间重叠（{} 起 与 {} 中 {} 起的版本）",
                            b.valid_from, a.source_file, a.valid_from
                        ),
                    ));
                }
            }
        }
    }
    // Sum groups: one cap per group.
    let mut caps: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
    for (n, it) in items.iter().enumerate() {
        if let (Some(g), Some(c)) = (&it.sum_group, it.sum_cap_yuan) {
            match caps.get(g.as_str()) {
                Some((c0, code0)) if *c0 != c => issues.push(Issue::new(
                    format!(
                        "{}: item[{}].sum_cap_yuan",
                        it.source_file,
                        item_pos(items, n)
                    ),
                    "REF_SUM_GROUP",
                    format!("累计组 {g} 的上限与 {code0} 不一致（{c} 与 {c0}）"),
                )),
                None => {
                    caps.insert(g, (c, &it.code));
                }
                _ => {}
            }
        }
    }
    let mut ex_by_code: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in exemptions.iter().enumerate() {
        ex_by_code.entry(&e.code).or_default().push(i);
        for (k, c) in e.applies_to.iter().enumerate() {
            if !by_code.contains_key(c.as_str()) {
                issues.push(Issue::new(
                    format!(
                        "{}: exemption[{}].applies_to[{k}]",
                        e.source_file,
                        ex_pos(exemptions, i)
                    ),
                    "REF_UNKNOWN_CODE",
                    format!("裁量基准中没有编码 {c}"),
                ));
            }
        }
    }
    for (code, idx) in &ex_by_code {
        for (x, &i) in idx.iter().enumerate() {
            for &j in &idx[x + 1..] {
                let (a, b) = (&exemptions[i], &exemptions[j]);
                if overlaps(&a.valid_from, &a.valid_to, &b.valid_from, &b.valid_to) {
                    issues.push(Issue::new(
                        format!(
                            "{}: exemption[{}].valid_from",
                            b.source_file,
                            ex_pos(exemptions, j)
                        ),
                        "REF_DATES_OVERLAP",
                        format!("免罚编码 {code} 的两个版本施行期间重叠"),
                    ));
                }
            }
        }
    }
    issues
}
