//! Resumable evidence upload (tus 1.0.0: core, creation, checksum, termination, expiration) and
//! object download.
//!
//! # HTTP API (device clients)
//!
//! Every tus request carries `Tus-Resumable: 1.0.0` (otherwise **412**, code `TUS_VERSION_UNSUPPORTED`,
//! with `Tus-Version: 1.0.0`), and every answer carries `Tus-Resumable: 1.0.0`. Errors have the usual
//! JSON body `{"code": STABLE_CODE, "message": "中文说明"}`. All but OPTIONS need the device's bearer
//! token (`Authorization: Bearer <device token>`).
//!
//! - `OPTIONS /api/v1/media` → **204** with `Tus-Version: 1.0.0`,
//!   `Tus-Extension: creation,checksum,termination,expiration`, `Tus-Max-Size: <bytes>`,
//!   `Tus-Checksum-Algorithm: sha1,sha256`. No token needed.
//! - `POST /api/v1/media` — create an upload for one declared evidence file.
//!   Headers: `Upload-Length: <bytes>` (required; `Upload-Defer-Length` is not supported),
//!   `Upload-Metadata: sha256 <base64 of the 64-char lowercase hex SHA-256>` (other keys such as
//!   `filename` are accepted and ignored). The hash must be declared by an accepted `evidence.add`
//!   entry of the device's agency, and `Upload-Length` must equal its declared `size`.
//!   Answers: always **201** with `Location`, `Upload-Offset` and `Upload-Length` (tus creation):
//!   - a new upload: `Location: /api/v1/media/uploads/<id>`, `Upload-Offset: 0`, `Upload-Expires`;
//!   - an unfinished upload of this file by this agency exists: its `Location` and
//!     `Upload-Offset: n`, `Upload-Expires` (a device that lost the URL never resends bytes: it
//!     continues from `n`; a client that sends from 0 anyway gets **409** with `Upload-Offset: n`,
//!     as tus requires, and resumes from there after a HEAD);
//!   - the agency already holds the object: the complete upload
//!     `Location: /api/v1/media/uploads/<sha256 hex>`, `Upload-Offset` = `Upload-Length` (HEAD says
//!     the same, an empty PATCH at that offset is acknowledged with **204**, DELETE keeps the
//!     evidence and answers **204**); nothing to send.
//!   - The JSON body says the same: `{"status": "created"|"resume"|"stored", "upload_url": …,
//!     "offset": n, "length": n, "sha256": "…", "expires_at": RFC 3339|null}`.
//!   - **422** `EVIDENCE_NOT_DECLARED` (no accepted entry of the agency declares the hash),
//!     **422** `UPLOAD_LENGTH_MISMATCH` (the length differs from the declared size),
//!     **413** `UPLOAD_TOO_LARGE` (over `Tus-Max-Size`), **400** `UPLOAD_METADATA_INVALID`,
//!     `UPLOAD_LENGTH_INVALID`, `UPLOAD_DEFER_UNSUPPORTED`.
//! - `HEAD /api/v1/media/uploads/<id>` → **200** with `Upload-Offset`, `Upload-Length`,
//!   `Upload-Expires`, `Upload-Metadata`, `Cache-Control: no-store`. **404** unknown upload,
//!   **403** another agency's upload, **410** expired (the upload is deleted; create a new one).
//! - `PATCH /api/v1/media/uploads/<id>` with `Content-Type: application/offset+octet-stream`,
//!   `Upload-Offset: <the server's offset>`, optionally `Upload-Checksum: sha256 <base64 of the
//!   chunk's 32-byte SHA-256>` or `sha1 <base64 of its 20-byte SHA-1>`, the chunk as body (at most `ROADSIDE_MEDIA_MAX_CHUNK` bytes; any
//!   size otherwise, no minimum). Answers:
//!   - **204** + `Upload-Offset: <new offset>` (+ `Upload-Expires` while unfinished). When the new
//!     offset equals the length the whole file's SHA-256 was checked and the object is stored.
//!   - **409** `UPLOAD_OFFSET_MISMATCH` (+ the server's `Upload-Offset`): HEAD and continue from there.
//!   - **460** `CHECKSUM_MISMATCH`: the chunk was discarded, the offset is unchanged; resend it.
//!   - **422** `MEDIA_HASH_MISMATCH`: the complete file does not hash to the declared SHA-256; the
//!     upload and its bytes are deleted, nothing is stored.
//!   - **415** `UPLOAD_CONTENT_TYPE`, **413** `UPLOAD_CHUNK_TOO_LARGE` (over the chunk limit or past
//!     `Upload-Length`; nothing kept), **400** `UPLOAD_OFFSET_INVALID`, `CHECKSUM_INVALID`,
//!     **400** `CHECKSUM_ALGORITHM_UNSUPPORTED`, **404**/**403**/**410** as for HEAD,
//!     **423** `UPLOAD_LOCKED` (another request on the same upload is still running).
//!   - A PATCH whose connection is cut keeps the bytes that arrived (unless it carried
//!     `Upload-Checksum`, which cannot be checked then): HEAD gives the offset to resume from.
//! - `DELETE /api/v1/media/uploads/<id>` → **204**: upload and its bytes deleted (termination).
//! - `HEAD /api/v1/media/<sha256 hex>` (account or device token) → **200** with
//!   `ETag: "<sha256>"` and `Content-Length` when the object is recorded *and* present in the store;
//!   **404** `MEDIA_NOT_FOUND` otherwise. A device counts a file as uploaded only after this.
//! - An upload whose every byte was recorded but whose object was not (a crash in the commit) is
//!   finished at start and by the next HEAD, PATCH, DELETE or POST that touches it: the object is
//!   verified by its hash and recorded, or, if the staged bytes are lost, the upload goes back to
//!   offset 0. Such an upload never expires.
//! - `GET /api/v1/media/<sha256 hex>` (account or device token; not a tus request) → **200** the
//!   object's bytes (`application/octet-stream`, `ETag: "<sha256>"`), if an agency in the caller's
//!   scope holds it; **404** `MEDIA_NOT_FOUND` otherwise.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::doc::{Binary, ErrorBody, ErrorResponse, TusResumable};
use super::ApiPath;
use crate::auth::{scope, AccountCaller, DeviceCaller};
use crate::error::ApiError;
use crate::media::{finish_complete, Commit, Finished, RunningSha256, TUS_EXTENSIONS, TUS_VERSION};
use crate::state::AppState;
use crate::storage::{Device, MediaObject, MediaUpload};

