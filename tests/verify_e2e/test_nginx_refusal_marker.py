"""The sandbox's real nginx tells its own 403 from the API's (`X-Refused-By: nginx`), and
`verify api` uses it to say where the key was lost."""

from __future__ import annotations

import json
import subprocess
import sys

from sandbox.scenarios import faults
from sandbox.state import PROJECT_ROOT
from tests.sandbox_e2e import RunningSandbox
from verify.probes.backlog_api import ask_public


def test_nginx_marks_its_refusal_of_a_keyless_request(sandbox: RunningSandbox) -> None:
    base = sandbox.academy["api"]["public_base_url"]
    keyless = ask_public(base, None, 5.0)
    assert keyless.status == 403 and keyless.refused_by_nginx, keyless
    judged_by_the_api = ask_public(base, "verify-wrong-key-0123456789", 5.0)
    assert judged_by_the_api.status == 403 and not judged_by_the_api.refused_by_nginx


def test_a_key_dropped_inside_nginx_is_told_from_one_lost_before_it(
        sandbox: RunningSandbox) -> None:
    faults.break_fault("strip-internal-key", sandbox.state.root)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "verify", "api", "--stack", "sandbox", "--json"],
            capture_output=True, text=True, cwd=PROJECT_ROOT, env=sandbox.env(), timeout=120,
            check=False)
    finally:
        faults.heal(sandbox.state.root)
    assert done.returncode == 1, done.stderr
    hosts = [c for c in json.loads(done.stdout)["checks"] if c["target"] != "public key check"]
    assert hosts and all(c["status"] == "fail" for c in hosts), hosts
    assert all("the key reached nginx but not the API" in c["summary"] for c in hosts), hosts
