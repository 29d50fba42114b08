//! The end of a case in the store: each step's refusals store nothing, numbers are never reused,
//! and the derived tables still agree with the ledger.

use super::*;
use crate::demo;
use crate::model::{CaseStatus, CoerciveMeasureKind, EvidenceKind, Party};
use crate::rules::check::{DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
use crate::rules::guidance::{Facts, PartyType};
use crate::steps::*;
use crate::store::steps::NextStep;
use crate::store::{Durability, EvidenceMeta};

const KEY: [u8; 32] = [9u8; 32];

fn store(dir: &std::path::Path) -> Store {
    let s = Store::open(dir, &KEY, Durability::Normal).expect("open");
    s.import_roster(&demo::roster()).expect("roster");
    s
}

fn block(first: u64, last: u64) -> NumberBlock {
    NumberBlock {
        agency: "632500".into(),
        year: day::agency_today().year(),
        first,
        last,
        prefix: "青海南交执".into(),
        agency_name: "海南藏族自治州交通运输综合行政执法支队".into(),
    }
}

fn finalized_case(s: &Store) -> String {
    let case = s
        .create_case(&demo::on_site_record(
            Utc::now() - chrono::Duration::hours(1),
        ))
        .expect("case");
    s.finalize_case(&case.id).expect("finalize");
    case.id
}

fn officers() -> Vec<DraftOfficer> {
    vec![
        DraftOfficer {
            name: "才让多杰".into(),
            certificate_no: "QH6325000101".into(),
        },
        DraftOfficer {
            name: "李明".into(),
            certificate_no: "QH6325000102".into(),
        },
    ]
}

fn company() -> Party {
    Party::Organisation {
        name: "青海某物流有限公司".into(),
        uscc: "9144030071526726XG".into(),
        address: Some("青海省海南州共和县".into()),
        phone: None,
        legal_representative: Some("韩建国".into()),
    }
}

fn today() -> String {
    day::format_day(day::agency_today())
}

fn overload_draft(amount: i64, procedure: ProcedureKind) -> PenaltyDraft {
    PenaltyDraft {
        facts: Facts {
            act_date: today(),
            party_type: PartyType::Organisation,
            gross_weight_kg: Some(21_350.0),
            axles: Some(2),
            combination: Some(false),
            ..Default::default()
        },
        violations: vec![DraftViolation {
            code: "CX-43-2".into(),
            act_id: Some("r1".into()),
            warning: false,
            amount_yuan: amount,
        }],
        procedure,
        justification: String::new(),
        officers: officers(),
        discovered_on: None,
        already_fined_acts: vec![],
        collect_on_the_spot: false,
        hard_to_collect_later: false,
    }
}

fn summary_input(amount: i64) -> PenaltyDecisionInput {
    PenaltyDecisionInput {
        draft: overload_draft(amount, ProcedureKind::Summary),
        party: company(),
        facts_text: "当事人驾驶青E12345重型仓栅式货车，车货总质量21350千克，超过限定标准3350千克"
            .into(),
        rights_told: true,
    }
}

fn ledger_len(s: &Store) -> u64 {
    s.ledger_len().expect("len")
}

fn recommended(s: &Store) -> i64 {
    let _ = s;
    let book = RuleBook::bundled().expect("book");
    let g = book
        .check_draft(&overload_draft(0, ProcedureKind::Summary), &demo::roster())
        .expect("check");
    g.guidance.violations[0]
        .recommended_yuan
        .expect("a recommended amount")
}

#[test]
fn a_summary_penalty_case_from_decision_to_close() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let book = RuleBook::bundled().unwrap();
    s.add_number_block(&block(1, 50)).unwrap();
    let case = finalized_case(&s);
    let amount = recommended(&s);

    let d = s
        .decide_penalty(&case, &book, &summary_input(amount))
        .unwrap();
    let number = d.number.clone().expect("a decision number");
    let p = s.case_progress(&case).unwrap();
    assert_eq!(p.next, NextStep::Deliver);
    assert_eq!(p.undelivered, std::slice::from_ref(&number));
    assert_eq!((p.total_yuan, p.paid_yuan), (amount, 0));
    let year = day::agency_today().year();
    assert_eq!(number, format!("青海南交执罚〔{year}〕0001号"));
    assert_eq!(s.numbers_left(year).unwrap(), 49);

    let steps = s.case_steps(&case).unwrap();
    let body: PenaltyDecision = serde_json::from_str(&steps[0].body).unwrap();
    assert_eq!(body.total_yuan, amount);
    assert!(!body.deviates);
    assert_eq!(body.reference.digest, book.reference_digest());
    assert_eq!(body.violations[0].recommended_yuan, Some(amount));
    assert!(body.violations[0].tier.is_some());
    assert!(recheck_penalty_decision(&book, &demo::roster(), &body).is_empty());

    // A second decision is refused.
    let before = ledger_len(&s);
    let err = s
        .decide_penalty(&case, &book, &summary_input(amount))
        .unwrap_err();
    assert_eq!(err.code(), "DECISION_EXISTS");
    assert_eq!(ledger_len(&s), before);

    // Closing before delivery and payment lists both.
    let err = s
        .close_case(
            &case,
            &CloseInput {
                reason: CloseReason::Executed,
                note: String::new(),
            },
        )
        .unwrap_err();
    let codes: Vec<&str> = err.issues().iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes, ["CLOSE_NOT_DELIVERED", "CLOSE_NOT_PAID"]);

    s.record_delivery(
        &case,
        &DeliveryInput {
            document_number: number.clone(),
            method: DeliveryMethod::Direct,
            at: Utc::now().to_rfc3339(),
            place: "G214线 K1876+300".into(),
            receiver: "韩建国".into(),
            receiver_relation: "法定代表人".into(),
            signed: true,
            refusal_reason: String::new(),
            witness: String::new(),
            evidence_id: None,
            tracking_no: String::new(),
            electronic_address: String::new(),
            electronic_consent: false,
        },
    )
    .unwrap();
    // On-the-spot collection of more than 100 元 is refused (处罚法 68).
    let pay = PaymentInput {
        decision_number: number.clone(),
        method: PaymentMethod::OnTheSpot,
        reference: "青财票 0012345".into(),
        amount_yuan: amount,
        late_fee_yuan: 0,
        paid_on: today(),
    };
    if amount > book.policy().on_the_spot_collection_max_yuan {
        let err = s.record_payment(&case, &book, &pay).unwrap_err();
        assert_eq!(err.issues()[0].code, "COLLECTION_NOT_ALLOWED");
    }
    assert_eq!(s.case_progress(&case).unwrap().next, NextStep::Pay);
    s.record_payment(
        &case,
        &book,
        &PaymentInput {
            method: PaymentMethod::Bank,
            reference: "6228480012345678".into(),
            ..pay
        },
    )
    .unwrap();
    assert_eq!(s.case_progress(&case).unwrap().next, NextStep::Close);
    let closed = s
        .close_case(
            &case,
            &CloseInput {
                reason: CloseReason::Executed,
                note: String::new(),
            },
        )
        .unwrap();
    assert_eq!(closed.kind, EntryKind::CaseClose);
    assert_eq!(
        s.case_detail(&case).unwrap().summary.status,
        CaseStatus::Closed
    );
    // A closed case takes no more steps and cannot be voided.
    assert_eq!(
        s.void_case(&case, "误操作").unwrap_err().code(),
        "CASE_CLOSED"
    );
    assert!(s.verify_ledger().unwrap().ok);
    let report = s.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

