"""A local Lambda service: every function runs in its own processes, through awslambdaric.

Each execution environment is one ``python -m awslambdaric <handler>`` process (the real Lambda runtime
interface client) with the function's code as its task root and its own Runtime API server on loopback
(``/2018-06-01/runtime/invocation/next``, ``/response``, ``/error``, ``/init/error``). Functions never share a
process: in one process two functions' modules and environment variables leak into each other.

Idle environments are reused (warm starts); concurrent invocations of a function get more environments,
up to ``max_processes`` each, and wait beyond that. The function timeout is enforced by killing the
process, and errors come back as Lambda returns them (``FunctionError: Unhandled`` with the runtime's
``errorType``/``errorMessage``/``stackTrace``), so Step Functions ``Retry``/``Catch`` match them by name.
The function's packages come from this interpreter's environment (pinned like the Lambda layer).
"""

from __future__ import annotations

import collections
import datetime
import fcntl
import io
import json
import os
import queue
import secrets
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sandbox import lambda_platform_logs as platform
from sandbox.api_calls import function_access_key
from sandbox.github_clock import FUNCTION_SITE, GitHubClock
from sandbox.log_shipper import LogShipper

RUNTIME_API_PREFIX = "/2018-06-01/runtime"
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's limit for the init phase of an on-demand environment
DEFAULT_MAX_PROCESSES = 4
OUTPUT_LINES_KEPT = 5000  # per function
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

OutputSink = Callable[[str, str], None]
#: Wraps an environment's command for its memory size and returns the release to call once the process
#: has exited: how the power-tuning sweep gives a process Lambda's CPU share (sandbox/cpu_share.py).
ProcessWrapper = Callable[[int, Sequence[str]], tuple[list[str], Callable[[], None]]]


@dataclass(frozen=True)
class FunctionConfig:
    """What an execution environment is built from; a change (new code, new variables) means new ones."""

    name: str
    arn: str
    handler: str
    code_zip: bytes = field(repr=False)
    code_sha256: str
    timeout: int
    memory_size: int
    version: str = "$LATEST"
    environment: Mapping[str, str] = field(default_factory=dict)
    #: The function's LoggingConfig: ``Text`` or ``JSON``, its group (default ``/aws/lambda/<name>``), levels.
    log_format: str = "Text"
    log_group: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None

    @property
    def log_group_name(self) -> str:
        return self.log_group or f"/aws/lambda/{self.name}"


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes
    function_error: str | None = None  # "Unhandled", as in the Invoke API's X-Amz-Function-Error

    @property
    def error_type(self) -> str | None:
        if self.function_error is None:
            return None
        try:
            return str(json.loads(self.payload).get("errorType"))
        except (ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class InvokeRecord:
    """One invocation, for ``make bench`` and the cost meter: ``duration`` runs from handing over the event
    to the result; ``started_at`` is when (epoch seconds), ``memory_mb`` the configured memory;
    ``init_duration`` the part of a cold invoke's duration before the runtime took the event (process
    start, awslambdaric, the handler's import: Lambda's Init Duration), 0 for a warm one."""

    function: str
    request_id: str
    cold: bool
    duration: float
    error_type: str | None
    started_at: float = 0.0
    memory_mb: int = 0
    init_duration: float = 0.0


@dataclass(frozen=True)
class _PickedUp:
    """The runtime took the invocation from ``/next``; the function timeout runs from here."""

    at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class _Exited:
    returncode: int


@dataclass(frozen=True)
class _Invocation:
    request_id: str
    payload: bytes


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


class _RuntimeApi(BaseHTTPRequestHandler):
    """One environment's Runtime API, as awslambdaric (its C client) calls it."""

    server: _RuntimeApiServer
    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue for the client's larger posts
    disable_nagle_algorithm = True  # TCP_NODELAY: without it each warm invoke waited ~88 ms on delayed ACKs

    def do_GET(self) -> None:
        if self.path != f"{RUNTIME_API_PREFIX}/invocation/next":
            return self._reply(HTTPStatus.NOT_FOUND, b'{"errorType":"NotFound"}')
        invocation = self.server.environment.next_invocation()
        if invocation is None:  # shutting down
            return self._reply(HTTPStatus.GONE, b'{"errorType":"Shutdown"}')
        self._reply(HTTPStatus.OK, invocation.payload, self.server.environment.invocation_headers(invocation))

    def do_POST(self) -> None:
        body = self._body()
        environment = self.server.environment
        parts = self.path[len(RUNTIME_API_PREFIX) :].strip("/").split("/")
        if parts == ["init", "error"]:
            environment.report(InvokeResult(body, "Unhandled"), request_id=None)
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            error = "Unhandled" if parts[2] == "error" else None
            if not environment.report(InvokeResult(body, error), request_id=parts[1]):
                return self._reply(HTTPStatus.BAD_REQUEST, _error_payload("InvalidRequestID", parts[1]))
        else:
            return self._reply(HTTPStatus.NOT_FOUND, b'{"errorType":"NotFound"}')
        self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: HTTPStatus, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


class _RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime killed (timeout, shutdown) mid-request drops its connection: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __init__(self, environment: _Environment) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeApi)
        self.environment = environment


