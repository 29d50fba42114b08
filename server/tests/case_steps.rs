//! The steps that end a case, on SQLite and PostgreSQL: pushed entries are re-checked one by one
//! (a decision against the published reference data and the roster, a measure and a delivery
//! through the core's checks, every body against its kind's shape), refused ones are logged with
//! the reason, and the case API shows every entry with its answer; a closed case says so.

#[macro_use]
mod common;

use chrono::{Duration, Utc};
use common::{Db, TestServer, TWO_OFFICERS};
use reqwest::Method;
use roadside_core::demo;
use roadside_core::ledger::{self, DeviceKey, EntryKind, Head, SignedEntry};
use roadside_core::model::{CoerciveMeasureKind, Party};
use roadside_core::rules::check::{DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
use roadside_core::rules::guidance::{Facts, PartyType};
use roadside_core::rules::RuleBook;
use roadside_core::steps::*;
use serde_json::{json, Value};

fn today() -> String {
    roadside_core::day::format_day(roadside_core::day::agency_today())
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

/// A summary decision on a 21,350 kg two-axle truck (CX-43-2) at the recommended amount, made by
/// the core as a device makes it.
fn decision(book: &RuleBook, number: &str) -> PenaltyDecision {
    let mut draft = PenaltyDraft {
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
            amount_yuan: 0,
        }],
        procedure: ProcedureKind::Summary,
        justification: String::new(),
        officers: officers(),
        discovered_on: None,
        already_fined_acts: vec![],
        collect_on_the_spot: false,
        hard_to_collect_later: false,
    };
    let check = book.check_draft(&draft, &demo::roster()).expect("check");
    draft.violations[0].amount_yuan = check.guidance.violations[0]
        .recommended_yuan
        .expect("recommended");
    penalty_decision(
        book,
        &demo::roster(),
        &PenaltyDecisionInput {
            draft,
            party: company(),
            facts_text: "当事人驾驶青E12345重型仓栅式货车，车货总质量21350千克".into(),
            rights_told: true,
        },
        &DecisionContext::default(),
        ReferenceId {
            bundle_version: None,
            digest: book.reference_digest(),
        },
        "0192f3a0-0000-7000-8000-0000000dec01".into(),
        number.into(),
    )
    .expect("a lawful decision")
}

fn delivery(number: &str) -> DeliveryInput {
    DeliveryInput {
        document_number: number.into(),
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
    }
}

fn measure(days: u32) -> Measure {
    Measure {
        measure_id: "0192f3a0-0000-7000-8000-0000000aea01".into(),
        number: "青海南交执强〔2026〕0002号".into(),
        input: MeasureInput {
            kind: CoerciveMeasureKind::Seizure,
            party: company(),
            reason: "涉案车辆超限运输，需要扣押以防止证据灭失".into(),
            basis: "《公路安全保护条例》第六十六条".into(),
            items: vec![MeasureItem {
                name: "重型仓栅式货车".into(),
                spec: "青E12345".into(),
                quantity: "1辆".into(),
                note: String::new(),
            }],
            starts_on: today(),
            days,
            storage_place: "共和县超限检测站停车场".into(),
            urgent: false,
            approver: "王丽".into(),
            officers: officers(),
        },
        ends_on: roadside_core::day::agency_today() + chrono::Days::new(u64::from(days.max(1)) - 1),
    }
}

/// `(kind, body)` entries of `case` after `head`, signed by `key`.
fn signed(
    key: &DeviceKey,
    mut head: Option<Head>,
    case: &str,
    steps: Vec<(EntryKind, Value)>,
) -> Vec<SignedEntry> {
    steps
        .into_iter()
        .map(|(kind, body)| {
            let e = ledger::next_entry(
                key,
                head,
                Utc::now() - Duration::minutes(5),
                TWO_OFFICERS.iter().map(|s| s.to_string()).collect(),
                kind,
                Some(case.to_string()),
                body,
            );
            let s = ledger::seal(&e, key).expect("seal");
            head = Some(Head {
                seq: e.seq,
                hash: s.hash,
            });
            s
        })
        .collect()
}

fn to_value(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).expect("a body")
}

