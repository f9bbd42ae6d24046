"""The OSS emulator, driven by Alibaba Cloud's current Python SDK,
alibabacloud-oss-v2 (pinned in requirements.txt).

It is a third implementation of OSS signing (V4 by default, V1 on request),
separate from oss2 and ali-oss, and checks the emulator's CRC-64 on every
upload and download (its default). It addresses a bucket in one of three
ways (alibabacloud_oss_v2/_client.py, `_resolve_address_style` and
`_build_url`):
- an IP endpoint (http://127.0.0.1:PORT): path style, `/<bucket>/<key>`;
- a host name endpoint with `use_path_style=True`: path style too;
- a host name endpoint by default: virtual-hosted style,
  `http://<bucket>.localhost:PORT/<key>`.
It signs `/<bucket>/<key>` (V4 canonical URI, V1 resource) in all three.

The emulator under test is the `emulator` fixture of conftest.py.
"""

import datetime
import hashlib
import io
import os
import socket
import urllib.parse
import uuid

import alibabacloud_oss_v2 as oss
import pytest
import requests


STYLES = ["ip", "path", "virtual-hosted"]


@pytest.fixture(scope="module", autouse=True)
def localhost_subdomains():
    """Resolve `<bucket>.localhost` to the emulator's 127.0.0.1.

    In virtual-hosted style the SDK connects to `<bucket>.localhost`. RFC 6761
    (6.3) reserves every *.localhost name for loopback and browsers and
    systemd-resolved answer them so, but glibc with a plain /etc/hosts does
    not (getaddrinfo fails), and Python asks glibc. Rather than editing
    /etc/hosts, answer *.localhost here (localhost too, so that it is never
    ::1, where the emulator does not listen); other names go to the system.
    """
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and (name.lower() == "localhost" or name.lower().endswith(".localhost")):
            return real("127.0.0.1", port, socket.AF_INET, type, proto, flags)
        return real(host, port, family, type, proto, flags)

    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.getaddrinfo = real


def port(emu):
    return urllib.parse.urlsplit(emu["endpoint"]).port


def make_client(emu, style, version="v4", access_key_id=None, secret=None, token=None):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        access_key_id or emu["accessKeyId"], secret or emu["accessKeySecret"], token)
    cfg.region = emu["region"]
    cfg.signature_version = version
    if style == "ip":
        cfg.endpoint = emu["endpoint"]
    else:
        cfg.endpoint = f"http://localhost:{port(emu)}"
        cfg.use_path_style = style == "path"
    return oss.Client(cfg)


def service_error(excinfo):
    """The OSS error answer inside the SDK's OperationError."""
    e = excinfo.value
    return e.unwrap() if hasattr(e, "unwrap") else e


def unique(prefix):
    return f"{prefix}/{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("version", ["v4", "v1"])
