//! A case decided, delivered, paid and closed on a device reaches the real `roadside-server`
//! (child process): the device takes its document numbers from blocks the server leased it, the
//! server re-checks the steps on push and shows them in the case API; a decision signed with an
//! amount above the legal maximum is logged but refused; devices leasing at once get disjoint
//! blocks.

use base64::Engine;
use chrono::{Datelike, Utc};
use roadside_core::demo;
use roadside_core::ledger::{self, DeviceKey, EntryKind, Head};
use roadside_core::model::Party;
use roadside_core::rules::check::{DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
use roadside_core::rules::guidance::{Facts, PartyType};
use roadside_core::rules::RuleBook;
use roadside_core::steps::*;
use roadside_core::store::steps::NUMBER_LOW_WATER;
use roadside_core::sync::SyncOptions;
use roadside_tests::*;
use serde_json::{json, Value};

const OFFICER: &str = "QH6325000101";
const PREFIX: &str = "青海南交执";
/// Below the device's low-water mark, so every sync leases another block.
const BLOCK: u64 = 10;

fn server(dir: &std::path::Path) -> ServerProcess {
    ServerProcess::start_with(
        dir,
        "127.0.0.1:0",
        &[
            ("ROADSIDE_NUMBER_BLOCK_SIZE".into(), BLOCK.to_string()),
            ("ROADSIDE_DOC_PREFIXES".into(), format!("632500={PREFIX}")),
            ("ROADSIDE_AUDIT_INTERVAL_SECS".into(), "0".into()),
        ],
    )
}

fn year() -> i32 {
    roadside_core::day::agency_today().year()
}

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

/// A 超限 summary penalty on an organisation: 21,350 kg on two axles (CX-43-2).
fn overload(amount: i64) -> PenaltyDecisionInput {
    PenaltyDecisionInput {
        draft: PenaltyDraft {
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
            procedure: ProcedureKind::Summary,
            justification: String::new(),
            officers: officers(),
            discovered_on: None,
            already_fined_acts: vec![],
            collect_on_the_spot: false,
            hard_to_collect_later: false,
        },
        party: Party::Organisation {
            name: "青海某物流有限公司".into(),
            uscc: "9144030071526726XG".into(),
            address: Some("青海省海南州共和县".into()),
            phone: None,
            legal_representative: Some("韩建国".into()),
        },
        facts_text: "当事人驾驶青E12345重型仓栅式货车，车货总质量21350千克，超过限定标准3350千克"
            .into(),
        rights_told: true,
    }
}

/// The benchmark's recommended amount for the overload.
fn recommended(book: &RuleBook) -> i64 {
    let check = book
        .check_draft(&overload(0).draft, &demo::roster())
        .expect("check");
    check.guidance.violations[0]
        .recommended_yuan
        .expect("a recommended amount")
}

fn case_api(server: &ServerProcess, token: &str, case: &str) -> Value {
    let (status, body) = call(
        "GET",
        &server.url(&format!("/api/v1/cases/{case}")),
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{body}");
    body
}

fn quick() -> SyncOptions {
    SyncOptions {
        retry_attempts: 3,
        retry_base_ms: 5,
        retry_max_ms: 50,
        ..SyncOptions::default()
    }
}

#[test]
fn a_decided_delivered_paid_and_closed_case_reaches_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let dev = Device::new();
    enrol(&dev.store, &server.base, &server.enrolment_code(OFFICER));
    // Enrolment leased the first block.
    assert_eq!(dev.store.numbers_left(year()).unwrap(), BLOCK);

    let book = RuleBook::bundled().unwrap();
    let record = demo::on_site_record(Utc::now() - chrono::Duration::hours(1));
    let case = dev.store.create_case(&record).unwrap().id;
    dev.store.finalize_case(&case).unwrap();
    let amount = recommended(&book);
    let decided = dev
        .store
        .decide_penalty(&case, &book, &overload(amount))
        .unwrap();
    let number = decided.number.clone().expect("a decision number");
    assert_eq!(number, format!("{PREFIX}罚〔{}〕0001号", year()));
    dev.store
        .record_delivery(
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
    dev.store
        .record_payment(
            &case,
            &book,
            &PaymentInput {
                decision_number: number.clone(),
                method: PaymentMethod::Bank,
                reference: "6228480012345678".into(),
                amount_yuan: amount,
                late_fee_yuan: 0,
                paid_on: today(),
            },
        )
        .unwrap();
    dev.store
        .close_case(
            &case,
            &CloseInput {
                reason: CloseReason::Executed,
                note: String::new(),
            },
        )
        .unwrap();

    // Nine numbers left, below the low-water mark: the sync leases the next block.
    assert!(dev.store.numbers_left(year()).unwrap() < NUMBER_LOW_WATER);
    let report = sync(&dev.store, &quick()).unwrap();
    assert_eq!(report.refused, 0, "{report:?}");
    assert_eq!(report.outbox_left, 0);
    assert_eq!(report.number_lease_error, None, "{report:?}");
    let block = report.number_block.clone().expect("a new block");
    assert_eq!(
        (block.agency.as_str(), block.year, block.first, block.last),
        ("632500", year(), BLOCK + 1, 2 * BLOCK)
    );
    assert_eq!(block.prefix, PREFIX);
    assert_eq!(dev.store.numbers_left(year()).unwrap(), 2 * BLOCK - 1);

    let admin = server.admin_token();
    let shown = case_api(&server, &admin, &case);
    assert_eq!(shown["status"], "closed", "{shown}");
    assert_eq!(shown["decided"], true);
    let entries = shown["entries"].as_array().expect("entries");
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for want in [
        "case.open",
        "case.finalize",
        "decision.penalty",
        "delivery.record",
        "payment.record",
        "case.close",
    ] {
        assert!(kinds.contains(&want), "{want} missing from {kinds:?}");
    }
    for e in entries {
        assert_eq!(e["refused"], Value::Null, "refused: {e}");
        assert_eq!(e["entry_hash"].as_str().unwrap().len(), 64);
    }
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    let decision = entries
        .iter()
        .find(|e| e["kind"] == "decision.penalty")
        .unwrap();
    assert_eq!(decision["body"]["number"], number.as_str());
    assert_eq!(decision["body"]["total_yuan"], amount);
    assert_eq!(
        decision["body"]["reference"]["digest"],
        book.reference_digest()
    );
    assert_eq!(
        decision["officers"],
        json!(["QH6325000101", "QH6325000102"])
    );
    let delivery = entries
        .iter()
        .find(|e| e["kind"] == "delivery.record")
        .unwrap();
    assert_eq!(delivery["body"]["document_number"], number.as_str());
    let payment = entries
        .iter()
        .find(|e| e["kind"] == "payment.record")
        .unwrap();
    assert_eq!(payment["body"]["amount_yuan"], amount);
    assert_eq!(payment["body"]["method"], "bank");

    // The case list says the same.
    let (status, list) = call("GET", &server.url("/api/v1/cases"), Some(&admin), None);
    assert_eq!(status, 200, "{list}");
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == case.as_str())
        .expect("the case is listed");
    assert_eq!(
        (&row["status"], &row["decided"]),
        (&json!("closed"), &json!(true))
    );

    // The back office: the supervision office finds it among the summary penalties for its plate
    // and sees the decision beside the benchmark.
    let (status, _) = call(
        "POST",
        &server.url("/api/v1/accounts"),
        Some(&admin),
        Some(
            json!({"login": "jiandu", "password": "执法监督-测试密码-2026", "agency": "632500", "role": "supervisor"}),
        ),
    );
    assert_eq!(status, 201);
    let (status, list) = server.office_page(
        "jiandu",
        "执法监督-测试密码-2026",
        "/cases?procedure=summary&outcome=penalty&plate=%E9%9D%92E12345",
    );
    assert_eq!(status, 200, "{list}");
    assert!(list.contains("共 1 件") && list.contains(&case), "{list}");
    assert!(
        list.contains("CX-43-2") && list.contains("已结案"),
        "{list}"
    );
    let (status, page) = server.office_page(
        "jiandu",
        "执法监督-测试密码-2026",
        &format!("/cases/{case}"),
    );
    assert_eq!(status, 200, "{page}");
    for want in [
        number.as_str(),
        "简易程序",
        "行政处罚决定",
        "缴纳罚款",
        "结案",
        "超限运输车辆行驶公路管理规定",
    ] {
        assert!(page.contains(want), "{want} missing from the case page");
    }
    let (_, none) = server.office_page(
        "jiandu",
        "执法监督-测试密码-2026",
        "/cases?outcome=no_penalty",
    );
    assert!(none.contains("共 0 件"), "{none}");
}

/// Sign `(kind, body)` entries of one case after `head` with `key`.
fn signed(
    key: &DeviceKey,
    mut head: Option<Head>,
    case: &str,
    steps: Vec<(EntryKind, Value)>,
) -> Vec<Value> {
    let b64 = base64::engine::general_purpose::STANDARD;
    steps
        .into_iter()
        .map(|(kind, body)| {
            let e = ledger::next_entry(
                key,
                head,
                Utc::now() - chrono::Duration::minutes(5),
                vec!["QH6325000101".into(), "QH6325000102".into()],
                kind,
                Some(case.to_string()),
                body,
            );
            let s = ledger::seal(&e, key).expect("seal");
            head = Some(Head {
                seq: e.seq,
                hash: s.hash,
            });
            json!({"bytes": b64.encode(&s.bytes), "sig": b64.encode(s.sig)})
        })
        .collect()
}

#[test]
fn a_tampered_decision_is_logged_but_refused_with_the_law_it_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    // A genuine decision body, made by a device's store.
    let dev = Device::new();
    dev.store
        .add_number_block(&NumberBlock {
            agency: "632500".into(),
            year: year(),
            first: 9000,
            last: 9001,
            prefix: PREFIX.into(),
            agency_name: "海南藏族自治州交通运输综合行政执法局".into(),
        })
        .unwrap();
    let book = RuleBook::bundled().unwrap();
    let record = demo::on_site_record(Utc::now() - chrono::Duration::hours(1));
    let case = dev.store.create_case(&record).unwrap().id;
    dev.store.finalize_case(&case).unwrap();
    dev.store
        .decide_penalty(&case, &book, &overload(recommended(&book)))
        .unwrap();
    let steps = dev.store.case_steps(&case).unwrap();
    let genuine: PenaltyDecision = serde_json::from_str(&steps[0].body).unwrap();

    // Another device signs it with the amount above the legal maximum.
    let mut tampered = genuine.clone();
    tampered.violations[0].amount_yuan = 5_000_000;
    tampered.total_yuan = 5_000_000;
    let issues = recheck_penalty_decision(&book, &demo::roster(), &tampered);
    assert!(
        issues.iter().any(|i| i.code == "AMOUNT_ABOVE_LEGAL_MAX"),
        "{issues:?}"
    );
    let code = server.enrolment_code(OFFICER);
    let key = DeviceKey::generate();
    let (status, enrolled) = call(
        "POST",
        &server.url("/api/v1/devices/enrol"),
        None,
        Some(json!({"code": code, "public_key": key.public_hex(), "name": "篡改终端"})),
    );
    assert_eq!(status, 201, "{enrolled}");
    let token = enrolled["token"].as_str().unwrap();
    let other_case = "0192f3a0-0000-7000-8000-00000000d1d1";
    let entries = signed(
        &key,
        None,
        other_case,
        vec![
            (
                EntryKind::CaseOpen,
                json!({"reason": "超限运输", "plate": "青E12345"}),
            ),
            (EntryKind::CaseFinalize, json!({})),
            (
                EntryKind::DecisionPenalty,
                serde_json::to_value(&tampered).unwrap(),
            ),
            // A body that is not a delivery at all.
            (
                EntryKind::DeliveryRecord,
                json!({"document_number": "x", "color": "red"}),
            ),
        ],
    );
    let (status, answer) = call(
        "POST",
        &server.url("/api/v1/sync/push"),
        Some(token),
        Some(json!({ "entries": entries })),
    );
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["accepted", "accepted", "refused", "refused"],
        "{answer}"
    );
    // Logged: each refused entry has its receipt.
    assert!(results[2]["receipt"]["leaf_index"].is_u64());
    assert_eq!(results[2]["code"], issues[0].code.as_str());
    let message = results[2]["message"].as_str().unwrap();
    for i in &issues {
        assert!(
            message.contains(&i.code),
            "{} missing from {message}",
            i.code
        );
    }
    assert_eq!(results[3]["code"], "STEP_BODY_INVALID");

    let admin = server.admin_token();
    let shown = case_api(&server, &admin, other_case);
    assert_eq!(
        shown["decided"], false,
        "a refused decision decides nothing"
    );
    assert_eq!(shown["status"], "finalized");
    let decision = &shown["entries"][2];
    assert_eq!(decision["kind"], "decision.penalty");
    assert_eq!(decision["refused"]["code"], issues[0].code.as_str());
    assert_eq!(decision["body"]["total_yuan"], 5_000_000);

    // A decision naming reference data the server never published is refused too.
    let mut unknown = genuine;
    unknown.reference.digest = "00".repeat(32);
    let head = {
        let last = results[3]["hash"].as_str().unwrap();
        Head {
            seq: 4,
            hash: hex::decode(last).unwrap().try_into().unwrap(),
        }
    };
    let more = signed(
        &key,
        Some(head),
        other_case,
        vec![(
            EntryKind::DecisionPenalty,
            serde_json::to_value(&unknown).unwrap(),
        )],
    );
    let (status, answer) = call(
        "POST",
        &server.url("/api/v1/sync/push"),
        Some(token),
        Some(json!({ "entries": more })),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["status"], "refused", "{answer}");
    assert_eq!(answer["results"][0]["code"], "DECISION_REFERENCE_UNKNOWN");

    // An unknown case is not found, and a case outside the caller's scope is not shown.
    let (status, body) = call(
        "GET",
        &server.url("/api/v1/cases/0192f3a0-0000-7000-8000-00000000ffff"),
        Some(&admin),
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("CASE_NOT_FOUND"))
    );
    let (status, body) = call(
        "POST",
        &server.url("/api/v1/accounts"),
        Some(&admin),
        Some(
            json!({"login": "gonghe-admin", "password": "共和县管理员密码-2026", "agency": "632521", "role": "admin"}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        "POST",
        &server.url("/api/v1/sessions"),
        None,
        Some(json!({"login": "gonghe-admin", "password": "共和县管理员密码-2026"})),
    );
    assert_eq!(status, 200, "{body}");
    let county = body["token"].as_str().unwrap();
    let (status, body) = call(
        "GET",
        &server.url(&format!("/api/v1/cases/{other_case}")),
        Some(county),
        None,
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("CASE_NOT_FOUND"))
    );
}

