//! Media objects and the byte side of resumable uploads (tus 1.0; the HTTP side is
//! `routes/media.rs`).
//!
//! Objects go through the `object_store` crate under their content address `evidence/<sha256 hex>`:
//! a local directory by default (`ROADSIDE_MEDIA_DIR`), any S3-compatible store when
//! `ROADSIDE_MEDIA_URL=s3://bucket[/prefix]` (with `ROADSIDE_S3_*`).
//!
//! Where the bytes of an unfinished upload wait:
//! - **Local directory**: one staging file per upload, `<media dir>/.uploads/<upload id>`, appended
//!   chunk by chunk (cut to the recorded offset first, `fsync`ed before the offset is recorded). On
//!   completion it is renamed to the object's path: no copy. The staging file lives on this server's
//!   disk, so a local-directory setup is for a single server process.
//! - **S3-compatible store**: each PATCH's bytes become one object `uploads/<upload id>/<offset>-<n>`
//!   (streamed with a multipart upload, never held whole in memory), and the part's name is recorded
//!   with the offset in the database in one conditional update. Any replica on the same database can
//!   continue an upload. On completion the parts are streamed, in the recorded order, into the final
//!   object with a multipart upload that is completed only if the bytes hash to the declared SHA-256
//!   (otherwise aborted: nothing becomes visible); then the parts are deleted.
//!
//! The whole-file SHA-256 is computed while the bytes arrive: its state ([`RunningSha256`], the eight
//! words, the byte count and the unfinished block) is stored with the offset after every chunk, so it
//! survives restarts and moves between replicas. The object is committed only when the final digest
//! equals the declared hash.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::digest::generic_array::GenericArray;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::{ApiError, Result};
use crate::storage::{MediaObject, MediaUpload, Storage};

/// The tus protocol version this server speaks.
pub const TUS_VERSION: &str = "1.0.0";
/// The tus extensions this server supports.
pub const TUS_EXTENSIONS: &str = "creation,checksum,termination,expiration";

const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A SHA-256 whose state can be saved between chunks (sha2 0.10's hasher cannot be serialised;
/// this uses its block function, so it is as fast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningSha256 {
    state: [u32; 8],
    len: u64,
    buf: [u8; 64],
    buf_len: usize,
}

impl Default for RunningSha256 {
    fn default() -> Self {
        RunningSha256 {
            state: SHA256_IV,
            len: 0,
            buf: [0; 64],
            buf_len: 0,
        }
    }
}

