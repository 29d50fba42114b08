//! Tests of the rules engine over the bundled data and small inline reference files.

use std::collections::BTreeMap;

use super::*;

/// The old (before 2023-07-20) and new art. 63(1) of 道路运输条例, and an exemption, for tests
/// that must not depend on the content files.
const DY63: &str = r#"
[meta]
kind = "discretion"
title = "测试"
source = "测试"
version = "2026-01-15"

[[item]]
code = "TDY-63-1"
name = "未取得道路运输经营许可，擅自从事道路普通货物运输经营"
category = "道路运输"
violated = "《中华人民共和国道路运输条例》第二十四条"
basis = "《中华人民共和国道路运输条例》第六十三条"
legal = "违法所得超过2万元的，处违法所得2倍以上10倍以下的罚款；没有违法所得或者违法所得不足2万元的，处3万元以上10万元以下的罚款"
valid_from = "2004-07-01"
valid_to = "2023-07-19"
verified = false
note = "测试数据"

  [[item.tier]]
  level = "一般"
  criteria = "没有违法所得或者违法所得不足2万元"
  when = { illegal_income_yuan = "[0, 20000]" }
  min_yuan = 30000
  max_yuan = 100000
  basis = "《中华人民共和国道路运输条例》第六十三条"

  [[item.tier]]
  level = "严重"
  criteria = "违法所得超过2万元"
  when = { illegal_income_yuan = "(20000, ∞)" }
  times = { fact = "illegal_income_yuan", min = 2, max = 10 }
  basis = "《中华人民共和国道路运输条例》第六十三条"

[[item]]
code = "TDY-63-1"
name = "未取得道路运输经营许可，擅自从事道路普通货物运输经营"
category = "道路运输"
violated = "《中华人民共和国道路运输条例》第二十四条"
basis = "《中华人民共和国道路运输条例》第六十三条第（一）项"
legal = "违法所得超过1万元的，处违法所得1倍以上5倍以下的罚款；没有违法所得或者违法所得不足1万元的，处3000元以上1万元以下的罚款，情节严重的，处1万元以上5万元以下的罚款"
valid_from = "2023-07-20"
verified = true

  [[item.tier]]
  level = "一般"
  criteria = "没有违法所得或者违法所得不足1万元"
  when = { illegal_income_yuan = "[0, 10000]" }
  min_yuan = 3000
  max_yuan = 10000
  basis = "《中华人民共和国道路运输条例》第六十三条第（一）项"

  [[item.tier]]
  level = "严重"
  criteria = "没有违法所得或者违法所得不足1万元，情节严重"
  when = { illegal_income_yuan = "[0, 10000]" }
  flags = ["serious"]
  min_yuan = 10000
  max_yuan = 50000
  basis = "《中华人民共和国道路运输条例》第六十三条第（一）项"

  [[item.tier]]
  level = "较重"
  criteria = "违法所得超过1万元"
  when = { illegal_income_yuan = "(10000, ∞)" }
  times = { fact = "illegal_income_yuan", min = 1, max = 5 }
  basis = "《中华人民共和国道路运输条例》第六十三条第（一）项"

[[item]]
code = "TGB-69"
name = "车辆装载物触地拖行、掉落、遗洒或者飘散，造成公路路面损坏、污染"
category = "公路路政"
violated = "《公路安全保护条例》第四十六条"
basis = "《公路安全保护条例》第六十九条"
legal = "责令改正，可以处5000元以下的罚款"
legal_max_yuan = 5000
valid_from = "2011-07-01"
verified = true

  [[item.tier]]
  level = "一般"
  criteria = "造成公路路面损坏、污染"
  min_yuan = 0
  max_yuan = 5000
  basis = "《公路安全保护条例》第六十九条"
"#;

const EXEMPT: &str = r#"
[meta]
kind = "exemptions"
title = "测试"
source = "交法发〔2021〕115号"
version = "2026-01-15"

[[exemption]]
code = "MF-TGB-69"
violation = "车辆装载物触地拖行、掉落、遗洒或者飘散，造成公路路面损坏、污染"
applies_to = ["TGB-69"]
basis = "《中华人民共和国行政处罚法》第三十三条第一款；《公路安全保护条例》第六十九条"
outcome = "may_not_penalise"
documents = ["不予行政处罚决定书", "轻微违法行为告知承诺书", "教育记录"]
valid_from = "2021-12-01"
verified = true

  [[exemption.condition]]
  text = "初次违法"
  check = "first_offence"

  [[exemption.condition]]
  text = "未拒绝、阻碍执法人员调查取证"
  check = "!obstructed"

  [[exemption.condition]]
  text = "按要求重新装载、停止遗洒"
  check = "reloaded"

  [[exemption.condition]]
  text = "路面损坏轻微或污染面积较小，未造成交通事故或交通拥堵"
  check = "slight_harm"

  [[exemption.condition]]
  text = "在规定期限内清除、修复或者承担费用"
  check = "cleaned_or_paid"
"#;

