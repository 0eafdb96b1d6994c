"""`up`, `down` and `status` of the sandbox: every part real, all on loopback.

up: moto (AWS, with a local Lambda runtime) -> sshd (the API host) -> the real program
deployed into moto -> the internal API (SQLite, key from SSM) -> nginx -> the nginx config
delivered over SSH by the deployed SSM document's own script -> seed data -> the schedule.
Every process is recorded by PID as it starts, so `down` stops them even after a crash.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contract.stack_output import VIDEO_MODES
from sandbox.console import say
from sandbox.deployer import convergence, deployment
from sandbox.deployer.moto_mocks import MotoMocks
from sandbox.dispatch import parameter_name as dispatch_parameter_name
from sandbox.ports import free_port, wait_for_port
from sandbox.processes import ProcessRegistry, up_lock
from sandbox.scenarios import adoption
from sandbox.scenarios.seed import seed_queues, seed_videos
from sandbox.services import moto_server, nginx_server, sshd_server
from sandbox.services.internal_api import VideoStore
from sandbox.state import PROJECT_ROOT, SandboxState, sandbox_state
from verify.outputs import parse_env_file
from verify.probes.backlog_api import ApiAnswer, ask_on_host, ask_public
from verify.secrets import Masker

MODES = VIDEO_MODES
SCHEDULE_EVERY_S = 5.0
VIDEO_JOB_S = 3.0  # each video job of the sandbox's worker


class SandboxError(RuntimeError):
    """A part of the sandbox did not come up or is not running; the message says which."""


@dataclass(frozen=True)
class UpOptions:
    mode: str = "batch"
    hosts: int = 1
    schedule_every_s: float = SCHEDULE_EVERY_S
    settings: Mapping[str, Any] = field(default_factory=dict)  # `up --set KEY=VALUE`
    legacy: bool = False  # `up --legacy`: the PowerShell-era account, no stack deployed yet



def aws_env(state: SandboxState) -> dict[str, str]:
    """The sandbox's AWS settings (endpoint, region, dummy credentials) from `.sandbox/env`."""

    if not state.env_file.exists():
        raise SandboxError("the sandbox is not up (no .sandbox/env); run `python -m sandbox up`")
    return {k: v for k, v in parse_env_file(state.env_file).items() if k.startswith("AWS_")}


def aws_client(state: SandboxState, service: str) -> Any:
    return moto_server.client(aws_env(state), service)


def load_outputs(state: SandboxState) -> dict[str, Any]:
    if not state.outputs_file.exists():
        raise SandboxError(f"the sandbox is not up (no {state.outputs_file})")
    return json.loads(state.outputs_file.read_text())


def load_info(state: SandboxState) -> dict[str, Any]:
    path = state.root / "sandbox.json"
    if not path.exists():
        raise SandboxError("the sandbox is not up (no .sandbox/sandbox.json)")
    return json.loads(path.read_text())


def ssh_endpoint(info: Mapping[str, Any]) -> sshd_server.SshEndpoint:
    s = info["ssh"]
    return sshd_server.SshEndpoint(
        s["host"], s["port"], s["user"], Path(s["key_path"]), Path(s["known_hosts_path"])
    )


def up(options: UpOptions, state_dir: Path | None = None) -> dict[str, Any]:
    """Brings the whole sandbox up; on any failure stops what it started and re-raises."""
    if options.mode not in MODES:
        raise SandboxError(f"--mode {options.mode!r}: expected one of {', '.join(MODES)}")
    if not 1 <= options.hosts <= 100:
        raise SandboxError(f"--hosts {options.hosts}: expected 1 to 100")
    state = sandbox_state(state_dir).ensure()
    registry = ProcessRegistry(state.pids_file)
    with up_lock(state.lock_file):
        registry.ensure_not_running()
        for stale in (state.outputs_file, state.stack_env_file, state.stack_state_file,
                      state.root / "sandbox.json",
                      state.root / "faults.json", state.db_path, state.root / "schedule.json",
                      state.stack_dir / adoption.CONFIG_FILE,
                      state.stack_dir / adoption.IMPORT_FILE,
                      state.root / convergence.STATE_FILE):
            stale.unlink(missing_ok=True)
        try:
            return _bring_up(options, state, registry)
        except BaseException:
            registry.stop_all()
            raise