pub mod tus_headers;

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION_H: HeaderName = HeaderName::from_static("tus-version");
const TUS_EXTENSION: HeaderName = HeaderName::from_static("tus-extension");
const TUS_MAX_SIZE: HeaderName = HeaderName::from_static("tus-max-size");
const TUS_CHECKSUM_ALGORITHM: HeaderName = HeaderName::from_static("tus-checksum-algorithm");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
const OFFSET_STREAM: &str = "application/offset+octet-stream";
/// The `Upload-Checksum` algorithms (tus checksum extension: `sha1` is the one every client and
/// server must support; `sha256` is what the device sends).
const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";

/// The media routes and their descriptions (`routes::described` lists them with the others).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(create, options))
        .routes(routes!(status, append, terminate, upload_options))
        .routes(routes!(download, confirm))
}

/// The media routes' own layers: their own time limit (a chunk may take longer than a JSON call)
/// and `Tus-Resumable` on every answer. Applied by `routes::router`.
pub fn layered(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let timeout = std::time::Duration::from_secs(state.config.media_timeout_secs);
    routes
        .layer(axum::middleware::map_response(tus_header))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
}

async fn tus_header(mut r: Response) -> Response {
    r.headers_mut()
        .insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    r
}

/// A refusal: an [`ApiError`] or a tus-specific status, with extra headers.
struct Fail {
    status: StatusCode,
    code: &'static str,
    message: String,
    headers: Vec<(HeaderName, String)>,
    api: Option<Box<ApiError>>,
}

type Answer = Result<Response, Fail>;

fn fail(status: StatusCode, code: &'static str, message: impl Into<String>) -> Fail {
    Fail {
        status,
        code,
        message: message.into(),
        headers: Vec::new(),
        api: None,
    }
}

impl Fail {
    fn with(mut self, name: HeaderName, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        Fail {
            status: e.kind.status(),
            code: "",
            message: String::new(),
            headers: Vec::new(),
            api: Some(Box::new(e)),
        }
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let mut r = match self.api {
            Some(e) => (*e).into_response(),
            None => {
                tracing::debug!(code = self.code, message = %self.message, "media request refused");
                (
                    self.status,
                    axum::Json(json!({"code": self.code, "message": self.message})),
                )
                    .into_response()
            }
        };
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
        }
        r
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The start of every tus request but OPTIONS: the protocol version (checked first, so a client
/// speaking another version learns that before anything else), then the device.
fn tus_device(headers: &HeaderMap, device: Result<DeviceCaller, ApiError>) -> Result<Device, Fail> {
    check_tus(headers)?;
    let DeviceCaller(device) = device?;
    Ok(device)
}

/// What an upload URL names.
enum Target {
    /// An open upload, by its id (hyphenated lowercase UUID).
    Open(String),
    /// The complete upload of an object the agency holds, by the object's SHA-256 (lowercase hex):
    /// the URL creation answers when there is nothing left to send.
    Complete(String),
}

/// A tus request on one upload (HEAD, PATCH, DELETE), past the start they share: the protocol
/// version, the device and a well-formed upload URL.
struct UploadRequest {
    device: Device,
    target: Target,
}

impl UploadRequest {
    fn begin(
        headers: &HeaderMap,
        device: Result<DeviceCaller, ApiError>,
        id: &str,
    ) -> Result<Self, Fail> {
        let device = tus_device(headers, device)?;
        let target = upload_target(id)?;
        Ok(UploadRequest { device, target })
    }

    /// The open upload `id`, once no other request is working on it (the lock is held until the
    /// guard is dropped), if the device's agency owns it and it has not expired.
    async fn claim(
        &self,
        state: &AppState,
        id: &str,
    ) -> Result<(tokio::sync::OwnedMutexGuard<()>, MediaUpload), Fail> {
        let guard = locked(state, id).await?;
        let upload = owned_upload(state, &self.device, id).await?;
        Ok((guard, upload))
    }
}

/// The object behind a complete upload's URL, if the device's agency holds it (its record exists
/// and the store has it); `UPLOAD_NOT_FOUND` otherwise.
async fn complete_upload(
    state: &AppState,
    device: &Device,
    sha256: &str,
) -> Result<MediaObject, Fail> {
    let agencies = std::slice::from_ref(&device.agency);
    let object = state
        .storage
        .media_object(agencies, sha256)
        .await?
        .ok_or_else(not_found)?;
    if !state.media.object_present(sha256, object.size).await? {
        return Err(not_found());
    }
    Ok(object)
}

fn check_tus(headers: &HeaderMap) -> Result<(), Fail> {
    match header_str(headers, &TUS_RESUMABLE) {
        Some(TUS_VERSION) => Ok(()),
        Some(other) => Err(fail(
            StatusCode::PRECONDITION_FAILED,
            "TUS_VERSION_UNSUPPORTED",
            format!("不支持的 tus 协议版本 {other}，本服务器只支持 {TUS_VERSION}"),
        )
        .with(TUS_VERSION_H, TUS_VERSION)),
        None => Err(fail(
            StatusCode::PRECONDITION_FAILED,
            "TUS_VERSION_UNSUPPORTED",
            format!("缺少 Tus-Resumable 请求头（应为 {TUS_VERSION}）"),
        )
        .with(TUS_VERSION_H, TUS_VERSION)),
    }
}

/// HTTP-date (RFC 9110), as `Upload-Expires` wants it.
fn http_date(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string()
        })
        .unwrap_or_default()
}

fn expires_from_now(state: &AppState) -> String {
    crate::time_text(chrono::Utc::now() + state.media.expiry)
}

fn set(r: &mut Response, name: HeaderName, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        r.headers_mut().insert(name, v);
    }
}

fn metadata_value(upload: &MediaUpload) -> String {
    format!(
        "sha256 {}",
        base64::engine::general_purpose::STANDARD.encode(upload.sha256.as_bytes())
    )
}

