//! Legal review (法制审核) before a major decision (处罚法 58): the catalogue of decisions that
//! need it, as reference data (the `review/` files, `reference/FORMAT.md`), and the one answer to
//! "does this decision need legal review, and under which items of the catalogue".
//!
//! The four situations of 处罚法 58 are law; the items an agency's 目录清单 adds (large fines by
//! party type, licence revocation, suspension …) carry the agency's thresholds, each with
//! `verified` and a note when it is not yet checked against the 目录清单's text. A decision made in
//! the summary procedure (当场, 处罚法 51) never needs legal review: 58 applies to decisions of the
//! general procedure.

use serde::{Deserialize, Serialize};

use super::check::ProcedureKind;
use super::guidance::PartyType;
use super::model::flag_info;
use crate::error::{Issue, Result, RoadsideError};

/// What brings a decision under a catalogue item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum ReviewTrigger {
    /// A circumstance flag of the case is set (`complex`, `major_public_interest` …).
    Flag { flag: String },
    /// A hearing was held before the decision (听证程序).
    HearingHeld,
    /// The total fine is at or above the threshold for the party's type (以上, 含本数).
    Fine {
        person_min_yuan: i64,
        organisation_min_yuan: i64,
    },
    /// The amount confiscated (没收违法所得、非法财物) is at or above the threshold.
    Confiscation {
        person_min_yuan: i64,
        organisation_min_yuan: i64,
    },
    /// A decided penalty of another kind names one of these words (吊销, 停产停业 …).
    Penalty { penalties: Vec<String> },
}

/// One item of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ReviewItem {
    /// Stable code, e.g. `SH-58-3`, `SH-QH-FINE`.
    pub code: String,
    /// The situation in the catalogue's words (legal text).
    pub situation: String,
    /// The article or catalogue it comes from.
    pub basis: String,
    pub trigger: ReviewTrigger,
    /// The item and its threshold are checked against the law or the 目录清单's text.
    pub verified: bool,
    /// What is not verified and what the agency must confirm.
    pub note: String,
    /// The reference file the item comes from (`review/catalogue.toml`).
    pub source_file: String,
}

/// What a decision carries that the catalogue looks at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct ReviewCase {
    pub procedure: ProcedureKind,
    pub party_type: PartyType,
    /// The total fine decided, 元.
    pub fine_yuan: i64,
    /// The amount confiscated (没收违法所得、没收非法财物), 元; 0 when nothing is.
    #[serde(default)]
    pub confiscated_yuan: i64,
    /// Penalties of other kinds decided (吊销道路运输经营许可证, 责令停产停业 …), as written in
    /// the decision.
    #[serde(default)]
    pub penalties: Vec<String>,
    /// A hearing was held on the intended penalty (处罚法 64, 65).
    #[serde(default)]
    pub hearing_held: bool,
    /// Circumstance flags of the case (`complex`, `major_public_interest`,
    /// `law_requires_review` …).
    #[serde(default)]
    pub flags: Vec<String>,
}

/// A catalogue item that applies to a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ReviewMatch {
    pub code: String,
    pub situation: String,
    pub basis: String,
    /// Why it applies to this decision, e.g. "罚款 12,000 元，达到对公民 10,000 元以上的标准".
    pub reason: String,
    /// The item (and its threshold) is verified; when false, `note` says what to confirm.
    pub verified: bool,
    pub note: String,
}

/// Whether a decision needs legal review, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ReviewNeed {
    /// Legal review is required before the decision is made.
    pub required: bool,
    /// The catalogue items that apply, in catalogue order.
    pub matches: Vec<ReviewMatch>,
    /// One sentence: what applies, or why nothing does (e.g. the summary procedure).
    pub summary: String,
}

impl ReviewNeed {
    /// Some item that applies is not yet verified: the answer rests on an agency default.
    pub fn rests_on_unverified(&self) -> bool {
        self.matches.iter().any(|m| !m.verified)
    }
}

