//! Maps HTTP answers onto the domain's [`CloudError`], following the texts the Go SDK matches
//! (`vngcloud/sdk_error`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use vlb_domain::CloudError;

/// Error of [`wait_load_balancer_ready`](crate::VngCloudClient::wait_load_balancer_ready).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The load balancer went to `ERROR`: not retried until a human or a delete acts.
    #[error("load balancer {id} is in ERROR ({progress_status})")]
    Failed {
        /// Load balancer id.
        id: String,
        /// Its `progressStatus`.
        progress_status: String,
    },
    /// Still not ready at the deadline: retry later.
    #[error("load balancer {id} not ready after {waited:?} (status {display_status})")]
    Timeout {
        /// Load balancer id.
        id: String,
        /// Time spent waiting.
        waited: Duration,
        /// Last `displayStatus` seen.
        display_status: String,
    },
    /// A call failed (the cloud error says whether to retry).
    #[error(transparent)]
    Cloud(#[from] CloudError),
}

impl From<WaitError> for CloudError {
    /// `Failed` becomes `Invalid` (never retried on its own), `Timeout` becomes `Busy`.
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::Failed { .. } => CloudError::Invalid(e.to_string()),
            WaitError::Timeout { .. } => CloudError::Busy(e.to_string()),
            WaitError::Cloud(c) => c,
        }
    }
}

/// The message of an error body: `message`, `errors[0].message`, `error`, or the raw text.
pub(crate) fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let m = v
            .get("message")
            .and_then(serde_json::Value::as_str)
            .or_else(|| {
                v.get("errors")
                    .and_then(|e| e.get(0))
                    .and_then(|e| e.get("message"))
                    .and_then(serde_json::Value::as_str)
            })
            .or_else(|| v.get("error").and_then(serde_json::Value::as_str));
        if let Some(m) = m {
            return m.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    text.chars().take(300).collect()
}

/// The delay a 429 asks for: `X-Ratelimit-Reset` (seconds to wait, or an epoch time), then
/// `Retry-After` (seconds); one second when neither is readable.
pub(crate) fn retry_after(headers: &HeaderMap) -> Duration {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(v) = num("x-ratelimit-reset") {
        // Large values are epoch seconds.
        if v > 1_000_000_000.0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            return Duration::from_secs_f64((v - now).max(0.0));
        }
        return Duration::from_secs_f64(v.min(86_400.0));
    }
    if let Some(v) = num("retry-after") {
        return Duration::from_secs_f64(v.min(86_400.0));
    }
    Duration::from_secs(1)
}

const RESOURCES: &[(&str, &str)] = &[
    ("security group rule", "security group rule"),
    ("security group", "security group"),
    ("load balancer", "load balancer"),
    ("listener", "listener"),
    ("pool", "pool"),
    ("policy", "policy"),
    ("certificate", "certificate"),
    ("server", "server"),
    ("subnet", "subnet"),
    ("network", "network"),
];

/// The resource and id a not-found message names (`Cannot get pool with id <id>`), else the
/// caller's.
fn not_found(lower: &str, message: &str, resource: &str, id: &str) -> CloudError {
    let named = RESOURCES
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map_or(resource, |(_, r)| *r);
    let found_id = lower.find("with id ").map(|i| {
        message[i + 8..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_end_matches(['.', ','])
            .to_owned()
    });
    CloudError::not_found(named, found_id.as_deref().unwrap_or(id))
}

/// Maps a failed answer onto a [`CloudError`]; `resource`/`id` name what the call was about.
pub(crate) fn classify(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    resource: &str,
    id: &str,
) -> CloudError {
    let message = error_message(body);
    let lower = message.to_ascii_lowercase();
    if status == 429 {
        return CloudError::RateLimited {
            retry_after: retry_after(headers),
        };
    }
    if status == 401 {
        return CloudError::Unauthorized(message);
    }
    if status == 403 {
        return CloudError::Unauthorized(message);
    }
    if status >= 500 {
        return CloudError::Server(format!("{status}: {message}"));
    }
    let busy = [
        "is not ready",
        "is updating",
        "is creating",
        "is deleting",
        "changing-security-group",
    ];
    if busy.iter().any(|p| lower.contains(p)) {
        return CloudError::Busy(message);
    }
    if lower.contains("exceeded") && lower.contains("quota") {
        return CloudError::QuotaExceeded(message);
    }
    if lower.contains("is used in listener")
        || lower.contains("securitygroupinuse")
        || lower.contains("is in use")
    {
        return CloudError::InUse(message);
    }
    if lower.contains("duplicated")
        || lower.contains("already exist")
        || lower.contains("securitygroupruleexists")
        || lower.contains("identical to the existing members")
    {
        return CloudError::Duplicate(message);
    }
    if status == 404
        || lower.contains("cannot get ")
        || lower.contains("could not find resource")
        || lower.contains("not found")
        || lower.contains("does not belong to project")
        || lower.contains("is not belong to load balancer")
    {
        return not_found(&lower, &message, resource, id);
    }
    if status == 400 || status == 409 || status == 422 {
        return CloudError::Invalid(message);
    }
    CloudError::Other { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, msg: &str) -> CloudError {
        let body = serde_json::json!({ "message": msg }).to_string();
        classify(
            status,
            &HeaderMap::new(),
            body.as_bytes(),
            "load balancer",
            "lb-x",
        )
    }

    #[test]
    fn sdk_texts_map_onto_typed_errors() {
        assert_eq!(
            c(404, "Cannot get pool with id pool-1"),
            CloudError::not_found("pool", "pool-1")
        );
        assert_eq!(
            c(
                404,
                "Could not find resource: Cannot get load balancer with id lb-9"
            ),
            CloudError::not_found("load balancer", "lb-9")
        );
        assert!(matches!(
            c(400, "Load balancer id lb-1 is updating"),
            CloudError::Busy(_)
        ));
        assert!(matches!(
            c(400, "Load balancer id lb-1 is not ready"),
            CloudError::Busy(_)
        ));
        assert!(matches!(
            c(
                400,
                "Exceeded LOAD_BALANCER quota. Current used: 2, quota: 2"
            ),
            CloudError::QuotaExceeded(_)
        ));
        assert!(matches!(
            c(400, "Pool id p is used in listener l"),
            CloudError::InUse(_)
        ));
        assert!(matches!(
            c(409, "SecurityGroupInUse: x"),
            CloudError::InUse(_)
        ));
        assert!(matches!(
            c(400, "Duplicated pool name web"),
            CloudError::Duplicate(_)
        ));
        assert!(matches!(c(400, "bad thing"), CloudError::Invalid(_)));
        assert!(matches!(c(503, "down"), CloudError::Server(_)));
        assert!(matches!(c(401, "expired"), CloudError::Unauthorized(_)));
        assert_eq!(
            c(418, "teapot"),
            CloudError::Other {
                status: 418,
                message: "teapot".into()
            }
        );
    }

    #[test]
    fn retry_after_prefers_x_ratelimit_reset() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Duration::from_secs(7));
        h.insert("x-ratelimit-reset", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Duration::from_secs(3));
    }

    #[test]
    fn iam_error_bodies_are_read() {
        let body = br#"{"errors":[{"code":"AUTHENTICATION_FAILED","message":"Invalid client"}]}"#;
        assert_eq!(error_message(body), "Invalid client");
    }
}
