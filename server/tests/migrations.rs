//! Schema upgrades, on SQLite and PostgreSQL: a database built at each older schema version, with
//! rows in its tables, and then opened by this server equals a fresh database — the same tables,
//! columns, types, defaults, indexes, constraints and triggers, the same recorded version — and
//! every row it held is still there, unchanged. The older databases are built from the numbered
//! versions themselves ([`migrate::SQLITE`], [`migrate::POSTGRES`]) and recorded the way servers of
//! that version recorded them, including the state servers before version 3 left: version 2 plus
//! the tables they created "if missing" at every start.
//!
//! PostgreSQL runs when `ROADSIDE_TEST_PG_URL` is set, and must be set when `CI` is.

use std::collections::BTreeMap;

use roadside_server::storage::migrate::{self, Migration};
use roadside_server::storage::{self, DynStorage};

/// One state an existing database can be in: the versions applied and recorded, and whether the
/// tables of version 3 were created outside the numbered versions (as servers before it did).
#[derive(Debug, Clone, Copy)]
struct Older {
    version: u32,
    created_if_missing: bool,
}

const OLDER: &[Older] = &[
    Older {
        version: 1,
        created_if_missing: false,
    },
    Older {
        version: 2,
        created_if_missing: false,
    },
    Older {
        version: 2,
        created_if_missing: true,
    },
    Older {
        version: 3,
        created_if_missing: false,
    },
    Older {
        version: 4,
        created_if_missing: false,
    },
    Older {
        version: 5,
        created_if_missing: false,
    },
    Older {
        version: 6,
        created_if_missing: false,
    },
    Older {
        version: 8,
        created_if_missing: false,
    },
];

/// The version whose tables servers before it created "if missing".
const FOLDED: u32 = 3;

