-- Version 9: 法制审核 and 备案. The review queue reads the `review.request` and `review.opinion`
-- entries of its agencies (the opinions are entries the server signs with the agency key, on the
-- agency's signer chain in `devices`), so they get an index of their own. A major decision's
-- filing (备案) with the superior and the justice bureau is recorded once, by decision entry.
CREATE INDEX entries_legal_review ON entries (agency, kind)
    WHERE kind IN ('review.request', 'review.opinion');
CREATE TABLE filings (
    decision_hash TEXT PRIMARY KEY, case_id TEXT NOT NULL, agency TEXT NOT NULL,
    filed_on TEXT NOT NULL, filed_by TEXT NOT NULL, recorded_at TEXT NOT NULL, note TEXT NOT NULL);
