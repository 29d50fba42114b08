//! The record model: cases, 现场笔录 (on-site record) and 勘验笔录 (inspection record), parties,
//! vehicles, officers — the fields of 《交通运输行政执法文书式样》 (annex to 程序规定).
//!
//! These types are the *draft* an officer is filling in: times and dates are kept as the text entered
//! (RFC 3339 / `YYYY-MM-DD`) so that a half-filled form can be stored, shown and validated with every
//! problem pointed at its field. `validate` turns a draft into a list of issues.
//!
//! JSON documents use these shapes with `snake_case` field names; unknown fields are refused.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Which 笔录 template a record follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 现场笔录 (template 4).
    OnSite,
    /// 勘验笔录 (template 3).
    Inspection,
}

/// 性别.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

/// 执法地点, with the GPS fix when one was had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// Address as written on the form, e.g. "G214线 K1876+300 共和县倒淌河镇".
    pub address: String,
    /// WGS-84 latitude in degrees.
    #[serde(default)]
    pub latitude: Option<f64>,
    /// WGS-84 longitude in degrees.
    #[serde(default)]
    pub longitude: Option<f64>,
}

/// An enforcement officer named on a record (执法人员), identified by the 执法证号.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct OfficerRef {
    pub name: String,
    /// 执法证号, looked up in the roster for validity on the record's date.
    pub certificate_no: String,
}

/// A person present at the scene (现场人员): the party, the driver, a witness…
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct PersonOnSite {
    pub name: String,
    #[serde(default)]
    pub sex: Option<Sex>,
    /// 居民身份证号 (GB 11643). Other identity documents go in `other_id`.
    #[serde(default)]
    pub id_number: Option<String>,
    /// Another identity document, e.g. "护照 E12345678".
    #[serde(default)]
    pub other_id: Option<String>,
    /// 与案件关系: 当事人, 驾驶员, 见证人, 车主…
    pub relation: String,
    /// 单位及职务.
    #[serde(default)]
    pub employer_and_title: Option<String>,
    /// 联系电话.
    #[serde(default)]
    pub phone: Option<String>,
    /// 联系地址.
    #[serde(default)]
    pub address: Option<String>,
}

/// 当事人: a natural person or an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Party {
    Person {
        name: String,
        /// 居民身份证号.
        id_number: String,
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        phone: Option<String>,
    },
    Organisation {
        name: String,
        /// 统一社会信用代码 (GB 32100).
        uscc: String,
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        phone: Option<String>,
        /// 法定代表人.
        #[serde(default)]
        legal_representative: Option<String>,
    },
}

/// 车(船)号 and 车(船)型, with the facts an overload check needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct Vehicle {
    /// 号牌号码, e.g. 青E12345 or 青ED12345 (new energy).
    pub plate: String,
    /// 车(船)型, e.g. 重型半挂牵引车.
    pub vehicle_type: String,
    #[serde(default)]
    pub axles: Option<u32>,
    /// Measured gross weight (车货总质量) in kg.
    #[serde(default)]
    pub gross_weight_kg: Option<f64>,
    #[serde(default)]
    pub length_m: Option<f64>,
    #[serde(default)]
    pub width_m: Option<f64>,
    #[serde(default)]
    pub height_m: Option<f64>,
}

/// 行政强制措施 taken on the spot (《行政强制法》 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum CoerciveMeasureKind {
    /// 查封.
    Seal,
    /// 扣押.
    Seizure,
    /// 其他行政强制措施.
    Other,
}

/// What a 现场笔录 of a coercive measure must state (《行政强制法》 18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct CoerciveMeasure {
    pub kind: CoerciveMeasureKind,
    /// The party was told the reasons, the basis, their rights and remedies.
    pub told_reasons_basis_rights: bool,
    /// The party's statement and defence were heard (听取陈述和申辩).
    pub statement_heard: bool,
}

/// The party's confirmation at the end of the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PartyConfirmation {
    /// "以上笔录已阅，情况属实", signed at the given time.
    Signed { signer: String, signed_at: String },
    /// The party refused to sign; the officers note it (and a witness may sign).
    Refused {
        note: String,
        #[serde(default)]
        witness: Option<String>,
    },
}

/// The parts of a 勘验笔录 that a 现场笔录 does not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct InspectionDetail {
    /// 勘验对象, e.g. the damaged road section or the vehicle.
    pub object: String,
    /// 天气.
    #[serde(default)]
    pub weather: Option<String>,
    /// 见证人 (name, id).
    #[serde(default)]
    pub witnesses: Vec<String>,
}

