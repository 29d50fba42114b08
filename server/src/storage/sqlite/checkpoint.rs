//! SQLite: the WAL checkpointer thread.

use super::*;

/// WAL checkpoints, off the request path. SQLite's own automatic checkpoint runs inside the commit
/// that crosses its threshold, so one push in every few dozen paid for copying the whole WAL into
/// the database (40–500 ms; the push-latency tail). The writer connection has it turned off
/// (`wal_autocheckpoint = 0`); this thread, on a connection of its own, runs a `PASSIVE`
/// checkpoint (which never blocks the writer or readers) at most every [`CHECKPOINT_EVERY`] after
/// writes. Once the database has been idle for [`TRUNCATE_AFTER_IDLE`] it copies with `PASSIVE`
/// again and, only if that copied the whole WAL, runs a `TRUNCATE` (which holds off new writers
/// while it waits, at most 20 ms, for readers) so the WAL file shrinks back. A checkpoint that fails is
/// logged and tried again at the next round; the WAL stays valid in the meantime (SQLite recovers
/// from it on open).
pub(super) struct Checkpointer {
    shared: Arc<CheckpointShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct CheckpointState {
    /// Writes committed since the last checkpoint.
    pending: u64,
    last_write: Option<Instant>,
    stop: bool,
}

#[derive(Default)]
struct CheckpointShared {
    state: Mutex<CheckpointState>,
    wake: Condvar,
}

/// Shortest interval between two checkpoints while writes keep coming.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Idle time after which the WAL file is truncated.
pub(super) const TRUNCATE_AFTER_IDLE: Duration = Duration::from_secs(5);

impl Checkpointer {
    pub(super) fn start(path: &str) -> Result<Self> {
        let conn = connect(path)?;
        // A TRUNCATE waits for readers on older snapshots and holds off new writers meanwhile:
        // give up quickly instead (it is tried again after the next idle period).
        conn.busy_timeout(Duration::from_millis(20))?;
        let shared = Arc::new(CheckpointShared::default());
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&conn, &thread_shared))
            .map_err(|e| {
                ApiError::internal("CHECKPOINTER_FAILED", format!("无法启动检查点线程：{e}"))
            })?;
        Ok(Checkpointer {
            shared,
            thread: Some(thread),
        })
    }

    /// A write was committed.
    pub(super) fn wrote(&self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.pending += 1;
            st.last_write = Some(Instant::now());
        }
        self.shared.wake.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.stop = true;
        }
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn checkpoint_loop(conn: &Connection, shared: &CheckpointShared) {
    // Whether the WAL file is known to be empty (truncated) since the last write.
    let mut truncated = false;
    let mut last_checkpoint: Option<Instant> = None;
    loop {
        let mode = {
            let Ok(mut st) = shared.state.lock() else {
                return;
            };
            loop {
                if st.stop {
                    return;
                }
                let since_checkpoint = last_checkpoint.map_or(Duration::MAX, |t| t.elapsed());
                let idle_for = st.last_write.map_or(TRUNCATE_AFTER_IDLE, |t| t.elapsed());
                let timeout = if st.pending > 0 {
                    if since_checkpoint >= CHECKPOINT_EVERY {
                        st.pending = 0;
                        truncated = false;
                        break "PASSIVE";
                    }
                    Some(CHECKPOINT_EVERY - since_checkpoint)
                } else if !truncated {
                    // Idle long enough, and (after a TRUNCATE that met a reader) not retried sooner.
                    let waited = idle_for.min(since_checkpoint);
                    if waited >= TRUNCATE_AFTER_IDLE {
                        break "TRUNCATE";
                    }
                    Some(TRUNCATE_AFTER_IDLE - waited)
                } else {
                    None
                };
                st = match timeout {
                    Some(t) => match shared.wake.wait_timeout(st, t) {
                        Ok((st, _)) => st,
                        Err(_) => return,
                    },
                    None => match shared.wake.wait(st) {
                        Ok(st) => st,
                        Err(_) => return,
                    },
                };
            }
        };
        let started = Instant::now();
        let checkpoint = |mode: &str| {
            conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
        };
        // The copying is always done by a PASSIVE checkpoint, which never blocks a writer. A
        // TRUNCATE (which holds off new writers while it runs) follows only once that copied the
        // whole WAL, so all it has left to do is wait for readers and cut the file.
        let result = checkpoint("PASSIVE").and_then(|passive| match (mode, passive) {
            ("TRUNCATE", (0, frames, copied)) if frames == copied => checkpoint("TRUNCATE"),
            ("TRUNCATE", _) => Ok((1, passive.1, passive.2)),
            _ => Ok(passive),
        });
        last_checkpoint = Some(Instant::now());
        match result {
            Ok((busy, wal_frames, copied)) => {
                tracing::debug!(
                    mode,
                    busy,
                    wal_frames,
                    copied,
                    ms = started.elapsed().as_millis() as u64,
                    "WAL checkpoint"
                );
                // A TRUNCATE that met a reader or a write retries after the next idle period.
                truncated = mode == "TRUNCATE" && busy == 0;
            }
            Err(e) => tracing::warn!(mode, error = %e, "WAL checkpoint failed; will retry"),
        }
    }
}