@pytest.mark.parametrize("style", STYLES)
def test_put_get_range_list_delete(emulator, style, version):
    client = make_client(emulator, style, version)
    bucket = emulator["buckets"][0]
    base = unique(f"v2-{style}-{version}")
    names = ["plain.txt", "with space.txt", "ünïcødé/文件.mp4", "plus+sign.bin", "per%cent.bin", "q?mark&amp=.bin"]
    bodies = {}
    for name in names:
        key = f"{base}/{name}"
        data = os.urandom(1000) + name.encode()
        bodies[key] = data
        put = client.put_object(oss.PutObjectRequest(
            bucket=bucket, key=key, body=data, metadata={"origin": "v2"}))
        assert put.status_code == 200
        assert put.etag == f'"{hashlib.md5(data).hexdigest().upper()}"'

    key = f"{base}/plain.txt"
    head = client.head_object(oss.HeadObjectRequest(bucket=bucket, key=key))
    assert head.content_length == len(bodies[key])
    assert head.metadata.get("origin") == "v2"

    for k, data in bodies.items():
        got = client.get_object(oss.GetObjectRequest(bucket=bucket, key=k))
        assert got.body.read() == data, k

    ranged = client.get_object(oss.GetObjectRequest(bucket=bucket, key=key, range_header="bytes=10-19"))
    assert ranged.status_code == 206
    assert ranged.content_range == f"bytes 10-19/{len(bodies[key])}"
    assert ranged.body.read() == bodies[key][10:20]

    # Pages of two, the subfolder rolled up.
    seen = []
    paginator = client.list_objects_v2_paginator(limit=2)
    pages = list(paginator.iter_page(oss.ListObjectsV2Request(bucket=bucket, prefix=f"{base}/", delimiter="/")))
    assert len(pages) == 3
    for page in pages:
        seen += [o.key for o in page.contents or []]
        seen += [p.prefix for p in page.common_prefixes or []]
    expected = sorted({f"{base}/{n.split('/')[0]}/" if "/" in n else f"{base}/{n}" for n in names})
    assert sorted(seen) == expected
    v1 = client.list_objects(oss.ListObjectsRequest(bucket=bucket, prefix=f"{base}/"))
    assert sorted(o.key for o in v1.contents) == sorted(bodies)

    client.delete_object(oss.DeleteObjectRequest(bucket=bucket, key=key))
    with pytest.raises(oss.exceptions.OperationError) as e:
        client.get_object(oss.GetObjectRequest(bucket=bucket, key=key))
    err = service_error(e)
    assert (err.status_code, err.code) == (404, "NoSuchKey")
    assert not client.is_object_exist(bucket, key)


@pytest.mark.parametrize("style", STYLES)
def test_multipart_low_level(emulator, style):
    client = make_client(emulator, style)
    bucket = emulator["buckets"][0]
    key = f"{unique('v2-mp')}/{style}.bin"
    data = os.urandom(250 * 1024)
    init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key=key))
    assert init.upload_id
    parts = []
    for i, start in enumerate(range(0, len(data), 100 * 1024), start=1):
        up = client.upload_part(oss.UploadPartRequest(
            bucket=bucket, key=key, upload_id=init.upload_id, part_number=i,
            body=data[start:start + 100 * 1024]))
        parts.append(oss.UploadPart(part_number=i, etag=up.etag))
    listed = client.list_parts(oss.ListPartsRequest(bucket=bucket, key=key, upload_id=init.upload_id))
    assert [p.part_number for p in listed.parts] == [1, 2, 3]
    done = client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
        bucket=bucket, key=key, upload_id=init.upload_id,
        complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts)))
    assert done.status_code == 200
    assert done.etag.endswith('-3"')
    got = client.get_object(oss.GetObjectRequest(bucket=bucket, key=key))
    assert got.object_type == "Multipart"
    assert got.body.read() == data


@pytest.mark.parametrize("style", STYLES)
def test_uploader_parallel_parts(emulator, style):
    client = make_client(emulator, style)
    bucket = emulator["buckets"][0]
    key = f"{unique('v2-uploader')}/{style}.bin"
    data = os.urandom(450 * 1024 + 17)
    uploader = client.uploader(part_size=100 * 1024, parallel_num=3)
    result = uploader.upload_from(oss.PutObjectRequest(bucket=bucket, key=key), io.BytesIO(data))
    assert result.status_code == 200
    assert result.upload_id
    head = client.head_object(oss.HeadObjectRequest(bucket=bucket, key=key))
    assert head.etag.endswith('-5"')
    assert head.content_length == len(data)
    assert client.get_object(oss.GetObjectRequest(bucket=bucket, key=key)).body.read() == data


