//! The store's side of sync: the enrolment, receipts, checkpoints seen, log alarms, media upload
//! state, reference-bundle components and the values `status()` shows (schema version 3).
//!
//! Every write is one transaction. An entry leaves the outbox only in the transaction that stores
//! its receipt; an entry the server refused without a receipt stays in the outbox with its reason.

use chrono::Utc;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{begin, db, lock, now_rfc3339, Store};
use crate::error::{Result, RoadsideError};

/// What enrolment gave the device. Kept in the encrypted store; the token never leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    /// Base URL of the server, e.g. `https://zf.example.gov.cn` (no trailing slash).
    pub server_url: String,
    /// The server's id for this device.
    pub server_device_id: String,
    /// Bearer token of the device.
    pub token: String,
    pub agency: String,
    pub certificate_no: String,
    /// Origin line of the transparency log.
    pub log_origin: String,
    /// signed-note verifier key of the log, pinned at enrolment.
    pub log_verifier_key: String,
    /// signed-note verifier key of the reference bundles, when the server gave one.
    pub bundle_key: Option<String>,
    pub enrolled_at: String,
}

/// An outbox entry ready to push: the exact signed bytes.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub seq: u64,
    pub hash: [u8; 32],
    pub bytes: Vec<u8>,
    pub sig: Vec<u8>,
}

/// What the server answered for one entry, after the client verified it.
#[derive(Debug, Clone)]
pub enum EntryResult {
    /// A verified receipt: the entry leaves the outbox.
    Receipt {
        seq: u64,
        status: ReceiptStatus,
        leaf_index: u64,
        tree_size: u64,
        proof: Vec<[u8; 32]>,
        checkpoint: String,
        code: Option<String>,
        message: Option<String>,
    },
    /// Refused without a receipt: the entry stays, with its reason.
    Blocked {
        seq: u64,
        code: String,
        message: String,
    },
}

/// The kind of receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Logged and accepted.
    Accepted,
    /// Already logged earlier (same receipt again).
    Duplicate,
    /// Logged, but refused by a business check (e.g. a certificate); the reason is kept.
    Refused,
}

impl ReceiptStatus {
    fn as_str(self) -> &'static str {
        match self {
            ReceiptStatus::Accepted => "accepted",
            ReceiptStatus::Duplicate => "duplicate",
            ReceiptStatus::Refused => "refused",
        }
    }
}

/// A stored receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct StoredReceipt {
    pub entry_seq: u64,
    /// Entry hash, lowercase hex.
    pub entry_hash: String,
    pub status: ReceiptStatus,
    pub leaf_index: u64,
    pub tree_size: u64,
    /// Audit path, lowercase hex hashes, leaf to root.
    pub inclusion_proof: Vec<String>,
    /// The C2SP signed checkpoint the proof verifies against.
    pub checkpoint: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// An entry that is not (or not fully) accepted, with the server's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct EntryProblem {
    pub entry_seq: u64,
    pub kind: String,
    pub case_id: Option<String>,
    pub code: String,
    pub message: String,
    /// `true`: logged with a receipt but refused (final); `false`: still in the outbox, blocking the
    /// entries after it until resolved.
    pub has_receipt: bool,
}

/// A media upload not finished yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PendingUpload {
    pub evidence_id: String,
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// Bytes the server has confirmed.
    pub offset: u64,
    pub upload_url: Option<String>,
    pub last_error: Option<String>,
    /// `false` while the entry that declares it has no receipt yet.
    pub declared_on_server: bool,
}

/// A detected misbehaviour of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct LogAlarm {
    pub detected_at: String,
    pub code: String,
    pub message: String,
}

/// A verified checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenCheckpoint {
    pub size: u64,
    pub root: [u8; 32],
    pub note: String,
}

/// A verified reference-bundle component as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleComponent {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub body: Vec<u8>,
}

fn corrupt(what: &str) -> RoadsideError {
    RoadsideError::store("STORE_SYNC_CORRUPT", format!("同步数据损坏：{what}"))
}