def _bring_up(options: UpOptions, state: SandboxState, registry: ProcessRegistry) -> dict:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def step(name: str, action: Callable[[], Any]) -> Any:
        t0 = time.monotonic()
        say(f"sandbox: {name} ...")
        result = action()
        timings[name] = round(time.monotonic() - t0, 2)
        return result

    moto = step("AWS emulator (moto)", lambda: moto_server.start(
        state.log_path("moto"), registry=registry, module="sandbox.services.aws_emulator"))
    moto.write_env_file(state.env_file)
    env = moto.env()
    hosts = step("API hosts (one sshd per loopback address)", lambda: sshd_server.start_hosts(
        state.sshd_dir, options.hosts, registry=registry))
    ssh = hosts[0].endpoint
    with state.env_file.open("a") as handle:  # how verify reaches the API host
        handle.write(f"export VERIFY_SSH_KEY={ssh.key_path}\n"
                     f"export VERIFY_KNOWN_HOSTS={ssh.known_hosts_path}\n")
    shutil.copyfile(state.env_file, state.stack_env_file)  # the saved stack's env, for verify
    addresses = deployment.SandboxAddresses(free_port(), free_port(), ssh,
                                           tuple(host.endpoint for host in hosts))
    nginx_files = nginx_server.NginxFiles.under(state.nginx_dir)

    key = secrets.token_urlsafe(32)  # lives only in the SSM parameter the program creates
    mocks = MotoMocks(env)
    config = deployment.sandbox_config(options.mode, addresses, nginx_files, mocks, key,
                                       options.settings)
    store = VideoStore(state.db_path)
    backlog = seed_videos(store)
    if options.legacy:
        made = step("the PowerShell-era account (no stack deployed)",
                    lambda: adoption.make_legacy_account(mocks, config, key))
        adoption.save_config(state.stack_dir, config)  # what `verify adopt --stack sandbox` reads
        key_parameter = adoption.key_parameter_name(config)
        deployed: dict[str, Any] = {"legacy": made}
    else:
        outputs = step("deploy the program into moto", lambda: deployment.deploy(mocks, config))
        done = convergence.deployment_of(mocks, config)
        done.outputs = outputs
        done.save(state.root)  # the stack's state, its outputs with it; then verify's copy:
        deployment.write_json(state.outputs_file, outputs)  # saved as the stack `sandbox`
        key_parameter = outputs["academy"]["publisher"]["key_parameter"]
        deployed = mocks.summary()
    dispatch = _dispatch_parameter(state, config) or ""  # "": no type runs on Batch
    step("internal API (SQLite)", lambda: _start_internal_api(
        state, registry, env, addresses.api_port, key_parameter, dispatch))
    step("proxy (nginx)", lambda: _start_nginx(state, registry, nginx_files, addresses))
    # Before the stack exists the same document script runs, rendered from the settings.
    script = (adoption.rendered_delivery_script(config) if options.legacy
              else deployment.delivery_script(env, outputs))
    delivered = step("deliver the nginx config over SSH",
                     lambda: deployment.run_delivery(script, ssh))
    if delivered.rc != 0:
        raise SandboxError(f"the delivery script failed on the API host (exit {delivered.rc}): "
                           f"{delivered.stderr.strip() or delivered.stdout.strip()}")
    if options.legacy:
        queues = adoption.seed_legacy_queues(aws_client(state, "sqs"), config, store)
    else:
        queues = seed_queues(aws_client(state, "sqs"), outputs)
        start_schedule(state, registry, env, outputs, options.schedule_every_s, step)
    step("video worker", lambda: _start_video_worker(
        state, registry, env, addresses.api_port, key_parameter, dispatch))

    info = {
        "mode": options.mode,
        "legacy": options.legacy,
        "schedule_every_s": options.schedule_every_s,
        "hosts": options.hosts,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "aws_endpoint": moto.endpoint_url,
        "public_base_url": addresses.public_base_url,
        "local_base_url": addresses.local_base_url,
        "ssh": {"host": ssh.host, "port": ssh.port, "user": ssh.user,
                "key_path": str(ssh.key_path), "known_hosts_path": str(ssh.known_hosts_path),
                "addresses": [host.address for host in hosts]},
        "nginx": {"root": str(nginx_files.root), "site": str(nginx_files.site),
                  "reload_command": nginx_files.reload_command},
        "deployment": deployed,
        "seed": {"video_backlog": backlog, "videos": store.counts(), "queues": queues},
        "delivery": delivered.stdout.strip().splitlines()[-1:] if delivered.stdout else [],
        "timings_s": {**timings, "total": round(time.monotonic() - started, 2)},
    }
    deployment.write_json(state.root / "sandbox.json", info)
    return info


