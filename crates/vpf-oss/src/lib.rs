//! vpf-oss: the OSS client the functions use.
//!
//! Why not an existing SDK (README, "Why our own thin OSS client"): `aliyun-oss-rust-sdk` signs V1 only and
//! never sends the STS token, so it cannot work inside FC on a new bucket;
//! `opendal`'s OSS service also signs V1 only. We keep a thin client over
//! reqwest and delegate V4 signing (`OSS4-HMAC-SHA256`, STS token) to
//! `reqsign-aliyun-oss`, Apache OpenDAL's maintained signer, which carries the
//! test vectors of the OSS documentation.
//!
//! - Uploads and downloads stream: memory stays flat whatever the object size.
//! - Large files go up in parts (`multipart_threshold`, `part_size`), aborted on failure.
//! - Downloads are atomic (temporary sibling, then rename) and resume with a
//!   Range request when a connection drops.
//! - Every body is checked against OSS's CRC-64 (`x-oss-hash-crc64ecma`).
//! - 429, 5xx and transport failures are retried with backoff; errors map to
//!   `vpf_core::Error` (`NotFound` for NoSuchKey, `StorageError` otherwise, with
//!   OSS's code, message and request id).
//!
//! Handlers use the [`ObjectStore`] trait, so they can be written generically.

use std::future::Future;
use std::path::Path;

use bytes::Bytes;
use vpf_core::Result;

mod client;
pub mod config;
pub mod crc64;
mod request;
mod xml;

pub use client::{MAX_RANGE_BYTES, OssClient};
pub use config::{
    Credentials, MIB, OssConfig, RetryPolicy, Timeouts, internal_endpoint, region_from_endpoint,
};
pub use vpf_core::content_type::content_type_for;

/// What OSS knows about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// Without the quotes OSS puts around it (`688A7BF4F233DC9C88A80BF985AB7329`,
    /// or `<hex>-<parts>` for multipart uploads), as in OSS events.
    pub etag: String,
    /// Known from HEAD; listings do not carry it.
    pub content_type: Option<String>,
    /// As OSS sent it: an HTTP date from HEAD, ISO 8601 from listings.
    pub last_modified: Option<String>,
}

/// The result of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Without quotes, as in [`ObjectMeta::etag`].
    pub etag: String,
    pub size: u64,
}

/// The object operations the handlers need. Implemented by [`OssClient`];
/// futures are `Send` so that generic handlers can run on any executor thread.
pub trait ObjectStore: Send + Sync {
    /// `None` when the object does not exist.
    fn head(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ObjectMeta>>> + Send;
    /// Stream the object to `path` atomically; returns its size.
    fn get_to_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// Stream a file up (multipart when large). `content_type` defaults from the key's extension.
    fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;
    /// Upload a small body held in memory.
    fn put_bytes(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> impl Future<Output = Result<PutOutcome>> + Send;
    /// Delete; a missing object is not an error.
    fn delete(&self, bucket: &str, key: &str) -> impl Future<Output = Result<()>> + Send;
    /// All objects under `prefix`, in key order.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectMeta>>> + Send;
}
