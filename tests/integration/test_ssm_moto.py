"""Parameter Store against a real SSM endpoint: moto in server mode on loopback.

Requests are counted on the server side with moto's recorder (every request it
receives, one JSON line each), so "one round trip" is measured, not assumed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ci.tier2.ssm import NO_CREDENTIALS, ParameterStore, Wanted, make_client
from tests.prereqs import need

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoSSM:
    """A moto server subprocess with request recording, and helpers to use it."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
        need(Path(binary).exists(), "moto_server (moto[server])", "pip install 'moto[server]'")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.recording = workdir / "moto-recording.jsonl"
        env = {**os.environ, "MOTO_ENABLE_RECORDING": "true",
               "MOTO_RECORDER_FILEPATH": str(self.recording)}
        self.log = (workdir / "moto.log").open("w")
        self.proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(self.port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start: {self.recording}") from None
                time.sleep(0.1)

    def env(self) -> dict[str, str]:
        """What a client needs to reach this server with fake credentials."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true"}

    def client(self) -> Any:
        import boto3

        e = self.env()
        return boto3.client("ssm", endpoint_url=self.url, region_name=e["AWS_REGION"],
                            aws_access_key_id=e["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=e["AWS_SECRET_ACCESS_KEY"])

    def put(self, name: str, value: str, kind: str = "SecureString") -> None:
        self.client().put_parameter(Name=name, Value=value, Type=kind, Overwrite=True)

    def reset_recording(self) -> None:
        req = urllib.request.Request(self.url + "/moto-api/recorder/reset-recording",
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).close()
        req = urllib.request.Request(self.url + "/moto-api/recorder/start-recording",
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).close()

    def requests(self, action: str | None = None) -> list[str]:
        """The SSM actions received since the last reset (``AmazonSSM.X`` -> ``X``)."""
        if not self.recording.exists():
            return []
        targets = []
        for line in self.recording.read_text().splitlines():
            headers = {k.lower(): v for k, v in json.loads(line)["headers"].items()}
            target = headers.get("x-amz-target", "").removeprefix("AmazonSSM.")
            if target and (action is None or target == action):
                targets.append(target)
        return targets

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def moto_ssm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoSSM]:
    server = MotoSSM(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


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
    assert result.problems == {"GONE_A": "parameter not found", "GONE_B": "parameter not found"}


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