impl RunningSha256 {
    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.buf_len > 0 {
            let take = (64 - self.buf_len).min(data.len());
            self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
            self.buf_len += take;
            data = &data[take..];
            if self.buf_len < 64 {
                return;
            }
            sha2::compress256(
                &mut self.state,
                &[GenericArray::clone_from_slice(&self.buf)],
            );
            self.buf_len = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            sha2::compress256(&mut self.state, &[*GenericArray::from_slice(block)]);
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    pub fn finalize(&self) -> [u8; 32] {
        let mut state = self.state;
        let mut tail = [0u8; 128];
        tail[..self.buf_len].copy_from_slice(&self.buf[..self.buf_len]);
        tail[self.buf_len] = 0x80;
        let total = if self.buf_len < 56 { 64 } else { 128 };
        tail[total - 8..total].copy_from_slice(&(self.len.wrapping_mul(8)).to_be_bytes());
        for block in tail[..total].chunks_exact(64) {
            sha2::compress256(&mut state, &[*GenericArray::from_slice(block)]);
        }
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// `state (32 bytes BE) ‖ length (8 bytes BE) ‖ unfinished block (length mod 64 bytes)`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.buf_len);
        for w in self.state {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&self.buf[..self.buf_len]);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = || ApiError::storage("stored upload hash state is malformed");
        if bytes.len() < 40 {
            return Err(bad());
        }
        let mut state = [0u32; 8];
        for (w, c) in state.iter_mut().zip(bytes[..32].chunks_exact(4)) {
            *w = u32::from_be_bytes(c.try_into().map_err(|_| bad())?);
        }
        let len = u64::from_be_bytes(bytes[32..40].try_into().map_err(|_| bad())?);
        let rest = &bytes[40..];
        if rest.len() as u64 != len % 64 {
            return Err(bad());
        }
        let mut buf = [0u8; 64];
        buf[..rest.len()].copy_from_slice(rest);
        Ok(RunningSha256 {
            state,
            len,
            buf,
            buf_len: rest.len(),
        })
    }
}

fn store_error(what: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::internal("MEDIA_STORE_FAILED", format!("媒体存储{what}失败：{e}"))
}

/// The media object store and the staging of unfinished uploads.
pub struct Media {
    pub store: Arc<dyn ObjectStore>,
    /// Local directory store: its root (staging files live in `<root>/.uploads`).
    local: Option<Local>,
    /// Largest upload (`Tus-Max-Size`).
    pub max_size: u64,
    /// Largest PATCH body.
    pub max_chunk: u64,
    /// An unfinished upload expires this long after its last chunk.
    pub expiry: chrono::Duration,
    /// Where the objects are, for logs (`local:/path` or `s3://bucket`).
    pub description: String,
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

/// What completing an upload found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    Stored,
    /// The bytes do not hash to the declared SHA-256; nothing was stored.
    HashMismatch,
}

impl Media {
    /// The store the configuration names (see the module documentation).
    pub fn from_config(config: &Config) -> Result<Self> {
        let invalid = |m: String| ApiError::internal("MEDIA_URL_INVALID", m);
        let (store, local, description): (Arc<dyn ObjectStore>, _, String) =
            match config.media_url.as_deref().filter(|u| !u.is_empty()) {
                Some(url) if url.starts_with("s3://") => {
                    let rest = &url["s3://".len()..];
                    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                    if bucket.is_empty() {
                        return Err(invalid(format!("媒体存储地址 {url} 缺少存储桶名")));
                    }
                    let mut b = object_store::aws::AmazonS3Builder::new()
                        .with_bucket_name(bucket)
                        .with_region(config.s3_region.clone());
                    if let Some(ep) = config.s3_endpoint.as_deref().filter(|e| !e.is_empty()) {
                        b = b
                            .with_endpoint(ep)
                            .with_allow_http(ep.starts_with("http://"))
                            .with_virtual_hosted_style_request(false);
                    }
                    if let Some(k) = &config.s3_access_key_id {
                        b = b.with_access_key_id(k);
                    }
                    if let Some(s) = &config.s3_secret_access_key {
                        b = b.with_secret_access_key(s);
                    }
                    let s3 = b
                        .build()
                        .map_err(|e| invalid(format!("无法按 {url} 配置 S3 兼容存储：{e}")))?;
                    let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
                        Arc::new(s3)
                    } else {
                        Arc::new(object_store::prefix::PrefixStore::new(
                            s3,
                            prefix.trim_matches('/'),
                        ))
                    };
                    (store, None, url.to_string())
                }
                Some(url) if url.starts_with("file://") => {
                    let dir = PathBuf::from(&url["file://".len()..]);
                    let (s, l) = local_store(dir.clone())?;
                    (s, Some(l), format!("local:{}", dir.display()))
                }
                Some(url) => {
                    return Err(invalid(format!(
                        "不支持的媒体存储地址 {url}：应为 s3://存储桶[/前缀] 或 file:///目录"
                    )))
                }
                None => {
                    let dir = config.media_dir();
                    let (s, l) = local_store(dir.clone())?;
                    (s, Some(l), format!("local:{}", dir.display()))
                }
            };
        Ok(Media {
            store,
            local,
            max_size: config.media_max_size,
            max_chunk: config.media_max_chunk,
            expiry: chrono::Duration::seconds(
                i64::try_from(config.upload_expiry_secs).unwrap_or(i64::MAX / 1000),
            ),
            description,
            locks: Mutex::new(HashMap::new()),
        })
    }

    /// The object key of a content address.
    pub fn object_key(sha256_hex: &str) -> ObjectPath {
        ObjectPath::from("evidence").join(sha256_hex)
    }

    /// This process's lock on one upload (PATCH, HEAD and DELETE of an upload take turns).
    pub fn lock(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let Ok(mut map) = self.locks.lock() else {
            return Arc::new(tokio::sync::Mutex::new(()));
        };
        if let Some(l) = map.get(id).and_then(Weak::upgrade) {
            return l;
        }
        if map.len() > 1024 {
            map.retain(|_, w| w.strong_count() > 0);
        }
        let l = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(id.to_string(), Arc::downgrade(&l));
        l
    }

    fn staging_path(root: &std::path::Path, id: &str) -> PathBuf {
        root.join(".uploads").join(id)
    }

    fn part_prefix(id: &str) -> ObjectPath {
        ObjectPath::from("uploads").join(id)
    }

