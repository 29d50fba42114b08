//! May this officer act on this day: the one answer, with one set of codes.
//!
//! A person named on a record, on a drafted decision or on a signed ledger entry must be on the
//! agency's roster, hold an enforcement post (辅助人员 and administrators do not: 行政处罚法 第四十二条,
//! 辅助人员不得独立执法), and hold a certificate in force on the day of the act — not before its
//! first day, not after its last day, not on or after the day it was revoked (注销). The device's
//! record validation ([`crate::validate`]), the draft check ([`crate::rules`]) and the server's
//! ingest all ask [`eligibility`], so the same facts give the same codes everywhere.
//!
//! | code | meaning |
//! |---|---|
//! | `OFFICER_NOT_REGISTERED` | the certificate number is not on the roster |
//! | `OFFICER_NOT_ENFORCER` | the roster entry is an assistant or an administrator |
//! | `OFFICER_CERTIFICATE_NOT_YET_VALID` | the day is before the certificate's first day |
//! | `OFFICER_CERTIFICATE_EXPIRED` | the day is after the certificate's last day (已过期) |
//! | `OFFICER_CERTIFICATE_REVOKED` | revoked on or before the day (已注销) |

use chrono::NaiveDate;

use crate::model::{OfficerCertificate, OfficerRole};

/// Two officers at least act in every case (行政处罚法 第四十二条).
pub const MIN_OFFICERS: usize = 2;

/// One reason a person may not act on a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    NotRegistered,
    NotEnforcer(OfficerRole),
    NotYetValid { from: NaiveDate },
    Expired { to: NaiveDate },
    Revoked { on: NaiveDate },
}

impl Ineligible {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Ineligible::NotRegistered => "OFFICER_NOT_REGISTERED",
            Ineligible::NotEnforcer(_) => "OFFICER_NOT_ENFORCER",
            Ineligible::NotYetValid { .. } => "OFFICER_CERTIFICATE_NOT_YET_VALID",
            Ineligible::Expired { .. } => "OFFICER_CERTIFICATE_EXPIRED",
            Ineligible::Revoked { .. } => "OFFICER_CERTIFICATE_REVOKED",
        }
    }

    /// What is wrong, in Chinese. `certificate_no` as written; `name` from the roster if found.
    pub fn message(&self, certificate_no: &str, name: &str, day: NaiveDate) -> String {
        let who = format!("执法证 {}（{}）", certificate_no.trim(), name.trim());
        match self {
            Ineligible::NotRegistered => {
                format!("执法证号 {} 未登记在执法人员名册中", certificate_no.trim())
            }
            Ineligible::NotEnforcer(OfficerRole::Assistant) => {
                format!("{who}属于辅助人员，辅助人员不能独立执法")
            }
            Ineligible::NotEnforcer(_) => {
                format!("{who}不是执法岗位（如系统管理员），不具备执法资格")
            }
            Ineligible::NotYetValid { from } => {
                format!("{who}自 {from} 起有效，执法日期 {day} 尚未生效")
            }
            Ineligible::Expired { to } => {
                format!("{who}已过期：有效期至 {to}，执法日期为 {day}")
            }
            Ineligible::Revoked { on } => {
                format!("{who}已注销：注销日期 {on}，执法日期为 {day}")
            }
        }
    }
}

/// Every reason the roster entry may not act on `day`; empty when it may.
pub fn reasons(entry: &OfficerCertificate, day: NaiveDate) -> Vec<Ineligible> {
    let mut out = Vec::new();
    if !entry.role.may_enforce() {
        out.push(Ineligible::NotEnforcer(entry.role));
    }
    if day < entry.valid_from {
        out.push(Ineligible::NotYetValid {
            from: entry.valid_from,
        });
    }
    if day > entry.valid_to {
        out.push(Ineligible::Expired { to: entry.valid_to });
    }
    if let Some(on) = entry.revoked_on.filter(|on| *on <= day) {
        out.push(Ineligible::Revoked { on });
    }
    out
}

/// The roster entry of `certificate_no` (spaces around it ignored) if it may act on `day`, or
/// every reason it may not.
pub fn eligibility<'r>(
    roster: impl IntoIterator<Item = &'r OfficerCertificate>,
    certificate_no: &str,
    day: NaiveDate,
) -> Result<&'r OfficerCertificate, (Option<&'r OfficerCertificate>, Vec<Ineligible>)> {
    let no = certificate_no.trim();
    let Some(entry) = roster.into_iter().find(|e| e.certificate_no.trim() == no) else {
        return Err((None, vec![Ineligible::NotRegistered]));
    };
    match reasons(entry, day) {
        r if r.is_empty() => Ok(entry),
        r => Err((Some(entry), r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        crate::day::parse_day(s).unwrap()
    }

    fn cert(role: OfficerRole, revoked: Option<&str>) -> OfficerCertificate {
        OfficerCertificate {
            certificate_no: "63250001".into(),
            name: "张三".into(),
            agency: "632500".into(),
            role,
            valid_from: d("2024-01-01"),
            valid_to: d("2026-12-31"),
            revoked_on: revoked.map(d),
        }
    }

    #[test]
    fn first_and_last_day_are_in_force() {
        let c = cert(OfficerRole::Officer, None);
        assert!(reasons(&c, d("2024-01-01")).is_empty());
        assert!(reasons(&c, d("2026-12-31")).is_empty());
        assert_eq!(
            reasons(&c, d("2023-12-31")),
            vec![Ineligible::NotYetValid {
                from: d("2024-01-01")
            }]
        );
        assert_eq!(
            reasons(&c, d("2027-01-01")),
            vec![Ineligible::Expired {
                to: d("2026-12-31")
            }]
        );
    }

    #[test]
    fn revoked_from_its_day_on() {
        let c = cert(OfficerRole::Officer, Some("2025-06-01"));
        assert!(reasons(&c, d("2025-05-31")).is_empty());
        assert_eq!(
            reasons(&c, d("2025-06-01"))[0].code(),
            "OFFICER_CERTIFICATE_REVOKED"
        );
    }

    #[test]
    fn assistants_and_admins_never_act() {
        for role in [OfficerRole::Assistant, OfficerRole::Admin] {
            let c = cert(role, None);
            assert_eq!(
                reasons(&c, d("2025-01-01"))[0].code(),
                "OFFICER_NOT_ENFORCER"
            );
        }
    }

    #[test]
    fn unknown_numbers_are_not_registered() {
        let roster = [cert(OfficerRole::Officer, None)];
        let e = eligibility(&roster, "99999999", d("2025-01-01")).unwrap_err();
        assert_eq!(e.1, vec![Ineligible::NotRegistered]);
        assert!(eligibility(&roster, " 63250001 ", d("2025-01-01")).is_ok());
    }
}
