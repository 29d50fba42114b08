//! SQLite: enrolment codes and devices.

use super::*;

#[async_trait]
impl DeviceStore for SqliteStorage {
    async fn create_enrolment_code(&self, code: &EnrolmentCode) -> Result<()> {
        let code = code.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO enrolment_codes (code_hash, agency, certificate_no, created_by, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&code.code_hash[..], code.agency, code.certificate_no, code.created_by, code.expires_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn enrol_device(
        &self,
        code_hash: &[u8; 32],
        now: &str,
        device: Device,
        token_hash: &[u8; 32],
    ) -> Result<EnrolOutcome> {
        let (code_hash, now, token_hash) = (*code_hash, now.to_string(), *token_hash);
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let code: Option<(String, String, String, Option<String>)> = tx
                .query_row(
                    "SELECT agency, certificate_no, expires_at, used_at FROM enrolment_codes WHERE code_hash = ?1",
                    [&code_hash[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((agency, certificate_no, expires_at, used_at)) = code else {
                return Ok(EnrolOutcome::CodeUnknown);
            };
            if used_at.is_some() {
                return Ok(EnrolOutcome::CodeUsed);
            }
            if expires_at <= now {
                return Ok(EnrolOutcome::CodeExpired);
            }
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM devices WHERE public_key = ?1)",
                [&device.public_key],
                |r| r.get(0),
            )?;
            if taken {
                return Ok(EnrolOutcome::KeyTaken);
            }
            let device = Device {
                agency,
                certificate_no,
                enrolled_at: now.clone(),
                ..device
            };
            tx.execute(
                "INSERT INTO devices (id, public_key, agency, certificate_no, name, token_hash, enrolled_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![device.id, device.public_key, device.agency, device.certificate_no, device.name, &token_hash[..], now],
            )?;
            tx.execute(
                "UPDATE enrolment_codes SET used_at = ?1, device_id = ?2 WHERE code_hash = ?3",
                params![now, device.id, &code_hash[..]],
            )?;
            tx.commit()?;
            Ok(EnrolOutcome::Enrolled(Box::new(device)))
        })
        .await
    }

    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Device>> {
        let t = *token_hash;
        self.read(move |c| {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?1");
            c.query_row(&sql, [&t[..]], device_row)
                .optional()?
                .map(finish_device)
                .transpose()
        })
        .await
    }

    async fn devices(&self, agencies: &[String]) -> Result<Vec<Device>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE agency IN ({}) ORDER BY enrolled_at",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), device_row)?;
            rows.map(|r| finish_device(r?)).collect()
        })
        .await
    }

    async fn revoke_device(&self, id: &str, agencies: &[String], now: &str) -> Result<bool> {
        let (id, keys, now) = (id.to_string(), agencies.to_vec(), now.to_string());
        self.write(move |c| {
            let Some((agency, revoked)) = c
                .query_row(
                    "SELECT agency, revoked_at FROM devices WHERE id = ?1",
                    [&id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
                )
                .optional()?
            else {
                return Ok(false);
            };
            if !keys.contains(&agency) {
                return Ok(false);
            }
            if revoked.is_none() {
                c.execute(
                    "UPDATE devices SET revoked_at = ?1 WHERE id = ?2",
                    params![now, id],
                )?;
            }
            Ok(true)
        })
        .await
    }

    async fn signer_device(&self, device: Device, token_hash: &[u8; 32]) -> Result<Device> {
        let token_hash = *token_hash;
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO devices (id, public_key, agency, certificate_no, name, token_hash, enrolled_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                params![device.id, device.public_key, device.agency, device.certificate_no, device.name, &token_hash[..], device.enrolled_at],
            )?;
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1");
            let stored = finish_device(tx.query_row(&sql, [&device.id], device_row)?)?;
            tx.commit()?;
            Ok(stored)
        })
        .await
    }
}