fn base_files() -> BTreeMap<String, String> {
    bundled::FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

fn book() -> RuleBook {
    let mut f = base_files();
    f.insert("discretion/zz_test.toml".into(), DY63.into());
    f.insert("exemptions/zz_test.toml".into(), EXEMPT.into());
    RuleBook::from_files(f).unwrap()
}

fn facts(act: &str) -> Facts {
    Facts {
        act_date: act.into(),
        decision_date: Some("2026-03-02".into()),
        ..Default::default()
    }
}

fn guide(b: &RuleBook, codes: &[&str], f: Facts) -> Guidance {
    b.guide(&GuidanceRequest {
        violations: codes.iter().map(|c| c.to_string()).collect(),
        facts: f,
    })
    .unwrap()
}

#[test]
fn bundled_loads() {
    let b = RuleBook::bundled().unwrap();
    assert!(b.items().iter().any(|i| i.code == "CX-43-2"));
    assert_eq!(b.calendar().years(), vec![2024, 2025, 2026]);
}

#[test]
fn bundled_lists_every_reference_file() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../reference");
    let mut on_disk = Vec::new();
    for f in ["policy.toml", "calendar.toml"] {
        on_disk.push(f.to_string());
    }
    for sub in ["discretion", "exemptions"] {
        if let Ok(rd) = std::fs::read_dir(root.join(sub)) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if n.ends_with(".toml") {
                    on_disk.push(format!("{sub}/{n}"));
                }
            }
        }
    }
    let listed: Vec<&str> = bundled::FILES.iter().map(|f| f.0).collect();
    for f in &on_disk {
        assert!(
            listed.contains(&f.as_str()),
            "{f} is not in rules/bundled.rs"
        );
    }
}

#[test]
fn overload_two_axles_21350kg() {
    let b = book();
    let mut f = facts("2026-02-10");
    f.gross_weight_kg = Some(21_350.0);
    f.axles = Some(2);
    let g = guide(&b, &["CX-43-2"], f);
    let v = &g.violations[0];
    assert_eq!(v.tier, Some(TierLevel::Ordinary));
    // Over by 3,350 kg; part tonne not counted (policy default floor) → 3 × 500.
    assert_eq!(v.recommended_yuan, Some(1500));
    assert!(v.fixed_by_formula);
    assert!(v.reasons.join("").contains("3350"), "{:?}", v.reasons);
    assert!(v.reasons.join("").contains("第四十三条"));
    // The rounding default is unverified and says so.
    assert!(
        g.unverified.iter().any(|u| u.contains("不足")),
        "{:?}",
        g.unverified
    );
    assert!(!g.procedure.summary_allowed);
    assert!(g.deadlines.iter().any(|d| d.id == "overload_notice"));
}

#[test]
fn overload_ceil_policy_changes_the_amount() {
    let mut files = base_files();
    let p = files["policy.toml"].replace("part_unit = \"floor\"", "part_unit = \"ceil\"");
    files.insert("policy.toml".into(), p);
    let b = RuleBook::from_files(files).unwrap();
    let mut f = facts("2026-02-10");
    f.gross_weight_kg = Some(21_350.0);
    f.axles = Some(2);
    assert_eq!(
        guide(&b, &["CX-43-2"], f).violations[0].recommended_yuan,
        Some(2000)
    );
}

#[test]
fn overload_within_1000kg_is_a_warning() {
    let b = book();
    let mut f = facts("2026-02-10");
    f.gross_weight_kg = Some(18_800.0);
    f.axles = Some(2);
    let v = &guide(&b, &["CX-43-2"], f).violations[0];
    assert_eq!(v.tier, Some(TierLevel::Slight));
    assert!(v.recommended_warning);
    assert_eq!(v.recommended_yuan, None);
}

#[test]
fn several_overload_violations_sum_under_the_cap() {
    let b = book();
    let mut f = facts("2026-02-10");
    f.gross_weight_kg = Some(110_000.0);
    f.axles = Some(6);
    f.combination = Some(true);
    f.height_m = Some(4.8);
    f.width_m = Some(3.0);
    f.length_m = Some(18.0);
    let g = guide(&b, &["CX-43-1", "CX-43-2"], f);
    assert_eq!(g.violations[1].recommended_yuan, Some(30_000));
    assert_eq!(g.violations[0].tier, Some(TierLevel::Serious));
    assert!(g.violations[0].recommended_yuan.unwrap() >= 1000);
    assert_eq!(g.total_recommended_yuan, 30_000);
    assert!(
        g.reasoning.contains("累计不超过 30000 元"),
        "{}",
        g.reasoning
    );
}

#[test]
fn weight_limit_needs_combination_for_three_axles() {
    let b = book();
    let mut f = facts("2026-02-10");
    f.gross_weight_kg = Some(30_000.0);
    f.axles = Some(3);
    let v = &guide(&b, &["CX-43-2"], f.clone()).violations[0];
    assert!(v.tier.is_none());
    assert!(
        v.missing_facts.iter().any(|m| m.contains("combination")),
        "{:?}",
        v.missing_facts
    );
    f.combination = Some(true);
    let v = &guide(&b, &["CX-43-2"], f).violations[0];
    assert_eq!(v.recommended_yuan, Some(1500));
}

