"""verify reads the publisher's count rule, and only it: the handler module's import-time
code (boto3 clients, logging levels) never runs in verify's process (issue 16 item 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs verify's rules in a fresh interpreter and reports what that did to the process.
PROBE = """
import json, logging, sys
from verify import publisher_rules
count, reason = publisher_rules.read_count(b'{"backlog": 7}', 100)
bad, why = publisher_rules.read_count(b'{"backlog": 101}', 100)
status = publisher_rules.status_code(b"HTTP/1.1 200 OK")
loaded = [getattr(m, "__file__", None) or "" for m in list(sys.modules.values())]
print(json.dumps({
    "count": count, "bad": bad, "why": why, "status": status,
    "boto3": "boto3" in sys.modules or "botocore" in sys.modules,
    "botocore_level": logging.getLogger("botocore").level,
    "queue_depth_level": logging.getLogger("queue_depth").level,
    "handler_loaded": [f for f in loaded if f.endswith("lambda_function.py")],
}))
"""


def _probe() -> dict:
    run = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_verify_reads_the_count_rule_without_the_handler_module() -> None:
    found = _probe()
    assert (found["count"], found["bad"], found["status"]) == (7, None, 200)
    assert "above BACKLOG_API_MAX_COUNT" in found["why"]
    assert found["handler_loaded"] == []  # the handler module was never executed
    assert found["boto3"] is False  # nor the AWS SDK it imports
    # Nor its logging setup: the levels the handler sets at import stay unset in verify.
    assert found["botocore_level"] == 0
    assert found["queue_depth_level"] == 0
