//! The emulator's storage: one folder per bucket, one file per object.
//!
//! ```text
//! <root>/<bucket>/<key>              object bytes, nothing else
//! <root>/.oss/meta/<bucket>/<key>    JSON sidecar: ETag, CRC-64, type, headers
//! <root>/.oss/tmp/                   uploads in progress
//! <root>/.oss/uploads/<id>/          multipart uploads: upload.json, N.part, N.json
//! <root>/.oss/buckets/<bucket>.json  bucket ACL and CORS rules (see `access`)
//! ```
//!
//! Bucket names cannot start with `.`, so `.oss` never clashes with a bucket,
//! and a bucket folder holds only objects (a person can browse it). Every
//! object is written to `.oss/tmp` first and renamed into place when complete,
//! so a reader sees the old object or the new one, never a partial one. The
//! sidecar records the inode of the data file it describes; a sidecar that
//! does not match (a crash between the two renames, a file put there by hand)
//! is rebuilt from the data.

use std::collections::BTreeMap;
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vpf_oss::crc64::Crc64;

use super::error::{OssError, OssResult};

/// OSS refuses parts below 100 KiB, except the last.
pub const MIN_PART_SIZE: u64 = 100 * 1024;
pub const MAX_PART_NUMBER: u32 = 10_000;
/// Longest file name most file systems allow; a key segment must fit.
const MAX_SEGMENT: usize = 255;

/// What the sidecar says about an object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub size: u64,
    /// Uppercase hex, without quotes: the MD5 for simple uploads,
    /// `<md5 of the part MD5s>-<parts>` for multipart ones.
    pub etag: String,
    pub crc64: u64,
    pub content_type: String,
    /// Unix seconds.
    pub last_modified: i64,
    /// `Normal` or `Multipart`.
    pub object_type: String,
    /// Content-Disposition, Cache-Control, Content-Encoding, Content-Language,
    /// Expires and `x-oss-meta-*`, lowercase names, served back on GET/HEAD.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Inode of the data file this sidecar describes.
    #[serde(default)]
    pub ino: u64,
}

/// The caller-chosen part of an object's metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Attributes {
    pub content_type: String,
    pub headers: BTreeMap<String, String>,
}

/// A body received into a temporary file.
#[derive(Debug)]
pub struct Incoming {
    pub path: PathBuf,
    pub size: u64,
    pub md5: [u8; 16],
    pub crc64: u64,
}

impl Incoming {
    pub fn md5_hex(&self) -> String {
        hex::encode_upper(self.md5)
    }
}

/// An upload in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    pub bucket: String,
    pub key: String,
    pub attributes: Attributes,
    pub initiated: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    pub size: u64,
    /// MD5, uppercase hex.
    pub etag: String,
    pub crc64: u64,
    pub last_modified: i64,
}

pub struct Store {
    root: PathBuf,
    /// Held while data and sidecar change or are read together.
    lock: tokio::sync::Mutex<()>,
}

