//! Pure checkers for the codes an officer types into a record: 统一社会信用代码 (GB 32100-2015),
//! 居民身份证号 (GB 11643-1999), 机动车号牌, phone numbers and GPS fixes. No I/O.
//!
//! Every checker normalises what it is given (surrounding spaces, full-width characters, lower case
//! where the code is upper case) and returns either the parsed, normalised value or a [`CodeError`]
//! whose `code` is stable (programs match on it) and whose `message` tells the officer, in Chinese,
//! exactly what is wrong. A checker stops at the first problem it finds: a code is one field, so the
//! officer fixes one thing at a time.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use crate::error::Issue;
use crate::model::Sex;

/// Why a code is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CodeError {
    /// Stable machine-readable code, e.g. `USCC_CHECK_DIGIT`.
    pub code: &'static str,
    /// What is wrong, in Chinese, for the officer.
    pub message: String,
}

impl CodeError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        CodeError {
            code,
            message: message.into(),
        }
    }

    /// The same problem as a validation [`Issue`] for the field at `path`.
    pub fn to_issue(&self, path: impl Into<String>) -> Issue {
        Issue::new(path, self.code, self.message.clone())
    }
}

/// Maps full-width ASCII variants (Ａ, １, ＋, the ideographic space) to their ASCII counterparts.
pub fn to_half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Trims, converts full-width characters to half-width and upper-cases ASCII letters.
fn normalise_upper(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| to_half_width(c).to_ascii_uppercase())
        .collect::<String>()
        .trim()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// 统一社会信用代码 (GB 32100-2015)
// ---------------------------------------------------------------------------------------------

/// The 31 characters of GB 32100 in value order (0–30): digits and capitals without I, O, S, V, Z.
pub const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// 登记管理部门码 (first character), its name and the 机构类别码 (second character) it may be
/// followed by (GB 32100-2015 table 1). Where the standard's categories for a department are not
/// listed precisely here, any digit is accepted: the check is for plausibility, not a registry.
const USCC_AUTHORITIES: [(char, &str, &str); 12] = [
    ('1', "机构编制", "1239"),
    ('2', "外交", "123456789"),
    ('3', "司法行政", "123456789"),
    ('4', "文化", "123456789"),
    ('5', "民政", "1239"),
    ('6', "旅游", "123456789"),
    ('7', "宗教", "123456789"),
    ('8', "工会", "123456789"),
    ('9', "工商", "123"),
    ('A', "中央军委改革和编制办公室", "123456789"),
    ('N', "农业", "1239"),
    ('Y', "其他", "123456789"),
];

/// A valid 统一社会信用代码, split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsccInfo {
    /// The normalised code (18 upper-case characters).
    pub code: String,
    /// 登记管理部门码 (first character).
    pub registration_authority: char,
    /// Name of the registration department, e.g. 工商.
    pub registration_authority_name: &'static str,
    /// 机构类别码 (second character).
    pub category: char,
    /// 登记管理机关行政区划码 (characters 3–8).
    pub region: String,
    /// 主体标识码 (characters 9–17, the former 组织机构代码).
    pub subject_id: String,
}

fn uscc_value(c: char) -> Option<u32> {
    // The alphabet is ASCII, so a byte index is a character index.
    USCC_ALPHABET.find(c).and_then(|i| u32::try_from(i).ok())
}

fn uscc_char(value: u32) -> Option<char> {
    USCC_ALPHABET.chars().nth(usize::try_from(value).ok()?)
}

/// The check character for the first 17 characters of a 统一社会信用代码, or `None` when `body`
/// is not 17 characters of [`USCC_ALPHABET`].
pub fn uscc_check_char(body: &str) -> Option<char> {
    let values: Vec<u32> = body.chars().map(uscc_value).collect::<Option<_>>()?;
    if values.len() != USCC_WEIGHTS.len() {
        return None;
    }
    let sum: u32 = values.iter().zip(USCC_WEIGHTS).map(|(v, w)| v * w).sum();
    uscc_char((31 - sum % 31) % 31)
}

