//! The documents of three realistic cases — a 超限 summary penalty, an exemption with the party's
//! commitment, a seizure with its list and evidence preserved with its 清单 — issued from the store and read back with poppler: every
//! field value is in the text, the font is embedded as a subset, every page has ink, a reprint
//! gives the same bytes, and a document changed by one byte no longer matches its entry.

#![cfg(feature = "device")]

use std::path::Path;
use std::process::Command;

use chrono::{Datelike, Utc};
use roadside_core::demo;
use roadside_core::document::{Renderer, SystemFonts};
use roadside_core::model::{CoerciveMeasureKind, Party};
use roadside_core::rules::check::{DraftOfficer, DraftViolation, PenaltyDraft, ProcedureKind};
use roadside_core::rules::guidance::{Facts, PartyType};
use roadside_core::rules::RuleBook;
use roadside_core::steps::*;
use roadside_core::store::documents::{matches_entry, SignatureInput};
use roadside_core::store::{Durability, Store};

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

fn tools_present() -> bool {
    let ok = ["pdftotext", "pdffonts", "pdftoppm"]
        .iter()
        .all(|t| Command::new(t).arg("-v").output().is_ok())
        && Renderer::new(&SystemFonts::new()).is_ok();
    assert!(
        ok || !in_ci(),
        "poppler-utils and fonts-noto-cjk are required under CI"
    );
    if !ok {
        eprintln!("SKIPPED (not under CI): poppler-utils or fonts-noto-cjk missing");
    }
    ok
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn text(pdf: &Path) -> String {
    run("pdftotext", &["-raw", pdf.to_str().unwrap(), "-"])
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Every page rendered at 30 dpi in grey has dark pixels.
fn pages_have_ink(pdf: &Path, dir: &Path) {
    let prefix = dir.join("page");
    run(
        "pdftoppm",
        &[
            "-r",
            "30",
            "-gray",
            pdf.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ],
    );
    let mut pages = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pgm") {
            let bytes = std::fs::read(&p).unwrap();
            // P5 header: four whitespace-separated fields, then the pixels.
            let mut fields = 0;
            let mut i = 0;
            while fields < 4 {
                while bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                while !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                fields += 1;
            }
            let dark = bytes[i + 1..].iter().filter(|&&b| b < 128).count();
            assert!(dark > 100, "{} is blank", p.display());
            pages += 1;
            std::fs::remove_file(p).unwrap();
        }
    }
    assert!(pages >= 1);
}

fn fonts_embedded_subset(pdf: &Path) {
    let out = run("pdffonts", &[pdf.to_str().unwrap()]);
    let rows: Vec<&str> = out.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{out}");
    for r in rows {
        let cols: Vec<&str> = r.split_whitespace().collect();
        let n = cols.len();
        assert_eq!(
            cols[n - 5..n - 2],
            ["yes", "yes", "yes"],
            "emb/sub/uni: {r}"
        );
    }
}

fn check_pdf(pdf: &[u8], dir: &Path, name: &str, must_contain: &[&str]) {
    let path = dir.join(name);
    std::fs::write(&path, pdf).unwrap();
    // For a person to look at: `ROADSIDE_DOC_OUT=<dir>`.
    if let Some(out) = std::env::var_os("ROADSIDE_DOC_OUT") {
        std::fs::write(Path::new(&out).join(name), pdf).unwrap();
    }
    let t = text(&path);
    for v in must_contain {
        let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(t.contains(&v), "{name}: “{v}” missing from\n{t}");
    }
    fonts_embedded_subset(&path);
    let pages = tempfile::tempdir().unwrap();
    pages_have_ink(&path, pages.path());
}

fn officers() -> Vec<DraftOfficer> {
    vec![
        DraftOfficer {
            name: "才让多杰".into(),
            certificate_no: "QH6325000101".into(),
        },
        DraftOfficer {
            name: "李明".into(),
            certificate_no: "QH6325000102".into(),
        },
    ]
}

fn company() -> Party {
    Party::Organisation {
        name: "青海某物流有限公司".into(),
        uscc: "9144030071526726XG".into(),
        address: Some("青海省海南州共和县恰卜恰镇".into()),
        phone: Some("13897412345".into()),
        legal_representative: Some("韩建国".into()),
    }
}

fn today() -> String {
    roadside_core::day::format_day(roadside_core::day::agency_today())
}

fn open(dir: &Path) -> Store {
    let s = Store::open(dir, &[5u8; 32], Durability::Normal).unwrap();
    s.import_roster(&demo::roster()).unwrap();
    let year = roadside_core::day::agency_today().year();
    s.add_number_block(&demo::number_block(year)).unwrap();
    s
}

