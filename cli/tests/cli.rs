//! The `roadside` binary end to end: real processes, a real encrypted SQLite file.

use std::path::Path;
use std::process::Output;

use roadside_core::demo;
use roadside_tests::cli::{err, ok, Cli};
use serde_json::Value;

const KEY_HEX: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn roadside(data: &Path, args: &[&str]) -> Output {
    Cli::new(env!("CARGO_BIN_EXE_roadside"), data)
        .key(KEY_HEX)
        .run(args)
}

fn ledger_len(data: &Path) -> usize {
    let out = roadside(data, &["ledger", "export"]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn init(data: &Path) {
    ok(&roadside(data, &["init", "--demo-roster"]));
}

fn write_record(dir: &Path, name: &str, record: &roadside_core::model::InspectionRecord) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(record).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

fn now_record() -> roadside_core::model::InspectionRecord {
    demo::on_site_record(chrono::Utc::now() - chrono::Duration::hours(1))
}

#[test]
fn a_case_from_json_to_a_verified_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data);
    let rec = write_record(tmp.path(), "r.json", &now_record());
    let case = ok(&roadside(&data, &["case", "new", "--json", &rec]));
    let id = case["id"].as_str().unwrap().to_string();

    let clip = tmp.path().join("clip.mp4");
    std::fs::write(&clip, vec![7u8; 2_500_000]).unwrap();
    let ev = ok(&roadside(
        &data,
        &[
            "evidence",
            "add",
            &id,
            clip.to_str().unwrap(),
            "--kind",
            "video",
        ],
    ));
    assert_eq!(ev["chunk_count"], 3);
    let hash = ok(&roadside(
        &data,
        &["evidence", "hash", clip.to_str().unwrap()],
    ));
    assert_eq!(hash["sha256"], ev["sha256"]);

    let fin = ok(&roadside(&data, &["case", "finalize", &id]));
    assert_eq!(fin["status"], "finalized");
    let report = ok(&roadside(&data, &["ledger", "verify"]));
    assert_eq!(report["ok"], true);
    assert_eq!(report["entries"], 3);

    let export = roadside(&data, &["ledger", "export"]);
    let lines: Vec<Value> = String::from_utf8_lossy(&export.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    // The exported bytes are the exact signed bytes: their SHA-256 is the entry hash.
    for line in &lines {
        let bytes = line["bytes"].as_str().unwrap().as_bytes();
        assert_eq!(
            hex::encode(roadside_core::ledger::sha256(bytes)),
            line["hash"]
        );
    }
    let listed = ok(&roadside(&data, &["case", "list"]));
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

#[test]
fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data);

    let malformed = tmp.path().join("bad.json");
    std::fs::write(&malformed, b"{\"kind\": \"on_site\",\n  \"place\": }").unwrap();
    let e = err(&roadside(
        &data,
        &["case", "new", "--json", malformed.to_str().unwrap()],
    ));
    assert_eq!(e["code"], "JSON_MALFORMED");
    assert!(e["message"].as_str().unwrap().contains("第 2 行"), "{e}");

    let mut v = serde_json::to_value(now_record()).unwrap();
    v["vehicle"]["colour"] = "黄".into();
    let unknown = tmp.path().join("unknown.json");
    std::fs::write(&unknown, v.to_string()).unwrap();
    let e = err(&roadside(
        &data,
        &["case", "new", "--json", unknown.to_str().unwrap()],
    ));
    assert_eq!(e["code"], "JSON_SCHEMA");
    assert!(e["message"].as_str().unwrap().contains("colour"), "{e}");

    let mut v = serde_json::to_value(now_record()).unwrap();
    v["vehicle"]["axles"] = "two".into();
    let wrong_type = tmp.path().join("type.json");
    std::fs::write(&wrong_type, v.to_string()).unwrap();
    let e = err(&roadside(
        &data,
        &["case", "new", "--json", wrong_type.to_str().unwrap()],
    ));
    assert_eq!(e["code"], "JSON_SCHEMA");

    let mut long = now_record();
    long.situation = "超".repeat(10 * 1024 * 1024 / 3);
    let big = write_record(tmp.path(), "big.json", &long);
    let e = err(&roadside(&data, &["case", "new", "--json", &big]));
    assert!(
        e["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["path"] == "situation"),
        "{e}"
    );

    let mut bad = now_record();
    bad.vehicle.as_mut().unwrap().plate = "青E1234".into();
    if let Some(roadside_core::model::Party::Person { id_number, .. }) = bad.party.as_mut() {
        *id_number = "632521198503121231".into();
    }
    let bad = write_record(tmp.path(), "fields.json", &bad);
    let e = err(&roadside(&data, &["case", "new", "--json", &bad]));
    let paths: Vec<&str> = e["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"vehicle.plate"), "{paths:?}");
    assert!(paths.contains(&"party.id_number"), "{paths:?}");

    let missing = tmp.path().join("nope.mp4");
    let e = err(&roadside(
        &data,
        &[
            "evidence",
            "add",
            "no-such-case",
            missing.to_str().unwrap(),
            "--kind",
            "video",
        ],
    ));
    assert_eq!(e["code"], "CASE_NOT_FOUND");

    assert_eq!(ledger_len(&data), 0, "nothing was stored");
}

#[test]
fn finalize_refused_when_an_officer_certificate_was_revoked_since() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data);
    let rec = write_record(tmp.path(), "r.json", &now_record());
    let case = ok(&roadside(&data, &["case", "new", "--json", &rec]));
    let id = case["id"].as_str().unwrap();

    // The second officer's certificate is revoked yesterday: one certified officer is left.
    let mut roster = demo::roster();
    let yesterday = roadside_core::day::agency_today() - chrono::Duration::days(1);
    roster[1].revoked_on = Some(yesterday);
    let roster_file = tmp.path().join("roster.json");
    std::fs::write(&roster_file, serde_json::to_vec(&roster).unwrap()).unwrap();
    ok(&roadside(
        &data,
        &["roster", "import", "--json", roster_file.to_str().unwrap()],
    ));

    let before = ledger_len(&data);
    let e = err(&roadside(&data, &["case", "finalize", id]));
    assert!(
        e["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["path"].as_str().unwrap().starts_with("officers")),
        "{e}"
    );
    assert_eq!(ledger_len(&data), before);
}

#[test]
fn the_key_file_made_by_init_opens_the_store_and_a_wrong_key_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = |args: &[&str], key: Option<&str>| {
        let cli = Cli::new(env!("CARGO_BIN_EXE_roadside"), &data);
        match key {
            Some(k) => cli.key(k).run(args),
            None => cli.run(args),
        }
    };
    let out = ok(&run(&["init"], None));
    assert_eq!(out["key_created"], true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("device.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key file readable by others");
    }
    ok(&run(&["ledger", "verify"], None));
    let e = err(&run(&["ledger", "verify"], Some(KEY_HEX)));
    assert_eq!(e["code"], "STORE_WRONG_KEY");
    let e = err(&run(&["ledger", "verify"], Some("xyz")));
    assert_eq!(e["code"], "KEY_FORMAT");
    let other = tmp.path().join("other");
    let e = err(&Cli::new(env!("CARGO_BIN_EXE_roadside"), &other).run(&["ledger", "verify"]));
    assert_eq!(e["code"], "KEY_MISSING");
}

