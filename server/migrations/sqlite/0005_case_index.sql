-- Version 5: the case index the back office filters and counts by (plate, benchmark items,
-- officers, procedure, outcome, amount, deviation, decision day), kept at ingest from the opening
-- entry and the decision. Cases stored before this version have NULL in these columns (a case
-- indexed since has at least `items` set, maybe to ''): the server indexes them from the log at
-- its next start. Sets (items, officers) are written `,a,b,`.
ALTER TABLE cases ADD COLUMN plate TEXT;
ALTER TABLE cases ADD COLUMN items TEXT;
ALTER TABLE cases ADD COLUMN officers TEXT;
ALTER TABLE cases ADD COLUMN procedure TEXT;
ALTER TABLE cases ADD COLUMN outcome TEXT;
ALTER TABLE cases ADD COLUMN total_yuan INTEGER;
ALTER TABLE cases ADD COLUMN deviates INTEGER;
ALTER TABLE cases ADD COLUMN decided_on TEXT;
CREATE INDEX cases_agency_opened ON cases (agency, opened_at);
CREATE INDEX cases_plate ON cases (plate);
-- The case list's order (newest first), walked while its filters are checked.
CREATE INDEX cases_opened ON cases (opened_at, id);