def start_schedule(state: SandboxState, registry: ProcessRegistry, env: Mapping[str, str],
                   outputs: Mapping[str, Any], every_s: float,
                   step: Callable[[str, Callable[[], Any]], Any]) -> None:
    """The publisher every few seconds (moto's EventBridge never fires), then its first run."""
    function = outputs["academy"]["publisher"]["function_name"]
    step("schedule (the publisher every few seconds)", lambda: registry.spawn(
        "schedule",
        [sys.executable, "-m", "sandbox.services.scheduler", "--function", function,
         "--every", str(every_s), "--state", str(state.root / "schedule.json")],
        state.log_path("schedule"), env={**_base_env(), **env}, cwd=PROJECT_ROOT))
    step("first datapoints", lambda: _wait_for_schedule(state))


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def _start_internal_api(state: SandboxState, registry: ProcessRegistry, env: Mapping[str, str],
                        port: int, key_parameter: str, dispatch_parameter: str) -> None:
    """The API; uploads are dispatched by the dispatch parameter."""
    _, child = registry.spawn(
        "internal-api",
        [sys.executable, "-m", "sandbox.services.internal_api", "--db", str(state.db_path),
         "--port", str(port), "--key-parameter", key_parameter, "--refresh-s", "2",
         "--dispatch-parameter", dispatch_parameter],
        state.log_path("internal-api"), env={**_base_env(), **env}, cwd=PROJECT_ROOT)
    if not wait_for_port(port, 15) or child.poll() is not None:
        log = state.log_path("internal-api")
        raise SandboxError(f"the internal API did not come up; see {log}")


def _dispatch_parameter(state: SandboxState, config: Mapping[str, str]) -> str | None:
    """The stack output's `dispatch.parameter`; before a stack exists (`up --legacy`), the
    name the program will give it (from the settings)."""
    if state.outputs_file.exists():
        return dispatch_parameter_name(load_outputs(state))
    return adoption.dispatch_parameter_name(config)


def _start_video_worker(state: SandboxState, registry: ProcessRegistry, env: Mapping[str, str],
                        api_port: int, key_parameter: str, dispatch_parameter: str) -> None:
    """Jobs on whichever video path is live (services/video_worker.py), every few seconds each.
    Started after the seeding, whose messages it would otherwise take while they are sent."""
    _, child = registry.spawn(
        "video-worker",
        [sys.executable, "-m", "sandbox.services.video_worker",
         "--api-base-url", f"http://127.0.0.1:{api_port}", "--key-parameter", key_parameter,
         "--dispatch-parameter", dispatch_parameter,
         "--outputs", str(state.outputs_file), "--job-seconds", str(VIDEO_JOB_S)],
        state.log_path("video-worker"), env={**_base_env(), **env}, cwd=PROJECT_ROOT)
    time.sleep(0.3)
    if child.poll() is not None:
        raise SandboxError(f"the video worker exited at start; see "
                           f"{state.log_path('video-worker')}")


def _start_nginx(state: SandboxState, registry: ProcessRegistry,
                 files: nginx_server.NginxFiles, addresses: deployment.SandboxAddresses) -> None:
    upstream = f"127.0.0.1:{addresses.api_port}"
    files.prepare(addresses.nginx_port, upstream)
    # A fresh host's placeholder: the real site file arrives through the delivery.
    files.site.write_text(f"server {{\n    listen 127.0.0.1:{addresses.nginx_port};\n"
                          "    return 503;\n}\n")
    nginx_server.NginxServer.start(
        files.conf, addresses.nginx_port, files.error_log, registry=registry)


