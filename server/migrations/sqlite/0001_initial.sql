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
    password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY, login TEXT NOT NULL, agency TEXT NOT NULL, role TEXT NOT NULL,
    expires_at TEXT NOT NULL);
CREATE TABLE enrolment_codes (
    code_hash BLOB PRIMARY KEY, agency TEXT NOT NULL, certificate_no TEXT NOT NULL,
    created_by TEXT NOT NULL, expires_at TEXT NOT NULL, used_at TEXT, device_id TEXT);
CREATE TABLE devices (
    id TEXT PRIMARY KEY, public_key TEXT NOT NULL UNIQUE, agency TEXT NOT NULL,
    certificate_no TEXT NOT NULL, name TEXT NOT NULL, token_hash BLOB NOT NULL UNIQUE,
    enrolled_at TEXT NOT NULL, revoked_at TEXT, head_seq INTEGER NOT NULL DEFAULT 0, head_hash BLOB);
CREATE TABLE entries (
    hash BLOB PRIMARY KEY, device_id TEXT NOT NULL, seq INTEGER NOT NULL,
    leaf_index INTEGER NOT NULL UNIQUE, checkpoint_size INTEGER NOT NULL, agency TEXT NOT NULL,
    kind TEXT NOT NULL, case_id TEXT, at TEXT NOT NULL, officers TEXT NOT NULL,
    bytes BLOB NOT NULL, sig BLOB NOT NULL, UNIQUE (device_id, seq));
CREATE TABLE cases (
    id TEXT PRIMARY KEY, agency TEXT NOT NULL, status TEXT NOT NULL, opened_at TEXT);
CREATE INDEX cases_agency ON cases (agency);
CREATE TABLE records (
    entry_hash BLOB PRIMARY KEY, case_id TEXT, agency TEXT NOT NULL, kind TEXT NOT NULL,
    supersedes TEXT, superseded_by BLOB, body TEXT NOT NULL);
CREATE TABLE evidence (
    entry_hash BLOB PRIMARY KEY, case_id TEXT, agency TEXT NOT NULL, sha256 TEXT,
    size INTEGER, voided_by BLOB, body TEXT NOT NULL);
CREATE TABLE log_state (id INTEGER PRIMARY KEY CHECK (id = 1), size INTEGER NOT NULL);
INSERT INTO log_state (id, size) VALUES (1, 0);
CREATE TABLE log_tiles (level INTEGER NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (level, idx));
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