#[test]
fn old_article_63_vs_lighter_new_text() {
    let b = book();
    let mut f = facts("2023-01-10");
    f.illegal_income_yuan = Some(0);
    let v = &guide(&b, &["TDY-63-1"], f.clone()).violations[0];
    // Old: 30,000–100,000; new: 3,000–10,000 → the new, lighter text applies.
    assert_eq!(v.version_valid_from.to_string(), "2023-07-20");
    assert_eq!((v.min_yuan, v.max_yuan), (Some(3000), Some(10000)));
    assert!(v.law_choice.contains("第三十七条"), "{}", v.law_choice);
    // Income 50,000: old 2–10× = 100,000–500,000, new 1–5× = 50,000–250,000 → new.
    f.illegal_income_yuan = Some(50_000);
    let v = &guide(&b, &["TDY-63-1"], f).violations[0];
    assert_eq!((v.min_yuan, v.max_yuan), (Some(50_000), Some(250_000)));
    assert_eq!(v.tier, Some(TierLevel::Heavier));
}

#[test]
fn serious_flag_picks_the_flagged_tier() {
    let b = book();
    let mut f = facts("2025-05-10");
    f.illegal_income_yuan = Some(2000);
    f.flags = vec!["serious".into()];
    let v = &guide(&b, &["TDY-63-1"], f).violations[0];
    assert_eq!(v.tier, Some(TierLevel::Serious));
    assert_eq!((v.min_yuan, v.max_yuan), (Some(10000), Some(50000)));
}

#[test]
fn recommendation_moves_with_circumstances() {
    let b = book();
    let mut f = facts("2025-05-10");
    f.illegal_income_yuan = Some(0);
    let base = guide(&b, &["TDY-63-1"], f.clone()).violations[0].recommended_yuan;
    assert_eq!(base, Some(6500));
    f.flags = vec!["remedied".into()];
    let light = &guide(&b, &["TDY-63-1"], f.clone()).violations[0];
    assert_eq!(light.recommended_yuan, Some(4400));
    assert!(light.reasons.join("").contains("第三十二条"));
    f.flags = vec!["obstructed".into()];
    assert_eq!(
        guide(&b, &["TDY-63-1"], f).violations[0].recommended_yuan,
        Some(8600)
    );
}

#[test]
fn exemption_lists_each_unmet_condition() {
    let b = book();
    let mut f = facts("2026-02-10");
    f.prior_violations = Some(0);
    f.first_offence_checked_online = true;
    f.flags = vec!["reloaded".into(), "slight_harm".into()];
    let e = &guide(&b, &["TGB-69"], f.clone()).violations[0].exemption;
    assert_eq!(e.status, ExemptionStatus::NotEligible);
    assert_eq!(
        e.unmet,
        vec!["在规定期限内清除、修复或者承担费用".to_string()]
    );
    f.flags.push("cleaned_or_paid".into());
    let e = &guide(&b, &["TGB-69"], f.clone()).violations[0].exemption;
    assert_eq!(e.status, ExemptionStatus::Eligible);
    assert_eq!(e.outcome, Some(ExemptionOutcome::MayNotPenalise));
    assert!(e.documents.iter().any(|d| d.contains("告知承诺书")));
    f.first_offence_checked_online = false;
    let e = &guide(&b, &["TGB-69"], f.clone()).violations[0].exemption;
    assert_eq!(e.status, ExemptionStatus::NeedsOnlineCheck);
    f.flags.push("obstructed".into());
    let e = &guide(&b, &["TGB-69"], f).violations[0].exemption;
    assert_eq!(e.unmet, vec!["未拒绝、阻碍执法人员调查取证".to_string()]);
}

#[test]
fn children_and_no_fault_must_not_be_penalised() {
    let b = book();
    let mut f = facts("2026-02-10");
    f.age = Some(13);
    let e = &guide(&b, &["TGB-69"], f).violations[0].exemption;
    assert_eq!(e.status, ExemptionStatus::MustNotPenalise);
}

#[test]
fn procedure_thresholds() {
    let b = book();
    let mut f = facts("2025-05-10");
    f.illegal_income_yuan = Some(0);
    let g = guide(&b, &["TDY-63-1"], f.clone());
    assert!(!g.procedure.summary_allowed);
    assert!(!g.procedure.hearing_required);
    f.party_type = PartyType::Person;
    f.illegal_income_yuan = Some(50_000);
    let g = guide(&b, &["TDY-63-1"], f);
    assert!(g.procedure.hearing_required);
    assert!(g.procedure.legal_review_required);
    assert!(g.procedure.hearing_reason.contains("未核实"));
    assert!(g.deadlines.iter().any(|d| d.id == "hearing_request"));
}

#[test]
fn facts_out_of_range_are_clear_errors() {
    let b = book();
    let mut f = facts("2026-02-10");
    f.gross_weight_kg = Some(-5.0);
    f.axles = Some(0);
    let e = b
        .guide(&GuidanceRequest {
            violations: vec!["CX-43-2".into()],
            facts: f,
        })
        .unwrap_err();
    let paths: Vec<&str> = e.issues().iter().map(|i| i.path.as_str()).collect();
    assert!(paths.contains(&"facts.gross_weight_kg"), "{paths:?}");
    assert!(paths.contains(&"facts.axles"), "{paths:?}");
    let e = b
        .guide(&GuidanceRequest {
            violations: vec!["CX-43-2".into()],
            facts: facts("1900-01-01"),
        })
        .unwrap_err();
    assert_eq!(e.code(), "DATE_OUT_OF_RANGE");
    let e = b
        .guide(&GuidanceRequest {
            violations: vec!["NOPE-1".into()],
            facts: facts("2026-01-10"),
        })
        .unwrap_err();
    assert_eq!(e.code(), "RULE_NOT_FOUND");
}

