//! The device database schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! `init` creates the newest schema on an empty database; `upgrade_from(v)` brings an older one up
//! step by step. A test upgrades a version-1 database and checks the result equals a fresh one.
//!
//! Each officer action touches as few pages as it can (every page written is encrypted and
//! authenticated by SQLCipher, the dominant cost of an action): records live only inside their
//! signed ledger entries, `cases` and `record_versions` are clustered on their keys.
//!
//! Tables that hold evidence of what happened are **append-only**: triggers refuse `UPDATE` and
//! `DELETE` on `ledger`, `record_versions`, `evidence`, `receipts` and `log_alarms` (and on the
//! log-rollover tables of version 5), and (from version 4) an `INSERT` whose key is already there. The last one is what stops `REPLACE INTO` and
//! `INSERT OR REPLACE`: SQLite resolves that conflict by deleting the old row *without* running
//! delete triggers unless `recursive_triggers` is on, so a delete trigger alone lets a row be
//! swapped. The insert triggers are in the file, so they hold for any connection, including one
//! an attacker with the key opens with the stock `sqlcipher` shell; the store's own connections
//! also turn `recursive_triggers` on (see `db.rs`). `cases` is a projection of the ledger (status,
//! number) and may change; `outbox` rows leave only when the server has given a receipt.
//! None of this stops someone holding the key from dropping a trigger first; that is what
//! `Store::verify` is for (see `check.rs`).

use rusqlite::{Connection, Transaction};

use crate::error::{Result, RoadsideError};

/// The schema version this build writes.
pub const VERSION: u32 = 7;

/// Version 1: the ledger, cases, records, evidence and outbox.
const V1: &str = r#"
CREATE TABLE meta (
    k TEXT PRIMARY KEY,
    v BLOB NOT NULL
) STRICT;

-- One row per signed ledger entry of this device; rowid = seq.
CREATE TABLE ledger (
    seq     INTEGER PRIMARY KEY,
    hash    BLOB NOT NULL CHECK (length(hash) = 32),
    bytes   BLOB NOT NULL,
    sig     BLOB NOT NULL CHECK (length(sig) = 64),
    kind    TEXT NOT NULL,
    case_id TEXT,
    at      TEXT NOT NULL
) STRICT;
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

-- Case ids are UUIDv7 made from the opening time, so the clustered key is in time order and a
-- day's cases are one range scan (no separate index to write on every action).
CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    case_number TEXT,
    opened_at   TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('draft', 'finalized', 'voided')),
    open_seq    INTEGER NOT NULL REFERENCES ledger(seq),
    last_seq    INTEGER NOT NULL REFERENCES ledger(seq)
) STRICT, WITHOUT ROWID;

-- Which ledger entry holds each version of each record (the record itself is in the entry's body,
-- so it is stored once, in the signed bytes).
CREATE TABLE record_versions (
    case_id   TEXT NOT NULL REFERENCES cases(id),
    record_id TEXT NOT NULL,
    version   INTEGER NOT NULL,
    entry_seq INTEGER NOT NULL REFERENCES ledger(seq),
    kind      TEXT NOT NULL,
    PRIMARY KEY (case_id, record_id, version)
) STRICT, WITHOUT ROWID;
CREATE TRIGGER record_versions_no_update BEFORE UPDATE ON record_versions
BEGIN SELECT RAISE(ABORT, 'record versions are append-only'); END;
CREATE TRIGGER record_versions_no_delete BEFORE DELETE ON record_versions
BEGIN SELECT RAISE(ABORT, 'record versions are append-only'); END;

CREATE TABLE evidence (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases(id),
    entry_seq   INTEGER NOT NULL REFERENCES ledger(seq),
    kind        TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size        INTEGER NOT NULL,
    chunk_size  INTEGER NOT NULL,
    chunks      BLOB NOT NULL
) STRICT;
CREATE INDEX evidence_case ON evidence(case_id);
CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
BEGIN SELECT RAISE(ABORT, 'evidence declarations are append-only'); END;
CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
BEGIN SELECT RAISE(ABORT, 'evidence declarations are append-only'); END;

