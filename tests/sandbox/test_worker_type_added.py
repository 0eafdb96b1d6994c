"""A worker type added through settings alone, in the real sandbox: `thumbnail` in
`workerTypes` and no other key. It gets its queue, DLQ, fleet and publisher target in moto,
the sandbox seeds it, the publisher counts it, and `verify all` checks it and passes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.scenarios.seed import messages_plan
from sandbox.state import PROJECT_ROOT
from stack_settings.stack_files import schema
from tests.sandbox_e2e import RunningSandbox, start

NEW_TYPE = "thumbnail"
WORKER_TYPES = [*schema()["workerTypes"]["default"], NEW_TYPE]


@pytest.fixture(scope="module")
def thumbnail_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    yield from start("asg", tmp_path_factory.mktemp("sandbox-thumbnail"),
                     settings={"workerTypes": WORKER_TYPES})


def test_the_new_type_is_deployed_into_moto(thumbnail_sandbox: RunningSandbox) -> None:
    sb = thumbnail_sandbox
    spec = sb.academy["worker_types"][NEW_TYPE]
    assert spec["runs_on"] == "fleet" and spec["published"] and spec["label"] == "Thumbnail"
    attrs = sb.client("sqs").get_queue_attributes(QueueUrl=spec["queue"]["url"],
                                                  AttributeNames=["All"])["Attributes"]
    assert spec["dlq"]["arn"] in attrs["RedrivePolicy"]
    groups = sb.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[spec["fleet"]["group_name"]])["AutoScalingGroups"]
    assert len(groups) == 1
    policies = sb.client("autoscaling").describe_policies(
        AutoScalingGroupName=spec["fleet"]["group_name"])["ScalingPolicies"]
    assert [p["PolicyName"] for p in policies] == [spec["fleet"]["policy_name"]]


def test_the_seeded_messages_are_counted(thumbnail_sandbox: RunningSandbox) -> None:
    sb = thumbnail_sandbox
    sent, in_flight = messages_plan(sb.academy["worker_types"])[NEW_TYPE]
    assert sb.info["seed"]["queues"][NEW_TYPE] == {"visible": sent - in_flight,
                                                   "in_flight": in_flight}
    error, payload = sb.invoke_publisher()
    assert error is None, payload
    counted = payload["worker_types"][NEW_TYPE]
    assert (counted["value"], counted["source"], counted["in_flight"]) == (sent, "sqs", in_flight)
    assert NEW_TYPE in payload["published"]


def test_verify_checks_the_new_type_and_passes(thumbnail_sandbox: RunningSandbox) -> None:
    sb = thumbnail_sandbox
    done = subprocess.run(
        [sys.executable, "-m", "verify", "all", "--stack", "sandbox", "--json",
         "--outputs", str(sb.state.outputs_file)],
        capture_output=True, text=True, cwd=PROJECT_ROOT, env=sb.env(), timeout=120,
        check=False)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    bad = [c for c in report["checks"] if c["status"] in ("fail", "error")]
    assert done.returncode == 0, bad
    about_new = [c for c in report["checks"] if NEW_TYPE in json.dumps(c)]
    assert {c["id"] for c in about_new} >= {"queues", "scaling"}, about_new


def test_up_takes_settings_on_the_command_line(tmp_path: Path) -> None:
    """`--set` reaches the program: a bad value is refused by the settings, named, no
    traceback, and nothing is left running."""
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "--dir", str(tmp_path), "up", "--mode", "asg",
         "--set", 'workerTypes=["ai","Thumb"]'],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120, check=False)
    assert done.returncode != 0
    assert "workerTypes has ['Thumb']" in done.stderr + done.stdout
    assert "invalid sandbox setting" in done.stderr + done.stdout
    assert "Pulumi.sandbox.yaml" not in done.stderr + done.stdout  # no such file exists
    assert "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "sandbox", "--dir", str(tmp_path), "up", "--set", "noequals"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60, check=False)
    assert done.returncode == 2 and "expected KEY=VALUE" in done.stderr
