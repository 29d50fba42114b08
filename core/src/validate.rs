//! Validation of a 现场笔录 / 勘验笔录 draft: every problem at once, each pointed at its field.
//!
//! [`validate_record`] is what the form shows while the officer types; [`validate_for_finalize`]
//! adds what a record must have before it is finalized. Both return a list of [`Issue`]s in the
//! order of the form's fields (empty when the record is acceptable); the caller turns a non-empty
//! list into [`crate::RoadsideError::invalid`].
//!
//! Stable codes raised here (besides the codes of [`crate::codes`], which keep their own):
//!
//! | code | meaning |
//! |---|---|
//! | `FIELD_REQUIRED` | a required field is empty |
//! | `TEXT_TOO_LONG` | more than [`MAX_TEXT_CHARS`] (long text) or [`MAX_LINE_CHARS`] (one line) characters |
//! | `TEXT_CONTROL_CHARACTER` | a control character (newline, tab, NUL…) in a one-line field, or other than newline/tab in long text |
//! | `TIME_FORMAT` | not an RFC 3339 time with an offset |
//! | `TIME_IN_FUTURE` | later than now by more than [`CLOCK_TOLERANCE_SECS`] |
//! | `TIME_TOO_EARLY` | before [`EARLIEST_RECORD_YEAR`] |
//! | `TIME_END_BEFORE_START` | the end time is not after the start time |
//! | `CONFIRMATION_BEFORE_START` | the party signed before the record began |
//! | `GPS_INCOMPLETE` | only one of latitude and longitude is given |
//! | `ID_NUMBER_SEX_MISMATCH` | the sex given contradicts the ID number's 17th digit |
//! | `OFFICER_DUPLICATE` | the same 执法证号 twice |
//! | `OFFICER_NOT_REGISTERED` | 执法证号 not in the roster (未登记) |
//! | `OFFICER_NAME_MISMATCH` | the name differs from the roster's holder |
//! | `OFFICER_NOT_ENFORCER` | the roster role may not enforce (辅助人员, 管理员) |
//! | `OFFICER_CERTIFICATE_NOT_YET_VALID` | the record date is before the certificate's first day |
//! | `OFFICER_CERTIFICATE_EXPIRED` | the record date is after the certificate's last day (已过期) |
//! | `OFFICER_CERTIFICATE_REVOKED` | revoked on or before the record date (已注销) |
//! | `OFFICERS_TOO_FEW` | fewer than [`MIN_OFFICERS`] qualified officers |
//! | `RECORDER_NOT_OFFICER` | the 记录人 is not one of the record's officers |
//! | `VEHICLE_AXLES`, `VEHICLE_GROSS_WEIGHT`, `VEHICLE_LENGTH`, `VEHICLE_WIDTH`, `VEHICLE_HEIGHT` | implausible vehicle facts |
//! | `INSPECTION_DETAIL_NOT_ALLOWED` | 勘验 details on a 现场笔录 |
//! | `ENDED_AT_MISSING` | (finalize) no end time |
//! | `PARTY_CONFIRMATION_MISSING` | (finalize) neither signature nor refusal noted |
//! | `COERCIVE_RIGHTS_NOT_TOLD` | (finalize) coercive measure without telling reasons, basis and rights |
//! | `COERCIVE_STATEMENT_NOT_HEARD` | (finalize) coercive measure without hearing the party |
//! | `COERCIVE_NO_AUDIO_VIDEO` | (finalize) coercive measure without an audio or video record |
//! | `INSPECTION_DETAIL_MISSING` | (finalize) 勘验笔录 without the inspection detail |

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};

use crate::codes;
use crate::error::Issue;
use crate::model::{
    EvidenceKind, InspectionRecord, OfficerCertificate, Party, PartyConfirmation, PersonOnSite,
    RecordKind, Sex, Vehicle,
};
use crate::officer;

/// How far in the future (device clock drift) a time may lie before it is refused.
pub const CLOCK_TOLERANCE_SECS: i64 = 300;
/// Longest 现场情况, 备注 and other long text, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Longest one-line field (names, addresses, numbers), in characters.
pub const MAX_LINE_CHARS: usize = 500;
/// A record cannot start before this year.
pub const EARLIEST_RECORD_YEAR: i32 = 2000;
/// Officers a record needs (处罚法 42).
pub use crate::officer::MIN_OFFICERS;
/// Plausible axle count of a vehicle.
pub const AXLES: std::ops::RangeInclusive<u32> = 2..=12;
/// Plausibility limits of a vehicle's measured facts (not legal limits: those are rules data).
pub const MAX_GROSS_WEIGHT_KG: f64 = 200_000.0;
pub const MAX_LENGTH_M: f64 = 30.0;
pub const MAX_WIDTH_M: f64 = 5.0;
pub const MAX_HEIGHT_M: f64 = 6.0;

/// What validation needs besides the record.
pub struct ValidationContext<'a> {
    /// The officer roster (执法人员名册) from the reference bundle.
    pub roster: &'a [OfficerCertificate],
    /// The current time, for "not in the future" checks.
    pub now: DateTime<Utc>,
}

/// Live validation of a draft (what the form shows while the officer types).
pub fn validate_record(rec: &InspectionRecord, ctx: &ValidationContext) -> Vec<Issue> {
    let mut v = Validator::new(ctx);
    v.record(rec);
    v.issues
}

/// Everything validate_record checks plus what a record needs before it is finalized:
/// ended_at present, party confirmation present (signed or refusal noted), for a coercive measure
/// told_reasons_basis_rights and statement_heard true and at least one audio/video evidence attached
/// (处罚法 47, 行政强制法 18), and for a 勘验笔录 the inspection detail present.
pub fn validate_for_finalize(
    rec: &InspectionRecord,
    ctx: &ValidationContext,
    attached: &[EvidenceKind],
) -> Vec<Issue> {
    let mut v = Validator::new(ctx);
    v.record(rec);
    v.finalize(rec, attached);
    v.issues
}

/// Parse an RFC 3339 time, for the store to reuse.
///
/// Surrounding spaces are ignored. The offset is required (`Z` or `+08:00`); a time without one
/// gets a message saying so. Code: `TIME_FORMAT`.
pub fn parse_time(path: &str, s: &str) -> Result<DateTime<FixedOffset>, Issue> {
    let text = s.trim();
    DateTime::parse_from_rfc3339(text).map_err(|_| {
        let example = "2026-11-29T10:05:00+08:00";
        let message = if text.is_empty() {
            format!("时间为空，应为 RFC 3339 格式（如 {example}）")
        } else if DateTime::parse_from_rfc3339(&format!("{}Z", text.replacen(' ', "T", 1))).is_ok()
        {
            format!("时间“{text}”缺少时区，应如 {example}")
        } else {
            format!("时间“{text}”不是 RFC 3339 格式，应如 {example}")
        };
        Issue::new(path, "TIME_FORMAT", message)
    })
}

