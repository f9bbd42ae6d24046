//! The OSS emulator under hostile and concurrent clients, over real HTTP:
//! each test reproduces an attack or a race and asserts that it is refused
//! (or resolved) with nothing stored and nothing left behind.

mod oss_support;

use bytes::Bytes;
use http::Method;
use md5::Digest;
use oss_support::{BUCKET, client, eventually, files_under, raw_exchange, signed, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vpf_oss::OssClient;

async fn get(c: &OssClient, key: &str) -> Bytes {
    let r = signed(c, Method::GET, Some(key), &[], &[], Bytes::new()).await;
    assert_eq!(r.status(), 200, "GET {key}");
    r.bytes().await.unwrap()
}

/// Initiate a multipart upload of `key`; its upload id.
async fn initiate(c: &OssClient, key: &str) -> String {
    let r = signed(
        c,
        Method::POST,
        Some(key),
        &[("uploads", "")],
        &[],
        Bytes::new(),
    )
    .await;
    xml_text(&r.text().await.unwrap(), "UploadId").expect("an upload id")
}

/// The OSS error code in an answer's XML.
async fn code(r: reqwest::Response) -> String {
    let text = r.text().await.unwrap();
    xml_text(&text, "Code").unwrap_or(text)
}

fn xml_text(doc: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let text = doc.split(&open).nth(1)?.split(&close).next()?;
    Some(text.replace("&quot;", "\"").replace("&amp;", "&"))
}

fn md5_hex(b: &[u8]) -> String {
    hex::encode_upper(md5::Md5::digest(b))
}

const FILLER: &[u8] = &[b'a'; 64 * 1024];
const HEADER_LINES: &[u8] =
    b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";

/// An unsigned form upload with a body that never reaches a file field: no
/// boundary at all, a part header block that never ends, or many fields.
/// Each is refused once the cap on what may precede the file is passed,
/// before any signature check, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_that_never_reaches_its_file_is_refused_early() {
    let (oss, _dir) = start().await;
    let head = |len: u64| {
        format!(
            "POST /{BUCKET} HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {len}\r\n\r\n",
            oss.addr()
        )
    };
    let total = 16 * 1024 * 1024;
    // No boundary at all.
    let a = raw_exchange(oss.addr(), head(total), FILLER, total).await;
    // A part whose header block never ends.
    let mut h = head(total + 40);
    h.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n");
    let b = raw_exchange(oss.addr(), h, HEADER_LINES, total).await;
    // Many fields, each under the per-field cap.
    let field = "--XyZ\r\nContent-Disposition: form-data; name=\"x-oss-meta-pad\"\r\n\r\n"
        .to_string()
        + &"p".repeat(32 * 1024)
        + "\r\n";
    let fields = field.repeat(60);
    let c = raw_exchange(oss.addr(), head(fields.len() as u64) + &fields, b"", 0).await;
    for answer in [a, b, c] {
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("before its file field"), "{answer}");
    }
    assert!(files_under(&oss.root().join(BUCKET)).is_empty());
    assert!(files_under(&oss.root().join(".oss/tmp")).is_empty());
    oss.shutdown().await;
}

