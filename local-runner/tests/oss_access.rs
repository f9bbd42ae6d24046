//! Bucket ACL and CORS in the OSS emulator, over real HTTP: the owner sets
//! them with signed PutBucketAcl/PutBucketCors (signed by the vpf-oss
//! client), and a browser's unsigned requests and preflights are answered as
//! OSS answers them, so that a page can play HLS straight from a bucket.

mod oss_support;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use local_runner::oss::{EmulatorConfig, OssEmulator};
use oss_support::{BUCKET, client, signed};
use vpf_oss::OssClient;

const PLAYER: &str = "https://player.example.com";

/// One CORS rule for a player (GET and HEAD, Range allowed), one for
/// uploaders from any `*.upload.example.com` page.
const CORS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration>\
    <CORSRule><AllowedOrigin>https://player.example.com</AllowedOrigin>\
    <AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>\
    <AllowedHeader>Range</AllowedHeader>\
    <ExposeHeader>ETag</ExposeHeader><ExposeHeader>Content-Length</ExposeHeader>\
    <MaxAgeSeconds>300</MaxAgeSeconds></CORSRule>\
    <CORSRule><AllowedOrigin>https://*.upload.example.com</AllowedOrigin>\
    <AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-oss-*</AllowedHeader>\
    <AllowedHeader>content-type</AllowedHeader></CORSRule>\
    </CORSConfiguration>";

