"""`verify adopt` against an account holding what the PowerShell scripts made (sandbox.legacy,
created in a real moto server): what is adopted and under which id, the drift, the leftovers,
the bulk import file in Pulumi's format, and the exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.settings import settings_from_config
from components.stack_files import REHEARSAL_VALUES, stack_config
from sandbox import legacy, moto_server
from verify.adopt.lookup import LOOKUPS

ROOT = Path(__file__).resolve().parents[2]
PULUMI_AWS = Path(__import__("pulumi_aws").__file__).parent
BASE = {"batch": "prod", "asg": "prod-asg"}


def make_legacy(env: dict[str, str], stack: str, mutate: Callable[[Any], None] | None = None
                ) -> None:
    def client(service: str) -> Any:
        return moto_server.client({**env, "AWS_DEFAULT_REGION": env["AWS_REGION"]}, service)

    config = stack_config(stack, overrides=REHEARSAL_VALUES)
    settings = settings_from_config(config, stack)
    ec2 = client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    legacy.create(client, legacy.LegacyNames.from_settings(settings), subnet, group, image,
                  settings.mode)
    if mutate:
        mutate(client)


def save_stack(stacks: Path, name: str, base: str, env: dict[str, str]) -> None:
    """A saved stack as the sandbox saves one: its config and the env that reaches it."""
    directory = stacks / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(
        stack_config(base, overrides=REHEARSAL_VALUES)))
    (directory / "env").write_text("".join(f"export {k}={v}\n" for k, v in env.items() if v))


def adopt(stacks: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "verify", "adopt", *args], capture_output=True, text=True,
        timeout=120, cwd=ROOT, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "ACADEMY_STACKS_DIR": str(stacks)})


@pytest.fixture
def legacy_stack(aws_env: dict[str, str], tmp_path: Path) -> Callable[..., Path]:
    def build(mode: str, mutate: Callable[[Any], None] | None = None) -> Path:
        make_legacy(aws_env, BASE[mode], mutate)
        save_stack(tmp_path / "stacks", "old", BASE[mode], aws_env)
        return tmp_path / "stacks"
    return build


def run_json(stacks: Path, target: Path) -> tuple[int, dict]:
    done = adopt(stacks, "--stack", "old", "--import-file", str(target), "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}


@pytest.mark.parametrize("mode", ["batch", "asg"])
def test_the_old_account_is_adopted_with_its_drift_and_leftovers(
    legacy_stack: Callable[..., Path], tmp_path: Path, mode: str,
) -> None:
    stacks = legacy_stack(mode)
    target = tmp_path / "import.json"

    code, report = run_json(stacks, target)

    assert code == 0 and target.is_file()
    adopted = {a["physical_name"]: a for a in report["adopt"]}
    assert "academy-video-jobs" in adopted and "academy-worker-queue-depth-metric" in adopted
    drift = {(d["physical_name"], d["attribute"]): d for d in report["drift"]}
    visibility = drift[("academy-video-jobs", "VisibilityTimeout")]
    assert (visibility["live"], visibility["declared"]) == (10800, 15300)
    removed = drift[("academy-worker-queue-depth-metric", "environment removed")]
    assert "ENABLE_VIDEO_METRICS" in json.dumps(removed["live"])
    leftovers = {(left["kind"], left["name"]): left for left in report["leftovers"]}
    assert ("parameter", "/academy/workers/video/zero_since_epoch") in leftovers
    assert ("role", "academy-lambda") in leftovers
    assert any(k == "environment flag" for k, _ in leftovers)
    for left in report["leftovers"]:
        assert left["commands"] and all(c.startswith("aws ") for c in left["commands"])
    if mode == "asg":
        scaling = drift[("academy-video-worker-asg", "scaling reads")]
        assert "VideoQueueDepthTotal" in scaling["live"] and "target 1" in scaling["live"]
        assert "GroupInServiceInstances" in scaling["declared"]
        policy = leftovers[("scaling policy", "academy-video-worker-asg/video-backlogcount-tt")]
        assert policy["commands"] == [
            "aws autoscaling delete-policy --auto-scaling-group-name academy-video-worker-asg "
            "--policy-name video-backlogcount-tt --region ap-northeast-2"]
    else:
        assert ("auto scaling group", "academy-video-worker-asg") in leftovers
        assert "academy-video-batch-queue" in adopted
        assert adopted["academy-video-batch-queue"]["id"].startswith("arn:aws:batch:")


def test_the_import_file_is_pulumis_bulk_format(
    legacy_stack: Callable[..., Path], tmp_path: Path,
) -> None:
    stacks = legacy_stack("batch")
    target = tmp_path / "import.json"
    code, report = run_json(stacks, target)
    assert code == 0
    document = json.loads(target.read_text())
    assert document == report["import_file"]
    assert set(document) == {"nameTable", "resources"}
    names = [r["name"] for r in document["resources"]]
    assert len(names) == len(set(names)), "names in one import file must be unique"
    components = {r["name"]: r for r in document["resources"] if r.get("component")}
    assert components and all("id" not in c for c in components.values())
    position = {name: i for i, name in enumerate(names)}
    for resource in document["resources"]:
        assert set(resource) <= {"type", "name", "id", "parent", "component", "logicalName"}
        if resource.get("component"):
            assert resource["type"].startswith("academy:")
            continue
        assert resource["id"], resource
        assert resource["parent"] in components, "each child names its component parent"
        assert position[resource["parent"]] < position[resource["name"]]
    adopted = {a["name"] for a in report["adopt"]}
    assert adopted == {r["name"] for r in document["resources"] if not r.get("component")}


def _import_example(typ: str) -> str:
    """The id of the `$ pulumi import <type> <name> <id>` example in the installed pulumi_aws
    source (the text of the type's "Import" section on its docs page)."""
    module, _, rest = typ.split(":", 2)[1].partition("/")
    module = {"lambda": "lambda_"}.get(module, module)
    resource = rest.split(":")[0]
    source = PULUMI_AWS / module / (re.sub(r"(?<!^)([A-Z])", r"_\1", resource).lower() + ".py")
    found = re.search(rf"\$ pulumi import {re.escape(typ)} \S+ (\S+)", source.read_text())
    assert found, f"no import example for {typ} in {source}"
    return found.group(1)


def _form(identifier: str) -> str:
    if re.fullmatch(r"https?://\S+/\S+", identifier):
        return "queue url"
    if identifier.startswith("arn:"):
        return "arn"
    if re.fullmatch(r"lt-[0-9a-z]+", identifier):
        return "launch template id"
    if re.fullmatch(r"[0-9a-f-]{30,}", identifier):
        return "uuid"
    if identifier.startswith("/") and identifier.count("/") >= 2:
        return "path"
    if "/arn:" in identifier:
        return "name/arn"
    if ":" in identifier:
        return "name:name"
    if "/" in identifier:
        return "name/name"
    return "name"


# Examples whose free text spells a form our names cannot show (e.g. an EventBridge rule on a
# custom bus, `bus/rule`): the form we use is the one the same section gives for our case.
SAME_SECTION_CASE = {"aws:cloudwatch/eventRule:EventRule": "name",  # default bus: the rule name
                     "aws:cloudwatch/logGroup:LogGroup": "path"}


@pytest.mark.parametrize("mode", ["batch", "asg"])
def test_every_id_takes_the_form_of_its_types_import_section(
    legacy_stack: Callable[..., Path], tmp_path: Path, mode: str,
) -> None:
    stacks = legacy_stack(mode)
    _, report = run_json(stacks, tmp_path / "import.json")
    seen: dict[str, str] = {}
    for item in report["adopt"]:
        seen.setdefault(item["type"], item["id"])
    assert len(seen) >= 3
    for typ, identifier in seen.items():
        expected = SAME_SECTION_CASE.get(typ) or _form(_import_example(typ))
        assert _form(identifier) == expected, (typ, identifier, _import_example(typ))


def test_every_type_adopt_looks_up_has_an_import_section() -> None:
    forms = {typ: _form(_import_example(typ)) for typ in LOOKUPS}
    assert forms["aws:sqs/queue:Queue"] == "queue url"
    assert forms["aws:batch/jobQueue:JobQueue"] == "arn"
    assert forms["aws:autoscaling/policy:Policy"] == "name/name"


def test_a_resource_that_cannot_be_adopted_stops_it_and_writes_nothing(
    legacy_stack: Callable[..., Path], tmp_path: Path,
) -> None:
    def role_on_another_path(client: Any) -> None:
        client("iam").create_role(RoleName="academy-worker-queue-depth-metric-role",
                                  Path="/legacy/",
                                  AssumeRolePolicyDocument=json.dumps(legacy.LAMBDA_TRUST))

    stacks = legacy_stack("batch", mutate=role_on_another_path)
    target = tmp_path / "import.json"
    done = adopt(stacks, "--stack", "old", "--import-file", str(target))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "academy-worker-queue-depth-metric-role" in done.stdout and "/legacy/" in done.stdout
    assert "NOT ADOPTABLE" in done.stdout
    assert not target.exists()


def test_bad_usage_is_exit_2_with_a_message(legacy_stack: Callable[..., Path],
                                            tmp_path: Path) -> None:
    stacks = legacy_stack("asg")
    cases = [
        ("--stack", "nope", "--import-file", str(tmp_path / "i.json")),
        ("--stack", "old", "--import-file", str(tmp_path / "missing-dir" / "i.json")),
        ("--stack", "old", "--import-file", str(tmp_path)),
        ("--stack", "old"),
    ]
    for args in cases:
        done = adopt(stacks, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.strip()
    assert not (tmp_path / "missing-dir").exists()


def test_the_text_report_says_the_three_things_and_the_next_steps(
    legacy_stack: Callable[..., Path], tmp_path: Path,
) -> None:
    stacks = legacy_stack("asg")
    done = adopt(stacks, "--stack", "old", "--import-file", str(tmp_path / "import.json"))
    assert done.returncode == 0, done.stderr
    for heading in ("(a) adopted", "(b) drift", "(c) leftovers"):
        assert heading in done.stdout
    assert "VisibilityTimeout: 10800 -> 15300" in done.stdout
    assert "pulumi import --file" in done.stdout
    assert "$ aws autoscaling delete-policy" in done.stdout
