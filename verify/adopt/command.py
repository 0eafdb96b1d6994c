"""`python -m verify adopt --stack NAME --import-file PATH [--json]`.

Exit 0: the import file is written. 1: a declared resource exists in a form that cannot be
adopted (named, with why; no file is written). 2: bad usage (unknown stack, invalid settings, an
import path that cannot be written).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack_settings.parse import PROJECT, Settings, SettingsError, settings_from_config
from stack_settings.stack_files import StackFileError, stack_config
from verify.adopt import Adoption, adopt, import_file
from verify.errors import UsageError
from verify.json_files import read_json_file
from verify.outputs import read_env_file
from verify.report import shown
from verify.stacks import ENV_FILE, saved_stack_dir

CONFIG_FILE = "config.json"  # a saved stack's config (the sandbox saves the one it deploys)
# Adoption never reads or writes the key; the program only needs a value to evaluate.
EVALUATION_KEY = "adopt-evaluates-the-program-without-the-key"
NEXT_STEPS = ("pulumi import --file {file} --generate-code=false --protect=false",
              "pulumi preview   # shows the drift above as updates", "pulumi up")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, metavar="NAME",
                        help="a stack with a Pulumi.NAME.yaml, or a saved stack (sandbox)")
    parser.add_argument("--import-file", required=True, type=Path, metavar="PATH",
                        help="where to write the bulk import file `pulumi import --file` reads")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


MAX_CONFIG_BYTES = 10 * 1024 * 1024
REGION_SHAPE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")


@dataclass(frozen=True)
class StackSource:
    config: dict[str, Any]
    env: dict[str, str]
    where: str  # the file the config came from, for messages


def stack_settings_config(stack: str, root: Path) -> StackSource:
    """The stack file's config, or a saved stack's config.json; and a saved stack's env."""
    if not stack or "/" in stack or stack in (".", ".."):
        raise UsageError(f"--stack {stack!r} is not a stack name")
    stack_file = root / f"Pulumi.{stack}.yaml"
    saved = saved_stack_dir(stack, root)
    env = read_env_file(saved / ENV_FILE)
    if stack_file.is_file():
        try:
            config: Any = stack_config(stack, root=root)
        except StackFileError as exc:
            raise UsageError(str(exc)) from None
        where = stack_file.name
    elif os.path.lexists(saved / CONFIG_FILE):
        where = str(saved / CONFIG_FILE)
        config = read_json_file(saved / CONFIG_FILE, "saved config", MAX_CONFIG_BYTES)
        if not isinstance(config, dict):
            raise UsageError(f"saved config {where} is a JSON {type(config).__name__}, not an "
                             "object of settings (`python -m sandbox up --legacy` saves one)")
    else:
        raise UsageError(f"no stack {stack!r}: neither {stack_file.name} nor a saved "
                         f"{saved / CONFIG_FILE} (`python -m sandbox up --legacy` saves one)")
    secret = f"{PROJECT}:internalApiKey"
    if not str(config.get(secret, "")).strip() or str(config[secret]).startswith("v1:"):
        config[secret] = EVALUATION_KEY  # a stack file holds it encrypted, if at all
    return StackSource(config, env, where)


def check_import_path(path: Path) -> None:
    """Refuse an import path that cannot be written, before anything is evaluated: a file is
    made and removed beside it, as the import file will be."""
    if path.exists() and not path.is_file():
        raise UsageError(f"--import-file {path}: not a regular file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--import-file {path}: directory {parent} does not exist")
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"--import-file {path}: cannot write in {parent}: "
                         f"{exc.strerror or exc}") from None
    os.close(handle)
    Path(probe).unlink(missing_ok=True)


def write_atomically(path: Path, document: Mapping[str, Any]) -> None:
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                                        prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"--import-file {path}: cannot write it: {exc.strerror or exc}") \
            from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise UsageError(f"--import-file {path}: cannot write it: {exc.strerror or exc}") \
            from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def settings_of(source: StackSource, stack: str) -> Settings:
    try:
        return settings_from_config(source.config, stack)
    except SettingsError as exc:
        if source.where.endswith(".yaml"):
            raise UsageError(str(exc)) from None
        lines = "\n".join(f"  - {p}" for p in exc.problems)
        raise UsageError(f"{len(exc.problems)} invalid stack setting(s) in {source.where}:\n"
                         f"{lines}\nFix them in {source.where} (or save the stack again)") \
            from None
    except (AttributeError, TypeError, ValueError) as exc:  # a value of the wrong JSON type
        raise UsageError(f"{source.where}: settings of the wrong type ({exc})") from None