#[utoipa::path(
    options,
    path = "/api/v1/media",
    tag = "media",
    summary = "tus 1.0 discovery: Tus-Version, Tus-Extension (creation,checksum,termination,expiration), Tus-Max-Size, Tus-Checksum-Algorithm (sha1,sha256)",
    responses(
        (status = 204, description = "Supported protocol", headers(
            ("Tus-Resumable" = String, description = "1.0.0"),
            ("Tus-Version" = String, description = "1.0.0"),
            ("Tus-Extension" = String, description = "creation,checksum,termination,expiration"),
            ("Tus-Max-Size" = u64, description = "bytes"),
            ("Tus-Checksum-Algorithm" = String, description = "sha1,sha256"),
        )),
    )
)]
/// `OPTIONS /api/v1/media`: what this server supports.
async fn options(State(state): State<AppState>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    set(&mut r, TUS_VERSION_H, TUS_VERSION);
    set(&mut r, TUS_EXTENSION, TUS_EXTENSIONS);
    set(&mut r, TUS_MAX_SIZE, state.media.max_size);
    set(&mut r, TUS_CHECKSUM_ALGORITHM, CHECKSUM_ALGORITHMS);
    r
}

#[utoipa::path(
    options,
    path = "/api/v1/media/uploads/{id}",
    tag = "media",
    summary = "tus 1.0 discovery: Tus-Version, Tus-Extension (creation,checksum,termination,expiration), Tus-Max-Size, Tus-Checksum-Algorithm (sha1,sha256)",
    params(("id" = String, Path, description = "An upload id (UUID), or the SHA-256 hex of an object the agency holds (its complete upload)")),
    responses(
        (status = 204, description = "Supported protocol", headers(
            ("Tus-Resumable" = String, description = "1.0.0"),
            ("Tus-Version" = String, description = "1.0.0"),
            ("Tus-Extension" = String, description = "creation,checksum,termination,expiration"),
            ("Tus-Max-Size" = u64, description = "bytes"),
            ("Tus-Checksum-Algorithm" = String, description = "sha1,sha256"),
        )),
    )
)]
/// `OPTIONS /api/v1/media/uploads/{id}`: the same as `OPTIONS /api/v1/media`.
async fn upload_options(state: State<AppState>) -> Response {
    options(state).await
}

/// The SHA-256 named in `Upload-Metadata` (`sha256 <base64 of the hex>`).
fn metadata_sha256(headers: &HeaderMap) -> Result<String, Fail> {
    let bad = |m: &str| fail(StatusCode::BAD_REQUEST, "UPLOAD_METADATA_INVALID", m);
    let meta = header_str(headers, &UPLOAD_METADATA).ok_or_else(|| {
        bad("缺少 Upload-Metadata 请求头：应含 sha256 <证据文件 SHA-256 十六进制的 base64>")
    })?;
    for pair in meta.split(',') {
        let mut it = pair.trim().splitn(2, ' ');
        let key = it.next().unwrap_or_default();
        if key != "sha256" {
            continue;
        }
        let value = it.next().unwrap_or_default().trim();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| bad("Upload-Metadata 中 sha256 的值不是有效的 base64"))?;
        let hex_text = String::from_utf8(decoded)
            .ok()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| bad("Upload-Metadata 中 sha256 应为 64 位十六进制的 SHA-256"))?;
        return Ok(hex_text);
    }
    Err(bad(
        "Upload-Metadata 缺少 sha256 项：应指明要上传的证据文件的 SHA-256",
    ))
}

/// Delete uploads whose time ran out (their bytes first, then their rows).
async fn sweep_expired(state: &AppState) {
    let Ok(expired) = state.storage.expired_uploads(&crate::now(), 50).await else {
        return;
    };
    for u in expired {
        if state.media.discard(&u).await.is_ok() {
            let _ = state.storage.delete_upload(&u.id).await;
            tracing::info!(upload = %u.id, "expired upload removed");
        }
    }
}

/// What became of a creation request.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum UploadStatus {
    /// A new upload: send from offset 0.
    Created,
    /// An unfinished upload of this file by this agency: continue from `offset`.
    Resume,
    /// The agency already holds the object: nothing to send.
    Stored,
}

/// The body of a creation answer (the headers say the same).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MediaUpload)]
struct UploadAnswer {
    status: UploadStatus,
    /// The upload's URL (also `Location`): an open upload's, or for `stored` the complete upload
    /// `/api/v1/media/uploads/<sha256>`.
    upload_url: String,
    offset: u64,
    length: u64,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    sha256: String,
    /// RFC 3339 (absent from a `stored` answer).
    #[schema(required = true)]
    expires_at: Option<String>,
}

/// The URL of an upload: `/api/v1/media/uploads/<id>` for an open one, and
/// `/api/v1/media/uploads/<sha256 hex>` for the complete upload of an object the agency holds.
fn upload_url(id: &str) -> String {
    format!("/api/v1/media/uploads/{id}")
}

/// A creation answer: always **201** with `Location` (tus creation), whatever the request found.
fn created_answer(
    kind: UploadStatus,
    upload: Option<&MediaUpload>,
    sha256: &str,
    length: u64,
) -> Response {
    let (offset, url, expires) = match upload {
        Some(u) => (u.offset, upload_url(&u.id), Some(u.expires_at.clone())),
        None => (length, upload_url(sha256), None),
    };
    let mut r = (
        StatusCode::CREATED,
        axum::Json(UploadAnswer {
            status: kind,
            upload_url: url.clone(),
            offset,
            length,
            sha256: sha256.to_string(),
            expires_at: expires.clone(),
        }),
    )
        .into_response();
    set(&mut r, UPLOAD_OFFSET, offset);
    set(&mut r, UPLOAD_LENGTH, length);
    set(&mut r, header::LOCATION, url);
    if let Some(e) = &expires {
        set(&mut r, UPLOAD_EXPIRES, http_date(e));
    }
    r
}

