//! Rules engine figures (printed, never asserted; the lead copies them to BENCHMARKS.md):
//!
//! - guidance for one violation (CX-43-2, 2-axle truck at 21,350 kg), p50/p99, against a
//!   reference in the same run: building the rule book from its files (what a naive engine that
//!   re-reads its data per request would pay);
//! - keyword search over a generated set of 5,000 items, p50/p99, against a naive linear scan that
//!   prepares every string (lower-case, pinyin initials) on each query.
//!
//! `cargo bench -p roadside-core --no-default-features --bench rules`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use roadside_core::rules::lookup::naive_search;
use roadside_core::rules::{bundled, Facts, GuidanceRequest, RuleBook};

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (p(0.50), p(0.99))
}

fn fmt(d: Duration) -> String {
    format!("{:>9.2} µs", d.as_secs_f64() * 1e6)
}

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

fn main() {
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
    // Guidance.
    for _ in 0..1_000 {
        black_box(book.guide(&req).ok());
    }
    let mut g = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let t = Instant::now();
        black_box(book.guide(black_box(&req)).ok());
        g.push(t.elapsed());
    }
    let (g50, g99) = percentiles(g);
    let files: BTreeMap<String, String> = bundled::FILES
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let mut r = Vec::with_capacity(200);
    for _ in 0..200 {
        let t = Instant::now();
        let b = RuleBook::from_files(files.clone()).ok();
        black_box(b.and_then(|b| b.guide(&req).ok()));
        r.push(t.elapsed());
    }
    let (r50, r99) = percentiles(r);
    println!("rules benchmark ({} bundled items)", book.items().len());
    println!("{:<58} {:>12} {:>12}", "", "p50", "p99");
    println!(
        "{:<58} {} {}",
        "guidance, 1 violation (CX-43-2)",
        fmt(g50),
        fmt(g99)
    );
    println!(
        "{:<58} {} {}   (ratio p99 {:.0}×)",
        "reference: load rule book from files + guidance",
        fmt(r50),
        fmt(r99),
        r99.as_secs_f64() / g99.as_secs_f64()
    );

    // Search over 5,000 generated items.
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
    let mut idx = Vec::new();
    let mut naive = Vec::new();
    for _ in 0..50 {
        for q in &queries {
            let t = Instant::now();
            black_box(big.search(black_box(q), 20));
            idx.push(t.elapsed());
            let t = Instant::now();
            black_box(naive_search(big.items(), black_box(q), 20));
            naive.push(t.elapsed());
        }
    }
    let (s50, s99) = percentiles(idx);
    let (n50, n99) = percentiles(naive);
    println!(
        "{:<58} {} {}",
        "search, 5,000 items (index)",
        fmt(s50),
        fmt(s99)
    );
    println!(
        "{:<58} {} {}   (ratio p99 {:.1}×)",
        "reference: naive linear scan (prepare strings per query)",
        fmt(n50),
        fmt(n99),
        n99.as_secs_f64() / s99.as_secs_f64()
    );
    println!(
        "targets: guidance p99 ≤ 20 µs: {}; search p99 ≤ 1 ms: {}",
        if g99 <= Duration::from_micros(20) {
            "met"
        } else {
            "NOT met"
        },
        if s99 <= Duration::from_millis(1) {
            "met"
        } else {
            "NOT met"
        }
    );
}
