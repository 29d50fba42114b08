//! The end of a case: decisions, the notice of intended penalty and the party's statement,
//! coercive measures, delivery (送达), payment (缴款) and closing (结案) — what each step records
//! and the checks the law puts on it. Pure domain: the store (`crate::store`) appends each step as
//! a signed ledger entry in one transaction, and the server runs the same checks on push.
//!
//! Each step has an *input* (what the officer enters) and a *body* (what the ledger entry signs:
//! the input plus what the core worked out, e.g. the guidance beside the decided amount). Bodies
//! are read back with `deny_unknown_fields`, so an entry that does not have the shape of its kind
//! is refused.
//!
//! Law applied here (articles of 《行政处罚法》 unless named):
//! - decisions: the draft check (`RuleBook::check_draft`: ranges, 51 summary limits, 29 one act
//!   one fine, 36 limitation, 42 two certified officers, 33 exemptions); a decided amount outside
//!   the benchmark band is allowed only with written reasons and is flagged for supervisors;
//! - 44, 45, 62: the party is told the facts, grounds, basis and rights before a decision; a
//!   general-procedure decision needs a notice and the statement (or the end of the period);
//! - 63, 64: a hearing is offered when the penalty needs one, and asked for within 5 working days;
//! - 33: a no-penalty decision needs an exemption item whose every condition holds, and education;
//! - 《行政强制法》 25: a seizure lasts at most 30 days, extended once by at most 30;
//! - 61 and 程序规定: delivery method, receiver, signature or refusal with a witness or AV record;
//! - 67–69: payment by bank or electronic payment; on-the-spot collection only for a summary
//!   decision of at most the policy's amount (100 元) or where later collection would be hard;
//!   late payment 3 % a day, never more than the fine (72).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{Issue, Result, RoadsideError};
use crate::model::{CoerciveMeasureKind, Party};
use crate::rules::check::{DraftCheck, DraftOfficer, PenaltyDraft, ProcedureKind};
use crate::rules::guidance::{ExemptionStatus, Facts};
use crate::rules::model::{ExemptionOutcome, MeasureKind};
use crate::rules::RuleBook;

/// Longest free text accepted in a step (facts, reasons, statements).
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest seizure or seal, and longest extension (《行政强制法》 25).
pub const MAX_MEASURE_DAYS: u32 = 30;
/// Items on one seizure list.
pub const MAX_MEASURE_ITEMS: usize = 200;

/// Which reference data a decision was made with: the bundle version the device held (none when
/// it ran on the reference data compiled into the app) and the digest of the reference files
/// ([`RuleBook::reference_digest`]), which the server matches to what it published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct ReferenceId {
    pub bundle_version: Option<u64>,
    pub digest: String,
}

// ---------------------------------------------------------------------------------------------
// Penalty decision

/// A penalty decision as the officer makes it: the checked draft, the party and the facts as
/// they will be written in the decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct PenaltyDecisionInput {
    pub draft: PenaltyDraft,
    pub party: Party,
    /// 违法事实, as written in the decision.
    pub facts_text: String,
    /// For a summary decision: the party was told the facts, grounds, basis and the right to
    /// 陈述、申辩 before it was made (处罚法 44), and the statement was heard.
    #[serde(default)]
    pub rights_told: bool,
}

/// One violation of a decision: what the benchmark said beside what was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct DecidedViolation {
    pub code: String,
    pub name: String,
    /// The provision violated and the provision applied, as the guidance cites them.
    pub violated: String,
    pub basis: String,
    pub legal_min_yuan: Option<i64>,
    pub legal_max_yuan: Option<i64>,
    /// The benchmark tier (`轻微` … `特别严重`), when the facts determine one.
    pub tier: Option<String>,
    pub tier_criteria: String,
    pub band_min_yuan: Option<i64>,
    pub band_max_yuan: Option<i64>,
    pub recommended_yuan: Option<i64>,
    pub recommended_warning: bool,
    pub act_id: Option<String>,
    pub warning: bool,
    pub amount_yuan: i64,
    /// The decided amount is outside the benchmark band.
    pub outside_band: bool,
    /// Orders the article prescribes besides the fine (责令改正, 责令停止经营…), as decided.
    pub measures: Vec<String>,
    /// Penalties of other kinds the article prescribes with the fine (没收违法所得人民币…元,
    /// 吊销…), as decided.
    #[serde(default)]
    pub other_penalties: Vec<String>,
}

/// A problem the draft check found that does not forbid the decision, kept in the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct CheckNote {
    pub path: String,
    pub code: String,
    pub message: String,
}

/// The body of a `decision.penalty` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct PenaltyDecision {
    pub decision_id: String,
    /// 文书编号 of the decision (当场行政处罚决定书 / 行政处罚决定书).
    pub number: String,
    pub decided_on: String,
    pub procedure: ProcedureKind,
    pub party: Party,
    pub facts_text: String,
    pub facts: Facts,
    pub violations: Vec<DecidedViolation>,
    pub total_yuan: i64,
    /// Written reasons for deviating from the benchmark (偏离裁量基准的说理).
    pub justification: String,
    /// Some amount is outside its band: shown to supervisors.
    pub deviates: bool,
    /// 说理, each reason with its article.
    pub reasoning: String,
    pub officers: Vec<DraftOfficer>,
    pub discovered_on: Option<String>,
    pub collect_on_the_spot: bool,
    pub hard_to_collect_later: bool,
    pub rights_told: bool,
    /// The notice this decision follows (general procedure).
    pub notice_number: Option<String>,
    pub warnings: Vec<CheckNote>,
    pub reference: ReferenceId,
    /// The legal review it was made after (处罚法 58), when one was required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<ReviewRef>,
}

impl PenaltyDecision {
    /// The draft this decision was checked as, rebuilt from the body (the server re-checks it).
    pub fn draft(&self) -> PenaltyDraft {
        PenaltyDraft {
            facts: self.facts.clone(),
            violations: self
                .violations
                .iter()
                .map(|v| crate::rules::check::DraftViolation {
                    code: v.code.clone(),
                    act_id: v.act_id.clone(),
                    warning: v.warning,
                    amount_yuan: v.amount_yuan,
                })
                .collect(),
            procedure: self.procedure,
            justification: self.justification.clone(),
            officers: self.officers.clone(),
            discovered_on: self.discovered_on.clone(),
            already_fined_acts: Vec::new(),
            collect_on_the_spot: self.collect_on_the_spot,
            hard_to_collect_later: self.hard_to_collect_later,
        }
    }
}

impl PenaltyDecision {
    /// What the legal-review catalogue (`RuleBook::legal_review`) looks at in this decision:
    /// procedure, the party's type, the total fine, the other penalties decided, the illegal
    /// income confiscated (when 没收违法所得 is among them), the case's circumstance flags, and
    /// whether a hearing was held (from the case: [`DecisionContext::hearing_held`]).
    pub fn review_case(&self, hearing_held: bool) -> crate::rules::ReviewCase {
        let penalties: Vec<String> = self
            .violations
            .iter()
            .flat_map(|v| v.other_penalties.iter().cloned())
            .collect();
        let confiscated_yuan = if penalties.iter().any(|p| p.starts_with("没收违法所得")) {
            self.facts.illegal_income_yuan.unwrap_or(0).max(0)
        } else {
            0
        };
        crate::rules::ReviewCase {
            procedure: self.procedure,
            party_type: match self.party {
                Party::Person { .. } => crate::rules::PartyType::Person,
                Party::Organisation { .. } => crate::rules::PartyType::Organisation,
            },
            fine_yuan: self.total_yuan,
            confiscated_yuan,
            penalties,
            hearing_held,
            flags: self.facts.flags.clone(),
        }
    }
}

impl DecisionContext {
    /// The party's hearing on the latest notice has been held (处罚法 64, 65).
    pub fn hearing_held(&self) -> bool {
        self.notice
            .as_ref()
            .and_then(|n| n.statement.as_ref())
            .is_some_and(|s| s.kind == StatementKind::HearingHeld)
    }
}

