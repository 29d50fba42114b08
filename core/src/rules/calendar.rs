//! The working-day calendar (节假日与调休) and deadline arithmetic.
//!
//! Counting rules (处罚法 85; the general rule on periods): the start day is not counted;
//! "二日、三日、五日、七日" are working days and count working days after the start day; a
//! calendar-day or month period whose last day is not a working day ends on the next working day.
//! A date in a year the calendar does not cover is an error, never a guess.

use std::collections::{BTreeMap, HashSet};

use chrono::{Datelike, Days, Months, NaiveDate, Weekday};
use serde::Serialize;

use super::model::{DeadlineRule, DeadlineUnit};
use crate::error::{Result, RoadsideError};

/// One year of the State Council's holiday schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarYear {
    /// Weekdays that are days off.
    pub holidays: HashSet<NaiveDate>,
    /// Saturdays and Sundays that are working days (调休).
    pub working_weekends: HashSet<NaiveDate>,
    pub source: String,
    pub verified: bool,
}

/// The calendar: the years it covers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Calendar {
    years: BTreeMap<i32, CalendarYear>,
    /// Per covered year: bit `ordinal0` set = working day (hot path of deadline counting).
    working: BTreeMap<i32, [u64; 6]>,
}

/// A computed deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct DeadlineDue {
    pub id: String,
    pub name: String,
    /// The event it runs from.
    pub from_event: String,
    /// The event's date.
    pub start: NaiveDate,
    /// The last day.
    pub due: NaiveDate,
    pub days: u32,
    pub unit: DeadlineUnit,
    pub basis: String,
    pub verified: bool,
    pub note: String,
}

/// One deadline of a list computed from an event: its due date when it can be computed, otherwise
/// why not. Each deadline of the list is computed on its own, so one falling in a year the calendar
/// does not cover leaves the others answered; its `due` stays empty, never a guessed date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct DeadlineOutcome {
    pub id: String,
    pub name: String,
    /// The event it runs from.
    pub from_event: String,
    /// The event's date.
    pub start: NaiveDate,
    /// The last day; `None` when it cannot be computed (see `error_code` and `reason`).
    pub due: Option<NaiveDate>,
    pub days: u32,
    pub unit: DeadlineUnit,
    pub basis: String,
    pub verified: bool,
    pub note: String,
    /// Why `due` is empty: the stable error code (`CALENDAR_YEAR_MISSING` when the period ends in
    /// a year the calendar does not cover); `None` when computed.
    pub error_code: Option<String>,
    /// The same in Chinese, naming the missing year; `None` when computed.
    pub reason: Option<String>,
}

impl Calendar {
    pub fn new(years: BTreeMap<i32, CalendarYear>) -> Self {
        let mut working = BTreeMap::new();
        for (&y, cy) in &years {
            let mut bits = [0u64; 6];
            let mut d = NaiveDate::from_ymd_opt(y, 1, 1);
            while let Some(day) = d.filter(|d| d.year() == y) {
                let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
                let works = if weekend {
                    cy.working_weekends.contains(&day)
                } else {
                    !cy.holidays.contains(&day)
                };
                if works {
                    let o = day.ordinal0() as usize;
                    bits[o / 64] |= 1 << (o % 64);
                }
                d = day.succ_opt();
            }
            working.insert(y, bits);
        }
        Calendar { years, working }
    }

    /// The years covered, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.years.keys().copied().collect()
    }

    fn year(&self, d: NaiveDate) -> Result<&CalendarYear> {
        self.years.get(&d.year()).ok_or_else(|| {
            let covered = self
                .years
                .keys()
                .map(|y| y.to_string())
                .collect::<Vec<_>>()
                .join("、");
            RoadsideError::rules(
                "CALENDAR_YEAR_MISSING",
                format!(
                    "工作日历中没有 {} 年的节假日安排（已有：{covered}），无法计算 {d} 所在的期限；请先导入该年的工作日历",
                    d.year()
                ),
            )
        })
    }

    /// Whether `d` is a working day.
    pub fn is_working_day(&self, d: NaiveDate) -> Result<bool> {
        match self.working.get(&d.year()) {
            Some(bits) => {
                let o = d.ordinal0() as usize;
                Ok(bits[o / 64] & (1 << (o % 64)) != 0)
            }
            None => self.year(d).map(|_| false),
        }
    }

    fn next_day(d: NaiveDate) -> Result<NaiveDate> {
        d.checked_add_days(Days::new(1))
            .ok_or_else(|| RoadsideError::rules("DATE_OUT_OF_RANGE", "日期超出范围"))
    }

    /// The `n`-th working day after `start` (the start day is not counted).
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate> {
        self.year(start)?;
        let mut d = start;
        let mut left = n;
        while left > 0 {
            d = Self::next_day(d)?;
            if self.is_working_day(d)? {
                left -= 1;
            }
        }
        Ok(d)
    }

    /// The first working day on or after `d`.
    pub fn roll_to_working_day(&self, mut d: NaiveDate) -> Result<NaiveDate> {
        while !self.is_working_day(d)? {
            d = Self::next_day(d)?;
        }
        Ok(d)
    }

    /// `start + n` calendar days, moved to the next working day if it falls on a day off.
    pub fn add_calendar_days(&self, start: NaiveDate, n: u32) -> Result<NaiveDate> {
        self.year(start)?;
        let d = start
            .checked_add_days(Days::new(u64::from(n)))
            .ok_or_else(|| RoadsideError::rules("DATE_OUT_OF_RANGE", "日期超出范围"))?;
        self.roll_to_working_day(d)
    }

    /// `start + n` months, moved to the next working day if it falls on a day off.
    pub fn add_months(&self, start: NaiveDate, n: u32) -> Result<NaiveDate> {
        self.year(start)?;
        let d = start
            .checked_add_months(Months::new(n))
            .ok_or_else(|| RoadsideError::rules("DATE_OUT_OF_RANGE", "日期超出范围"))?;
        self.roll_to_working_day(d)
    }

    /// The due date of one deadline rule from the event's date.
    pub fn due(&self, rule: &DeadlineRule, start: NaiveDate) -> Result<DeadlineDue> {
        let due = match rule.unit {
            DeadlineUnit::WorkingDays => self.add_working_days(start, rule.days)?,
            DeadlineUnit::CalendarDays => self.add_calendar_days(start, rule.days)?,
            DeadlineUnit::Months => self.add_months(start, rule.days)?,
        };
        Ok(DeadlineDue {
            id: rule.id.clone(),
            name: rule.name.clone(),
            from_event: rule.from.clone(),
            start,
            due,
            days: rule.days,
            unit: rule.unit,
            basis: rule.source.basis.clone(),
            verified: rule.source.verified,
            note: rule.source.note.clone(),
        })
    }

    /// The due date of one deadline rule from the event's date, or why it cannot be computed,
    /// as a value: one deadline's problem is not an error of the others.
    pub fn outcome(&self, rule: &DeadlineRule, start: NaiveDate) -> DeadlineOutcome {
        let (due, error_code, reason) = match self.due(rule, start) {
            Ok(d) => (Some(d.due), None, None),
            Err(e) => (
                None,
                Some(e.code().to_string()),
                Some(e.message().to_string()),
            ),
        };
        DeadlineOutcome {
            id: rule.id.clone(),
            name: rule.name.clone(),
            from_event: rule.from.clone(),
            start,
            due,
            days: rule.days,
            unit: rule.unit,
            basis: rule.source.basis.clone(),
            verified: rule.source.verified,
            note: rule.source.note.clone(),
            error_code,
            reason,
        }
    }
}
