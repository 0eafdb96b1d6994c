"""Both video modes, from the real stack files: what must exist does, what must not doesn't."""

from __future__ import annotations

GROUP = "aws:autoscaling/group:Group"
POLICY = "aws:autoscaling/policy:Policy"
CE = "aws:batch/computeEnvironment:ComputeEnvironment"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
JOB_DEF = "aws:batch/jobDefinition:JobDefinition"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
QUEUE = "aws:sqs/queue:Queue"


def _group_names(run) -> set[str]:
    return {r.inputs["name"] for r in run.of_type(GROUP)}


def _policy_groups(run) -> set[str]:
    return {r.inputs["autoscalingGroupName"] for r in run.of_type(POLICY)}


def test_batch_mode_runs_video_on_batch_and_has_no_video_fleet(prod) -> None:
    assert prod.academy["mode"] == "batch"
    assert _group_names(prod) == {"academy-ai-worker-asg", "academy-messaging-worker-asg"}
    assert "academy-video-worker-asg" not in _policy_groups(prod)
    assert not any("video" in r.name for r in prod.of_type(POLICY))

    assert [r.inputs["name"] for r in prod.of_type(CE)] == ["academy-video-batch-ce-v3"]
    assert [r.inputs["name"] for r in prod.of_type(JOB_QUEUE)] == ["academy-video-batch-queue"]
    assert [r.inputs["name"] for r in prod.of_type(JOB_DEF)] == ["academy-video-batch-jobdef"]
    assert "/aws/batch/academy-video-worker" in {r.inputs["name"] for r in prod.of_type(LOG_GROUP)}


def test_asg_mode_runs_video_on_a_fleet_and_has_no_batch(prod_asg) -> None:
    assert prod_asg.academy["mode"] == "asg"
    assert _group_names(prod_asg) == {
        "academy-ai-worker-asg", "academy-messaging-worker-asg", "academy-video-worker-asg"
    }
    assert "academy-video-worker-asg" in _policy_groups(prod_asg)
    for typ in (CE, JOB_QUEUE, JOB_DEF):
        assert prod_asg.of_type(typ) == [], typ
    assert all("batch" not in r.inputs["name"] for r in prod_asg.of_type(LOG_GROUP))
    assert prod_asg.academy["batch"] is None


def test_every_worker_type_keeps_its_queue_in_both_modes(any_stack) -> None:
    names = {r.inputs["name"] for r in any_stack.of_type(QUEUE)}
    for wt in ("ai", "messaging", "video"):
        assert {f"academy-{wt}-jobs", f"academy-{wt}-jobs-dlq"} <= names


def test_stack_output_describes_each_fleet_and_batch(prod, prod_asg) -> None:
    video_fleet = dict(prod_asg.academy["worker_types"]["video"]["fleet"])
    assert video_fleet.pop("instance_role") == {
        "name": "academy-video-worker-asg-role",
        "inline_policies": ["video-fleet-own-queue-and-group-id"],
        "managed_policy_arns": ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]}
    assert video_fleet == {
        "group_name": "academy-video-worker-asg",
        "min_size": 0,
        "max_size": 20,
        "target_backlog_per_instance": 1,
        "instance_warmup_s": 300,
        "policy_name": "academy-video-worker-asg-backlog-per-instance",
        "wake_from_zero": True,
        "wake": {
            "policy_name": "academy-video-worker-asg-wake-from-zero",
            "alarm_name": "academy-video-worker-asg-wake-from-zero",
            "expression": "IF(m1 > 0 AND FILL(m2, 0) < 1, 1, 0)",
            "threshold": 1.0,
            "comparison_operator": "GreaterThanOrEqualToThreshold",
            "adjustment_type": "ExactCapacity",
            "scaling_adjustment": 1,
        },
    }
    assert prod.academy["worker_types"]["video"]["fleet"] is None
    batch = dict(prod.academy["batch"])
    assert batch.pop("service_role")["managed_policy_arns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSBatchServiceRole"]
    assert batch.pop("instance_role")["managed_policy_arns"] == [
        "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"]
    assert batch == {
        "compute_environment": "academy-video-batch-ce-v3",
        "job_queue": "academy-video-batch-queue",
        "job_definition": "academy-video-batch-jobdef",
        "log_group": "/aws/batch/academy-video-worker",
        "architecture": "arm64",
        "retry_attempts": 2,
        "timeout_s": 14400,
        "runnable_timeout_s": 3600,
    }
    # The names in the output are the names the resources were declared with.
    for run in (prod, prod_asg):
        for wt, entry in run.academy["worker_types"].items():
            if entry["fleet"] is None:
                continue
            group = run.one(GROUP, f"{wt}-fleet-group")
            policy = run.one(POLICY, f"{wt}-fleet-backlog-per-instance")
            assert group.inputs["name"] == entry["fleet"]["group_name"]
            assert policy.inputs["name"] == entry["fleet"]["policy_name"]
            assert group.inputs["minSize"] == entry["fleet"]["min_size"]
            assert group.inputs["maxSize"] == entry["fleet"]["max_size"]


def test_components_parent_their_children_under_their_own_name(prod, prod_asg) -> None:
    for run, component_type, components in (
        (prod_asg, "academy:fleet:WorkerFleet", ("ai-fleet", "messaging-fleet", "video-fleet")),
        (prod, "academy:fleet:WorkerFleet", ("ai-fleet", "messaging-fleet")),
        (prod, "academy:video_batch:VideoBatch", ("video-batch",)),
    ):
        children = run.children_of(component_type)
        assert children, component_type
        for typ, name in children:
            assert name.startswith(tuple(f"{c}-" for c in components)), (typ, name)
    # Every group, policy and Batch resource of the stack lives inside a component.
    for run in (prod, prod_asg):
        parented = {
            name
            for component_type in ("academy:fleet:WorkerFleet", "academy:video_batch:VideoBatch")
            for _, name in run.children_of(component_type)
        }
        for typ in (GROUP, POLICY, CE, JOB_QUEUE, JOB_DEF):
            assert run.names(typ) <= parented, typ