fn text_issue(issues: &mut Vec<Issue>, path: &str, text: &str, what: &str, required: bool) {
    let n = text.trim().chars().count();
    if required && n == 0 {
        issues.push(Issue::new(
            path,
            "STEP_TEXT_REQUIRED",
            format!("{what}不能为空"),
        ));
    } else if text.chars().count() > MAX_TEXT_CHARS {
        issues.push(Issue::new(
            path,
            "STEP_TEXT_TOO_LONG",
            format!("{what}过长（{n} 字，上限 {MAX_TEXT_CHARS} 字）"),
        ));
    }
}

fn check_issues(check: &DraftCheck, prefix: &str) -> Vec<Issue> {
    check
        .errors
        .iter()
        .map(|i| Issue {
            path: format!("{prefix}{}", i.path),
            ..i.clone()
        })
        .collect()
}

fn notes(issues: &[Issue]) -> Vec<CheckNote> {
    issues
        .iter()
        .map(|i| CheckNote {
            path: i.path.clone(),
            code: i.code.clone(),
            message: i.message.clone(),
        })
        .collect()
}

/// The case's state a decision depends on (from the store, or from the server's copy of the case).
#[derive(Debug, Clone, Default)]
pub struct DecisionContext {
    /// The latest notice of intended penalty, with its statement, if any.
    pub notice: Option<NoticeState>,
    /// Acts already fined by other decisions of this case.
    pub already_fined_acts: Vec<String>,
}

/// A notice and what came of it.
#[derive(Debug, Clone)]
pub struct NoticeState {
    pub notice: Notice,
    pub statement: Option<Statement>,
}

/// Check a penalty decision and build its body. Every problem is listed at once (code and
/// Chinese message with the field's path); nothing is decided when there is one.
pub fn penalty_decision(
    book: &RuleBook,
    roster: &[crate::model::OfficerCertificate],
    input: &PenaltyDecisionInput,
    ctx: &DecisionContext,
    reference: ReferenceId,
    decision_id: String,
    number: String,
) -> Result<PenaltyDecision> {
    let mut draft = input.draft.clone();
    for a in &ctx.already_fined_acts {
        if !draft.already_fined_acts.contains(a) {
            draft.already_fined_acts.push(a.clone());
        }
    }
    let check = book.check_draft(&draft, roster)?;
    let mut issues = check_issues(&check, "draft.");
    text_issue(
        &mut issues,
        "facts_text",
        &input.facts_text,
        "违法事实",
        true,
    );
    text_issue(
        &mut issues,
        "draft.justification",
        &draft.justification,
        "说理",
        false,
    );
    if draft.violations.is_empty() {
        issues.push(Issue::new(
            "draft.violations",
            "DECISION_NO_VIOLATION",
            "处罚决定至少要认定一项违法行为",
        ));
    }
    let penalises = draft
        .violations
        .iter()
        .any(|v| v.amount_yuan > 0 || v.warning);
    if !penalises && !draft.violations.is_empty() {
        issues.push(Issue::new(
            "draft.violations",
            "DECISION_NO_PENALTY_GIVEN",
            "处罚决定既无罚款也无警告；不予处罚的，应当作出不予行政处罚决定",
        ));
    }
    let mut notice_number = None;
    match draft.procedure {
        ProcedureKind::Summary => {
            if !input.rights_told {
                issues.push(Issue::new(
                    "rights_told",
                    "RIGHTS_NOT_TOLD",
                    "当场作出处罚决定前，应当告知当事人拟作出处罚的内容及事实、理由、依据，并告知其依法享有陈述、申辩的权利（处罚法第四十四条）",
                ));
            }
        }
        ProcedureKind::General => match &ctx.notice {
            None => issues.push(Issue::new(
                "procedure",
                "NOTICE_REQUIRED",
                "普通程序作出处罚决定前，应当先送达违法行为通知书，告知拟作出的处罚及陈述、申辩（和听证）的权利（处罚法第四十四条、第六十二条）",
            )),
            Some(n) => {
                notice_number = Some(n.notice.number.clone());
                let decided = check.guidance.decision_date;
                match &n.statement {
                    None if decided <= n.notice.reply_by => issues.push(Issue::new(
                        "procedure",
                        "STATEMENT_PERIOD_OPEN",
                        format!(
                            "违法行为通知书 {} 告知的陈述、申辩期限至 {} 止，期限届满或者记录当事人的陈述、申辩（或放弃）后方可作出决定",
                            n.notice.number, n.notice.reply_by
                        ),
                    )),
                    Some(s) if s.kind == StatementKind::HearingRequested => {
                        issues.push(Issue::new(
                            "procedure",
                            "HEARING_PENDING",
                            "当事人已要求听证，听证结束后方可作出决定（处罚法第六十四条、第六十五条）",
                        ))
                    }
                    _ => {}
                }
                if check.total_fine_yuan > n.notice.total_yuan {
                    issues.push(Issue::new(
                        "draft.violations",
                        "DECISION_ABOVE_NOTICE",
                        format!(
                            "决定罚款 {} 元高于违法行为通知书告知的 {} 元；加重处罚须重新告知（处罚法第四十五条：不得因当事人陈述、申辩而给予更重的处罚）",
                            check.total_fine_yuan, n.notice.total_yuan
                        ),
                    ));
                }
            }
        },
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    let g = &check.guidance;
    let outside: Vec<usize> = check
        .warnings
        .iter()
        .filter(|w| w.code == "AMOUNT_OUTSIDE_RANGE")
        .filter_map(|w| violation_index(&w.path))
        .collect();
    let violations = decided_violations(&draft, g, &outside);
    let reasoning = decided_reasoning(g, &violations, check.total_fine_yuan, "决定给予");
    Ok(PenaltyDecision {
        decision_id,
        number,
        decided_on: crate::day::format_day(g.decision_date),
        procedure: draft.procedure,
        party: input.party.clone(),
        facts_text: input.facts_text.clone(),
        facts: draft.facts.clone(),
        deviates: violations.iter().any(|v| v.outside_band),
        violations,
        total_yuan: check.total_fine_yuan,
        justification: draft.justification.clone(),
        reasoning,
        officers: draft.officers.clone(),
        discovered_on: draft.discovered_on.clone(),
        collect_on_the_spot: draft.collect_on_the_spot,
        hard_to_collect_later: draft.hard_to_collect_later,
        rights_told: input.rights_told,
        notice_number,
        warnings: notes(&check.warnings),
        reference,
        review: None,
    })
}

/// Each violation of a draft with what the benchmark said for it (`outside`: the indices whose
/// amount is outside the band).
fn decided_violations(
    draft: &PenaltyDraft,
    guidance: &crate::rules::guidance::Guidance,
    outside: &[usize],
) -> Vec<DecidedViolation> {
    draft
        .violations
        .iter()
        .zip(&guidance.violations)
        .enumerate()
        .map(|(i, (v, gv))| DecidedViolation {
            code: v.code.clone(),
            name: gv.name.clone(),
            violated: gv.violated.clone(),
            basis: gv.basis.clone(),
            legal_min_yuan: gv.legal_min_yuan,
            legal_max_yuan: gv.legal_max_yuan,
            tier: gv.tier.map(|t| t.as_str().to_string()),
            tier_criteria: gv.tier_criteria.clone(),
            band_min_yuan: gv.min_yuan,
            band_max_yuan: gv.max_yuan,
            recommended_yuan: gv.recommended_yuan,
            recommended_warning: gv.recommended_warning,
            act_id: v.act_id.clone(),
            warning: v.warning,
            amount_yuan: v.amount_yuan,
            outside_band: outside.contains(&i),
            measures: applied_measures(gv, MeasureKind::Order),
            other_penalties: applied_measures(gv, MeasureKind::Penalty),
        })
        .collect()
}

/// The 说理 of a decision ("决定给予") or a notice ("拟给予"): for each violation the guidance's legal reasons (the provisions violated
/// and applied, the law chosen, the tier, the formula, the circumstances, the measures), then what
/// was decided — never the benchmark's recommendation, which is for the officer.
fn decided_reasoning(
    guidance: &crate::rules::guidance::Guidance,
    decided: &[DecidedViolation],
    total_yuan: i64,
    verb: &str,
) -> String {
    use crate::rules::guidance::yuan;
    let mut out: Vec<String> = Vec::new();
    for (gv, dv) in guidance.violations.iter().zip(decided) {
        let mut s = gv.reasons.concat();
        let what = match (dv.warning, dv.amount_yuan > 0) {
            (true, true) => format!("警告，并处罚款人民币{}元", yuan(dv.amount_yuan)),
            (true, false) => "警告".to_string(),
            (false, true) => format!("罚款人民币{}元", yuan(dv.amount_yuan)),
            (false, false) => String::new(),
        };
        if !what.is_empty() {
            s.push_str(&format!("综合考虑上述事实、情节和危害后果，{verb}{what}。"));
        }
        if dv.outside_band {
            if let (Some(min), Some(max)) = (dv.band_min_yuan, dv.band_max_yuan) {
                s.push_str(&format!(
                    "该罚款数额不在裁量基准 {} 元至 {} 元的幅度内，理由见裁量理由。",
                    yuan(min),
                    yuan(max)
                ));
            }
        }
        out.push(s);
    }
    if decided.len() > 1 {
        out.push(format!("以上合计罚款人民币{}元。", yuan(total_yuan)));
    }
    out.join("\n")
}

/// The texts of the measures of `kind` that apply on the decision's facts.
fn applied_measures(
    gv: &crate::rules::guidance::ViolationGuidance,
    kind: MeasureKind,
) -> Vec<String> {
    gv.measures
        .iter()
        .filter(|m| m.applies && m.kind == kind)
        .map(|m| m.text())
        .collect()
}

/// `violations[3].amount_yuan` → 3.
fn violation_index(path: &str) -> Option<usize> {
    let rest = path.strip_prefix("violations[")?;
    rest.split(']').next()?.parse().ok()
}

/// Re-check a signed decision against the rule book and roster (the server on push): the draft
/// it records must pass the check, and what it says the benchmark recommended must be what the
/// benchmark says. Returns every problem.
pub fn recheck_penalty_decision(
    book: &RuleBook,
    roster: &[crate::model::OfficerCertificate],
    d: &PenaltyDecision,
) -> Vec<Issue> {
    let check = match book.check_draft(&d.draft(), roster) {
        Ok(c) => c,
        Err(e) => return e.into_issues(),
    };
    let mut issues = check.errors.clone();
    if check.total_fine_yuan != d.total_yuan {
        issues.push(Issue::new(
            "total_yuan",
            "DECISION_TOTAL_MISMATCH",
            format!(
                "决定记载的罚款合计 {} 元与各项罚款之和 {} 元不符",
                d.total_yuan, check.total_fine_yuan
            ),
        ));
    }
    for (i, (v, gv)) in d
        .violations
        .iter()
        .zip(&check.guidance.violations)
        .enumerate()
    {
        let tier = gv.tier.map(|t| t.as_str().to_string());
        if v.recommended_yuan != gv.recommended_yuan
            || v.band_min_yuan != gv.min_yuan
            || v.band_max_yuan != gv.max_yuan
            || v.tier != tier
        {
            issues.push(Issue::new(
                format!("violations[{i}]"),
                "DECISION_GUIDANCE_MISMATCH",
                format!(
                    "决定记载的裁量档次或建议罚款与裁量基准（{}）的结果不符",
                    v.code
                ),
            ));
        }
    }
    issues
}

// ---------------------------------------------------------------------------------------------
// Legal review (法制审核, 处罚法 58)

/// The body of a `review.request` entry: the general-procedure decision the officers propose,
/// checked as a decision would be (without its number), and why it needs review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub request_id: String,
    /// The proposed decision (拟作出的行政处罚决定): `decision_id` and `number` are empty.
    pub proposal: PenaltyDecision,
    /// The catalogue items that require the review, each with its article.
    pub reasons: Vec<String>,
    /// The party's hearing on the notice was held (a reason for review by itself).
    pub hearing_held: bool,
}