    /// Start receiving a chunk at `upload.offset`.
    pub async fn open_chunk(&self, upload: &MediaUpload) -> Result<ChunkWriter> {
        match &self.local {
            Some((_, root)) => {
                let path = Self::staging_path(root, &upload.id);
                let offset = upload.offset;
                let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(32);
                let file_path = path.clone();
                let join = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    use std::io::{Seek, SeekFrom, Write};
                    if let Some(dir) = file_path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&file_path)?;
                    // Bytes beyond the recorded offset were never acknowledged: drop them.
                    f.set_len(offset)?;
                    f.seek(SeekFrom::Start(offset))?;
                    while let Some(b) = rx.blocking_recv() {
                        f.write_all(&b)?;
                    }
                    crate::crash::point("media.chunk.fsync");
                    f.sync_data()?;
                    Ok(())
                });
                Ok(ChunkWriter::Local {
                    tx: Some(tx),
                    join: Some(join),
                    path,
                    offset,
                    written: 0,
                })
            }
            None => {
                // Short names: some S3-compatible servers (s3s-fs) keep the key in one file name.
                let name = format!(
                    "{:020}-{:08x}",
                    upload.offset,
                    rand_core::RngCore::next_u32(&mut rand_core::OsRng)
                );
                let location = Self::part_prefix(&upload.id).join(name.as_str());
                let mp = self
                    .store
                    .put_multipart(&location)
                    .await
                    .map_err(|e| store_error("写入分片", e))?;
                Ok(ChunkWriter::Remote {
                    upload: Some(WriteMultipart::new(mp)),
                    name,
                    written: 0,
                })
            }
        }
    }

    /// Complete an upload whose running hash matched: move its bytes to `evidence/<sha256>`.
    pub async fn commit(&self, upload: &MediaUpload) -> Result<Commit> {
        let key = Self::object_key(&upload.sha256);
        if upload.length == 0 {
            if upload.sha256 != hex::encode(Sha256::digest([])) {
                return Ok(Commit::HashMismatch);
            }
            self.store
                .put(&key, PutPayload::default())
                .await
                .map_err(|e| store_error("写入", e))?;
            return Ok(Commit::Stored);
        }
        match &self.local {
            Some((fs, root)) => {
                let from = Self::staging_path(root, &upload.id);
                let to = fs
                    .path_to_filesystem(&key)
                    .map_err(|e| store_error("定位", e))?;
                let length = upload.length;
                tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                    let size = std::fs::metadata(&from)?.len();
                    if size != length {
                        return Err(std::io::Error::other(format!(
                            "staging file has {size} bytes, expected {length}"
                        )));
                    }
                    if let Some(dir) = to.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    crate::crash::point("media.commit.rename");
                    std::fs::rename(&from, &to)?;
                    crate::crash::point("media.commit.dirsync");
                    if let Some(dir) = to.parent() {
                        std::fs::File::open(dir)?.sync_all()?;
                    }
                    Ok(())
                })
                .await
                .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?
                .map_err(|e| store_error("提交", e))?;
                Ok(Commit::Stored)
            }
            None => {
                let mp = self
                    .store
                    .put_multipart(&key)
                    .await
                    .map_err(|e| store_error("写入", e))?;
                let mut out = WriteMultipart::new_with_chunk_size(mp, 8 * 1024 * 1024);
                let mut hash = Sha256::new();
                let mut total = 0u64;
                let prefix = Self::part_prefix(&upload.id);
                let mut failed = None;
                'parts: for part in &upload.parts {
                    let got = self.store.get(&prefix.clone().join(part.as_str())).await;
                    let mut stream = match got {
                        Ok(g) => g.into_stream(),
                        Err(e) => {
                            failed = Some(store_error("读取分片", e));
                            break;
                        }
                    };
                    while let Some(b) = stream.next().await {
                        match b {
                            Ok(b) => {
                                hash.update(&b);
                                total += b.len() as u64;
                                if let Err(e) = out.wait_for_capacity(4).await {
                                    failed = Some(store_error("写入", e));
                                    break 'parts;
                                }
                                out.put(b);
                            }
                            Err(e) => {
                                failed = Some(store_error("读取分片", e));
                                break 'parts;
                            }
                        }
                    }
                }
                if let Some(e) = failed {
                    let _ = out.abort().await;
                    return Err(e);
                }
                if total != upload.length || hex::encode(hash.finalize()) != upload.sha256 {
                    let _ = out.abort().await;
                    return Ok(Commit::HashMismatch);
                }
                crate::crash::point("media.commit.complete");
                out.finish().await.map_err(|e| store_error("提交", e))?;
                self.discard(upload).await?;
                Ok(Commit::Stored)
            }
        }
    }

    /// Delete an upload's unfinished bytes (termination, expiry, hash mismatch, after commit).
    pub async fn discard(&self, upload: &MediaUpload) -> Result<()> {
        match &self.local {
            Some((_, root)) => {
                let path = Self::staging_path(root, &upload.id);
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(store_error("删除暂存文件", e)),
                }
            }
            None => {
                let prefix = Self::part_prefix(&upload.id);
                let names: Vec<ObjectPath> = self
                    .store
                    .list(Some(&prefix))
                    .filter_map(|m| async move { m.ok().map(|m| m.location) })
                    .collect()
                    .await;
                for name in names {
                    match self.store.delete(&name).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(store_error("删除分片", e)),
                    }
                }
                Ok(())
            }
        }
    }

    /// Drop a chunk that will not be recorded.
    pub async fn drop_part(&self, name: &str, id: &str) {
        let _ = self.store.delete(&Self::part_prefix(id).join(name)).await;
    }

    /// Whether one of `agencies` holds `sha256` with `size` bytes: its record exists *and* the
    /// object is in the store. A record whose object is missing counts as not held, so the file is
    /// uploaded again.
    pub async fn holds(
        &self,
        storage: &dyn Storage,
        agencies: &[String],
        sha256: &str,
        size: u64,
    ) -> Result<bool> {
        Ok(storage.media_object(agencies, sha256).await?.is_some()
            && self.object_present(sha256, size).await?)
    }

    /// Whether the store holds `evidence/<sha256>` with `size` bytes (metadata only; the bytes were
    /// hashed before the object was committed, and again by [`finish_complete`] after a crash).
    pub async fn object_present(&self, sha256: &str, size: u64) -> Result<bool> {
        match self.store.head(&Self::object_key(sha256)).await {
            Ok(meta) => Ok(meta.size == size),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error("查询", e)),
        }
    }

    /// `(size, SHA-256 hex)` of the bytes stored at `evidence/<sha256>`, read in full; `None` when
    /// there is no such object.
    pub async fn object_digest(&self, sha256: &str) -> Result<Option<(u64, String)>> {
        let got = match self.store.get(&Self::object_key(sha256)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(store_error("读取", e)),
        };
        let mut stream = got.into_stream();
        let mut hash = Sha256::new();
        let mut size = 0u64;
        while let Some(b) = stream.next().await {
            let b = b.map_err(|e| store_error("读取", e))?;
            size += b.len() as u64;
            hash.update(&b);
        }
        Ok(Some((size, hex::encode(hash.finalize()))))
    }

    /// Local directory: `(size, SHA-256 hex)` of an upload's staging file, `None` if it is gone.
    /// S3-compatible stores answer `None` (their commit re-hashes the parts itself).
    async fn staging_digest(&self, upload: &MediaUpload) -> Result<Option<(u64, String)>> {
        let Some((_, root)) = &self.local else {
            return Ok(None);
        };
        let path = Self::staging_path(root, &upload.id);
        tokio::task::spawn_blocking(move || -> Result<Option<(u64, String)>> {
            match std::fs::metadata(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(store_error("读取暂存文件", e)),
                Ok(_) => {}
            }
            let digest = roadside_core::evidence::hash_file(&path)
                .map_err(|e| store_error("读取暂存文件", e.message()))?;
            Ok(Some((digest.size, digest.sha256)))
        })
        .await
        .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?
    }

    /// S3-compatible stores: whether every recorded part of an upload is still there.
    async fn parts_present(&self, upload: &MediaUpload) -> Result<bool> {
        let prefix = Self::part_prefix(&upload.id);
        for part in &upload.parts {
            match self.store.head(&prefix.clone().join(part.as_str())).await {
                Ok(_) => {}
                Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(store_error("查询分片", e)),
            }
        }
        Ok(true)
    }

    /// Remove a stored object that is not what its content address says (only a damaged store or
    /// an interrupted non-atomic write can leave one).
    async fn delete_object(&self, sha256: &str) -> Result<()> {
        match self.store.delete(&Self::object_key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error("删除", e)),
        }
    }
}

