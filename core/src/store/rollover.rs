//! The store's side of a log rollover (the protocol: `crate::rollover`): the statements the device
//! followed, the checkpoints of ended origins it retired, the entries it re-submitted and the new
//! origin's receipts for them (schema version 4). Nothing is deleted: checkpoints beyond a
//! rollover's size move to `checkpoints_retired`, old receipts stay in `receipts`.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::sync::LogAlarm;
use super::{begin, db, lock, now_rfc3339, Store};
use crate::error::Result;
use crate::rollover::RolloverStatement;

/// A rollover of the log this device followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogRollover {
    pub old_origin: String,
    pub new_origin: String,
    /// Leaves of the old log the server still held; the new origin continues from there.
    pub size: u64,
    pub declared_at: String,
    pub reason: String,
    pub accepted_at: String,
    /// Entries this device put back into its outbox for it (the server had lost them).
    pub resubmitted: u64,
    /// Of those, the ones the new origin has given a receipt so far.
    pub renewed: u64,
}

/// An origin the log had before: its checkpoints are still valid up to `max_size` leaves (the
/// smallest size of this and every later rollover: the part of the tree still held).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredOrigin {
    pub origin: String,
    pub verifier_key: String,
    pub max_size: u64,
}

impl Store {
    /// Rollovers followed, oldest first.
    pub fn log_rollovers(&self) -> Result<Vec<LogRollover>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare(
                "SELECT r.old_origin, r.new_origin, r.size, r.declared_at, r.reason, r.accepted_at,
                        (SELECT count(*) FROM resubmissions s WHERE s.rollover_id = r.id),
                        (SELECT count(*) FROM renewed_receipts n WHERE n.rollover_id = r.id)
                 FROM log_rollovers r ORDER BY r.id",
            )
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LogRollover {
                    old_origin: r.get(0)?,
                    new_origin: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    declared_at: r.get(3)?,
                    reason: r.get(4)?,
                    accepted_at: r.get(5)?,
                    resubmitted: r.get::<_, i64>(6)? as u64,
                    renewed: r.get::<_, i64>(7)? as u64,
                })
            })
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err)?;
        Ok(rows)
    }

    /// The origins the log had before the current one, with how much of each is still held.
    pub fn retired_origins(&self) -> Result<Vec<RetiredOrigin>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare(
                "SELECT r.old_origin, r.old_verifier_key,
                        (SELECT min(l.size) FROM log_rollovers l WHERE l.id >= r.id)
                 FROM log_rollovers r ORDER BY r.id",
            )
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RetiredOrigin {
                    origin: r.get(0)?,
                    verifier_key: r.get(1)?,
                    max_size: r.get::<_, i64>(2)? as u64,
                })
            })
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err)?;
        Ok(rows)
    }

    /// The newest checkpoint seen of a tree smaller than `size`.
    pub fn checkpoint_below(&self, size: u64) -> Result<Option<super::sync::SeenCheckpoint>> {
        let conn = lock(&self.reader);
        let row = conn
            .query_row(
                "SELECT size, root, note FROM checkpoints_seen WHERE size < ?1
                 ORDER BY size DESC LIMIT 1",
                [size as i64],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(db::store_err)?;
        row.map(|(size, root, note)| {
            Ok(super::sync::SeenCheckpoint {
                size: size as u64,
                root: root.try_into().map_err(|_| {
                    crate::error::RoadsideError::store(
                        "STORE_SYNC_CORRUPT",
                        "同步数据损坏：检查点根哈希长度错误",
                    )
                })?,
                note,
            })
        })
        .transpose()
    }

    /// The newest log alarm no rollover has answered yet (sync stays stopped while there is one).
    pub fn open_log_alarm(&self) -> Result<Option<LogAlarm>> {
        let conn = lock(&self.reader);
        conn.query_row(
            "SELECT detected_at, code, message FROM log_alarms
             WHERE id > (SELECT coalesce(max(alarms_resolved), 0) FROM log_rollovers)
             ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(LogAlarm {
                    detected_at: r.get(0)?,
                    code: r.get(1)?,
                    message: r.get(2)?,
                })
            },
        )
        .optional()
        .map_err(db::store_err)
    }

    /// Whether the server denying entry `seq` proves it lost data: the entry before it has a
    /// receipt and is not waiting to be re-submitted.
    pub fn holds_receipt_of(&self, seq: u64) -> Result<bool> {
        let conn = lock(&self.reader);
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM receipts WHERE entry_seq = ?1)
                    AND NOT EXISTS (SELECT 1 FROM outbox WHERE entry_seq = ?1)",
            [seq as i64],
            |r| r.get::<_, bool>(0),
        )
        .map_err(db::store_err)
    }

    /// Follow a verified rollover, in one transaction: record it (answering every log alarm so
    /// far), move the checkpoints seen beyond its size to `checkpoints_retired`, put every entry
    /// whose current receipt names a leaf at or beyond its size back into the outbox (their
    /// evidence files are uploaded again), and follow the new origin with `new_verifier_key`.
    /// Returns the number of entries put back.
    pub fn accept_rollover(
        &self,
        statement: &RolloverStatement,
        note: &str,
        old_verifier_key: &str,
        new_verifier_key: &str,
    ) -> Result<u64> {
        let now = now_rfc3339(Utc::now());
        let size = statement.size as i64;
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        tx.execute(
            "INSERT INTO log_rollovers (old_origin, new_origin, size, root, declared_at, reason,
                 statement, old_verifier_key, alarms_resolved, accepted_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,
                     (SELECT coalesce(max(id), 0) FROM log_alarms), ?9)",
            params![
                statement.old_origin,
                statement.new_origin,
                size,
                &statement.root[..],
                statement.at,
                statement.reason,
                note,
                old_verifier_key,
                now
            ],
        )
        .map_err(db::store_err)?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO checkpoints_retired (rollover_id, size, root, note, seen_at)
             SELECT ?1, size, root, note, seen_at FROM checkpoints_seen WHERE size > ?2",
            params![id, size],
        )
        .map_err(db::store_err)?;
        tx.execute("DELETE FROM checkpoints_seen WHERE size > ?1", [size])
            .map_err(db::store_err)?;
        // Each entry's current receipt: its newest renewal, else its first receipt.
        tx.execute(
            "INSERT INTO resubmissions (rollover_id, entry_seq)
             SELECT ?1, r.entry_seq FROM receipts r
             WHERE coalesce((SELECT n.leaf_index FROM renewed_receipts n
                             WHERE n.entry_seq = r.entry_seq ORDER BY n.rollover_id DESC LIMIT 1),
                            r.leaf_index) >= ?2
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.entry_seq = r.entry_seq)",
            params![id, size],
        )
        .map_err(db::store_err)?;
        let put_back = tx
            .execute(
                "INSERT INTO outbox (entry_seq) SELECT entry_seq FROM resubmissions WHERE rollover_id = ?1",
                [id],
            )
            .map_err(db::store_err)?;
        tx.execute(
            "DELETE FROM uploads WHERE evidence_id IN (SELECT e.id FROM evidence e
                 JOIN resubmissions s ON s.entry_seq = e.entry_seq WHERE s.rollover_id = ?1)",
            [id],
        )
        .map_err(db::store_err)?;
        tx.execute(
            "UPDATE sync_config SET log_origin = ?1, log_verifier_key = ?2 WHERE id = 1",
            params![statement.new_origin, new_verifier_key],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)?;
        Ok(put_back as u64)
    }
}

