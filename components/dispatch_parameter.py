"""The dispatch parameter: an SSM String parameter telling the API where new work of the
Batch-capable worker type goes in this mode (the value's shape: contract/dispatch.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from contract.dispatch import DispatchValue
from contract.stack_output import Dispatch


@dataclass(frozen=True)
class DispatchParameterArgs:
    parameter_name: str
    worker_type: str
    mode: str  # "asg": queue_url; "batch": job_queue and job_definition
    # Outputs of the resources they name, so the parameter changes only once they exist.
    queue_url: pulumi.Input[str] | None = None
    job_queue: pulumi.Input[str] | None = None
    job_definition: pulumi.Input[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)  # e.g. WorkerType: the label


def _value(mode: str, worker_type: str, refs: list[str | None]) -> str:
    queue_url, job_queue, job_definition = refs
    return DispatchValue(mode=mode, worker_type=worker_type,  # type: ignore[arg-type]
                         queue_url=queue_url, job_queue=job_queue,
                         job_definition=job_definition).to_json()


class DispatchParameter(pulumi.ComponentResource):
    parameter: aws.ssm.Parameter

    def __init__(
        self, name: str, args: DispatchParameterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("academy:dispatch_parameter:DispatchParameter", name, None, opts)
        self._args = args
        DispatchValue(  # a wrong combination fails here, at preview, not in the apply
            mode=args.mode, worker_type=args.worker_type,  # type: ignore[arg-type]
            queue_url="?" if args.queue_url is not None else None,
            job_queue="?" if args.job_queue is not None else None,
            job_definition="?" if args.job_definition is not None else None,
        )
        value = pulumi.Output.all(args.queue_url, args.job_queue, args.job_definition).apply(
            lambda refs: _value(args.mode, args.worker_type, refs)
        )
        self.parameter = aws.ssm.Parameter(
            f"{name}-parameter",
            aws.ssm.ParameterArgs(
                name=args.parameter_name,
                type="String",
                # Not a secret: `value` is always masked, and a preview should show the switch.
                insecure_value=value,
                description=(f"Where the API sends new {args.worker_type} jobs "
                             f"(academy-workers; JSON, contract/dispatch.py)"),
                tags=dict(args.tags),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"parameter_name": self.parameter.name, "value": value})

    def describe(self) -> Dispatch:
        """The dispatch part of the stack output (the queue URL is an Output until deploy)."""
        a = self._args
        return Dispatch(
            parameter=a.parameter_name,
            worker_type=a.worker_type,
            mode=a.mode,  # type: ignore[arg-type]
            queue_url=a.queue_url,  # type: ignore[arg-type]
            job_queue=a.job_queue,  # type: ignore[arg-type]
            job_definition=a.job_definition,  # type: ignore[arg-type]
        )
