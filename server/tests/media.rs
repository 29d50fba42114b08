//! Resumable evidence upload (tus 1.0) over real HTTP: chunks, a cut connection and resumption, a
//! server restart mid-upload, every refusal (offset, checksum, whole-file hash, undeclared evidence,
//! another agency, protocol version), termination and expiration, and the tus spec's own examples.
//!
//! One behaviour a test, each on SQLite and PostgreSQL with media in the local directory and in an
//! S3-compatible store (`backend_tests!`; PostgreSQL needs `ROADSIDE_TEST_PG_URL`
//! (`scripts/pg-test-server.sh`), S3 `ROADSIDE_TEST_S3_URL` and friends
//! (`eval "$(scripts/s3-test-server.sh)"`)).

#[macro_use]
mod common;

use common::*;
use reqwest::Method;
use sha2::{Digest, Sha256};

backend_tests!(db, objects:
    options_answer_what_the_server_supports,
    a_wrong_or_missing_protocol_version_is_refused,
    undeclared_evidence_cannot_be_uploaded,
    a_length_other_than_the_declared_size_is_refused,
    an_upload_without_metadata_is_refused,
    an_upload_over_the_maximum_size_is_refused,
    creating_an_upload_needs_a_token,
    creating_an_upload_answers_where_it_is_and_creating_it_again_resumes_it,
    a_chunk_with_its_checksum_advances_the_offset,
    a_wrong_offset_is_refused_with_the_servers_offset,
    a_chunk_with_a_wrong_checksum_is_refused,
    a_chunk_with_a_sha1_checksum_is_checked,
    an_unsupported_checksum_algorithm_is_refused,
    a_chunk_of_the_wrong_content_type_is_refused,
    a_chunk_over_the_chunk_limit_is_refused,
    another_agencys_device_cannot_touch_the_upload,
    another_agencys_device_cannot_read_the_file,
    a_cut_patch_keeps_the_bytes_that_arrived_and_the_upload_resumes_from_them,
    a_restart_between_chunks_keeps_the_offset_and_the_running_hash,
    a_completed_upload_is_readable_by_the_device_and_the_back_office,
    a_completed_upload_is_gone_and_creating_it_again_says_it_is_stored,
    uploaded_bytes_are_counted_in_the_metrics,
    a_file_whose_hash_differs_is_refused_at_the_last_byte_and_nothing_is_kept,
    a_terminated_upload_is_gone,
    after_termination_a_new_upload_starts_from_zero,
    an_expired_upload_is_refused_and_removed,
);

/// OPTIONS: what the server supports (no token needed).
async fn options_answer_what_the_server_supports(db: Db, objects: Objects) {
    let m = MediaSite::on(&db, &objects).await;
    let r = tus(&m.s, Method::OPTIONS, "/api/v1/media", None, &[], None).await;
    assert_eq!(r.status, 204);
    assert_eq!(header(&r.headers, "tus-resumable"), "1.0.0");
    assert_eq!(header(&r.headers, "tus-version"), "1.0.0");
    assert_eq!(
        header(&r.headers, "tus-extension"),
        "creation,checksum,termination,expiration"
    );
    assert_eq!(header(&r.headers, "tus-checksum-algorithm"), "sha1,sha256");
    assert_eq!(header(&r.headers, "tus-max-size"), (4u64 << 30).to_string());
    m.s.stop().await;
}

/// Protocol version wrong or missing → 412 with Tus-Version.
async fn a_wrong_or_missing_protocol_version_is_refused(db: Db, objects: Objects) {
    let mut m = MediaSite::on(&db, &objects).await;
    let (video, sha) = m.declare_video().await;
    for v in [Some("0.2.2"), None] {
        let mut h = vec![
            ("Upload-Length", video.len().to_string()),
            ("Upload-Metadata", metadata(&sha)),
        ];
        if let Some(v) = v {
            h.push(("Tus-Resumable", v.to_string()));
        }
        let r = tus(
            &m.s,
            Method::POST,
            "/api/v1/media",
            Some(&m.dev.token),
            &h,
            None,
        )
        .await;
        assert_eq!(r.status, 412, "{}", r.body);
        assert_eq!(r.body["code"], "TUS_VERSION_UNSUPPORTED");
        assert_eq!(header(&r.headers, "tus-version"), "1.0.0");
        assert_eq!(header(&r.headers, "tus-resumable"), "1.0.0");
    }
    m.s.stop().await;
}