/// The legal reviewer's conclusion (审核意见).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum ReviewVerdict {
    /// 同意: the decision may be made as proposed.
    Agree,
    /// 补充调查: facts or evidence are to be completed first.
    Investigate,
    /// 不同意: the proposal is not to be decided.
    Disagree,
}

impl ReviewVerdict {
    pub fn label(self) -> &'static str {
        match self {
            ReviewVerdict::Agree => "同意",
            ReviewVerdict::Investigate => "补充调查",
            ReviewVerdict::Disagree => "不同意",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewVerdict::Agree => "agree",
            ReviewVerdict::Investigate => "investigate",
            ReviewVerdict::Disagree => "disagree",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Agree, Self::Investigate, Self::Disagree]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// The body of a `review.opinion` entry, signed with the agency's key by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct ReviewOpinion {
    /// Lowercase hex SHA-256 of the `review.request` entry reviewed.
    pub request: String,
    pub request_id: String,
    pub verdict: ReviewVerdict,
    /// 审核意见: the reasons, required for every verdict.
    pub reasons: String,
    /// The reviewer as the roster names them, and their sign-in.
    pub reviewer: String,
    pub reviewer_login: String,
}

/// Which review a decision was made after: the request and the opinion, by entry hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct ReviewRef {
    pub request: String,
    pub opinion: String,
}

/// A review as the decision check sees it: the latest request of the case and, once it has
/// arrived, its opinion.
#[derive(Debug, Clone)]
pub struct ReviewState {
    pub request_hash: String,
    pub request: ReviewRequest,
    pub opinion: Option<(String, ReviewOpinion)>,
}

/// What a reviewed proposal fixes: each violation's amounts and penalties, the total, the
/// procedure and the party. A decision that differs needs a new review.
fn review_differences(proposal: &PenaltyDecision, d: &PenaltyDecision) -> Vec<String> {
    let mut diff = Vec::new();
    if proposal.procedure != d.procedure {
        diff.push("程序".to_string());
    }
    if proposal.party != d.party {
        diff.push("当事人".to_string());
    }
    if proposal.total_yuan != d.total_yuan {
        diff.push(format!(
            "罚款合计（审核时 {} 元，现为 {} 元）",
            proposal.total_yuan, d.total_yuan
        ));
    }
    let key = |v: &DecidedViolation| {
        (
            v.code.clone(),
            v.act_id.clone(),
            v.warning,
            v.amount_yuan,
            v.other_penalties.clone(),
            v.measures.clone(),
        )
    };
    let a: Vec<_> = proposal.violations.iter().map(key).collect();
    let b: Vec<_> = d.violations.iter().map(key).collect();
    if a != b {
        diff.push("认定的违法行为、罚款或其他处罚".to_string());
    }
    diff
}

/// The legal-review issues of a general-procedure penalty decision (处罚法 58: "未经法制审核或者
/// 审核未通过的，不得作出决定"): when `need` requires review, the case's latest request must have
/// an opinion of 同意 and the decision must be the one reviewed; `d.review` must name them. A
/// decision that needs no review must not name one it does not have. Used by the device before it
/// records the decision and by the server on push.
pub fn review_issues(
    d: &PenaltyDecision,
    need: &crate::rules::ReviewNeed,
    review: Option<&ReviewState>,
) -> Vec<Issue> {
    let mut issues = Vec::new();
    let named = d.review.as_ref();
    if !need.required || d.procedure != ProcedureKind::General {
        if let (Some(r), Some(state)) = (named, review) {
            if state.opinion.as_ref().map(|(h, _)| h) != Some(&r.opinion) {
                issues.push(Issue::new(
                    "review",
                    "LEGAL_REVIEW_UNKNOWN",
                    "决定引用的法制审核意见不是本案的法制审核意见",
                ));
            }
        }
        return issues;
    }
    let why = need
        .matches
        .iter()
        .map(|m| format!("{}（{}）", m.situation, m.basis))
        .collect::<Vec<_>>()
        .join("；");
    let Some(state) = review else {
        issues.push(Issue::new(
            "review",
            "LEGAL_REVIEW_REQUIRED",
            format!(
                "本决定须经法制审核后方可作出（{why}）：请先提请法制审核，审核意见同步到本机后再作出决定（处罚法第五十八条）"
            ),
        ));
        return issues;
    };
    let Some((opinion_hash, opinion)) = &state.opinion else {
        issues.push(Issue::new(
            "review",
            "LEGAL_REVIEW_PENDING",
            "已提请法制审核，尚未收到审核意见：审核意见同步到本机后方可作出决定（处罚法第五十八条）",
        ));
        return issues;
    };
    if opinion.verdict != ReviewVerdict::Agree {
        issues.push(Issue::new(
            "review",
            "LEGAL_REVIEW_NOT_AGREED",
            format!(
                "法制审核意见为“{}”（{}）：审核未通过的，不得作出决定（处罚法第五十八条）；补充调查或修改后请重新提请审核",
                opinion.verdict.label(),
                opinion.reasons
            ),
        ));
        return issues;
    }
    let diff = review_differences(&state.request.proposal, d);
    if !diff.is_empty() {
        issues.push(Issue::new(
            "review",
            "LEGAL_REVIEW_MISMATCH",
            format!(
                "拟作出的决定与经法制审核的内容不一致（{}）：请就修改后的决定重新提请法制审核",
                diff.join("、")
            ),
        ));
        return issues;
    }
    match named {
        Some(r) if r.request == state.request_hash && &r.opinion == opinion_hash => {}
        _ => issues.push(Issue::new(
            "review",
            "LEGAL_REVIEW_UNKNOWN",
            "决定没有引用本案的法制审核请求和审核意见",
        )),
    }
    issues
}