#[utoipa::path(
    post,
    path = "/api/v1/media",
    tag = "media",
    summary = "tus creation: start a resumable upload of a declared evidence file (Upload-Metadata `sha256 <base64 of the hex SHA-256>`; Upload-Length must equal the declared size)",
    security(("device" = [])),
    params(
        TusResumable,
        ("Upload-Length" = u64, Header, description = "The file's size in bytes (≤ Tus-Max-Size)"),
        ("Upload-Metadata" = String, Header, description = "`sha256 <base64 of the 64-char hex SHA-256>` (other keys ignored)"),
    ),
    responses(
        (status = 201, description = "The upload to continue at Location from Upload-Offset: a new one (offset 0), an unfinished one of the same file (its offset), or the complete upload of an object the agency already holds (/api/v1/media/uploads/<sha256>, offset = length: nothing to send)", body = UploadAnswer, headers(
            ("Location" = String, description = "/api/v1/media/uploads/{id} or /api/v1/media/uploads/{sha256}"),
            ("Upload-Offset" = u64, description = "where to continue"),
            ("Upload-Length" = u64, description = "Upload-Length as sent"),
            ("Upload-Expires" = String, description = "HTTP-date; absent when the object is stored"),
        )),
        (status = 400, description = "UPLOAD_METADATA_INVALID, UPLOAD_LENGTH_INVALID or UPLOAD_DEFER_UNSUPPORTED", body = ErrorBody),
        (status = 412, response = ErrorResponse),
        (status = 413, response = ErrorResponse),
        (status = 422, description = "EVIDENCE_NOT_DECLARED or UPLOAD_LENGTH_MISMATCH", body = ErrorBody),
        (status = "default", response = ErrorResponse),
    )
)]
/// `POST /api/v1/media`: create an upload (tus creation).
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    device: Result<DeviceCaller, ApiError>,
) -> Answer {
    let device = tus_device(&headers, device)?;
    if headers.contains_key(UPLOAD_DEFER_LENGTH) {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "UPLOAD_DEFER_UNSUPPORTED",
            "不支持延后声明长度：请在 Upload-Length 中给出证据文件的字节数",
        ));
    }
    let length: u64 = header_str(&headers, &UPLOAD_LENGTH)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            fail(
                StatusCode::BAD_REQUEST,
                "UPLOAD_LENGTH_INVALID",
                "缺少 Upload-Length 请求头，或其值不是非负整数",
            )
        })?;
    if length > state.media.max_size {
        return Err(fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            "UPLOAD_TOO_LARGE",
            format!(
                "证据文件 {length} 字节，超过服务器允许的最大 {} 字节",
                state.media.max_size
            ),
        )
        .with(TUS_MAX_SIZE, state.media.max_size));
    }
    let sha256 = metadata_sha256(&headers)?;
    let agencies = std::slice::from_ref(&device.agency);
    let sizes = state.storage.evidence_sizes(agencies, &sha256).await?;
    if sizes.is_empty() {
        return Err(fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "EVIDENCE_NOT_DECLARED",
            format!(
                "本机构（{}）已接收的记录中没有声明 SHA-256 为 {sha256} 的证据：请先同步登记该证据的记录，再上传文件",
                device.agency
            ),
        ));
    }
    if !sizes.contains(&length) {
        let declared = sizes
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("、");
        return Err(fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UPLOAD_LENGTH_MISMATCH",
            format!(
                "Upload-Length 为 {length} 字节，与记录中声明的证据大小（{declared} 字节）不符"
            ),
        ));
    }
    // "Stored" only when the object itself is there (see `Media::holds`).
    if state
        .media
        .holds(state.storage.as_ref(), agencies, &sha256, length)
        .await?
    {
        return Ok(created_answer(UploadStatus::Stored, None, &sha256, length));
    }
    sweep_expired(&state).await;
    let now = crate::now();
    if let Some(open) = state
        .storage
        .open_upload(&device.agency, &sha256, &now)
        .await?
        .filter(|u| u.length == length)
    {
        let _guard = locked(&state, &open.id).await?;
        let open = state.storage.upload(&open.id).await?;
        match open {
            Some(u) => match settle(&state, u).await? {
                Settled::Open(u) => {
                    return Ok(created_answer(
                        UploadStatus::Resume,
                        Some(&u),
                        &sha256,
                        length,
                    ))
                }
                Settled::Stored(_) => {
                    return Ok(created_answer(UploadStatus::Stored, None, &sha256, length))
                }
            },
            // Finished or removed by a request that held the lock first: look again.
            None => {
                if state
                    .media
                    .holds(state.storage.as_ref(), agencies, &sha256, length)
                    .await?
                {
                    return Ok(created_answer(UploadStatus::Stored, None, &sha256, length));
                }
            }
        }
    }
    let upload = MediaUpload {
        id: uuid::Uuid::new_v4().to_string(),
        agency: device.agency.clone(),
        device_id: device.id.clone(),
        sha256: sha256.clone(),
        length,
        offset: 0,
        hash_state: RunningSha256::default().to_bytes(),
        parts: Vec::new(),
        created_at: now,
        expires_at: expires_from_now(&state),
    };
    if length == 0 {
        // Nothing to send: the empty file is complete now.
        return match state.media.commit(&upload).await? {
            Commit::Stored => {
                record_object(&state, &upload).await?;
                Ok(created_answer(UploadStatus::Stored, None, &sha256, 0))
            }
            Commit::HashMismatch => Err(hash_mismatch(&upload)),
        };
    }
    state.storage.create_upload(&upload).await?;
    tracing::info!(upload = %upload.id, sha256 = %sha256, length, device = %device.id, "upload created");
    Ok(created_answer(
        UploadStatus::Created,
        Some(&upload),
        &sha256,
        length,
    ))
}

async fn record_object(state: &AppState, upload: &MediaUpload) -> Result<(), ApiError> {
    state
        .storage
        .finish_upload(
            &upload.id,
            &MediaObject {
                sha256: upload.sha256.clone(),
                agency: upload.agency.clone(),
                size: upload.length,
                stored_at: crate::now(),
            },
        )
        .await
}

fn hash_mismatch(upload: &MediaUpload) -> Fail {
    fail(
        StatusCode::UNPROCESSABLE_ENTITY,
        "MEDIA_HASH_MISMATCH",
        format!(
            "上传完成的文件的 SHA-256 与记录中声明的 {} 不符：本次上传已作废，未保存任何内容；请核对文件后重新上传",
            upload.sha256
        ),
    )
}

fn upload_target(id: &str) -> Result<Target, Fail> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Target::Complete(id.to_ascii_lowercase()));
    }
    uuid::Uuid::parse_str(id)
        .map(|u| Target::Open(u.hyphenated().to_string()))
        .map_err(|_| not_found())
}