/// `x-oss-copy-source` naming the emulator's own state (its multipart
/// parts, its metadata) or escaping the bucket is refused like any other bad
/// bucket or key, and nothing is copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_source_cannot_reach_the_emulators_own_state() {
    let (oss, _dir) = start().await;
    let c = client(&oss);
    c.put_bytes(BUCKET, "in/a.txt", Bytes::from_static(b"mine"), None)
        .await
        .unwrap();
    let id = initiate(&c, "big.bin").await;
    let r = signed(
        &c,
        Method::PUT,
        Some("big.bin"),
        &[("partNumber", "1"), ("uploadId", &id)],
        &[],
        Bytes::from_static(b"secret part"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let part = format!("{}/.oss/uploads/{id}/1.part", oss.root().display());
    assert!(std::path::Path::new(&part).exists(), "the part is on disk");

    for source in [
        format!("//.oss/uploads/{id}/1.part"),
        format!("/.oss/uploads/{id}/1.part"),
        format!("/{BUCKET}/../.oss/uploads/{id}/1.part"),
        format!("/{BUCKET}/%2E%2E/.oss/uploads/{id}/1.part"),
        format!("/{BUCKET}/..%2F.oss%2Fuploads%2F{id}%2F1.part"),
        "/.oss/meta/media-in/in/a.txt".to_string(),
        format!("/{BUCKET}//in/a.txt"),
    ] {
        let r = signed(
            &c,
            Method::PUT,
            Some("out/copy.bin"),
            &[],
            &[("x-oss-copy-source", &source)],
            Bytes::new(),
        )
        .await;
        let status = r.status().as_u16();
        let code = code(r).await;
        assert!(status == 400 || status == 404, "{source}: {status} {code}");
        assert!(
            [
                "InvalidArgument",
                "NoSuchBucket",
                "InvalidBucketName",
                "NoSuchKey"
            ]
            .contains(&code.as_str()),
            "{source}: {code}"
        );
        assert_eq!(c.head_object(BUCKET, "out/copy.bin").await.unwrap(), None);
    }
    // The same request with a real source works.
    let r = signed(
        &c,
        Method::PUT,
        Some("out/copy.bin"),
        &[],
        &[("x-oss-copy-source", &format!("/{BUCKET}/in/a.txt"))],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status(), 200);
    oss.shutdown().await;
}

/// Eight clients create each of ten keys at once with
/// `x-oss-forbid-overwrite: true`: exactly one per key succeeds, the others
/// get 409 FileAlreadyExists, and each object holds its winner's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbid_overwrite_lets_exactly_one_concurrent_creator_win() {
    let (oss, _dir) = start().await;
    let c = client(&oss);
    let mut tasks = Vec::new();
    for key in 0..10 {
        for writer in 0..8 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let key = format!("race/{key}.bin");
                let body = Bytes::from(format!("{key} by writer {writer} ").repeat(4096));
                let r = signed(
                    &c,
                    Method::PUT,
                    Some(&key),
                    &[],
                    &[("x-oss-forbid-overwrite", "true")],
                    body.clone(),
                )
                .await;
                let status = r.status().as_u16();
                let won = status == 200;
                if !won {
                    assert_eq!(status, 409);
                    assert_eq!(code(r).await, "FileAlreadyExists");
                }
                (key, won, body)
            }));
        }
    }
    let mut winners = std::collections::BTreeMap::new();
    for t in tasks {
        let (key, won, body) = t.await.unwrap();
        if won {
            assert!(winners.insert(key, body).is_none(), "two winners");
        }
    }
    assert_eq!(winners.len(), 10, "one creator per key succeeds");
    for (key, body) in winners {
        let got = get(&c, &key).await;
        assert_eq!(got, body, "{key} holds its winner's bytes");
    }
    assert!(files_under(&oss.root().join(".oss/tmp")).is_empty());
    oss.shutdown().await;
}

