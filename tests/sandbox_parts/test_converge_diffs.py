"""`pulumi up` as the deployer rehearses it, against moto with the real program: only the diff
is applied (a rerun is all `same`), a rotated key is an update of its parameter, a rename
replaces (the new resources created, the old deleted, a retained queue kept), and reverting
the setting (a rollback) ends all `same` against the first state."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from sandbox.deployer.convergence import Deployment, Resource, converge, digest, preview
from sandbox.deployer.moto_mocks import MotoMocks
from sandbox.services import moto_server
from stack_settings.stack_files import REHEARSAL_VALUES, stack_config
from verify.plan_guard.digest import read_digest

KEY = "first-key-0123456789abcdef"
QUEUE = "aws:sqs/queue:Queue"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    server = moto_server.start(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        env = server.env()
        network = MotoMocks(env).network.config_overrides()

        def config(**settings: Any) -> dict[str, str]:
            return stack_config("prod", {**REHEARSAL_VALUES, "internalApiKey": KEY,
                                         **network, **settings})

        first = converge(env, config(), Deployment(config()))
        yield {"env": env, "config": config, "first": first.deployment, "server": server}
    finally:
        server.stop()


def ops(document: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for step in document["steps"]:
        found.setdefault(step["op"], []).append(step["urn"].rsplit("::", 1)[-1])
    return found


def test_an_up_right_after_an_up_is_all_same_and_calls_nothing(stack: dict[str, Any]) -> None:
    env, config, first = stack["env"], stack["config"], stack["first"]
    assert set(ops(preview(env, config(), first))) == {"same"}
    again = converge(env, config(), first)
    assert (again.created, again.updated, again.deleted) == ([], 0, [])  # nothing re-applied
    assert again.replaced == []
    assert again.same == sum(1 for r in first.resources if r.custom and "-not-created" not in r.id)


def test_a_key_rotation_previews_as_an_update_of_the_parameter(stack: dict[str, Any]) -> None:
    env, config, first = stack["env"], stack["config"], stack["first"]
    document = preview(env, config(internalApiKey="rotated-key-0123456789abcdef"), first)
    changed = [s for s in document["steps"] if s["op"] != "same"]
    assert [(s["op"], s["newState"]["type"], s["diffReasons"]) for s in changed] == [
        ("update", "aws:ssm/parameter:Parameter", ["value"])]
    assert "rotated-key" not in json.dumps(document) and KEY not in json.dumps(document)
    assert changed[0]["newState"]["inputs"]["value"] == "[secret]"


def test_a_rename_replaces_and_a_rollback_ends_all_same(stack: dict[str, Any],
                                                        tmp_path: Path) -> None:
    env, config, first = stack["env"], stack["config"], stack["first"]
    sqs = moto_server.client(env, "sqs")
    renamed = config(namePrefix="renamed")
    document = preview(env, renamed, first)
    replaced = {s["newState"]["inputs"]["name"]: s for s in document["steps"]
                if s["op"] == "replace" and s["newState"]["type"] == QUEUE}
    assert "renamed-ai-jobs" in replaced
    assert replaced["renamed-ai-jobs"]["replaceReasons"] == ["name"]
    assert replaced["renamed-ai-jobs"]["detailedDiff"]["name"] == {"kind": "update-replace",
                                                                   "inputDiff": True}
    path = tmp_path / "rename.json"
    path.write_text(json.dumps(document))
    destroyed = {d.id: d for d in read_digest(path).destroyed()}
    old_url = replaced["renamed-ai-jobs"]["oldState"]["id"]
    assert destroyed[old_url].replaced and destroyed[old_url].type == QUEUE

    seen: list[tuple[bool, bool]] = []  # at each state write: (new queue recorded, old pending)

    def checkpoint(state: Deployment) -> None:
        names = {r.outputs.get("name") for r in state.resources if r.type == QUEUE}
        doomed = {r.outputs.get("name") for r in state.doomed}
        if "renamed-ai-jobs" in names and not seen:
            # create-replacement first: the old queue still exists, a pending delete
            assert "academy-ai-jobs" in queue_names() and "academy-ai-jobs" in doomed
        seen.append(("renamed-ai-jobs" in names, "academy-ai-jobs" in doomed))

    def queue_names() -> set[str]:
        return {u.rsplit("/", 1)[-1] for u in sqs.list_queues().get("QueueUrls", [])}

    done = converge(env, renamed, first, checkpoint)
    assert seen[-1] == (True, False)  # then delete-replaced: no pending delete is left
    names = {url.rsplit("/", 1)[-1] for url in sqs.list_queues().get("QueueUrls", [])}
    assert {"renamed-ai-jobs", "renamed-ai-jobs-dlq", "renamed-video-jobs"} <= names
    assert "academy-ai-jobs" not in names and "academy-ai-jobs-dlq" not in names
    assert "academy-video-jobs" in names  # retainOnDelete: replaced, never deleted
    assert any(r.startswith(QUEUE) for r in done.replaced)
    assert set(ops(preview(env, renamed, done.deployment))) == {"same"}

    back = converge(env, config(), done.deployment)
    assert "academy-ai-jobs" in {u.rsplit("/", 1)[-1] for u in sqs.list_queues()["QueueUrls"]}
    assert set(ops(preview(env, config(), back.deployment))) == {"same"}
    # Against the first state: the same resources, names and inputs; only the ids of what the
    # round trip replaced (a launch template's new id in its group) are new.
    now = {r.key: r for r in back.deployment.resources}
    text = json.dumps([asdict(r) for r in first.resources])
    for r in first.resources:
        if r.custom and now[r.key].id != r.id:
            text = text.replace(json.dumps(r.id)[1:-1], json.dumps(now[r.key].id)[1:-1])
    same_ids = Deployment(first.config, [Resource(**r) for r in json.loads(text)])
    assert set(ops(digest(same_ids, back.deployment.resources, config()))) == {"same"}
