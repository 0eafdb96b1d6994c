"""The config a Pulumi CLI would hand the program, read from the project's YAML files.

`pulumi up` merges the defaults of `Pulumi.yaml` with `Pulumi.<stack>.yaml`; with no CLI
here, tests, the sandbox and the benchmarks use this to run the real program under mocks
with exactly the same values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from stack_settings.parse import PROJECT

ROOT = Path(__file__).resolve().parent.parent

# Values only the user can know, so no stack file carries them (a plausible fake would fail
# only at `pulumi up`). Runs without the CLI (tests, benchmarks) pass these; the sandbox
# passes its own.
REHEARSAL_VALUES: Mapping[str, str] = MappingProxyType({
    "videoBatchImage": "public.ecr.aws/docker/library/alpine:3.20",
    "internalApiKey": "rehearsal-internal-key-not-a-secret",
})


class StackFileError(ValueError):
    """A project or stack file is missing or malformed."""


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise StackFileError(f"{path.name} not found in {path.parent}") from None
    except yaml.YAMLError as exc:
        raise StackFileError(f"{path.name} is not valid YAML: {exc}") from None
    except RecursionError:
        raise StackFileError(f"{path.name}: values nested too deeply") from None
    if not isinstance(data, dict):
        raise StackFileError(f"{path.name}: expected a mapping at the top level")
    return data


def as_config_string(value: Any) -> str:
    """Pulumi hands every config value to the program as a string (JSON for lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def schema(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """The `config:` section of Pulumi.yaml: key -> {type, default, description, ...}."""
    return dict(_load_yaml(root / "Pulumi.yaml").get("config") or {})


def stack_config(
    stack: str, overrides: Mapping[str, Any] | None = None, root: Path = ROOT
) -> dict[str, str]:
    """`{"academy-workers:key": "value", "aws:region": ...}` for a stack, as the CLI merges it.

    `overrides` take plain keys (`videoMode`) or namespaced ones (`aws:region`).
    """
    config: dict[str, str] = {}
    for key, decl in schema(root).items():
        if isinstance(decl, dict) and "default" in decl:
            config[f"{PROJECT}:{key}"] = as_config_string(decl["default"])
    stack_file = root / f"Pulumi.{stack}.yaml"
    if stack_file.exists():
        for key, value in (_load_yaml(stack_file).get("config") or {}).items():
            if isinstance(value, dict) and "secure" in value:
                continue  # ciphertext only the Pulumi CLI can read
            config[key] = as_config_string(value)
    for key, value in (overrides or {}).items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        config[full] = as_config_string(value)
    return config


def plain_settings(config: Mapping[str, str]) -> dict[str, str]:
    """The project's own keys without their namespace, as `parse_settings` takes them."""
    prefix = f"{PROJECT}:"
    return {k[len(prefix):]: v for k, v in config.items() if k.startswith(prefix)}