fn signature(role: &str, name: &str, seed: u32) -> SignatureInput {
    SignatureInput {
        role: role.into(),
        name: name.into(),
        strokes_json: Some(serde_json::to_string(&demo::signature(seed)).unwrap()),
        refused: None,
        witness: None,
        signed_at: Some(Utc::now().to_rfc3339()),
    }
}

fn finalized(s: &Store) -> String {
    let id = s
        .create_case(&demo::on_site_record(
            Utc::now() - chrono::Duration::hours(1),
        ))
        .unwrap()
        .id;
    s.finalize_case(&id).unwrap();
    id
}

#[test]
fn an_overload_summary_penalty_prints_its_record_decision_and_receipt() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = open(&tmp.path().join("store"));
    let book = RuleBook::bundled().unwrap();
    let r = Renderer::new(&SystemFonts::new()).unwrap();
    let case = finalized(&s);
    let draft = PenaltyDraft {
        facts: Facts {
            act_date: today(),
            party_type: PartyType::Organisation,
            gross_weight_kg: Some(21_350.0),
            axles: Some(2),
            combination: Some(false),
            ..Default::default()
        },
        violations: vec![DraftViolation {
            code: "CX-43-2".into(),
            act_id: None,
            warning: false,
            amount_yuan: 0,
        }],
        procedure: ProcedureKind::Summary,
        justification: String::new(),
        officers: officers(),
        discovered_on: None,
        already_fined_acts: vec![],
        collect_on_the_spot: false,
        hard_to_collect_later: false,
    };
    let g = book.check_draft(&draft, &demo::roster()).unwrap();
    let amount = g.guidance.violations[0].recommended_yuan.unwrap();
    let mut draft = draft;
    draft.violations[0].amount_yuan = amount;
    let facts_text = "当事人驾驶青E12345重型仓栅式货车，经共和县倒淌河镇超限检测站称重，车货总质量21350千克，超过限定标准3350千克";
    let d = s
        .decide_penalty(
            &case,
            &book,
            &PenaltyDecisionInput {
                draft,
                party: company(),
                facts_text: facts_text.into(),
                rights_told: true,
            },
        )
        .unwrap();
    let number = d.number.clone().unwrap();

    // The 现场笔录, signed by the party on the device.
    let record = s
        .issue_document(
            &case,
            DocType::SiteRecord,
            None,
            &[signature("当事人", "韩建国", 1)],
            &r,
        )
        .unwrap();
    check_pdf(
        &record.pdf,
        tmp.path(),
        "site_record.pdf",
        &[
            "现场笔录",
            "韩建国",
            "63252119850312123X",
            "青E12345",
            "QH6325000101",
            &record.number,
        ],
    );

    // The decision, signed by the party and the officers.
    let doc = s
        .issue_document(
            &case,
            DocType::SummaryDecision,
            None,
            &[
                signature("当事人", "韩建国", 3),
                signature("执法人员", "才让多杰", 4),
                signature("执法人员", "李明", 5),
            ],
            &r,
        )
        .unwrap();
    assert_eq!(doc.number, number);
    let amount_text = format!("罚款人民币{}元", {
        let s = amount.to_string();
        if s.len() > 3 {
            format!("{},{}", &s[..s.len() - 3], &s[s.len() - 3..])
        } else {
            s
        }
    });
    check_pdf(
        &doc.pdf,
        tmp.path(),
        "decision.pdf",
        &[
            "当场行政处罚决定书",
            &number,
            "青海某物流有限公司",
            "9144030071526726XG",
            facts_text,
            "违反了《超限运输车辆行驶公路管理规定》第三条的规定",
            "依据《超限运输车辆行驶公路管理规定》第四十三条第一款第（二）项的规定",
            &amount_text,
            "十五日内",
            "百分之三",
            "六十日内",
            "六个月内",
            "陈述、申辩",
            demo::AGENCY_NAME,
        ],
    );
    let text_of_decision = text(&tmp.path().join("decision.pdf"));
    for internal in ["未核实", "备注", "来源资料", "unverified"] {
        assert!(
            !text_of_decision.contains(internal),
            "internal note “{internal}” printed"
        );
    }
    // The same document again is refused; a reprint renders the same bytes.
    assert_eq!(
        s.issue_document(&case, DocType::SummaryDecision, None, &[], &r)
            .unwrap_err()
            .code(),
        "DOCUMENT_ALREADY_ISSUED"
    );
    let again = s.reprint_document(&case, &number, &r).unwrap();
    assert_eq!(again, doc.pdf, "rendering is deterministic");

    // One byte changed: no longer the document of the ledger.
    let steps = s.case_steps(&case).unwrap();
    let issued: DocumentIssued = serde_json::from_str(
        &steps
            .iter()
            .rev()
            .find(|s| s.kind == roadside_core::ledger::EntryKind::DocumentIssue)
            .unwrap()
            .body,
    )
    .unwrap();
    assert!(matches_entry(&doc.pdf, &issued));
    let mut tampered = doc.pdf.clone();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    assert!(!matches_entry(&tampered, &issued));

    // Served and its 送达回证 issued, signed by the receiver.
    s.record_delivery(
        &case,
        &DeliveryInput {
            document_number: number.clone(),
            method: DeliveryMethod::Direct,
            at: Utc::now().to_rfc3339(),
            place: "G214线 K1876+300".into(),
            receiver: "韩建国".into(),
            receiver_relation: "法定代表人".into(),
            signed: true,
            refusal_reason: String::new(),
            witness: String::new(),
            evidence_id: None,
            tracking_no: String::new(),
            electronic_address: String::new(),
            electronic_consent: false,
        },
    )
    .unwrap();
    let receipt = s
        .issue_document(
            &case,
            DocType::DeliveryReceipt,
            Some(&number),
            &[signature("受送达人", "韩建国", 6)],
            &r,
        )
        .unwrap();
    check_pdf(
        &receipt.pdf,
        tmp.path(),
        "receipt.pdf",
        &[
            "送达回证",
            "当场行政处罚决定书",
            &number,
            "直接送达",
            "韩建国",
            "法定代表人",
        ],
    );
    // Each signature is also evidence of the case (for the media upload): the file holds the
    // strokes whose hash the document entries name.
    let sigs: Vec<_> = s
        .case_detail(&case)
        .unwrap()
        .evidence
        .into_iter()
        .filter(|e| e.kind == roadside_core::model::EvidenceKind::Signature)
        .collect();
    assert_eq!(sigs.len(), 5);
    let named: Vec<String> = s
        .case_steps(&case)
        .unwrap()
        .iter()
        .filter(|st| st.kind == roadside_core::ledger::EntryKind::DocumentIssue)
        .flat_map(|st| {
            serde_json::from_str::<DocumentIssued>(&st.body)
                .unwrap()
                .signatures
                .into_iter()
                .filter_map(|r| r.sha256)
        })
        .collect();
    for e in &sigs {
        assert_eq!(
            roadside_core::evidence::hash_file(Path::new(&e.path))
                .unwrap()
                .sha256,
            e.sha256
        );
        assert!(named.contains(&e.sha256), "{} signs no document", e.sha256);
    }
    let report = s.verify().unwrap();
    assert!(report.ok, "{report:?}");
}