-- Entries not yet acknowledged by the server.
CREATE TABLE outbox (
    entry_seq  INTEGER PRIMARY KEY REFERENCES ledger(seq),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
) STRICT;
"#;

/// Version 2: the officer roster (certificate validity), kept for offline validation.
const V2: &str = r#"
CREATE TABLE roster (
    certificate_no TEXT PRIMARY KEY,
    body           TEXT NOT NULL
) STRICT;
"#;

/// Version 3: the sync client's state (see `store/sync.rs`): enrolment, receipts, checkpoints seen,
/// log alarms, media upload state, reference bundle components, sync status values.
const V3: &str = r#"
-- The enrolment: one row. The token is the device's bearer credential (the database is encrypted).
CREATE TABLE sync_config (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    server_url       TEXT NOT NULL,
    server_device_id TEXT NOT NULL,
    token            TEXT NOT NULL,
    agency           TEXT NOT NULL,
    certificate_no   TEXT NOT NULL,
    log_origin       TEXT NOT NULL,
    log_verifier_key TEXT NOT NULL,
    bundle_key       TEXT,
    enrolled_at      TEXT NOT NULL
) STRICT;

-- The server's receipt for each entry that left the outbox: its inclusion proof (32-byte hashes,
-- concatenated, leaf to root) and the signed checkpoint it verifies against. `refused`: logged
-- but refused by a business check, with the reason.
CREATE TABLE receipts (
    entry_seq       INTEGER PRIMARY KEY REFERENCES ledger(seq),
    status          TEXT NOT NULL CHECK (status IN ('accepted', 'duplicate', 'refused')),
    leaf_index      INTEGER NOT NULL,
    tree_size       INTEGER NOT NULL,
    inclusion_proof BLOB NOT NULL,
    checkpoint      TEXT NOT NULL,
    code            TEXT,
    message         TEXT,
    received_at     TEXT NOT NULL
) STRICT;
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;

-- Every verified checkpoint of the log this device has seen, by tree size.
CREATE TABLE checkpoints_seen (
    size    INTEGER PRIMARY KEY,
    root    BLOB NOT NULL CHECK (length(root) = 32),
    note    TEXT NOT NULL,
    seen_at TEXT NOT NULL
) STRICT;

-- Evidence the log disagrees with itself (LOG_INCONSISTENT) or signs with another key: kept, shown,
-- and sync stays stopped while one is open.
CREATE TABLE log_alarms (
    id          INTEGER PRIMARY KEY,
    detected_at TEXT NOT NULL,
    code        TEXT NOT NULL,
    message     TEXT NOT NULL,
    old_note    TEXT,
    new_note    TEXT
) STRICT;
CREATE TRIGGER log_alarms_no_update BEFORE UPDATE ON log_alarms
BEGIN SELECT RAISE(ABORT, 'log alarms are append-only'); END;
CREATE TRIGGER log_alarms_no_delete BEFORE DELETE ON log_alarms
BEGIN SELECT RAISE(ABORT, 'log alarms are append-only'); END;

-- tus upload of each evidence file: the upload URL the server gave and the offset it confirmed.
CREATE TABLE uploads (
    evidence_id TEXT PRIMARY KEY REFERENCES evidence(id),
    upload_url  TEXT,
    upload_offset INTEGER NOT NULL DEFAULT 0,
    done        INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    updated_at  TEXT NOT NULL
) STRICT;

-- Verified reference-bundle components (benchmark, exemption list, policy, calendar, roster).
CREATE TABLE bundle_components (
    name       TEXT PRIMARY KEY,
    version    TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    body       BLOB NOT NULL,
    fetched_at TEXT NOT NULL
) STRICT;

