use proptest::prelude::*;
use roadside_core::rules::{DraftOfficer, Facts, ProcedureKind};
use roadside_core::steps::{DecidedViolation, ReferenceId};
use serde_json::json;

use super::*;
use crate::storage::{CaseRow, EntryRefusal, IssuedDocument};

const HASH: &str = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";
const NUMBER: &str = "青海南交执罚〔2026〕0001号";
const ID: &str = "632521199001011234";

fn policy() -> PublicationPolicy {
    PublicationPolicy::bundled().expect("bundled policy")
}

fn book() -> RuleBook {
    RuleBook::bundled().expect("bundled reference data")
}

fn agency() -> Agency {
    Agency {
        code: "632500".into(),
        name: "海南藏族自治州交通运输综合行政执法局".into(),
        parent: None,
        doc_prefix: Some("青海南交执".into()),
    }
}

fn person(name: &str, id: &str) -> Party {
    Party::Person {
        name: name.into(),
        id_number: id.into(),
        address: Some("青海省海南藏族自治州共和县恰卜恰镇东大街8号".into()),
        phone: Some("13909741234".into()),
    }
}

fn organisation() -> Party {
    Party::Organisation {
        name: "共和县顺达运输有限公司".into(),
        uscc: "91632521MA752XYZ0K".into(),
        address: Some("共和县恰卜恰镇".into()),
        phone: Some("09718512345".into()),
        legal_representative: Some("李四".into()),
    }
}

fn violation() -> DecidedViolation {
    DecidedViolation {
        code: "CX-01".into(),
        name: "车辆超限运输".into(),
        violated: "违反《公路安全保护条例》第三十三条第一款".into(),
        basis: "依据《公路安全保护条例》第六十四条".into(),
        legal_min_yuan: None,
        legal_max_yuan: Some(30000),
        tier: Some("一般".into()),
        tier_criteria: String::new(),
        band_min_yuan: Some(500),
        band_max_yuan: Some(1000),
        recommended_yuan: Some(800),
        recommended_warning: false,
        act_id: None,
        warning: false,
        amount_yuan: 800,
        outside_band: false,
        measures: vec!["责令改正".into()],
        other_penalties: vec!["没收违法所得人民币12,000元".into()],
    }
}

fn decision(party: Party, decided_on: &str, facts_text: &str) -> PenaltyDecision {
    PenaltyDecision {
        decision_id: "d-1".into(),
        number: NUMBER.into(),
        decided_on: decided_on.into(),
        procedure: ProcedureKind::General,
        party,
        facts_text: facts_text.into(),
        facts: Facts {
            act_date: "2026-10-20".into(),
            ..Facts::default()
        },
        violations: vec![violation()],
        total_yuan: 800,
        justification: String::new(),
        deviates: false,
        reasoning: String::new(),
        officers: vec![DraftOfficer {
            name: "王五".into(),
            certificate_no: "QH6325000101".into(),
        }],
        discovered_on: None,
        collect_on_the_spot: false,
        hard_to_collect_later: false,
        rights_told: true,
        notice_number: None,
        warnings: Vec::new(),
        reference: ReferenceId {
            bundle_version: None,
            digest: "00".into(),
        },
        review: None,
    }
}

fn entry(kind: &str, hash: &str, body: serde_json::Value) -> CaseEntry {
    CaseEntry {
        seq: 1,
        device_id: "dev-1".into(),
        kind: kind.into(),
        at: "2026-11-02T10:00:00+08:00".into(),
        officers: vec!["QH6325000101".into()],
        entry_hash: hash.into(),
        leaf_index: 0,
        checkpoint_size: 1,
        refused: None,
        document: None,
        body,
    }
}