// ---------------------------------------------------------------------------------------------
// No-penalty decision

/// The officer's answer to one condition of the exemption item, in the item's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct ConditionAnswer {
    pub holds: bool,
    /// How it was established (e.g. "经系统查询，当事人一年内无同类违法记录").
    #[serde(default)]
    pub how: String,
}

/// A no-penalty decision (不予行政处罚决定) as the officer makes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct NoPenaltyInput {
    /// The violation's benchmark code.
    pub violation: String,
    pub facts: Facts,
    pub party: Party,
    pub facts_text: String,
    pub answers: Vec<ConditionAnswer>,
    /// The education given (处罚法 33: 对当事人进行教育).
    pub education: String,
    /// The party signed the 轻微违法行为告知承诺书 (where the list asks for one).
    #[serde(default)]
    pub commitment_signed: bool,
    pub officers: Vec<DraftOfficer>,
}

/// One condition of the exemption item and the answer given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct AnsweredCondition {
    pub text: String,
    pub holds: bool,
    pub how: String,
}

/// The body of a `decision.no_penalty` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct NoPenaltyDecision {
    pub decision_id: String,
    pub number: String,
    pub decided_on: String,
    pub violation: String,
    pub violation_name: String,
    pub violated: String,
    pub party: Party,
    pub facts_text: String,
    pub facts: Facts,
    pub exemption_code: String,
    /// `must_not_penalise` or `may_not_penalise`.
    pub outcome: String,
    pub exemption_basis: String,
    pub conditions: Vec<AnsweredCondition>,
    pub education: String,
    pub commitment_required: bool,
    pub commitment_signed: bool,
    pub officers: Vec<DraftOfficer>,
    pub reference: ReferenceId,
}

/// Check a no-penalty decision and build its body.
pub fn no_penalty_decision(
    book: &RuleBook,
    roster: &[crate::model::OfficerCertificate],
    input: &NoPenaltyInput,
    reference: ReferenceId,
    decision_id: String,
    number: String,
) -> Result<NoPenaltyDecision> {
    // The draft check with no penalty gives the officer, limitation and exemption checks.
    let draft = PenaltyDraft {
        facts: input.facts.clone(),
        violations: vec![crate::rules::check::DraftViolation {
            code: input.violation.clone(),
            act_id: None,
            warning: false,
            amount_yuan: 0,
        }],
        procedure: ProcedureKind::Summary,
        justification: String::new(),
        officers: input.officers.clone(),
        discovered_on: None,
        already_fined_acts: Vec::new(),
        collect_on_the_spot: false,
        hard_to_collect_later: false,
    };
    let check = book.check_draft(&draft, roster)?;
    let mut issues: Vec<Issue> = check
        .errors
        .iter()
        .filter(|i| i.path == "officers" || i.path.starts_with("officers["))
        .map(|i| Issue {
            path: i.path.clone(),
            ..i.clone()
        })
        .collect();
    text_issue(
        &mut issues,
        "facts_text",
        &input.facts_text,
        "违法事实",
        true,
    );
    text_issue(&mut issues, "education", &input.education, "教育内容", true);
    let g = &check.guidance;
    let Some(gv) = g.violations.first() else {
        return Err(RoadsideError::invalid_field(
            "violation",
            "DECISION_NO_VIOLATION",
            "不予处罚决定必须认定一项违法行为",
        ));
    };
    let date = g.decision_date;
    let law_forbids = gv.exemption.status == ExemptionStatus::MustNotPenalise;
    let item = book
        .exemptions_on(&input.violation, date)
        .into_iter()
        .find(|e| Some(&e.code) == gv.exemption.code.as_ref());
    let (exemption_code, outcome, basis, conditions_text, documents) = match (&item, law_forbids) {
        (Some(e), _) => (
            e.code.clone(),
            e.outcome,
            e.basis.clone(),
            e.conditions.iter().map(|c| c.text.clone()).collect(),
            e.documents.clone(),
        ),
        (None, true) => (
            String::new(),
            ExemptionOutcome::MustNotPenalise,
            gv.exemption.basis.clone(),
            Vec::new(),
            Vec::new(),
        ),
        (None, false) => {
            issues.push(Issue::new(
                "violation",
                "EXEMPTION_NOT_LISTED",
                format!(
                    "违法行为 {}（{}）不在轻微违法行为免予处罚清单内，不能作出不予处罚决定",
                    input.violation, gv.name
                ),
            ));
            return Err(RoadsideError::invalid(issues));
        }
    };
    if !law_forbids {
        match gv.exemption.status {
            ExemptionStatus::NotEligible => issues.push(Issue::new(
                "facts",
                "EXEMPTION_CONDITIONS_UNMET",
                format!(
                    "不符合免罚清单 {exemption_code} 的条件：{}",
                    gv.exemption.unmet.join("；")
                ),
            )),
            ExemptionStatus::NeedsOnlineCheck if !input.facts.first_offence_checked_online => {
                issues.push(Issue::new(
                    "facts.first_offence_checked_online",
                    "EXEMPTION_NEEDS_ONLINE_CHECK",
                    format!(
                        "免罚清单 {exemption_code} 要求首次违法，须先联网核实：{}",
                        gv.exemption.pending.join("；")
                    ),
                ))
            }
            _ => {}
        }
    }
    if input.answers.len() != conditions_text.len() {
        issues.push(Issue::new(
            "answers",
            "EXEMPTION_ANSWERS_COUNT",
            format!(
                "免罚清单 {exemption_code} 有 {} 项条件，逐项回答了 {} 项",
                conditions_text.len(),
                input.answers.len()
            ),
        ));
    }
    for (i, (a, text)) in input.answers.iter().zip(&conditions_text).enumerate() {
        if !a.holds {
            issues.push(Issue::new(
                format!("answers[{i}]"),
                "EXEMPTION_CONDITION_NOT_MET",
                format!("条件“{text}”不成立，不能依清单不予处罚"),
            ));
        }
        text_issue(
            &mut issues,
            &format!("answers[{i}].how"),
            &a.how,
            "条件认定依据",
            false,
        );
    }
    let commitment_required = documents.iter().any(|d| d.contains("承诺"));
    if commitment_required && !input.commitment_signed {
        issues.push(Issue::new(
            "commitment_signed",
            "COMMITMENT_REQUIRED",
            format!("免罚清单 {exemption_code} 要求当事人签署轻微违法行为告知承诺书"),
        ));
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    Ok(NoPenaltyDecision {
        decision_id,
        number,
        decided_on: crate::day::format_day(date),
        violation: input.violation.clone(),
        violation_name: gv.name.clone(),
        violated: gv.violated.clone(),
        party: input.party.clone(),
        facts_text: input.facts_text.clone(),
        facts: input.facts.clone(),
        exemption_code,
        outcome: match outcome {
            ExemptionOutcome::MustNotPenalise => "must_not_penalise",
            ExemptionOutcome::MayNotPenalise => "may_not_penalise",
        }
        .to_string(),
        exemption_basis: basis,
        conditions: input
            .answers
            .iter()
            .zip(conditions_text)
            .map(|(a, text)| AnsweredCondition {
                text,
                holds: a.holds,
                how: a.how.clone(),
            })
            .collect(),
        education: input.education.clone(),
        commitment_required,
        commitment_signed: input.commitment_signed,
        officers: input.officers.clone(),
        reference,
    })
}

// ---------------------------------------------------------------------------------------------
// Notice of intended penalty and the party's statement

/// The notice of intended penalty (违法行为通知书) as the officer issues it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    /// The intended penalty, checked like a decision (general procedure).
    pub draft: PenaltyDraft,
    pub party: Party,
    pub facts_text: String,
}