-- Small values: last sync time, last error, the clock offset to the server, the bundle manifest.
CREATE TABLE sync_state (
    k TEXT PRIMARY KEY,
    v TEXT NOT NULL
) STRICT;
"#;

/// Version 4: refuse an insert over an existing key on every append-only table, so `REPLACE` and
/// `INSERT OR REPLACE` cannot swap a row (see the module documentation).
const V4: &str = r#"
CREATE TRIGGER ledger_no_replace BEFORE INSERT ON ledger
WHEN EXISTS (SELECT 1 FROM ledger WHERE seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER record_versions_no_replace BEFORE INSERT ON record_versions
WHEN EXISTS (SELECT 1 FROM record_versions
             WHERE case_id = NEW.case_id AND record_id = NEW.record_id AND version = NEW.version)
BEGIN SELECT RAISE(ABORT, 'record versions are append-only'); END;
CREATE TRIGGER evidence_no_replace BEFORE INSERT ON evidence
WHEN EXISTS (SELECT 1 FROM evidence WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'evidence declarations are append-only'); END;
CREATE TRIGGER receipts_no_replace BEFORE INSERT ON receipts
WHEN EXISTS (SELECT 1 FROM receipts WHERE entry_seq = NEW.entry_seq)
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER log_alarms_no_replace BEFORE INSERT ON log_alarms
WHEN EXISTS (SELECT 1 FROM log_alarms WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'log alarms are append-only'); END;
"#;

/// Version 5: log rollovers the device followed (see `crate::rollover`): the signed statements,
/// the checkpoints of the ended origin it had seen beyond the rollover's size (moved out of
/// `checkpoints_seen`, kept), the entries it re-submitted and the receipts the new origin gave them.
/// The old receipts stay in `receipts`.
const V5: &str = r#"
CREATE TABLE log_rollovers (
    id               INTEGER PRIMARY KEY,
    old_origin       TEXT NOT NULL,
    new_origin       TEXT NOT NULL UNIQUE,
    size             INTEGER NOT NULL,
    root             BLOB NOT NULL CHECK (length(root) = 32),
    declared_at      TEXT NOT NULL,
    reason           TEXT NOT NULL,
    -- the signed note as the server gave it
    statement        TEXT NOT NULL,
    -- the verifier key of the ended origin (the pinned key under its name)
    old_verifier_key TEXT NOT NULL,
    -- log alarms up to this id are answered by this rollover
    alarms_resolved  INTEGER NOT NULL,
    accepted_at      TEXT NOT NULL
) STRICT;
CREATE TRIGGER log_rollovers_no_update BEFORE UPDATE ON log_rollovers
BEGIN SELECT RAISE(ABORT, 'log rollovers are append-only'); END;
CREATE TRIGGER log_rollovers_no_delete BEFORE DELETE ON log_rollovers
BEGIN SELECT RAISE(ABORT, 'log rollovers are append-only'); END;

CREATE TABLE checkpoints_retired (
    rollover_id INTEGER NOT NULL REFERENCES log_rollovers(id),
    size        INTEGER NOT NULL,
    root        BLOB NOT NULL CHECK (length(root) = 32),
    note        TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (rollover_id, size)
) STRICT;
CREATE TRIGGER checkpoints_retired_no_update BEFORE UPDATE ON checkpoints_retired
BEGIN SELECT RAISE(ABORT, 'retired checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_retired_no_delete BEFORE DELETE ON checkpoints_retired
BEGIN SELECT RAISE(ABORT, 'retired checkpoints are append-only'); END;

-- Entries put back into the outbox by a rollover (the server no longer held them).
CREATE TABLE resubmissions (
    rollover_id INTEGER NOT NULL REFERENCES log_rollovers(id),
    entry_seq   INTEGER NOT NULL REFERENCES ledger(seq),
    PRIMARY KEY (rollover_id, entry_seq)
) STRICT;
CREATE TRIGGER resubmissions_no_update BEFORE UPDATE ON resubmissions
BEGIN SELECT RAISE(ABORT, 'resubmissions are append-only'); END;
CREATE TRIGGER resubmissions_no_delete BEFORE DELETE ON resubmissions
BEGIN SELECT RAISE(ABORT, 'resubmissions are append-only'); END;

-- The new origin's receipt of a re-submitted entry (same columns as `receipts`). An entry's
-- current receipt is its newest renewal, else its row in `receipts`.
CREATE TABLE renewed_receipts (
    rollover_id     INTEGER NOT NULL REFERENCES log_rollovers(id),
    entry_seq       INTEGER NOT NULL REFERENCES ledger(seq),
    status          TEXT NOT NULL CHECK (status IN ('accepted', 'duplicate', 'refused')),
    leaf_index      INTEGER NOT NULL,
    tree_size       INTEGER NOT NULL,
    inclusion_proof BLOB NOT NULL,
    checkpoint      TEXT NOT NULL,
    code            TEXT,
    message         TEXT,
    received_at     TEXT NOT NULL,
    PRIMARY KEY (rollover_id, entry_seq)
) STRICT;
CREATE TRIGGER renewed_receipts_no_update BEFORE UPDATE ON renewed_receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER renewed_receipts_no_delete BEFORE DELETE ON renewed_receipts
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;

-- As on every append-only table (version 4): no insert over an existing key.
CREATE TRIGGER log_rollovers_no_replace BEFORE INSERT ON log_rollovers
WHEN EXISTS (SELECT 1 FROM log_rollovers WHERE id = NEW.id OR new_origin = NEW.new_origin)
BEGIN SELECT RAISE(ABORT, 'log rollovers are append-only'); END;
CREATE TRIGGER checkpoints_retired_no_replace BEFORE INSERT ON checkpoints_retired
WHEN EXISTS (SELECT 1 FROM checkpoints_retired
             WHERE rollover_id = NEW.rollover_id AND size = NEW.size)
BEGIN SELECT RAISE(ABORT, 'retired checkpoints are append-only'); END;
CREATE TRIGGER resubmissions_no_replace BEFORE INSERT ON resubmissions
WHEN EXISTS (SELECT 1 FROM resubmissions
             WHERE rollover_id = NEW.rollover_id AND entry_seq = NEW.entry_seq)
BEGIN SELECT RAISE(ABORT, 'resubmissions are append-only'); END;
CREATE TRIGGER renewed_receipts_no_replace BEFORE INSERT ON renewed_receipts
WHEN EXISTS (SELECT 1 FROM renewed_receipts
             WHERE rollover_id = NEW.rollover_id AND entry_seq = NEW.entry_seq)
BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
"#;

/// Version 6: the end of a case (see `crate::steps` and `store/steps.rs`): a case's closing reason,
/// the document-number blocks leased to this device, the numbers given out (never reused) and the
/// parties' handwritten signatures (stroke data by hash). The steps themselves live in their
/// signed entries, found by the `ledger_case` index.
const V6: &str = r#"
ALTER TABLE cases ADD COLUMN closed TEXT;
CREATE INDEX ledger_case ON ledger(case_id, kind) WHERE case_id IS NOT NULL;

-- Serials `first..=last` of (agency, year), leased by the server; `next` is the next one unused.
CREATE TABLE number_blocks (
    agency      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    first       INTEGER NOT NULL,
    last        INTEGER NOT NULL CHECK (last >= first),
    next        INTEGER NOT NULL,
    prefix      TEXT NOT NULL,
    agency_name TEXT NOT NULL,
    leased_at   TEXT NOT NULL,
    PRIMARY KEY (agency, year, first)
) STRICT;

-- Every number given out, with the entry that carries it.
CREATE TABLE numbers_used (
    number    TEXT PRIMARY KEY,
    agency    TEXT NOT NULL,
    year      INTEGER NOT NULL,
    serial    INTEGER NOT NULL,
    case_id   TEXT NOT NULL REFERENCES cases(id),
    doc_type  TEXT NOT NULL,
    entry_seq INTEGER NOT NULL REFERENCES ledger(seq),
    UNIQUE (agency, year, serial)
) STRICT;
CREATE TRIGGER numbers_used_no_update BEFORE UPDATE ON numbers_used
BEGIN SELECT RAISE(ABORT, 'document numbers are never reused'); END;
CREATE TRIGGER numbers_used_no_delete BEFORE DELETE ON numbers_used
BEGIN SELECT RAISE(ABORT, 'document numbers are never reused'); END;
CREATE TRIGGER numbers_used_no_replace BEFORE INSERT ON numbers_used
WHEN EXISTS (SELECT 1 FROM numbers_used WHERE number = NEW.number
             OR (agency = NEW.agency AND year = NEW.year AND serial = NEW.serial))
BEGIN SELECT RAISE(ABORT, 'document numbers are never reused'); END;

-- Handwritten signatures: the canonical stroke JSON, by its SHA-256 (named in document entries).
CREATE TABLE signatures (
    sha256      TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases(id),
    bytes       BLOB NOT NULL,
    captured_at TEXT NOT NULL
) STRICT;
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER signatures_no_replace BEFORE INSERT ON signatures
WHEN EXISTS (SELECT 1 FROM signatures WHERE sha256 = NEW.sha256)
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
"#;

/// Version 7: legal-review opinions (法制审核意见) received from the server: each the exact bytes and
/// signature of a `review.opinion` entry signed with the agency's key (pinned at enrolment), kept
/// by hash beside the case it answers. The requests are the device's own `review.request` entries.
const V7: &str = r#"
CREATE TABLE review_opinions (
    hash         TEXT PRIMARY KEY,
    case_id      TEXT NOT NULL REFERENCES cases(id),
    request_hash TEXT NOT NULL,
    verdict      TEXT NOT NULL CHECK (verdict IN ('agree', 'investigate', 'disagree')),
    bytes        BLOB NOT NULL,
    sig          BLOB NOT NULL,
    received_at  TEXT NOT NULL
) STRICT;
CREATE INDEX review_opinions_request ON review_opinions(request_hash);
CREATE TRIGGER review_opinions_no_update BEFORE UPDATE ON review_opinions
BEGIN SELECT RAISE(ABORT, 'review opinions are append-only'); END;
CREATE TRIGGER review_opinions_no_delete BEFORE DELETE ON review_opinions
BEGIN SELECT RAISE(ABORT, 'review opinions are append-only'); END;
"#;

/// Bring the database to [`VERSION`], in one transaction. A database newer than this build is refused.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(super::db::store_err)?;
    if current == VERSION {
        return Ok(());
    }
    if current > VERSION {
        return Err(RoadsideError::store(
            "STORE_TOO_NEW",
            format!("数据库版本 {current} 高于本程序支持的版本 {VERSION}，请升级应用"),
        ));
    }
    let tx = conn.transaction().map_err(super::db::store_err)?;
    if current == 0 {
        init(&tx)?;
    } else {
        upgrade_from(&tx, current)?;
    }
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(super::db::store_err)?;
    tx.commit().map_err(super::db::store_err)
}

fn init(tx: &Transaction) -> Result<()> {
    tx.execute_batch(V1).map_err(super::db::store_err)?;
    tx.execute_batch(V2).map_err(super::db::store_err)?;
    tx.execute_batch(V3).map_err(super::db::store_err)?;
    tx.execute_batch(V4).map_err(super::db::store_err)?;
    tx.execute_batch(V5).map_err(super::db::store_err)?;
    tx.execute_batch(V6).map_err(super::db::store_err)?;
    tx.execute_batch(V7).map_err(super::db::store_err)
}

fn upgrade_from(tx: &Transaction, version: u32) -> Result<()> {
    if version < 2 {
        tx.execute_batch(V2).map_err(super::db::store_err)?;
    }
    if version < 3 {
        tx.execute_batch(V3).map_err(super::db::store_err)?;
    }
    if version < 4 {
        tx.execute_batch(V4).map_err(super::db::store_err)?;
    }
    if version < 5 {
        tx.execute_batch(V5).map_err(super::db::store_err)?;
    }
    if version < 6 {
        tx.execute_batch(V6).map_err(super::db::store_err)?;
    }
    if version < 7 {
        tx.execute_batch(V7).map_err(super::db::store_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_of(conn: &Connection) -> Vec<(String, String, String)> {
        let mut stmt = conn
            .prepare("SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY type, name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn upgrading_a_version_1_database_equals_a_fresh_one() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(V1).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        old.execute("INSERT INTO meta (k, v) VALUES ('device_id', x'00')", [])
            .unwrap();
        migrate(&mut old).unwrap();

        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();

        assert_eq!(schema_of(&old), schema_of(&fresh));
        let v: u32 = old
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, VERSION);
        let kept: i64 = old
            .query_row("SELECT count(*) FROM meta", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "data survives the upgrade");
    }

    #[test]
    fn upgrading_a_version_2_database_equals_a_fresh_one() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(V1).unwrap();
        old.execute_batch(V2).unwrap();
        old.pragma_update(None, "user_version", 2).unwrap();
        old.execute(
            "INSERT INTO roster (certificate_no, body) VALUES ('QH1', '{}')",
            [],
        )
        .unwrap();
        migrate(&mut old).unwrap();
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        assert_eq!(schema_of(&old), schema_of(&fresh));
        let kept: i64 = old
            .query_row("SELECT count(*) FROM roster", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 1, "data survives the upgrade");
    }

    #[test]
    fn upgrading_a_version_3_database_adds_the_replace_guards() {
        let mut old = Connection::open_in_memory().unwrap();
        old.execute_batch(V1).unwrap();
        old.execute_batch(V2).unwrap();
        old.execute_batch(V3).unwrap();
        old.pragma_update(None, "user_version", 3).unwrap();
        old.execute(
            "INSERT INTO ledger (seq, hash, bytes, sig, kind, at) VALUES (1, zeroblob(32), x'7b7d', zeroblob(64), 'case.open', 'x')",
            [],
        )
        .unwrap();
        // Before the upgrade, REPLACE swaps the entry: the delete trigger does not run.
        old.execute(
            "REPLACE INTO ledger (seq, hash, bytes, sig, kind, at) VALUES (1, zeroblob(32), x'5b5d', zeroblob(64), 'case.open', 'x')",
            [],
        )
        .unwrap();
        migrate(&mut old).unwrap();
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        assert_eq!(schema_of(&old), schema_of(&fresh));
        let err = old
            .execute(
                "REPLACE INTO ledger (seq, hash, bytes, sig, kind, at) VALUES (1, zeroblob(32), x'00', zeroblob(64), 'case.open', 'x')",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        let kept: Vec<u8> = old
            .query_row("SELECT bytes FROM ledger WHERE seq = 1", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, b"[]", "data survives the upgrade");
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn).unwrap_err();
        assert_eq!(err.code(), "STORE_TOO_NEW");
    }

    #[test]
    fn ledger_rows_cannot_be_changed_or_deleted() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO ledger (seq, hash, bytes, sig, kind, at) VALUES (1, zeroblob(32), x'7b7d', zeroblob(64), 'case.open', 'x')",
            [],
        )
        .unwrap();
        let upd = conn.execute("UPDATE ledger SET bytes = x'00' WHERE seq = 1", []);
        assert!(upd.unwrap_err().to_string().contains("append-only"));
        let del = conn.execute("DELETE FROM ledger", []);
        assert!(del.unwrap_err().to_string().contains("append-only"));
    }
}