/// Collects the issues of one record.
struct Validator<'c, 'r> {
    ctx: &'c ValidationContext<'r>,
    /// Today in China (UTC+8), the bound for birth dates.
    today: NaiveDate,
    issues: Vec<Issue>,
}

impl<'c, 'r> Validator<'c, 'r> {
    fn new(ctx: &'c ValidationContext<'r>) -> Self {
        Validator {
            ctx,
            today: crate::day::agency_day(&ctx.now),
            issues: Vec::new(),
        }
    }

    fn push(&mut self, path: impl Into<String>, code: &str, message: impl Into<String>) {
        self.issues.push(Issue::new(path, code, message));
    }

    fn code_result<T>(&mut self, path: &str, result: Result<T, codes::CodeError>) -> Option<T> {
        result.map_err(|e| self.issues.push(e.to_issue(path))).ok()
    }

    // --- text ---------------------------------------------------------------------------------

    fn too_long(&mut self, path: &str, label: &str, value: &str, max: usize) -> bool {
        let len = value.chars().count();
        if len > max {
            self.push(
                path,
                "TEXT_TOO_LONG",
                format!("{label}长度为 {len} 字，超过上限 {max} 字"),
            );
        }
        len > max
    }

    fn control_char(&mut self, path: &str, label: &str, value: &str, allowed: &[char], what: &str) {
        if let Some((i, c)) = value
            .chars()
            .enumerate()
            .find(|(_, c)| c.is_control() && !allowed.contains(c))
        {
            self.push(
                path,
                "TEXT_CONTROL_CHARACTER",
                format!(
                    "{label}第 {} 个字符是控制字符 U+{:04X}，{what}",
                    i + 1,
                    u32::from(c)
                ),
            );
        }
    }

    /// A one-line field that may be empty.
    fn line(&mut self, path: &str, label: &str, value: &str) {
        if !self.too_long(path, label, value, MAX_LINE_CHARS) {
            self.control_char(
                path,
                label,
                value,
                &[],
                "单行内容不能含换行、制表等控制字符",
            );
        }
    }

