"""Adoption rehearsed end to end, in each mode: `sandbox up --legacy` (the PowerShell-era
account, no stack) -> `verify adopt` -> `sandbox adopt` (import + up; in batch mode with
`--set videoDrain=true`, then `sandbox switch --mode batch` drains the old fleet's uploads and
retires the drain, as verify adopt says: nothing purged) -> `verify all` fails on
the leftovers that scale or grant -> their printed commands, run with Debian's AWS CLI as the
README says -> `verify all` passes. The adopted resources keep their identity throughout."""

from __future__ import annotations

import json
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import stack
from sandbox.processes import ProcessRegistry, is_alive
from sandbox.state import PROJECT_ROOT, SandboxState, sandbox_state

DEBIAN_AWS = Path("/usr/bin/aws")
VIDEO_QUEUE = "academy-video-jobs"
FUNCTION = "academy-worker-queue-depth-metric"
# Left on the stack's role by hand after adoption (say, to "fix" permissions the old role had):
# the publisher's role must hold only what the stack declares.
HAND_POLICY = "ScaleVideoAndRememberZero"


@pytest.fixture(scope="module", params=["batch", "asg"])
def legacy(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxState]:
    root = tmp_path_factory.mktemp(f"legacy-{request.param}")
    state = sandbox_state(root)
    try:
        info = stack.up(stack.UpOptions(mode=request.param, legacy=True), root)
        print(f"up --legacy ({request.param}) in {info['timings_s']['total']} s")
        yield state
    finally:
        records = ProcessRegistry(state.pids_file).load() if state.pids_file.exists() else {}
        stack.down(root)
        left = [f"{r.name} (pid {r.pid})" for r in records.values() if is_alive(r.pid)]
        assert not left, f"`down` left processes running: {', '.join(left)}"


def run(state: SandboxState, *argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **state.verify_env()}
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, env=env, timeout=timeout, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def verify_all(state: SandboxState) -> tuple[int, list[dict[str, Any]]]:
    done = run(state, "verify", "all", "--stack", "sandbox", "--json")
    report = json.loads(done.stdout) if done.stdout.strip() else {"checks": []}
    return done.returncode, report["checks"]


def aws_cli(state: SandboxState, command: str) -> subprocess.CompletedProcess[str]:
    """A printed `aws ...` command, as the README tells users to run it on the sandbox."""
    assert command.startswith("aws "), command
    script = (f"source {shlex.quote(str(state.env_file))} && "
              f'{DEBIAN_AWS} --endpoint-url "$AWS_ENDPOINT_URL" {command[4:]}')
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          check=False, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


