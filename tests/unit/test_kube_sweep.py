import datetime as dt
from typing import Any

from ci.backends.kubernetes import names, sweep

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
HASH = "c0ffee0000000000"


def ns(name: str = "tiers-x-1", *, checkout: str = HASH, host: str = "here",
       owner: str = "123:456", expires: str = "2026-11-23T18:00:00+00:00", run: str = "1",
       kept: bool = False, phase: str = "Active") -> dict[str, Any]:
    labels = {names.MANAGED_BY: "tiers", names.CHECKOUT: checkout, names.RUN_ID: run}
    if kept:
        labels[names.KEPT] = "true"
    return {"metadata": {"name": name, "labels": labels, "annotations": {
        names.OWNER: owner, names.HOST: host, names.EXPIRES: expires}},
        "status": {"phase": phase}}


def decide(n: dict[str, Any], alive: bool = False) -> sweep.Decision:
    return sweep.decide(n, checkout_hash=HASH, host="here", now=NOW, current_run="now",
                        alive=lambda _owner: alive)


def test_same_host_uses_the_owner_pid() -> None:
    assert decide(ns(), alive=False).delete
    assert not decide(ns(), alive=True).delete
    assert "running" in decide(ns(), alive=True).reason


def test_other_host_uses_the_expiry() -> None:
    assert not decide(ns(host="elsewhere")).delete
    assert decide(ns(host="elsewhere", expires="2026-11-23T11:59:00+00:00")).delete
    assert not decide(ns(host="elsewhere", expires="garbage")).delete


def test_never_kept_current_other_checkout_or_foreign() -> None:
    assert not decide(ns(kept=True)).delete
    assert not decide(ns(run="now")).delete
    assert not decide(ns(checkout="other")).delete
    foreign = ns()
    foreign["metadata"]["labels"].pop(names.MANAGED_BY)
    assert not decide(foreign).delete
    assert not decide(ns(phase="Terminating")).delete


def test_selector_names_manager_and_checkout() -> None:
    assert sweep.selector(HASH) == f"app.kubernetes.io/managed-by=tiers,tiers.dev/checkout={HASH}"


def test_auto_never_chooses_kubernetes(tmp_path: Any) -> None:
    from ci.tier3 import select
    from tests.kube_support import example_service

    service = example_service()
    for environ in ({}, {"KUBECONFIG": str(tmp_path)}, {select.ENV_BACKEND: "auto"}):
        name, _ = select.choose("auto", service, environ)
        assert name in ("local", "compose")
    assert select.choose("kubernetes", service, {})[0] == "kubernetes"