/// The body of a `notice.issue` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct Notice {
    pub notice_id: String,
    pub number: String,
    pub issued_on: String,
    pub party: Party,
    pub facts_text: String,
    pub facts: Facts,
    pub violations: Vec<DecidedViolation>,
    pub total_yuan: i64,
    pub reasoning: String,
    /// The party may state and defend (always).
    pub statement_right: bool,
    /// A hearing must be offered (处罚法 63).
    pub hearing_right: bool,
    pub hearing_reason: String,
    /// Working days the party has to reply or ask for a hearing, and the last day.
    pub reply_days: u32,
    #[serde(with = "crate::day::serde_day")]
    pub reply_by: NaiveDate,
    pub reply_basis: String,
    pub officers: Vec<DraftOfficer>,
    pub reference: ReferenceId,
}

/// Check a notice and build its body: the intended penalty must pass the draft check, and the
/// hearing right is offered exactly when the law requires it.
pub fn notice(
    book: &RuleBook,
    roster: &[crate::model::OfficerCertificate],
    input: &NoticeInput,
    reference: ReferenceId,
    notice_id: String,
    number: String,
) -> Result<Notice> {
    let mut draft = input.draft.clone();
    draft.procedure = ProcedureKind::General;
    let check = book.check_draft(&draft, roster)?;
    let mut issues = check_issues(&check, "draft.");
    text_issue(
        &mut issues,
        "facts_text",
        &input.facts_text,
        "违法事实",
        true,
    );
    let g = &check.guidance;
    let rule = book.deadline("hearing_request", &crate::day::format_day(g.decision_date));
    let due = match rule {
        Ok(d) => Some(d),
        Err(e) => {
            issues.push(Issue::new(
                "draft.facts.decision_date",
                e.code(),
                e.message(),
            ));
            None
        }
    };
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    let Some(due) = due else {
        return Err(RoadsideError::invalid(issues));
    };
    let hearing = &g.procedure;
    let violations = decided_violations(&draft, g, &[]);
    Ok(Notice {
        notice_id,
        number,
        issued_on: crate::day::format_day(g.decision_date),
        party: input.party.clone(),
        facts_text: input.facts_text.clone(),
        facts: draft.facts.clone(),
        reasoning: decided_reasoning(g, &violations, check.total_fine_yuan, "拟给予"),
        violations,
        total_yuan: check.total_fine_yuan,
        statement_right: true,
        hearing_right: hearing.hearing_required,
        hearing_reason: hearing.hearing_reason.clone(),
        reply_days: due.days,
        reply_by: due.due,
        reply_basis: due.basis.clone(),
        officers: draft.officers.clone(),
        reference,
    })
}

/// What the party did with the notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// Stated and defended (陈述、申辩).
    Made,
    /// Gave up the right (放弃陈述、申辩).
    Waived,
    /// Asked for a hearing (要求听证); the decision waits for it.
    HearingRequested,
    /// The hearing was held; `text` records its conclusion.
    HearingHeld,
}

/// The party's statement, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct StatementInput {
    pub notice_number: String,
    pub kind: StatementKind,
    /// The statement, or the hearing's conclusion.
    #[serde(default)]
    pub text: String,
    /// The agency adopted the party's case (采纳).
    #[serde(default)]
    pub adopted: bool,
    /// Why it was or was not adopted (复核意见).
    #[serde(default)]
    pub reasons: String,
    /// The day of the statement, `YYYY-MM-DD`.
    pub on: String,
}

/// The body of a `statement.record` entry.
pub type Statement = StatementInput;

/// Check a statement against the notice it answers.
pub fn statement(input: &StatementInput, notice: &Notice) -> Result<Statement> {
    let mut issues = Vec::new();
    if input.notice_number != notice.number {
        issues.push(Issue::new(
            "notice_number",
            "NOTICE_NOT_FOUND",
            format!("本案没有编号为 {} 的违法行为通知书", input.notice_number),
        ));
    }
    let on = crate::day::parse_day(&input.on);
    match on {
        None => issues.push(Issue::new(
            "on",
            "DAY_FORMAT",
            format!("日期 “{}” 格式应为 YYYY-MM-DD", input.on),
        )),
        Some(d) if crate::day::parse_day(&notice.issued_on).is_some_and(|i| d < i) => issues.push(
            Issue::new("on", "DATE_ORDER", "陈述、申辩日期早于违法行为通知书的日期"),
        ),
        _ => {}
    }
    match input.kind {
        StatementKind::Made | StatementKind::HearingHeld => {
            text_issue(&mut issues, "text", &input.text, "陈述、申辩内容", true);
            text_issue(
                &mut issues,
                "reasons",
                &input.reasons,
                "复核意见（是否采纳的理由）",
                true,
            );
        }
        StatementKind::Waived => {}
        StatementKind::HearingRequested => {
            if !notice.hearing_right {
                issues.push(Issue::new(
                    "kind",
                    "HEARING_NOT_OFFERED",
                    "本案拟作出的处罚不属于应当告知听证权利的情形（处罚法第六十三条）；当事人的要求应当作为陈述、申辩记录",
                ));
            }
        }
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    Ok(input.clone())
}

// ---------------------------------------------------------------------------------------------
// Coercive measures

/// One item on a seizure / seal list (清单).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct MeasureItem {
    pub name: String,
    #[serde(default)]
    pub spec: String,
    pub quantity: String,
    #[serde(default)]
    pub note: String,
}

/// A coercive measure (行政强制措施决定) as the officer takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct MeasureInput {
    pub kind: CoerciveMeasureKind,
    pub party: Party,
    pub reason: String,
    /// The provision the measure is taken under, e.g. "《中华人民共和国公路法》第八十五条".
    pub basis: String,
    pub items: Vec<MeasureItem>,
    /// First day, `YYYY-MM-DD`.
    pub starts_on: String,
    pub days: u32,
    /// Where the items are kept.
    #[serde(default)]
    pub storage_place: String,
    /// Taken on the spot in an emergency: reported to the head within 24 hours (行政强制法 19).
    #[serde(default)]
    pub urgent: bool,
    /// Who approved it (the head of the agency), or to whom it was reported when urgent.
    pub approver: String,
    pub officers: Vec<DraftOfficer>,
}

/// The body of a `measure.apply` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub measure_id: String,
    pub number: String,
    pub input: MeasureInput,
    #[serde(with = "crate::day::serde_day")]
    pub ends_on: NaiveDate,
}

