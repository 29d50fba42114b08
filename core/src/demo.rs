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
        agency: AGENCY_CODE.to_string(),
        year,
        first: 9001,
        last: 9999,
        prefix: "青海南交执".to_string(),
        agency_name: AGENCY_NAME.to_string(),
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

/// The 现场笔录 of a 超限运输 stop with a long 现场情况 (two pages once rendered), a second person on
/// site and a remark: the document the rendering tests and the benchmark print.
pub fn overload_record_long(at: DateTime<Utc>) -> InspectionRecord {
    let mut r = on_site_record(at);
    r.case_number = Some("青海南交执〔2026〕第0137号".to_string());
    r.vehicle = Some(Vehicle {
        plate: "青E67890".to_string(),
        vehicle_type: "重型半挂牵引车".to_string(),
        axles: Some(6),
        gross_weight_kg: Some(58_760.0),
        length_m: Some(17.8),
        width_m: Some(2.55),
        height_m: Some(4.0),
    });
    r.persons.push(PersonOnSite {
        name: "马秀兰".to_string(),
        sex: Some(Sex::Female),
        id_number: Some("632521199007154526".to_string()),
        other_id: None,
        relation: "见证人（检测站工作人员）".to_string(),
        employer_and_title: Some("共和县倒淌河超限检测站 称重员".to_string()),
        phone: Some("09718512345".to_string()),
        address: Some("青海省海南州共和县倒淌河镇".to_string()),
    });
    r.situation = [
        "执法人员才让多杰、李明在G214线 K1876+300 倒淌河超限检测站执勤时，对由西宁方向驶来的青E67890重型半挂牵引车进行例行检查。执法人员向驾驶员出示了行政执法证件，表明身份，并说明检查的依据和内容。",
        "经检测站动态称重设备初检、静态称重设备复检，该车六轴，车货总质量 58760 千克，超过《超限运输车辆行驶公路管理规定》第三条规定的六轴车辆 49000 千克限值 9760 千克，超限比例 19.9%。车货总高度 4.0 米、总宽度 2.55 米、总长度 17.8 米，均未超过规定限值。称重设备检定合格证在有效期内（证书编号 QHJL-2026-0456），称重过程全程录音录像。",
        "驾驶员韩建国陈述：该车所载货物为袋装水泥，装货地点为湟源县某水泥厂，目的地为共和县恰卜恰镇某建筑工地，装货时未过磅，不清楚实际重量；车辆为青海某物流有限公司所有，本人受雇驾驶。执法人员查验了驾驶员的机动车驾驶证、从业资格证和车辆的道路运输证、行驶证，证件齐全有效。",
        "执法人员告知当事人：该车违法超限运输，违反了《公路安全保护条例》第三十三条的规定，执法人员责令当事人采取卸载措施消除违法状态，并告知当事人依法享有陈述、申辩的权利。当事人表示无异议，同意在检测站卸货场自行卸载超限部分货物。卸载后复检，车货总质量 48920 千克，未超过限值。",
        "现场拍摄照片 12 张，录制执法记录仪视频 2 段（编号 ZFJLY-0137-01、ZFJLY-0137-02），打印称重单 2 张，均已登记保存。执法人员告知当事人于七日内到共和县交通运输综合行政执法大队接受处理，当事人表示知晓。",
    ]
    .join("\n");
    r.remarks =
        Some("卸载货物 约 9.8 吨 袋装水泥，由当事人自行转运，检测站出具卸载证明。".to_string());
    r
}

/// The demo agency's name and code.
pub const AGENCY_NAME: &str = "海南藏族自治州交通运输综合行政执法支队";
pub const AGENCY_CODE: &str = "632500";

/// A made-up but plausible handwritten signature: a few cursive strokes sampled at 60 Hz with
/// varying pressure on a 600×200 canvas; `seed` makes different ones.
#[cfg(feature = "documents")]
pub fn signature(seed: u32) -> crate::document::SignatureStrokes {
    use crate::document::{SignatureStrokes, StrokePoint};
    let mut strokes = Vec::new();
    let mut t = 0u32;
    let s = seed as f32;
    for k in 0..4u32 {
        let kf = k as f32;
        let x0 = 40.0 + kf * 130.0;
        let n = 90 + (seed + k * 7) % 40;
        let mut pts = Vec::new();
        for i in 0..n {
            let u = i as f32 / n as f32;
            let x = x0 + 110.0 * u + 18.0 * (u * 9.0 + s).sin();
            let y = 100.0
                + 55.0
                    * (u * std::f32::consts::TAU * (1.0 + kf * 0.3 + s * 0.15) + s * 0.7).sin()
                    * (1.0 - u * 0.4);
            let pressure = 0.35 + 0.5 * (u * std::f32::consts::PI).sin();
            pts.push(StrokePoint {
                x: x.clamp(0.0, 600.0),
                y: y.clamp(0.0, 200.0),
                t_ms: t,
                pressure,
            });
            t += 16;
        }
        t += 180;
        strokes.push(pts);
    }
    SignatureStrokes {
        width: 600.0,
        height: 200.0,
        strokes,
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