/// What [`finish_complete`] did with an upload whose every byte was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The object is stored, verified by its hash, and recorded; the upload row is gone.
    Stored,
    /// The received bytes could not be committed (staging lost or damaged): the upload starts
    /// again from offset 0, so the device sends the file again.
    Restarted,
}

/// Finish an upload whose offset reached its length but whose object was never recorded — a
/// crash (or a store failure) between the last chunk and the database's record of the object.
/// Run at start for every such upload and on the next request that touches one, under the
/// upload's lock ([`Media::lock`]).
///
/// Nothing is trusted without its hash: an object already at the content address is re-hashed
/// (it is recorded if it matches and deleted if it does not); otherwise the commit is redone from
/// the staged bytes, which are re-hashed too. When neither gives the declared SHA-256, the upload
/// restarts from 0 rather than pretending to be complete.
pub async fn finish_complete(
    storage: &dyn Storage,
    media: &Media,
    upload: &MediaUpload,
) -> Result<Finished> {
    let object = MediaObject {
        sha256: upload.sha256.clone(),
        agency: upload.agency.clone(),
        size: upload.length,
        stored_at: crate::now(),
    };
    let agencies = std::slice::from_ref(&upload.agency);
    if media
        .holds(storage, agencies, &upload.sha256, upload.length)
        .await?
    {
        storage.finish_upload(&upload.id, &object).await?;
        media.discard(upload).await?;
        return Ok(Finished::Stored);
    }
    let want = Some((upload.length, upload.sha256.clone()));
    match media.object_digest(&upload.sha256).await? {
        Some(got) if Some(&got) == want.as_ref() => {
            storage.finish_upload(&upload.id, &object).await?;
            media.discard(upload).await?;
            tracing::warn!(upload = %upload.id, sha256 = %upload.sha256, "interrupted upload finished: object found and verified");
            return Ok(Finished::Stored);
        }
        Some((size, sha)) => {
            tracing::error!(upload = %upload.id, declared = %upload.sha256, size, got = %sha, "object at the content address does not match it; deleted");
            media.delete_object(&upload.sha256).await?;
        }
        None => {}
    }
    let staged_ok = match &media.local {
        Some(_) => media.staging_digest(upload).await? == want,
        // The S3 commit streams the recorded parts and completes only on a matching hash.
        None => media.parts_present(upload).await?,
    };
    if staged_ok && media.commit(upload).await? == Commit::Stored {
        storage.finish_upload(&upload.id, &object).await?;
        tracing::warn!(upload = %upload.id, sha256 = %upload.sha256, "interrupted upload finished: commit redone");
        return Ok(Finished::Stored);
    }
    media.discard(upload).await?;
    let fresh = RunningSha256::default().to_bytes();
    let expires = crate::time_text(chrono::Utc::now() + media.expiry);
    storage.restart_upload(&upload.id, &fresh, &expires).await?;
    tracing::error!(upload = %upload.id, sha256 = %upload.sha256, "interrupted upload's bytes are lost or damaged; it restarts from offset 0");
    Ok(Finished::Restarted)
}

