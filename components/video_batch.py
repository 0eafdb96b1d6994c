"""Video transcoding on AWS Batch: compute environment, job queue, job definition, logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.iam import assume_role_policy
from components.settings import BatchSettings
from components.stack_output import Batch, Role

LOG_RETENTION_DAYS = 30
# Jobs stuck RUNNABLE for these reasons never start by themselves; the queue cancels them.
RUNNABLE_CANCEL_REASONS: tuple[str, ...] = (
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
)
# Batch's status reason when the instance went away (host failure or Spot reclaim).
INFRASTRUCTURE_FAILURE = "Host EC2*"
# ECS-optimized AL2023: Batch picks the arm64 or x86_64 variant from the instance types.
IMAGE_TYPE = "ECS_AL2023"


@dataclass(frozen=True)
class VideoBatchArgs:
    batch: BatchSettings
    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]
    tags: Mapping[str, str] = field(default_factory=dict)


def retry_strategy(attempts: int) -> aws.batch.JobDefinitionRetryStrategyArgs:
    """Retry when the host or Spot instance went away; exit on anything else (first match)."""
    return aws.batch.JobDefinitionRetryStrategyArgs(
        attempts=attempts,
        evaluate_on_exits=[
            aws.batch.JobDefinitionRetryStrategyEvaluateOnExitArgs(
                action="RETRY", on_status_reason=INFRASTRUCTURE_FAILURE
            ),
            # Without a catch-all, an unmatched failure would be retried.
            aws.batch.JobDefinitionRetryStrategyEvaluateOnExitArgs(action="EXIT", on_reason="*"),
        ],
    )


class VideoBatch(pulumi.ComponentResource):
    service_role: aws.iam.Role
    instance_role: aws.iam.Role
    instance_profile: aws.iam.InstanceProfile
    log_group: aws.cloudwatch.LogGroup
    compute_environment: aws.batch.ComputeEnvironment
    job_queue: aws.batch.JobQueue
    job_definition: aws.batch.JobDefinition

    def __init__(
        self, name: str, args: VideoBatchArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("academy:video_batch:VideoBatch", name, None, opts)
        self._batch = batch = args.batch
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "WorkerType": "Video"}
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        def managed(path: str) -> pulumi.Output[str]:
            return pulumi.Output.concat("arn:", partition.partition, ":iam::aws:policy/", path)

        # Roles: the minimal set for a managed EC2/SPOT environment. No execution role (the
        # ECS instance role pulls images and ships awslogs on EC2) and no Spot Fleet role
        # (SPOT_CAPACITY_OPTIMIZED does not use one). Auto-named: a long CE name could
        # exceed IAM's 64 characters.
        self.service_role = aws.iam.Role(
            f"{name}-service-role",
            aws.iam.RoleArgs(
                assume_role_policy=assume_role_policy("batch.amazonaws.com"),
                tags=tags,
            ),
            opts=child,
        )
        self._service_policy_arn = managed("service-role/AWSBatchServiceRole")
        service_policy = aws.iam.RolePolicyAttachment(
            f"{name}-service-policy",
            aws.iam.RolePolicyAttachmentArgs(
                role=self.service_role.name, policy_arn=self._service_policy_arn
            ),
            opts=child,
        )
        self.instance_role = aws.iam.Role(
            f"{name}-instance-role",
            aws.iam.RoleArgs(
                assume_role_policy=assume_role_policy("ec2.amazonaws.com"),
                tags=tags,
            ),
            opts=child,
        )
        self._instance_policy_arn = managed("service-role/AmazonEC2ContainerServiceforEC2Role")
        instance_policy = aws.iam.RolePolicyAttachment(
            f"{name}-instance-policy",
            aws.iam.RolePolicyAttachmentArgs(
                role=self.instance_role.name, policy_arn=self._instance_policy_arn
            ),
            opts=child,
        )
        self.instance_profile = aws.iam.InstanceProfile(
            f"{name}-instance-profile",
            aws.iam.InstanceProfileArgs(
                role=self.instance_role.name,
                tags=tags,
            ),
            opts=child,
        )

        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            aws.cloudwatch.LogGroupArgs(
                name=batch.log_group_name, retention_in_days=LOG_RETENTION_DAYS, tags=tags
            ),
            opts=child,
        )

        self.compute_environment = aws.batch.ComputeEnvironment(
            f"{name}-ce",
            aws.batch.ComputeEnvironmentArgs(
                name=batch.compute_environment_name,
                type="MANAGED",
                service_role=self.service_role.arn,
                compute_resources=aws.batch.ComputeEnvironmentComputeResourcesArgs(
                    type="SPOT" if batch.spot else "EC2",
                    allocation_strategy=(
                        "SPOT_CAPACITY_OPTIMIZED" if batch.spot else "BEST_FIT_PROGRESSIVE"
                    ),
                    instance_types=list(batch.instance_types),
                    instance_role=self.instance_profile.arn,
                    min_vcpus=0,
                    max_vcpus=batch.max_vcpus,
                    subnets=list(args.subnet_ids),
                    security_group_ids=list(args.security_group_ids),
                    ec2_configurations=[
                        aws.batch.ComputeEnvironmentComputeResourcesEc2ConfigurationArgs(
                            image_type=IMAGE_TYPE
                        )
                    ],
                    tags=tags,
                ),
                tags=tags,
            ),
            # Keep the policies attached until the environment is gone (destroy order).
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[service_policy, instance_policy]
            ),
        )

        self.job_queue = aws.batch.JobQueue(
            f"{name}-queue",
            aws.batch.JobQueueArgs(
                name=batch.job_queue_name,
                state="ENABLED",
                priority=1,
                compute_environment_orders=[
                    aws.batch.JobQueueComputeEnvironmentOrderArgs(
                        compute_environment=self.compute_environment.arn, order=1
                    )
                ],
                job_state_time_limit_actions=[
                    aws.batch.JobQueueJobStateTimeLimitActionArgs(
                        action="CANCEL",
                        state="RUNNABLE",
                        max_time_seconds=batch.runnable_timeout_seconds,
                        reason=reason,
                    )
                    for reason in RUNNABLE_CANCEL_REASONS
                ],
                tags=tags,
            ),
            opts=child,
        )

        self.job_definition = aws.batch.JobDefinition(
            f"{name}-jobdef",
            aws.batch.JobDefinitionArgs(
                name=batch.job_definition_name,
                type="container",
                platform_capabilities=["EC2"],
                container_properties=pulumi.Output.json_dumps(
                    {
                        "image": batch.image,
                        "resourceRequirements": [
                            {"type": "VCPU", "value": str(batch.vcpus)},
                            {"type": "MEMORY", "value": str(batch.memory_mib)},
                        ],
                        "logConfiguration": {
                            "logDriver": "awslogs",
                            "options": {
                                "awslogs-group": self.log_group.name,
                                "awslogs-stream-prefix": batch.worker_type,
                            },
                        },
                    }
                ),
                retry_strategy=retry_strategy(batch.retry_attempts),
                timeout=aws.batch.JobDefinitionTimeoutArgs(
                    attempt_duration_seconds=batch.job_timeout_seconds
                ),
                propagate_tags=True,
                tags=tags,
            ),
            opts=child,
        )

        self.register_outputs(
            {
                "compute_environment_arn": self.compute_environment.arn,
                "job_queue_arn": self.job_queue.arn,
                "job_definition_arn": self.job_definition.arn,
                "log_group_name": self.log_group.name,
            }
        )

    def describe(self) -> Batch:
        """The Batch part of the stack output (plain values known before deploy, but the
        roles' names, which the engine gives, and the partition in the policies' ARNs)."""
        b = self._batch
        return Batch(
            compute_environment=b.compute_environment_name,
            job_queue=b.job_queue_name,
            job_definition=b.job_definition_name,
            log_group=b.log_group_name,
            architecture=b.architecture,
            retry_attempts=b.retry_attempts,
            timeout_s=b.job_timeout_seconds,
            runnable_timeout_s=b.runnable_timeout_seconds,
            # Each role holds one managed policy and no inline one (see __init__).
            service_role=Role(self.service_role.name,  # type: ignore[arg-type]
                              managed_policy_arns=[self._service_policy_arn]),  # type: ignore[list-item]
            instance_role=Role(self.instance_role.name,  # type: ignore[arg-type]
                               managed_policy_arns=[self._instance_policy_arn]),  # type: ignore[list-item]
        )
