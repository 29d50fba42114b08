//! PostgreSQL: agencies, officers, accounts and sessions.

use super::*;
use roadside_core::day::format_day;

fn officer_of(r: &Row) -> Result<OfficerCertificate> {
    Ok(OfficerCertificate {
        certificate_no: r.get(0),
        name: r.get(1),
        agency: r.get(2),
        role: parse_role(r.get(3))?,
        valid_from: day_from_db(r.get(4))?,
        valid_to: day_from_db(r.get(5))?,
        revoked_on: r.get::<_, Option<&str>>(6).map(day_from_db).transpose()?,
    })
}

const OFFICER_COLUMNS: &str =
    "certificate_no, name, agency, role, valid_from, valid_to, revoked_on";

#[async_trait]
impl AccountStore for PgStorage {
    async fn upsert_agency(&self, a: &Agency) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO agencies (code, name, parent, doc_prefix) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, \
                 doc_prefix = excluded.doc_prefix",
                &[&a.code, &a.name, &a.parent, &a.doc_prefix],
            )
            .await?;
        Ok(())
    }

    async fn agencies(&self) -> Result<Vec<Agency>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT code, name, parent, doc_prefix FROM agencies ORDER BY code",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Agency {
                code: r.get(0),
                name: r.get(1),
                parent: r.get(2),
                doc_prefix: r.get(3),
            })
            .collect())
    }

    async fn put_officer(&self, o: &OfficerCertificate) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO officers (certificate_no, name, agency, role, valid_from, valid_to, revoked_on) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (certificate_no) DO UPDATE SET \
                 name = excluded.name, agency = excluded.agency, role = excluded.role, \
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to, revoked_on = excluded.revoked_on",
                &[
                    &o.certificate_no,
                    &o.name,
                    &o.agency,
                    &role_str(o.role),
                    &format_day(o.valid_from),
                    &format_day(o.valid_to),
                    &o.revoked_on.map(format_day),
                ],
            )
            .await?;
        Ok(())
    }

    async fn put_officers(&self, officers: &[OfficerCertificate]) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        for o in officers {
            exec(
                &tx,
                "INSERT INTO officers (certificate_no, name, agency, role, valid_from, valid_to, revoked_on) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (certificate_no) DO UPDATE SET \
                 name = excluded.name, agency = excluded.agency, role = excluded.role, \
                 valid_from = excluded.valid_from, valid_to = excluded.valid_to, revoked_on = excluded.revoked_on",
                &[
                    &o.certificate_no,
                    &o.name,
                    &o.agency,
                    &role_str(o.role),
                    &format_day(o.valid_from),
                    &format_day(o.valid_to),
                    &o.revoked_on.map(format_day),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn officer(&self, certificate_no: &str) -> Result<Option<OfficerCertificate>> {
        let sql = format!("SELECT {OFFICER_COLUMNS} FROM officers WHERE certificate_no = $1");
        self.pool
            .get()
            .await?
            .query_opt(&sql, &[&certificate_no])
            .await?
            .as_ref()
            .map(officer_of)
            .transpose()
    }

    async fn officers(&self, agencies: &[String]) -> Result<Vec<OfficerCertificate>> {
        let sql = format!(
            "SELECT {OFFICER_COLUMNS} FROM officers WHERE agency = ANY($1) ORDER BY agency, certificate_no"
        );
        let rows = self.pool.get().await?.query(&sql, &[&agencies]).await?;
        rows.iter().map(officer_of).collect()
    }

    async fn officers_by_certificate(&self, certs: &[String]) -> Result<Vec<OfficerCertificate>> {
        let sql = format!(
            "SELECT {OFFICER_COLUMNS} FROM officers WHERE certificate_no = ANY($1) ORDER BY agency, certificate_no"
        );
        let rows = self.pool.get().await?.query(&sql, &[&certs]).await?;
        rows.iter().map(officer_of).collect()
    }

    async fn create_account(&self, a: &Account) -> Result<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "INSERT INTO accounts (login, agency, role, certificate_no, password_hash, disabled) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (login) DO NOTHING",
                &[&a.login, &a.agency, &role_str(a.role), &a.certificate_no, &a.password_hash, &a.disabled],
            )
            .await?;
        Ok(n == 1)
    }

    async fn account(&self, login: &str) -> Result<Option<Account>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT login, agency, role, certificate_no, password_hash, disabled FROM accounts WHERE login = $1",
                &[&login],
            )
            .await?;
        row.map(|r| {
            Ok(Account {
                login: r.get(0),
                agency: r.get(1),
                role: parse_role(r.get(2))?,
                certificate_no: r.get(3),
                password_hash: r.get(4),
                disabled: r.get(5),
            })
        })
        .transpose()
    }

    async fn accounts(&self, agencies: &[String]) -> Result<Vec<Account>> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT login, agency, role, certificate_no, password_hash, disabled FROM accounts \
                 WHERE agency = ANY($1) ORDER BY agency, login",
                &[&agencies],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Account {
                    login: r.get(0),
                    agency: r.get(1),
                    role: parse_role(r.get(2))?,
                    certificate_no: r.get(3),
                    password_hash: r.get(4),
                    disabled: r.get(5),
                })
            })
            .collect()
    }

    async fn create_session(&self, token_hash: &[u8; 32], s: &Session) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO sessions (token_hash, login, agency, role, expires_at) VALUES ($1, $2, $3, $4, $5)",
                &[&&token_hash[..], &s.login, &s.agency, &role_str(s.role), &s.expires_at],
            )
            .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT login, agency, role, expires_at FROM sessions WHERE token_hash = $1",
                &[&&token_hash[..]],
            )
            .await?;
        row.map(|r| {
            Ok(Session {
                login: r.get(0),
                agency: r.get(1),
                role: parse_role(r.get(2))?,
                expires_at: r.get(3),
            })
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()> {
        self.pool
            .get()
            .await?
            .execute(
                "DELETE FROM sessions WHERE token_hash = $1",
                &[&&token_hash[..]],
            )
            .await?;
        Ok(())
    }
}
