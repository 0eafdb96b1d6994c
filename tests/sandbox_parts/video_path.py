"""Video paths made directly in an emulator for the part tests: a queue, a Batch job queue."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sandbox.services import moto_server


@dataclass(frozen=True)
class VideoPaths:
    queue_url: str
    job_queue: str
    job_definition: str
    parameter: str

    def dispatch_value(self, mode: str) -> str:
        return json.dumps({
            "schema_version": 1, "mode": mode, "worker_type": "video",
            "queue_url": self.queue_url if mode == "asg" else None,
            "job_queue": self.job_queue if mode == "batch" else None,
            "job_definition": self.job_definition if mode == "batch" else None,
        })


def make_paths(server: moto_server.MotoServer, attempts: int = 1) -> VideoPaths:
    """Fresh names each call, so tests sharing one emulator never see each other's jobs."""
    env = server.env()
    tag = uuid.uuid4().hex[:8]
    iam, batch, sqs = (moto_server.client(env, s) for s in ("iam", "batch", "sqs"))
    role = iam.create_role(RoleName=f"batch-{tag}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ce = batch.create_compute_environment(computeEnvironmentName=f"ce-{tag}", type="UNMANAGED",
                                          serviceRole=role)["computeEnvironmentArn"]
    batch.create_job_queue(jobQueueName=f"video-queue-{tag}", state="ENABLED", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": ce}])
    batch.register_job_definition(
        jobDefinitionName=f"video-jobdef-{tag}", type="container",
        containerProperties={"image": "video", "vcpus": 1, "memory": 128},
        retryStrategy={"attempts": attempts})
    url = sqs.create_queue(QueueName=f"video-jobs-{tag}",
                           Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    return VideoPaths(url, f"video-queue-{tag}", f"video-jobdef-{tag}",
                      f"/test-{tag}/workers/video/dispatch")


def set_dispatch(server: moto_server.MotoServer, paths: VideoPaths, mode: str) -> None:
    moto_server.client(server.env(), "ssm").put_parameter(
        Name=paths.parameter, Type="String", Value=paths.dispatch_value(mode), Overwrite=True)


def job_status(server: moto_server.MotoServer, job_id: str) -> Any:
    return moto_server.client(server.env(), "batch").describe_jobs(jobs=[job_id])["jobs"][0]