#[test]
fn devices_leasing_at_once_get_disjoint_blocks() {
    const DEVICES: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let devices: Vec<Device> = (0..DEVICES).map(|_| Device::new()).collect();
    let codes: Vec<String> = (0..DEVICES)
        .map(|_| server.enrolment_code(OFFICER))
        .collect();
    // Every device enrols at once (each leases its first block), then every one syncs at once
    // (each is below the low-water mark, so each leases another).
    std::thread::scope(|scope| {
        for (d, code) in devices.iter().zip(&codes) {
            let base = &server.base;
            scope.spawn(move || enrol(&d.store, base, code));
        }
    });
    let reports: Vec<_> = std::thread::scope(|scope| {
        let running: Vec<_> = devices
            .iter()
            .map(|d| scope.spawn(|| sync(&d.store, &quick()).expect("sync")))
            .collect();
        running
            .into_iter()
            .map(|h| h.join().expect("sync thread"))
            .collect()
    });
    let mut blocks: Vec<(u64, u64)> = Vec::new();
    for r in reports {
        let b = r.number_block.expect("a block leased at sync");
        blocks.push((b.first, b.last));
    }
    for d in &devices {
        assert_eq!(d.store.numbers_left(year()).unwrap(), 2 * BLOCK);
    }
    // The server's record of every block of the agency's year: two per device (enrolment and
    // sync), the ones the syncs reported among them, together exactly serials
    // 1..=2×DEVICES×BLOCK with none leased twice.
    let db = rusqlite::Connection::open(server.database()).expect("server database");
    let leased: Vec<(u64, u64, String)> = db
        .prepare(
            "SELECT first, last, device_id FROM number_leases WHERE agency = '632500' AND year = ?1 ORDER BY first",
        )
        .unwrap()
        .query_map([year()], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get(2)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(leased.len(), 2 * DEVICES, "{leased:?}");
    let mut next = 1;
    for (first, last, _) in &leased {
        assert_eq!(*first, next, "gap or overlap in {leased:?}");
        assert_eq!(last - first + 1, BLOCK);
        next = last + 1;
    }
    for b in &blocks {
        assert!(
            leased.iter().any(|(f, l, _)| (*f, *l) == *b),
            "{b:?} not leased"
        );
    }
    let mut per_device: std::collections::BTreeMap<&str, usize> = Default::default();
    for (_, _, device) in &leased {
        *per_device.entry(device.as_str()).or_default() += 1;
    }
    assert_eq!(per_device.len(), DEVICES);
    assert!(per_device.values().all(|n| *n == 2), "{per_device:?}");
}

/// A lease the server refuses (the year's serials are all leased) does not fail the sync: the
/// entries still go, and the report says why no block came.
#[test]
fn a_failed_lease_is_reported_and_the_sync_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        dir.path(),
        "127.0.0.1:0",
        &[
            ("ROADSIDE_NUMBER_BLOCK_SIZE".into(), "5000".into()),
            ("ROADSIDE_AUDIT_INTERVAL_SECS".into(), "0".into()),
        ],
    );
    // Two devices take the whole year (1–5000, 5001–9999).
    for _ in 0..2 {
        let d = Device::new();
        enrol(&d.store, &server.base, &server.enrolment_code(OFFICER));
        assert!(d.store.numbers_left(year()).unwrap() >= 4999);
    }
    // The third enrols (its lease fails, the enrolment stands) and has a case to send.
    let dev = Device::new();
    enrol(&dev.store, &server.base, &server.enrolment_code(OFFICER));
    assert_eq!(dev.store.numbers_left(year()).unwrap(), 0);
    dev.capture_cases(2);
    let report = sync(&dev.store, &quick()).expect("the sync itself succeeds");
    assert_eq!(report.accepted, 2, "{report:?}");
    assert_eq!(report.outbox_left, 0);
    assert_eq!(report.number_block, None);
    let error = report
        .number_lease_error
        .clone()
        .expect("the lease's failure");
    assert!(error.starts_with("NUMBERS_EXHAUSTED: "), "{error}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("NUMBERS_EXHAUSTED")),
        "{report:?}"
    );
    assert_eq!(dev.store.numbers_left(year()).unwrap(), 0);
}
