-- Version 4: document numbers (文书编号), and entries indexed by case. Each agency's printed
-- number prefix (NULL: its name), and the blocks of serials leased to devices: per agency and
-- year, serials 1–9999, each block allocated after the highest leased so far inside one
-- transaction, so blocks never overlap.
ALTER TABLE agencies ADD COLUMN doc_prefix TEXT;
CREATE TABLE number_leases (
    agency TEXT NOT NULL, year INTEGER NOT NULL, first INTEGER NOT NULL, last INTEGER NOT NULL,
    device_id TEXT NOT NULL, leased_at TEXT NOT NULL,
    PRIMARY KEY (agency, year, first), UNIQUE (agency, year, last),
    CHECK (first >= 1 AND last >= first AND last <= 9999));
-- A case's entries, in the case API and for whether it is decided.
CREATE INDEX entries_case ON entries (case_id);
