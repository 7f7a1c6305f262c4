"""Parameter Store against a real SSM endpoint: moto in server mode on loopback.

Requests are counted on the server side with moto's recorder (every request it
receives, one JSON line each), so "one round trip" is measured, not assumed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from ci.errors import InfraError
from ci.tier2.retry import RetryPolicy
from ci.tier2.ssm import NO_CREDENTIALS, ParameterStore, Wanted, make_client, not_found
from tests.integration.moto_ssm import FaultyProxy, MotoSSM

pytestmark = pytest.mark.integration


def store_for(server: MotoSSM, said: list[str] | None = None) -> ParameterStore:
    env = server.env()
    return ParameterStore(lambda: make_client(env), say=(said if said is not None else [])
                          .append)


def test_example_secret_is_one_round_trip(moto_ssm: MotoSSM) -> None:
    name = f"/t{uuid.uuid4().hex[:6]}/agent-executor/openai_api_key"
    moto_ssm.put(name, "sk-real-endpoint-value")
    moto_ssm.reset_recording()
    result = store_for(moto_ssm).fetch([Wanted("OPENAI_API_KEY", name)])
    assert result.values == {"OPENAI_API_KEY": "sk-real-endpoint-value"}  # decrypted
    assert moto_ssm.requests() == ["GetParameters"]
    assert result.stats.calls == 1 and result.stats.retries == 0


def test_batches_of_ten_and_every_missing_name_listed(moto_ssm: MotoSSM) -> None:
    prefix = f"/t{uuid.uuid4().hex[:6]}"
    for i in range(21):
        moto_ssm.put(f"{prefix}/p{i}", f"value-{i}", "String")
    wanted = [Wanted(f"V{i}", f"{prefix}/p{i}") for i in range(21)]
    wanted += [Wanted("GONE_A", f"{prefix}/missing-a"), Wanted("GONE_B", f"{prefix}/missing-b")]
    moto_ssm.reset_recording()
    result = store_for(moto_ssm).fetch(wanted)
    assert moto_ssm.requests() == ["GetParameters"] * 3  # 23 names -> 10 + 10 + 3
    assert len(result.values) == 21 and result.values["V20"] == "value-20"
    assert result.problems == {"GONE_A": not_found("us-east-1"), "GONE_B": not_found("us-east-1")}
    assert "parameter not found in region us-east-1" in result.problems["GONE_A"]


def test_path_prefix_is_paged(moto_ssm: MotoSSM) -> None:
    prefix = f"/t{uuid.uuid4().hex[:6]}/svc"
    for i in range(12):
        moto_ssm.put(f"{prefix}/key-{i:02d}", f"v{i}")
    moto_ssm.put(f"{prefix}/nested/db-password", "pw-nested")
    moto_ssm.reset_recording()
    result = store_for(moto_ssm).fetch([], prefix, already_set={"KEY_00": "mine"})
    assert moto_ssm.requests() == ["GetParametersByPath"] * 2  # 13 parameters, 10 per page
    assert result.values["DB_PASSWORD"] == "pw-nested" and result.values["KEY_11"] == "v11"
    assert "KEY_00" not in result.values
    assert len(result.values) == 12


def test_no_credentials_is_named_without_any_request(
    moto_ssm: MotoSSM, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    env = {"AWS_ENDPOINT_URL": moto_ssm.url, "AWS_REGION": "us-east-1"}
    moto_ssm.reset_recording()
    result = ParameterStore(lambda: make_client(env), say=lambda s: None).fetch(
        [Wanted("OPENAI_API_KEY", "/x/openai_api_key")])
    assert result.problems == {"OPENAI_API_KEY": NO_CREDENTIALS}
    assert moto_ssm.requests() == []


def proxied_store(server: MotoSSM, proxy: FaultyProxy, said: list[str],
                  policy: RetryPolicy | None = None) -> ParameterStore:
    env = {**server.env(), "AWS_ENDPOINT_URL": proxy.url}
    return ParameterStore(lambda: make_client(env), say=said.append, sleep=lambda _s: None,
                          policy=policy or RetryPolicy(max_attempts=6, max_seconds=30))


@pytest.mark.parametrize("faults", [["500", "503"], ["throttle", "throttle", "500"]])
def test_server_errors_and_throttling_are_retried_aloud(moto_ssm: MotoSSM,
                                                        faults: list[str]) -> None:
    name = f"/t{uuid.uuid4().hex[:6]}/openai_api_key"
    moto_ssm.put(name, "sk-after-retries")
    proxy = FaultyProxy(moto_ssm.url, faults)
    said: list[str] = []
    try:
        result = proxied_store(moto_ssm, proxy, said).fetch([Wanted("KEY", name)])
    finally:
        proxy.close()
    assert result.values == {"KEY": "sk-after-retries"}
    assert proxy.seen == [*faults, "forwarded"]
    assert result.stats.retries == len(faults) and len(said) == len(faults)
    assert all(name in line and "us-east-1" in line and "retry" in line for line in said)


def test_persistent_503_is_infrastructure_naming_parameter_and_region(moto_ssm: MotoSSM) -> None:
    proxy = FaultyProxy(moto_ssm.url, [], always="503")
    said: list[str] = []
    try:
        with pytest.raises(InfraError) as caught:
            proxied_store(moto_ssm, proxy, said, RetryPolicy(max_attempts=3)).fetch(
                [Wanted("KEY", "/svc/openai_api_key")])
    finally:
        proxy.close()
    assert caught.value.code == 3
    assert "/svc/openai_api_key" in caught.value.message
    assert "us-east-1" in caught.value.message and "after 3 attempts" in caught.value.message
    assert proxy.seen == ["503"] * 3 and len(said) == 2


def test_access_denied_is_a_problem_naming_region_and_what_to_do(moto_ssm: MotoSSM) -> None:
    proxy = FaultyProxy(moto_ssm.url, [], always="denied")
    try:
        result = proxied_store(moto_ssm, proxy, []).fetch([Wanted("KEY", "/svc/key")])
    finally:
        proxy.close()
    assert proxy.seen == ["denied"], "access denied is not retried"
    assert "access denied in region us-east-1" in result.problems["KEY"]
    assert "ssm:GetParameters" in result.problems["KEY"]


def test_wrong_region_reports_not_found_in_that_region(moto_ssm: MotoSSM) -> None:
    name = f"/t{uuid.uuid4().hex[:6]}/key"
    moto_ssm.put(name, "v")  # in us-east-1
    env = {**moto_ssm.env(), "AWS_REGION": "eu-west-3"}
    result = ParameterStore(lambda: make_client(env), say=lambda s: None).fetch(
        [Wanted("KEY", name)])
    assert result.problems == {"KEY": not_found("eu-west-3")}
