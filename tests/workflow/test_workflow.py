"""The GitHub workflow: linted with zizmor, and it runs what the README promises."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "deploy.yml"
ZIZMOR = Path(sys.executable).parent / "zizmor"


def lint(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", "--config",
         str(ROOT / ".github" / "zizmor.yml"), str(path)],
        capture_output=True, text=True, timeout=60, check=False)


def test_the_workflow_passes_the_workflow_linter() -> None:
    done = lint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_linter_catches_an_unpinned_third_party_action(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(WORKFLOW.read_text().replace(
        "pulumi/actions@v6", "some-one/deploy-action@main", 1))
    assert lint(bad).returncode != 0


def test_pull_requests_preview_and_main_deploys_then_verifies() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    jobs = flow["jobs"]
    assert any(s.get("run") == "make test" for s in jobs["test"]["steps"])
    preview = [s for s in jobs["preview"]["steps"] if s.get("uses", "").startswith("pulumi/")]
    assert preview[0]["with"]["command"] == "preview"
    assert "pull_request" in jobs["preview"]["if"]
    deploy = jobs["deploy"]
    assert "refs/heads/main" in deploy["if"]
    commands = [s.get("with", {}).get("command") for s in deploy["steps"]]
    assert "up" in commands
    verify_steps = [i for i, s in enumerate(deploy["steps"])
                    if "python -m verify all --stack" in s.get("run", "")]
    assert verify_steps and "--junit" in deploy["steps"][verify_steps[0]]["run"]
    assert commands.index("up") < verify_steps[0]  # verify what was just deployed


def test_a_failed_verify_fails_the_deploy_job() -> None:
    """verify's output goes through tee: without pipefail tee's 0 would hide verify's 1."""
    deploy = yaml.safe_load(WORKFLOW.read_text())["jobs"]["deploy"]
    step = next(s for s in deploy["steps"] if "verify all" in s.get("run", ""))
    assert "| tee" in step["run"]
    # GitHub runs an explicit `shell: bash` as `bash --noprofile --norc -eo pipefail {0}`.
    assert step.get("shell") == "bash" or "set -o pipefail" in step["run"]


def pulumi_steps() -> list[tuple[str, dict]]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [(name, step) for name, job in jobs.items() for step in job["steps"]
            if step.get("uses", "").startswith("pulumi/actions@")]


def pinned_sdk_version() -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith("pulumi=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError("requirements.txt pins no pulumi SDK")


def test_a_job_that_comments_on_pull_requests_may_write_to_them() -> None:
    """pulumi/actions' comment call gets a 403 without `pull-requests: write`."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    commenting = [name for name, step in pulumi_steps() if step["with"].get("comment-on-pr")]
    assert commenting, "the preview is meant to be commented on the pull request"
    for name in commenting:
        assert jobs[name].get("permissions", {}).get("pull-requests") == "write", name


def test_every_pulumi_step_pins_the_cli_to_the_sdk_version() -> None:
    steps = pulumi_steps()
    assert len(steps) >= 2
    for name, step in steps:
        assert step["with"].get("pulumi-version") == pinned_sdk_version(), name


def test_the_stack_name_is_organization_qualified() -> None:
    """pulumi/actions wants `org-name/stack-name`; the org comes from a repository variable
    and an empty one stops the job before Pulumi runs."""
    flow = yaml.safe_load(WORKFLOW.read_text())
    stack = flow["env"]["PULUMI_STACK"]
    org, _, short = stack.partition("/")
    assert org == "${{ vars.PULUMI_ORG }}" and short == "prod"
    assert (ROOT / f"Pulumi.{short}.yaml").exists()
    for name, step in pulumi_steps():
        assert step["with"]["stack-name"] == "${{ env.PULUMI_STACK }}", name
        steps = flow["jobs"][name]["steps"]
        before = steps[:steps.index(step)]
        assert any("PULUMI_ORG" in s.get("run", "") and "exit 1" in s.get("run", "")
                   for s in before), f"{name}: no guard for an unset PULUMI_ORG"