class _Environment:
    """One execution environment: an awslambdaric process and its Runtime API; with a ``shipper``, every
    line it writes and the platform's own lines go to its log stream in CloudWatch Logs."""

    def __init__(
        self,
        config: FunctionConfig,
        code_dir: Path,
        base_env: Mapping[str, str],
        python: str,
        sink: OutputSink,
        shipper: LogShipper | None = None,
        wrapper: ProcessWrapper | None = None,
        site_dirs: Sequence[Path] = (),
    ) -> None:
        self.config = config
        self._site_dirs = tuple(site_dirs)
        self.log_stream = f"{datetime.datetime.now(datetime.UTC):%Y/%m/%d}/[{config.version}]{uuid.uuid4().hex}"
        self._shipper = shipper
        self.spawned = time.perf_counter()
        self.picked_up = 0.0  # perf_counter() when the runtime took the current invocation
        self.initialized: float | None = None  # ... and its first one: init ends there
        self._invocations: queue.Queue[_Invocation | None] = queue.Queue()
        self._events: queue.Queue[_PickedUp | InvokeResult | _Exited] = queue.Queue()
        self._current: _Invocation | None = None
        self._lock = threading.Lock()
        self.broken = False
        self._server = _RuntimeApiServer(self)
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            daemon=True,
            name=f"runtime-api-{config.name}",
        )
        self._server_thread.start()
        env = {**config.environment, **base_env, **self._reserved_env(code_dir)}
        self._system_logs = platform.system_logs_kept(config.log_format, config.system_log_level)
        if self._system_logs:
            self.ship(*platform.init_start(config.log_format, time.time(), config.name, config.version))
        command: list[str] = [python, "-m", "awslambdaric", config.handler]
        self._release: Callable[[], None] = lambda: None
        if wrapper is not None:
            command, self._release = wrapper(config.memory_size, command)
        self._process = subprocess.Popen(
            command,
            cwd=code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            bufsize=0,  # read with os.read: a byte is either in the pipe or in the reader's hands
        )
        #: Set while the reader waits for output: with the pipe empty, every line written so far is shipped.
        self._output_idle = threading.Event()
        self._reader = threading.Thread(
            target=self._read_output, args=(sink,), daemon=True, name=f"lambda-output-{config.name}"
        )
        self._reader.start()

    def _reserved_env(self, code_dir: Path) -> dict[str, str]:
        config = self.config
        logging_env = {"AWS_LAMBDA_LOG_FORMAT": "JSON"} if config.log_format == "JSON" else {}
        if config.application_log_level and config.log_format == "JSON":
            logging_env["AWS_LAMBDA_LOG_LEVEL"] = config.application_log_level
        return {
            **logging_env,
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{self._server.server_address[1]}",
            "_HANDLER": config.handler,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "PYTHONPATH": os.pathsep.join(str(path) for path in (code_dir, *self._site_dirs)),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": config.version,
            "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream,
        }

    def ship(self, *lines: str) -> None:
        """Send lines to this environment's log stream (if shipping), stamped now."""
        if self._shipper is not None:
            for line in lines:
                self._shipper.put(self.config.log_group_name, self.log_stream, line)

    def _read_output(self, sink: OutputSink) -> None:
        assert self._process.stdout is not None
        fd, pending = self._process.stdout.fileno(), b""

        def emit(line: bytes) -> None:
            # awslambdaric joins a record's lines (a traceback) with "\r": one line each here.
            for part in line.decode(errors="replace").rstrip("\r").split("\r"):
                sink(self.config.name, part)
                self.ship(part)

        while True:
            self._output_idle.set()
            chunk = os.read(fd, 65536)
            self._output_idle.clear()
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                emit(line)
        if pending:
            emit(pending)
        self._output_idle.set()
        if self._shipper is not None:
            self._shipper.flush_soon()  # the process is gone: its last lines go now
        self._events.put(_Exited(self._process.wait()))

    # Called by the Runtime API's threads.

    def next_invocation(self) -> _Invocation | None:
        invocation = self._invocations.get()
        if invocation is not None:
            with self._lock:
                self._current = invocation
            if self._system_logs:
                self.ship(
                    *platform.start(self.config.log_format, time.time(), invocation.request_id, self.config.version)
                )
            self._events.put(_PickedUp())
        return invocation

    def invocation_headers(self, invocation: _Invocation) -> dict[str, str]:
        deadline_ms = int((time.time() + self.config.timeout) * 1000)
        return {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.config.arn,
            "Lambda-Runtime-Trace-Id": _trace_header(),
        }

    def report(self, result: InvokeResult, request_id: str | None) -> bool:
        """Hand the runtime's answer to the waiting invoke; ``request_id`` None is an init error."""
        with self._lock:
            current = self._current
            if request_id is not None and (current is None or current.request_id != request_id):
                return False
            self._current = None
        if request_id is None:
            self.broken = True  # the runtime exits after reporting an init error
        self._events.put(result)
        return True

    # Called by the invoking thread.

    def run(self, invocation: _Invocation) -> InvokeResult:
        cold = self.initialized is None
        result = self._await(invocation)
        if self._system_logs:
            self._drain_output()
            self.ship(*platform.report(self.config.log_format, time.time(), self._figures(invocation, result, cold)))
        return result

    def _drain_output(self, timeout: float = 0.5) -> None:
        """Wait until the reader has shipped what the function wrote before answering, so that
        ``platform.report`` follows the invocation's lines as on AWS. The runtime flushes its output
        before it posts the response, so all of it is in the pipe or with the reader by now; the reader
        may just lag behind (a busy machine)."""
        assert self._process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._output_drained(self._process.stdout.fileno()):
                time.sleep(0.001)  # the reader may hold a chunk it has not marked yet: let it run
                if self._output_drained(self._process.stdout.fileno()):
                    return
            else:
                time.sleep(0.001)

    def _output_drained(self, fd: int) -> bool:
        try:
            waiting = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
        except OSError:
            return True  # the pipe is closed: nothing more will come
        return waiting == 0 and self._output_idle.is_set()

    def _figures(self, invocation: _Invocation, result: InvokeResult, cold: bool) -> platform.InvokeFigures:
        ended = time.perf_counter()
        picked_up = self.picked_up if self.picked_up else ended
        error_type = result.error_type
        status = "success" if error_type is None else "timeout" if error_type == "Sandbox.Timedout" else "error"
        return platform.InvokeFigures(
            request_id=invocation.request_id,
            duration_ms=(ended - picked_up) * 1000,
            memory_size_mb=self.config.memory_size,
            max_memory_used_mb=min(
                self.config.memory_size, platform.max_memory_used_mb(self._process.pid, self.config.memory_size)
            ),
            init_duration_ms=(self.initialized - self.spawned) * 1000 if cold and self.initialized else None,
            status=status,
            error_type=error_type,
        )

    def _await(self, invocation: _Invocation) -> InvokeResult:
        self.picked_up = 0.0
        self._invocations.put(invocation)
        # Lambda gives an init that outlasts its 10 s a second try within the invoke, under the function
        # timeout; a laptop starting a dozen cold Pythons at once needs that slack as well.
        init_limit = INIT_TIMEOUT_SECONDS + self.config.timeout
        deadline = time.monotonic() + init_limit
        picked_up = False
        while True:
            try:
                event = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                limit = (
                    f"Task timed out after {self.config.timeout:.2f} seconds"
                    if picked_up
                    else (f"Init phase timed out after {init_limit:.2f} seconds")
                )
                stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
                return InvokeResult(
                    _error_payload("Sandbox.Timedout", f"{stamp}Z {invocation.request_id} {limit}"), "Unhandled"
                )
            if isinstance(event, _PickedUp):
                picked_up = True
                self.picked_up = event.at
                if self.initialized is None:
                    self.initialized = self.picked_up
                deadline = time.monotonic() + self.config.timeout
            elif isinstance(event, InvokeResult):
                return event
            else:
                self.broken = True
                return InvokeResult(
                    _error_payload(
                        "Runtime.ExitError",
                        f"RequestId: {invocation.request_id} Error: Runtime exited with error: "
                        f"exit status {event.returncode}",
                    ),
                    "Unhandled",
                )

    @property
    def alive(self) -> bool:
        return not self.broken and self._process.poll() is None

    def kill(self) -> None:
        self.broken = True
        if self._process.poll() is None:
            self._process.kill()

    def close(self) -> None:
        self.kill()
        self._process.wait()
        self._release()
        self._invocations.put(None)  # releases a Runtime API thread waiting in /next
        self._server.shutdown()
        self._server.server_close()
        self._reader.join(timeout=5)
        if self._process.stdout is not None:
            self._process.stdout.close()


