//! The legal-review catalogue (法制审核目录): the bundled data, what brings a decision under each
//! item (with the thresholds' boundaries per party type), the summary procedure, unverified items,
//! and bad data refused with its code.

use std::collections::BTreeMap;

use super::check::ProcedureKind;
use super::guidance::{Facts, GuidanceRequest, PartyType};
use super::*;

const CATALOGUE: &str = include_str!("../../../reference/review/catalogue.toml");
const POLICY: &str = include_str!("../../../reference/policy.toml");

fn base_files() -> BTreeMap<String, String> {
    bundled::FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

fn bundled() -> RuleBook {
    RuleBook::bundled().expect("the bundled reference data loads")
}

/// A general-procedure case against `party` with nothing that brings it under the catalogue.
fn case(party: PartyType) -> ReviewCase {
    ReviewCase {
        procedure: ProcedureKind::General,
        party_type: party,
        fine_yuan: 0,
        confiscated_yuan: 0,
        penalties: Vec::new(),
        hearing_held: false,
        flags: Vec::new(),
    }
}

fn codes(need: &ReviewNeed) -> Vec<&str> {
    need.matches.iter().map(|m| m.code.as_str()).collect()
}

fn the_match<'a>(need: &'a ReviewNeed, code: &str) -> &'a ReviewMatch {
    need.matches
        .iter()
        .find(|m| m.code == code)
        .unwrap_or_else(|| panic!("{code} applies: {need:?}"))
}

fn has_issue(e: &crate::RoadsideError, path_end: &str, code: &str) -> bool {
    e.issues()
        .iter()
        .any(|i| i.path.ends_with(path_end) && i.code == code)
}

/// The bundled set with the catalogue replaced by `text`.
fn with_catalogue(text: &str) -> crate::Result<RuleBook> {
    let mut f = base_files();
    f.insert("review/catalogue.toml".into(), text.into());
    RuleBook::from_files(f)
}

/// The catalogue with the item of `code` changed by `edit` (a replacement inside its text).
fn edit_item(code: &str, from: &str, to: &str) -> String {
    let start = CATALOGUE
        .find(&format!("code = \"{code}\""))
        .expect("item in the catalogue");
    let end = CATALOGUE[start..]
        .find("[[item]]")
        .map(|e| start + e)
        .unwrap_or(CATALOGUE.len());
    let item = &CATALOGUE[start..end];
    assert!(item.contains(from), "{code} contains {from}");
    format!(
        "{}{}{}",
        &CATALOGUE[..start],
        item.replacen(from, to, 1),
        &CATALOGUE[end..]
    )
}

#[test]
fn the_bundled_catalogue_has_the_four_situations_of_article_58_verified() {
    let b = bundled();
    let cat = b.review_catalogue();
    for (code, item_no) in [
        ("SH-58-1", "（一）"),
        ("SH-58-2", "（二）"),
        ("SH-58-3", "（三）"),
        ("SH-58-4", "（四）"),
    ] {
        let it = cat.iter().find(|i| i.code == code).expect(code);
        assert_eq!(
            it.basis,
            format!("《中华人民共和国行政处罚法》第五十八条第一款第{item_no}项")
        );
        assert!(it.verified, "{code} is the statute's text");
        assert_eq!(it.source_file, "review/catalogue.toml");
    }
    // Every item of the provincial 目录清单 is an agency default until checked, and says so.
    let provincial: Vec<&ReviewItem> = cat
        .iter()
        .filter(|i| i.code.starts_with("SH-QH-"))
        .collect();
    assert_eq!(provincial.len(), 5);
    for it in provincial {
        assert!(!it.verified, "{} is unverified", it.code);
        assert!(it.note.contains("目录清单"), "{}: {}", it.code, it.note);
        assert!(
            it.basis
                .contains("《青海省交通运输重大行政执法决定法制审核目录清单》"),
            "{}",
            it.code
        );
    }
    // The thresholds by party type.
    let fine = cat
        .iter()
        .find(|i| i.code == "SH-QH-FINE")
        .expect("fine item");
    assert_eq!(
        fine.trigger,
        ReviewTrigger::Fine {
            person_min_yuan: 10_000,
            organisation_min_yuan: 100_000
        }
    );
    // The policy no longer carries its own legal-review threshold: one source.
    assert!(b.policy().legal_review.is_none());
}

