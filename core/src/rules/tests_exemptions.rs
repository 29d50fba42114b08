//! The bundled national exemption list (交法发〔2021〕115号) against the guidance engine: every
//! entry loads and is well formed, and for the road items the outcome follows the conditions.

use super::*;

/// The road and highway items of the national list, in file order.
const NATIONAL: &[&str] = &[
    "MF-GB-69",
    "MF-GL-76-4",
    "MF-GL-79",
    "MF-GL-77-2",
    "MF-GL-77-1",
    "MF-DY-65-4",
    "MF-DY-68-2-2",
    "MF-DY-69-1",
    "MF-DY-69-2",
];

fn facts(flags: &[&str]) -> Facts {
    Facts {
        act_date: "2026-02-10".into(),
        decision_date: Some("2026-03-02".into()),
        prior_violations: Some(0),
        first_offence_checked_online: true,
        flags: flags.iter().map(|f| f.to_string()).collect(),
        ..Default::default()
    }
}

fn exemption(b: &RuleBook, code: &str, f: Facts) -> ExemptionGuidance {
    b.guide(&GuidanceRequest {
        violations: vec![code.to_string()],
        facts: f,
    })
    .expect("guidance")
    .violations
    .remove(0)
    .exemption
}

#[test]
fn every_national_item_loads_and_is_well_formed() {
    let b = RuleBook::bundled().expect("bundled data");
    let national: Vec<&ExemptionItem> = b
        .exemptions()
        .iter()
        .filter(|e| e.source_file == "exemptions/national.toml")
        .collect();
    let codes: Vec<&str> = national.iter().map(|e| e.code.as_str()).collect();
    assert_eq!(codes, NATIONAL);
    for e in national {
        assert!(
            e.basis
                .starts_with("《中华人民共和国行政处罚法》第三十三条第一款；"),
            "{}: {}",
            e.code,
            e.basis
        );
        assert!(!e.conditions.is_empty(), "{}", e.code);
        assert!(
            e.documents.iter().any(|d| d == "不予行政处罚决定书")
                && e.documents.iter().any(|d| d == "教育记录"),
            "{}",
            e.code
        );
        for c in &e.applies_to {
            let item = b.item(c).expect("applies_to names a discretion item");
            // The exemption cites the statute the discretion item's penalty comes from.
            let statute = item.basis.split('》').next().unwrap_or("");
            assert!(e.basis.contains(statute), "{}: {statute}", e.code);
        }
        if !e.verified {
            assert!(
                e.note.contains("交法发〔2021〕115号") || e.note.contains("清单"),
                "{}: the note must say what to confirm against the list",
                e.code
            );
        }
        // Official sources only: no internal notes or paths in what an officer or party reads.
        for text in [&e.violation, &e.basis, &e.note] {
            assert!(
                !text.contains("来源资料") && !text.contains('/') && !text.contains(".md"),
                "{}: {text}",
                e.code
            );
        }
        // The outcome follows 处罚法 33 ¶1: "no harm" → must not; "slight harm" → may not.
        let checks: Vec<&str> = e.conditions.iter().map(|c| c.check.as_str()).collect();
        if checks.contains(&"slight_harm") {
            assert_eq!(e.outcome, ExemptionOutcome::MayNotPenalise, "{}", e.code);
        }
        if checks.contains(&"no_harm") {
            assert_eq!(e.outcome, ExemptionOutcome::MustNotPenalise, "{}", e.code);
        }
    }
}

/// 公路安全保护条例 69 (遗洒): all five conditions → may not penalise; without the clean-up
/// within the set time the exemption is lost and that condition is named.
#[test]
fn gb69_spillage() {
    let b = RuleBook::bundled().expect("bundled data");
    let all = [
        "reloaded",
        "slight_harm",
        "no_accident",
        "no_congestion",
        "cleaned_or_paid",
    ];
    let e = exemption(&b, "GB-69", facts(&all));
    assert_eq!(e.status, ExemptionStatus::Eligible, "{e:?}");
    assert_eq!(e.code.as_deref(), Some("MF-GB-69"));
    assert_eq!(e.outcome, Some(ExemptionOutcome::MayNotPenalise));
    assert!(e.basis.contains("《公路安全保护条例》第六十九条"));
    let e = exemption(&b, "GB-69", facts(&all[..4]));
    assert_eq!(e.status, ExemptionStatus::NotEligible);
    assert_eq!(
        e.unmet,
        vec!["在规定期限内清除、修复或者承担相关费用".to_string()]
    );
}