#[test]
fn a_decision_the_law_forbids_is_refused_with_every_issue_and_spends_no_number() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let book = RuleBook::bundled().unwrap();
    s.add_number_block(&block(1, 5)).unwrap();
    let case = finalized_case(&s);
    let mut input = summary_input(5_000_000);
    input.draft.officers.truncate(1);
    input.rights_told = false;
    input.facts_text = String::new();
    let before = ledger_len(&s);
    let err = s.decide_penalty(&case, &book, &input).unwrap_err();
    let codes: Vec<&str> = err.issues().iter().map(|i| i.code.as_str()).collect();
    for want in [
        "OFFICERS_TOO_FEW",
        "AMOUNT_ABOVE_LEGAL_MAX",
        "SUMMARY_NOT_ALLOWED",
        "STEP_TEXT_REQUIRED",
        "RIGHTS_NOT_TOLD",
    ] {
        assert!(codes.contains(&want), "{want} missing from {codes:?}");
    }
    assert_eq!(ledger_len(&s), before);
    assert_eq!(s.numbers_left(day::agency_today().year()).unwrap(), 5);
}

#[test]
fn an_amount_outside_the_band_needs_reasons_and_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let book = RuleBook::bundled().unwrap();
    s.add_number_block(&block(1, 5)).unwrap();
    let case = finalized_case(&s);
    let g = book
        .check_draft(&overload_draft(0, ProcedureKind::Summary), &demo::roster())
        .unwrap();
    let max = g.guidance.violations[0].max_yuan.unwrap();
    let legal_max = g.guidance.violations[0].legal_max_yuan.unwrap();
    let mut input = summary_input(max + 100);
    input.draft.procedure = ProcedureKind::General;
    assert!(max + 100 <= legal_max);
    // General procedure: no notice yet, and no reasons for the deviation.
    let err = s.decide_penalty(&case, &book, &input).unwrap_err();
    let codes: Vec<&str> = err.issues().iter().map(|i| i.code.as_str()).collect();
    assert!(codes.contains(&"NOTICE_REQUIRED"), "{codes:?}");
    assert!(
        codes.contains(&"AMOUNT_OUTSIDE_RANGE_NO_JUSTIFICATION"),
        "{codes:?}"
    );

    // Notice, then the party waives the statement, then the decision with reasons.
    input.draft.justification = "当事人多次超限运输，情节较重".into();
    let notice = s
        .issue_notice(
            &case,
            &book,
            &NoticeInput {
                draft: input.draft.clone(),
                party: company(),
                facts_text: input.facts_text.clone(),
            },
        )
        .unwrap();
    let notice_no = notice.number.clone().unwrap();
    let err = s.decide_penalty(&case, &book, &input).unwrap_err();
    assert_eq!(err.issues()[0].code, "STATEMENT_PERIOD_OPEN");
    s.record_statement(
        &case,
        &StatementInput {
            notice_number: notice_no.clone(),
            kind: StatementKind::Waived,
            text: String::new(),
            adopted: false,
            reasons: String::new(),
            on: today(),
        },
    )
    .unwrap();
    let d = s.decide_penalty(&case, &book, &input).unwrap();
    let steps = s.case_steps(&case).unwrap();
    let body: PenaltyDecision = serde_json::from_str(&steps[2].body).unwrap();
    assert!(body.deviates && body.violations[0].outside_band);
    assert_eq!(body.notice_number.as_deref(), Some(notice_no.as_str()));
    assert!(body
        .warnings
        .iter()
        .any(|w| w.code == "AMOUNT_OUTSIDE_RANGE"));
    assert_ne!(d.number, notice.number, "each document its own number");
}

