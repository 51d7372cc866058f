"""A Secrets Manager secret read with boto3 and kept for a while, with the standard library only.

The receiver's hot path (no Powertools there: see ``functions.common.json_logging``) reads the webhook
secret this way; the other functions read theirs through Powertools' parameters
(``functions.common.secrets``), with the same cache time.
"""

from __future__ import annotations

import time
from functools import cache

import boto3
from botocore.client import BaseClient

SECRET_CACHE_SECONDS = 300

_cached: dict[str, tuple[float, str]] = {}


@cache
def secrets_client() -> BaseClient:
    return boto3.client("secretsmanager")


def get_secret(arn: str, max_age: float = SECRET_CACHE_SECONDS, client: BaseClient | None = None) -> str:
    """The secret's value (a binary secret decoded as UTF-8), fetched again once ``max_age`` seconds old."""
    now = time.monotonic()
    cached = _cached.get(arn)
    if cached is not None and now - cached[0] < max_age:
        return cached[1]
    response = (client or secrets_client()).get_secret_value(SecretId=arn)
    value = str(response["SecretString"]) if "SecretString" in response else bytes(response["SecretBinary"]).decode()
    _cached[arn] = (now, value)
    return value


def clear_cache() -> None:
    _cached.clear()
    secrets_client.cache_clear()
