"""End to end: `python -m sandbox up --set KEY=VALUE` on a running sandbox converges as
`pulumi up` would (preview -> verify preflight -> up, only the diff applied), in a sandbox of its
own (asg mode, no Batch-capable type: a rename then touches queues, groups and the publisher,
not the dispatch parameter, whose delete preflight refuses for its own reason).

An up right after an up previews all `same`; a key rotation previews as an update of the
parameter; a rename (`namePrefix`) previews as replacements, is refused while a queue holds
messages (nothing changed), and with the queues empty creates the new resources and deletes
the old; setting it back (a rollback) ends all `same` again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.deployer.convergence import STATE_FILE
from tests.sandbox_e2e import RunningSandbox, cli, start

RENAMED = "acad2"


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    yield from start("asg", tmp_path_factory.mktemp("converge"),
                     settings={"workerTypes": ["ai", "messaging"]})


def preview(sb: RunningSandbox, tmp_path: Path, *settings: str) -> dict[str, Any]:
    target = tmp_path / "preview.json"
    done = cli(sb, "preview", *[a for s in settings for a in ("--set", s)], "--json", str(target))
    assert done.returncode == 0, done.stderr
    return json.loads(target.read_text())


def changes(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(s["op"], s["urn"].split("::")[2].rsplit("$", 1)[-1], s["urn"].rsplit("::", 1)[-1])
            for s in document["steps"] if s["op"] != "same"]


def queue_names(sb: RunningSandbox) -> set[str]:
    return {u.rsplit("/", 1)[-1] for u in sb.client("sqs").list_queues().get("QueueUrls", [])}


def test_an_up_right_after_an_up_previews_all_same(sb: RunningSandbox, tmp_path: Path) -> None:
    assert changes(preview(sb, tmp_path)) == []
    state = (sb.state.root / STATE_FILE).read_text()
    bad = cli(sb, "up", "--set", "aiMinSize=-1")  # a value the program refuses: nothing runs
    assert bad.returncode == 2 and "aiMinSize" in bad.stderr and "Traceback" not in bad.stderr
    assert (sb.state.root / STATE_FILE).read_text() == state


def test_a_key_rotation_previews_as_an_update_of_the_parameter(sb: RunningSandbox,
                                                               tmp_path: Path) -> None:
    document = preview(sb, tmp_path, "internalApiKey=rotated-key-0123456789abcdef")
    assert [(op, typ) for op, typ, _ in changes(document)] == [
        ("update", "aws:ssm/parameter:Parameter")]
    assert "rotated-key" not in json.dumps(document)


def test_a_rename_is_refused_while_queues_hold_messages_then_replaces_and_rolls_back(
        sb: RunningSandbox, tmp_path: Path) -> None:
    document = preview(sb, tmp_path, f"namePrefix={RENAMED}")
    replaced = {(typ, name) for op, typ, name in changes(document) if op == "replace"}
    assert ("aws:sqs/queue:Queue", "ai-jobs") in replaced or any(
        typ == "aws:sqs/queue:Queue" for typ, _ in replaced)
    state = (sb.state.root / STATE_FILE).read_text()
    before = queue_names(sb)
    assert "academy-ai-jobs" in before

    refused = cli(sb, "up", "--set", f"namePrefix={RENAMED}")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refused" in refused.stderr and "Traceback" not in refused.stderr
    assert queue_names(sb) == before and (sb.state.root / STATE_FILE).read_text() == state

    sqs = sb.client("sqs")
    for url in sqs.list_queues()["QueueUrls"]:
        sqs.purge_queue(QueueUrl=url)
    done = cli(sb, "up", "--set", f"namePrefix={RENAMED}")
    assert done.returncode == 0, done.stdout + done.stderr
    names = queue_names(sb)
    assert {f"{RENAMED}-ai-jobs", f"{RENAMED}-messaging-jobs-dlq"} <= names
    assert not {"academy-ai-jobs", "academy-messaging-jobs-dlq"} & names
    assert sb.academy["publisher"]["function_name"].startswith(RENAMED)
    assert changes(preview(sb, tmp_path, f"namePrefix={RENAMED}")) == []
    status = cli(sb, "status")
    assert "LOCAL  200" in status.stdout, status.stdout + status.stderr

    back = cli(sb, "up", "--set", "namePrefix=academy")  # the rollback: one more converge
    assert back.returncode == 0, back.stdout + back.stderr
    assert "academy-ai-jobs" in queue_names(sb) and f"{RENAMED}-ai-jobs" not in queue_names(sb)
    assert changes(preview(sb, tmp_path, "namePrefix=academy")) == []
    assert changes(preview(sb, tmp_path)) == []
