"""The publisher's and the API proxy's infrastructure, as the program declares them."""

from __future__ import annotations

import base64
import json

from components.publisher import ROOT, SOURCE_DIR
from contract.lambda_archive import build_archive, code_sha256
from tests.program.conftest import DUMMY_KEY, StackRun

FUNCTION = "aws:lambda/function:Function"


def publisher_policy(run: StackRun) -> list[dict]:
    return json.loads(run.one("aws:iam/rolePolicy:RolePolicy",
                              "backlog-publisher-policy").inputs["policy"])["Statement"]


def targets(run: StackRun) -> list[dict]:
    function = run.one(FUNCTION, "backlog-publisher-function")
    return json.loads(function.inputs["environment"]["variables"]["BACKLOG_TARGETS"])


def test_the_role_holds_exactly_the_publishers_statements(any_stack: StackRun) -> None:
    run = any_stack
    queues = {r.name: r.outputs["arn"] for r in run.of_type("aws:sqs/queue:Queue")}
    log_group = run.one("aws:cloudwatch/logGroup:LogGroup", "backlog-publisher-logs")
    key = run.one("aws:ssm/parameter:Parameter", "backlog-publisher-internal-key")
    published = [wt for wt, spec in run.academy["worker_types"].items() if spec["published"]]
    namespaces = sorted({run.academy["worker_types"][wt]["metric"]["namespace"]
                         for wt in published})
    statements = {s["Sid"]: s for s in publisher_policy(run)}
    assert statements == {
        "WriteOwnLogs": {"Sid": "WriteOwnLogs", "Effect": "Allow",
                         "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                         "Resource": f"{log_group.outputs['arn']}:*"},
        "ReadQueueDepth": {"Sid": "ReadQueueDepth", "Effect": "Allow",
                           "Action": "sqs:GetQueueAttributes",
                           "Resource": [queues[f"{wt}-jobs-queue"] for wt in published]},
        "PublishBacklog": {"Sid": "PublishBacklog", "Effect": "Allow",
                           "Action": "cloudwatch:PutMetricData", "Resource": "*",
                           "Condition": {"StringEquals": {"cloudwatch:namespace": namespaces}}},
        "ReadInternalKey": {"Sid": "ReadInternalKey", "Effect": "Allow",
                            "Action": "ssm:GetParameter", "Resource": key.outputs["arn"]},
    }
    assert not any("autoscaling" in json.dumps(s).lower() for s in statements.values())


def test_batch_mode_publishes_no_video_metric(prod: StackRun, prod_asg: StackRun) -> None:
    assert [t["worker_type"] for t in targets(prod)] == ["ai", "messaging"]
    assert [t["worker_type"] for t in targets(prod_asg)] == ["ai", "messaging", "video"]
    video = next(t for t in targets(prod_asg) if t["worker_type"] == "video")
    assert video["use_backlog_api"] is True
    output = dict(prod_asg.academy["worker_types"]["video"]["metric"])
    assert output.pop("statistic") == "Average"  # how the policy reads it; not published
    assert video["metric"] == output


def test_the_function_and_its_archive(any_stack: StackRun) -> None:
    function = any_stack.one(FUNCTION, "backlog-publisher-function").inputs
    assert function["runtime"] == "python3.12" and function["architectures"] == ["arm64"]
    assert function["handler"] == "lambda_function.handler"
    variables = function["environment"]["variables"]
    api_timeout = int(variables["BACKLOG_API_TIMEOUT_S"])
    assert function["timeout"] > api_timeout * 2  # the API call, then the SQS fallback
    assert variables["BACKLOG_API_MAX_COUNT"] == "100000"  # backlogApiMaxCount's default
    expected = code_sha256(build_archive(ROOT / SOURCE_DIR))
    assert function["sourceCodeHash"] == expected
    assert any_stack.academy["publisher"]["code_sha256"] == expected


def test_the_output_declares_the_function_s_whole_environment(any_stack: StackRun) -> None:
    """verify compares the live function with this: it must be exactly what was deployed."""
    function = any_stack.one(FUNCTION, "backlog-publisher-function").inputs
    declared = any_stack.academy["publisher"]["environment"]
    assert declared == function["environment"]["variables"]
    assert declared["INTERNAL_KEY_PARAMETER"] == any_stack.academy["publisher"]["key_parameter"]


def test_the_count_bound_is_the_setting(evaluate_stack) -> None:
    run = evaluate_stack("prod", {"backlogApiMaxCount": 250})
    function = run.one(FUNCTION, "backlog-publisher-function").inputs
    assert function["environment"]["variables"]["BACKLOG_API_MAX_COUNT"] == "250"


def test_the_key_is_a_secure_string_and_never_in_the_output(any_stack: StackRun) -> None:
    parameter = any_stack.one("aws:ssm/parameter:Parameter", "backlog-publisher-internal-key")
    assert parameter.inputs["type"] == "SecureString"
    assert parameter.inputs["name"] == any_stack.academy["publisher"]["key_parameter"]
    function = any_stack.one(FUNCTION, "backlog-publisher-function").inputs
    # never a plain environment variable
    assert DUMMY_KEY not in json.dumps(function["environment"])
    assert DUMMY_KEY not in json.dumps(any_stack.academy)


def test_schedule_and_errors_alarm(any_stack: StackRun) -> None:
    rule = any_stack.one("aws:cloudwatch/eventRule:EventRule", "backlog-publisher-schedule")
    assert rule.inputs["scheduleExpression"] == "rate(1 minute)"
    target = any_stack.one("aws:cloudwatch/eventTarget:EventTarget",
                           "backlog-publisher-schedule-target")
    function = any_stack.one(FUNCTION, "backlog-publisher-function")
    assert target.inputs["arn"] == function.outputs["arn"]
    alarm = any_stack.one("aws:cloudwatch/metricAlarm:MetricAlarm", "backlog-publisher-errors")
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/Lambda", "Errors")
    assert alarm.inputs["dimensions"] == {"FunctionName": function.inputs["name"]}


def test_the_nginx_document_and_association_in_both_modes(any_stack: StackRun) -> None:
    document = any_stack.one("aws:ssm/document:Document", "api-proxy-document").inputs
    content = json.loads(document["content"])
    script = "\n".join(content["mainSteps"][0]["inputs"]["runCommand"])
    for parameter in ("TargetPath", "ReloadCommand", "TestCommand"):
        assert "{{ " + parameter + " }}" in script
    encoded = script.split("echo '", 1)[1].split("'", 1)[0]
    rendered = base64.b64decode(encoded).decode()
    assert "proxy_set_header X-Internal-Key $http_x_internal_key;" in rendered
    nginx = any_stack.academy["api"]["nginx"]
    association = any_stack.one("aws:ssm/association:Association", "api-proxy-association-0")
    assert association.inputs["targets"] == [{"key": "tag:Role", "values": ["academy-api"]}]
    assert association.inputs["parameters"]["ConfigSha256"] == nginx["config_sha256"]
    assert association.inputs["parameters"]["TargetPath"] == nginx["config_path"]


def test_the_association_targets_configured_instance_ids(evaluate_stack) -> None:
    ids = ["i-0123456789abcdef0", "i-0fedcba9876543210"]
    run = evaluate_stack("prod", {"apiHostInstanceIds": ids, "apiHostTag": ""})
    association = run.one("aws:ssm/association:Association", "api-proxy-association-0")
    assert association.inputs["targets"] == [{"key": "InstanceIds", "values": ids}]
    assert [h["instance_id"] for h in run.academy["api"]["hosts"]] == ids