/// Open the CLI's encrypted database with its key, as someone holding the key would.
fn tamper(data: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(data.join("roadside.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{KEY_HEX}'\"; PRAGMA cipher_hmac_algorithm = HMAC_SHA256; {sql}"
    ))
    .unwrap();
}

#[test]
fn store_check_passes_a_clean_store_and_names_a_forged_evidence_row() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data);
    let rec = write_record(tmp.path(), "r.json", &now_record());
    let case = ok(&roadside(&data, &["case", "new", "--json", &rec]));
    let id = case["id"].as_str().unwrap().to_string();
    let clip = tmp.path().join("clip.mp4");
    std::fs::write(&clip, vec![3u8; 300_000]).unwrap();
    ok(&roadside(
        &data,
        &[
            "evidence",
            "add",
            &id,
            clip.to_str().unwrap(),
            "--kind",
            "video",
        ],
    ));

    let clean = ok(&roadside(&data, &["store", "check"]));
    assert_eq!(clean["ok"], true, "{clean}");
    assert_eq!(clean["cipher_integrity"], serde_json::json!([]));
    assert_eq!(clean["integrity"], serde_json::json!([]));
    assert_eq!(clean["verify"]["entries"], 2);
    let verified = ok(&roadside(&data, &["ledger", "verify"]));
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["problems"], serde_json::json!([]));

    // REPLACE is refused even on a connection that knows nothing of recursive triggers.
    let conn = rusqlite::Connection::open(data.join("roadside.db")).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA key = \"x'{KEY_HEX}'\"; PRAGMA cipher_hmac_algorithm = HMAC_SHA256;"
    ))
    .unwrap();
    let refused = conn
        .execute(
            "INSERT OR REPLACE INTO evidence SELECT id, case_id, entry_seq, kind, '/tmp/x.mp4', sha256, size, chunk_size, chunks FROM evidence",
            [],
        )
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    drop(conn);

    // Someone with the key drops the trigger and points the evidence at another file and hash.
    let forged = "ab".repeat(32);
    tamper(
        &data,
        &format!(
            "DROP TRIGGER evidence_no_update; UPDATE evidence SET sha256 = '{forged}', path = '/sdcard/forged.mp4';"
        ),
    );
    let shown = ok(&roadside(&data, &["case", "show", &id]));
    assert_eq!(shown["evidence"][0]["sha256"], forged);

    for args in [&["store", "check"][..], &["ledger", "verify"][..]] {
        let out = roadside(&data, args);
        let e = err(&out);
        assert_eq!(e["code"], "STORE_ROW_MISMATCH", "{args:?}: {e}");
        let report: Value = serde_json::from_slice(&out.stdout).expect("the report on stdout");
        let report = if args[0] == "store" {
            &report["verify"]
        } else {
            &report
        };
        assert_eq!(report["ok"], false);
        let problems = report["problems"].as_array().unwrap();
        let sha = problems
            .iter()
            .find(|p| p["field"] == "sha256")
            .expect("the forged hash is named");
        assert_eq!(sha["table"], "evidence");
        assert_eq!(sha["entry_seq"], 2);
        assert!(sha["message"].as_str().unwrap().contains(&forged));
        assert!(problems.iter().any(|p| p["field"] == "path"));
    }
}

