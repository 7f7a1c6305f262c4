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
           "Backend for the backing services: `auto`, `local` or `compose` "
           "(`--backend` wins over it)."),
    Option("TIERS_ARTIFACTS_DIR", "Tier 3", "`<checkout>/artifacts`",
           "Base folder for run artifacts (`--artifacts` wins over it)."),
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
    Option("GITHUB_OUTPUT", "`nox -s matrix`", "unset",
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
