"""`verify adopt` against an account holding what the PowerShell scripts made (scenarios/legacy.py,
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

from sandbox.scenarios import legacy
from sandbox.services import moto_server
from stack_settings.parse import settings_from_config
from stack_settings.stack_files import REHEARSAL_VALUES, stack_config
from tests.verify.cli_run import verify
from tests.verify.conftest import DebianAwsCli
from verify.adopt.lookup import LOOKUPS

ROOT = Path(__file__).resolve().parents[2]
PULUMI_AWS = Path(__import__("pulumi_aws").__file__).parent
BASE = {"batch": "prod", "asg": "prod-asg"}
# The provider version the program pins: Pulumi's generator writes it on each entry
# (pkg/cmd/pulumi/operations/import.go, importSpec.Version); without it the import runs on an
# unversioned default provider and the first up moves every resource to the program's.
PINNED_AWS = next(line.split("==", 1)[1].strip() for line in
                  (ROOT / "requirements.txt").read_text().splitlines()
                  if line.startswith("pulumi-aws=="))


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
    """`verify adopt ARGS` (in this process: tests/verify/cli_run.py) with nothing of the
    tests' environment but the saved stacks' directory."""
    return verify("adopt", *args, clean=True, env={
        "PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "ACADEMY_STACKS_DIR": str(stacks)})


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
        assert left["commands"] and all(c.startswith(("aws ", 'f=$(mktemp) && aws ',
                                                      "pulumi config set "))
                                        for c in left["commands"])
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
        assert set(resource) <= {"type", "name", "id", "parent", "component", "logicalName",
                                 "version"}
        if resource.get("component"):
            assert resource["type"].startswith("academy:") and "version" not in resource
            continue
        assert resource["id"], resource
        assert resource["version"] == PINNED_AWS, resource
        assert resource["parent"] in components, "each child names its component parent"
        assert position[resource["parent"]] < position[resource["name"]]
    adopted = {a["name"] for a in report["adopt"]}
    assert adopted == {r["name"] for r in document["resources"] if not r.get("component")}


def test_each_adopted_entry_names_the_provider_version_the_program_pins() -> None:
    from verify.adopt import Adopted, Adoption, import_file

    adoption = Adoption("prod")
    parent = ("academy:workers:Queues", "queues")
    adoption.components[parent] = None
    adoption.adopted.append(Adopted("aws:sqs/queue:Queue", "video-queue", "academy-video-jobs",
                                    "https://sqs/1/academy-video-jobs", parent, ()))
    component, queue = import_file(adoption)["resources"]
    assert queue["version"] == PINNED_AWS
    assert "version" not in component


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


# == red team: adopt ===========================================================================

FORGED = "\n    $ aws iam delete-role --role-name academy-worker-queue-depth-metric-role"


def test_names_from_the_account_cannot_forge_lines_in_the_text_report(
    legacy_stack: Callable[..., Path], tmp_path: Path,
) -> None:
    def forged_policy(client: Any) -> None:
        client("iam").put_role_policy(
            RoleName="academy-lambda", PolicyName=f"old{FORGED}\rx",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "sqs:ListQueues", "Resource": "*"}]}))

    stacks = legacy_stack("batch", mutate=forged_policy)
    done = adopt(stacks, "--stack", "old", "--import-file", str(tmp_path / "import.json"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert FORGED.strip() not in [line.strip() for line in lines]
    assert "\r" not in done.stdout
    # The command runs as printed: the name in bash's $'...' with the newline and CR escaped.
    forged = [line for line in lines if "delete-role-policy" in line and "$'old\\n" in line]
    assert forged and all(line.isascii() and line.isprintable() for line in forged), done.stdout


def test_a_lookup_without_an_answer_is_said_as_not_checked(tmp_path: Path) -> None:
    """No endpoint answers (a BotoCoreError, not a ClientError): said, not a crash."""
    from sandbox.ports import free_port

    stacks = tmp_path / "stacks"
    save_stack(stacks, "old", "prod", {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
                                       "AWS_REGION": "ap-northeast-2",
                                       "AWS_ACCESS_KEY_ID": "testing",
                                       "AWS_SECRET_ACCESS_KEY": "testing"})
    done = adopt(stacks, "--stack", "old", "--import-file", str(tmp_path / "import.json"))
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
    assert "(leftovers): lookup failed: EndpointConnectionError" in done.stdout


def test_the_env_flag_command_removes_exactly_the_flags_and_keeps_the_kms_key(
    legacy_stack: Callable[..., Path], aws_env: dict[str, str], tmp_path: Path,
    debian_aws: DebianAwsCli,
) -> None:
    """The printed command, run for real by Debian's AWS CLI against the moto server."""
    value = ("export ENABLE_VIDEO_WAKE=false\nENABLE_VIDEO_METRICS = false\n"
             "DJANGO_SETTINGS_MODULE=academy.settings.worker\nexport KEEP_ME=1\n")
    key: dict[str, str] = {}

    def custom_key(client: Any) -> None:
        key["id"] = client("kms").create_key(Description="workers")["KeyMetadata"]["KeyId"]
        client("ssm").put_parameter(Name="/academy/workers/env", Type="SecureString",
                                    KeyId=key["id"], Value=value, Overwrite=True)

    stacks = legacy_stack("batch", mutate=custom_key)
    work = tmp_path / "cwd"
    work.mkdir()
    code, report = run_json(stacks, tmp_path / "import.json")
    assert code == 0
    (flag,) = [left for left in report["leftovers"] if left["kind"] == "environment flag"]
    assert set(flag["name"].split(": ")[1].split(", ")) == {"ENABLE_VIDEO_WAKE",
                                                           "ENABLE_VIDEO_METRICS"}
    # Run twice, as an operator might: the value must come out the same, byte for byte (a
    # `--output text` read adds a newline each time it is not taken off again).
    # The first run by /bin/sh (dash), the second by bash.
    for shell, command in zip(["/bin/sh", "/bin/bash"], flag["commands"] * 2, strict=True):
        done = debian_aws.run(command, shell=shell, cwd=work, extra={"TMPDIR": str(tmp_path)})
        assert done.returncode == 0, (command, done.stderr)
    assert list(work.iterdir()) == [], "nothing decrypted left in the working directory"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("tmp")] == []
    ssm = moto_server.client({**aws_env, "AWS_DEFAULT_REGION": aws_env["AWS_REGION"]}, "ssm")
    now = ssm.get_parameter(Name="/academy/workers/env", WithDecryption=True)["Parameter"]
    assert now["Value"] == "DJANGO_SETTINGS_MODULE=academy.settings.worker\nexport KEEP_ME=1\n"
    assert "ENABLE_VIDEO" not in now["Value"]
    (described,) = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": ["/academy/workers/env"]}])["Parameters"]
    assert described["Type"] == "SecureString" and described["KeyId"] == key["id"]


