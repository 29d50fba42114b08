//! Evidence hashing throughput and memory, against `openssl dgst -sha256` on the same file.
//!
//! ```text
//! cargo bench -p roadside-core --no-default-features --bench evidence_hash
//! ```
//!
//! Writes a 1 GiB file of pseudo-random bytes (and a 4 GiB one, see below) under `target/tmp`, warms the
//! page cache, then criterion times `hash_file` (whole-file hash plus the 1 MiB chunk manifest), each
//! call interleaved with `openssl dgst -sha256 FILE` on the same file (which goes first alternates).
//! Both are timed from process spawn to exit: `hash_file` runs in a child process (this binary
//! re-executed with a hidden argument) so that its peak RSS (`VmHWM`) can be reported on its own.
//! Every round checks that both give the same whole-file digest. Prints the medians and the
//! single-threaded `sha2` throughput for reference, then deletes the files.
//!
//! `hash_file` needs two cores to keep up with one SHA-256 (it hashes every byte twice). On a busy
//! machine it gets less than that, so the table also gives a CPU-bound ratio: openssl's CPU time over
//! that of `hash_file`'s busier thread, i.e. the ratio to expect when both threads get a core.
//!
//! Environment:
//! - `ROADSIDE_BENCH_4G`: `1` always adds the 4 GiB file, `0` never does; unset, it is added when the
//!   disk has room for it and enough memory is available to keep it in the page cache.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use roadside_bench::criterion::Criterion;
use roadside_bench::{configured, Figures};

use roadside_core::evidence::{hash_file, EvidenceHasher};
use sha2::{Digest, Sha256};

/// Hidden argument: hash the file named next and print its digest, the seconds taken, peak RSS in
/// KiB, and the CPU seconds of the process and of its main (reading) thread.
const CHILD_ARG: &str = "--roadside-evidence-hash-child";
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == CHILD_ARG) {
        let path = args.get(i + 1).expect("child: missing path");
        child(Path::new(path));
        return;
    }

    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not found on PATH; nothing to compare against");
        std::process::exit(1);
    }
    let dir = tempfile::Builder::new()
        .prefix("evidence-hash-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("create temp dir under target/tmp");

    println!(
        "evidence hashing benchmark (MB = 10^6 bytes; medians over rounds); {} CPUs, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    reference_sha2();

    let mut sizes = vec![GIB];
    if want_4g(dir.path()) {
        sizes.push(4 * GIB);
    }
    let mut c = configured();
    let figures = Figures::new();
    let mut rows = Vec::new();
    for size in sizes {
        let path = dir.path().join(format!("evidence-{}g.bin", size / GIB));
        rows.push(bench_file(&mut c, &figures, &path, size));
        std::fs::remove_file(&path).expect("delete benchmark file");
    }

    println!();
    println!(
        "{:>6} {:>7} {:>13} {:>14} {:>7} {:>16} {:>16} {:>13}",
        "file",
        "rounds",
        "openssl MB/s",
        "roadside MB/s",
        "ratio",
        "in-process MB/s",
        "CPU-bound ratio",
        "peak RSS MiB"
    );
    for r in rows {
        println!(
            "{:>4} G {:>7} {:>13.0} {:>14.0} {:>7.3} {:>16.0} {:>16.3} {:>13.1}",
            r.size / GIB,
            r.rounds,
            median(r.openssl),
            median(r.roadside),
            median(r.ratio),
            median(r.in_process),
            median(r.cpu_ratio),
            r.peak_rss_kib as f64 / 1024.0
        );
    }
    println!(
        "ratio = roadside / openssl throughput, both timed spawn to exit (target >= 0.95, RSS <= 32 MiB).\n\
         CPU-bound ratio = openssl CPU time / CPU time of roadside's busier thread: the ratio to expect\n\
         when both of roadside's threads get a core. Load average now: {}",
        load_average()
    );
    drop(dir);
    c.final_summary();
}

/// The child: hash one file, report digest, time and peak resident memory.
fn child(path: &Path) {
    let start = Instant::now();
    let digest = hash_file(path).unwrap_or_else(|e| panic!("hash_file failed: {e}"));
    let secs = start.elapsed().as_secs_f64();
    let manifest_len = digest.chunk_hashes.len() as u64;
    assert_eq!(manifest_len, digest.size.div_ceil(MIB), "manifest length");
    let cpu = |stat: &str| cpu_seconds(stat, 14).unwrap_or(0.0);
    println!(
        "{} {secs} {} {} {}",
        digest.sha256,
        vm_hwm_kib().unwrap_or(0),
        cpu("/proc/self/stat"),
        cpu("/proc/thread-self/stat")
    );
}

/// Two consecutive CPU-time fields of a `/proc/.../stat` file, in seconds (Linux, USER_HZ = 100):
/// `field` 14 gives utime + stime, 16 gives cutime + cstime (waited-for children), per proc(5).
fn cpu_seconds(stat_file: &str, field: usize) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_file).ok()?;
    // The command name may contain spaces: count fields from its closing parenthesis (field 3 on).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i - 3)?.parse::<u64>().ok();
    Some((ticks(field)? + ticks(field + 1)?) as f64 / 100.0)
}

