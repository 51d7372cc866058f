"""A deployed stack's outputs: where `trace`, `redrive` and `chargeback` find its queues, state machines, log
groups, tables and GitHub App.

Never names built here from a naming convention: the outputs the Pulumi program exports (``__main__.py``),
read from the Pulumi stack (``pulumi stack output --json --stack NAME``) or, for a stack of the sandbox, from
the file a running ``python -m sandbox up`` writes (:data:`SANDBOX_OUTPUTS_DIR`), which also says where the
embedded AWS listens.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

#: ``python -m sandbox up`` writes ``<stack>.json`` here while it runs (sandbox/cli.py) and removes it after.
SANDBOX_OUTPUTS_DIR = Path("build") / "sandbox" / "stacks"
PULUMI_TIMEOUT_SECONDS = 120


class StackOutputsError(RuntimeError):
    """The stack's outputs cannot be read; the message says which stack and why."""


@dataclass(frozen=True)
class StackOutputs:
    stack: str
    architecture: Literal["sqs", "stepfunctions"]
    #: sqs: each step's queue and dead-letter queue, by step key
    queue_urls: Mapping[str, str] = field(default_factory=dict)
    dead_letter_queue_urls: Mapping[str, str] = field(default_factory=dict)
    #: stepfunctions: each state machine, by use case (ONBOARDING, CHARGEBACK, BACKFILL)
    state_machine_arns: Mapping[str, str] = field(default_factory=dict)
    #: every function's log group by function key; every state machine's by use case
    function_log_groups: Mapping[str, str] = field(default_factory=dict)
    state_machine_log_groups: Mapping[str, str] = field(default_factory=dict)
    #: the chargeback table (``pk``/``sk``, GSI ``period-index``); None in outputs of a version without it
    workflow_runs_table: str | None = None
    #: the GitHub the App talks to, and the secret holding its identity (``chargeback reconcile``)
    github_org: str | None = None
    github_api_url: str | None = None
    github_api_version: str | None = None
    github_app_secret_arn: str | None = None
    #: the AWS endpoint the stack lives at: None is AWS itself; the sandbox's embedded AWS otherwise
    endpoint_url: str | None = None
    region: str | None = None

    @classmethod
    def from_exports(
        cls, stack: str, exports: Mapping[str, Any], endpoint_url: str | None = None, region: str | None = None
    ) -> StackOutputs:
        architecture = exports.get("architecture")
        if architecture not in ("sqs", "stepfunctions"):
            raise StackOutputsError(
                f"stack {stack!r}: its outputs have no architecture (sqs or stepfunctions), got {architecture!r}; "
                "is it a github-automation stack, deployed with this version (`pulumi up`)?"
            )
        if "functionLogGroups" not in exports:
            raise StackOutputsError(
                f"stack {stack!r}: its outputs have no functionLogGroups; run `pulumi up` with this version first"
            )
        return cls(
            stack=stack,
            architecture=architecture,
            queue_urls=dict(exports.get("queueUrls", {})),
            dead_letter_queue_urls=dict(exports.get("deadLetterQueueUrls", {})),
            state_machine_arns=dict(exports.get("stateMachineArns", {})),
            function_log_groups=dict(exports["functionLogGroups"]),
            state_machine_log_groups=dict(exports.get("stateMachineLogGroups", {})),
            workflow_runs_table=exports.get("workflowRunsTable"),
            github_org=exports.get("githubOrg"),
            github_api_url=exports.get("githubApiUrl"),
            github_api_version=exports.get("githubApiVersion"),
            github_app_secret_arn=exports.get("githubAppSecretArn"),
            endpoint_url=endpoint_url,
            region=region,
        )

    def need(self, name: str, export: str) -> str:
        """An output a command cannot work without, or a :class:`StackOutputsError` saying which is missing."""
        value = getattr(self, name)
        if not value:
            raise StackOutputsError(
                f"stack {self.stack!r}: its outputs have no {export}; run `pulumi up` with this version first"
            )
        return str(value)

    def client(self, service: str) -> Any:
        """A boto3 client for the place the stack lives (the sandbox's endpoint, or AWS)."""
        import boto3

        options: dict[str, Any] = {}
        if self.endpoint_url:  # the sandbox takes any credentials; a laptop may have none configured
            options |= {
                "endpoint_url": self.endpoint_url,
                "aws_access_key_id": "sandbox",
                "aws_secret_access_key": "sandbox",
            }
        if self.region:
            options["region_name"] = self.region
        return boto3.client(service, **options)


def sandbox_outputs_file(stack: str, root: Path = Path()) -> Path:
    return root / SANDBOX_OUTPUTS_DIR / f"{stack}.json"


def write_sandbox_outputs(
    stack: str, exports: Mapping[str, Any], endpoint_url: str, region: str, root: Path = Path()
) -> Path:
    path = sandbox_outputs_file(stack, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"endpointUrl": endpoint_url, "region": region, "outputs": dict(exports)}, indent=2))
    return path


def load(stack: str, root: Path = Path()) -> StackOutputs:
    """The outputs of ``stack``: a running sandbox's if it has that stack, else the Pulumi stack's."""
    sandbox_file = sandbox_outputs_file(stack, root)
    if sandbox_file.exists():
        saved = json.loads(sandbox_file.read_text())
        return StackOutputs.from_exports(stack, saved["outputs"], saved["endpointUrl"], saved["region"])
    return StackOutputs.from_exports(stack, pulumi_outputs(stack, root))


def pulumi_outputs(stack: str, root: Path = Path()) -> dict[str, Any]:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise StackOutputsError(
            f"stack {stack!r}: no running sandbox has it ({sandbox_outputs_file(stack, root)} is missing: start "
            "`make up`) and the pulumi CLI is not installed to read a deployed one"
        )
    try:
        done = subprocess.run(
            [pulumi, "stack", "output", "--json", "--stack", stack],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=PULUMI_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise StackOutputsError(
            f"stack {stack!r}: `pulumi stack output` took over {PULUMI_TIMEOUT_SECONDS} s"
        ) from None
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise StackOutputsError(f"stack {stack!r}: `pulumi stack output --json` failed: {reason}")
    outputs: dict[str, Any] = json.loads(done.stdout)
    return outputs
