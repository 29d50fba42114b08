//! Rules engine figures, each beside a reference measured in the same run (criterion; the ratios
//! are printed at the end):
//!
//! - guidance for one violation (CX-43-2, 2-axle truck at 21,350 kg), p50/p99, against building
//!   the rule book from its files and then guiding (what a naive engine that re-reads its data per
//!   request would pay);
//! - keyword search over a generated set of 5,000 items, p50/p99, against a naive linear scan that
//!   prepares every string (lower-case, pinyin initials) on each query.
//!
//! `cargo bench -p roadside-core --no-default-features --bench rules`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use roadside_bench::{configured, print_ratio, Figures};
use roadside_core::rules::lookup::naive_search;
use roadside_core::rules::{bundled, Facts, GuidanceRequest, RuleBook};

const WORDS: &[&str] = &[
    "超限",
    "运输",
    "车辆",
    "擅自",
    "公路",
    "挖掘",
    "占用",
    "道路",
    "经营",
    "许可",
    "驾驶员",
    "客运",
    "货运",
    "危险货物",
    "站场",
    "维修",
    "备案",
    "标志",
    "损坏",
    "污染",
    "遗洒",
    "改装",
    "检测",
    "装载",
    "拒绝",
    "出租",
    "转让",
    "证件",
    "线路",
    "班次",
    "揽客",
    "桥梁",
    "隧道",
    "养护",
    "施工",
];

fn generated_book(n: usize) -> RuleBook {
    let mut text = String::from(
        "[meta]\nkind = \"discretion\"\ntitle = \"生成数据\"\nsource = \"基准测试\"\nversion = \"2026-01-15\"\n",
    );
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..n {
        let name: String = (0..4)
            .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
            .collect();
        let art = 10 + next() % 90;
        text.push_str(&format!(
            "\n[[item]]\ncode = \"GEN-{i}\"\nname = \"{name}\"\ncategory = \"类别{}\"\nviolated = \"《某条例》第{art}条\"\nbasis = \"《某条例》第{}条\"\nlegal = \"处1000元以上5000元以下罚款\"\nvalid_from = \"2020-01-01\"\nverified = false\nnote = \"生成数据\"\n\n  [[item.tier]]\n  level = \"一般\"\n  criteria = \"一般情形\"\n  min_yuan = 1000\n  max_yuan = 5000\n  basis = \"《某条例》第{art}条\"\n",
            i % 12,
            art + 1
        ));
    }
    let mut files: BTreeMap<String, String> = bundled::FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    files.insert("discretion/generated.toml".into(), text);
    match RuleBook::from_files(files) {
        Ok(b) => b,
        Err(e) => panic!("generated set invalid: {e:?}"),
    }
}

const GUIDE: &str = "one violation (CX-43-2)";
const GUIDE_REF: &str = "reference: load the rule book from files + guidance";
const SEARCH: &str = "5,000 items (index)";
const SEARCH_REF: &str = "reference: naive linear scan (strings prepared per query)";

fn main() {
    let mut c = configured();
    let figures = Figures::new();
    let book = match RuleBook::bundled() {
        Ok(b) => b,
        Err(e) => panic!("bundled data invalid: {e:?}"),
    };
    let req = GuidanceRequest {
        violations: vec!["CX-43-2".into()],
        facts: Facts {
            act_date: "2026-02-10".into(),
            decision_date: Some("2026-03-02".into()),
            gross_weight_kg: Some(21_350.0),
            axles: Some(2),
            prior_violations: Some(0),
            ..Default::default()
        },
    };
    let files: BTreeMap<String, String> = bundled::FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let mut g = c.benchmark_group("guidance");
    figures.bench(&mut g, GUIDE, || {
        black_box(book.guide(black_box(&req)).ok());
    });
    figures.bench(&mut g, GUIDE_REF, || {
        let b = RuleBook::from_files(files.clone()).ok();
        black_box(b.and_then(|b| b.guide(&req).ok()));
    });
    g.finish();

    // Search over 5,000 generated items, the queries in turn.
    let big = generated_book(5_000);
    let queries = [
        "超限",
        "cx",
        "挖掘公路",
        "glwj",
        "第63条",
        "gen-42",
        "危险货物运输",
        "xyz",
    ];
    let mut g = c.benchmark_group("search");
    let mut i = 0;
    figures.bench(&mut g, SEARCH, || {
        i += 1;
        black_box(big.search(black_box(queries[i % queries.len()]), 20));
    });
    let mut i = 0;
    figures.bench(&mut g, SEARCH_REF, || {
        i += 1;
        black_box(naive_search(
            big.items(),
            black_box(queries[i % queries.len()]),
            20,
        ));
    });
    g.finish();

    println!("rules benchmark ({} bundled items)", book.items().len());
    figures.print(&[GUIDE, GUIDE_REF, SEARCH, SEARCH_REF]);
    print_ratio(
        "reference / guidance, p99",
        figures.time_ratio(GUIDE_REF, GUIDE, 0.99),
    );
    print_ratio(
        "naive scan / index search, p99",
        figures.time_ratio(SEARCH_REF, SEARCH, 0.99),
    );
    let met = |id: &str, limit: Duration| match figures.quantile(id, 0.99) {
        Some(p99) if p99 <= limit => "met",
        Some(_) => "NOT met",
        None => "not run",
    };
    println!(
        "targets: guidance p99 ≤ 20 µs: {}; search p99 ≤ 1 ms: {}",
        met(GUIDE, Duration::from_micros(20)),
        met(SEARCH, Duration::from_millis(1))
    );
    c.final_summary();
}
