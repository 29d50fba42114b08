//! Legal-review opinions (法制审核意见) from the server: at each sync the device asks, for each of
//! its cases with a request still unanswered, for the opinions the server signed with the agency
//! key (`GET /api/v1/reviews?case=`). Each is kept only after the store has verified its signature
//! against the agency key pinned at enrolment (`Store::add_review_opinion`); one that does not
//! verify is reported, never kept. A failure here never stops the sync: the next one asks again.

use base64::Engine;
use serde::Deserialize;

use super::http;
use super::{Session, SyncReport};
use crate::error::RoadsideError;
use crate::store::review::OpinionAdded;

/// Where a device asks.
pub const REVIEWS_PATH: &str = "/api/v1/reviews";

#[derive(Deserialize)]
struct Opinion {
    bytes: String,
    sig: String,
}

#[derive(Deserialize)]
struct Answer {
    opinions: Vec<Opinion>,
}

fn warn(report: &mut SyncReport, e: &RoadsideError) {
    report.warnings.push(format!(
        "未能取得法制审核意见（{}：{}），下次同步时再试",
        e.code(),
        e.message()
    ));
}

/// Fetch and keep the opinions awaited; the number kept is added to `report.review_opinions`.
pub(super) async fn pull(s: &Session<'_>, report: &mut SyncReport) {
    let cases = match s.store.reviews_awaited() {
        Ok(c) => c,
        Err(e) => return warn(report, &e),
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    for case in cases {
        let url = s.url(REVIEWS_PATH);
        let fetched = http::exchange(
            &s.retry,
            "读取法制审核意见",
            || {
                s.client
                    .get(&url)
                    .query(&[("case", case.as_str())])
                    .bearer_auth(&s.config.token)
            },
            |a| a.json::<Answer>("读取法制审核意见"),
        )
        .await;
        let answer = match fetched {
            Ok((a, _)) => a,
            Err(e) => return warn(report, &e),
        };
        for o in answer.opinions {
            let (Ok(bytes), Ok(sig)) = (b64.decode(&o.bytes), b64.decode(&o.sig)) else {
                report.warnings.push(format!(
                    "服务器发来的案件 {case} 的法制审核意见不是有效的 base64，未予采用"
                ));
                continue;
            };
            match s.store.add_review_opinion(&bytes, &sig) {
                Ok(OpinionAdded::Added) => report.review_opinions += 1,
                Ok(OpinionAdded::Known) => {}
                Err(e) => report.warnings.push(format!(
                    "案件 {case} 的法制审核意见未予采用（{}：{}）",
                    e.code(),
                    e.message()
                )),
            }
        }
    }
}