/// Sets what brings a case under one item.
type SetUp = fn(&mut ReviewCase);

#[test]
fn each_situation_applies_with_its_citation() {
    let b = bundled();
    let cases: Vec<(&str, SetUp, &str)> = vec![
        (
            "SH-58-1",
            |c| c.flags.push("major_public_interest".into()),
            "第五十八条第一款第（一）项",
        ),
        (
            "SH-58-2",
            |c| c.hearing_held = true,
            "第五十八条第一款第（二）项",
        ),
        (
            "SH-58-3",
            |c| c.flags.push("complex".into()),
            "第五十八条第一款第（三）项",
        ),
        (
            "SH-58-4",
            |c| c.flags.push("law_requires_review".into()),
            "第五十八条第一款第（四）项",
        ),
        ("SH-QH-FINE", |c| c.fine_yuan = 20_000, "法制审核目录清单"),
        (
            "SH-QH-CONFISCATION",
            |c| c.confiscated_yuan = 20_000,
            "法制审核目录清单",
        ),
        (
            "SH-QH-REVOKE",
            |c| c.penalties.push("吊销道路运输经营许可证".into()),
            "法制审核目录清单",
        ),
        (
            "SH-QH-SUSPEND",
            |c| c.penalties.push("责令停产停业".into()),
            "法制审核目录清单",
        ),
        (
            "SH-QH-DETAIN",
            |c| c.penalties.push("暂扣道路运输证".into()),
            "法制审核目录清单",
        ),
    ];
    for (code, set, cite) in cases {
        let mut c = case(PartyType::Person);
        set(&mut c);
        let need = b.legal_review(&c).unwrap();
        assert!(need.required, "{code}");
        assert_eq!(codes(&need), [code], "only {code} applies");
        let m = the_match(&need, code);
        assert!(m.basis.contains(cite), "{code}: {}", m.basis);
        assert!(!m.reason.is_empty() && !m.situation.is_empty());
        assert!(need.summary.contains(&m.situation) && need.summary.contains(&m.basis));
    }
    // Nothing listed: no review.
    let need = b.legal_review(&case(PartyType::Organisation)).unwrap();
    assert!(!need.required && need.matches.is_empty());
    assert_eq!(need.summary, "不属于法制审核目录所列情形");
}

#[test]
fn several_situations_are_all_listed_in_catalogue_order() {
    let b = bundled();
    let mut c = case(PartyType::Organisation);
    c.fine_yuan = 150_000;
    c.hearing_held = true;
    c.flags = vec!["complex".into()];
    c.penalties = vec![
        "吊销道路运输经营许可证".into(),
        "没收违法所得人民币12,000元".into(),
    ];
    let need = b.legal_review(&c).unwrap();
    assert_eq!(
        codes(&need),
        ["SH-58-2", "SH-58-3", "SH-QH-FINE", "SH-QH-REVOKE"]
    );
    assert_eq!(
        the_match(&need, "SH-QH-REVOKE").reason,
        "拟作出的处罚含：吊销道路运输经营许可证"
    );
}

#[test]
fn fine_threshold_boundaries_per_party_type() {
    let b = bundled();
    for (party, min) in [
        (PartyType::Person, 10_000),
        (PartyType::Organisation, 100_000),
    ] {
        for (amount, applies) in [(min - 1, false), (min, true), (min + 1, true)] {
            let mut c = case(party);
            c.fine_yuan = amount;
            let need = b.legal_review(&c).unwrap();
            assert_eq!(need.required, applies, "{party:?} fined {amount}");
            if applies {
                assert_eq!(codes(&need), ["SH-QH-FINE"]);
            }
        }
    }
    // The person's threshold is not the organisation's.
    let mut c = case(PartyType::Organisation);
    c.fine_yuan = 10_000;
    assert!(!b.legal_review(&c).unwrap().required);
    let mut c = case(PartyType::Person);
    c.fine_yuan = 10_000;
    let need = b.legal_review(&c).unwrap();
    assert_eq!(
        the_match(&need, "SH-QH-FINE").reason,
        "罚款 10,000 元，达到对公民罚款 10,000 元以上的标准"
    );
}