/// The situations of a catalogue that apply to `case` (pure: no I/O). An invalid case (a negative
/// amount, an unknown flag) is an error naming every bad field.
pub fn assess(items: &[ReviewItem], case: &ReviewCase) -> Result<ReviewNeed> {
    let mut issues = Vec::new();
    for (field, v) in [
        ("fine_yuan", case.fine_yuan),
        ("confiscated_yuan", case.confiscated_yuan),
    ] {
        if v < 0 {
            issues.push(Issue::new(
                field,
                "REVIEW_NEGATIVE_AMOUNT",
                format!("金额不能为负数（{v} 元）"),
            ));
        }
    }
    for (i, f) in case.flags.iter().enumerate() {
        if flag_info(f).is_none() {
            issues.push(Issue::new(
                format!("flags[{i}]"),
                "FLAG_UNKNOWN",
                format!("未知的情节标志「{f}」"),
            ));
        }
    }
    if !issues.is_empty() {
        return Err(RoadsideError::invalid(issues));
    }
    Ok(matching(items, case))
}

/// [`assess`] on a case already checked.
pub(crate) fn matching(items: &[ReviewItem], case: &ReviewCase) -> ReviewNeed {
    if case.procedure == ProcedureKind::Summary {
        return ReviewNeed {
            required: false,
            matches: Vec::new(),
            summary: "适用简易程序当场作出的行政处罚决定，不属于作出决定前须经法制审核的情形（《中华人民共和国行政处罚法》第五十一条、第五十八条）".into(),
        };
    }
    let party = match case.party_type {
        PartyType::Person => "公民",
        PartyType::Organisation => "法人或者其他组织",
    };
    let pick = |person: i64, organisation: i64| match case.party_type {
        PartyType::Person => person,
        PartyType::Organisation => organisation,
    };
    let mut matches = Vec::new();
    for item in items {
        let reason = match &item.trigger {
            ReviewTrigger::Flag { flag } => case.flags.iter().any(|f| f == flag).then(|| {
                let label = flag_info(flag).map(|(l, _)| l).unwrap_or(flag.as_str());
                format!("本案已认定：{label}")
            }),
            ReviewTrigger::HearingHeld => case
                .hearing_held
                .then(|| "本案拟作出的处罚已经过听证程序".to_string()),
            ReviewTrigger::Fine {
                person_min_yuan,
                organisation_min_yuan,
            } => {
                let min = pick(*person_min_yuan, *organisation_min_yuan);
                (case.fine_yuan >= min).then(|| {
                    format!(
                        "罚款 {} 元，达到对{party}罚款 {} 元以上的标准",
                        super::guidance::yuan(case.fine_yuan),
                        super::guidance::yuan(min)
                    )
                })
            }
            ReviewTrigger::Confiscation {
                person_min_yuan,
                organisation_min_yuan,
            } => {
                let min = pick(*person_min_yuan, *organisation_min_yuan);
                (case.confiscated_yuan > 0 && case.confiscated_yuan >= min).then(|| {
                    format!(
                        "没收 {} 元，达到对{party}没收 {} 元以上的标准",
                        super::guidance::yuan(case.confiscated_yuan),
                        super::guidance::yuan(min)
                    )
                })
            }
            ReviewTrigger::Penalty { penalties: words } => {
                let hit: Vec<&str> = case
                    .penalties
                    .iter()
                    .filter(|p| words.iter().any(|w| p.contains(w.as_str())))
                    .map(String::as_str)
                    .collect();
                (!hit.is_empty()).then(|| format!("拟作出的处罚含：{}", hit.join("、")))
            }
        };
        if let Some(reason) = reason {
            matches.push(ReviewMatch {
                code: item.code.clone(),
                situation: item.situation.clone(),
                basis: item.basis.clone(),
                reason,
                verified: item.verified,
                note: item.note.clone(),
            });
        }
    }
    let summary = if matches.is_empty() {
        "不属于法制审核目录所列情形".to_string()
    } else {
        format!(
            "作出决定前应当进行法制审核：{}",
            matches
                .iter()
                .map(|m| format!("{}（{}）", m.situation, m.basis))
                .collect::<Vec<_>>()
                .join("；")
        )
    };
    ReviewNeed {
        required: !matches.is_empty(),
        matches,
        summary,
    }
}