impl Store {
    /// The enrolment, if the device is enrolled.
    pub fn sync_config(&self) -> Result<Option<SyncConfig>> {
        let conn = lock(&self.reader);
        conn.query_row(
            "SELECT server_url, server_device_id, token, agency, certificate_no, log_origin,
                    log_verifier_key, bundle_key, enrolled_at FROM sync_config WHERE id = 1",
            [],
            |r| {
                Ok(SyncConfig {
                    server_url: r.get(0)?,
                    server_device_id: r.get(1)?,
                    token: r.get(2)?,
                    agency: r.get(3)?,
                    certificate_no: r.get(4)?,
                    log_origin: r.get(5)?,
                    log_verifier_key: r.get(6)?,
                    bundle_key: r.get(7)?,
                    enrolled_at: r.get(8)?,
                })
            },
        )
        .optional()
        .map_err(db::store_err)
    }

    /// Keep the enrolment. A device enrols once; a second enrolment is refused.
    pub fn save_enrolment(&self, config: &SyncConfig) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        let exists: bool = tx
            .query_row("SELECT count(*) FROM sync_config", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(db::store_err)?
            > 0;
        if exists {
            return Err(RoadsideError::conflict(
                "ALREADY_ENROLLED",
                "本设备已登记，不能重复登记",
            ));
        }
        tx.execute(
            "INSERT INTO sync_config (id, server_url, server_device_id, token, agency,
                 certificate_no, log_origin, log_verifier_key, bundle_key, enrolled_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                config.server_url,
                config.server_device_id,
                config.token,
                config.agency,
                config.certificate_no,
                config.log_origin,
                config.log_verifier_key,
                config.bundle_key,
                config.enrolled_at
            ],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)
    }

    /// Outbox entries after `after_seq`, in `seq` order: at most `limit` entries and about
    /// `max_bytes` of entry bytes (at least one entry).
    pub fn outbox_batch(
        &self,
        after_seq: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<OutboxEntry>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare_cached(
                "SELECT l.seq, l.hash, l.bytes, l.sig FROM outbox o JOIN ledger l ON l.seq = o.entry_seq
                 WHERE o.entry_seq > ?1 ORDER BY o.entry_seq LIMIT ?2",
            )
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map(params![after_seq as i64, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(db::store_err)?;
        let mut out = Vec::new();
        let mut bytes_total = 0usize;
        for row in rows {
            let (seq, hash, bytes, sig) = row.map_err(db::store_err)?;
            if !out.is_empty() && bytes_total + bytes.len() > max_bytes {
                break;
            }
            bytes_total += bytes.len();
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| corrupt(&format!("第 {seq} 条记录的哈希长度错误")))?;
            out.push(OutboxEntry {
                seq: seq as u64,
                hash,
                bytes,
                sig,
            });
        }
        Ok(out)
    }

    /// Store what the server answered for a batch, in one transaction: receipts (the entry leaves
    /// the outbox) and reasons (the entry stays).
    pub fn apply_push_results(&self, results: &[EntryResult]) -> Result<()> {
        let now = now_rfc3339(Utc::now());
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        for r in results {
            match r {
                EntryResult::Receipt {
                    seq,
                    status,
                    leaf_index,
                    tree_size,
                    proof,
                    checkpoint,
                    code,
                    message,
                } => {
                    let already: bool = tx
                        .prepare_cached("SELECT count(*) FROM receipts WHERE entry_seq = ?1")
                        .and_then(|mut s| s.query_row([*seq as i64], |r| r.get::<_, i64>(0)))
                        .map_err(db::store_err)?
                        > 0;
                    // A re-submitted entry (after a log rollover) keeps its old receipt; the new
                    // origin's receipt is kept beside it.
                    let renewal = if already {
                        super::rollover::awaiting_renewal(&tx, *seq)?
                    } else {
                        None
                    };
                    if let Some(rollover_id) = renewal {
                        let flat: Vec<u8> = proof.iter().flatten().copied().collect();
                        tx.prepare_cached(
                            "INSERT INTO renewed_receipts (rollover_id, entry_seq, status,
                                 leaf_index, tree_size, inclusion_proof, checkpoint, code, message,
                                 received_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                rollover_id,
                                *seq as i64,
                                status.as_str(),
                                *leaf_index as i64,
                                *tree_size as i64,
                                flat,
                                checkpoint,
                                code,
                                message,
                                now
                            ])
                        })
                        .map_err(db::store_err)?;
                    }
                    if !already {
                        let flat: Vec<u8> = proof.iter().flatten().copied().collect();
                        tx.prepare_cached(
                            "INSERT INTO receipts (entry_seq, status, leaf_index, tree_size,
                                 inclusion_proof, checkpoint, code, message, received_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                *seq as i64,
                                status.as_str(),
                                *leaf_index as i64,
                                *tree_size as i64,
                                flat,
                                checkpoint,
                                code,
                                message,
                                now
                            ])
                        })
                        .map_err(db::store_err)?;
                    }
                    tx.prepare_cached("DELETE FROM outbox WHERE entry_seq = ?1")
                        .and_then(|mut s| s.execute([*seq as i64]))
                        .map_err(db::store_err)?;
                }
                EntryResult::Blocked { seq, code, message } => {
                    tx.prepare_cached(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE entry_seq = ?1",
                    )
                    .and_then(|mut s| s.execute(params![*seq as i64, format!("{code}: {message}")]))
                    .map_err(db::store_err)?;
                }
            }
        }
        tx.commit().map_err(db::store_err)
    }

    /// The receipt of an entry, if it has one: after a log rollover, the new origin's receipt of a
    /// re-submitted entry (the old one stays stored).
    pub fn receipt(&self, seq: u64) -> Result<Option<StoredReceipt>> {
        let conn = lock(&self.reader);
        let row = conn
            .query_row(
                // The newest renewal (after a log rollover), else the first receipt.
                "SELECT r.status, r.leaf_index, r.tree_size, r.inclusion_proof, r.checkpoint, r.code,
                        r.message, l.hash
                 FROM (SELECT entry_seq, status, leaf_index, tree_size, inclusion_proof, checkpoint,
                              code, message, rollover_id AS version FROM renewed_receipts
                       UNION ALL
                       SELECT entry_seq, status, leaf_index, tree_size, inclusion_proof, checkpoint,
                              code, message, 0 FROM receipts) r
                 JOIN ledger l ON l.seq = r.entry_seq WHERE r.entry_seq = ?1
                 ORDER BY r.version DESC LIMIT 1",
                [seq as i64],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, Vec<u8>>(7)?,
                    ))
                },
            )
            .optional()
            .map_err(db::store_err)?;
        let Some((status, leaf, size, proof, checkpoint, code, message, hash)) = row else {
            return Ok(None);
        };
        let status = match status.as_str() {
            "accepted" => ReceiptStatus::Accepted,
            "duplicate" => ReceiptStatus::Duplicate,
            "refused" => ReceiptStatus::Refused,
            other => return Err(corrupt(&format!("回执状态 {other} 无法识别"))),
        };
        Ok(Some(StoredReceipt {
            entry_seq: seq,
            entry_hash: hex::encode(hash),
            status,
            leaf_index: leaf as u64,
            tree_size: size as u64,
            inclusion_proof: proof.chunks(32).map(hex::encode).collect(),
            checkpoint,
            code,
            message,
        }))
    }

    /// Number of stored receipts.
    pub fn receipt_count(&self) -> Result<u64> {
        let conn = lock(&self.reader);
        conn.query_row("SELECT count(*) FROM receipts", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db::store_err)
    }

    /// Entries refused (with a receipt) and entries blocked in the outbox (without), with reasons.
    pub fn entry_problems(&self) -> Result<Vec<EntryProblem>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare(
                "SELECT l.seq, l.kind, l.case_id, r.code, r.message, 1 FROM receipts r
                     JOIN ledger l ON l.seq = r.entry_seq WHERE r.status = 'refused'
                 UNION ALL
                 SELECT l.seq, l.kind, l.case_id, NULL, o.last_error, 0 FROM outbox o
                     JOIN ledger l ON l.seq = o.entry_seq WHERE o.last_error IS NOT NULL
                 ORDER BY 1",
            )
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err)?;
        Ok(rows
            .into_iter()
            .map(|(seq, kind, case_id, code, message, receipt)| {
                let message = message.unwrap_or_default();
                let (code, message) = match code {
                    Some(c) => (c, message),
                    None => match message.split_once(": ") {
                        Some((c, m)) => (c.to_string(), m.to_string()),
                        None => ("UNKNOWN".to_string(), message),
                    },
                };
                EntryProblem {
                    entry_seq: seq as u64,
                    kind,
                    case_id,
                    code,
                    message,
                    has_receipt: receipt == 1,
                }
            })
            .collect())
    }

    /// The newest checkpoint this device has verified.
    pub fn latest_checkpoint(&self) -> Result<Option<SeenCheckpoint>> {
        self.checkpoint_query(
            "SELECT size, root, note FROM checkpoints_seen ORDER BY size DESC LIMIT 1",
            None,
        )
    }

    /// The verified checkpoint of exactly `size`, if seen.
    pub fn checkpoint_seen(&self, size: u64) -> Result<Option<SeenCheckpoint>> {
        self.checkpoint_query(
            "SELECT size, root, note FROM checkpoints_seen WHERE size = ?1",
            Some(size),
        )
    }

    fn checkpoint_query(&self, sql: &str, size: Option<u64>) -> Result<Option<SeenCheckpoint>> {
        let conn = lock(&self.reader);
        let mut stmt = conn.prepare_cached(sql).map_err(db::store_err)?;
        let map = |r: &rusqlite::Row| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, String>(2)?,
            ))
        };
        let row = match size {
            Some(s) => stmt.query_row([s as i64], map),
            None => stmt.query_row([], map),
        }
        .optional()
        .map_err(db::store_err)?;
        row.map(|(size, root, note)| {
            Ok(SeenCheckpoint {
                size: size as u64,
                root: root
                    .try_into()
                    .map_err(|_| corrupt("检查点根哈希长度错误"))?,
                note,
            })
        })
        .transpose()
    }

    /// Remember a verified checkpoint (consistent with every one seen before).
    pub fn record_checkpoint(&self, cp: &SeenCheckpoint) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        tx.execute(
            "INSERT OR IGNORE INTO checkpoints_seen (size, root, note, seen_at) VALUES (?1, ?2, ?3, ?4)",
            params![cp.size as i64, &cp.root[..], cp.note, now_rfc3339(Utc::now())],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)
    }

    /// Record a misbehaviour of the log (kept forever; sync stays stopped).
    pub fn record_log_alarm(
        &self,
        code: &str,
        message: &str,
        old_note: Option<&str>,
        new_note: Option<&str>,
    ) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        tx.execute(
            "INSERT INTO log_alarms (detected_at, code, message, old_note, new_note) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now_rfc3339(Utc::now()), code, message, old_note, new_note],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)
    }

    /// Every recorded log alarm, oldest first.
    pub fn log_alarms(&self) -> Result<Vec<LogAlarm>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare("SELECT detected_at, code, message FROM log_alarms ORDER BY id")
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LogAlarm {
                    detected_at: r.get(0)?,
                    code: r.get(1)?,
                    message: r.get(2)?,
                })
            })
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err)?;
        Ok(rows)
    }

    /// Evidence files not yet fully uploaded, in declaration order.
    pub fn pending_uploads(&self) -> Result<Vec<PendingUpload>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare(
                "SELECT e.id, e.path, e.sha256, e.size, coalesce(u.upload_offset, 0), u.upload_url,
                        u.last_error,
                        EXISTS (SELECT 1 FROM receipts r WHERE r.entry_seq = e.entry_seq
                                AND r.status IN ('accepted', 'duplicate'))
                 FROM evidence e LEFT JOIN uploads u ON u.evidence_id = e.id
                 WHERE coalesce(u.done, 0) = 0 ORDER BY e.entry_seq",
            )
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PendingUpload {
                    evidence_id: r.get(0)?,
                    path: r.get(1)?,
                    sha256: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    offset: r.get::<_, i64>(4)? as u64,
                    upload_url: r.get(5)?,
                    last_error: r.get(6)?,
                    declared_on_server: r.get(7)?,
                })
            })
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err)?;
        Ok(rows)
    }

    fn upsert_upload(
        &self,
        evidence_id: &str,
        sql_set: &str,
        value: rusqlite::types::Value,
    ) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        let now = now_rfc3339(Utc::now());
        tx.execute(
            "INSERT OR IGNORE INTO uploads (evidence_id, updated_at) VALUES (?1, ?2)",
            params![evidence_id, now],
        )
        .map_err(db::store_err)?;
        tx.execute(
            &format!("UPDATE uploads SET {sql_set}, updated_at = ?2 WHERE evidence_id = ?1"),
            params![evidence_id, now, value],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)
    }

    /// The tus upload URL the server created for an evidence file (offset back to 0).
    pub fn set_upload_url(&self, evidence_id: &str, url: Option<&str>) -> Result<()> {
        self.upsert_upload(
            evidence_id,
            "upload_url = ?3, upload_offset = 0",
            match url {
                Some(u) => rusqlite::types::Value::Text(u.to_string()),
                None => rusqlite::types::Value::Null,
            },
        )
    }

    /// The offset the server confirmed.
    pub fn set_upload_offset(&self, evidence_id: &str, offset: u64) -> Result<()> {
        self.upsert_upload(
            evidence_id,
            "upload_offset = ?3, last_error = NULL",
            rusqlite::types::Value::Integer(offset as i64),
        )
    }

    /// The server holds the whole object.
    pub fn mark_upload_done(&self, evidence_id: &str, size: u64) -> Result<()> {
        self.upsert_upload(
            evidence_id,
            "upload_offset = ?3, done = 1, last_error = NULL",
            rusqlite::types::Value::Integer(size as i64),
        )
    }

    /// Why the last attempt failed (`CODE: message`).
    pub fn set_upload_error(&self, evidence_id: &str, error: &str) -> Result<()> {
        self.upsert_upload(
            evidence_id,
            "last_error = ?3",
            rusqlite::types::Value::Text(error.to_string()),
        )
    }

    /// Number of evidence files uploaded completely.
    pub fn uploads_done(&self) -> Result<u64> {
        let conn = lock(&self.reader);
        conn.query_row("SELECT count(*) FROM uploads WHERE done = 1", [], |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n as u64)
        .map_err(db::store_err)
    }

    /// A small sync value (`last_sync_at`, `last_error`, `clock_offset_secs`, …).
    pub fn sync_value(&self, key: &str) -> Result<Option<String>> {
        let conn = lock(&self.reader);
        conn.query_row("SELECT v FROM sync_state WHERE k = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(db::store_err)
    }

    /// Set (or with `None`, clear) small sync values, together.
    pub fn set_sync_values(&self, values: &[(&str, Option<&str>)]) -> Result<()> {
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        for (k, v) in values {
            match v {
                Some(v) => tx.execute(
                    "INSERT INTO sync_state (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                    params![k, v],
                ),
                None => tx.execute("DELETE FROM sync_state WHERE k = ?1", [k]),
            }
            .map_err(db::store_err)?;
        }
        tx.commit().map_err(db::store_err)
    }

    /// Stored bundle components, by name.
    pub fn bundle_components(&self) -> Result<Vec<BundleComponent>> {
        let conn = lock(&self.reader);
        let mut stmt = conn
            .prepare("SELECT name, version, sha256, body FROM bundle_components ORDER BY name")
            .map_err(db::store_err)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(BundleComponent {
                    name: r.get(0)?,
                    version: r.get(1)?,
                    sha256: r.get(2)?,
                    body: r.get(3)?,
                })
            })
            .map_err(db::store_err)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db::store_err)?;
        Ok(rows)
    }

    /// Replace bundle components (already verified) and the manifest they came from, together.
    pub fn save_bundle(&self, manifest: &str, components: &[BundleComponent]) -> Result<()> {
        let now = now_rfc3339(Utc::now());
        let mut conn = lock(&self.writer);
        let tx = begin(&mut conn)?;
        for c in components {
            tx.execute(
                "INSERT INTO bundle_components (name, version, sha256, body, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version,
                     sha256 = excluded.sha256, body = excluded.body, fetched_at = excluded.fetched_at",
                params![c.name, c.version, c.sha256, c.body, now],
            )
            .map_err(db::store_err)?;
        }
        tx.execute(
            "INSERT INTO sync_state (k, v) VALUES ('bundle_manifest', ?1)
             ON CONFLICT (k) DO UPDATE SET v = excluded.v",
            [manifest],
        )
        .map_err(db::store_err)?;
        tx.commit().map_err(db::store_err)
    }
}