/// One part number uploaded twice at once, many times over: the part's
/// record is never lost and always describes the bytes that were kept, so
/// the upload completes with the record's ETag and the object is one of the
/// two bodies, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_uploaded_twice_at_once_keeps_a_whole_record() {
    let (oss, _dir) = start().await;
    let c = client(&oss);
    for round in 0..15 {
        let key = format!("parts/{round}.bin");
        let id = initiate(&c, &key).await;
        let bodies: Vec<Bytes> = (0..2)
            .map(|w| Bytes::from(vec![b'a' + w; 256 * 1024 + round]))
            .collect();
        let mut tasks = Vec::new();
        for body in bodies.clone() {
            let (c, key, id) = (c.clone(), key.clone(), id.clone());
            tasks.push(tokio::spawn(async move {
                let q = [("partNumber", "1"), ("uploadId", id.as_str())];
                signed(&c, Method::PUT, Some(&key), &q, &[], body)
                    .await
                    .status()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 200);
        }
        let r = signed(
            &c,
            Method::GET,
            Some(&key),
            &[("uploadId", &id)],
            &[],
            Bytes::new(),
        )
        .await;
        let listing = r.text().await.unwrap();
        let etag = xml_text(&listing, "ETag")
            .unwrap_or_else(|| panic!("round {round}: part 1 lost its record: {listing}"));
        let done = format!(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
        );
        let r = signed(
            &c,
            Method::POST,
            Some(&key),
            &[("uploadId", &id)],
            &[],
            Bytes::from(done),
        )
        .await;
        assert_eq!(
            r.status(),
            200,
            "round {round}: {}",
            r.text().await.unwrap()
        );
        let got = get(&c, &key).await;
        assert!(
            bodies.contains(&got),
            "round {round}: the object is one whole body"
        );
        assert_eq!(
            format!("\"{}\"", md5_hex(&got)),
            etag,
            "round {round}: the record describes the bytes kept"
        );
    }
    assert!(files_under(&oss.root().join(".oss/uploads")).is_empty());
    assert!(files_under(&oss.root().join(".oss/tmp")).is_empty());
    oss.shutdown().await;
}

/// An object whose metadata file is missing is read (the emulator rebuilds
/// the metadata by hashing it) while a PUT replaces it with a Content-Type
/// and x-oss-meta-*: the PUT's metadata survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilding_lost_metadata_never_drops_a_concurrent_puts() {
    let (oss, _dir) = start().await;
    let c = client(&oss);
    let big = Bytes::from(vec![7u8; 8 * 1024 * 1024]);
    for round in 0..6 {
        let key = format!("meta/{round}.bin");
        c.put_bytes(BUCKET, &key, big.clone(), None).await.unwrap();
        let sidecar = oss.root().join(".oss/meta").join(BUCKET).join(&key);
        std::fs::remove_file(&sidecar).unwrap();
        let reader = {
            let (c, key) = (c.clone(), key.clone());
            tokio::spawn(async move {
                for _ in 0..4 {
                    let _ = c.head_object(BUCKET, &key).await;
                }
            })
        };
        let r = signed(
            &c,
            Method::PUT,
            Some(&key),
            &[],
            &[
                ("content-type", "application/x-kept"),
                ("x-oss-meta-owner", "put"),
            ],
            Bytes::from_static(b"small new body"),
        )
        .await;
        assert_eq!(r.status(), 200);
        reader.await.unwrap();
        let r = signed(&c, Method::HEAD, Some(&key), &[], &[], Bytes::new()).await;
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["content-type"], "application/x-kept", "round {round}");
        assert_eq!(h["x-oss-meta-owner"], "put", "round {round}");
        assert_eq!(h["content-length"], "14", "round {round}");
    }
    oss.shutdown().await;
}

/// A signed or acted-on header sent twice is ambiguous (the signature joins
/// the values, the emulator would act on one): refused with 400
/// InvalidArgument, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_signed_headers_are_refused() {
    let (oss, _dir) = start().await;
    let c = client(&oss);
    for headers in [
        vec![("x-oss-meta-a", "1"), ("x-oss-meta-a", "2")],
        vec![
            ("content-type", "text/plain"),
            ("content-type", "text/html"),
        ],
        vec![
            ("x-oss-forbid-overwrite", "false"),
            ("x-oss-forbid-overwrite", "true"),
        ],
    ] {
        let r = signed(
            &c,
            Method::PUT,
            Some("dup.txt"),
            &[],
            &headers,
            Bytes::from_static(b"x"),
        )
        .await;
        assert_eq!(r.status(), 400, "{headers:?}");
        assert_eq!(code(r).await, "InvalidArgument", "{headers:?}");
        assert_eq!(c.head_object(BUCKET, "dup.txt").await.unwrap(), None);
    }
    // A repeated Range on a read is refused too.
    c.put_bytes(BUCKET, "r.txt", Bytes::from_static(b"0123456789"), None)
        .await
        .unwrap();
    let r = signed(
        &c,
        Method::GET,
        Some("r.txt"),
        &[],
        &[("range", "bytes=0-1"), ("range", "bytes=5-9")],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(files_under(&oss.root().join(".oss/tmp")).is_empty());
    oss.shutdown().await;
}

