"""The sandbox's SigV4 check of AWS_IAM routes: what botocore signs passes, anything else is API Gateway's 403."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sandbox import sigv4

URL = "http://127.0.0.1:8123/chargeback?month=2026-03"
KNOWN = {"sandbox": "sandbox"}


def signed(url: str = URL, key: str = "sandbox", secret: str = "sandbox", region: str = "us-east-1") -> dict[str, str]:
    """The headers a SigV4 client (botocore's signer, as the AWS SDKs and awscurl sign) sends."""
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials(key, secret), "execute-api", region).add_auth(request)
    headers = {name.lower(): value for name, value in request.headers.items()}
    return headers | {"host": "127.0.0.1:8123"}


def refusal(headers: dict[str, str], url: str = URL, now: datetime | None = None) -> str | None:
    return sigv4.refusal("GET", url, headers, b"", KNOWN, "us-east-1", now=now)


def test_a_request_botocore_signed_with_known_credentials_is_accepted() -> None:
    assert refusal(signed()) is None


def test_an_unsigned_request_is_forbidden() -> None:
    assert refusal({"host": "127.0.0.1:8123"}) == "Forbidden"


def test_a_changed_query_another_secret_region_or_method_does_not_match() -> None:
    assert refusal(signed(), url=URL.replace("2026-03", "2026-04")) == sigv4.MISMATCH
    assert refusal(signed(secret="guessed")) == sigv4.MISMATCH
    assert refusal(signed(region="eu-west-1")) == sigv4.MISMATCH
    assert sigv4.refusal("POST", URL, signed(), b"", KNOWN, "us-east-1") == sigv4.MISMATCH


def test_an_unknown_access_key_is_an_invalid_token() -> None:
    assert refusal(signed(key="AKIDUNKNOWN")) == sigv4.INVALID_TOKEN


def test_a_signature_older_than_15_minutes_has_expired() -> None:
    assert refusal(signed(), now=datetime.now(UTC) + timedelta(minutes=16)) == "Signature expired"