fn record_entry(plate: &str) -> CaseEntry {
    entry(
        "record.create",
        &"01".repeat(32),
        json!({"record_id": "r-1", "record": {
            "party": {"type": "person", "name": "张三", "id_number": ID,
                      "phone": "13909741234", "address": "共和县恰卜恰镇东大街8号"},
            "persons": [{"name": "赵六", "id_number": "632521198502024321",
                         "relation": "驾驶员", "phone": "18997001234"}],
            "vehicle": {"plate": plate, "vehicle_type": "重型半挂牵引车"}}}),
    )
}

fn case_with(decision: &PenaltyDecision) -> (CaseDetail, CaseEntry) {
    let d = entry(
        "decision.penalty",
        HASH,
        serde_json::to_value(decision).expect("body"),
    );
    let case = CaseDetail {
        case: CaseRow {
            id: "case-1".into(),
            agency: "632500".into(),
            status: "decided".into(),
            opened_at: None,
            records: 1,
            evidence: 0,
            decided: true,
        },
        entries: vec![record_entry("青E12345"), d.clone()],
    };
    (case, d)
}

fn build(case: &CaseDetail, d: &CaseEntry) -> Result<PublicationDraft> {
    let agency = agency();
    let publisher = Publisher {
        agency: &agency,
        agency_uscc: "11632500MB12345670",
        data_source: None,
    };
    publication_from_decision(case, d, &publisher, &book(), &policy())
}

const FACTS: &str = "2026年10月20日，当事人张三（身份证号632521199001011234，电话13909741234，\
     住共和县恰卜恰镇东大街8号）驾驶青E12345号重型半挂牵引车超限运输，驾驶员赵六（电话18997001234）在场。";

#[test]
fn names_keep_the_surname() {
    let rule = policy().person_name;
    assert_eq!(mask_name("张三", &rule), "张某");
    assert_eq!(mask_name(" 张三丰 ", &rule), "张某");
    assert_eq!(mask_name("欧阳娜娜", &rule), "欧阳某");
    assert_eq!(mask_name("司马懿", &rule), "司马某");
    // A compound surname alone is a two-character name: its first character is kept.
    assert_eq!(mask_name("欧阳", &rule), "欧某");
    // No surname (a Tibetan name): the first character.
    assert_eq!(mask_name("扎西才让", &rule), "扎某");
    assert_eq!(mask_name("卓", &rule), "某");
    assert_eq!(mask_name("", &rule), "某");
    let moumou = NameRule {
        style: NameStyle::SurnameMoumou,
        ..rule
    };
    assert_eq!(mask_name("张三", &moumou), "张某某");
}

#[test]
fn amounts_are_exact_decimals_of_ten_thousand_yuan() {
    assert_eq!(wan_yuan(0), "0");
    assert_eq!(wan_yuan(200), "0.02");
    assert_eq!(wan_yuan(800), "0.08");
    assert_eq!(wan_yuan(10_000), "1");
    assert_eq!(wan_yuan(12_345), "1.2345");
    assert_eq!(wan_yuan(30_000), "3");
    assert_eq!(wan_yuan(1), "0.0001");
    assert_eq!(amount_in("没收违法所得人民币12,000元"), Some(12_000));
    assert_eq!(amount_in("没收超限运输车辆通行证"), None);
}

