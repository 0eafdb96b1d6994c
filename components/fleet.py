"""A worker fleet: an Auto Scaling group that scales on its queue's backlog per instance."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components import physical_names as names
from components.iam import assume_role_policy
from components.metric_spec import DEFAULT_STATISTIC
from components.settings import WorkerSettings
from components.stack_output import Fleet, Role, WakeFromZero

# Group metrics the fleet publishes; GroupInServiceInstances is the divisor of the policy.
ENABLED_METRICS: tuple[str, ...] = (
    "GroupInServiceInstances",
    "GroupDesiredCapacity",
    "GroupMinSize",
    "GroupMaxSize",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
)
CONSUME_ACTIONS: tuple[str, ...] = (
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
)
# What a worker does to its own group during a long job: protect itself, keep its
# termination hook alive, release it when the job is done. Never SetDesiredCapacity.
SELF_ACTIONS: tuple[str, ...] = (
    "autoscaling:SetInstanceProtection",
    "autoscaling:RecordLifecycleActionHeartbeat",
    "autoscaling:CompleteLifecycleAction",
)
# The policy reads the backlog with its metric spec's statistic (`BacklogMetricSpec.statistic`);
# this is the default every spec gets, kept under its old name for readers of it.
BACKLOG_STAT = DEFAULT_STATISTIC
WAKE_EXPRESSION = "IF(m1 > 0 AND FILL(m2, 0) < 1, 1, 0)"
POLICY_TYPE_TARGET_TRACKING = "TargetTrackingScaling"

# The typed target-tracking Args classes under readable names (a typo still raises).
_asg = aws.autoscaling
TargetTrackingArgs = _asg.PolicyTargetTrackingConfigurationArgs
CustomizedMetricArgs = _asg.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationArgs
MetricQueryArgs = _asg.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs
MetricStatArgs = _asg.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatArgs  # noqa: E501
MetricArgs = _asg.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs  # noqa: E501
DimensionArgs = _asg.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs  # noqa: E501
MixedTemplateSpecArgs = _asg.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs


def wake_from_zero_spec(group_name: str) -> dict[str, Any]:
    """The wake policy and alarm as declared: the resources and the stack output (verify's
    reference) are both built from this. m1 is the fleet's backlog metric, m2 its in-service
    instances, the expression returns 1 while backlog waits with none in service."""
    wake_name = names.fleet_wake(group_name)
    return {
        "policy_name": wake_name,
        "alarm_name": wake_name,
        "expression": WAKE_EXPRESSION,
        "threshold": 1.0,
        "comparison_operator": "GreaterThanOrEqualToThreshold",
        "adjustment_type": "ExactCapacity",
        "scaling_adjustment": 1,
    }


@dataclass(frozen=True)
class WorkerFleetArgs:
    worker: WorkerSettings
    queue_arn: pulumi.Input[str]
    queue_url: pulumi.Input[str]
    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]
    tags: Mapping[str, str] = field(default_factory=dict)


def _user_data(worker: WorkerSettings, queue_url: str) -> str:
    """Small on purpose: the worker reads its queue and identity from this env file."""
    script = (
        "#!/bin/bash\n"
        "cat > /etc/academy-worker.env <<'EOF'\n"
        f"ACADEMY_WORKER_TYPE={worker.worker_type}\n"
        f"ACADEMY_QUEUE_URL={queue_url}\n"
        f"ACADEMY_GROUP_NAME={worker.group_name}\n"
        f"ACADEMY_MAX_JOB_SECONDS={worker.max_job_seconds}\n"
        f"ACADEMY_LIFECYCLE_HEARTBEAT_SECONDS={worker.lifecycle_heartbeat_seconds}\n"
        "EOF\n"
    )
    return base64.b64encode(script.encode()).decode()


class WorkerFleet(pulumi.ComponentResource):
    role: aws.iam.Role
    own_policy: aws.iam.RolePolicy
    instance_profile: aws.iam.InstanceProfile
    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group
    lifecycle_hook: aws.autoscaling.LifecycleHook
    policy: aws.autoscaling.Policy
    wake_policy: aws.autoscaling.Policy | None
    wake_alarm: aws.cloudwatch.MetricAlarm | None

    def __init__(
        self, name: str, args: WorkerFleetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("academy:fleet:WorkerFleet", name, None, opts)
        self._worker = worker = args.worker
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "WorkerType": worker.label}
        self.policy_name = worker.policy_name

        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        group_arn_pattern = pulumi.Output.concat(
            "arn:", partition.partition, ":autoscaling:", region.region, ":",
            identity.account_id, ":autoScalingGroup:*:autoScalingGroupName/",
            worker.group_name,
        )

        self.role = aws.iam.Role(
            f"{name}-role",
            aws.iam.RoleArgs(
                name=worker.role_name,
                assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                tags=tags,
            ),
            opts=child,
        )
        ssm_core = pulumi.Output.concat(
            "arn:", partition.partition, ":iam::aws:policy/AmazonSSMManagedInstanceCore"
        )
        # What the stack grants the role (the stack output lists it: describe).
        self._managed_policy_arns = [ssm_core, *worker.managed_policy_arns]
        for i, policy_arn in enumerate(self._managed_policy_arns):
            aws.iam.RolePolicyAttachment(
                f"{name}-policy-{i}",
                aws.iam.RolePolicyAttachmentArgs(role=self.role.name, policy_arn=policy_arn),
                opts=child,
            )
        self.own_policy = aws.iam.RolePolicy(
            f"{name}-own-queue-and-group",
            aws.iam.RolePolicyArgs(
                role=self.role.id,
                policy=pulumi.Output.json_dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "ConsumeOwnQueue",
                                "Effect": "Allow",
                                "Action": list(CONSUME_ACTIONS),
                                "Resource": args.queue_arn,
                            },
                            {
                                "Sid": "ProtectSelfInOwnGroup",
                                "Effect": "Allow",
                                "Action": list(SELF_ACTIONS),
                                # The group's ARN carries a UUID only known after creation.
                                "Resource": group_arn_pattern,
                            },
                        ],
                    }
                ),
            ),
            opts=child,
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-profile",
            aws.iam.InstanceProfileArgs(
                name=worker.profile_name, role=self.role.name, tags=tags
            ),
            opts=child,
        )

        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-template",
            aws.ec2.LaunchTemplateArgs(
                name=worker.template_name,
                image_id=worker.image_id,
                instance_type=worker.instance_types[0],
                iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(
                    arn=self.instance_profile.arn
                ),
                vpc_security_group_ids=list(args.security_group_ids),
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required"
                ),
                user_data=pulumi.Output.from_input(args.queue_url).apply(
                    lambda url: _user_data(worker, url)
                ),
                update_default_version=True,
                tag_specifications=[
                    aws.ec2.LaunchTemplateTagSpecificationArgs(
                        resource_type="instance",
                        tags={**tags, "Name": f"{worker.group_name}-worker"},
                    )
                ],
                tags=tags,
            ),
            opts=child,
        )

        template_version = self.launch_template.latest_version.apply(str)
        launch_template: aws.autoscaling.GroupLaunchTemplateArgs | None = None
        mixed: aws.autoscaling.GroupMixedInstancesPolicyArgs | None = None
        if len(worker.instance_types) > 1:
            mixed = aws.autoscaling.GroupMixedInstancesPolicyArgs(
                launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                    launch_template_specification=MixedTemplateSpecArgs(
                        launch_template_id=self.launch_template.id, version=template_version
                    ),
                    overrides=[
                        aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(
                            instance_type=t
                        )
                        for t in worker.instance_types
                    ],
                )
            )
        else:
            launch_template = aws.autoscaling.GroupLaunchTemplateArgs(
                id=self.launch_template.id, version=template_version
            )

        self.group = aws.autoscaling.Group(
            f"{name}-group",
            aws.autoscaling.GroupArgs(
                name=worker.group_name,
                min_size=worker.min_size,
                max_size=worker.max_size,
                vpc_zone_identifiers=list(args.subnet_ids),
                launch_template=launch_template,
                mixed_instances_policy=mixed,
                enabled_metrics=list(ENABLED_METRICS),
                metrics_granularity="1Minute",
                # Workers protect themselves while a job runs (SetInstanceProtection).
                protect_from_scale_in=False,
                health_check_type="EC2",
                tags=[
                    aws.autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=False)
                    for k, v in sorted(tags.items())
                ],
            ),
            opts=child,
        )

        self.lifecycle_hook = aws.autoscaling.LifecycleHook(
            f"{name}-terminating",
            aws.autoscaling.LifecycleHookArgs(
                name=worker.hook_name,
                autoscaling_group_name=self.group.name,
                lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
                # A running job extends it with RecordLifecycleActionHeartbeat.
                heartbeat_timeout=worker.lifecycle_heartbeat_seconds,
                default_result="CONTINUE",
            ),
            opts=child,
        )

        self.policy = aws.autoscaling.Policy(
            f"{name}-backlog-per-instance",
            aws.autoscaling.PolicyArgs(
                name=self.policy_name,
                autoscaling_group_name=self.group.name,
                policy_type=POLICY_TYPE_TARGET_TRACKING,
                estimated_instance_warmup=worker.instance_warmup_seconds,
                target_tracking_configuration=TargetTrackingArgs(
                    target_value=float(worker.target_backlog_per_instance),
                    customized_metric_specification=CustomizedMetricArgs(
                        metrics=self._backlog_per_instance_queries()
                    ),
                ),
            ),
            opts=child,
        )

        self.wake_policy = None
        self.wake_alarm = None
        if worker.wake_from_zero:
            self._wake_from_zero(name, child, tags)

        self.register_outputs(
            {
                "group_name": self.group.name,
                "policy_arn": self.policy.arn,
                "role_arn": self.role.arn,
                "instance_profile_arn": self.instance_profile.arn,
            }
        )

    def _backlog_per_instance_queries(self) -> list[MetricQueryArgs]:
        """m1 = the worker type's backlog metric, m2 = in-service instances, e1 = m1 / m2."""
        spec = self._worker.metric
        return [
            MetricQueryArgs(
                id="m1",
                label=f"{spec.namespace} {spec.name}",
                metric_stat=MetricStatArgs(
                    metric=MetricArgs(
                        namespace=spec.namespace,
                        metric_name=spec.name,
                        dimensions=[DimensionArgs(name=k, value=v) for k, v in spec.dimensions],
                    ),
                    stat=spec.statistic,
                ),
                return_data=False,
            ),
            MetricQueryArgs(
                id="m2",
                label="in-service instances",
                metric_stat=MetricStatArgs(
                    metric=MetricArgs(
                        namespace="AWS/AutoScaling",
                        metric_name="GroupInServiceInstances",
                        dimensions=[
                            DimensionArgs(name="AutoScalingGroupName", value=self.group.name)
                        ],
                    ),
                    stat="Average",
                ),
                return_data=False,
            ),
            MetricQueryArgs(
                id="e1", label="backlog per instance", expression="m1 / m2", return_data=True
            ),
        ]

    def _wake_from_zero(
        self, name: str, child: pulumi.ResourceOptions, tags: Mapping[str, str]
    ) -> None:
        """At 0 instances m1 / m2 has no value; this alarm starts the first instance."""
        worker = self._worker
        spec = worker.metric
        wake = wake_from_zero_spec(worker.group_name)
        self.wake_policy = aws.autoscaling.Policy(
            f"{name}-wake-from-zero",
            aws.autoscaling.PolicyArgs(
                name=wake["policy_name"],
                autoscaling_group_name=self.group.name,
                policy_type="SimpleScaling",
                # Idempotent: the alarm re-invokes the policy every minute while in ALARM.
                adjustment_type=wake["adjustment_type"],
                scaling_adjustment=wake["scaling_adjustment"],
            ),
            opts=child,
        )
        self.wake_alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-wake-from-zero",
            aws.cloudwatch.MetricAlarmArgs(
                name=wake["alarm_name"],
                alarm_description=(
                    f"{worker.label} backlog > 0 with no instance in service: start one"
                ),
                comparison_operator=wake["comparison_operator"],
                threshold=wake["threshold"],
                evaluation_periods=1,
                datapoints_to_alarm=1,
                treat_missing_data="notBreaching",
                metric_queries=[
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="m1",
                        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                            namespace=spec.namespace,
                            metric_name=spec.name,
                            dimensions=dict(spec.dimensions),
                            period=60,
                            stat=spec.statistic,
                        ),
                        return_data=False,
                    ),
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="m2",
                        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                            namespace="AWS/AutoScaling",
                            metric_name="GroupInServiceInstances",
                            dimensions={"AutoScalingGroupName": self.group.name},
                            period=60,
                            stat="Average",
                        ),
                        return_data=False,
                    ),
                    aws.cloudwatch.MetricAlarmMetricQueryArgs(
                        id="e1",
                        expression=wake["expression"],
                        label="backlog waiting with no instance",
                        return_data=True,
                    ),
                ],
                alarm_actions=[self.wake_policy.arn],
                tags=dict(tags),
            ),
            opts=child,
        )

    def describe(self) -> Fleet:
        """The fleet's part of the stack output (plain values known before deploy, but the
        names the engine gives: its inline policy's)."""
        w = self._worker
        return Fleet(
            group_name=w.group_name,
            min_size=w.min_size,
            max_size=w.max_size,
            target_backlog_per_instance=w.target_backlog_per_instance,
            instance_warmup_s=w.instance_warmup_seconds,
            policy_name=self.policy_name,
            wake_from_zero=w.wake_from_zero,
            wake=WakeFromZero(**wake_from_zero_spec(w.group_name)) if w.wake_from_zero else None,
            instance_role=Role(
                name=w.role_name,
                inline_policies=[self.own_policy.name],  # type: ignore[list-item]
                managed_policy_arns=list(self._managed_policy_arns),  # type: ignore[arg-type]
            ),
        )