#[test]
fn no_penalty_under_the_exemption_list_needs_every_condition_and_the_commitment() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let book = RuleBook::bundled().unwrap();
    s.add_number_block(&block(1, 5)).unwrap();
    let case = finalized_case(&s);
    let facts = Facts {
        act_date: today(),
        prior_violations: Some(0),
        first_offence_checked_online: true,
        flags: vec![
            "reloaded".into(),
            "slight_harm".into(),
            "no_accident".into(),
            "no_congestion".into(),
            "cleaned_or_paid".into(),
        ],
        ..Default::default()
    };
    let item = book.exemptions_on("GB-69", day::agency_today())[0];
    let mut input = NoPenaltyInput {
        violation: "GB-69".into(),
        facts,
        party: company(),
        facts_text: "车辆装载的砂石遗洒于路面约 3 平方米，当事人当即清扫".into(),
        answers: item
            .conditions
            .iter()
            .map(|_| ConditionAnswer {
                holds: true,
                how: "现场核实".into(),
            })
            .collect(),
        education: "向当事人讲解《公路安全保护条例》第六十九条，当事人表示今后规范装载".into(),
        commitment_signed: false,
        officers: officers(),
    };
    let before = ledger_len(&s);
    let err = s.decide_no_penalty(&case, &book, &input).unwrap_err();
    assert_eq!(err.issues()[0].code, "COMMITMENT_REQUIRED");
    input.answers[0].holds = false;
    let err = s.decide_no_penalty(&case, &book, &input).unwrap_err();
    assert!(err
        .issues()
        .iter()
        .any(|i| i.code == "EXEMPTION_CONDITION_NOT_MET" && i.path == "answers[0]"));
    assert_eq!(ledger_len(&s), before);
    input.answers[0].holds = true;
    input.commitment_signed = true;
    let d = s.decide_no_penalty(&case, &book, &input).unwrap();
    let year = day::agency_today().year();
    assert_eq!(
        d.number.as_deref(),
        Some(format!("青海南交执不罚〔{year}〕0001号").as_str())
    );
    // Not on the list: refused.
    let other = finalized_case(&s);
    let mut input2 = input.clone();
    input2.violation = "CX-43-2".into();
    let err = s.decide_no_penalty(&other, &book, &input2).unwrap_err();
    assert!(err
        .issues()
        .iter()
        .any(|i| i.code == "EXEMPTION_NOT_LISTED"));
}

