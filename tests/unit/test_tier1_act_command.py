"""The act command line: self-hosted, offline, every pinned action swapped for a stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.tier1 import act, actions

ROOT = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, **kwargs: object) -> act.ActRun:
    return act.ActRun(service="agent_executor", root=ROOT, act="act", python="/opt/py/bin/python",
                      artifacts=tmp_path / "out", workdir=tmp_path / "work", **kwargs)  # type: ignore[arg-type]


def _values(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, arg in enumerate(cmd) if arg == flag]


def test_command_is_self_hosted_offline_with_stand_ins(tmp_path: Path) -> None:
    cmd = _run(tmp_path).command()
    assert cmd[:2] == ["act", "workflow_dispatch"]
    assert _values(cmd, "-P") == ["ubuntu-latest=-self-hosted"]
    assert "--action-offline-mode" in cmd
    workflow = ROOT / ".github/workflows/agent_executor-integration-tests.yml"
    assert _values(cmd, "-W") == [str(workflow)]
    replaced = dict(v.split("=", 1) for v in _values(cmd, "--local-repository"))
    assert set(replaced) == {a.ref for a in actions.ALL}
    for folder in replaced.values():
        assert (Path(folder) / "action.yml").is_file()
    assert _values(cmd, "--var") == [f"AWS_ROLE_ARN={act.FAKE_ROLE_ARN}"]
    # act must not read the checkout's .env/.secrets: Tier 2 owns those.
    for flag in ("--env-file", "--secret-file", "--var-file", "--input-file"):
        assert _values(cmd, flag) == [str(tmp_path / "work" / "empty")]


def test_aws_endpoint_is_handed_to_the_stand_in(tmp_path: Path) -> None:
    cmd = _run(tmp_path, aws_endpoint="http://127.0.0.1:5000").command()
    assert f"{act.ENV_AWS_ENDPOINT}=http://127.0.0.1:5000" in _values(cmd, "--env")
    assert not any(v.startswith(act.ENV_AWS_ENDPOINT) for v in
                   _values(_run(tmp_path).command(), "--env"))


def test_environment_is_an_allow_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-the-laptop")
    monkeypatch.setenv("AWS_PROFILE", "prod")
    monkeypatch.setenv("HOME", "/home/dev")
    monkeypatch.setenv("EXTRA_ONE", "1")
    env = _run(tmp_path, pass_env=["EXTRA_ONE"]).environment()
    assert "OPENAI_API_KEY" not in env and "AWS_PROFILE" not in env
    assert env["HOME"] == "/home/dev" and env["EXTRA_ONE"] == "1"
    assert env["PATH"].split(":")[0] == "/opt/py/bin"


def test_unknown_service_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        act.build(["no_such_service"], ROOT)
    assert "unknown service" in capsys.readouterr().err
