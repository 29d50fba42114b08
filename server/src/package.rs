//! The evidence package of a case (format and checks: `roadside_verify::package`): the case's
//! signed entries, their receipts and checkpoints, the media files the server holds, the log's and
//! the agency's public keys, the key history of the devices that signed, an index and a manifest.
//!
//! Everything small is read before the answer starts (so a failure is an ordinary error answer);
//! then the zip is written on a blocking thread into a bounded channel that the HTTP body drains,
//! media streamed from the media store (local directory or S3) a piece at a time, so a 1 GiB video
//! never sits in memory.

use std::io::Write;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::ObjectStoreExt;
use roadside_verify::package::{self as format, PackageWriter};
use tokio::sync::mpsc;

use crate::error::{ApiError, Result};
use crate::state::AppState;
use crate::storage::SignedCaseEntry;

/// One evidence file the package streams from the media store.
struct MediaFile {
    path: String,
    sha256: String,
    size: u64,
}

/// Everything of the package but the media bytes.
pub struct Prepared {
    case: String,
    origin: String,
    /// (path, bytes) of every small file.
    small: Vec<(String, Vec<u8>)>,
    media: Vec<MediaFile>,
    notes: Vec<String>,
}

/// Read what the package of case `id` (of `agency`, in the caller's scope) holds.
pub async fn prepare(state: &AppState, agency: &str, id: &str) -> Result<Prepared> {
    let entries = state.storage.signed_case_entries(agency, id).await?;
    let mut small: Vec<(String, Vec<u8>)> = Vec::new();
    let mut notes = Vec::new();
    small.push((
        format::LOG_KEY.to_string(),
        format!("{}\n", state.signer.verifier_key()).into_bytes(),
    ));
    let agency_key = state.bundles.public_key_hex(&state.storage, agency).await?;
    small.push((
        format::AGENCY_KEY.to_string(),
        roadside_verify::canonical::to_canonical_vec(&format::AgencyKey {
            agency: agency.to_string(),
            public_key: agency_key,
        })
        .map_err(|e| ApiError::internal("PACKAGE_FAILED", format!("无法生成单位公钥文件：{e}")))?,
    ));
    let mut checkpoints = std::collections::BTreeMap::new();
    let mut media = Vec::new();
    for e in &entries {
        let h = hex::encode(e.hash);
        small.push((format::entry_path(&h), e.bytes.clone()));
        small.push((format::entry_sig_path(&h), format::sig_bytes(&e.sig)));
        receipt(
            state,
            &mut small,
            &mut checkpoints,
            &h,
            e.leaf_index,
            e.checkpoint_size,
        )
        .await?;
        media_of(state, agency, e, &mut media, &mut notes).await?;
    }
    for (size, note) in checkpoints {
        small.push((format::checkpoint_path(size), note.into_bytes()));
    }
    Ok(Prepared {
        case: id.to_string(),
        origin: state.signer.origin().to_string(),
        small,
        media,
        notes,
    })
}

/// The receipt of the item `hash_hex` at its first checkpoint, and that checkpoint.
async fn receipt(
    state: &AppState,
    small: &mut Vec<(String, Vec<u8>)>,
    checkpoints: &mut std::collections::BTreeMap<u64, String>,
    hash_hex: &str,
    leaf_index: u64,
    size: u64,
) -> Result<()> {
    let proof = state
        .tile_cache
        .inclusion_proof(&state.storage, size, leaf_index)
        .await?;
    let proof: Vec<[u8; 32]> = proof.iter().map(|h| h.0).collect();
    small.push((
        format::receipt_path(hash_hex),
        format::receipt_bytes(leaf_index, size, &proof)
            .map_err(|e| ApiError::internal("PACKAGE_FAILED", format!("无法生成回执：{e}")))?,
    ));
    if let std::collections::btree_map::Entry::Vacant(v) = checkpoints.entry(size) {
        let (_, note) = state
            .tile_cache
            .checkpoint(&state.storage, Some(size))
            .await?
            .ok_or_else(|| {
                ApiError::internal(
                    "PACKAGE_FAILED",
                    format!("证据包制作失败：日志中缺少大小为 {size} 的检查点"),
                )
            })?;
        v.insert(note);
    }
    Ok(())
}

/// The evidence file an `evidence.add` entry names, when the agency holds it.
async fn media_of(
    state: &AppState,
    agency: &str,
    e: &SignedCaseEntry,
    media: &mut Vec<MediaFile>,
    notes: &mut Vec<String>,
) -> Result<()> {
    let Ok(entry) = serde_json::from_slice::<serde_json::Value>(&e.bytes) else {
        return Ok(());
    };
    if entry.get("kind").and_then(|k| k.as_str()) != Some("evidence.add") {
        return Ok(());
    }
    let body = entry.get("body").cloned().unwrap_or_default();
    let text = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or_default();
    let sha = text("sha256");
    if !roadside_verify::is_lower_hex(sha, 64) {
        return Ok(());
    }
    let path = format::media_path(sha, text("file_name"));
    if media.iter().any(|m| m.path == path) {
        return Ok(());
    }
    match state
        .storage
        .media_object(&[agency.to_string()], sha)
        .await?
    {
        Some(object) => media.push(MediaFile {
            path,
            sha256: sha.to_string(),
            size: object.size,
        }),
        None => notes.push(format!(
            "证据文件 {sha}（{}）尚未上传到服务器，未包含在本证据包中",
            text("file_name")
        )),
    }
    Ok(())
}

/// A writer into the answer's channel: each write is one piece of the body.
struct ChannelWriter(mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "下载已中断"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Pieces of the zip in flight between the writing thread and the HTTP body.
const IN_FLIGHT: usize = 16;

/// Start writing the package; its bytes arrive on the returned channel. A failure part way (a
/// media object unreadable) ends the channel with an error, so the download is cut short rather
/// than completed with a package that lacks a file.
pub fn stream(state: &AppState, prepared: Prepared) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let store = state.media.store.clone();
    let handle = tokio::runtime::Handle::current();
    let errors = tx.clone();
    // Buffered so the zip's many small writes (headers) go out as few pieces.
    tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::with_capacity(256 << 10, ChannelWriter(tx));
        let written = (|| -> std::io::Result<()> {
            let mut w = PackageWriter::new(out, &prepared.case, &prepared.origin);
            for n in prepared.notes {
                w.note(n);
            }
            for (path, bytes) in &prepared.small {
                w.add(path, bytes)?;
            }
            for m in &prepared.media {
                let key = crate::media::Media::object_key(&m.sha256);
                let got = handle
                    .block_on(store.get(&key))
                    .map_err(std::io::Error::other)?;
                let mut pieces = got.into_stream();
                let mut sink = w.start(&m.path, m.size)?;
                while let Some(piece) = handle.block_on(pieces.next()) {
                    sink.write_all(&piece.map_err(std::io::Error::other)?)?;
                }
                sink.finish();
            }
            let mut out = w.finish()?;
            out.flush()
        })();
        if let Err(e) = written {
            tracing::error!(error = %e, "evidence package cut short");
            let _ = errors.blocking_send(Err(e));
        }
    });
    rx
}
