//! SQLite: agencies, officers, accounts and sessions.

use super::*;
use roadside_core::day::format_day;

/// A `YYYY-MM-DD` text column as a day.
fn day_column(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<chrono::NaiveDate> {
    let text: String = r.get(i)?;
    roadside_core::day::parse_day(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("not a YYYY-MM-DD day: {text}").into(),
        )
    })
}

fn officer_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(OfficerCertificate, String)> {
    let role: String = r.get(3)?;
    Ok((
        OfficerCertificate {
            certificate_no: r.get(0)?,
            name: r.get(1)?,
            agency: r.get(2)?,
            role: roadside_core::model::OfficerRole::Officer,
            valid_from: day_column(r, 4)?,
            valid_to: day_column(r, 5)?,
            revoked_on: match r.get_ref(6)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(day_column(r, 6)?),
            },
        },
        role,
    ))
}

fn officers_query(
    conn: &Connection,
    column: &str,
    keys: &[String],
) -> Result<Vec<OfficerCertificate>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT certificate_no, name, agency, role, valid_from, valid_to, revoked_on FROM officers \
         WHERE {column} IN ({}) ORDER BY agency, certificate_no",
        in_list(keys.len())
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), officer_row)?;
    let mut out = Vec::new();
    for row in rows {
        let (mut o, role) = row?;
        o.role = parse_role(&role)?;
        out.push(o);
    }
    Ok(out)
}

#[async_trait]
impl AccountStore for SqliteStorage {
    async fn upsert_agency(&self, a: &Agency) -> Result<()> {
        let a = a.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO agencies (code, name, parent, doc_prefix) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, \
                 doc_prefix = excluded.doc_prefix",
                params![a.code, a.name, a.parent, a.doc_prefix],
            )?;
            Ok(())
        })
        .await
    }

    async fn agencies(&self) -> Result<Vec<Agency>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT code, name, parent, doc_prefix FROM agencies ORDER BY code")?;
            let rows = stmt.query_map([], |r| {
                Ok(Agency {
                    code: r.get(0)?,
                    name: r.get(1)?,
                    parent: r.get(2)?,
                    doc_prefix: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn put_officer(&self, o: &OfficerCertificate) -> Result<()> {
        let o = o.clone();
        self.write(move |c| {
            c.execute(
                "INSERT INTO officers (certificate_no, name, agency, role, valid_from, valid_to, revoked_on) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (certificate_no) DO UPDATE SET \
                 name = excluded.name, agency = excluded.agency, role = excluded.role, \
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to, revoked_on = excluded.revoked_on",
                params![
                    o.certificate_no,
                    o.name,
                    o.agency,
                    role_str(o.role),
                    format_day(o.valid_from),
                    format_day(o.valid_to),
                    o.revoked_on.map(format_day)
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn put_officers(&self, officers: &[OfficerCertificate]) -> Result<()> {
        let officers = officers.to_vec();
        self.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for o in &officers {
                tx.prepare_cached(
                    "INSERT INTO officers (certificate_no, name, agency, role, valid_from, valid_to, revoked_on) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (certificate_no) DO UPDATE SET \
                     name = excluded.name, agency = excluded.agency, role = excluded.role, \
                     valid_from = excluded.valid_from, valid_to = excluded.valid_to, revoked_on = excluded.revoked_on",
                )?
                .execute(params![
                    o.certificate_no,
                    o.name,
                    o.agency,
                    role_str(o.role),
                    format_day(o.valid_from),
                    format_day(o.valid_to),
                    o.revoked_on.map(format_day)
                ])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn officer(&self, certificate_no: &str) -> Result<Option<OfficerCertificate>> {
        let key = vec![certificate_no.to_string()];
        Ok(self
            .read(move |c| officers_query(c, "certificate_no", &key))
            .await?
            .pop())
    }

    async fn officers(&self, agencies: &[String]) -> Result<Vec<OfficerCertificate>> {
        let keys = agencies.to_vec();
        self.read(move |c| officers_query(c, "agency", &keys)).await
    }

    async fn officers_by_certificate(&self, certs: &[String]) -> Result<Vec<OfficerCertificate>> {
        let keys = certs.to_vec();
        self.read(move |c| officers_query(c, "certificate_no", &keys))
            .await
    }

    async fn create_account(&self, a: &Account) -> Result<bool> {
        let a = a.clone();
        self.write(move |c| {
            let n = c.execute(
                "INSERT INTO accounts (login, agency, role, certificate_no, password_hash, disabled) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (login) DO NOTHING",
                params![a.login, a.agency, role_str(a.role), a.certificate_no, a.password_hash, a.disabled],
            )?;
            Ok(n == 1)
        })
        .await
    }

    async fn account(&self, login: &str) -> Result<Option<Account>> {
        let login = login.to_string();
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT login, agency, role, certificate_no, password_hash, disabled FROM accounts WHERE login = ?1",
                    [login],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, bool>(5)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(login, agency, role, certificate_no, password_hash, disabled)| {
                Ok(Account {
                    login,
                    agency,
                    role: parse_role(&role)?,
                    certificate_no,
                    password_hash,
                    disabled,
                })
            })
            .transpose()
        })
        .await
    }

    async fn accounts(&self, agencies: &[String]) -> Result<Vec<Account>> {
        let keys = agencies.to_vec();
        self.read(move |c| {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT login, agency, role, certificate_no, password_hash, disabled FROM accounts \
                 WHERE agency IN ({}) ORDER BY agency, login",
                in_list(keys.len())
            );
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(keys.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, bool>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (login, agency, role, certificate_no, password_hash, disabled) = row?;
                out.push(Account {
                    login,
                    agency,
                    role: parse_role(&role)?,
                    certificate_no,
                    password_hash,
                    disabled,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn create_session(&self, token_hash: &[u8; 32], s: &Session) -> Result<()> {
        let (t, s) = (*token_hash, s.clone());
        self.write(move |c| {
            c.execute(
                "INSERT INTO sessions (token_hash, login, agency, role, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![&t[..], s.login, s.agency, role_str(s.role), s.expires_at],
            )?;
            Ok(())
        })
        .await
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        let t = *token_hash;
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT login, agency, role, expires_at FROM sessions WHERE token_hash = ?1",
                    [&t[..]],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                        ))
                    },
                )
                .optional()?;
            row.map(|(login, agency, role, expires_at)| {
                Ok(Session {
                    login,
                    agency,
                    role: parse_role(&role)?,
                    expires_at,
                })
            })
            .transpose()
        })
        .await
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()> {
        let t = *token_hash;
        self.write(move |c| {
            c.execute("DELETE FROM sessions WHERE token_hash = ?1", [&t[..]])?;
            Ok(())
        })
        .await
    }
}