#[test]
fn a_natural_person_is_published_masked() {
    let d = decision(person("张三", ID), "2026-11-02", FACTS);
    let (case, entry) = case_with(&d);
    let p = build(&case, &entry).expect("publication");
    let r = &p.record;
    assert_eq!(r.party_name, "张某");
    assert_eq!(r.party_category, "自然人");
    assert_eq!((r.uscc.as_str(), r.id_type.as_str()), ("", "身份证"));
    assert_eq!(r.id_number, "", "an ID number is never published");
    assert_eq!(
        r.facts,
        "2026年10月20日，当事人张某（身份证号（身份证号码略），电话（电话略），\
         住（住址略））驾驶青E*****号重型半挂牵引车超限运输，驾驶员赵某（电话（电话略））在场。"
    );
    assert_eq!(r.decision_number, NUMBER);
    assert_eq!(r.violation_types, "车辆超限运输");
    assert_eq!(
        r.basis,
        "违反《公路安全保护条例》第三十三条第一款；依据《公路安全保护条例》第六十四条"
    );
    assert_eq!(r.categories, "罚款；没收违法所得、没收非法财物");
    assert_eq!(
        r.content,
        "车辆超限运输：罚款人民币800元，没收违法所得人民币12,000元，责令改正"
    );
    assert_eq!(r.fine_wan_yuan, "0.08");
    assert_eq!(r.confiscated_wan_yuan, "1.2");
    assert_eq!(r.licences, "");
    assert_eq!(r.decided_on, "2026-11-02");
    assert_eq!(r.public_until, "2029-11-02");
    assert_eq!(r.agency_name, "海南藏族自治州交通运输综合行政执法局");
    assert_eq!(r.agency_uscc, "11632500MB12345670");
    assert_eq!(r.data_source, r.agency_name);
    assert_eq!(r.data_source_uscc, r.agency_uscc);
    // 20 working days after Monday 2 November 2026 (no holiday in between).
    assert_eq!(p.due.due.to_string(), "2026-11-30");
    assert_eq!(p.due.id, "publication");
    assert_eq!(
        (p.case_id.as_str(), p.agency.as_str()),
        ("case-1", "632500")
    );
    assert_eq!(p.entry_hash, HASH);
}

#[test]
fn the_due_date_skips_holidays_and_a_missing_year_is_not_guessed() {
    // 国庆: 25 Sep and 1–7 Oct 2026 off, Saturday 10 Oct a working day.
    let d = decision(person("张三", ID), "2026-09-24", FACTS);
    let (case, entry) = case_with(&d);
    assert_eq!(
        build(&case, &entry)
            .expect("publication")
            .due
            .due
            .to_string(),
        "2026-10-29"
    );
    for day in ["2026-12-20", "2027-03-01"] {
        let d = decision(person("张三", ID), day, FACTS);
        let (case, entry) = case_with(&d);
        let err = build(&case, &entry).expect_err("no 2027 calendar");
        assert_eq!(err.code, "CALENDAR_YEAR_MISSING", "{day}: {err}");
    }
}

#[test]
fn an_organisation_is_published_in_full() {
    let facts = "当事人共和县顺达运输有限公司（法定代表人李四）的青E12345号车辆超限运输，\
                 驾驶员赵六在场。";
    let d = decision(organisation(), "2026-11-02", facts);
    let (case, entry) = case_with(&d);
    let r = build(&case, &entry).expect("publication").record;
    assert_eq!(r.party_name, "共和县顺达运输有限公司");
    assert_eq!(r.party_category, "法人及非法人组织");
    assert_eq!(r.uscc, "91632521MA752XYZ0K");
    assert_eq!(r.legal_representative, "李四");
    assert_eq!((r.id_type.as_str(), r.id_number.as_str()), ("", ""));
    // The company's plate and its legal representative stay; the driver is a natural person.
    assert_eq!(
        r.facts,
        "当事人共和县顺达运输有限公司（法定代表人李四）的青E12345号车辆超限运输，驾驶员赵某在场。"
    );
}

#[test]
fn plates_in_text_are_masked_for_persons_whatever_their_kind() {
    let data = PersonalData {
        mask_plates: true,
        ..PersonalData::default()
    };
    let p = policy();
    assert_eq!(
        data.scrub("青E12345、青ED12345、青E1234挂、川A12345D，青海", &p),
        "青E*****、青E******、青E*****、川A******，青海"
    );
    // Known numbers however they are typed.
    let known = PersonalData {
        id_numbers: vec![ID.into()],
        phones: vec!["13909741234".into()],
        plates: vec!["青E12345".into()],
        mask_plates: false,
        ..PersonalData::default()
    };
    assert_eq!(
        known.scrub(
            "632521 1990 0101 123４、139-0974-1234、１３９ ０９７４ １２３４、青e·12345、青E12346",
            &p
        ),
        "（身份证号码略）、（电话略）、（电话略）、青E*****、青E12346"
    );
    assert_eq!(
        data.scrub("电话0971-85123456，账号6222021234567890123X", &p),
        "电话0971-（号码略），账号（号码略）"
    );
}

