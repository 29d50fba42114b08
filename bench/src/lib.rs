//! What Roadside's benchmarks share. Each benchmark runs on [criterion] (its statistics, its command
//! line: a filter, `--warm-up-time`, `--measurement-time`, `--sample-size`), and each measures its
//! subject beside a reference in the same run — openssl, a plain loop, a bare database, a stock
//! implementation — because the machines are shared and noisy: the ratio of the two is the figure
//! that means something, not either time alone.
//!
//! [`Figures`] times every call criterion makes on its own (warm-up calls included) and keeps the
//! times, so that a benchmark can print percentiles (p50, p99) and ratios of what ran in this very
//! process; a routine criterion did not run (filtered out) has no figures and no ratio.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub use criterion;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

/// Criterion with the settings given on the command line (`cargo bench ... -- --measurement-time 2`).
pub fn configured() -> Criterion {
    Criterion::default().configure_from_args()
}

/// Every call's time, by benchmark id (`group/function`), of the routines run in this process.
#[derive(Clone, Default)]
pub struct Figures {
    times: Rc<RefCell<BTreeMap<String, Vec<Duration>>>>,
}

impl Figures {
    pub fn new() -> Figures {
        Figures::default()
    }

    fn keep(&self, id: &str, calls: &[Duration]) {
        self.times
            .borrow_mut()
            .entry(id.to_string())
            .or_default()
            .extend_from_slice(calls);
    }

    /// Benchmark `routine` as `id` in `group`, each call timed on its own.
    pub fn bench(
        &self,
        group: &mut BenchmarkGroup<'_, WallTime>,
        id: &str,
        mut routine: impl FnMut(),
    ) {
        self.bench_with_setup(group, id, || (), |()| routine());
    }

    /// Benchmark `routine` as `id`, its input made by `setup` before each call's clock starts.
    pub fn bench_with_setup<I>(
        &self,
        group: &mut BenchmarkGroup<'_, WallTime>,
        id: &str,
        mut setup: impl FnMut() -> I,
        mut routine: impl FnMut(I),
    ) {
        self.bench_timed(group, id, |n| {
            (0..n)
                .map(|_| {
                    let input = setup();
                    let start = Instant::now();
                    routine(input);
                    start.elapsed()
                })
                .collect()
        });
    }

    /// Benchmark work whose calls are timed where they happen (by tasks under load, by a child
    /// process): `measure(n)` makes `n` calls and answers each one's time.
    pub fn bench_timed(
        &self,
        group: &mut BenchmarkGroup<'_, WallTime>,
        id: &str,
        mut measure: impl FnMut(u64) -> Vec<Duration>,
    ) {
        let (key, figures) = (id.to_string(), self.clone());
        group.bench_function(id, |b| {
            b.iter_custom(|n| {
                let calls = measure(n);
                assert_eq!(calls.len() as u64, n, "{key}: one time per call");
                figures.keep(&key, &calls);
                calls.iter().sum()
            })
        });
    }

    /// Keep the times of calls measured in the same loop as a benchmarked routine's (a reference
    /// interleaved with its subject, call by call): figures for the ratios, not a criterion
    /// benchmark of their own.
    pub fn record(&self, id: &str, calls: &[Duration]) {
        self.keep(id, calls);
    }

    /// The `q` quantile (0.5 = median, 0.99 = p99) of the calls of `id`, if it ran.
    pub fn quantile(&self, id: &str, q: f64) -> Option<Duration> {
        let times = self.times.borrow();
        let mut v = times.get(id)?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(v[((v.len() as f64 - 1.0) * q).round() as usize])
    }

    /// How many calls of `id` ran.
    pub fn calls(&self, id: &str) -> usize {
        self.times.borrow().get(id).map_or(0, Vec::len)
    }

    /// `subject`'s time over `reference`'s at quantile `q` (below 1: the subject is faster).
    pub fn time_ratio(&self, subject: &str, reference: &str, q: f64) -> Option<f64> {
        Some(self.quantile(subject, q)?.as_secs_f64() / self.quantile(reference, q)?.as_secs_f64())
    }

    /// Print one line per id: calls, p50 and p99.
    pub fn print(&self, ids: &[&str]) {
        println!("{:<60} {:>8} {:>12} {:>12}", "", "calls", "p50", "p99");
        for id in ids {
            let (Some(p50), Some(p99)) = (self.quantile(id, 0.5), self.quantile(id, 0.99)) else {
                println!("{id:<60} (not run)");
                continue;
            };
            println!(
                "{id:<60} {:>8} {:>12} {:>12}",
                self.calls(id),
                human(p50),
                human(p99)
            );
        }
    }
}

/// A duration in the unit that suits it.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.3} s")
    } else if s >= 1e-3 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{:.2} µs", s * 1e6)
    }
}

/// Print a ratio line, or say that one side did not run.
pub fn print_ratio(label: &str, ratio: Option<f64>) {
    match ratio {
        Some(r) => println!("ratio {label}: {r:.3}"),
        None => println!("ratio {label}: (one side not run)"),
    }
}