#[test]
fn confiscation_threshold_boundaries_per_party_type() {
    let b = bundled();
    for (party, min) in [
        (PartyType::Person, 10_000),
        (PartyType::Organisation, 100_000),
    ] {
        for (amount, applies) in [(min - 1, false), (min, true), (min + 1, true)] {
            let mut c = case(party);
            c.confiscated_yuan = amount;
            let need = b.legal_review(&c).unwrap();
            assert_eq!(need.required, applies, "{party:?} confiscated {amount}");
            if applies {
                assert_eq!(codes(&need), ["SH-QH-CONFISCATION"]);
            }
        }
    }
    // A fine and a confiscation are measured apart, never added up.
    let mut c = case(PartyType::Person);
    c.fine_yuan = 6_000;
    c.confiscated_yuan = 6_000;
    assert!(!b.legal_review(&c).unwrap().required);
}

#[test]
fn a_summary_procedure_decision_never_needs_review() {
    let b = bundled();
    let mut c = case(PartyType::Organisation);
    c.procedure = ProcedureKind::Summary;
    c.fine_yuan = 1_000_000;
    c.confiscated_yuan = 1_000_000;
    c.hearing_held = true;
    c.flags = vec![
        "complex".into(),
        "major_public_interest".into(),
        "law_requires_review".into(),
    ];
    c.penalties = vec!["吊销道路运输经营许可证".into(), "责令停产停业".into()];
    let need = b.legal_review(&c).unwrap();
    assert!(!need.required);
    assert!(need.matches.is_empty());
    assert!(need.summary.contains("简易程序"), "{}", need.summary);
}

#[test]
fn unverified_items_are_flagged_with_their_note() {
    let b = bundled();
    let mut c = case(PartyType::Person);
    c.fine_yuan = 10_000;
    c.flags = vec!["complex".into()];
    let need = b.legal_review(&c).unwrap();
    let statute = the_match(&need, "SH-58-3");
    assert!(statute.verified && statute.note.is_empty());
    let fine = the_match(&need, "SH-QH-FINE");
    assert!(!fine.verified);
    assert!(fine.note.contains("机构默认值"), "{}", fine.note);
    assert!(need.rests_on_unverified());
    // A verified threshold is reported as such.
    let b = with_catalogue(&edit_item(
        "SH-QH-FINE",
        "verified = false",
        "verified = true",
    ))
    .unwrap();
    let need = b.legal_review(&c).unwrap();
    assert!(the_match(&need, "SH-QH-FINE").verified);
    assert!(!need.rests_on_unverified());
}

#[test]
fn bad_input_is_refused_with_every_field() {
    let b = bundled();
    let mut c = case(PartyType::Person);
    c.fine_yuan = -1;
    c.confiscated_yuan = -5;
    c.flags = vec!["complex".into(), "very_complex".into()];
    let e = b.legal_review(&c).unwrap_err();
    assert_eq!(e.kind(), crate::ErrorKind::Invalid);
    assert!(
        has_issue(&e, "fine_yuan", "REVIEW_NEGATIVE_AMOUNT"),
        "{e:?}"
    );
    assert!(has_issue(&e, "confiscated_yuan", "REVIEW_NEGATIVE_AMOUNT"));
    assert!(has_issue(&e, "flags[1]", "FLAG_UNKNOWN"));
}