def _wait_for_schedule(state: SandboxState, timeout_s: float = 30.0) -> None:
    path = state.root / "schedule.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return
        time.sleep(0.1)
    raise SandboxError(f"the schedule did not invoke the publisher within {timeout_s:.0f}s; "
                       f"see {state.log_path('schedule')}")


def is_running(state_dir: Path | None = None) -> bool:
    """Processes of this sandbox are running (`up` then converges instead of starting)."""
    state = sandbox_state(state_dir)
    return state.pids_file.exists() and bool(ProcessRegistry(state.pids_file).live())


def restart_readers(state: SandboxState, before: Mapping[str, Any],
                    after: Mapping[str, Any]) -> list[str]:
    """After an up on a running sandbox, the processes that read a name from the stack's outputs
    at start are restarted when it changed (a rename: the key and dispatch parameters, the
    publisher's function), as a deploy restarts what reads them."""
    registry, info = ProcessRegistry(state.pids_file), load_info(state)
    env = moto_server.client_env(aws_env(state)["AWS_ENDPOINT_URL"])

    def names(outputs: Mapping[str, Any]) -> tuple[str, str, str]:
        publisher = outputs["academy"]["publisher"]
        return (publisher["key_parameter"], dispatch_parameter_name(outputs) or "",
                publisher["function_name"])

    (old_key, old_dispatch, old_fn), (key, dispatch, fn) = names(before), names(after)
    restarted = []
    if (old_key, old_dispatch) != (key, dispatch):
        port = int(str(info["local_base_url"]).rsplit(":", 1)[-1])
        registry.stop("video-worker")
        registry.stop("internal-api")
        _start_internal_api(state, registry, env, port, key, dispatch)
        _start_video_worker(state, registry, env, port, key, dispatch)
        restarted += ["internal-api", "video-worker"]
    if old_fn != fn:
        registry.stop("schedule")
        (state.root / "schedule.json").unlink(missing_ok=True)
        start_schedule(state, registry, env, after, float(info.get("schedule_every_s") or
                                                          SCHEDULE_EVERY_S), lambda _, a: a())
        restarted.append("schedule")
    return restarted


def down(state_dir: Path | None = None) -> dict[str, list[str]]:
    """Stops every process the sandbox started, by PID; removes nothing the user made."""
    state = sandbox_state(state_dir)
    if not state.pids_file.exists():
        return {"stopped": [], "already_gone": [], "not_ours": []}
    report = ProcessRegistry(state.pids_file).stop_all()
    for name in ("sandbox.json", "faults.json", "schedule.json"):
        (state.root / name).unlink(missing_ok=True)
    # the saved stack goes too: `verify --stack sandbox` then says it is not there
    for saved in (state.outputs_file, state.stack_env_file, state.stack_state_file):
        saved.unlink(missing_ok=True)
    return {"stopped": report.stopped, "already_gone": report.already_gone,
            "not_ours": report.not_ours}


# ---- status --------------------------------------------------------------------------------


def internal_key(state: SandboxState, outputs: Mapping[str, Any]) -> str:
    ssm = aws_client(state, "ssm")
    name = outputs["academy"]["publisher"]["key_parameter"]
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def shown_answer(answer: ApiAnswer, key: str | None) -> tuple[int, str]:
    """(status or 0, body or error) with the key masked: an API may echo it, and the status
    printout clips what it shows (masking after the clip would miss a cut key)."""
    masker = Masker()
    masker.add(key)
    return answer.status or 0, masker.mask(answer.body.strip() if answer.status else answer.error)


def public_answer(base_url: str, key: str | None) -> tuple[int, str]:
    """The API through nginx, as a client sees it (verify's own probe); 0 when unreachable."""
    return shown_answer(ask_public(base_url, key, timeout_s=5), key)


def local_answer(info: Mapping[str, Any], base_url: str, key: str) -> tuple[int, str]:
    """The API as the host sees it, through SSH (verify's own probe; the key on stdin)."""
    transport = deployment.ssh_transport(ssh_endpoint(info))
    try:
        answer = ask_on_host(transport, base_url, key, timeout_s=10)
    finally:
        transport.close()
    return shown_answer(answer, key)