/// Checks a 统一社会信用代码. Lower-case and full-width input is normalised.
///
/// Codes: `USCC_LENGTH`, `USCC_CHARACTER`, `USCC_AUTHORITY`, `USCC_CATEGORY`, `USCC_REGION`,
/// `USCC_CHECK_DIGIT`.
pub fn check_uscc(input: &str) -> Result<UsccInfo, CodeError> {
    let code = normalise_upper(input);
    let chars: Vec<char> = code.chars().collect();
    if chars.len() != 18 {
        return Err(CodeError::new(
            "USCC_LENGTH",
            format!("统一社会信用代码应为 18 位，实际为 {} 位", chars.len()),
        ));
    }
    if let Some((i, c)) = chars
        .iter()
        .enumerate()
        .find(|(_, c)| uscc_value(**c).is_none())
    {
        return Err(CodeError::new(
            "USCC_CHARACTER",
            format!(
                "统一社会信用代码第 {} 位“{c}”不是允许的字符（应为数字或除 I、O、S、V、Z 外的大写字母）",
                i + 1
            ),
        ));
    }
    let (authority, category) = (chars[0], chars[1]);
    let Some(&(_, authority_name, categories)) =
        USCC_AUTHORITIES.iter().find(|(a, _, _)| *a == authority)
    else {
        return Err(CodeError::new(
            "USCC_AUTHORITY",
            format!(
                "统一社会信用代码第 1 位登记管理部门码“{authority}”无效（应为 1–9、A、N、Y 之一）"
            ),
        ));
    };
    if !categories.contains(category) {
        let expected: Vec<String> = categories.chars().map(String::from).collect();
        return Err(CodeError::new(
            "USCC_CATEGORY",
            format!(
                "统一社会信用代码第 2 位机构类别码“{category}”对登记管理部门“{authority_name}”无效（应为 {} 之一）",
                expected.join("、")
            ),
        ));
    }
    let region: String = chars[2..8].iter().collect();
    if !region.chars().all(|c| c.is_ascii_digit()) {
        return Err(CodeError::new(
            "USCC_REGION",
            format!("统一社会信用代码第 3–8 位行政区划码“{region}”应为 6 位数字"),
        ));
    }
    let body: String = chars[..17].iter().collect();
    let actual = chars[17];
    match uscc_check_char(&body) {
        Some(expected) if expected == actual => Ok(UsccInfo {
            registration_authority: authority,
            registration_authority_name: authority_name,
            category,
            region,
            subject_id: chars[8..17].iter().collect(),
            code,
        }),
        Some(expected) => Err(CodeError::new(
            "USCC_CHECK_DIGIT",
            format!("统一社会信用代码校验位应为 {expected}，实际为 {actual}"),
        )),
        // Unreachable: every character was checked against the alphabet above.
        None => Err(CodeError::new(
            "USCC_CHARACTER",
            "统一社会信用代码含有不允许的字符",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// 居民身份证号 (GB 11643-1999)
// ---------------------------------------------------------------------------------------------

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

/// First two digits of a 居民身份证号: the provincial-level divisions of GB/T 2260
/// (including 71 台湾, 81 香港, 82 澳门, which appear on residence permits).
pub const ID_PROVINCE_CODES: [u32; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// Birth dates before this year are refused.
pub const ID_EARLIEST_BIRTH_YEAR: i32 = 1900;

/// A valid 居民身份证号 and what it says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IdNumberInfo {
    /// The normalised number (a final lower-case `x` becomes `X`).
    pub number: String,
    /// The 6-digit address code.
    pub region: String,
    pub birth_date: NaiveDate,
    /// From the parity of the 17th digit (odd = male).
    pub sex: Sex,
}

/// The check character for the first 17 digits of a 居民身份证号, or `None` when `body` is not
/// 17 ASCII digits.
pub fn id_number_check_char(body: &str) -> Option<char> {
    let digits: Vec<u32> = body
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    if digits.len() != ID_WEIGHTS.len() {
        return None;
    }
    let sum: u32 = digits.iter().zip(ID_WEIGHTS).map(|(d, w)| d * w).sum();
    ID_CHECK_CHARS.get(usize::try_from(sum % 11).ok()?).copied()
}

/// Checks a 18-digit 居民身份证号. `today` bounds the birth date (a birth date after it is refused);
/// pass the current date in China (UTC+8).
///
/// Codes: `ID_NUMBER_LENGTH`, `ID_NUMBER_CHARACTER`, `ID_NUMBER_REGION`, `ID_NUMBER_BIRTH_DATE`,
/// `ID_NUMBER_CHECK_DIGIT`.
pub fn check_id_number(input: &str, today: NaiveDate) -> Result<IdNumberInfo, CodeError> {
    let number = normalise_upper(input);
    let chars: Vec<char> = number.chars().collect();
    if chars.len() != 18 {
        let hint = if chars.len() == 15 {
            "（15 位旧号码已停用，请填写 18 位号码）"
        } else {
            ""
        };
        return Err(CodeError::new(
            "ID_NUMBER_LENGTH",
            format!("居民身份证号应为 18 位，实际为 {} 位{hint}", chars.len()),
        ));
    }
    let mut digits = Vec::with_capacity(17);
    for (i, &c) in chars[..17].iter().enumerate() {
        match c.to_digit(10) {
            Some(d) => digits.push(d),
            None => {
                return Err(CodeError::new(
                    "ID_NUMBER_CHARACTER",
                    format!("居民身份证号第 {} 位“{c}”应为数字", i + 1),
                ))
            }
        }
    }
    let actual = chars[17];
    if !(actual.is_ascii_digit() || actual == 'X') {
        return Err(CodeError::new(
            "ID_NUMBER_CHARACTER",
            format!("居民身份证号第 18 位“{actual}”应为数字或 X"),
        ));
    }
    let province = digits[0] * 10 + digits[1];
    if !ID_PROVINCE_CODES.contains(&province) {
        return Err(CodeError::new(
            "ID_NUMBER_REGION",
            format!("居民身份证号前两位省级行政区划码“{province:02}”不存在"),
        ));
    }
    let birth: String = chars[6..14].iter().collect();
    let number_of = |ds: &[u32]| ds.iter().fold(0u32, |acc, d| acc * 10 + d);
    let year = i32::try_from(number_of(&digits[6..10])).unwrap_or(0);
    let birth_date =
        NaiveDate::from_ymd_opt(year, number_of(&digits[10..12]), number_of(&digits[12..14]))
            .ok_or_else(|| {
                CodeError::new(
                    "ID_NUMBER_BIRTH_DATE",
                    format!("居民身份证号第 7 位起的出生日期 {birth} 不是有效日期"),
                )
            })?;
    if birth_date.year() < ID_EARLIEST_BIRTH_YEAR {
        return Err(CodeError::new(
            "ID_NUMBER_BIRTH_DATE",
            format!(
                "居民身份证号第 7 位起的出生日期 {birth} 早于 {ID_EARLIEST_BIRTH_YEAR} 年，不可能有效"
            ),
        ));
    }
    if birth_date > today {
        return Err(CodeError::new(
            "ID_NUMBER_BIRTH_DATE",
            format!(
                "居民身份证号第 7 位起的出生日期 {birth} 晚于今天（{}）",
                today.format("%Y%m%d")
            ),
        ));
    }
    let body: String = chars[..17].iter().collect();
    match id_number_check_char(&body) {
        Some(expected) if expected == actual => Ok(IdNumberInfo {
            region: chars[..6].iter().collect(),
            birth_date,
            sex: if digits[16] % 2 == 1 {
                Sex::Male
            } else {
                Sex::Female
            },
            number,
        }),
        Some(expected) => Err(CodeError::new(
            "ID_NUMBER_CHECK_DIGIT",
            format!("居民身份证号校验位应为 {expected}，实际为 {actual}"),
        )),
        // Unreachable: the first 17 characters were checked to be digits above.
        None => Err(CodeError::new(
            "ID_NUMBER_CHARACTER",
            "居民身份证号前 17 位应为数字",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// 机动车号牌
// ---------------------------------------------------------------------------------------------

/// The 31 provincial abbreviations that begin a civil plate.
pub const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Special-purpose plates that Roadside does not register as a vehicle's plate: training cars
/// (学), police (警), Hong Kong/Macao cross-border (港/澳), consulates (领) and embassies (使).
/// They are recognised so the officer gets a clear message rather than a format error; such a
/// vehicle is described in 备注 instead.
const PLATE_SPECIAL_TAILS: [(char, &str); 5] = [
    ('学', "教练车号牌（“学”字）"),
    ('警', "警用号牌（“警”字）"),
    ('港', "香港入出境车号牌（“港”字）"),
    ('澳', "澳门入出境车号牌（“澳”字）"),
    ('领', "领馆号牌（“领”字）"),
];

/// What kind of plate a valid plate number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateKind {
    /// 7 characters, e.g. 青E12345.
    Ordinary,
    /// 8 characters, small new-energy vehicle, e.g. 青ED12345.
    NewEnergySmall,
    /// 8 characters, large new-energy vehicle, e.g. 青E12345D.
    NewEnergyLarge,
    /// 7 characters ending in 挂, e.g. 青E1234挂.
    Trailer,
}

impl PlateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlateKind::Ordinary => "ordinary",
            PlateKind::NewEnergySmall => "new_energy_small",
            PlateKind::NewEnergyLarge => "new_energy_large",
            PlateKind::Trailer => "trailer",
        }
    }
}

/// A valid plate number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlateInfo {
    /// The normalised plate: no spaces or separators, upper-case half-width letters, e.g. 青E12345.
    pub plate: String,
    /// 省份简称, e.g. 青.
    pub province: char,
    /// 发牌机关代号, e.g. E.
    pub authority: char,
    pub kind: PlateKind,
}

/// A serial character: a digit or a capital other than I and O.
fn is_plate_serial_char(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && c != 'I' && c != 'O')
}

fn plate_char_error(position: usize, c: char, expected: &str) -> CodeError {
    let hint = match c {
        'I' => "（号牌不使用字母 I，是否为数字 1？）",
        'O' => "（号牌不使用字母 O，是否为数字 0？）",
        _ => "",
    };
    CodeError::new(
        "PLATE_CHARACTER",
        format!("号牌第 {position} 位“{c}”应为{expected}{hint}"),
    )
}

/// Checks a plate number: ordinary (7), trailer (7, ending in 挂) or new-energy (8).
///
/// Surrounding and inner spaces and the separators `·`, `•`, `・`, `-` are removed; full-width and
/// lower-case letters are normalised. Special-purpose plates (学, 警, 港, 澳, 领, 使) are refused
/// with `PLATE_UNSUPPORTED_KIND`: Roadside records them in 备注, not as the vehicle's plate.
///
/// Codes: `PLATE_LENGTH`, `PLATE_UNSUPPORTED_KIND`, `PLATE_PROVINCE`, `PLATE_AUTHORITY`,
/// `PLATE_CHARACTER`, `PLATE_NEW_ENERGY_FORMAT`.
pub fn check_plate(input: &str) -> Result<PlateInfo, CodeError> {
    let plate: String = input
        .chars()
        .map(|c| to_half_width(c).to_ascii_uppercase())
        .filter(|c| !c.is_whitespace() && !matches!(c, '·' | '•' | '・' | '-'))
        .collect();
    let chars: Vec<char> = plate.chars().collect();
    let (Some(&first), Some(&last)) = (chars.first(), chars.last()) else {
        return Err(CodeError::new("PLATE_LENGTH", "号牌号码为空"));
    };
    if first == '使' {
        return Err(CodeError::new(
            "PLATE_UNSUPPORTED_KIND",
            "使馆号牌（“使”字）不在本系统登记的号牌种类内（普通、挂车、新能源号牌），请在备注中记录",
        ));
    }
    if let Some((_, what)) = PLATE_SPECIAL_TAILS.iter().find(|(t, _)| *t == last) {
        return Err(CodeError::new(
            "PLATE_UNSUPPORTED_KIND",
            format!("{what}不在本系统登记的号牌种类内（普通、挂车、新能源号牌），请在备注中记录"),
        ));
    }
    if !PLATE_PROVINCES.contains(first) {
        return Err(CodeError::new(
            "PLATE_PROVINCE",
            format!("号牌第 1 位“{first}”不是省、自治区、直辖市简称"),
        ));
    }
    if chars.len() != 7 && chars.len() != 8 {
        return Err(CodeError::new(
            "PLATE_LENGTH",
            format!(
                "号牌号码应为 7 位（新能源号牌 8 位），实际为 {} 位",
                chars.len()
            ),
        ));
    }
    let authority = chars[1];
    if !(authority.is_ascii_uppercase() && authority != 'I' && authority != 'O') {
        return Err(CodeError::new(
            "PLATE_AUTHORITY",
            format!("号牌第 2 位发牌机关代号“{authority}”应为除 I、O 外的大写字母"),
        ));
    }
    let serial = &chars[2..];
    let check = |range: std::ops::Range<usize>, ok: fn(char) -> bool, expected: &str| {
        range
            .into_iter()
            .find(|&i| !ok(serial[i]))
            .map_or(Ok(()), |i| {
                Err(plate_char_error(i + 3, serial[i], expected))
            })
    };
    let kind = if serial.len() == 5 {
        if last == '挂' {
            check(0..4, is_plate_serial_char, "数字或除 I、O 外的字母")?;
            PlateKind::Trailer
        } else {
            check(0..5, is_plate_serial_char, "数字或除 I、O 外的字母")?;
            PlateKind::Ordinary
        }
    } else if matches!(serial[0], 'D' | 'F') {
        check(1..2, is_plate_serial_char, "数字或除 I、O 外的字母")?;
        check(
            2..6,
            |c| c.is_ascii_digit(),
            "数字（小型新能源号牌末 4 位为数字）",
        )?;
        PlateKind::NewEnergySmall
    } else if matches!(serial[5], 'D' | 'F') {
        check(
            0..5,
            |c| c.is_ascii_digit(),
            "数字（大型新能源号牌前 5 位序号为数字）",
        )?;
        PlateKind::NewEnergyLarge
    } else {
        return Err(CodeError::new(
            "PLATE_NEW_ENERGY_FORMAT",
            format!(
                "8 位号牌“{plate}”不是新能源号牌格式：小型为省份+字母+D/F+1 位字母或数字+4 位数字，大型为省份+字母+5 位数字+D/F"
            ),
        ));
    };
    Ok(PlateInfo {
        plate,
        province: first,
        authority,
        kind,
    })
}

// ---------------------------------------------------------------------------------------------
// Phone numbers
// ---------------------------------------------------------------------------------------------

/// Mobile or landline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneKind {
    Mobile,
    Landline,
}

/// A valid phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhoneInfo {
    /// Normalised: 11 digits for a mobile; `area-local[-extension]` for a landline, e.g. 0974-8512345.
    pub number: String,
    pub kind: PhoneKind,
}

