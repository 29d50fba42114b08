//! The tus request headers as the media routes read them, for the fuzz targets (`fuzz/`) and other
//! callers outside the routes: each function calls the routes' own parsing and reports the outcome
//! with the error code the client would receive, without the rest of the request.

use axum::http::HeaderMap;

use super::{
    check_tus, header_str, metadata_sha256, parse_checksum, upload_target, Checksum, Target,
    UPLOAD_LENGTH, UPLOAD_OFFSET,
};

/// `Tus-Resumable`: `Ok` when it names the version the server speaks, else the refusal's code.
pub fn tus_resumable(headers: &HeaderMap) -> Result<(), &'static str> {
    check_tus(headers).map_err(|f| f.code)
}

/// `Upload-Metadata`: the evidence file's SHA-256 it names (64 lowercase hex), or the refusal's code.
pub fn upload_metadata_sha256(headers: &HeaderMap) -> Result<String, &'static str> {
    metadata_sha256(headers).map_err(|f| f.code)
}

/// `Upload-Checksum`: the algorithm (`sha1` or `sha256`) and the chunk digest it declares (`None`
/// when the header is absent), or the refusal's code.
pub fn upload_checksum(
    headers: &HeaderMap,
) -> Result<Option<(&'static str, Vec<u8>)>, &'static str> {
    parse_checksum(headers)
        .map(|c| {
            c.map(|c| match c {
                Checksum::Sha1(d) => ("sha1", d.to_vec()),
                Checksum::Sha256(d) => ("sha256", d.to_vec()),
            })
        })
        .map_err(|f| f.code)
}

/// `Upload-Offset` read the way `PATCH` reads it: a non-negative integer, `None` when absent or not
/// one (`UPLOAD_OFFSET_INVALID`).
pub fn upload_offset(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, &UPLOAD_OFFSET).and_then(|v| v.parse().ok())
}

/// `Upload-Length` read the way creation reads it: a non-negative integer, `None` when absent or
/// not one (`UPLOAD_LENGTH_INVALID`).
pub fn upload_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, &UPLOAD_LENGTH).and_then(|v| v.parse().ok())
}

/// An upload URL's id segment: the hyphenated lowercase UUID of an open upload, or the lowercase
/// SHA-256 of a stored file's complete upload, or the refusal's code.
pub fn upload_url_id(id: &str) -> Result<String, &'static str> {
    match upload_target(id) {
        Ok(Target::Open(u)) => Ok(u),
        Ok(Target::Complete(sha)) => Ok(sha),
        Err(f) => Err(f.code),
    }
}