/// Rows for the tables of each version, with `{hex:…}` for a byte string (one byte: that byte 32
/// times, a hash) and `{false}` for a false boolean (written per backend by [`rows_sql`]).
fn rows_of(version: u32) -> &'static str {
    match version {
        1 => {
            "INSERT INTO settings (name, value) VALUES ('log.origin', 'roadside.example/log');
             INSERT INTO agencies (code, name, parent) VALUES ('632500', '海南州交通运输综合行政执法局', NULL),
                 ('632521', '共和县交通运输综合行政执法大队', '632500');
             INSERT INTO officers (certificate_no, name, agency, role, valid_from, valid_to, revoked_on)
                 VALUES ('QH6325000101', '张三', '632521', 'officer', '2024-01-01', '2029-12-31', NULL);
             INSERT INTO accounts (login, agency, role, certificate_no, password_hash, disabled)
                 VALUES ('admin', '632500', 'admin', NULL, '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', {false});
             INSERT INTO sessions (token_hash, login, agency, role, expires_at)
                 VALUES ({hex:01}, 'admin', '632500', 'admin', '2030-01-01T00:00:00.000000Z');
             INSERT INTO enrolment_codes (code_hash, agency, certificate_no, created_by, expires_at, used_at, device_id)
                 VALUES ({hex:02}, '632521', 'QH6325000101', 'admin', '2030-01-01T00:00:00.000000Z', NULL, NULL);
             INSERT INTO devices (id, public_key, agency, certificate_no, name, token_hash, enrolled_at, revoked_at, head_seq, head_hash)
                 VALUES ('dev-1', 'aa', '632521', 'QH6325000101', '终端', {hex:03}, '2026-01-01T00:00:00.000000Z', NULL, 1, {hex:04});
             INSERT INTO entries (hash, device_id, seq, leaf_index, checkpoint_size, agency, kind, case_id, at, officers, bytes, sig)
                 VALUES ({hex:04}, 'dev-1', 1, 0, 1, '632521', 'case.open', 'case-1', '2026-01-02T08:00:00+08:00', 'QH6325000101', {hex:7b7d}, {hex:05});
             INSERT INTO cases (id, agency, status, opened_at) VALUES ('case-1', '632521', 'draft', '2026-01-02T08:00:00+08:00');
             INSERT INTO records (entry_hash, case_id, agency, kind, supersedes, superseded_by, body)
                 VALUES ({hex:06}, 'case-1', '632521', 'record.create', NULL, NULL, '{}');
             INSERT INTO evidence (entry_hash, case_id, agency, sha256, size, voided_by, body)
                 VALUES ({hex:07}, 'case-1', '632521', 'ab', 3, NULL, '{}');
             UPDATE log_state SET size = 1;
             INSERT INTO log_tiles (level, idx, data) VALUES (0, 0, {hex:04});
             INSERT INTO checkpoints (size, note) VALUES (1, 'roadside.example/log');"
        }
        2 => {
            "INSERT INTO media_uploads (id, agency, device_id, sha256, length, upload_offset, hash_state, parts, created_at, expires_at)
                 VALUES ('up-1', '632521', 'dev-1', 'cd', 10, 4, {hex:08}, 'part-1', '2026-01-02T00:00:00.000000Z', '2026-01-03T00:00:00.000000Z');
             INSERT INTO media_objects (sha256, agency, size, stored_at) VALUES ('ab', '632521', 3, '2026-01-02T00:00:00.000000Z');"
        }
        3 => {
            "INSERT INTO bundles (agency, version, manifest, signature, created_at)
                 VALUES ('632521', 1, {hex:7b7d}, {hex:09}, '2026-01-01T00:00:00.000000Z');
             INSERT INTO bundle_components (agency, name, sha256, bytes) VALUES ('632521', 'roster', 'ef', {hex:0a});
             INSERT INTO entry_refusals (entry_hash, code, message) VALUES ({hex:0b}, 'CERTIFICATE_UNKNOWN', '证件不存在');
             INSERT INTO audit_holds (code, agency, case_id, entry_hash, detail, found_at)
                 VALUES ('ROW_DIFFERS', '632521', 'case-1', '06', 'records', '2026-01-04T00:00:00.000000Z');
             INSERT INTO log_recovered (entry_hash, device_id, seq, leaf_index, old_origin, old_leaf_index, old_tree_size, old_checkpoint, recorded_at)
                 VALUES ({hex:0c}, 'dev-1', 2, 1, 'roadside.example/log', 1, 2, 'note', '2026-01-05T00:00:00.000000Z');"
        }
        4 => {
            "UPDATE agencies SET doc_prefix = '青海南交执' WHERE code = '632500';
             INSERT INTO number_leases (agency, year, first, last, device_id, leased_at)
                 VALUES ('632521', 2026, 1, 100, 'dev-1', '2026-01-06T00:00:00.000000Z');"
        }
        5 => {
            "UPDATE cases SET plate = '青E12345', items = ',CX-43-1,', officers = ',QH6325000101,',
                 procedure = 'summary', outcome = 'penalty', total_yuan = 200, deviates = {false},
                 decided_on = '2026-01-02' WHERE id = 'case-1';"
        }
        6 => {
            "INSERT INTO publications (case_id, entry_hash, agency, state, decided_on, due_on, record, created_at, published_at, updated_at, withdrawn_at, withdrawn_reason)
                 VALUES ('case-1', '0404040404040404040404040404040404040404040404040404040404040404', '632521', 'published', '2026-01-07', '2026-02-04', '{\"行政相对人名称\":\"张某\"}', '2026-01-07T00:00:00.000000Z', '2026-01-08T00:00:00.000000Z', '2026-01-08T00:00:00.000000Z', NULL, NULL);
             INSERT INTO publication_events (case_id, entry_hash, seq, action, reason, by_login, at, record)
                 VALUES ('case-1', '0404040404040404040404040404040404040404040404040404040404040404', 1, 'created', NULL, 'admin', '2026-01-07T00:00:00.000000Z', '{}'),
                        ('case-1', '0404040404040404040404040404040404040404040404040404040404040404', 2, 'published', NULL, 'admin', '2026-01-08T00:00:00.000000Z', '{}');"
        }
        7 => {
            "INSERT INTO review_rounds (id, agency, year, seed, per_unit, method, drawn_at, drawn_by)
                 VALUES ('round-1', '632500', 2026, 'ab', 10, 'sha256', '2026-12-01T00:00:00.000000Z', 'jiandu');
             INSERT INTO review_samples (round_id, case_id, agency, position, draw_key)
                 VALUES ('round-1', 'case-1', '632521', 1, 'cd');
             INSERT INTO review_scores (round_id, case_id, item, score, note, by_login, at)
                 VALUES ('round-1', 'case-1', 'ZT', 10, '', 'jiandu', '2026-12-02T00:00:00.000000Z');"
        }
        8 => {
            "INSERT INTO witness_cosignatures (witness, checkpoint_sha256, origin, size, line, signed_at, received_at)
                 VALUES ('witness.example/w1', 'ab', 'roadside.example/log', 1, 'line', 1767225600, '2026-12-03T00:00:00.000000Z');
             INSERT INTO witness_alarms (witness, checkpoint_sha256, code, size, witness_size, message, checkpoint, detected_at)
                 VALUES ('witness.example/w1', 'cd', 'WITNESS_SPLIT_VIEW', 1, NULL, '见证者拒绝', 'note', '2026-12-03T00:00:00.000000Z');"
        }
        9 => {
            "INSERT INTO filings (decision_hash, case_id, agency, filed_on, filed_by, recorded_at, note)
                 VALUES ('0505050505050505050505050505050505050505050505050505050505050505', 'case-1', '632521', '2026-01-09', 'jiandu', '2026-01-09T00:00:00.000000Z', '报州局');"
        }
        other => panic!("no rows written for version {other}: add them with the version"),
    }
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

