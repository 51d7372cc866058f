"""The embedded AWS: a moto server on loopback with real Step Functions execution and local Lambda.

The function processes call it over loopback HTTP; the sandbox's own clients reach the same server app in
process (sandbox/in_process.py, sandbox/direct.py)."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import urllib.request
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from moto.server import ThreadedMotoServer

from sandbox import in_process, moto_fixes
from sandbox.api_calls import LOG_SHIPPER_ACCESS_KEY, ApiCallLog
from sandbox.direct import DirectLogs
from sandbox.lambda_runtime import DEFAULT_MAX_PROCESSES, FAKE_CREDENTIALS, LocalLambdaRuntime, OutputSink
from sandbox.log_shipper import LogShipper

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

_LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
_active_lock = threading.Lock()
_active: EmbeddedAws | None = None


#: A loopback endpoint has no sync-/data- host names (StartSyncExecution's hostPrefix).
_CLIENT_CONFIG = Config(inject_host_prefix=False, retries={"mode": "standard", "max_attempts": 3})


def emulator_client(
    endpoint_url: str, service: str, config: Config | None = None, access_key: str | None = None
) -> BaseClient:
    """A boto3 client for the emulator, with fake credentials, in us-east-1; ``config`` adds to the defaults.

    ``access_key`` names the caller in the emulator's call log (sandbox/api_calls.py)."""
    return boto3.session.Session(
        aws_access_key_id=access_key or FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        region_name=REGION,
    ).client(
        service, endpoint_url=endpoint_url, config=_CLIENT_CONFIG if config is None else _CLIENT_CONFIG.merge(config)
    )


