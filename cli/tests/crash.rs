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