/// In a push transaction: the rollover entry `seq` was re-submitted for and has no renewed receipt
/// from yet, if any (its receipt then goes to `renewed_receipts`).
pub(super) fn awaiting_renewal(tx: &rusqlite::Transaction<'_>, seq: u64) -> Result<Option<i64>> {
    tx.prepare_cached(
        "SELECT s.rollover_id FROM resubmissions s WHERE s.entry_seq = ?1
           AND NOT EXISTS (SELECT 1 FROM renewed_receipts n
                           WHERE n.rollover_id = s.rollover_id AND n.entry_seq = s.entry_seq)
         ORDER BY s.rollover_id DESC LIMIT 1",
    )
    .and_then(|mut s| s.query_row([seq as i64], |r| r.get::<_, i64>(0)).optional())
    .map_err(db::store_err)
}

#[cfg(test)]
mod tests {
    use super::super::sync::{EntryResult, ReceiptStatus, SeenCheckpoint, SyncConfig};
    use super::super::{Durability, Store};
    use super::*;

    const KEY: [u8; 32] = [9u8; 32];

    fn store(dir: &std::path::Path) -> Store {
        let store = Store::open(dir, &KEY, Durability::Normal).expect("open store");
        store.import_roster(&crate::demo::roster()).expect("roster");
        store
            .save_enrolment(&SyncConfig {
                server_url: "http://127.0.0.1:1".into(),
                server_device_id: "d1".into(),
                token: "t".into(),
                agency: "632500".into(),
                certificate_no: "QH6325000101".into(),
                log_origin: "a.example/log".into(),
                log_verifier_key: "a.example/log+00000000+AQ==".into(),
                bundle_key: None,
                enrolled_at: "2026-12-01T00:00:00.000Z".into(),
            })
            .expect("enrol");
        store
    }

