//! SQLite: document number leases and the agencies' prefixes.

use super::*;
use crate::storage::numbers::{next_block, prefix_or_name};
use roadside_core::steps::NumberBlock;

#[async_trait]
impl NumberStore for SqliteStorage {
    async fn lease_numbers(
        &self,
        agency: &str,
        year: i32,
        size: u64,
        device_id: &str,
        leased_at: &str,
    ) -> Result<LeaseOutcome> {
        let (agency, device_id, leased_at) = (
            agency.to_string(),
            device_id.to_string(),
            leased_at.to_string(),
        );
        self.write(move |c| {
            // The single writer, taken at BEGIN: no other lease can read the same highest serial.
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let found: Option<(String, Option<String>)> = tx
                .query_row(
                    "SELECT name, doc_prefix FROM agencies WHERE code = ?1",
                    [&agency],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((name, prefix)) = found else {
                return Ok(LeaseOutcome::UnknownAgency);
            };
            let highest: Option<i64> = tx.query_row(
                "SELECT MAX(last) FROM number_leases WHERE agency = ?1 AND year = ?2",
                params![agency, year],
                |r| r.get(0),
            )?;
            let Some((first, last)) = next_block(u64_of(highest.unwrap_or(0))?, size) else {
                return Ok(LeaseOutcome::Exhausted);
            };
            tx.execute(
                "INSERT INTO number_leases (agency, year, first, last, device_id, leased_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    agency,
                    year,
                    i64_of(first)?,
                    i64_of(last)?,
                    device_id,
                    leased_at
                ],
            )?;
            tx.commit()?;
            Ok(LeaseOutcome::Leased(NumberBlock {
                prefix: prefix_or_name(prefix, &name),
                agency,
                year,
                first,
                last,
                agency_name: name,
            }))
        })
        .await
    }

    async fn number_leases(&self, agency: &str, year: i32) -> Result<Vec<NumberLease>> {
        let agency = agency.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare(
                "SELECT first, last, device_id, leased_at FROM number_leases \
                 WHERE agency = ?1 AND year = ?2 ORDER BY first",
            )?;
            let rows = stmt.query_map(params![agency, year], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            rows.map(|r| {
                let (first, last, device_id, leased_at) = r?;
                Ok(NumberLease {
                    agency: agency.clone(),
                    year,
                    first: u64_of(first)?,
                    last: u64_of(last)?,
                    device_id,
                    leased_at,
                })
            })
            .collect()
        })
        .await
    }

    async fn set_doc_prefix(&self, agency: &str, prefix: Option<&str>) -> Result<bool> {
        let (agency, prefix) = (agency.to_string(), prefix.map(str::to_string));
        self.write(move |c| {
            Ok(c.execute(
                "UPDATE agencies SET doc_prefix = ?1 WHERE code = ?2",
                params![prefix, agency],
            )? == 1)
        })
        .await
    }
}
