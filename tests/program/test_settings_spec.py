"""One settings spec: Pulumi.yaml is generated from components/settings_spec.py, the built-in
types state only what differs from workerDefault*, and what the stacks get stays the same."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import settings_spec
from components.settings import Settings, SettingsError, parse_settings, physical_names
from components.stack_files import REHEARSAL_VALUES, plain_settings, schema, stack_config

# What prod and prod-asg parsed to before the spec, captured once from the program whose schema
# was Pulumi.yaml (main at 95945c0), with every physical name (also with videoDrain): the
# effective values must not move.
BEFORE = Path(__file__).parent / "fixtures" / "settings_before_spec.json"
STACKS = ("prod", "prod-asg")


def plain(value: Any) -> Any:
    """Settings as JSON data (the secret left out: it never compares)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.compare}
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def kept(now: Any, before: Any) -> Any:
    """`now` cut to the fields `before` has (dicts recursively)."""
    if isinstance(now, dict) and isinstance(before, dict):
        return {k: kept(now[k], before[k]) if k in before else now[k]
                for k in now if k in before}
    return now


def parsed(stack: str, **overrides: Any) -> Settings:
    return parse_settings(
        plain_settings(stack_config(stack, {**REHEARSAL_VALUES, **overrides})), stack)


def test_pulumi_yaml_is_the_one_generated_from_the_spec() -> None:
    assert settings_spec.PULUMI_YAML.read_text() == settings_spec.pulumi_yaml(), (
        "Pulumi.yaml differs from components/settings_spec.py: run "
        "python -m components.settings_spec --write")
    assert schema() == settings_spec.declarations()


def test_the_check_command_fails_on_a_hand_edited_pulumi_yaml(tmp_path, monkeypatch) -> None:
    copy = tmp_path / "Pulumi.yaml"
    copy.write_text(settings_spec.pulumi_yaml().replace("default: 1200", "default: 1300"))
    monkeypatch.setattr(settings_spec, "PULUMI_YAML", copy)
    assert settings_spec.main(["--check"]) == 1
    assert settings_spec.main(["--write"]) == 0
    assert settings_spec.main(["--check"]) == 0
    assert yaml.safe_load(copy.read_text())["config"] == settings_spec.declarations()


@pytest.mark.parametrize("stack", STACKS)
def test_the_stacks_parse_to_what_they_did_before_the_spec(stack: str) -> None:
    before = json.loads(BEFORE.read_text())[stack]
    names_before = {k: before.pop(k) for k in ("physical_names", "physical_names_drain")}
    assert kept(plain(parsed(stack)), before) == before  # a field added later is not compared
    # The values a deploy turns on, named, so a diff above reads plainly.
    workers = before["workers"]
    assert workers["video"]["visibility_timeout_seconds"] == 15300
    assert workers["video"]["metric"]["namespace"] == "Academy/VideoProcessing"
    assert workers["ai"]["label"] == "AI" and workers["messaging"]["label"] == "Messaging"
    assert workers["messaging"]["instance_types"] == ["t4g.small"]
    # Every physical name, computed now in components/physical_names.py.
    for key, extra in (("physical_names", {}), ("physical_names_drain", {"videoDrain": True})):
        now = sorted([n.what, n.value, n.key] for n in physical_names(parsed(stack, **extra)))
        assert now == names_before[key], key


def test_builtin_types_state_only_what_differs_from_the_defaults() -> None:
    declared = schema()
    for wt, own in settings_spec.BUILTIN_TYPES.items():
        for field_name, value in own.items():
            default = declared.get(settings_spec.WORKER_DEFAULT + field_name, {}).get("default")
            if field_name == settings_spec.LABEL_FIELD:
                default = wt.capitalize()
            assert value != default, f"{wt}{field_name} restates its default {default!r}"
    per_type = [k for k in declared if settings_spec.typed_key(k)
                and not k.startswith(settings_spec.WORKER_DEFAULT)]
    assert len(per_type) < len(declared) / 4, per_type


def test_every_integer_has_bounds_that_hold_its_default() -> None:
    for key in (*settings_spec.GLOBAL, *settings_spec.WORKER_FIELDS):
        if key.type == "integer":
            assert key.bounds is not None, key.name
            low, high = key.bounds
            assert low <= key.default <= high, key.name
        if key.choices:
            assert key.default in key.choices, key.name


def test_the_bounds_the_program_enforces_are_the_specs() -> None:
    for key in (*settings_spec.GLOBAL, *settings_spec.WORKER_FIELDS):
        if key.bounds is None:
            continue
        name = key.name if key in settings_spec.GLOBAL else settings_spec.WORKER_DEFAULT + key.name
        low, high = key.bounds
        for value in (low - 1, high + 1):
            with pytest.raises(SettingsError) as caught:
                parsed("prod", **{name: value})
            assert f"{name} = {value}: expected an integer from {low} to {high}" \
                in caught.value.problems, name


def test_a_choice_the_spec_does_not_list_is_refused_with_the_specs_choices() -> None:
    with pytest.raises(SettingsError) as caught:
        parsed("prod", workerDefaultArchitecture="riscv64")
    assert set(caught.value.problems) == {
        "workerDefaultArchitecture = 'riscv64': expected 'arm64' or 'x86_64'"}


BAD_VALUE = {"integer": "many", "boolean": "maybe", "array": "not a list",
             "string": "\x01not\x01this"}


def test_every_key_of_the_spec_is_read_and_checked() -> None:
    """A key declared in the spec but read nowhere would be accepted and ignored: each one,
    given a value of the wrong shape, is refused by name."""
    keys = [(k.name, k.type) for k in settings_spec.GLOBAL if k.name != "workerTypes"]
    keys += [(settings_spec.WORKER_DEFAULT + f.name, f.type) for f in settings_spec.WORKER_FIELDS]
    keys += [("aiLabel", "string")]
    for name, type_ in keys:
        with pytest.raises(SettingsError) as caught:
            parsed("prod", **{name: BAD_VALUE[type_]})
        assert any(p.startswith(f"{name} ") for p in caught.value.problems), \
            (name, caught.value.problems)
