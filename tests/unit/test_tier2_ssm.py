"""Parameter Store logic against a fake client: batching, retries, error reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from ci.errors import InfraError
from ci.tier2.retry import RetryPolicy
from ci.tier2.ssm import (
    BATCH,
    NO_CREDENTIALS,
    ParameterStore,
    SetupProblem,
    Wanted,
    batches,
    env_name_for,
    not_found,
)


def client_error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetParameters")


class FakeSSM:
    """Holds parameters; fails the first ``throttle`` calls of each operation."""

    def __init__(self, params: dict[str, str], *, throttle: int = 0,
                 error: Exception | None = None) -> None:
        self.params = params
        self.throttle = throttle
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _maybe_fail(self) -> None:
        if self.error is not None:
            raise self.error
        if self.throttle:
            self.throttle -= 1
            raise client_error("ThrottlingException", "Rate exceeded")

    def get_parameters(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_parameters", kwargs))
        assert len(kwargs["Names"]) <= BATCH
        assert kwargs["WithDecryption"] is True
        self._maybe_fail()
        names = kwargs["Names"]
        return {"Parameters": [{"Name": n, "Value": self.params[n]} for n in names
                               if n in self.params],
                "InvalidParameters": [n for n in names if n not in self.params]}

    def get_parameters_by_path(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("get_parameters_by_path", kwargs))
        self._maybe_fail()
        names = sorted(n for n in self.params if n.startswith(kwargs["Path"].rstrip("/") + "/"))
        start = int(kwargs.get("NextToken", 0))
        page = names[start:start + kwargs["MaxResults"]]
        out: dict[str, Any] = {"Parameters": [{"Name": n, "Value": self.params[n]}
                                              for n in page]}
        if start + len(page) < len(names):
            out["NextToken"] = str(start + len(page))
        return out


def store(fake: FakeSSM, **policy: Any) -> tuple[ParameterStore, list[str], list[float]]:
    said: list[str] = []
    slept: list[float] = []
    return (ParameterStore(lambda: fake, policy=RetryPolicy(**policy), say=said.append,
                           sleep=slept.append), said, slept)


def test_batches_are_unique_and_at_most_ten() -> None:
    names = [f"/p/{i}" for i in range(23)] + ["/p/0"]
    out = batches(names)
    assert [len(b) for b in out] == [10, 10, 3]
    assert [n for b in out for n in b] == [f"/p/{i}" for i in range(23)]


def test_one_round_trip_for_the_example_and_three_for_23() -> None:
    fake = FakeSSM({"/zerotouch/key": "v"})
    ps, _, _ = store(fake)
    result = ps.fetch([Wanted("OPENAI_API_KEY", "/zerotouch/key")])
    assert result.values == {"OPENAI_API_KEY": "v"}
    assert result.stats.calls == 1 and len(fake.calls) == 1

    fake = FakeSSM({f"/p/{i}": str(i) for i in range(23)})
    ps, _, _ = store(fake)
    result = ps.fetch([Wanted(f"V{i}", f"/p/{i}") for i in range(23)])
    assert len(fake.calls) == 3 and result.stats.calls == 3
    assert result.values["V22"] == "22"


def test_two_vars_on_one_parameter_fetch_it_once() -> None:
    fake = FakeSSM({"/p/a": "v"})
    ps, _, _ = store(fake)
    result = ps.fetch([Wanted("A", "/p/a"), Wanted("B", "/p/a")])
    assert fake.calls[0][1]["Names"] == ["/p/a"]
    assert result.values == {"A": "v", "B": "v"}


def test_not_found_lists_every_missing_parameter() -> None:
    fake = FakeSSM({"/p/a": "v"})
    ps, _, _ = store(fake)
    result = ps.fetch([Wanted("A", "/p/a"), Wanted("B", "/p/b"), Wanted("C", "/p/c")])
    assert result.problems == {"B": not_found(None), "C": not_found(None)}


def test_throttling_is_retried_counted_and_reported() -> None:
    fake = FakeSSM({"/p/a": "v"}, throttle=2)
    ps, said, slept = store(fake, max_attempts=5, base=0.1, cap=1.0)
    result = ps.fetch([Wanted("A", "/p/a")])
    assert result.values == {"A": "v"}
    assert result.stats.calls == 3 and result.stats.retries == 2
    assert len(said) == 2 and all("throttled" in s for s in said)
    assert "retry 1/4" in said[0] and "retry 2/4" in said[1]
    assert len(slept) == 2 and all(0 <= s <= 1.0 for s in slept)
    assert slept[0] <= 0.1 and slept[1] <= 0.2  # full jitter under base * 2**n
    assert "2 retries" in result.summary()


def test_throttling_past_the_attempt_budget_is_an_infra_error() -> None:
    fake = FakeSSM({"/p/a": "v"}, throttle=99)
    ps, said, _ = store(fake, max_attempts=3)
    with pytest.raises(InfraError, match="3 attempts"):
        ps.fetch([Wanted("A", "/p/a")])
    assert len(fake.calls) == 3 and len(said) == 2


@pytest.mark.parametrize(("error", "expected"), [
    (client_error("AccessDeniedException", "not authorized"), "access denied"),
    (client_error("UnrecognizedClientException"), "rejected the credentials"),
])
def test_client_errors_become_per_variable_problems(error: Exception, expected: str) -> None:
    ps, _, _ = store(FakeSSM({}, error=error))
    result = ps.fetch([Wanted("A", "/p/a"), Wanted("B", "/p/b")])
    assert set(result.problems) == {"A", "B"}
    assert all(expected in reason for reason in result.problems.values())


def test_setup_problem_applies_to_every_variable() -> None:
    def factory() -> Any:
        raise SetupProblem(NO_CREDENTIALS)

    ps = ParameterStore(factory, say=lambda s: None)
    result = ps.fetch([Wanted("A", "/p/a")], "/p/")
    assert result.problems == {"A": NO_CREDENTIALS}
    assert result.general == [f"SSM path /p/: {NO_CREDENTIALS}"]


def test_path_is_paged_and_does_not_override_what_is_set() -> None:
    params = {f"/svc/prod/key-{i:02d}": f"v{i}" for i in range(23)}
    params["/svc/prod/nested/db_password"] = "pw"
    fake = FakeSSM(params)
    ps, _, _ = store(fake)
    result = ps.fetch([], "/svc/prod", already_set={"KEY_00": "mine"})
    assert [c[0] for c in fake.calls] == ["get_parameters_by_path"] * 3
    assert all(c[1]["Recursive"] and c[1]["WithDecryption"] for c in fake.calls)
    assert "KEY_00" not in result.values
    assert any("KEY_00: already set" in n for n in result.notes)
    assert result.values["KEY_22"] == "v22" and result.values["DB_PASSWORD"] == "pw"
    assert len(result.values) == 23


def test_env_name_for() -> None:
    assert env_name_for("/zerotouch/prod/agent-executor/openai_api_key") == "OPENAI_API_KEY"
    assert env_name_for("/a/b/db-password") == "DB_PASSWORD"


def test_without_boto3_every_wanted_variable_says_how_to_get_it(tmp_path: Path) -> None:
    """nox installed alone (`pip install nox`): exit 2 naming boto3, not a traceback."""
    import subprocess
    import sys

    blocker = tmp_path / "boto3"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('blocked for the test')\n")
    code = (
        "from ci.tier2.ssm import ParameterStore, Wanted, make_client, NO_BOTO3\n"
        "r = ParameterStore(lambda: make_client({'AWS_REGION': 'us-east-1'}),"
        " say=print).fetch([Wanted('K', '/p/k')])\n"
        "assert r.problems == {'K': NO_BOTO3}, r.problems\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, check=False,
                          env={"PYTHONPATH": f"{tmp_path}:{root}", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
