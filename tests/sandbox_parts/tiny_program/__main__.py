"""A tiny Pulumi program for the MotoMocks tests: one of each kind that matters, typed Args."""

import json

import pulumi
import pulumi_aws as aws

asc = aws.autoscaling
Spec = asc.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationArgs
Metric = asc.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs
MetricStat = asc.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatArgs
StatMetric = (
    asc.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs
)
Dimension = asc.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs  # noqa: E501

config = pulumi.Config()
subnets = json.loads(config.require("subnetIds"))
groups = json.loads(config.require("securityGroupIds"))

dlq = aws.sqs.Queue("jobs-dlq", aws.sqs.QueueArgs(name="tiny-jobs-dlq"))
queue = aws.sqs.Queue(
    "jobs",
    aws.sqs.QueueArgs(
        name="tiny-jobs",
        visibility_timeout_seconds=10800,
        redrive_policy=pulumi.Output.json_dumps(
            {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": 3}
        ),
    ),
)

role = aws.iam.Role(
    "fn-role",
    aws.iam.RoleArgs(
        name="tiny-fn-role",
        assume_role_policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    ),
)
aws.iam.RolePolicy(
    "fn-policy",
    aws.iam.RolePolicyArgs(
        name="read-queue",
        role=role.name,
        policy=pulumi.Output.json_dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "sqs:GetQueueAttributes", "Resource": queue.arn}
                ],
            }
        ),
    ),
)
key = aws.ssm.Parameter(
    "key",
    aws.ssm.ParameterArgs(
        name="/tiny/internal-api-key", type="SecureString", value=config.require_secret("key")
    ),
)
function = aws.lambda_.Function(
    "fn",
    aws.lambda_.FunctionArgs(
        name="tiny-fn",
        role=role.arn,
        runtime="python3.11",
        handler="lambda_function.handler",
        architectures=["arm64"],
        code=pulumi.FileArchive(config.require("zipPath")),
        environment=aws.lambda_.FunctionEnvironmentArgs(variables={"QUEUE_URL": queue.url}),
    ),
)
template = aws.ec2.LaunchTemplate(
    "lt",
    aws.ec2.LaunchTemplateArgs(
        name="tiny-lt",
        image_id="ami-0123456789abcdef0",
        instance_type="t4g.small",
        vpc_security_group_ids=groups,
    ),
)
group = aws.autoscaling.Group(
    "asg",
    aws.autoscaling.GroupArgs(
        name="tiny-asg",
        min_size=1,
        max_size=4,
        vpc_zone_identifiers=subnets,
        launch_template=aws.autoscaling.GroupLaunchTemplateArgs(
            id=template.id, version=template.latest_version.apply(str)
        ),
        enabled_metrics=["GroupInServiceInstances"],
        metrics_granularity="1Minute",
    ),
)


def stat(metric_id: str, namespace: str, name: str, dimension: tuple[str, pulumi.Input[str]]):
    return Metric(
        id=metric_id,
        return_data=False,
        metric_stat=MetricStat(
            stat="Average",
            metric=StatMetric(
                namespace=namespace,
                metric_name=name,
                dimensions=[Dimension(name=dimension[0], value=dimension[1])],
            ),
        ),
    )


aws.autoscaling.Policy(
    "backlog-per-instance",
    aws.autoscaling.PolicyArgs(
        name="tiny-backlog-per-instance",
        autoscaling_group_name=group.name,
        policy_type="TargetTrackingScaling",
        estimated_instance_warmup=300,
        target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
            target_value=20,
            customized_metric_specification=Spec(
                metrics=[
                    stat("m1", "Academy/Workers", "QueueDepth", ("WorkerType", "AI")),
                    stat(
                        "m2",
                        "AWS/AutoScaling",
                        "GroupInServiceInstances",
                        ("AutoScalingGroupName", group.name),
                    ),
                    Metric(id="e1", expression="m1 / m2", label="per instance", return_data=True),
                ]
            ),
        ),
    ),
)
aws.sns.Topic("not-in-moto", aws.sns.TopicArgs(name="tiny-topic"))

pulumi.export(
    "tiny",
    {
        "queue_url": queue.url,
        "queue_arn": queue.arn,
        "function_arn": function.arn,
        "code_sha256": function.code_sha256,
        "role_arn": role.arn,
        "key_arn": key.arn,
        "group_arn": group.arn,
        "template_id": template.id,
    },
)
