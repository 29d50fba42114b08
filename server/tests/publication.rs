//! 行政处罚决定公示 from a real case, on SQLite and PostgreSQL: a device pushes a record naming the
//! driver, a penalty decision made by the core and the decision document; the publication built
//! from what the server stored names the company in full, masks the driver, is due 20 working days
//! after the decision, and once published is in the CSV feed — and once withdrawn, is not, and
//! cannot be published again.

#[macro_use]
mod common;

use chrono::{Duration, Utc};
use common::{Db, TestServer, TWO_OFFICERS};
use roadside_core::demo;
use roadside_core::ledger::{self, DeviceKey, EntryKind, Head, SignedEntry};
use roadside_core::model::Party;
use roadside_core::rules::check::{DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
use roadside_core::rules::guidance::{Facts, PartyType};
use roadside_core::rules::RuleBook;
use roadside_core::steps::*;
use roadside_server::config::Config;
use roadside_server::publication::{
    csv_feed, publication_from_decision, published_records, PublicationPolicy, Publisher,
};
use roadside_server::storage::{self, PublicationState};
use serde_json::{json, Value};

const CASE: &str = "0192f3a0-0000-7000-8000-0000000f0b11";
const NUMBER: &str = "青海南交执罚〔2026〕0007号";
const DECIDED: &str = "2026-11-02";
const DRIVER_ID: &str = "632521198502024321";
const FACTS: &str = "当事人青海某物流有限公司所属青E12345重型仓栅式货车由驾驶员赵六\
     （身份证号632521198502024321，电话18997001234）驾驶，车货总质量21350千克";

/// A summary decision on a 21,350 kg two-axle truck (CX-43-2) against a company, made by the core
/// as a device makes it, on `DECIDED`.
fn decision(book: &RuleBook) -> PenaltyDecision {
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
            act_date: DECIDED.into(),
            decision_date: Some(DECIDED.into()),
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
        officers,
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
            party: Party::Organisation {
                name: "青海某物流有限公司".into(),
                uscc: "9144030071526726XG".into(),
                address: Some("青海省海南州共和县".into()),
                phone: None,
                legal_representative: Some("韩建国".into()),
            },
            facts_text: FACTS.into(),
            rights_told: true,
        },
        &DecisionContext::default(),
        ReferenceId {
            bundle_version: None,
            digest: book.reference_digest(),
        },
        "0192f3a0-0000-7000-8000-0000000dec07".into(),
        NUMBER.into(),
    )
    .expect("a lawful decision")
}

/// `(kind, body)` entries of the case after `head`, signed by `key`.
fn signed(
    key: &DeviceKey,
    mut head: Option<Head>,
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
                Some(CASE.to_string()),
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

/// Push the case (opening, a record naming the driver, the decision, its document) from `dev`;
/// the decision entry's hash.
async fn push_decided_case(s: &TestServer, dev: &common::Device) -> String {
    let book = RuleBook::bundled().expect("book");
    let d = decision(&book);
    let first = signed(
        &dev.key,
        None,
        vec![
            (
                EntryKind::CaseOpen,
                json!({"reason": "超限运输", "plate": "青E12345"}),
            ),
            (
                EntryKind::RecordCreate,
                json!({"record_id": "r-1", "record": {
                    "persons": [{"name": "赵六", "id_number": DRIVER_ID, "relation": "驾驶员",
                                 "phone": "18997001234"}],
                    "vehicle": {"plate": "青E12345", "vehicle_type": "重型仓栅式货车"}}}),
            ),
            (
                EntryKind::DecisionPenalty,
                serde_json::to_value(&d).expect("body"),
            ),
        ],
    );
    let decision_hash = hex::encode(first[2].hash);
    let head = Some(Head {
        seq: 3,
        hash: first[2].hash,
    });
    let issued = DocumentIssued {
        doc_type: DocType::SummaryDecision,
        number: NUMBER.into(),
        source: decision_hash.clone(),
        sha256: "cd".repeat(32),
        size: 48_213,
        agency: "632500".into(),
        agency_name: "海南藏族自治州交通运输综合行政执法局".into(),
        signatures: vec![],
    };
    let second = signed(
        &dev.key,
        head,
        vec![(
            EntryKind::DocumentIssue,
            serde_json::to_value(&issued).expect("body"),
        )],
    );
    let entries: Vec<SignedEntry> = first.into_iter().chain(second).collect();
    let (status, answer) = s.push(&dev.token, &entries).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 4, "{answer}");
    decision_hash
}