#[test]
fn an_exemption_prints_the_decision_and_the_commitment() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = open(&tmp.path().join("store"));
    let book = RuleBook::bundled().unwrap();
    let r = Renderer::new(&SystemFonts::new()).unwrap();
    let case = finalized(&s);
    let item = book.exemptions_on("GB-69", roadside_core::day::agency_today())[0];
    let input = NoPenaltyInput {
        violation: "GB-69".into(),
        facts: Facts {
            act_date: today(),
            prior_violations: Some(0),
            first_offence_checked_online: true,
            flags: [
                "reloaded",
                "slight_harm",
                "no_accident",
                "no_congestion",
                "cleaned_or_paid",
            ]
            .map(String::from)
            .to_vec(),
            ..Default::default()
        },
        party: company(),
        facts_text: "车辆装载的砂石遗洒于G214线K1876+300路面约3平方米，当事人当即清扫".into(),
        answers: item
            .conditions
            .iter()
            .map(|_| ConditionAnswer {
                holds: true,
                how: "现场核实".into(),
            })
            .collect(),
        education: "向当事人讲解《公路安全保护条例》第六十九条，当事人表示今后规范装载、覆盖"
            .into(),
        commitment_signed: true,
        officers: officers(),
    };
    let d = s.decide_no_penalty(&case, &book, &input).unwrap();
    let number = d.number.unwrap();
    let decision = s
        .issue_document(&case, DocType::NoPenaltyDecision, None, &[], &r)
        .unwrap();
    let mut expected: Vec<&str> = vec![
        "不予行政处罚决定书",
        &number,
        "青海某物流有限公司",
        "决定不予行政处罚",
        "规范装载、覆盖",
    ];
    let texts: Vec<String> = item.conditions.iter().map(|c| c.text.clone()).collect();
    expected.extend(texts.iter().map(String::as_str));
    check_pdf(&decision.pdf, tmp.path(), "no_penalty.pdf", &expected);
    let commitment = s
        .issue_document(
            &case,
            DocType::Commitment,
            None,
            &[signature("当事人", "韩建国", 7)],
            &r,
        )
        .unwrap();
    assert_ne!(commitment.number, number);
    check_pdf(
        &commitment.pdf,
        tmp.path(),
        "commitment.pdf",
        &[
            "轻微违法行为告知承诺书",
            "承诺",
            "青海某物流有限公司",
            &commitment.number,
        ],
    );
}