fn rows_sql(version: u32, backend: Backend) -> String {
    let mut sql = rows_of(version).to_string();
    while let Some(start) = sql.find("{hex:") {
        let end = start + sql[start..].find('}').expect("closed placeholder");
        let hex = match &sql[start + 5..end] {
            byte if byte.len() == 2 => byte.repeat(32),
            bytes => bytes.to_string(),
        };
        let literal = match backend {
            Backend::Sqlite => format!("X'{hex}'"),
            Backend::Postgres => format!("decode('{hex}', 'hex')"),
        };
        sql.replace_range(start..=end, &literal);
    }
    let no = match backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "FALSE",
    };
    sql.replace("{false}", no)
}

/// Every migration up to the newest has rows written for it here (a new version needs some).
#[test]
fn every_version_has_rows() {
    for m in migrate::SQLITE {
        assert!(!rows_of(m.version).is_empty());
    }
}

// ---- SQLite ----

/// The schema as SQLite describes it: every object's SQL (`sqlite_master`, which keeps a table's
/// CHECK constraints and a trigger's body), each table's columns, indexes and foreign keys, and the
/// recorded version.
fn sqlite_schema(conn: &rusqlite::Connection) -> Vec<String> {
    let mut out = Vec::new();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .expect("user_version");
    out.push(format!("user_version {version}"));
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .expect("prepare");
    let objects: Vec<(String, String, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    for (kind, name, table, sql) in &objects {
        out.push(format!("{kind} {name} on {table}: {sql:?}"));
        if kind != "table" {
            continue;
        }
        for pragma in ["table_xinfo", "index_list", "foreign_key_list"] {
            let mut stmt = conn
                .prepare(&format!("SELECT * FROM pragma_{pragma}('{name}')"))
                .expect("pragma");
            let n = stmt.column_count();
            let rows: Vec<String> = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, rusqlite::types::Value>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| format!("{v:?}"))
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            for row in rows {
                out.push(format!("  {pragma} {name}: {row}"));
            }
        }
    }
    for (kind, name, ..) in &objects {
        if kind != "index" {
            continue;
        }
        let mut stmt = conn
            .prepare(&format!(
                "SELECT seqno, cid, name FROM pragma_index_info('{name}')"
            ))
            .expect("pragma");
        let rows: Vec<(i64, i64, Option<String>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        out.push(format!("  index_info {name}: {rows:?}"));
    }
    out
}

/// The columns of every table, in their order, by table.
type Columns = BTreeMap<String, Vec<String>>;

fn sqlite_columns(conn: &rusqlite::Connection) -> Columns {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    tables
        .into_iter()
        .map(|t| {
            let stmt = conn
                .prepare(&format!("SELECT * FROM \"{t}\""))
                .expect("prepare");
            let names = stmt.column_names().map(|c| c.to_string()).collect();
            (t, names)
        })
        .collect()
}

/// A column a later version added holds NULL in every row an older server wrote (`columns`:
/// what the older database had).
fn sqlite_added_columns_are_null(conn: &rusqlite::Connection, columns: &Columns) {
    for (t, now) in sqlite_columns(conn) {
        let Some(before) = columns.get(&t) else {
            continue;
        };
        for c in now.iter().filter(|c| !before.contains(c)) {
            let set: i64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM \"{t}\" WHERE \"{c}\" IS NOT NULL"),
                    [],
                    |r| r.get(0),
                )
                .expect("count");
            assert_eq!(set, 0, "added column {t}.{c} is set in older rows");
        }
    }
}

