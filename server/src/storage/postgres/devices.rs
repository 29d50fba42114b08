//! PostgreSQL: enrolment codes and devices.

use super::*;

#[async_trait]
impl DeviceStore for PgStorage {
    async fn create_enrolment_code(&self, c: &EnrolmentCode) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO enrolment_codes (code_hash, agency, certificate_no, created_by, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[&&c.code_hash[..], &c.agency, &c.certificate_no, &c.created_by, &c.expires_at],
            )
            .await?;
        Ok(())
    }

    async fn enrol_device(
        &self,
        code_hash: &[u8; 32],
        now: &str,
        device: Device,
        token_hash: &[u8; 32],
    ) -> Result<EnrolOutcome> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let code = tx
            .query_opt(
                "SELECT agency, certificate_no, expires_at, used_at FROM enrolment_codes \
                 WHERE code_hash = $1 FOR UPDATE",
                &[&&code_hash[..]],
            )
            .await?;
        let Some(code) = code else {
            return Ok(EnrolOutcome::CodeUnknown);
        };
        let (agency, certificate_no, expires_at, used_at): (
            String,
            String,
            String,
            Option<String>,
        ) = (code.get(0), code.get(1), code.get(2), code.get(3));
        if used_at.is_some() {
            return Ok(EnrolOutcome::CodeUsed);
        }
        if expires_at.as_str() <= now {
            return Ok(EnrolOutcome::CodeExpired);
        }
        let taken = tx
            .query_opt(
                "SELECT 1 FROM devices WHERE public_key = $1",
                &[&device.public_key],
            )
            .await?
            .is_some();
        if taken {
            return Ok(EnrolOutcome::KeyTaken);
        }
        let device = Device {
            agency,
            certificate_no,
            enrolled_at: now.to_string(),
            ..device
        };
        let inserted = tx
            .execute(
                "INSERT INTO devices (id, public_key, agency, certificate_no, name, token_hash, enrolled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (public_key) DO NOTHING",
                &[&device.id, &device.public_key, &device.agency, &device.certificate_no, &device.name, &&token_hash[..], &now],
            )
            .await?;
        if inserted == 0 {
            return Ok(EnrolOutcome::KeyTaken);
        }
        tx.execute(
            "UPDATE enrolment_codes SET used_at = $1, device_id = $2 WHERE code_hash = $3",
            &[&now, &device.id, &&code_hash[..]],
        )
        .await?;
        tx.commit().await?;
        Ok(EnrolOutcome::Enrolled(Box::new(device)))
    }

    async fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<Device>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1");
        self.pool
            .get()
            .await?
            .query_opt(&sql, &[&&token_hash[..]])
            .await?
            .as_ref()
            .map(device_of)
            .transpose()
    }

    async fn devices(&self, agencies: &[String]) -> Result<Vec<Device>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE agency = ANY($1) ORDER BY enrolled_at"
        );
        let rows = self.pool.get().await?.query(&sql, &[&agencies]).await?;
        rows.iter().map(device_of).collect()
    }

    async fn revoke_device(&self, id: &str, agencies: &[String], now: &str) -> Result<bool> {
        let c = self.pool.get().await?;
        let found = c
            .query_opt(
                "SELECT 1 FROM devices WHERE id = $1 AND agency = ANY($2)",
                &[&id, &agencies],
            )
            .await?
            .is_some();
        if found {
            c.execute(
                "UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &[&now, &id],
            )
            .await?;
        }
        Ok(found)
    }

    async fn signer_device(&self, device: Device, token_hash: &[u8; 32]) -> Result<Device> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO devices (id, public_key, agency, certificate_no, name, token_hash, enrolled_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                &[&device.id, &device.public_key, &device.agency, &device.certificate_no, &device.name, &&token_hash[..], &device.enrolled_at],
            )
            .await?;
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
        device_of(&client.query_one(&sql, &[&device.id]).await?)
    }
}
