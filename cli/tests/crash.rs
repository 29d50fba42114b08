//! A process killed mid-write reopens with every committed action intact and a chain that
//! verifies. The child (`roadside demo seed`) prints each case id only after its commit returned;
//! the test kills it with SIGKILL at pseudo-random moments, many times over.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use roadside_core::store::{Durability, Store};

const KEY: [u8; 32] = [0x33; 32];

#[test]
fn killed_writers_never_lose_a_committed_action() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key_hex = hex::encode(KEY);
    let mut committed: Vec<String> = Vec::new();
    // A small deterministic generator for the kill delays (5–120 ms after the first commit).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let kills = 40;
    for round in 0..kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roadside"))
            .arg("--data")
            .arg(&data)
            .args(["demo", "seed", "--cases", "1000000"])
            .env("ROADSIDE_DB_KEY", &key_hex)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn roadside");
        let stdout = child.stdout.take().expect("stdout");
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = Duration::from_millis(5 + x % 115);
        let reader = std::thread::spawn(move || {
            let mut ids = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
                ids.push(v["case_id"].as_str().expect("case_id").to_string());
            }
            ids
        });
        // Give the child time to open the store and start committing, then kill it mid-write.
        std::thread::sleep(Duration::from_millis(150) + delay);
        child.kill().expect("kill");
        child.wait().expect("wait");
        let new = reader.join().expect("reader");

        let store = Store::open(&data, &KEY, Durability::Normal).expect("reopen after kill");
        let report = store.verify_ledger().expect("verify");
        assert!(report.ok, "round {round}: {report:?}");
        for id in &new {
            store
                .case_detail(id)
                .unwrap_or_else(|e| panic!("round {round}: committed case {id} lost: {e}"));
        }
        committed.extend(new);
        assert!(store.ledger_len().expect("count") >= committed.len() as u64);
    }
    // Finally, every case committed in any round is still there.
    let store = Store::open(&data, &KEY, Durability::Normal).expect("reopen");
    for id in &committed {
        store.case_detail(id).expect("committed case intact");
    }
    assert!(
        committed.len() > kills,
        "too few commits to mean anything: {}",
        committed.len()
    );
}

/// A decision killed at each of its writes and syncs (SIGKILL injected by `strace` into the N-th
/// `pwrite64` / `fdatasync` / `fsync` of the `case decide` process, on a store with full
/// durability so commits sync): afterwards the decision, its number and its block's counter are
/// there together or not at all, the chain verifies and the store check finds nothing.
#[test]
fn a_decision_killed_at_each_write_and_sync_is_all_or_nothing() {
    if !roadside_tests::backends::tool("strace") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let key_hex = hex::encode(KEY);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_roadside"))
            .arg("--data")
            .arg(&data)
            .args(["--durability", "full"])
            .args(args)
            .env("ROADSIDE_DB_KEY", &key_hex)
            .output()
            .expect("run roadside")
    };
    assert!(run(&["init", "--demo-roster"]).status.success());
    let record = tmp.path().join("r.json");
    std::fs::write(
        &record,
        serde_json::to_vec(&roadside_core::demo::on_site_record(
            chrono::Utc::now() - chrono::Duration::hours(1),
        ))
        .unwrap(),
    )
    .unwrap();
    let today = roadside_core::day::format_day(roadside_core::day::agency_today());
    let decision = tmp.path().join("d.json");
    std::fs::write(
        &decision,
        serde_json::to_vec(&serde_json::json!({
            "draft": {
                "facts": {"act_date": today, "party_type": "organisation"},
                "violations": [{"code": "GB-69", "amount_yuan": 500}],
                "procedure": "summary",
                "officers": [{"name": "才让多杰", "certificate_no": "QH6325000101"},
                             {"name": "李明", "certificate_no": "QH6325000102"}]
            },
            "party": {"type": "organisation", "name": "青海某物流有限公司", "uscc": "9144030071526726XG"},
            "facts_text": "车辆装载物遗洒，污染路面",
            "rights_told": true
        }))
        .unwrap(),
    )
    .unwrap();
    let mut kills = 0;
    for call in ["pwrite64", "fdatasync", "fsync"] {
        for n in 1..=40 {
            let out = run(&["case", "new", "--json", record.to_str().unwrap()]);
            assert!(out.status.success());
            let case: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let id = case["id"].as_str().unwrap().to_string();
            assert!(run(&["case", "finalize", &id]).status.success());
            let out = Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={call}"))
                .arg("-e")
                .arg(format!("inject={call}:signal=SIGKILL:when={n}"))
                .arg(env!("CARGO_BIN_EXE_roadside"))
                .arg("--data")
                .arg(&data)
                .args(["--durability", "full", "case", "decide", &id, "--json"])
                .arg(&decision)
                .env("ROADSIDE_DB_KEY", &key_hex)
                .output()
                .expect("run strace");
            let killed = !out.status.success();
            let store = Store::open(&data, &KEY, Durability::Full).expect("reopen");
            let report = store.verify().expect("verify");
            assert!(report.ok, "{call} #{n}: {report:?}");
            let decided = store
                .case_steps(&id)
                .expect("steps")
                .iter()
                .any(|s| s.kind == roadside_core::ledger::EntryKind::DecisionPenalty);
            let used: i64 = {
                let year = {
                    use chrono::Datelike;
                    roadside_core::day::agency_today().year()
                };
                999 - store.numbers_left(year).expect("numbers left") as i64
            };
            let decisions = count_decisions(&store);
            assert_eq!(
                used, decisions,
                "{call} #{n}: numbers spent and decisions made disagree"
            );
            if !killed {
                assert!(
                    decided,
                    "{call} #{n}: the decision returned but is not there"
                );
                break;
            }
            kills += 1;
        }
    }
    assert!(kills >= 3, "too few crash points reached: {kills}");
}

fn count_decisions(store: &Store) -> i64 {
    store
        .export_ledger()
        .expect("export")
        .iter()
        .filter(|e| e.bytes.contains("\"kind\":\"decision.penalty\""))
        .count() as i64
}