/// Peak resident set size of this process, from `/proc/self/status` (Linux).
fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Whether to run the 4 GiB file: forced either way by `ROADSIDE_BENCH_4G`, else only when the disk
/// has room and the file can stay in the page cache (otherwise it would measure the disk).
fn want_4g(dir: &Path) -> bool {
    match std::env::var("ROADSIDE_BENCH_4G").as_deref() {
        Ok("1") => return true,
        Ok("0") => return false,
        _ => {}
    }
    let disk = free_disk_bytes(dir);
    let mem = mem_available_bytes();
    let ok = matches!((disk, mem), (Some(d), Some(m)) if d >= 6 * GIB && m >= 8 * GIB);
    if !ok {
        println!(
            "skipping 4 GiB (free disk {:?} MiB, available memory {:?} MiB; set ROADSIDE_BENCH_4G=1 to force)",
            disk.map(|b| b / MIB),
            mem.map(|b| b / MIB)
        );
    }
    ok
}

fn free_disk_bytes(dir: &Path) -> Option<u64> {
    let out = Command::new("df").arg("-Pk").arg(dir).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let kib: u64 = text
        .lines()
        .nth(1)?
        .split_whitespace()
        .nth(3)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The 1-minute load average (Linux), to tell a busy machine from a slow implementation.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

fn mem_available_bytes() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Single-threaded `sha2` over an in-memory buffer (the ceiling of one hashing thread), and the
/// incremental [`EvidenceHasher`], which hashes every byte twice on one thread.
fn reference_sha2() {
    let data = random_block(256 * MIB as usize, 0x5eed);
    let best = |f: &dyn Fn()| {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let sha = best(&|| {
        std::hint::black_box(Sha256::digest(std::hint::black_box(&data)));
    });
    let incremental = best(&|| {
        let mut h = EvidenceHasher::new();
        h.update(std::hint::black_box(&data));
        std::hint::black_box(h.finish());
    });
    let mbps = |secs: f64| data.len() as f64 / secs / 1e6;
    println!(
        "sha2 0.10 single thread, in memory: {:.0} MB/s; EvidenceHasher (whole + chunks, one thread): {:.0} MB/s",
        mbps(sha),
        mbps(incremental)
    );
}

/// Per-round figures for one file size (MB/s, ratios) and the highest peak RSS seen.
struct Row {
    size: u64,
    rounds: usize,
    openssl: Vec<f64>,
    roadside: Vec<f64>,
    ratio: Vec<f64>,
    in_process: Vec<f64>,
    /// openssl CPU seconds / CPU seconds of roadside's busier thread.
    cpu_ratio: Vec<f64>,
    peak_rss_kib: u64,
}

fn bench_file(c: &mut Criterion, figures: &Figures, path: &Path, size: u64) -> Row {
    print!("\n{} GiB: writing {} ... ", size / GIB, path.display());
    std::io::stdout().flush().ok();
    write_random_file(path, size);
    // Warm the page cache (the file was just written, but read it through once anyway).
    let mut f = std::fs::File::open(path).expect("open benchmark file");
    let mut buf = vec![0u8; MIB as usize];
    while f.read(&mut buf).expect("read benchmark file") > 0 {}
    println!("done");

    let mb = size as f64 / 1e6;
    let row = RefCell::new(Row {
        size,
        rounds: 0,
        openssl: vec![],
        roadside: vec![],
        ratio: vec![],
        in_process: vec![],
        cpu_ratio: vec![],
        peak_rss_kib: 0,
    });
    let subject = format!(
        "hash_file {} GiB (child process, spawn to exit)",
        size / GIB
    );
    let reference = format!("reference: openssl dgst -sha256 {} GiB", size / GIB);
    let mut g = c.benchmark_group(format!("evidence-hash-{}g", size / GIB));
    g.sample_size(10);
    figures.bench_timed(&mut g, &subject, |n| {
        let mut ours = Vec::new();
        let mut theirs = Vec::new();
        for _ in 0..n {
            let mut row = row.borrow_mut();
            let round = row.rounds;
            row.rounds += 1;
            // Alternate which goes first so that drift in machine load hits both alike.
            let (o, r) = if round.is_multiple_of(2) {
                let o = run_openssl(path);
                (o, run_child(path))
            } else {
                let r = run_child(path);
                (run_openssl(path), r)
            };
            let (o_digest, o_wall, o_cpu) = o;
            assert_eq!(
                o_digest,
                r.digest,
                "openssl and hash_file disagree on {}",
                path.display()
            );
            let (o_mbps, r_mbps) = (mb / o_wall, mb / r.wall);
            let cpu_ratio = o_cpu / r.critical_path();
            println!(
                "  round {}: openssl {o_mbps:>5.0} MB/s ({o_cpu:.2} s CPU)   roadside {r_mbps:>5.0} MB/s \
                 (reader {:.2} s + hasher {:.2} s CPU)   ratio {:.3}   CPU-bound ratio {cpu_ratio:.3}   \
                 peak RSS {:.1} MiB",
                round + 1,
                r.cpu_main,
                r.cpu_total - r.cpu_main,
                r_mbps / o_mbps,
                r.vm_hwm_kib as f64 / 1024.0
            );
            row.openssl.push(o_mbps);
            row.roadside.push(r_mbps);
            row.ratio.push(r_mbps / o_mbps);
            row.in_process.push(mb / r.in_process);
            row.cpu_ratio.push(cpu_ratio);
            row.peak_rss_kib = row.peak_rss_kib.max(r.vm_hwm_kib);
            ours.push(Duration::from_secs_f64(r.wall));
            theirs.push(Duration::from_secs_f64(o_wall));
        }
        figures.record(&reference, &theirs);
        ours
    });
    g.finish();
    row.into_inner()
}

/// `openssl dgst -sha256 FILE`: (hex digest, wall seconds, CPU seconds).
fn run_openssl(path: &Path) -> (String, f64, f64) {
    let children_cpu = || cpu_seconds("/proc/self/stat", 16).unwrap_or(0.0);
    let cpu_before = children_cpu();
    let start = Instant::now();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256"])
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .expect("run openssl");
    let secs = start.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu_before;
    assert!(out.status.success(), "openssl failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let digest = text
        .trim()
        .rsplit("= ")
        .next()
        .expect("openssl output")
        .to_string();
    (digest, secs, cpu)
}

struct ChildRun {
    digest: String,
    wall: f64,
    in_process: f64,
    vm_hwm_kib: u64,
    /// CPU seconds of the whole child and of its main (reading) thread.
    cpu_total: f64,
    cpu_main: f64,
}

impl ChildRun {
    /// CPU seconds of the busier thread: the wall time with a core for each thread.
    fn critical_path(&self) -> f64 {
        self.cpu_main.max(self.cpu_total - self.cpu_main)
    }
}

/// This binary, re-executed to run `hash_file` alone in a fresh process.
fn run_child(path: &Path) -> ChildRun {
    let exe: PathBuf = std::env::current_exe().expect("current_exe");
    let start = Instant::now();
    let out = Command::new(exe)
        .arg(CHILD_ARG)
        .arg(path)
        .stderr(Stdio::inherit())
        .output()
        .expect("run hashing child");
    let wall = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "hashing child failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.split_whitespace();
    let mut next = || fields.next().expect("child output").to_string();
    ChildRun {
        digest: next(),
        in_process: next().parse().expect("child seconds"),
        vm_hwm_kib: next().parse().expect("child VmHWM"),
        cpu_total: next().parse().expect("child CPU"),
        cpu_main: next().parse().expect("child main thread CPU"),
        wall,
    }
}

fn write_random_file(path: &Path, size: u64) {
    let mut out = std::io::BufWriter::with_capacity(
        MIB as usize,
        std::fs::File::create(path).expect("create benchmark file"),
    );
    let mut state = size;
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        fill_random(&mut block, &mut state);
        let n = left.min(MIB) as usize;
        out.write_all(&block[..n]).expect("write benchmark file");
        left -= n as u64;
    }
    out.flush().expect("flush benchmark file");
}

fn random_block(len: usize, seed: u64) -> Vec<u8> {
    let mut block = vec![0u8; len];
    let mut state = seed;
    fill_random(&mut block, &mut state);
    block
}

/// splitmix64: fast, deterministic, incompressible enough for a hashing benchmark.
fn fill_random(buf: &mut [u8], state: &mut u64) {
    for word in buf.chunks_mut(8) {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        word.copy_from_slice(&z.to_le_bytes()[..word.len()]);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}