def region_of(source: StackSource) -> str:
    """The region to look in: the saved env's AWS_REGION, else the config's aws:region; each
    one given must be a region's name (it reaches boto3 and the printed commands)."""
    given = [("AWS_REGION in the saved env", source.env.get("AWS_REGION")),
             (f"aws:region in {source.where}", source.config.get("aws:region"))]
    for said, value in given:
        if value is not None and value != "" and (
                not isinstance(value, str) or not REGION_SHAPE.fullmatch(value)):
            raise UsageError(f"{said} is {json.dumps(value)[:60]}, not an AWS region such as "
                             "ap-northeast-2")
    return next((v for _, v in given if v), "ap-northeast-2")


def run(args: argparse.Namespace, root: Path,
        make_client: Callable[[dict[str, str], str], Callable[[str], Any]]) -> int:
    from pulumi_bridge.program_eval import evaluate

    check_import_path(args.import_file)
    source = stack_settings_config(args.stack, root)
    settings = settings_of(source, args.stack)
    region = region_of(source)
    evaluation = evaluate(args.stack, source.config, project_dir=root)
    client = make_client(source.env, region)
    result = adopt(evaluation, client, region,
                   tuple(w.group_name for w in settings.workers.values()))
    document = import_file(result)
    if result.ok:
        write_atomically(args.import_file, document)
    if args.json:
        print(json.dumps(as_json(result, args.import_file, document), indent=2))
    else:
        print(as_text(result, args.import_file))
    return 0 if result.ok else 1


def as_json(result: Adoption, path: Path, document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "stack": result.stack,
        "written": str(path) if result.ok else None,
        "adopt": [{"type": a.typ, "name": a.name, "physical_name": a.physical, "id": a.id}
                  for a in result.adopted],
        "drift": [{"type": a.typ, "name": a.name, "physical_name": a.physical,
                   "attribute": c.attribute, "live": c.live, "declared": c.declared,
                   "note": c.note} for a in result.adopted for c in a.changes],
        "leftovers": [left.as_dict() for left in result.leftovers],
        "create": [{"type": t, "name": n, "physical_name": p} for t, n, p in result.created],
        "not_adoptable": [{"type": r.typ, "name": r.name, "physical_name": r.physical,
                           "why": r.why} for r in result.refused],
        "not_checked": [{"type": t, "name": n, "why": w} for t, n, w in result.unchecked],
        "import_file": document,
    }


def as_text(result: Adoption, path: Path) -> str:
    """Every value from the account goes through `shown`: printed as it is when safe, else
    escaped and quoted."""
    lines = [f"stack {shown(result.stack)}: {len(result.adopted)} to adopt, "
             f"{len(result.created)} to create, {len(result.leftovers)} leftover(s)"]
    if result.refused:
        lines.append("\nNOT ADOPTABLE (nothing written; fix these first):")
        lines += [f"  {shown(r.physical)} ({r.typ}): {shown(r.why)}" for r in result.refused]
    lines.append("\n(a) adopted: taken over by id, nothing recreated")
    lines += [f"  {shown(a.physical):<48} {a.typ:<50} id {shown(a.id)}"
              for a in result.adopted] or ["  nothing: no declared resource exists yet"]
    lines.append("\n(b) drift: what the first `pulumi up` after the import changes")
    drifted = [a for a in result.adopted if a.changes]
    for a in drifted:
        lines.append(f"  {shown(a.physical)} ({a.typ})")
        lines += [f"    {shown(c.sentence())}" for c in a.changes]
    if not drifted:
        lines.append("  none")
    lines.append("\n(c) leftovers: made by the old setup, not managed by the stack")
    for left in result.leftovers:
        lines.append(f"  {left.kind} {shown(left.name)} [{left.affects}]: {shown(left.why)}")
        lines += [f"    $ {shown(command)}" for command in left.commands]
    if not result.leftovers:
        lines.append("  none")
    if result.unchecked:
        lines.append("\nnot checked (said, not skipped):")
        lines += [f"  {shown(n)} ({t}): {shown(w)}" for t, n, w in result.unchecked]
    if result.ok:
        lines.append(f"\nwrote {shown(path)}. Next:")
        lines += [f"  {shown(step.format(file=path))}" for step in NEXT_STEPS]
        lines.append("then run the leftovers' commands, and `python -m verify all`.")
    return "\n".join(lines)


def boto3_clients(env: dict[str, str], region: str) -> Callable[[str], Any]:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        region_name=region)
    endpoint = env.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 3})
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service, endpoint_url=endpoint, config=config)
        return cache[service]

    return client


def main(argv: list[str], root: Path) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify adopt",
                                     description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args, root, boto3_clients)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:], Path.cwd()))
