//! HTTP plumbing of the sync client: one `reqwest` client, whole-answer exchanges, the retry policy
//! (exponential backoff with full jitter, honouring `Retry-After`) and the mapping of transport and
//! server failures to stable error codes.
//!
//! Every answer is read completely before it is judged, so a connection cut mid-answer is a
//! retryable `NETWORK_TRUNCATED`, never a half-parsed document.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{Result, RoadsideError};

/// How hard the client retries a failed exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per exchange (1 = no retry).
    pub attempts: u32,
    /// First delay; doubled on each retry.
    pub base_delay: Duration,
    /// Longest delay between two attempts (also caps `Retry-After`).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 8,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (0-based): full jitter over `base · 2^retry`, capped; a
    /// server's `Retry-After` wins when it asks for longer.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(1u32 << retry.min(16))
            .min(self.max_delay);
        let mut r = [0u8; 8];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut r);
        let frac = (u64::from_le_bytes(r) % 1_000_001) as f64 / 1_000_000.0;
        let jittered = cap.mul_f64(0.5 + frac / 2.0);
        match retry_after {
            Some(ra) => ra.min(self.max_delay).max(jittered),
            None => jittered,
        }
    }
}

/// A whole answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON of type `T`; `what` names the exchange in the error.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            RoadsideError::network(
                "SERVER_ANSWER_INVALID",
                format!("服务器对“{what}”的应答无法解析：{e}。记录未丢失，请稍后重试"),
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The server's error for a non-success answer: its own code and message when it sent one.
    pub fn error(&self, what: &str) -> RoadsideError {
        #[derive(serde::Deserialize)]
        struct ApiError {
            code: String,
            message: String,
        }
        match serde_json::from_slice::<ApiError>(&self.body) {
            Ok(e) => {
                RoadsideError::network(&e.code, format!("服务器拒绝了“{what}”：{}", e.message))
            }
            Err(_) => RoadsideError::network(
                "SERVER_ERROR",
                format!("服务器对“{what}”应答 HTTP {}", self.status.as_u16()),
            ),
        }
    }

    /// `Retry-After` in seconds (the HTTP-date form is not used by our server).
    pub fn retry_after(&self) -> Option<Duration> {
        self.header("retry-after")?
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
    }
}

/// Whether a status is worth retrying: server failures, overload, timeouts.
pub fn retryable_status(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT
}

/// Map a transport failure to an error; all of them are retryable.
pub fn transport_error(e: &reqwest::Error, what: &str) -> RoadsideError {
    let (code, why) = if e.is_timeout() {
        ("NETWORK_TIMEOUT", "连接超时")
    } else if e.is_connect() {
        ("NETWORK_UNREACHABLE", "无法连接服务器")
    } else if e.is_body() || e.is_decode() {
        ("NETWORK_TRUNCATED", "应答在传输中被截断")
    } else {
        ("NETWORK_FAILED", "网络传输失败")
    };
    RoadsideError::network(
        code,
        format!("“{what}”{why}：{e}。记录未丢失，稍后会自动重试"),
    )
}

/// Whether an error is a transient network failure worth retrying.
pub fn is_transient(e: &RoadsideError) -> bool {
    matches!(
        e.code(),
        "NETWORK_TIMEOUT"
            | "NETWORK_UNREACHABLE"
            | "NETWORK_TRUNCATED"
            | "NETWORK_FAILED"
            | "SERVER_ERROR"
            | "SERVER_UNAVAILABLE"
            | "SERVER_ANSWER_INVALID"
    )
}

/// One exchange, the answer read whole. Transport failures are errors; any status is an answer.
pub async fn exchange_once(req: RequestBuilder, what: &str) -> Result<Answer> {
    let resp = req.send().await.map_err(|e| transport_error(&e, what))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .await
        .map_err(|e| transport_error(&e, what))?
        .to_vec();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// An exchange with retries on transport failures, 5xx, 429 and 408. Answers a success (2xx) or the
/// server's error for any other status; `parse` judges a success answer and may itself fail with a
/// transient error (garbage, truncation), which is retried too.
pub async fn exchange<T>(
    policy: &RetryPolicy,
    what: &str,
    build: impl Fn() -> RequestBuilder,
    parse: impl Fn(&Answer) -> Result<T>,
) -> Result<(T, Answer)> {
    let mut retry = 0u32;
    loop {
        let (err, retry_after) = match exchange_once(build(), what).await {
            Ok(a) if a.status.is_success() => match parse(&a) {
                Ok(v) => return Ok((v, a)),
                Err(e) => (e, None),
            },
            Ok(a) if retryable_status(a.status) => {
                let ra = a.retry_after();
                let mut e = a.error(what);
                if !is_transient(&e) {
                    // The server's own code on a 5xx/429 (e.g. STORAGE_BUSY): keep it, retry anyway.
                    e = RoadsideError::network(
                        if a.status == StatusCode::SERVICE_UNAVAILABLE {
                            "SERVER_UNAVAILABLE"
                        } else {
                            "SERVER_ERROR"
                        },
                        format!(
                            "{}（HTTP {}，代码 {}）",
                            e.message(),
                            a.status.as_u16(),
                            e.code()
                        ),
                    );
                }
                (e, ra)
            }
            Ok(a) => return Err(a.error(what)),
            Err(e) => (e, None),
        };
        if !is_transient(&err) || retry + 1 >= policy.attempts {
            return Err(err);
        }
        tokio::time::sleep(policy.delay(retry, retry_after)).await;
        retry += 1;
    }
}

/// The client every exchange uses: connection and whole-request timeouts, no redirects to other
/// hosts (a redirect would carry the token).
pub fn client(request_timeout: Duration) -> Result<Client> {
    Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("roadside-core/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| RoadsideError::internal("HTTP_CLIENT", format!("无法创建网络客户端：{e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_honour_retry_after() {
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        };
        // The computed delays (no clock involved): half to all of the capped exponential step.
        let first = Duration::from_millis(50)..=Duration::from_millis(100);
        let capped = Duration::from_secs(1)..=Duration::from_secs(2);
        for _ in 0..50 {
            let d0 = p.delay(0, None);
            assert!(first.contains(&d0), "{d0:?}");
            let d10 = p.delay(10, None);
            assert!(capped.contains(&d10), "{d10:?}");
        }
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(60))),
            Duration::from_secs(2)
        );
    }
}
