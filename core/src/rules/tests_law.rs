//! The law in every sentence the party reads, checked against the statutes' own numbers: the size
//! limits of 超限规定 第三条, the measures an article prescribes besides the fine, the provision
//! violated apart from the provision applied, legal text without data notes, limitation and
//! exemptions in guidance, and 从旧兼从轻 for the old 道路运输条例 第六十三条.

use super::check::{DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
use super::guidance::{ExemptionStatus, Facts, Guidance, GuidanceRequest, PartyType};
use super::load::INTERNAL_MARKERS;
use super::model::MeasureKind;
use super::*;

fn book() -> RuleBook {
    RuleBook::bundled().expect("bundled reference data")
}

fn facts(act: &str, decision: &str) -> Facts {
    Facts {
        act_date: act.into(),
        decision_date: Some(decision.into()),
        ..Default::default()
    }
}

fn guide(b: &RuleBook, code: &str, f: Facts) -> Guidance {
    b.guide(&GuidanceRequest {
        violations: vec![code.to_string()],
        facts: f,
    })
    .expect("guidance")
}

fn sized(h: f64, w: f64, l: f64) -> Facts {
    Facts {
        height_m: Some(h),
        width_m: Some(w),
        length_m: Some(l),
        ..facts("2026-06-01", "2026-06-01")
    }
}

fn draft(code: &str, f: Facts, amount: i64) -> PenaltyDraft {
    PenaltyDraft {
        facts: f,
        violations: vec![DraftViolation {
            code: code.into(),
            act_id: None,
            warning: false,
            amount_yuan: amount,
        }],
        procedure: ProcedureKind::Summary,
        justification: String::new(),
        officers: vec![
            DraftOfficer {
                name: "才让多杰".into(),
                certificate_no: "QH6325000101".into(),
            },
            DraftOfficer {
                name: "李明".into(),
                certificate_no: "QH6325000102".into(),
            },
        ],
        discovered_on: None,
        already_fined_acts: vec![],
        collect_on_the_spot: false,
        hard_to_collect_later: false,
    }
}

// ---- 1. 超限规定 第三条: no fine for a legal vehicle ----------------------------------------------

#[test]
fn a_vehicle_within_the_size_limits_of_article_3_is_no_violation() {
    let b = book();
    // 3.9 m high, 2.5 m wide, 18 m long: within 4 m, 2.55 m, 18.1 m.
    let g = guide(&b, "CX-43-1", sized(3.9, 2.5, 18.0));
    let v = &g.violations[0];
    let why = v.not_offence.as_deref().expect("not a violation");
    assert!(why.contains("第三条") && why.contains("不构成"), "{why}");
    assert_eq!((v.tier, v.recommended_yuan), (None, None));
    assert!(!v.recommended_warning && v.measures.is_empty());
    assert_eq!(g.total_recommended_yuan, 0);
    assert!(g.procedure.no_penalty && !g.procedure.summary_allowed);
    assert!(!g.reasoning.contains("违反了"), "{}", g.reasoning);
    // Exactly at a limit is not over it (第三条 says 超过).
    for f in [sized(4.0, 2.55, 18.1), sized(1.0, 1.0, 1.0)] {
        assert!(guide(&b, "CX-43-1", f).violations[0].not_offence.is_some());
    }
    // The draft check refuses a fine for it.
    let c = b
        .check_draft(
            &draft("CX-43-1", sized(3.9, 2.5, 18.0), 100),
            &crate::demo::roster(),
        )
        .unwrap();
    assert!(c.errors.iter().any(|e| e.code == "NOT_AN_OFFENCE"), "{c:?}");
}

#[test]
fn any_one_size_over_article_3_is_a_violation_with_the_article_43_tier() {
    let b = book();
    // One dimension over, each in turn: 4.01 m high, 2.56 m wide, 18.2 m long.
    for f in [
        sized(4.01, 2.5, 18.0),
        sized(3.9, 2.56, 18.0),
        sized(3.9, 2.5, 18.2),
    ] {
        let v = &guide(&b, "CX-43-1", f).violations[0];
        assert!(v.not_offence.is_none());
        assert_eq!(v.tier, Some(TierLevel::Slight));
        assert_eq!((v.min_yuan, v.max_yuan), (Some(0), Some(200)));
    }
    // 4.4 m high: over 4.2 m, within 4.5 m → 200–1000 (第四十三条第一款第（一）项).
    let v = &guide(&b, "CX-43-1", sized(4.4, 2.5, 18.0)).violations[0];
    assert_eq!((v.min_yuan, v.max_yuan), (Some(200), Some(1000)));
    // Height over with width and length not measured: a violation, the tier needs the rest.
    let f = Facts {
        height_m: Some(4.3),
        ..facts("2026-06-01", "2026-06-01")
    };
    let v = &guide(&b, "CX-43-1", f).violations[0];
    assert!(v.not_offence.is_none() && v.tier.is_none());
    assert!(
        v.missing_facts.iter().any(|m| m.contains("width_m")),
        "{v:?}"
    );
    // Nothing measured: whether it is a violation at all is unknown, not denied.
    let v = &guide(&b, "CX-43-1", facts("2026-06-01", "2026-06-01")).violations[0];
    assert!(v.not_offence.is_none() && !v.missing_facts.is_empty());
}

#[test]
fn a_weight_within_article_3_is_no_violation_either() {
    let b = book();
    // 2 axles, 18,000 kg is the limit (第三条第一款第（四）项): 17,900 kg is within it.
    let f = Facts {
        gross_weight_kg: Some(17_900.0),
        axles: Some(2),
        combination: Some(false),
        ..facts("2026-06-01", "2026-06-01")
    };
    let v = &guide(&b, "CX-43-2", f).violations[0];
    assert!(v.not_offence.is_some() && v.recommended_yuan.is_none());
    let f = Facts {
        gross_weight_kg: Some(21_350.0),
        axles: Some(2),
        combination: Some(false),
        ..facts("2026-06-01", "2026-06-01")
    };
    // 3,350 kg over: 3 whole tonnes × 500 元 = 1,500 元.
    let v = &guide(&b, "CX-43-2", f).violations[0];
    assert_eq!(v.recommended_yuan, Some(1500));
}

// ---- 2. Measures the article prescribes with the fine ----------------------------------------

#[test]
fn unlicensed_freight_orders_the_business_stopped_and_confiscates_the_income() {
    let b = book();
    // 道路运输条例 63(1): 违法所得 12,000 元 > 1万 → 1–5 倍; 责令停止经营, 没收违法所得.
    let f = Facts {
        illegal_income_yuan: Some(12_000),
        ..facts("2026-06-01", "2026-06-10")
    };
    let g = guide(&b, "DY-63-1", f);
    let v = &g.violations[0];
    assert_eq!((v.min_yuan, v.max_yuan), (Some(12_000), Some(60_000)));
    let stop = v
        .measures
        .iter()
        .find(|m| m.name == "责令停止经营")
        .unwrap();
    assert!(stop.applies && stop.kind == MeasureKind::Order);
    let conf = v
        .measures
        .iter()
        .find(|m| m.name == "没收违法所得")
        .unwrap();
    assert!(conf.applies && conf.kind == MeasureKind::Penalty);
    assert_eq!(conf.amount_yuan, Some(12_000));
    assert!(g.reasoning.contains("责令停止经营"), "{}", g.reasoning);
    assert!(g.reasoning.contains("没收违法所得人民币12,000元"));
    // No illegal income: nothing to confiscate, the business is still stopped.
    let f = Facts {
        illegal_income_yuan: Some(0),
        ..facts("2026-06-01", "2026-06-10")
    };
    let v = &guide(&b, "DY-63-1", f).violations[0];
    let names: Vec<&str> = v.measures.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["责令停止经营"]);
    assert_eq!((v.min_yuan, v.max_yuan), (Some(3000), Some(10_000)));
}

