"""The corpus: every row one mistake, its exit code and what the message must name.

Rows are grouped as a user meets them: the command line, the runner file, the
compose file, .env files and SSM, then the suite itself. ``says`` holds the
fragments an on-call engineer needs (the file, key or service at fault and the
way out), not whole sentences, so wording can improve without breaking rows.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from ci.exit_codes import ExitCode
from tests.badinput.harness import ROOT, Case, Checkout, declare, run_json

OK, FAILED, CONFIG, INFRA, SUITE = (ExitCode.OK, ExitCode.TESTS_FAILED, ExitCode.CONFIG,
                                    ExitCode.INFRA, ExitCode.SUITE)

# -- the command line -----------------------------------------------------------
CLI = [
    Case("cli-unknown-flag", CONFIG, ("unrecognized arguments: --bogus",), args=("--bogus",)),
    Case("cli-unknown-only-stage", CONFIG, ("--only", "tset", "test"), args=("--only", "tset")),
    Case("cli-down-with-only", CONFIG, ("--down", "--only"),
         args=("--down", "deadbeef", "--only", "test"), backend=None),
    Case("cli-list-kept-with-backend", CONFIG, ("--list-kept", "--backend"),
         args=("--list-kept", "--backend", "compose"), backend=None),
    Case("cli-only-down-alone", CONFIG, ("--only down", "--down RUN_ID"), args=("--only", "down")),
    Case("cli-only-test-without-attach", CONFIG, ("--attach",), args=("--only", "test")),
    Case("cli-attach-unknown-run", CONFIG, ("deadbeef", "--keep"),
         args=("--attach", "deadbeef"), backend=None),
    Case("cli-down-unknown-run", CONFIG, ("deadbeef", "--list-kept"),
         args=("--down", "deadbeef"), backend=None),
    Case("cli-attach-and-down", CONFIG, ("--attach", "--down", "cannot be combined"),
         args=("--attach", "a", "--down", "b"), backend=None),
    Case("cli-corrupt-kept-list", CONFIG, (".tiers/kept/deadbeef.json",),
         args=("--list-kept",), backend=None,
         files={"/.tiers/kept/deadbeef.json": "{not json"}),
    Case("cli-corrupt-kept-down", CONFIG, (".tiers/kept/deadbeef.json",),
         args=("--down", "deadbeef"), backend=None,
         files={"/.tiers/kept/deadbeef.json": '{"run_id": "deadbeef"}'}),
    Case("cli-kept-run-of-unknown-backend", CONFIG, ("kubernets",),
         args=("--down", "deadbeef"), backend=None,
         files={"/.tiers/kept/deadbeef.json": '{"run_id": "deadbeef", "service": "x", '
                '"backend": "kubernets", "endpoints": {}, "down": ""}'}),
    Case("cli-unknown-backend", CONFIG, ("kubernets",), backend="kubernets"),
]

# -- the runner file (services/<name>/ci/tier3.py) --------------------------------
def _hold_port(co: Checkout) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    co.values["socket"] = sock  # closed when the case's checkout is dropped
    co.values["port"] = sock.getsockname()[1]


def _only_dotenv(co: Checkout) -> None:
    """A site folder holding python-dotenv alone: an interpreter outside the session's venv."""
    import dotenv

    (co.root / "site").mkdir(parents=True)
    (co.root / "site" / "dotenv").symlink_to(Path(dotenv.__file__).parent)