def latest_datapoints(state: SandboxState, outputs: Mapping[str, Any]) -> dict[str, Any]:
    cloudwatch = aws_client(state, "cloudwatch")
    now = datetime.now(UTC)
    found: dict[str, Any] = {}
    queries = []
    published = {wt: spec for wt, spec in outputs["academy"]["worker_types"].items()
                 if spec["published"]}
    for n, (wt, spec) in enumerate(published.items()):
        metric = spec["metric"]
        queries.append({"Id": f"m{n}", "Label": wt, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": metric["namespace"], "MetricName": metric["name"],
                       "Dimensions": [{"Name": k, "Value": v}
                                      for k, v in metric["dimensions"].items()]},
            "Period": 60, "Stat": "Average"}})
    if not queries:
        return found
    answer = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=now - timedelta(
        minutes=10), EndTime=now + timedelta(minutes=1), ScanBy="TimestampDescending")
    for result in answer["MetricDataResults"]:
        values = list(zip(result["Timestamps"], result["Values"], strict=False))
        found[result["Label"]] = (
            {"value": values[0][1], "at": values[0][0].isoformat(timespec="seconds")}
            if values else None
        )
    return found


def status(state_dir: Path | None = None) -> dict[str, Any]:
    state = sandbox_state(state_dir)
    registry = ProcessRegistry(state.pids_file)
    records = registry.load() if state.pids_file.exists() else {}
    live = {r.name for r in registry.live()} if records else set()
    result: dict[str, Any] = {
        "processes": {name: {"pid": r.pid, "running": name in live, "log": r.log_path}
                      for name, r in records.items()},
    }
    if not records or not live:
        result["running"] = False
        return result
    info = load_info(state)
    if info.get("legacy"):
        return _legacy_status(state, info, result, len(live) == len(records))
    outputs = load_outputs(state)
    key = internal_key(state, outputs)
    schedule_path = state.root / "schedule.json"
    result.update({
        "running": len(live) == len(records),
        "mode": info["mode"],
        "aws_endpoint": info["aws_endpoint"],
        "api_host_ssh": f"{info['ssh']['user']}@{info['ssh']['host']}:{info['ssh']['port']}",
        "public_base_url": info["public_base_url"],
        "local_base_url": info["local_base_url"],
        "resources": info["deployment"],
        "faults": sorted(json.loads((state.root / "faults.json").read_text()))
        if (state.root / "faults.json").exists() else [],
        "latest_datapoints": latest_datapoints(state, outputs),
        "last_invocation": json.loads(schedule_path.read_text())
        if schedule_path.exists() else None,
        "internal_api": {
            "LOCAL": local_answer(info, info["local_base_url"], key),
            "PUBLIC": public_answer(info["public_base_url"], key),
        },
    })
    masker = Masker()
    masker.add(key)
    return masked(result, masker)  # the publisher's last answer may quote the API's body too


def _legacy_status(state: SandboxState, info: Mapping[str, Any], result: dict[str, Any],
                   running: bool) -> dict[str, Any]:
    """An old account and no stack: what it holds, and the API answering with the key the
    sandbox put where the stack will look for it."""
    ssm = aws_client(state, "ssm")
    config = json.loads((state.stack_dir / adoption.CONFIG_FILE).read_text())
    key = ssm.get_parameter(Name=adoption.key_parameter_name(config),
                            WithDecryption=True)["Parameter"]["Value"]
    result.update({
        "running": running, "legacy": True, "stack_deployed": False, "mode": info["mode"],
        "aws_endpoint": info["aws_endpoint"], "public_base_url": info["public_base_url"],
        "local_base_url": info["local_base_url"], "resources": info["deployment"],
        "internal_api": {
            "LOCAL": local_answer(info, info["local_base_url"], key),
            "PUBLIC": public_answer(info["public_base_url"], key),
        },
    })
    masker = Masker()
    masker.add(key)
    return masked(result, masker)


def masked(value: Any, masker: Masker) -> Any:
    """Every string inside `value` with the key masked, before anything prints (and clips) it."""
    if isinstance(value, str):
        return masker.mask(value)
    if isinstance(value, dict):
        return {k: masked(v, masker) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(masked(v, masker) for v in value)
    return value