/// A signed PUT whose body stalls is aborted after the body deadline: no
/// object, and its temporary file is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_aborted_and_its_temp_file_removed() {
    let (oss, _dir) = oss_support::start_strict().await;
    let c = client(&oss);
    let url = c
        .presign_url(
            Method::PUT,
            BUCKET,
            "stalled.bin",
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
    let path_and_query = url
        .split_once(&oss.addr().to_string())
        .unwrap()
        .1
        .to_string();
    let mut s = tokio::net::TcpStream::connect(oss.addr()).await.unwrap();
    s.write_all(
        format!(
            "PUT {path_and_query} HTTP/1.1\r\nHost: {}\r\nContent-Length: 1000000\r\n\r\n",
            oss.addr()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.write_all(&[b'x'; 1000]).await.unwrap();
    let tmp = oss.root().join(".oss/tmp");
    assert!(
        eventually(|| !files_under(&tmp).is_empty()).await,
        "the body is being received"
    );
    // Then nothing more: the emulator gives up on the body.
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        s.read_to_end(&mut answer),
    )
    .await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("IncompleteBody"), "{answer}");
    assert!(eventually(|| files_under(&tmp).is_empty()).await);
    assert_eq!(c.head_object(BUCKET, "stalled.bin").await.unwrap(), None);
    oss.shutdown().await;
}

/// A V1 presigned GET URL for `key`, expiring at Unix time `expires`.
fn v1_url(oss: &local_runner::oss::RunningOss, key: &str, expires: u64) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let creds = oss.credentials();
    let to_sign = format!("GET\n\n\n{expires}\n/{BUCKET}/{key}");
    let mut mac =
        hmac::Hmac::<sha1::Sha1>::new_from_slice(creds.access_key_secret.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig: String = form_urlencoded::byte_serialize(sig.as_bytes()).collect();
    format!(
        "{}/{BUCKET}/{key}?OSSAccessKeyId={}&Expires={expires}&Signature={sig}",
        oss.endpoint(),
        creds.access_key_id
    )
}

/// V4 only by default: a V1 presigned URL is refused. With V1 allowed
/// explicitly, a V1 URL works but may not live longer than a V4 one can
/// (7 days): one expiring in 2100 is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_is_refused_by_default_and_its_urls_are_capped_when_allowed() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let http = reqwest::Client::new();
    let (oss, _dir) = start().await;
    client(&oss)
        .put_bytes(BUCKET, "v1.txt", Bytes::from_static(b"v1"), None)
        .await
        .unwrap();
    let r = http
        .get(v1_url(&oss, "v1.txt", now + 3600))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("sign with V4"));
    oss.shutdown().await;

    let (oss, _dir) = oss_support::start_accepting_v1().await;
    client(&oss)
        .put_bytes(BUCKET, "v1.txt", Bytes::from_static(b"v1"), None)
        .await
        .unwrap();
    let r = http
        .get(v1_url(&oss, "v1.txt", now + 3600))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), "v1");
    let year_2100 = 4_102_444_800;
    for expires in [year_2100, now + 8 * 24 * 3600] {
        let r = http
            .get(v1_url(&oss, "v1.txt", expires))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "expires {expires}");
        assert_eq!(code(r).await, "InvalidArgument");
    }
    oss.shutdown().await;
}

