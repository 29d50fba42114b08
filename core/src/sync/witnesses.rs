//! The witness policy on the device: the agency's signed bundle may require that the log's
//! checkpoints carry the cosignatures of k of n named witnesses (`crate::witness`). The policy is
//! kept when a bundle that lists it is pulled (and dropped when a newer bundle no longer lists it);
//! at the start of every sync the log's newest checkpoint must satisfy it before anything is
//! pushed, or the sync stops with `CHECKPOINT_NOT_WITNESSED`.
//!
//! A checkpoint the server has just published may not be cosigned yet (the server submits it to
//! its witnesses in the background, within moments): the device asks again a few times, each
//! answer verified like the first, before it refuses.

use std::time::Duration;

use crate::error::{Result, RoadsideError};
use crate::witness::{self, WitnessPolicy};

use super::{http, Session};

/// Where the policy of the held bundle is kept (`sync_state`).
pub(super) const POLICY_KEY: &str = "witness_policy";

/// Times the newest checkpoint is asked for again while it lacks cosignatures, and the first
/// pause (doubled each time: about 6 s in all).
const ATTEMPTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(400);

/// The policy of the bundle the device holds, if it has one.
pub(super) fn policy(s: &Session<'_>) -> Result<Option<WitnessPolicy>> {
    s.store
        .sync_value(POLICY_KEY)?
        .map(|text| WitnessPolicy::from_component(text.as_bytes()))
        .transpose()
}

/// Keep (or, with `None`, drop) the policy of a newly pulled bundle, already verified against its
/// signed manifest.
pub(super) fn keep(s: &Session<'_>, component: Option<&[u8]>) -> Result<()> {
    match component {
        Some(bytes) => {
            WitnessPolicy::from_component(bytes)?;
            let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                RoadsideError::rules(witness::code::POLICY_INVALID, "见证策略不是 UTF-8 文本")
            })?;
            s.store.set_sync_values(&[(POLICY_KEY, Some(&text))])
        }
        None => s.store.set_sync_values(&[(POLICY_KEY, None)]),
    }
}

/// Check the newest checkpoint `note` (already verified with the log key) against the policy;
/// while it falls short, ask for the newest checkpoint again a few times. The witnesses that
/// cosigned the checkpoint accepted.
pub(super) async fn require(s: &mut Session<'_>, note: String) -> Result<Vec<String>> {
    let Some(policy) = policy(s)? else {
        return Ok(Vec::new());
    };
    if policy.quorum == 0 {
        return Ok(Vec::new());
    }
    let mut note = note;
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        match witness::check_policy(&note, &policy) {
            Ok(names) => return Ok(names),
            Err(e) if attempt >= ATTEMPTS => return Err(e),
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2);
        attempt += 1;
        let url = s.url("/log/checkpoint");
        let (fresh, _) = http::exchange(
            &s.retry,
            "读取日志检查点",
            || s.client.get(&url),
            |a| {
                String::from_utf8(a.body.clone()).map_err(|_| {
                    RoadsideError::network("SERVER_ANSWER_INVALID", "日志检查点不是 UTF-8 文本")
                })
            },
        )
        .await?;
        // The same checks as the first answer: signed with the pinned key, consistent with
        // everything verified before.
        s.observe(&fresh).await?;
        note = fresh;
    }
}
