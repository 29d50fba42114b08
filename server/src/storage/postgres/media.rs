//! PostgreSQL: media uploads and objects.

use super::*;

#[async_trait]
impl MediaStore for PgStorage {
    async fn evidence_sizes(&self, agencies: &[String], sha256: &str) -> Result<Vec<u64>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT DISTINCT size FROM evidence WHERE sha256 = $1 AND size IS NOT NULL \
                 AND agency = ANY($2) ORDER BY size",
                &[&sha256, &agencies],
            )
            .await?;
        rows.iter().map(|r| u64_of(r.get(0))).collect()
    }

    async fn create_upload(&self, u: &MediaUpload) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO media_uploads (id, agency, device_id, sha256, length, upload_offset, \
                 hash_state, parts, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    &u.id,
                    &u.agency,
                    &u.device_id,
                    &u.sha256,
                    &i64_of(u.length)?,
                    &i64_of(u.offset)?,
                    &u.hash_state,
                    &parts_text(&u.parts),
                    &u.created_at,
                    &u.expires_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn upload(&self, id: &str) -> Result<Option<MediaUpload>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE id = $1");
        let row = self.pool.get().await?.query_opt(&sql, &[&id]).await?;
        row.as_ref().map(upload_of).transpose()
    }

    async fn open_upload(
        &self,
        agency: &str,
        sha256: &str,
        now: &str,
    ) -> Result<Option<MediaUpload>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE agency = $1 AND sha256 = $2 \
             AND (expires_at > $3 OR upload_offset = length) ORDER BY created_at DESC LIMIT 1"
        );
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&agency, &sha256, &now])
            .await?;
        row.as_ref().map(upload_of).transpose()
    }

    async fn advance_upload(
        &self,
        id: &str,
        from: u64,
        to: u64,
        hash_state: &[u8],
        expires_at: &str,
        part: Option<&str>,
    ) -> Result<bool> {
        let part = part
            .map(|p| parts_text(&[p.to_string()]))
            .unwrap_or_default();
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE media_uploads SET upload_offset = $1, hash_state = $2, expires_at = $3, \
                 parts = parts || $4 WHERE id = $5 AND upload_offset = $6",
                &[
                    &i64_of(to)?,
                    &hash_state,
                    &expires_at,
                    &part,
                    &id,
                    &i64_of(from)?,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute("DELETE FROM media_uploads WHERE id = $1", &[&id])
            .await?;
        Ok(n == 1)
    }

    async fn expired_uploads(&self, now: &str, limit: u32) -> Result<Vec<MediaUpload>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE expires_at <= $1 \
             AND upload_offset < length ORDER BY expires_at LIMIT $2"
        );
        let rows = self
            .pool
            .get()
            .await?
            .query(&sql, &[&now, &i64::from(limit)])
            .await?;
        rows.iter().map(upload_of).collect()
    }

    async fn complete_uploads(&self, limit: u32) -> Result<Vec<MediaUpload>> {
        let sql = format!(
            "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE upload_offset = length \
             ORDER BY created_at LIMIT $1"
        );
        let rows = self
            .pool
            .get()
            .await?
            .query(&sql, &[&i64::from(limit)])
            .await?;
        rows.iter().map(upload_of).collect()
    }

    async fn restart_upload(&self, id: &str, hash_state: &[u8], expires_at: &str) -> Result<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE media_uploads SET upload_offset = 0, hash_state = $1, parts = '', \
                 expires_at = $2 WHERE id = $3 AND upload_offset = length",
                &[&hash_state, &expires_at, &id],
            )
            .await?;
        Ok(n == 1)
    }

    async fn finish_upload(&self, id: &str, o: &MediaObject) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO media_objects (sha256, agency, size, stored_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha256, agency) DO NOTHING",
            &[&o.sha256, &o.agency, &i64_of(o.size)?, &o.stored_at],
        )
        .await?;
        tx.execute("DELETE FROM media_uploads WHERE id = $1", &[&id])
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn media_object(&self, agencies: &[String], sha256: &str) -> Result<Option<MediaObject>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT sha256, agency, size, stored_at FROM media_objects WHERE sha256 = $1 \
                 AND agency = ANY($2) ORDER BY stored_at LIMIT 1",
                &[&sha256, &agencies],
            )
            .await?;
        row.map(|r| {
            Ok(MediaObject {
                sha256: r.get(0),
                agency: r.get(1),
                size: u64_of(r.get(2))?,
                stored_at: r.get(3),
            })
        })
        .transpose()
    }
}

// ---- Media uploads: row mapping ----

const UPLOAD_COLUMNS: &str = "id, agency, device_id, sha256, length, upload_offset, hash_state, \
     parts, created_at, expires_at";

fn upload_of(r: &Row) -> Result<MediaUpload> {
    let parts: String = r.get(7);
    Ok(MediaUpload {
        id: r.get(0),
        agency: r.get(1),
        device_id: r.get(2),
        sha256: r.get(3),
        length: u64_of(r.get(4))?,
        offset: u64_of(r.get(5))?,
        hash_state: r.get(6),
        parts: parts_of(&parts),
        created_at: r.get(8),
        expires_at: r.get(9),
    })
}
