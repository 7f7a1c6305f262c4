"""Every environment variable the framework reads, declared once.

The configuration reference (``docs/configuration.md``) is generated from this
table, the .env layers and :mod:`ci.exit_codes` (``python -m ci.tier2.docs``),
and a unit test fails when a ``TIERS_*`` name used in the code is missing here
or the document is stale: the reference cannot drift from the code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ci.errors import ConfigError


@dataclass(frozen=True)
class Option:
    name: str
    read_by: str
    default: str
    help: str


OPTIONS: tuple[Option, ...] = (
    # -- selecting the run -------------------------------------------------
    Option("CI", "Tier 2, Tier 3, tests", "unset",
           "`true` selects the `ci` environment, refuses local placeholders for secrets "
           "(so Parameter Store or the process env must supply them), and makes a missing "
           "test prerequisite fail instead of skip."),
    Option("TIERS_ENV", "Tier 2 (passed to Tier 3)", "`ci` when CI=true, else `local`",
           "Environment name: selects `.env.<name>`. `--env NAME` after `--` wins over it."),
    Option("TIERS_BACKEND", "Tier 3", "the service's default, then `auto`",
           "Backend for the backing services: `auto`, `local`, `compose` or `kubernetes` "
           "(`--backend` wins over it)."),
    Option("TIERS_ARTIFACTS_DIR", "Tier 3", "`<checkout>/artifacts`",
           "Base folder for run artifacts (`--artifacts` wins over it)."),
    Option("TIERS_NO_CACHE", "Tier 3", "unset",
           "`1` ignores every cache (migrated databases, results) like `--no-cache`."),
    Option("TIERS_RESULT_CACHE", "Tier 3, `nox -s integration --list`", "`on`",
           "`off` turns off only the cache of passed runs (the framework's own tests do), "
           "leaving the migrated-database cache on."),
    Option("TIERS_NO_PRESTART", "Tier 3", "unset",
           "Set to start pytest only when the backends are ready, instead of loading it "
           "while they start (for a suite whose start-up must see the endpoints)."),
    Option("TIERS_GATE_FD", "set by Tier 3 in pytest's env", "unset",
           "The pipe a prestarted pytest waits on for the suite's final environment."),
    Option("TIERS_PRELOAD", "set by Tier 3 in pytest's env", "unset",
           "Comma-separated modules a prestarted pytest imports while its gate is shut "
           "(`Suite(preload=...)`; by default the backends' client libraries)."),
    Option("TIERS_RESULT_FILE", "Tier 3 (set by Tier 2)", "a temporary file",
           "Where Tier 3 writes the absolute path of its run folder when it ends, so Tier 2 "
           "can report run.json and junit.xml to GitHub. Set by Tier 2; not for people."),
    Option("TIERS_PYTEST_COUNTS", "the `tiers_counts` pytest plugin (set by Tier 3)", "unset",
           "File where pytest's own closing counts (passed, failed, error, skipped, xfailed, "
           "xpassed, rerun, deselected) are written as JSON, when pytest runs with "
           "`-p tiers_counts`. Unset: nothing is written."),
    # -- Parameter Store -----------------------------------------------------
    Option("TIERS_SSM", "Tier 2", "`auto`",
           "`auto`: call Parameter Store only for declared variables that are unset and "
           "have no usable local placeholder (and for `ssm_path` when CI=true or a required "
           "variable is still missing); `always`: fetch even when a placeholder would do; "
           "`never`: do not call AWS."),
    Option("TIERS_SSM_MAX_ATTEMPTS", "Tier 2", "`6`",
           "Calls per Parameter Store request, retries included (throttling, "
           "unreachable endpoint)."),
    Option("TIERS_SSM_MAX_SECONDS", "Tier 2", "`30`",
           "Time budget in seconds for the retries of one Parameter Store request."),
    Option("AWS_REGION / AWS_DEFAULT_REGION", "Tier 2 (boto3)", "none",
           "Region of Parameter Store. Missing region is a configuration error (exit 2)."),
    Option("AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_PROFILE",
           "Tier 2 (boto3)", "boto3's credential chain",
           "AWS credentials; on GitHub Actions set by aws-actions/configure-aws-credentials "
           "(OIDC). Read from the process env or the .env layers."),
    Option("AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SSM", "Tier 2 (boto3)", "AWS",
           "Endpoint override, e.g. a moto server in tests."),
    # -- secrets and output --------------------------------------------------
    Option("TIERS_SECRET_NAMES", "Tier 3 (set by Tier 2)", "empty",
           "Comma-separated *names* of variables whose values Tier 3 must mask; the values "
           "themselves travel only in the environment."),
    Option("GITHUB_ACTIONS", "Tier 2, Tier 3", "unset",
           "`true` announces every secret line with `::add-mask::` and folds stages with "
           "`::group::`."),
    Option("GITHUB_OUTPUT", "`nox -s matrix`, `python -m ci.tier1.generate --matrix-from`",
           "unset",
           "When set, the service matrix is also appended to it as `matrix=<json>`."),
    # -- run identity (set by Tier 3 on everything it starts) ------------------
    Option("TIERS_RUN_ID", "set by Tier 3", "random",
           "Run id carried by processes, containers and temp dirs."),
    Option("TIERS_OWNER", "set by Tier 3", "`pid:start-time`",
           "Owner process token; a later run sweeps leftovers whose owner is gone."),
    Option("TIERS_CHECKOUT", "set by Tier 3", "the checkout",
           "Which checkout a leftover belongs to."),
    Option("TIERS_SERVICE", "set by Tier 3", "the service",
           "Which service a process or container belongs to."),
    Option("TIERS_SUITE_OF", "set by Tier 3 in pytest's env", "the run id",
           "Marks the suite's processes: whatever still carries it after pytest exits is "
           "stopped."),
    # -- backends --------------------------------------------------------------
    Option("TIERS_PG_USER", "local backend", "`nobody`",
           "Unprivileged user PostgreSQL runs as when Tier 3 runs as root."),
    Option("DOCKER_HOST", "Tier 3", "`/var/run/docker.sock`",
           "Docker daemon the compose backend (and `auto`) talks to."),
    Option("TIERS_COMPOSE", "compose backend", "`docker compose`, then `docker-compose`",
           "Force the compose command line (e.g. `docker-compose` for compose v1)."),
    Option("TIERS_NO_CACHE", "compose backend", "unset",
           "`1`: do not start PostgreSQL from the migrated-database cache; rebuild it."),
    Option("TIERS_PG_DURABLE", "compose backend", "unset",
           "`1`: keep PostgreSQL's fsync/synchronous_commit/full_page_writes defaults."),
    Option("TIERS_PULL_TIMEOUT", "`nox -s images`", "`60`",
           "Seconds to try pulling an image before building a local stand-in."),
    Option("TIERS_DEBIAN_MIRROR", "`nox -s images`", "deb.debian.org",
           "Debian mirror for the debootstrap base image."),
    # -- kubernetes backend (docs/kubernetes-backend.md) -------------------------
    Option("KUBECONFIG", "kubernetes backend", "`~/.kube/config`",
           "Kubeconfig file(s) the kubernetes backend reads contexts and credentials from."),
    Option("TIERS_KUBE_CONTEXT", "kubernetes backend", "unset",
           "Kube context to use (`--kube-context` wins). Unset: only a local kind-*, k3d-*, "
           "minikube, docker-desktop or rancher-desktop current context; never under CI=true."),
    Option("TIERS_KUBE_START_BUDGET", "kubernetes backend", "`300`",
           "Seconds for scheduling and image pulls, apart from the readiness timeout."),
    Option("TIERS_KUBE_DELETE_TIMEOUT", "kubernetes backend", "`60`",
           "Seconds teardown waits for the run's namespace to be gone."),
    Option("TIERS_KUBE_TEST_IMAGE", "kubernetes backend (`--in-cluster`)",
           "`tiers/<service>-tests:local`", "Test image of the suite Job."),
    Option("TIERS_KUBE_IN_POD", "set by the kubernetes backend inside the suite Job",
           "unset", "The run's namespace: the runner in the Job uses cluster DNS endpoints."),
    # -- running Tier 1 locally with act -----------------------------------------
    Option("TIERS_ACT_AWS_ENDPOINT_URL", "`nox -s tier1`", "unset",
           "AWS endpoint (e.g. a moto server) the workflow's Parameter Store calls go to "
           "under act."),
    Option("TIERS_ACT_PYTHON", "`nox -s tier1` (set inside the act job)", "the host's python",
           "Interpreter the stand-in setup-python action puts on the job's PATH."),
    Option("TIERS_ACT_ARTIFACTS", "`nox -s tier1` (set inside the act job)", "a temp dir",
           "Where the stand-in upload-artifact action copies the run's artifacts."),
)

SSM_MODES = ("auto", "always", "never")


def by_name() -> dict[str, Option]:
    table: dict[str, Option] = {}
    for opt in OPTIONS:
        for name in opt.name.split(" / "):
            table[name] = opt
    return table


def ssm_mode(environ: Mapping[str, str] = os.environ) -> str:
    mode = environ.get("TIERS_SSM", "auto").strip().lower() or "auto"
    if mode not in SSM_MODES:
        raise ConfigError(f"TIERS_SSM={mode!r} is not one of {', '.join(SSM_MODES)}")
    return mode


def number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be positive")
    return value