async fn case_of(s: &TestServer, token: &str, case: &str) -> Value {
    let (status, body) = s
        .call(
            Method::GET,
            &format!("/api/v1/cases/{case}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

backend_tests!(db:
    a_closed_case_shows_its_steps_in_order,
    each_step_is_checked_again_on_push,
    a_decision_on_earlier_published_reference_data_is_checked_with_that_data,
);

async fn a_closed_case_shows_its_steps_in_order(db: Db) {
    let s = db.server().await;
    let (admin, dev) = s.admin_and_device().await;
    let book = RuleBook::bundled().expect("book");
    let case = "0192f3a0-0000-7000-8000-00000000c1c1";
    let number = "青海南交执罚〔2026〕0001号";
    let d = decision(&book, number);
    let issued = DocumentIssued {
        doc_type: DocType::SummaryDecision,
        number: number.into(),
        source: "ab".repeat(32),
        sha256: "cd".repeat(32),
        size: 48_213,
        agency: "632500".into(),
        agency_name: "海南藏族自治州交通运输综合行政执法支队".into(),
        signatures: vec![],
    };
    let entries = signed(
        &dev.key,
        None,
        case,
        vec![
            (
                EntryKind::CaseOpen,
                json!({"reason": "超限运输", "plate": "青E12345"}),
            ),
            (EntryKind::CaseFinalize, json!({})),
            (EntryKind::DecisionPenalty, to_value(&d)),
            (EntryKind::DocumentIssue, to_value(&issued)),
            (EntryKind::DeliveryRecord, to_value(&delivery(number))),
            (
                EntryKind::PaymentRecord,
                to_value(&PaymentInput {
                    decision_number: number.into(),
                    method: PaymentMethod::Bank,
                    reference: "6228480012345678".into(),
                    amount_yuan: d.total_yuan,
                    late_fee_yuan: 0,
                    paid_on: today(),
                }),
            ),
            (
                EntryKind::CaseClose,
                to_value(&CloseInput {
                    reason: CloseReason::Executed,
                    note: String::new(),
                }),
            ),
        ],
    );
    let (status, answer) = s.push(&dev.token, &entries).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 7, "{answer}");

    let shown = case_of(&s, &admin, case).await;
    assert_eq!(shown["status"], "closed");
    assert_eq!(shown["decided"], true);
    assert_eq!(shown["agency"], "632500");
    let list = shown["entries"].as_array().expect("entries");
    let kinds: Vec<&str> = list.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "case.open",
            "case.finalize",
            "decision.penalty",
            "document.issue",
            "delivery.record",
            "payment.record",
            "case.close"
        ]
    );
    for (i, (e, sent)) in list.iter().zip(&entries).enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
        assert_eq!(e["entry_hash"], hex::encode(sent.hash));
        assert_eq!(e["device_id"], dev.id.as_str());
        assert_eq!(e["officers"], json!(TWO_OFFICERS));
        assert_eq!(e["refused"], Value::Null);
        assert_eq!(
            e["leaf_index"],
            answer["results"][i]["receipt"]["leaf_index"]
        );
    }
    // The signed body as sent (canonical JSON writes 21350.0 as 21350: compared as the type).
    let shown_decision: PenaltyDecision =
        serde_json::from_value(list[2]["body"].clone()).expect("a decision body");
    assert_eq!(shown_decision, d);
    assert_eq!(
        list[3]["document"],
        json!({"doc_type": "summary_decision", "number": number, "sha256": "cd".repeat(32), "size": 48_213})
    );
    assert_eq!(list[2]["document"], Value::Null);

    let (_, cases) = s
        .call(Method::GET, "/api/v1/cases", Some(&admin), None)
        .await;
    let row = &cases.as_array().expect("cases")[0];
    assert_eq!(
        (&row["id"], &row["status"], &row["decided"]),
        (&json!(case), &json!("closed"), &json!(true))
    );

    // Not in a county administrator's scope; unknown ids are not found.
    let county = s.gonghe_admin(&admin).await;
    let (status, body) = s
        .call(
            Method::GET,
            &format!("/api/v1/cases/{case}"),
            Some(&county),
            None,
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("CASE_NOT_FOUND"))
    );
    s.stop().await;
}

