-- Version 2: resumable media uploads and the media objects each agency holds.
CREATE TABLE media_uploads (
    id TEXT PRIMARY KEY, agency TEXT NOT NULL, device_id TEXT NOT NULL, sha256 TEXT NOT NULL,
    length INTEGER NOT NULL, upload_offset INTEGER NOT NULL, hash_state BLOB NOT NULL,
    parts TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, expires_at TEXT NOT NULL);
CREATE INDEX media_uploads_expires ON media_uploads (expires_at);
CREATE INDEX media_uploads_sha256 ON media_uploads (sha256, agency);
CREATE TABLE media_objects (
    sha256 TEXT NOT NULL, agency TEXT NOT NULL, size INTEGER NOT NULL, stored_at TEXT NOT NULL,
    PRIMARY KEY (sha256, agency));
CREATE INDEX evidence_sha256 ON evidence (sha256);
