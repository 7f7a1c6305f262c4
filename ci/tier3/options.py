"""Every Tier 3 command-line option, declared once (nox's ``_options.py`` idea).

The argument parser and the configuration reference are both built from
:data:`FLAGS`, so the documented options cannot drift from the parsed ones.
Backends add their own flags through :data:`BACKEND_FLAGS` entries in the
same table.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from ci.stages import STAGES


@dataclass(frozen=True)
class Flag:
    flags: tuple[str, ...]
    help: str
    env: str | None = None
    """An environment variable that supplies the default (documented with the flag)."""
    metavar: str | None = None
    action: str | None = None
    group: str = "run"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")


FLAGS: tuple[Flag, ...] = (
    Flag(("--backend",), "how to run the backing services: auto (compose when Docker answers, "
         "else local), local, compose, or kubernetes; default: $TIERS_BACKEND, then the "
         "service's default_backend, then auto", env="TIERS_BACKEND", metavar="NAME"),
    Flag(("--only",), f"comma-separated stages to run, from {','.join(STAGES)}; without "
         "'up' it needs --attach", metavar="STAGES"),
    Flag(("--keep",), "leave the backends up; print how to reach and tear them down",
         action="store_true"),
    Flag(("--no-cache",), "ignore every cache (migrated databases, results) and refresh them",
         action="store_true", env="TIERS_NO_CACHE"),
    Flag(("--artifacts",), "artifacts base folder (default: $TIERS_ARTIFACTS_DIR or "
         "<checkout>/artifacts)", env="TIERS_ARTIFACTS_DIR", metavar="DIR"),
    Flag(("--env",), "environment name selecting the .env.<name> layer (default: $TIERS_ENV, "
         "else ci when CI=true, else local)", env="TIERS_ENV", metavar="NAME"),
    Flag(("--attach",), "use the backends of a run left up with --keep (skips up and down)",
         metavar="RUN_ID", group="mode"),
    Flag(("--down",), "tear down a run left up with --keep, and exit", metavar="RUN_ID",
         group="mode"),
    Flag(("--list-kept",), "list runs left up with --keep, and exit", action="store_true",
         group="mode"),
    Flag(("--dry-run",), "print what the run would start (for kubernetes: every manifest), "
         "start nothing, and exit", action="store_true", group="mode"),
    # -- kubernetes (docs/kubernetes-backend.md) -------------------------------------
    Flag(("--kube-context",), "kubernetes: the kubeconfig context (default: "
         "$TIERS_KUBE_CONTEXT; otherwise only a local kind-*/k3d-*/minikube/docker-desktop/"
         "rancher-desktop current context)", env="TIERS_KUBE_CONTEXT", metavar="NAME",
         group="backend"),
    Flag(("--load-images",), "kubernetes: import the stack's images into a kind/k3d cluster",
         action="store_true", group="backend"),
    Flag(("--in-cluster",), "kubernetes: run the suite itself as a Job in the cluster (test "
         "image: IMAGE, else $TIERS_KUBE_TEST_IMAGE)", env="TIERS_KUBE_TEST_IMAGE",
         metavar="IMAGE", group="backend", extra={"nargs": "?", "const": ""}),
)

MODES = ("attach", "down", "list_kept", "dry_run")
"""Flags that choose what the command does; at most one at a time."""
RUN_ONLY = ("only", "keep", "backend", "no_cache", "in_cluster", "load_images")
"""Flags that only mean something when a run is started."""


def build_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    groups: dict[str, argparse._ArgumentGroup] = {
        "run": parser.add_argument_group("the run"),
        "mode": parser.add_argument_group("other modes (one at a time)"),
        "backend": parser.add_argument_group("backend options"),
    }
    for flag in FLAGS:
        kwargs: dict[str, Any] = {"help": flag.help, **flag.extra}
        if flag.action:
            kwargs["action"] = flag.action
        if flag.metavar:
            kwargs["metavar"] = flag.metavar
        groups[flag.group].add_argument(*flag.flags, **kwargs)
    return parser


def markdown_table() -> str:
    rows = ["| Option | Falls back to | Meaning |", "|---|---|---|"]
    for flag in FLAGS:
        env = f"`{flag.env}`" if flag.env else ""
        rows.append(f"| `{' '.join(flag.flags)}` | {env} | {flag.help} |")
    return "\n".join(rows)