_HALFWAY = "INSERT INTO items (name) VALUES ('two');\nSELECT no_such_function();\n"
RUNNER = [
    Case("runner-garbage-in-backends", CONFIG, ("'redis'", "not a backend"),
         files={"ci/tier3.py": declare(backends='[postgres("db"), "redis"]')}),
    Case("runner-unknown-kind", CONFIG, ("mysql", "postgres"),
         files={"ci/tier3.py": declare(imports="Service, Suite, mysql",
                                       backends='[mysql("db")]')}),
    Case("runner-duplicate-backend-names", CONFIG, ("repeat", "db"),
         files={"ci/tier3.py": declare(backends='[postgres("db"), redis("db")]')}),
    Case("runner-hook-unknown-stage", CONFIG, ("tset", "stages"),
         files={"ci/tier3.py": declare(tail='''
             @service.before("tset")
             def seed(ctx):
                 pass
             ''')}),
    Case("runner-missing-migrations-folder", CONFIG, ("migrations", "does not exist"),
         files={"migrations": None}),
    Case("runner-migration-syntax-error", INFRA, ("002_seed.sql", "line 3"),
         files={"migrations/002_seed.sql": "INSERT INTO items (name)\nVALUES ('a'),\n"
                "  ('b' ,, );\n"}),
    Case("runner-migration-fails-halfway", INFRA,
         ("003_more.sql", "001_items.sql", "002_seed.sql"),
         files={"migrations/003_more.sql": _HALFWAY}),
    Case("runner-migration-own-commit", CONFIG, ("002_seed.sql", "COMMIT"),
         files={"migrations/002_seed.sql": "INSERT INTO items (name) VALUES ('one');\nCOMMIT;\n"}),
    Case("runner-migration-begin-commit", CONFIG, ("002_seed.sql", "BEGIN"),
         files={"migrations/002_seed.sql":
                "BEGIN;\nINSERT INTO items (name) VALUES ('one');\nCOMMIT;\n"}),
    Case("runner-migration-upper-case-suffix", CONFIG, ("003_x.SQL", "rename"),
         files={"migrations/003_x.SQL": "SELECT 1;"}),
    Case("runner-migration-sql-txt", CONFIG, ("003_x.sql.txt", "rename"),
         files={"migrations/003_x.sql.txt": "SELECT 1;"}),
    Case("runner-suite-path-missing", CONFIG, ("'test'", "did you mean 'tests'"),
         files={"ci/tier3.py": declare(suite='Suite("test", timeout=20)')}),
    Case("runner-export-unknown-backend", CONFIG, ("dbb", "did you mean 'db'"),
         files={"ci/tier3.py": declare(export='{"ITEMS_URL": "{dbb.url}"}')}),
    Case("runner-migrate-into-unknown", CONFIG, ("migrate_into='dbx'",),
         files={"ci/tier3.py": declare(migrate_into='"dbx"')}),
    Case("runner-required-var-missing-in-ci", CONFIG, ("ITEMS_API_URL",),
         env={"CI": "true"},
         files={"ci/tier3.py": declare(requires='[var("ITEMS_API_URL")]')}),
    Case("runner-var-pattern-mismatch", CONFIG, ("ITEMS_PORT",),
         env={"ITEMS_PORT": "eighty"},
         files={"ci/tier3.py": declare(requires='[var("ITEMS_PORT", pattern=r"[0-9]+")]')}),
    Case("runner-env-value-not-a-string", CONFIG, ("ITEMS_LIMIT", "strings"),
         files={"ci/tier3.py": declare(env='{"ITEMS_LIMIT": 10}')}),
    Case("runner-export-unknown-attribute", CONFIG, ("ITEMS_HOST", "db.hostname", "host"),
         files={"ci/tier3.py": declare(export='{"ITEMS_HOST": "{db.hostname}"}')}),
    Case("runner-secret-missing-locally", CONFIG, ("ITEMS_TOKEN",),
         files={"ci/tier3.py": declare(requires='[secret("ITEMS_TOKEN")]')}),
    Case("runner-hook-raises", INFRA, ("before_test", "seed()", "boom", "tier3.py, line"),
         files={"ci/tier3.py": declare(tail='''
             @service.before("test")
             def seed(ctx):
                 raise RuntimeError("boom")
             ''')}),
    # Checked by the local backend's preflight, before anything starts; a port another
    # process holds is the machine's state, not the declaration's: exit 3, holder named.
    Case("runner-local-pinned-port-taken", INFRA, ("port", "in use by pid"), setup=_hold_port,
         files={"ci/tier3.py": lambda co: declare(
             backends=f'[postgres("db", port={co.values["port"]}), redis("cache")]')}),
    # Found by the local backend's preflight, before anything starts: exit 2.
    Case("runner-min-version-too-high", CONFIG, ("cache", "99.0", "min_version"),
         files={"ci/tier3.py": declare(backends='[postgres("db"), redis("cache", '
                                       'min_version="99.0")]')}),
    Case("runner-migration-not-utf8", CONFIG, ("003_latin1.sql", "UTF-8"),
         files={"migrations/003_latin1.sql": "INSERT INTO items (name) VALUES ('caf\xe9');"
                .encode("latin-1")}),
    Case("runner-port-out-of-range", CONFIG, ("cache", "70000"),
         files={"ci/tier3.py": declare(backends='[postgres("db"), redis("cache", port=70000)]')}),
    Case("runner-var-pattern-not-a-regex", CONFIG, ("ITEMS_PORT", "pattern"),
         env={"ITEMS_PORT": "80"},
         files={"ci/tier3.py": declare(requires='[var("ITEMS_PORT", pattern="[0-9")]')}),
    Case("runner-probe-module-missing", CONFIG, ("psycopg, redis", "venv"),
         python=(sys.executable, "-S"), setup=_only_dotenv,
         env={"PYTHONPATH": lambda co: os.pathsep.join([str(ROOT), str(co.root / "site")])}),
    Case("runner-framework-module-missing", CONFIG, ("psycopg", "venv"),
         python=(sys.executable, "-S")),
]