backend_tests!(db: a_pushed_decision_is_published_masked_and_withdrawn_for_good, the_office_publishes_and_withdraws);

async fn a_pushed_decision_is_published_masked_and_withdrawn_for_good(db: Db) {
    let url = db.new_database().await;
    let s = TestServer::start(url.clone()).await;
    let (_admin, dev) = s.admin_and_device().await;
    let decision_hash = push_decided_case(&s, &dev).await;
    let book = RuleBook::bundled().expect("book");
    let d = decision(&book);

    // What the server stored, read as the office reads it.
    let store =
        storage::open(&url.unwrap_or_else(|| Config::for_data_dir(s.dir.path()).database_url()))
            .await
            .expect("open the server's database");
    let mine = vec!["632500".to_string()];
    let case = store
        .case_detail(&mine, CASE)
        .await
        .expect("read")
        .expect("the case");
    let entry = case
        .entries
        .iter()
        .find(|e| e.entry_hash == decision_hash)
        .expect("the decision entry");
    let agency = store
        .agencies()
        .await
        .expect("agencies")
        .into_iter()
        .find(|a| a.code == "632500")
        .expect("632500");
    let publisher = Publisher {
        agency: &agency,
        agency_uscc: "",
        data_source: None,
    };
    let policy = PublicationPolicy::bundled().expect("policy");
    let draft =
        publication_from_decision(&case, entry, &publisher, &book, &policy).expect("publication");
    let r = &draft.record;
    assert_eq!(r.party_name, "青海某物流有限公司");
    assert_eq!(r.party_category, "法人及非法人组织");
    assert_eq!(r.uscc, "9144030071526726XG");
    assert_eq!(r.legal_representative, "韩建国");
    assert_eq!(r.decision_number, NUMBER);
    assert_eq!(r.decided_on, DECIDED);
    assert_eq!(
        r.fine_wan_yuan,
        roadside_server::publication::wan_yuan(d.total_yuan)
    );
    assert!(r.basis.contains(&d.violations[0].basis), "{}", r.basis);
    // The company's plate stays; the driver is a natural person.
    assert_eq!(
        r.facts,
        "当事人青海某物流有限公司所属青E12345重型仓栅式货车由驾驶员赵某\
         （身份证号（身份证号码略），电话（电话略））驾驶，车货总质量21350千克"
    );
    assert_eq!(draft.due.due.to_string(), "2026-11-30");

    let at = "2026-11-03T09:00:00.000000Z";
    assert!(store
        .add_publication(&draft, "admin", at)
        .await
        .expect("add"));
    store
        .publish(&mine, CASE, &decision_hash, "admin", at)
        .await
        .expect("publish");
    let public = store.published_publications().await.expect("public");
    let csv =
        String::from_utf8(csv_feed(&published_records(&public)).expect("csv")).expect("utf-8");
    assert!(csv.contains(NUMBER) && csv.contains("赵某"), "{csv}");
    assert!(!csv.contains("赵六") && !csv.contains(DRIVER_ID), "{csv}");

    let p = store
        .withdraw_publication(&mine, CASE, &decision_hash, "处罚决定被撤销", "admin", at)
        .await
        .expect("withdraw");
    assert_eq!(p.state, PublicationState::Withdrawn);
    let err = store
        .publish(&mine, CASE, &decision_hash, "admin", at)
        .await
        .expect_err("published again");
    assert_eq!(err.code, "PUBLICATION_WITHDRAWN");
    let public = store.published_publications().await.expect("public");
    assert!(published_records(&public).is_empty());
    s.stop().await;
}