    /// A one-line field that must not be empty. Returns the trimmed value when it is present.
    fn required_line<'v>(&mut self, path: &str, label: &str, value: &'v str) -> Option<&'v str> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.push(path, "FIELD_REQUIRED", format!("{label}不能为空"));
            return None;
        }
        self.line(path, label, value);
        Some(trimmed)
    }

    /// An optional one-line field. Returns the trimmed value when it is present.
    fn optional_line<'v>(
        &mut self,
        path: &str,
        label: &str,
        value: Option<&'v String>,
    ) -> Option<&'v str> {
        let raw = value?;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return None;
        }
        self.line(path, label, raw);
        Some(trimmed)
    }

    /// Long text (现场情况, 备注): newlines and tabs allowed.
    fn long_text(&mut self, path: &str, label: &str, value: &str, required: bool) {
        if value.trim().is_empty() {
            if required {
                self.push(path, "FIELD_REQUIRED", format!("{label}不能为空"));
            }
            return;
        }
        if !self.too_long(path, label, value, MAX_TEXT_CHARS) {
            self.control_char(
                path,
                label,
                value,
                &['\n', '\r', '\t'],
                "除换行和制表符外不能含控制字符",
            );
        }
    }

    // --- codes --------------------------------------------------------------------------------

    fn phone(&mut self, path: &str, value: Option<&String>) {
        if let Some(phone) = value.map(|s| s.trim()).filter(|s| !s.is_empty()) {
            self.code_result(path, codes::check_phone(phone));
        }
    }

    fn id_number(&mut self, path: &str, value: &str) -> Option<codes::IdNumberInfo> {
        let result = codes::check_id_number(value, self.today);
        self.code_result(path, result)
    }

    // --- times --------------------------------------------------------------------------------

    /// Parses a time and checks it is neither in the future nor implausibly early.
    fn time(&mut self, path: &str, label: &str, value: &str) -> Option<DateTime<FixedOffset>> {
        let time = parse_time(path, value)
            .map_err(|issue| self.issues.push(issue))
            .ok()?;
        let limit = self.ctx.now + Duration::seconds(CLOCK_TOLERANCE_SECS);
        if time.with_timezone(&Utc) > limit {
            let now = self.ctx.now.with_timezone(&time.timezone());
            self.push(
                path,
                "TIME_IN_FUTURE",
                format!(
                    "{label} {} 晚于当前时间 {} 超过 {CLOCK_TOLERANCE_SECS} 秒，请检查时间或设备时钟",
                    time.to_rfc3339(),
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
                ),
            );
        }
        if time.year() < EARLIEST_RECORD_YEAR {
            self.push(
                path,
                "TIME_TOO_EARLY",
                format!(
                    "{label} {} 早于 {EARLIEST_RECORD_YEAR} 年，不可能是执法时间",
                    time.to_rfc3339()
                ),
            );
        }
        Some(time)
    }

    // --- the record ---------------------------------------------------------------------------

    fn record(&mut self, rec: &InspectionRecord) {
        self.optional_line("case_number", "案号", rec.case_number.as_ref());
        self.place(rec);
        let started = self.times(rec);
        self.officers(rec, started.map(|t| t.date_naive()));
        if let Some(party) = &rec.party {
            self.party(party);
        }
        for (i, person) in rec.persons.iter().enumerate() {
            self.person(i, person);
        }
        if let Some(vehicle) = &rec.vehicle {
            self.vehicle(vehicle);
        }
        let situation = match rec.kind {
            RecordKind::OnSite => "现场情况",
            RecordKind::Inspection => "勘验情况",
        };
        self.long_text("situation", situation, &rec.situation, true);
        if let Some(confirmation) = &rec.party_confirmation {
            self.confirmation(confirmation, started);
        }
        if let Some(remarks) = &rec.remarks {
            self.long_text("remarks", "备注", remarks, false);
        }
        self.inspection(rec);
    }

    fn place(&mut self, rec: &InspectionRecord) {
        self.required_line("place.address", "执法地点", &rec.place.address);
        match (rec.place.latitude, rec.place.longitude) {
            (None, None) => {}
            (Some(_), None) => self.push(
                "place.longitude",
                "GPS_INCOMPLETE",
                "只有纬度没有经度：定位须同时有纬度和经度，或都不填",
            ),
            (None, Some(_)) => self.push(
                "place.latitude",
                "GPS_INCOMPLETE",
                "只有经度没有纬度：定位须同时有纬度和经度，或都不填",
            ),
            (Some(lat), Some(lon)) => {
                let lat = self.code_result("place.latitude", codes::check_latitude(lat));
                let lon = self.code_result("place.longitude", codes::check_longitude(lon));
                if let (Some(lat), Some(lon)) = (lat, lon) {
                    self.code_result("place", codes::check_in_china(lat, lon));
                }
            }
        }
    }

    /// Checks started_at and ended_at; returns the start when it parses.
    fn times(&mut self, rec: &InspectionRecord) -> Option<DateTime<FixedOffset>> {
        let started = if rec.started_at.trim().is_empty() {
            self.push("started_at", "FIELD_REQUIRED", "执法开始时间不能为空");
            None
        } else {
            self.time("started_at", "开始时间", &rec.started_at)
        };
        let ended = rec
            .ended_at
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .and_then(|s| self.time("ended_at", "结束时间", s));
        if let (Some(start), Some(end)) = (started, ended) {
            if end <= start {
                self.push(
                    "ended_at",
                    "TIME_END_BEFORE_START",
                    format!(
                        "结束时间 {} 应晚于开始时间 {}",
                        end.to_rfc3339(),
                        start.to_rfc3339()
                    ),
                );
            }
        }
        started
    }

    /// Checks one roster entry against the record date; returns whether the officer qualifies.
    fn certificate(
        &mut self,
        path: &str,
        entry: &OfficerCertificate,
        date: Option<NaiveDate>,
    ) -> bool {
        let Some(date) = date else {
            // Without a readable start time the validity on the record date cannot be judged (the
            // start time has its own issue); only the post can be.
            if !entry.role.may_enforce() {
                let why = officer::Ineligible::NotEnforcer(entry.role);
                let message = why.message(&entry.certificate_no, &entry.name, NaiveDate::MIN);
                self.push(path, why.code(), message);
                return false;
            }
            return true;
        };
        let reasons = officer::reasons(entry, date);
        for why in &reasons {
            let message = why.message(&entry.certificate_no, &entry.name, date);
            self.push(path, why.code(), message);
        }
        reasons.is_empty()
    }

    fn officers(&mut self, rec: &InspectionRecord, date: Option<NaiveDate>) {
        let roster = self.ctx.roster;
        let mut seen: Vec<(&str, usize)> = Vec::new();
        let mut qualified: BTreeSet<&str> = BTreeSet::new();
        for (i, officer) in rec.officers.iter().enumerate() {
            let name_path = format!("officers[{i}].name");
            let cert_path = format!("officers[{i}].certificate_no");
            let name = self.required_line(&name_path, "执法人员姓名", &officer.name);
            let Some(cert) = self.required_line(&cert_path, "执法证号", &officer.certificate_no)
            else {
                continue;
            };
            if let Some(&(_, first)) = seen.iter().find(|(c, _)| *c == cert) {
                self.push(
                    &cert_path,
                    "OFFICER_DUPLICATE",
                    format!("执法证号 {cert} 与第 {} 名执法人员重复", first + 1),
                );
                continue;
            }
            seen.push((cert, i));
            let Some(entry) = roster.iter().find(|e| e.certificate_no.trim() == cert) else {
                let why = officer::Ineligible::NotRegistered;
                self.push(
                    &cert_path,
                    why.code(),
                    why.message(cert, "", NaiveDate::MIN),
                );
                continue;
            };
            if let Some(name) = name.filter(|n| *n != entry.name.trim()) {
                self.push(
                    &name_path,
                    "OFFICER_NAME_MISMATCH",
                    format!(
                        "姓名“{name}”与名册中执法证号 {cert} 的持证人“{}”不一致",
                        entry.name.trim()
                    ),
                );
            }
            if self.certificate(&cert_path, entry, date) {
                qualified.insert(cert);
            }
        }
        if qualified.len() < MIN_OFFICERS {
            self.push(
                "officers",
                "OFFICERS_TOO_FEW",
                format!(
                    "持有效执法证的执法人员只有 {} 名，至少需要 {MIN_OFFICERS} 名（行政处罚法第 42 条）",
                    qualified.len()
                ),
            );
        }
        if let Some(recorder) = self.required_line("recorder", "记录人", &rec.recorder) {
            let names: Vec<&str> = rec
                .officers
                .iter()
                .map(|o| o.name.trim())
                .filter(|n| !n.is_empty())
                .collect();
            if !names.contains(&recorder) {
                let expected = if names.is_empty() {
                    "请先填写执法人员".to_string()
                } else {
                    format!("应为 {} 之一", names.join("、"))
                };
                self.push(
                    "recorder",
                    "RECORDER_NOT_OFFICER",
                    format!("记录人“{recorder}”不是本笔录的执法人员（{expected}）"),
                );
            }
        }
    }

    fn party(&mut self, party: &Party) {
        match party {
            Party::Person {
                name,
                id_number,
                address,
                phone,
            } => {
                self.required_line("party.name", "当事人姓名", name);
                if self
                    .required_line("party.id_number", "当事人身份证号", id_number)
                    .is_some()
                {
                    self.id_number("party.id_number", id_number);
                }
                self.optional_line("party.address", "当事人住址", address.as_ref());
                self.phone("party.phone", phone.as_ref());
            }
            Party::Organisation {
                name,
                uscc,
                address,
                phone,
                legal_representative,
            } => {
                self.required_line("party.name", "当事人名称", name);
                if self
                    .required_line("party.uscc", "统一社会信用代码", uscc)
                    .is_some()
                {
                    self.code_result("party.uscc", codes::check_uscc(uscc));
                }
                self.optional_line("party.address", "当事人地址", address.as_ref());
                self.phone("party.phone", phone.as_ref());
                self.optional_line(
                    "party.legal_representative",
                    "法定代表人",
                    legal_representative.as_ref(),
                );
            }
        }
    }

    fn person(&mut self, i: usize, person: &PersonOnSite) {
        let path = |field: &str| format!("persons[{i}].{field}");
        self.required_line(&path("name"), "现场人员姓名", &person.name);
        self.required_line(&path("relation"), "与案件关系", &person.relation);
        let id_path = path("id_number");
        if let Some(id) = self.optional_line(&id_path, "身份证号", person.id_number.as_ref()) {
            if let (Some(info), Some(sex)) = (self.id_number(&id_path, id), person.sex) {
                if info.sex != sex {
                    let name = |s: Sex| match s {
                        Sex::Male => "男",
                        Sex::Female => "女",
                    };
                    let parity = match info.sex {
                        Sex::Male => "奇数",
                        Sex::Female => "偶数",
                    };
                    self.push(
                        path("sex"),
                        "ID_NUMBER_SEX_MISMATCH",
                        format!(
                            "性别填写为{}，但身份证号第 17 位为{parity}，应为{}",
                            name(sex),
                            name(info.sex)
                        ),
                    );
                }
            }
        }
        self.optional_line(&path("other_id"), "其他身份证件", person.other_id.as_ref());
        self.optional_line(
            &path("employer_and_title"),
            "单位及职务",
            person.employer_and_title.as_ref(),
        );
        self.phone(&path("phone"), person.phone.as_ref());
        self.optional_line(&path("address"), "联系地址", person.address.as_ref());
    }

    /// A measured quantity: positive, finite and at most `max`.
    fn measure(
        &mut self,
        path: &str,
        code: &str,
        label: &str,
        value: Option<f64>,
        max: f64,
        unit: &str,
    ) {
        let Some(value) = value else { return };
        if !value.is_finite() || value <= 0.0 {
            self.push(path, code, format!("{label}应为正数，实际为 {value}"));
        } else if value > max {
            self.push(
                path,
                code,
                format!("{label} {value} {unit} 超过合理上限 {max} {unit}，请检查数值和单位"),
            );
        }
    }

    fn vehicle(&mut self, vehicle: &Vehicle) {
        if let Some(plate) = self.required_line("vehicle.plate", "号牌号码", &vehicle.plate) {
            self.code_result("vehicle.plate", codes::check_plate(plate));
        }
        self.required_line("vehicle.vehicle_type", "车型", &vehicle.vehicle_type);
        if let Some(axles) = vehicle.axles.filter(|a| !AXLES.contains(a)) {
            self.push(
                "vehicle.axles",
                "VEHICLE_AXLES",
                format!("轴数应为 {}–{}，实际为 {axles}", AXLES.start(), AXLES.end()),
            );
        }
        self.measure(
            "vehicle.gross_weight_kg",
            "VEHICLE_GROSS_WEIGHT",
            "车货总质量",
            vehicle.gross_weight_kg,
            MAX_GROSS_WEIGHT_KG,
            "千克",
        );
        self.measure(
            "vehicle.length_m",
            "VEHICLE_LENGTH",
            "车长",
            vehicle.length_m,
            MAX_LENGTH_M,
            "米",
        );
        self.measure(
            "vehicle.width_m",
            "VEHICLE_WIDTH",
            "车宽",
            vehicle.width_m,
            MAX_WIDTH_M,
            "米",
        );
        self.measure(
            "vehicle.height_m",
            "VEHICLE_HEIGHT",
            "车高",
            vehicle.height_m,
            MAX_HEIGHT_M,
            "米",
        );
    }

    fn confirmation(
        &mut self,
        confirmation: &PartyConfirmation,
        started: Option<DateTime<FixedOffset>>,
    ) {
        match confirmation {
            PartyConfirmation::Signed { signer, signed_at } => {
                self.required_line("party_confirmation.signer", "签名人", signer);
                let path = "party_confirmation.signed_at";
                if signed_at.trim().is_empty() {
                    self.push(path, "FIELD_REQUIRED", "当事人签名时间不能为空");
                } else if let (Some(at), Some(start)) =
                    (self.time(path, "签名时间", signed_at), started)
                {
                    if at < start {
                        self.push(
                            path,
                            "CONFIRMATION_BEFORE_START",
                            format!(
                                "签名时间 {} 早于执法开始时间 {}",
                                at.to_rfc3339(),
                                start.to_rfc3339()
                            ),
                        );
                    }
                }
            }
            PartyConfirmation::Refused { note, witness } => {
                self.long_text("party_confirmation.note", "拒绝签名情况说明", note, true);
                self.optional_line("party_confirmation.witness", "见证人", witness.as_ref());
            }
        }
    }

    fn inspection(&mut self, rec: &InspectionRecord) {
        let Some(detail) = &rec.inspection else {
            return;
        };
        if rec.kind == RecordKind::OnSite {
            self.push(
                "inspection",
                "INSPECTION_DETAIL_NOT_ALLOWED",
                "现场笔录不填写勘验内容（勘验对象、天气、见证人）；需要勘验请使用勘验笔录",
            );
            return;
        }
        self.required_line("inspection.object", "勘验对象", &detail.object);
        self.optional_line("inspection.weather", "天气", detail.weather.as_ref());
        for (i, witness) in detail.witnesses.iter().enumerate() {
            self.required_line(&format!("inspection.witnesses[{i}]"), "见证人", witness);
        }
    }

    // --- finalize -----------------------------------------------------------------------------

    fn finalize(&mut self, rec: &InspectionRecord, attached: &[EvidenceKind]) {
        if rec.ended_at.as_deref().is_none_or(|s| s.trim().is_empty()) {
            self.push(
                "ended_at",
                "ENDED_AT_MISSING",
                "执法结束时间未填写：笔录完成前须填写结束时间",
            );
        }
        if rec.party_confirmation.is_none() {
            self.push(
                "party_confirmation",
                "PARTY_CONFIRMATION_MISSING",
                "当事人尚未确认笔录：须由当事人签名确认，或注明当事人拒绝签名",
            );
        }
        if let Some(measure) = &rec.coercive_measure {
            if !measure.told_reasons_basis_rights {
                self.push(
                    "coercive_measure.told_reasons_basis_rights",
                    "COERCIVE_RIGHTS_NOT_TOLD",
                    "实施行政强制措施须当场告知当事人采取措施的理由、依据以及依法享有的权利、救济途径（行政强制法第 18 条），笔录中尚未确认已告知",
                );
            }
            if !measure.statement_heard {
                self.push(
                    "coercive_measure.statement_heard",
                    "COERCIVE_STATEMENT_NOT_HEARD",
                    "实施行政强制措施须听取当事人的陈述和申辩（行政强制法第 18 条），笔录中尚未确认已听取",
                );
            }
            if !attached.iter().any(|k| k.is_audio_visual()) {
                self.push(
                    "evidence",
                    "COERCIVE_NO_AUDIO_VIDEO",
                    "实施行政强制措施须有音像记录（行政处罚法第 47 条、行政强制法第 18 条），尚未附加音频或视频证据",
                );
            }
        }
        if rec.kind == RecordKind::Inspection && rec.inspection.is_none() {
            self.push(
                "inspection",
                "INSPECTION_DETAIL_MISSING",
                "勘验笔录须填写勘验内容（至少勘验对象）",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OfficerRole;
    use crate::model::{CoerciveMeasure, CoerciveMeasureKind, InspectionDetail, OfficerRef, Place};

    fn date_now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T03:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    fn cert(
        no: &str,
        name: &str,
        role: OfficerRole,
        from: &str,
        to: &str,
        revoked: Option<&str>,
    ) -> OfficerCertificate {
        OfficerCertificate {
            certificate_no: no.to_string(),
            name: name.to_string(),
            agency: "632500".to_string(),
            role,
            valid_from: crate::day::parse_day(from).expect("a day"),
            valid_to: crate::day::parse_day(to).expect("a day"),
            revoked_on: revoked.map(|d| crate::day::parse_day(d).expect("a day")),
        }
    }

    fn roster() -> Vec<OfficerCertificate> {
        use OfficerRole::*;
        vec![
            cert(
                "63250001",
                "张三",
                Officer,
                "2024-01-01",
                "2029-12-31",
                None,
            ),
            cert(
                "63250002",
                "李四",
                Supervisor,
                "2024-01-01",
                "2029-12-31",
                None,
            ),
            cert(
                "63250003",
                "王五",
                Assistant,
                "2024-01-01",
                "2029-12-31",
                None,
            ),
            cert(
                "63250004",
                "赵六",
                Officer,
                "2020-01-01",
                "2026-11-28",
                None,
            ),
            cert(
                "63250005",
                "钱七",
                Officer,
                "2024-01-01",
                "2029-12-31",
                Some("2026-11-29"),
            ),
            cert(
                "63250006",
                "孙八",
                Officer,
                "2026-11-30",
                "2031-12-31",
                None,
            ),
            cert("63250007", "周九", Admin, "2024-01-01", "2029-12-31", None),
            cert(
                "63250008",
                "吴十",
                LegalReviewer,
                "2024-01-01",
                "2029-12-31",
                Some("2026-12-01"),
            ),
        ]
    }

    /// A valid 居民身份证号 from its first 17 digits.
    fn id(body: &str) -> String {
        format!(
            "{body}{}",
            codes::id_number_check_char(body).expect("17 digits")
        )
    }

    fn officer(name: &str, no: &str) -> OfficerRef {
        OfficerRef {
            name: name.to_string(),
            certificate_no: no.to_string(),
        }
    }

    /// A complete, valid 现场笔录 of an overload check near 共和县.
    fn valid_record() -> InspectionRecord {
        InspectionRecord {
            kind: RecordKind::OnSite,
            case_number: Some("青海南交执〔2026〕第 0123 号".to_string()),
            place: Place {
                address: "G214线 K1876+300 共和县倒淌河镇".to_string(),
                latitude: Some(36.41),
                longitude: Some(100.95),
            },
            started_at: "2026-11-29T10:05:00+08:00".to_string(),
            ended_at: Some("2026-11-29T10:40:00+08:00".to_string()),
            officers: vec![officer("张三", "63250001"), officer("李四", "63250002")],
            recorder: "张三".to_string(),
            party: Some(Party::Person {
                name: "马某".to_string(),
                id_number: id("63252119850304001"),
                address: Some("青海省共和县恰卜恰镇".to_string()),
                phone: Some("13912345678".to_string()),
            }),
            persons: vec![PersonOnSite {
                name: "马某".to_string(),
                sex: Some(Sex::Male),
                id_number: Some(id("63252119850304001")),
                other_id: None,
                relation: "当事人、驾驶员".to_string(),
                employer_and_title: Some("个体运输户".to_string()),
                phone: Some("0974-8512345".to_string()),
                address: None,
            }],
            vehicle: Some(Vehicle {
                plate: "青E12345".to_string(),
                vehicle_type: "重型半挂牵引车".to_string(),
                axles: Some(6),
                gross_weight_kg: Some(52_000.0),
                length_m: Some(17.5),
                width_m: Some(2.55),
                height_m: Some(3.9),
            }),
            situation: "经检测，车货总质量 52000 千克。\n当事人对检测结果无异议。\t".to_string(),
            coercive_measure: None,
            party_confirmation: Some(PartyConfirmation::Signed {
                signer: "马某".to_string(),
                signed_at: "2026-11-29T10:38:00+08:00".to_string(),
            }),
            remarks: Some("无".to_string()),
            inspection: None,
        }
    }

    fn check(rec: &InspectionRecord) -> Vec<Issue> {
        let roster = roster();
        let ctx = ValidationContext {
            roster: &roster,
            now: date_now(),
        };
        validate_record(rec, &ctx)
    }

    fn check_final(rec: &InspectionRecord, attached: &[EvidenceKind]) -> Vec<Issue> {
        let roster = roster();
        let ctx = ValidationContext {
            roster: &roster,
            now: date_now(),
        };
        validate_for_finalize(rec, &ctx, attached)
    }

    fn pairs(issues: &[Issue]) -> Vec<(&str, &str)> {
        issues
            .iter()
            .map(|i| (i.path.as_str(), i.code.as_str()))
            .collect()
    }

    /// The single issue a record yields.
    fn only(rec: &InspectionRecord) -> Issue {
        let issues = check(rec);
        assert_eq!(issues.len(), 1, "{issues:#?}");
        issues.into_iter().next().expect("one issue")
    }

    #[test]
    fn complete_record_has_no_issues() {
        let rec = valid_record();
        assert_eq!(check(&rec), vec![]);
        assert_eq!(check_final(&rec, &[]), vec![]);
    }

    #[test]
    fn complete_inspection_record_with_organisation_has_no_issues() {
        let mut rec = valid_record();
        rec.kind = RecordKind::Inspection;
        rec.inspection = Some(InspectionDetail {
            object: "G214线 K1876+300 处路面".to_string(),
            weather: Some("晴".to_string()),
            witnesses: vec!["才让 632521198503040011".to_string()],
        });
        rec.party = Some(Party::Organisation {
            name: "青海某运输有限公司".to_string(),
            uscc: "9144030071526726XG".to_string(),
            address: None,
            phone: Some("+86 139 1234 5678".to_string()),
            legal_representative: Some("韩某".to_string()),
        });
        rec.party_confirmation = Some(PartyConfirmation::Refused {
            note: "当事人拒绝签名。".to_string(),
            witness: Some("才让".to_string()),
        });
        rec.place.latitude = None;
        rec.place.longitude = None;
        rec.vehicle = None;
        assert_eq!(check_final(&rec, &[EvidenceKind::Photo]), vec![]);
    }

    #[test]
    fn required_fields() {
        let mut rec = valid_record();
        rec.place.address = " ".to_string();
        rec.recorder = String::new();
        rec.situation = "\n".to_string();
        rec.officers[1].name = String::new();
        rec.persons[0].name = String::new();
        rec.persons[0].relation = String::new();
        rec.party = Some(Party::Person {
            name: String::new(),
            id_number: String::new(),
            address: None,
            phone: None,
        });
        rec.vehicle.as_mut().expect("vehicle").vehicle_type = String::new();
        let issues = check(&rec);
        assert_eq!(
            pairs(&issues),
            vec![
                ("place.address", "FIELD_REQUIRED"),
                ("officers[1].name", "FIELD_REQUIRED"),
                ("recorder", "FIELD_REQUIRED"),
                ("party.name", "FIELD_REQUIRED"),
                ("party.id_number", "FIELD_REQUIRED"),
                ("persons[0].name", "FIELD_REQUIRED"),
                ("persons[0].relation", "FIELD_REQUIRED"),
                ("vehicle.vehicle_type", "FIELD_REQUIRED"),
                ("situation", "FIELD_REQUIRED"),
            ]
        );
        assert_eq!(issues[0].message, "执法地点不能为空");
        let mut rec = valid_record();
        rec.started_at = String::new();
        assert_eq!(pairs(&check(&rec)), vec![("started_at", "FIELD_REQUIRED")]);
    }

    #[test]
    fn text_length_limits() {
        let mut rec = valid_record();
        rec.situation = "现".repeat(MAX_TEXT_CHARS);
        assert_eq!(check(&rec), vec![]);
        rec.situation.push('场');
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("situation", "TEXT_TOO_LONG")
        );
        assert_eq!(issue.message, "现场情况长度为 20001 字，超过上限 20000 字");
        let mut rec = valid_record();
        rec.remarks = Some("备".repeat(MAX_TEXT_CHARS + 5));
        assert_eq!(only(&rec).code, "TEXT_TOO_LONG");
        let mut rec = valid_record();
        rec.place.address = "路".repeat(MAX_LINE_CHARS + 1);
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("place.address", "TEXT_TOO_LONG")
        );
        assert!(issue.message.contains("501"), "{}", issue.message);
    }

    #[test]
    fn control_characters() {
        let mut rec = valid_record();
        rec.persons[0].employer_and_title = Some("个体\n运输户".to_string());
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("persons[0].employer_and_title", "TEXT_CONTROL_CHARACTER")
        );
        assert!(issue.message.contains("第 3 个字符"), "{}", issue.message);
        assert!(issue.message.contains("U+000A"), "{}", issue.message);
        let mut rec = valid_record();
        rec.situation = "正常\n换行\t可以\u{0}但空字符不行".to_string();
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("situation", "TEXT_CONTROL_CHARACTER")
        );
    }

    #[test]
    fn codes_are_checked_at_their_paths() {
        let mut rec = valid_record();
        rec.vehicle.as_mut().expect("vehicle").plate = "台E12345".to_string();
        rec.party = Some(Party::Person {
            name: "马某".to_string(),
            id_number: "632521198503040010".to_string(),
            address: None,
            phone: Some("1391234567".to_string()),
        });
        rec.persons[0].id_number = Some("63252119851304001X".to_string());
        rec.persons[0].phone = Some("8512345".to_string());
        assert_eq!(
            pairs(&check(&rec)),
            vec![
                ("party.id_number", "ID_NUMBER_CHECK_DIGIT"),
                ("party.phone", "PHONE_MOBILE_LENGTH"),
                ("persons[0].id_number", "ID_NUMBER_BIRTH_DATE"),
                ("persons[0].phone", "PHONE_AREA_CODE"),
                ("vehicle.plate", "PLATE_PROVINCE"),
            ]
        );
        let mut rec = valid_record();
        rec.party = Some(Party::Organisation {
            name: "青海某运输有限公司".to_string(),
            uscc: "9144030071526726XX".to_string(),
            address: None,
            phone: None,
            legal_representative: None,
        });
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("party.uscc", "USCC_CHECK_DIGIT")
        );
        assert_eq!(issue.message, "统一社会信用代码校验位应为 G，实际为 X");
    }

    #[test]
    fn empty_optional_codes_are_absent() {
        let mut rec = valid_record();
        rec.persons[0].id_number = Some("  ".to_string());
        rec.persons[0].phone = Some(String::new());
        assert_eq!(check(&rec), vec![]);
    }

    #[test]
    fn sex_must_match_the_id_number() {
        let mut rec = valid_record();
        rec.persons[0].sex = Some(Sex::Female);
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("persons[0].sex", "ID_NUMBER_SEX_MISMATCH")
        );
        assert_eq!(
            issue.message,
            "性别填写为女，但身份证号第 17 位为奇数，应为男"
        );
        rec.persons[0].sex = None;
        assert_eq!(check(&rec), vec![]);
    }

    #[test]
    fn gps() {
        let mut rec = valid_record();
        rec.place.longitude = None;
        assert_eq!(
            pairs(&check(&rec)),
            vec![("place.longitude", "GPS_INCOMPLETE")]
        );
        rec.place.latitude = None;
        rec.place.longitude = Some(100.95);
        assert_eq!(
            pairs(&check(&rec)),
            vec![("place.latitude", "GPS_INCOMPLETE")]
        );
        rec.place.latitude = Some(91.0);
        rec.place.longitude = Some(f64::NAN);
        assert_eq!(
            pairs(&check(&rec)),
            vec![
                ("place.latitude", "GPS_LATITUDE_RANGE"),
                ("place.longitude", "GPS_NOT_FINITE")
            ]
        );
        rec.place.latitude = Some(100.95);
        rec.place.longitude = Some(36.41);
        assert_eq!(
            pairs(&check(&rec)),
            vec![("place.latitude", "GPS_LATITUDE_RANGE")]
        );
        rec.place.latitude = Some(48.85);
        rec.place.longitude = Some(2.35);
        assert_eq!(pairs(&check(&rec)), vec![("place", "GPS_OUTSIDE_CHINA")]);
    }

    #[test]
    fn parse_time_accepts_rfc3339_and_explains_failures() {
        let t = parse_time("started_at", " 2026-11-29T10:05:00+08:00 ").expect("valid");
        assert_eq!(t.to_rfc3339(), "2026-11-29T10:05:00+08:00");
        assert!(parse_time("x", "2026-11-29T02:05:00Z").is_ok());
        let issue = parse_time("started_at", "2026-11-29T10:05:00").unwrap_err();
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("started_at", "TIME_FORMAT")
        );
        assert!(issue.message.contains("缺少时区"), "{}", issue.message);
        let issue = parse_time("ended_at", "明天上午").unwrap_err();
        assert!(
            issue.message.contains("不是 RFC 3339 格式"),
            "{}",
            issue.message
        );
        assert!(parse_time("ended_at", "")
            .unwrap_err()
            .message
            .contains("时间为空"));
        assert!(parse_time("x", "2026-02-30T10:05:00+08:00").is_err());
    }

    #[test]
    fn time_rules() {
        let mut rec = valid_record();
        rec.started_at = "2026/11/29 10:05".to_string();
        // Without a start, the officers' dates cannot be judged but nothing else is reported.
        assert_eq!(pairs(&check(&rec)), vec![("started_at", "TIME_FORMAT")]);

        let mut rec = valid_record();
        rec.ended_at = Some("2026-11-29T10:05:00+08:00".to_string());
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("ended_at", "TIME_END_BEFORE_START")
        );
        // The same instant in another offset is still not after the start.
        rec.ended_at = Some("2026-11-29T02:04:00Z".to_string());
        assert_eq!(only(&rec).code, "TIME_END_BEFORE_START");

        // now = 11:00 +08:00; 11:04:59 is within the clock tolerance, 11:05:01 is not.
        let mut rec = valid_record();
        rec.ended_at = Some("2026-11-29T11:04:59+08:00".to_string());
        assert_eq!(check(&rec), vec![]);
        rec.ended_at = Some("2026-11-29T11:05:01+08:00".to_string());
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("ended_at", "TIME_IN_FUTURE")
        );
        assert!(issue.message.contains("300 秒"), "{}", issue.message);

        let mut rec = valid_record();
        rec.started_at = "1999-12-31T23:00:00+08:00".to_string();
        let issues = check(&rec);
        assert!(
            pairs(&issues).contains(&("started_at", "TIME_TOO_EARLY")),
            "{issues:#?}"
        );

        let mut rec = valid_record();
        rec.party_confirmation = Some(PartyConfirmation::Signed {
            signer: "马某".to_string(),
            signed_at: "2026-11-29T10:00:00+08:00".to_string(),
        });
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("party_confirmation.signed_at", "CONFIRMATION_BEFORE_START")
        );
    }

    fn with_officers(officers: &[(&str, &str)]) -> InspectionRecord {
        let mut rec = valid_record();
        rec.officers = officers.iter().map(|(n, c)| officer(n, c)).collect();
        rec
    }

    #[test]
    fn each_officer_problem_names_the_officer_and_the_reason() {
        let rec = with_officers(&[
            ("张三", "63250001"),
            ("李四", "63250002"),
            ("某人", "99999999"),
            ("王五", "63250003"),
            ("赵六", "63250004"),
            ("钱七", "63250005"),
            ("孙八", "63250006"),
            ("周九", "63250007"),
            ("张三", "63250001"),
        ]);
        let issues = check(&rec);
        assert_eq!(
            pairs(&issues),
            vec![
                ("officers[2].certificate_no", "OFFICER_NOT_REGISTERED"),
                ("officers[3].certificate_no", "OFFICER_NOT_ENFORCER"),
                ("officers[4].certificate_no", "OFFICER_CERTIFICATE_EXPIRED"),
                ("officers[5].certificate_no", "OFFICER_CERTIFICATE_REVOKED"),
                (
                    "officers[6].certificate_no",
                    "OFFICER_CERTIFICATE_NOT_YET_VALID"
                ),
                ("officers[7].certificate_no", "OFFICER_NOT_ENFORCER"),
                ("officers[8].certificate_no", "OFFICER_DUPLICATE"),
            ]
        );
        let messages: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
        assert!(messages[0].contains("未登记"), "{}", messages[0]);
        assert!(
            messages[1].contains("辅助人员不能独立执法"),
            "{}",
            messages[1]
        );
        assert!(messages[2].contains("已过期"), "{}", messages[2]);
        assert!(messages[2].contains("2026-11-28"), "{}", messages[2]);
        assert!(messages[3].contains("已注销"), "{}", messages[3]);
        assert!(messages[6].contains("第 1 名"), "{}", messages[6]);
    }

    #[test]
    fn too_few_qualified_officers() {
        let rec = with_officers(&[("张三", "63250001")]);
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("officers", "OFFICERS_TOO_FEW")
        );
        assert!(issue.message.contains("只有 1 名"), "{}", issue.message);
        let issues = check(&with_officers(&[
            ("张三", "63250001"),
            ("王五", "63250003"),
        ]));
        assert_eq!(
            pairs(&issues),
            vec![
                ("officers[1].certificate_no", "OFFICER_NOT_ENFORCER"),
                ("officers", "OFFICERS_TOO_FEW"),
            ]
        );
        let issues = check(&with_officers(&[
            ("张三", "63250001"),
            ("张三", "63250001"),
        ]));
        assert_eq!(
            pairs(&issues),
            vec![
                ("officers[1].certificate_no", "OFFICER_DUPLICATE"),
                ("officers", "OFFICERS_TOO_FEW"),
            ]
        );
    }

    #[test]
    fn certificate_validity_uses_the_record_date_in_its_own_offset() {
        // 01:00 +08:00 on 29 November is still 28 November in UTC; the record date is the 29th,
        // one day after 赵六's certificate expired.
        let mut rec = with_officers(&[
            ("张三", "63250001"),
            ("李四", "63250002"),
            ("赵六", "63250004"),
        ]);
        rec.started_at = "2026-11-29T01:00:00+08:00".to_string();
        rec.ended_at = Some("2026-11-29T01:30:00+08:00".to_string());
        rec.party_confirmation = None;
        assert_eq!(only(&rec).code, "OFFICER_CERTIFICATE_EXPIRED");
        // On the last day of validity the certificate is still valid.
        rec.started_at = "2026-11-28T23:00:00+08:00".to_string();
        assert_eq!(check(&rec), vec![]);
        // Revoked after the record date: still valid on that date.
        let rec = with_officers(&[("张三", "63250001"), ("吴十", "63250008")]);
        assert_eq!(check(&rec), vec![]);
    }

    #[test]
    fn officer_name_must_match_the_roster() {
        let mut rec = valid_record();
        rec.officers[1].name = "李思".to_string();
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("officers[1].name", "OFFICER_NAME_MISMATCH")
        );
        assert!(issue.message.contains("“李四”"), "{}", issue.message);
    }

    #[test]
    fn recorder_must_be_an_officer() {
        let mut rec = valid_record();
        rec.recorder = "王五".to_string();
        let issue = only(&rec);
        assert_eq!(
            (issue.path.as_str(), issue.code.as_str()),
            ("recorder", "RECORDER_NOT_OFFICER")
        );
        assert!(issue.message.contains("张三、李四"), "{}", issue.message);
        rec.recorder = " 李四 ".to_string();
        assert_eq!(check(&rec), vec![]);
    }

    #[test]
    fn vehicle_facts_must_be_plausible() {
        let mut rec = valid_record();
        let v = rec.vehicle.as_mut().expect("vehicle");
        v.axles = Some(1);
        v.gross_weight_kg = Some(0.0);
        v.length_m = Some(31.0);
        v.width_m = Some(f64::NAN);
        v.height_m = Some(6.5);
        let issues = check(&rec);
        assert_eq!(
            pairs(&issues),
            vec![
                ("vehicle.axles", "VEHICLE_AXLES"),
                ("vehicle.gross_weight_kg", "VEHICLE_GROSS_WEIGHT"),
                ("vehicle.length_m", "VEHICLE_LENGTH"),
                ("vehicle.width_m", "VEHICLE_WIDTH"),
                ("vehicle.height_m", "VEHICLE_HEIGHT"),
            ]
        );
        assert_eq!(issues[0].message, "轴数应为 2–12，实际为 1");
        assert!(issues[2].message.contains("31 米"), "{}", issues[2].message);
        let v = rec.vehicle.as_mut().expect("vehicle");
        v.axles = Some(13);
        v.gross_weight_kg = Some(200_001.0);
        v.length_m = Some(-1.0);
        v.width_m = Some(5.5);
        v.height_m = None;
        assert_eq!(check(&rec).len(), 4);
        let v = rec.vehicle.as_mut().expect("vehicle");
        v.axles = Some(12);
        v.gross_weight_kg = Some(MAX_GROSS_WEIGHT_KG);
        v.length_m = Some(MAX_LENGTH_M);
        v.width_m = Some(MAX_WIDTH_M);
        v.height_m = Some(MAX_HEIGHT_M);
        assert_eq!(check(&rec), vec![]);
    }

    #[test]
    fn special_plates_and_normalised_plates() {
        let mut rec = valid_record();
        rec.vehicle.as_mut().expect("vehicle").plate = " 青e·1234挂 ".to_string();
        assert_eq!(check(&rec), vec![]);
        rec.vehicle.as_mut().expect("vehicle").plate = "青A1234学".to_string();
        assert_eq!(
            pairs(&check(&rec)),
            vec![("vehicle.plate", "PLATE_UNSUPPORTED_KIND")]
        );
    }

    #[test]
    fn inspection_detail() {
        let mut rec = valid_record();
        rec.inspection = Some(InspectionDetail {
            object: "路面".to_string(),
            weather: None,
            witnesses: vec![],
        });
        assert_eq!(
            pairs(&check(&rec)),
            vec![("inspection", "INSPECTION_DETAIL_NOT_ALLOWED")]
        );
        rec.kind = RecordKind::Inspection;
        rec.inspection = Some(InspectionDetail {
            object: String::new(),
            weather: Some("晴\t".to_string()),
            witnesses: vec![" ".to_string()],
        });
        assert_eq!(
            pairs(&check(&rec)),
            vec![
                ("inspection.object", "FIELD_REQUIRED"),
                ("inspection.weather", "TEXT_CONTROL_CHARACTER"),
                ("inspection.witnesses[0]", "FIELD_REQUIRED"),
            ]
        );
        rec.inspection = None;
        assert_eq!(check(&rec), vec![]);
        assert_eq!(
            pairs(&check_final(&rec, &[])),
            vec![("inspection", "INSPECTION_DETAIL_MISSING")]
        );
    }

    #[test]
    fn finalize_needs_end_time_and_confirmation() {
        let mut rec = valid_record();
        rec.ended_at = None;
        rec.party_confirmation = None;
        assert_eq!(check(&rec), vec![]);
        assert_eq!(
            pairs(&check_final(&rec, &[EvidenceKind::Video])),
            vec![
                ("ended_at", "ENDED_AT_MISSING"),
                ("party_confirmation", "PARTY_CONFIRMATION_MISSING"),
            ]
        );
        rec.ended_at = Some(" ".to_string());
        assert_eq!(check_final(&rec, &[]).len(), 2);
        let mut rec = valid_record();
        rec.party_confirmation = Some(PartyConfirmation::Refused {
            note: String::new(),
            witness: None,
        });
        assert_eq!(
            pairs(&check_final(&rec, &[])),
            vec![("party_confirmation.note", "FIELD_REQUIRED")]
        );
    }

    #[test]
    fn finalize_coercive_measure() {
        let mut rec = valid_record();
        rec.coercive_measure = Some(CoerciveMeasure {
            kind: CoerciveMeasureKind::Seizure,
            told_reasons_basis_rights: false,
            statement_heard: false,
        });
        assert_eq!(check(&rec), vec![]);
        assert_eq!(
            pairs(&check_final(
                &rec,
                &[EvidenceKind::Photo, EvidenceKind::Document]
            )),
            vec![
                (
                    "coercive_measure.told_reasons_basis_rights",
                    "COERCIVE_RIGHTS_NOT_TOLD"
                ),
                (
                    "coercive_measure.statement_heard",
                    "COERCIVE_STATEMENT_NOT_HEARD"
                ),
                ("evidence", "COERCIVE_NO_AUDIO_VIDEO"),
            ]
        );
        rec.coercive_measure = Some(CoerciveMeasure {
            kind: CoerciveMeasureKind::Seizure,
            told_reasons_basis_rights: true,
            statement_heard: true,
        });
        assert_eq!(check_final(&rec, &[EvidenceKind::Audio]), vec![]);
        assert_eq!(check_final(&rec, &[EvidenceKind::Video]), vec![]);
        assert_eq!(
            pairs(&check_final(&rec, &[])),
            vec![("evidence", "COERCIVE_NO_AUDIO_VIDEO")]
        );
    }

    #[test]
    fn several_problems_are_reported_at_once() {
        let mut rec = valid_record();
        rec.place.latitude = Some(95.0);
        rec.ended_at = Some("2026-11-29T09:00:00+08:00".to_string());
        rec.officers = vec![officer("张三", "63250001"), officer("王五", "63250003")];
        rec.recorder = "记录员".to_string();
        rec.persons[0].sex = Some(Sex::Female);
        rec.vehicle.as_mut().expect("vehicle").plate = "青E12I45".to_string();
        rec.vehicle.as_mut().expect("vehicle").axles = Some(20);
        rec.party = Some(Party::Organisation {
            name: "青海某运输有限公司".to_string(),
            uscc: "9144030071526726X".to_string(),
            address: None,
            phone: Some("0974-12".to_string()),
            legal_representative: None,
        });
        rec.party_confirmation = None;
        rec.coercive_measure = Some(CoerciveMeasure {
            kind: CoerciveMeasureKind::Seal,
            told_reasons_basis_rights: true,
            statement_heard: false,
        });
        let issues = check_final(&rec, &[EvidenceKind::Photo]);
        assert_eq!(
            pairs(&issues),
            vec![
                ("place.latitude", "GPS_LATITUDE_RANGE"),
                ("ended_at", "TIME_END_BEFORE_START"),
                ("officers[1].certificate_no", "OFFICER_NOT_ENFORCER"),
                ("officers", "OFFICERS_TOO_FEW"),
                ("recorder", "RECORDER_NOT_OFFICER"),
                ("party.uscc", "USCC_LENGTH"),
                ("party.phone", "PHONE_LANDLINE_LENGTH"),
                ("persons[0].sex", "ID_NUMBER_SEX_MISMATCH"),
                ("vehicle.plate", "PLATE_CHARACTER"),
                ("vehicle.axles", "VEHICLE_AXLES"),
                ("party_confirmation", "PARTY_CONFIRMATION_MISSING"),
                (
                    "coercive_measure.statement_heard",
                    "COERCIVE_STATEMENT_NOT_HEARD"
                ),
                ("evidence", "COERCIVE_NO_AUDIO_VIDEO"),
            ]
        );
        // Live validation reports the same problems minus the finalize ones.
        assert_eq!(check(&rec).len(), issues.len() - 3);
        // Every message is Chinese text, not a bare code.
        assert!(issues
            .iter()
            .all(|i| !i.message.is_empty() && i.message != i.code));
    }
}
