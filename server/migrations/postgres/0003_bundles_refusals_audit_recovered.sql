-- Version 3: the tables servers before version 3 created "if missing" at every start, outside
-- the numbered versions. A database from such a server already has some or all of them, so each
-- is created only if missing here too; the statements are the ones those servers ran.
--
-- Reference bundles (`crate::bundles`).
CREATE TABLE IF NOT EXISTS bundles (
    agency TEXT NOT NULL, version BIGINT NOT NULL, manifest BYTEA NOT NULL, signature BYTEA NOT NULL,
    created_at TEXT NOT NULL, PRIMARY KEY (agency, version));
CREATE TABLE IF NOT EXISTS bundle_components (
    agency TEXT NOT NULL, name TEXT NOT NULL, sha256 TEXT NOT NULL, bytes BYTEA NOT NULL,
    PRIMARY KEY (agency, name, sha256));

-- Entries a business check refused (`crate::ingest`): logged and chained, not materialised; the
-- answer is kept to give it again.
CREATE TABLE IF NOT EXISTS entry_refusals (
    entry_hash BYTEA PRIMARY KEY, code TEXT NOT NULL, message TEXT NOT NULL);

-- Findings of the last completed self-audit (`crate::audit`), kept so the history query refuses
-- to answer from rows found wrong.
CREATE TABLE IF NOT EXISTS audit_holds (
    id BIGSERIAL PRIMARY KEY, code TEXT NOT NULL, agency TEXT, case_id TEXT, entry_hash TEXT,
    detail TEXT NOT NULL, found_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_holds_agency ON audit_holds (agency);

-- Entries brought back after a log rollover (`crate::rollover`), with the receipt of the retired
-- origin they carried.
CREATE TABLE IF NOT EXISTS log_recovered (
    entry_hash BYTEA PRIMARY KEY, device_id TEXT NOT NULL, seq BIGINT NOT NULL,
    leaf_index BIGINT NOT NULL UNIQUE, old_origin TEXT NOT NULL, old_leaf_index BIGINT NOT NULL,
    old_tree_size BIGINT NOT NULL, old_checkpoint TEXT NOT NULL, recorded_at TEXT NOT NULL);
