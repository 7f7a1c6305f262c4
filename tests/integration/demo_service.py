"""Build a throwaway checkout holding one small service, for engine tests.

The service is real (real servers, real migrations, a real pytest suite); only
its content is chosen per test: a failing test, a broken migration, a test that
sleeps so a signal can land in the test stage.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PASSING_TEST = '''
import os, psycopg, redis

def test_postgres_has_migrated_table():
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM widgets").fetchone()[0] == 1

def test_redis_env_names():
    r = redis.Redis(host=os.environ["CACHE_HOST"], port=int(os.environ["CACHE_PORT"]))
    assert r.ping()
    assert os.environ["REDIS_URL"].startswith("redis://")
    assert os.environ["MY_CACHE"] == os.environ["CACHE_HOST"] + ":" + os.environ["CACHE_PORT"]

def test_fixed_env():
    assert os.environ["TESTING"] == "true"
'''

TIER3 = '''
from ci import Service, Suite, postgres, redis
service = Service(
    backends=[postgres("db", database="demo"), redis("cache")],
    suite=Suite("tests", cov="app", timeout=60),
    env={{"TESTING": "true"}},
    export={{"MY_CACHE": "{{cache.host}}:{{cache.port}}"}},
{extra}
)
{hooks}
if __name__ == "__main__":
    service.main()
'''


@dataclass
class Demo:
    checkout: Path
    name: str = "demo"

    @property
    def service_dir(self) -> Path:
        return self.checkout / "services" / self.name

    @property
    def runner(self) -> Path:
        return self.service_dir / "ci" / "tier3.py"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIERS_")}
        env["TIERS_RESULT_CACHE"] = "off"  # every run a test starts runs for real
        env["PYTHONPATH"] = str(ROOT)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.pop("GITHUB_ACTIONS", None)
        env["TIERS_BACKEND"] = "local"
        env.update(extra)
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, str(self.runner), *args]

    def run(self, *args: str, timeout: float = 180, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), cwd=self.checkout, env=self.env(**env),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def artifacts(self) -> list[Path]:
        base = self.checkout / "artifacts" / "integration" / self.name
        return sorted(base.iterdir()) if base.exists() else []


def make_demo(tmp: Path, *, test_body: str = PASSING_TEST, migrations: dict[str, str] | None = None,
              extra: str = "", hooks: str = "") -> Demo:
    demo = Demo(tmp / "checkout")
    sdir = demo.service_dir
    (sdir / "ci").mkdir(parents=True)
    (sdir / "tests").mkdir()
    (sdir / "migrations").mkdir()
    (sdir / "app").mkdir()
    (sdir / "app" / "__init__.py").write_text("VALUE = 1\n")
    demo.runner.write_text(TIER3.format(extra=extra, hooks=textwrap.dedent(hooks)))
    (sdir / "tests" / "test_demo.py").write_text(textwrap.dedent(test_body))
    if migrations is None:
        migrations = {
            "001_widgets.sql": "CREATE TABLE widgets (id serial PRIMARY KEY, name text);",
            "002_seed.sql": "INSERT INTO widgets (name) VALUES ('one');",
        }
    for name, sql in migrations.items():
        (sdir / "migrations" / name).write_text(sql)
    return demo


def run_processes(run_id: str) -> list[int]:
    """Pids of processes whose environment carries ``run_id``."""
    from ci.backends.local.processes import tagged_processes

    return [p.pid for p in tagged_processes() if p.run_id == run_id]


def temp_dirs(run_id: str) -> list[Path]:
    import tempfile

    return list(Path(tempfile.gettempdir()).glob(f"tiers-*-{run_id}-*"))