#[test]
fn bad_catalogue_data_is_refused_with_its_code() {
    let check = |text: String, path_end: &str, code: &str| {
        let e = with_catalogue(&text).unwrap_err();
        assert!(
            e.issues()
                .iter()
                .any(|i| i.path.starts_with("review/catalogue.toml: ")
                    && i.path.ends_with(path_end)
                    && i.code == code),
            "{path_end} {code}: {e:?}"
        );
    };
    check(
        edit_item("SH-58-1", "trigger = \"flag\"", "trigger = \"hearing\""),
        "item[0].trigger",
        "REF_REVIEW_TRIGGER",
    );
    check(
        edit_item(
            "SH-58-2",
            "trigger = \"hearing_held\"",
            "trigger = \"hearing_held\"\nperson_min_yuan = 5",
        ),
        "item[1].person_min_yuan",
        "REF_REVIEW_TRIGGER",
    );
    check(
        edit_item("SH-QH-FINE", "person_min_yuan = 10000\n", ""),
        "item[4].person_min_yuan",
        "REF_MISSING_FIELD",
    );
    check(
        edit_item(
            "SH-QH-FINE",
            "organisation_min_yuan = 100000",
            "organisation_min_yuan = -1",
        ),
        "item[4].organisation_min_yuan",
        "REF_NEGATIVE",
    );
    check(
        edit_item("SH-58-3", "flag = \"complex\"", "flag = \"difficult\""),
        "item[2].flag",
        "REF_UNKNOWN_FLAG",
    );
    check(
        edit_item("SH-QH-DETAIN", "penalties = [\"暂扣\"]", "penalties = []"),
        "item[8].penalties",
        "REF_MISSING_FIELD",
    );
    check(
        edit_item(
            "SH-QH-SUSPEND",
            "verified = false\nnote = ",
            "verified = false\nxnote = ",
        ),
        "",
        "REF_TOML",
    );
    check(
        edit_item("SH-QH-REVOKE", "\nnote = ", "\n# note = "),
        "item[6].note",
        "REF_UNVERIFIED_NO_NOTE",
    );
    check(
        edit_item("SH-58-4", "situation = \"", "situation = \"待核实："),
        "item[3].situation",
        "REF_INTERNAL_NOTE",
    );
    check(
        edit_item("SH-58-4", "code = \"SH-58-4\"", "code = \"sh-58-4\""),
        "item[3].code",
        "REF_BAD_CODE",
    );
    check(
        edit_item("SH-58-4", "code = \"SH-58-4\"", "code = \"SH-58-1\""),
        "item[3].code",
        "REF_DUPLICATE",
    );
    check(
        edit_item("SH-58-1", "\nverified = true", ""),
        "item[0].verified",
        "REF_MISSING_FIELD",
    );
    let meta_only = CATALOGUE[..CATALOGUE.find("[[item]]").unwrap()].to_string();
    check(meta_only, "item", "REF_EMPTY");
    check(
        CATALOGUE.replace("kind = \"review\"", "kind = \"policy\""),
        "meta.kind",
        "REF_KIND_MISMATCH",
    );
}

#[test]
fn codes_are_unique_across_review_files() {
    let mut f = base_files();
    let extra = format!(
        "{}[[item]]\ncode = \"SH-58-2\"\nsituation = \"经过听证程序的\"\nbasis = \"《中华人民共和国行政处罚法》第五十八条第一款第（二）项\"\ntrigger = \"hearing_held\"\nverified = true\n",
        &CATALOGUE[..CATALOGUE.find("[[item]]").unwrap()]
    );
    f.insert("review/qinghai.toml".into(), extra);
    let e = RuleBook::from_files(f).unwrap_err();
    assert!(
        has_issue(&e, "review/qinghai.toml: item[0].code", "REF_DUPLICATE"),
        "{e:?}"
    );
}

/// The policy as it was before the catalogue: one legal-review threshold in `[legal_review]`.
fn legacy_policy() -> String {
    POLICY.replacen(
        "[collective_decision]",
        "[legal_review]\nperson_min_yuan = 10000\norganisation_min_yuan = 100000\nbasis = \"《中华人民共和国行政处罚法》第五十八条\"\nverified = false\nnote = \"机构默认值\"\n\n[collective_decision]",
        1,
    )
}

#[test]
fn data_made_before_the_catalogue_still_loads_but_cannot_answer_the_catalogue() {
    // An earlier bundle: the policy's threshold, no catalogue. Decisions made with it are still
    // re-checked, so the set loads; guidance keeps its earlier legal-review answer.
    let mut f = base_files();
    f.remove("review/catalogue.toml");
    f.insert("policy.toml".into(), legacy_policy());
    let b = RuleBook::from_files(f).unwrap();
    assert!(b.review_catalogue().is_empty());
    let e = b.legal_review(&case(PartyType::Person)).unwrap_err();
    assert_eq!(e.code(), "REVIEW_CATALOGUE_MISSING");
    assert!(b.policy().legal_review.is_some());
    // Neither a catalogue nor the earlier threshold: refused.
    let mut f = base_files();
    f.remove("review/catalogue.toml");
    let e = RuleBook::from_files(f).unwrap_err();
    assert!(has_issue(&e, "review", "REF_MISSING_FILE"), "{e:?}");
    // Both: refused, so the catalogue is the one source of the thresholds.
    let mut f = base_files();
    f.insert("policy.toml".into(), legacy_policy());
    let e = RuleBook::from_files(f).unwrap_err();
    assert!(
        has_issue(&e, "policy.toml: legal_review", "REF_LEGAL_REVIEW_TWICE"),
        "{e:?}"
    );
}