/// Check a measure and build its body.
pub fn measure(
    roster: &[crate::model::OfficerCertificate],
    input: &MeasureInput,
    measure_id: String,
    number: String,
) -> Result<Measure> {
    let mut issues = Vec::new();
    text_issue(
        &mut issues,
        "reason",
        &input.reason,
        "采取强制措施的理由",
        true,
    );
    text_issue(
        &mut issues,
        "basis",
        &input.basis,
        "采取强制措施的依据",
        true,
    );
    text_issue(&mut issues, "approver", &input.approver, "批准人", true);
    let starts = crate::day::parse_day(&input.starts_on);
    if starts.is_none() {
        issues.push(Issue::new(
            "starts_on",
            "DAY_FORMAT",
            format!("日期 “{}” 格式应为 YYYY-MM-DD", input.starts_on),
        ));
    }
    if input.days == 0 || input.days > MAX_MEASURE_DAYS {
        issues.push(Issue::new(
            "days",
            "MEASURE_TOO_LONG",
            format!(
                "查封、扣押的期限不得超过 {MAX_MEASURE_DAYS} 日（行政强制法第二十五条），填写的是 {} 日",
                input.days
            ),
        ));
    }
    if matches!(
        input.kind,
        CoerciveMeasureKind::Seal | CoerciveMeasureKind::Seizure
    ) && input.items.is_empty()
    {
        issues.push(Issue::new(
            "items",
            "MEASURE_ITEMS_REQUIRED",
            "查封、扣押应当当场交付决定书和清单，清单至少列明一项物品（行政强制法第二十四条）",
        ));
    }
    list_issues(&mut issues, &input.items, "物品");
    officer_issues(&mut issues, roster, &input.officers, starts);
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    let Some(starts) = starts else {
        return Err(RoadsideError::invalid(issues));
    };
    Ok(Measure {
        measure_id,
        number,
        input: input.clone(),
        ends_on: starts + chrono::Days::new(u64::from(input.days) - 1),
    })
}

/// The items of a seizure list or an evidence list: at most [`MAX_MEASURE_ITEMS`], each with a
/// name and a quantity (`what`: 物品 / 证据).
fn list_issues(issues: &mut Vec<Issue>, items: &[MeasureItem], what: &str) {
    if items.len() > MAX_MEASURE_ITEMS {
        issues.push(Issue::new(
            "items",
            "MEASURE_ITEMS_TOO_MANY",
            format!("清单最多 {MAX_MEASURE_ITEMS} 项"),
        ));
    }
    for (i, it) in items.iter().enumerate() {
        let name = format!("{what}名称");
        let quantity = format!("{what}数量");
        text_issue(issues, &format!("items[{i}].name"), &it.name, &name, true);
        text_issue(
            issues,
            &format!("items[{i}].quantity"),
            &it.quantity,
            &quantity,
            true,
        );
    }
}

/// Officers acting on `day` (at least two, each eligible), as the draft check counts them.
fn officer_issues(
    issues: &mut Vec<Issue>,
    roster: &[crate::model::OfficerCertificate],
    officers: &[DraftOfficer],
    day: Option<NaiveDate>,
) {
    let Some(day) = day else { return };
    let mut ok: Vec<&str> = Vec::new();
    for (i, o) in officers.iter().enumerate() {
        let no = o.certificate_no.trim();
        if no.is_empty() || ok.contains(&no) {
            continue;
        }
        match crate::officer::eligibility(roster, no, day) {
            Ok(_) => ok.push(no),
            Err((entry, reasons)) => {
                let name = entry.map_or(o.name.as_str(), |e| e.name.as_str());
                for why in reasons {
                    issues.push(Issue::new(
                        format!("officers[{i}].certificate_no"),
                        why.code(),
                        why.message(no, name, day),
                    ));
                }
            }
        }
    }
    if ok.len() < crate::officer::MIN_OFFICERS {
        issues.push(Issue::new(
            "officers",
            "OFFICERS_TOO_FEW",
            format!(
                "执法人员不得少于两人且均须持有有效执法证（处罚法第四十二条、行政强制法第十八条），现有持证人员 {} 人",
                ok.len()
            ),
        ));
    }
}

/// An extension of a measure (延长行政强制措施期限).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct MeasureExtension {
    pub measure_number: String,
    pub days: u32,
    pub reason: String,
    pub approver: String,
}

/// Check an extension: once, by at most 30 days, with approval, before the measure ends.
pub fn measure_extension(
    ext: &MeasureExtension,
    measure: &Measure,
    already_extended: bool,
    today: NaiveDate,
) -> Result<MeasureExtension> {
    let mut issues = Vec::new();
    if already_extended {
        issues.push(Issue::new(
            "measure_number",
            "MEASURE_ALREADY_EXTENDED",
            "查封、扣押的期限只能延长一次（行政强制法第二十五条）",
        ));
    }
    if ext.days == 0 || ext.days > MAX_MEASURE_DAYS {
        issues.push(Issue::new(
            "days",
            "MEASURE_TOO_LONG",
            format!("延长期限不得超过 {MAX_MEASURE_DAYS} 日（行政强制法第二十五条）"),
        ));
    }
    if today > measure.ends_on {
        issues.push(Issue::new(
            "measure_number",
            "MEASURE_ENDED",
            format!("强制措施已于 {} 期满，不能再延长", measure.ends_on),
        ));
    }
    text_issue(&mut issues, "reason", &ext.reason, "延长理由", true);
    text_issue(&mut issues, "approver", &ext.approver, "批准人", true);
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    Ok(ext.clone())
}

/// A release of a measure (解除行政强制措施).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct MeasureRelease {
    pub measure_number: String,
    pub reason: String,
    /// The items were returned to (and received by) this person.
    pub returned_to: String,
}

// ---------------------------------------------------------------------------------------------
// Evidence preservation (先行登记保存)

/// Evidence registered and preserved in advance (先行登记保存, 处罚法 56) where it may be lost or
/// hard to obtain later: approved by the agency's head, decided on within seven (working) days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct PreservationInput {
    pub party: Party,
    /// Why the evidence may be lost or later hard to obtain.
    pub reason: String,
    pub items: Vec<MeasureItem>,
    /// Where the items are kept (保存地点), and by whom.
    pub storage_place: String,
    /// The day of the preservation, `YYYY-MM-DD`.
    pub on: String,
    /// The head of the agency who approved it (经行政机关负责人批准).
    pub approver: String,
    pub officers: Vec<DraftOfficer>,
}

/// The body of an `evidence.preserve` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct Preservation {
    pub preservation_id: String,
    pub number: String,
    pub input: PreservationInput,
    /// The last day to decide what becomes of the items (处罚法 56: within seven days).
    #[serde(with = "crate::day::serde_day")]
    pub decide_by: NaiveDate,
    pub decide_basis: String,
}

/// Check a preservation and build its body.
pub fn preservation(
    book: &RuleBook,
    roster: &[crate::model::OfficerCertificate],
    input: &PreservationInput,
    preservation_id: String,
    number: String,
) -> Result<Preservation> {
    let mut issues = Vec::new();
    text_issue(
        &mut issues,
        "reason",
        &input.reason,
        "先行登记保存的理由",
        true,
    );
    text_issue(
        &mut issues,
        "storage_place",
        &input.storage_place,
        "保存地点",
        true,
    );
    text_issue(
        &mut issues,
        "approver",
        &input.approver,
        "批准的行政机关负责人",
        true,
    );
    if input.items.is_empty() {
        issues.push(Issue::new(
            "items",
            "PRESERVATION_ITEMS_REQUIRED",
            "证据登记保存清单至少列明一项证据",
        ));
    }
    list_issues(&mut issues, &input.items, "证据");
    let on = crate::day::parse_day(&input.on);
    if on.is_none() {
        issues.push(Issue::new(
            "on",
            "DAY_FORMAT",
            format!("日期 “{}” 格式应为 YYYY-MM-DD", input.on),
        ));
    }
    officer_issues(&mut issues, roster, &input.officers, on);
    let due = match on {
        Some(d) => match book.deadline("preservation_decision", &crate::day::format_day(d)) {
            Ok(due) => Some(due),
            Err(e) => {
                issues.push(Issue::new("on", e.code(), e.message()));
                None
            }
        },
        None => None,
    };
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    let Some(due) = due else {
        return Err(RoadsideError::invalid(issues));
    };
    Ok(Preservation {
        preservation_id,
        number,
        input: input.clone(),
        decide_by: due.due,
        decide_basis: due.basis,
    })
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// How a document was served (送达方式).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMethod {
    /// 直接送达.
    Direct,
    /// 留置送达: the receiver refused; left at the place with a witness or an AV record.
    Left,
    /// 邮寄送达.
    Post,
    /// 电子送达, with the party's consent.
    Electronic,
}