async fn undeclared_evidence_cannot_be_uploaded(db: Db, objects: Objects) {
    let mut m = MediaSite::on(&db, &objects).await;
    m.dev.declare(&m.s, &TWO_OFFICERS, &[]).await;
    let undeclared = sha_hex(b"never declared");
    let r = create(&m.s, &m.dev.token, &undeclared, 10).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("EVIDENCE_NOT_DECLARED"))
    );
    assert!(r.body["message"]
        .as_str()
        .is_some_and(|msg| msg.contains("证据")));
    m.s.stop().await;
}

async fn a_length_other_than_the_declared_size_is_refused(db: Db, objects: Objects) {
    let mut m = MediaSite::on(&db, &objects).await;
    let (video, sha) = m.declare_video().await;
    let r = create(&m.s, &m.dev.token, &sha, video.len() as u64 - 1).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("UPLOAD_LENGTH_MISMATCH"))
    );
    m.s.stop().await;
}

async fn an_upload_without_metadata_is_refused(db: Db, objects: Objects) {
    let m = MediaSite::on(&db, &objects).await;
    let r = tus(
        &m.s,
        Method::POST,
        "/api/v1/media",
        Some(&m.dev.token),
        &[
            ("Tus-Resumable", TUS.into()),
            ("Upload-Length", "10".into()),
        ],
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("UPLOAD_METADATA_INVALID"))
    );
    m.s.stop().await;
}

async fn an_upload_over_the_maximum_size_is_refused(db: Db, objects: Objects) {
    let mut m = MediaSite::on(&db, &objects).await;
    let (_, sha) = m.declare_video().await;
    let r = create(&m.s, &m.dev.token, &sha, (4u64 << 30) + 1).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (413, Some("UPLOAD_TOO_LARGE"))
    );
    m.s.stop().await;
}