#[test]
fn deadlines_across_the_2026_spring_festival() {
    let b = book();
    // Decision Thu 2026-02-12: service within 7 working days → 02-13, 02-14 (调休), 02-24…02-27, 02-28 (调休).
    assert_eq!(
        b.deadline("service", "2026-02-12").unwrap().due.to_string(),
        "2026-02-28"
    );
    // Payment 15 days from service 2026-02-05 → 02-20 is a holiday → next working day 02-24.
    assert_eq!(
        b.deadline("payment", "2026-02-05").unwrap().due.to_string(),
        "2026-02-24"
    );
    // Publication: 20 working days.
    assert_eq!(
        b.deadline("publication", "2026-02-12")
            .unwrap()
            .due
            .to_string(),
        "2026-03-18"
    );
    let all = b.deadlines("decision", "2026-02-12").unwrap();
    assert!(all.iter().any(|d| d.id == "major_filing"));
}

#[test]
fn a_deadline_in_2027_is_an_error_not_a_guess() {
    let b = book();
    let e = b.deadline("publication", "2026-12-20").unwrap_err();
    assert_eq!(e.code(), "CALENDAR_YEAR_MISSING");
    assert!(e.message().contains("2027"));
    let e = b.deadline("service", "2027-01-05").unwrap_err();
    assert_eq!(e.code(), "CALENDAR_YEAR_MISSING");
}

#[test]
fn deadlines_from_service_are_answered_one_by_one() {
    let b = book();
    // Served Wed 2026-07-01. 处罚法 67: pay within 15 days of receipt → Thu 2026-07-16, a working
    // day. 行政复议法 20: 60 days → Sun 2026-08-30, not a working day → Mon 2026-08-31.
    // 行政诉讼法 46: six months → 2027-01-01, in a year the calendar does not cover: no date, the
    // reason given, the others still answered.
    let all = b.deadlines("service", "2026-07-01").unwrap();
    let by_id = |id: &str| {
        all.iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("{id} missing: {all:?}"))
    };
    let payment = by_id("payment");
    assert_eq!(
        payment.due.map(|d| d.to_string()).as_deref(),
        Some("2026-07-16")
    );
    assert_eq!(payment.days, 15);
    assert_eq!(payment.unit, DeadlineUnit::CalendarDays);
    assert!(payment.basis.contains("第六十七条"), "{}", payment.basis);
    assert_eq!(payment.error_code, None);
    assert_eq!(payment.reason, None);
    assert_eq!(payment.start.to_string(), "2026-07-01");
    let reconsideration = by_id("reconsideration");
    assert_eq!(
        reconsideration.due.map(|d| d.to_string()).as_deref(),
        Some("2026-08-31")
    );
    let litigation = by_id("litigation");
    assert_eq!(litigation.due, None);
    assert_eq!(
        litigation.error_code.as_deref(),
        Some("CALENDAR_YEAR_MISSING")
    );
    let reason = litigation.reason.as_deref().unwrap_or_default();
    assert!(reason.contains("2027 年"), "{reason}");
    assert!(reason.contains("2027-01-01"), "{reason}");
    // Every deadline running from service is listed, in the policy's order.
    let ids: Vec<&str> = all.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["payment", "reconsideration", "litigation"]);
    // The single-deadline call still refuses to compute it.
    let e = b.deadline("litigation", "2026-07-01").unwrap_err();
    assert_eq!(e.code(), "CALENDAR_YEAR_MISSING");
    assert_eq!(
        b.deadline("payment", "2026-07-01").unwrap().due.to_string(),
        "2026-07-16"
    );
}

#[test]
fn deadlines_starting_in_a_missing_year_are_all_marked() {
    let b = book();
    let all = b.deadlines("decision", "2027-03-01").unwrap();
    assert!(!all.is_empty());
    for d in &all {
        assert_eq!(d.due, None, "{d:?}");
        assert_eq!(d.error_code.as_deref(), Some("CALENDAR_YEAR_MISSING"));
        assert!(d.reason.as_deref().unwrap_or_default().contains("2027"));
    }
    // An unknown event or a bad date is still an error of the whole call.
    assert_eq!(
        b.deadlines("arrival", "2026-07-01").unwrap_err().code(),
        "EVENT_UNKNOWN"
    );
    assert_eq!(
        b.deadlines("service", "2026-13-01").unwrap_err().code(),
        "DATE_INVALID"
    );
}

#[test]
fn pinyin_initials_find_chaoxian() {
    let b = book();
    let hits = b.search("cx", 10);
    assert!(hits.iter().any(|h| h.code == "CX-43-2"), "{hits:?}");
    let hits = b.search("超限", 10);
    assert!(hits.iter().any(|h| h.code == "CX-43-1"));
    let hits = b.search("第六十九条", 50);
    assert!(hits.iter().any(|h| h.code == "TGB-69"), "{hits:?}");
    let hits = b.search("tdy-63", 10);
    assert_eq!(hits[0].code, "TDY-63-1");
    assert_eq!(hits[0].versions, 2);
    assert!(b.by_category("超限运输").len() >= 2);
    assert!(b.item("CX-43-2").is_ok());
    assert_eq!(b.item("XX-1").unwrap_err().code(), "RULE_NOT_FOUND");
}

