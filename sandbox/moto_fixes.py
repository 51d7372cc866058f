"""Small patches of moto 5.2.5 for the gaps the sandbox depends on (DESIGN.md section 4, "Local emulation").

Each fix is one function that patches one moto behaviour and says why; `install()` applies them all and
returns a handle whose `uninstall()` restores moto exactly. Every fix has its own test in
tests/sandbox/test_moto_fixes.py, so a moto upgrade that breaks one fails loudly.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import threading
import time
import types
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.model import OperationModel

if TYPE_CHECKING:
    from sandbox.lambda_runtime import LocalLambdaRuntime

Sleep = Callable[[float], None]

SFN_SERVICE = "stepfunctions"


@dataclass
class Patches:
    """The attributes replaced so far, restorable in reverse order."""

    _undo: list[Callable[[], None]] = field(default_factory=list)

    def replace(self, owner: Any, name: str, value: Any) -> None:
        if name in vars(owner):
            original = vars(owner)[name]
            self._undo.append(lambda: setattr(owner, name, original))
        else:
            self._undo.append(lambda: delattr(owner, name))
        setattr(owner, name, value)

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()


_installed_lock = threading.Lock()
_installed: Patches | None = None


def install(
    runtime: LocalLambdaRuntime,
    time_scale: float = 1.0,
    sns_faults: SnsPublishFaults | None = None,
    express_executions: list[Any] | None = None,
    task_clients: Callable[[Any], Any] | None = None,
) -> Patches:
    """Apply every fix; one installation per process at a time (moto's backends are process-wide).

    ``sns_faults`` is the switch the sandbox's SNS fault injection reads (``fail_sns_publishes``);
    ``express_executions`` receives every Express execution started (the cost meter reads them: AWS keeps
    no list of them, and moto none of the synchronous ones); ``task_clients`` is applied to each client the
    engine's task states call AWS with (the sandbox sends their calls to the emulator in process)."""
    global _installed
    with _installed_lock:
        if _installed is not None:
            raise RuntimeError("the moto fixes are already installed in this process")
        patches = Patches()
        try:
            case_sfn_task_parameters(patches)
            started = express_executions if express_executions is not None else []
            serve_start_sync_execution(patches, started)
            name_unnamed_executions(patches)
            express_names_are_not_unique(patches, started)
            scale_retry_sleeps(patches, time_scale)
            scale_wait_states(patches, time_scale)
            scale_message_delays(patches, time_scale)
            wake_long_polls(patches)
            receive_each_message_once(patches)
            read_queue_attributes_once(patches)
            list_moto_modules_once(patches)
            stop_synchronous_sqs_event_sources(patches)
            keep_batch_trace_headers(patches)
            journal_transaction_rollbacks(patches)
            isolate_dynamodb_writes(patches)
            enforce_sns_subject_rules(patches)
            fail_sns_publishes(patches, sns_faults if sns_faults is not None else SnsPublishFaults())
            route_lambda_invokes(patches, runtime)
            serve_cost_allocation_tags(patches)
            order_metric_dimensions(patches)
            list_each_metric_once(patches)
            serve_query_definitions(patches)
            serve_message_move_tasks(patches)
            keep_lambda_logging_config(patches)
            match_filter_patterns(patches)
            interleave_filtered_events(patches)
            log_state_machine_executions(patches)
            evaluate_jsonata(patches)
            scope_query_languages_per_parse(patches)
            parse_each_definition_once(patches)
            reuse_task_clients(patches, task_clients or (lambda client: client))
            parse_each_json_path_once(patches)
            copy_state_data_as_json(patches)
            evaluate_bucket_policies_over_tls(patches)
            name_s3_sdk_errors(patches)
            accept_express_map_children(patches)
            accept_integer_failure_percentages(patches)
            name_distributed_children(patches)
            enforce_tolerated_failures(patches)
            count_ended_children(patches)
            list_s3_objects_as_items(patches)
            read_s3_object_bodies(patches)
            serve_map_run_children(patches)
        except BaseException:
            patches.uninstall()
            raise
        _installed = patches
    return patches


def uninstall(patches: Patches) -> None:
    global _installed
    with _installed_lock:
        patches.uninstall()
        if _installed is patches:
            _installed = None


# --- Step Functions: service integrations -------------------------------------------------------------


@cache
def _sfn_operations() -> dict[str, OperationModel]:
    """Step Functions' botocore operations by snake_case name (``start_execution``)."""
    from moto.stepfunctions.parser.utils import camel_to_snake_case

    model = botocore.session.get_session().get_service_model(SFN_SERVICE)
    return {camel_to_snake_case(name): model.operation_model(name) for name in model.operation_names}


def case_sfn_task_parameters(patches: Patches) -> None:
    """Convert Step Functions task parameters to botocore's casing, and responses back to ASL's.

    moto's copy of the ASL engine (from LocalStack) dropped the generic ``_normalise_parameters`` that maps
    ASL's ``StateMachineArn``/``Name``/``Input`` to botocore's ``stateMachineArn``/``name``/``input`` (and
    ``executionArn`` back to ``ExecutionArn``, timestamps as epoch milliseconds). The engine's boto client runs without
    parameter validation, so ``states:startExecution(.sync/.sync:2)`` sent an empty request and failed with cause
    ``'StateMachineArn'``; ``aws-sdk:sfn:*`` tasks did the same. Applied only to Step Functions tasks: the
    other services' parameters already match botocore's names.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn,
    )

    def casing(cls: type) -> tuple[Callable[..., None], Callable[..., None]]:
        original_parameters = cls._normalise_parameters
        original_response = cls._normalise_response

        def is_sfn(task: Any, boto_service_name: str | None) -> bool:
            return task._get_boto_service_name(boto_service_name) == SFN_SERVICE

        def normalise_parameters(
            self: Any, parameters: dict, boto_service_name: str | None = None, service_action_name: str | None = None
        ) -> None:
            original_parameters(self, parameters, boto_service_name, service_action_name)
            if is_sfn(self, boto_service_name):
                operation = _sfn_operations()[self._get_boto_service_action(service_action_name)]
                self._to_boto_request(parameters, operation.input_shape)

        def normalise_response(
            self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
        ) -> None:
            original_response(self, response, boto_service_name, service_action_name)
            if is_sfn(self, boto_service_name):
                operation = _sfn_operations()[self._get_boto_service_action(service_action_name)]
                self._from_boto_response(response, operation.output_shape)
                _timestamps_to_epoch_millis(response)

        return normalise_parameters, normalise_response

    for cls in (sfn.StateTaskServiceSfn, aws_sdk.StateTaskServiceAwsSdk):
        parameters, response = casing(cls)
        patches.replace(cls, "_normalise_parameters", parameters)
        patches.replace(cls, "_normalise_response", response)


def _timestamps_to_epoch_millis(response: Any) -> None:
    """Task results carry timestamps as epoch milliseconds (``"StartDate": 1700000000000``), never datetimes."""
    if isinstance(response, dict):
        for key, value in response.items():
            if isinstance(value, datetime.datetime):
                response[key] = int(value.timestamp() * 1000)
            else:
                _timestamps_to_epoch_millis(value)
    elif isinstance(response, list):
        for item in response:
            _timestamps_to_epoch_millis(item)


def serve_start_sync_execution(patches: Patches, started: list[Any] | None = None) -> None:
    """Implement ``StartSyncExecution`` (Express workflows), which moto's API does not serve at all.

    moto has the engine's ``SyncExecution`` but no ``StartSyncExecution`` action in its responses nor its
    backend, so ``aws-sdk:sfn:startSyncExecution`` (the EXPRESS onboarding child of the backfill) could not
    run. botocore also sends this operation to the host ``sync-<endpoint host>`` (its ``hostPrefix``),
    which does not resolve on loopback: the engine's Step Functions clients get ``inject_host_prefix``
    off, as every client of a local endpoint needs.
    """
    from moto.core.exceptions import AWSError
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.api import StateMachineType
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )
    from moto.stepfunctions.parser.backend.execution import SyncExecution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    class StateMachineTypeNotSupported(AWSError):
        TYPE = "StateMachineTypeNotSupported"
        STATUS = 400

    def start_sync_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> SyncExecution:
        state_machine = self.describe_state_machine(state_machine_arn)
        if state_machine.type != StateMachineType.EXPRESS:  # (moto's ``sm_type`` is always STANDARD)
            raise StateMachineTypeNotSupported("This operation is only supported by EXPRESS state machines")
        execution = _new_express_execution(self, state_machine, SyncExecution, name, execution_input, trace_header)
        if started is not None:
            started.append(execution)
        execution.start()  # a SyncExecutionWorker evaluates the whole program on this thread
        return execution

    def start_sync_execution_action(self: StepFunctionResponse) -> ActionResult:
        execution = self.stepfunction_backend.start_sync_execution(
            self._get_param("stateMachineArn"),
            self._get_param("name"),
            self._get_param("input", if_none="{}"),
            self._get_param("traceHeader"),
        )
        output = dict(execution.to_start_sync_execution_output())
        output["status"] = output["status"].value
        output.pop("inputDetails", None)
        output.pop("outputDetails", None)
        return ActionResult(output)

    original_client_for = aws_sdk.boto_client_for

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        client = original_client_for(region=region, service=service, state_credentials=state_credentials)
        if service != SFN_SERVICE:
            return client
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=client.meta.endpoint_url,
            aws_access_key_id="ak",
            aws_secret_access_key="sk",
            config=client.meta.config.merge(Config(inject_host_prefix=False)),
        )

    patches.replace(StepFunctionsParserBackend, "start_sync_execution", start_sync_execution)
    patches.replace(StepFunctionResponse, "start_sync_execution", start_sync_execution_action)
    patches.replace(aws_sdk, "boto_client_for", boto_client_for)


def name_unnamed_executions(patches: Patches) -> None:
    """Give an execution started without a name a UUID, as AWS does.

    moto's engine backend uses the name as given, so every unnamed execution was named ``None`` and got
    the same ARN (``...:execution:<machine>:None``): the second one could not be told from the first.
    """
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    patches.replace(StepFunctionsParserBackend, "start_execution", start_execution)


def express_names_are_not_unique(patches: Patches, started: list[Any] | None = None) -> None:
    """Start a new Express execution for every ``StartExecution``, even under a name used before, as AWS does.

    AWS rejects a reused name (``ExecutionAlreadyExists``) only on STANDARD machines; Express workflows
    are at-least-once, their names are not unique and each execution has its own ARN
    (``arn:...:express:<machine>:<name>:<uuid>``). moto applied Standard's name check to Express
    machines too, so the sandbox hid what a redelivery does to an Express stack: the conditional
    writes, not the name, must absorb it. Standard machines keep moto's behaviour.
    """
    from moto.stepfunctions.parser.api import StateMachineType
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        state_machine = self.describe_state_machine(state_machine_arn)
        if state_machine.type != StateMachineType.EXPRESS:  # (moto's ``sm_type`` is always STANDARD)
            return original(self, state_machine_arn, name, execution_input, trace_header)
        execution = _new_express_execution(self, state_machine, Execution, name, execution_input, trace_header)
        state_machine.executions.append(execution)  # (AWS lists no Express executions; the sandbox counts them)
        if started is not None:
            started.append(execution)
        execution.start()
        return execution

    patches.replace(StepFunctionsParserBackend, "start_execution", start_execution)


def _new_express_execution(
    backend: Any,
    state_machine: Any,
    execution_class: Any,
    name: str | None,
    execution_input: str | None,
    trace_header: str | None,
) -> Any:
    """An Express execution as AWS makes one: its own ``...:express:<machine>:<name>:<uuid>`` ARN (names are
    not unique), its input checked as JSON, on a snapshot of the definition without the live executions."""
    from moto.stepfunctions.exceptions import InvalidExecutionInput
    from moto.stepfunctions.parser.api import StateMachineType

    input_data = execution_input if execution_input is not None else "{}"
    try:
        json.loads(input_data)
    except ValueError as error:
        raise InvalidExecutionInput(str(error)) from error
    snapshot = copy.deepcopy(
        state_machine, {id(state_machine.executions): [], id(state_machine.backend): state_machine.backend}
    )
    exec_name = name or str(uuid.uuid4())
    return execution_class(
        name=exec_name,
        sm_type=StateMachineType.EXPRESS,
        role_arn=snapshot.roleArn,
        exec_arn=f"arn:{backend.partition}:states:{backend.region_name}:{backend.account_id}:express:"
        f"{state_machine.name}:{exec_name}:{uuid.uuid4()}",
        account_id=backend.account_id,
        region_name=backend.region_name,
        state_machine=snapshot,
        start_date=datetime.datetime.now(tz=datetime.UTC),
        cloud_watch_logging_session=None,
        input_data=input_data,
        trace_header=trace_header,
        activity_store={},
    )


def scale_retry_sleeps(patches: Patches, time_scale: float, sleep: Sleep = time.sleep) -> None:
    """Multiply the waits between ``Retry`` attempts by ``time_scale`` (tests and ``make run`` only).

    moto really sleeps ``IntervalSeconds * BackoffRate^n`` between attempts, so a retried task took
    seconds to minutes; with e.g. 0.01 the same retries (same count, same order) take milliseconds.
    """
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    if time_scale < 0:
        raise ValueError(f"time_scale must be >= 0, not {time_scale}")
    scaled_time = types.SimpleNamespace(sleep=lambda seconds: sleep(seconds * time_scale))
    patches.replace(retrier_decl, "time", scaled_time)


WaitFor = Callable[[Any, float], None]  # (the execution's environment, seconds)


def _wait_on_program_state(env: Any, seconds: float) -> None:
    env.program_state_event.wait(seconds)  # what moto waits on: set when the execution is stopped


def scale_wait_states(patches: Patches, time_scale: float, wait: WaitFor = _wait_on_program_state) -> None:
    """Multiply the seconds of a ``Wait`` state by ``time_scale``, as the retry waits are.

    The product waits out GitHub's rate limits in ``Wait`` states (``SecondsPath``: up to an hour for a
    primary limit); moto really waits them. moto's own ``_wait_interval`` re-enters the wait while less
    than the full (unscaled) time has passed, so it is replaced as a whole: one scaled wait, cut short
    only when the execution stops.
    """
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    if time_scale < 0:
        raise ValueError(f"time_scale must be >= 0, not {time_scale}")

    def _wait_interval(self: WaitFunction, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            wait(env, wait_seconds * time_scale)

    patches.replace(WaitFunction, "_wait_interval", _wait_interval)


def scale_message_delays(patches: Patches, time_scale: float) -> None:
    """Multiply an SQS message's ``DelaySeconds`` by ``time_scale``.

    The sqs architecture waits out a GitHub rate limit by re-sending the record with a delay of up to 15
    minutes (functions/common/rate_limits.py); the failed-record visibility timeouts are scaled by the
    poller (sandbox/sqs_poller.py), and the delays here, so both waits run at the sandbox's pace.
    """
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Message

    if time_scale < 0:
        raise ValueError(f"time_scale must be >= 0, not {time_scale}")

    def delay(self: Message, delay_seconds: int) -> None:
        self.delayed_until = unix_time_millis() + int(delay_seconds) * 1000 * time_scale

    patches.replace(Message, "delay", delay)


def wake_long_polls(patches: Patches) -> None:
    """A long poll (``ReceiveMessage`` with ``WaitTimeSeconds``) returns as soon as a message is available,
    as SQS documents. moto's waits a second at a time for a new message and misses one that becomes
    visible meanwhile (its visibility timeout or delay ends, or ``ChangeMessageVisibility`` hands it back):
    each retry of a failing record paid up to a second more than its visibility timeout. A poll now wakes
    when the next invisible or delayed message is due, and when a visibility change lets one go."""
    from moto.core.utils import unix_time_millis
    from moto.sqs.models import Queue, SQSBackend

    change_message_visibility = SQSBackend.change_message_visibility

    def wait_for_messages(self: Queue, timeout: int) -> None:
        with self._messages_lock:
            now = unix_time_millis()
            due = [at for message in self._messages for at in (message.visible_at, message.delayed_until) if at > now]
            wait = min(timeout, (min(due) - now) / 1000 + 0.001) if due else timeout
            self._messages_lock.wait_for(lambda: self.messages, timeout=wait)

    @functools.wraps(change_message_visibility)
    def change_visibility(self: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int) -> None:
        change_message_visibility(self, queue_name, receipt_handle, visibility_timeout)
        queue = self.get_queue(queue_name)
        with queue._messages_lock:
            queue._messages_lock.notify_all()

    patches.replace(Queue, "wait_for_messages", wait_for_messages)
    patches.replace(SQSBackend, "change_message_visibility", change_visibility)


def receive_each_message_once(patches: Patches) -> None:
    """Concurrent ``ReceiveMessage`` calls on one queue never return the same message, as in SQS: a received
    message stays invisible for its visibility timeout. moto's receive checks ``message.visible`` and then
    marks the message received, unlocked: two pollers of one queue (the event source mapping's) each took
    it, and the function ran it twice at once, ``receiveCount`` 1 and 2. A receive now takes its messages
    holding the queue's lock, and waits for more (a long poll) without it."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    receive_message = SQSBackend.receive_message

    @functools.wraps(receive_message)
    def receive(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        queue = self.get_queue(queue_name)
        polling_end = unix_time() + wait_seconds_timeout
        while True:
            with queue._messages_lock:  # a scan and its marks at once (reentrant: moto's own calls take it)
                received = receive_message(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            left = polling_end - unix_time()
            if received or left <= 0:
                return received
            queue.wait_for_messages(min(1, left))

    patches.replace(SQSBackend, "receive_message", receive)


def read_queue_attributes_once(patches: Patches) -> None:
    """``GetQueueAttributes`` reads the queue's attributes once. moto's rebuilt ``Queue.attributes`` (which
    walks every message three times, for the approximate counts) two or three times per name asked for:
    with thousands of messages queued (a large backfill's fan-out), the pollers' and the harness's idle checks
    spent more time there than the functions did. The answer is moto's own, to the attribute."""
    from moto.sqs.exceptions import InvalidAttributeName
    from moto.sqs.models import SQSBackend

    def get_queue_attributes(self: SQSBackend, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        queue = self.get_queue(queue_name)
        if not attribute_names:
            return {}
        valid = {"All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES}
        invalid = next((name for name in attribute_names if name not in valid), None)
        if invalid is not None:
            raise InvalidAttributeName(invalid)
        everything = queue.attributes
        if "All" in attribute_names:
            return everything
        return {name: everything[name] for name in attribute_names if everything.get(name) is not None}

    patches.replace(SQSBackend, "get_queue_attributes", get_queue_attributes)


def list_moto_modules_once(patches: Patches) -> None:
    """moto's server looks up each request's backend among its own package's directories, listing them from
    disk every time (about 150 ``stat`` calls a request, under the dispatcher's lock, which serializes every
    request): they are listed once. The package does not change while the emulator runs."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    patches.replace(backends, "list_of_moto_modules", lambda: modules)


# --- SNS ---------------------------------------------------------------------------------------------


def sns_subject_problem(subject: str) -> str | None:
    """Why SNS would refuse ``subject``, or None: it must be ASCII text that begins with a letter, number or
    punctuation mark, with no line breaks or control characters, and fewer than 100 characters."""
    if len(subject) >= 100:
        return f"{len(subject)} characters, must be fewer than 100"
    if not subject.isascii():
        return "must be ASCII"
    if any(not char.isprintable() for char in subject):
        return "must not contain line breaks or control characters"
    if subject and subject[0].isspace():
        return "must begin with a letter, number or punctuation mark"
    return None


def enforce_sns_subject_rules(patches: Patches) -> None:
    """Refuse a Publish whose Subject SNS would refuse (``InvalidParameter``), as SNS does.

    moto 5.2.5 only refuses subjects longer than 100 characters: exactly 100, non-ASCII, line breaks and
    control characters all publish, so a subject SNS rejects would pass every end-to-end test.
    """
    from moto.sns.exceptions import SNSInvalidParameter
    from moto.sns.models import SNSBackend

    original = SNSBackend.publish

    @functools.wraps(original)
    def publish(self: Any, message: str, arn: str | None, *args: Any, **kwargs: Any) -> str:
        subject = kwargs.get("subject", args[1] if len(args) > 1 else None)
        if subject is not None and (problem := sns_subject_problem(subject)) is not None:
            raise SNSInvalidParameter(f"Invalid parameter: Subject ({problem})")
        return original(self, message, arn, *args, **kwargs)

    patches.replace(SNSBackend, "publish", publish)


@dataclass
class SnsPublishFaults:
    """A switchable SNS outage: ``fail(topic_arn, times=n)`` makes the next ``n`` Publish calls to that topic
    (every call, while ``times`` is None) fail with ``InternalError`` (HTTP 500), until ``clear()``.

    Every call counts, retries of an SDK client included; ``rejected`` lists the subjects refused so far."""

    _failing: dict[str, int | None] = field(default_factory=dict)
    rejected: list[tuple[str, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, topic_arn: str, times: int | None = None) -> None:
        if times is not None and times < 1:
            raise ValueError(f"times must be a positive number of publishes or None (until cleared), not {times}")
        with self._lock:
            self._failing[topic_arn] = times

    def clear(self, topic_arn: str | None = None) -> None:
        with self._lock:
            if topic_arn is None:
                self._failing.clear()
            else:
                self._failing.pop(topic_arn, None)

    def rejects(self, topic_arn: str | None, subject: str | None) -> bool:
        """Whether this publish fails (and counts it)."""
        with self._lock:
            if topic_arn not in self._failing:
                return False
            left = self._failing[topic_arn]
            if left is not None:
                if left <= 1:
                    del self._failing[topic_arn]
                else:
                    self._failing[topic_arn] = left - 1
            self.rejected.append((topic_arn, subject))
            return True


def fail_sns_publishes(patches: Patches, faults: SnsPublishFaults) -> None:
    """Let the sandbox make Publish fail (``faults``): the failure paths of a notification, end to end."""
    from moto.sns.exceptions import InternalError
    from moto.sns.models import SNSBackend

    original = SNSBackend.publish

    @functools.wraps(original)
    def publish(self: Any, message: str, arn: str | None, *args: Any, **kwargs: Any) -> str:
        if faults.rejects(arn, kwargs.get("subject", args[1] if len(args) > 1 else None)):
            raise InternalError("Request could not be completed (sandbox SNS fault)")
        return original(self, message, arn, *args, **kwargs)

    patches.replace(SNSBackend, "publish", publish)


# --- SQS and Lambda -------------------------------------------------------------------------------------


class _NoMappings(dict):
    """An always-empty mapping: what is stored in it is forgotten."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


def stop_synchronous_sqs_event_sources(patches: Patches) -> None:
    """Stop moto from invoking an SQS event source mapping's function inside ``SendMessage``.

    moto's queue invokes the mapped function synchronously in the sender's request, one record at a time,
    ignoring batch size, the batching window, ``ReportBatchItemFailures`` and retries. The sandbox's
    poller (sandbox/sqs_poller.py) does that job properly, so a queue no longer keeps the mappings it
    would invoke; the mappings themselves stay in the Lambda backend (``ListEventSourceMappings``).
    """
    from moto.sqs.models import Queue

    patches.replace(
        Queue, "lambda_event_source_mappings", property(lambda queue: _NoMappings(), lambda queue, value: None)
    )


def keep_batch_trace_headers(patches: Patches) -> None:
    """Keep each ``SendMessageBatch`` entry's ``MessageSystemAttributes`` (the ``AWSTraceHeader``), as SQS does.

    moto 5.2.5 keeps a SendMessage's system attributes and returns ``AWSTraceHeader`` from ReceiveMessage,
    but its batch sends each entry without them: the trace header of a fanned-out message was lost. The
    batch hands each entry's attributes to the ``send_message`` it calls for that entry (one call per
    entry, in order, in the same thread: a thread-local queue).
    """
    from moto.sqs.models import SQSBackend

    pending = threading.local()
    send_message, send_message_batch = SQSBackend.send_message, SQSBackend.send_message_batch

    @functools.wraps(send_message)
    def send_one(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        queued = getattr(pending, "entries", None)
        if queued:
            attributes = queued.pop(0)
            if attributes and not kwargs.get("system_attributes"):
                kwargs["system_attributes"] = attributes
        return send_message(self, *args, **kwargs)

    @functools.wraps(send_message_batch)
    def send_batch(self: SQSBackend, queue_name: str, entries: dict[str, dict[str, Any]]) -> Any:
        pending.entries = [entry.get("MessageSystemAttributes") for entry in entries.values()]
        try:
            return send_message_batch(self, queue_name, entries)
        finally:
            pending.entries = None

    patches.replace(SQSBackend, "send_message", send_one)
    patches.replace(SQSBackend, "send_message_batch", send_batch)


def journal_transaction_rollbacks(patches: Patches) -> None:
    """Back a ``TransactWriteItems`` up item by item, not table by table.

    moto deep-copies every table a transaction touches before applying it, to put the copies back when a
    condition fails: a write costs the size of its tables, so a backfill of n members costs O(n^2) (a
    profile of 250 members spent more CPU in ``Item.__deepcopy__`` than in anything of moto's own). DynamoDB
    needs no such thing, and the sandbox need not either: this copies the items the transaction names (at
    most 100), lets moto run with its table copies made no-ops (the only ``deepcopy`` of a ``Table`` in
    its DynamoDB backend), and on any failure puts those items back as they were.
    """
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class CopyButTables:
        """``copy`` as moto's DynamoDB backend uses it, except that a ``Table`` is not copied."""

        @staticmethod
        def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def journal(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
        entries = []
        for operation in transact_items[:100]:
            _, request = next(iter(operation.items()))
            table = backend.tables.get(request.get("TableName")) if isinstance(request, dict) else None
            attributes = (request.get("Item") or request.get("Key") or {}) if table is not None else {}
            try:
                hash_key = DynamoType(attributes[table.hash_key_attr])
                range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
            except (KeyError, TypeError, AttributeError):
                continue  # moto refuses the operation itself, before it writes anything of it
            entries.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        return entries

    def restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        backup = journal(self, transact_items)
        try:
            original(self, transact_items)
        except Exception:
            for entry in reversed(backup):
                restore(*entry)
            raise

    patches.replace(dynamodb_models, "copy", CopyButTables)
    patches.replace(DynamoDBBackend, "transact_write_items", transact_write_items)


def isolate_dynamodb_writes(patches: Patches) -> None:
    """Serialize moto's DynamoDB writes, as DynamoDB isolates a transaction from every other write.

    moto runs ``TransactWriteItems`` by copying the tables it touches, applying the items one by one and,
    when a condition fails, putting the copies back. Two threads at once (a redelivery racing its
    original; both architectures run concurrently) let a cancelled transaction's restore wipe out what
    the other one committed meanwhile: a run item without its totals, a member that vanishes. One lock
    around every write operation gives the serializable isolation DynamoDB documents.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("transact_write_items", "put_item", "update_item", "delete_item"):  # (BatchWriteItem calls these)
        patches.replace(DynamoDBBackend, name, _holding(lock, getattr(DynamoDBBackend, name)))


def _holding(lock: threading.RLock, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return function(*args, **kwargs)

    return serialized


def route_lambda_invokes(patches: Patches, runtime: LocalLambdaRuntime) -> None:
    """Run every Lambda invocation in the local runtime (sandbox/lambda_runtime.py).

    Without Docker, moto runs no function code. Every invoke path (the Invoke API, Step Functions'
    ``lambda:invoke``, SNS) ends in ``LambdaFunction.invoke``; this replaces it. ``Event`` invocations
    return at once (HTTP 202) and run in the background, like Lambda's asynchronous invocation.
    """
    from moto.awslambda.models import LambdaFunction

    from sandbox.lambda_runtime import FunctionConfig

    def invoke(self: LambdaFunction, body: str | bytes, request_headers: Any, response_headers: Any) -> bytes:
        config = FunctionConfig(
            name=self.function_name,
            arn=self.function_arn,
            handler=self.handler,
            code_zip=self.code_bytes,
            code_sha256=self.code_sha_256,
            timeout=int(self.timeout),
            memory_size=int(self.memory_size),
            version=str(self.version),
            environment=dict(self.environment_vars or {}),
            **_logging_fields(getattr(self, "logging_config", None) or {}),
        )
        payload = body.encode() if isinstance(body, str) else (body or b"{}")
        invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            runtime.invoke_async(config, payload)
            return b""
        result = runtime.invoke(config, payload)
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
        return result.payload

    patches.replace(LambdaFunction, "invoke", invoke)


def _logging_fields(logging_config: dict[str, Any]) -> dict[str, Any]:
    """FunctionConfig's fields from a function's ``LoggingConfig`` (as CreateFunction was given it)."""
    return {
        "log_format": logging_config.get("LogFormat") or "Text",
        "log_group": logging_config.get("LogGroup") or None,
        "application_log_level": logging_config.get("ApplicationLogLevel") or None,
        "system_log_level": logging_config.get("SystemLogLevel") or None,
    }


def keep_lambda_logging_config(patches: Patches) -> None:
    """Keep a function's ``LoggingConfig``, which moto drops, and answer it as Lambda does.

    The local runtime reads it (log format, log group, levels: sandbox/lambda_runtime.py), and
    GetFunctionConfiguration returns it: ``LogFormat`` (default Text), ``LogGroup`` (default
    ``/aws/lambda/<name>``) and, in the JSON format, both levels (default INFO).
    """
    from moto.awslambda.models import LambdaFunction

    original_init = LambdaFunction.__init__
    original_get = LambdaFunction.get_configuration
    original_update = LambdaFunction.update_configuration

    def init(self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self.logging_config = dict(spec.get("LoggingConfig") or {})

    def get_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = original_get(self, *args, **kwargs)
        given = getattr(self, "logging_config", None) or {}
        answered = {"LogFormat": given.get("LogFormat") or "Text"}
        if answered["LogFormat"] == "JSON":
            answered["ApplicationLogLevel"] = given.get("ApplicationLogLevel") or "INFO"
            answered["SystemLogLevel"] = given.get("SystemLogLevel") or "INFO"
        answered["LogGroup"] = given.get("LogGroup") or f"/aws/lambda/{self.function_name}"
        config["LoggingConfig"] = answered
        return config

    def update_configuration(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in config_updates:
            self.logging_config = {**getattr(self, "logging_config", {}), **config_updates["LoggingConfig"]}
            self.code_or_config_updated = True
        return original_update(self, config_updates)

    patches.replace(LambdaFunction, "__init__", init)
    patches.replace(LambdaFunction, "get_configuration", get_configuration)
    patches.replace(LambdaFunction, "update_configuration", update_configuration)


def _header(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


# --- Cost Explorer ------------------------------------------------------------------------------------------


def serve_cost_allocation_tags(patches: Patches) -> None:
    """``ListCostAllocationTags`` and ``UpdateCostAllocationTagsStatus``, which moto 5.2.5 does not have.

    ``stackops.bill`` asks whether the stack tag is an active cost allocation tag before reading the bill:
    Cost Explorer filters by an inactive tag without an error, it only finds no cost. The emulator cannot
    know which tags were applied to billed resources (AWS lists a user-defined tag about a day after), so a
    key is listed once ``UpdateCostAllocationTagsStatus`` named it; its status is the last one set.
    """
    from moto.ce.models import CostExplorerBackend
    from moto.ce.responses import CostExplorerResponse

    def statuses(backend: CostExplorerBackend) -> dict[str, dict[str, str]]:
        if not hasattr(backend, "cost_allocation_tags"):
            backend.cost_allocation_tags = {}  # type: ignore[attr-defined]
        return backend.cost_allocation_tags  # type: ignore[attr-defined, no-any-return]

    def update_cost_allocation_tags_status(self: CostExplorerResponse) -> str:
        tags = statuses(self.ce_backend)
        for entry in json.loads(self.body)["CostAllocationTagsStatus"]:
            tags[entry["TagKey"]] = {
                "TagKey": entry["TagKey"],
                "Type": "UserDefined",
                "Status": entry["Status"],
                "LastUpdatedDate": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        return json.dumps({"Errors": []})

    def list_cost_allocation_tags(self: CostExplorerResponse) -> str:
        params = json.loads(self.body)
        listed = [
            tag
            for tag in statuses(self.ce_backend).values()
            if tag["TagKey"] in params.get("TagKeys", [tag["TagKey"]])
            and tag["Status"] == params.get("Status", tag["Status"])
            and tag["Type"] == params.get("Type", tag["Type"])
        ]
        return json.dumps({"CostAllocationTags": listed})

    patches.replace(CostExplorerResponse, "update_cost_allocation_tags_status", update_cost_allocation_tags_status)
    patches.replace(CostExplorerResponse, "list_cost_allocation_tags", list_cost_allocation_tags)


def evaluate_jsonata(patches: Patches) -> None:
    """moto's engine evaluates a JSONata state's ``{% ... %}`` (``QueryLanguage: JSONata``) through a JVM
    bridge that its copy leaves out: ``eval_jsonata_expression`` calls ``None``. Evaluate with jsonata-python
    instead (the expression arrives self-contained: ``($states := {...}; <expression>)``), its result made
    plain JSON as the bridge does, an evaluation error raised as the bridge's ``JSONataException``."""
    import jsonata as jsonata_python
    from moto.stepfunctions.parser.asl.component.common.string import string_expression
    from moto.stepfunctions.parser.asl.jsonata import jsonata, validations

    def eval_jsonata_expression(expression: str) -> Any:
        return _as_the_bridge_answers(lambda: jsonata_python.Jsonata(expression).evaluate(None))

    for module in (jsonata, string_expression, validations):
        patches.replace(module, "eval_jsonata_expression", eval_jsonata_expression)
    bind_jsonata_values(patches)


def _as_the_bridge_answers(evaluate: Callable[[], Any]) -> Any:
    """``evaluate()``'s result made plain JSON, as moto's JVM bridge answers it; any evaluation error raised
    as the bridge's ``JSONataException``."""
    from moto.stepfunctions.parser.asl.jsonata import jsonata

    try:
        result = evaluate()
        return None if result is None else json.loads(json.dumps(result))
    except Exception as error:  # noqa: BLE001 - the bridge reports every evaluation failure this way
        raise jsonata.JSONataException("UNKNOWN", str(error)) from error


@functools.lru_cache(maxsize=1024)
def _parsed_jsonata(expression: str) -> Any:
    import jsonata as jsonata_python

    return jsonata_python.Jsonata(expression)


def evaluate_parsed_jsonata(expression: str, bindings: dict[str, Any]) -> Any:
    """``expression`` with ``bindings`` (variable name without ``$`` -> value), parsed once per process.
    Each evaluation runs on a shallow copy: jsonata-python keeps the evaluation's timestamp (``$millis()``)
    on the instance, and the bindings go into a frame of the evaluation's own."""
    return copy.copy(_parsed_jsonata(expression)).evaluate(None, bindings)


def _type_of(functions: str, expression: str, bindings: dict[str, Any]) -> Any:
    return evaluate_parsed_jsonata(f"$type(({functions}{expression}))", bindings)


def bind_jsonata_values(patches: Patches) -> None:
    """A ``{% ... %}`` expression is parsed once, and ``$states`` and the execution's variables are bound to
    it. moto writes their values into the expression's text as JSON literals (``($states:={...};expr)``), so
    every evaluation parsed the state's whole input again: the per-event machines' ``RecordLatency``
    arguments took 40 ms of parsing each, a fifth of a large backfill's CPU. The result is the same:
    the values are the same, bound in a scope around the expression (the intrinsic functions' declarations
    stay in its text, as moto puts them)."""
    from moto.stepfunctions.parser.asl.component.common.string import string_expression
    from moto.stepfunctions.parser.asl.jsonata import jsonata
    from moto.stepfunctions.parser.asl.jsonata.validations import (
        _SUPPORTED_JSONATA_TYPES as json_types,
    )
    from moto.stepfunctions.parser.asl.jsonata.validations import validate_jsonata_expression_output

    def eval_body(self: Any, env: Any) -> None:
        references = jsonata.extract_jsonata_variable_references(self.expression)
        functions = string_expression.get_intrinsic_functions_declarations(variable_references=references)
        store = env.variable_store
        bindings = {**store._outer_scope, **store._inner_scope, "states": env.states._states_data}
        result = _as_the_bridge_answers(lambda: evaluate_parsed_jsonata(f"({functions}{self.expression})", bindings))
        # moto's checks of the result: nothing (undefined) fails; a string must be of a JSON type (moto asks
        # $type() of the expression it composed, here of the bound one); either failure is moto's own
        if result is None or (
            isinstance(result, str) and _type_of(functions, self.expression, bindings) not in json_types
        ):
            rich = jsonata.compose_jsonata_expression(
                self.expression,
                [functions, env.states.to_variable_declarations(references), store.get_variable_declarations()],
            )
            validate_jsonata_expression_output(env, self.expression, rich, result)
        env.stack.append(result)

    patches.replace(string_expression.StringJSONata, "_eval_body", eval_body)


def scope_query_languages_per_parse(patches: Patches) -> None:
    """moto's ASL ``Preprocessor`` keeps its stack of query-language scopes in a *class* attribute
    (``_query_language_per_scope: list = []``), one list shared by every parse in the process. Executions
    parse their definition when they start, so two starting at once (a backfill's Map starting onboarding
    children) push and pop each other's scopes: a JSONPath state is refused as "Unsupported declaration in
    QueryLanguage=JSONPath block" while the other parse is inside a JSONata state (``RecordLatency``), or
    the stack runs empty. AWS parses each definition on its own: give each parse its own stack."""
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    original_init = Preprocessor.__init__

    def init(self: Preprocessor, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._query_language_per_scope = []

    patches.replace(Preprocessor, "__init__", init)


# --- CloudWatch ---------------------------------------------------------------------------------------------


def order_metric_dimensions(patches: Patches) -> None:
    """CloudWatch matches a query's dimension set to a metric's whatever their order; moto sorts both and
    compares, but its ``Dimension.__lt__`` compares a value with the other's *name*, so a metric with two
    or more dimensions is found or not depending on their values (``GetMetricData`` answers nothing).
    Order dimensions by (name, value)."""
    from moto.cloudwatch.models import Dimension

    def less_than(self: Dimension, other: Dimension) -> bool:
        return (self.name or "", self.value or "") < (other.name or "", other.value or "")

    patches.replace(Dimension, "__lt__", less_than)


def list_each_metric_once(patches: Patches) -> None:
    """``ListMetrics`` lists a metric once (namespace, name, dimension set); moto's ``are_dimensions_same``
    compares every dimension with every other, so a metric with two or more dimensions is listed once per
    datapoint (the cost meter's custom-metric count on AWS reads ``ListMetrics``). Compare them as sets."""
    from moto.cloudwatch import models

    def are_dimensions_same(metric_dimensions: list[Any], dimensions: list[Any]) -> bool:
        def pairs(of: list[Any]) -> set[tuple[Any, Any]]:
            return {(dimension.name, dimension.value) for dimension in of}

        return len(metric_dimensions) == len(dimensions) and pairs(metric_dimensions) == pairs(dimensions)

    patches.replace(models, "are_dimensions_same", are_dimensions_same)


def serve_query_definitions(patches: Patches) -> None:
    """``PutQueryDefinition`` and ``DescribeQueryDefinitions``, which moto 5.2.5 does not have.

    The program saves Logs Insights queries per stack (components/observability.py); the emulator keeps
    them so the sandbox's stack has them as AWS would. Put with a ``queryDefinitionId`` updates that one.
    """
    from moto.logs.responses import LogsResponse

    def definitions(response: LogsResponse) -> dict[str, dict[str, Any]]:
        backend = response.logs_backend
        if not hasattr(backend, "query_definitions"):
            backend.query_definitions = {}
        return backend.query_definitions  # type: ignore[no-any-return]

    def put_query_definition(self: LogsResponse) -> str:
        params = json.loads(self.body)
        query_id = params.get("queryDefinitionId") or str(uuid.uuid4())
        definitions(self)[query_id] = {
            "queryDefinitionId": query_id,
            "name": params["name"],
            "queryString": params["queryString"],
            "logGroupNames": params.get("logGroupNames", []),
            "lastModified": int(time.time() * 1000),
        }
        return json.dumps({"queryDefinitionId": query_id})

    def describe_query_definitions(self: LogsResponse) -> str:
        prefix = json.loads(self.body).get("queryDefinitionNamePrefix", "")
        listed = [d for d in definitions(self).values() if d["name"].startswith(prefix)]
        return json.dumps({"queryDefinitions": listed})

    patches.replace(LogsResponse, "put_query_definition", put_query_definition)
    patches.replace(LogsResponse, "describe_query_definitions", describe_query_definitions)


# --- SQS: dead-letter queue redrive ------------------------------------------------------------------


def serve_message_move_tasks(patches: Patches) -> None:
    """``StartMessageMoveTask`` and ``ListMessageMoveTasks``, which moto 5.2.5 does not have.

    As SQS does: the source must be a dead-letter queue (some queue's redrive policy names it); without
    a ``DestinationArn`` each message goes back to the queue it was dead-lettered from (here: the one source
    queue whose redrive policy names the DLQ); the move copies each message's body and attributes to the
    destination and removes it from the source. The task runs at once and is listed as ``COMPLETED`` with the
    number of messages moved. Messages in flight (not visible) stay, as SQS moves only what it can receive.
    """
    from moto.core.responses import ActionResult
    from moto.sqs.exceptions import QueueDoesNotExist
    from moto.sqs.models import Queue, SQSBackend
    from moto.sqs.responses import SQSResponse

    def queue_by_arn(backend: SQSBackend, arn: str) -> Queue:
        for queue in backend.queues.values():
            if queue.queue_arn == arn:
                return queue
        raise QueueDoesNotExist()

    def tasks(backend: SQSBackend) -> list[dict[str, Any]]:
        if not hasattr(backend, "message_move_tasks"):
            backend.message_move_tasks = []  # type: ignore[attr-defined]
        return backend.message_move_tasks  # type: ignore[attr-defined,no-any-return]

    def start_message_move_task(self: SQSResponse) -> ActionResult:
        from moto.sqs.exceptions import InvalidParameterValue

        backend = self.sqs_backend
        source_arn = self._get_param("SourceArn")
        source = queue_by_arn(backend, source_arn)
        feeders = [
            q for q in backend.queues.values() if (q.redrive_policy or {}).get("deadLetterTargetArn") == source_arn
        ]
        if not feeders:
            raise InvalidParameterValue(f"Source queue must be configured as a Dead Letter Queue: {source_arn}")
        destination_arn = self._get_param("DestinationArn")
        destination = queue_by_arn(backend, destination_arn) if destination_arn else feeders[0]
        moved = [message for message in list(source._messages) if message.visible]
        for message in moved:
            backend.send_message(destination.name, message.body, message_attributes=dict(message.message_attributes))
            source._messages.remove(message)
        handle = str(uuid.uuid4())
        tasks(backend).append(
            {
                "TaskHandle": handle,
                "Status": "COMPLETED",
                "SourceArn": source_arn,
                "DestinationArn": destination.queue_arn,
                "ApproximateNumberOfMessagesMoved": len(moved),
                "ApproximateNumberOfMessagesToMove": len(moved),
                "StartedTimestamp": int(time.time() * 1000),
            }
        )
        return ActionResult({"TaskHandle": handle})

    def list_message_move_tasks(self: SQSResponse) -> ActionResult:
        source_arn = self._get_param("SourceArn")
        listed = [task for task in reversed(tasks(self.sqs_backend)) if task["SourceArn"] == source_arn]
        return ActionResult({"Results": listed[: int(self._get_param("MaxResults") or 1)]})

    patches.replace(SQSResponse, "start_message_move_task", start_message_move_task)
    patches.replace(SQSResponse, "list_message_move_tasks", list_message_move_tasks)


# --- CloudWatch Logs ----------------------------------------------------------------------------------------


def match_filter_patterns(patches: Patches) -> None:
    """FilterLogEvents with CloudWatch's filter pattern syntax (sandbox/log_filter.py).

    moto matches plain terms only and takes any other pattern, a JSON one (``{ $.correlation_id = "x" }``)
    or a term starting with a digit, as "unsupported": every event matches. An invalid pattern is refused
    with InvalidParameterException, as CloudWatch refuses it.
    """
    import moto.logs.models
    from moto.logs.exceptions import InvalidParameterException

    from sandbox.log_filter import FilterPatternError, compile_pattern

    class EventMessageFilter:
        def __init__(self, pattern: str) -> None:
            try:
                self._matches = compile_pattern(pattern or "")
            except FilterPatternError as error:
                raise InvalidParameterException(f"Invalid filter pattern: {error}") from error

        def matches(self, message: str) -> bool:
            return self._matches(message)

    patches.replace(moto.logs.models, "EventMessageFilter", EventMessageFilter)


def interleave_filtered_events(patches: Patches) -> None:
    """FilterLogEvents answers the events of all streams in time order, as CloudWatch has since 2019 (its
    ``interleaved`` parameter is deprecated and taken as true); moto answers stream after stream unless
    asked to interleave."""
    from moto.logs.models import LogsBackend

    original = LogsBackend.filter_log_events

    def filter_log_events(self: LogsBackend, *args: Any, **kwargs: Any) -> Any:
        if "interleaved" in kwargs:
            kwargs["interleaved"] = True
        else:
            args = (*args[:-1], True)
        return original(self, *args, **kwargs)

    patches.replace(LogsBackend, "filter_log_events", filter_log_events)


def log_state_machine_executions(patches: Patches) -> None:
    """Write every execution's events to the log group of its state machine's logging configuration.

    moto creates every execution, Standard or Express, without a logging session (and its session could
    not publish: sandbox/execution_logs.py), so a machine logging ``ALL`` to a group logged nothing.
    """
    from moto.stepfunctions.parser.asl.eval.event.logging import CloudWatchLoggingConfiguration
    from moto.stepfunctions.parser.backend.execution import Execution

    from sandbox.execution_logs import ExecutionLogSession

    original_init = Execution.__init__

    def init(self: Execution, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        if self._cloud_watch_logging_session is not None:
            return
        logging_config = dict(getattr(self.state_machine, "loggingConfiguration", None) or {})
        logging_config.setdefault("includeExecutionData", False)
        configuration = CloudWatchLoggingConfiguration.from_logging_configuration(
            self.state_machine.arn, logging_config
        )
        if configuration is not None:
            self._cloud_watch_logging_session = ExecutionLogSession(self.exec_arn, configuration, self.start_date)

    patches.replace(Execution, "__init__", init)


# --- Step Functions: the engine's per-execution and per-task costs -------------------------------------
#
# (Not gaps but waste: on a burst of executions these three were half of the sandbox process's CPU, which
# one GIL bounds; docs/performance.md, "Sandbox throughput".)


def parse_each_definition_once(patches: Patches) -> None:
    """Every execution's worker parses its machine's definition with the ANTLR parser (pure Python, about
    0.1 s of CPU for the backfill's definition) before running it: the same text, every time. Parse each
    definition once and keep a pool of programs per definition: an execution takes an idle one (a deep
    copy of the parsed program when none is idle, about 5 ms) and gives it back when its program ended.

    The parse tree's components keep no evaluation state: what an evaluation changes lives in its
    Environment (the heap keyed by each component's ``heap_key``) and in objects each evaluation creates
    (branch and job pools, map run records). Two executions at once must not share one, though:
    ``heap_key`` is set on first use. Only a program whose execution ended is given back: after a failure
    or a stop, a Parallel's or Map's worker threads may still be running on it. A definition that fails
    to parse is not kept and fails every time."""
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    parsed: dict[str, EvalComponent] = {}
    idle: dict[str, list[EvalComponent]] = {}
    lock = threading.Lock()
    execution_logic = ExecutionWorker._execution_logic

    def entrypoint(self: ExecutionWorker) -> EvalComponent:
        definition = self._evaluation_details.state_machine_details.definition
        with lock:
            program = idle.get(definition, []).pop() if idle.get(definition) else None
            original = parsed.get(definition)
        if program is None:
            if original is None:
                original = AmazonStateLanguageParser.parse(definition)[0]
                with lock:
                    original = parsed.setdefault(definition, original)
            program = copy.deepcopy(original)
        self._sandbox_program = (definition, program)  # type: ignore[attr-defined]
        return program

    def run(self: ExecutionWorker) -> None:
        execution_logic(self)
        taken = getattr(self, "_sandbox_program", None)
        if taken is not None and self.env is not None and isinstance(self.env.program_state(), ProgramEnded):
            with lock:
                idle.setdefault(taken[0], []).append(taken[1])

    patches.replace(ExecutionWorker, "_get_evaluation_entrypoint", entrypoint)
    patches.replace(ExecutionWorker, "_execution_logic", run)


#: The engine's modules that create a boto client per task (``from ...boto_client import boto_client_for``).
_TASK_CLIENT_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
)


def reuse_task_clients(patches: Patches, prepare: Callable[[Any], Any]) -> None:
    """The engine creates a new boto3 client for every task it runs (``boto_client_for``: a session, the
    service model, the event emitter's copy; about 15 ms of CPU each), and most of a per-event execution's
    states are tasks. Keep one client per (module, region, service, endpoint port): boto3 clients are
    thread-safe, the engine's ones sign with fixed fake keys (``state_credentials`` is not used), and the
    port is read per call so a later emulator on another port gets clients of its own. ``prepare`` is
    applied to each new client."""
    import importlib

    from moto.settings import moto_server_port

    lock = threading.Lock()
    for name in _TASK_CLIENT_MODULES:
        module = importlib.import_module(name)
        create = module.boto_client_for
        clients: dict[tuple[str, str, int], Any] = {}

        def boto_client_for(
            region: str,
            service: str,
            state_credentials: Any = None,
            create: Callable[..., Any] = create,
            clients: dict[tuple[str, str, int], Any] = clients,
        ) -> Any:
            key = (region, service, moto_server_port())
            with lock:
                if key not in clients:
                    clients[key] = prepare(create(region=region, service=service, state_credentials=state_credentials))
                return clients[key]

        patches.replace(module, "boto_client_for", boto_client_for)


def parse_each_json_path_once(patches: Patches) -> None:
    """The engine parses a state's JSONPath (``$.member.login``) with jsonpath-ng's PLY parser every time
    it evaluates it. A parsed path is an immutable expression: parse each path once."""
    from moto.stepfunctions.parser.asl.utils import json_path

    patches.replace(json_path, "parse", functools.lru_cache(maxsize=4096)(json_path.parse))


#: The modules of moto's Step Functions engine that copy state data with ``copy.deepcopy``.
_ENGINE_MODULES_THAT_COPY = (
    "moto.stepfunctions.parser.asl.eval.states",
    "moto.stepfunctions.parser.asl.eval.environment",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.common.path.result_path",
    "moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.json_manipulation.json_merge",
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def copy_json_value(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` for JSON-shaped data: dicts and lists rebuilt, scalars shared (they are immutable),
    anything else handed to ``copy.deepcopy``. It keeps no memo, so a value that appears twice is copied
    twice: state data parsed from JSON has no shared parts and no cycles."""
    kind = type(value)
    if kind is dict:
        return {key: copy_json_value(item) for key, item in value.items()}
    if kind is list:
        return [copy_json_value(item) for item in value]
    if kind in _JSON_SCALARS:
        return value
    return copy.deepcopy(value, memo)


class _JsonCopy:
    """``copy`` as the engine's modules use it, with :func:`copy_json_value` as its ``deepcopy``."""

    deepcopy = staticmethod(copy_json_value)
    copy = staticmethod(copy.copy)


def copy_state_data_as_json(patches: Patches) -> None:
    """The engine deep-copies a state's data at every step: every JSONPath query's result, the input of each
    state and of each Map iteration, the frame's stack. ``copy.deepcopy``'s general machinery (a memo, a
    dispatch per value, keep-alive lists) made it the largest cost of a stepfunctions backfill: 34 s of 103 s
    of the sandbox's CPU in a 500-member profile, most of it copying a page of 100 members per member. The
    data is JSON (it comes from and goes to JSON documents), so copy it as JSON: the same values, no part
    shared with the original."""
    import importlib

    for name in _ENGINE_MODULES_THAT_COPY:
        patches.replace(importlib.import_module(name), "copy", _JsonCopy)


# --- S3 ----------------------------------------------------------------------------------------------------

#: What every request to the emulator stands for: AWS's endpoints are TLS-only for this product (its bucket
#: policy denies the rest), the sandbox's loopback plain HTTP.
_S3_REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


def _bool_operation(expected_value: list[str] | str, actual_value: str) -> bool:
    """IAM's ``Bool`` condition operator: a case-insensitive match of "true"/"false"."""
    expected = [expected_value] if isinstance(expected_value, str | bool) else expected_value
    return actual_value.lower() in {str(value).lower() for value in expected}


def evaluate_bucket_policies_over_tls(patches: Patches) -> None:
    """Evaluate a bucket policy's conditions for a request made over TLS, as S3 does.

    moto 5.2.5 evaluates a bucket policy with no request context, knows one condition operator
    (StringEquals: any other counts as met) and takes a statement whose condition is not met for a denial,
    so the usual deny-insecure-transport statement (``"Bool": {"aws:SecureTransport": "false"}``) denied
    every request (403). In IAM's evaluation a statement whose condition is not met does not apply, and S3
    denies only what does not use TLS; every sandbox request stands for one that does.
    """
    from moto.iam import policy_conditions
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    operations = {**policy_conditions.CONDITION_OPERATIONS, "Bool": _bool_operation}

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = document["Statement"] if isinstance(document["Statement"], list) else [document["Statement"]]
        applying = [
            {key: value for key, value in statement.items() if key != "Condition"}
            for statement in statements
            if IAMPolicyStatement(statement)._check_conditions(dict(_S3_REQUEST_CONTEXT))
        ]
        if not applying:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps({**document, "Statement": applying})).is_action_permitted(action, resource)

    patches.replace(policy_conditions, "CONDITION_OPERATIONS", operations)
    patches.replace(FakeBucket, "get_permission", get_permission)


def name_s3_sdk_errors(patches: Patches) -> None:
    """Name an ``aws-sdk:s3`` task's errors ``S3.<Error>Exception`` as Step Functions does (``S3.S3Exception``
    for an unmodelled one). moto 5.2.5 knows the names of dynamodb's and sfn's only and used the lower-case
    service name for the rest (``s3.s3Exception``), which no ``Retry`` or ``Catch`` written for AWS matches."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk

    names = {**state_task_service_aws_sdk._SERVICE_ERROR_NAMES, "s3": "S3"}
    patches.replace(state_task_service_aws_sdk, "_SERVICE_ERROR_NAMES", names)


# --- Step Functions: Distributed Map ---------------------------------------------------------------------
#
# Where moto's grammar and engine fall short of AWS for the backfill's Distributed Map (a child per page of
# members, the pages listed by an s3:listObjectsV2 ItemReader). The two grammar gaps are fixed on the
# definition's JSON before moto's ANTLR parser reads it; the definition moto stores (DescribeStateMachine)
# is the one created, unchanged.


def _definition_json(definition: str) -> dict[str, Any] | None:
    """The definition as JSON, or None when it is not a JSON object (moto's parser then reports why)."""
    try:
        loaded = json.loads(definition)
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _states_in(states: Any) -> Any:
    """Every (name, declaration) of a ``States`` object, those of its Parallel branches and Map processors
    included (state names are unique in the whole state machine)."""
    if not isinstance(states, dict):
        return
    for name, state in states.items():
        if not isinstance(state, dict):
            continue
        yield name, state
        if state.get("Type") == "Map":
            for key in ("ItemProcessor", "Iterator"):
                if isinstance(state.get(key), dict):
                    yield from _states_in(state[key].get("States"))
        elif state.get("Type") == "Parallel":
            for branch in state.get("Branches") or []:
                if isinstance(branch, dict):
                    yield from _states_in(branch.get("States"))


def _map_states(definition: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, state) for name, state in _states_in(definition.get("States")) if state.get("Type") == "Map"]


def _program_map_states(states: Any) -> Any:
    """Every parsed Map state (moto's ``StateMap``) of a parsed ``States``, nested ones included."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.component.state.exec.state_parallel.state_parallel import StateParallel

    for state in states.states.values():
        if isinstance(state, StateMap):
            yield state
            yield from _program_map_states(state.iteration_component._states)
        elif isinstance(state, StateParallel):
            for program in state.branches.programs:
                yield from _program_map_states(program.states)


#: Task resources an Express workflow cannot run (AWS: "Express workflows don't support .sync" integrations,
#: nor waiting for a task token).
_EXPRESS_UNSUPPORTED = (".sync", ".waitForTaskToken")


def _express_unsupported_tasks(processor: dict[str, Any]) -> list[str]:
    """The ``Resource`` of each Task of an item processor that waits for a job or a token."""
    return [
        f"{name}: {state['Resource']}"
        for name, state in _states_in(processor.get("States"))
        if state.get("Type") == "Task"
        and isinstance(state.get("Resource"), str)
        and state["Resource"].startswith("arn:aws:states:::")
        and any(pattern in state["Resource"] for pattern in _EXPRESS_UNSUPPORTED)
    ]


def accept_express_map_children(patches: Patches) -> None:
    """Accept a Distributed Map whose children are Express workflows (``"ProcessorConfig": {"Mode":
    "DISTRIBUTED", "ExecutionType": "EXPRESS"}``), as AWS does.

    moto's grammar knows only ``"ExecutionType": "STANDARD"``, so CreateStateMachine refused the definition
    (``mismatched input '"EXPRESS"' expecting '"STANDARD"'``). The parser now reads such a processor as
    STANDARD (moto runs every child in process either way) and, as AWS, a definition whose Express children
    would run a ``.sync`` or ``.waitForTaskToken`` task is refused at creation. The parsed Map's iteration
    component keeps ``execution_type = "EXPRESS"`` and each of its map runs (moto's ``MapRunRecord``, in
    the execution's ``env.map_run_record_pool_manager``) gets the same ``execution_type`` ("STANDARD"
    otherwise), with the run's child count in its ``execution_counter``: what a cost meter reads to price
    the children as Express executions rather than as state transitions.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (  # noqa: E501
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    parse = AmazonStateLanguageParser.parse
    eval_body = DistributedIterationComponent._eval_body

    def express_processors(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
        processors = {}
        for name, state in _map_states(definition):
            processor = state.get("ItemProcessor") or state.get("Iterator")
            config = processor.get("ProcessorConfig") if isinstance(processor, dict) else None
            if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
                processors[name] = processor
        return processors

    def parse_express(definition: str) -> Any:
        loaded = _definition_json(definition)
        processors = express_processors(loaded) if loaded is not None else {}
        if not processors:
            return parse(definition)
        for name, processor in processors.items():
            if unsupported := _express_unsupported_tasks(processor):
                raise ASLParserException(
                    errors=[f"Map {name!r} runs Express children, and Express workflows don't support {unsupported}"]
                )
            processor["ProcessorConfig"]["ExecutionType"] = "STANDARD"
        program, tree = parse(json.dumps(loaded, ensure_ascii=False))
        for state_map in _program_map_states(program.states):
            if state_map.name in processors:
                state_map.iteration_component.execution_type = "EXPRESS"
        return program, tree

    def record_execution_type(self: Any, env: Any) -> None:
        env.stack[-1].map_run_record.execution_type = getattr(self, "execution_type", "STANDARD")
        eval_body(self, env)

    patches.replace(AmazonStateLanguageParser, "parse", staticmethod(parse_express))
    patches.replace(DistributedIterationComponent, "_eval_body", record_execution_type)


def accept_integer_failure_percentages(patches: Patches) -> None:
    """Accept an integer ``ToleratedFailurePercentage`` (``10``), as AWS documents it (0 to 100).

    moto's grammar takes only a NUMBER token there, which an integer is not (its lexer makes ``10`` an INT),
    so CreateStateMachine refused ``"ToleratedFailurePercentage": 10`` (``no viable alternative``); ``10.0``
    parsed. The parser now reads an integer percentage as that float. (``ToleratedFailureCount`` is an INT
    in the grammar: an integer count always parsed.)
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parse = AmazonStateLanguageParser.parse

    def parse_integer_percentages(definition: str) -> Any:
        loaded = _definition_json(definition)
        integers = [
            state
            for _, state in (_map_states(loaded) if loaded is not None else [])
            if type(state.get("ToleratedFailurePercentage")) is int
        ]
        if not integers:
            return parse(definition)
        for state in integers:
            state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
        return parse(json.dumps(loaded, ensure_ascii=False))

    patches.replace(AmazonStateLanguageParser, "parse", staticmethod(parse_integer_percentages))


#: The distributed worker classes (item processor, and the legacy Iterator) whose jobs are child executions.
_DISTRIBUTED_WORKERS = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor."
    "distributed_item_processor_worker.DistributedItemProcessorWorker",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator."
    "distributed_iterator_worker.DistributedIteratorWorker",
)


def _distributed_workers() -> list[type]:
    import importlib

    modules_and_names = (path.rsplit(".", 1) for path in _DISTRIBUTED_WORKERS)
    return [getattr(importlib.import_module(module), name) for module, name in modules_and_names]


def name_distributed_children(patches: Patches) -> None:
    """Give each child of a Distributed Map an execution of its own in the context object, as AWS does.

    On AWS every item runs as a child execution: inside it ``$$.Execution`` is the child's (its own name
    and ARN, ``arn:...:execution:<machine>/<map run label>:<name>``, its input, its start) and
    ``$$.StateMachine`` is the map run's child machine (``<machine>/<label>``); an Express child's ARN is
    made as the sandbox makes every Express execution's (``...:express:<machine>/<label>:<name>:<uuid>``).
    moto runs the item in a frame of the parent and left the parent's there, so a child read its parent's
    name and input. The ``ItemSelector`` (or ``Parameters``) is still evaluated in the parent's context
    first, as on AWS (the parent's ``$$.Execution.Name``, ``$$.Map.Item``); only then does the child get
    its own.
    """
    from moto.core.utils import iso_8601_datetime_with_milliseconds

    for worker in _distributed_workers():
        eval_input = worker._eval_input

        def child_input(self: Any, env_frame: Any, eval_input: Callable[..., None] = eval_input) -> None:
            eval_input(self, env_frame)
            record = self._map_run_record
            context = env_frame.states.context_object.context_object_data
            name = str(uuid.uuid4())
            machine = record.map_state_machine_arn
            if getattr(record, "execution_type", "STANDARD") == "EXPRESS":
                arn = f"{machine.replace(':stateMachine:', ':express:', 1)}:{name}:{uuid.uuid4()}"
            else:
                arn = f"{machine.replace(':stateMachine:', ':execution:', 1)}:{name}"
            context["Execution"] = {
                "Id": arn,
                "Input": copy.deepcopy(env_frame.states.get_input()),
                "Name": name,
                "RoleArn": context["Execution"]["RoleArn"],
                "StartTime": iso_8601_datetime_with_milliseconds(datetime.datetime.now(datetime.UTC)),
            }
            context["StateMachine"] = {"Id": machine, "Name": machine.split(":stateMachine:", 1)[-1]}

        patches.replace(worker, "_eval_input", child_input)


class _FailedChild(dict):  # type: ignore[type-arg]
    """A failed child execution's result in the Map's output (marked, to be counted; a dict otherwise)."""


def _failed_child_result(env: Any) -> _FailedChild | None:
    """What AWS puts in a Distributed Map's output for a child that failed or timed out (its execution
    result unchanged: the ``NONE`` transformation's metadata, with ``Error`` and ``Cause``), or None when
    the child succeeded or was stopped."""
    from moto.core.utils import iso_8601_datetime_with_milliseconds
    from moto.stepfunctions.parser.asl.eval.program_state import (
        ProgramEnded,
        ProgramError,
        ProgramStopped,
        ProgramTimedOut,
    )

    state = env.program_state()
    if isinstance(state, ProgramEnded | ProgramStopped):
        return None
    if isinstance(state, ProgramTimedOut):
        status, error, cause = "TIMED_OUT", "States.Timeout", None
    elif isinstance(state, ProgramError):
        status, error, cause = "FAILED", (state.error or {}).get("error"), (state.error or {}).get("cause")
    else:  # the item's input or the program raised before the program could end
        status, error, cause = "FAILED", "States.Runtime", None
    context = env.states.context_object.context_object_data
    result = _FailedChild(
        ExecutionArn=context["Execution"]["Id"],
        Input=json.dumps(context["Execution"]["Input"]),
        InputDetails={"Included": True},
        Name=context["Execution"]["Name"],
        StartDate=context["Execution"]["StartTime"],
        StateMachineArn=context["StateMachine"]["Id"],
        Status=status,
        StopDate=iso_8601_datetime_with_milliseconds(datetime.datetime.now(datetime.UTC)),
    )
    result.update({key: value for key, value in (("Error", error), ("Cause", cause)) if value is not None})
    return result


def _exceeds_tolerance(failed: int, total: int, declared: tuple[bool, bool], count: int, percentage: float) -> bool:
    """Whether ``failed`` of ``total`` items fail the map run: beyond ``ToleratedFailureCount`` or beyond
    ``ToleratedFailurePercentage`` of the items, whichever is declared (either one, if both are); with
    neither declared, both are 0: any failure does."""
    count_declared, percentage_declared = declared
    if not count_declared and not percentage_declared:
        return failed > 0
    return (count_declared and failed > count) or (percentage_declared and failed * 100 > percentage * total)


def enforce_tolerated_failures(patches: Patches) -> None:
    """Fail a Distributed Map whose failed children exceed its tolerated failures, as AWS does.

    AWS counts the child executions that failed or timed out; beyond ``ToleratedFailureCount`` or
    ``ToleratedFailurePercentage`` of the items (both 0 by default: any failure), the map run fails and
    the Map state fails with ``States.ExceedToleratedFailureThreshold``, which a Catch on the Map catches.
    Within the tolerance the Map succeeds and, without a ResultWriter, each failed child's place in its
    output holds the child's execution result unchanged (``ExecutionArn``, ``Name``, ``Input``,
    ``Status``, ``Error``, ``Cause``...; AWS's ResultWriter documentation: a failed child's result is
    as with the ``NONE`` transformation). moto parsed both fields, logged that they "have no effect", put
    ``null`` in a failed child's place and let the Map succeed whatever failed. Thresholds are read from
    the map run record when the run ends (``UpdateMapRun`` changes them there).
    """
    from moto.stepfunctions.parser.api import HistoryEventType, MapRunFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (  # noqa: E501
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
        ToleratedFailureCountDecl,
        ToleratedFailurePercentageDecl,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    from_state_props = StateMap.from_state_props
    map_run = DistributedIterationComponent._map_run

    def declare_tolerance(self: StateMap, state_props: Any) -> None:
        from_state_props(self, state_props)
        self.iteration_component.tolerance_declared = (  # type: ignore[attr-defined]
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )

    def fail_beyond_tolerance(self: Any, env: Any, eval_input: Any) -> None:
        map_run(self, env, eval_input)
        outputs = env.stack[-1]
        failed = sum(isinstance(output, _FailedChild) for output in outputs)
        env.stack[-1] = [dict(output) if isinstance(output, _FailedChild) else output for output in outputs]
        record = eval_input.map_run_record
        declared = getattr(self, "tolerance_declared", (False, False))
        count, percentage = record.tolerated_failure_count, record.tolerated_failure_percentage
        if failed and _exceeds_tolerance(failed, len(outputs), declared, count, percentage):
            error = StatesErrorNameType.StatesExceedToleratedFailureThreshold
            cause = (
                f"{failed} of {len(outputs)} child executions failed, more than tolerated "
                f"(ToleratedFailureCount {count}, ToleratedFailurePercentage {percentage})"
            )
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=error),
                    event_type=HistoryEventType.MapRunFailed,
                    event_details=EventDetails(
                        mapRunFailedEventDetails=MapRunFailedEventDetails(error=error.to_name(), cause=cause)
                    ),
                )
            )

    patches.replace(StateMap, "from_state_props", declare_tolerance)
    patches.replace(DistributedIterationComponent, "_map_run", fail_beyond_tolerance)
    for worker in _distributed_workers():
        eval_job = worker._eval_job

        def record_failure(self: Any, env: Any, job: Any, eval_job: Callable[..., None] = eval_job) -> None:
            eval_job(self, env, job)
            if (failed := _failed_child_result(env)) is not None:
                job.job_output = failed

        patches.replace(worker, "_eval_job", record_failure)


def count_ended_children(patches: Patches) -> None:
    """Count a Distributed Map child that failed or was stopped as no longer running, as AWS's DescribeMapRun
    does: moto's worker takes a child off ``executionCounts.running`` only when it succeeded, so a map run
    that had failed children said some were running when all had ended (and a child whose input could
    not be evaluated was not counted as failed at all)."""
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramRunning, ProgramTimedOut

    for worker in _distributed_workers():
        eval_job = worker._eval_job

        def count(self: Any, env: Any, job: Any, eval_job: Callable[..., None] = eval_job) -> None:
            eval_job(self, env, job)
            state = env.program_state()
            if isinstance(state, ProgramEnded | ProgramTimedOut):  # (moto took these off ``running``)
                return
            executions = self._map_run_record.execution_counter
            executions.running.offset(-1)
            if isinstance(state, ProgramRunning):
                executions.failed.count()

        patches.replace(worker, "_eval_job", count)


def list_s3_objects_as_items(patches: Patches) -> None:
    """Give a Distributed Map's ``arn:aws:states:::s3:listObjectsV2`` ItemReader every object under the
    prefix, each as AWS gives it: ``{"Etag", "Key", "LastModified", "Size", "StorageClass"}``, with
    ``LastModified`` in epoch seconds.

    moto's reader passed on boto3's ``Contents`` of the first page: ``ETag``, a ``datetime``
    ``LastModified`` (the Map's input could not be written as JSON: an item selected whole failed the
    execution), the checksum fields; at most 1,000 objects, and a prefix with no objects failed with
    ``KeyError: 'Contents'`` where AWS runs the Map over no items.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_reader.eval.resource_eval_s3 import (
        ResourceEvalS3,
    )

    def list_objects_v2(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
        s3 = ResourceEvalS3._get_s3_client(
            resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
        )
        pages = s3.get_paginator("list_objects_v2").paginate(**env.stack.pop())
        env.stack.append(
            [
                {
                    "Etag": listed["ETag"],
                    "Key": listed["Key"],
                    "LastModified": int(listed["LastModified"].timestamp()),
                    "Size": listed["Size"],
                    "StorageClass": listed.get("StorageClass", "STANDARD"),
                }
                for page in pages
                for listed in page.get("Contents", [])
            ]
        )

    patches.replace(ResourceEvalS3, "_handle_list_objects_v2", staticmethod(list_objects_v2))


# --- Step Functions: the SDK integration's responses ----------------------------------------------------


def read_s3_object_bodies(patches: Patches) -> None:
    """Give ``arn:aws:states:::aws-sdk:s3:getObject``'s ``Body`` as the object's content, a string, as AWS does.

    moto's engine passes on what boto3 answers, a stream (botocore's ``StreamingChecksumBody``): a state
    reading it (``States.StringToJson($.Body)``) failed with States.Runtime (``... has no attribute
    'strip'``), and the task's result could not be written as JSON. The stream is read and decoded as
    UTF-8 (an undecodable byte becomes U+FFFD).
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )

    cls = aws_sdk.StateTaskServiceAwsSdk
    normalise_response = cls._normalise_response

    def read_bodies(
        self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
    ) -> None:
        if isinstance(response, dict) and hasattr(response.get("Body"), "read"):
            response["Body"] = response["Body"].read().decode("utf-8", errors="replace")
        normalise_response(self, response, boto_service_name, service_action_name)

    patches.replace(cls, "_normalise_response", read_bodies)


# --- Step Functions: a Distributed Map's children as executions -------------------------------------------


@dataclass
class MapRunChild:
    """A STANDARD child execution of a map run, as ListExecutions, DescribeExecution and GetExecutionHistory
    show it. ``env`` is the child's frame: its event manager holds the child's own history. The attributes
    the cost meter reads of moto's executions (``execution_arn``, ``start_date``, ``stop_date``,
    ``to_history_output()``) are the same."""

    execution_arn: str
    name: str
    state_machine_arn: str
    map_run_arn: str
    input_data: Any
    start_date: datetime.datetime
    env: Any
    status: str = "RUNNING"
    stop_date: datetime.datetime | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def to_history_output(self) -> dict[str, Any]:
        return {"events": self.env.event_manager.get_event_history()}

    def list_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "mapRunArn": self.map_run_arn,
            "itemCount": 1,  # (one item per child: moto has no ItemBatcher)
        }
        if self.stop_date is not None:
            item["stopDate"] = self.stop_date
        return item

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "executionArn": self.execution_arn,
            "stateMachineArn": self.state_machine_arn,
            "name": self.name,
            "status": self.status,
            "startDate": self.start_date,
            "input": json.dumps(self.input_data, separators=(",", ":")),
            "inputDetails": {"included": True},
            "mapRunArn": self.map_run_arn,
        }
        if self.stop_date is not None:
            described["stopDate"] = self.stop_date
        if self.status == "SUCCEEDED":
            described["output"] = json.dumps(self.output, separators=(",", ":"))
            described["outputDetails"] = {"included": True}
        described.update({key: value for key, value in (("error", self.error), ("cause", self.cause)) if value})
        return described


_children_lock = threading.Lock()


def map_run_records(backend: Any) -> list[Any]:
    """Every map run record of the backend's Standard executions (a child's nested map runs are in its
    top-level parent's pool: moto's frames share it)."""
    records = []
    for execution in backend._get_executions():
        env = getattr(execution.exec_worker, "env", None)
        if env is not None:
            records.extend(env.map_run_record_pool_manager.get_all())
    return records


def _map_run_child(backend: Any, execution_arn: str) -> MapRunChild | None:
    """The map run child of that ARN (``...:execution:<machine>/<label>:<name>``), or None."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or "/" not in parts[6]:  # a top-level execution: its machine's name has no '/'
        return None
    for record in map_run_records(backend):
        for child in list(getattr(record, "children", ())):
            if child.execution_arn == execution_arn:
                return child  # type: ignore[no-any-return]
    return None


def serve_map_run_children(patches: Patches) -> None:
    """Keep each STANDARD child of a Distributed Map as an execution of its own, as AWS does:
    ``ListExecutions(mapRunArn=...)`` lists a map run's children (``mapRunArn`` and ``itemCount`` in each
    item; ``statusFilter``, ``maxResults``/``nextToken`` as for a machine's executions),
    ``DescribeExecution`` describes one (with its ``mapRunArn``) and ``GetExecutionHistory`` gives its own
    events, from ``ExecutionStarted`` (id 1) to ``ExecutionSucceeded``/``Failed``/``TimedOut``/``Aborted``;
    ``ListMapRuns`` of an execution lists the map runs that execution started, a child's included.

    moto 5.2.5 ran every child in a frame of the parent writing to one fresh event manager that it then
    dropped, registered no execution for it, and crashed on ``ListExecutions(mapRunArn=...)`` (it reads
    only ``stateMachineArn``): ``stackops trace`` could not follow a backfill into its pages. A child
    stays off its parent machine's ``ListExecutions(stateMachineArn=...)``, as on AWS (either a machine or
    a map run is listed). Express children are not kept: AWS keeps no history of Express executions.
    The child's ARN and name are the ones ``name_distributed_children`` gave it.
    """
    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import ResourceNotFound
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext, EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import (
        ProgramEnded,
        ProgramError,
        ProgramStopped,
        ProgramTimedOut,
    )
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse
    from moto.utilities.paginator import Paginator

    def start_child(self: Any, env: Any) -> None:
        """After the child's input (and name) is made: its own history, opened by ExecutionStarted."""
        record = self._map_run_record
        if getattr(record, "execution_type", "STANDARD") == "EXPRESS":
            return
        context = env.states.context_object.context_object_data
        child = MapRunChild(
            execution_arn=context["Execution"]["Id"],
            name=context["Execution"]["Name"],
            state_machine_arn=record.map_state_machine_arn,
            map_run_arn=record.map_run_arn,
            input_data=copy.deepcopy(env.states.get_input()),
            start_date=datetime.datetime.now(datetime.UTC),
            env=env,
        )
        env.event_manager = EventManager()
        env.event_history_context = EventHistoryContext.of_program_start()
        env.event_manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionStarted,
            event_details=EventDetails(
                executionStartedEventDetails={
                    "input": json.dumps(child.input_data),
                    "inputDetails": {"truncated": False},
                    "roleArn": context["Execution"]["RoleArn"],
                }
            ),
            update_source_event_id=False,
        )
        env.sandbox_map_run_child = child
        with _children_lock:
            vars(record).setdefault("children", []).append(child)

    def end_child(env: Any) -> None:
        """After the child's program: the terminal event of its history, then its status."""
        child: MapRunChild | None = getattr(env, "sandbox_map_run_child", None)
        if child is None:
            return
        state = env.program_state()
        if isinstance(state, ProgramEnded):
            child.output = env.states.get_input()
            status, event = "SUCCEEDED", HistoryEventType.ExecutionSucceeded
            output = json.dumps(child.output, separators=(",", ":"))
            details = {"executionSucceededEventDetails": {"output": output, "outputDetails": {"truncated": False}}}
        elif isinstance(state, ProgramTimedOut):
            status, event = "TIMED_OUT", HistoryEventType.ExecutionTimedOut
            details = {"executionTimedOutEventDetails": {}}
        elif isinstance(state, ProgramStopped):
            status, event = "ABORTED", HistoryEventType.ExecutionAborted
            details = {"executionAbortedEventDetails": {}}
        else:  # failed, or its program raised before it could end (States.Runtime, as _failed_child_result says)
            error = (state.error or {}) if isinstance(state, ProgramError) else {"error": "States.Runtime"}
            child.error, child.cause = error.get("error"), error.get("cause")
            status, event = "FAILED", HistoryEventType.ExecutionFailed
            details = {"executionFailedEventDetails": {k: v for k, v in error.items() if k in ("error", "cause")}}
        env.event_manager.add_event(
            context=env.event_history_context, event_type=event, event_details=EventDetails(**details)
        )
        child.stop_date = datetime.datetime.now(datetime.UTC)
        child.status = status

    for worker in _distributed_workers():
        eval_input, eval_job = worker._eval_input, worker._eval_job

        def child_input(self: Any, env_frame: Any, eval_input: Callable[..., None] = eval_input) -> None:
            eval_input(self, env_frame)
            start_child(self, env_frame)

        def child_job(self: Any, env: Any, job: Any, eval_job: Callable[..., None] = eval_job) -> None:
            try:
                eval_job(self, env, job)
            finally:
                end_child(env)

        patches.replace(worker, "_eval_input", child_input)
        patches.replace(worker, "_eval_job", child_job)

    describe_execution = StepFunctionsParserBackend.describe_execution
    list_map_runs = StepFunctionsParserBackend.list_map_runs
    describe_execution_action = StepFunctionResponse.describe_execution
    list_executions_action = StepFunctionResponse.list_executions

    def describe(self: Any, execution_arn: str) -> Any:
        return _map_run_child(self, execution_arn) or describe_execution(self, execution_arn)

    def map_runs_of(self: Any, execution_arn: str) -> dict[str, Any]:
        """The map runs this execution started (moto listed every run of its top-level parent's pool)."""
        if _map_run_child(self, execution_arn) is None:
            return list_map_runs(self, execution_arn)  # type: ignore[no-any-return]
        records = [r for r in map_run_records(self) if r.execution_arn == execution_arn]
        return {"mapRuns": [record.list_item() for record in records]}

    def describe_execution_response(self: StepFunctionResponse) -> ActionResult:
        child = _map_run_child(self.stepfunction_backend, self._get_param("executionArn") or "")
        return ActionResult(child.describe()) if child is not None else describe_execution_action(self)

    def list_executions_response(self: StepFunctionResponse) -> ActionResult:
        map_run_arn = self._get_param("mapRunArn")
        if map_run_arn is None:
            return list_executions_action(self)
        backend = self.stepfunction_backend
        record = next((r for r in map_run_records(backend) if r.map_run_arn == map_run_arn), None)
        if record is None:
            raise ResourceNotFound(map_run_arn)
        status = self._get_param("statusFilter")
        with _children_lock:
            children = [c for c in getattr(record, "children", ()) if status is None or c.status == status]
        children.sort(key=lambda child: (child.start_date, child.execution_arn), reverse=True)
        paginator = Paginator(
            max_results=self._get_int_param("maxResults") or 100,
            max_results_default=100,
            starting_token=self._get_param("nextToken"),
            unique_attribute=["start_date", "execution_arn"],
            param_values_to_check={"map_run_arn": map_run_arn, "status_filter": status},
        )
        page, next_token = paginator.paginate(children)
        response: dict[str, Any] = {"executions": [child.list_item() for child in page]}
        if next_token is not None:
            response["nextToken"] = next_token
        return ActionResult(response)

    patches.replace(StepFunctionsParserBackend, "describe_execution", describe)
    patches.replace(StepFunctionsParserBackend, "list_map_runs", map_runs_of)
    patches.replace(StepFunctionResponse, "describe_execution", describe_execution_response)
    patches.replace(StepFunctionResponse, "list_executions", list_executions_response)