impl Store {
    pub fn new(root: &Path) -> std::io::Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
            lock: tokio::sync::Mutex::new(()),
        };
        std::fs::create_dir_all(store.sys("meta"))?;
        std::fs::create_dir_all(store.sys("uploads"))?;
        // Whatever is in tmp belonged to uploads that never finished.
        let _ = std::fs::remove_dir_all(store.sys("tmp"));
        std::fs::create_dir_all(store.sys("tmp"))?;
        Ok(store)
    }

    fn sys(&self, what: &str) -> PathBuf {
        self.root.join(".oss").join(what)
    }

    pub fn create_bucket(&self, bucket: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(self.root.join(bucket))
    }

    pub fn bucket_exists(&self, bucket: &str) -> bool {
        !bucket.starts_with('.') && self.root.join(bucket).is_dir()
    }

    pub fn buckets(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| vpf_core::keys::validate_bucket(n).is_ok())
            .collect();
        out.sort();
        out
    }

    /// Where `key` lives. Refuses keys that would leave the bucket folder or
    /// that a folder tree cannot hold faithfully.
    pub fn object_path(&self, bucket: &str, key: &str) -> OssResult<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(bucket).join(key))
    }

    fn meta_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.sys("meta").join(bucket).join(key)
    }

    fn temp_path(&self) -> PathBuf {
        self.sys("tmp")
            .join(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Stream a body into a temporary file, hashing as it goes. A body that
    /// breaks off leaves nothing behind.
    pub async fn receive<S, E>(&self, body: S) -> OssResult<Incoming>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        self.receive_checked(body, None).await
    }

    /// [`Store::receive`], refusing (and removing) a body whose SHA-256 is
    /// not `sha256`, when given: hashed while received, never read twice.
    pub async fn receive_checked<S, E>(
        &self,
        body: S,
        sha256: Option<[u8; 32]>,
    ) -> OssResult<Incoming>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let path = self.temp_path();
        let result = async {
            let file = tokio::fs::File::create(&path).await?;
            let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
            let mut md5 = Md5::new();
            let mut crc = Crc64::new();
            let mut size = 0u64;
            let mut sha = sha256.map(|_| sha2::Sha256::new());
            let mut body = std::pin::pin!(body);
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    OssError::new(
                        http::StatusCode::BAD_REQUEST,
                        "IncompleteBody",
                        format!("The request body ended early: {e}"),
                    )
                })?;
                md5.update(&chunk);
                crc.update(&chunk);
                if let Some(h) = sha.as_mut() {
                    sha2::Digest::update(h, &chunk);
                }
                size += chunk.len() as u64;
                out.write_all(&chunk).await?;
            }
            if let (Some(h), Some(want)) = (sha, sha256)
                && <[u8; 32]>::from(sha2::Digest::finalize(h)) != want
            {
                return Err(super::auth::payload_mismatch());
            }
            out.flush().await?;
            out.get_mut().sync_all().await?;
            Ok::<_, OssError>(Incoming {
                path: path.clone(),
                size,
                md5: md5.finalize().into(),
                crc64: crc.value(),
            })
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        result
    }

    /// Move a received body into place as `bucket/key`. Returns the new
    /// metadata and the size of the object it replaced, if any. With
    /// `forbid_overwrite`, an existing key is refused (`FileAlreadyExists`)
    /// under the store lock, in the same step as the move, so that of
    /// several concurrent creators of one key exactly one succeeds.
    #[allow(clippy::too_many_arguments)]
    pub async fn commit(
        &self,
        bucket: &str,
        key: &str,
        incoming: Incoming,
        etag: String,
        object_type: &str,
        attributes: Attributes,
        now: SystemTime,
        forbid_overwrite: bool,
    ) -> OssResult<(Meta, Option<u64>)> {
        let result = self
            .commit_inner(
                bucket,
                key,
                &incoming,
                etag,
                object_type,
                attributes,
                now,
                forbid_overwrite,
            )
            .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&incoming.path).await;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn commit_inner(
        &self,
        bucket: &str,
        key: &str,
        incoming: &Incoming,
        etag: String,
        object_type: &str,
        attributes: Attributes,
        now: SystemTime,
        forbid_overwrite: bool,
    ) -> OssResult<(Meta, Option<u64>)> {
        let target = self.object_path(bucket, key)?;
        let meta_target = self.meta_path(bucket, key);
        let meta = Meta {
            size: incoming.size,
            etag,
            crc64: incoming.crc64,
            content_type: attributes.content_type,
            last_modified: unix(now),
            object_type: object_type.to_string(),
            headers: attributes.headers,
            ino: tokio::fs::metadata(&incoming.path).await?.ino(),
        };
        let meta_tmp = self.temp_path();
        tokio::fs::write(
            &meta_tmp,
            serde_json::to_vec(&meta).map_err(|e| OssError::internal(e.to_string()))?,
        )
        .await?;
        let _guard = self.lock.lock().await;
        let made = async {
            make_parent(&target, key).await?;
            make_parent(&meta_target, key).await?;
            let previous = match tokio::fs::symlink_metadata(&target).await {
                Ok(m) if m.is_dir() => return Err(conflict(key)),
                Ok(m) => Some(m.len()),
                Err(_) => None,
            };
            if forbid_overwrite && previous.is_some() {
                return Err(file_exists());
            }
            if tokio::fs::symlink_metadata(&meta_target)
                .await
                .is_ok_and(|m| m.is_dir())
            {
                return Err(conflict(key));
            }
            tokio::fs::rename(&meta_tmp, &meta_target).await?;
            tokio::fs::rename(&incoming.path, &target).await?;
            Ok(previous)
        }
        .await;
        if made.is_err() {
            let _ = tokio::fs::remove_file(&meta_tmp).await;
        }
        Ok((meta, made?))
    }

    /// The object's file, opened, with its metadata: one consistent snapshot
    /// (a later overwrite replaces the file, not the bytes this handle reads).
    pub async fn open(&self, bucket: &str, key: &str) -> OssResult<(tokio::fs::File, Meta)> {
        let target = self.object_path(bucket, key)?;
        let guard = self.lock.lock().await;
        let file = match tokio::fs::File::open(&target).await {
            Ok(f) => f,
            Err(e) if is_missing(&e) => return Err(OssError::no_such_key(key)),
            Err(e) => return Err(e.into()),
        };
        let stat = file.metadata().await?;
        if stat.is_dir() {
            return Err(OssError::no_such_key(key));
        }
        let meta_path = self.meta_path(bucket, key);
        let sidecar: Option<Meta> = tokio::fs::read(&meta_path)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|m: &Meta| m.ino == stat.ino() && m.size == stat.len());
        drop(guard);
        let meta = match sidecar {
            Some(m) => m,
            None => self.rebuild_meta(bucket, key, &target, &stat).await?,
        };
        Ok((file, meta))
    }

    /// Metadata for a file that has no (matching) sidecar.
    async fn rebuild_meta(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        stat: &std::fs::Metadata,
    ) -> OssResult<Meta> {
        let mut f = tokio::fs::File::open(path).await?;
        let mut md5 = Md5::new();
        let mut crc = Crc64::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
            crc.update(&buf[..n]);
        }
        let meta = Meta {
            size: stat.len(),
            etag: hex::encode_upper(md5.finalize()),
            crc64: crc.value(),
            content_type: vpf_oss::content_type_for(key).to_string(),
            last_modified: stat.mtime(),
            object_type: "Normal".into(),
            headers: BTreeMap::new(),
            ino: stat.ino(),
        };
        let meta_path = self.meta_path(bucket, key);
        // Best effort: without a sidecar the next read computes this again.
        if make_parent(&meta_path, key).await.is_ok()
            && let Ok(bytes) = serde_json::to_vec(&meta)
        {
            let tmp = self.temp_path();
            let saved = tokio::fs::write(&tmp, bytes).await.is_ok() && {
                // A PUT may have replaced the object (and written its own
                // sidecar, Content-Type and x-oss-meta-* included) while this
                // one was hashed: save only over the same file, under the
                // lock that commits take.
                let _guard = self.lock.lock().await;
                let same = tokio::fs::metadata(path)
                    .await
                    .is_ok_and(|m| m.ino() == stat.ino());
                same && tokio::fs::rename(&tmp, &meta_path).await.is_ok()
            };
            if !saved {
                let _ = tokio::fs::remove_file(&tmp).await;
            }
        }
        Ok(meta)
    }

    pub async fn head(&self, bucket: &str, key: &str) -> OssResult<Meta> {
        Ok(self.open(bucket, key).await?.1)
    }

    /// Remove an object; `None` when there was none.
    pub async fn delete(&self, bucket: &str, key: &str) -> OssResult<Option<u64>> {
        let target = self.object_path(bucket, key)?;
        let meta_path = self.meta_path(bucket, key);
        let _guard = self.lock.lock().await;
        let size = match tokio::fs::symlink_metadata(&target).await {
            Ok(m) if m.is_dir() => return Ok(None),
            Ok(m) => m.len(),
            Err(_) => return Ok(None),
        };
        tokio::fs::remove_file(&target).await?;
        let _ = tokio::fs::remove_file(&meta_path).await;
        prune(&self.root.join(bucket), &target).await;
        prune(&self.sys("meta").join(bucket), &meta_path).await;
        Ok(Some(size))
    }

    /// Every key in the bucket, sorted by bytes as OSS sorts them.
    pub async fn keys(&self, bucket: &str) -> OssResult<Vec<String>> {
        let dir = self.root.join(bucket);
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            walk(&dir, "", &mut keys);
            keys.sort();
            keys
        })
        .await
        .map_err(|e| OssError::internal(format!("listing: {e}")))
    }

    // --- multipart -------------------------------------------------------

    fn upload_dir(&self, id: &str) -> OssResult<PathBuf> {
        // Ids are ours: 32 hex digits. Anything else names no upload (and
        // can never name a path outside the uploads folder).
        if id.len() != 32 || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(OssError::no_such_upload(id));
        }
        Ok(self.sys("uploads").join(id))
    }

    pub async fn create_upload(&self, upload: &Upload) -> OssResult<String> {
        let id = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
        let dir = self.upload_dir(&id)?;
        tokio::fs::create_dir_all(&dir).await?;
        let bytes = serde_json::to_vec(upload).map_err(|e| OssError::internal(e.to_string()))?;
        tokio::fs::write(dir.join("upload.json"), bytes).await?;
        Ok(id)
    }

    /// The upload `id`, which must be for `bucket/key`.
    pub async fn upload(&self, id: &str, bucket: &str, key: &str) -> OssResult<Upload> {
        let dir = self.upload_dir(id)?;
        let upload: Upload = tokio::fs::read(dir.join("upload.json"))
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| OssError::no_such_upload(id))?;
        if upload.bucket != bucket || upload.key != key {
            return Err(OssError::no_such_upload(id));
        }
        Ok(upload)
    }

    pub async fn put_part(
        &self,
        id: &str,
        number: u32,
        incoming: Incoming,
        now: SystemTime,
    ) -> OssResult<Part> {
        let dir = self.upload_dir(id)?;
        let part = Part {
            size: incoming.size,
            etag: incoming.md5_hex(),
            crc64: incoming.crc64,
            last_modified: unix(now),
        };
        // The record is written aside and both files move in under the
        // lock: of two uploads of one part number, one wins whole (record
        // and bytes), and a reader never sees a half-written record.
        let record_tmp = self.temp_path();
        let result = async {
            let bytes = serde_json::to_vec(&part).map_err(|e| OssError::internal(e.to_string()))?;
            tokio::fs::write(&record_tmp, bytes).await?;
            let _guard = self.lock.lock().await;
            if !tokio::fs::try_exists(&dir).await? {
                return Err(OssError::no_such_upload(id));
            }
            tokio::fs::rename(&record_tmp, dir.join(format!("{number}.json"))).await?;
            tokio::fs::rename(&incoming.path, dir.join(format!("{number}.part"))).await?;
            Ok::<_, OssError>(())
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&record_tmp).await;
            let _ = tokio::fs::remove_file(&incoming.path).await;
            // Aborted while this part was on its way: the upload is gone.
            return Err(if dir.exists() {
                e
            } else {
                OssError::no_such_upload(id)
            });
        }
        Ok(part)
    }

    /// The uploaded parts, by number.
    pub async fn parts(&self, id: &str) -> OssResult<BTreeMap<u32, Part>> {
        let dir = self.upload_dir(id)?;
        let mut out = BTreeMap::new();
        let mut rd = tokio::fs::read_dir(&dir)
            .await
            .map_err(|_| OssError::no_such_upload(id))?;
        while let Some(entry) = rd.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(n) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(p) = tokio::fs::read(entry.path())
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<Part>(&b).ok())
            {
                out.insert(n, p);
            }
        }
        Ok(out)
    }

    /// Join parts `numbers` (in that order) into one temporary file.
    pub async fn assemble(&self, id: &str, numbers: &[u32]) -> OssResult<Incoming> {
        let dir = self.upload_dir(id)?;
        let path = self.temp_path();
        let result = async {
            let file = tokio::fs::File::create(&path).await?;
            let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
            let mut crc = Crc64::new();
            let mut size = 0u64;
            let mut buf = vec![0u8; 1 << 20];
            for n in numbers {
                let mut part = tokio::fs::File::open(dir.join(format!("{n}.part"))).await?;
                loop {
                    let got = part.read(&mut buf).await?;
                    if got == 0 {
                        break;
                    }
                    crc.update(&buf[..got]);
                    size += got as u64;
                    out.write_all(&buf[..got]).await?;
                }
            }
            out.flush().await?;
            out.get_mut().sync_all().await?;
            Ok::<_, OssError>(Incoming {
                path: path.clone(),
                size,
                md5: [0; 16],
                crc64: crc.value(),
            })
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&path).await;
        }
        result
    }

    /// Forget an upload and its parts. `false` when there was none.
    pub async fn remove_upload(&self, id: &str) -> OssResult<bool> {
        let dir = self.upload_dir(id)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == IoKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Keys are stored as paths, so besides what OSS refuses we refuse what a
/// folder tree cannot hold: empty segments (`a//b`, a trailing `/`) and
/// segments longer than a file name may be.
pub fn check_key(key: &str) -> OssResult<()> {
    vpf_core::keys::validate_key(key).map_err(|e| OssError::invalid_argument(e.message))?;
    if key.split('/').any(|s| s.is_empty()) {
        return Err(OssError::invalid_argument(format!(
            "The emulator cannot store key {key:?}: keys with an empty path segment (a//b, or ending in /) are not supported."
        )));
    }
    if key.split('/').any(|s| s.len() > MAX_SEGMENT) {
        return Err(OssError::invalid_argument(format!(
            "The emulator cannot store key {key:?}: a path segment is longer than {MAX_SEGMENT} bytes."
        )));
    }
    Ok(())
}

pub fn file_exists() -> OssError {
    OssError::new(
        http::StatusCode::CONFLICT,
        "FileAlreadyExists",
        "The object you specified already exists and can not be overwritten.",
    )
}

fn conflict(key: &str) -> OssError {
    OssError::new(
        http::StatusCode::CONFLICT,
        "KeyConflict",
        format!(
            "The emulator stores objects as files: {key:?} and another key that uses it as a folder cannot both exist."
        ),
    )
}

async fn make_parent(path: &Path, key: &str) -> OssResult<()> {
    if let Some(dir) = path.parent() {
        match tokio::fs::create_dir_all(dir).await {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), IoKind::NotADirectory | IoKind::AlreadyExists) => {
                return Err(conflict(key));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn is_missing(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        IoKind::NotFound | IoKind::NotADirectory | IoKind::IsADirectory
    )
}

/// Remove folders left empty between `file` and `top` (exclusive).
async fn prune(top: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == top || !d.starts_with(top) {
            break;
        }
        if tokio::fs::remove_dir(d).await.is_err() {
            break;
        }
        dir = d.parent();
    }
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in rd.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let key = format!("{prefix}{name}");
        if kind.is_dir() {
            walk(&entry.path(), &format!("{key}/"), out);
        } else if kind.is_file() {
            out.push(key);
        }
    }
}

pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_or_do_not_fit_are_refused() {
        for bad in [
            "",
            "/abs",
            "../x",
            "a/../../x",
            "a/./b",
            "a//b",
            "dir/",
            "nul\0",
            &"x".repeat(256),
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        for good in ["a", "a b/ü+%.mp4", "..x", "a..b/c", "x.", "€/💾"] {
            assert!(check_key(good).is_ok(), "{good:?}");
        }
    }

    #[tokio::test]
    async fn commit_open_delete_and_conflicts() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path()).unwrap();
        store.create_bucket("b1").unwrap();
        let now = SystemTime::now();
        let body =
            futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"hello"))]);
        let inc = store.receive(body).await.unwrap();
        assert_eq!(inc.md5_hex(), "5D41402ABC4B2A76B9719D911017C592");
        let etag = inc.md5_hex();
        let (meta, prev) = store
            .commit(
                "b1",
                "d/x.txt",
                inc,
                etag,
                "Normal",
                Attributes::default(),
                now,
                false,
            )
            .await
            .unwrap();
        assert_eq!((meta.size, prev), (5, None));
        assert_eq!(
            std::fs::read(tmp.path().join("b1/d/x.txt")).unwrap(),
            b"hello"
        );
        assert_eq!(store.keys("b1").await.unwrap(), ["d/x.txt"]);
        // The folder `d` holds an object, so `d` itself cannot be one.
        let inc = store
            .receive(futures_util::stream::iter([Ok::<_, std::io::Error>(
                Bytes::from_static(b"x"),
            )]))
            .await
            .unwrap();
        let tmp_path = inc.path.clone();
        let e = store
            .commit(
                "b1",
                "d",
                inc,
                "E".into(),
                "Normal",
                Attributes::default(),
                now,
                false,
            )
            .await
            .unwrap_err();
        assert_eq!(e.code, "KeyConflict");
        assert!(
            !tmp_path.exists(),
            "a refused upload leaves no temporary file"
        );
        // A file put there by hand gets its metadata computed.
        std::fs::write(tmp.path().join("b1/hand.bin"), b"hello").unwrap();
        assert_eq!(
            store.head("b1", "hand.bin").await.unwrap().etag,
            "5D41402ABC4B2A76B9719D911017C592"
        );
        assert_eq!(store.delete("b1", "d/x.txt").await.unwrap(), Some(5));
        assert!(
            !tmp.path().join("b1/d").exists(),
            "empty folders are pruned"
        );
        assert_eq!(store.delete("b1", "d/x.txt").await.unwrap(), None);
        assert_eq!(
            store.head("b1", "d/x.txt").await.unwrap_err().code,
            "NoSuchKey"
        );
    }

    #[tokio::test]
    async fn a_broken_body_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path()).unwrap();
        let body = futures_util::stream::iter([
            Ok(Bytes::from_static(b"part")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let e = store.receive(body).await.unwrap_err();
        assert_eq!(e.code, "IncompleteBody");
        assert_eq!(
            std::fs::read_dir(tmp.path().join(".oss/tmp"))
                .unwrap()
                .count(),
            0
        );
    }
}