async fn creating_an_upload_needs_a_token(db: Db, objects: Objects) {
    let mut m = MediaSite::on(&db, &objects).await;
    let (video, sha) = m.declare_video().await;
    let r = tus(
        &m.s,
        Method::POST,
        "/api/v1/media",
        None,
        &[
            ("Tus-Resumable", TUS.into()),
            ("Upload-Length", video.len().to_string()),
            ("Upload-Metadata", metadata(&sha)),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 401);
    m.s.stop().await;
}

/// Created: 201 with its location, offset 0 and an expiry; creating it again while it is
/// unfinished answers 201 with the same upload and its offset (no second copy of the bytes); a
/// client that sends from 0 anyway gets 409 with that offset, and HEAD says the same.
async fn creating_an_upload_answers_where_it_is_and_creating_it_again_resumes_it(
    db: Db,
    objects: Objects,
) {
    let mut m = MediaSite::on(&db, &objects).await;
    let (video, sha) = m.declare_video().await;
    let r = create(&m.s, &m.dev.token, &sha, video.len() as u64).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let url = header(&r.headers, "location").to_string();
    assert!(url.starts_with("/api/v1/media/uploads/"), "{url}");
    assert_eq!(offset_of(&r), 0);
    assert!(header(&r.headers, "upload-expires").ends_with(" GMT"));
    assert_eq!(r.body["status"], "created");
    let at = 2 * 1024 * 1024;
    let r = patch(&m.s, &m.dev.token, &url, 0, &video[..at], None).await;
    assert_eq!((r.status, offset_of(&r)), (204, at as u64), "{}", r.body);
    let again = create(&m.s, &m.dev.token, &sha, video.len() as u64).await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(header(&again.headers, "location"), url);
    assert_eq!(offset_of(&again), at as u64);
    assert!(header(&again.headers, "upload-expires").ends_with(" GMT"));
    assert_eq!(again.body["status"], "resume");
    let from_zero = patch(&m.s, &m.dev.token, &url, 0, &video[..at], None).await;
    assert_eq!(
        (from_zero.status, from_zero.body["code"].as_str()),
        (409, Some("UPLOAD_OFFSET_MISMATCH"))
    );
    assert_eq!(offset_of(&from_zero), at as u64);
    let r = head(&m.s, &m.dev.token, &url).await;
    assert_eq!((r.status, offset_of(&r)), (200, at as u64));
    m.s.stop().await;
}

/// The first chunk (2 MiB, with its checksum): 204 and the new offset.
async fn a_chunk_with_its_checksum_advances_the_offset(db: Db, objects: Objects) {
    let mut m = MediaSite::on(&db, &objects).await;
    let up = m.upload_of(video()).await;
    let c1 = &up.bytes[..2 * 1024 * 1024];
    let r = patch(
        &m.s,
        &m.dev.token,
        &up.url,
        0,
        c1,
        Some(Sha256::digest(c1).into()),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(header(&r.headers, "tus-resumable"), "1.0.0");
    assert_eq!(offset_of(&r), c1.len() as u64);
    m.assert_unchanged(&up, c1.len()).await;
    m.s.stop().await;
}

/// An upload of the video with its first 2 MiB sent: the site, the upload and the offset.
async fn video_after_one_chunk(db: &Db, objects: &Objects) -> (MediaSite, Upload, usize) {
    let mut m = MediaSite::on(db, objects).await;
    let up = m.upload_of(video()).await;
    let at = 2 * 1024 * 1024;
    let r = patch(&m.s, &m.dev.token, &up.url, 0, &up.bytes[..at], None).await;
    assert_eq!((r.status, offset_of(&r)), (204, at as u64), "{}", r.body);
    (m, up, at)
}

/// Wrong offset → 409 with the server's offset; nothing changes.
async fn a_wrong_offset_is_refused_with_the_servers_offset(db: Db, objects: Objects) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let r = patch(&m.s, &m.dev.token, &up.url, 0, &up.bytes[..at], None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("UPLOAD_OFFSET_MISMATCH"))
    );
    assert_eq!(offset_of(&r), at as u64);
    m.assert_unchanged(&up, at).await;
    m.s.stop().await;
}

/// Chunk checksum mismatch → 460; the offset is unchanged.
async fn a_chunk_with_a_wrong_checksum_is_refused(db: Db, objects: Objects) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let c2 = &up.bytes[at..at + 1024 * 1024];
    let r = patch(&m.s, &m.dev.token, &up.url, at as u64, c2, Some([7; 32])).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (460, Some("CHECKSUM_MISMATCH"))
    );
    m.assert_unchanged(&up, at).await;
    m.s.stop().await;
}

/// The checksum extension's sha1 (every tus client supports it): a right one advances the offset,
/// a wrong one is refused with 460 and nothing changes.
async fn a_chunk_with_a_sha1_checksum_is_checked(db: Db, objects: Objects) {
    use sha1::Digest as _;
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let c2 = &up.bytes[at..at + 1024 * 1024];
    let send = |sum: Vec<u8>| {
        let headers = vec![
            ("Tus-Resumable", TUS.to_string()),
            ("Content-Type", OFFSET_STREAM.to_string()),
            ("Upload-Offset", at.to_string()),
            ("Upload-Checksum", format!("sha1 {}", b64(&sum))),
        ];
        let (m, up) = (&m, &up);
        async move {
            tus(
                &m.s,
                Method::PATCH,
                &up.url,
                Some(&m.dev.token),
                &headers,
                Some(c2.to_vec()),
            )
            .await
        }
    };
    let r = send(vec![7; 20]).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (460, Some("CHECKSUM_MISMATCH"))
    );
    m.assert_unchanged(&up, at).await;
    let r = send(sha1::Sha1::digest(c2).to_vec()).await;
    assert_eq!(
        (r.status, offset_of(&r)),
        (204, (at + c2.len()) as u64),
        "{}",
        r.body
    );
    m.s.stop().await;
}

