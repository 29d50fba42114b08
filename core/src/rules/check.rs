//! Checking a drafted penalty against the law: the amount against the range (outside it needs a
//! written justification, above the statutory maximum never), 简易程序 limits, one act one fine
//! (处罚法 29), the limitation period (处罚法 36), two certified officers (处罚法 42), exemptions.

use serde::{Deserialize, Serialize};

use super::guidance::{ExemptionStatus, Facts, Guidance, GuidanceRequest, PartyType};
use super::RuleBook;
use crate::error::{Issue, Result};
use crate::model::OfficerCertificate;
use crate::officer::{self, MIN_OFFICERS};

/// 简易程序 (当场处罚) or 普通程序.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum ProcedureKind {
    Summary,
    General,
}

/// One violation in a draft and the penalty proposed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct DraftViolation {
    pub code: String,
    /// Identifies the act (e.g. the record it was found in); the same act is not fined twice.
    #[serde(default)]
    pub act_id: Option<String>,
    /// 警告.
    #[serde(default)]
    pub warning: bool,
    /// 罚款, whole 元 (0 = no fine).
    #[serde(default)]
    pub amount_yuan: i64,
}

/// An officer named on the draft, looked up in the roster for a certificate in force on the
/// decision date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct DraftOfficer {
    pub name: String,
    pub certificate_no: String,
}

/// A drafted penalty decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct PenaltyDraft {
    pub facts: Facts,
    pub violations: Vec<DraftViolation>,
    pub procedure: ProcedureKind,
    /// Written reasons for an amount outside the benchmark range (偏离裁量基准的说明).
    #[serde(default)]
    pub justification: String,
    pub officers: Vec<DraftOfficer>,
    /// The day the act was discovered (发现之日), `YYYY-MM-DD`; the decision date when absent.
    #[serde(default)]
    pub discovered_on: Option<String>,
    /// Acts already fined by other decisions.
    #[serde(default)]
    pub already_fined_acts: Vec<String>,
    /// The fine is to be collected on the spot (当场收缴).
    #[serde(default)]
    pub collect_on_the_spot: bool,
    /// Not collecting on the spot would make it hard to collect later (处罚法 68 (二)).
    #[serde(default)]
    pub hard_to_collect_later: bool,
}

/// The result of a draft check. `ok` = no errors; warnings do not block.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct DraftCheck {
    pub ok: bool,
    pub errors: Vec<Issue>,
    pub warnings: Vec<Issue>,
    pub total_fine_yuan: i64,
    pub guidance: Guidance,
}

