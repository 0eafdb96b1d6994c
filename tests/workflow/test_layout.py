"""The house's shape: no import cycles between the project's modules (imports inside functions
count too), Pulumi's private API used in one package only, no private helper used across
modules, and the README's layout table naming every package there is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("components", "contract", "stack_settings", "pulumi_bridge", "verify", "sandbox")
PRIVATE_PULUMI = re.compile(r"pulumi\.runtime\.(rpc|settings|config|stack|sync_await)\b"
                            r"|from pulumi\.runtime import")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every absolute import in the file, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for target, names in imports(path):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                while candidate and candidate not in mods:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != mod and not mod.startswith(candidate + "."):
                    edges[mod].add(candidate)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_project_modules() -> None:
    assert cycles(graph()) == []


def test_pulumi_private_api_is_used_only_in_pulumi_bridge() -> None:
    users = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "pulumi_bridge", ".sandbox", "build") or \
                rel == Path("tests/program/test_pulumi_inprocess.py"):
            continue
        if PRIVATE_PULUMI.search(path.read_text()):
            users.append(str(rel))
    assert users == []


def test_no_private_name_is_used_across_modules() -> None:
    mods = modules()
    crossing = []
    for mod, path in mods.items():
        text = path.read_text()
        for target, names in imports(path):
            if target in mods and target != mod:
                crossing += [f"{mod}: from {target} import {n}" for n in names
                             if n.startswith("_") and not n.startswith("__")]
        for alias in re.findall(r"\b([a-z_]+)\._[a-z]\w*\(", text):
            if any(m.rpartition(".")[2] == alias for m in mods if m != mod) and \
                    re.search(rf"import .*\b{alias}\b", text):
                crossing.append(f"{mod}: {alias}._...")
    assert crossing == []


def test_the_readme_layout_table_names_every_package() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Layout"):]
    table = table[:table.index("\n## ", 1)]
    named = set(re.findall(r"`([A-Za-z_./-]+)`", table))
    packages = {str(p.parent.relative_to(ROOT)) + "/" for p in ROOT.glob("*/__init__.py")} | \
        {str(p.parent.relative_to(ROOT)) + "/" for p in ROOT.glob("*/*/__init__.py")
         if p.parent.parent.name in ("sandbox", "verify")}
    missing = sorted(p for p in packages if p not in named and p.rstrip("/") not in named)
    assert missing == [], f"packages the README's layout table does not name: {missing}"
    absent = []
    for row in table.splitlines()[2:]:
        cells = row.split("|")
        if len(cells) < 3:
            continue
        bases = [ROOT / n for n in re.findall(r"`([A-Za-z_./-]+/)`", cells[1])] or [ROOT]
        for name in re.findall(r"`([A-Za-z_./-]+\.(?:py|yaml|md|toml|txt))`", row):
            if not any((base / name).exists() or (ROOT / name).exists() for base in bases):
                absent.append(name)
    assert absent == [], f"the README's layout table names what is not in the tree: {absent}"