@pytest.mark.parametrize("version", ["v4", "v1"])
@pytest.mark.parametrize("style", ["path", "virtual-hosted"])
def test_presigned_get_with_plain_http(emulator, style, version):
    client = make_client(emulator, style, version)
    bucket = emulator["buckets"][0]
    key = f"{unique('v2-presign')}/clip name+ü.bin"
    data = os.urandom(4096)
    client.put_object(oss.PutObjectRequest(bucket=bucket, key=key, body=data))
    signed = client.presign(oss.GetObjectRequest(bucket=bucket, key=key),
                            expires=datetime.timedelta(minutes=10))
    host = urllib.parse.urlsplit(signed.url).netloc
    expected_host = f"{bucket}.localhost:{port(emulator)}" if style == "virtual-hosted" else f"localhost:{port(emulator)}"
    assert host == expected_host, signed.url
    if version == "v4":
        assert "x-oss-signature=" in signed.url
    else:
        assert "Signature=" in signed.url and "x-oss-signature" not in signed.url

    r = requests.get(signed.url, headers=signed.signed_headers or {}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.content == data
    r = requests.get(signed.url, headers={"Range": "bytes=0-99"}, timeout=30)
    assert r.status_code == 206
    assert r.content == data[:100]

    # The same signature for another key is refused.
    parts = urllib.parse.urlsplit(signed.url)
    other = parts._replace(path=parts.path.rsplit("/", 1)[0] + "/other.bin").geturl()
    r = requests.get(other, timeout=30)
    assert r.status_code == 403
    assert "SignatureDoesNotMatch" in r.text


def test_presigned_put_with_plain_http(emulator):
    client = make_client(emulator, "virtual-hosted")
    bucket = emulator["buckets"][0]
    key = f"{unique('v2-presign')}/put.bin"
    data = os.urandom(2048)
    signed = client.presign(oss.PutObjectRequest(bucket=bucket, key=key),
                            expires=datetime.timedelta(minutes=10))
    r = requests.put(signed.url, data=data, headers=signed.signed_headers or {}, timeout=30)
    assert r.status_code == 200, r.text
    assert client.get_object(oss.GetObjectRequest(bucket=bucket, key=key)).body.read() == data


@pytest.mark.parametrize("version", ["v4", "v1"])
@pytest.mark.parametrize("style", STYLES)
def test_wrong_secret_is_refused(emulator, style, version):
    client = make_client(emulator, style, version, secret=emulator["accessKeySecret"] + "x")
    bucket = emulator["buckets"][0]
    with pytest.raises(oss.exceptions.OperationError) as e:
        client.put_object(oss.PutObjectRequest(bucket=bucket, key=f"{unique('v2-wrong')}/x", body=b"x"))
    err = service_error(e)
    assert (err.status_code, err.code) == (403, "SignatureDoesNotMatch")
    with pytest.raises(oss.exceptions.OperationError) as e:
        client.list_objects_v2(oss.ListObjectsV2Request(bucket=bucket, prefix="v2"))
    assert service_error(e).status_code == 403


def test_temporary_credentials(emulator):
    t = emulator.get("temporary")
    if not t:
        pytest.fail("the emulator description has no temporary credentials")
    client = make_client(emulator, "virtual-hosted", access_key_id=t["accessKeyId"],
                         secret=t["accessKeySecret"], token=t["securityToken"])
    bucket = emulator["buckets"][0]
    key = f"{unique('v2-sts')}/t.txt"
    client.put_object(oss.PutObjectRequest(bucket=bucket, key=key, body=b"temporary"))
    assert client.get_object(oss.GetObjectRequest(bucket=bucket, key=key)).body.read() == b"temporary"
    signed = client.presign(oss.GetObjectRequest(bucket=bucket, key=key))
    assert requests.get(signed.url, timeout=30).content == b"temporary"
    no_token = make_client(emulator, "virtual-hosted", access_key_id=t["accessKeyId"],
                           secret=t["accessKeySecret"])
    with pytest.raises(oss.exceptions.OperationError) as e:
        no_token.get_object(oss.GetObjectRequest(bucket=bucket, key=key))
    assert (service_error(e).status_code, service_error(e).code) == (403, "InvalidSecurityToken")
