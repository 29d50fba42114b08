//! Writes the seed corpora (`seeds/<target>/`) from real data made by the project's own encoders:
//! the demo record and roster, entries sealed with the fixed device key, a manifest of the bundled
//! reference files, a checkpoint and a rollover statement signed with the fixed log key, tile
//! paths, tus headers as stock clients send them, and a benchmark table exported as CSV and XLSX.
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/seeds
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{TimeZone, Utc};
use roadside_core::bundle;
use roadside_core::ledger::{self, EntryKind, Head};
use roadside_core::rollover::RolloverStatement;
use roadside_core::rules::{tables, RuleBook};
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".into()),
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let at = Utc
        .with_ymd_and_hms(2026, 11, 29, 2, 5, 0)
        .single()
        .ok_or("time")?;

    // Record JSON: the demo 现场笔录 and the long overload record.
    let record = roadside_core::demo::on_site_record(at);
    write(
        &out,
        "record",
        "on_site.json",
        &serde_json::to_vec_pretty(&record)?,
    )?;
    let long = roadside_core::demo::overload_record_long(at);
    write(
        &out,
        "record",
        "overload_long.json",
        &serde_json::to_vec(&long)?,
    )?;

    // Ledger entries: a short chain sealed with the fixed device key.
    let key = roadside_fuzz::device_key();
    let officers = vec!["QH6325000101".to_string(), "QH6325000102".to_string()];
    let case = Some("0190f5a2-7c3e-7b2a-9d4e-0123456789ab".to_string());
    let mut head: Option<Head> = None;
    let mut first_hash = String::new();
    let steps = [
        (
            EntryKind::CaseOpen,
            json!({"place": "G214 K1234+500", "plate": "青A12345"}),
        ),
        (
            EntryKind::RecordCreate,
            json!({"record": serde_json::to_value(&record)?}),
        ),
        (
            EntryKind::EvidenceAdd,
            json!({"sha256": "ab".repeat(32), "size": 1048576, "kind": "photo"}),
        ),
        (
            EntryKind::RecordAmend,
            json!({"supersedes": "", "field": "vehicle.plate", "value": "青A54321"}),
        ),
    ];
    for (i, (kind, mut body)) in steps.into_iter().enumerate() {
        if kind == EntryKind::RecordAmend {
            body["supersedes"] = json!(first_hash);
        }
        let entry = ledger::next_entry(&key, head, at, officers.clone(), kind, case.clone(), body);
        let signed = ledger::seal(&entry, &key)?;
        if i == 0 {
            first_hash = signed.hash_hex();
        }
        head = Some(Head {
            seq: entry.seq,
            hash: signed.hash,
        });
        write(
            &out,
            "entry",
            &format!("{}_{kind}.json", entry.seq),
            &signed.bytes,
        )?;
        if i < 2 {
            write(
                &out,
                "jcs",
                &format!("entry_{}.json", entry.seq),
                &signed.bytes,
            )?;
        }
    }
    // JCS: RFC 8785's own example (§3.2.2) and a record as pretty JSON.
    write(
        &out,
        "jcs",
        "rfc8785_3_2_2.json",
        RFC8785_EXAMPLE.as_bytes(),
    )?;
    write(
        &out,
        "jcs",
        "record_pretty.json",
        &serde_json::to_vec_pretty(&record)?,
    )?;

    // Bundle manifest of the bundled reference files and the demo roster, under the agency key;
    // the roster component itself; and the manifest's HTTP envelope.
    let agency = roadside_fuzz::agency_key();
    let roster = bundle::roster_component("632500", &roadside_core::demo::roster())?;
    let mut files = bundle::bundled_reference();
    files.insert(bundle::ROSTER.to_string(), roster.clone());
    let files: BTreeMap<String, Vec<u8>> = files;
    let manifest = bundle::build_manifest("632500", 3, at, &agency.verifying_key(), &files, None)?;
    let signed = bundle::sign_manifest(&manifest, &agency)?;
    write(&out, "manifest", "manifest.json", &signed.bytes)?;
    write(&out, "manifest", "envelope.json", &signed.to_envelope())?;
    write(&out, "manifest", "roster.json", &roster)?;

    // A checkpoint (signed note, even first byte) and its text and a rollover statement (odd).
    let signer = roadside_fuzz::log_signer();
    let root = tlog_tiles::Hash(ledger::sha256(b"roadside"));
    let note = signer.sign(150, root)?;
    write(
        &out,
        "checkpoint",
        "note.txt",
        &[&[0u8][..], note.as_bytes()].concat(),
    )?;
    let text = note.split("\n\n").next().ok_or("note text")?.to_string() + "\n";
    write(
        &out,
        "checkpoint",
        "text.txt",
        &[&[1u8][..], text.as_bytes()].concat(),
    )?;
    let statement = RolloverStatement {
        old_origin: roadside_fuzz::LOG_ORIGIN.to_string(),
        new_origin: format!("{}/epoch2", roadside_fuzz::LOG_ORIGIN),
        size: 150,
        root: root.0,
        at: "2026-11-29T02:05:00Z".to_string(),
        reason: "key moved to a token".to_string(),
    };
    let statement_text = statement.to_text()?;
    write(
        &out,
        "checkpoint",
        "rollover.txt",
        &[&[1u8][..], statement_text.as_bytes()].concat(),
    )?;
    let statement_note = signer.sign_text(&statement_text)?;
    write(
        &out,
        "checkpoint",
        "rollover_note.txt",
        &[&[0u8][..], statement_note.as_bytes()].concat(),
    )?;

    // Tile paths as clients ask for them.
    for (name, path) in [
        ("full", "tile/0/000"),
        ("partial", "tile/0/x001/234.p/17"),
        ("level", "tile/2/001.p/255"),
        ("entries", "tile/entries/x123/x456/789"),
        ("entries_partial", "tile/entries/005.p/7"),
    ] {
        write(&out, "tile_path", &format!("{name}.txt"), path.as_bytes())?;
    }

    // tus headers, one value a line: Tus-Resumable, Upload-Metadata, Upload-Checksum,
    // Upload-Offset, Upload-Length, then an upload URL's id.
    let hash = "3f".repeat(32);
    let digest = ledger::sha256(b"chunk");
    let tus = format!(
        "1.0.0\nsha256 {},filename {}\nsha256 {}\n0\n1048576\n0190f5a2-7c3e-7b2a-9d4e-0123456789ab",
        b64.encode(&hash),
        b64.encode("photo.jpg"),
        b64.encode(digest),
    );
    write(&out, "tus_headers", "tuspy.txt", tus.as_bytes())?;
    let tus_empty = "1.0.0\nsha256 \n\n65536\n\n0190F5A27C3E7B2A9D4E0123456789AB";
    write(&out, "tus_headers", "odd.txt", tus_empty.as_bytes())?;

    // A benchmark table (超限运输) exported as CSV and Excel, and the exemption-list example.
    let book = RuleBook::bundled()?;
    let dir = std::env::temp_dir().join(format!("roadside-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for format in ["csv", "xlsx"] {
        let file = dir.join(format!("chaoxian.{format}"));
        let rows = tables::export_table(&book, format, &file, Some("discretion/chaoxian.toml"))?;
        if rows == 0 {
            return Err("the benchmark table exported no rows".into());
        }
        write(
            &out,
            &format!("table_{format}"),
            &format!("chaoxian.{format}"),
            &std::fs::read(&file)?,
        )?;
    }
    std::fs::remove_dir_all(&dir)?;
    let exemptions = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/provincial_exemptions_example.csv");
    write(
        &out,
        "table_csv",
        "exemptions.csv",
        &std::fs::read(exemptions)?,
    )?;
    Ok(())
}

const RFC8785_EXAMPLE: &str = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50,
              2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;

fn write(out: &Path, target: &str, name: &str, bytes: &[u8]) -> Res<()> {
    let dir = out.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)?;
    Ok(())
}
