//! A fault-injecting TCP proxy: accepts, connects upstream, forwards both ways, and cuts a
//! connection after a random number of bytes. It counts the bytes forwarded each way and the cuts.
//! The upstream can be changed while it runs (a restarted server on another port).
//!
//! Written by hand (std threads): what it must do — count and cut at a byte — is a few lines, and no
//! maintained crate does exactly that.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy counts.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub cuts: AtomicU64,
    pub client_to_server: AtomicU64,
    pub server_to_client: AtomicU64,
}

/// When to cut.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Each new connection is cut after a random number of bytes (both directions together) in
    /// this range; `None`: never cut.
    pub cut_after: Option<(u64, u64)>,
    /// Stop cutting after this many cuts.
    pub max_cuts: u64,
}

impl Faults {
    pub fn none() -> Self {
        Faults {
            cut_after: None,
            max_cuts: 0,
        }
    }
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    upstream: Arc<Mutex<SocketAddr>>,
    faults: Arc<Mutex<Faults>>,
    stop: Arc<AtomicBool>,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, faults: Faults, seed: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let stats = Arc::new(Stats::default());
        let upstream = Arc::new(Mutex::new(upstream));
        let faults = Arc::new(Mutex::new(faults));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (stats, upstream, faults, stop) = (
                stats.clone(),
                upstream.clone(),
                faults.clone(),
                stop.clone(),
            );
            std::thread::spawn(move || {
                let mut rng = Rng(seed | 1);
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let target = *upstream.lock().unwrap();
                    let f = *faults.lock().unwrap();
                    let budget = match f.cut_after {
                        Some((lo, hi)) if stats.cuts.load(Ordering::SeqCst) < f.max_cuts => {
                            Some(lo + rng.next() % (hi - lo + 1))
                        }
                        _ => None,
                    };
                    stats.connections.fetch_add(1, Ordering::SeqCst);
                    let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5))
                    else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let conn = Arc::new(Conn {
                        moved: AtomicU64::new(0),
                        cut: AtomicBool::new(false),
                        budget,
                        client: client.try_clone().expect("clone"),
                        server: server.try_clone().expect("clone"),
                        max_cuts: f.max_cuts,
                    });
                    let (client_r, server_w) = (
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                    );
                    let (c1, s1) = (conn.clone(), stats.clone());
                    std::thread::spawn(move || pump(client_r, server_w, c1, s1, true));
                    let (c2, s2) = (conn.clone(), stats.clone());
                    std::thread::spawn(move || pump(server, client, c2, s2, false));
                }
            });
        }
        FaultProxy {
            addr,
            stats,
            upstream,
            faults,
            stop,
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_upstream(&self, addr: SocketAddr) {
        *self.upstream.lock().unwrap() = addr;
    }

    pub fn set_faults(&self, f: Faults) {
        *self.faults.lock().unwrap() = f;
    }

    pub fn cuts(&self) -> u64 {
        self.stats.cuts.load(Ordering::SeqCst)
    }

    pub fn client_to_server(&self) -> u64 {
        self.stats.client_to_server.load(Ordering::SeqCst)
    }

    pub fn server_to_client(&self) -> u64 {
        self.stats.server_to_client.load(Ordering::SeqCst)
    }

    /// Zero the byte counters (cuts and connections stay).
    pub fn reset_bytes(&self) {
        self.stats.client_to_server.store(0, Ordering::SeqCst);
        self.stats.server_to_client.store(0, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

struct Conn {
    moved: AtomicU64,
    cut: AtomicBool,
    budget: Option<u64>,
    client: TcpStream,
    server: TcpStream,
    max_cuts: u64,
}

impl Conn {
    fn cut(&self, stats: &Stats) {
        if !self.cut.swap(true, Ordering::SeqCst) {
            if stats.cuts.load(Ordering::SeqCst) < self.max_cuts {
                stats.cuts.fetch_add(1, Ordering::SeqCst);
            }
            let _ = self.client.shutdown(Shutdown::Both);
            let _ = self.server.shutdown(Shutdown::Both);
        }
    }

    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, conn: Arc<Conn>, stats: Arc<Stats>, upward: bool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if conn.cut.load(Ordering::SeqCst) {
            break;
        }
        let before = conn.moved.fetch_add(n as u64, Ordering::SeqCst);
        let (send, cut) = match conn.budget {
            Some(b) if before + n as u64 >= b => (b.saturating_sub(before) as usize, true),
            _ => (n, false),
        };
        if send > 0 {
            if to.write_all(&buf[..send]).is_err() {
                break;
            }
            let counter = if upward {
                &stats.client_to_server
            } else {
                &stats.server_to_client
            };
            counter.fetch_add(send as u64, Ordering::SeqCst);
        }
        if cut {
            conn.cut(&stats);
            return;
        }
    }
    // One side finished: pass the half-close on (HTTP keep-alive ends with both sides closing).
    if !conn.cut.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    } else {
        conn.close();
    }
}
