"""The registry of AWS types (contract/aws_types.py): every type and input the program declares
maps to its API through botocore's models, and a change diffs as Pulumi's would (same, update,
replace; delete-before-replace when the physical name stays)."""

from __future__ import annotations

import pytest

from contract.aws_params import Unmappable
from contract.aws_types import TYPES
from pulumi_bridge.inprocess import is_secret
from pulumi_bridge.program_eval import evaluate
from stack_settings.stack_files import REHEARSAL_VALUES, stack_config

QUEUE = TYPES["aws:sqs/queue:Queue"]
CE = TYPES["aws:batch/computeEnvironment:ComputeEnvironment"]


def _plain(value):
    if isinstance(value, dict):
        return _plain(value["value"]) if is_secret(value) else {k: _plain(v)
                                                                 for k, v in value.items()}
    return [_plain(v) for v in value] if isinstance(value, list) else value


@pytest.fixture(scope="module")
def declared() -> list[tuple[str, dict]]:
    found = []
    for stack in ("prod", "prod-asg"):
        config = stack_config(stack, {**REHEARSAL_VALUES, "videoDrain": True})
        found += [(r.typ, _plain(r.inputs)) for r in evaluate(stack, config).resources]
    return found


def test_every_declared_type_and_input_maps_to_its_api(declared) -> None:
    aws = {typ for typ, _ in declared if typ.startswith("aws:")}
    assert aws <= set(TYPES), f"not in the registry: {sorted(aws - set(TYPES))}"
    for typ, inputs in declared:
        if typ in TYPES:
            TYPES[typ].check(inputs)  # raises Unmappable on any input it cannot map


def test_an_unmappable_input_names_the_type_and_the_key() -> None:
    with pytest.raises(Unmappable, match=r"aws:sqs/queue:Queue\.visibilityTimeoutMinutes"):
        QUEUE.check({"name": "q", "visibilityTimeoutMinutes": 5})
    with pytest.raises(Unmappable, match=r"LogGroup\.retentionDays"):
        TYPES["aws:cloudwatch/logGroup:LogGroup"].check({"name": "g", "retentionDays": 5})


def test_inputs_become_the_api_request() -> None:
    request = QUEUE.request(QUEUE.create, {"name": "q", "visibilityTimeoutSeconds": 60.0,
                                           "sqsManagedSseEnabled": True, "tags": {"a": "b"}})
    assert request == {"QueueName": "q", "tags": {"a": "b"}, "Attributes": {
        "VisibilityTimeout": "60", "SqsManagedSseEnabled": "true"}}


@pytest.mark.parametrize(("typ", "old", "new", "op", "forced"), [
    (QUEUE, {"name": "a", "visibilityTimeoutSeconds": 30}, {"name": "a",
     "visibilityTimeoutSeconds": 30}, "same", []),
    (QUEUE, {"name": "a", "visibilityTimeoutSeconds": 30}, {"name": "a",
     "visibilityTimeoutSeconds": 60}, "update", []),
    (QUEUE, {"name": "a"}, {"name": "b"}, "replace", ["name"]),
    (QUEUE, {"name": "a"}, {"name": "a", "fifoQueue": True}, "replace", ["fifoQueue"]),
    (TYPES["aws:iam/role:Role"], {"name": "r", "path": "/"}, {"name": "r", "path": "/x/"},
     "replace", ["path"]),
    (CE, {"name": "c", "computeResources": {"type": "EC2", "maxVcpus": 4}},
     {"name": "c", "computeResources": {"type": "SPOT", "maxVcpus": 4}}, "replace",
     ["computeResources.type"]),
    (CE, {"name": "c", "computeResources": {"type": "EC2", "maxVcpus": 4}},
     {"name": "c", "computeResources": {"type": "EC2", "maxVcpus": 8}}, "update", []),
])
def test_diff_as_pulumi_makes_it(typ, old, new, op, forced) -> None:
    assert typ.diff(old, new)[0] == op
    assert typ.diff(old, new)[2] == forced


def test_delete_before_replace_only_when_the_physical_name_stays() -> None:
    assert QUEUE.delete_before_replace({"name": "a"}, {"name": "a", "fifoQueue": True})
    assert not QUEUE.delete_before_replace({"name": "a"}, {"name": "b"})