/// A signed bucket-level (`key` None) or object request from the owner.
async fn owner(
    c: &OssClient,
    method: Method,
    key: Option<&str>,
    query: &[(&str, &str)],
    headers: &[(&'static str, &str)],
    body: &str,
) -> reqwest::Response {
    signed(
        c,
        method,
        key,
        query,
        headers,
        Bytes::from(body.to_string()),
    )
    .await
}

async fn set_acl(c: &OssClient, acl: &str) {
    let r = owner(
        c,
        Method::PUT,
        None,
        &[("acl", "")],
        &[("x-oss-acl", acl)],
        "",
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The OSS error code in an answer's XML.
async fn code(r: reqwest::Response) -> String {
    let text = r.text().await.unwrap();
    text.split("<Code>")
        .nth(1)
        .and_then(|t| t.split("</Code>").next())
        .unwrap_or(&text)
        .to_string()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_acl_decides_what_unsigned_requests_may_do() {
    let (oss, _dir) = oss_support::start().await;
    let c = client(&oss);
    let anon = reqwest::Client::new();
    let url = |key: &str| format!("{}/{BUCKET}/{key}", oss.endpoint());
    c.put_bytes(BUCKET, "out/a.m3u8", Bytes::from_static(b"#EXTM3U\n"), None)
        .await
        .unwrap();

    // Private by default: nothing unsigned gets in, as before.
    let r = owner(&c, Method::GET, None, &[("acl", "")], &[], "").await;
    assert_eq!(r.status(), 200);
    let doc = r.text().await.unwrap();
    assert!(
        doc.contains("<AccessControlList><Grant>private</Grant></AccessControlList>"),
        "{doc}"
    );
    assert!(
        doc.contains(&format!(
            "<Owner><ID>{0}</ID><DisplayName>{0}</DisplayName></Owner>",
            oss.account_id()
        )),
        "{doc}"
    );
    let r = anon.get(url("out/a.m3u8")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(r).await, "AccessDenied");

    // Only the three canned ACLs exist.
    let r = owner(
        &c,
        Method::PUT,
        None,
        &[("acl", "")],
        &[("x-oss-acl", "public")],
        "",
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "InvalidArgument");
    // Without x-oss-acl nothing changes.
    let r = owner(&c, Method::PUT, None, &[("acl", "")], &[], "").await;
    assert_eq!(r.status(), 200);

    // public-read: anonymous reads and listing, nothing else.
    set_acl(&c, "public-read").await;
    let r = owner(&c, Method::GET, None, &[("acl", "")], &[], "").await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Grant>public-read</Grant>")
    );
    let r = anon.get(url("out/a.m3u8")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap(), "#EXTM3U\n");
    let r = anon
        .get(url("out/a.m3u8"))
        .header("range", "bytes=0-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        anon.head(url("out/a.m3u8")).send().await.unwrap().status(),
        200
    );
    let r = anon.get(url("out/missing.ts")).send().await.unwrap();
    assert_eq!(r.status(), 404, "a public bucket says what is missing");
    let r = anon
        .get(format!("{}/{BUCKET}/?prefix=out/", oss.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("<Key>out/a.m3u8</Key>"));
    let r = anon.put(url("out/b.ts")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(r).await, "AccessDenied");
    let r = anon.delete(url("out/a.m3u8")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(c.head_object(BUCKET, "out/a.m3u8").await.unwrap().is_some());
    assert!(c.head_object(BUCKET, "out/b.ts").await.unwrap().is_none());
    // Bucket settings stay the owner's.
    let r = anon
        .put(format!("{}/{BUCKET}/?acl", oss.endpoint()))
        .header("x-oss-acl", "public-read-write")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = anon
        .get(format!("{}/{BUCKET}/?acl", oss.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = anon
        .get(format!("{}/", oss.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "ListBuckets stays signed");
    // The other bucket is still private.
    let r = anon
        .get(format!("{}/media-out/?prefix=", oss.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // A request that carries a signature is checked, public bucket or not.
    let mut signed = c
        .signed_request(
            Method::GET,
            BUCKET,
            Some("out/a.m3u8"),
            &[],
            HeaderMap::new(),
            Bytes::new(),
        )
        .await
        .unwrap();
    let auth = signed.headers()["authorization"]
        .to_str()
        .unwrap()
        .to_string();
    let last = auth.chars().last().unwrap();
    let tampered = format!(
        "{}{}",
        &auth[..auth.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    signed
        .headers_mut()
        .insert("authorization", HeaderValue::from_str(&tampered).unwrap());
    let r = c.http().execute(signed).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(r).await, "SignatureDoesNotMatch");
    let r = anon
        .get(url("out/a.m3u8"))
        .query(&[
            ("OSSAccessKeyId", "LTAInobody"),
            ("Expires", "9999999999"),
            ("Signature", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // public-read-write: anonymous writes too (PUT, copy, delete), and they
    // are events like any other.
    let mut events = oss.subscribe();
    set_acl(&c, "public-read-write").await;
    let r = anon
        .put(url("out/b.ts"))
        .body("segment")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        events.recv().await.unwrap().event_name,
        "ObjectCreated:PutObject"
    );
    let r = anon
        .put(url("out/c.ts"))
        .header("x-oss-copy-source", format!("/{BUCKET}/out/b.ts"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = anon
        .put(url("out/d.ts"))
        .header("x-oss-copy-source", "/media-out/anything.ts")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        403,
        "copying from a private bucket needs a signature"
    );
    let r = anon.delete(url("out/b.ts")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert!(c.head_object(BUCKET, "out/b.ts").await.unwrap().is_none());
    assert!(c.head_object(BUCKET, "out/c.ts").await.unwrap().is_some());
    let r = anon
        .put(format!("{}/{BUCKET}/?cors", oss.endpoint()))
        .body(CORS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "bucket settings stay the owner's");

    // Back to private.
    set_acl(&c, "private").await;
    let r = anon.get(url("out/a.m3u8")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(r).await, "AccessDenied");
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_rules_answer_matching_origins_and_preflights() {
    let (oss, _dir) = oss_support::start().await;
    let c = client(&oss);
    let anon = reqwest::Client::new();
    let url = |key: &str| format!("{}/{BUCKET}/{key}", oss.endpoint());
    let preflight =
        |key: &str, origin: Option<&str>, method: Option<&str>, headers: Option<&str>| {
            let mut r = anon.request(Method::OPTIONS, url(key));
            if let Some(o) = origin {
                r = r.header("origin", o);
            }
            if let Some(m) = method {
                r = r.header("access-control-request-method", m);
            }
            if let Some(h) = headers {
                r = r.header("access-control-request-headers", h);
            }
            r.send()
        };
    c.put_bytes(BUCKET, "out/seg.ts", Bytes::from_static(b"segment"), None)
        .await
        .unwrap();

    // No configuration yet.
    let r = owner(&c, Method::GET, None, &[("cors", "")], &[], "").await;
    assert_eq!(r.status(), 404);
    assert_eq!(code(r).await, "NoSuchCORSConfiguration");
    let r = preflight("out/seg.ts", Some(PLAYER), Some("GET"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code(r).await, "AccessForbidden");

    let r = owner(&c, Method::PUT, None, &[("cors", "")], &[], CORS).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = owner(&c, Method::GET, None, &[("cors", "")], &[], "").await;
    assert_eq!(r.status(), 200);
    let doc = r.text().await.unwrap();
    assert!(
        doc.contains("<AllowedOrigin>https://*.upload.example.com</AllowedOrigin>")
            && doc.contains("<MaxAgeSeconds>300</MaxAgeSeconds>")
            && doc.contains("<ResponseVary>false</ResponseVary>"),
        "{doc}"
    );

    // Preflights need no signature, even on a private bucket.
    let r = preflight("out/seg.ts", Some(PLAYER), Some("GET"), Some("Range"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(PLAYER)
    );
    assert_eq!(
        header(&r, "access-control-allow-methods").as_deref(),
        Some("GET, HEAD")
    );
    assert_eq!(
        header(&r, "access-control-allow-headers").as_deref(),
        Some("Range")
    );
    assert_eq!(
        header(&r, "access-control-expose-headers").as_deref(),
        Some("ETag, Content-Length")
    );
    assert_eq!(header(&r, "access-control-max-age").as_deref(), Some("300"));
    assert_eq!(header(&r, "vary"), None, "ResponseVary is off");
    let r = preflight(
        "up/new.mp4",
        Some("https://a.upload.example.com"),
        Some("PUT"),
        Some("x-oss-meta-title, Content-Type"),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://a.upload.example.com")
    );
    // Bucket-level preflight (a page listing the bucket).
    let r = preflight("", Some(PLAYER), Some("GET"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (origin, method, headers) in [
        ("https://evil.example.com", "GET", None),
        (PLAYER, "PUT", None),
        (PLAYER, "GET", Some("range, authorization")),
        ("https://upload.example.com", "PUT", None),
    ] {
        let r = preflight("out/seg.ts", Some(origin), Some(method), headers)
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{origin} {method} {headers:?}");
        assert_eq!(header(&r, "access-control-allow-origin"), None);
        assert_eq!(code(r).await, "AccessForbidden");
    }
    let r = preflight("out/seg.ts", None, Some("GET"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "BadRequest");
    let r = preflight("out/seg.ts", Some(PLAYER), None, None)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Actual requests: CORS headers only for a matching origin and method,
    // on errors too.
    set_acl(&c, "public-read").await;
    let r = anon
        .get(url("out/seg.ts"))
        .header("origin", PLAYER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(PLAYER)
    );
    assert_eq!(
        header(&r, "access-control-allow-methods").as_deref(),
        Some("GET, HEAD")
    );
    assert_eq!(
        header(&r, "access-control-expose-headers").as_deref(),
        Some("ETag, Content-Length")
    );
    let r = anon
        .get(url("out/missing.ts"))
        .header("origin", PLAYER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(PLAYER)
    );
    for origin in [Some("https://evil.example.com"), None] {
        let mut req = anon.get(url("out/seg.ts"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            None,
            "{origin:?}"
        );
        assert_eq!(header(&r, "access-control-allow-methods"), None);
    }
    // The method must match too: the player's rule has no DELETE.
    let r = owner(
        &c,
        Method::DELETE,
        Some("out/none.ts"),
        &[],
        &[("origin", PLAYER)],
        "",
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    let r = owner(
        &c,
        Method::PUT,
        Some("up/new.mp4"),
        &[],
        &[("origin", "https://b.upload.example.com")],
        "video",
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("https://b.upload.example.com")
    );

    // A bad configuration is refused and the old one stays.
    let rule =
        "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>";
    let eleven = format!("<CORSConfiguration>{}</CORSConfiguration>", rule.repeat(11));
    let r = owner(&c, Method::PUT, None, &[("cors", "")], &[], &eleven).await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "InvalidArgument");
    let r = owner(
        &c,
        Method::PUT,
        None,
        &[("cors", "")],
        &[],
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>",
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = owner(
        &c,
        Method::PUT,
        None,
        &[("cors", "")],
        &[],
        "<CORSConfiguration>",
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(code(r).await, "MalformedXML");
    let big = format!(
        "<CORSConfiguration>{}</CORSConfiguration>",
        " ".repeat(20_000)
    );
    let r = owner(&c, Method::PUT, None, &[("cors", "")], &[], &big).await;
    assert_eq!(r.status(), 400, "the body is capped");
    let r = preflight("out/seg.ts", Some(PLAYER), Some("HEAD"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the old configuration stands");

    // `*` answers `*`; ResponseVary puts Vary: Origin on every answer.
    let any =
        format!("<CORSConfiguration>{rule}<ResponseVary>true</ResponseVary></CORSConfiguration>");
    let r = owner(&c, Method::PUT, None, &[("cors", "")], &[], &any).await;
    assert_eq!(r.status(), 200);
    let r = anon
        .get(url("out/seg.ts"))
        .header("origin", "http://localhost:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
    let r = anon.get(url("out/seg.ts")).send().await.unwrap();
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));
    let r = preflight("out/seg.ts", Some(PLAYER), Some("PUT"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(header(&r, "vary").as_deref(), Some("Origin"));

    // DeleteBucketCors: back to no CORS at all.
    let r = owner(&c, Method::DELETE, None, &[("cors", "")], &[], "").await;
    assert_eq!(r.status(), 204);
    let r = owner(&c, Method::GET, None, &[("cors", "")], &[], "").await;
    assert_eq!(r.status(), 404);
    let r = anon
        .get(url("out/seg.ts"))
        .header("origin", PLAYER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(header(&r, "vary"), None);

    // Object-level ?acl (PutObjectAcl) is still not served.
    let r = owner(&c, Method::GET, Some("out/seg.ts"), &[("acl", "")], &[], "").await;
    assert_eq!(r.status(), 501);
    oss.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_and_cors_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::new(dir.path().join("oss"));
    cfg.buckets = vec![BUCKET.to_string()];
    let oss = OssEmulator::start(cfg.clone()).await.unwrap();
    let c = client(&oss);
    c.put_bytes(BUCKET, "out/seg.ts", Bytes::from_static(b"segment"), None)
        .await
        .unwrap();
    set_acl(&c, "public-read").await;
    let r = owner(&c, Method::PUT, None, &[("cors", "")], &[], CORS).await;
    assert_eq!(r.status(), 200);
    oss.shutdown().await;

    let oss = OssEmulator::start(cfg).await.unwrap();
    let c = client(&oss);
    let r = reqwest::Client::new()
        .get(format!("{}/{BUCKET}/out/seg.ts", oss.endpoint()))
        .header("origin", PLAYER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "still public-read");
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(PLAYER)
    );
    let r = owner(&c, Method::GET, None, &[("acl", "")], &[], "").await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Grant>public-read</Grant>")
    );
    let r = owner(&c, Method::GET, None, &[("cors", "")], &[], "").await;
    assert_eq!(r.status(), 200);
    oss.shutdown().await;
}
