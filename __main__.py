"""academy-workers: queues, worker fleets, the backlog publisher, Batch, API proxy.

Thin on purpose: read the settings, build the components, export one structured output
built from the typed contract (contract/stack_output.py; docs/CONTRACTS.md shows it).
The worker types are data (`workerTypes` and their traits): no type is named here.
"""

import pulumi

from components.api_proxy import ApiProxy, ApiProxyArgs
from components.dispatch_parameter import DispatchParameter, DispatchParameterArgs
from components.fleet import WorkerFleet, WorkerFleetArgs
from components.publisher import BacklogPublisher, BacklogPublisherArgs, PublisherTarget
from components.queues import WorkerQueues, WorkerQueuesArgs
from components.video_batch import VideoBatch, VideoBatchArgs
from contract.stack_output import (
    OUTPUT_NAME,
    SCHEMA_VERSION,
    Counting,
    Draining,
    Metric,
    StackOutput,
    Worker,
    to_plain,
)
from stack_settings.parse import PROJECT, SettingsError, load_settings

try:
    settings = load_settings()
except SettingsError as exc:
    raise pulumi.RunError(str(exc)) from None  # RunError: the message, no traceback

queues = {
    wt: WorkerQueues(
        f"{wt}-jobs",
        WorkerQueuesArgs(worker=w, max_receive_count=settings.dlq_max_receive_count),
    )
    for wt, w in settings.workers.items()
}

fleets = {
    wt: WorkerFleet(
        f"{wt}-fleet",
        WorkerFleetArgs(
            worker=settings.workers[wt],
            queue_arn=queues[wt].queue.arn,
            queue_url=queues[wt].queue.url,
            subnet_ids=settings.subnet_ids,
            security_group_ids=settings.security_group_ids,
        ),
    )
    for wt in settings.fleet_types
}

batch = (
    VideoBatch(
        f"{settings.batch.worker_type}-batch",
        VideoBatchArgs(
            batch=settings.batch,
            subnet_ids=settings.subnet_ids,
            security_group_ids=settings.security_group_ids,
        ),
    )
    if settings.batch_declared and settings.batch
    else None
)

# Where the API sends new work of the Batch-capable type: the current mode's path, written
# once that path exists (the old one may still drain: videoDrain).
dispatch: DispatchParameter | None = None
if settings.batch:
    bt = settings.batch.worker_type
    new_batch = batch if settings.mode == "batch" else None  # else the fleet takes new work
    dispatch = DispatchParameter(
        f"{bt}-dispatch",
        DispatchParameterArgs(
            parameter_name=settings.batch.dispatch_parameter_name,
            worker_type=bt,
            mode=settings.mode,
            queue_url=None if new_batch else queues[bt].queue.url,
            job_queue=new_batch.job_queue.name if new_batch else None,
            job_definition=new_batch.job_definition.name if new_batch else None,
            tags={"WorkerType": settings.workers[bt].label},
        ),
        opts=pulumi.ResourceOptions(depends_on=[new_batch or fleets[bt]]),
    )

publisher = BacklogPublisher(
    "backlog-publisher",
    BacklogPublisherArgs(
        publisher=settings.publisher,
        targets=tuple(
            PublisherTarget(
                worker_type=wt,
                queue_url=queues[wt].queue.url,
                queue_arn=queues[wt].queue.arn,
                metric=settings.workers[wt].metric,
                count_in_flight=settings.workers[wt].count_in_flight,
                count_delayed=settings.workers[wt].count_delayed,
                use_backlog_api=settings.uses_backlog_api(wt),
            )
            for wt in settings.published_types
        ),
        # Validated with the other settings; a secret Output from here on.
        internal_api_key=pulumi.Output.secret(settings.publisher.internal_api_key.reveal()),
    ),
)

api_proxy = ApiProxy("api-proxy", ApiProxyArgs(api=settings.api, name_prefix=settings.name_prefix))


def worker(wt: str) -> Worker:
    w = settings.workers[wt]
    queue, dlq = queues[wt].describe()
    metric = w.metric.as_dict()
    return Worker(
        label=w.label,
        runs_on=settings.runs_on(wt),  # type: ignore[arg-type]
        backlog_source=w.backlog_source,  # type: ignore[arg-type]
        queue=queue,
        dlq=dlq,
        max_job_s=w.max_job_seconds,
        metric=Metric(**metric, statistic=w.metric.statistic),
        published=wt in settings.published_types,
        counting=Counting(in_flight=w.count_in_flight, delayed=w.count_delayed),
        backlog_api=settings.uses_backlog_api(wt),
        fleet=fleets[wt].describe() if wt in fleets else None,
    )


def draining() -> Draining | None:
    """The old path kept while it drains (videoDrain): the fleet and its retained queue, or
    the Batch job queue and compute environment."""
    wt, from_mode = settings.draining_type, settings.draining_from
    if wt is None or from_mode is None:
        return None
    from_fleet = from_mode == "asg"
    return Draining(
        from_mode=from_mode,  # type: ignore[arg-type]
        worker_type=wt,
        queue_url=queues[wt].queue.url if from_fleet else None,  # type: ignore[arg-type]
        group_name=settings.workers[wt].group_name if from_fleet else None,
        job_queue=None if from_fleet or not settings.batch else settings.batch.job_queue_name,
        compute_environment=(None if from_fleet or not settings.batch
                             else settings.batch.compute_environment_name),
    )


output = StackOutput(
    schema_version=SCHEMA_VERSION,
    project=PROJECT,
    stack=settings.stack,
    mode=settings.mode,  # type: ignore[arg-type]
    region=pulumi.Config("aws").get("region") or "ap-northeast-2",
    worker_types={wt: worker(wt) for wt in settings.worker_types},
    publisher=publisher.describe(),
    batch=batch.describe() if batch else None,
    api=api_proxy.describe(),
    dispatch=dispatch.describe() if dispatch else None,
    draining=draining(),
)
pulumi.export(OUTPUT_NAME, to_plain(output))
