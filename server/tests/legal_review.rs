//! 法制审核 on SQLite and PostgreSQL, over HTTP: a general-procedure decision the review
//! catalogue names is refused on push until a legal reviewer's opinion of 同意 on the same
//! proposal is in the log; the opinion is an entry signed with the agency key (the key devices pin
//! for bundles) on the agency's signer chain, fetched by the device as signed bytes; a device
//! cannot submit an opinion; 备案 lists the decision with its documents and records the filing.

#[macro_use]
mod common;

use chrono::{Duration, Utc};
use common::office::Office;
use common::{b64d, Db, TestServer, TWO_OFFICERS};
use reqwest::{Method, StatusCode};
use roadside_core::demo;
use roadside_core::ledger::{self, DeviceKey, EntryKind, Head, SignedEntry};
use roadside_core::model::Party;
use roadside_core::rules::check::{DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
use roadside_core::rules::guidance::{Facts, PartyType};
use roadside_core::rules::RuleBook;
use roadside_core::steps::*;
use serde_json::{json, Value};

const PASSWORD: &str = "测试密码-review-2026";

fn today() -> String {
    roadside_core::day::format_day(roadside_core::day::agency_today())
}

/// A general-procedure decision on a case marked complex (处罚法 58(1)(3)): review required.
fn proposal(book: &RuleBook, amount_delta: i64) -> PenaltyDecision {
    let officers = vec![
        DraftOfficer {
            name: "才让多杰".into(),
            certificate_no: "QH6325000101".into(),
        },
        DraftOfficer {
            name: "李明".into(),
            certificate_no: "QH6325000102".into(),
        },
    ];
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
        officers,
        discovered_on: None,
        already_fined_acts: vec![],
        collect_on_the_spot: false,
        hard_to_collect_later: false,
    };
    let check = book.check_draft(&draft, &demo::roster()).expect("check");
    draft.violations[0].amount_yuan = check.guidance.violations[0]
        .recommended_yuan
        .expect("recommended")
        + amount_delta;
    if amount_delta != 0 {
        draft.justification = "当事人拒不配合检查，情节较重".into();
    }
    let party = Party::Organisation {
        name: "青海某物流有限公司".into(),
        uscc: "9144030071526726XG".into(),
        address: Some("青海省海南州共和县".into()),
        phone: None,
        legal_representative: Some("韩建国".into()),
    };
    let facts_text = "当事人驾驶青E12345重型仓栅式货车，车货总质量21350千克".to_string();
    let reference = ReferenceId {
        bundle_version: None,
        digest: book.reference_digest(),
    };
    let notice = roadside_core::steps::notice(
        book,
        &demo::roster(),
        &NoticeInput {
            draft: draft.clone(),
            party: party.clone(),
            facts_text: facts_text.clone(),
        },
        reference.clone(),
        "n1".into(),
        "青海南交执告〔2026〕0001号".into(),
    )
    .expect("a notice");
    let statement = roadside_core::steps::statement(
        &StatementInput {
            notice_number: notice.number.clone(),
            kind: StatementKind::Waived,
            text: String::new(),
            adopted: false,
            reasons: String::new(),
            on: today(),
        },
        &notice,
    )
    .expect("a statement");
    let ctx = DecisionContext {
        notice: Some(NoticeState {
            notice,
            statement: Some(statement),
        }),
        already_fined_acts: Vec::new(),
    };
    penalty_decision(
        book,
        &demo::roster(),
        &PenaltyDecisionInput {
            draft,
            party,
            facts_text,
            rights_told: true,
        },
        &ctx,
        reference,
        String::new(),
        String::new(),
    )
    .expect("a lawful proposal")
}

fn signed(
    key: &DeviceKey,
    head: &mut Option<Head>,
    case: &str,
    steps: Vec<(EntryKind, Value)>,
) -> Vec<SignedEntry> {
    steps
        .into_iter()
        .map(|(kind, body)| {
            let e = ledger::next_entry(
                key,
                *head,
                Utc::now() - Duration::minutes(5),
                TWO_OFFICERS.iter().map(|s| s.to_string()).collect(),
                kind,
                Some(case.to_string()),
                body,
            );
            let s = ledger::seal(&e, key).expect("seal");
            *head = Some(Head {
                seq: e.seq,
                hash: s.hash,
            });
            s
        })
        .collect()
}

