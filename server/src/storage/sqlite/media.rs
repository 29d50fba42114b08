//! SQLite: media uploads and objects.

use super::*;

#[async_trait]
impl MediaStore for SqliteStorage {
    async fn evidence_sizes(&self, agencies: &[String], sha256: &str) -> Result<Vec<u64>> {
        let (keys, sha) = (agencies.to_vec(), sha256.to_string());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT DISTINCT size FROM evidence WHERE sha256 = ?1 AND size IS NOT NULL \
                 AND agency IN ({}) ORDER BY size",
                (2..keys.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let mut stmt = c.prepare(&sql)?;
            let params = std::iter::once(&sha).chain(keys.iter());
            let rows =
                stmt.query_map(rusqlite::params_from_iter(params), |r| r.get::<_, i64>(0))?;
            rows.map(|r| u64_of(r?)).collect()
        })
        .await
    }

    async fn create_upload(&self, u: &MediaUpload) -> Result<()> {
        let u = u.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO media_uploads (id, agency, device_id, sha256, length, upload_offset, \
                 hash_state, parts, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    u.id,
                    u.agency,
                    u.device_id,
                    u.sha256,
                    i64_of(u.length)?,
                    i64_of(u.offset)?,
                    u.hash_state,
                    parts_text(&u.parts),
                    u.created_at,
                    u.expires_at
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn upload(&self, id: &str) -> Result<Option<MediaUpload>> {
        let id = id.to_string();
        self.read(move |c| {
            let sql = format!("SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE id = ?1");
            c.query_row(&sql, [id], upload_row)
                .optional()?
                .map(finish_upload_row)
                .transpose()
        })
        .await
    }

    async fn open_upload(
        &self,
        agency: &str,
        sha256: &str,
        now: &str,
    ) -> Result<Option<MediaUpload>> {
        let (agency, sha, now) = (agency.to_string(), sha256.to_string(), now.to_string());
        self.read(move |c| {
            let sql = format!(
                "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE agency = ?1 AND sha256 = ?2 \
                 AND (expires_at > ?3 OR upload_offset = length) ORDER BY created_at DESC LIMIT 1"
            );
            c.query_row(&sql, params![agency, sha, now], upload_row)
                .optional()?
                .map(finish_upload_row)
                .transpose()
        })
        .await
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
        let (id, state, expires) = (id.to_string(), hash_state.to_vec(), expires_at.to_string());
        let part = part
            .map(|p| parts_text(&[p.to_string()]))
            .unwrap_or_default();
        self.write(move |c| {
            let n = c.execute(
                "UPDATE media_uploads SET upload_offset = ?1, hash_state = ?2, expires_at = ?3, \
                 parts = parts || ?4 WHERE id = ?5 AND upload_offset = ?6",
                params![i64_of(to)?, state, expires, part, id, i64_of(from)?],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn delete_upload(&self, id: &str) -> Result<bool> {
        let id = id.to_string();
        self.write(move |c| Ok(c.execute("DELETE FROM media_uploads WHERE id = ?1", [id])? == 1))
            .await
    }

    async fn expired_uploads(&self, now: &str, limit: u32) -> Result<Vec<MediaUpload>> {
        let now = now.to_string();
        self.read(move |c| {
            let sql = format!(
                "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE expires_at <= ?1 \
                 AND upload_offset < length ORDER BY expires_at LIMIT ?2"
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params![now, limit], upload_row)?;
            rows.map(|r| finish_upload_row(r?)).collect()
        })
        .await
    }

    async fn complete_uploads(&self, limit: u32) -> Result<Vec<MediaUpload>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {UPLOAD_COLUMNS} FROM media_uploads WHERE upload_offset = length \
                 ORDER BY created_at LIMIT ?1"
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(params![limit], upload_row)?;
            rows.map(|r| finish_upload_row(r?)).collect()
        })
        .await
    }

    async fn restart_upload(&self, id: &str, hash_state: &[u8], expires_at: &str) -> Result<bool> {
        let (id, state, expires) = (id.to_string(), hash_state.to_vec(), expires_at.to_string());
        self.write(move |c| {
            let n = c.execute(
                "UPDATE media_uploads SET upload_offset = 0, hash_state = ?1, parts = '', \
                 expires_at = ?2 WHERE id = ?3 AND upload_offset = length",
                params![state, expires, id],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn finish_upload(&self, id: &str, o: &MediaObject) -> Result<()> {
        let (id, o) = (id.to_string(), o.clone());
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO media_objects (sha256, agency, size, stored_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (sha256, agency) DO NOTHING",
                params![o.sha256, o.agency, i64_of(o.size)?, o.stored_at],
            )?;
            tx.execute("DELETE FROM media_uploads WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn media_object(&self, agencies: &[String], sha256: &str) -> Result<Option<MediaObject>> {
        let (keys, sha) = (agencies.to_vec(), sha256.to_string());
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(None);
            }
            let sql = format!(
                "SELECT sha256, agency, size, stored_at FROM media_objects WHERE sha256 = ?1 \
                 AND agency IN ({}) ORDER BY stored_at LIMIT 1",
                (2..keys.len() + 2)
                    .map(|i| format!("?{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let params = std::iter::once(&sha).chain(keys.iter());
            let row: Option<(String, String, i64, String)> = c
                .query_row(&sql, rusqlite::params_from_iter(params), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            row.map(|(sha256, agency, size, stored_at)| {
                Ok(MediaObject {
                    sha256,
                    agency,
                    size: u64_of(size)?,
                    stored_at,
                })
            })
            .transpose()
        })
        .await
    }
}

// ---- Media uploads: row mapping ----

const UPLOAD_COLUMNS: &str = "id, agency, device_id, sha256, length, upload_offset, hash_state, \
     parts, created_at, expires_at";

type UploadRow = (MediaUpload, i64, i64, String);

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    Ok((
        MediaUpload {
            id: r.get(0)?,
            agency: r.get(1)?,
            device_id: r.get(2)?,
            sha256: r.get(3)?,
            length: 0,
            offset: 0,
            hash_state: r.get(6)?,
            parts: Vec::new(),
            created_at: r.get(8)?,
            expires_at: r.get(9)?,
        },
        r.get(4)?,
        r.get(5)?,
        r.get(7)?,
    ))
}

fn finish_upload_row((mut u, length, offset, parts): UploadRow) -> Result<MediaUpload> {
    u.length = u64_of(length)?;
    u.offset = u64_of(offset)?;
    u.parts = parts_of(&parts);
    Ok(u)
}