#[test]
fn only_an_accepted_penalty_decision_of_the_case_is_published() {
    let d = decision(person("张三", ID), "2026-11-02", FACTS);
    let (case, dec) = case_with(&d);

    let mut other = dec.clone();
    other.kind = "decision.no_penalty".into();
    assert_eq!(
        build(&case, &other).expect_err("no penalty").code,
        "PUBLICATION_NOT_A_PENALTY_DECISION"
    );

    let mut refused = dec.clone();
    refused.refused = Some(EntryRefusal {
        code: "DECISION_FORBIDDEN".into(),
        message: "x".into(),
    });
    assert_eq!(
        build(&case, &refused).expect_err("refused").code,
        "PUBLICATION_DECISION_REFUSED"
    );

    let mut elsewhere = dec.clone();
    elsewhere.entry_hash = "cd".repeat(32);
    assert_eq!(
        build(&case, &elsewhere).expect_err("not in case").code,
        "PUBLICATION_CASE_MISMATCH"
    );
    let mut theirs = case.clone();
    theirs.case.agency = "632521".into();
    assert_eq!(
        build(&theirs, &dec).expect_err("another agency").code,
        "PUBLICATION_CASE_MISMATCH"
    );

    let mut garbled = dec.clone();
    garbled.body = json!({"number": NUMBER});
    let mut case_g = case.clone();
    case_g.entries[1] = garbled.clone();
    assert_eq!(
        build(&case_g, &garbled).expect_err("unreadable").code,
        "PUBLICATION_DECISION_UNREADABLE"
    );

    // The case voided (its opening), or the decision itself.
    let open_hash = "03".repeat(32);
    for target in [open_hash.clone(), HASH.to_string()] {
        let mut voided = case.clone();
        voided
            .entries
            .push(entry("case.open", &open_hash, json!({"plate": "青E12345"})));
        voided.entries.push(entry(
            "entry.void",
            &"04".repeat(32),
            json!({"supersedes": target, "reason": "误录"}),
        ));
        assert_eq!(
            build(&voided, &dec).expect_err("voided").code,
            "PUBLICATION_DECISION_VOIDED"
        );
        // A void the server refused voids nothing.
        let last = voided.entries.len() - 1;
        voided.entries[last].refused = Some(EntryRefusal {
            code: "X".into(),
            message: "x".into(),
        });
        build(&voided, &dec).expect("the refused void changes nothing");
    }

    // The decision document issued with another number.
    let mut doc = entry("document.issue", &"02".repeat(32), json!({"source": HASH}));
    doc.document = Some(IssuedDocument {
        doc_type: "penalty_decision".into(),
        number: "青海南交执罚〔2026〕0002号".into(),
        sha256: "00".repeat(32),
        size: 1,
    });
    let mut case_d = case.clone();
    case_d.entries.push(doc.clone());
    assert_eq!(
        build(&case_d, &dec).expect_err("numbers differ").code,
        "PUBLICATION_NUMBER_MISMATCH"
    );
    // With the same number it is fine.
    doc.document.as_mut().expect("doc").number = NUMBER.into();
    case_d.entries[2] = doc;
    build(&case_d, &dec).expect("same number");

    let agency = agency();
    let bad = Publisher {
        agency: &agency,
        agency_uscc: "11632500MB1234567Y",
        data_source: None,
    };
    assert_eq!(
        publication_from_decision(&case, &dec, &bad, &book(), &policy())
            .expect_err("bad uscc")
            .code,
        "PUBLICATION_AGENCY_USCC_INVALID"
    );
}