fn not_found() -> Fail {
    fail(
        StatusCode::NOT_FOUND,
        "UPLOAD_NOT_FOUND",
        "上传任务不存在（可能已完成、已取消或已过期）",
    )
}

/// The upload, if the device's agency owns it and it has not expired (an expired one is removed).
async fn owned_upload(state: &AppState, device: &Device, id: &str) -> Result<MediaUpload, Fail> {
    let upload = state.storage.upload(id).await?.ok_or_else(not_found)?;
    if upload.agency != device.agency {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "UPLOAD_FORBIDDEN",
            format!("该上传任务属于其他机构（{}），无权访问", upload.agency),
        ));
    }
    if upload.expires_at <= crate::now() && upload.offset < upload.length {
        state.media.discard(&upload).await?;
        state.storage.delete_upload(&upload.id).await?;
        return Err(fail(
            StatusCode::GONE,
            "UPLOAD_EXPIRED",
            "上传任务已过期，已传的部分已删除：请重新创建上传",
        ));
    }
    Ok(upload)
}

/// An upload as a request finds it, once any commit a crash interrupted has been finished.
enum Settled {
    /// Bytes are still expected (from `offset`, which may have gone back to 0).
    Open(MediaUpload),
    /// Every byte is here and the object is stored and recorded; the upload row is gone.
    Stored(MediaUpload),
}

/// Finish an upload whose offset reached its length but whose object was never recorded (see
/// [`crate::media::finish_complete`]). Called with the upload's lock held.
async fn settle(state: &AppState, upload: MediaUpload) -> Result<Settled, Fail> {
    if upload.offset < upload.length {
        return Ok(Settled::Open(upload));
    }
    match finish_complete(state.storage.as_ref(), &state.media, &upload).await? {
        Finished::Stored => Ok(Settled::Stored(upload)),
        Finished::Restarted => {
            let again = state
                .storage
                .upload(&upload.id)
                .await?
                .ok_or_else(not_found)?;
            Ok(Settled::Open(again))
        }
    }
}

async fn locked(state: &AppState, id: &str) -> Result<tokio::sync::OwnedMutexGuard<()>, Fail> {
    let lock = state.media.lock(id);
    tokio::time::timeout(std::time::Duration::from_secs(10), lock.lock_owned())
        .await
        .map_err(|_| {
            fail(
                StatusCode::LOCKED,
                "UPLOAD_LOCKED",
                "该上传任务正被另一个请求使用，请稍后重试",
            )
        })
}

#[utoipa::path(
    head,
    path = "/api/v1/media/uploads/{id}",
    tag = "media",
    summary = "tus core: the upload's offset (where to resume)",
    security(("device" = [])),
    params(("id" = String, Path, description = "An upload id (UUID), or the SHA-256 hex of an object the agency holds (its complete upload)"), TusResumable),
    responses(
        (status = 200, description = "Upload-Offset, Upload-Length, Upload-Expires, Upload-Metadata, Cache-Control: no-store", headers(
            ("Upload-Offset" = u64),
            ("Upload-Length" = u64),
            ("Upload-Expires" = String, description = "HTTP-date; absent once every byte is stored"),
            ("Upload-Metadata" = String),
        )),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 410, description = "UPLOAD_EXPIRED (the upload was removed)"),
        (status = 412, response = ErrorResponse),
        (status = 423, response = ErrorResponse),
        (status = "default", response = ErrorResponse),
    )
)]
/// `HEAD /api/v1/media/uploads/{id}`: where to resume.
async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    device: Result<DeviceCaller, ApiError>,
) -> Answer {
    let request = UploadRequest::begin(&headers, device, &id)?;
    let id = match &request.target {
        Target::Open(id) => id,
        Target::Complete(sha256) => {
            let object = complete_upload(&state, &request.device, sha256).await?;
            let mut r = StatusCode::OK.into_response();
            set(&mut r, UPLOAD_OFFSET, object.size);
            set(&mut r, UPLOAD_LENGTH, object.size);
            set(
                &mut r,
                UPLOAD_METADATA,
                format!(
                    "sha256 {}",
                    base64::engine::general_purpose::STANDARD.encode(object.sha256.as_bytes())
                ),
            );
            set(&mut r, header::CACHE_CONTROL, "no-store");
            return Ok(r);
        }
    };
    // Wait for a PATCH in flight (e.g. one whose connection was just cut) to record its bytes.
    let (_guard, upload) = request.claim(&state, id).await?;
    let (upload, open) = match settle(&state, upload).await? {
        Settled::Open(u) => (u, true),
        Settled::Stored(u) => (u, false),
    };
    let mut r = StatusCode::OK.into_response();
    set(&mut r, UPLOAD_OFFSET, upload.offset);
    set(&mut r, UPLOAD_LENGTH, upload.length);
    if open {
        set(&mut r, UPLOAD_EXPIRES, http_date(&upload.expires_at));
    }
    set(&mut r, UPLOAD_METADATA, metadata_value(&upload));
    set(&mut r, header::CACHE_CONTROL, "no-store");
    Ok(r)
}