async fn an_unsupported_checksum_algorithm_is_refused(db: Db, objects: Objects) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let r = tus(
        &m.s,
        Method::PATCH,
        &up.url,
        Some(&m.dev.token),
        &[
            ("Tus-Resumable", TUS.into()),
            ("Content-Type", OFFSET_STREAM.into()),
            ("Upload-Offset", at.to_string()),
            ("Upload-Checksum", "md5 AAAA".into()),
        ],
        Some(up.bytes[at..at + 1024 * 1024].to_vec()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("CHECKSUM_ALGORITHM_UNSUPPORTED"))
    );
    m.assert_unchanged(&up, at).await;
    m.s.stop().await;
}

async fn a_chunk_of_the_wrong_content_type_is_refused(db: Db, objects: Objects) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let r = tus(
        &m.s,
        Method::PATCH,
        &up.url,
        Some(&m.dev.token),
        &[
            ("Tus-Resumable", TUS.into()),
            ("Content-Type", "application/octet-stream".into()),
            ("Upload-Offset", at.to_string()),
        ],
        Some(up.bytes[at..at + 1024 * 1024].to_vec()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (415, Some("UPLOAD_CONTENT_TYPE"))
    );
    m.assert_unchanged(&up, at).await;
    m.s.stop().await;
}

async fn a_chunk_over_the_chunk_limit_is_refused(db: Db, objects: Objects) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let r = patch(
        &m.s,
        &m.dev.token,
        &up.url,
        at as u64,
        &up.bytes[at..at + 5 * 1024 * 1024],
        None,
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (413, Some("UPLOAD_CHUNK_TOO_LARGE"))
    );
    m.assert_unchanged(&up, at).await;
    m.s.stop().await;
}

/// Another agency's device: refused on the upload, cannot declare-by-upload, cannot terminate.
async fn another_agencys_device_cannot_touch_the_upload(db: Db, objects: Objects) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let other = m.other_agencys_device().await;
    let r = head(&m.s, &other.token, &up.url).await;
    assert_eq!(r.status, 403);
    let c2 = &up.bytes[at..at + 1024 * 1024];
    let r = patch(&m.s, &other.token, &up.url, at as u64, c2, None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("UPLOAD_FORBIDDEN"))
    );
    let r = create(&m.s, &other.token, &up.sha, up.bytes.len() as u64).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("EVIDENCE_NOT_DECLARED"))
    );
    let r = tus(
        &m.s,
        Method::DELETE,
        &up.url,
        Some(&other.token),
        &[("Tus-Resumable", TUS.into())],
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    m.assert_unchanged(&up, at).await;
    m.s.stop().await;
}

async fn another_agencys_device_cannot_read_the_file(db: Db, objects: Objects) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    m.send_from(&up, at).await;
    m.assert_stored(&up).await;
    let other = m.other_agencys_device().await;
    let (status, _) = get_object(&m.s, &other.token, &up.sha).await;
    assert_eq!(status, 404, "not another agency's");
    m.s.stop().await;
}

/// A PATCH cut mid-body: the bytes that arrived are kept; HEAD says where to resume, and the
/// upload completes from there with the file's exact bytes.
async fn a_cut_patch_keeps_the_bytes_that_arrived_and_the_upload_resumes_from_them(
    db: Db,
    objects: Objects,
) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let c3 = &up.bytes[at..at + 3 * 1024 * 1024];
    let half = c3.len() / 2;
    cut_patch(
        &m.s,
        &m.dev.token,
        &up.url,
        at as u64,
        c3.len(),
        &c3[..half],
    )
    .await;
    let mut resumed = at as u64;
    for _ in 0..200 {
        let r = head(&m.s, &m.dev.token, &up.url).await;
        assert_eq!(r.status, 200);
        resumed = offset_of(&r);
        if resumed != at as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(resumed, (at + half) as u64, "the received half is kept");
    m.send_from(&up, at + half).await;
    m.assert_stored(&up).await;
    m.s.stop().await;
}

/// A restart between chunks: the offset and the running hash survive, and the upload completes
/// with the file's exact bytes.
async fn a_restart_between_chunks_keeps_the_offset_and_the_running_hash(db: Db, objects: Objects) {
    let (m, up, at) = video_after_one_chunk(&db, &objects).await;
    let m = m.restart().await;
    let r = head(&m.s, &m.dev.token, &up.url).await;
    assert_eq!((r.status, offset_of(&r)), (200, at as u64));
    m.send_from(&up, at).await;
    m.assert_stored(&up).await;
    m.s.stop().await;
}