/// Checks a mobile number (11 digits `1[3-9]…`, optionally after `+86`/`0086`) or a landline with
/// its area code (`0974-8512345`, `(010)12345678`, `02012345678`, with an optional extension
/// `-801`). Spaces, hyphens and parentheses are accepted as separators.
///
/// Codes: `PHONE_EMPTY`, `PHONE_CHARACTER`, `PHONE_MOBILE_LENGTH`, `PHONE_MOBILE_PREFIX`,
/// `PHONE_AREA_CODE`, `PHONE_LANDLINE_LENGTH`, `PHONE_FORMAT`.
pub fn check_phone(input: &str) -> Result<PhoneInfo, CodeError> {
    let normalised: String = input.trim().chars().map(to_half_width).collect();
    let normalised = normalised.trim();
    if normalised.is_empty() {
        return Err(CodeError::new("PHONE_EMPTY", "电话号码为空"));
    }
    let (international, rest) = match normalised
        .strip_prefix("+86")
        .or_else(|| normalised.strip_prefix("0086"))
    {
        Some(rest) => (true, rest),
        None => (false, normalised),
    };
    let is_separator = |c: char| matches!(c, ' ' | '-' | '(' | ')');
    if let Some(c) = rest
        .chars()
        .find(|&c| !c.is_ascii_digit() && !is_separator(c))
    {
        return Err(CodeError::new(
            "PHONE_CHARACTER",
            format!("电话号码中的“{c}”不是数字或分隔符（允许空格、- 和括号）"),
        ));
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    // After +86 a landline drops its leading 0 (+86 10 62345678); 10 never begins a mobile.
    if digits.starts_with('1') && !(international && digits.starts_with("10")) {
        let len = digits.chars().count();
        if len != 11 {
            return Err(CodeError::new(
                "PHONE_MOBILE_LENGTH",
                format!("手机号应为 11 位数字，实际为 {len} 位"),
            ));
        }
        let second = digits.chars().nth(1).unwrap_or('0');
        if !('3'..='9').contains(&second) {
            return Err(CodeError::new(
                "PHONE_MOBILE_PREFIX",
                format!("手机号第 2 位应为 3–9，实际为 {second}"),
            ));
        }
        return Ok(PhoneInfo {
            number: digits,
            kind: PhoneKind::Mobile,
        });
    }
    let mut groups: Vec<String> = rest
        .split(is_separator)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    if international {
        if let Some(first) = groups.first_mut() {
            if !first.starts_with('0') {
                first.insert(0, '0');
            }
        }
    }
    let whole: String = groups.concat();
    if !whole.starts_with('0') {
        return Err(CodeError::new(
            "PHONE_AREA_CODE",
            format!("固定电话应带区号（如 0974-8512345），实际为“{normalised}”"),
        ));
    }
    // 010 and 02X are three-digit area codes; every other one is 0 plus three digits.
    let area_len = if whole.starts_with("01") || whole.starts_with("02") {
        3
    } else {
        4
    };
    let (area, local, extension) = match groups.as_slice() {
        [only] => {
            let (area, local) = only.split_at(area_len.min(only.len()));
            (area.to_string(), local.to_string(), None)
        }
        [area, local] => (area.clone(), local.clone(), None),
        [area, local, ext] => (area.clone(), local.clone(), Some(ext.clone())),
        _ => {
            return Err(CodeError::new(
                "PHONE_FORMAT",
                format!("电话号码“{normalised}”的格式无法识别（应如 0974-8512345 或 13912345678）"),
            ))
        }
    };
    if area.len() != area_len {
        return Err(CodeError::new(
            "PHONE_AREA_CODE",
            format!("区号“{area}”无效（应为 010、02X 或 0 加 3 位数字，如 0974）"),
        ));
    }
    if !(7..=8).contains(&local.len()) {
        return Err(CodeError::new(
            "PHONE_LANDLINE_LENGTH",
            format!("固定电话区号后的号码应为 7–8 位，实际为 {} 位", local.len()),
        ));
    }
    if local.starts_with('0') || local.starts_with('1') {
        return Err(CodeError::new(
            "PHONE_FORMAT",
            format!("固定电话区号后的号码“{local}”不能以 0 或 1 开头"),
        ));
    }
    let number = match extension {
        Some(ext) if ext.len() > 6 => {
            return Err(CodeError::new(
                "PHONE_FORMAT",
                format!("分机号“{ext}”过长（最多 6 位）"),
            ))
        }
        Some(ext) => format!("{area}-{local}-{ext}"),
        None => format!("{area}-{local}"),
    };
    Ok(PhoneInfo {
        number,
        kind: PhoneKind::Landline,
    })
}

// ---------------------------------------------------------------------------------------------
// GPS
// ---------------------------------------------------------------------------------------------

/// China's bounding box in degrees (WGS-84): longitude 73–136 E, latitude 3–54 N.
pub const CHINA_LATITUDE: (f64, f64) = (3.0, 54.0);
pub const CHINA_LONGITUDE: (f64, f64) = (73.0, 136.0);

/// A GPS fix with both coordinates in range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GeoPoint {
    pub latitude: f64,
    pub longitude: f64,
}

