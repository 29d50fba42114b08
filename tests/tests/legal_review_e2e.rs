//! 法制审核 end to end with the real `roadside-server` (child process) and the device's own sync
//! client: the device refuses a decision the catalogue names, submits the proposal, the legal
//! reviewer agrees over the API, the next sync brings the agency-signed opinion to the device
//! (verified against the key pinned at enrolment), and the decision is then recorded, pushed and
//! accepted by the server.

use chrono::Utc;
use roadside_core::demo;
use roadside_core::model::Party;
use roadside_core::rules::check::{DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
use roadside_core::rules::guidance::{Facts, PartyType};
use roadside_core::rules::RuleBook;
use roadside_core::steps::*;
use roadside_core::sync::SyncOptions;
use roadside_tests::*;
use serde_json::json;

const OFFICER: &str = "QH6325000101";
const REVIEWER: &str = "QH6325000103";
const PASSWORD: &str = "审核-e2e-2026-密码";

fn today() -> String {
    roadside_core::day::format_day(roadside_core::day::agency_today())
}

fn quick() -> SyncOptions {
    SyncOptions {
        retry_attempts: 3,
        retry_base_ms: 5,
        retry_max_ms: 50,
        ..SyncOptions::default()
    }
}

/// A general-procedure 超限 penalty on an organisation, the case marked complex (处罚法 58(1)(3)).
fn proposal(book: &RuleBook) -> PenaltyDecisionInput {
    let mut draft = PenaltyDraft {
        facts: Facts {
            act_date: today(),
            party_type: PartyType::Organisation,
            gross_weight_kg: Some(21_350.0),
            axles: Some(2),
            combination: Some(false),
            flags: vec!["complex".into()],
            ..Default::default()
        },
        violations: vec![DraftViolation {
            code: "CX-43-2".into(),
            act_id: Some("r1".into()),
            warning: false,
            amount_yuan: 0,
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
    let check = book.check_draft(&draft, &demo::roster()).expect("check");
    draft.violations[0].amount_yuan = check.guidance.violations[0]
        .recommended_yuan
        .expect("recommended");
    PenaltyDecisionInput {
        draft,
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

#[test]
fn a_major_decision_is_made_after_the_signed_opinion_reaches_the_device_by_sync() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        dir.path(),
        "127.0.0.1:0",
        &[("ROADSIDE_AUDIT_INTERVAL_SECS".into(), "0".into())],
    );
    let dev = Device::new();
    enrol(&dev.store, &server.base, &server.enrolment_code(OFFICER));
    let admin = server.admin_token();
    let (status, body) = call(
        "POST",
        &server.url("/api/v1/accounts"),
        Some(&admin),
        Some(
            json!({"login": "fashen", "password": PASSWORD, "agency": "632500",
                    "role": "legal_reviewer", "certificate_no": REVIEWER}),
        ),
    );
    assert_eq!(status, 201, "{body}");

    let book = RuleBook::bundled().unwrap();
    let record = demo::on_site_record(Utc::now() - chrono::Duration::hours(1));
    let case = dev.store.create_case(&record).unwrap().id;
    dev.store.finalize_case(&case).unwrap();
    let input = proposal(&book);
    let notice = dev
        .store
        .issue_notice(
            &case,
            &book,
            &NoticeInput {
                draft: input.draft.clone(),
                party: input.party.clone(),
                facts_text: input.facts_text.clone(),
            },
        )
        .unwrap();
    dev.store
        .record_statement(
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
    let err = dev.store.decide_penalty(&case, &book, &input).unwrap_err();
    assert_eq!(err.issues()[0].code, "LEGAL_REVIEW_REQUIRED", "{err:?}");
    dev.store
        .request_legal_review(&case, &book, &input)
        .unwrap();
    let report = sync(&dev.store, &quick()).unwrap();
    assert_eq!(
        (report.refused, report.review_opinions),
        (0, 0),
        "{report:?}"
    );

    // The reviewer agrees; the next sync brings the opinion, verified, and the decision is made.
    let (status, token) = call(
        "POST",
        &server.url("/api/v1/sessions"),
        None,
        Some(json!({"login": "fashen", "password": PASSWORD})),
    );
    assert_eq!(status, 200, "{token}");
    let token = token["token"].as_str().expect("token").to_string();
    let (status, body) = call(
        "POST",
        &server.url(&format!("/api/v1/cases/{case}/review")),
        Some(&token),
        Some(json!({"verdict": "agree", "reasons": "事实清楚，证据确凿，适用依据正确，程序合法"})),
    );
    assert_eq!(status, 201, "{body}");
    let report = sync(&dev.store, &quick()).unwrap();
    assert_eq!(report.review_opinions, 1, "{report:?}");
    let status = dev
        .store
        .legal_review_status(&case)
        .unwrap()
        .expect("a review");
    assert_eq!(
        status.opinion.as_ref().map(|o| o.verdict),
        Some(ReviewVerdict::Agree)
    );
    assert_eq!(status.opinion_hash.as_deref(), body["entry_hash"].as_str());
    let decided = dev.store.decide_penalty(&case, &book, &input).unwrap();
    let report = sync(&dev.store, &quick()).unwrap();
    assert_eq!((report.refused, report.outbox_left), (0, 0), "{report:?}");
    let (status, shown) = call(
        "GET",
        &server.url(&format!("/api/v1/cases/{case}")),
        Some(&admin),
        None,
    );
    assert_eq!(status, 200);
    let entries = shown["entries"].as_array().expect("entries");
    let decision = entries
        .iter()
        .find(|e| e["entry_hash"] == decided.hash.as_str())
        .expect("the decision on the server");
    assert_eq!(decision["refused"], serde_json::Value::Null, "{decision}");
    assert_eq!(decision["body"]["review"]["opinion"], body["entry_hash"]);
    assert!(entries.iter().any(|e| e["kind"] == "review.opinion"));
}