#[test]
fn a_seizure_is_listed_limited_extended_once_and_released_before_close() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    s.add_number_block(&block(1, 5)).unwrap();
    let case = s
        .create_case(&demo::on_site_record(
            Utc::now() - chrono::Duration::hours(1),
        ))
        .unwrap()
        .id;
    let mut input = MeasureInput {
        kind: CoerciveMeasureKind::Seizure,
        party: company(),
        reason: "车辆涉嫌非法营运，不及时扣押可能灭失证据".into(),
        basis: "《中华人民共和国道路运输条例》第六十九条".into(),
        items: vec![],
        starts_on: today(),
        days: 45,
        storage_place: "共和县超限检测站停车场".into(),
        urgent: false,
        approver: "局长 张某".into(),
        officers: officers(),
    };
    let before = ledger_len(&s);
    let err = s.apply_measure(&case, &input).unwrap_err();
    let codes: Vec<&str> = err.issues().iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes, ["MEASURE_TOO_LONG", "MEASURE_ITEMS_REQUIRED"]);
    assert_eq!(ledger_len(&s), before);
    input.days = 30;
    input.items = vec![MeasureItem {
        name: "重型仓栅式货车（青E12345）".into(),
        spec: "东风牌".into(),
        quantity: "1辆".into(),
        note: String::new(),
    }];
    let m = s.apply_measure(&case, &input).unwrap();
    let no = m.number.unwrap();
    let ext = MeasureExtension {
        measure_number: no.clone(),
        days: 30,
        reason: "案情复杂".into(),
        approver: "局长 张某".into(),
    };
    s.extend_measure(&case, &ext).unwrap();
    assert_eq!(
        s.extend_measure(&case, &ext).unwrap_err().issues()[0].code,
        "MEASURE_ALREADY_EXTENDED"
    );
    // The measure's AV rule applies at finalize (the record states the seizure).
    let clip = dir.path().join("seizure.mp4");
    std::fs::write(&clip, b"video bytes").unwrap();
    s.attach_evidence(&case, &clip, EvidenceKind::Video, &EvidenceMeta::default())
        .unwrap();
    s.finalize_case(&case).unwrap();
    let err = s
        .close_case(
            &case,
            &CloseInput {
                reason: CloseReason::Withdrawn,
                note: "经调查不构成非法营运".into(),
            },
        )
        .unwrap_err();
    assert_eq!(err.issues()[0].code, "CLOSE_MEASURE_OPEN");
    s.release_measure(
        &case,
        &MeasureRelease {
            measure_number: no,
            reason: "经调查不构成非法营运".into(),
            returned_to: "韩建国".into(),
        },
    )
    .unwrap();
    s.close_case(
        &case,
        &CloseInput {
            reason: CloseReason::Withdrawn,
            note: "经调查不构成非法营运".into(),
        },
    )
    .unwrap();
    let report = s.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

