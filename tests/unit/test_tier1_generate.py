"""Generated workflows: current in the repository, shaped as Tier 1 must be, and checked."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from ci.errors import ConfigError, TiersError
from ci.tier1 import actions, generate, workflows
from ci.tier1.discovery import service_names

ROOT = Path(__file__).resolve().parents[2]
FULL_SHA = re.compile(r"[^@\s]+@[0-9a-f]{40}")


def _steps(workflow: dict[str, object], job: str) -> list[dict[str, object]]:
    return workflow["jobs"][job]["steps"]  # type: ignore[index,no-any-return]


def _tree(tmp_path: Path, *services: str) -> Path:
    """A minimal checkout: the services' runner files and the committed workflows."""
    for name in services:
        runner = tmp_path / "services" / name / "ci" / "tier3.py"
        runner.parent.mkdir(parents=True)
        runner.write_text('"""A runner that must never be imported by the generator."""\n'
                          'raise SystemExit("imported!")\n')
    return tmp_path


def test_committed_workflows_are_current() -> None:
    drift = generate.compare(ROOT)
    assert drift.clean, "\n".join([*drift.summary(), drift.diff,
                                   f"run `{workflows.GENERATE_COMMAND}`"])


def test_every_service_has_a_workflow() -> None:
    names = service_names(ROOT)
    assert "agent_executor" in names
    for name in names:
        assert (ROOT / workflows.WORKFLOWS_DIR / workflows.service_file(name)).is_file()


def test_service_workflow_calls_exactly_one_nox_session() -> None:
    wf = workflows.service_workflow("svc")
    runs = [s["run"] for s in _steps(wf, "integration") if "run" in s]
    assert runs == [f"pip install nox=={workflows.NOX_VERSION} boto3=={workflows.BOTO3_VERSION}",
                    "nox -s integration-svc"]
    nox_step = next(s for s in _steps(wf, "integration") if s.get("run") == runs[1])
    assert nox_step["env"] == {"CI": "true"}


def test_service_workflow_triggers_and_permissions() -> None:
    wf = workflows.service_workflow("svc")
    push = wf["on"]["push"]
    assert push["branches"] == ["main"]
    assert set(push["paths"]) == {"services/svc/**", "ci/**", "noxfile.py", "compose/svc*",
                                  "pyproject.toml", ".github/workflows/svc-integration-tests.yml"}
    assert "workflow_dispatch" in wf["on"]
    assert wf["permissions"] == {}
    assert wf["jobs"]["integration"]["permissions"] == {"id-token": "write", "contents": "read"}
    assert wf["jobs"]["integration"]["timeout-minutes"] > 0


def test_service_workflow_steps_in_order() -> None:
    steps = _steps(workflows.service_workflow("svc"), "integration")
    uses = [str(s["uses"]).split("@")[0] for s in steps if "uses" in s]
    assert uses == ["actions/checkout", "aws-actions/configure-aws-credentials",
                    "actions/setup-python", "actions/upload-artifact"]
    checkout, aws, python = steps[0], steps[1], steps[2]
    assert checkout["with"] == {"persist-credentials": False}
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"  # an ARN is no secret
    assert aws["with"]["aws-region"] == "us-east-1"
    assert python["with"]["python-version"] == "3.11" and python["with"]["cache"] == "pip"
    upload = steps[-1]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "artifacts/integration/svc/"
    assert upload["with"]["if-no-files-found"] == "warn"


def test_all_actions_pinned_to_full_shas_with_version_comment() -> None:
    for path in sorted((ROOT / workflows.WORKFLOWS_DIR).glob("*.yml")):
        for line in path.read_text().splitlines():
            if "uses:" in line:
                ref = line.split("uses:", 1)[1].split("#")[0].strip()
                assert FULL_SHA.fullmatch(ref), f"{path.name}: {line.strip()}"
                assert re.search(r"#\s*v\d+\.\d+\.\d+$", line), f"{path.name}: {line.strip()}"
    assert {a.repo for a in actions.ALL} == {"actions/checkout", "actions/setup-python",
                                             "actions/upload-artifact",
                                             "aws-actions/configure-aws-credentials"}


def test_framework_workflow_runs_the_readme_command() -> None:
    wf = workflows.framework_workflow()
    assert {"pull_request", "push"} <= set(wf["on"])
    runs = [s["run"] for s in _steps(wf, "tests") if "run" in s]
    assert runs[-1] == workflows.FRAMEWORK_TEST_COMMAND


def test_all_services_matrix_comes_from_discovery_through_env() -> None:
    wf = workflows.all_services_workflow()
    discover = wf["jobs"][workflows.MATRIX_JOB]
    [step] = [s for s in discover["steps"] if s.get("id") == "matrix"]
    assert step["run"].startswith("nox -l --json -t integration > ")
    assert "python -m ci.tier1.generate --matrix-from" in step["run"]
    job = wf["jobs"]["integration"]
    assert job["strategy"]["matrix"] == "${{ fromJSON(needs.discover.outputs.matrix) }}"
    for step in job["steps"]:
        assert "${{" not in str(step.get("run", "")), "matrix values must reach run: via env"
    nox_step = next(s for s in job["steps"] if "nox -s" in str(s.get("run", "")))
    assert nox_step["env"]["SERVICE"] == "${{ matrix.service }}"


