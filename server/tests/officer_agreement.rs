//! The three places that ask "may this officer act on this day" give the same answer with the same
//! codes: the device's record validation, the draft check of a penalty, and the server's ingest of
//! a signed entry. Generated rosters and days cover every role, the first and last day of validity,
//! and revocation before, on and after the day.

use std::collections::HashMap;

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use roadside_core::day::{agency_midnight, format_day};
use roadside_core::ledger::{EntryKind, LedgerEntry};
use roadside_core::model::{OfficerCertificate, OfficerRef, OfficerRole};
use roadside_core::rules::{PenaltyDraft, RuleBook};
use roadside_core::validate::{validate_record, ValidationContext};

const AGENCY: &str = "632500";
const UNDER_TEST: &str = "QH6325009901";
const GOOD: &str = "QH6325009902";

fn good_officer() -> OfficerCertificate {
    OfficerCertificate {
        certificate_no: GOOD.into(),
        name: "良好".into(),
        agency: AGENCY.into(),
        role: OfficerRole::Officer,
        valid_from: NaiveDate::from_ymd_opt(2000, 1, 1).expect("a day"),
        valid_to: NaiveDate::from_ymd_opt(2099, 12, 31).expect("a day"),
        revoked_on: None,
    }
}

/// Codes the record validation gives the officer under test on `day`.
fn record_codes(roster: &[OfficerCertificate], day: NaiveDate) -> Vec<String> {
    let at = agency_midnight(day) + Duration::hours(10);
    let mut rec = roadside_core::demo::on_site_record(at);
    rec.officers = vec![
        OfficerRef {
            name: "测试".into(),
            certificate_no: UNDER_TEST.into(),
        },
        OfficerRef {
            name: "良好".into(),
            certificate_no: GOOD.into(),
        },
    ];
    rec.recorder = "良好".into();
    let ctx = ValidationContext {
        roster,
        now: at + Duration::hours(2),
    };
    validate_record(&rec, &ctx)
        .into_iter()
        .filter(|i| i.path == "officers[0].certificate_no")
        .map(|i| i.code)
        .collect()
}

/// Codes the draft check gives the officer under test for a decision on `day`.
fn draft_codes(book: &RuleBook, roster: &[OfficerCertificate], day: NaiveDate) -> Vec<String> {
    let draft: PenaltyDraft = serde_json::from_value(serde_json::json!({
        "facts": {
            "act_date": format_day(day),
            "decision_date": format_day(day),
            "gross_weight_kg": 21_350.0,
            "axles": 2
        },
        "violations": [{ "code": "CX-43-2", "act_id": "r1", "amount_yuan": 1500 }],
        "procedure": "general",
        "officers": [
            { "name": "测试", "certificate_no": UNDER_TEST },
            { "name": "良好", "certificate_no": GOOD }
        ],
        "discovered_on": format_day(day)
    }))
    .expect("a draft");
    book.check_draft(&draft, roster)
        .expect("the draft's facts are valid")
        .errors
        .into_iter()
        .filter(|i| i.path == "officers[0].certificate_no")
        .map(|i| i.code)
        .collect()
}

/// The code the server's ingest refuses an entry signed on `day` with, if it does.
fn ingest_code(roster: &[OfficerCertificate], day: NaiveDate) -> Option<String> {
    let at = agency_midnight(day) + Duration::hours(10);
    let entry = LedgerEntry {
        v: roadside_core::ledger::LEDGER_VERSION,
        device: "00".repeat(32),
        seq: 1,
        prev: None,
        at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        officers: vec![UNDER_TEST.into(), GOOD.into()],
        kind: EntryKind::CaseOpen,
        case: None,
        body: serde_json::json!({}),
    };
    let by_no: HashMap<String, OfficerCertificate> = roster
        .iter()
        .map(|o| (o.certificate_no.clone(), o.clone()))
        .collect();
    roadside_server::ingest::check_officers(&entry, AGENCY, &by_no)
        .err()
        .map(|(code, _)| code.to_string())
}

fn role() -> impl Strategy<Value = OfficerRole> {
    prop_oneof![
        Just(OfficerRole::Officer),
        Just(OfficerRole::Assistant),
        Just(OfficerRole::LegalReviewer),
        Just(OfficerRole::Supervisor),
        Just(OfficerRole::Admin),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn record_draft_and_ingest_agree(
        registered in prop::bool::weighted(0.9),
        role in role(),
        // Days of 2024-2026 (the bundled calendar's years), validity around them.
        day_off in 0i64..1096,
        from_off in -400i64..400,
        len in 0i64..800,
        revoked_off in prop::option::of(-400i64..400),
    ) {
        let base = NaiveDate::from_ymd_opt(2024, 1, 1).expect("a day");
        let day = base + Duration::days(day_off);
        let from = day + Duration::days(from_off);
        let entry = OfficerCertificate {
            certificate_no: UNDER_TEST.into(),
            name: "测试".into(),
            agency: AGENCY.into(),
            role,
            valid_from: from,
            valid_to: from + Duration::days(len),
            revoked_on: revoked_off.map(|o| day + Duration::days(o)),
        };
        let mut roster = vec![good_officer()];
        if registered {
            roster.push(entry.clone());
        }
        let expected: Vec<String> = if registered {
            roadside_core::officer::reasons(&entry, day)
                .iter()
                .map(|r| r.code().to_string())
                .collect()
        } else {
            vec!["OFFICER_NOT_REGISTERED".to_string()]
        };
        let book = RuleBook::bundled().expect("bundled rules");
        prop_assert_eq!(&record_codes(&roster, day), &expected);
        prop_assert_eq!(&draft_codes(&book, &roster, day), &expected);
        prop_assert_eq!(ingest_code(&roster, day), expected.first().cloned());
    }
}
