//! The Rust-only reference for the JVM benchmark (`scripts/bench-jvm.sh`): the same core calls the
//! Kotlin benchmark makes through the FFI, called directly, so the FFI's cost is the ratio of the two
//! in the same run.
//!
//! ```text
//! ffi_reference guide [ITERATIONS]   # guidance for CX-43-2 (2 axles, 21,350 kg): p50/p99 in µs
//! ffi_reference hash FILE            # hash_file once (whole-file SHA-256 + chunk manifest): seconds
//! ```
//!
//! Output is one `key=value` line the benchmark parses.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use roadside_core::rules::{Facts, GuidanceRequest, RuleBook};

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn guide(iterations: usize) {
    let book = RuleBook::bundled().unwrap_or_else(|e| panic!("bundled data invalid: {e:?}"));
    let req = request();
    for _ in 0..iterations / 10 {
        black_box(book.guide(&req).ok());
    }
    let mut times = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        black_box(book.guide(black_box(&req)).ok());
        times.push(t.elapsed());
    }
    times.sort_unstable();
    println!(
        "guide p50_us={:.2} p99_us={:.2} n={iterations}",
        percentile(&times, 0.50),
        percentile(&times, 0.99)
    );
}

/// The same request as FfiBenchmark.kt and core/benches/rules.rs.
fn request() -> GuidanceRequest {
    GuidanceRequest {
        violations: vec!["CX-43-2".into()],
        facts: Facts {
            act_date: "2026-02-10".into(),
            decision_date: Some("2026-03-02".into()),
            gross_weight_kg: Some(21_350.0),
            axles: Some(2),
            prior_violations: Some(0),
            ..Default::default()
        },
    }
}

/// The Rust side of the FFI call alone: the request lifted from a `RustBuffer`, the guidance, the
/// answer lowered into a `RustBuffer` (what UniFFI's scaffolding does around `RuleBook::guide`).
fn guide_ffi(iterations: usize) {
    use roadside_core::rules::Guidance;
    use roadside_core::UniFfiTag;
    use uniffi::{Lift, Lower};
    let book = RuleBook::bundled().unwrap_or_else(|e| panic!("bundled data invalid: {e:?}"));
    let req = request();
    let once = |req: &GuidanceRequest| {
        let buf = <GuidanceRequest as Lower<UniFfiTag>>::lower(req.clone());
        let t = Instant::now();
        let lifted = <GuidanceRequest as Lift<UniFfiTag>>::try_lift(buf).expect("lift");
        let g = book.guide(&lifted).expect("guide");
        let out = <Guidance as Lower<UniFfiTag>>::lower(g);
        let elapsed = t.elapsed();
        let len = out.len();
        out.destroy();
        (elapsed, len)
    };
    for _ in 0..iterations / 10 {
        black_box(once(&req));
    }
    let mut times = Vec::with_capacity(iterations);
    let mut bytes = 0;
    for _ in 0..iterations {
        let (t, len) = once(black_box(&req));
        times.push(t);
        bytes = len;
    }
    times.sort_unstable();
    println!(
        "guide_ffi p50_us={:.2} p99_us={:.2} bytes={bytes} n={iterations}",
        percentile(&times, 0.50),
        percentile(&times, 0.99)
    );
}

fn hash(path: &Path) {
    let t = Instant::now();
    let digest = roadside_core::evidence::hash_file(path)
        .unwrap_or_else(|e| panic!("hash {}: {e:?}", path.display()));
    let secs = t.elapsed().as_secs_f64();
    println!(
        "hash seconds={secs:.4} bytes={} sha256={}",
        digest.size, digest.sha256
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("guide_ffi") => guide_ffi(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000)),
        Some("guide") => guide(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(20_000)),
        Some("hash") => match args.get(1) {
            Some(file) => hash(Path::new(file)),
            None => {
                eprintln!("usage: ffi_reference hash FILE");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("usage: ffi_reference guide [ITERATIONS] | ffi_reference hash FILE");
            std::process::exit(2);
        }
    }
}
