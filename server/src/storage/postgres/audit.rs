//! PostgreSQL: the self-audit's reads and its kept findings.

use super::*;

#[async_trait]
impl AuditStore for PgStorage {
    async fn audit_entries(&self, from: u64, to: u64) -> Result<Vec<AuditEntry>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT e.hash, e.device_id, e.seq, e.leaf_index, e.agency, e.kind, e.case_id, e.at, \
                 e.officers, e.bytes, e.sig, \
                 EXISTS (SELECT 1 FROM entry_refusals r WHERE r.entry_hash = e.hash) \
                 FROM entries e WHERE e.leaf_index >= $1 AND e.leaf_index < $2 ORDER BY e.leaf_index",
                &[&i64_of(from)?, &i64_of(to)?],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    hash: r.get(0),
                    device_id: r.get(1),
                    seq: r.get(2),
                    leaf_index: u64_of(r.get(3))?,
                    agency: r.get(4),
                    kind: r.get(5),
                    case_id: r.get(6),
                    at: r.get(7),
                    officers: r.get(8),
                    bytes: r.get(9),
                    sig: r.get(10),
                    refused: r.get(11),
                })
            })
            .collect()
    }

    async fn audit_devices(&self) -> Result<Vec<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id");
        let rows = self.pool.get().await?.query(&sql, &[]).await?;
        rows.iter().map(device_of).collect()
    }

    async fn audit_cases(&self) -> Result<Vec<AuditCase>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT id, agency, status, opened_at FROM cases ORDER BY id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditCase {
                id: r.get(0),
                agency: r.get(1),
                status: r.get(2),
                opened_at: r.get(3),
            })
            .collect())
    }

    async fn audit_rows(
        &self,
        hashes: &[[u8; 32]],
    ) -> Result<(Vec<AuditRecord>, Vec<AuditEvidence>)> {
        let keys: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
        let c = self.pool.get().await?;
        let records = c
            .query(
                "SELECT entry_hash, case_id, agency, kind, supersedes, superseded_by, body \
                 FROM records WHERE entry_hash = ANY($1)",
                &[&keys],
            )
            .await?
            .iter()
            .map(|r| AuditRecord {
                entry_hash: r.get(0),
                case_id: r.get(1),
                agency: r.get(2),
                kind: r.get(3),
                supersedes: r.get(4),
                superseded_by: r.get(5),
                body: r.get(6),
            })
            .collect();
        let evidence = c
            .query(
                "SELECT entry_hash, case_id, agency, sha256, size, voided_by, body \
                 FROM evidence WHERE entry_hash = ANY($1)",
                &[&keys],
            )
            .await?
            .iter()
            .map(|r| AuditEvidence {
                entry_hash: r.get(0),
                case_id: r.get(1),
                agency: r.get(2),
                sha256: r.get(3),
                size: r.get(4),
                voided_by: r.get(5),
                body: r.get(6),
            })
            .collect();
        Ok((records, evidence))
    }

    async fn audit_orphan_rows(&self) -> Result<Vec<AuditOrphan>> {
        let rows = self.pool.get().await?.query(AUDIT_ORPHANS_SQL, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| AuditOrphan {
                table: r.get(0),
                entry_hash: r.get(1),
                agency: r.get(2),
                case_id: r.get(3),
            })
            .collect())
    }

    async fn audit_marks(&self) -> Result<Vec<AuditMark>> {
        let rows = self.pool.get().await?.query(AUDIT_MARKS_SQL, &[]).await?;
        Ok(rows
            .iter()
            .map(|r| AuditMark {
                table: r.get(0),
                entry_hash: r.get(1),
                by: r.get(2),
            })
            .collect())
    }

    async fn put_audit_holds(&self, holds: &[AuditHold]) -> Result<()> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        tx.execute("DELETE FROM audit_holds", &[]).await?;
        let insert = tx
            .prepare(
                "INSERT INTO audit_holds (code, agency, case_id, entry_hash, detail, found_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .await?;
        for h in holds {
            tx.execute(
                &insert,
                &[
                    &h.code,
                    &h.agency,
                    &h.case_id,
                    &h.entry_hash,
                    &h.detail,
                    &h.found_at,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn audit_holds(&self, agencies: &[String]) -> Result<Vec<AuditHold>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT code, agency, case_id, entry_hash, detail, found_at FROM audit_holds \
                 WHERE agency IS NULL OR agency = ANY($1) ORDER BY id",
                &[&agencies],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| AuditHold {
                code: r.get(0),
                agency: r.get(1),
                case_id: r.get(2),
                entry_hash: r.get(3),
                detail: r.get(4),
                found_at: r.get(5),
            })
            .collect())
    }
}
