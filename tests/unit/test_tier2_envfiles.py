"""The .env layers: precedence, service-over-root, empty values, no os.environ writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ci.errors import ConfigError
from ci.tier2.envfiles import PROCESS_ENV, layer_files, load_layers
from ci.tier2.secrets import looks_secret


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture()
def repo(tmp_path: Path) -> tuple[Path, Path]:
    svc = tmp_path / "services" / "svc"
    svc.mkdir(parents=True)
    return tmp_path, svc


def test_precedence_process_env_then_local_then_named_then_base(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    write(root / ".env", "A=base\nB=base\nC=base\nD=base\n")
    write(root / ".env.ci", "A=ci\nB=ci\nC=ci\n")
    write(root / ".env.local", "A=local\nB=local\n")
    layers = load_layers(root, svc, "ci", {"A": "process"})
    assert "A" not in layers.values  # the process env wins: nothing to add
    assert layers.shadowed["A"] == ".env.local"
    assert layers.values == {"B": "local", "C": "ci", "D": "base"}
    assert layers.sources == {"B": ".env.local", "C": ".env.ci", "D": ".env"}


def test_other_environment_file_is_ignored(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    write(root / ".env.staging", "A=staging\n")
    assert load_layers(root, svc, "ci", {}).values == {}
    assert load_layers(root, svc, "staging", {}).values == {"A": "staging"}


def test_service_file_beats_root_file_within_a_layer(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    write(root / ".env", "A=root\nB=root\n")
    write(svc / ".env", "A=service\n")
    write(root / ".env.local", "C=root-local\n")
    write(svc / ".env.ci", "C=service-ci\n")
    layers = load_layers(root, svc, "ci", {})
    assert layers.values == {"A": "service", "B": "root", "C": "root-local"}
    assert layers.sources["A"] == "services/svc/.env"


def test_empty_values_count_as_unset(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    write(root / ".env", "KEY=from-file\n")
    write(root / ".env.local", "KEY=\n")
    layers = load_layers(root, svc, "local", {"KEY": ""})
    assert layers.values == {"KEY": "from-file"}
    assert layers.sources["KEY"] == ".env"


def test_local_environment_does_not_read_env_local_twice(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    files = [p.relative_to(root).as_posix() for p in layer_files(root, svc, "local")]
    assert files == [".env", "services/svc/.env", ".env.local", "services/svc/.env.local"]


def test_nothing_is_written_to_os_environ(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    write(root / ".env", "TIERS_TEST_ONLY_IN_FILE=1\n")
    load_layers(root, svc, "local", dict(os.environ))
    assert "TIERS_TEST_ONLY_IN_FILE" not in os.environ


def test_environment_name_must_be_plain(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    with pytest.raises(ConfigError):
        load_layers(root, svc, "../etc", {})


def test_process_env_label_constant() -> None:
    assert PROCESS_ENV == "process env"


@pytest.mark.parametrize("name", ["DB_PASS", "GITHUB_PAT", "SLACK_WEBHOOK_URL", "DB_PWD",
                                  "SENTRY_DSN", "OPENAI_API_KEY", "AWS_SECRET_ACCESS_KEY",
                                  "JWT_SIGNING_KEY", "REDIS_PASSWORD", "PASS"])
def test_secret_like_names_are_secret(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize("name", ["PATH", "PASSTHROUGH", "DISABLE_VAULT_AUTH", "COMPASS_URL",
                                  "LOG_LEVEL", "PATTERN", "KEYSPACE"])
def test_ordinary_names_are_not(name: str) -> None:
    assert not looks_secret(name)


def test_an_unknown_environment_lists_those_that_exist(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    write(root / ".env.staging", "A=1\n")
    write(svc / ".env.prod", "A=1\n")
    with pytest.raises(ConfigError) as caught:
        load_layers(root, svc, "stagign", {})
    assert caught.value.code == 2
    assert "environments: ci, local, prod, staging" in caught.value.message
    assert "did you mean 'staging'" in caught.value.message
    assert load_layers(root, svc, "prod", {}).values == {"A": "1"}
    assert load_layers(root, svc, "ci", {}).values == {}  # built in, no file needed


def test_a_malformed_line_names_file_and_line(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    write(svc / ".env", "# comment\nGOOD=1\n\nthis is not a binding\n")
    with pytest.raises(ConfigError) as caught:
        load_layers(root, svc, "local", {})
    assert caught.value.message.startswith("services/svc/.env:4: not a KEY=value line")
    write(svc / ".env", 'A="never closed\nB=2\n')
    with pytest.raises(ConfigError, match=r"services/svc/\.env:1: \" is never closed"):
        load_layers(root, svc, "local", {})


def test_the_usual_dotenv_syntax_is_read(repo: tuple[Path, Path]) -> None:
    root, svc = repo
    write(root / ".env", "export A=plain # a comment\nB='lit ${A} #x'\n"
          'C="line1\\nq\\"${A}"\nD=${MISSING:-fallback}/${HOME_X}\nE="two\nlines"\n')
    values = load_layers(root, svc, "local", {"HOME_X": "h"}).values
    assert values == {"A": "plain", "B": "lit ${A} #x", "C": 'line1\nq"plain',
                      "D": "fallback/h", "E": "two\nlines"}
