"""The backlog publisher: a Lambda that counts each worker type's backlog every minute.

Its environment is built from the same `BacklogMetricSpec` objects as the fleets'
scaling policies, so publisher and policy cannot name different metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy
from components.lambda_archive import write_archive
from components.metric_spec import BacklogMetricSpec
from components.settings import BACKLOG_API_PATH, PublisherSettings
from components.stack_output import Publisher

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIR = "lambda/queue_depth"
ARCHIVE_PATH = ROOT / ".build" / "queue_depth.zip"
LOG_RETENTION_DAYS = 14
MEMORY_SIZE_MB = 128  # the function's MemorySize: its tests run it held to this


@dataclass(frozen=True)
class PublisherTarget:
    worker_type: str
    queue_url: pulumi.Input[str]
    queue_arn: pulumi.Input[str]
    metric: BacklogMetricSpec
    count_in_flight: bool
    count_delayed: bool
    use_backlog_api: bool


@dataclass(frozen=True)
class BacklogPublisherArgs:
    publisher: PublisherSettings
    targets: tuple[PublisherTarget, ...]
    internal_api_key: pulumi.Input[str]  # a secret Output: stored only in SSM SecureString


def _target_env(t: PublisherTarget) -> dict[str, object]:
    return {
        "worker_type": t.worker_type,
        "queue_url": t.queue_url,
        "metric": t.metric.as_dict(),
        "count_in_flight": t.count_in_flight,
        "count_delayed": t.count_delayed,
        "use_backlog_api": t.use_backlog_api,
    }


class BacklogPublisher(pulumi.ComponentResource):
    function: aws.lambda_.Function
    role: aws.iam.Role
    key_parameter: aws.ssm.Parameter
    code_sha256: str
    policy_name: str

    def __init__(
        self, name: str, args: BacklogPublisherArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("academy:publisher:BacklogPublisher", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.publisher
        self.policy_name = settings.policy_name

        self.key_parameter = aws.ssm.Parameter(
            f"{name}-internal-key",
            aws.ssm.ParameterArgs(
                name=settings.key_parameter_name,
                type="SecureString",
                value=pulumi.Output.secret(args.internal_api_key),
                description="X-Internal-Key of the internal backlog API (read by the publisher)",
            ),
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            aws.cloudwatch.LogGroupArgs(
                name=settings.log_group_name,
                retention_in_days=LOG_RETENTION_DAYS,
            ),
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            aws.iam.RoleArgs(
                name=settings.role_name,
                assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            ),
            opts=child,
        )
        namespaces = sorted({t.metric.namespace for t in args.targets})
        aws.iam.RolePolicy(
            f"{name}-policy",
            aws.iam.RolePolicyArgs(
                name=settings.policy_name,  # the stack output lists it (describe)
                role=self.role.id,
                policy=pulumi.Output.json_dumps({
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "WriteOwnLogs",
                            "Effect": "Allow",
                            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                            "Resource": log_group.arn.apply(lambda arn: f"{arn}:*"),
                        },
                        {
                            "Sid": "ReadQueueDepth",
                            "Effect": "Allow",
                            "Action": "sqs:GetQueueAttributes",
                            "Resource": [t.queue_arn for t in args.targets],
                        },
                        {
                            "Sid": "PublishBacklog",
                            "Effect": "Allow",
                            "Action": "cloudwatch:PutMetricData",
                            # PutMetricData has no resource ARNs; the namespace condition scopes it.
                            "Resource": "*",
                            "Condition": {"StringEquals": {"cloudwatch:namespace": namespaces}},
                        },
                        {
                            "Sid": "ReadInternalKey",
                            "Effect": "Allow",
                            "Action": "ssm:GetParameter",
                            "Resource": self.key_parameter.arn,
                        },
                    ],
                }),
            ),
            opts=child,
        )

        self.code_sha256 = write_archive(ROOT / SOURCE_DIR, ARCHIVE_PATH)
        # One declaration: the function's environment and the stack output verify compares
        # the live function against.
        self.environment: dict[str, pulumi.Input[str]] = {
            "BACKLOG_TARGETS": pulumi.Output.json_dumps(
                [_target_env(t) for t in args.targets]
            ),
            "BACKLOG_API_BASE_URL": settings.backlog_api_base_url,
            "BACKLOG_API_PATH": BACKLOG_API_PATH,
            "INTERNAL_KEY_PARAMETER": self.key_parameter.name,
            "BACKLOG_API_TIMEOUT_S": str(settings.api_timeout_seconds),
            "BACKLOG_API_MAX_COUNT": str(settings.max_backlog_count),
        }
        self.function = aws.lambda_.Function(
            f"{name}-function",
            aws.lambda_.FunctionArgs(
                name=settings.function_name,
                role=self.role.arn,
                runtime="python3.12",
                architectures=["arm64"],
                handler="lambda_function.handler",
                code=pulumi.FileArchive(str(ARCHIVE_PATH)),
                source_code_hash=self.code_sha256,
                timeout=settings.lambda_timeout_seconds,
                memory_size=MEMORY_SIZE_MB,
                environment=aws.lambda_.FunctionEnvironmentArgs(variables=self.environment),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )

        self.schedule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            aws.cloudwatch.EventRuleArgs(
                name=settings.schedule_name,
                schedule_expression=settings.schedule,
                state="ENABLED",
                description="Publishes the worker backlog metrics",
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-schedule-target",
            aws.cloudwatch.EventTargetArgs(rule=self.schedule.name, arn=self.function.arn),
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-schedule-permission",
            aws.lambda_.PermissionArgs(
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="events.amazonaws.com",
                source_arn=self.schedule.arn,
            ),
            opts=child,
        )
        # An invocation that could not count some worker type ends as an error: alarm on it.
        self.errors_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-errors",
            aws.cloudwatch.MetricAlarmArgs(
                name=settings.errors_alarm_name,
                namespace="AWS/Lambda",
                metric_name="Errors",
                dimensions={"FunctionName": settings.function_name},
                statistic="Sum",
                period=60,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching",
                alarm_description="The backlog publisher failed to count a worker type: "
                "nothing was published for it and its fleet holds still.",
            ),
            opts=child,
        )
        self.register_outputs({
            "function_name": self.function.name,
            "code_sha256": self.code_sha256,
            "key_parameter": self.key_parameter.name,
        })

    def describe(self) -> Publisher:
        """The publisher's part of the stack output (the key's name, never the key)."""
        return Publisher(
            function_name=self.function.name,  # type: ignore[arg-type]
            role_name=self.role.name,  # type: ignore[arg-type]
            code_sha256=self.code_sha256,
            key_parameter=self.key_parameter.name,  # type: ignore[arg-type]
            schedule_rule=self.schedule.name,  # type: ignore[arg-type]
            errors_alarm=self.errors_alarm.name,  # type: ignore[arg-type]
            source_dir=SOURCE_DIR,
            environment=self.environment,  # names and values, never the key itself
            inline_policies=[self.policy_name],
            managed_policy_arns=[],
        )