async fn each_step_is_checked_again_on_push(db: Db) {
    let s = db.server().await;
    let (admin, dev) = s.admin_and_device().await;
    let book = RuleBook::bundled().expect("book");
    let case = "0192f3a0-0000-7000-8000-00000000c2c2";
    let number = "青海南交执罚〔2026〕0003号";
    let mut above = decision(&book, number);
    above.violations[0].amount_yuan = 5_000_000;
    above.total_yuan = 5_000_000;
    let issues = recheck_penalty_decision(&book, &demo::roster(), &above);
    assert!(issues.iter().any(|i| i.code == "AMOUNT_ABOVE_LEGAL_MAX"));
    let mut unknown = decision(&book, number);
    unknown.reference.digest = "ee".repeat(32);
    let mut wrong_end = measure(10);
    wrong_end.ends_on = wrong_end.ends_on + chrono::Days::new(5);
    let mut left_unwitnessed = delivery(number);
    left_unwitnessed.method = DeliveryMethod::Left;
    left_unwitnessed.refusal_reason = "拒绝签收".into();
    let mut shaped_wrong = to_value(&PaymentInput {
        decision_number: number.into(),
        method: PaymentMethod::Bank,
        reference: "6228480012345678".into(),
        amount_yuan: 200,
        late_fee_yuan: 0,
        paid_on: today(),
    });
    shaped_wrong["paid_by"] = json!("韩建国");
    let entries = signed(
        &dev.key,
        None,
        case,
        vec![
            (EntryKind::CaseOpen, json!({"reason": "超限运输"})),
            (EntryKind::CaseFinalize, json!({})),
            (EntryKind::DecisionPenalty, to_value(&above)),
            (EntryKind::DecisionPenalty, to_value(&unknown)),
            (EntryKind::MeasureApply, to_value(&measure(45))),
            (EntryKind::MeasureApply, to_value(&wrong_end)),
            (EntryKind::MeasureApply, to_value(&measure(10))),
            (EntryKind::DeliveryRecord, to_value(&left_unwitnessed)),
            (EntryKind::PaymentRecord, shaped_wrong),
            (EntryKind::CaseClose, json!({"reason": "forgotten"})),
        ],
    );
    let (status, answer) = s.push(&dev.token, &entries).await;
    assert_eq!(status, 200, "{answer}");
    let got: Vec<(String, Option<String>)> = answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap().to_string(),
                r["code"].as_str().map(str::to_string),
            )
        })
        .collect();
    let want = |status: &str, code: Option<&str>| (status.to_string(), code.map(str::to_string));
    assert_eq!(
        got,
        vec![
            want("accepted", None),
            want("accepted", None),
            want("refused", Some(&issues[0].code)),
            want("refused", Some("DECISION_REFERENCE_UNKNOWN")),
            want("refused", Some("MEASURE_TOO_LONG")),
            want("refused", Some("STEP_BODY_INVALID")),
            want("accepted", None),
            want("refused", Some("DELIVERY_WITNESS_REQUIRED")),
            want("refused", Some("STEP_BODY_INVALID")),
            want("refused", Some("STEP_BODY_INVALID")),
        ],
        "{answer}"
    );
    // Every issue of the refused decision is in its message.
    let message = answer["results"][2]["message"].as_str().unwrap();
    for i in &issues {
        assert!(message.contains(&i.code), "{} not in {message}", i.code);
    }
    // Refused entries are logged (receipts) but decide and close nothing.
    assert!(answer["results"][2]["receipt"]["leaf_index"].is_u64());
    let shown = case_of(&s, &admin, case).await;
    assert_eq!(shown["status"], "finalized");
    assert_eq!(shown["decided"], false);
    let refused: Vec<Value> = shown["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["refused"]["code"].clone())
        .collect();
    assert_eq!(refused[2], json!(issues[0].code));
    assert_eq!(refused[6], Value::Null);
    assert_eq!(refused[9], json!("STEP_BODY_INVALID"));

    // Sent again, the answers are the stored ones.
    let (_, again) = s.push(&dev.token, &entries).await;
    assert_eq!(again["results"][2]["code"], answer["results"][2]["code"]);
    assert_eq!(
        again["results"][2]["message"],
        answer["results"][2]["message"]
    );
    s.stop().await;
}

/// The server publishes new reference data (a file laid over the compiled-in set, then a
/// restart): a decision a device made offline with the set it published before is re-checked with
/// that set and accepted, as is one made with the new set.
async fn a_decision_on_earlier_published_reference_data_is_checked_with_that_data(db: Db) {
    let url = db.new_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = TestServer::start_in(dir, url.clone(), |_| {}).await;
    let (_, dev) = s.admin_and_device().await;
    let old_book = RuleBook::bundled().expect("book");
    let dir = s.stop_keeping_dir().await;

    let mut files: std::collections::BTreeMap<String, String> =
        roadside_core::bundle::bundled_reference()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).expect("text")))
            .collect();
    let policy = files.get_mut("policy.toml").expect("policy.toml");
    policy.push_str("\n# 修订：本机构重新发布\n");
    let reference = dir.path().join("reference");
    std::fs::create_dir_all(&reference).expect("reference dir");
    std::fs::write(reference.join("policy.toml"), policy.as_bytes()).expect("overlay");
    let new_book = RuleBook::from_files(files).expect("new book");
    assert_ne!(new_book.reference_digest(), old_book.reference_digest());

    let s = TestServer::start_in(dir, url, |_| {}).await;
    let case = "0192f3a0-0000-7000-8000-00000000c3c3";
    let entries = signed(
        &dev.key,
        None,
        case,
        vec![
            (EntryKind::CaseOpen, json!({"reason": "超限运输"})),
            (EntryKind::CaseFinalize, json!({})),
            (
                EntryKind::DecisionPenalty,
                to_value(&decision(&old_book, "青海南交执罚〔2026〕0005号")),
            ),
            (
                EntryKind::DecisionPenalty,
                to_value(&decision(&new_book, "青海南交执罚〔2026〕0006号")),
            ),
        ],
    );
    let (status, answer) = s.push(&dev.token, &entries).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 4, "{answer}");
    s.stop().await;
}
