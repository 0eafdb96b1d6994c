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
    up = step_running(deploy, "pulumi up ")
    verify_steps = [i for i, s in enumerate(deploy["steps"])
                    if "python -m verify all --stack" in s.get("run", "")]
    assert verify_steps and "--junit" in deploy["steps"][verify_steps[0]]["run"]
    assert up < verify_steps[0]  # verify what was just deployed


def step_running(job: dict, command: str) -> int:
    """The index of the one step whose script runs `command`."""
    found = [i for i, s in enumerate(job["steps"]) if command in s.get("run", "")]
    assert len(found) == 1, f"{command!r} runs in {len(found)} steps"
    return found[0]


def option(script: str, flag: str) -> str:
    """The value after `flag` in a step's script (line continuations joined)."""
    words = script.replace("\\\n", " ").split()
    return words[words.index(flag) + 1]


def test_the_deploy_previews_then_preflights_then_runs_exactly_that_plan() -> None:
    """Issue 12.4: preview -> preflight -> up, and the up is the saved update plan."""
    deploy = yaml.safe_load(WORKFLOW.read_text())["jobs"]["deploy"]
    steps = deploy["steps"]
    preview, preflight = step_running(deploy, "pulumi preview "), step_running(
        deploy, "python -m verify preflight ")
    up = step_running(deploy, "pulumi up ")
    assert preview < preflight < up
    preview_run, preflight_run, up_run = (steps[i]["run"] for i in (preview, preflight, up))
    assert "--json" in preview_run.split()
    saved_plan = option(preview_run, "--save-plan")
    digest = option(preview_run, ">")
    assert option(preflight_run, "--plan") == digest
    assert option(preflight_run, "--update-plan") == saved_plan
    # the state (`pulumi stack export`) gives the pending deletes the plan names by URN only
    assert option(preview_run, "--file") == option(preflight_run, "--state")
    assert "pulumi stack export" in preview_run
    assert option(up_run, "--plan") == saved_plan and "--yes" in up_run.split()
    for script in (preview_run, preflight_run, up_run):
        assert option(script, "--stack") == '"$PULUMI_STACK"'
    # nothing else deploys around the plan
    assert not [s for s in steps if s.get("with", {}).get("command") in ("up", "update")]
    # the plan holds the stack's inputs: it is not in the uploaded report directory
    uploaded = [s["with"]["path"] for s in steps if "upload-artifact" in s.get("uses", "")]
    assert all(not saved_plan.startswith(path) and not digest.startswith(path)
               for path in uploaded)


def test_a_refusing_preflight_stops_the_deploy() -> None:
    """preflight's exit 1 must fail its step even through tee, and nothing may run `up` on
    failure (no continue-on-error, no `if: always()`)."""
    deploy = yaml.safe_load(WORKFLOW.read_text())["jobs"]["deploy"]
    preflight = deploy["steps"][step_running(deploy, "python -m verify preflight ")]
    up = deploy["steps"][step_running(deploy, "pulumi up ")]
    if "| tee" in preflight["run"]:
        assert preflight.get("shell") == "bash" or "set -o pipefail" in preflight["run"]
    for step in (preflight, up):
        assert not step.get("continue-on-error") and "if" not in step


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