async fn a_completed_upload_is_readable_by_the_device_and_the_back_office(
    db: Db,
    objects: Objects,
) {
    let mut m = MediaSite::on(&db, &objects).await;
    let up = m.upload_of(video()).await;
    m.send_from(&up, 0).await;
    m.assert_stored(&up).await;
    let (status, got) = get_object(&m.s, &m.admin, &up.sha).await;
    assert_eq!(
        (status, got.len()),
        (200, up.bytes.len()),
        "the back office reads it too"
    );
    m.s.stop().await;
}

/// The upload is finished: HEAD 404; creating it again answers 201 with the complete upload
/// (Location by the object's hash, offset = length): HEAD says the same, an empty PATCH at the end
/// is acknowledged, any other PATCH conflicts, DELETE keeps the evidence.
async fn a_completed_upload_is_gone_and_creating_it_again_says_it_is_stored(
    db: Db,
    objects: Objects,
) {
    let mut m = MediaSite::on(&db, &objects).await;
    let up = m.upload_of(video()).await;
    m.send_from(&up, 0).await;
    let r = head(&m.s, &m.dev.token, &up.url).await;
    assert_eq!(r.status, 404);
    let len = up.bytes.len() as u64;
    let r = create(&m.s, &m.dev.token, &up.sha, len).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(offset_of(&r), len);
    assert_eq!(header(&r.headers, "upload-length"), len.to_string());
    let url = header(&r.headers, "location").to_string();
    assert_eq!(url, format!("/api/v1/media/uploads/{}", up.sha));
    assert!(r.headers.get("upload-expires").is_none());
    assert_eq!(r.body["status"], "stored");
    assert_eq!(r.body["upload_url"], url.as_str());
    let h = head(&m.s, &m.dev.token, &url).await;
    assert_eq!((h.status, offset_of(&h)), (200, len));
    assert_eq!(header(&h.headers, "upload-length"), len.to_string());
    let done = patch(&m.s, &m.dev.token, &url, len, &[], None).await;
    assert_eq!((done.status, offset_of(&done)), (204, len), "{}", done.body);
    let from_zero = patch(&m.s, &m.dev.token, &url, 0, &up.bytes[..1024], None).await;
    assert_eq!(
        (from_zero.status, from_zero.body["code"].as_str()),
        (409, Some("UPLOAD_OFFSET_MISMATCH"))
    );
    assert_eq!(offset_of(&from_zero), len);
    let gone = tus(
        &m.s,
        Method::DELETE,
        &url,
        Some(&m.dev.token),
        &[("Tus-Resumable", TUS.into())],
        None,
    )
    .await;
    assert_eq!(gone.status, 204);
    m.assert_stored(&up).await;
    // The complete upload of an object the agency does not hold is not found.
    let other = format!("/api/v1/media/uploads/{}", "ab".repeat(32));
    assert_eq!(head(&m.s, &m.dev.token, &other).await.status, 404);
    m.s.stop().await;
}

async fn uploaded_bytes_are_counted_in_the_metrics(db: Db, objects: Objects) {
    let mut m = MediaSite::on(&db, &objects).await;
    let up = m.upload_of(bytes_of(700_001, 4)).await;
    m.send_from(&up, 0).await;
    let metrics = m.s.metrics().await;
    assert!(
        metrics.contains("roadside_media_upload_bytes_total"),
        "{metrics}"
    );
    m.s.stop().await;
}

