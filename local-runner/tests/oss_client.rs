//! The vpf-oss client against the OSS emulator, over real HTTP on loopback:
//! two independent implementations of OSS V4 signing (reqsign in the client,
//! our own in the emulator) that must agree.

mod oss_support;

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use oss_support::{
    BUCKET, client, client_with, cut_downloads, fail_next, fail_next_parts, files_under,
    multipart_client, random_file, same_file, signed, signed_to, start, start_with_client,
};
use vpf_core::ErrorKind;
use vpf_core::credentials::Credentials;
use vpf_oss::{OssClient, OssConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_head_get_list_delete_and_their_events() {
    let (oss, dir, c) = start_with_client().await;
    let mut events = oss.subscribe();

    let put = c
        .put_bytes(BUCKET, "in/a.mp4", Bytes::from_static(b"hello video"), None)
        .await
        .unwrap();
    use md5::Digest;
    assert_eq!(
        put.etag,
        hex::encode_upper(md5::Md5::digest(b"hello video"))
    );
    let head = c
        .head_object(BUCKET, "in/a.mp4")
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(head.size, 11);
    assert_eq!(head.etag, put.etag);
    assert_eq!(head.etag.len(), 32, "MD5 hex: {}", head.etag);
    assert_eq!(head.content_type.as_deref(), Some("video/mp4"));
    assert!(head.last_modified.is_some());
    assert_eq!(c.head_object(BUCKET, "in/missing.mp4").await.unwrap(), None);

    let out = dir.path().join("dl/a.mp4");
    assert_eq!(c.get_to_file(BUCKET, "in/a.mp4", &out).await.unwrap(), 11);
    assert_eq!(std::fs::read(&out).unwrap(), b"hello video");
    let e = c
        .get_to_file(BUCKET, "in/missing.mp4", &dir.path().join("dl/m"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    assert!(
        e.message.contains("NoSuchKey") && e.message.contains("RequestId"),
        "{e}"
    );
    assert!(!dir.path().join("dl/m").exists());
    assert_eq!(
        files_under(&dir.path().join("dl")).len(),
        1,
        "no temporary file left"
    );

    c.put_bytes(BUCKET, "in/b.txt", Bytes::from_static(b"b"), None)
        .await
        .unwrap();
    c.put_bytes(BUCKET, "other/c.txt", Bytes::from_static(b"c"), None)
        .await
        .unwrap();
    let listed = c.list_objects(BUCKET, "in/").await.unwrap();
    let keys: Vec<_> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["in/a.mp4", "in/b.txt"]);
    assert_eq!(listed[0].etag, put.etag);
    assert_eq!(listed[0].size, 11);

    c.delete_object(BUCKET, "in/a.mp4").await.unwrap();
    c.delete_object(BUCKET, "in/a.mp4").await.unwrap(); // missing is fine
    assert_eq!(c.head_object(BUCKET, "in/a.mp4").await.unwrap(), None);

    // One record per change, in order, shaped like an OSS event.
    let mut got = Vec::new();
    while let Ok(r) = events.try_recv() {
        got.push(r);
    }
    let names: Vec<_> = got
        .iter()
        .map(|r| (r.event_name.as_str(), r.oss.object.key.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("ObjectCreated:PutObject", "in/a.mp4"),
            ("ObjectCreated:PutObject", "in/b.txt"),
            ("ObjectCreated:PutObject", "other/c.txt"),
            ("ObjectRemoved:DeleteObject", "in/a.mp4"),
        ]
    );
    let first = &got[0];
    assert_eq!(first.oss.object.e_tag, put.etag, "eTag without quotes");
    assert_eq!(first.oss.object.size, 11);
    assert_eq!(first.oss.object.delta_size, 11);
    assert_eq!(first.event_source, "acs:oss");
    assert_eq!(first.region, "cn-hangzhou");
    assert_eq!(first.oss.bucket.name, BUCKET);
    assert_eq!(
        first.oss.bucket.arn,
        format!("acs:oss:cn-hangzhou:{}:{BUCKET}", oss.account_id())
    );
    assert!(first.event_time.ends_with('Z') && first.event_time.contains('T'));
    // It serialises to the wire shape FC delivers.
    let wire = serde_json::to_value(first).unwrap();
    assert_eq!(wire["oss"]["object"]["eTag"], put.etag.as_str());
    assert_eq!(wire["eventName"], "ObjectCreated:PutObject");
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awkward_keys_round_trip_to_their_exact_path() {
    let (oss, dir, c) = start_with_client().await;
    let keys = [
        "in/with space.mp4",
        "in/ünïcødé/文件 名.mov",
        "in/plus+plus.mp4",
        "in/100%/per%20cent.mp4",
        "in/q?a=b&c#d.mp4",
        "in/tilde~_-.mp4",
        "in/emoji 🎬.mp4",
    ];
    for (i, key) in keys.iter().enumerate() {
        let body = Bytes::from(format!("body {i}"));
        c.put_bytes(BUCKET, key, body.clone(), None).await.unwrap();
        // Stored under exactly that name: nothing decoded twice or lost.
        let on_disk = oss.root().join(BUCKET).join(key);
        assert_eq!(std::fs::read(&on_disk).unwrap(), body, "{key}");
        let out = dir.path().join(format!("dl{i}"));
        c.get_to_file(BUCKET, key, &out).await.unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), body, "{key}");
        assert!(c.head_object(BUCKET, key).await.unwrap().is_some(), "{key}");
    }
    let listed: Vec<String> = c
        .list_objects(BUCKET, "in/")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected);
    // Prefixes with the same characters select exactly.
    let plus = c.list_objects(BUCKET, "in/plus+").await.unwrap();
    assert_eq!(plus.len(), 1);
    let pct = c.list_objects(BUCKET, "in/100%/").await.unwrap();
    assert_eq!(pct[0].key, "in/100%/per%20cent.mp4");
    for key in keys {
        c.delete_object(BUCKET, key).await.unwrap();
    }
    assert!(c.list_objects(BUCKET, "in/").await.unwrap().is_empty());
    // The client refuses keys that would name another object or a path outside.
    for bad in ["../etc/passwd", "in/../../x", "/abs", "in/./x", "nul\0"] {
        let e = c
            .put_bytes(BUCKET, bad, Bytes::from_static(b"x"), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{bad:?}");
    }
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_then_download_that_resumes_after_a_cut() {
    let (oss, dir) = start().await;
    let mut events = oss.subscribe();
    let c = multipart_client(&oss, 1024 * 1024, 256 * 1024, 3, Duration::from_millis(10));

    let src = dir.path().join("src.bin");
    let size = 3 * 1024 * 1024 + 12_345;
    random_file(&src, size, 7);
    let put = c.put_file(BUCKET, "in/big.bin", &src, None).await.unwrap();
    assert_eq!(put.size, size);
    assert!(put.etag.ends_with("-13"), "multipart ETag: {}", put.etag);
    let head = c.head_object(BUCKET, "in/big.bin").await.unwrap().unwrap();
    assert_eq!((head.size, head.etag.as_str()), (size, put.etag.as_str()));
    assert!(same_file(&src, &oss.root().join(BUCKET).join("in/big.bin")));
    let ev = events.try_recv().unwrap();
    assert_eq!(ev.event_name, "ObjectCreated:CompleteMultipartUpload");
    assert_eq!(ev.oss.object.e_tag, put.etag);
    assert!(
        files_under(&oss.root().join(".oss/uploads")).is_empty(),
        "parts are gone"
    );
    assert!(files_under(&oss.root().join(".oss/tmp")).is_empty());

    // The connection drops twice mid-body; the client resumes with Range.
    oss.set_fault(cut_downloads(2, 700_000));
    let out = dir.path().join("out/big.bin");
    assert_eq!(
        c.get_to_file(BUCKET, "in/big.bin", &out).await.unwrap(),
        size
    );
    assert_eq!(oss.faults_injected(), 2);
    assert!(same_file(&src, &out));
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_multipart_upload_is_aborted() {
    let (oss, dir) = start().await;
    let c = multipart_client(&oss, 300 * 1024, 128 * 1024, 1, Duration::from_millis(5));
    let src = dir.path().join("m.bin");
    random_file(&src, 600 * 1024, 9);
    // Part 1 fails on every attempt; part 2 would succeed.
    oss.set_fault(fail_next_parts(4));
    let e = c
        .put_file(BUCKET, "in/m.bin", &src, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::StorageError);
    assert!(
        e.message.contains("UploadPart") && e.message.contains("ServiceUnavailable"),
        "{e}"
    );
    assert_eq!(oss.faults_injected(), 4);
    assert!(
        files_under(&oss.root().join(".oss/uploads")).is_empty(),
        "the upload was aborted"
    );
    assert_eq!(c.head_object(BUCKET, "in/m.bin").await.unwrap(), None);
    // With fewer failures than attempts, the same upload succeeds.
    oss.set_fault(fail_next_parts(3));
    let put = c.put_file(BUCKET, "in/m.bin", &src, None).await.unwrap();
    assert!(put.etag.ends_with("-5"), "{}", put.etag);
    assert!(same_file(&src, &oss.root().join(BUCKET).join("in/m.bin")));
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranged_get() {
    let (oss, _dir, c) = start_with_client().await;
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    c.put_bytes(BUCKET, "in/r.bin", Bytes::from(body.clone()), None)
        .await
        .unwrap();
    assert_eq!(
        c.get_range(BUCKET, "in/r.bin", 10..20).await.unwrap(),
        &body[10..20]
    );
    assert_eq!(
        c.get_range(BUCKET, "in/r.bin", 9_990..20_000)
            .await
            .unwrap(),
        &body[9_990..]
    );
    let e = c
        .get_range(BUCKET, "in/r.bin", 20_000..20_010)
        .await
        .unwrap_err();
    assert!(
        e.message.contains("416") && e.message.contains("InvalidRange"),
        "{e}"
    );
    assert!(c.get_range(BUCKET, "in/r.bin", 5..5).await.is_err());
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_and_unknown_key_get_403() {
    let (oss, _dir) = start().await;
    let good = oss.credentials();
    let c = client_with(
        &oss,
        Credentials::new(good.access_key_id.clone(), "not-the-secret"),
    );
    let e = c
        .put_bytes(BUCKET, "in/x", Bytes::from_static(b"x"), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::StorageError);
    assert!(e.message.contains("HTTP 403 SignatureDoesNotMatch"), "{e}");
    assert!(!e.message.contains("not-the-secret") && !e.message.contains(&good.access_key_secret));
    let c = client_with(
        &oss,
        Credentials::new("LTAInobody", good.access_key_secret.clone()),
    );
    let e = c.head_object(BUCKET, "in/x").await.unwrap_err();
    assert!(
        e.message.contains("403") && e.message.contains("InvalidAccessKeyId"),
        "{e}"
    );
    assert!(
        files_under(&oss.root().join(BUCKET)).is_empty(),
        "nothing was stored"
    );
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_credentials_work_until_they_expire() {
    let (oss, _dir) = start().await;
    let temp = oss.issue_temporary(Duration::from_secs(600));
    let c = client_with(&oss, temp.clone());
    c.put_bytes(BUCKET, "in/t.txt", Bytes::from_static(b"t"), None)
        .await
        .unwrap();
    assert!(c.head_object(BUCKET, "in/t.txt").await.unwrap().is_some());

    // The token is part of the credential: without it, or another one, refused.
    let no_token = client_with(
        &oss,
        Credentials::new(temp.access_key_id.clone(), temp.access_key_secret.clone()),
    );
    let e = no_token.head_object(BUCKET, "in/t.txt").await.unwrap_err();
    assert!(e.message.contains("InvalidSecurityToken"), "{e}");
    let other = client_with(&oss, temp.clone().with_token("forged"));
    assert!(other.head_object(BUCKET, "in/t.txt").await.is_err());

    oss.advance_clock(Duration::from_secs(601));
    let e = c.head_object(BUCKET, "in/t.txt").await.unwrap_err();
    assert!(
        e.message.contains("403") && e.message.contains("SecurityTokenExpired"),
        "{e}"
    );
    let expired_at_birth = client_with(&oss, oss.issue_temporary(Duration::ZERO));
    assert!(
        expired_at_birth
            .head_object(BUCKET, "in/t.txt")
            .await
            .is_err()
    );
    // The long-term key is unaffected.
    assert!(
        client(&oss)
            .head_object(BUCKET, "in/t.txt")
            .await
            .unwrap()
            .is_some()
    );
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_503_are_retried_with_backoff() {
    let (oss, dir, c) = start_with_client().await;
    oss.set_fault(fail_next(3));
    c.put_bytes(BUCKET, "in/r.txt", Bytes::from_static(b"retried"), None)
        .await
        .unwrap();
    assert_eq!(
        oss.faults_injected(),
        3,
        "three 503s, then success on the 4th attempt"
    );
    let src = dir.path().join("f.bin");
    random_file(&src, 300_000, 3);
    oss.set_fault(fail_next(2));
    c.put_file(BUCKET, "in/f.bin", &src, None).await.unwrap();
    assert!(same_file(&src, &oss.root().join(BUCKET).join("in/f.bin")));

    oss.set_fault(fail_next(10));
    let e = c.head_object(BUCKET, "in/r.txt").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::StorageError);
    assert!(
        e.message.contains("after 4 attempts") && e.message.contains("ServiceUnavailable"),
        "{e}"
    );
    assert_eq!(oss.faults_injected(), 3 + 2 + 4);
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_urls_and_virtual_host_style() {
    let (oss, _dir, c) = start_with_client().await;
    c.put_bytes(BUCKET, "in/p q.txt", Bytes::from_static(b"presigned"), None)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let url = c
        .presign_url(Method::GET, BUCKET, "in/p q.txt", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(url.contains("x-oss-signature="), "{url}");
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), "presigned");
    let tampered = url.replace("x-oss-expires=60", "x-oss-expires=61");
    assert_eq!(http.get(&tampered).send().await.unwrap().status(), 403);
    let other_key = url.replace("p%20q.txt", "p%20r.txt");
    assert_eq!(http.get(&other_key).send().await.unwrap().status(), 403);

    // Virtual host style: sign for bucket.localhost, send to the loopback
    // address with that Host header (no DNS needed).
    let mut cfg = OssConfig::new(
        format!("http://localhost:{}", oss.addr().port()),
        oss.region(),
        oss.credentials(),
    );
    cfg.path_style = Some(false);
    let vc = OssClient::new(cfg).unwrap();
    let mut req = vc
        .signed_request(
            Method::GET,
            BUCKET,
            Some("in/p q.txt"),
            &[],
            HeaderMap::new(),
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        req.url().host_str(),
        Some(format!("{BUCKET}.localhost").as_str())
    );
    let host = format!("{BUCKET}.localhost:{}", oss.addr().port());
    req.url_mut().set_host(Some("127.0.0.1")).unwrap();
    req.headers_mut()
        .insert("host", HeaderValue::from_str(&host).unwrap());
    let r = vc.http().execute(req).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), "presigned");

    // Presigned URLs expire.
    oss.advance_clock(Duration::from_secs(61));
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Request has expired"));
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_tampered_and_escaping_requests_are_refused() {
    let (oss, dir, c) = start_with_client().await;
    c.put_bytes(BUCKET, "in/k.txt", Bytes::from_static(b"k"), None)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/{BUCKET}/in/k.txt", oss.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers().contains_key("x-oss-request-id"));
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );

    // A signed request whose signed header changes on the way is refused.
    let mut h = HeaderMap::new();
    h.insert("x-oss-meta-owner", HeaderValue::from_static("alice"));
    h.insert("content-type", HeaderValue::from_static("text/plain"));
    let signed = c
        .signed_request(
            Method::PUT,
            BUCKET,
            Some("in/t.txt"),
            &[],
            h,
            Bytes::from_static(b"data"),
        )
        .await
        .unwrap();
    let mut tampered = signed.try_clone().unwrap();
    tampered
        .headers_mut()
        .insert("x-oss-meta-owner", HeaderValue::from_static("mallory"));
    let r = c.http().execute(tampered).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));
    assert_eq!(
        c.http().execute(signed).await.unwrap().status(),
        200,
        "the untampered one passes"
    );
    let head = c.head_object(BUCKET, "in/t.txt").await.unwrap().unwrap();
    assert_eq!(head.content_type.as_deref(), Some("text/plain"));

    // Keys that would leave the bucket folder, sent raw (HTTP clients
    // normalise `..` away): refused before anything touches the disk.
    for path in [
        format!("/{BUCKET}/in/%2E%2E/%2E%2E/%2E%2E/escaped.txt"),
        format!("/{BUCKET}/../escaped.txt"),
        format!("/{BUCKET}/in/nul%00.txt"),
        format!("/{BUCKET}//abs.txt"),
    ] {
        let text = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
        );
        let addr = oss.addr();
        let answer = tokio::task::spawn_blocking(move || raw_request(addr, &text))
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{path}: {answer}");
        assert!(answer.contains("InvalidArgument"), "{path}: {answer}");
    }
    assert!(
        !dir.path().join("escaped.txt").exists() && !dir.path().join("oss/escaped.txt").exists()
    );
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_off_midway_leaves_nothing_visible() {
    let (oss, _dir, c) = start_with_client().await;
    c.put_bytes(BUCKET, "in/v.bin", Bytes::from_static(b"old version"), None)
        .await
        .unwrap();
    let mut h = HeaderMap::new();
    h.insert("content-length", HeaderValue::from_static("1000000"));
    let req = c
        .signed_request(Method::PUT, BUCKET, Some("in/v.bin"), &[], h, Bytes::new())
        .await
        .unwrap();
    // Send the signed head and a tenth of the body, then hang up.
    let mut head = format!("PUT {} HTTP/1.1\r\n", req.url().path());
    for (k, v) in req.headers() {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str(&format!("host: {}\r\n", oss.addr()));
    let addr = oss.addr();
    let cut = head.clone() + "\r\n";
    let open = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(cut.as_bytes()).unwrap();
        s.write_all(&vec![b'z'; 100_000]).unwrap();
        s
    })
    .await
    .unwrap();
    // Hang up only once the emulator is writing the body to its temporary
    // file: looking for the file's removal before it was made proves nothing
    // (and on a busy machine the check could run before the file appeared).
    let tmp = oss.root().join(".oss/tmp");
    for _ in 0..400 {
        if !files_under(&tmp).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!files_under(&tmp).is_empty(), "the body is being received");
    drop(open);
    // The emulator notices the broken body and removes its temporary file.
    for _ in 0..200 {
        if files_under(&tmp).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(files_under(&tmp).is_empty(), "temporary file removed");
    assert_eq!(
        std::fs::read(oss.root().join(BUCKET).join("in/v.bin")).unwrap(),
        b"old version"
    );
    let meta = c.head_object(BUCKET, "in/v.bin").await.unwrap().unwrap();
    assert_eq!(meta.size, 11);

    // The same signed head with the whole body is accepted: the refusal
    // above was the cut, not the request.
    let full = head + "connection: close\r\n\r\n";
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(full.as_bytes()).unwrap();
        s.write_all(&vec![b'z'; 1_000_000]).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        c.head_object(BUCKET, "in/v.bin")
            .await
            .unwrap()
            .unwrap()
            .size,
        1_000_000
    );
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_delete_multiple_and_bounded_xml_bodies() {
    let (oss, _dir, c) = start_with_client().await;
    let mut events = oss.subscribe();
    c.put_bytes(
        BUCKET,
        "in/src file+.txt",
        Bytes::from_static(b"copy me"),
        Some("text/plain"),
    )
    .await
    .unwrap();
    let source = format!("/{BUCKET}/in/src%20file%2B.txt");
    let r = signed_to(
        &c,
        Method::PUT,
        "media-out",
        Some("copied.txt"),
        &[],
        &[("x-oss-copy-source", &source)],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<CopyObjectResult>"));
    let head = c
        .head_object("media-out", "copied.txt")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.content_type.as_deref(), Some("text/plain"));
    let names: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.event_name)
        .collect();
    assert_eq!(
        names,
        ["ObjectCreated:PutObject", "ObjectCreated:CopyObject"]
    );

    let body = "<Delete><Quiet>false</Quiet><Object><Key>in/src file+.txt</Key></Object><Object><Key>in/none</Key></Object></Delete>".to_string();
    let r = delete_multiple(&c, body).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("<Deleted><Key>in/src file+.txt</Key></Deleted>"),
        "{text}"
    );
    assert_eq!(
        c.head_object(BUCKET, "in/src file+.txt").await.unwrap(),
        None
    );
    let removed: Vec<String> = std::iter::from_fn(|| events.try_recv().ok())
        .map(|e| e.event_name)
        .collect();
    assert_eq!(
        removed,
        ["ObjectRemoved:DeleteObjects"],
        "only the key that existed"
    );

    // XML bodies are read whole, so they are bounded; object bodies are not.
    let huge = format!(
        "<Delete>{}</Delete>",
        "<Object><Key>k</Key></Object>".repeat(80_000)
    );
    let r = delete_multiple(&c, huge).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("EntityTooLarge"));

    // Subresources the emulator does not implement are refused, not ignored
    // (a PUT ?acl must not overwrite the object).
    let r = signed(
        &c,
        Method::PUT,
        Some("in/a"),
        &[("acl", "")],
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(r.status(), 501);
    assert_eq!(c.head_object(BUCKET, "in/a").await.unwrap(), None);
    oss.shutdown().await;
}

/// DeleteMultipleObjects on the test bucket with this body.
async fn delete_multiple(c: &OssClient, body: String) -> reqwest::Response {
    signed(
        c,
        Method::POST,
        None,
        &[("delete", "")],
        &[],
        Bytes::from(body),
    )
    .await
}

fn raw_request(addr: std::net::SocketAddr, text: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(text.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
