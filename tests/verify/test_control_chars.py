"""Control characters from outside (an API's answer, a name in the outputs) never reach the
terminal raw and never make the JUnit file invalid XML (issue 9, red team 5); JSON escapes
them by itself."""

import json
import xml.etree.ElementTree as ET

from tests.verify.cli_run import KEY, minimal_outputs, verify
from verify.report import RunReport, Status, failed, render_table, to_junit

HOSTILE = "x\x01\x1b[2J\x1b]0;owned\x07\x7f\x85\x9b"
RAW = ('{"backlog": "' + HOSTILE + '"}').encode()


def _has_raw_controls(text: str) -> bool:
    return any(ord(c) < 0x20 and c not in "\n" or 0x7f <= ord(c) <= 0x9f for c in text)


def test_an_answer_with_escape_sequences_is_escaped_in_the_table_and_valid_in_junit(
        write_json, backlog_api, tmp_path):
    backlog_api.state["raw_body"] = RAW
    document = minimal_outputs(backlog_api.public_url)
    document["academy"]["api"]["local_base_url"] = backlog_api.local_url
    document["academy"]["api"]["hosts"] = [{"name": "web", "instance_id": None, "ssh": None}]
    outputs = write_json(document)
    junit = tmp_path / "verify.xml"
    done = verify("api", "--outputs", str(outputs), "--transport", "local", "--timeout", "20",
                  "--junit", str(junit), env={"ACADEMY_INTERNAL_KEY": KEY})
    assert done.returncode == 1, done
    assert not _has_raw_controls(done.stdout + done.stderr), repr(done.stdout)
    assert "\\x1b[2J" in done.stdout and "\\x07" in done.stdout
    ET.parse(junit)  # noqa: S314 (our own file): raises on a character XML 1.0 forbids
    as_json = verify("api", "--outputs", str(outputs), "--transport", "local", "--timeout", "20",
                     "--json", env={"ACADEMY_INTERNAL_KEY": KEY})
    assert not _has_raw_controls(as_json.stdout)
    rows = {c["target"]: c for c in json.loads(as_json.stdout)["checks"]}
    assert "\x1b" in rows["web"]["summary"]  # json carried it, escaped, and gives it back


def test_names_from_the_outputs_are_escaped_everywhere():
    row = failed("api", "host\x1b]0;x\x07", "found \x00\x1b[31mred\ud800", "hint \x9b1m")
    report = RunReport("stack\x1b[2J", "asg", 0.1, [row])
    table = render_table(report)
    assert not _has_raw_controls(table) and "\ud800" not in table
    assert "host\\x1b]0;x\\x07" in table and "stack\\x1b[2J" in table
    assert "hint \\x9b1m" in table
    root = ET.fromstring(to_junit(report))  # noqa: S314
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == "host\\x1b]0;x\\x07"
    failure = case.find("failure")
    assert failure is not None and "\\x00\\x1b[31mred\\ud800" in (failure.text or "")
    assert report.checks[0].status is Status.FAIL


def test_an_outputs_name_with_controls_in_an_error_message_is_escaped(write_json):
    document = minimal_outputs()
    worker = document["academy"]["worker_types"].pop("ai")
    worker["queue"] = 5
    document["academy"]["worker_types"]["a\x1b[2Jb"] = worker
    done = verify("all", "--outputs", str(write_json(document)))
    assert done.returncode == 2, done
    assert not _has_raw_controls(done.stderr) and "a\\x1b[2Jb" in done.stderr