/// The supervision office publishes the decision from its page, the public sees it masked (page
/// and feeds), a withdrawal needs a reason, and a withdrawn publication is never published again.
async fn the_office_publishes_and_withdraws(db: Db) {
    use common::office::Office;
    let s = TestServer::start(db.new_database().await).await;
    let (admin, dev) = s.admin_and_device().await;
    push_decided_case(&s, &dev).await;
    for (login, role, cert) in [
        ("jiandu", "supervisor", Some("QH6325000104")),
        ("zhifa", "officer", Some("QH6325000101")),
    ] {
        let (status, body) = s
            .call(
                reqwest::Method::POST,
                "/api/v1/accounts",
                Some(&admin),
                Some(json!({"login": login, "password": "公示测试密码-2026", "agency": "632500", "role": role, "certificate_no": cert})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let officer = Office::sign_in(&s, "zhifa", "公示测试密码-2026").await;
    assert_eq!(officer.get("/publications").await.status, 403);
    let sup = Office::sign_in(&s, "jiandu", "公示测试密码-2026").await;
    let list = sup.get("/publications").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        list.body.contains(NUMBER) && list.body.contains("待公示"),
        "{}",
        list.body
    );
    let link = format!("/publications/{CASE}/");
    let at = list.body.find(&link).expect("a link to the publication");
    let path: String = list.body[at..].chars().take_while(|c| *c != '"').collect();
    let page = sup.get(&path).await;
    assert!(
        page.body.contains("处罚机关") && page.body.contains("created"),
        "{}",
        page.body
    );
    // Nothing is public before it is published.
    let public = common::office::client();
    let before = public
        .get(s.url("/public/decisions"))
        .send()
        .await
        .expect("get");
    assert_eq!(before.status(), 200);
    assert!(!before.text().await.expect("text").contains(NUMBER));

    let r = sup.post(&format!("{path}/publish"), &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let shown = public
        .get(s.url("/public/decisions"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        shown.contains(NUMBER) && shown.contains("青海某物流有限公司"),
        "{shown}"
    );
    assert!(
        !shown.contains(DRIVER_ID) && !shown.contains("赵六"),
        "the driver is masked"
    );
    let csv = public
        .get(s.url("/public/decisions.csv"))
        .send()
        .await
        .expect("csv");
    assert!(csv.headers()["content-type"]
        .to_str()
        .expect("type")
        .starts_with("text/csv"));
    let csv = csv.bytes().await.expect("bytes");
    assert!(csv.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with BOM for Excel");
    assert!(String::from_utf8_lossy(&csv).contains(NUMBER));
    let feed: Value = public
        .get(s.url("/public/decisions.json"))
        .send()
        .await
        .expect("json")
        .json()
        .await
        .expect("a JSON feed");
    assert!(feed.to_string().contains(NUMBER), "{feed}");

    // A withdrawal needs its reason; then the decision leaves the public page for good.
    let r = sup
        .post(&format!("{path}/withdraw"), &[("reason", " ")])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("PUBLICATION_REASON_REQUIRED"), "{}", r.body);
    let r = sup
        .post(
            &format!("{path}/withdraw"),
            &[("reason", "复议决定撤销原处罚决定")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let r = sup.post(&format!("{path}/publish"), &[]).await;
    assert_eq!(r.status, 409);
    assert!(r.body.contains("PUBLICATION_WITHDRAWN"), "{}", r.body);
    let after = public
        .get(s.url("/public/decisions"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(!after.contains(NUMBER));
    let history = sup.get(&path).await.body;
    assert!(history.contains("复议决定撤销原处罚决定") && history.contains("withdrawn"));
    s.stop().await;
}