# -- artifacts -------------------------------------------------------------------
ARTIFACTS = [
    Case("artifacts-folder-cannot-be-made", CONFIG, ("/proc/tiers-corpus",),
         args=("--artifacts", "/proc/tiers-corpus")),
    Case("artifacts-folder-is-a-file", CONFIG, ("not-a-folder",),
         args=("--artifacts", "not-a-folder"), files={"/not-a-folder": "a file\n"}),
    Case("artifacts-env-under-a-file", CONFIG, ("not-a-folder/sub",),
         env={"TIERS_ARTIFACTS_DIR": lambda co: str(co.root / "not-a-folder" / "sub")},
         files={"/not-a-folder": "a file\n"}),
]

# -- .env files and environment names (read by Tier 3 as Tier 2 reads them) ---------
# --dry-run: the environment is resolved before it, and it starts nothing, so a row
# that wrongly goes on costs a second, not a whole run.
ENVFILES = [
    Case("env-malformed-line", CONFIG, (".env:2", "KEY=value"),
         args=("--dry-run",),
         files={"/.env": "ITEMS_GOOD=1\nthis line is not an assignment\n"}),
    Case("env-unknown-name", CONFIG, ("stagign", "staging"),
         args=("--env", "stagign", "--dry-run"), files={"/.env.staging": "ITEMS_GOOD=1\n"}),
    Case("env-unknown-name-from-variable", CONFIG, ("prdo", "prod"),
         args=("--dry-run",), env={"TIERS_ENV": "prdo"}, files={"/.env.prod": "ITEMS_GOOD=1\n"}),
    Case("env-name-not-plain", CONFIG, ("../x", "plain name"), args=("--env", "../x")),
]

# -- the suite ---------------------------------------------------------------------
_HANG = '''
import time

def test_hangs():
    time.sleep(600)
'''
_FORK = '''
import pathlib, subprocess, sys

def test_leaves_a_child():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             start_new_session={new_session})
    pathlib.Path(__file__).with_name("child.pid").write_text(str(child.pid))
'''


def _child_was_started_and_is_gone(co: Checkout, _out: str) -> None:
    pid = int((co.service_dir / "tests" / "child.pid").read_text())
    state = Path(f"/proc/{pid}/stat")
    assert not state.exists() or state.read_text().rpartition(")")[2].split()[0] == "Z", (
        f"the test's child {pid} still runs")
_NON_UTF8 = '''
import sys

def test_prints_bytes():
    sys.stdout.buffer.write(b"caf\\xe9 \\xff\\xfe \\xc3\\x28\\n")
    sys.stdout.flush()
    assert b"\\xff\\xfe" == b"ok", b"caf\\xe9".decode("latin-1")
'''
def _verdict_recorded(co: Checkout, _out: str) -> None:
    found = run_json(co)
    assert found is not None and found["exit_code"] == FAILED, found
    assert found["tests"]["failed"] == 1, found


SUITE_CASES = [
    Case("suite-zero-tests", SUITE, ("no tests",),
         files={"tests/test_ok.py": "# nothing to collect\n"}),
    Case("suite-bad-pytest-args", SUITE, ("--no-such-pytest-flag",),
         args=("--", "--no-such-pytest-flag")),
    Case("suite-test-id-missing", SUITE, ("test_nope",),
         files={"ci/tier3.py": declare(
             suite='Suite("tests/test_ok.py::test_nope", timeout=20)')}),
    Case("suite-all-deselected", SUITE, ("no tests",), args=("--", "-k", "no_such_test")),
    Case("suite-conftest-import-error", SUITE, ("could not start", "tests/conftest.py"),
         files={"tests/conftest.py": "import no_such_module_for_corpus\n"}),
    Case("suite-test-file-syntax-error", FAILED, (), says_in_output=("test_ok.py", "SyntaxError"),
         files={"tests/test_ok.py": "def test_x(:\n    pass\n"}),
    Case("suite-test-hangs", FAILED, (),
         says_in_output=("Timeout (>3.0s)", "0 passed, 1 failed", "everything stopped and removed"),
         files={"ci/tier3.py": declare(suite='Suite("tests", timeout=3)'),
                "tests/test_ok.py": _HANG}),
    Case("suite-child-never-exits", OK, (), says_in_output=("passed",),
         check=_child_was_started_and_is_gone,
         files={"tests/test_ok.py": _FORK.format(new_session=False)}),
    Case("suite-child-never-exits-with-s", OK, (), says_in_output=("passed",),
         check=_child_was_started_and_is_gone,
         args=("--", "-s"), files={"tests/test_ok.py": _FORK.format(new_session=False)}),
    Case("suite-daemon-child-with-s", OK, (), says_in_output=("passed",),
         check=_child_was_started_and_is_gone,
         args=("--", "-s"), files={"tests/test_ok.py": _FORK.format(new_session=True)}),
    Case("suite-non-utf8-output", FAILED, (), says_in_output=("0 passed, 1 failed", "caf"),
         check=_verdict_recorded,
         args=("--", "-s"), files={"tests/test_ok.py": _NON_UTF8}),
]