#[test]
fn a_measure_whose_condition_is_unknown_is_flagged_by_the_draft_check() {
    let b = book();
    // 违法所得 not filled: the tier and the confiscation both wait for it.
    let mut d = draft("DY-63-1", facts("2026-06-01", "2026-06-10"), 5000);
    d.procedure = ProcedureKind::General;
    let c = b.check_draft(&d, &crate::demo::roster()).unwrap();
    let v = &c.guidance.violations[0];
    let conf = v
        .measures
        .iter()
        .find(|m| m.name == "没收违法所得")
        .unwrap();
    assert!(!conf.applies && !conf.missing_facts.is_empty());
    assert!(
        c.warnings
            .iter()
            .any(|w| w.code == "MEASURE_CONDITION_UNKNOWN" && w.message.contains("没收违法所得")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn revocation_when_serious_carries_the_hearing_right() {
    let b = book();
    // 道路运输条例 68: 情节严重的，吊销道路运输经营许可证 — a penalty with a hearing (处罚法 63).
    let mut f = facts("2026-06-01", "2026-06-10");
    let v = &guide(&b, "DY-68-1", f.clone()).violations[0];
    assert!(!v.measures.iter().any(|m| m.name.contains("吊销")));
    assert!(!v.hearing_required);
    f.flags = vec!["serious".into()];
    let g = guide(&b, "DY-68-1", f);
    let v = &g.violations[0];
    let r = v.measures.iter().find(|m| m.name.contains("吊销")).unwrap();
    assert!(r.applies && r.kind == MeasureKind::Penalty);
    assert!(v.hearing_required && g.procedure.hearing_required);
}

#[test]
fn every_item_with_a_fine_or_measure_article_lists_its_orders() {
    // The articles below all order correction or stopping with the fine.
    let b = book();
    for (code, order) in [
        ("CX-43-1", "责令改正"),
        ("CX-43-2", "责令改正"),
        ("DY-63-2", "责令停止经营"),
        ("DY-63-3", "责令停止经营"),
        ("DY-64", "责令改正"),
        ("DY-65-1", "责令停止经营"),
        ("DY-66", "责令停止违法行为"),
        ("DY-69-1", "责令改正"),
        ("GB-64", "责令改正"),
        ("GB-69", "责令改正"),
        ("GL-76-1", "责令停止违法行为"),
        ("GL-77-1", "责令停止违法行为"),
        ("GL-79", "责令限期拆除"),
        ("GL-80", "责令恢复原状"),
    ] {
        let item = b.item(code).unwrap();
        assert!(
            item.measures
                .iter()
                .any(|m| m.name.starts_with(order) && m.kind == MeasureKind::Order),
            "{code}: {:?}",
            item.measures
        );
    }
}

// ---- 3. The provision violated and the provision applied -------------------------------------

#[test]
fn every_item_names_the_provision_violated_apart_from_the_penalty_clause() {
    let b = book();
    for it in b.items() {
        assert_ne!(it.violated, it.basis, "{} {}", it.code, it.valid_from);
        assert!(it.violated.starts_with('《'), "{}", it.code);
        if !it.violated_verified {
            assert!(
                !it.note.trim().is_empty(),
                "{}: an unverified violated provision is explained in the note",
                it.code
            );
        }
    }
    // A verified item may not cite the penalty clause as the provision violated.
    let bad = r#"
[meta]
kind = "discretion"
title = "测试"
source = "测试"
version = "2026-01-15"

[[item]]
code = "TX-1"
name = "测试违法行为"
category = "测试"
violated = "《测试条例》第九条"
basis = "《测试条例》第九条"
legal = "处1000元以下的罚款"
valid_from = "2020-01-01"
verified = true

  [[item.tier]]
  level = "一般"
  criteria = "测试"
  min_yuan = 0
  max_yuan = 1000
  basis = "《测试条例》第九条"
"#;
    let e = super::load::parse_file("discretion/t.toml", bad).unwrap_err();
    assert!(
        e.iter()
            .any(|i| i.code == "REF_VIOLATED_IS_BASIS" && i.path.ends_with("item[0].violated")),
        "{e:?}"
    );
}

// ---- 4. Legal text only in what the party reads ----------------------------------------------

/// Facts that settle a tier for most items.
fn full_facts(act: &str) -> Facts {
    Facts {
        illegal_income_yuan: Some(5000),
        area_m2: Some(3.0),
        depth_m: Some(0.2),
        count: Some(4),
        height_m: Some(4.3),
        width_m: Some(2.5),
        length_m: Some(18.0),
        gross_weight_kg: Some(21_350.0),
        axles: Some(2),
        combination: Some(false),
        party_type: PartyType::Organisation,
        flags: vec!["refused_correction".into()],
        ..facts(act, "2026-06-10")
    }
}

#[test]
fn no_data_note_or_unverified_date_reaches_the_party() {
    let b = book();
    let mut codes: Vec<&str> = b.items().iter().map(|i| i.code.as_str()).collect();
    codes.dedup();
    for code in codes {
        for act in ["2022-06-01", "2026-06-01"] {
            let Ok(g) = b.guide(&GuidanceRequest {
                violations: vec![code.into()],
                facts: full_facts(act),
            }) else {
                continue;
            };
            for m in INTERNAL_MARKERS {
                assert!(
                    !g.reasoning.contains(m),
                    "{code} {act}: 「{m}」 in {}",
                    g.reasoning
                );
            }
            // The data's own dates (valid_from of a version) are not stated as fact.
            for d in [
                "2004-07-01",
                "2004年7月1日",
                "1998-01-01",
                "2011-07-01",
                "起施行",
            ] {
                assert!(
                    !g.reasoning.contains(d),
                    "{code} {act}: {d} in {}",
                    g.reasoning
                );
            }
            for v in &g.violations {
                for m in INTERNAL_MARKERS {
                    assert!(!v.legal.contains(m) && !v.violated.contains(m), "{code}");
                }
            }
        }
    }
}

#[test]
fn legal_text_with_a_data_note_is_refused_at_import() {
    let bad = r#"
[meta]
kind = "discretion"
title = "测试"
source = "测试"
version = "2026-01-15"

[[item]]
code = "TX-1"
name = "测试违法行为"
category = "测试"
violated = "《测试条例》第三条"
basis = "《测试条例》第九条"
legal = "处1000元以下的罚款；其他措施未录入，见备注"
measures = ["卸载"]
valid_from = "2020-01-01"
verified = false
note = "测试"

  [[item.tier]]
  level = "一般"
  criteria = "测试（分档待核实）"
  min_yuan = 0
  max_yuan = 1000
  basis = "《测试条例》第九条"
"#;
    let e = super::load::parse_file("discretion/t.toml", bad).unwrap_err();
    let has = |code: &str, path: &str| e.iter().any(|i| i.code == code && i.path.ends_with(path));
    assert!(has("REF_INTERNAL_NOTE", "item[0].legal"), "{e:?}");
    assert!(
        has("REF_INTERNAL_NOTE", "item[0].tier[0].criteria"),
        "{e:?}"
    );
    // A measure whose kind the name does not say must state it.
    assert!(
        has("REF_MISSING_FIELD", "item[0].measures[0].kind"),
        "{e:?}"
    );
}

// ---- 5. Guidance says what the draft check would ---------------------------------------------

#[test]
fn guidance_answers_the_limitation_of_article_36() {
    let b = book();
    // Act 2022-01-01, found (立案) 2024-06-01: more than two years → no penalty.
    let f = Facts {
        filing_date: Some("2024-06-01".into()),
        area_m2: Some(3.0),
        ..facts("2022-01-01", "2026-06-10")
    };
    let g = guide(&b, "GB-69", f.clone());
    let why = g.limitation.as_deref().expect("limitation");
    assert!(
        why.contains("第三十六条") && why.contains("不再给予行政处罚"),
        "{why}"
    );
    assert_eq!(g.violations[0].recommended_yuan, None);
    assert_eq!(g.total_recommended_yuan, 0);
    assert!(g.procedure.no_penalty && !g.procedure.summary_allowed);
    assert!(g.reasoning.starts_with("违法行为发生于2022年1月1日"));
    // Life, health or financial safety harmed: five years, still in time.
    let mut f5 = f.clone();
    f5.flags = vec!["harm_life_health_finance".into()];
    let g = guide(&b, "GB-69", f5);
    assert!(g.limitation.is_none() && g.violations[0].recommended_yuan.is_some());
    // Found on 2023-12-31: within two years.
    let mut f2 = f;
    f2.filing_date = Some("2023-12-31".into());
    assert!(guide(&b, "GB-69", f2).limitation.is_none());
}

#[test]
fn an_exemption_that_applies_leads_and_no_fine_is_recommended() {
    let b = book();
    let mut f = facts("2026-06-01", "2026-06-10");
    f.prior_violations = Some(0);
    f.first_offence_checked_online = true;
    f.flags = [
        "reloaded",
        "slight_harm",
        "no_accident",
        "no_congestion",
        "cleaned_or_paid",
    ]
    .map(String::from)
    .to_vec();
    let g = guide(&b, "GB-69", f.clone());
    let v = &g.violations[0];
    assert_eq!(v.exemption.status, ExemptionStatus::Eligible);
    assert!(v.reasons[0].contains("免予处罚"), "{:?}", v.reasons);
    assert!(v.reasons[0].contains("第三十三条第一款"));
    assert_eq!((v.recommended_yuan, v.recommended_warning), (None, false));
    assert!(!g.reasoning.contains("建议罚款"));
    assert!(g.procedure.no_penalty && !g.procedure.summary_allowed);
    // One condition unmet: a fine is recommended as usual.
    f.flags.retain(|x| x != "reloaded");
    let g = guide(&b, "GB-69", f);
    assert_eq!(
        g.violations[0].exemption.status,
        ExemptionStatus::NotEligible
    );
    assert!(g.violations[0].recommended_yuan.is_some());
    assert!(!g.procedure.no_penalty);
}

// ---- 6. 从旧兼从轻 for the old art. 63 with illegal income -------------------------------------

#[test]
fn old_article_63_with_illegal_income_is_compared_not_left_to_the_officer() {
    let b = book();
    // Act 2022-06-01 (old text), decided 2026-06-10 (new text), 违法所得 30,000 元:
    // old: 2–10 倍 = 60,000–300,000; new 63(1): > 1万 → 1–5 倍 = 30,000–150,000 → new is lighter.
    let f = Facts {
        illegal_income_yuan: Some(30_000),
        ..facts("2022-06-01", "2026-06-10")
    };
    let g = guide(&b, "DY-63-1", f);
    let v = &g.violations[0];
    assert!(!v.law_choice.contains("人工"), "{}", v.law_choice);
    assert!(v.law_choice.contains("第三十七条") && v.law_choice.contains("从旧兼从轻"));
    assert_eq!((v.min_yuan, v.max_yuan), (Some(30_000), Some(150_000)));
    assert!(g.reasoning.starts_with("违法行为发生于2022年6月1日"));
    // 违法所得 15,000 元: old (不足2万) 30,000–100,000; new 15,000–75,000 → new.
    let f = Facts {
        illegal_income_yuan: Some(15_000),
        ..facts("2022-06-01", "2026-06-10")
    };
    let v = &guide(&b, "DY-63-1", f).violations[0];
    assert_eq!((v.min_yuan, v.max_yuan), (Some(15_000), Some(75_000)));
    // Passenger transport, 30,000 元: old and new both 2–10 倍 → the old text stays.
    let f = Facts {
        illegal_income_yuan: Some(30_000),
        ..facts("2022-06-01", "2026-06-10")
    };
    let v = &guide(&b, "DY-63-2", f).violations[0];
    assert_eq!(
        v.version_valid_to.map(|d| d.to_string()).as_deref(),
        Some("2023-07-19")
    );
    assert_eq!((v.min_yuan, v.max_yuan), (Some(60_000), Some(300_000)));
    assert!(v.law_choice.contains("并不更轻"));
}

// ---- Tables keep all of it -------------------------------------------------------------------

#[cfg(feature = "tables")]
#[test]
fn every_benchmark_file_round_trips_through_a_table_with_its_measures() {
    let b = book();
    let dir = tempfile::tempdir().unwrap();
    let files: std::collections::BTreeMap<&str, ()> = b
        .items()
        .iter()
        .map(|i| (i.source_file.as_str(), ()))
        .collect();
    for file in files.keys() {
        let out = dir.path().join("t.csv");
        super::tables::export_table(&b, "csv", &out, Some(file)).unwrap();
        let (_, text, _) = super::tables::import_table(&out, "t").unwrap();
        let (_, parsed) = super::load::parse_file("discretion/t.toml", &text).unwrap();
        let super::load::Parsed::Discretion(items) = parsed else {
            panic!("not discretion")
        };
        let orig: Vec<_> = b
            .items()
            .iter()
            .filter(|i| i.source_file == *file)
            .collect();
        assert_eq!(items.len(), orig.len());
        for (a, o) in items.iter().zip(orig) {
            assert_eq!(a.measures, o.measures, "{}", o.code);
            assert_eq!(a.violated_verified, o.violated_verified, "{}", o.code);
            assert_eq!(a.offence_when, o.offence_when, "{}", o.code);
            assert_eq!(a.not_offence, o.not_offence, "{}", o.code);
            assert_eq!(a.tiers, o.tiers, "{}", o.code);
        }
    }
}
