//! Crash points: named places on the write paths where the server can be made to die at once, as
//! `kill -9` or a power cut would kill it, so that tests can prove that what a client was told is
//! stored survives, and what it was not told is redone.
//!
//! `ROADSIDE_CRASH_POINT=<name>` arms one point; `<name>@<n>` fires on the n-th time the point is
//! reached (1-based; default the first). The process then sends itself `SIGKILL` (no destructor,
//! no flush, no graceful shutdown). Unset, a point costs one relaxed load.
//!
//! The points, in the order a media upload reaches them:
//!
//! | point | where |
//! |---|---|
//! | `media.chunk.write` | a chunk's first bytes are about to be written to staging (file or part object) |
//! | `media.chunk.fsync` | a local chunk is written, not yet `fsync`ed |
//! | `media.chunk.record` | a chunk is durable, its offset not yet recorded in the database |
//! | `media.commit.rename` | every byte is recorded; the staging file is about to become the object |
//! | `media.commit.dirsync` | renamed, the directory not yet `fsync`ed |
//! | `media.commit.complete` | S3: the final object's multipart upload is about to be completed |
//! | `media.commit.record` | the object is stored; the database does not know yet |
//! | `media.commit.answer` | the database knows; the client has not been answered |
//! | `push.commit` | a push batch is written in its open transaction, just before `COMMIT` |
//! | `push.answer` | the batch is committed; the device has not been answered |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable that arms a crash point.
pub const ENV: &str = "ROADSIDE_CRASH_POINT";

static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
static HITS: AtomicU64 = AtomicU64::new(0);

fn armed() -> Option<&'static (String, u64)> {
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(ENV).ok()?;
            let spec = spec.trim();
            if spec.is_empty() {
                return None;
            }
            Some(match spec.split_once('@') {
                Some((name, n)) => (name.to_string(), n.trim().parse().unwrap_or(1).max(1)),
                None => (spec.to_string(), 1),
            })
        })
        .as_ref()
}

/// Die here if this point is armed and its turn has come.
pub fn point(name: &str) {
    let Some((want, nth)) = armed() else {
        return;
    };
    if want != name || HITS.fetch_add(1, Ordering::Relaxed) + 1 != *nth {
        return;
    }
    tracing::error!(point = name, "crash point reached: killing the process");
    kill_now();
}

#[cfg(unix)]
fn kill_now() -> ! {
    // SAFETY: `kill` with our own pid and SIGKILL has no memory-safety preconditions.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}

#[cfg(not(unix))]
fn kill_now() -> ! {
    std::process::abort()
}
