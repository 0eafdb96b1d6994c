"""Check results and the three ways to show them: a table, JSON, JUnit XML."""

import json
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, TextIO

# C0 controls, DEL, C1 controls, lone surrogates (not encodable) and the two noncharacters XML
# 1.0 forbids: from outside (an API's body, a name in the outputs) they must not reach a
# terminal raw (an ESC sequence can clear it or retitle it) nor the JUnit file (invalid XML).
# Also the invisible characters that break or reorder a line where a reader (or a tool that
# splits lines as Python does) sees none: the line and paragraph separators, the bidi controls
# (U+202E) and the zero-width ones: a name holding them could forge a line of the report.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
                     "\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str, keep: str = "") -> str:
    """`text` with every unsafe character written as an escape (ESC -> `\\x1b`); the
    characters in `keep` (e.g. a newline) stay."""
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escaped(m), text)


def shown(value: object) -> str:
    """A value from outside (a name in the account, a message) for a line of text: as it is
    when it is safe, else its controls escaped and the whole in double quotes, so a newline in
    a name cannot start a line of its own (a forged `$ aws ...` command)."""
    text = str(value)
    safe = escape_controls(text)
    return text if safe == text else f'"{safe}"'


# A run of whitespace holding anything but a plain space (a newline, a tab): one line's space.
_LINE_BREAKS = re.compile(r"[^\S ]\s*|\s+(?=[^\S ])")


def one_line(text: str) -> str:
    """`text` on one line: each whitespace run holding a line break or tab becomes one space;
    runs of plain spaces stay as they are (a quoted name in a printed command keeps them)."""
    return _LINE_BREAKS.sub(" ", text).strip()


def printable(text: str) -> str:
    """One line for a terminal (`one_line`), then controls are escaped."""
    return escape_controls(one_line(text))


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    ERROR = "ERROR"


@dataclass(frozen=True)
class CheckResult:
    """One row. `expected` and `found` are JSON values (None where not meaningful): what the
    stack declares and what was seen, besides the sentence that compares them."""

    id: str
    target: str
    status: Status
    summary: str
    hint: str = ""
    duration_s: float = 0.0
    expected: Any = None
    found: Any = None

    def with_duration(self, duration_s: float) -> "CheckResult":
        return replace(self, duration_s=round(duration_s, 3))


def passed(check_id: str, target: str, summary: str, *, expected: Any = None,
           found: Any = None) -> CheckResult:
    return CheckResult(check_id, target, Status.PASS, summary, expected=expected, found=found)


def warned(check_id: str, target: str, summary: str, hint: str, *, expected: Any = None,
           found: Any = None) -> CheckResult:
    return CheckResult(check_id, target, Status.WARN, summary, hint, expected=expected,
                       found=found)


def failed(check_id: str, target: str, summary: str, hint: str, *, expected: Any = None,
           found: Any = None) -> CheckResult:
    return CheckResult(check_id, target, Status.FAIL, summary, hint, expected=expected,
                       found=found)


def errored(check_id: str, target: str, summary: str, hint: str) -> CheckResult:
    return CheckResult(check_id, target, Status.ERROR, summary, hint)


@dataclass(frozen=True)
class RunReport:
    stack: str
    mode: str
    duration_s: float
    checks: list[CheckResult]

    def counts(self) -> dict[str, int]:
        counts = {status.value.lower(): 0 for status in Status}
        for check in self.checks:
            counts[check.status.value.lower()] += 1
        return counts

    @property
    def ok(self) -> bool:
        counts = self.counts()
        return counts["fail"] == 0 and counts["error"] == 0


def to_json(report: RunReport) -> str:
    document = {
        "stack": report.stack,
        "mode": report.mode,
        "duration_s": round(report.duration_s, 3),
        "checks": [
            {
                "id": c.id,
                "target": c.target,
                "status": c.status.value.lower(),
                "summary": c.summary,
                "hint": c.hint,
                "expected": c.expected,
                "found": c.found,
                "duration_s": round(c.duration_s, 3),
            }
            for c in report.checks
        ],
        "summary": report.counts(),
    }
    return json.dumps(document, indent=2, default=str)


def to_junit(report: RunReport) -> bytes:
    """JUnit XML; every text escaped of what XML 1.0 forbids (newlines and tabs kept)."""
    def xml(text: str) -> str:
        return escape_controls(text, keep="\n\t")

    counts = report.counts()
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=xml(f"verify {report.stack}"),
        tests=str(len(report.checks)),
        failures=str(counts["fail"]),
        errors=str(counts["error"]),
        skipped="0",
        time=f"{report.duration_s:.3f}",
    )
    for c in report.checks:
        case = ET.SubElement(
            suite, "testcase", classname=xml(f"verify.{c.id}"), name=xml(c.target),
            time=f"{c.duration_s:.3f}",
        )
        summary = xml(c.summary)
        body = summary + (f"\nhint: {xml(c.hint)}" if c.hint else "")
        if c.status is Status.FAIL:
            ET.SubElement(case, "failure", message=summary, type="FAIL").text = body
        elif c.status is Status.ERROR:
            ET.SubElement(case, "error", message=summary, type="ERROR").text = body
        elif c.status is Status.WARN:
            ET.SubElement(case, "system-out").text = f"WARN: {body}"
        else:
            ET.SubElement(case, "system-out").text = f"PASS: {summary}"
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True)


def render_table(report: RunReport, width: int | None = None) -> str:
    """Columns a person scans: check, target, status, evidence; the hint under every non-pass.

    Evidence is clipped to `width` (the terminal's when stdout is one); logs get it whole."""
    if width is None:
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 10_000
    rows = [("CHECK", "TARGET", "STATUS", "EVIDENCE")] + [
        (printable(c.id), printable(c.target), c.status.value, printable(c.summary))
        for c in report.checks
    ]
    w_id = max(len(r[0]) for r in rows)
    w_target = min(max(len(r[1]) for r in rows), 52)
    w_status = 6
    evidence_width = max(30, width - (w_id + w_target + w_status + 6))
    lines = []
    for index, (check_id, target, status, evidence) in enumerate(rows):
        lines.append(
            f"{check_id:<{w_id}}  {_clip(target, w_target):<{w_target}}  {status:<{w_status}}  "
            f"{_clip(evidence, evidence_width)}"
        )
        if index > 0:
            result = report.checks[index - 1]
            if result.status is not Status.PASS and result.hint:
                lines.append(f"{'':<{w_id}}  -> hint: {printable(result.hint)}")
    counts = report.counts()
    lines.append("")
    lines.append(
        f"stack {printable(report.stack)} ({printable(report.mode)}): {counts['pass']} pass, "
        f"{counts['warn']} warn, {counts['fail']} fail, {counts['error']} error in "
        f"{report.duration_s:.1f}s"
    )
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    text = one_line(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ProgressLine:
    """One self-overwriting line on stderr while checks wait on the network (TTY only)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty()

    def update(self, done: int, total: int, running: list[str]) -> None:
        if not self._enabled:
            return
        waiting = ", ".join(printable(r) for r in running[:3]) + (" …" if len(running) > 3
                                                                   else "")
        line = f"[{done}/{total}] waiting on: {waiting}" if running else f"[{done}/{total}]"
        width = shutil.get_terminal_size((120, 24)).columns - 1
        self._stream.write("\r" + line[:width].ljust(width))
        self._stream.flush()

    def clear(self) -> None:
        if self._enabled:
            width = shutil.get_terminal_size((120, 24)).columns - 1
            self._stream.write("\r" + " " * width + "\r")
            self._stream.flush()
