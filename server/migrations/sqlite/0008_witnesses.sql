-- Version 8: witnesses. Each cosignature (C2SP tlog-cosignature line) a configured witness
-- returned for a checkpoint, verified with the witness's key before it was stored, keyed by the
-- SHA-256 of the checkpoint's text (so it is appended only to that checkpoint); and each alarm a
-- witness raised about the log (a refused consistency proof: a split view or a rewritten log).
CREATE TABLE witness_cosignatures (
    witness TEXT NOT NULL, checkpoint_sha256 TEXT NOT NULL, origin TEXT NOT NULL,
    size INTEGER NOT NULL, line TEXT NOT NULL, signed_at INTEGER NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (witness, checkpoint_sha256));
CREATE INDEX witness_cosignatures_size ON witness_cosignatures (witness, origin, size);
CREATE TABLE witness_alarms (
    witness TEXT NOT NULL, checkpoint_sha256 TEXT NOT NULL, code TEXT NOT NULL,
    size INTEGER NOT NULL, witness_size INTEGER, message TEXT NOT NULL, checkpoint TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    PRIMARY KEY (witness, checkpoint_sha256, code));