# -- compose ---------------------------------------------------------------------------
def _compose(**fields: str) -> str:
    return declare(backends='[postgres("db")]', compose_file='"compose.yml"', **fields)


_DB = '''
services:
  db:
    image: {image}
    {extra}
    ports:
      - "127.0.0.1:{port}:5432"
    healthcheck:
      test: {health}
      interval: 1s
      timeout: 2s
      retries: 60
'''


def _db(image: str = "postgres:15", extra: str = "", port: str = "0",
        health: str = '["CMD", "pg_isready", "-h", "127.0.0.1"]') -> str:
    return _DB.format(image=image, extra=extra, port=port, health=health)


COMPOSE = [
    Case("compose-docker-unreachable", INFRA, ("Docker",), backend="compose", docker=True,
         env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
         files={"ci/tier3.py": _compose()}),
    Case("compose-missing-file", CONFIG, ("compose.yml",), backend="compose", docker=True,
         files={"ci/tier3.py": _compose(), "compose.yml": None}),
    Case("compose-yaml-error", CONFIG, ("compose.yml", "line"), backend="compose", docker=True,
         files={"ci/tier3.py": _compose(), "compose.yml": "services:\n  db: [postgres\n"}),
    Case("compose-service-missing", CONFIG, ("cache", "compose.yml"), backend="compose",
         docker=True, files={"ci/tier3.py": declare(compose_file='"compose.yml"')}),
    Case("compose-image-without-stand-in", INFRA, ("tiers-corpus/no-such-image",),
         backend="compose", docker=True, env={"TIERS_PULL_TIMEOUT": "5"},
         files={"ci/tier3.py": _compose(),
                "compose.yml": _db(image="tiers-corpus/no-such-image:1")}),
    Case("compose-container-exits-at-once", INFRA, ("db",), backend="compose", docker=True,
         files={"ci/tier3.py": _compose(),
                "compose.yml": _db(extra='entrypoint: ["sh", "-c", "echo boom; exit 3"]')}),
    Case("compose-healthcheck-never-passes", INFRA, ("db",), backend="compose", docker=True,
         files={"ci/tier3.py": declare(backends='[postgres("db", timeout=6)]',
                                       compose_file='"compose.yml"'),
                "compose.yml": _db(health='["CMD", "false"]')}),
    Case("compose-pinned-port-taken", CONFIG, ("compose.yml", "'db'", "pins host port",
                                               "in use by pid"),
         backend="compose", docker=True,
         setup=_hold_port,
         files={"ci/tier3.py": lambda co: _compose().replace(
             'postgres("db")', f'postgres("db", port={co.values["port"]})'),
             "compose.yml": lambda co: _db(port=str(co.values["port"]))}),
]

# -- Tier 2 (nox): a runner it cannot load, SSM against a real moto server -----------------
_PARAM = "/corpus/items/api_key"


def _ssm_runner(ssm: str = _PARAM) -> str:
    return declare(requires=f'[secret("ITEMS_API_KEY", ssm="{ssm}")]')


TIER2 = [
    Case("tier2-runner-does-not-import", CONFIG, ("mysql",), nox=True, timeout=120,
         files={"ci/tier3.py": declare(imports="Service, Suite, mysql",
                                       backends='[mysql("db")]')}),
    Case("ssm-missing-parameter", CONFIG, ("ITEMS_API_KEY", "/corpus/items/missing"),
         nox=True, timeout=120, files={"ci/tier3.py": _ssm_runner("/corpus/items/missing")},
         env={"CI": "true"}),
    Case("ssm-wrong-region", CONFIG, ("ITEMS_API_KEY", "eu-west-3"),
         nox=True, timeout=120, files={"ci/tier3.py": _ssm_runner()},
         env={"CI": "true", "AWS_REGION": "eu-west-3"}),
    Case("ssm-access-denied", CONFIG, ("ITEMS_API_KEY", "denied"),
         nox=True, timeout=120, files={"ci/tier3.py": _ssm_runner()}, env={"CI": "true"}),
    Case("ssm-throttled", INFRA, ("Parameter Store", "Throttling", "TIERS_SSM_MAX_ATTEMPTS"),
         nox=True, timeout=180, files={"ci/tier3.py": _ssm_runner()}, env={"CI": "true"}),
]

CASES: list[Case] = [*CLI, *RUNNER, *ARTIFACTS, *ENVFILES, *SUITE_CASES, *COMPOSE, *TIER2]
