"""One Logger, Tracer and Metrics per process, shared by every module of a function.

Service name and metrics namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE,
which the Pulumi program sets per function. Every metric also carries a ``Stack`` dimension, the Pulumi
stack name from GITHUB_AUTOMATION_STACK: two stacks in one account (say dev and dev-sfn, compared side by
side) would otherwise add up into one metric.

The Tracer patches only the libraries whose calls are subsegments: botocore (every AWS call) and httpx
(every GitHub call: githubkit builds its client with ``httpx.Client``, which the patch replaces, so the
client must be created after this import). Left to itself it would patch every library aws_xray_sdk
supports that is installed, each import costing cold-start time.
"""

import os
from collections.abc import Mapping

from aws_lambda_powertools import Logger, Metrics, Tracer

STACK_ENV = "GITHUB_AUTOMATION_STACK"
STACK_DIMENSION = "Stack"
#: What the Tracer patches for X-Ray subsegments (aws_xray_sdk's module names).
PATCHED_MODULES = ("botocore", "httpx")

logger = Logger()
tracer = Tracer(patch_modules=PATCHED_MODULES)
metrics = Metrics()


def set_stack_dimension(environ: Mapping[str, str] = os.environ) -> None:
    """Give every metric this process emits the ``Stack`` dimension (none outside a deployed stack).

    Runs at import; call it again only between invocations (it drops metrics not flushed yet).
    """
    metrics.clear_default_dimensions()
    metrics.clear_metrics()
    stack = environ.get(STACK_ENV)
    if stack:
        metrics.set_default_dimensions(**{STACK_DIMENSION: stack})


set_stack_dimension()
