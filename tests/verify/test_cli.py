"""`python -m verify` as a user runs it: exit codes, one clear line, no traceback."""

import json
import os
import socket
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.verify.cli_run import (
    KEY,
    assert_one_clear_line,
    minimal_outputs,
    verify,
    verify_process,
)
from verify.errors import UsageError
from verify.stacks import STACKS_DIR_ENV, load


def test_missing_outputs_file(tmp_path):
    done = verify("all", "--outputs", str(tmp_path / "nope.json"))
    assert_one_clear_line(done, 2, "cannot read outputs file")
    assert "nope.json" in done.stderr


def test_outputs_that_are_not_json(write_json, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_clear_line(verify("all", "--outputs", str(bad)), 2, "is not JSON")


def test_outputs_missing_a_key_name_the_key_and_the_file(write_json):
    document = minimal_outputs()
    del document["academy"]["publisher"]["role_name"]
    path = write_json(document)
    done = verify("queues", "--outputs", str(path))
    assert_one_clear_line(done, 2, "missing key 'academy.publisher.role_name'")
    assert str(path) in done.stderr


def test_no_stack_named(write_json):
    assert_one_clear_line(verify("all"), 2, "--stack NAME")


def test_a_check_that_does_not_apply_is_a_usage_error(write_json):
    done = verify("batch", "--outputs", str(write_json(minimal_outputs())))
    assert_one_clear_line(done, 2, "does not apply")


def test_bad_arguments_exit_2():
    assert verify("all", "--timeout", "soon").returncode == 2
    assert verify("nosuchcheck").returncode == 2


def test_the_module_as_a_process_exits_with_mains_code_and_no_traceback(write_json):
    """The entry point itself (verify/__main__.py), which the other tests call in-process."""
    done = verify_process("all", "--timeout", "soon")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--timeout" in done.stderr


@pytest.fixture
def silent_server():
    """Accepts connections and never answers: a hanging public endpoint."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(1)
        for conn in held:
            conn.close()
        listener.close()


def test_an_expired_deadline_is_an_error_and_exit_1(write_json, silent_server, backlog_api,
                                                    tmp_path):
    # The public path answers; LOCAL on the host hangs (curl to a server that never answers).
    document = minimal_outputs(backlog_api.public_url)
    document["academy"]["api"].update(
        local_base_url=silent_server, hosts=[{"name": "web", "instance_id": None, "ssh": None}])
    junit = tmp_path / "verify.xml"
    started = time.monotonic()
    done = verify("api", "--outputs", str(write_json(document)), "--transport", "local",
                  "--timeout", "0.5", "--json", "--junit", str(junit),
                  env={"ACADEMY_INTERNAL_KEY": KEY})
    assert time.monotonic() - started < 10
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["summary"] == {"pass": 1, "warn": 0, "fail": 0, "error": 1}
    checks = {c["target"]: c for c in report["checks"]}
    assert checks["public key check"]["status"] == "pass"
    check = checks["web"]
    assert (check["id"], check["status"]) == ("api", "error")
    assert "deadline" in check["summary"] and "--timeout" in check["hint"]
    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 (our own file)
    assert (suite.get("errors"), suite.get("failures")) == ("1", "0")
    assert KEY not in done.stdout + done.stderr + junit.read_text()


def test_the_table_is_the_default_output(write_json, silent_server):
    path = write_json(minimal_outputs(silent_server))
    done = verify("api", "--outputs", str(path), "--timeout", "0.5",
                  env={"ACADEMY_INTERNAL_KEY": KEY})
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "TARGET", "STATUS", "EVIDENCE"]
    # the public URL that never answers comes first, with its address; then the api rows
    assert lines[1].split()[:4] == ["preflight", "public", "URL", "ERROR"]
    assert silent_server in lines[1] and "-> hint:" in lines[2]
    assert "FAIL" in lines[3] and "no API hosts" in lines[3] and "-> hint:" in lines[4]
    assert "FAIL" in lines[5] and "PUBLIC unreachable" in lines[5] and "-> hint:" in lines[6]
    assert "0 pass, 0 warn, 2 fail, 1 error" in lines[-1]


def test_a_saved_stack_is_read_from_the_stacks_directory(tmp_path, monkeypatch):
    monkeypatch.setenv(STACKS_DIR_ENV, str(tmp_path / "stacks"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi CLI to fall back on
    with pytest.raises(UsageError, match="no saved outputs at .*stacks/any/outputs.json"):
        load("any", None)
    saved = tmp_path / "stacks" / "any"
    saved.mkdir(parents=True)
    (saved / "outputs.json").write_text(json.dumps(minimal_outputs()))
    (saved / "env").write_text(
        "# comment\nunset AWS_PROFILE AWS_SESSION_TOKEN\n"
        "export AWS_ENDPOINT_URL=http://127.0.0.1:5000\nexport AWS_REGION='ap-northeast-2'\n")
    loaded = load("any", None)
    assert loaded.outputs.stack == "cli"
    assert loaded.env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert loaded.env["AWS_REGION"] == "ap-northeast-2" and loaded.env["AWS_PROFILE"] == ""
    # --outputs wins over a saved stack, and brings no environment
    other = tmp_path / "other.json"
    document = minimal_outputs()
    document["academy"]["stack"] = "other"
    other.write_text(json.dumps(document))
    assert (load("any", other).outputs.stack, load("any", other).env) == ("other", {})
    (saved / "env").write_text("this is not an assignment\n")
    with pytest.raises(UsageError, match="env:1: expected `export KEY=VALUE`"):
        load("any", None)
    with pytest.raises(UsageError, match="not a stack name"):
        load("../any", None)


def test_stack_names_a_saved_stack_through_the_cli(tmp_path):
    saved = tmp_path / "prod"
    saved.mkdir()
    (saved / "outputs.json").write_text(json.dumps(minimal_outputs()))
    done = verify("batch", "--stack", "prod", env={STACKS_DIR_ENV: str(tmp_path)})
    assert_one_clear_line(done, 2, "check 'batch' does not apply to stack 'cli'")


def test_all_against_a_seeded_emulator_through_the_cli(stack, write_json):
    path = write_json({"academy": stack.outputs})
    done = verify("all", "--outputs", str(path), "--no-invoke", "--json", "--timeout", "30",
                  env={**stack.env, "ACADEMY_INTERNAL_KEY": KEY})
    report = json.loads(done.stdout)
    by_id: dict[str, set[str]] = {}
    for check in report["checks"]:
        by_id.setdefault(check["id"], set()).add(check["status"])
    assert set(by_id) == {"preflight", "api", "nginx", "metric", "scaling", "publisher",
                          "queues", "leftovers"}
    assert by_id["preflight"] == {"error"}  # the stack's public URL, port 9, refuses
    assert by_id["nginx"] == {"fail"}  # no API host listed or tagged: never a silent pass
    assert by_id["queues"] == {"pass"} and by_id["scaling"] == {"pass"}
    assert by_id["publisher"] == {"pass", "warn"}  # warn: the emulator records no Lambda metrics
    assert done.returncode == 1  # no datapoints and no API in this stack: metric/api fail
    assert "fail" in by_id["metric"] and "fail" in by_id["api"]


def test_an_error_naming_the_key_does_not_print_it(write_json, tmp_path):
    # The --junit path is refused with a message that names it, and here it happens to contain
    # the key (given in the environment, so known to the masker from the start).
    document = minimal_outputs()
    document["academy"]["api"]["hosts"] = [{"name": "web", "instance_id": None, "ssh": None}]
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    junit = blocker / KEY / "verify.xml"
    done = verify("api", "--outputs", str(write_json(document)), "--transport", "local",
                  "--timeout", "20", "--junit", str(junit), env={"ACADEMY_INTERNAL_KEY": KEY})
    assert "cannot write --junit" in done.stderr and done.returncode == 2, done
    assert KEY not in done.stdout + done.stderr
    assert "not-a-directory/****/verify.xml" in done.stderr


def test_the_canary_has_its_own_bound_and_the_help_says_it_takes_minutes(write_json):
    from verify.cli import _options, build_parser

    args = build_parser().parse_args(["batch", "--outputs", "x.json", "--canary"])
    options = _options(args, {})
    assert (options.canary, options.canary_timeout_s, options.timeout_s) == (True, 900.0, 60.0)
    help_text = " ".join(verify("batch", "--help").stdout.split())
    assert "a real canary takes minutes" in help_text and "--canary-timeout SECONDS" in help_text
    done = verify("all", "--outputs", str(write_json(minimal_outputs())), "--canary",
                  "--canary-timeout", "0")
    assert_one_clear_line(done, 2, "--canary-timeout must be a positive number of seconds")


@pytest.mark.parametrize("option", ["--timeout", "--canary-timeout"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1"])
def test_bounds_must_be_finite_and_positive(write_json, option, value):
    done = verify("all", "--outputs", str(write_json(minimal_outputs())), f"{option}={value}")
    assert_one_clear_line(done, 2, f"{option} must be a positive number of seconds")


@pytest.fixture
def counting_server():
    """Accepts connections, counts them, answers nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(1)
        for conn in accepted:
            conn.close()
        listener.close()


def test_an_unwritable_junit_path_is_refused_before_any_check_runs(write_json, tmp_path,
                                                                   counting_server):
    url, accepted = counting_server
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = verify("api", "--outputs", str(write_json(minimal_outputs(url))), "--timeout", "2",
                  "--junit", str(blocker / "verify.xml"), env={"ACADEMY_INTERNAL_KEY": KEY})
    assert_one_clear_line(done, 2, "cannot write --junit")
    assert accepted == []  # nothing was asked: the public API never saw a connection
    assert done.stdout == ""


def test_the_sandbox_saves_itself_where_verify_reads_any_stack(tmp_path, monkeypatch):
    from sandbox.state import PROJECT_ROOT, sandbox_state
    from verify.stacks import saved_stack_dir

    monkeypatch.delenv(STACKS_DIR_ENV, raising=False)
    monkeypatch.delenv("ACADEMY_SANDBOX_DIR", raising=False)
    default = sandbox_state()
    assert default.stack_dir == saved_stack_dir("sandbox")  # `--stack sandbox`, no variable
    assert default.outputs_file == PROJECT_ROOT / ".academy/stacks/sandbox/outputs.json"
    private = sandbox_state(tmp_path / "sb")  # a test's or a benchmark's: never the user's
    assert private.stack_dir == tmp_path / "sb" / "stacks" / "sandbox"
    monkeypatch.setenv(STACKS_DIR_ENV, private.verify_env()[STACKS_DIR_ENV])
    assert saved_stack_dir("sandbox") == private.stack_dir


# -- red team 7: --junit paths that are not files, and parents never created ------------------

@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_a_junit_path_that_is_not_a_regular_file_is_refused_before_any_check(
        write_json, tmp_path, counting_server, kind):
    url, accepted = counting_server
    if kind == "device":
        path = Path("/dev/full")
    elif kind == "fifo":
        path = tmp_path / "report.fifo"
        os.mkfifo(path)
    else:
        path = tmp_path / "reports"
        path.mkdir()
    done = verify_process("api", "--outputs", str(write_json(minimal_outputs(url))),
                          "--timeout", "2", "--junit", str(path),
                          env={"ACADEMY_INTERNAL_KEY": KEY}, timeout=20)
    assert_one_clear_line(done, 2, "not a regular file")
    assert accepted == [] and done.stdout == ""


def test_a_junit_path_in_a_missing_directory_is_refused_and_nothing_is_created(
        write_json, tmp_path, counting_server):
    url, accepted = counting_server
    missing = tmp_path / "no" / "such"
    done = verify("api", "--outputs", str(write_json(minimal_outputs(url))), "--timeout", "2",
                  "--junit", str(missing / "verify.xml"), env={"ACADEMY_INTERNAL_KEY": KEY})
    assert_one_clear_line(done, 2, f"directory {missing} does not exist")
    assert not (tmp_path / "no").exists() and accepted == []


def test_the_junit_write_test_leaves_nothing_behind(write_json, tmp_path):
    from verify.junit_file import check_writable

    reports = tmp_path / "reports"
    reports.mkdir()
    check_writable(reports / "verify.xml")
    assert list(reports.iterdir()) == []