def test_matrix_lists_every_service_and_writes_github_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(tmp_path / "repo", "beta", "alpha")
    output = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    listing = [{"name": f"integration-{n}", "tags": ["integration", n]} for n in ("beta", "alpha")]
    listing.append({"name": "tests", "tags": []})
    generate.emit_matrix(root, listing)
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"service": ["alpha", "beta"]}
    assert output.read_text() == 'matrix={"service":["alpha","beta"]}\n'


def test_generation_is_deterministic() -> None:
    assert generate.render(ROOT) == generate.render(ROOT)


def test_adding_a_service_fails_the_check_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _tree(tmp_path, "alpha")
    generate.write(root)
    assert generate.compare(root).clean
    _tree(tmp_path, "newsvc")
    drift = generate.check(root)
    assert drift.missing == [".github/workflows/newsvc-integration-tests.yml"]
    out = capsys.readouterr().out
    assert "newsvc-integration-tests.yml" in out
    assert "+++ b/.github/workflows/newsvc-integration-tests.yml" in drift.diff
    assert generate.main(["--check", "--root", str(root)]) == 1
    generate.write(root)
    assert generate.compare(root).clean
    assert generate.main(["--check", "--root", str(root)]) == 0


def test_hand_edit_is_stale_and_removed_service_is_orphaned(tmp_path: Path) -> None:
    root = _tree(tmp_path, "alpha", "beta")
    generate.write(root)
    wf_dir = root / workflows.WORKFLOWS_DIR
    (wf_dir / "alpha-integration-tests.yml").write_text(
        (wf_dir / "alpha-integration-tests.yml").read_text().replace("45", "5"))
    hand_written = wf_dir / "release.yml"
    hand_written.write_text("name: release\n")
    shutil.rmtree(root / "services" / "beta")
    drift = generate.compare(root)
    assert drift.stale == [".github/workflows/alpha-integration-tests.yml"]
    assert drift.orphaned == [".github/workflows/beta-integration-tests.yml"]
    generate.write(root)
    assert generate.compare(root).clean
    assert not (wf_dir / "beta-integration-tests.yml").exists()
    assert hand_written.read_text() == "name: release\n"  # not ours: left alone


def test_bad_service_folder_name_is_a_config_error(tmp_path: Path) -> None:
    root = _tree(tmp_path, "bad name")
    with pytest.raises(ConfigError, match="bad name"):
        generate.render(root)


class _Session:
    """Just enough of nox.Session for the session bodies."""

    def __init__(self, *posargs: str) -> None:
        self.posargs = list(posargs)

    def error(self, message: str) -> None:
        raise RuntimeError(message)


def test_session_check_passes_on_this_checkout() -> None:
    generate.session_workflows(_Session("--check"))  # type: ignore[arg-type]


def test_oidc_jobs_run_in_the_environment_the_role_trusts() -> None:
    for wf, job in ((workflows.service_workflow("svc"), "integration"),
                    (workflows.all_services_workflow(), "integration")):
        assert wf["jobs"][job]["environment"] == workflows.AWS_ENVIRONMENT
        assert "secrets." not in json.dumps(wf)
    for name, job in workflows.framework_workflow()["jobs"].items():
        assert "environment" not in job, name  # no OIDC, no environment


def test_pushes_to_main_are_never_cancelled() -> None:
    for wf in (workflows.service_workflow("svc"), workflows.framework_workflow(),
               workflows.all_services_workflow()):
        cancel = wf["concurrency"]["cancel-in-progress"]
        assert cancel is False or cancel == "${{ github.ref != 'refs/heads/main' }}"


def test_a_workflow_runs_lint_and_every_nox_install_is_pinned() -> None:
    framework = workflows.framework_workflow()
    assert any(s.get("run") == "nox -s lint" for s in _steps(framework, "lint"))
    for path in sorted((ROOT / workflows.WORKFLOWS_DIR).glob("*.yml")):
        for line in path.read_text().splitlines():
            if "pip install" in line:
                assert f"nox=={workflows.NOX_VERSION}" in line, f"{path.name}: {line}"


def test_matrix_is_read_from_nox_tags_and_rejects_a_mismatched_tag() -> None:
    listing = [{"name": "integration-a", "tags": ["integration", "a"]},
               {"name": "integration", "tags": []}, {"name": "lint", "tags": []}]
    assert generate.matrix_from_sessions(listing) == {"service": ["a"]}
    with pytest.raises(TiersError, match="no service tag"):
        generate.matrix_from_sessions([{"name": "integration-a", "tags": ["integration"]}])


def test_matrix_from_the_real_nox_listing_matches_the_services() -> None:
    assert generate.matrix(ROOT) == {"service": service_names(ROOT)}