/// Finish every upload a crash left complete but unrecorded (see [`finish_complete`]). Failures
/// are logged and left for the next request on the upload.
pub async fn finish_all_complete(storage: &dyn Storage, media: &Media) -> usize {
    let uploads = match storage.complete_uploads(1000).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(code = %e.code, "listing interrupted uploads failed: {}", e.message);
            return 0;
        }
    };
    let mut done = 0;
    for upload in uploads {
        let lock = media.lock(&upload.id);
        let _guard = lock.lock().await;
        // Another request may have finished it while this waited.
        match storage.upload(&upload.id).await {
            Ok(Some(u)) if u.offset == u.length => {
                match finish_complete(storage, media, &u).await {
                    Ok(_) => done += 1,
                    Err(e) => {
                        tracing::warn!(upload = %u.id, code = %e.code, "finishing an interrupted upload failed: {}", e.message)
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(upload = %upload.id, code = %e.code, "reading an interrupted upload failed: {}", e.message)
            }
        }
    }
    done
}

/// A local directory store and its root.
type Local = (Arc<LocalFileSystem>, PathBuf);

fn local_store(dir: PathBuf) -> Result<(Arc<dyn ObjectStore>, Local)> {
    std::fs::create_dir_all(dir.join(".uploads"))
        .map_err(|e| ApiError::internal("DATA_DIR_FAILED", format!("无法创建媒体目录：{e}")))?;
    let fs = Arc::new(
        LocalFileSystem::new_with_prefix(&dir)
            .map_err(|e| store_error("打开本地目录", e))?
            .with_automatic_cleanup(true),
    );
    let store: Arc<dyn ObjectStore> = fs.clone();
    Ok((store, (fs, dir)))
}

/// Where one PATCH's bytes go while they arrive.
pub enum ChunkWriter {
    Local {
        tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
        /// The thread writing the staging file; taken when its error is reported early.
        join: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
        path: PathBuf,
        offset: u64,
        written: u64,
    },
    Remote {
        upload: Option<WriteMultipart>,
        name: String,
        written: u64,
    },
}

impl ChunkWriter {
    pub async fn write(&mut self, b: Bytes) -> Result<()> {
        if self.written() == 0 {
            crate::crash::point("media.chunk.write");
        }
        match self {
            ChunkWriter::Local {
                tx, join, written, ..
            } => {
                *written += b.len() as u64;
                let sent = match tx {
                    Some(tx) => tx.send(b).await.is_ok(),
                    None => false,
                };
                if !sent {
                    // The writing thread stopped: report why (a full disk, a permission).
                    *tx = None;
                    if let Some(j) = join.take() {
                        match j.await {
                            Ok(Err(e)) => return Err(store_error("写入暂存文件", e)),
                            Err(e) => return Err(ApiError::internal("TASK_FAILED", e.to_string())),
                            Ok(Ok(())) => {}
                        }
                    }
                    return Err(store_error("写入暂存文件", "写入线程已停止"));
                }
                Ok(())
            }
            ChunkWriter::Remote {
                upload, written, ..
            } => {
                let Some(up) = upload.as_mut() else {
                    return Err(store_error("写入分片", "writer closed"));
                };
                up.wait_for_capacity(2)
                    .await
                    .map_err(|e| store_error("写入分片", e))?;
                *written += b.len() as u64;
                up.put(b);
                Ok(())
            }
        }
    }

    /// Make the received bytes durable. Answers the part name to record (S3), if any.
    pub async fn keep(self) -> Result<Option<String>> {
        match self {
            ChunkWriter::Local { tx, join, .. } => {
                drop(tx);
                let Some(join) = join else {
                    return Err(store_error("写入暂存文件", "写入线程已停止"));
                };
                join.await
                    .map_err(|e| ApiError::internal("TASK_FAILED", e.to_string()))?
                    .map_err(|e| store_error("写入暂存文件", e))?;
                Ok(None)
            }
            ChunkWriter::Remote { upload, name, .. } => {
                if let Some(up) = upload {
                    up.finish().await.map_err(|e| store_error("写入分片", e))?;
                }
                Ok(Some(name))
            }
        }
    }

    /// Forget the received bytes (checksum mismatch, overflow, lost race).
    pub async fn drop_chunk(self, media: &Media, upload_id: &str) {
        match self {
            ChunkWriter::Local {
                tx,
                join,
                path,
                offset,
                ..
            } => {
                drop(tx);
                if let Some(join) = join {
                    let _ = join.await;
                }
                let _ = tokio::task::spawn_blocking(move || {
                    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                        let _ = f.set_len(offset);
                    }
                })
                .await;
            }
            ChunkWriter::Remote { upload, name, .. } => {
                if let Some(up) = upload {
                    let _ = up.abort().await;
                }
                media.drop_part(&name, upload_id).await;
            }
        }
    }

    pub fn written(&self) -> u64 {
        match self {
            ChunkWriter::Local { written, .. } | ChunkWriter::Remote { written, .. } => *written,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_hash_matches_sha2_at_every_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        for len in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 128, 999, 1000] {
            let want: [u8; 32] = Sha256::digest(&data[..len]).into();
            for split in [0, 1, 3, 64, len / 2, len] {
                let split = split.min(len);
                let mut h = RunningSha256::default();
                h.update(&data[..split]);
                let saved = RunningSha256::from_bytes(&h.to_bytes()).expect("state");
                assert_eq!(saved, h);
                let mut h = saved;
                h.update(&data[split..len]);
                assert_eq!(h.finalize(), want, "len {len} split {split}");
                assert_eq!(h.len(), len as u64);
            }
        }
    }

    #[test]
    fn malformed_state_is_refused() {
        assert!(RunningSha256::from_bytes(&[0; 39]).is_err());
        let mut h = RunningSha256::default();
        h.update(b"abc");
        let mut b = h.to_bytes();
        b.pop();
        assert!(RunningSha256::from_bytes(&b).is_err());
    }
}
