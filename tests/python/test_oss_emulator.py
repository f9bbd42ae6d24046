"""The OSS emulator, driven by the official Python client oss2.

oss2 is an independent implementation of OSS signing (V4 and V1), of its
XML, and of its CRC-64 checks (enable_crc is on by default, so every upload
and download here also checks the emulator's x-oss-hash-crc64ecma). The POST
form upload is signed by hand below, following the OSS documentation.

The emulator under test is the `emulator` fixture of conftest.py: the one
named by OSS_EMULATOR_JSON (local-runner/tests/oss_python.rs starts one
in-process and sets it) or, without it, one started with
`cargo run -p local-runner --example oss-serve -- --json --stdin-lifeline`.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import types
import uuid
from unittest import mock

import oss2
import pytest
import requests


def make_bucket(emu, auth):
    return oss2.Bucket(auth, emu["endpoint"], emu["buckets"][0], region=emu["region"])


@pytest.fixture(scope="session")
def bucket(emulator):
    """The bucket, signed V4 with the configured key."""
    return make_bucket(emulator, oss2.AuthV4(emulator["accessKeyId"], emulator["accessKeySecret"]))


def unique(prefix):
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


def test_put_get_head_delete_with_awkward_keys(bucket):
    base = unique("py")
    for name in ["plain.txt", "with space.txt", "ünïcødé/文件.mp4", "plus+sign.bin", "per%cent.bin", "q?mark&amp=.bin"]:
        key = f"{base}/{name}"
        data = os.urandom(1000) + name.encode()
        put = bucket.put_object(key, data)
        assert put.status == 200
        assert put.etag == hashlib.md5(data).hexdigest().upper()
        got = bucket.get_object(key)
        assert got.read() == data
        head = bucket.head_object(key)
        assert head.content_length == len(data)
        assert head.etag == put.etag
        assert bucket.object_exists(key)
        bucket.delete_object(key)
        assert not bucket.object_exists(key)
        with pytest.raises(oss2.exceptions.NoSuchKey):
            bucket.get_object(key)


def test_ranged_get(bucket):
    key = unique("py-range") + "/r.bin"
    data = bytes(range(256)) * 40
    bucket.put_object(key, data)
    part = bucket.get_object(key, byte_range=(100, 199))
    assert part.status == 206
    assert part.read() == data[100:200]
    tail = bucket.get_object(key, byte_range=(len(data) - 10, None))
    assert tail.read() == data[-10:]
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.get_object(key, byte_range=(len(data) + 5, len(data) + 10))
    assert e.value.status == 416


def test_multipart_upload(bucket):
    key = unique("py-mp") + "/big.bin"
    parts_data = [os.urandom(150 * 1024), os.urandom(120 * 1024), os.urandom(7000)]
    upload_id = bucket.init_multipart_upload(key).upload_id
    parts = []
    for n, chunk in enumerate(parts_data, start=1):
        r = bucket.upload_part(key, upload_id, n, chunk)
        parts.append(oss2.models.PartInfo(n, r.etag, size=len(chunk), part_crc=r.crc))
    listed = bucket.list_parts(key, upload_id)
    assert [p.part_number for p in listed.parts] == [1, 2, 3]
    done = bucket.complete_multipart_upload(key, upload_id, parts)
    assert done.etag.endswith("-3")
    assert bucket.get_object(key).read() == b"".join(parts_data)
    assert bucket.head_object(key).object_type == "Multipart"


def test_multipart_abort_and_too_small_parts(bucket):
    key = unique("py-mp-bad") + "/x.bin"
    upload_id = bucket.init_multipart_upload(key).upload_id
    r1 = bucket.upload_part(key, upload_id, 1, b"a" * 10)
    r2 = bucket.upload_part(key, upload_id, 2, b"b" * 10)
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bucket.complete_multipart_upload(
            key, upload_id, [oss2.models.PartInfo(1, r1.etag), oss2.models.PartInfo(2, r2.etag)])
    assert e.value.code == "EntityTooSmall"
    bucket.abort_multipart_upload(key, upload_id)
    with pytest.raises(oss2.exceptions.NoSuchUpload):
        bucket.abort_multipart_upload(key, upload_id)
    assert not bucket.object_exists(key)


def test_resumable_upload_and_download(bucket, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(700 * 1024))
    key = unique("py-resumable") + "/src.bin"
    store = oss2.ResumableStore(root=str(tmp_path))
    oss2.resumable_upload(bucket, key, str(src), store=store,
                          multipart_threshold=200 * 1024, part_size=128 * 1024, num_threads=2)
    assert bucket.head_object(key).etag.endswith("-6")
    dst = tmp_path / "dst.bin"
    oss2.resumable_download(bucket, key, str(dst), store=oss2.ResumableDownloadStore(root=str(tmp_path)),
                            multiget_threshold=100 * 1024, part_size=100 * 1024, num_threads=2)
    assert dst.read_bytes() == src.read_bytes()


def test_list_v1_v2_delimiter_pagination_and_batch_delete(bucket):
    base = unique("py-list")
    keys = [f"{base}/a.txt", f"{base}/b c.txt", f"{base}/sub/x.txt", f"{base}/sub/y.txt", f"{base}/z+.txt"]
    for k in keys:
        bucket.put_object(k, b"x")
    v1 = bucket.list_objects(prefix=base + "/", delimiter="/")
    assert [o.key for o in v1.object_list] == [f"{base}/a.txt", f"{base}/b c.txt", f"{base}/z+.txt"]
    assert v1.prefix_list == [f"{base}/sub/"]
    v2 = bucket.list_objects_v2(prefix=base + "/", delimiter="/", max_keys=2)
    assert v2.is_truncated
    assert len(v2.object_list) + len(v2.prefix_list) == 2
    # The iterators follow markers and continuation tokens page by page.
    assert [o.key for o in oss2.ObjectIterator(bucket, prefix=base + "/", max_keys=2)] == sorted(keys)
    assert [o.key for o in oss2.ObjectIteratorV2(bucket, prefix=base + "/", max_keys=1)] == sorted(keys)
    result = bucket.batch_delete_objects(keys)
    assert sorted(result.deleted_keys) == sorted(keys)
    assert bucket.list_objects_v2(prefix=base + "/").object_list == []


def test_copy_object(bucket):
    src = unique("py-copy") + "/src file.txt"
    dst = unique("py-copy") + "/dst+file.txt"
    bucket.put_object(src, b"copy me", headers={"Content-Type": "text/plain", "x-oss-meta-color": "blue"})
    bucket.copy_object(bucket.bucket_name, src, dst)
    got = bucket.get_object(dst)
    assert got.read() == b"copy me"
    assert got.headers["Content-Type"] == "text/plain"
    assert got.headers["x-oss-meta-color"] == "blue"


def test_wrong_secret_is_refused(emulator):
    bad = make_bucket(emulator, oss2.AuthV4(emulator["accessKeyId"], "not-the-secret"))
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bad.put_object("py/wrong-secret.txt", b"x")
    assert e.value.status == 403
    assert e.value.code == "SignatureDoesNotMatch"
    unknown = make_bucket(emulator, oss2.AuthV4("LTAInobody", emulator["accessKeySecret"]))
    with pytest.raises(oss2.exceptions.ServerError) as e:
        unknown.get_object("py/anything")
    assert e.value.status == 403
    assert e.value.code == "InvalidAccessKeyId"


def test_anonymous_requests_are_refused(emulator, bucket):
    key = unique("py-anon") + "/a.txt"
    bucket.put_object(key, b"secret")
    r = requests.get(f"{emulator['endpoint']}/{emulator['buckets'][0]}/{key}")
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text
    assert "secret" not in r.text


def test_presigned_v4_urls(bucket):
    key = unique("py-presign") + "/file name.txt"
    bucket.put_object(key, b"presigned")
    url = bucket.sign_url("GET", key, 60)
    assert "x-oss-signature-version=OSS4-HMAC-SHA256" in url
    r = requests.get(url)
    assert r.status_code == 200, r.text
    assert r.content == b"presigned"

    put_key = unique("py-presign") + "/put.txt"
    put_url = bucket.sign_url("PUT", put_key, 60)
    assert requests.put(put_url, data=b"uploaded").status_code == 200
    assert bucket.get_object(put_key).read() == b"uploaded"

    tampered = url.replace("x-oss-expires=60", "x-oss-expires=600")
    assert requests.get(tampered).status_code == 403

    # Signed two hours ago for one minute: expired, whatever the signature.
    class TwoHoursAgo(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return datetime.datetime.utcnow() - datetime.timedelta(hours=2)

    with mock.patch.object(oss2.auth, "datetime", TwoHoursAgo):
        old = bucket.sign_url("GET", key, 60)
    r = requests.get(old)
    assert r.status_code == 403
    assert "expired" in r.text


def test_v1_signatures_header_and_url(emulator):
    v1 = make_bucket(emulator, oss2.Auth(emulator["accessKeyId"], emulator["accessKeySecret"]))
    key = unique("py-v1") + "/v1 key+.txt"
    v1.put_object(key, b"v1 works")
    assert v1.get_object(key).read() == b"v1 works"
    url = v1.sign_url("GET", key, 60)
    assert "Signature=" in url and "OSSAccessKeyId=" in url
    assert requests.get(url).content == b"v1 works"
    real_time = oss2.auth.time.time
    with mock.patch.object(oss2.auth, "time", types.SimpleNamespace(time=lambda: real_time() - 7200)):
        expired = v1.sign_url("GET", key, 60)
    assert requests.get(expired).status_code == 403
    bad = make_bucket(emulator, oss2.Auth(emulator["accessKeyId"], "wrong"))
    with pytest.raises(oss2.exceptions.ServerError) as e:
        bad.get_object(key)
    assert e.value.status == 403


def test_temporary_credentials_with_v4(emulator):
    t = emulator["temporary"]
    sts = make_bucket(emulator, oss2.StsAuth(t["accessKeyId"], t["accessKeySecret"], t["securityToken"],
                                             auth_version=oss2.AUTH_VERSION_4))
    key = unique("py-sts") + "/t.txt"
    sts.put_object(key, b"sts")
    assert sts.get_object(key).read() == b"sts"
    no_token = make_bucket(emulator, oss2.AuthV4(t["accessKeyId"], t["accessKeySecret"]))
    with pytest.raises(oss2.exceptions.ServerError) as e:
        no_token.get_object(key)
    assert e.value.status == 403


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def post_v4(emu, key, data, secret=None, key_prefix="uploads/"):
    """A browser-style PostObject with a V4-signed policy."""
    now = datetime.datetime.now(datetime.timezone.utc)
    date = now.strftime("%Y%m%d")
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    credential = f"{emu['accessKeyId']}/{date}/{emu['region']}/oss/aliyun_v4_request"
    policy = {
        "expiration": (now + datetime.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "conditions": [
            {"bucket": emu["buckets"][0]},
            {"x-oss-signature-version": "OSS4-HMAC-SHA256"},
            {"x-oss-credential": credential},
            {"x-oss-date": stamp},
            ["starts-with", "$key", key_prefix],
            ["content-length-range", 1, 1024 * 1024],
        ],
    }
    policy_b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    signing_key = _hmac(("aliyun_v4" + (secret or emu["accessKeySecret"])).encode(), date)
    for part in (emu["region"], "oss", "aliyun_v4_request"):
        signing_key = _hmac(signing_key, part)
    fields = {
        "key": key,
        "policy": policy_b64,
        "x-oss-signature-version": "OSS4-HMAC-SHA256",
        "x-oss-credential": credential,
        "x-oss-date": stamp,
        "x-oss-signature": hmac.new(signing_key, policy_b64.encode(), hashlib.sha256).hexdigest(),
        "success_action_status": "201",
    }
    return requests.post(f"{emu['endpoint']}/{emu['buckets'][0]}/", data=fields,
                         files={"file": ("clip.mp4", data, "video/mp4")})


def test_post_object_v4_form(emulator, bucket):
    key = "uploads/" + uuid.uuid4().hex[:8] + "/${filename}"
    data = os.urandom(5000)
    r = post_v4(emulator, key, data)
    assert r.status_code == 201, r.text
    final = key.replace("${filename}", "clip.mp4")
    assert "<Key>" + final + "</Key>" in r.text
    got = bucket.get_object(final)
    assert got.read() == data
    assert got.headers["Content-Type"] == "video/mp4"

    assert post_v4(emulator, "elsewhere/x.mp4", data).status_code == 403
    assert post_v4(emulator, "uploads/y.mp4", data, secret="wrong").status_code == 403
    assert post_v4(emulator, "uploads/big.mp4", b"x" * (1024 * 1024 + 1)).status_code == 400
    assert not bucket.object_exists("uploads/big.mp4")


def test_bucket_acl_and_cors_for_a_browser_player(emulator, bucket):
    """What a page playing HLS straight from the bucket needs: oss2 sets the
    bucket ACL and CORS as on OSS, then plain unsigned requests (a browser's
    GET and preflight) are answered with the CORS headers. The bucket is
    private again, without CORS, at the end, whatever happens."""
    key = unique("py-public") + "/index.m3u8"
    bucket.put_object(key, b"#EXTM3U\n")
    base = f"{emulator['endpoint']}/{emulator['buckets'][0]}"
    url = f"{base}/{key}"
    origin = "https://player.example.com"
    try:
        assert bucket.get_bucket_acl().acl == oss2.BUCKET_ACL_PRIVATE
        assert requests.get(url).status_code == 403
        with pytest.raises(oss2.exceptions.NoSuchCors):
            bucket.get_bucket_cors()

        bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
        assert bucket.get_bucket_acl().acl == oss2.BUCKET_ACL_PUBLIC_READ
        r = requests.get(url)
        assert r.status_code == 200 and r.content == b"#EXTM3U\n"
        assert "access-control-allow-origin" not in r.headers, "no CORS configured yet"
        r = requests.put(url, data=b"overwritten")
        assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
        wrong = make_bucket(emulator, oss2.AuthV4(emulator["accessKeyId"], "not-the-secret"))
        with pytest.raises(oss2.exceptions.ServerError) as e:
            wrong.get_object(key)
        assert (e.value.status, e.value.code) == (403, "SignatureDoesNotMatch"), \
            "a signature on a public bucket is still checked"

        bucket.put_bucket_cors(oss2.models.BucketCors([oss2.models.CorsRule(
            allowed_origins=["*"], allowed_methods=["GET", "HEAD"], allowed_headers=["*"],
            max_age_seconds=100)]))
        rules = bucket.get_bucket_cors().rules
        assert len(rules) == 1
        assert rules[0].allowed_origins == ["*"]
        assert rules[0].allowed_methods == ["GET", "HEAD"]
        assert rules[0].allowed_headers == ["*"]
        assert rules[0].max_age_seconds == 100

        r = requests.get(url, headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
        assert r.headers["Access-Control-Max-Age"] == "100"
        r = requests.options(url, headers={
            "Origin": origin, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range"})
        assert r.status_code == 200, r.text
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["Access-Control-Allow-Headers"] == "range"
        r = requests.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "PUT"})
        assert r.status_code == 403 and "<Code>AccessForbidden</Code>" in r.text
        assert "access-control-allow-origin" not in r.headers

        bucket.delete_bucket_cors()
        with pytest.raises(oss2.exceptions.NoSuchCors):
            bucket.get_bucket_cors()
        r = requests.get(url, headers={"Origin": origin})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers

        # public-read-write takes anonymous writes, a form without policy too.
        bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
        form_key = unique("py-public") + "/form.txt"
        r = requests.post(base + "/", data={"key": form_key},
                          files={"file": ("form.txt", b"anonymous form", "text/plain")})
        assert r.status_code == 204, r.text
        assert bucket.get_object(form_key).read() == b"anonymous form"
        assert requests.delete(f"{base}/{form_key}").status_code == 204
        assert not bucket.object_exists(form_key)
    finally:
        bucket.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
        bucket.delete_bucket_cors()
    assert bucket.get_bucket_acl().acl == oss2.BUCKET_ACL_PRIVATE
    assert requests.get(url).status_code == 403
    r = requests.post(base + "/", data={"key": unique("py-public") + "/no.txt"},
                      files={"file": ("no.txt", b"x", "text/plain")})
    assert r.status_code == 403, "a private bucket takes no anonymous form"