def _trace_header() -> str:
    """An X-Ray trace header marked not sampled, so the function's tracer records nothing and sends nothing."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


class _Pool:
    """The execution environments of one function configuration."""

    def __init__(self, config: FunctionConfig, start: Callable[[FunctionConfig], _Environment], limit: int) -> None:
        self.config = config
        self._start = start
        self._limit = limit
        self._idle: list[_Environment] = []
        self._all: set[_Environment] = set()
        self._starting = 0
        self._retired = False
        self._changed = threading.Condition()

    def acquire(self) -> tuple[_Environment, bool]:
        with self._changed:
            while True:
                if self._retired:
                    raise RuntimeError(f"the environments of {self.config.name} are shut down")
                if self._idle:
                    return self._idle.pop(), False
                if len(self._all) + self._starting < self._limit:
                    self._starting += 1
                    break
                self._changed.wait()
        try:
            environment = self._start(self.config)
        finally:
            with self._changed:
                self._starting -= 1
                self._changed.notify()
        with self._changed:
            self._all.add(environment)
        return environment, True

    def release(self, environment: _Environment) -> None:
        with self._changed:
            if environment.alive and not self._retired:
                self._idle.append(environment)  # the most recently used is reused first, as Lambda does
                self._changed.notify()
                return
            self._all.discard(environment)
            self._changed.notify()
        environment.close()

    def retire(self) -> list[_Environment]:
        """Stop handing out environments; return those to close now (the busy ones close on release)."""
        with self._changed:
            self._retired = True
            idle, self._idle = self._idle, []
            self._all.difference_update(idle)
            self._changed.notify_all()
            return idle

    def size(self) -> int:
        with self._changed:
            return len(self._all)

    def busy(self) -> list[_Environment]:
        with self._changed:
            return [env for env in self._all if env not in self._idle]


class LocalLambdaRuntime:
    """Runs functions' invocations in local awslambdaric processes; ``close()`` stops them all.

    With ``log_shipper``, every environment's lines and the platform's go to the function's log group in
    CloudWatch Logs, one stream per environment, as Lambda does (``close()`` flushes and closes it)."""

    def __init__(
        self,
        endpoint_url: str,
        region: str = "us-east-1",
        max_processes: int = DEFAULT_MAX_PROCESSES,
        python: str = sys.executable,
        output: OutputSink | None = None,
        log_shipper: LogShipper | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.log_shipper = log_shipper
        self.region = region
        self.max_processes = max_processes
        self._python = python
        self._forward_output = output
        self._workdir = Path(tempfile.mkdtemp(prefix="sandbox-lambda-"))
        self._lock = threading.Lock()
        self._pools: dict[str, _Pool] = {}
        self._output: dict[str, collections.deque[str]] = collections.defaultdict(
            lambda: collections.deque(maxlen=OUTPUT_LINES_KEPT)
        )
        self._records: list[InvokeRecord] = []
        self._background = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda-event")
        self._closed = False
        #: Environments started from now on run through it (None: as they are).
        self.process_wrapper: ProcessWrapper | None = None
        #: Called with every invocation's configuration and payload before it runs (None: nothing).
        self.on_invoke: Callable[[FunctionConfig, bytes], None] | None = None
        #: Environments started from now on pace GitHub requests on it (sandbox/github_clock.py; None: the wall's).
        self.github_clock: GitHubClock | None = None

    # The invoke paths.

    def invoke(self, config: FunctionConfig, payload: bytes) -> InvokeResult:
        """A synchronous (RequestResponse) invocation."""
        if self.on_invoke is not None:
            self.on_invoke(config, payload)
        pool = self._pool(config)
        environment, cold = pool.acquire()
        invocation = _Invocation(str(uuid.uuid4()), payload)
        started_at, started = time.time(), time.perf_counter()
        try:
            result = environment.run(invocation)
        finally:
            pool.release(environment)
        initialized = environment.initialized
        with self._lock:
            self._records.append(
                InvokeRecord(
                    config.name,
                    invocation.request_id,
                    cold,
                    time.perf_counter() - started,
                    result.error_type,
                    started_at,
                    config.memory_size,
                    max(0.0, initialized - started) if cold and initialized is not None else 0.0,
                )
            )
        return result

    def invoke_async(self, config: FunctionConfig, payload: bytes) -> None:
        """An ``Event`` invocation: queued, run in the background, its result only recorded."""
        self._background.submit(self.invoke, config, payload)

    # What it did.

    def records(self) -> list[InvokeRecord]:
        with self._lock:
            return list(self._records)

    def output(self, function_name: str) -> list[str]:
        """The last lines the function's processes wrote to stdout and stderr (its logs)."""
        with self._lock:
            return list(self._output.get(function_name, ()))

    def flush_logs(self, timeout: float = 10.0) -> bool:
        """Wait until every line so far is in CloudWatch Logs (True when there is no shipper)."""
        return self.log_shipper is None or self.log_shipper.flush(timeout)

    def processes(self, function_name: str) -> int:
        """How many execution environments the function has (idle and busy)."""
        with self._lock:
            pool = self._pools.get(function_name)
        return 0 if pool is None else pool.size()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pools, self._pools = list(self._pools.values()), {}
        environments = [env for pool in pools for env in pool.retire() + pool.busy()]
        for environment in environments:
            environment.kill()
        self._background.shutdown(wait=False, cancel_futures=True)
        with ThreadPoolExecutor(max_workers=max(1, len(environments))) as closing:
            list(closing.map(_Environment.close, environments))
        if self.log_shipper is not None:
            self.log_shipper.close()
        shutil.rmtree(self._workdir, ignore_errors=True)

    # Internals.

    def _pool(self, config: FunctionConfig) -> _Pool:
        with self._lock:
            if self._closed:
                raise RuntimeError("the local Lambda runtime is closed")
            pool = self._pools.get(config.name)
            if pool is not None and pool.config == config:
                return pool
            self._pools[config.name] = new = _Pool(config, self._start, self.max_processes)
        if pool is not None:  # the function was updated: its old environments go
            for environment in pool.retire():
                environment.close()
        return new

    def _start(self, config: FunctionConfig) -> _Environment:
        base_env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            **FAKE_CREDENTIALS,
            # Signed as itself, so the emulator's call log knows which function called (sandbox/api_calls.py).
            "AWS_ACCESS_KEY_ID": function_access_key(config.name),
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # No shared config or credentials files: the process sees only the emulator.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        clock = self.github_clock
        if clock is not None:
            base_env |= clock.env()
        return _Environment(
            config,
            self._code_dir(config),
            base_env,
            self._python,
            self._collect,
            self.log_shipper,
            self.process_wrapper,
            site_dirs=() if clock is None else (FUNCTION_SITE,),
        )

    def _code_dir(self, config: FunctionConfig) -> Path:
        """The function's code, extracted once per code hash (shared by its environments, like /var/task)."""
        target = self._workdir / "code" / config.code_sha256.replace("/", "_").replace("+", "-")
        with self._lock:
            if not target.exists():
                staging = Path(tempfile.mkdtemp(dir=self._workdir))
                with zipfile.ZipFile(io.BytesIO(config.code_zip)) as archive:
                    archive.extractall(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                staging.rename(target)
        return target

    def _collect(self, function_name: str, line: str) -> None:
        with self._lock:
            self._output[function_name].append(line)
        if self._forward_output is not None:
            self._forward_output(function_name, line)