/// Whole-file hash mismatch: refused at the last byte, upload gone, nothing committed, the
/// partial bytes deleted.
async fn a_file_whose_hash_differs_is_refused_at_the_last_byte_and_nothing_is_kept(
    db: Db,
    objects: Objects,
) {
    let mut m = MediaSite::on(&db, &objects).await;
    let fake = bytes_of(300_000, 2);
    let fake_sha = sha_hex(&bytes_of(300_000, 3)); // declared, but the bytes sent differ
    m.dev
        .declare(&m.s, &TWO_OFFICERS, &[(&fake_sha, fake.len() as u64)])
        .await;
    let r = create(&m.s, &m.dev.token, &fake_sha, fake.len() as u64).await;
    assert_eq!(r.status, 201);
    let furl = header(&r.headers, "location").to_string();
    let r = patch(&m.s, &m.dev.token, &furl, 0, &fake[..100_000], None).await;
    assert_eq!(r.status, 204);
    let r = patch(&m.s, &m.dev.token, &furl, 100_000, &fake[100_000..], None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("MEDIA_HASH_MISMATCH"))
    );
    assert!(r.body["message"]
        .as_str()
        .is_some_and(|msg| msg.contains("SHA-256")));
    assert_eq!(head(&m.s, &m.dev.token, &furl).await.status, 404);
    assert_eq!(get_object(&m.s, &m.dev.token, &fake_sha).await.0, 404);
    assert!(!in_store(&m.config(), &fake_sha).await, "nothing committed");
    if let Objects::Local = objects {
        let staged = std::fs::read_dir(m.s.dir.path().join("media/.uploads"))
            .expect("staging dir")
            .count();
        assert_eq!(staged, 0, "the partial bytes are deleted");
    }
    m.s.stop().await;
}

/// A photo's upload, 1,000 bytes sent, then terminated.
async fn terminated_photo(db: &Db, objects: &Objects) -> (MediaSite, Upload) {
    let mut m = MediaSite::on(db, objects).await;
    let up = m.upload_of(bytes_of(700_001, 4)).await;
    assert_eq!(
        patch(&m.s, &m.dev.token, &up.url, 0, &up.bytes[..1000], None)
            .await
            .status,
        204
    );
    let r = tus(
        &m.s,
        Method::DELETE,
        &up.url,
        Some(&m.dev.token),
        &[("Tus-Resumable", TUS.into())],
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    (m, up)
}

async fn a_terminated_upload_is_gone(db: Db, objects: Objects) {
    let (m, up) = terminated_photo(&db, &objects).await;
    assert_eq!(head(&m.s, &m.dev.token, &up.url).await.status, 404);
    assert_eq!(
        patch(&m.s, &m.dev.token, &up.url, 1000, &up.bytes[1000..], None)
            .await
            .status,
        404
    );
    m.s.stop().await;
}

/// A fresh upload of the same file starts from 0 and completes in one PATCH.
async fn after_termination_a_new_upload_starts_from_zero(db: Db, objects: Objects) {
    let (m, up) = terminated_photo(&db, &objects).await;
    let r = create(&m.s, &m.dev.token, &up.sha, up.bytes.len() as u64).await;
    assert_eq!((r.status, offset_of(&r)), (201, 0));
    let url = header(&r.headers, "location").to_string();
    let r = patch(&m.s, &m.dev.token, &url, 0, &up.bytes, None).await;
    assert_eq!((r.status, offset_of(&r)), (204, up.bytes.len() as u64));
    assert_eq!(get_object(&m.s, &m.dev.token, &up.sha).await.1, up.bytes);
    m.s.stop().await;
}

/// With a zero lifetime every upload is expired at once: refused (410) and removed.
async fn an_expired_upload_is_refused_and_removed(db: Db, objects: Objects) {
    let mut m = MediaSite::on_with(&db, &objects, |c| c.upload_expiry_secs = 0).await;
    let file = bytes_of(5000, 9);
    let sha = sha_hex(&file);
    m.dev
        .declare(&m.s, &TWO_OFFICERS, &[(&sha, file.len() as u64)])
        .await;
    let r = create(&m.s, &m.dev.token, &sha, file.len() as u64).await;
    assert_eq!(r.status, 201);
    assert!(!header(&r.headers, "upload-expires").is_empty());
    let eurl = header(&r.headers, "location").to_string();
    let r = patch(&m.s, &m.dev.token, &eurl, 0, &file, None).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (410, Some("UPLOAD_EXPIRED"))
    );
    assert_eq!(
        head(&m.s, &m.dev.token, &eurl).await.status,
        404,
        "cleaned up"
    );
    assert!(!in_store(&m.config(), &sha).await);
    m.s.stop().await;
}

