"""The whole of Tier 2's resolution with a fake Parameter Store."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from ci.console import Console
from ci.errors import ConfigError
from ci.masking import masker
from ci.service import Service, secret, var
from ci.tier2.prepare import environment_name, prepare, render_table, report
from ci.tier2.ssm import FetchResult, ParameterStore, Wanted

SECRET = "sk-fetched-0123456789"


@pytest.fixture(autouse=True)
def clean_masker() -> Iterator[None]:
    masker.clear()
    yield
    masker.clear()


class FakeStore(ParameterStore):
    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(lambda: None)
        self.values = dict(values)
        self.asked: list[list[Wanted]] = []

    def fetch(self, wanted, path=None, *, already_set=None):  # type: ignore[no-untyped-def]
        self.asked.append(list(wanted))
        result = FetchResult()
        for w in wanted:
            if w.parameter in self.values:
                result.values[w.var] = self.values[w.parameter]
                result.parameters[w.var] = w.parameter
            else:
                result.problems[w.var] = "parameter not found"
        result.stats.calls = 1
        return result


def factory(store: FakeStore) -> Callable[..., ParameterStore]:
    return lambda environ, say: store


@pytest.fixture()
def service(tmp_path: Path) -> Service:
    svc = tmp_path / "services" / "svc"
    (svc / "ci").mkdir(parents=True)
    (tmp_path / ".env").write_text("SHARED=one\nDB_PASSWORD=file-password-123\n")
    return Service(
        root=svc,
        env={"TESTING": "true"},
        requires=[
            secret("OPENAI_API_KEY", ssm="/p/openai", local_default="sk-local"),
            var("LEVEL", default="info"),
        ],
    )


def run(service: Service, environ: dict[str, str], store: FakeStore):  # type: ignore[no-untyped-def]
    out = io.StringIO()
    prepared = prepare(service, environment=environment_name(None, environ), environ=environ,
                       console=Console(prefix="t", stream=out), store_factory=factory(store))
    report(prepared, Console(prefix="t", stream=out))
    return prepared, out.getvalue()


def test_ci_fetches_masks_and_passes_the_secret(service: Service) -> None:
    store = FakeStore({"/p/openai": SECRET})
    prepared, out = run(service, {"CI": "true"}, store)
    prepared.raise_if_invalid()
    assert prepared.environment == "ci"
    assert len(store.asked) == 1 and store.asked[0] == [Wanted("OPENAI_API_KEY", "/p/openai")]
    assert prepared.env["OPENAI_API_KEY"] == SECRET
    assert prepared.env["SHARED"] == "one" and prepared.env["LEVEL"] == "info"
    assert prepared.secret_names == ["DB_PASSWORD", "OPENAI_API_KEY"]
    assert masker.redact(SECRET) == "***" and masker.redact("file-password-123") == "***"
    assert SECRET not in out and "file-password-123" not in out
    rows = {r.name: r for r in prepared.rows}
    assert rows["OPENAI_API_KEY"].source == "Parameter Store /p/openai"
    assert rows["SHARED"].source == ".env" and rows["LEVEL"].source == "default"
    assert rows["TESTING"].source == "tier3.py env"


def test_local_run_with_placeholder_never_calls_aws(service: Service) -> None:
    store = FakeStore({})
    prepared, out = run(service, {}, store)
    prepared.raise_if_invalid()
    assert store.asked == []
    assert prepared.env["OPENAI_API_KEY"] == "sk-local"
    assert "not asked" in out and "local placeholder" in out


def test_already_set_is_not_fetched_and_says_so(service: Service) -> None:
    store = FakeStore({"/p/openai": SECRET})
    prepared, out = run(service, {"CI": "true", "OPENAI_API_KEY": "sk-from-env-999"}, store)
    assert store.asked == []
    assert "OPENAI_API_KEY" not in prepared.env  # inherited, not re-passed
    assert "already set; Parameter Store /p/openai not asked" in out
    assert "sk-from-env-999" not in out


def test_missing_parameter_is_one_config_error_after_the_table(service: Service) -> None:
    prepared, out = run(service, {"CI": "true"}, FakeStore({}))
    assert "OPENAI_API_KEY" in out and "NOT SET" in out
    with pytest.raises(ConfigError) as info:
        prepared.raise_if_invalid()
    assert "OPENAI_API_KEY: required but not set; SSM parameter /p/openai: parameter not found" \
        in info.value.message


def test_table_never_shows_a_value(service: Service) -> None:
    prepared, _ = run(service, {"CI": "true"}, FakeStore({"/p/openai": SECRET}))
    table = render_table(prepared)
    assert SECRET not in table and "one" not in table.split()
    assert table.splitlines()[0].split() == ["VARIABLE", "SOURCE", "STATE", "VALUE"]


def test_environment_name_rules() -> None:
    assert environment_name("staging", {"TIERS_ENV": "x", "CI": "true"}) == "staging"
    assert environment_name(None, {"TIERS_ENV": "x", "CI": "true"}) == "x"
    assert environment_name(None, {"CI": "true"}) == "ci"
    assert environment_name(None, {}) == "local"