/// Checks a latitude: finite and within −90..=90. Codes: `GPS_NOT_FINITE`, `GPS_LATITUDE_RANGE`.
pub fn check_latitude(latitude: f64) -> Result<f64, CodeError> {
    if !latitude.is_finite() {
        return Err(CodeError::new("GPS_NOT_FINITE", "纬度不是有效数值"));
    }
    if !(-90.0..=90.0).contains(&latitude) {
        return Err(CodeError::new(
            "GPS_LATITUDE_RANGE",
            format!("纬度 {latitude} 超出 −90 至 90 度的范围"),
        ));
    }
    Ok(latitude)
}

/// Checks a longitude: finite and within −180..=180. Codes: `GPS_NOT_FINITE`, `GPS_LONGITUDE_RANGE`.
pub fn check_longitude(longitude: f64) -> Result<f64, CodeError> {
    if !longitude.is_finite() {
        return Err(CodeError::new("GPS_NOT_FINITE", "经度不是有效数值"));
    }
    if !(-180.0..=180.0).contains(&longitude) {
        return Err(CodeError::new(
            "GPS_LONGITUDE_RANGE",
            format!("经度 {longitude} 超出 −180 至 180 度的范围"),
        ));
    }
    Ok(longitude)
}

/// Checks both coordinates of a fix (latitude first).
pub fn check_gps(latitude: f64, longitude: f64) -> Result<GeoPoint, CodeError> {
    Ok(GeoPoint {
        latitude: check_latitude(latitude)?,
        longitude: check_longitude(longitude)?,
    })
}

