"""End to end: the sandbox up in both modes, with real moto, nginx, sshd and internal API."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from contract.lambda_archive import build_archive, code_sha256
from sandbox import stack
from sandbox.processes import ProcessRegistry, is_alive
from sandbox.scenarios import faults
from sandbox.scenarios.seed import API_TYPE_MESSAGES, VIDEOS_BY_STATUS, messages_plan
from sandbox.state import PROJECT_ROOT, sandbox_state
from stack_settings.parse import BACKLOG_API_PATH
from tests.sandbox_e2e import RunningSandbox

DB_BACKLOG = VIDEOS_BY_STATUS["UPLOADED"] + VIDEOS_BY_STATUS["PROCESSING"]
SQS_VIDEO_COUNT = API_TYPE_MESSAGES[0]  # visible + in flight, what an SQS fallback counts


def sandbox_cli(sb: RunningSandbox, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", "--dir", str(sb.state.root), *args],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=timeout,
                          check=False)


def public(sb: RunningSandbox, key: str | None) -> requests.Response:
    headers = {"X-Internal-Key": key} if key is not None else {}
    return requests.get(sb.info["public_base_url"] + BACKLOG_API_PATH, headers=headers,
                        timeout=5, proxies={"http": "", "https": ""})


def key_of(sb: RunningSandbox) -> str:
    return stack.internal_key(sb.state, sb.outputs)


def test_the_program_deployed_its_resources_into_moto(sandbox: RunningSandbox) -> None:
    academy = sandbox.academy
    sqs = sandbox.client("sqs")
    for wt, spec in academy["worker_types"].items():
        attrs = sqs.get_queue_attributes(QueueUrl=spec["queue"]["url"],
                                         AttributeNames=["All"])["Attributes"]
        assert attrs["QueueArn"] == spec["queue"]["arn"], wt
        assert int(attrs["VisibilityTimeout"]) >= spec["max_job_s"], wt
        assert spec["dlq"]["arn"] in attrs["RedrivePolicy"], wt
    groups = {g["AutoScalingGroupName"] for g in
              sandbox.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]}
    fleets = {s["fleet"]["group_name"] for s in academy["worker_types"].values() if s["fleet"]}
    assert groups == fleets
    assert ("academy-video-worker-asg" in groups) == (sandbox.mode == "asg")
    batch_envs = sandbox.client("batch").describe_compute_environments()["computeEnvironments"]
    if sandbox.mode == "batch":
        assert [e["computeEnvironmentName"] for e in batch_envs] == [
            academy["batch"]["compute_environment"]]
    else:
        assert batch_envs == [] and academy["batch"] is None
    function = sandbox.client("lambda").get_function(
        FunctionName=academy["publisher"]["function_name"])["Configuration"]
    expected = code_sha256(build_archive(PROJECT_ROOT / "lambda/queue_depth"))
    assert function["CodeSha256"] == academy["publisher"]["code_sha256"] == expected
    # What moto could not hold is listed, not hidden.
    assert sandbox.info["deployment"]["not_created"] == [
        "aws:ssm/association:Association api-proxy-association-0"]


def test_datapoints_have_the_right_value_and_source(sandbox: RunningSandbox) -> None:
    error, payload = sandbox.invoke_publisher()
    assert error is None, payload
    types = payload["worker_types"]
    plan = messages_plan(sandbox.academy["worker_types"])
    assert types["ai"]["value"] == plan["ai"][0] and types["ai"]["source"] == "sqs"
    assert types["messaging"]["value"] == plan["messaging"][0]
    if sandbox.mode == "asg":
        # 3 videos in the DB, 5 messages in the queue (3 in flight): the DB wins (#2).
        assert types["video"]["value"] == DB_BACKLOG and types["video"]["source"] == "api"
        assert types["video"]["in_flight"] == plan["video"][1]
    else:
        assert "video" not in types  # batch mode publishes no video metric
    latest = stack.latest_datapoints(sandbox.state, sandbox.outputs)
    assert set(latest) == set(payload["published"])
    assert all(point is not None for point in latest.values())


def test_the_public_path_passes_the_key_and_keeps_it_out_of_the_logs(
        sandbox: RunningSandbox) -> None:
    key = key_of(sandbox)
    report = stack.status(sandbox.state.root)
    assert report["internal_api"]["LOCAL"] == (200, f'{{"backlog": {DB_BACKLOG}}}')
    assert report["internal_api"]["PUBLIC"] == report["internal_api"]["LOCAL"]
    assert public(sandbox, "wrong-key").status_code == 403
    assert public(sandbox, None).status_code == 403
    for log in Path(sandbox.info["nginx"]["root"]).glob("*.log"):
        assert key not in log.read_text(errors="replace"), log.name
    for log in sandbox.state.logs_dir.glob("*.log"):
        assert key not in log.read_text(errors="replace"), log.name
    assert key not in sandbox.state.outputs_file.read_text()


def test_the_delivery_script_installed_the_rendered_config_over_ssh(
        sandbox: RunningSandbox) -> None:
    nginx = sandbox.academy["api"]["nginx"]
    installed = Path(nginx["config_path"]).read_bytes()
    assert hashlib.sha256(installed).hexdigest() == nginx["config_sha256"]
    sshd_log = (sandbox.state.sshd_dir / "sshd.log")
    logs = sshd_log.read_text() if sshd_log.exists() else "".join(
        p.read_text() for p in sandbox.state.sshd_dir.glob("*.log"))
    assert "Accepted publickey" in logs


def test_status_prints_what_runs_and_answers(sandbox: RunningSandbox) -> None:
    done = sandbox_cli(sandbox, "status")
    assert done.returncode == 0, done.stderr
    for part in ("moto", "sshd", "nginx", "internal-api", "schedule", "LOCAL  200",
                 "PUBLIC 200", f"mode          {sandbox.mode}"):
        assert part in done.stdout


def test_a_second_up_converges_and_changes_nothing(sandbox: RunningSandbox) -> None:
    other = "asg" if sandbox.mode == "batch" else "batch"
    done = sandbox_cli(sandbox, "up", "--mode", other)
    assert done.returncode == 2 and "sandbox switch --mode" in done.stderr
    done = sandbox_cli(sandbox, "up", "--mode", sandbox.mode)  # nothing changed: all same
    assert done.returncode == 0, done.stdout + done.stderr
    assert "converged: 0 created, 0 deleted" in done.stdout and "Traceback" not in done.stderr


def test_strip_internal_key_gives_403_in_public_200_on_the_host(sandbox: RunningSandbox) -> None:
    faults.break_fault("strip-internal-key", sandbox.state.root)
    try:
        report = stack.status(sandbox.state.root)
        assert report["internal_api"]["LOCAL"][0] == 200
        assert report["internal_api"]["PUBLIC"][0] == 403
    finally:
        assert faults.heal(sandbox.state.root) == ["strip-internal-key"]
    key = key_of(sandbox)
    codes = [public(sandbox, key).status_code for _ in range(5)]
    assert codes == [200] * 5


def test_stale_publisher_changes_the_deployed_code_hash(sandbox: RunningSandbox) -> None:
    lam = sandbox.client("lambda")
    name = sandbox.academy["publisher"]["function_name"]
    faults.break_fault("stale-publisher", sandbox.state.root)
    try:
        stale = lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
        assert stale != sandbox.academy["publisher"]["code_sha256"]
    finally:
        faults.heal(sandbox.state.root)
    healed = lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
    assert healed == sandbox.academy["publisher"]["code_sha256"]


def test_metric_mismatch_points_a_policy_at_another_metric(sandbox: RunningSandbox) -> None:
    autoscaling = sandbox.client("autoscaling")

    def policy_metric_names(wt: str) -> set[str]:
        fleet = sandbox.academy["worker_types"][wt]["fleet"]
        policy = autoscaling.describe_policies(
            AutoScalingGroupName=fleet["group_name"], PolicyNames=[fleet["policy_name"]]
        )["ScalingPolicies"][0]
        metrics = policy["TargetTrackingConfiguration"]["CustomizedMetricSpecification"]
        return {m["MetricStat"]["Metric"]["MetricName"] for m in metrics["Metrics"]
                if "MetricStat" in m}

    wt = "video" if sandbox.mode == "asg" else "ai"
    published = sandbox.academy["worker_types"][wt]["metric"]["name"]
    assert published in policy_metric_names(wt)
    faults.break_fault("metric-mismatch", sandbox.state.root)
    try:
        names = policy_metric_names(wt)
        assert published not in names and faults.MISMATCHED_METRIC_NAME in names
    finally:
        faults.heal(sandbox.state.root)
    assert published in policy_metric_names(wt)


def test_backlog_drift_publishes_the_sqs_count_not_the_db(asg_sandbox: RunningSandbox) -> None:
    sb = asg_sandbox
    faults.break_fault("backlog-drift", sb.state.root)
    try:
        error, payload = sb.invoke_publisher()
        video = payload["worker_types"]["video"]
        assert error is None
        assert video["source"] == "sqs" and "unreachable" in video["reason"]
        assert video["value"] == SQS_VIDEO_COUNT != DB_BACKLOG
    finally:
        faults.heal(sb.state.root)
    error, payload = sb.invoke_publisher()
    assert payload["worker_types"]["video"]["source"] == "api"
    assert payload["worker_types"]["video"]["value"] == DB_BACKLOG


def test_backlog_drift_is_refused_in_batch_mode(sandbox: RunningSandbox) -> None:
    if sandbox.mode != "batch":
        pytest.skip("batch mode only")
    done = sandbox_cli(sandbox, "break", "backlog-drift")
    assert done.returncode == 1 and "asg mode" in done.stderr
    assert "Traceback" not in done.stderr


def test_down_stops_everything_even_after_up_crashed(tmp_path: Path) -> None:
    """`up` killed mid-way: `down` still stops, by PID, what it had started."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    up = subprocess.Popen([sys.executable, "-m", "sandbox", "--dir", str(tmp_path), "up"],
                          cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    registry = ProcessRegistry(sandbox_state(tmp_path).pids_file)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(registry.live()) < 2:
        time.sleep(0.05)
    up.send_signal(signal.SIGKILL)
    up.wait()
    started = registry.live()
    assert len(started) >= 2, "up did not record its processes as it started them"
    done = subprocess.run([sys.executable, "-m", "sandbox", "--dir", str(tmp_path), "down"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert not [r.pid for r in started if is_alive(r.pid)]
    assert registry.live() == []