/// Every row of every table of `columns`, over those columns, as text, sorted, by table.
fn sqlite_rows(conn: &rusqlite::Connection, columns: &Columns) -> BTreeMap<String, Vec<String>> {
    columns
        .iter()
        .map(|(t, cols)| {
            let list = cols
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ");
            let mut stmt = conn
                .prepare(&format!("SELECT {list} FROM \"{t}\""))
                .expect("prepare");
            let n = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| {
                    (0..n)
                        .map(|i| r.get::<_, rusqlite::types::Value>(i))
                        .collect::<Result<Vec<_>, _>>()
                        .map(|v| format!("{v:?}"))
                })
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows");
            rows.sort();
            (t.clone(), rows)
        })
        .collect()
}

/// Build a SQLite database as a server of `older` left it, with rows.
fn sqlite_at(path: &std::path::Path, older: Older) {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    for m in applied(migrate::SQLITE, older.version) {
        let tx = conn.transaction().expect("begin");
        tx.execute_batch(m.sql).expect(m.name);
        tx.execute_batch(&rows_sql(m.version, Backend::Sqlite))
            .expect("rows");
        tx.pragma_update(None, "user_version", m.version)
            .expect("version");
        tx.commit().expect("commit");
    }
    if older.created_if_missing {
        conn.execute_batch(folded().sql)
            .expect("created if missing");
        conn.execute_batch(&rows_sql(FOLDED, Backend::Sqlite))
            .expect("rows");
    }
}

fn applied(all: &'static [Migration], version: u32) -> impl Iterator<Item = &'static Migration> {
    all.iter().filter(move |m| m.version <= version)
}

fn folded() -> &'static Migration {
    migrate::SQLITE
        .iter()
        .find(|m| m.version == FOLDED)
        .expect("folded version")
}

async fn open_sqlite(path: &std::path::Path) -> DynStorage {
    storage::open(&path.to_string_lossy())
        .await
        .expect("open and upgrade")
}

/// What the upgraded database answers through the storage layer, beside the raw row comparison.
async fn reads_back(s: &DynStorage) {
    assert_eq!(
        s.setting("log.origin").await.expect("setting").as_deref(),
        Some("roadside.example/log")
    );
    assert_eq!(s.agencies().await.expect("agencies").len(), 2);
    assert_eq!(s.tree_size().await.expect("size"), 1);
    let devices = s.devices(&["632521".to_string()]).await.expect("devices");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].head_seq, 1);
    assert_eq!(
        s.cases(&["632521".to_string()]).await.expect("cases").len(),
        1
    );
}