/// What an officer types at the roadside and what must come first.
struct SearchCase {
    query: &'static str,
    /// The results start with these groups, one after the other; within a group in any order.
    leading: &'static [&'static [&'static str]],
    /// The first `n` results all name this in the violation (no coincidental match among them).
    named: Option<(usize, &'static str)>,
}

const SEARCH_CASES: &[SearchCase] = &[
    // The code on a form: exact, then its start.
    SearchCase {
        query: "CX-43-2",
        leading: &[&["CX-43-2"]],
        named: None,
    },
    SearchCase {
        query: "dy-63",
        leading: &[&["DY-63-1", "DY-63-2", "DY-63-3"]],
        named: None,
    },
    SearchCase {
        query: "gl",
        leading: &[&[
            "GL-76-1", "GL-76-2", "GL-76-3", "GL-76-4", "GL-76-5", "GL-76-6", "GL-77-1", "GL-77-2",
            "GL-78", "GL-79", "GL-80", "GL-81",
        ]],
        named: None,
    },
    SearchCase {
        query: "43",
        leading: &[&["CX-43-1", "CX-43-2"]],
        named: None,
    },
    // `cx` is both the code of the 超限规定 items and the initials of 超限: the codes first, then
    // the items whose keyword is 超限; 班次行驶 (ci xing) is not among the first.
    SearchCase {
        query: "cx",
        leading: &[&["CX-43-1", "CX-43-2"], &["GB-64", "GL-76-5"]],
        named: Some((9, "超限")),
    },
    // 无证: unlicensed operation (无证经营), then the stations letting unlicensed vehicles in
    // (无证车辆进站), then the unlicensed station (无证经营客运站).
    SearchCase {
        query: "无证",
        leading: &[
            &["DY-63-1", "DY-63-2", "DY-63-3"],
            &["DY-70-1", "DY-70-2"],
            &["DY-65-1"],
        ],
        named: None,
    },
    SearchCase {
        query: "wzjy",
        leading: &[&["DY-63-1", "DY-63-2", "DY-63-3"], &["DY-65-1"]],
        named: None,
    },
    // 超载: the item named 超载超限 before the general 超限 item that also lists it, then the
    // stations letting overloaded vehicles out.
    SearchCase {
        query: "超载",
        leading: &[&["CX-43-2"], &["GB-64"], &["DY-70-1", "DY-70-2"]],
        named: None,
    },
    // 超限: the items whose word is 超限 itself, then every other 超限 item before anything else.
    SearchCase {
        query: "超限",
        leading: &[&["GB-64", "GL-76-5"]],
        named: Some((9, "超限")),
    },
    SearchCase {
        query: "黑车",
        leading: &[&["DY-63-2"]],
        named: None,
    },
    // 遗洒: the item naming it (公路安全保护条例 69) before the one listing it as a keyword.
    SearchCase {
        query: "遗洒",
        leading: &[&["GB-69"], &["DY-68-2-2"]],
        named: None,
    },
    SearchCase {
        query: "ys",
        leading: &[&["GB-69", "DY-68-2-2"]],
        named: None,
    },
    SearchCase {
        query: "挖掘",
        leading: &[&["GL-76-1"], &["GL-76-4"]],
        named: None,
    },
    SearchCase {
        query: "标志",
        leading: &[&["GL-79"]],
        named: None,
    },
    SearchCase {
        query: "txz",
        leading: &[&["GB-65-1", "GB-65-2"]],
        named: None,
    },
    SearchCase {
        query: "拉客",
        leading: &[&["DY-68-2-1"]],
        named: None,
    },
    SearchCase {
        query: "驾校",
        leading: &[&["DY-65-3"]],
        named: None,
    },
    SearchCase {
        query: "擅自挖掘",
        leading: &[&["GL-76-1"]],
        named: None,
    },
];

#[test]
fn search_ranks_as_an_officer_expects() {
    let b = RuleBook::bundled().unwrap();
    for case in SEARCH_CASES {
        let hits = b.search(case.query, 50);
        let codes: Vec<&str> = hits.iter().map(|h| h.code.as_str()).collect();
        let mut at = 0;
        for group in case.leading {
            let Some(got) = codes.get(at..at + group.len()) else {
                panic!(
                    "query {}: fewer results than expected: {codes:?}",
                    case.query
                );
            };
            let mut got = got.to_vec();
            got.sort_unstable();
            let mut want = group.to_vec();
            want.sort_unstable();
            assert_eq!(got, want, "query {}: {codes:?}", case.query);
            at += group.len();
        }
        if let Some((n, word)) = case.named {
            assert!(hits.len() >= n, "query {}: {codes:?}", case.query);
            for h in &hits[..n] {
                assert!(
                    h.name.contains(word),
                    "query {}: {} ({}) among the first {n}: {codes:?}",
                    case.query,
                    h.code,
                    h.name
                );
            }
        }
    }
}

#[test]
fn search_says_what_matched() {
    let b = book();
    let first = |q: &str| b.search(q, 1).into_iter().next().expect(q);
    assert_eq!(first("CX-43-2").matched, "code");
    assert_eq!(first("擅自挖掘").matched, "keyword");
    assert_eq!(first("遗洒").matched, "keyword");
    assert_eq!(first("车货总高度").matched, "name");
    assert_eq!(first("ys").matched, "pinyin");
    assert_eq!(first("第六十九条").matched, "text");
    assert!(b.search("", 10).is_empty());
    assert!(b.search("  ", 10).is_empty());
    assert!(b.search("\u{1f}", 10).is_empty());
    assert!(b.search("zzzz", 10).is_empty());
    assert_eq!(b.search("超限", 3).len(), 3);
    // Codes matched by their start come in code order.
    let gl: Vec<String> = b.search("gl", 12).into_iter().map(|h| h.code).collect();
    let mut sorted = gl.clone();
    sorted.sort();
    assert_eq!(gl, sorted);
}

fn bad(text: &str) -> crate::RoadsideError {
    let mut f = base_files();
    f.insert("discretion/bad.toml".into(), text.into());
    RuleBook::from_files(f).unwrap_err()
}

fn has_issue(e: &crate::RoadsideError, path_end: &str, code: &str) -> bool {
    e.issues()
        .iter()
        .any(|i| i.path.ends_with(path_end) && i.code == code)
}

const CHAOXIAN: &str = include_str!("../../../reference/discretion/chaoxian.toml");

#[test]
fn bad_files_name_row_and_field() {
    // Missing field.
    let e = bad(&CHAOXIAN.replacen("category = \"超限运输\"\n", "", 1));
    assert!(
        has_issue(&e, "item[0].category", "REF_MISSING_FIELD"),
        "{e:?}"
    );
    assert!(e.issues()[0].path.starts_with("discretion/bad.toml: "));
    // min > max.
    let e = bad(&CHAOXIAN.replacen(
        "min_yuan = 200\n  max_yuan = 1000",
        "min_yuan = 2000\n  max_yuan = 1000",
        1,
    ));
    assert!(
        has_issue(&e, "item[0].tier[1].max_yuan", "REF_MIN_GT_MAX"),
        "{e:?}"
    );
    // Unknown unit.
    let e = bad(&CHAOXIAN.replace("unit = \"kg\"", "unit = \"斤\""));
    assert!(
        has_issue(&e, "item[1].tier[1].per_unit.unit", "REF_UNKNOWN_UNIT"),
        "{e:?}"
    );
    // Overlapping and gapped tiers.
    let e = bad(&CHAOXIAN.replace("\"(1000, ∞)\"", "\"[1000, ∞)\""));
    assert!(
        has_issue(&e, "item[1].tier[1].when.over_kg", "REF_TIER_OVERLAP"),
        "{e:?}"
    );
    let e = bad(&CHAOXIAN.replace("\"(1000, ∞)\"", "\"(1500, ∞)\""));
    assert!(has_issue(&e, "when.over_kg", "REF_TIER_GAP"), "{e:?}");
    // Dates overlapping for the same code (the file twice under another name).
    let e = bad(CHAOXIAN);
    assert!(
        has_issue(&e, "item[0].valid_from", "REF_DATES_OVERLAP"),
        "{e:?}"
    );
    // Unverified without a note; unknown flag; TOML syntax with its line.
    let e = bad(&CHAOXIAN.replacen(
        "verified = true\nnote = \"\"",
        "verified = false\nnote = \"\"",
        1,
    ));
    assert!(
        has_issue(&e, "item[0].note", "REF_UNVERIFIED_NO_NOTE"),
        "{e:?}"
    );
    let e = bad(&CHAOXIAN.replacen("warning = true", "warning = true\n  flags = [\"drunk\"]", 1));
    assert!(has_issue(&e, "flags[0]", "REF_UNKNOWN_FLAG"), "{e:?}");
    let e = bad(&CHAOXIAN.replacen("keywords = [", "keywords = [[", 1));
    assert_eq!(e.issues()[0].code, "REF_TOML");
    assert!(e.issues()[0].path.contains("line"), "{e:?}");
    let e = bad(&CHAOXIAN.replacen(
        "level = \"轻微\"",
        "level = \"轻微\"\n  colour = \"red\"",
        1,
    ));
    assert!(e.issues()[0].message.contains("colour"), "{e:?}");
}

#[test]
fn import_keeps_previous_data_when_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let b = RuleBook::load(dir.path()).unwrap();
    let src = dir.path().join("incoming");
    std::fs::create_dir_all(&src).unwrap();
    // A valid file: imported and loaded on the next start.
    let good = src.join("zz_test.toml");
    std::fs::write(&good, DY63).unwrap();
    let (b2, report) = b.import_file(dir.path(), &good).unwrap();
    assert_eq!(report.relpath, "discretion/zz_test.toml");
    assert_eq!(report.discretion_items, 3);
    assert!(report.unverified.contains(&"TDY-63-1".to_string()));
    assert!(b2.item("TDY-63-1").is_ok());
    let target = dir.path().join("reference/discretion/zz_test.toml");
    assert!(target.is_file());
    assert!(RuleBook::load(dir.path()).unwrap().item("TGB-69").is_ok());
    // An invalid version of the same file: rejected, the previous file untouched.
    std::fs::write(&good, DY63.replace("max_yuan = 100000", "max_yuan = 10")).unwrap();
    let e = b2.import_file(dir.path(), &good).unwrap_err();
    assert!(
        has_issue(&e, "item[0].tier[0].max_yuan", "REF_MIN_GT_MAX"),
        "{e:?}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), DY63);
    assert!(RuleBook::load(dir.path()).unwrap().item("TDY-63-1").is_ok());
    // An exemption naming a code that does not exist.
    let ex = src.join("extra.toml");
    std::fs::write(&ex, EXEMPT.replace("[\"TGB-69\"]", "[\"GB-99\"]")).unwrap();
    let e = b2.import_file(dir.path(), &ex).unwrap_err();
    assert!(has_issue(&e, "applies_to[0]", "REF_UNKNOWN_CODE"), "{e:?}");
    assert!(!dir.path().join("reference/exemptions/extra.toml").exists());
}

fn draft(amount: i64) -> PenaltyDraft {
    let mut f = facts("2026-02-10");
    f.gross_weight_kg = Some(21_350.0);
    f.axles = Some(2);
    PenaltyDraft {
        facts: f,
        violations: vec![DraftViolation {
            code: "CX-43-2".into(),
            act_id: Some("r1".into()),
            warning: false,
            amount_yuan: amount,
        }],
        procedure: ProcedureKind::General,
        justification: String::new(),
        officers: vec![
            DraftOfficer {
                name: "张三".into(),
                certificate_no: "63250001".into(),
            },
            DraftOfficer {
                name: "李四".into(),
                certificate_no: "63250002".into(),
            },
        ],
        discovered_on: Some("2026-02-10".into()),
        already_fined_acts: vec![],
        collect_on_the_spot: false,
        hard_to_collect_later: false,
    }
}

/// Two officers in force from 2020 to 2030, one whose certificate ended in 2021, one assistant.
fn roster() -> Vec<crate::model::OfficerCertificate> {
    use crate::model::{OfficerCertificate, OfficerRole};
    let day = |s: &str| crate::day::parse_day(s).expect("a day");
    let cert = |no: &str, name: &str, role, to: &str| OfficerCertificate {
        certificate_no: no.into(),
        name: name.into(),
        agency: "632500".into(),
        role,
        valid_from: day("2020-01-01"),
        valid_to: day(to),
        revoked_on: None,
    };
    vec![
        cert("63250001", "张三", OfficerRole::Officer, "2030-12-31"),
        cert("63250002", "李四", OfficerRole::Officer, "2030-12-31"),
        cert("63250003", "王五", OfficerRole::Officer, "2021-12-31"),
        cert("63250004", "赵六", OfficerRole::Assistant, "2030-12-31"),
    ]
}

fn codes(c: &DraftCheck) -> Vec<&str> {
    c.errors.iter().map(|i| i.code.as_str()).collect()
}

#[test]
fn draft_checks() {
    let b = book();
    let c = b.check_draft(&draft(1500), &roster()).unwrap();
    assert!(c.ok, "{:?}", c.errors);
    // Outside the range without, then with, a justification.
    let c = b.check_draft(&draft(2500), &roster()).unwrap();
    assert_eq!(codes(&c), vec!["AMOUNT_OUTSIDE_RANGE_NO_JUSTIFICATION"]);
    let mut d = draft(2500);
    d.justification = "车辆改装，多次逃避检测".into();
    let c = b.check_draft(&d, &roster()).unwrap();
    assert!(c.ok && c.warnings.iter().any(|w| w.code == "AMOUNT_OUTSIDE_RANGE"));
    // Above the statutory maximum: never.
    d.violations[0].amount_yuan = 40_000;
    assert!(codes(&b.check_draft(&d, &roster()).unwrap()).contains(&"AMOUNT_ABOVE_LEGAL_MAX"));
    // Summary procedure above 200 元 for a person.
    let mut d = draft(1500);
    d.procedure = ProcedureKind::Summary;
    assert_eq!(
        codes(&b.check_draft(&d, &roster()).unwrap()),
        vec!["SUMMARY_NOT_ALLOWED"]
    );
    // The same act fined twice.
    let mut d = draft(1500);
    d.already_fined_acts = vec!["r1".into()];
    assert_eq!(
        codes(&b.check_draft(&d, &roster()).unwrap()),
        vec!["DOUBLE_PENALTY"]
    );
    // Limitation: found more than 2 years later.
    let mut d = draft(1500);
    d.facts.act_date = "2023-12-01".into();
    d.discovered_on = Some("2026-01-05".into());
    assert!(codes(&b.check_draft(&d, &roster()).unwrap()).contains(&"LIMITATION_EXPIRED"));
    d.facts.flags = vec!["harm_life_health_finance".into()];
    assert!(!codes(&b.check_draft(&d, &roster()).unwrap()).contains(&"LIMITATION_EXPIRED"));
    // One officer whose certificate has expired, one not on the roster, one assistant: one
    // qualified officer is left each time.
    for (no, code) in [
        ("63250003", "OFFICER_CERTIFICATE_EXPIRED"),
        ("99999999", "OFFICER_NOT_REGISTERED"),
        ("63250004", "OFFICER_NOT_ENFORCER"),
    ] {
        let mut d = draft(1500);
        d.officers[1].certificate_no = no.into();
        assert_eq!(
            codes(&b.check_draft(&d, &roster()).unwrap()),
            vec![code, "OFFICERS_TOO_FEW"]
        );
    }
    // Several violations over the group cap.
    let mut d = draft(30_000);
    d.facts.gross_weight_kg = Some(110_000.0);
    d.facts.axles = Some(6);
    d.facts.combination = Some(true);
    d.facts.height_m = Some(4.8);
    d.facts.width_m = Some(3.0);
    d.facts.length_m = Some(18.0);
    d.violations.push(DraftViolation {
        code: "CX-43-1".into(),
        act_id: Some("r2".into()),
        warning: false,
        amount_yuan: 2000,
    });
    assert!(codes(&b.check_draft(&d, &roster()).unwrap()).contains(&"SUM_CAP_EXCEEDED"));
}

#[test]
fn bundled_content_has_at_least_40_discretion_items() {
    let b = RuleBook::bundled().unwrap();
    assert!(
        b.items().len() >= 40,
        "only {} discretion items",
        b.items().len()
    );
}

#[test]
fn every_bundled_item_guides() {
    let b = RuleBook::bundled().unwrap();
    let mut codes: Vec<&str> = b.items().iter().map(|i| i.code.as_str()).collect();
    codes.dedup();
    let f = Facts {
        act_date: "2026-02-10".into(),
        decision_date: Some("2026-03-02".into()),
        gross_weight_kg: Some(30_000.0),
        axles: Some(2),
        height_m: Some(4.3),
        width_m: Some(2.5),
        length_m: Some(16.0),
        area_m2: Some(3.0),
        depth_m: Some(0.2),
        illegal_income_yuan: Some(0),
        count: Some(1),
        prior_violations: Some(0),
        ..Default::default()
    };
    for c in codes {
        let g = guide(&b, &[c], f.clone());
        assert_eq!(g.violations[0].code, c);
    }
}

#[test]
fn indexed_search_agrees_with_the_naive_scan_over_many_items() {
    // 600 items named from a few words, so a query meets many terms of many items.
    const WORDS: &[&str] = &[
        "超限", "运输", "车辆", "擅自", "挖掘", "公路", "遗洒", "无证", "经营",
    ];
    let mut text = String::from(
        "[meta]\nkind = \"discretion\"\ntitle = \"生成\"\nsource = \"测试\"\nversion = \"2026-01-15\"\n",
    );
    for i in 0..600usize {
        let w = |k: usize| WORDS[(i * 7 + k * 5 + i / 9) % WORDS.len()];
        text.push_str(&format!(
            "\n[[item]]\ncode = \"GEN-{i}\"\nname = \"{}{}{}\"\ncategory = \"类别{}\"\nviolated = \"《某条例》第{}条\"\nbasis = \"《某条例》第{}条\"\nlegal = \"处罚款\"\nkeywords = [\"{}\", \"{}{}\"]\nvalid_from = \"2020-01-01\"\nverified = false\nnote = \"测试\"\n\n  [[item.tier]]\n  level = \"一般\"\n  criteria = \"一般\"\n  min_yuan = 100\n  max_yuan = 500\n  basis = \"《某条例》第1条\"\n",
            w(0), w(1), w(2), i % 5, i % 50, i % 50 + 1, w(3), w(4), w(1)
        ));
    }
    let mut f = base_files();
    f.insert("discretion/zz_generated.toml".into(), text);
    let b = RuleBook::from_files(f).unwrap();
    let mut codes: Vec<String> = b.items().iter().map(|i| i.code.clone()).collect();
    codes.sort();
    codes.dedup();
    let newest: Vec<DiscretionItem> = codes.iter().map(|c| b.item(c).unwrap().clone()).collect();
    assert!(b.search("超限", usize::MAX).len() > 300);
    for q in [
        "超限",
        "cx",
        "ys",
        "无证经营",
        "gen-1",
        "gen",
        "第1",
        "wj",
        "gl",
        "类别3",
        "zzz",
    ] {
        for limit in [1, 7, 50, usize::MAX] {
            let fast: Vec<String> = b.search(q, limit).into_iter().map(|h| h.code).collect();
            let slow: Vec<String> = lookup::naive_search(&newest, q, limit)
                .into_iter()
                .map(|i| newest[i].code.clone())
                .collect();
            assert_eq!(fast, slow, "query {q}, limit {limit}");
        }
    }
}

#[test]
fn indexed_search_agrees_with_the_naive_scan() {
    let b = book();
    for q in [
        "cx",
        "超限",
        "第六十九条",
        "tdy",
        "43",
        "gl",
        "道路运输",
        "zzz",
        "罚款",
    ] {
        let fast: Vec<String> = b.search(q, 1000).into_iter().map(|h| h.code).collect();
        let mut slow: Vec<String> = lookup::naive_search(b.items(), q, usize::MAX)
            .into_iter()
            .map(|i| b.items()[i].code.clone())
            .collect();
        slow.dedup();
        let mut f2 = fast.clone();
        f2.sort();
        slow.sort();
        slow.dedup();
        assert_eq!(f2, slow, "query {q}");
    }
    // Over the newest version of each code, by code, the naive scan ranks exactly as the index.
    let mut codes: Vec<String> = b.items().iter().map(|i| i.code.clone()).collect();
    codes.sort();
    codes.dedup();
    let newest: Vec<DiscretionItem> = codes.iter().map(|c| b.item(c).unwrap().clone()).collect();
    for q in SEARCH_CASES.iter().map(|c| c.query).chain([
        "超限运输",
        "zscx",
        "运输",
        "txz",
        "第六十九条",
        "罚款",
        "dy",
    ]) {
        let fast: Vec<String> = b.search(q, 1000).into_iter().map(|h| h.code).collect();
        let slow: Vec<String> = lookup::naive_search(&newest, q, usize::MAX)
            .into_iter()
            .map(|i| newest[i].code.clone())
            .collect();
        assert_eq!(fast, slow, "query {q}");
    }
}