    fn receipt(seq: u64, leaf: u64, size: u64, note: &str) -> EntryResult {
        EntryResult::Receipt {
            seq,
            status: ReceiptStatus::Accepted,
            leaf_index: leaf,
            tree_size: size,
            proof: vec![[seq as u8; 32]],
            checkpoint: note.to_string(),
            code: None,
            message: None,
        }
    }

    fn checkpoint(size: u64, note: &str) -> SeenCheckpoint {
        SeenCheckpoint {
            size,
            root: [size as u8; 32],
            note: note.to_string(),
        }
    }

    fn statement(size: u64) -> RolloverStatement {
        RolloverStatement {
            old_origin: "a.example/log".into(),
            new_origin: "a.example/log/epoch2".into(),
            size,
            root: [size as u8; 32],
            at: "2026-12-07T10:00:00.000Z".into(),
            reason: "从备份恢复".into(),
        }
    }

    /// Five entries logged at leaves 0, 2, 4, 6, 8 of a log whose checkpoints 5 and 9 the device
    /// saw; an alarm; a rollover at size 5: entries at leaves 6 and 8 go back to the outbox with
    /// their old receipts, checkpoint 9 is retired, the alarm is answered, the new origin followed.
    #[test]
    fn a_rollover_puts_back_exactly_the_entries_the_server_lost_and_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        for _ in 0..5 {
            s.create_case(&crate::demo::on_site_record(
                Utc::now() - chrono::Duration::hours(1),
            ))
            .unwrap();
        }
        assert_eq!(s.outbox_len().unwrap(), 5);
        let results: Vec<EntryResult> = (1..=5)
            .map(|seq| receipt(seq, (seq - 1) * 2, 9, "cp9"))
            .collect();
        s.apply_push_results(&results).unwrap();
        s.record_checkpoint(&checkpoint(5, "cp5")).unwrap();
        s.record_checkpoint(&checkpoint(9, "cp9")).unwrap();
        assert_eq!(s.outbox_len().unwrap(), 0);
        // The server denying entry 5 proves it lost entry 4, whose receipt the device holds.
        assert!(s.holds_receipt_of(4).unwrap());
        s.record_log_alarm("LOG_ROLLED_BACK", "变小了", Some("cp9"), Some("cp5"))
            .unwrap();
        assert_eq!(
            s.open_log_alarm().unwrap().map(|a| a.code),
            Some("LOG_ROLLED_BACK".to_string())
        );

