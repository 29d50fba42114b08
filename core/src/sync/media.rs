//! Resumable evidence upload, tus 1.0 (core, creation, checksum with sha256, which the server
//! offers beside sha1).
//!
//! For each evidence file whose declaring entry has a receipt: `POST /api/v1/media` creates the
//! upload (length and the evidence hash in `Upload-Metadata`) and the URL it answers is kept in the
//! store at once; `HEAD` asks the server's offset; `PATCH` sends the next chunk from that offset,
//! with `Upload-Checksum: sha256 <base64>`, and the confirmed offset is stored after each chunk.
//! After any cut the client asks the offset again, so nothing the server already holds is sent
//! again beyond the chunk that was in flight. A file counts as uploaded only when
//! `HEAD /api/v1/media/<sha256>` confirms the server holds the object under that hash with that
//! size; otherwise the upload is created again.

use std::io::SeekFrom;
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use super::http::{self, Answer};
use super::{Session, SyncReport};
use crate::error::{Result, RoadsideError};
use crate::store::sync::PendingUpload;

const TUS: &str = "1.0.0";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) async fn upload_all(s: &mut Session<'_>, report: &mut SyncReport) -> Result<()> {
    let pending: Vec<PendingUpload> = s
        .store
        .pending_uploads()?
        .into_iter()
        .filter(|p| p.declared_on_server)
        .collect();
    s.state.bytes_total = pending.iter().map(|p| p.size).sum();
    s.state.bytes_done = pending.iter().map(|p| p.offset).sum();
    s.emit();
    let mut first_error: Option<RoadsideError> = None;
    for p in &pending {
        match upload_one(s, p, report).await {
            Ok(()) => report.files_uploaded += 1,
            Err(e) if http::is_transient(&e) => return Err(e),
            Err(e) => {
                // A problem with this file (missing, changed, refused): keep it visible, go on.
                s.store
                    .set_upload_error(&p.evidence_id, &format!("{}: {}", e.code(), e.message()))?;
                report
                    .warnings
                    .push(format!("证据 {} 上传失败：{}", p.evidence_id, e.message()));
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// What to do after a failed step.
enum Next {
    /// Ask the server's offset again (after a cut, a conflict).
    Resync,
    /// The upload is gone on the server (expired or terminated): create a new one.
    Recreate,
}

async fn upload_one(s: &mut Session<'_>, p: &PendingUpload, report: &mut SyncReport) -> Result<()> {
    let len = tokio::fs::metadata(&p.path)
        .await
        .map_err(|e| {
            RoadsideError::evidence(
                "EVIDENCE_FILE_MISSING",
                format!("无法读取证据文件 {}：{e}", p.path),
            )
        })?
        .len();
    if len != p.size {
        return Err(RoadsideError::evidence(
            "EVIDENCE_FILE_CHANGED",
            format!(
                "证据文件 {} 的大小为 {len} 字节，与登记时的 {} 字节不同",
                p.path, p.size
            ),
        ));
    }
    let mut url = p.upload_url.clone();
    let mut confirmed = p.offset;
    let mut failures = 0u32;
    loop {
        let step: std::result::Result<bool, (RoadsideError, Option<Duration>, Next)> = async {
            let u = match &url {
                Some(u) => u.clone(),
                None => match create(s, p).await.map_err(|e| (e, None, Next::Resync))? {
                    Created::Url(created) => {
                        s.store
                            .set_upload_url(&p.evidence_id, Some(&created))
                            .map_err(|e| (e, None, Next::Resync))?;
                        url = Some(created.clone());
                        created
                    }
                    Created::Stored => {
                        confirm(s, p).await?;
                        s.state.bytes_done += p.size - confirmed;
                        return Ok(true);
                    }
                },
            };
            let offset = head(s, &u).await?;
            if offset > p.size {
                return Err((
                    RoadsideError::network(
                        "UPLOAD_OFFSET_INVALID",
                        format!("服务器报告的上传进度 {offset} 超过文件大小 {}", p.size),
                    ),
                    None,
                    Next::Recreate,
                ));
            }
            if offset != confirmed {
                s.state.bytes_done = (s.state.bytes_done + offset).saturating_sub(confirmed);
                confirmed = offset;
                s.store
                    .set_upload_offset(&p.evidence_id, offset)
                    .map_err(|e| (e, None, Next::Resync))?;
            }
            // The next chunk is read and hashed on a blocking thread while the current one is
            // on the wire.
            let chunk = u64::from(s.options.chunk_size);
            let read_error = |e: std::io::Error| {
                (
                    RoadsideError::evidence(
                        "EVIDENCE_FILE_READ",
                        format!("读取证据文件 {} 失败：{e}", p.path),
                    ),
                    None,
                    Next::Resync,
                )
            };
            let mut ahead = (confirmed < p.size)
                .then(|| prefetch(&p.path, confirmed, chunk.min(p.size - confirmed)));
            while confirmed < p.size {
                let (bytes, sum) = match ahead.take() {
                    Some(task) => task
                        .await
                        .map_err(|e| read_error(std::io::Error::other(e)))?
                        .map_err(read_error)?,
                    None => break,
                };
                let n = bytes.len();
                let after = confirmed + n as u64;
                if after < p.size {
                    ahead = Some(prefetch(&p.path, after, chunk.min(p.size - after)));
                }
                let next = patch(s, &u, confirmed, bytes, &sum).await?;
                if next != confirmed + n as u64 {
                    return Err((
                        RoadsideError::network(
                            "UPLOAD_OFFSET_INVALID",
                            format!(
                                "服务器确认的进度 {next} 与发送的 {} 不符",
                                confirmed + n as u64
                            ),
                        ),
                        None,
                        Next::Resync,
                    ));
                }
                confirmed = next;
                report.bytes_uploaded += n as u64;
                s.state.bytes_done += n as u64;
                s.store
                    .set_upload_offset(&p.evidence_id, confirmed)
                    .map_err(|e| (e, None, Next::Resync))?;
                s.emit();
                failures = 0;
            }
            // Every byte is acknowledged; the file counts as uploaded only once the server
            // confirms it holds the object (a crash between the last chunk and the server's
            // commit must not leave the file marked done and never sent again).
            confirm(s, p).await?;
            Ok(true)
        }
        .await;
        match step {
            Ok(_) => {
                s.store.mark_upload_done(&p.evidence_id, p.size)?;
                return Ok(());
            }
            Err((e, retry_after, next)) => {
                let again = http::is_transient(&e)
                    || matches!(next, Next::Recreate)
                    || matches!(
                        e.code(),
                        "UPLOAD_OFFSET_CONFLICT"
                            | "UPLOAD_CHECKSUM_MISMATCH"
                            | "UPLOAD_OFFSET_INVALID"
                    );
                if !again {
                    return Err(e);
                }
                if matches!(next, Next::Recreate) {
                    url = None;
                    confirmed = 0;
                    s.store.set_upload_url(&p.evidence_id, None)?;
                }
                failures += 1;
                if failures >= s.retry.attempts {
                    return Err(e);
                }
                tokio::time::sleep(s.retry.delay(failures - 1, retry_after)).await;
            }
        }
    }
}

type StepErr = (RoadsideError, Option<Duration>, Next);

fn judge(a: &Answer, what: &str) -> StepErr {
    let ra = a.retry_after();
    match a.status {
        StatusCode::NOT_FOUND | StatusCode::GONE => (a.error(what), None, Next::Recreate),
        StatusCode::LOCKED => (
            RoadsideError::network("SERVER_ERROR", "上传仍被上一次请求占用，稍后重试"),
            a.retry_after(),
            Next::Resync,
        ),
        StatusCode::CONFLICT => (
            RoadsideError::network("UPLOAD_OFFSET_CONFLICT", "上传进度与服务器不一致，重新查询"),
            None,
            Next::Resync,
        ),
        s if s.as_u16() == 460 => (
            RoadsideError::network("UPLOAD_CHECKSUM_MISMATCH", "分块校验失败，重新发送"),
            None,
            Next::Resync,
        ),
        s if http::retryable_status(s) => (
            RoadsideError::network(
                "SERVER_ERROR",
                format!("服务器对“{what}”应答 HTTP {}", s.as_u16()),
            ),
            ra,
            Next::Resync,
        ),
        _ => (a.error(what), None, Next::Resync),
    }
}

/// What creating an upload answered.
enum Created {
    /// Upload here (a new upload, or an unfinished one of the same file the server remembers; its
    /// offset is asked with HEAD).
    Url(String),
    /// The server already holds the object.
    Stored,
}

async fn create(s: &Session<'_>, p: &PendingUpload) -> Result<Created> {
    let url = s.url("/api/v1/media");
    let metadata = format!(
        "sha256 {},evidence_id {},filename {}",
        b64(p.sha256.as_bytes()),
        b64(p.evidence_id.as_bytes()),
        b64(std::path::Path::new(&p.path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
            .as_bytes())
    );
    let a = http::exchange_once(
        s.client
            .post(&url)
            .bearer_auth(&s.config.token)
            .header("tus-resumable", TUS)
            .header("upload-length", p.size.to_string())
            .header("upload-metadata", metadata)
            .header("content-length", "0"),
        "创建媒体上传",
    )
    .await?;
    if !a.status.is_success() {
        let (e, _, _) = judge(&a, "创建媒体上传");
        return Err(e);
    }
    // Creation answers 201 with a Location, and an Upload-Offset equal to the length when the
    // server already holds the file (the Location is then its complete upload): nothing to send,
    // only the confirmation. Otherwise the offset is asked with HEAD before any byte is sent.
    let offset = a
        .header("upload-offset")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if offset == Some(p.size) {
        return Ok(Created::Stored);
    }
    let Some(location) = a.header("location") else {
        return Err(RoadsideError::network(
            "SERVER_ANSWER_INVALID",
            "服务器创建上传后没有给出 Location",
        ));
    };
    let base = reqwest::Url::parse(&url)
        .map_err(|e| RoadsideError::internal("UPLOAD_URL", e.to_string()))?;
    base.join(location)
        .map(|u| Created::Url(u.to_string()))
        .map_err(|e| RoadsideError::network("SERVER_ANSWER_INVALID", format!("上传地址无效：{e}")))
}

fn offset_of(a: &Answer) -> std::result::Result<u64, StepErr> {
    a.header("upload-offset")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            (
                RoadsideError::network("SERVER_ANSWER_INVALID", "服务器应答缺少 Upload-Offset"),
                None,
                Next::Resync,
            )
        })
}

async fn head(s: &Session<'_>, url: &str) -> std::result::Result<u64, StepErr> {
    let a = http::exchange_once(
        s.client
            .head(url)
            .bearer_auth(&s.config.token)
            .header("tus-resumable", TUS),
        "查询上传进度",
    )
    .await
    .map_err(|e| (e, None, Next::Resync))?;
    if !a.status.is_success() {
        return Err(judge(&a, "查询上传进度"));
    }
    offset_of(&a)
}

/// Ask the server whether it holds the evidence file: `HEAD /api/v1/media/<sha256>` must answer
/// 200 with `ETag: "<sha256>"` and `Content-Length` equal to the file's size. A 404 means the
/// server has not stored it (whatever the upload's offset said): the upload is created again.
async fn confirm(s: &Session<'_>, p: &PendingUpload) -> std::result::Result<(), StepErr> {
    let what = "确认证据文件已保存";
    let a = http::exchange_once(
        s.client
            .head(s.url(&format!("/api/v1/media/{}", p.sha256)))
            .bearer_auth(&s.config.token),
        what,
    )
    .await
    .map_err(|e| (e, None, Next::Resync))?;
    let not_confirmed = |why: String| {
        (
            RoadsideError::network(
                "UPLOAD_NOT_CONFIRMED",
                format!("服务器未确认已保存证据文件 {}（{why}），将重新上传", p.path),
            ),
            None,
            Next::Recreate,
        )
    };
    if a.status == StatusCode::NOT_FOUND {
        return Err(not_confirmed("服务器上没有该文件".to_string()));
    }
    if !a.status.is_success() {
        return Err(judge(&a, what));
    }
    let etag = a.header("etag").map(|v| {
        v.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_ascii_lowercase()
    });
    let size = a
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if etag.as_deref() != Some(p.sha256.to_ascii_lowercase().as_str()) || size != Some(p.size) {
        return Err(not_confirmed(format!(
            "服务器应答的哈希为 {}、大小为 {}",
            etag.unwrap_or_default(),
            size.map_or_else(|| "未知".to_string(), |n| n.to_string())
        )));
    }
    Ok(())
}

/// Read `len` bytes at `offset` and hash them, on a blocking thread.
fn prefetch(
    path: &str,
    offset: u64,
    len: u64,
) -> tokio::task::JoinHandle<std::io::Result<(Vec<u8>, [u8; 32])>> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Seek};
        let mut f = std::fs::File::open(&path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf)?;
        let sum: [u8; 32] = Sha256::digest(&buf).into();
        Ok((buf, sum))
    })
}

async fn patch(
    s: &Session<'_>,
    url: &str,
    offset: u64,
    chunk: Vec<u8>,
    sum: &[u8; 32],
) -> std::result::Result<u64, StepErr> {
    let a = http::exchange_once(
        s.client
            .patch(url)
            .bearer_auth(&s.config.token)
            .header("tus-resumable", TUS)
            .header("upload-offset", offset.to_string())
            .header("upload-checksum", format!("sha256 {}", b64(sum)))
            .header("content-type", "application/offset+octet-stream")
            .body(chunk),
        "上传媒体分块",
    )
    .await
    .map_err(|e| (e, None, Next::Resync))?;
    if !a.status.is_success() {
        return Err(judge(&a, "上传媒体分块"));
    }
    offset_of(&a)
}