#[utoipa::path(
    delete,
    path = "/api/v1/media/uploads/{id}",
    tag = "media",
    summary = "tus termination: delete the upload and its bytes",
    security(("device" = [])),
    params(("id" = String, Path, description = "An upload id (UUID), or the SHA-256 hex of an object the agency holds (its complete upload)"), TusResumable),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 412, response = ErrorResponse),
        (status = 423, response = ErrorResponse),
        (status = "default", response = ErrorResponse),
    )
)]
/// `DELETE /api/v1/media/uploads/{id}`: termination.
async fn terminate(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    device: Result<DeviceCaller, ApiError>,
) -> Answer {
    let request = UploadRequest::begin(&headers, device, &id)?;
    let id = match &request.target {
        Target::Open(id) => id,
        // Every byte of a complete upload is here and verified: keep the evidence.
        Target::Complete(sha256) => {
            complete_upload(&state, &request.device, sha256).await?;
            return Ok(StatusCode::NO_CONTENT.into_response());
        }
    };
    let (_guard, upload) = request.claim(&state, id).await?;
    // Every byte of a complete upload is here and verified: keep the evidence, not the request.
    let Settled::Open(upload) = settle(&state, upload).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    state.media.discard(&upload).await?;
    state.storage.delete_upload(&upload.id).await?;
    tracing::info!(upload = %upload.id, "upload terminated");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A chunk's `Upload-Checksum`: the digest its bytes must have, by algorithm.
#[derive(Clone, Copy)]
enum Checksum {
    Sha1([u8; 20]),
    Sha256([u8; 32]),
}

impl Checksum {
    fn hasher(&self) -> ChunkHasher {
        match self {
            Checksum::Sha1(_) => ChunkHasher::Sha1(sha1::Sha1::new()),
            Checksum::Sha256(_) => ChunkHasher::Sha256(Sha256::new()),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Checksum::Sha1(_) => "SHA-1",
            Checksum::Sha256(_) => "SHA-256",
        }
    }
}

/// The running hash of a chunk, in its `Upload-Checksum` algorithm.
enum ChunkHasher {
    Sha1(sha1::Sha1),
    Sha256(Sha256),
}

impl ChunkHasher {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            ChunkHasher::Sha1(h) => h.update(bytes),
            ChunkHasher::Sha256(h) => h.update(bytes),
        }
    }

    /// Whether the bytes hashed have the digest `want`.
    fn matches(self, want: &Checksum) -> bool {
        match (self, want) {
            (ChunkHasher::Sha1(h), Checksum::Sha1(w)) => h.finalize().as_slice() == w,
            (ChunkHasher::Sha256(h), Checksum::Sha256(w)) => h.finalize().as_slice() == w,
            _ => false,
        }
    }
}

fn parse_checksum(headers: &HeaderMap) -> Result<Option<Checksum>, Fail> {
    let Some(v) = header_str(headers, &UPLOAD_CHECKSUM) else {
        return Ok(None);
    };
    let (algo, value) = v.split_once(' ').unwrap_or((v, ""));
    let digest = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok();
    let invalid = |name: &str, n: usize| {
        fail(
            StatusCode::BAD_REQUEST,
            "CHECKSUM_INVALID",
            format!("Upload-Checksum 应为 “{algo} <{n} 字节 {name} 的 base64>”"),
        )
    };
    if algo.eq_ignore_ascii_case("sha256") {
        digest
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(|d| Some(Checksum::Sha256(d)))
            .ok_or_else(|| invalid("SHA-256", 32))
    } else if algo.eq_ignore_ascii_case("sha1") {
        digest
            .and_then(|b| <[u8; 20]>::try_from(b).ok())
            .map(|d| Some(Checksum::Sha1(d)))
            .ok_or_else(|| invalid("SHA-1", 20))
    } else {
        Err(fail(
            StatusCode::BAD_REQUEST,
            "CHECKSUM_ALGORITHM_UNSUPPORTED",
            format!("不支持的校验算法 {algo}：只支持 {CHECKSUM_ALGORITHMS}"),
        ))
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/media/uploads/{id}",
    tag = "media",
    summary = "tus core + checksum: append a chunk at Upload-Offset; completing the file checks its whole SHA-256 before the object is stored",
    security(("device" = [])),
    params(
        ("id" = String, Path, description = "An upload id (UUID), or the SHA-256 hex of an object the agency holds (its complete upload)"),
        TusResumable,
        ("Upload-Offset" = u64, Header, description = "Must equal the server's offset (409 otherwise)"),
        ("Upload-Checksum" = Option<String>, Header, nullable = false, pattern = "^(sha1|sha256) [A-Za-z0-9+/]+={0,2}$", description = "`sha256 <base64 of the chunk's SHA-256>` or `sha1 <base64 of its SHA-1>` (460 on mismatch)"),
    ),
    request_body(content = Binary, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Chunk recorded; Upload-Offset is the new offset (= Upload-Length: object stored)", headers(
            ("Upload-Offset" = u64),
            ("Upload-Expires" = String, description = "HTTP-date; while the upload is unfinished"),
        )),
        (status = 409, description = "UPLOAD_OFFSET_MISMATCH (Upload-Offset header: the server's offset)", body = ErrorBody),
        (status = 413, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 422, description = "MEDIA_HASH_MISMATCH: the complete file does not hash to the declared SHA-256; the upload is deleted, nothing stored", body = ErrorBody),
        (status = 423, response = ErrorResponse),
        (status = 460, description = "CHECKSUM_MISMATCH: chunk discarded, offset unchanged", body = ErrorBody),
        (status = "default", response = ErrorResponse),
    )
)]
/// `PATCH /api/v1/media/uploads/{id}`: append a chunk.
async fn append(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    device: Result<DeviceCaller, ApiError>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut body = Some(body);
    match append_chunk(&state, id, device, &parts.headers, &mut body).await {
        Ok(r) => r,
        Err(f) => {
            let mut r = f.into_response();
            if let Some(body) = body {
                // Refused before the body was read. Read it (up to a bound) so that the client,
                // which is still sending, gets this answer and can reuse the connection;
                // otherwise close the connection after the answer.
                if !drain(body, state.media.max_chunk.saturating_mul(2)).await {
                    set(&mut r, header::CONNECTION, "close");
                }
            }
            r
        }
    }
}