#[test]
fn numbers_come_only_from_leased_blocks_and_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let book = RuleBook::bundled().unwrap();
    let case = finalized_case(&s);
    let amount = recommended(&s);
    let err = s
        .decide_penalty(&case, &book, &summary_input(amount))
        .unwrap_err();
    assert_eq!(err.code(), "NUMBER_BLOCK_EXHAUSTED");
    s.add_number_block(&block(7, 7)).unwrap();
    // The same block again is a no-op; an overlapping one is refused.
    s.add_number_block(&block(7, 7)).unwrap();
    assert_eq!(
        s.add_number_block(&block(5, 9)).unwrap_err().code(),
        "NUMBER_BLOCK_OVERLAP"
    );
    assert_eq!(
        s.add_number_block(&block(9, 3)).unwrap_err().code(),
        "NUMBER_BLOCK_INVALID"
    );
    let d = s
        .decide_penalty(&case, &book, &summary_input(amount))
        .unwrap();
    assert!(d.number.unwrap().ends_with("0007号"));
    let other = finalized_case(&s);
    assert_eq!(
        s.decide_penalty(&other, &book, &summary_input(amount))
            .unwrap_err()
            .code(),
        "NUMBER_BLOCK_EXHAUSTED"
    );
    // The table of numbers given out refuses a second use, even written directly.
    let conn = lock(&s.writer);
    let again = conn.execute(
        "INSERT INTO numbers_used (number, agency, year, serial, case_id, doc_type, entry_seq)
         SELECT number || 'x', agency, year, serial, case_id, doc_type, entry_seq FROM numbers_used",
        [],
    );
    assert!(again.unwrap_err().to_string().contains("never reused"));
}

#[test]
fn steps_need_a_finalized_case() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let book = RuleBook::bundled().unwrap();
    s.add_number_block(&block(1, 5)).unwrap();
    let case = s
        .create_case(&demo::on_site_record(
            Utc::now() - chrono::Duration::hours(1),
        ))
        .unwrap()
        .id;
    let err = s
        .decide_penalty(&case, &book, &summary_input(100))
        .unwrap_err();
    assert_eq!(err.code(), "CASE_NOT_FINALIZED");
}

#[test]
fn a_decision_records_the_article_s_other_penalty_and_orders_and_prints_them() {
    // 公路安全保护条例 65: 租借、转让超限运输车辆通行证 — 没收超限运输车辆通行证, 罚款 1000–5000 元.
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let book = RuleBook::bundled().unwrap();
    s.add_number_block(&block(1, 50)).unwrap();
    let case = finalized_case(&s);
    let mut input = summary_input(1000);
    input.draft.facts = Facts {
        act_date: today(),
        party_type: PartyType::Organisation,
        ..Default::default()
    };
    input.draft.violations[0].code = "GB-65-2".into();
    input.facts_text = "当事人将超限运输车辆通行证出借给他人使用".into();
    s.decide_penalty(&case, &book, &input).unwrap();
    let steps = s.case_steps(&case).unwrap();
    let body: PenaltyDecision = serde_json::from_str(&steps[0].body).unwrap();
    let v = &body.violations[0];
    assert_eq!(v.other_penalties, ["没收超限运输车辆通行证"]);
    // The 说理 states what was decided, not the benchmark's recommendation.
    assert!(
        body.reasoning.contains("决定给予罚款人民币1,000元") && !body.reasoning.contains("建议"),
        "{}",
        body.reasoning
    );
    assert!(body.reasoning.contains("没收超限运输车辆通行证"));
    assert!(v.measures.is_empty(), "{:?}", v.measures);
    // The unverified violated provision is recorded as a warning for the reviewer.
    assert!(body
        .warnings
        .iter()
        .any(|w| w.code == "VIOLATED_UNVERIFIED"));
    let header = crate::document::forms::DocHeader {
        agency_name: "海南藏族自治州交通运输综合行政执法支队".into(),
        agency_code: "632500".into(),
        number: body.number.clone(),
        entry_sha256: "00".repeat(32),
    };
    let doc = crate::document::decisions::penalty_decision(&body, &header, vec![]).unwrap();
    let text = format!("{:?}", doc.blocks);
    assert!(
        text.contains("决定给予罚款人民币1,000元、没收超限运输车辆通行证的行政处罚"),
        "{text}"
    );

    // 道路运输条例 64 (a person, 200 元): the order to correct follows the penalty.
    let case = finalized_case(&s);
    let mut input = summary_input(200);
    input.draft.facts = Facts {
        act_date: today(),
        party_type: PartyType::Person,
        ..Default::default()
    };
    input.party = Party::Person {
        name: "王强".into(),
        id_number: "63252119850312123X".into(),
        address: None,
        phone: None,
    };
    input.draft.violations[0].code = "DY-64".into();
    input.facts_text = "当事人未取得从业资格驾驶道路运输经营车辆".into();
    s.decide_penalty(&case, &book, &input).unwrap();
    let steps = s.case_steps(&case).unwrap();
    let body: PenaltyDecision = serde_json::from_str(&steps[0].body).unwrap();
    assert_eq!(body.violations[0].measures, ["责令改正"]);
    let doc = crate::document::decisions::penalty_decision(&body, &header, vec![]).unwrap();
    let text = format!("{:?}", doc.blocks);
    assert!(
        text.contains("罚款人民币200元的行政处罚，并责令改正。"),
        "{text}"
    );
    assert!(text.contains("第九条、第二十二条"), "{text}");
}

