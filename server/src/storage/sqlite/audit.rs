//! SQLite: the self-audit's reads and its kept findings.

use super::*;

#[async_trait]
impl AuditStore for SqliteStorage {
    async fn audit_entries(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT e.hash, e.device_id, e.seq, e.leaf_index, e.agency, e.kind, e.case_id, e.at, \
                 e.officers, e.bytes, e.sig, \
                 EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash) \
                 FROM entries e WHERE e.leaf_index >= ?1 AND e.leaf_index < ?2 ORDER BY e.leaf_index",
            )?;
            let rows = stmt.query_map(params![i64_of(from)?, i64_of(to)?], |r| {
                Ok((
                    AuditEntry {
                        hash: r.get(0)?,
                        device_id: r.get(1)?,
                        seq: r.get(2)?,
                        leaf_index: 0,
                        agency: r.get(4)?,
                        kind: r.get(5)?,
                        case_id: r.get(6)?,
                        at: r.get(7)?,
                        officers: r.get(8)?,
                        bytes: r.get(9)?,
                        sig: r.get(10)?,
                        refused: r.get(11)?,
                    },
                    r.get::<_, i64>(3)?,
                ))
            })?;
            rows.map(|row| {
                let (mut e, leaf) = row?;
                e.leaf_index = u64_of(leaf)?;
                Ok(e)
            })
            .collect()
        })
        .await
    }

    async fn audit_devices(&self) -> Result<Vec<Device>> {
        self.read(|c| {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id");
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map([], device_row)?;
            rows.map(|r| finish_device(r?)).collect()
        })
        .await
    }

    async fn audit_cases(&self) -> Result<Vec<AuditCase>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, agency, status, opened_at FROM cases ORDER BY id")?;
            let rows = stmt.query_map([], |r| {
                Ok(AuditCase {
                    id: r.get(0)?,
                    agency: r.get(1)?,
                    status: r.get(2)?,
                    opened_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn audit_rows(
        &self,
        hashes: &[[u8; 32]],
    ) -> Result<(Vec<AuditRecord>, Vec<AuditEvidence>)> {
        let hashes = hashes.to_vec();
        self.read(move |c| {
            let mut records = Vec::new();
            let mut evidence = Vec::new();
            for part in hashes.chunks(500) {
                let keys = part.iter().map(|h| &h[..]);
                let sql = format!(
                    "SELECT entry_hash, case_id, agency, kind, supersedes, superseded_by, body \
                     FROM records WHERE entry_hash IN ({})",
                    in_list(part.len())
                );
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(keys.clone()), |r| {
                    Ok(AuditRecord {
                        entry_hash: r.get(0)?,
                        case_id: r.get(1)?,
                        agency: r.get(2)?,
                        kind: r.get(3)?,
                        supersedes: r.get(4)?,
                        superseded_by: r.get(5)?,
                        body: r.get(6)?,
                    })
                })?;
                records.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
                let sql = format!(
                    "SELECT entry_hash, case_id, agency, sha256, size, voided_by, body \
                     FROM evidence WHERE entry_hash IN ({})",
                    in_list(part.len())
                );
                let mut stmt = c.prepare(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(keys), |r| {
                    Ok(AuditEvidence {
                        entry_hash: r.get(0)?,
                        case_id: r.get(1)?,
                        agency: r.get(2)?,
                        sha256: r.get(3)?,
                        size: r.get(4)?,
                        voided_by: r.get(5)?,
                        body: r.get(6)?,
                    })
                })?;
                evidence.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
            }
            Ok((records, evidence))
        })
        .await
    }

    async fn audit_orphan_rows(&self) -> Result<Vec<AuditOrphan>> {
        self.read(|c| {
            let mut stmt = c.prepare(AUDIT_ORPHANS_SQL)?;
            let rows = stmt.query_map([], |r| {
                Ok(AuditOrphan {
                    table: r.get(0)?,
                    entry_hash: r.get(1)?,
                    agency: r.get(2)?,
                    case_id: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn audit_marks(&self) -> Result<Vec<AuditMark>> {
        self.read(|c| {
            let mut stmt = c.prepare(AUDIT_MARKS_SQL)?;
            let rows = stmt.query_map([], |r| {
                Ok(AuditMark {
                    table: r.get(0)?,
                    entry_hash: r.get(1)?,
                    by: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn put_audit_holds(&self, holds: &[AuditHold]) -> Result<()> {
        let holds = holds.to_vec();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM audit_holds", [])?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO audit_holds (code, agency, case_id, entry_hash, detail, found_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for h in &holds {
                    insert.execute(params![
                        h.code,
                        h.agency,
                        h.case_id,
                        h.entry_hash,
                        h.detail,
                        h.found_at
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn audit_holds(&self, agencies: &[String]) -> Result<Vec<AuditHold>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            let sql = format!(
                "SELECT code, agency, case_id, entry_hash, detail, found_at FROM audit_holds \
                 WHERE agency IS NULL{} ORDER BY id",
                if keys.is_empty() {
                    String::new()
                } else {
                    format!(" OR agency IN ({})", in_list(keys.len()))
                }
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), |r| {
                Ok(AuditHold {
                    code: r.get(0)?,
                    agency: r.get(1)?,
                    case_id: r.get(2)?,
                    entry_hash: r.get(3)?,
                    detail: r.get(4)?,
                    found_at: r.get(5)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }
}
