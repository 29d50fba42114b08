-- Version 1: settings, agencies, officers, accounts and sessions, enrolment and devices, the
-- log's entries, tiles and checkpoints, and the cases, records and evidence materialised from
-- accepted entries.
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE agencies (code TEXT PRIMARY KEY, name TEXT NOT NULL, parent TEXT);
CREATE TABLE officers (
    certificate_no TEXT PRIMARY KEY, name TEXT NOT NULL, agency TEXT NOT NULL, role TEXT NOT NULL,
    valid_from TEXT NOT NULL, valid_to TEXT NOT NULL, revoked_on TEXT);
CREATE INDEX officers_agency ON officers (agency);
CREATE TABLE accounts (
    login TEXT PRIMARY KEY, agency TEXT NOT NULL, role TEXT NOT NULL, certificate_no TEXT,
    password_hash TEXT NOT NULL, disabled BOOLEAN NOT NULL DEFAULT FALSE);
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY, login TEXT NOT NULL, agency TEXT NOT NULL, role TEXT NOT NULL,
    expires_at TEXT NOT NULL);
CREATE TABLE enrolment_codes (
    code_hash BYTEA PRIMARY KEY, agency TEXT NOT NULL, certificate_no TEXT NOT NULL,
    created_by TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT, device_id TEXT);
CREATE TABLE devices (
    id TEXT PRIMARY KEY, public_key TEXT NOT NULL UNIQUE, agency TEXT NOT NULL,
    certificate_no TEXT NOT NULL, name TEXT NOT NULL, token_hash BYTEA NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL, revoked_at TEXT, head_seq BIGINT NOT NULL DEFAULT 0, head_hash BYTEA);
CREATE TABLE entries (
    hash BYTEA PRIMARY KEY, device_id TEXT NOT NULL, seq BIGINT NOT NULL,
    leaf_index BIGINT NOT NULL UNIQUE, checkpoint_size BIGINT NOT NULL, agency TEXT NOT NULL,
    kind TEXT NOT NULL, case_id TEXT, at TEXT NOT NULL, officers TEXT NOT NULL,
    bytes BYTEA NOT NULL, sig BYTEA NOT NULL, UNIQUE (device_id, seq));
CREATE TABLE cases (
    id TEXT PRIMARY KEY, agency TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT);
CREATE INDEX cases_agency ON cases (agency);
CREATE TABLE records (
    entry_hash BYTEA PRIMARY KEY, case_id TEXT, agency TEXT NOT NULL, kind TEXT NOT NULL,
    supersedes TEXT, superseded_by BYTEA, body TEXT NOT NULL);
CREATE TABLE evidence (
    entry_hash BYTEA PRIMARY KEY, case_id TEXT, agency TEXT NOT NULL, sha256 TEXT,
    size BIGINT, voided_by BYTEA, body TEXT NOT NULL);
CREATE TABLE log_state (id INTEGER PRIMARY KEY CHECK (id = 1), size BIGINT NOT NULL);
INSERT INTO log_state (id, size) VALUES (1, 0);
CREATE TABLE log_tiles (level INTEGER NOT NULL, idx BIGINT NOT NULL, data BYTEA NOT NULL,
    PRIMARY KEY (level, idx));
CREATE TABLE checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL);