#[test]
fn guidance_gives_the_catalogue_items_as_legal_review_reasons() {
    let b = bundled();
    // Unlicensed freight by an organisation with illegal income: 2–10 times the income
    // (道路运输条例 63), confiscated; a fine this large needs a hearing offered.
    let g = b
        .guide(&GuidanceRequest {
            violations: vec!["DY-63-1".into()],
            facts: Facts {
                act_date: "2026-02-10".into(),
                decision_date: Some("2026-03-02".into()),
                party_type: PartyType::Organisation,
                illegal_income_yuan: Some(120_000),
                flags: vec!["complex".into()],
                ..Default::default()
            },
        })
        .unwrap();
    let p = &g.procedure;
    assert!(p.legal_review_required);
    let reasons = p.legal_review_reasons.join("\n");
    for cite in [
        "第五十八条第一款第（二）项",
        "第五十八条第一款第（三）项",
        "法制审核目录清单",
    ] {
        assert!(reasons.contains(cite), "{cite} in {reasons}");
    }
    assert!(reasons.contains("没收 120,000 元"), "{reasons}");
    assert!(
        reasons.contains("当事人要求听证并经过听证程序的"),
        "{reasons}"
    );
    assert!(
        p.unverified
            .iter()
            .any(|u| u.starts_with("法制审核目录 SH-QH-CONFISCATION")),
        "{:?}",
        p.unverified
    );
    // A small case: nothing from the catalogue.
    let g = b
        .guide(&GuidanceRequest {
            violations: vec!["GB-69".into()],
            facts: Facts {
                act_date: "2026-02-10".into(),
                decision_date: Some("2026-03-02".into()),
                area_m2: Some(1.0),
                ..Default::default()
            },
        })
        .unwrap();
    assert!(!g.procedure.legal_review_required, "{:?}", g.procedure);
}

#[test]
fn a_review_file_is_imported_like_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let b = RuleBook::load(dir.path()).unwrap();
    let src = dir.path().join("incoming");
    std::fs::create_dir_all(&src).unwrap();
    let file = src.join("catalogue.toml");
    let raised = edit_item(
        "SH-QH-FINE",
        "person_min_yuan = 10000",
        "person_min_yuan = 20000",
    );
    std::fs::write(&file, &raised).unwrap();
    let (b2, report) = b.import_file(dir.path(), &file).unwrap();
    assert_eq!(report.relpath, "review/catalogue.toml");
    assert_eq!(report.kind, "review");
    assert!(report.unverified.contains(&"SH-QH-FINE".to_string()));
    assert!(!report.unverified.contains(&"SH-58-1".to_string()));
    let mut c = case(PartyType::Person);
    c.fine_yuan = 15_000;
    assert!(!b2.legal_review(&c).unwrap().required);
    // Read again from the data directory on the next start.
    let b3 = RuleBook::load(dir.path()).unwrap();
    assert!(!b3.legal_review(&c).unwrap().required);
    assert_eq!(b3.reference_digest(), b2.reference_digest());
    // An invalid catalogue is refused and the one imported before stays.
    std::fs::write(
        &file,
        raised.replace("trigger = \"fine\"", "trigger = \"amount\""),
    )
    .unwrap();
    let e = b3.import_file(dir.path(), &file).unwrap_err();
    assert!(has_issue(&e, "trigger", "REF_REVIEW_TRIGGER"), "{e:?}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("reference/review/catalogue.toml")).unwrap(),
        raised
    );
}

