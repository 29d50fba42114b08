//! Demo data from the agency plan this project was created from: the 海南藏族自治州 transport bureau
//! (Qinghai, code 632500, plates 青E) and its county bureaus. Used by `roadside demo`, the tests,
//! the benchmarks and the shells' tests. Names and numbers are fictitious; the codes are valid.

use chrono::{DateTime, Duration, FixedOffset, Utc};

use crate::model::*;

/// Demo officers: five certified officers, one assistant, one expired and one revoked certificate,
/// in the roster format of a reference bundle (`core/demo/roster.json`).
pub const ROSTER_JSON: &str = include_str!("../demo/roster.json");

/// The demo officers of [`ROSTER_JSON`].
pub fn roster() -> Vec<OfficerCertificate> {
    crate::bundle::parse_roster(ROSTER_JSON.as_bytes())
        .map(|r| r.officers)
        .unwrap_or_else(|e| unreachable!("the demo roster is checked by a test: {e}"))
}

/// A block of document numbers for a demo device that has no server to lease them from: serials
/// 9001–9999 of `year` of the demo agency. A real device gets its blocks from the server, which
/// leases from 1 upwards (see `crate::steps::NumberBlock`).
pub fn number_block(year: i32) -> crate::steps::NumberBlock {
    crate::steps::NumberBlock {
        agency: "632500".to_string(),
        year,
        first: 9001,
        last: 9999,
        prefix: "青海南交执".to_string(),
        agency_name: "海南藏族自治州交通运输综合行政执法局".to_string(),
    }
}

/// A complete, valid 现场笔录 of an overloaded truck stopped on G214 in 共和县, started at `at`.
pub fn on_site_record(at: DateTime<Utc>) -> InspectionRecord {
    let start = at.with_timezone(&crate::day::agency_offset());
    let end = start + Duration::minutes(25);
    let t = |d: DateTime<FixedOffset>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    InspectionRecord {
        kind: RecordKind::OnSite,
        case_number: None,
        place: Place {
            address: "G214线 K1876+300 共和县倒淌河镇超限检测站".to_string(),
            latitude: Some(36.4221),
            longitude: Some(100.9536),
        },
        started_at: t(start),
        ended_at: Some(t(end)),
        officers: vec![
            OfficerRef {
                name: "才让多杰".to_string(),
                certificate_no: "QH6325000101".to_string(),
            },
            OfficerRef {
                name: "李明".to_string(),
                certificate_no: "QH6325000102".to_string(),
            },
        ],
        recorder: "李明".to_string(),
        party: Some(Party::Person {
            name: "韩建国".to_string(),
            id_number: "63252119850312123X".to_string(),
            address: Some("青海省海南州共和县恰卜恰镇".to_string()),
            phone: Some("13897412345".to_string()),
        }),
        persons: vec![PersonOnSite {
            name: "韩建国".to_string(),
            sex: Some(Sex::Male),
            id_number: Some("63252119850312123X".to_string()),
            other_id: None,
            relation: "当事人（驾驶员）".to_string(),
            employer_and_title: Some("青海某物流有限公司 驾驶员".to_string()),
            phone: Some("13897412345".to_string()),
            address: Some("青海省海南州共和县恰卜恰镇".to_string()),
        }],
        vehicle: Some(Vehicle {
            plate: "青E12345".to_string(),
            vehicle_type: "重型仓栅式货车".to_string(),
            axles: Some(2),
            gross_weight_kg: Some(21_350.0),
            length_m: Some(9.6),
            width_m: Some(2.5),
            height_m: Some(3.9),
        }),
        situation: "经检测站称重，该车两轴，车货总质量 21350 千克，超过 18000 千克限值 3350 千克。\
                    执法人员出示执法证件，告知当事人违法事实、依据及陈述申辩权利。"
            .to_string(),
        coercive_measure: None,
        party_confirmation: Some(PartyConfirmation::Signed {
            signer: "韩建国".to_string(),
            signed_at: t(end),
        }),
        remarks: None,
        inspection: None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_roster_file_parses() {
        let roster = super::roster();
        assert_eq!(roster.len(), 8);
        assert!(roster.iter().any(|o| o.revoked_on.is_some()));
    }
}