fn codes(answer: &Value) -> Vec<(String, String)> {
    answer["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["status"].as_str().unwrap_or_default().to_string(),
                r["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

backend_tests!(db: a_major_decision_waits_for_the_reviewer_s_signed_opinion_and_is_filed,);

async fn account(s: &TestServer, admin: &str, login: &str, role: &str, cert: Option<&str>) {
    let (status, body) = s
        .call(
            Method::POST,
            "/api/v1/accounts",
            Some(admin),
            Some(json!({"login": login, "password": PASSWORD, "agency": "632500", "role": role, "certificate_no": cert})),
        )
        .await;
    assert_eq!(status, 201, "{login}: {body}");
}

async fn a_major_decision_waits_for_the_reviewer_s_signed_opinion_and_is_filed(db: Db) {
    let s = db.server().await;
    let (admin, dev) = s.admin_and_device().await;
    account(
        &s,
        &admin,
        "legal500",
        "legal_reviewer",
        Some("QH6325000103"),
    )
    .await;
    account(&s, &admin, "sup500", "supervisor", Some("QH6325000104")).await;
    account(&s, &admin, "off500", "officer", Some("QH6325000101")).await;
    let book = RuleBook::bundled().expect("book");
    let case = uuid::Uuid::now_v7().to_string();
    let mut head = None;
    let mut d = proposal(&book, 0);
    d.number = "青海南交执罚〔2026〕0007号".into();
    d.decision_id = "0192f3a0-0000-7000-8000-0000000dec07".into();

    // Without a review the decision is logged but refused.
    let first = signed(
        &dev.key,
        &mut head,
        &case,
        vec![
            (
                EntryKind::CaseOpen,
                json!({"reason": "超限运输", "plate": "青E12345"}),
            ),
            (EntryKind::CaseFinalize, json!({})),
            (
                EntryKind::DecisionPenalty,
                serde_json::to_value(&d).unwrap(),
            ),
        ],
    );
    let (status, answer) = s.push(&dev.token, &first).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        codes(&answer)[2],
        ("refused".into(), "LEGAL_REVIEW_REQUIRED".into()),
        "{answer}"
    );

    // The request; a device cannot sign an opinion.
    let request = ReviewRequest {
        request_id: "0192f3a0-0000-7000-8000-00000000aa01".into(),
        proposal: proposal(&book, 0),
        reasons: vec!["案件情况疑难复杂、涉及多个法律关系的".into()],
        hearing_held: false,
    };
    let req = signed(
        &dev.key,
        &mut head,
        &case,
        vec![(
            EntryKind::ReviewRequest,
            serde_json::to_value(&request).unwrap(),
        )],
    );
    let request_hash = req[0].hash_hex();
    let forged = signed(
        &dev.key,
        &mut head,
        &case,
        vec![(
            EntryKind::ReviewOpinion,
            json!({"request": request_hash, "request_id": "x", "verdict": "agree",
                   "reasons": "自己同意", "reviewer": "才让多杰", "reviewer_login": "off500"}),
        )],
    );
    let (_, answer) = s.push(&dev.token, &[req, forged].concat()).await;
    assert_eq!(
        codes(&answer),
        [
            ("accepted".to_string(), String::new()),
            (
                "refused".to_string(),
                "REVIEW_OPINION_FORBIDDEN".to_string()
            )
        ],
        "{answer}"
    );

    // Nobody but the reviewer may answer; the reviewer must give reasons.
    let officer = s.sign_in("off500", PASSWORD).await;
    let path = format!("/api/v1/cases/{case}/review");
    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(&officer),
            Some(json!({"verdict": "agree", "reasons": "同意"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("ROLE_FORBIDDEN")),
        "{body}"
    );
    let reviewer = s.sign_in("legal500", PASSWORD).await;
    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(&reviewer),
            Some(json!({"verdict": "agree", "reasons": "  "})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("REVIEW_REASONS_REQUIRED")),
        "{body}"
    );
    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(&reviewer),
            Some(json!({"verdict": "maybe", "reasons": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("REVIEW_VERDICT_INVALID")),
        "{body}"
    );

    // The reviewer agrees in the office, through its form.
    let office = Office::sign_in(&s, "legal500", PASSWORD).await;
    let queue = office.get("/reviews").await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains(&case) && queue.body.contains("待审核"),
        "{}",
        queue.body
    );
    let page = office.get(&format!("/reviews/{case}")).await;
    assert!(page.body.contains("案件情况疑难复杂") && page.body.contains("签署审核意见"));
    let posted = office
        .post(
            &format!("/reviews/{case}"),
            &[
                ("verdict", "agree"),
                ("reasons", "事实清楚，证据确凿，程序合法，裁量适当"),
            ],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let (status, body) = s
        .call(
            Method::POST,
            &path,
            Some(&reviewer),
            Some(json!({"verdict": "agree", "reasons": "再次"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("REVIEW_OPINION_EXISTS")),
        "{body}"
    );

    // The device gets the opinion as signed bytes: the agency key's, not a device's.
    let (status, got) = s
        .call(
            Method::GET,
            &format!("/api/v1/reviews?case={case}"),
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    let opinions = got["opinions"].as_array().expect("opinions");
    assert_eq!(opinions.len(), 1, "{got}");
    let bytes = b64d(&opinions[0]["bytes"]);
    let entry = ledger::open(&bytes, &b64d(&opinions[0]["sig"]), None).expect("a valid signature");
    assert_eq!(entry.kind, EntryKind::ReviewOpinion);
    assert_ne!(entry.device, dev.key.public_hex());
    assert_eq!(entry.officers, ["QH6325000103"]);
    assert_eq!(entry.body["verdict"], "agree");
    assert_eq!(entry.body["request"], request_hash.as_str());
    let opinion_hash = hex::encode(ledger::sha256(&bytes));
    // Another agency's device, or an unknown case, learns nothing.
    let (_, none) = s
        .call(
            Method::GET,
            "/api/v1/reviews?case=0192f3a0-0000-7000-8000-000000000000",
            Some(&dev.token),
            None,
        )
        .await;
    assert_eq!(none["opinions"], json!([]));

    // A decision other than the one reviewed is refused; the reviewed one is accepted.
    let named = ReviewRef {
        request: request_hash.clone(),
        opinion: opinion_hash.clone(),
    };
    let mut other = proposal(&book, 100);
    other.number = "青海南交执罚〔2026〕0008号".into();
    other.decision_id = "0192f3a0-0000-7000-8000-0000000dec08".into();
    other.review = Some(named.clone());
    d.review = Some(named);
    let last = signed(
        &dev.key,
        &mut head,
        &case,
        vec![
            (
                EntryKind::DecisionPenalty,
                serde_json::to_value(&other).unwrap(),
            ),
            (
                EntryKind::DecisionPenalty,
                serde_json::to_value(&d).unwrap(),
            ),
        ],
    );
    let (_, answer) = s.push(&dev.token, &last).await;
    assert_eq!(
        codes(&answer),
        [
            ("refused".to_string(), "LEGAL_REVIEW_MISMATCH".to_string()),
            ("accepted".to_string(), String::new())
        ],
        "{answer}"
    );

    // The case shows the opinion in the log; the decision is listed for 备案 and filed once.
    let (_, shown) = s
        .call(
            Method::GET,
            &format!("/api/v1/cases/{case}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(
        shown["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["kind"] == "review.opinion" && e["entry_hash"] == opinion_hash.as_str()),
        "{shown}"
    );
    let sup = Office::sign_in(&s, "sup500", PASSWORD).await;
    let filings = sup.get("/filings").await;
    assert_eq!(filings.status, StatusCode::OK);
    assert!(
        filings.body.contains("青海南交执罚〔2026〕0007号"),
        "{}",
        filings.body
    );
    assert!(filings.body.contains("登记备案"));
    let refused = sup
        .post(
            &format!("/filings/{case}"),
            &[("filed_on", "2020-01-01"), ("note", "")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let filed = sup
        .post(
            &format!("/filings/{case}"),
            &[("filed_on", &today()), ("note", "报州交通运输局、州司法局")],
        )
        .await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
    let again = sup
        .post(
            &format!("/filings/{case}"),
            &[("filed_on", &today()), ("note", "")],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let filings = sup.get("/filings").await;
    assert!(filings.body.contains("已备案") && filings.body.contains("报州交通运输局"));
    // The filing documents are PDFs with the decision's number in them (when a CJK font exists).
    if std::env::var_os("CI").is_some()
        || std::path::Path::new("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc").exists()
    {
        for doc in ["report.pdf", "form.pdf", "decision.pdf"] {
            let (status, bytes) = sup.get_bytes(&format!("/filings/{case}/{doc}")).await;
            assert_eq!(status, 200, "{doc}");
            assert!(bytes.starts_with(b"%PDF-"), "{doc}");
        }
    }
    let (status, _) = office
        .get_bytes("/filings/0192f3a0-0000-7000-8000-000000000000/report.pdf")
        .await;
    assert_eq!(status, 404);
    s.stop().await;
}
