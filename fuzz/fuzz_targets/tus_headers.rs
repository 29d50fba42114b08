//! The tus request headers (Tus-Resumable, Upload-Metadata, Upload-Checksum, Upload-Offset,
//! Upload-Length) and an upload URL's id, read by the media routes' own parsing. The input is
//! split at newlines into those values in that order. What parses means the same when written
//! back the way a client writes it.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use roadside_server::routes::tus_headers as tus;

const NAMES: [&str; 5] = [
    "tus-resumable",
    "upload-metadata",
    "upload-checksum",
    "upload-offset",
    "upload-length",
];

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|&b| b == b'\n');
    let mut headers = HeaderMap::new();
    for name in NAMES {
        let Some(value) = parts.next() else { break };
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    let id = parts.next().and_then(|b| std::str::from_utf8(b).ok());
    let b64 = base64::engine::general_purpose::STANDARD;

    let _ = tus::tus_resumable(&headers);

    if let Ok(hex) = tus::upload_metadata_sha256(&headers) {
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let again = one("upload-metadata", &format!("sha256 {}", b64.encode(&hex)));
        assert_eq!(tus::upload_metadata_sha256(&again), Ok(hex));
    }

    match tus::upload_checksum(&headers) {
        Ok(Some((algo, digest))) => {
            let again = one(
                "upload-checksum",
                &format!("{algo} {}", b64.encode(&digest)),
            );
            assert_eq!(tus::upload_checksum(&again), Ok(Some((algo, digest))));
        }
        // A value that is not visible ASCII reads as no header at all (as every header does).
        Ok(None) => assert!(headers
            .get("upload-checksum")
            .is_none_or(|v| v.to_str().is_err())),
        Err(_) => {}
    }

    if let Some(offset) = tus::upload_offset(&headers) {
        assert_eq!(
            tus::upload_offset(&one("upload-offset", &offset.to_string())),
            Some(offset)
        );
    }
    if let Some(length) = tus::upload_length(&headers) {
        assert_eq!(
            tus::upload_length(&one("upload-length", &length.to_string())),
            Some(length)
        );
    }

    if let Some(id) = id {
        if let Ok(canonical) = tus::upload_url_id(id) {
            assert_eq!(tus::upload_url_id(&canonical), Ok(canonical.clone()));
            assert_eq!(canonical, canonical.to_ascii_lowercase());
        }
    }
});

/// A header map holding one header.
fn one(name: &'static str, value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    match HeaderValue::from_str(value) {
        Ok(v) => {
            h.insert(HeaderName::from_static(name), v);
        }
        Err(e) => panic!("a value we wrote is not a header value: {e}"),
    }
    h
}
