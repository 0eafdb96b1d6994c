"""academy-workers: queues, worker fleets, the backlog publisher, Batch, API proxy.

Thin on purpose: read the settings, build the components, export one structured output
built from the typed contract (components/stack_output.py; docs/CONTRACTS.md shows it).
The worker types are data (`workerTypes` and their traits): no type is named here.
"""

import pulumi

from components.api_proxy import ApiProxy, ApiProxyArgs
from components.fleet import WorkerFleet, WorkerFleetArgs
from components.publisher import BacklogPublisher, BacklogPublisherArgs, PublisherTarget
from components.queues import WorkerQueues, WorkerQueuesArgs
from components.settings import PROJECT, SettingsError, load_settings
from components.stack_output import (
    OUTPUT_NAME,
    SCHEMA_VERSION,
    Counting,
    Metric,
    StackOutput,
    Worker,
    to_plain,
)
from components.video_batch import VideoBatch, VideoBatchArgs

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
    if settings.batch_type and settings.batch
    else None
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
        metric=Metric(**metric),
        published=wt in settings.published_types,
        counting=Counting(in_flight=w.count_in_flight, delayed=w.count_delayed),
        backlog_api=settings.uses_backlog_api(wt),
        fleet=fleets[wt].describe() if wt in fleets else None,
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
)
pulumi.export(OUTPUT_NAME, to_plain(output))