/// 处罚法 58: a general-procedure decision the review catalogue names is recorded only after the
/// agency-signed opinion of 同意 on the same proposal has reached the device.
#[test]
fn a_decision_that_needs_legal_review_waits_for_an_agreeing_opinion_on_the_same_proposal() {
    use crate::ledger::{self, DeviceKey, EntryKind, Head};
    use crate::store::review::OpinionAdded;
    use crate::store::sync::SyncConfig;

    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let book = RuleBook::bundled().unwrap();
    let agency_key = DeviceKey::from_bytes(&[42u8; 32]);
    s.save_enrolment(&SyncConfig {
        server_url: "https://zf.example.gov.cn".into(),
        server_device_id: "d1".into(),
        token: "t".into(),
        agency: "632500".into(),
        certificate_no: "QH6325000101".into(),
        log_origin: "example/log".into(),
        log_verifier_key: "example/log+00000000+AAAA".into(),
        bundle_key: Some(agency_key.public_hex()),
        enrolled_at: Utc::now().to_rfc3339(),
    })
    .unwrap();
    s.add_number_block(&block(1, 9)).unwrap();
    let case = finalized_case(&s);
    let mut input = summary_input(recommended(&s));
    input.draft.procedure = ProcedureKind::General;
    input.draft.facts.flags = vec!["complex".into()];
    let notice = s
        .issue_notice(
            &case,
            &book,
            &NoticeInput {
                draft: input.draft.clone(),
                party: company(),
                facts_text: input.facts_text.clone(),
            },
        )
        .unwrap();
    s.record_statement(
        &case,
        &StatementInput {
            notice_number: notice.number.clone().unwrap(),
            kind: StatementKind::Waived,
            text: String::new(),
            adopted: false,
            reasons: String::new(),
            on: today(),
        },
    )
    .unwrap();
    let codes = |e: crate::error::RoadsideError| -> Vec<String> {
        e.issues().iter().map(|i| i.code.clone()).collect()
    };

    // No request yet; a request; no opinion yet. Nothing is recorded by the refusals.
    let before = ledger_len(&s);
    let err = s.decide_penalty(&case, &book, &input).unwrap_err();
    assert_eq!(codes(err), ["LEGAL_REVIEW_REQUIRED"]);
    assert_eq!(ledger_len(&s), before);
    let summary = s
        .request_legal_review(&case, &book, &summary_input(100))
        .unwrap_err();
    assert_eq!(summary.code(), "LEGAL_REVIEW_NOT_NEEDED");
    let req = s.request_legal_review(&case, &book, &input).unwrap();
    assert_eq!(req.kind, EntryKind::ReviewRequest);
    assert_eq!(req.number, None, "a request takes no document number");
    let err = s.decide_penalty(&case, &book, &input).unwrap_err();
    assert_eq!(codes(err), ["LEGAL_REVIEW_PENDING"]);
    assert_eq!(s.reviews_awaited().unwrap(), vec![case.clone()]);

    // Opinions as the server signs them, on the agency's chain.
    let mut head: Option<Head> = None;
    let mut opinion = |key: &DeviceKey, request: &str, verdict: &str| {
        let entry = ledger::next_entry(
            key,
            head,
            Utc::now(),
            vec!["QH6325000103".into()],
            EntryKind::ReviewOpinion,
            Some(case.clone()),
            serde_json::json!({
                "request": request, "request_id": "r", "verdict": verdict,
                "reasons": "事实清楚，证据确凿", "reviewer": "王法审", "reviewer_login": "fs1"
            }),
        );
        let sealed = ledger::seal(&entry, key).unwrap();
        if key.public_hex() == agency_key.public_hex() {
            head = Some(Head {
                seq: entry.seq,
                hash: sealed.hash,
            });
        }
        sealed
    };
    // Signed by another key, or answering no request of this case: refused, nothing kept.
    let forged = opinion(&DeviceKey::from_bytes(&[7u8; 32]), &req.hash, "agree");
    let err = s
        .add_review_opinion(&forged.bytes, &forged.sig)
        .unwrap_err();
    assert_eq!(err.code(), "REVIEW_OPINION_INVALID");
    let stray = opinion(&agency_key, &"ab".repeat(32), "agree");
    let err = s.add_review_opinion(&stray.bytes, &stray.sig).unwrap_err();
    assert_eq!(err.code(), "REVIEW_OPINION_INVALID");
    let mut tampered = opinion(&agency_key, &req.hash, "agree");
    let at = tampered.bytes.len() / 2;
    tampered.bytes[at] ^= 1;
    assert!(s
        .add_review_opinion(&tampered.bytes, &tampered.sig)
        .is_err());
    assert_eq!(s.legal_review_status(&case).unwrap().unwrap().opinion, None);

    // 补充调查: not agreed.
    let investigate = opinion(&agency_key, &req.hash, "investigate");
    assert_eq!(
        s.add_review_opinion(&investigate.bytes, &investigate.sig)
            .unwrap(),
        OpinionAdded::Added
    );
    assert_eq!(
        s.add_review_opinion(&investigate.bytes, &investigate.sig)
            .unwrap(),
        OpinionAdded::Known
    );
    assert!(s.reviews_awaited().unwrap().is_empty());
    let err = s.decide_penalty(&case, &book, &input).unwrap_err();
    assert_eq!(codes(err), ["LEGAL_REVIEW_NOT_AGREED"]);

    // A new request, agreed; the decision must be the one reviewed.
    let req2 = s.request_legal_review(&case, &book, &input).unwrap();
    let agree = opinion(&agency_key, &req2.hash, "agree");
    s.add_review_opinion(&agree.bytes, &agree.sig).unwrap();
    let mut changed = input.clone();
    changed.draft.violations[0].amount_yuan -= 100;
    changed.draft.justification = "情节较重".into();
    let err = s.decide_penalty(&case, &book, &changed).unwrap_err();
    assert_eq!(codes(err), ["LEGAL_REVIEW_MISMATCH"]);
    let decided = s.decide_penalty(&case, &book, &input).unwrap();
    let steps = s.case_steps(&case).unwrap();
    let last = steps.iter().find(|v| v.hash == decided.hash).unwrap();
    let body: PenaltyDecision = serde_json::from_str(&last.body).unwrap();
    let named = body.review.expect("the decision names its review");
    assert_eq!(named.request, req2.hash);
    assert_eq!(named.opinion, hex::encode(ledger::sha256(&agree.bytes)));
}