/// 公路法 76(4) (铁轮车、履带车): stops when told, no damage, accident or congestion → must not
/// penalise; a second offence is not exempt.
#[test]
fn gl76_4_tracked_vehicle() {
    let b = RuleBook::bundled().expect("bundled data");
    let all = [
        "stopped_when_told",
        "no_road_damage",
        "no_accident",
        "no_congestion",
    ];
    let e = exemption(&b, "GL-76-4", facts(&all));
    assert_eq!(e.status, ExemptionStatus::Eligible, "{e:?}");
    assert_eq!(e.outcome, Some(ExemptionOutcome::MustNotPenalise));
    assert!(e
        .basis
        .contains("《中华人民共和国公路法》第七十六条第（四）项"));
    let mut f = facts(&all);
    f.prior_violations = Some(1);
    let e = exemption(&b, "GL-76-4", f);
    assert_eq!(e.status, ExemptionStatus::NotEligible);
    assert_eq!(e.unmet, vec!["初次违法（此前已有 1 次违法）".to_string()]);
    // The road was damaged: the no-damage condition is not met.
    let e = exemption(&b, "GL-76-4", facts(&all[..1]));
    assert_eq!(
        e.unmet,
        vec![
            "未造成公路损坏".to_string(),
            "未造成交通事故".to_string(),
            "未造成交通拥堵".to_string()
        ]
    );
}

/// 道路运输条例 65 (机动车维修经营未备案): filed within the period, no harm → must not penalise
/// (unverified item); not filed → the filing condition is unmet.
#[test]
fn dy65_4_repair_shop_not_filed() {
    let b = RuleBook::bundled().expect("bundled data");
    let e = exemption(&b, "DY-65-4", facts(&["filed_in_time", "no_harm"]));
    assert_eq!(e.status, ExemptionStatus::Eligible, "{e:?}");
    assert_eq!(e.code.as_deref(), Some("MF-DY-65-4"));
    assert_eq!(e.outcome, Some(ExemptionOutcome::MustNotPenalise));
    assert!(!e.verified);
    let e = exemption(&b, "DY-65-4", facts(&["no_harm"]));
    assert_eq!(e.status, ExemptionStatus::NotEligible);
    assert_eq!(
        e.unmet,
        vec!["在责令改正期限内向所在地交通运输主管部门补办机动车维修经营备案".to_string()]
    );
}

/// 道路运输条例 69 (擅自改装): restored, no harm, no other violation → must not penalise; an
/// overloaded vehicle at the same time is not exempt, and obstruction is no condition here.
#[test]
fn dy69_2_modified_vehicle() {
    let b = RuleBook::bundled().expect("bundled data");
    let all = ["corrected", "no_harm", "no_other_violation"];
    let e = exemption(&b, "DY-69-2", facts(&all));
    assert_eq!(e.status, ExemptionStatus::Eligible, "{e:?}");
    assert_eq!(e.outcome, Some(ExemptionOutcome::MustNotPenalise));
    let e = exemption(&b, "DY-69-2", facts(&all[..2]));
    assert_eq!(e.status, ExemptionStatus::NotEligible);
    assert_eq!(
        e.unmet,
        vec!["同时没有超限、超载、超员等其他违法行为".to_string()]
    );
}

/// 道路运输条例 68 ¶2 (未采取措施防止货物脱落、扬撒): exempt when corrected on the spot with no
/// harm; obstruction of the investigation defeats it.
#[test]
fn dy68_2_2_load_not_secured() {
    let b = RuleBook::bundled().expect("bundled data");
    let e = exemption(&b, "DY-68-2-2", facts(&["corrected", "no_harm"]));
    assert_eq!(e.status, ExemptionStatus::Eligible, "{e:?}");
    assert_eq!(e.outcome, Some(ExemptionOutcome::MustNotPenalise));
    let e = exemption(
        &b,
        "DY-68-2-2",
        facts(&["corrected", "no_harm", "obstructed"]),
    );
    assert_eq!(e.status, ExemptionStatus::NotEligible);
    assert_eq!(e.unmet, vec!["未拒绝、阻碍执法人员调查取证".to_string()]);
}
