from pathlib import Path

import pytest
import yaml

from ci.backends.kubernetes import context
from ci.errors import ConfigError


def _kubeconfig(tmp_path: Path, current: str, names: list[str]) -> dict[str, str]:
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "contexts": [{"name": n, "context": {"cluster": n, "user": n}} for n in names]}))
    return {"KUBECONFIG": str(path)}


@pytest.mark.parametrize("name", ["kind-tiers", "k3d-dev", "minikube", "docker-desktop",
                                  "rancher-desktop"])
def test_local_current_context_is_accepted(tmp_path: Path, name: str) -> None:
    chosen = context.choose(None, _kubeconfig(tmp_path, name, [name, "prod"]))
    assert chosen.context == name and "local" in chosen.reason


def test_other_current_context_must_be_named(tmp_path: Path) -> None:
    env = _kubeconfig(tmp_path, "prod-eu", ["prod-eu", "kind-x"])
    with pytest.raises(ConfigError, match="'prod-eu' is not a well-known local") as err:
        context.choose(None, env)
    assert "--kube-context prod-eu" in err.value.hint
    assert context.choose("prod-eu", env).reason == "--kube-context"
    assert context.choose(None, {**env, context.ENV_CONTEXT: "prod-eu"}).context == "prod-eu"


def test_ci_never_falls_back_to_the_current_context(tmp_path: Path) -> None:
    env = {**_kubeconfig(tmp_path, "kind-x", ["kind-x"]), "CI": "true"}
    with pytest.raises(ConfigError, match="CI=true"):
        context.choose(None, env)
    assert context.choose("kind-x", env).context == "kind-x"


def test_unknown_context_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'nope' is not in the kubeconfig") as err:
        context.choose("nope", _kubeconfig(tmp_path, "kind-x", ["kind-x", "k3d-y"]))
    assert "kind-x, k3d-y" in err.value.hint


def test_missing_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no kubeconfig found"):
        context.choose(None, {"KUBECONFIG": str(tmp_path / "absent")})


def test_first_file_sets_the_current_context(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _kubeconfig(tmp_path / "a", "kind-a", ["kind-a"])["KUBECONFIG"]
    b = _kubeconfig(tmp_path / "b", "prod", ["prod"])["KUBECONFIG"]
    chosen = context.choose(None, {"KUBECONFIG": f"{a}:{b}"})
    assert chosen.context == "kind-a"
    assert context.choose("prod", {"KUBECONFIG": f"{a}:{b}"}).context == "prod"
