//! PostgreSQL: document number leases and the agencies' prefixes.

use super::*;
use crate::storage::numbers::{next_block, prefix_or_name};
use roadside_core::steps::NumberBlock;

/// A serial as a PostgreSQL `INTEGER` (serials are at most 9999).
fn serial_i32(v: u64) -> Result<i32> {
    i32::try_from(v).map_err(|_| ApiError::storage("document serial beyond INTEGER"))
}

fn serial_of(v: i32) -> Result<u64> {
    u64::try_from(v).map_err(|_| ApiError::storage("negative document serial in database"))
}

#[async_trait]
impl NumberStore for PgStorage {
    async fn lease_numbers(
        &self,
        agency: &str,
        year: i32,
        size: u64,
        device_id: &str,
        leased_at: &str,
    ) -> Result<LeaseOutcome> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The agency's row locked: a lease on another replica waits here, then reads the block
        // this one wrote.
        let Some(row) = tx
            .query_opt(
                "SELECT name, doc_prefix FROM agencies WHERE code = $1 FOR UPDATE",
                &[&agency],
            )
            .await?
        else {
            return Ok(LeaseOutcome::UnknownAgency);
        };
        let (name, prefix): (String, Option<String>) = (row.get(0), row.get(1));
        let highest: Option<i32> = tx
            .query_one(
                "SELECT MAX(last) FROM number_leases WHERE agency = $1 AND year = $2",
                &[&agency, &year],
            )
            .await?
            .get(0);
        let Some((first, last)) = next_block(serial_of(highest.unwrap_or(0))?, size) else {
            return Ok(LeaseOutcome::Exhausted);
        };
        tx.execute(
            "INSERT INTO number_leases (agency, year, first, last, device_id, leased_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &agency,
                &year,
                &serial_i32(first)?,
                &serial_i32(last)?,
                &device_id,
                &leased_at,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(LeaseOutcome::Leased(NumberBlock {
            prefix: prefix_or_name(prefix, &name),
            agency: agency.to_string(),
            year,
            first,
            last,
            agency_name: name,
        }))
    }

    async fn number_leases(&self, agency: &str, year: i32) -> Result<Vec<NumberLease>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT first, last, device_id, leased_at FROM number_leases \
                 WHERE agency = $1 AND year = $2 ORDER BY first",
                &[&agency, &year],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(NumberLease {
                    agency: agency.to_string(),
                    year,
                    first: serial_of(r.get(0))?,
                    last: serial_of(r.get(1))?,
                    device_id: r.get(2),
                    leased_at: r.get(3),
                })
            })
            .collect()
    }

    async fn set_doc_prefix(&self, agency: &str, prefix: Option<&str>) -> Result<bool> {
        Ok(self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE agencies SET doc_prefix = $1 WHERE code = $2",
                &[&prefix, &agency],
            )
            .await?
            == 1)
    }
}
