//! How to reach OSS: endpoint, region, keys, and the knobs of transfers.

use std::time::Duration;

pub use vpf_core::credentials::Credentials;

/// Where and how to talk to OSS.
#[derive(Debug, Clone)]
pub struct OssConfig {
    /// `https://oss-cn-hangzhou-internal.aliyuncs.com`, or a local emulator
    /// such as `http://127.0.0.1:9100`. Without a scheme, https is used.
    pub endpoint: String,
    /// The region in the V4 signing scope, e.g. `cn-hangzhou`.
    pub region: String,
    pub credentials: Credentials,
    /// `Some(true)`: `endpoint/bucket/key`; `Some(false)`: `bucket.endpoint/key`.
    /// `None`: path style when the endpoint host is an IP address or
    /// `localhost` (as the official `oss2` client does), virtual host otherwise.
    pub path_style: Option<bool>,
    /// Files larger than this go up in parts.
    pub multipart_threshold: u64,
    /// Size of each part (OSS allows 100 KiB to 5 GiB, at most 10,000 parts;
    /// the client raises it when a file would need more parts).
    pub part_size: u64,
    /// Parts in flight at once. Each streams from its own file handle, so
    /// memory stays small whatever this is.
    pub part_concurrency: usize,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
}

/// Time limits. A fixed limit cannot fit transfers of any size, so uploads
/// get `request` plus their size at `min_throughput`, and downloads get
/// `request` until the answer starts, then `idle` between chunks: a connection
/// silent that long is dropped and the download resumes.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Whole-request limit for calls without a large body (head, list,
    /// delete, initiate/complete, small puts), and the wait for the first
    /// byte of a download.
    pub request: Duration,
    /// Longest silence while reading a download.
    pub idle: Duration,
    /// Slowest upload rate tolerated, in bytes per second.
    pub min_throughput: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            min_throughput: 256 * 1024,
        }
    }
}

impl Timeouts {
    /// The whole-request limit for an upload of `len` bytes.
    pub fn upload(&self, len: u64) -> Duration {
        self.request + Duration::from_secs_f64(len as f64 / self.min_throughput.max(1) as f64)
    }
}

/// Retries of throttled (429), failed (5xx) and dropped requests, with
/// exponential backoff. `max_attempts` counts the first try.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (1 for the first retry): doubling,
    /// capped, with up to 25% jitter so that parallel clients spread out.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_delay);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        exp + exp.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }
}

pub const MIB: u64 = 1024 * 1024;

impl OssConfig {
    /// Defaults: multipart above 64 MiB in 16 MiB parts, 4 parts at once,
    /// 4 attempts per request.
    pub fn new(
        endpoint: impl Into<String>,
        region: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        OssConfig {
            endpoint: endpoint.into(),
            region: region.into(),
            credentials,
            path_style: None,
            multipart_threshold: 64 * MIB,
            part_size: 16 * MIB,
            part_concurrency: 4,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
        }
    }
}

/// The OSS endpoint reachable from inside a region's network (FC, ECS):
/// `https://oss-<region>-internal.aliyuncs.com`; no traffic charges.
pub fn internal_endpoint(region: &str) -> String {
    format!("https://oss-{region}-internal.aliyuncs.com")
}

/// The region named in an Alibaba Cloud OSS endpoint host, e.g. `cn-hangzhou`
/// from `oss-cn-hangzhou-internal.aliyuncs.com`.
pub fn region_from_endpoint(endpoint: &str) -> Option<String> {
    let host = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split(['/', ':'])
        .next()?;
    let first = host.split('.').find(|l| l.starts_with("oss-"))?;
    let region = first.strip_prefix("oss-")?;
    let region = region.strip_suffix("-internal").unwrap_or(region);
    (!region.is_empty() && region != "accelerate").then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_read_from_aliyun_endpoints() {
        assert_eq!(
            region_from_endpoint("https://oss-cn-hangzhou-internal.aliyuncs.com").as_deref(),
            Some("cn-hangzhou")
        );
        assert_eq!(
            region_from_endpoint("oss-ap-southeast-1.aliyuncs.com").as_deref(),
            Some("ap-southeast-1")
        );
        assert_eq!(region_from_endpoint("http://127.0.0.1:9100"), None);
        assert_eq!(
            region_from_endpoint("https://oss-accelerate.aliyuncs.com"),
            None
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
        };
        let d1 = p.delay(1);
        let d2 = p.delay(2);
        let d9 = p.delay(9);
        assert!(d1 >= Duration::from_millis(100) && d1 <= Duration::from_millis(125));
        assert!(d2 >= Duration::from_millis(200) && d2 <= Duration::from_millis(250));
        assert!(d9 >= Duration::from_millis(500) && d9 <= Duration::from_millis(625));
    }

    #[test]
    fn config_debug_hides_the_secret() {
        let c = OssConfig::new(
            "http://127.0.0.1:1",
            "cn-hangzhou",
            Credentials::new("AK", "SECRET-XYZ").with_token("TOKEN-XYZ"),
        );
        let d = format!("{c:?}");
        assert!(!d.contains("SECRET-XYZ") && !d.contains("TOKEN-XYZ"), "{d}");
    }
}