/// A 现场笔录 or 勘验笔录 as the officer fills it in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct InspectionRecord {
    pub kind: RecordKind,
    /// 案号, when one has been given.
    #[serde(default)]
    pub case_number: Option<String>,
    pub place: Place,
    /// 执法时间 from (RFC 3339, e.g. `2026-11-29T10:05:00+08:00`).
    pub started_at: String,
    /// 执法时间 to (RFC 3339). Empty while the record is being written.
    #[serde(default)]
    pub ended_at: Option<String>,
    /// 执法人员 (at least two certified officers, 处罚法 42).
    pub officers: Vec<OfficerRef>,
    /// 记录人.
    pub recorder: String,
    /// 当事人.
    #[serde(default)]
    pub party: Option<Party>,
    /// 现场人员.
    #[serde(default)]
    pub persons: Vec<PersonOnSite>,
    #[serde(default)]
    pub vehicle: Option<Vehicle>,
    /// 现场情况 / 勘验情况.
    pub situation: String,
    #[serde(default)]
    pub coercive_measure: Option<CoerciveMeasure>,
    #[serde(default)]
    pub party_confirmation: Option<PartyConfirmation>,
    /// 备注.
    #[serde(default)]
    pub remarks: Option<String>,
    /// Only for 勘验笔录.
    #[serde(default)]
    pub inspection: Option<InspectionDetail>,
}

/// An officer's role in the roster. Only `Officer`, `LegalReviewer` and `Supervisor` hold an
/// enforcement certificate that counts towards the two officers a record needs; assistants
/// (辅助人员) may not enforce alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum OfficerRole {
    Officer,
    Assistant,
    LegalReviewer,
    Supervisor,
    Admin,
}

impl OfficerRole {
    /// Whether a person of this role may enforce (counts towards the two officers).
    pub fn may_enforce(self) -> bool {
        matches!(
            self,
            OfficerRole::Officer | OfficerRole::LegalReviewer | OfficerRole::Supervisor
        )
    }
}

/// One row of the officer roster (from the agency's reference bundle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[serde(deny_unknown_fields)]
pub struct OfficerCertificate {
    pub certificate_no: String,
    pub name: String,
    /// Agency code, e.g. `632500` for 海南州.
    pub agency: String,
    pub role: OfficerRole,
    /// First day of validity (`YYYY-MM-DD` in JSON).
    #[serde(with = "crate::day::serde_day")]
    pub valid_from: NaiveDate,
    /// Last day of validity.
    #[serde(with = "crate::day::serde_day")]
    pub valid_to: NaiveDate,
    /// Day the certificate was revoked (注销), if it was.
    #[serde(default, with = "crate::day::serde_opt_day")]
    pub revoked_on: Option<NaiveDate>,
}

/// Lifecycle of a case on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Draft,
    Finalized,
    Voided,
    /// Closed (结案) after its decision was executed, or exempted, withdrawn or transferred.
    Closed,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Draft => "draft",
            CaseStatus::Finalized => "finalized",
            CaseStatus::Voided => "voided",
            CaseStatus::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(CaseStatus::Draft),
            "finalized" => Some(CaseStatus::Finalized),
            "voided" => Some(CaseStatus::Voided),
            "closed" => Some(CaseStatus::Closed),
            _ => None,
        }
    }
}

/// The kind of an evidence file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Video,
    Audio,
    Photo,
    Document,
    /// A handwritten signature's stroke data (JSON), captured on the device for a document.
    Signature,
}

impl EvidenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Video => "video",
            EvidenceKind::Audio => "audio",
            EvidenceKind::Photo => "photo",
            EvidenceKind::Document => "document",
            EvidenceKind::Signature => "signature",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "video" => Some(EvidenceKind::Video),
            "audio" => Some(EvidenceKind::Audio),
            "photo" => Some(EvidenceKind::Photo),
            "document" => Some(EvidenceKind::Document),
            "signature" => Some(EvidenceKind::Signature),
            _ => None,
        }
    }
    /// Audio and video are the 音像记录 that 处罚法 47 and 《行政强制法》 require.
    pub fn is_audio_visual(self) -> bool {
        matches!(self, EvidenceKind::Video | EvidenceKind::Audio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<Place>(r#"{"address":"x","altitude":3}"#).unwrap_err();
        assert!(err.to_string().contains("altitude"));
    }

    #[test]
    fn party_is_tagged() {
        let p: Party = serde_json::from_str(
            r#"{"type":"organisation","name":"青海某运输有限公司","uscc":"9144030071526726XG"}"#,
        )
        .unwrap();
        assert!(matches!(p, Party::Organisation { .. }));
    }
}