impl RuleBook {
    /// Checks a drafted penalty; the officers are checked against `roster` on the decision date.
    /// Bad input (unknown code, facts out of range) is an error; problems with the draft itself
    /// are listed in the result.
    pub fn check_draft(
        &self,
        d: &PenaltyDraft,
        roster: &[OfficerCertificate],
    ) -> Result<DraftCheck> {
        let req = GuidanceRequest {
            violations: d.violations.iter().map(|v| v.code.clone()).collect(),
            facts: d.facts.clone(),
        };
        let g = self.guide(&req)?;
        let p = self.prepare(&d.facts)?;
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let has_just = !d.justification.trim().is_empty();

        // Officers (处罚法 42): each one on the roster, in an enforcement post, with a certificate
        // in force on the decision date.
        let mut certs: Vec<&str> = Vec::new();
        for (i, o) in d.officers.iter().enumerate() {
            let no = o.certificate_no.trim();
            if no.is_empty() || certs.contains(&no) {
                continue;
            }
            match officer::eligibility(roster, no, p.decision) {
                Ok(_) => certs.push(no),
                Err((entry, reasons)) => {
                    let name = entry.map_or(o.name.as_str(), |e| e.name.as_str());
                    for why in reasons {
                        errors.push(Issue::new(
                            format!("officers[{i}].certificate_no"),
                            why.code(),
                            why.message(no, name, p.decision),
                        ));
                    }
                }
            }
        }
        if certs.len() < MIN_OFFICERS {
            errors.push(Issue::new(
                "officers",
                "OFFICERS_TOO_FEW",
                format!(
                    "执法人员不得少于两人且均须持有有效执法证（处罚法第四十二条），现有持证人员 {} 人",
                    certs.len()
                ),
            ));
        }

        // Limitation (处罚法 36).
        let discovered = match &d.discovered_on {
            Some(s) => super::guidance::parse_date("discovered_on", s)?,
            None => p.decision,
        };
        let pol = self.policy();
        if let Some(why) = self.limitation_expired(&p, discovered) {
            errors.push(Issue::new("discovered_on", "LIMITATION_EXPIRED", why));
        }
        if discovered < p.act {
            errors.push(Issue::new(
                "discovered_on",
                "DATE_ORDER",
                "发现日期早于违法行为日期",
            ));
        }

        // One act, one fine (处罚法 29).
        let mut seen: Vec<&str> = Vec::new();
        for (i, v) in d.violations.iter().enumerate() {
            let fined = v.amount_yuan > 0;
            if let Some(a) = v.act_id.as_deref().filter(|a| !a.is_empty()) {
                if fined && d.already_fined_acts.iter().any(|x| x == a) {
                    errors.push(Issue::new(
                        format!("violations[{i}].act_id"),
                        "DOUBLE_PENALTY",
                        format!("违法行为 {a} 已被处以罚款，同一个违法行为不得给予两次以上罚款（处罚法第二十九条）"),
                    ));
                }
                if fined {
                    if seen.contains(&a) {
                        errors.push(Issue::new(
                            format!("violations[{i}].act_id"),
                            "DOUBLE_PENALTY",
                            format!("违法行为 {a} 在本决定中被罚款两次；同一个违法行为违反多个法律规范应当给予罚款处罚的，按照罚款数额高的规定处罚（处罚法第二十九条）"),
                        ));
                    }
                    seen.push(a);
                }
            }
        }

        // Amounts.
        for (i, (v, gv)) in d.violations.iter().zip(&g.violations).enumerate() {
            let path = format!("violations[{i}].amount_yuan");
            if v.amount_yuan < 0 {
                errors.push(Issue::new(&path, "AMOUNT_NEGATIVE", "罚款金额不能为负数"));
                continue;
            }
            if let Some(why) = &gv.not_offence {
                if v.amount_yuan > 0 || v.warning {
                    errors.push(Issue::new(
                        format!("violations[{i}]"),
                        "NOT_AN_OFFENCE",
                        format!("{why}，不得给予行政处罚"),
                    ));
                }
                continue;
            }
            for m in gv.measures.iter().filter(|m| !m.applies) {
                warnings.push(Issue::new(
                    format!("violations[{i}]"),
                    "MEASURE_CONDITION_UNKNOWN",
                    format!(
                        "{}同时规定「{}」（{}），须填写{}后确定是否适用",
                        gv.basis,
                        m.name,
                        m.condition,
                        m.missing_facts.join("、")
                    ),
                ));
            }
            if !gv.violated_verified {
                warnings.push(Issue::new(
                    format!("violations[{i}]"),
                    "VIOLATED_UNVERIFIED",
                    format!(
                        "违反条款「{}」尚未与法规原文核对，作出决定前须确认",
                        gv.violated
                    ),
                ));
            }
            match gv.exemption.status {
                ExemptionStatus::MustNotPenalise if v.amount_yuan > 0 || v.warning => {
                    errors.push(Issue::new(
                        &path,
                        "EXEMPTION_MUST_NOT_PENALISE",
                        format!("依据{}，不得给予行政处罚", gv.exemption.basis),
                    ))
                }
                ExemptionStatus::Eligible | ExemptionStatus::NeedsOnlineCheck
                    if v.amount_yuan > 0 || v.warning =>
                {
                    let must = gv.exemption.outcome
                        == Some(super::model::ExemptionOutcome::MustNotPenalise);
                    let issue = Issue::new(
                        &path,
                        if must {
                            "EXEMPTION_MUST_NOT_PENALISE"
                        } else {
                            "EXEMPTION_MAY_NOT_PENALISE"
                        },
                        format!(
                            "该行为符合免罚清单 {} 的条件，{}",
                            gv.exemption.code.as_deref().unwrap_or(""),
                            if must {
                                "应当不予处罚"
                            } else {
                                "可以不予处罚，处罚须说明理由"
                            }
                        ),
                    );
                    if must && gv.exemption.status == ExemptionStatus::Eligible {
                        errors.push(issue);
                    } else {
                        warnings.push(issue);
                    }
                }
                _ => {}
            }
            if let Some(lmax) = gv.legal_max_yuan {
                if v.amount_yuan > lmax {
                    errors.push(Issue::new(
                        &path,
                        "AMOUNT_ABOVE_LEGAL_MAX",
                        format!(
                            "罚款 {} 元超过法定最高罚款 {lmax} 元（{}）",
                            v.amount_yuan, gv.basis
                        ),
                    ));
                    continue;
                }
            }
            if v.amount_yuan > 0 {
                if let Some(lmin) = gv.legal_min_yuan.filter(|m| *m > 0) {
                    if v.amount_yuan < lmin && (gv.lighter.is_empty() || !has_just) {
                        errors.push(Issue::new(
                            &path,
                            "AMOUNT_BELOW_LEGAL_MIN",
                            format!(
                                "罚款 {} 元低于法定最低罚款 {lmin} 元；减轻处罚须有处罚法第三十条、第三十二条规定的情节并书面说明理由",
                                v.amount_yuan
                            ),
                        ));
                        continue;
                    }
                }
            }
            if gv.tier.is_none() {
                warnings.push(Issue::new(
                    format!("violations[{i}]"),
                    "TIER_UNKNOWN",
                    format!(
                        "无法确定裁量档次：{}",
                        if gv.missing_facts.is_empty() {
                            gv.notes.join("；")
                        } else {
                            format!("缺少{}", gv.missing_facts.join("、"))
                        }
                    ),
                ));
                continue;
            }
            if v.warning && !gv.warning_allowed {
                warnings.push(Issue::new(
                    format!("violations[{i}].warning"),
                    "WARNING_NOT_IN_TIER",
                    "该档次不以警告为处罚种类",
                ));
            }
            let (min, max) = (gv.min_yuan.unwrap_or(0), gv.max_yuan.unwrap_or(0));
            let inside = if gv.min_yuan.is_none() {
                v.amount_yuan == 0
            } else {
                (min..=max).contains(&v.amount_yuan)
                    || (v.amount_yuan == 0 && v.warning && gv.warning_allowed)
            };
            if !inside {
                let msg = if gv.min_yuan.is_none() {
                    format!(
                        "该档次不处罚款（{}），拟罚 {} 元",
                        gv.tier_criteria, v.amount_yuan
                    )
                } else {
                    format!("罚款 {} 元不在裁量基准幅度 {min}—{max} 元内", v.amount_yuan)
                };
                if has_just {
                    warnings.push(Issue::new(
                        &path,
                        "AMOUNT_OUTSIDE_RANGE",
                        format!("{msg}，已书面说明理由，须经法制审核"),
                    ));
                } else {
                    errors.push(Issue::new(
                        &path,
                        "AMOUNT_OUTSIDE_RANGE_NO_JUSTIFICATION",
                        format!("{msg}，偏离裁量基准须书面说明理由（justification）"),
                    ));
                }
            }
        }

        // Sum groups.
        let total: i64 = d.violations.iter().map(|v| v.amount_yuan.max(0)).sum();
        let mut groups: std::collections::BTreeMap<&str, (i64, i64)> = Default::default();
        for (v, gv) in d.violations.iter().zip(&g.violations) {
            if let (Some(grp), Some(cap)) = (gv.sum_group.as_deref(), gv.sum_cap_yuan) {
                let e = groups.entry(grp).or_insert((0, cap));
                e.0 += v.amount_yuan.max(0);
            }
        }
        for (grp, (sum, cap)) in groups {
            if sum > cap {
                errors.push(Issue::new(
                    "violations",
                    "SUM_CAP_EXCEEDED",
                    format!("{grp} 组多项违法行为的罚款累计 {sum} 元，超过累计上限 {cap} 元"),
                ));
            }
        }

        // Procedure.
        let hearing_by_item = g.violations.iter().any(|v| v.hearing_required);
        let proc_ = self.procedure(
            total,
            d.facts.party_type,
            hearing_by_item,
            &super::guidance::OtherPenalties::of(&g.violations),
            &p,
        );
        if d.procedure == ProcedureKind::Summary && !proc_.summary_allowed {
            let limit = match d.facts.party_type {
                PartyType::Person => pol.summary.person_yuan,
                PartyType::Organisation => pol.summary.organisation_yuan,
            };
            errors.push(Issue::new(
                "procedure",
                "SUMMARY_NOT_ALLOWED",
                format!(
                    "罚款合计 {total} 元，简易程序限于{}（{}）{}；应当适用普通程序",
                    format_args!("{limit} 元以下罚款或者警告"),
                    pol.summary.source.basis,
                    if proc_.hearing_required {
                        "，且本案须告知听证权利"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if d.collect_on_the_spot {
            if d.procedure != ProcedureKind::Summary {
                errors.push(Issue::new(
                    "collect_on_the_spot",
                    "COLLECTION_NOT_ALLOWED",
                    "当场收缴罚款仅适用于当场作出的行政处罚决定（处罚法第六十八条）",
                ));
            } else if total > pol.on_the_spot_collection_max_yuan && !d.hard_to_collect_later {
                errors.push(Issue::new(
                    "collect_on_the_spot",
                    "COLLECTION_NOT_ALLOWED",
                    format!(
                        "当场收缴限于 {} 元以下罚款或者不当场收缴事后难以执行的情形（{}）",
                        pol.on_the_spot_collection_max_yuan, pol.on_the_spot_collection.basis
                    ),
                ));
            }
        }
        Ok(DraftCheck {
            ok: errors.is_empty(),
            errors,
            warnings,
            total_fine_yuan: total,
            guidance: g,
        })
    }
}
