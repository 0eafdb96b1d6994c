"""What every check receives: the outputs, AWS clients, host transports, the key, options."""

import functools
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.stack_output import StackOutput
from verify.errors import VerifyError
from verify.outputs import PROJECT_ROOT
from verify.preflight import AWS_ENDPOINT, Dependencies
from verify.report import CheckResult
from verify.secrets import MIN_SECRET_CHARS, Masker
from verify.transports import HostTransports, TransportOptions

CALL_TIMEOUT_S = 10.0
CANARY_TIMEOUT_S = 900.0
CANARY_MARGIN_S = 30.0  # the run outlasts the canary by this: submit, cleanup, report
DEFAULT_KEY_ENV = "ACADEMY_INTERNAL_KEY"


@dataclass(frozen=True)
class RunOptions:
    invoke: bool = True
    canary: bool = False
    canary_timeout_s: float = CANARY_TIMEOUT_S  # a CE at 0 vCPUs takes minutes on AWS
    timeout_s: float = 60.0
    call_timeout_s: float = CALL_TIMEOUT_S
    parallel: int = 8
    internal_key_env: str = DEFAULT_KEY_ENV
    project_root: Path = PROJECT_ROOT
    transport: TransportOptions = field(default_factory=TransportOptions)


@functools.cache
def _model_loader() -> Any:
    """botocore's loader of service models, one per process: each session would otherwise parse
    the JSON models again (tens of milliseconds a service) when a process runs verify more than
    once (the sandbox, the tests)."""
    import botocore.loaders

    return botocore.loaders.create_loader()


class AwsClients:
    """boto3 clients from the standard configuration; `env` (e.g. the sandbox's env file)
    overrides endpoint, region and credentials without touching os.environ."""

    def __init__(self, region: str | None, env: dict[str, str] | None = None,
                 call_timeout_s: float = CALL_TIMEOUT_S,
                 reach: Dependencies | None = None) -> None:
        self._reach = reach  # when given, each endpoint is probed before its first client
        self.deadline = math.inf  # the run's; bounds each new client's timeouts and retries
        self._env = dict(env or {})
        self._region = self._env.get("AWS_REGION") or self._env.get("AWS_DEFAULT_REGION") or region
        self._timeout = call_timeout_s
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}
        self._session: Any = None

    @property
    def endpoint_url(self) -> str | None:
        return self._env.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")

    @property
    def emulated(self) -> bool:
        """True when talking to a local emulator rather than AWS (it does not scale, etc.)."""
        url = self.endpoint_url or ""
        return "127.0.0.1" in url or "localhost" in url

    def _new_session(self, boto3: Any) -> Any:
        import botocore.session

        vars_ = None
        unset = "AWS_PROFILE" in self._env and not self._env["AWS_PROFILE"]
        if unset or os.environ.get("AWS_PROFILE") == "":
            # An unset or empty AWS_PROFILE means no profile (boto3 would look for one named "").
            vars_ = {"profile": (None, None, None, None)}
        core = botocore.session.Session(session_vars=vars_)
        core.register_component("data_loader", _model_loader())
        return boto3.session.Session(
            aws_access_key_id=self._env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=self._env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=self._env.get("AWS_SESSION_TOKEN") or None,
            region_name=self._region,
            profile_name=self._env.get("AWS_PROFILE") or None,
            botocore_session=core,
        )

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = self._new_session(boto3)
                read = max(0.1, min(self._timeout, self.deadline - time.monotonic()))
                connect = min(read, 5.0)
                # a second attempt only when both fit before the deadline
                attempts = 2 if time.monotonic() + 2 * (connect + read) <= self.deadline else 1
                config = Config(
                    connect_timeout=connect,
                    read_timeout=read,
                    retries={"total_max_attempts": attempts, "mode": "standard"},
                )
                self._clients[service] = self._session.client(
                    service, endpoint_url=self._env.get("AWS_ENDPOINT_URL") or None, config=config
                )
            client = self._clients[service]
        if self._reach is not None:
            self._reach.require(AWS_ENDPOINT, client.meta.endpoint_url)
        return client


