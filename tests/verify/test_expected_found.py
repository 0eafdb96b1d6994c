"""Each JSON result carries what the stack declares (expected) and what was seen (found), so a
pipeline reads the drift without parsing the sentence."""

import json

from tests.verify.cli_run import KEY, verify


def report_of(stack, write_json, check: str) -> dict[str, dict]:
    path = write_json({"academy": stack.outputs})
    done = verify(check, "--outputs", str(path), "--no-invoke", "--json", "--timeout", "30",
                  env={**stack.env, "ACADEMY_INTERNAL_KEY": KEY})
    assert "Traceback" not in done.stderr, done.stderr
    return {c["target"]: c for c in json.loads(done.stdout)["checks"]}


def test_a_visibility_timeout_drift_shows_both_values(stack, write_json):
    video = stack.outputs["worker_types"]["video"]
    video["queue"]["visibility_timeout_s"] = 15300  # the stack now asks more than is deployed
    row = report_of(stack, write_json, "queues")["academy-video-jobs"]
    assert row["status"] == "fail"
    assert "visibility timeout 10800s != stack 15300s" in row["summary"]
    assert row["expected"]["visibility_timeout_s"] == 15300
    assert row["found"]["visibility_timeout_s"] == 10800
    assert row["expected"]["redrive"] == row["found"]["redrive"] == {
        "deadLetterTargetArn": video["dlq"]["arn"], "maxReceiveCount": 5}
    ai = report_of(stack, write_json, "queues")["academy-ai-jobs"]
    assert ai["status"] == "pass" and ai["expected"] == ai["found"]


def test_a_group_size_drift_shows_both_values(stack, write_json):
    group = stack.outputs["worker_types"]["ai"]["fleet"]["group_name"]
    stack.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=4)
    row = report_of(stack, write_json, "scaling")[group]
    assert row["status"] == "fail"
    assert (row["expected"]["max_size"], row["found"]["max_size"]) == (10, 4)
    assert row["expected"]["min_size"] == row["found"]["min_size"] == 0


def test_a_replaced_publisher_shows_both_code_hashes(stack, write_json):
    function = stack.outputs["publisher"]["function_name"]
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", "def handler(event, context):\n    return {}\n")
    stack.client("lambda").update_function_code(FunctionName=function,
                                                ZipFile=buffer.getvalue())
    row = report_of(stack, write_json, "publisher")[f"{function} code"]
    assert row["status"] == "fail"
    assert row["expected"]["code_sha256"] == stack.outputs["publisher"]["code_sha256"]
    assert row["found"]["code_sha256"] != row["expected"]["code_sha256"]
    assert row["found"]["code_sha256"] in row["summary"]