#[test]
fn a_seizure_prints_its_decision_with_the_list() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = open(&tmp.path().join("store"));
    let r = Renderer::new(&SystemFonts::new()).unwrap();
    let case = s
        .create_case(&demo::on_site_record(
            Utc::now() - chrono::Duration::hours(1),
        ))
        .unwrap()
        .id;
    let items: Vec<MeasureItem> = (1..=25)
        .map(|i| MeasureItem {
            name: format!("道路运输证复印件第{i}份"),
            spec: "A4".into(),
            quantity: "1份".into(),
            note: String::new(),
        })
        .chain(std::iter::once(MeasureItem {
            name: "重型仓栅式货车（青E12345）".into(),
            spec: "东风牌".into(),
            quantity: "1辆".into(),
            note: "车钥匙一把".into(),
        }))
        .collect();
    let m = s
        .apply_measure(
            &case,
            &MeasureInput {
                kind: CoerciveMeasureKind::Seizure,
                party: company(),
                reason: "当事人涉嫌未取得道路运输经营许可从事道路货物运输经营".into(),
                basis: "《中华人民共和国道路运输条例》第六十九条".into(),
                items,
                starts_on: today(),
                days: 30,
                storage_place: "共和县倒淌河镇超限检测站停车场".into(),
                urgent: false,
                approver: "局长".into(),
                officers: officers(),
            },
        )
        .unwrap();
    let no = m.number.unwrap();
    let doc = s
        .issue_document(
            &case,
            DocType::MeasureDecision,
            Some(&no),
            &[SignatureInput {
                role: "当事人".into(),
                name: "韩建国".into(),
                strokes_json: None,
                refused: Some("当事人拒绝签名".into()),
                witness: Some("马海军（共和县倒淌河镇村民）".into()),
                signed_at: None,
            }],
            &r,
        )
        .unwrap();
    check_pdf(
        &doc.pdf,
        tmp.path(),
        "measure.pdf",
        &[
            "行政强制措施决定书",
            &no,
            "扣押清单",
            "重型仓栅式货车（青E12345）",
            "道路运输证复印件第25份",
            "车钥匙一把",
            "《中华人民共和国道路运输条例》第六十九条",
            "（30日）",
            "拒绝签名",
            "马海军",
        ],
    );
    // Evidence preserved in advance (先行登记保存) and its 清单.
    let book = RuleBook::bundled().unwrap();
    let mut preserve = PreservationInput {
        party: company(),
        reason: "运单、称重单据可能灭失".into(),
        items: vec![],
        storage_place: "共和县倒淌河镇超限检测站档案室".into(),
        on: today(),
        approver: String::new(),
        officers: officers(),
    };
    let err = s.preserve_evidence(&case, &book, &preserve).unwrap_err();
    let codes: Vec<&str> = err.issues().iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes, ["STEP_TEXT_REQUIRED", "PRESERVATION_ITEMS_REQUIRED"]);
    preserve.approver = "局长".into();
    preserve.items = vec![MeasureItem {
        name: "道路货物运输单据".into(),
        spec: "纸质".into(),
        quantity: "3张".into(),
        note: String::new(),
    }];
    let p = s.preserve_evidence(&case, &book, &preserve).unwrap();
    let pno = p.number.unwrap();
    assert!(pno.contains("存〔"), "{pno}");
    let due = book
        .deadline("preservation_decision", &today())
        .unwrap()
        .due;
    let list = s
        .issue_document(&case, DocType::EvidenceList, Some(&pno), &[], &r)
        .unwrap();
    check_pdf(
        &list.pdf,
        tmp.path(),
        "evidence_list.pdf",
        &[
            "证据登记保存清单",
            &pno,
            "道路货物运输单据",
            "3张",
            "第五十六条",
            &roadside_core::day::format_day_cn(due),
            "共和县倒淌河镇超限检测站档案室",
        ],
    );
    s.release_measure(
        &case,
        &MeasureRelease {
            measure_number: no.clone(),
            reason: "经调查，当事人已取得经营许可".into(),
            returned_to: "韩建国".into(),
        },
    )
    .unwrap();
    // The reprint of the measure decision after its release is still the same document.
    assert_eq!(s.reprint_document(&case, &no, &r).unwrap(), doc.pdf);
}
