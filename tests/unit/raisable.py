"""The error names a Step Functions Task can raise, derived from what it calls.

- ``lambda:invoke``: the exception classes of the ``functions`` package that the invoked function's code
  can construct, found by walking its call graph (a reached class brings all its methods, since which
  implementation runs is decided at run time), plus Lambda's own service errors: the error shapes of
  botocore's ``Invoke`` and the names Step Functions documents ("Handle Lambda service exceptions").
- An optimized integration (``sns:publish``, ``states:startExecution``, ``dynamodb:putItem``...) and an
  ``aws-sdk:<service>:<action>`` one: the error shapes of the operation in botocore's service model,
  named ``<Service>.<Shape>`` with the ``Exception`` suffix added where the shape lacks it (Step Functions
  developer guide, "Learning to use AWS service SDK integrations"); an SDK integration also raises its
  service's base exception for an error code the model does not list (``Sfn.SfnException``).
- Every task: the ``States.*`` names of the Amazon States Language, and the client-side
  ``<Service>.SdkClientException`` (documented for Lambda; the integrations share the same SDK).
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session

PACKAGE = "functions"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / PACKAGE

STATES_ERRORS = frozenset(
    {
        "States.ALL",
        "States.DataLimitExceeded",
        "States.ExceedToleratedFailureThreshold",
        "States.HeartbeatTimeout",
        "States.Http.Socket",
        "States.IntrinsicFailure",
        "States.ItemReaderFailed",
        "States.NoChoiceMatched",
        "States.ParameterPathFailure",
        "States.Permissions",
        "States.QueryEvaluationError",
        "States.ResultPathMatchFailure",
        "States.ResultWriterFailed",
        "States.Runtime",
        "States.TaskFailed",
        "States.Timeout",
        "States.BranchFailed",
    }
)
#: Lambda errors Step Functions reports besides the Invoke API's own shapes (developer guide,
#: "Handle Lambda service exceptions": unhandled errors and timeouts are ``Lambda.Unknown``).
LAMBDA_DOCUMENTED = frozenset(
    {
        "Lambda.AWSLambdaException",
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.SdkClientException",
        "Lambda.Unknown",
    }
)
#: Optimized integrations: the ASL service name -> (botocore service, error name prefix).
OPTIMIZED = {
    "lambda": ("lambda", "Lambda"),
    "sns": ("sns", "SNS"),
    "sqs": ("sqs", "SQS"),
    "states": ("stepfunctions", "StepFunctions"),
    "dynamodb": ("dynamodb", "DynamoDB"),
}
#: AWS SDK integrations: the ASL service name -> (botocore service, error name prefix).
SDK = {
    "dynamodb": ("dynamodb", "DynamoDb"),
    "sfn": ("stepfunctions", "Sfn"),
    "cloudwatch": ("cloudwatch", "CloudWatch"),
    "s3": ("s3", "S3"),
}
_RESOURCE = re.compile(r"^arn:aws:states:::(?:(aws-sdk):)?([a-z0-9]+):([A-Za-z]+)(?:\.[a-z0-9:]+)?$")


def with_exception_suffix(shape: str) -> str:
    return shape if shape.endswith("Exception") else f"{shape}Exception"


@cache
def _operation_errors(service: str, action: str) -> frozenset[str]:
    model = botocore.session.get_session().get_service_model(service)
    operation = next(name for name in model.operation_names if name.lower() == action.lower())
    return frozenset(shape.name for shape in model.operation_model(operation).error_shapes)


def integration_errors(resource: str) -> frozenset[str]:
    """What an integration (not a Lambda's own code) can raise, by its ``Resource`` ARN."""
    match = _RESOURCE.match(resource)
    if match is None:
        raise ValueError(f"not a Step Functions service integration: {resource!r}")
    sdk, service, action = match.groups()
    if action == "invoke" and service == "lambda" and not sdk:
        action = "Invoke"
    botocore_service, prefix = (SDK if sdk else OPTIMIZED)[service]
    names = {f"{prefix}.{with_exception_suffix(shape)}" for shape in _operation_errors(botocore_service, action)}
    names.add(f"{prefix}.SdkClientException")
    if sdk:
        names.add(f"{prefix}.{prefix}Exception")
    if service == "lambda" and not sdk:
        names |= LAMBDA_DOCUMENTED
    return frozenset(names) | STATES_ERRORS


# --- the functions' own errors: a call graph over the package's source --------------------------------


@dataclass
class _Module:
    name: str
    tree: ast.Module
    definitions: dict[str, ast.AST] = field(default_factory=dict)  # top-level def/class by name
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local -> (module, attribute)


@cache
def _module(name: str) -> _Module | None:
    relative = Path(*name.split("."))
    for path in (PACKAGE_DIR.parent / relative.with_suffix(".py"), PACKAGE_DIR.parent / relative / "__init__.py"):
        if path.is_file():
            break
    else:
        return None
    module = _Module(name, ast.parse(path.read_text(), str(path)))
    for node in module.tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            module.definitions[node.name] = node
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            for alias in node.names:
                local = alias.asname or alias.name
                submodule = f"{node.module}.{alias.name}"
                module.imports[local] = (submodule, None) if _module(submodule) else (node.module, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    module.imports[alias.asname or alias.name] = (alias.name, None)
    return module


def _exception_class(module: str, name: str) -> str | None:
    """``name`` if ``module.name`` is an exception class of the package."""
    value = getattr(importlib.import_module(module), name, None)
    return name if isinstance(value, type) and issubclass(value, BaseException) else None


def _resolve(module: _Module, node: ast.expr) -> tuple[str, str] | None:
    """The (module, top-level name) of the package that a Name or ``module.attr`` expression refers to."""
    if isinstance(node, ast.Name):
        if node.id in module.definitions:
            return module.name, node.id
        if node.id in module.imports:
            target, attribute = module.imports[node.id]
            return (target, attribute) if attribute else None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in module.imports:
        target, attribute = module.imports[node.value.id]
        if attribute is None:
            return target, node.attr
    return None


def _walk(nodes: list[ast.stmt]) -> Iterator[ast.AST]:
    for statement in nodes:
        yield from ast.walk(statement)


def raisable_by_function(module_name: str) -> frozenset[str]:
    """Exception class names of the package that ``functions.<module_name>``'s handler can construct."""
    root = _module(f"{PACKAGE}.{module_name}")
    assert root is not None, f"no module {PACKAGE}.{module_name}"
    top_level = [n for n in root.tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    pending: list[tuple[_Module, list[ast.stmt]]] = [(root, top_level)]
    if isinstance(handler := root.definitions.get("handler"), (ast.FunctionDef, ast.AsyncFunctionDef)):
        pending.append((root, list(handler.body)))
    seen: set[tuple[str, str]] = set()
    raised: set[str] = set()
    while pending:
        module, body = pending.pop()
        for node in _walk(body):
            constructed = node.func if isinstance(node, ast.Call) else node.exc if isinstance(node, ast.Raise) else None
            reference = _resolve(module, node) if isinstance(node, (ast.Name, ast.Attribute)) else None
            target = _resolve(module, constructed) if constructed is not None else None
            if target is not None and (error := _exception_class(*target)) is not None:
                raised.add(error)
            if reference is None or reference in seen:
                continue
            seen.add(reference)
            definition_module = _module(reference[0])
            if definition_module is None or reference[1] not in definition_module.definitions:
                continue
            definition = definition_module.definitions[reference[1]]
            assert isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            pending.append((definition_module, list(definition.body) + list(definition.decorator_list)))  # type: ignore[arg-type]
    return frozenset(raised)
