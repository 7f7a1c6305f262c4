"""Every row of the bad-input corpus (cases.py), run for real and judged four ways.

1. the exit code is the documented one for that mistake (ci/exit_codes.py);
2. the error message names what is at fault (``Case.says``);
3. no traceback and no "internal error" was printed, and an exit 2 started nothing;
4. nothing is left: no process of the checkout, no temp dir of the run, no
   container, network or volume labelled with the checkout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.exit_codes import ExitCode
from tests.badinput.cases import _PARAM, CASES
from tests.badinput.faulty_ssm import FaultySSM
from tests.badinput.harness import Case, Checkout, Result, cleanup, leftovers, make_checkout, run
from tests.integration.moto_ssm import MotoSSM
from tests.prereqs import need_docker

pytestmark = pytest.mark.integration


def _param(case: Case) -> object:
    marks: list[pytest.MarkDecorator] = []
    if case.docker:
        marks.append(pytest.mark.docker)
    if case.xfail:
        marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
    return pytest.param(case, id=case.id, marks=marks)


def _ssm_env(case: Case, request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if not case.nox:
        yield {}
        return
    moto: MotoSSM = request.getfixturevalue("moto_ssm")
    moto.put(_PARAM, "sk-corpus-value")
    env = moto.env()
    fault = {"ssm-access-denied": "AccessDeniedException",
             "ssm-throttled": "ThrottlingException"}.get(case.id)
    if fault is None:
        yield env
        return
    front = FaultySSM(moto.url, fault)
    try:
        yield {**env, "AWS_ENDPOINT_URL": front.url}
    finally:
        front.stop()


@pytest.fixture
def checkout(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Checkout]:
    case: Case = request.node.callspec.params["case"]
    if case.docker:
        need_docker()
    co = make_checkout(tmp_path, case)
    yield co
    sock = co.values.get("socket")
    if sock is not None:
        sock.close()


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, checkout: Checkout, request: pytest.FixtureRequest) -> None:
    gen = _ssm_env(case, request)
    extra = next(gen)
    if extra:
        case = Case(**{**case.__dict__, "env": {**extra, **case.env}})
    result: Result | None = None
    try:
        result = run(checkout, case)
        out = result.out
        assert "Traceback (most recent call last)" not in out, out
        assert "internal error" not in out, out
        assert result.code == case.code, f"exit {result.code}, expected {int(case.code)}:\n{out}"
        if case.code == ExitCode.CONFIG:  # exit 2 promises that nothing was started
            assert not re.search(r"\] up +\w", out), f"exit 2 after up:\n{out}"
        message = result.message()
        if case.says:
            assert message, f"no error message:\n{out}"
        missing = [s for s in case.says if s not in message]
        assert not missing, f"message lacks {missing}:\n{message}"
        missing = [s for s in case.says_in_output if s not in out]
        assert not missing, f"output lacks {missing}:\n{out}"
        if case.check:
            case.check(checkout, out)
        left = leftovers(checkout, result, docker=case.docker)
        assert not left, "left behind:\n  " + "\n  ".join(left) + "\n" + out
    finally:
        cleanup(checkout, result, docker=case.docker)
        gen.close()