def legacy_videos(state: SandboxState) -> dict[str, int]:
    """The old fleet's uploads (scenarios/adoption.py seeds them) by status in the API's DB."""
    from sandbox.scenarios.adoption import LEGACY_TITLE

    db = sqlite3.connect(state.db_path, timeout=5)
    try:
        rows = db.execute("SELECT status, COUNT(*) FROM videos WHERE title LIKE ? GROUP BY "
                          "status", (f"{LEGACY_TITLE}%",)).fetchall()
    finally:
        db.close()
    return {str(status): int(n) for status, n in rows}


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def test_adoption_end_to_end(legacy: SandboxState, tmp_path: Path) -> None:
    state = legacy
    mode = stack.load_info(state)["mode"]
    sqs, lam = stack.aws_client(state, "sqs"), stack.aws_client(state, "lambda")

    # Before adoption there is no stack output: verify says so (exit 2), it does not crash.
    done = run(state, "verify", "all", "--stack", "sandbox")
    assert done.returncode == 2 and "no saved outputs" in done.stderr, done.stderr
    status = run(state, "sandbox", "--dir", str(state.root), "status")
    assert status.returncode == 0 and "no stack deployed yet" in status.stdout, status.stdout

    # What adoption finds, as a user asks it.
    target = tmp_path / "academy-import.json"
    done = run(state, "verify", "adopt", "--stack", "sandbox", "--import-file", str(target),
               "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert json.loads(target.read_text()) == report["import_file"]
    drift = {(d["physical_name"], d["attribute"]): d for d in report["drift"]}
    visibility = drift[(VIDEO_QUEUE, "VisibilityTimeout")]
    assert (visibility["live"], visibility["declared"]) == (10800, 15300)
    removals = [c for left in report["leftovers"] if left["affects"] in ("scaling", "permissions")
                for c in left["commands"]]
    assert any("delete-alarms" in c for c in removals)
    assert any("delete-role --role-name academy-lambda" in c for c in removals)

    video_url = sqs.get_queue_url(QueueName=VIDEO_QUEUE)["QueueUrl"]
    function_arn = lam.get_function_configuration(FunctionName=FUNCTION)["FunctionArn"]

    # The old fleet's queue holds uploads: in batch mode no fleet consumes them, so verify
    # adopt asks for the first up with the drain on, and the rehearsal does just that.
    waiting = [left for left in report["leftovers"] if left["kind"] == "waiting work"]
    settings: list[str] = []
    if mode == "batch":
        assert [w["name"] for w in waiting] == [VIDEO_QUEUE], report["leftovers"]
        assert waiting[0]["commands"] == ["pulumi config set videoDrain true"]
        settings = ["--set", "videoDrain=true"]
    else:
        assert not waiting, waiting
    done = run(state, "sandbox", "--dir", str(state.root), "adopt", *settings)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    imported = json.loads((state.stack_dir / "import.json").read_text())
    adopted = len([r for r in imported["resources"] if not r.get("component")])
    assert f"{adopted} adopted" in done.stdout
    print(done.stdout.strip().splitlines()[-1])

    # Taken over, not recreated: same queue, same function, now converged.
    assert sqs.get_queue_url(QueueName=VIDEO_QUEUE)["QueueUrl"] == video_url
    attributes = sqs.get_queue_attributes(QueueUrl=video_url, AttributeNames=["All"])[
        "Attributes"]
    assert attributes["VisibilityTimeout"] == "15300"
    if mode == "batch":
        # The drain empties the old queue, then the drain is retired (videoDrain false).
        done = run(state, "sandbox", "--dir", str(state.root), "switch", "--mode", "batch",
                   "--drain-timeout", "120")
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert json.loads(state.outputs_file.read_text())["academy"]["draining"] is None
    # The old fleet's uploads were worked, none purged or lost.
    assert wait_for(lambda: legacy_videos(state) == {"DONE": 2}, 60), legacy_videos(state)
    outputs = json.loads(state.outputs_file.read_text())["academy"]
    config = lam.get_function_configuration(FunctionName=FUNCTION)
    assert config["FunctionArn"] == function_arn
    assert config["Role"].endswith(f"/{outputs['publisher']['role_name']}")
    assert config["CodeSha256"] == outputs["publisher"]["code_sha256"]
    assert "ENABLE_VIDEO_METRICS" not in config["Environment"]["Variables"]

    # A hand-made grant on the stack's role, beside the old setup's leftovers.
    iam = stack.aws_client(state, "iam")
    role = outputs["publisher"]["role_name"]
    iam.put_role_policy(RoleName=role, PolicyName=HAND_POLICY, PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                "Action": "autoscaling:SetDesiredCapacity"}]}))
    extra = iam.create_policy(PolicyName="academy-lambda-extra", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:PutParameter",
                                                "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=extra)

    code, checks = verify_all(state)
    failing = {(c["id"], c["target"]): c for c in checks if c["status"] == "fail"}
    assert code == 1
    assert ("leftovers", "alarm academy-video-queue-wake") in failing
    assert ("scaling", "academy-messaging-worker-asg policies") in failing
    if mode == "batch":
        assert ("leftovers", "policy academy-video-worker-asg/video-backlogcount-tt") in failing
    else:
        assert "video-backlogcount-tt" in failing[
            ("scaling", "academy-video-worker-asg policies")]["summary"]
    permissions = failing[("leftovers", f"{role} (publisher role) permissions")]
    assert HAND_POLICY in permissions["summary"] and extra in permissions["summary"]
    assert not [c for c in checks if c["status"] == "error"], checks

    # The printed commands: verify adopt's for what scales or grants, verify all's hints.
    hinted = [m.group(0) for c in failing.values()
              for m in re.finditer(r"aws [a-z-]+ [a-z-]+(?: [^ ;()]+)*", c.get("hint") or "")]
    for command in dict.fromkeys(removals + hinted):
        assert "purge-queue" not in command, f"work is never purged: {command}"
        ran = aws_cli(state, command)
        # Gone already: e.g. the old video group, which the drain's retirement deleted.
        gone = any(said in ran.stderr for said in ("NoSuchEntity", "does not exist",
                                                   "name not found"))
        assert ran.returncode == 0 or gone, f"{command}: {ran.stderr}"

    code, checks = verify_all(state)
    assert code == 0, [c for c in checks if c["status"] in ("fail", "error")]


def test_sandbox_adopt_set_is_pulumi_config_set_and_refuses_a_bad_value(tmp_path: Path) -> None:
    """`sandbox adopt --set videoDrain=true` sets it on the saved stack before verify adopt
    reads it; a value the settings refuse changes nothing (the CLI exits 2)."""
    from sandbox.scenarios import adoption
    from stack_settings.stack_files import REHEARSAL_VALUES, stack_config

    adoption.save_config(tmp_path, stack_config("prod", overrides=REHEARSAL_VALUES))
    before = (tmp_path / adoption.CONFIG_FILE).read_text()
    with pytest.raises(adoption.AdoptionUsageError, match="videoMode"):
        adoption.apply_settings(tmp_path, {"videoMode": "both"})
    assert (tmp_path / adoption.CONFIG_FILE).read_text() == before
    adoption.apply_settings(tmp_path, {"videoDrain": True})
    saved = json.loads((tmp_path / adoption.CONFIG_FILE).read_text())
    assert saved["academy-workers:videoDrain"] == "true"