#[test]
fn a_decision_is_judged_by_what_it_decided_and_whether_a_hearing_was_held() {
    use crate::model::Party;
    use crate::rules::check::{DraftOfficer, DraftViolation, PenaltyDraft};
    use crate::steps::*;
    let book = bundled();
    let roster = crate::demo::roster();
    let today = crate::day::agency_today();
    let company = Party::Organisation {
        name: "青海某物流有限公司".into(),
        uscc: "9144030071526726XG".into(),
        address: None,
        phone: None,
        legal_representative: None,
    };
    // Unlicensed freight (道路运输条例 63(1)), illegal income 120,000 元: 1–5 times, confiscated.
    let draft = PenaltyDraft {
        facts: Facts {
            act_date: crate::day::format_day(today - chrono::Days::new(10)),
            party_type: PartyType::Organisation,
            illegal_income_yuan: Some(120_000),
            decision_date: Some(crate::day::format_day(today)),
            ..Default::default()
        },
        violations: vec![DraftViolation {
            code: "DY-63-1".into(),
            act_id: Some("r1".into()),
            warning: false,
            amount_yuan: 240_000,
        }],
        procedure: ProcedureKind::General,
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
    };
    let reference = ReferenceId {
        bundle_version: None,
        digest: book.reference_digest(),
    };
    let facts_text = "当事人未取得道路运输经营许可，擅自从事道路普通货物运输经营".to_string();
    let notice = notice(
        &book,
        &roster,
        &NoticeInput {
            draft: draft.clone(),
            party: company.clone(),
            facts_text: facts_text.clone(),
        },
        reference.clone(),
        "n1".into(),
        "青海南交执通〔2026〕0001号".into(),
    )
    .unwrap();
    assert!(notice.hearing_right);
    let decide = |ctx: &DecisionContext| {
        penalty_decision(
            &book,
            &roster,
            &PenaltyDecisionInput {
                draft: draft.clone(),
                party: company.clone(),
                facts_text: facts_text.clone(),
                rights_told: false,
            },
            ctx,
            reference.clone(),
            "d1".into(),
            "青海南交执罚〔2026〕0001号".into(),
        )
        .unwrap()
    };
    let on = crate::day::format_day(today);
    let statement = |kind: StatementKind| StatementInput {
        notice_number: notice.number.clone(),
        kind,
        text: "当事人称车辆系临时帮忙运输".into(),
        adopted: false,
        reasons: "当事人未提供证据，不予采纳".into(),
        on: on.clone(),
    };
    // After the hearing: 58(2), and the fine and confiscation by the organisation's amounts.
    let heard = DecisionContext {
        notice: Some(NoticeState {
            notice: notice.clone(),
            statement: Some(statement(StatementKind::HearingHeld)),
        }),
        already_fined_acts: vec![],
    };
    assert!(heard.hearing_held());
    let d = decide(&heard);
    let case = d.review_case(heard.hearing_held());
    assert_eq!(case.party_type, PartyType::Organisation);
    assert_eq!(case.fine_yuan, 240_000);
    assert_eq!(case.confiscated_yuan, 120_000);
    assert_eq!(case.penalties, ["没收违法所得人民币120,000元"]);
    let need = book.legal_review(&case).unwrap();
    assert_eq!(
        codes(&need),
        ["SH-58-2", "SH-QH-FINE", "SH-QH-CONFISCATION"]
    );
    // The party stated its case instead: no hearing, so 58(2) does not apply.
    let stated = DecisionContext {
        notice: Some(NoticeState {
            notice: notice.clone(),
            statement: Some(statement(StatementKind::Made)),
        }),
        already_fined_acts: vec![],
    };
    assert!(!stated.hearing_held());
    let need = book
        .legal_review(&decide(&stated).review_case(stated.hearing_held()))
        .unwrap();
    assert_eq!(codes(&need), ["SH-QH-FINE", "SH-QH-CONFISCATION"]);
}

#[test]
fn bundles_carry_the_catalogue() {
    use crate::bundle::{component_kind, ComponentKind};
    assert_eq!(
        component_kind("review/catalogue.toml"),
        ComponentKind::Reference(FileKind::Review)
    );
    // What a server publishes is the book's files, the catalogue among them.
    assert_eq!(
        bundled()
            .texts()
            .get("review/catalogue.toml")
            .map(String::as_str),
        Some(CATALOGUE)
    );
}
