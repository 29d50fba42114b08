//! Schema migrations: the numbered versions of each backend's schema, as `.sql` files under
//! `server/migrations/<backend>/` embedded in the binary, and the one rule that decides which of
//! them a database still needs.
//!
//! A database records the last version applied to it: SQLite in its header (`PRAGMA
//! user_version`), PostgreSQL in the one row of `schema_version`; 0 (no record) is an empty
//! database. Opening a database applies every later version in order, each in a transaction of its
//! own that also records its number, so a crash between two versions leaves the database at the
//! first of them, consistent, and the next start carries on. A database recording a version this
//! program does not know was written by a newer server: it is refused (`SCHEMA_TOO_NEW`), never
//! changed.
//!
//! A version, once released, is never edited: a schema change is a new file with the next number,
//! for both backends. `server/tests/migrations.rs` checks that a database upgraded from each older
//! version equals a fresh one, rows included.

use crate::error::{ApiError, Result};

/// One numbered version of a backend's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// 1, 2, …: the number recorded once it is applied.
    pub version: u32,
    /// The file's name without `.sql`.
    pub name: &'static str,
    /// The statements, run as one batch inside the version's transaction.
    pub sql: &'static str,
}

macro_rules! migration {
    ($backend:literal, $version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/",
                $backend,
                "/",
                $name,
                ".sql"
            )),
        }
    };
}

/// SQLite's versions, oldest first.
pub const SQLITE: &[Migration] = &[
    migration!("sqlite", 1, "0001_initial"),
    migration!("sqlite", 2, "0002_media"),
    migration!("sqlite", 3, "0003_bundles_refusals_audit_recovered"),
    migration!("sqlite", 4, "0004_number_leases"),
    migration!("sqlite", 5, "0005_case_index"),
    migration!("sqlite", 6, "0006_publications"),
    migration!("sqlite", 7, "0007_case_review"),
    migration!("sqlite", 8, "0008_witnesses"),
    migration!("sqlite", 9, "0009_legal_review_filing"),
];

/// PostgreSQL's versions, oldest first (the same numbers and names as SQLite's).
pub const POSTGRES: &[Migration] = &[
    migration!("postgres", 1, "0001_initial"),
    migration!("postgres", 2, "0002_media"),
    migration!("postgres", 3, "0003_bundles_refusals_audit_recovered"),
    migration!("postgres", 4, "0004_number_leases"),
    migration!("postgres", 5, "0005_case_index"),
    migration!("postgres", 6, "0006_publications"),
    migration!("postgres", 7, "0007_case_review"),
    migration!("postgres", 8, "0008_witnesses"),
    migration!("postgres", 9, "0009_legal_review_filing"),
];

/// The newest version of `migrations`.
pub fn latest(migrations: &[Migration]) -> u32 {
    migrations.last().map_or(0, |m| m.version)
}

/// The versions a database recording `found` still needs, in the order to apply them: none when it
/// is up to date; `SCHEMA_TOO_NEW` when it records a version newer than any of `migrations`.
pub fn pending(found: i64, migrations: &'static [Migration]) -> Result<&'static [Migration]> {
    if found < 0 {
        return Err(ApiError::storage(format!(
            "schema version {found} recorded in the database"
        )));
    }
    let latest = i64::from(latest(migrations));
    if found > latest {
        return Err(ApiError::internal(
            "SCHEMA_TOO_NEW",
            format!("数据库结构版本 {found} 比本程序新，请升级服务器程序"),
        ));
    }
    let done = migrations
        .iter()
        .take_while(|m| i64::from(m.version) <= found)
        .count();
    Ok(&migrations[done..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each backend's versions are 1, 2, … with no gap, and the two backends have the same ones.
    #[test]
    fn versions_are_numbered_in_order_and_the_same_on_both_backends() {
        for list in [SQLITE, POSTGRES] {
            for (i, m) in list.iter().enumerate() {
                assert_eq!(m.version as usize, i + 1, "{}", m.name);
                assert!(
                    m.name.starts_with(&format!("{:04}_", m.version)),
                    "{}",
                    m.name
                );
                assert!(!m.sql.trim().is_empty(), "{}", m.name);
            }
        }
        let names = |l: &[Migration]| l.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(names(SQLITE), names(POSTGRES));
    }

    #[test]
    fn pending_is_what_comes_after_the_recorded_version() {
        assert_eq!(pending(0, SQLITE).expect("empty").len(), SQLITE.len());
        assert_eq!(pending(1, SQLITE).expect("v1")[0].version, 2);
        assert!(pending(i64::from(latest(SQLITE)), SQLITE)
            .expect("latest")
            .is_empty());
        let err = pending(i64::from(latest(SQLITE)) + 1, SQLITE).expect_err("newer");
        assert_eq!(err.code, "SCHEMA_TOO_NEW");
        assert!(pending(-1, SQLITE).is_err());
    }
}