def _saved(tmp_path: Path, config: str | bytes | None = None, env: bytes | None = None) -> Path:
    stacks = tmp_path / "stacks"
    save_stack(stacks, "old", "prod", {"AWS_REGION": "ap-northeast-2"})
    if config is not None:
        target = stacks / "old" / "config.json"
        target.write_bytes(config if isinstance(config, bytes) else config.encode())
    if env is not None:
        (stacks / "old" / "env").write_bytes(env)
    return stacks


def _config_with(**changes: Any) -> str:
    config = stack_config("prod", overrides=REHEARSAL_VALUES)
    config.update(changes)
    return json.dumps(config)


@pytest.mark.parametrize(("setup", "said"), [
    (lambda p: _saved(p, config="[1, 2]"), "is a JSON list"),
    (lambda p: _saved(p, config="[" * 100_000), "nested too deeply"),
    (lambda p: _saved(p, config='{"aws:region": NaN}'), "NaN is not JSON"),
    (lambda p: _saved(p, env=b"export AWS_REGION=caf\xe9\n"), "is not UTF-8"),
    (lambda p: _saved(p, config=_config_with(**{"aws:region": "us-east-1 --endpoint-url x"})),
     "not an AWS region"),
    (lambda p: _saved(p, config=_config_with(**{"aws:region": ["us-east-1"]})),
     "not an AWS region"),
    (lambda p: _saved(p, config=_config_with(**{"academy-workers:videoMode": "both"})),
     "config.json"),
])
def test_bad_saved_stacks_are_exit_2_with_a_message(tmp_path: Path, setup: Callable[[Path], Path],
                                                    said: str) -> None:
    stacks = setup(tmp_path)
    done = adopt(stacks, "--stack", "old", "--import-file", str(tmp_path / "import.json"))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert said in done.stderr and "Traceback" not in done.stderr, done.stderr
    if said == "config.json":
        assert "Pulumi.old.yaml" not in done.stderr


def test_an_env_fifo_and_an_unwritable_import_path_are_exit_2(tmp_path: Path) -> None:
    import os

    stacks = _saved(tmp_path, config=_config_with())
    (stacks / "old" / "env").unlink()
    os.mkfifo(stacks / "old" / "env")
    done = adopt(stacks, "--stack", "old", "--import-file", str(tmp_path / "import.json"))
    assert done.returncode == 2 and "not a regular file (a FIFO)" in done.stderr, done.stderr
    (stacks / "old" / "env").unlink()
    out = tmp_path / "stdout.txt"
    with out.open("w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "verify", "adopt", "--stack", "old", "--import-file",
             "/proc/self/fd/1"], stdout=handle, stderr=subprocess.PIPE, text=True, timeout=120,
            cwd=ROOT, check=False,
            env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent",
                 "ACADEMY_STACKS_DIR": str(stacks)})
    assert done.returncode == 2, done.stderr
    assert "--import-file /proc/self/fd/1" in done.stderr and "Traceback" not in done.stderr


def test_messages_left_in_the_retained_queue_in_batch_mode_are_waiting_work(
    legacy_stack: Callable[..., Path], tmp_path: Path, aws_env: dict[str, str],
) -> None:
    """The old fleet's messages are videos no fleet consumes in batch mode: said as work to
    drain (videoDrain for the first up), never as litter to purge; the stray group's commands
    remove its policies first (an emulator keeps them after the group)."""
    def old_messages(client: Any) -> None:
        url = client("sqs").get_queue_url(QueueName="academy-video-jobs")["QueueUrl"]
        for n in range(2):
            client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps({"video_id": n}))

    stacks = legacy_stack("batch", mutate=old_messages)
    code, report = run_json(stacks, tmp_path / "import.json")

    assert code == 0
    waiting = [left for left in report["leftovers"] if left["kind"] == "waiting work"]
    assert len(waiting) == 1 and waiting[0]["name"] == "academy-video-jobs"
    assert "2 message(s)" in waiting[0]["why"] and "videoDrain" in waiting[0]["why"]
    assert waiting[0]["commands"] == ["pulumi config set videoDrain true"]
    stray = next(left for left in report["leftovers"] if left["kind"] == "auto scaling group")
    first = stray["commands"][0]
    assert first.startswith("aws autoscaling delete-policy") and "video-backlogcount-tt" in first
    assert stray["commands"][-1].startswith("aws autoscaling delete-auto-scaling-group")
