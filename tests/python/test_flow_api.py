"""The local Serverless Workflow API checked with Alibaba Cloud's official
Python SDK, an implementation independent of ours:

- `alibabacloud_fnf20190315` signs RPC requests with signature V1 (HMAC-SHA1,
  `Signature` parameter) by default;
- `alibabacloud_tea_openapi`'s generic `call_api` signs with V3
  (`ACS3-HMAC-SHA256`), the algorithm oss-trigger's Rust client uses.

The server is `cargo run -p local-runner --example flow_api_server`.
"""

import json
import os
import pathlib
import subprocess
import time

import pytest
from alibabacloud_fnf20190315 import models as fnf_models
from alibabacloud_fnf20190315.client import Client as FnfClient
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi import utils_models as open_api_util_models
from alibabacloud_tea_openapi.client import Client as OpenApiClient
from darabonba.runtime import RuntimeOptions

ROOT = pathlib.Path(__file__).resolve().parents[2]
AK, SK = "LTAIpytestkey", "pytest-secret"
STS_AK, STS_SK, STS_TOKEN = "STS.pytest", "sts-secret", "CAIS-pytest-token"


@pytest.fixture(scope="module")
def endpoint():
    env = dict(
        os.environ,
        FLOW_API_AK=AK,
        FLOW_API_SK=SK,
        FLOW_API_STS_AK=STS_AK,
        FLOW_API_STS_SK=STS_SK,
        FLOW_API_STS_TOKEN=STS_TOKEN,
    )
    proc = subprocess.Popen(
        ["cargo", "run", "-q", "-p", "local-runner", "--example", "flow_api_server"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("READY http://"), f"server did not start: {line!r}"
    yield line.removeprefix("READY http://")
    proc.stdin.close()
    proc.wait(timeout=30)


def config(endpoint, ak=AK, sk=SK, token=None, **kw):
    return open_api_models.Config(
        access_key_id=ak,
        access_key_secret=sk,
        security_token=token,
        endpoint=endpoint,
        protocol="http",
        region_id="cn-hangzhou",
        **kw,
    )


def fnf(endpoint, **kw):
    return FnfClient(config(endpoint, **kw))


def wait_done(client, name):
    for _ in range(200):
        r = client.describe_execution(
            fnf_models.DescribeExecutionRequest(flow_name="demo", execution_name=name)
        )
        if r.body.status != "Running":
            return r.body
        time.sleep(0.05)
    raise AssertionError(f"{name} did not finish")


def test_official_client_v1_start_describe_dedup_history_list(endpoint):
    c = fnf(endpoint)
    inp = {"jobId": "j1", "key": "source/a b+c&d.mp4"}
    r = c.start_execution(
        fnf_models.StartExecutionRequest(
            flow_name="demo", execution_name="py-v1", input=json.dumps(inp)
        )
    )
    assert r.status_code == 200 and r.body.name == "py-v1"
    done = wait_done(c, "py-v1")
    assert done.status == "Succeeded"
    assert json.loads(done.input) == inp

    with pytest.raises(Exception) as e:
        c.start_execution(
            fnf_models.StartExecutionRequest(
                flow_name="demo", execution_name="py-v1", input="{}"
            )
        )
    assert getattr(e.value, "code", None) == "ExecutionAlreadyExists"
    assert getattr(e.value, "status_code", None) == 400

    h = c.get_execution_history(
        fnf_models.GetExecutionHistoryRequest(flow_name="demo", execution_name="py-v1")
    )
    types = [ev.type for ev in h.body.events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "TaskSucceeded" in types

    lst = c.list_executions(fnf_models.ListExecutionsRequest(flow_name="demo"))
    assert "py-v1" in [x.name for x in lst.body.executions]


def v3_start(endpoint, name, **kw):
    client = OpenApiClient(config(endpoint, signature_algorithm="ACS3-HMAC-SHA256", **kw))
    params = open_api_util_models.Params(
        action="StartExecution",
        version="2019-03-15",
        protocol="HTTP",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    req = open_api_util_models.OpenApiRequest(
        body={"FlowName": "demo", "ExecutionName": name, "Input": json.dumps({"v": 3})}
    )
    return client.call_api(params, req, RuntimeOptions())


def test_official_v3_signature_is_accepted(endpoint):
    r = v3_start(endpoint, "py-v3")
    assert r["statusCode"] == 200
    assert r["body"]["Name"] == "py-v3"


def test_official_v3_with_sts_token(endpoint):
    r = v3_start(endpoint, "py-sts", ak=STS_AK, sk=STS_SK, token=STS_TOKEN)
    assert r["statusCode"] == 200
    with pytest.raises(Exception) as e:
        v3_start(endpoint, "py-sts-bad", ak=STS_AK, sk=STS_SK, token="not-the-token")
    assert getattr(e.value, "status_code", None) == 403


def test_wrong_secret_is_refused_with_403(endpoint):
    for start in (
        lambda: v3_start(endpoint, "py-bad-v3", sk="wrong"),
        lambda: fnf(endpoint, sk="wrong").start_execution(
            fnf_models.StartExecutionRequest(flow_name="demo", execution_name="py-bad-v1")
        ),
    ):
        with pytest.raises(Exception) as e:
            start()
        assert getattr(e.value, "status_code", None) == 403
        assert getattr(e.value, "code", None) == "SignatureDoesNotMatch"
