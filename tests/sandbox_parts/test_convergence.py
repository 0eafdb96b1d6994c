"""The deployer's preview digest is what `verify preflight` reads: Pulumi's PreviewDigest with
create / same / update / delete steps, URNs of the stack `sandbox`, ResourceV3 states."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.deployer.convergence import Deployment, Resource, digest, urn
from verify.plan_guard.digest import read_digest

QUEUE = "aws:sqs/queue:Queue"
JOB_QUEUE = "aws:batch/jobQueue:JobQueue"
COMPONENT = "academy:video_batch:VideoBatch"


def resource(typ: str, name: str, id_: str, inputs: dict, parent: tuple[str, str] | None = None,
             retain: bool = False) -> Resource:
    parents = {(typ, name): parent}
    return Resource(urn(typ, name, parents), typ, name, id_, typ != COMPONENT,
                    urn(*parent, {}) if parent else None, retain, inputs,
                    {"name": id_.rsplit("/", 1)[-1], "arn": id_})


def test_urn_joins_parent_types() -> None:
    parents = {(JOB_QUEUE, "video-batch-queue"): (COMPONENT, "video-batch")}
    assert urn(JOB_QUEUE, "video-batch-queue", parents) == (
        "urn:pulumi:sandbox::academy-workers::academy:video_batch:VideoBatch$"
        "aws:batch/jobQueue:JobQueue::video-batch-queue")
    assert urn(COMPONENT, "video-batch", parents) == (
        "urn:pulumi:sandbox::academy-workers::academy:video_batch:VideoBatch::video-batch")


def test_digest_steps_and_what_preflight_reads(tmp_path: Path) -> None:
    kept = resource(QUEUE, "ai-jobs-queue", "http://q/ai", {"visibilityTimeoutSeconds": 60})
    changed = resource(QUEUE, "msg-jobs-queue", "http://q/msg", {"visibilityTimeoutSeconds": 60})
    retained = resource(QUEUE, "video-jobs-queue", "http://q/video", {}, retain=True)
    component = resource(COMPONENT, "video-batch", "video-batch-id", {})
    job_queue = resource(JOB_QUEUE, "video-batch-queue",
                         "arn:aws:batch:ap-northeast-2:123456789012:job-queue/q", {"priority": 1},
                         parent=(COMPONENT, "video-batch"))
    previous = Deployment({}, [kept, changed, retained, component, job_queue])
    new = resource(QUEUE, "thumb-jobs-queue", "placeholder", {})
    declared = [kept, Resource(**{**changed.__dict__, "inputs": {"visibilityTimeoutSeconds": 90}}),
                new]
    document = digest(previous, declared, {"academy-workers:videoMode": "asg",
                                           "academy-workers:internalApiKey": "secret"})
    ops = [(s["op"], s["urn"].rsplit("::", 1)[-1]) for s in document["steps"]]
    assert ops == [("same", "ai-jobs-queue"), ("update", "msg-jobs-queue"),
                   ("create", "thumb-jobs-queue"), ("delete", "video-batch-queue"),
                   ("delete", "video-batch"), ("delete", "video-jobs-queue")]
    assert document["changeSummary"] == {"same": 1, "update": 1, "create": 1, "delete": 3}
    assert document["steps"][1]["diffReasons"] == ["visibilityTimeoutSeconds"]
    assert document["steps"][1]["detailedDiff"] == {
        "visibilityTimeoutSeconds": {"kind": "update", "inputDiff": True}}
    assert document["steps"][0]["detailedDiff"] is None  # same: as Pulumi's JSON writes it
    assert "academy-workers:internalApiKey" not in document["config"]

    path = tmp_path / "preview.json"
    path.write_text(json.dumps(document))
    destroyed = {d.name: d for d in read_digest(path).destroyed()}
    assert set(destroyed) == {"video-batch-queue", "video-batch", "video-jobs-queue"}
    assert destroyed["video-jobs-queue"].retained
    assert destroyed["video-batch-queue"].type == JOB_QUEUE
    assert destroyed["video-batch-queue"].id.endswith("job-queue/q")
    assert read_digest(path).stacks() == {"sandbox"}


def test_state_round_trip_leaves_the_key_out(tmp_path: Path) -> None:
    state = Deployment({"academy-workers:internalApiKey": "k" * 40, "aws:region": "x"},
                       [resource(QUEUE, "ai-jobs-queue", "http://q/ai", {})])
    state.save(tmp_path)
    assert "k" * 40 not in (tmp_path / "deployed.json").read_text()
    loaded = Deployment.load(tmp_path)
    assert loaded.config == {"aws:region": "x"} and loaded.resources == state.resources


def test_state_values_keep_secrets_as_digests_and_digest_archives() -> None:
    import pulumi

    from pulumi_bridge.inprocess import secret
    from sandbox.deployer.moto_mocks import SECRET, shown, state_value

    wrapped = secret("the-key")
    code = pulumi.AssetArchive({"index.py": pulumi.StringAsset("print(1)")})
    value = state_value({"value": wrapped, "code": code, "n": 3.0, "tags": ["a"]})
    assert "the-key" not in json.dumps(value) and shown(value)["value"] == SECRET
    # A rotated key is a change; the same key is not (compared by digest, never in clear).
    assert state_value(secret("the-key")) == value["value"] != state_value(secret("new-key"))
    assert value["n"] == 3 and value["tags"] == ["a"]
    again = state_value({"code": pulumi.AssetArchive({"index.py": pulumi.StringAsset(
        "print(1)")})})
    assert value["code"] == again["code"]  # the same content, the same digest (no timestamps)