        let put_back = s
            .accept_rollover(&statement(5), "note", "old-key", "new-key")
            .unwrap();
        assert_eq!(put_back, 2);
        assert_eq!(s.outbox_len().unwrap(), 2);
        assert!(
            !s.holds_receipt_of(4).unwrap(),
            "entry 4 is waiting to go back"
        );
        assert!(s.holds_receipt_of(3).unwrap());
        assert_eq!(s.open_log_alarm().unwrap(), None);
        assert_eq!(
            s.log_alarms().unwrap().len(),
            1,
            "the alarm stays on record"
        );
        assert_eq!(s.latest_checkpoint().unwrap().map(|c| c.size), Some(5));
        assert_eq!(s.checkpoint_below(5).unwrap(), None);
        let retired: i64 = lock(&s.reader)
            .query_row("SELECT count(*) FROM checkpoints_retired", [], |r| r.get(0))
            .unwrap();
        assert_eq!(retired, 1);
        let config = s.sync_config().unwrap().unwrap();
        assert_eq!(
            (config.log_origin.as_str(), config.log_verifier_key.as_str()),
            ("a.example/log/epoch2", "new-key")
        );
        assert_eq!(
            s.retired_origins().unwrap(),
            vec![RetiredOrigin {
                origin: "a.example/log".into(),
                verifier_key: "old-key".into(),
                max_size: 5,
            }]
        );
        // The outbox hands out entries 4 and 5, each still with its old receipt.
        let batch = s.outbox_batch(0, 10, 1 << 20).unwrap();
        assert_eq!(batch.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(s.receipt(4).unwrap().unwrap().leaf_index, 6);

        // The new origin's receipts: kept beside the old ones, and now the entries' receipts.
        s.apply_push_results(&[receipt(4, 5, 7, "new7"), receipt(5, 6, 7, "new7")])
            .unwrap();
        assert_eq!(s.outbox_len().unwrap(), 0);
        let r = s.receipt(4).unwrap().unwrap();
        assert_eq!((r.leaf_index, r.checkpoint.as_str()), (5, "new7"));
        let old: i64 = lock(&s.reader)
            .query_row(
                "SELECT leaf_index FROM receipts WHERE entry_seq = 4",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, 6, "the old receipt is kept");
        let rollovers = s.log_rollovers().unwrap();
        assert_eq!((rollovers[0].resubmitted, rollovers[0].renewed), (2, 2));
        assert_eq!(s.receipt_count().unwrap(), 5);

        // Receipts and retired checkpoints cannot be rewritten.
        for sql in [
            "DELETE FROM renewed_receipts",
            "UPDATE log_rollovers SET size = 9",
            "DELETE FROM checkpoints_retired",
            "DELETE FROM resubmissions",
        ] {
            let err = lock(&s.writer).execute(sql, []).unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
    }

    /// A second rollover at a smaller size: the current receipts (renewed ones included) decide.
    #[test]
    fn a_second_rollover_uses_the_renewed_receipts() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        for _ in 0..3 {
            s.create_case(&crate::demo::on_site_record(
                Utc::now() - chrono::Duration::hours(1),
            ))
            .unwrap();
        }
        s.apply_push_results(&[
            receipt(1, 0, 3, "c3"),
            receipt(2, 1, 3, "c3"),
            receipt(3, 2, 3, "c3"),
        ])
        .unwrap();
        s.accept_rollover(&statement(2), "n1", "k1", "k2").unwrap();
        // Entry 3 came back at leaf 4 of the new origin; then that origin lost it too.
        s.apply_push_results(&[receipt(3, 4, 5, "e2c5")]).unwrap();
        let mut second = statement(3);
        second.old_origin = "a.example/log/epoch2".into();
        second.new_origin = "a.example/log/epoch3".into();
        assert_eq!(s.accept_rollover(&second, "n2", "k2", "k3").unwrap(), 1);
        let origins = s.retired_origins().unwrap();
        assert_eq!(
            origins.iter().map(|o| o.max_size).collect::<Vec<_>>(),
            vec![2, 3]
        );
        s.apply_push_results(&[receipt(3, 3, 4, "e3c4")]).unwrap();
        assert_eq!(s.receipt(3).unwrap().unwrap().checkpoint, "e3c4");
    }
}
