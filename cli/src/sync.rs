//! `roadside enrol`, `roadside sync`, `roadside status`: the core's sync client from the desk.
//!
//! `sync` draws a progress bar on stderr (records pushed, then bytes uploaded) when stderr is a
//! terminal; stdout carries only the JSON report, as for every command.

use std::sync::{Arc, Mutex};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use roadside_core::store::Store;
use roadside_core::sync::{self, SyncOptions, SyncPhase, SyncProgress};
use roadside_core::RoadsideError;
use serde_json::{json, Value};

#[derive(Args)]
pub struct EnrolArgs {
    /// Server base URL, e.g. http://127.0.0.1:8080
    #[arg(long, env = "ROADSIDE_SERVER")]
    pub server: String,
    /// The one-time enrolment code from the server's administrator. It may
    /// begin with `-` (codes issued by older servers could), so a value that
    /// looks like an option is still taken as the code.
    #[arg(long, allow_hyphen_values = true)]
    pub code: String,
    /// A name for this device, shown to administrators.
    #[arg(long, default_value = "桌面执法终端")]
    pub name: String,
}

#[derive(Args)]
pub struct SyncArgs {
    /// Entries per push (1–1000).
    #[arg(long, default_value_t = 500)]
    pub batch_size: u32,
    /// Media chunk size in MiB.
    #[arg(long, default_value_t = 8)]
    pub chunk_mib: u32,
    /// Push records only; leave evidence files for later.
    #[arg(long)]
    pub no_media: bool,
    /// Attempts per exchange before this sync gives up (it can simply be run again).
    #[arg(long, default_value_t = 8)]
    pub attempts: u32,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Vehicle plate, e.g. 青E12345
    #[arg(long)]
    pub plate: String,
    /// The party's 统一社会信用代码 or 居民身份证号 (optional).
    #[arg(long)]
    pub party_id: Option<String>,
}

/// First-offence check: online (5 s), else this device's cases flagged `needs_recheck`.
pub fn history(store: &Store, args: &HistoryArgs) -> Result<Value, RoadsideError> {
    let r = sync::runtime()?.block_on(sync::first_offence(
        store,
        &args.plate,
        args.party_id.as_deref(),
    ))?;
    Ok(json!(r))
}

pub fn enrol(store: &Store, args: &EnrolArgs) -> Result<Value, RoadsideError> {
    let e = sync::runtime()?.block_on(sync::enrol(store, &args.server, &args.code, &args.name))?;
    Ok(json!(e))
}

/// The status screen's data, and the log rollovers this device followed (with how many entries
/// each put back and how many of those the new log has receipted).
pub fn status(store: &Store) -> Result<Value, RoadsideError> {
    let mut v = json!(sync::status(store)?);
    v["log_rollovers"] = json!(store.log_rollovers()?);
    Ok(v)
}

pub fn run_sync(store: &Store, args: &SyncArgs) -> Result<Value, RoadsideError> {
    let options = SyncOptions {
        batch_size: args.batch_size,
        chunk_size: args.chunk_mib.clamp(1, 64) * 1024 * 1024,
        upload_media: !args.no_media,
        retry_attempts: args.attempts.max(1),
        ..SyncOptions::default()
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())
    };
    let records_style = ProgressStyle::with_template("上传记录 {bar:40} {pos}/{len} 条 ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    let bytes_style = ProgressStyle::with_template(
        "上传证据 {bar:40} {bytes}/{total_bytes} {bytes_per_sec} ({eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(records_style);
    let phase = Arc::new(Mutex::new(SyncPhase::Checkpoint));
    let progress: sync::ProgressFn = {
        let bar = bar.clone();
        let phase = phase.clone();
        Arc::new(move |p: &SyncProgress| {
            let mut current = phase.lock().unwrap_or_else(|e| e.into_inner());
            if *current != p.phase && p.phase == SyncPhase::Media {
                bar.set_style(bytes_style.clone());
            }
            *current = p.phase;
            match p.phase {
                SyncPhase::Media => {
                    bar.set_length(p.bytes_total);
                    bar.set_position(p.bytes_done);
                }
                _ => {
                    bar.set_length(p.records_total);
                    bar.set_position(p.records_done);
                }
            }
        })
    };
    let result = sync::runtime()?.block_on(sync::sync(store, &options, Some(progress)));
    bar.finish_and_clear();
    Ok(json!(result?))
}
