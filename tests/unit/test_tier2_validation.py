"""Validation collects every problem into one exit-2 message."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.errors import ConfigError
from ci.exit_codes import ExitCode
from ci.service import Service, secret, var
from ci.validation import check_env, resolve_env


def make(tmp_path: Path) -> Service:
    return Service(
        root=tmp_path / "services" / "svc",
        requires=[
            secret("API_KEY", ssm="/p/api_key"),
            secret("TOKEN", ssm="/p/token", local_default="placeholder"),
            var("PORT", pattern=r"\d+"),
            var("REGION", default="eu-west-1"),
            var("OPTIONAL", required=False),
            secret("PASSWORD", pattern=r"[a-z]{8,}"),
        ],
    )


def test_all_problems_in_one_message(tmp_path: Path) -> None:
    service = make(tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_env(service, {"CI": "true", "PORT": "eighty", "PASSWORD": "short1"})
    message = info.value.message
    assert info.value.code == ExitCode.CONFIG
    for expected in ("API_KEY: required but not set (SSM parameter /p/api_key)",
                     "TOKEN: required but not set", "PORT: does not match",
                     "PASSWORD: does not match", "4 problems"):
        assert expected in message
    assert "short1" not in message  # a secret's bad value is never echoed
    assert "'eighty'" in message  # a plain one is, to help


def test_defaults_and_local_placeholders(tmp_path: Path) -> None:
    service = make(tmp_path)
    env = {"API_KEY": "x" * 10, "PORT": "80", "PASSWORD": "abcdefgh"}
    result = resolve_env(service, env)
    assert result.values == {"REGION": "eu-west-1", "TOKEN": "placeholder"}
    assert result.sources == {"REGION": "default", "TOKEN": "local placeholder"}
    with pytest.raises(ConfigError, match="TOKEN"):
        resolve_env(service, {**env, "CI": "true"})  # CI=true refuses the placeholder


def test_unavailable_names_parameter_and_reason(tmp_path: Path) -> None:
    service = make(tmp_path)
    result = check_env(service, {"CI": "true", "PORT": "1", "PASSWORD": "abcdefgh"},
                       unavailable={"API_KEY": "no AWS credentials found",
                                    "TOKEN": "parameter not found"},
                       general=["SSM path /p: access denied"])
    assert result.problems == [
        "API_KEY: required but not set; SSM parameter /p/api_key: no AWS credentials found",
        "TOKEN: required but not set; SSM parameter /p/token: parameter not found",
        "SSM path /p: access denied",
    ]
