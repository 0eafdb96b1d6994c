"""Report formats (JSON shape, JUnit XML), masking, and the runner's deadline."""

import json
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from verify.context import Task
from verify.report import CheckResult, RunReport, Status, render_table, to_json, to_junit
from verify.runner import run_tasks
from verify.secrets import MASK, Masker

RESULTS = [
    CheckResult("queues", "academy-ai-jobs", Status.PASS, "visibility 600s >= 300s", "", 0.01),
    CheckResult("queues", "academy-video-jobs", Status.WARN, "DLQ holds 2", "inspect it", 0.02),
    CheckResult("api", "web-1", Status.FAIL, "the proxy drops X-Internal-Key", "proxy_set_header",
                0.3),
    CheckResult("nginx", "web-2", Status.ERROR, "key refused by u@h:22", "check --ssh-key", 0.1),
]
REPORT = RunReport("prod", "asg", 1.234, RESULTS)


def test_json_has_exactly_the_documented_shape():
    document = json.loads(to_json(REPORT))
    assert set(document) == {"stack", "mode", "duration_s", "checks", "summary"}
    assert (document["stack"], document["mode"], document["duration_s"]) == ("prod", "asg", 1.234)
    assert document["summary"] == {"pass": 1, "warn": 1, "fail": 1, "error": 1}
    for check in document["checks"]:
        assert set(check) == {"id", "target", "status", "summary", "hint", "expected", "found",
                              "duration_s"}
    assert [c["status"] for c in document["checks"]] == ["pass", "warn", "fail", "error"]
    assert document["checks"][2]["hint"] == "proxy_set_header"


def test_junit_reads_back_with_failures_errors_and_warnings():
    root = ET.fromstring(to_junit(REPORT))  # noqa: S314 (our own output)
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("classname") for c in cases] == [
        "verify.queues", "verify.queues", "verify.api", "verify.nginx"]
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    assert "WARN: DLQ holds 2" in cases[1].find("system-out").text
    failure = cases[2].find("failure")
    assert failure.get("message") == "the proxy drops X-Internal-Key"
    assert "hint: proxy_set_header" in failure.text
    assert cases[3].find("error").get("message") == "key refused by u@h:22"
    assert float(cases[2].get("time")) == 0.3


def test_table_shows_every_row_and_a_hint_for_every_non_pass():
    table = render_table(REPORT, width=160)
    lines = table.splitlines()
    assert lines[0].split() == ["CHECK", "TARGET", "STATUS", "EVIDENCE"]
    for result in RESULTS:
        assert any(result.target in line and result.status.value in line for line in lines)
    assert table.count("-> hint:") == 3
    assert "1 pass, 1 warn, 1 fail, 1 error" in lines[-1]


def test_masker_hides_every_registered_secret():
    masker = Masker()
    masker.add("s3cr3t-value")
    masker.add("")  # nothing to hide
    assert masker.mask("header X-Internal-Key: s3cr3t-value!") == f"header X-Internal-Key: {MASK}!"
    assert masker.mask("nothing here") == "nothing here"


def test_runner_masks_results_and_turns_exceptions_into_errors():
    masker = Masker()
    masker.add("s3cr3t-value")

    def leaky() -> CheckResult:
        return CheckResult("api", "h", Status.FAIL, "sent s3cr3t-value", "never s3cr3t-value")

    def broken() -> CheckResult:
        raise RuntimeError("bad answer with s3cr3t-value")

    results = run_tasks([Task("api", "h", leaky), Task("api", "g", broken)],
                        time.monotonic() + 5, 2, masker)
    assert all("s3cr3t-value" not in r.summary + r.hint for r in results)
    assert results[1].status is Status.ERROR and "RuntimeError" in results[1].summary


def test_deadline_turns_a_hanging_task_into_an_error_and_the_rest_finish():
    release = threading.Event()

    def hangs() -> CheckResult:
        release.wait(30)
        return CheckResult("metric", "video", Status.PASS, "late")

    quick = Task("queues", "q", lambda: CheckResult("queues", "q", Status.PASS, "ok"))
    started = time.monotonic()
    try:
        results = run_tasks([Task("metric", "video", hangs), quick], started + 0.5, 4, Masker())
    finally:
        release.set()
    assert time.monotonic() - started < 1.5
    assert results[0].status is Status.ERROR and "deadline" in results[0].summary
    assert results[1].status is Status.PASS


def test_parallel_bound_is_respected():
    running, peak, lock = 0, 0, threading.Lock()

    def task() -> CheckResult:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return CheckResult("x", "t", Status.PASS, "ok")

    run_tasks([Task("x", str(i), task) for i in range(12)], time.monotonic() + 5, 3, Masker())
    assert peak == 3


def test_one_checks_many_host_tasks_do_not_queue_the_other_checks_behind_them():
    """20 API hosts give `api` and `nginx` 20 tasks each; the fleet-wide checks listed after
    them (the metric's forced datapoint takes seconds) must start at once, not after all 40,
    or the 20-host run pays the host tasks and the slow check one after the other."""
    started: list[str] = []
    lock = threading.Lock()

    def task(check: str, target: str, seconds: float) -> Task:
        def run() -> CheckResult:
            with lock:
                started.append(check)
            time.sleep(seconds)
            return CheckResult(check, target, Status.PASS, "ok")
        return Task(check, target, run)

    tasks = [task(check, f"ssh-{n}", 0.02) for check in ("api", "nginx") for n in range(1, 21)]
    tasks += [task("metric", name, 0.3) for name in ("ai", "messaging", "video")]
    results = run_tasks(tasks, time.monotonic() + 10, 4, Masker())
    assert [r.target for r in results] == [t.target for t in tasks]  # the report keeps its order
    assert "metric" in started[:4], started  # a slow fleet-wide check starts in the first round
    assert started.count("metric") == 3


@pytest.mark.parametrize("invisible", ["\u2028", "\u2029", "\u202e", "\u200b", "\u2066", "\ufeff"])
def test_invisible_line_breakers_and_bidi_controls_are_shown_escaped(invisible: str) -> None:
    """A name from a plan or the account with U+2028 (a line break to Python's splitlines),
    U+202E or a zero-width character cannot forge or hide a line (red team, issue 15.13)."""
    from verify.report import printable, shown

    name = f"academy-old-asg{invisible}nothing holds work: go ahead"
    for text in (shown(name), printable(name)):  # printable may make a line break a space
        assert invisible not in text
        assert len(text.splitlines()) == 1
    assert f"\\u{ord(invisible):04x}" in shown(name)