impl DeliveryMethod {
    pub fn chinese(self) -> &'static str {
        match self {
            DeliveryMethod::Direct => "直接送达",
            DeliveryMethod::Left => "留置送达",
            DeliveryMethod::Post => "邮寄送达",
            DeliveryMethod::Electronic => "电子送达",
        }
    }
}

/// A delivery as recorded (送达回证).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct DeliveryInput {
    /// The 文书编号 of the document served.
    pub document_number: String,
    pub method: DeliveryMethod,
    /// When (RFC 3339).
    pub at: String,
    /// Where.
    #[serde(default)]
    pub place: String,
    pub receiver: String,
    /// 与当事人关系 (本人, 同住成年家属, 法定代表人…).
    pub receiver_relation: String,
    /// The receiver signed (on the 送达回证; the signature is in the document issued for it).
    #[serde(default)]
    pub signed: bool,
    /// Why the receiver refused to sign.
    #[serde(default)]
    pub refusal_reason: String,
    /// The witness to a refusal (name and unit).
    #[serde(default)]
    pub witness: String,
    /// The evidence (audio/video or photo) that records the refusal.
    #[serde(default)]
    pub evidence_id: Option<String>,
    /// Post: the tracking number.
    #[serde(default)]
    pub tracking_no: String,
    /// Electronic: the address the party agreed to, and the consent was recorded.
    #[serde(default)]
    pub electronic_address: String,
    #[serde(default)]
    pub electronic_consent: bool,
}

/// Check a delivery (the document and evidence references are checked by the store).
pub fn delivery(input: &DeliveryInput) -> Result<DeliveryInput> {
    let mut issues = Vec::new();
    if chrono::DateTime::parse_from_rfc3339(&input.at).is_err() {
        issues.push(Issue::new(
            "at",
            "TIME_FORMAT",
            format!(
                "送达时间 “{}” 应为带时区的 RFC 3339 时间，例如 2026-12-07T10:05:00+08:00",
                input.at
            ),
        ));
    }
    if input.method != DeliveryMethod::Post && input.method != DeliveryMethod::Electronic {
        text_issue(&mut issues, "receiver", &input.receiver, "受送达人", true);
        text_issue(
            &mut issues,
            "receiver_relation",
            &input.receiver_relation,
            "受送达人与当事人的关系",
            true,
        );
    }
    let refused = !input.refusal_reason.trim().is_empty();
    match input.method {
        DeliveryMethod::Direct => {
            if !input.signed && !refused {
                issues.push(Issue::new(
                    "signed",
                    "DELIVERY_SIGNATURE_OR_REFUSAL",
                    "直接送达应由受送达人在送达回证上签名；拒绝签收的，应当记明拒收事由，改为留置送达",
                ));
            }
            if refused {
                issues.push(Issue::new(
                    "method",
                    "DELIVERY_REFUSED_USE_LEFT",
                    "受送达人拒绝签收的，应当按留置送达记录（见证人或者音像记录）",
                ));
            }
        }
        DeliveryMethod::Left => {
            if !refused {
                issues.push(Issue::new(
                    "refusal_reason",
                    "DELIVERY_REFUSAL_REASON",
                    "留置送达应当记明拒收事由和日期",
                ));
            }
            if input.witness.trim().is_empty() && input.evidence_id.is_none() {
                issues.push(Issue::new(
                    "witness",
                    "DELIVERY_WITNESS_REQUIRED",
                    "留置送达应当由见证人签名，或者以拍照、录像等方式记录送达过程",
                ));
            }
        }
        DeliveryMethod::Post => {
            text_issue(
                &mut issues,
                "tracking_no",
                &input.tracking_no,
                "邮寄单号",
                true,
            );
        }
        DeliveryMethod::Electronic => {
            text_issue(
                &mut issues,
                "electronic_address",
                &input.electronic_address,
                "电子送达地址",
                true,
            );
            if !input.electronic_consent {
                issues.push(Issue::new(
                    "electronic_consent",
                    "DELIVERY_CONSENT_REQUIRED",
                    "电子送达须经受送达人同意并签订确认书（处罚法第六十一条）",
                ));
            }
        }
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    Ok(input.clone())
}

// ---------------------------------------------------------------------------------------------
// Payment

/// How a fine was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// At the designated bank (到指定银行缴纳).
    Bank,
    /// Through electronic payment (电子支付系统).
    Electronic,
    /// Collected on the spot by the officers (当场收缴, 处罚法 68–69), with the province's receipt.
    OnTheSpot,
}

/// A payment as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    pub decision_number: String,
    pub method: PaymentMethod,
    /// The bank or payment reference, or the number of the receipt (专用票据) on the spot.
    pub reference: String,
    pub amount_yuan: i64,
    /// 加处罚款 for late payment included in `amount_yuan`.
    #[serde(default)]
    pub late_fee_yuan: i64,
    pub paid_on: String,
}

/// Check a payment against the decision it pays.
pub fn payment(
    book: &RuleBook,
    input: &PaymentInput,
    decision: &PenaltyDecision,
    already_paid_yuan: i64,
) -> Result<PaymentInput> {
    let mut issues = Vec::new();
    text_issue(
        &mut issues,
        "reference",
        &input.reference,
        "缴款凭证号",
        true,
    );
    if crate::day::parse_day(&input.paid_on).is_none() {
        issues.push(Issue::new(
            "paid_on",
            "DAY_FORMAT",
            format!("日期 “{}” 格式应为 YYYY-MM-DD", input.paid_on),
        ));
    }
    if input.amount_yuan <= 0 {
        issues.push(Issue::new(
            "amount_yuan",
            "PAYMENT_AMOUNT",
            "缴款金额必须大于零",
        ));
    }
    if input.late_fee_yuan < 0 || input.late_fee_yuan > decision.total_yuan {
        issues.push(Issue::new(
            "late_fee_yuan",
            "LATE_FEE_ABOVE_FINE",
            format!(
                "加处罚款的数额不得超出罚款数额 {} 元（处罚法第七十二条）",
                decision.total_yuan
            ),
        ));
    }
    let owed = decision.total_yuan - already_paid_yuan;
    if input.amount_yuan - input.late_fee_yuan > owed {
        issues.push(Issue::new(
            "amount_yuan",
            "PAYMENT_ABOVE_FINE",
            format!(
                "缴款 {} 元（不含加处罚款 {} 元）超过尚欠罚款 {owed} 元",
                input.amount_yuan, input.late_fee_yuan
            ),
        ));
    }
    if input.method == PaymentMethod::OnTheSpot {
        let pol = book.policy();
        if decision.procedure != ProcedureKind::Summary {
            issues.push(Issue::new(
                "method",
                "COLLECTION_NOT_ALLOWED",
                "当场收缴罚款仅适用于当场作出的行政处罚决定（处罚法第六十八条）",
            ));
        } else if decision.total_yuan > pol.on_the_spot_collection_max_yuan
            && !decision.hard_to_collect_later
        {
            issues.push(Issue::new(
                "method",
                "COLLECTION_NOT_ALLOWED",
                format!(
                    "当场收缴限于 {} 元以下罚款或者不当场收缴事后难以执行的情形（{}）",
                    pol.on_the_spot_collection_max_yuan, pol.on_the_spot_collection.basis
                ),
            ));
        }
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    Ok(input.clone())
}

// ---------------------------------------------------------------------------------------------
// Closing

/// Why a case is closed (结案).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The decision was executed (fine paid, or a warning served).
    Executed,
    /// Not penalised (不予行政处罚), decision served.
    Exempted,
    /// Withdrawn (撤销立案): no violation, or it cannot be established.
    Withdrawn,
    /// Transferred to another authority (移送).
    Transferred,
}

/// Closing a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct CloseInput {
    pub reason: CloseReason,
    /// Required for withdrawn and transferred (to whom and why).
    #[serde(default)]
    pub note: String,
}

/// What the case holds, for the closing check.
#[derive(Debug, Clone, Default)]
pub struct CaseSteps {
    pub penalty: Option<PenaltyDecision>,
    pub no_penalty: Option<NoPenaltyDecision>,
    /// Numbers of the documents served.
    pub delivered: Vec<String>,
    pub paid_yuan: i64,
    /// Measures still in force (numbers).
    pub open_measures: Vec<String>,
}

