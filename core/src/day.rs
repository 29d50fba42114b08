//! The agency's calendar day and the one way a day is written.
//!
//! An officer's "today", a certificate's validity, a working-day deadline and a day's case list are
//! all days of the agency's calendar: China Standard Time, UTC+8 the whole year (China has no
//! daylight saving time). Every instant becomes a day through [`agency_day`], and every day is read
//! from and written as `YYYY-MM-DD` (ISO 8601 calendar date) through [`parse_day`] and
//! [`format_day`]; nothing else in the workspace parses a day.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

/// Seconds east of UTC of the agency's clock (China Standard Time).
pub const AGENCY_UTC_OFFSET_SECS: i32 = 8 * 3600;

/// The agency's time zone, UTC+8.
pub fn agency_offset() -> FixedOffset {
    FixedOffset::east_opt(AGENCY_UTC_OFFSET_SECS)
        .unwrap_or_else(|| unreachable!("UTC+8 is within ±24 h"))
}

/// The agency's calendar day of an instant.
pub fn agency_day<Tz: TimeZone>(at: &DateTime<Tz>) -> NaiveDate {
    at.with_timezone(&agency_offset()).date_naive()
}

/// Today in the agency's calendar.
pub fn agency_today() -> NaiveDate {
    agency_day(&Utc::now())
}

/// The first instant of a day of the agency's calendar (00:00 UTC+8), in UTC.
pub fn agency_midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN)
        .and_local_timezone(agency_offset())
        .single()
        .unwrap_or_else(|| unreachable!("a fixed offset has exactly one local midnight"))
        .with_timezone(&Utc)
}

/// The format of a day everywhere: `YYYY-MM-DD`.
pub const DAY_FORMAT: &str = "%Y-%m-%d";

/// Reads a `YYYY-MM-DD` day; surrounding spaces are ignored. `None` when it is not one.
///
/// Exactly four digits of year, two of month, two of day: `2026-1-5` and `+2026-01-05` are refused
/// (chrono's parser alone would take the first), so that a day has one spelling and a signed
/// document that carries one cannot be re-spelled.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let b = s.as_bytes();
    let shape_ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    NaiveDate::parse_from_str(s, DAY_FORMAT).ok()
}

/// Writes a day as `YYYY-MM-DD`.
pub fn format_day(day: NaiveDate) -> String {
    day.format(DAY_FORMAT).to_string()
}

/// A day as printed on a document: `2026年12月07日` (two-digit month and day, as the forms are filled).
pub fn format_day_cn(day: NaiveDate) -> String {
    day.format("%Y年%m月%d日").to_string()
}

/// An instant as printed on a document, in the agency's time: `2026年11月29日10时05分`. Reads the
/// RFC 3339 text records keep (`2026-11-29T10:05:00+08:00`, `2026-11-29T02:05:00Z`); `None` when
/// the text is not one.
pub fn format_instant_cn(rfc3339: &str) -> Option<String> {
    let at = DateTime::parse_from_rfc3339(rfc3339.trim()).ok()?;
    Some(
        at.with_timezone(&agency_offset())
            .format("%Y年%m月%d日%H时%M分")
            .to_string(),
    )
}

/// Serde for a day as `YYYY-MM-DD` through [`parse_day`], for `#[serde(with = "crate::day::serde_day")]`.
pub mod serde_day {
    use chrono::NaiveDate;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(day: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_day(*day))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_day(&text)
            .ok_or_else(|| D::Error::custom(format!("“{text}”不是 YYYY-MM-DD 日期")))
    }
}

/// [`serde_day`] for an optional day (absent, `null` or `""` read as none).
pub mod serde_opt_day {
    use chrono::NaiveDate;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(day: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        match day {
            Some(d) => s.serialize_str(&super::format_day(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) if text.trim().is_empty() => Ok(None),
            Some(text) => super::parse_day(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom(format!("“{text}”不是 YYYY-MM-DD 日期"))),
        }
    }
}

// Across UniFFI a day is a `YYYY-MM-DD` string; a string that is not one is refused with the
// core's own error (code `DAY_FORMAT`), not a panic.
#[cfg(feature = "ffi")]
uniffi::custom_type!(NaiveDate, String, {
    remote,
    lower: |day| format_day(day),
    try_lift: |text| parse_day(&text).ok_or_else(|| {
        uniffi::deps::anyhow::Error::new(crate::RoadsideError::invalid_field(
            "day",
            "DAY_FORMAT",
            format!("日期 “{text}” 格式应为 YYYY-MM-DD"),
        ))
    }),
});

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_agency_day_turns_at_16_00_utc() {
        let before = Utc.with_ymd_and_hms(2026, 3, 1, 15, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 3, 1, 16, 0, 0).unwrap();
        assert_eq!(
            agency_day(&before),
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()
        );
        assert_eq!(
            agency_day(&after),
            NaiveDate::from_ymd_opt(2026, 3, 2).unwrap()
        );
    }

    #[test]
    fn midnight_is_16_00_utc_the_day_before() {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        assert_eq!(
            agency_midnight(day),
            Utc.with_ymd_and_hms(2025, 12, 31, 16, 0, 0).unwrap()
        );
    }

    #[test]
    fn documents_print_days_and_instants_in_agency_time() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(format_day_cn(day), "2026年12月07日");
        assert_eq!(
            format_instant_cn("2026-11-29T10:05:00+08:00").as_deref(),
            Some("2026年11月29日10时05分")
        );
        // An instant written in UTC is printed in agency time, on the agency's day.
        assert_eq!(
            format_instant_cn("2026-11-29T16:30:00Z").as_deref(),
            Some("2026年11月30日00时30分")
        );
        assert_eq!(format_instant_cn("2026-11-29 10:05"), None);
    }

    #[test]
    fn one_spelling_per_day() {
        assert_eq!(
            parse_day(" 2024-02-29 "),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        for bad in [
            "2023-02-29",
            "2026-1-05",
            "+2026-01-05",
            "2026/01/05",
            "",
            "20260105",
            "2026-01-05T00:00",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(days in 0i64..200_000) {
            let day = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap() + chrono::Duration::days(days);
            prop_assert_eq!(parse_day(&format_day(day)), Some(day));
        }

        #[test]
        fn every_instant_lies_between_its_days_midnights(secs in 0i64..4_102_444_800) {
            let at = DateTime::from_timestamp(secs, 0).unwrap();
            let day = agency_day(&at);
            prop_assert!(agency_midnight(day) <= at);
            prop_assert!(at < agency_midnight(day.succ_opt().unwrap()));
        }
    }
}