#[tokio::test]
async fn an_upgraded_sqlite_database_equals_a_fresh_one_and_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("fresh.sqlite3");
    drop(open_sqlite(&fresh).await);
    let want = sqlite_schema(&rusqlite::Connection::open(&fresh).expect("open"));
    assert!(
        want[0] == format!("user_version {}", migrate::latest(migrate::SQLITE)),
        "a fresh database records the newest version: {}",
        want[0]
    );
    assert!(want.len() > 100, "the dump sees the schema: {want:#?}");
    // Opening an up-to-date database changes nothing.
    drop(open_sqlite(&fresh).await);
    assert_eq!(
        sqlite_schema(&rusqlite::Connection::open(&fresh).expect("open")),
        want
    );

    for (i, &older) in OLDER.iter().enumerate() {
        let path = dir.path().join(format!("older-{i}.sqlite3"));
        sqlite_at(&path, older);
        let old = rusqlite::Connection::open(&path).expect("open");
        let columns = sqlite_columns(&old);
        let before = sqlite_rows(&old, &columns);
        drop(old);
        let s = open_sqlite(&path).await;
        reads_back(&s).await;
        drop(s);
        let conn = rusqlite::Connection::open(&path).expect("open");
        assert_eq!(sqlite_schema(&conn), want, "upgraded from {older:?}");
        sqlite_added_columns_are_null(&conn, &columns);
        let after = sqlite_rows(&conn, &columns);
        for (table, rows) in &before {
            assert_eq!(
                after.get(table),
                Some(rows),
                "rows of {table}, from {older:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_sqlite_database_of_a_newer_server_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("newer.sqlite3");
    drop(open_sqlite(&path).await);
    let newer = migrate::latest(migrate::SQLITE) + 1;
    rusqlite::Connection::open(&path)
        .expect("open")
        .pragma_update(None, "user_version", newer)
        .expect("version");
    let before = sqlite_schema(&rusqlite::Connection::open(&path).expect("open"));
    let err = match storage::open(&path.to_string_lossy()).await {
        Ok(_) => panic!("a database of a newer server was opened"),
        Err(e) => e,
    };
    assert_eq!(err.code, "SCHEMA_TOO_NEW");
    assert_eq!(
        sqlite_schema(&rusqlite::Connection::open(&path).expect("open")),
        before
    );
}

// ---- PostgreSQL ----

/// `ROADSIDE_TEST_PG_URL`; `None` (the test skips) only when `CI` is not set.
fn pg_admin_url() -> Option<String> {
    match std::env::var("ROADSIDE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but ROADSIDE_TEST_PG_URL is not: the PostgreSQL tests cannot run")
        }
        _ => {
            eprintln!(
                "skipped: ROADSIDE_TEST_PG_URL is not set (scripts/pg-test-server.sh starts one)"
            );
            None
        }
    }
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

/// A new, empty database on the test server; its URL.
async fn pg_database(admin_url: &str) -> String {
    let name = format!("roadside_migrations_{}", uuid::Uuid::now_v7().simple());
    pg_client(admin_url)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let root = base.rsplit_once('/').map_or(base, |(r, _)| r);
    format!("{root}/{name}{query}")
}

/// The schema as PostgreSQL's catalogue describes it: columns with their types, nullability and
/// defaults, indexes, constraints, triggers, sequences, and the recorded version.
async fn pg_schema(url: &str) -> Vec<String> {
    let client = pg_client(url).await;
    let mut out = Vec::new();
    let queries = [
        "SELECT 'version ' || version FROM schema_version",
        "SELECT 'column ' || table_name || '.' || column_name || ' #' || ordinal_position || ' ' \
             || data_type || ' nullable=' || is_nullable || ' default=' \
             || coalesce(column_default, '-') \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
        "SELECT 'index ' || tablename || '.' || indexname || ': ' || indexdef FROM pg_indexes \
         WHERE schemaname = 'public' ORDER BY tablename, indexname",
        "SELECT 'constraint ' || c.relname || '.' || k.conname || ' ' || k.contype::TEXT || ': ' \
             || pg_get_constraintdef(k.oid) \
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' \
         ORDER BY c.relname, k.conname",
        "SELECT 'trigger ' || c.relname || '.' || t.tgname || ': ' || pg_get_triggerdef(t.oid) \
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY c.relname, t.tgname",
        "SELECT 'sequence ' || sequence_name || ' ' || data_type || ' ' || start_value || ' ' \
             || increment FROM information_schema.sequences WHERE sequence_schema = 'public' \
         ORDER BY sequence_name",
        "SELECT 'table ' || table_name || ' ' || table_type FROM information_schema.tables \
         WHERE table_schema = 'public' ORDER BY table_name",
    ];
    for q in queries {
        for row in client.query(q, &[]).await.expect(q) {
            out.push(row.get::<_, String>(0));
        }
    }
    out
}

/// The columns of every table, in their order, by table.
async fn pg_columns(url: &str) -> Columns {
    let client = pg_client(url).await;
    let mut out = Columns::new();
    for r in client
        .query(
            "SELECT c.table_name::TEXT, c.column_name::TEXT FROM information_schema.columns c \
             JOIN information_schema.tables t ON t.table_schema = c.table_schema \
             AND t.table_name = c.table_name \
             WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await
        .expect("columns")
    {
        out.entry(r.get(0)).or_default().push(r.get(1));
    }
    out
}

/// A column a later version added holds NULL in every row an older server wrote.
async fn pg_added_columns_are_null(url: &str, columns: &Columns) {
    let client = pg_client(url).await;
    for (t, now) in pg_columns(url).await {
        let Some(before) = columns.get(&t) else {
            continue;
        };
        for c in now.iter().filter(|c| !before.contains(c)) {
            let set: i64 = client
                .query_one(
                    &format!("SELECT count(*) FROM \"{t}\" WHERE \"{c}\" IS NOT NULL"),
                    &[],
                )
                .await
                .expect("count")
                .get(0);
            assert_eq!(set, 0, "added column {t}.{c} is set in older rows");
        }
    }
}

/// Every row of every table of `columns`, over those columns, as text, sorted, by table.
async fn pg_rows(url: &str, columns: &Columns) -> BTreeMap<String, Vec<String>> {
    let client = pg_client(url).await;
    let mut out = BTreeMap::new();
    for (t, cols) in columns {
        let list = cols
            .iter()
            .map(|c| format!("t.\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = client
            .query(
                &format!("SELECT CAST(ROW({list}) AS TEXT) FROM \"{t}\" t ORDER BY 1"),
                &[],
            )
            .await
            .expect("rows");
        out.insert(t.clone(), rows.iter().map(|r| r.get(0)).collect());
    }
    out
}

/// Build a PostgreSQL database as a server of `older` left it, with rows.
async fn pg_at(url: &str, older: Older) {
    let mut client = pg_client(url).await;
    client
        .batch_execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        .await
        .expect("version table");
    for m in applied(migrate::POSTGRES, older.version) {
        let tx = client.transaction().await.expect("begin");
        tx.batch_execute(m.sql).await.expect(m.name);
        tx.batch_execute(&rows_sql(m.version, Backend::Postgres))
            .await
            .expect("rows");
        let version = i32::try_from(m.version).expect("small version");
        tx.execute("DELETE FROM schema_version", &[])
            .await
            .expect("version");
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .expect("version");
        tx.commit().await.expect("commit");
    }
    if older.created_if_missing {
        let folded = migrate::POSTGRES
            .iter()
            .find(|m| m.version == FOLDED)
            .expect("folded version");
        client
            .batch_execute(folded.sql)
            .await
            .expect("created if missing");
        client
            .batch_execute(&rows_sql(FOLDED, Backend::Postgres))
            .await
            .expect("rows");
    }
}

#[tokio::test]
async fn an_upgraded_postgres_database_equals_a_fresh_one_and_keeps_its_rows() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    let fresh = pg_database(&admin).await;
    drop(storage::open(&fresh).await.expect("open fresh"));
    let want = pg_schema(&fresh).await;
    assert_eq!(
        want[0],
        format!("version {}", migrate::latest(migrate::POSTGRES)),
        "a fresh database records the newest version"
    );
    assert!(want.len() > 100, "the dump sees the schema: {want:#?}");
    // Opening an up-to-date database changes nothing.
    drop(storage::open(&fresh).await.expect("open again"));
    assert_eq!(pg_schema(&fresh).await, want);

    for &older in OLDER {
        let url = pg_database(&admin).await;
        pg_at(&url, older).await;
        let columns = pg_columns(&url).await;
        let before = pg_rows(&url, &columns).await;
        let s = storage::open(&url).await.expect("open and upgrade");
        reads_back(&s).await;
        drop(s);
        assert_eq!(pg_schema(&url).await, want, "upgraded from {older:?}");
        pg_added_columns_are_null(&url, &columns).await;
        let after = pg_rows(&url, &columns).await;
        // The version row is compared with the schema; every other row stays as it was.
        for (table, rows) in before.iter().filter(|(t, _)| *t != "schema_version") {
            assert_eq!(
                after.get(table),
                Some(rows),
                "rows of {table}, from {older:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_postgres_database_of_a_newer_server_is_refused_and_left_alone() {
    let Some(admin) = pg_admin_url() else {
        return;
    };
    let url = pg_database(&admin).await;
    drop(storage::open(&url).await.expect("open"));
    let newer = i32::try_from(migrate::latest(migrate::POSTGRES) + 1).expect("small version");
    pg_client(&url)
        .await
        .execute("UPDATE schema_version SET version = $1", &[&newer])
        .await
        .expect("version");
    let before = pg_schema(&url).await;
    let err = match storage::open(&url).await {
        Ok(_) => panic!("a database of a newer server was opened"),
        Err(e) => e,
    };
    assert_eq!(err.code, "SCHEMA_TOO_NEW");
    assert_eq!(pg_schema(&url).await, before);
}
