-- Version 6: 行政处罚决定公示. One publication per penalty decision (its case and the decision
-- entry's hash), owned by the case's agency: its state (pending, published, withdrawn — a withdrawn
-- one is never published again), the record as published (JSON keyed by the 双公示 item names),
-- the decision day and the day it is due by (20 working days after). Its history is append-only:
-- one row per change, with who, when, why and the record after it; updates and deletes of history
-- rows are refused.
CREATE TABLE publications (
    case_id TEXT NOT NULL, entry_hash TEXT NOT NULL, agency TEXT NOT NULL,
    state TEXT NOT NULL, decided_on TEXT NOT NULL, due_on TEXT NOT NULL, record TEXT NOT NULL,
    created_at TEXT NOT NULL, published_at TEXT, updated_at TEXT NOT NULL,
    withdrawn_at TEXT, withdrawn_reason TEXT,
    PRIMARY KEY (case_id, entry_hash),
    CHECK (state IN ('pending', 'published', 'withdrawn')),
    CHECK (length(entry_hash) = 64),
    CHECK ((state = 'withdrawn') = (withdrawn_at IS NOT NULL AND withdrawn_reason IS NOT NULL)));
-- The office's lists (by agency, state and due day) and the public list (published, newest first).
CREATE INDEX publications_agency_due ON publications (agency, state, due_on);
CREATE INDEX publications_published ON publications (state, published_at);
CREATE TABLE publication_events (
    case_id TEXT NOT NULL, entry_hash TEXT NOT NULL, seq INTEGER NOT NULL,
    action TEXT NOT NULL, reason TEXT, by_login TEXT NOT NULL, at TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (case_id, entry_hash, seq),
    CHECK (action IN ('created', 'published', 'updated', 'withdrawn')),
    CHECK (seq >= 1));
CREATE FUNCTION publication_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'publication history is append-only';
END
$$;
CREATE TRIGGER publication_events_append_only BEFORE UPDATE OR DELETE ON publication_events
    FOR EACH ROW EXECUTE FUNCTION publication_events_append_only();