class EmbeddedAws:
    """``with EmbeddedAws(time_scale=0.01) as aws: aws.client("sqs")...``

    moto keeps its state per process, so one EmbeddedAws runs at a time; leaving it resets moto, stops the
    server and the function processes, removes the fixes, and restores ``MOTO_PORT``. ``time_scale``
    multiplies Step Functions' ``Retry`` waits (tests and ``make run`` only; never the product). With
    ``ship_logs`` the functions' logs go to their log groups in the emulator's CloudWatch Logs.
    """

    def __init__(
        self,
        time_scale: float = 1.0,
        max_processes: int = DEFAULT_MAX_PROCESSES,
        output: OutputSink | None = None,
        ship_logs: bool = True,
    ) -> None:
        self.time_scale = time_scale
        self._ship_logs = ship_logs
        self._max_processes = max_processes
        self._output = output
        self._server: ThreadedMotoServer | None = None
        self._runtime: LocalLambdaRuntime | None = None
        self._fixes: moto_fixes.Patches | None = None
        #: Switchable SNS outages (``sns_faults.fail(topic_arn)``, ``sns_faults.clear()``).
        self.sns_faults = moto_fixes.SnsPublishFaults()
        self._saved_env: dict[str, str | None] = {}
        self._saved_config: dict[str, Any] | None = None
        self._saved_log_level: int | None = None
        self._clients: dict[tuple[str, str | None], BaseClient] = {}
        self._clients_lock = threading.Lock()
        self.port = 0
        #: Every request that reached the emulator while it ran (sandbox/api_calls.py).
        self.api_calls = ApiCallLog(lambda environ, start_response: [])
        #: Every Express execution the engine started (StartSyncExecution's are listed nowhere else).
        self.express_executions: list[Any] = []

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def runtime(self) -> LocalLambdaRuntime:
        if self._runtime is None:
            raise RuntimeError("the embedded AWS is not running")
        return self._runtime

    def client(self, service: str, caller: str | None = None) -> BaseClient:
        """A boto3 client for the emulator, with fake credentials, in us-east-1 (one per service and caller,
        shared: boto3 clients are thread-safe); ``caller`` is the access key it signs with."""
        with self._clients_lock:
            if (service, caller) not in self._clients:
                self._clients[(service, caller)] = self._new_client(service, caller)
            return self._clients[(service, caller)]

    def clients_as(self, caller: str) -> Callable[[str], BaseClient]:
        """A client factory whose clients sign as ``caller`` (the SQS pollers: ``POLLER_ACCESS_KEY``)."""
        return lambda service: self.client(service, caller)

    def _new_client(self, service: str, caller: str | None = None) -> BaseClient:
        return self.new_client(service, access_key=caller)

    def new_client(self, service: str, config: Config | None = None, access_key: str | None = None) -> BaseClient:
        """A new :func:`emulator_client` whose calls reach the emulator in process (sandbox/in_process.py).

        Its exception classes are made now: botocore makes them on first use, unguarded, so threads sharing
        a new client could each get classes of their own and miss each other's errors in ``except``."""
        client = self.in_process(emulator_client(self.endpoint_url, service, config, access_key))
        assert client.exceptions is not None
        return client

    def in_process(self, client: BaseClient) -> BaseClient:
        """``client``'s calls go to the emulator's app in the calling thread while this emulator runs."""
        return in_process.attach(client, self._app)

    def _app(self) -> in_process.WsgiApp | None:
        return self.api_calls if self._server is not None else None

    def running_executions(self, state_machine_arns: Iterable[str]) -> int:
        """How many executions of these state machines are RUNNING, read from moto's backend.

        ``ListExecutions`` answers the same, but the sandbox asks it of every machine twenty times a second
        while it waits for a stack to be idle, and each call through botocore and the emulator's dispatch took
        a fifth of the sandbox's CPU in a 500-member stepfunctions backfill (py-spy, GIL samples)."""
        from moto.stepfunctions.responses import get_backend

        wanted = set(state_machine_arns)
        backend = get_backend(ACCOUNT_ID, REGION)
        return sum(
            execution.status == "RUNNING"
            for machine in list(backend.state_machines)
            if machine.arn in wanted
            for execution in list(machine.executions)
        )

    def start(self) -> EmbeddedAws:
        global _active
        with _active_lock:
            if _active is not None:
                raise RuntimeError("an EmbeddedAws is already running in this process (moto's state is global)")
            _active = self
        try:
            werkzeug = logging.getLogger("werkzeug")  # it logs every request at INFO
            self._saved_log_level = werkzeug.level
            werkzeug.setLevel(logging.WARNING)
            self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._server.start()
            self.port = self._server.get_host_and_port()[1]
            wsgi = self._server._server  # (werkzeug's server: it looks its app up per request)
            assert wsgi is not None
            self.api_calls = ApiCallLog(wsgi.app)
            wsgi.app = self.api_calls
            # The Step Functions engine calls the other services back at localhost:$MOTO_PORT.
            self._set_env("MOTO_PORT", str(self.port))
            self._moto_api("reset")
            self._saved_config = self._moto_api("config")
            # Must be set before any state machine is created.
            self._moto_api("config", {"stepfunctions": {"execute_state_machine": True}})
            logs = functools.partial(
                DirectLogs, self.api_calls, caller=LOG_SHIPPER_ACCESS_KEY, account_id=ACCOUNT_ID, region=REGION
            )
            shipper = LogShipper(logs) if self._ship_logs else None
            self._runtime = LocalLambdaRuntime(
                self.endpoint_url, REGION, self._max_processes, output=self._output, log_shipper=shipper
            )
            self._fixes = moto_fixes.install(
                self._runtime,
                self.time_scale,
                self.sns_faults,
                express_executions=self.express_executions,
                task_clients=self.in_process,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        global _active
        try:
            if self._fixes is not None:
                moto_fixes.uninstall(self._fixes)
                self._fixes = None
            if self._runtime is not None:
                self._runtime.close()
                self._runtime = None
            if self._server is not None:
                self._moto_api("reset")
                if self._saved_config is not None:
                    self._moto_api("config", self._saved_config)
                self._server.stop()
                self._server = None
        finally:
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._saved_env = {}
            self._clients.clear()
            if self._saved_log_level is not None:
                logging.getLogger("werkzeug").setLevel(self._saved_log_level)
                self._saved_log_level = None
            with _active_lock:
                if _active is self:
                    _active = None

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _set_env(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def _moto_api(self, action: str, body: dict[str, Any] | None = None) -> Any:
        """moto's own API (``/moto-api/reset``, ``/moto-api/config``); a body means POST."""
        data = None if body is None and action == "config" else json.dumps(body or {}).encode()
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/{action}", data=data, headers={"Content-Type": "application/json"}
        )
        with _LOOPBACK.open(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None