/// Whether a point lies inside China's bounding box (73–136 E, 3–54 N). A coarse test: a point
/// inside the box may still be abroad, but a point outside it is certainly not in China.
pub fn in_china_bbox(latitude: f64, longitude: f64) -> bool {
    (CHINA_LATITUDE.0..=CHINA_LATITUDE.1).contains(&latitude)
        && (CHINA_LONGITUDE.0..=CHINA_LONGITUDE.1).contains(&longitude)
}

/// `GPS_OUTSIDE_CHINA` when a fix lies outside China's bounding box; the message suggests the
/// coordinates were swapped when swapping them would put the point inside.
pub fn check_in_china(latitude: f64, longitude: f64) -> Result<(), CodeError> {
    if in_china_bbox(latitude, longitude) {
        return Ok(());
    }
    let hint = if in_china_bbox(longitude, latitude) {
        "，纬度和经度可能填反了"
    } else {
        ""
    };
    Err(CodeError::new(
        "GPS_OUTSIDE_CHINA",
        format!(
            "位置（纬度 {latitude}，经度 {longitude}）不在中国范围内（东经 73–136 度、北纬 3–54 度）{hint}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid date")
    }

    // --- USCC -------------------------------------------------------------------------------

    #[test]
    fn uscc_known_answer() {
        let info = check_uscc("9144030071526726XG").expect("valid");
        assert_eq!(info.registration_authority, '9');
        assert_eq!(info.registration_authority_name, "工商");
        assert_eq!(info.category, '1');
        assert_eq!(info.region, "440300");
        assert_eq!(info.subject_id, "71526726X");
        assert_eq!(uscc_check_char("9144030071526726X"), Some('G'));
    }

    #[test]
    fn uscc_is_normalised() {
        let info = check_uscc(" ９１４４０３００７１５２６７２６ｘｇ ").expect("valid");
        assert_eq!(info.code, "9144030071526726XG");
        assert!(check_uscc("9144030071526726xg").is_ok());
    }

    #[test]
    fn uscc_wrong_check_digit_says_expected_and_actual() {
        let e = check_uscc("9144030071526726XX").unwrap_err();
        assert_eq!(e.code, "USCC_CHECK_DIGIT");
        assert_eq!(e.message, "统一社会信用代码校验位应为 G，实际为 X");
    }

    #[test]
    fn uscc_structure_errors() {
        assert_eq!(
            check_uscc("914403007152672").unwrap_err().code,
            "USCC_LENGTH"
        );
        let e = check_uscc("9144030071526726IG").unwrap_err();
        assert_eq!(e.code, "USCC_CHARACTER");
        assert!(e.message.contains("第 17 位“I”"), "{}", e.message);
        assert_eq!(
            check_uscc("B144030071526726XG").unwrap_err().code,
            "USCC_AUTHORITY"
        );
        let e = check_uscc("9444030071526726XG").unwrap_err();
        assert_eq!(e.code, "USCC_CATEGORY");
        assert!(e.message.contains("工商"), "{}", e.message);
        assert_eq!(
            check_uscc("91A4030071526726XG").unwrap_err().code,
            "USCC_REGION"
        );
    }

    fn uscc_prefixes() -> Vec<(char, char)> {
        USCC_AUTHORITIES
            .iter()
            .flat_map(|(a, _, cats)| cats.chars().map(move |c| (*a, c)))
            .collect()
    }

    fn alphabet() -> Vec<char> {
        USCC_ALPHABET.chars().collect()
    }

    prop_compose! {
        fn valid_uscc()(
            prefix in prop::sample::select(uscc_prefixes()),
            region in "[0-9]{6}",
            subject in prop::collection::vec(0..31usize, 9),
        ) -> String {
            let a = alphabet();
            let mut body = format!("{}{}{region}", prefix.0, prefix.1);
            body.extend(subject.iter().map(|&i| a[i]));
            let check = uscc_check_char(&body).expect("body is valid");
            format!("{body}{check}")
        }
    }

    proptest! {
        #[test]
        fn generated_uscc_passes(code in valid_uscc()) {
            let info = check_uscc(&code).expect("valid");
            prop_assert_eq!(info.code, code);
        }

        #[test]
        fn uscc_single_substitution_fails(code in valid_uscc(), pos in 0..18usize, shift in 1..31usize) {
            let a = alphabet();
            let mut chars: Vec<char> = code.chars().collect();
            let old = uscc_value(chars[pos]).expect("alphabet") as usize;
            chars[pos] = a[(old + shift) % 31];
            let changed: String = chars.iter().collect();
            prop_assert!(check_uscc(&changed).is_err(), "{} accepted", changed);
            if pos < 17 {
                // Every weight is invertible mod 31, so the check character always changes.
                let body: String = chars[..17].iter().collect();
                prop_assert_ne!(uscc_check_char(&body), code.chars().nth(17));
            }
        }
    }

    // --- 居民身份证号 -----------------------------------------------------------------------

    #[test]
    fn id_number_known_answer() {
        let info = check_id_number("11010519491231002X", today()).expect("valid");
        assert_eq!(info.number, "11010519491231002X");
        assert_eq!(info.region, "110105");
        assert_eq!(
            info.birth_date,
            NaiveDate::from_ymd_opt(1949, 12, 31).expect("date")
        );
        assert_eq!(info.sex, Sex::Female);
        assert_eq!(id_number_check_char("11010519491231002"), Some('X'));
    }

    #[test]
    fn id_number_lowercase_x_and_full_width_are_normalised() {
        let info = check_id_number(" 11010519491231002x ", today()).expect("valid");
        assert_eq!(info.number, "11010519491231002X");
        assert!(check_id_number("１１０１０５１９４９１２３１００２Ｘ", today()).is_ok());
    }

    #[test]
    fn id_number_sex_from_17th_digit() {
        let body = "63250119850304001";
        let id = format!("{body}{}", id_number_check_char(body).expect("digits"));
        assert_eq!(check_id_number(&id, today()).expect("valid").sex, Sex::Male);
    }

    #[test]
    fn id_number_errors() {
        let e = check_id_number("110105491231002", today()).unwrap_err();
        assert_eq!(e.code, "ID_NUMBER_LENGTH");
        assert!(e.message.contains("15 位"), "{}", e.message);
        let e = check_id_number("1101051949123A002X", today()).unwrap_err();
        assert_eq!(e.code, "ID_NUMBER_CHARACTER");
        assert!(e.message.contains("第 14 位“A”"), "{}", e.message);
        assert_eq!(
            check_id_number("11010519491231002Y", today())
                .unwrap_err()
                .code,
            "ID_NUMBER_CHARACTER"
        );
        let e = check_id_number("91010519491231002X", today()).unwrap_err();
        assert_eq!(e.code, "ID_NUMBER_REGION");
        assert!(e.message.contains("“91”"), "{}", e.message);
        let e = check_id_number("110105194913310020", today()).unwrap_err();
        assert_eq!(e.code, "ID_NUMBER_BIRTH_DATE");
        assert_eq!(
            e.message,
            "居民身份证号第 7 位起的出生日期 19491331 不是有效日期"
        );
        assert_eq!(
            check_id_number("110105190002290020", today())
                .unwrap_err()
                .code,
            "ID_NUMBER_BIRTH_DATE",
            "1900 is not a leap year"
        );
        let e = check_id_number("110105189912310020", today()).unwrap_err();
        assert!(e.message.contains("早于 1900 年"), "{}", e.message);
        let e = check_id_number("110105202606020020", today()).unwrap_err();
        assert!(e.message.contains("晚于今天（20260601）"), "{}", e.message);
        let e = check_id_number("110105194912310021", today()).unwrap_err();
        assert_eq!(e.code, "ID_NUMBER_CHECK_DIGIT");
        assert_eq!(e.message, "居民身份证号校验位应为 X，实际为 1");
    }

    prop_compose! {
        fn valid_id_number()(
            province in prop::sample::select(ID_PROVINCE_CODES.to_vec()),
            district in 0..10_000u32,
            days in 0..=(today() - NaiveDate::from_ymd_opt(1900, 1, 1).expect("date")).num_days(),
            sequence in 0..1000u32,
        ) -> String {
            let birth = NaiveDate::from_ymd_opt(1900, 1, 1).expect("date") + chrono::Duration::days(days);
            let body = format!("{province:02}{district:04}{}{sequence:03}", birth.format("%Y%m%d"));
            let check = id_number_check_char(&body).expect("17 digits");
            format!("{body}{check}")
        }
    }

    proptest! {
        #[test]
        fn generated_id_number_passes(id in valid_id_number()) {
            let info = check_id_number(&id, today()).expect("valid");
            let seventeenth = id.chars().nth(16).and_then(|c| c.to_digit(10)).expect("digit");
            prop_assert_eq!(info.sex == Sex::Male, seventeenth % 2 == 1);
            prop_assert_eq!(info.number, id);
        }

        #[test]
        fn id_number_single_substitution_fails(id in valid_id_number(), pos in 0..18usize, shift in 1..11usize) {
            let mut chars: Vec<char> = id.chars().collect();
            if pos < 17 {
                let d = chars[pos].to_digit(10).expect("digit");
                let step = 1 + (shift as u32 - 1) % 9;
                chars[pos] = char::from_digit((d + step) % 10, 10).expect("digit");
            } else {
                let i = ID_CHECK_CHARS.iter().position(|&c| c == chars[17]).expect("check char");
                chars[17] = ID_CHECK_CHARS[(i + shift) % 11];
            }
            prop_assert_ne!(chars[pos], id.chars().nth(pos).expect("char"));
            let changed: String = chars.iter().collect();
            prop_assert!(check_id_number(&changed, today()).is_err(), "{} accepted", changed);
            if pos < 17 {
                // Every weight is invertible mod 11, so the check character always changes.
                let body: String = chars[..17].iter().collect();
                prop_assert_ne!(id_number_check_char(&body), id.chars().nth(17));
            }
        }
    }

    // --- Plates -----------------------------------------------------------------------------

    #[test]
    fn plate_kinds() {
        let p = check_plate("青E12345").expect("valid");
        assert_eq!(
            (p.province, p.authority, p.kind),
            ('青', 'E', PlateKind::Ordinary)
        );
        assert_eq!(
            check_plate("青ED12345").expect("valid").kind,
            PlateKind::NewEnergySmall
        );
        assert_eq!(
            check_plate("青EFA1234").expect("valid").kind,
            PlateKind::NewEnergySmall
        );
        assert_eq!(
            check_plate("青E12345D").expect("valid").kind,
            PlateKind::NewEnergyLarge
        );
        assert_eq!(
            check_plate("青E1234挂").expect("valid").kind,
            PlateKind::Trailer
        );
        assert_eq!(PlateKind::NewEnergyLarge.as_str(), "new_energy_large");
    }

    #[test]
    fn plate_is_normalised() {
        let p = check_plate("  青ｅ·１２ａ４５ ").expect("valid");
        assert_eq!(p.plate, "青E12A45");
        assert_eq!(check_plate("青e 12345").expect("valid").plate, "青E12345");
    }

    #[test]
    fn plate_errors() {
        assert_eq!(check_plate("").unwrap_err().code, "PLATE_LENGTH");
        assert_eq!(check_plate("青E1234").unwrap_err().code, "PLATE_LENGTH");
        assert_eq!(check_plate("青E1234567").unwrap_err().code, "PLATE_LENGTH");
        let e = check_plate("台E12345").unwrap_err();
        assert_eq!(e.code, "PLATE_PROVINCE");
        assert!(e.message.contains("“台”"), "{}", e.message);
        assert_eq!(check_plate("青I12345").unwrap_err().code, "PLATE_AUTHORITY");
        assert_eq!(check_plate("青112345").unwrap_err().code, "PLATE_AUTHORITY");
        let e = check_plate("青E12O45").unwrap_err();
        assert_eq!(e.code, "PLATE_CHARACTER");
        assert!(e.message.contains("第 5 位“O”"), "{}", e.message);
        assert!(e.message.contains("数字 0"), "{}", e.message);
        assert_eq!(
            check_plate("青ED1234A").unwrap_err().code,
            "PLATE_CHARACTER"
        );
        assert_eq!(
            check_plate("青E1234AD").unwrap_err().code,
            "PLATE_CHARACTER"
        );
        assert_eq!(
            check_plate("青E123456").unwrap_err().code,
            "PLATE_NEW_ENERGY_FORMAT"
        );
        assert_eq!(
            check_plate("青E12挂34").unwrap_err().code,
            "PLATE_CHARACTER"
        );
    }

    #[test]
    fn special_purpose_plates_are_refused_with_their_own_code() {
        for plate in [
            "青A1234学",
            "青A1234警",
            "粤Z1234港",
            "粤Z1234澳",
            "京A1234领",
            "使123456",
        ] {
            let e = check_plate(plate).unwrap_err();
            assert_eq!(e.code, "PLATE_UNSUPPORTED_KIND", "{plate}");
            assert!(e.message.contains("备注"), "{}", e.message);
        }
    }

    fn serial_chars() -> Vec<char> {
        ('0'..='9')
            .chain('A'..='Z')
            .filter(|&c| is_plate_serial_char(c))
            .collect()
    }

    proptest! {
        #[test]
        fn generated_plates_pass(
            province in prop::sample::select(PLATE_PROVINCES.chars().collect::<Vec<_>>()),
            authority in prop::sample::select(('A'..='Z').filter(|&c| c != 'I' && c != 'O').collect::<Vec<_>>()),
            serial in prop::collection::vec(prop::sample::select(serial_chars()), 5),
            digits in "[0-9]{5}",
            energy in prop::sample::select(vec!['D', 'F']),
        ) {
            let serial: String = serial.iter().collect();
            let ordinary = format!("{province}{authority}{serial}");
            prop_assert_eq!(check_plate(&ordinary).expect("ordinary").kind, PlateKind::Ordinary);
            let small = format!("{province}{authority}{energy}{}{}", &serial[..1], &digits[..4]);
            prop_assert_eq!(check_plate(&small).expect("small").kind, PlateKind::NewEnergySmall);
            let large = format!("{province}{authority}{digits}{energy}");
            prop_assert_eq!(check_plate(&large).expect("large").kind, PlateKind::NewEnergyLarge);
            let trailer = format!("{province}{authority}{}挂", &serial[..4]);
            prop_assert_eq!(check_plate(&trailer).expect("trailer").kind, PlateKind::Trailer);
            let lower = ordinary.to_lowercase();
            prop_assert_eq!(check_plate(&lower).expect("lower case").plate, ordinary.clone());
            // I and O are never serial characters.
            for bad in ['I', 'O'] {
                let mut chars: Vec<char> = ordinary.chars().collect();
                chars[6] = bad;
                prop_assert!(check_plate(&chars.iter().collect::<String>()).is_err());
            }
        }
    }

    // --- Phones -----------------------------------------------------------------------------

    #[test]
    fn phones() {
        let m = check_phone("13912345678").expect("mobile");
        assert_eq!(
            (m.number.as_str(), m.kind),
            ("13912345678", PhoneKind::Mobile)
        );
        assert_eq!(
            check_phone("+86 139-1234-5678").expect("mobile").number,
            "13912345678"
        );
        assert_eq!(
            check_phone("００８６１３９１２３４５６７８")
                .expect("mobile")
                .number,
            "13912345678"
        );
        let l = check_phone("0974-8512345").expect("landline");
        assert_eq!(
            (l.number.as_str(), l.kind),
            ("0974-8512345", PhoneKind::Landline)
        );
        assert_eq!(
            check_phone("(010)62345678").expect("landline").number,
            "010-62345678"
        );
        assert_eq!(
            check_phone("02082345678").expect("landline").number,
            "020-82345678"
        );
        assert_eq!(
            check_phone("09748512345").expect("landline").number,
            "0974-8512345"
        );
        assert_eq!(
            check_phone("+86 10 62345678").expect("landline").number,
            "010-62345678"
        );
        assert_eq!(
            check_phone("0974-8512345-801").expect("extension").number,
            "0974-8512345-801"
        );
    }

    #[test]
    fn phone_errors() {
        assert_eq!(check_phone("  ").unwrap_err().code, "PHONE_EMPTY");
        assert_eq!(
            check_phone("139x2345678").unwrap_err().code,
            "PHONE_CHARACTER"
        );
        let e = check_phone("1391234567").unwrap_err();
        assert_eq!(e.code, "PHONE_MOBILE_LENGTH");
        assert!(e.message.contains("实际为 10 位"), "{}", e.message);
        let e = check_phone("12912345678").unwrap_err();
        assert_eq!(e.code, "PHONE_MOBILE_PREFIX");
        assert!(e.message.contains("实际为 2"), "{}", e.message);
        assert_eq!(check_phone("8512345").unwrap_err().code, "PHONE_AREA_CODE");
        assert_eq!(
            check_phone("09-8512345").unwrap_err().code,
            "PHONE_AREA_CODE"
        );
        assert_eq!(
            check_phone("0974-851234").unwrap_err().code,
            "PHONE_LANDLINE_LENGTH"
        );
        assert_eq!(
            check_phone("0974-0512345").unwrap_err().code,
            "PHONE_FORMAT"
        );
        assert_eq!(
            check_phone("0974-851-2345-1").unwrap_err().code,
            "PHONE_FORMAT"
        );
    }

    proptest! {
        #[test]
        fn generated_mobiles_pass(n in "1[3-9][0-9]{9}") {
            prop_assert_eq!(check_phone(&n).expect("mobile").number, n.clone());
            prop_assert_eq!(check_phone(&format!("+86{n}")).expect("mobile").number, n);
        }
    }

    // --- GPS --------------------------------------------------------------------------------

    #[test]
    fn gps() {
        let p = check_gps(36.27, 100.62).expect("valid");
        assert_eq!((p.latitude, p.longitude), (36.27, 100.62));
        assert_eq!(check_latitude(90.5).unwrap_err().code, "GPS_LATITUDE_RANGE");
        assert_eq!(
            check_longitude(-180.5).unwrap_err().code,
            "GPS_LONGITUDE_RANGE"
        );
        assert_eq!(check_latitude(f64::NAN).unwrap_err().code, "GPS_NOT_FINITE");
        assert_eq!(
            check_longitude(f64::INFINITY).unwrap_err().code,
            "GPS_NOT_FINITE"
        );
        assert!(check_in_china(36.27, 100.62).is_ok());
        let e = check_in_china(48.85, 2.35).unwrap_err();
        assert_eq!(e.code, "GPS_OUTSIDE_CHINA");
        assert!(!e.message.contains("填反"), "{}", e.message);
        let e = check_in_china(100.62, 36.27).unwrap_err();
        assert!(e.message.contains("填反"), "{}", e.message);
    }

    proptest! {
        #[test]
        fn gps_ranges(lat in -90.0..=90.0f64, lon in -180.0..=180.0f64, over in 0.001..1000.0f64) {
            prop_assert!(check_gps(lat, lon).is_ok());
            prop_assert!(check_latitude(90.0 + over).is_err());
            prop_assert!(check_latitude(-90.0 - over).is_err());
            prop_assert!(check_longitude(180.0 + over).is_err());
            prop_assert!(check_longitude(-180.0 - over).is_err());
        }
    }

    #[test]
    fn code_error_becomes_issue() {
        let issue = check_plate("台E12345")
            .unwrap_err()
            .to_issue("vehicle.plate");
        assert_eq!(issue.path, "vehicle.plate");
        assert_eq!(issue.code, "PLATE_PROVINCE");
    }
}