/// The request/response exchanges of the tus 1.0.0 specification's examples (OPTIONS, Creation,
/// Core HEAD and PATCH, Checksum), with the spec's sizes: a 100-byte file, 70 bytes then 30.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tus_spec_examples() {
    let s = TestServer::start(None).await;
    let admin = s.admin().await;
    let mut dev = MediaDevice::enrol(&s, &admin, "QH6325000101").await;
    let file = bytes_of(100, 7);
    let sha = sha_hex(&file);
    dev.declare(&s, &TWO_OFFICERS, &[(&sha, 100)]).await;

    // OPTIONS → 204, Tus-Resumable, Tus-Version, Tus-Max-Size, Tus-Extension.
    let r = tus(&s, Method::OPTIONS, "/api/v1/media", None, &[], None).await;
    assert_eq!(r.status, 204);
    for h in [
        "tus-resumable",
        "tus-version",
        "tus-max-size",
        "tus-extension",
    ] {
        assert!(r.headers.contains_key(h), "{h}");
    }

    // Creation: POST, Content-Length: 0, Upload-Length: 100, Upload-Metadata → 201, Location.
    let r = tus(
        &s,
        Method::POST,
        "/api/v1/media",
        Some(&dev.token),
        &[
            ("Content-Length", "0".into()),
            ("Upload-Length", "100".into()),
            ("Tus-Resumable", TUS.into()),
            ("Upload-Metadata", metadata(&sha)),
        ],
        None,
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(header(&r.headers, "tus-resumable"), "1.0.0");
    let url = header(&r.headers, "location").to_string();
    assert!(!url.is_empty());

    // Core: PATCH 70 bytes at 0 → 204, Upload-Offset: 70.
    let r = patch(&s, &dev.token, &url, 0, &file[..70], None).await;
    assert_eq!((r.status, header(&r.headers, "upload-offset")), (204, "70"));
    assert_eq!(header(&r.headers, "tus-resumable"), "1.0.0");

    // Core: HEAD → 200, Upload-Offset: 70, Upload-Length: 100, Cache-Control: no-store.
    let r = head(&s, &dev.token, &url).await;
    assert_eq!(r.status, 200);
    assert_eq!(header(&r.headers, "upload-offset"), "70");
    assert_eq!(header(&r.headers, "upload-length"), "100");
    assert_eq!(header(&r.headers, "cache-control"), "no-store");
    assert_eq!(header(&r.headers, "tus-resumable"), "1.0.0");

    // Checksum: the spec's example header (sha1, "Kq5sNclPz7QV2+lfQIuc6R7oRu0=", the SHA-1 of other
    // bytes than these 30) → 460, the chunk discarded and the offset unchanged.
    let r = tus(
        &s,
        Method::PATCH,
        &url,
        Some(&dev.token),
        &[
            ("Content-Type", OFFSET_STREAM.into()),
            ("Upload-Offset", "70".into()),
            ("Tus-Resumable", TUS.into()),
            (
                "Upload-Checksum",
                "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=".into(),
            ),
        ],
        Some(file[70..].to_vec()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (460, Some("CHECKSUM_MISMATCH"))
    );
    assert_eq!(
        header(&head(&s, &dev.token, &url).await.headers, "upload-offset"),
        "70"
    );

    // Core: PATCH 30 bytes at 70 → 204, Upload-Offset: 100 (complete).
    let r = patch(
        &s,
        &dev.token,
        &url,
        70,
        &file[70..],
        Some(Sha256::digest(&file[70..]).into()),
    )
    .await;
    assert_eq!(
        (r.status, header(&r.headers, "upload-offset")),
        (204, "100")
    );
    assert_eq!(get_object(&s, &dev.token, &sha).await.1, file);

    // Core: a request without Tus-Resumable → 412 Precondition Failed with Tus-Version.
    let r = tus(&s, Method::HEAD, &url, Some(&dev.token), &[], None).await;
    assert_eq!(r.status, 412);
    assert_eq!(header(&r.headers, "tus-version"), "1.0.0");
    s.stop().await;
}