class KeyProvider:
    """The X-Internal-Key: from the environment variable when set (runners without SSM read
    access), else from the SSM SecureString named in the outputs. Registered with the masker
    the moment it is read."""

    def __init__(self, parameter: str, env_name: str, aws: AwsClients, masker: Masker,
                 env: dict[str, str] | None = None) -> None:
        self.parameter = parameter
        self.env_name = env_name
        self._aws = aws
        self._masker = masker
        self._env = env or {}
        self._lock = threading.Lock()
        self._value: str | None = None
        self.source = ""

    def get(self) -> str:
        """The key; an UnusableKey when it cannot be sent or masked (nothing is sent then)."""
        with self._lock:
            if self._value is None:
                self._value, self.source = self._read()
                self._masker.add(self._value)  # before any message could quote it
            value, source = self._value, self.source
        problem = key_problem(value)
        if problem is not None:
            fix = ("fix the parameter" if source.startswith("SSM ")
                   else f"fix ${self.env_name}")
            raise UnusableKey(
                f"the key from {source} {problem}: {fix}",
                f"store the key alone, without a trailing newline: aws ssm put-parameter "
                f"--name {self.parameter} --type SecureString --overwrite --value <key> (and "
                "the same value in the API's configuration)",
            )
        return value

    def _read(self) -> tuple[str, str]:
        from_env = self._env.get(self.env_name) or os.environ.get(self.env_name)
        if from_env:
            return from_env, f"${self.env_name}"
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._aws.client("ssm").get_parameter(Name=self.parameter, WithDecryption=True)
        except (ClientError, BotoCoreError) as exc:
            raise VerifyError(
                f"cannot read the internal key from SSM parameter {self.parameter}: {exc}",
                f"grant ssm:GetParameter (and kms:Decrypt) on it, or set ${self.env_name} on "
                "runners without SSM read access",
            ) from None
        return answer["Parameter"]["Value"], f"SSM {self.parameter}"


class UnusableKey(VerifyError):
    """The key read cannot travel in a header, or is too short to be masked."""


def key_problem(key: str) -> str | None:
    """Why `key` cannot be the X-Internal-Key; None when it can. HTTP libraries refuse a header
    value with surrounding whitespace or a control character (and quote the whole value in
    their error); a key shorter than the masker's minimum would be printed."""
    if len(key) < MIN_SECRET_CHARS:
        return (f"is shorter than {MIN_SECRET_CHARS} characters: verify could not mask it in "
                "what it prints, so it does not use it; set a long random key")
    if key != key.strip() or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key):
        return ("is not usable as a header value (it has leading/trailing whitespace or a "
                "control character)")
    return None


@dataclass
class CheckContext:
    outputs: StackOutput
    options: RunOptions
    aws: AwsClients
    hosts: HostTransports
    key: KeyProvider
    masker: Masker
    deadline: float = float("inf")
    reach: Dependencies = field(default_factory=Dependencies)
    _shared: dict[str, Any] = field(default_factory=dict)
    _shared_lock: threading.Lock = field(default_factory=threading.Lock)
    _once_locks: dict[str, threading.Lock] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return self.outputs.mode

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def call_timeout(self) -> float:
        """A single network call's timeout, never past the run's deadline."""
        return max(0.1, min(self.options.call_timeout_s, self.remaining()))

    def once(self, name: str, compute: Callable[[], Any]) -> Any:
        """Compute a shared value once per run (the publisher invocation, the public auth probe);
        the exception, if any, is shared too."""
        with self._shared_lock:
            lock = self._once_locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._shared:
                try:
                    self._shared[name] = (True, compute())
                except Exception as exc:  # noqa: BLE001 (re-raised to every caller)
                    self._shared[name] = (False, exc)
            ok, value = self._shared[name]
        if not ok:
            raise value
        return value


@dataclass(frozen=True)
class Task:
    """One unit of work for the runner: a check against one target."""

    check_id: str
    target: str
    run: Callable[[], list[CheckResult] | CheckResult]