#[test]
fn the_csv_feed_opens_in_excel_and_quotes_what_needs_it() {
    let d = decision(
        person("张三", ID),
        "2026-11-02",
        "当事人称\"不知道\"，超限\n运输, 已改正",
    );
    let (case, e) = case_with(&d);
    let r = build(&case, &e).expect("publication").record;
    let bytes = csv_feed(std::slice::from_ref(&r)).expect("csv");
    assert!(bytes.starts_with(b"\xef\xbb\xbf"), "UTF-8 byte order mark");
    let text = std::str::from_utf8(&bytes[3..]).expect("utf-8");
    assert!(text.starts_with("行政相对人名称,行政相对人类别,统一社会信用代码,"));
    assert!(text.contains("\"当事人称\"\"不知道\"\"，超限\n运输, 已改正\""));
    let mut reader = csv::Reader::from_reader(&bytes[3..]);
    let headers: Vec<String> = reader
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(headers, HEADERS);
    let back: Vec<PublicationRecord> = reader
        .deserialize()
        .collect::<std::result::Result<_, _>>()
        .expect("rows read back");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0], r);

    let empty = csv_feed(&[]).expect("empty feed");
    assert_eq!(
        String::from_utf8(empty).expect("utf-8"),
        format!("\u{feff}{}\r\n", HEADERS.join(","))
    );

    let json: serde_json::Value =
        serde_json::from_slice(&json_feed(std::slice::from_ref(&r)).expect("json")).expect("json");
    let keys: Vec<&str> = json[0]
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted_headers = HEADERS.to_vec();
    sorted_headers.sort_unstable();
    let mut sorted_keys = keys.clone();
    sorted_keys.sort_unstable();
    assert_eq!(sorted_keys, sorted_headers);
    assert_eq!(json[0]["罚款金额（万元）"], "0.08");
}

#[test]
fn only_published_records_reach_the_feeds() {
    let d = decision(person("张三", ID), "2026-11-02", FACTS);
    let (case, e) = case_with(&d);
    let draft = build(&case, &e).expect("publication");
    let publication = |state, party: &str| Publication {
        case_id: "case-1".into(),
        entry_hash: HASH.into(),
        agency: "632500".into(),
        state,
        decided_on: draft.decided_on,
        due_on: draft.due.due,
        record: PublicationRecord {
            party_name: party.into(),
            ..draft.record.clone()
        },
        created_at: String::new(),
        published_at: None,
        updated_at: String::new(),
        withdrawn_at: None,
        withdrawn_reason: None,
    };
    let all = [
        publication(PublicationState::Pending, "甲某"),
        publication(PublicationState::Published, "乙某"),
        publication(PublicationState::Withdrawn, "丙某"),
        publication(PublicationState::Published, "丁某"),
    ];
    let names: Vec<String> = published_records(&all)
        .into_iter()
        .map(|r| r.party_name)
        .collect();
    assert_eq!(names, ["乙某", "丁某"]);
}

#[test]
fn the_bundled_policy_loads_and_a_wrong_file_is_refused() {
    let p = policy();
    assert_eq!(p.person_name.style, NameStyle::SurnameMou);
    assert_eq!(p.plate.keep, 2);
    assert!(p
        .person_name
        .compound_surnames
        .contains(&"欧阳".to_string()));
    let wrong = BUNDLED_POLICY.replace("kind = \"publication_policy\"", "kind = \"policy\"");
    assert_eq!(
        PublicationPolicy::from_toml(&wrong).expect_err("kind").code,
        "PUBLICATION_POLICY_INVALID"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(PublicationPolicy::load(dir.path()).expect("default"), p);
    let own = BUNDLED_POLICY.replace("style = \"surname_mou\"", "style = \"surname_moumou\"");
    std::fs::write(dir.path().join("publication.toml"), own).expect("write");
    let theirs = PublicationPolicy::load(dir.path()).expect("the agency's own");
    assert_eq!(mask_name("张三", &theirs.person_name), "张某某");
    std::fs::write(dir.path().join("publication.toml"), "kind = 1").expect("write");
    assert_eq!(
        PublicationPolicy::load(dir.path())
            .expect_err("bad file")
            .code,
        "PUBLICATION_POLICY_INVALID"
    );
    assert_eq!(
        PublicationPolicy::from_toml("[meta]\nkind = 1")
            .expect_err("shape")
            .code,
        "PUBLICATION_POLICY_INVALID"
    );
}

/// Characters for generated given names: none of them appears in the fixed texts of a record.
const GIVEN: &str = "娜伟芳秀英敏静丽强磊洋艳勇杰娟涛霞刚桂琳鑫";
const SURNAMES: [&str; 8] = ["张", "王", "欧阳", "司马", "马", "才", "扎", "诸葛"];

fn id_number() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(0u8..10, 17),
        prop::sample::select(vec!['0', '1', '5', '9', 'X']),
    )
        .prop_map(|(d, c)| {
            let mut s: String = d.iter().map(|d| char::from(b'0' + d)).collect();
            s.push(c);
            s
        })
}

