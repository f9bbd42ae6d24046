"""200 small uploads at once through oss2 (V4), for
local-runner/tests/oss_load.rs, which starts the emulator in its own process
(so that it can watch the emulator's memory and open files) and hands it over
in OSS_EMULATOR_JSON.

Every upload starts at the same moment (a barrier), on its own connection.
oss2 checks each answer's CRC-64 against the bytes it sent (enable_crc), and
this script checks each ETag against the MD5. It prints one JSON object:
{"objects": {key: {"md5": HEX, "crc64": N, "size": N}}}, for the Rust side to
compare with what the emulator stored.
"""

import concurrent.futures
import hashlib
import json
import os
import random
import threading

import oss2

UPLOADS = int(os.environ.get("LOAD_UPLOADS", "200"))


def main():
    info = json.loads(os.environ["OSS_EMULATOR_JSON"])
    auth = oss2.ProviderAuthV4(
        oss2.credentials.StaticCredentialsProvider(info["accessKeyId"], info["accessKeySecret"]))
    session = oss2.Session(pool_size=UPLOADS)
    bucket = oss2.Bucket(auth, info["endpoint"], info["buckets"][0], region=info["region"],
                         session=session, enable_crc=True)
    rng = random.Random(7)
    bodies = {f"load/{i:03d}.bin": rng.randbytes(rng.randint(1, 256 * 1024)) for i in range(UPLOADS)}
    start = threading.Barrier(UPLOADS)

    def put(key):
        start.wait()
        result = bucket.put_object(key, bodies[key])
        md5 = hashlib.md5(bodies[key]).hexdigest().upper()
        if result.etag != md5:
            raise AssertionError(f"{key}: ETag {result.etag} is not the MD5 {md5}")
        return key, {"md5": md5, "crc64": int(result.crc), "size": len(bodies[key])}

    with concurrent.futures.ThreadPoolExecutor(max_workers=UPLOADS) as pool:
        objects = dict(pool.map(put, bodies))
    # Read each back through the client too (oss2 checks the CRC-64 again).
    for key, want in objects.items():
        got = bucket.get_object(key).read()
        if hashlib.md5(got).hexdigest().upper() != want["md5"]:
            raise AssertionError(f"{key}: downloaded bytes differ")
    print(json.dumps({"objects": objects}))


if __name__ == "__main__":
    main()