#[cfg(unix)]
#[test]
fn init_makes_a_private_data_directory_and_a_readable_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = |args: &[&str]| Cli::new(env!("CARGO_BIN_EXE_roadside"), &data).run(args);
    ok(&run(&["init"]));
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700);
    assert_eq!(mode("device.key"), 0o600);
    assert_eq!(mode("roadside.db"), 0o600);
    assert_eq!(mode("roadside.keycheck"), 0o600);
    ok(&run(&["store", "check"]));
    std::fs::set_permissions(
        data.join("device.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let e = err(&run(&["store", "check"]));
    assert_eq!(e["code"], "KEY_FILE_MODE");
}

fn write_json(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

fn today() -> String {
    roadside_core::day::format_day(roadside_core::day::agency_today())
}

#[test]
fn a_summary_penalty_from_decision_to_close() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data);
    let rec = write_record(tmp.path(), "r.json", &now_record());
    let case = ok(&roadside(&data, &["case", "new", "--json", &rec]));
    let id = case["id"].as_str().unwrap().to_string();
    ok(&roadside(&data, &["case", "finalize", &id]));

    let mut decision = serde_json::json!({
        "draft": {
            "facts": {"act_date": today(), "party_type": "organisation",
                      "gross_weight_kg": 21350.0, "axles": 2, "combination": false},
            "violations": [{"code": "CX-43-2", "act_id": "r1", "amount_yuan": 9_000_000}],
            "procedure": "summary",
            "officers": [{"name": "才让多杰", "certificate_no": "QH6325000101"},
                         {"name": "李明", "certificate_no": "QH6325000102"}]
        },
        "party": {"type": "organisation", "name": "青海某物流有限公司", "uscc": "9144030071526726XG"},
        "facts_text": "车货总质量21350千克，超过限定标准3350千克",
        "rights_told": true
    });
    // Above the legal maximum and the summary limit: refused with both, nothing stored.
    let before = ledger_len(&data);
    let e = err(&roadside(
        &data,
        &[
            "case",
            "decide",
            &id,
            "--json",
            &write_json(tmp.path(), "d.json", &decision),
        ],
    ));
    let codes: Vec<&str> = e["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"AMOUNT_ABOVE_LEGAL_MAX"), "{e}");
    assert!(codes.contains(&"SUMMARY_NOT_ALLOWED"), "{e}");
    assert_eq!(ledger_len(&data), before);

    // The benchmark's recommended amount is decided.
    let book = roadside_core::rules::RuleBook::bundled().unwrap();
    let draft: roadside_core::rules::check::PenaltyDraft =
        serde_json::from_value(decision["draft"].clone()).unwrap();
    let amount = book
        .check_draft(&draft, &demo::roster())
        .unwrap()
        .guidance
        .violations[0]
        .recommended_yuan
        .unwrap();
    decision["draft"]["violations"][0]["amount_yuan"] = amount.into();
    let d = ok(&roadside(
        &data,
        &[
            "case",
            "decide",
            &id,
            "--json",
            &write_json(tmp.path(), "d.json", &decision),
        ],
    ));
    assert_eq!(d["kind"], "decision.penalty");
    let number = d["number"].as_str().unwrap().to_string();
    assert!(number.starts_with("青海南交执罚〔"), "{number}");

    // The decision rendered: issued the first time, the same bytes the second; a changed copy is
    // no document of the case.
    if roadside_core::document::Renderer::new(&roadside_core::document::SystemFonts::new()).is_ok()
        || std::env::var_os("CI").is_some()
    {
        let first = tmp.path().join("decision.pdf");
        let second = tmp.path().join("again.pdf");
        let a = ok(&roadside(
            &data,
            &[
                "doc",
                "render",
                &id,
                "summary_decision",
                "--out",
                first.to_str().unwrap(),
            ],
        ));
        assert_eq!(a["issued"], true);
        assert_eq!(a["number"], number.as_str());
        let b = ok(&roadside(
            &data,
            &[
                "doc",
                "render",
                &id,
                "summary_decision",
                "--out",
                second.to_str().unwrap(),
            ],
        ));
        assert_eq!(b["reprint"], true);
        assert_eq!(
            std::fs::read(&first).unwrap(),
            std::fs::read(&second).unwrap()
        );
        let v = ok(&roadside(
            &data,
            &["doc", "verify", &id, first.to_str().unwrap()],
        ));
        assert_eq!(v["number"], number.as_str());
        let mut bytes = std::fs::read(&first).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x20;
        std::fs::write(&second, &bytes).unwrap();
        let e = err(&roadside(
            &data,
            &["doc", "verify", &id, second.to_str().unwrap()],
        ));
        assert_eq!(e["code"], "DOCUMENT_NOT_ISSUED");
        let e = err(&roadside(
            &data,
            &[
                "doc",
                "render",
                &id,
                "penalty_decision",
                "--out",
                second.to_str().unwrap(),
            ],
        ));
        assert_eq!(e["issues"][0]["code"], "DOCUMENT_TYPE_MISMATCH");
    }

    let delivery = serde_json::json!({
        "document_number": number, "method": "direct", "at": chrono::Utc::now().to_rfc3339(),
        "receiver": "韩建国", "receiver_relation": "法定代表人", "signed": true
    });
    ok(&roadside(
        &data,
        &[
            "case",
            "deliver",
            &id,
            "--json",
            &write_json(tmp.path(), "s.json", &delivery),
        ],
    ));
    let pay = serde_json::json!({
        "decision_number": number, "method": "bank", "reference": "6228480012345678",
        "amount_yuan": amount, "paid_on": today()
    });
    ok(&roadside(
        &data,
        &[
            "case",
            "pay",
            &id,
            "--json",
            &write_json(tmp.path(), "p.json", &pay),
        ],
    ));
    let e = err(&roadside(
        &data,
        &["case", "close", &id, "--reason", "finished"],
    ));
    assert_eq!(e["code"], "CLOSE_REASON");
    ok(&roadside(
        &data,
        &["case", "close", &id, "--reason", "executed"],
    ));
    let steps = ok(&roadside(&data, &["case", "steps", &id]));
    let kinds: Vec<&str> = steps
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .filter(|k| *k != "document.issue")
        .collect();
    assert_eq!(
        kinds,
        [
            "decision.penalty",
            "delivery.record",
            "payment.record",
            "case.close"
        ]
    );
    assert_eq!(
        steps[0]["body"]["violations"][0]["recommended_yuan"],
        amount
    );
    let show = ok(&roadside(&data, &["case", "show", &id]));
    assert_eq!(show["summary"]["status"], "closed");
    ok(&roadside(&data, &["store", "check"]));
}

#[test]
fn the_exemption_list_exports_and_imports_as_a_table() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    init(&data);
    let book = roadside_core::rules::RuleBook::bundled().unwrap();
    let national: Vec<_> = book
        .exemptions()
        .iter()
        .filter(|e| e.source_file == "exemptions/national.toml")
        .collect();
    let csv = tmp.path().join("national.csv");
    let out = ok(&roadside(
        &data,
        &[
            "rules",
            "export",
            "--format",
            "csv",
            "--output",
            csv.to_str().unwrap(),
            "--file",
            "exemptions/national.toml",
        ],
    ));
    let conditions: usize = national.iter().map(|e| e.conditions.len()).sum();
    assert_eq!(out["rows"], conditions);

    // A clerk's typo in a check is refused with its row and column, and nothing is installed.
    let text = std::fs::read_to_string(&csv).unwrap();
    let typo = tmp.path().join("typo.csv");
    std::fs::write(&typo, text.replacen(",first_offence", ",first_ofence", 1)).unwrap();
    let e = err(&roadside(
        &data,
        &["rules", "import", typo.to_str().unwrap()],
    ));
    assert!(e.to_string().contains("row 2, column check"), "{e}");
    assert!(!data.join("reference/exemptions/typo.toml").exists());

    // The exported table installs as the exemption file it came from.
    let report = ok(&roadside(
        &data,
        &["rules", "import", csv.to_str().unwrap()],
    ));
    assert_eq!(report["relpath"], "exemptions/national.toml");
    assert_eq!(report["kind"], "exemptions");
    assert_eq!(report["exemption_items"], national.len());
    assert!(data.join("reference/exemptions/national.toml").is_file());
    let info = ok(&roadside(&data, &["rules", "info"]));
    assert_eq!(info["exemption_items"], book.exemptions().len());
}