fn id_windows(id: &str) -> Vec<String> {
    let digits: Vec<char> = id.chars().collect();
    digits
        .windows(8)
        .map(|w| w.iter().collect::<String>())
        .filter(|w: &String| w.chars().all(|c| c.is_ascii_digit()))
        .collect()
}

proptest! {
    /// Whatever the name, ID number, phone and where they appear in the facts, the published
    /// record (as JSON and as CSV) holds neither the full name nor any 8 consecutive digits of the
    /// ID number.
    #[test]
    fn the_published_record_never_holds_the_name_or_the_id_number(
        surname in prop::sample::select(SURNAMES.to_vec()),
        given in proptest::collection::vec(prop::sample::select(GIVEN.chars().collect::<Vec<_>>()), 1..3),
        id in id_number(),
        phone in "1[3-9][0-9]{9}",
        before in "[ 一-龥0-9，。、（）:]{0,12}",
        after in "[ 一-龥0-9，。、（）:]{0,12}",
        lower in any::<bool>(),
        fullwidth in any::<bool>(),
        spaced in any::<bool>(),
    ) {
        let name = format!("{surname}{}", given.iter().collect::<String>());
        // The ID as typed in the facts: lower-case x, or full-width digits.
        let typed = if fullwidth {
            id.chars()
                .map(|c| c.to_digit(10).map_or(c, |d| char::from_u32(0xFF10 + d).unwrap_or(c)))
                .collect()
        } else if lower {
            id.to_lowercase()
        } else {
            id.clone()
        };
        // And the phone as dictated: 139-0974-1234, or 139 0974 1234.
        let said = if spaced {
            format!("{} {}-{}", &phone[..3], &phone[3..7], &phone[7..])
        } else {
            phone.clone()
        };
        let facts = format!("{before}当事人{name}{typed}{after}，电话{said}，{name}签字。{id}");
        let party = Party::Person {
            name: name.clone(),
            id_number: id.clone(),
            address: None,
            phone: Some(phone.clone()),
        };
        let d = decision(party, "2026-11-02", &facts);
        let (case, e) = case_with(&d);
        let r = build(&case, &e).expect("publication").record;
        let json = String::from_utf8(json_feed(std::slice::from_ref(&r)).expect("json")).expect("utf-8");
        let csv = String::from_utf8(csv_feed(std::slice::from_ref(&r)).expect("csv")).expect("utf-8");
        for out in [&json, &csv] {
            prop_assert!(!out.contains(&name), "name {name} in {out}");
            prop_assert!(!out.contains(&phone), "phone {phone} in {out}");
            prop_assert!(!out.contains(&said), "phone {said} in {out}");
            prop_assert!(!out.contains(&phone[3..]), "phone {phone} in {out}");
            for w in id_windows(&id) {
                prop_assert!(!out.contains(&w), "{w} of {id} in {out}");
            }
        }
    }
}