/// Read and drop a body of at most `limit` bytes; `false` if it was longer or broke off.
async fn drain(body: Body, limit: u64) -> bool {
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(b) => {
                n += b.len() as u64;
                if n > limit {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

async fn append_chunk(
    state: &AppState,
    id: String,
    device: Result<DeviceCaller, ApiError>,
    headers: &HeaderMap,
    body_slot: &mut Option<Body>,
) -> Answer {
    let state = state.clone();
    let request = UploadRequest::begin(headers, device, &id)?;
    let content_type = header_str(headers, &header::CONTENT_TYPE).unwrap_or_default();
    if !content_type.eq_ignore_ascii_case(OFFSET_STREAM) {
        return Err(fail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UPLOAD_CONTENT_TYPE",
            format!("上传分片的 Content-Type 必须是 {OFFSET_STREAM}"),
        ));
    }
    let offset: u64 = header_str(headers, &UPLOAD_OFFSET)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            fail(
                StatusCode::BAD_REQUEST,
                "UPLOAD_OFFSET_INVALID",
                "缺少 Upload-Offset 请求头，或其值不是非负整数",
            )
        })?;
    let checksum = parse_checksum(headers)?;
    let declared_len: Option<u64> =
        header_str(headers, &header::CONTENT_LENGTH).and_then(|v| v.parse().ok());
    let max_chunk = state.media.max_chunk;
    if declared_len.is_some_and(|n| n > max_chunk) {
        return Err(chunk_too_large(max_chunk));
    }
    let id = match &request.target {
        Target::Open(id) => id,
        Target::Complete(sha256) => {
            let object = complete_upload(&state, &request.device, sha256).await?;
            return complete_patch(offset, declared_len, object.size);
        }
    };
    let (guard, upload) = request.claim(&state, id).await?;
    let upload = match settle(&state, upload).await? {
        Settled::Open(u) => u,
        Settled::Stored(u) => return complete_patch(offset, declared_len, u.length),
    };
    if offset != upload.offset {
        return Err(fail(
            StatusCode::CONFLICT,
            "UPLOAD_OFFSET_MISMATCH",
            format!(
                "Upload-Offset 为 {offset}，服务器已收到 {} 字节：请从服务器的位置继续上传",
                upload.offset
            ),
        )
        .with(UPLOAD_OFFSET, upload.offset));
    }
    let room = upload.length - upload.offset;
    if declared_len.is_some_and(|n| n > room) {
        return Err(beyond_length(&upload));
    }
    // Receive in a task of its own: if this request is dropped (timeout, cut connection), the bytes
    // that arrived are still recorded before the upload's lock is released.
    let Some(body) = body_slot.take() else {
        return Err(ApiError::internal("BODY_TAKEN", "request body already read").into());
    };
    let task_state = state.clone();
    let task = tokio::spawn(async move {
        let _guard = guard;
        receive(&task_state, upload, body, checksum, room.min(max_chunk)).await
    });
    task.await
        .map_err(|e| Fail::from(ApiError::internal("TASK_FAILED", e.to_string())))?
}

/// A PATCH on an upload whose every byte is stored: an empty one at the end is acknowledged (a
/// client finishing what it already sent), anything else conflicts with the offset, the length.
fn complete_patch(offset: u64, declared_len: Option<u64>, length: u64) -> Answer {
    if offset == length && declared_len.unwrap_or(0) == 0 {
        let mut r = StatusCode::NO_CONTENT.into_response();
        set(&mut r, UPLOAD_OFFSET, length);
        return Ok(r);
    }
    Err(fail(
        StatusCode::CONFLICT,
        "UPLOAD_OFFSET_MISMATCH",
        format!("Upload-Offset 为 {offset}，服务器已收到并保存了全部 {length} 字节：无需继续上传"),
    )
    .with(UPLOAD_OFFSET, length))
}

fn chunk_too_large(max_chunk: u64) -> Fail {
    fail(
        StatusCode::PAYLOAD_TOO_LARGE,
        "UPLOAD_CHUNK_TOO_LARGE",
        format!("单个上传分片最多 {max_chunk} 字节，请分成更小的分片上传"),
    )
}

fn beyond_length(upload: &MediaUpload) -> Fail {
    fail(
        StatusCode::PAYLOAD_TOO_LARGE,
        "UPLOAD_CHUNK_TOO_LARGE",
        format!(
            "分片超出了声明的文件长度：文件共 {} 字节，服务器已收到 {} 字节",
            upload.length, upload.offset
        ),
    )
    .with(UPLOAD_OFFSET, upload.offset)
}

async fn receive(
    state: &AppState,
    upload: MediaUpload,
    body: Body,
    checksum: Option<Checksum>,
    limit: u64,
) -> Answer {
    let mut running = RunningSha256::from_bytes(&upload.hash_state)?;
    let mut chunk_hash = checksum.as_ref().map(Checksum::hasher);
    let mut writer = state.media.open_chunk(&upload).await?;
    let mut stream = body.into_data_stream();
    let mut cut = false;
    let mut overflow = false;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(bytes) => {
                if writer.written() + bytes.len() as u64 > limit {
                    overflow = true;
                    break;
                }
                running.update(&bytes);
                if let Some(h) = chunk_hash.as_mut() {
                    h.update(&bytes);
                }
                if let Err(e) = writer.write(bytes).await {
                    writer.drop_chunk(&state.media, &upload.id).await;
                    return Err(e.into());
                }
            }
            Err(e) => {
                tracing::info!(upload = %upload.id, error = %e, "chunk cut short; keeping the bytes received");
                cut = true;
                break;
            }
        }
    }
    let received = writer.written();
    if overflow {
        writer.drop_chunk(&state.media, &upload.id).await;
        let refusal = if limit < upload.length - upload.offset {
            chunk_too_large(limit)
        } else {
            beyond_length(&upload)
        };
        return Err(refusal.with(header::CONNECTION, "close"));
    }
    if let (Some(want), Some(h)) = (checksum, chunk_hash) {
        if cut || !h.matches(&want) {
            writer.drop_chunk(&state.media, &upload.id).await;
            return Err(fail(
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                "CHECKSUM_MISMATCH",
                format!(
                    "分片的 {} 与 Upload-Checksum 不符（或分片未传完），已丢弃该分片；请从 {} 字节处重传",
                    want.name(),
                    upload.offset
                ),
            )
            .with(UPLOAD_OFFSET, upload.offset));
        }
    }
    if received == 0 {
        writer.drop_chunk(&state.media, &upload.id).await;
        let mut r = StatusCode::NO_CONTENT.into_response();
        set(&mut r, UPLOAD_OFFSET, upload.offset);
        set(&mut r, UPLOAD_EXPIRES, http_date(&upload.expires_at));
        return Ok(r);
    }
    let part = writer.keep().await?;
    crate::crash::point("media.chunk.record");
    let to = upload.offset + received;
    let expires = expires_from_now(state);
    let moved = state
        .storage
        .advance_upload(
            &upload.id,
            upload.offset,
            to,
            &running.to_bytes(),
            &expires,
            part.as_deref(),
        )
        .await?;
    if !moved {
        if let Some(p) = &part {
            state.media.drop_part(p, &upload.id).await;
        }
        return Err(fail(
            StatusCode::CONFLICT,
            "UPLOAD_OFFSET_MISMATCH",
            "另一个请求同时写入了该上传任务：请查询偏移量后继续",
        ));
    }
    state.metrics.count_media_bytes(received);
    let mut upload = upload;
    upload.offset = to;
    upload.expires_at = expires;
    if let Some(p) = part {
        upload.parts.push(p);
    }
    if to < upload.length {
        let mut r = StatusCode::NO_CONTENT.into_response();
        set(&mut r, UPLOAD_OFFSET, to);
        set(&mut r, UPLOAD_EXPIRES, http_date(&upload.expires_at));
        return Ok(r);
    }
    // Complete: the whole file must hash to the declared SHA-256 before anything is stored.
    let digest = hex::encode(running.finalize());
    let outcome = if digest == upload.sha256 {
        state.media.commit(&upload).await?
    } else {
        Commit::HashMismatch
    };
    match outcome {
        Commit::Stored => {
            crate::crash::point("media.commit.record");
            record_object(state, &upload).await?;
            crate::crash::point("media.commit.answer");
            tracing::info!(upload = %upload.id, sha256 = %upload.sha256, length = upload.length, "media stored");
            let mut r = StatusCode::NO_CONTENT.into_response();
            set(&mut r, UPLOAD_OFFSET, to);
            Ok(r)
        }
        Commit::HashMismatch => {
            state.media.discard(&upload).await?;
            state.storage.delete_upload(&upload.id).await?;
            tracing::warn!(upload = %upload.id, declared = %upload.sha256, got = %digest, "media hash mismatch; upload discarded");
            Err(hash_mismatch(&upload))
        }
    }
}