#[test]
fn rules_deadlines_answer_each_deadline_on_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    // Served 2026-07-01: the payment deadline (处罚法 67, 15 days) is 2026-07-16; the litigation
    // deadline (行政诉讼法 46, six months) ends in 2027, which the bundled calendar does not cover.
    let v = ok(&roadside(
        &data,
        &["rules", "deadlines", "service", "2026-07-01"],
    ));
    let all = v.as_array().expect("a list of deadlines");
    let find = |id: &str| {
        all.iter()
            .find(|d| d["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing: {v}"))
    };
    assert_eq!(find("payment")["due"], "2026-07-16");
    assert_eq!(find("payment")["error_code"], Value::Null);
    assert_eq!(find("reconsideration")["due"], "2026-08-31");
    let litigation = find("litigation");
    assert_eq!(litigation["due"], Value::Null);
    assert_eq!(litigation["error_code"], "CALENDAR_YEAR_MISSING");
    assert!(
        litigation["reason"].as_str().unwrap().contains("2027 年"),
        "{litigation}"
    );
    // An unknown event is an error of the whole call.
    let e = err(&roadside(
        &data,
        &["rules", "deadlines", "arrival", "2026-07-01"],
    ));
    assert_eq!(e["code"], "EVENT_UNKNOWN");
}
