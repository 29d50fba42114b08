-- Version 7: 案卷评查. A yearly review round per agency (the agency and those below it): the seed
-- and method of its random draw, recorded so anyone can redo it; the cases drawn per unit with
-- the key that placed each; and the reviewers' scores per checklist item.
CREATE TABLE review_rounds (
    id TEXT PRIMARY KEY, agency TEXT NOT NULL, year INTEGER NOT NULL, seed TEXT NOT NULL,
    per_unit INTEGER NOT NULL, method TEXT NOT NULL, drawn_at TEXT NOT NULL, drawn_by TEXT NOT NULL,
    UNIQUE (agency, year));
CREATE TABLE review_samples (
    round_id TEXT NOT NULL, case_id TEXT NOT NULL, agency TEXT NOT NULL, position INTEGER NOT NULL,
    draw_key TEXT NOT NULL, PRIMARY KEY (round_id, case_id));
CREATE TABLE review_scores (
    round_id TEXT NOT NULL, case_id TEXT NOT NULL, item TEXT NOT NULL, score INTEGER NOT NULL,
    note TEXT NOT NULL, by_login TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (round_id, case_id, item));