/// The object `sha256` if an agency in the caller's scope holds it (`MEDIA_NOT_FOUND` otherwise).
async fn held_object(
    state: &AppState,
    sha256: &str,
    account: Result<AccountCaller, ApiError>,
    device: Result<DeviceCaller, ApiError>,
) -> Result<MediaObject, Fail> {
    let agencies = match (account, device) {
        (Ok(a), _) => scope(&state.storage.agencies().await?, &a.session.agency),
        (_, Ok(DeviceCaller(d))) => vec![d.agency],
        (Err(e), Err(_)) => return Err(e.into()),
    };
    let sha256 = sha256.to_ascii_lowercase();
    let missing = || {
        fail(
            StatusCode::NOT_FOUND,
            "MEDIA_NOT_FOUND",
            format!("本机构没有 SHA-256 为 {sha256} 的证据文件"),
        )
    };
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    state
        .storage
        .media_object(&agencies, &sha256)
        .await?
        .ok_or_else(missing)
}

#[utoipa::path(
    head,
    path = "/api/v1/media/{sha256}",
    tag = "media",
    summary = "Whether a stored evidence object is held by an agency in the caller's scope and present in the store (a device counts a file as uploaded only after this)",
    security(("account" = []), ("device" = [])),
    params(("sha256" = String, Path, pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "Recorded and present in the store", headers(
            ("ETag" = String, description = "\"<sha256>\""),
            ("Content-Length" = u64, description = "the object's size"),
        )),
        (status = 404, description = "MEDIA_NOT_FOUND"),
        (status = "default", response = ErrorResponse),
    )
)]
/// `HEAD /api/v1/media/{sha256}`: whether the object is stored, for a device to confirm an upload
/// before it counts the file as uploaded. **200** with `ETag: "<sha256>"` and `Content-Length`
/// only when the record exists and the store holds the object with that size (its bytes were
/// hashed before it was committed); **404** `MEDIA_NOT_FOUND` otherwise.
async fn confirm(
    State(state): State<AppState>,
    ApiPath(sha256): ApiPath<String>,
    account: Result<AccountCaller, ApiError>,
    device: Result<DeviceCaller, ApiError>,
) -> Answer {
    let object = held_object(&state, &sha256, account, device).await?;
    if !state
        .media
        .object_present(&object.sha256, object.size)
        .await?
    {
        tracing::error!(sha256 = %object.sha256, agency = %object.agency, "media object recorded but missing from the store");
        return Err(fail(
            StatusCode::NOT_FOUND,
            "MEDIA_NOT_FOUND",
            format!(
                "SHA-256 为 {} 的证据文件有记录但存储中没有：请重新上传",
                object.sha256
            ),
        ));
    }
    let mut r = StatusCode::OK.into_response();
    set(&mut r, header::CONTENT_LENGTH, object.size);
    set(&mut r, header::ETAG, format!("\"{}\"", object.sha256));
    set(&mut r, header::CACHE_CONTROL, "no-store");
    Ok(r)
}

#[utoipa::path(
    get,
    path = "/api/v1/media/{sha256}",
    tag = "media",
    summary = "A stored evidence object held by an agency in the caller's scope",
    security(("account" = []), ("device" = [])),
    params(("sha256" = String, Path, pattern = "^[0-9a-f]{64}$")),
    responses(
        (status = 200, description = "The object's bytes", body = Binary, content_type = "application/octet-stream", headers(
            ("ETag" = String, description = "\"<sha256>\""),
        )),
        (status = 404, response = ErrorResponse),
        (status = "default", response = ErrorResponse),
    )
)]
/// `GET /api/v1/media/{sha256}`: a stored object, for the agencies in the caller's scope.
async fn download(
    State(state): State<AppState>,
    ApiPath(sha256): ApiPath<String>,
    account: Result<AccountCaller, ApiError>,
    device: Result<DeviceCaller, ApiError>,
) -> Answer {
    let object = held_object(&state, &sha256, account, device).await?;
    let got = state
        .media
        .store
        .get(&crate::media::Media::object_key(&object.sha256))
        .await
        .map_err(|e| ApiError::internal("MEDIA_STORE_FAILED", format!("读取证据文件失败：{e}")))?;
    let size = got.meta.size;
    let mut r = Body::from_stream(got.into_stream()).into_response();
    set(&mut r, header::CONTENT_TYPE, "application/octet-stream");
    set(&mut r, header::CONTENT_LENGTH, size);
    set(&mut r, header::ETAG, format!("\"{}\"", object.sha256));
    set(
        &mut r,
        header::CACHE_CONTROL,
        "private, max-age=31536000, immutable",
    );
    Ok(r)
}