/// Check that a case may be closed for `input.reason`.
pub fn close(input: &CloseInput, steps: &CaseSteps) -> Result<CloseInput> {
    let mut issues = Vec::new();
    let note_required = matches!(
        input.reason,
        CloseReason::Withdrawn | CloseReason::Transferred
    );
    text_issue(&mut issues, "note", &input.note, "结案说明", note_required);
    match input.reason {
        CloseReason::Executed => match &steps.penalty {
            None => issues.push(Issue::new(
                "reason",
                "CLOSE_NO_DECISION",
                "本案没有行政处罚决定，不能以执行完毕结案",
            )),
            Some(d) => {
                if !steps.delivered.contains(&d.number) {
                    issues.push(Issue::new(
                        "reason",
                        "CLOSE_NOT_DELIVERED",
                        format!("处罚决定书 {} 尚未送达", d.number),
                    ));
                }
                if steps.paid_yuan < d.total_yuan {
                    issues.push(Issue::new(
                        "reason",
                        "CLOSE_NOT_PAID",
                        format!(
                            "罚款 {} 元尚未缴清（已缴 {} 元）",
                            d.total_yuan, steps.paid_yuan
                        ),
                    ));
                }
            }
        },
        CloseReason::Exempted => match &steps.no_penalty {
            None => issues.push(Issue::new(
                "reason",
                "CLOSE_NO_DECISION",
                "本案没有不予行政处罚决定，不能以不予处罚结案",
            )),
            Some(d) if !steps.delivered.contains(&d.number) => issues.push(Issue::new(
                "reason",
                "CLOSE_NOT_DELIVERED",
                format!("不予行政处罚决定书 {} 尚未送达", d.number),
            )),
            Some(_) => {}
        },
        CloseReason::Withdrawn | CloseReason::Transferred => {}
    }
    for m in &steps.open_measures {
        issues.push(Issue::new(
            "reason",
            "CLOSE_MEASURE_OPEN",
            format!("强制措施 {m} 尚未解除，结案前应当解除或者依法处理"),
        ));
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    Ok(input.clone())
}

// ---------------------------------------------------------------------------------------------
// Documents and their numbers

/// The documents (文书) a case produces on the device, after 《交通运输行政执法文书式样》.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum DocType {
    /// 现场笔录.
    SiteRecord,
    /// 勘验笔录.
    InspectionRecord,
    /// 当场行政处罚决定书.
    SummaryDecision,
    /// 行政处罚决定书 (普通程序).
    PenaltyDecision,
    /// 违法行为通知书.
    Notice,
    /// 不予行政处罚决定书.
    NoPenaltyDecision,
    /// 轻微违法行为告知承诺书.
    Commitment,
    /// 行政强制措施决定书 (with its 清单).
    MeasureDecision,
    /// 证据登记保存清单.
    EvidenceList,
    /// 送达回证.
    DeliveryReceipt,
}

impl DocType {
    pub const ALL: [DocType; 10] = [
        DocType::SiteRecord,
        DocType::InspectionRecord,
        DocType::SummaryDecision,
        DocType::PenaltyDecision,
        DocType::Notice,
        DocType::NoPenaltyDecision,
        DocType::Commitment,
        DocType::MeasureDecision,
        DocType::EvidenceList,
        DocType::DeliveryReceipt,
    ];

    /// The document's title as printed.
    pub fn title(self) -> &'static str {
        match self {
            DocType::SiteRecord => "现场笔录",
            DocType::InspectionRecord => "勘验笔录",
            DocType::SummaryDecision => "当场行政处罚决定书",
            DocType::PenaltyDecision => "行政处罚决定书",
            DocType::Notice => "违法行为通知书",
            DocType::NoPenaltyDecision => "不予行政处罚决定书",
            DocType::Commitment => "轻微违法行为告知承诺书",
            DocType::MeasureDecision => "行政强制措施决定书",
            DocType::EvidenceList => "证据登记保存清单",
            DocType::DeliveryReceipt => "送达回证",
        }
    }

    /// The type mark in the document number (青海南交执**罚**〔2026〕0001号).
    pub fn mark(self) -> &'static str {
        match self {
            DocType::SiteRecord => "现",
            DocType::InspectionRecord => "勘",
            DocType::SummaryDecision | DocType::PenaltyDecision => "罚",
            DocType::Notice => "告",
            DocType::NoPenaltyDecision => "不罚",
            DocType::Commitment => "诺",
            DocType::MeasureDecision => "强",
            DocType::EvidenceList => "存",
            DocType::DeliveryReceipt => "送",
        }
    }

    /// The wire name (`summary_decision`…).
    pub fn as_str(self) -> &'static str {
        match self {
            DocType::SiteRecord => "site_record",
            DocType::InspectionRecord => "inspection_record",
            DocType::SummaryDecision => "summary_decision",
            DocType::PenaltyDecision => "penalty_decision",
            DocType::Notice => "notice",
            DocType::NoPenaltyDecision => "no_penalty_decision",
            DocType::Commitment => "commitment",
            DocType::MeasureDecision => "measure_decision",
            DocType::EvidenceList => "evidence_list",
            DocType::DeliveryReceipt => "delivery_receipt",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// A document number: the agency's prefix, the type mark, the year and a four-digit serial, e.g.
/// `青海南交执罚〔2026〕0001号`. Serials are unique per agency and year across every type, so a
/// number is unique whatever its mark (see [`NumberBlock`]).
pub fn format_number(prefix: &str, doc: DocType, year: i32, serial: u64) -> String {
    format!("{prefix}{}〔{year}〕{serial:04}号", doc.mark())
}

/// A block of document serials leased to one device by the server: serials `first..=last` of the
/// agency's year. The server never leases a serial twice, and the device gives each one out
/// once, so devices that work offline for days never collide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct NumberBlock {
    pub agency: String,
    pub year: i32,
    pub first: u64,
    pub last: u64,
    /// The agency's number prefix (e.g. `青海南交执`).
    pub prefix: String,
    /// The agency's full name as printed on its documents.
    pub agency_name: String,
}

impl NumberBlock {
    /// The block's own consistency (the server's answer is outside input).
    pub fn check(&self) -> Result<()> {
        let mut issues = Vec::new();
        if self.first == 0 || self.last < self.first || self.last > 9999 {
            issues.push(Issue::new(
                "first",
                "NUMBER_BLOCK_INVALID",
                format!(
                    "编号段 {}—{} 无效（须在 1—9999 之间且起号不大于止号）",
                    self.first, self.last
                ),
            ));
        }
        if !(2000..=9999).contains(&self.year) {
            issues.push(Issue::new(
                "year",
                "NUMBER_BLOCK_INVALID",
                format!("编号段的年度 {} 无效", self.year),
            ));
        }
        if self.prefix.trim().is_empty() || self.agency_name.trim().is_empty() {
            issues.push(Issue::new(
                "prefix",
                "NUMBER_BLOCK_INVALID",
                "编号段缺少机构文书编号前缀或机构名称",
            ));
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(RoadsideError::invalid(issues))
        }
    }
}

/// A signature on a document: the stroke data's hash, or the refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct SignatureRef {
    /// 当事人, 见证人, 执法人员, 受送达人.
    pub role: String,
    pub name: String,
    /// SHA-256 of the canonical stroke data (kept in the store), when signed on the device.
    pub sha256: Option<String>,
    /// The signer refused: why.
    pub refused: Option<String>,
    /// The witness to a refusal.
    pub witness: Option<String>,
    /// When it was signed, as printed.
    pub time: Option<String>,
}

/// The body of a `document.issue` entry: the exact bytes handed to the party, by hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct DocumentIssued {
    pub doc_type: DocType,
    pub number: String,
    /// The ledger entry the document renders (the decision, notice, measure, record…): lowercase
    /// hex SHA-256, also in the document's QR code.
    pub source: String,
    pub sha256: String,
    pub size: u64,
    /// The issuing agency's code and printed name.
    pub agency: String,
    pub agency_name: String,
    pub signatures: Vec<SignatureRef>,
}