/// A V4 header-signed PUT with `x-oss-content-sha256` set to `payload`
/// (signed by hand: the vpf-oss client always signs UNSIGNED-PAYLOAD).
async fn put_with_payload_hash(
    oss: &local_runner::oss::RunningOss,
    key: &str,
    query: &str,
    payload: &str,
    body: &'static [u8],
) -> reqwest::Response {
    use hmac::Mac as _;
    use sha2::Digest as _;
    fn mac(key: &[u8], data: &str) -> Vec<u8> {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        m.update(data.as_bytes());
        m.finalize().into_bytes().to_vec()
    }
    let creds = oss.credentials();
    let now = chrono::Utc::now();
    let (date, datetime) = (
        now.format("%Y%m%d").to_string(),
        now.format("%Y%m%dT%H%M%SZ").to_string(),
    );
    let region = oss.region();
    let canonical = format!(
        "PUT\n/{BUCKET}/{key}\n{query}\ncontent-type:application/octet-stream\nx-oss-content-sha256:{payload}\nx-oss-date:{datetime}\n\n\n{payload}"
    );
    let scope = format!("{date}/{region}/oss/aliyun_v4_request");
    let to_sign = format!(
        "OSS4-HMAC-SHA256\n{datetime}\n{scope}\n{}",
        hex::encode(sha2::Sha256::digest(canonical.as_bytes()))
    );
    let mut k = mac(
        format!("aliyun_v4{}", creds.access_key_secret).as_bytes(),
        &date,
    );
    for part in [region, "oss", "aliyun_v4_request"] {
        k = mac(&k, part);
    }
    let signature = hex::encode(mac(&k, &to_sign));
    let url = if query.is_empty() {
        format!("{}/{BUCKET}/{key}", oss.endpoint())
    } else {
        format!("{}/{BUCKET}/{key}?{query}", oss.endpoint())
    };
    reqwest::Client::new()
        .put(url)
        .header("content-type", "application/octet-stream")
        .header("x-oss-content-sha256", payload)
        .header("x-oss-date", &datetime)
        .header(
            "authorization",
            format!(
                "OSS4-HMAC-SHA256 Credential={}/{scope},Signature={signature}",
                creds.access_key_id
            ),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A V4 request may sign its body's SHA-256 instead of UNSIGNED-PAYLOAD:
/// the emulator takes it and checks the body against it as it arrives; a
/// body that does not match is refused and its temporary file removed, for
/// a PutObject and an UploadPart alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_payload_hash_is_accepted_and_checked() {
    use sha2::Digest as _;
    let (oss, _dir) = start().await;
    let c = client(&oss);
    let body: &'static [u8] = b"signed body bytes";
    let right = hex::encode(sha2::Sha256::digest(body));
    let wrong = hex::encode(sha2::Sha256::digest(b"other bytes"));

    let r = put_with_payload_hash(&oss, "sha/ok.bin", "", &right, body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(get(&c, "sha/ok.bin").await, body);

    let r = put_with_payload_hash(&oss, "sha/bad.bin", "", &wrong, body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "InvalidDigest");
    assert_eq!(c.head_object(BUCKET, "sha/bad.bin").await.unwrap(), None);

    // Upper-case hex or any other value is not a payload hash.
    let r = put_with_payload_hash(&oss, "sha/upper.bin", "", &right.to_uppercase(), body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "InvalidArgument");

    let id = initiate(&c, "sha/parts.bin").await;
    let query = format!("partNumber=1&uploadId={id}");
    let r = put_with_payload_hash(&oss, "sha/parts.bin", &query, &wrong, body).await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "InvalidDigest");
    let r = signed(
        &c,
        Method::GET,
        Some("sha/parts.bin"),
        &[("uploadId", &id)],
        &[],
        Bytes::new(),
    )
    .await;
    assert!(
        !r.text().await.unwrap().contains("<Part>"),
        "no part recorded"
    );
    let r = put_with_payload_hash(&oss, "sha/parts.bin", &query, &right, body).await;
    assert_eq!(r.status(), 200);

    assert!(files_under(&oss.root().join(".oss/tmp")).is_empty());
    oss.shutdown().await;
}
