"""SigV4 checking for the HTTP API data plane's ``AWS_IAM`` routes, as API Gateway does it.

API Gateway answers a request to an ``AWS_IAM`` route 403 unless it is signed (Signature Version 4,
service ``execute-api``) with the credentials of a known principal: unsigned, ``{"message":"Forbidden"}``;
an unknown access key, ``The security token included in the request is invalid.``; a wrong signature,
``The request signature we calculated does not match ...``; a signature older than 15 minutes, ``Signature
expired``. The expected signature is computed with botocore's own signer (``SigV4Auth``) over the
headers the request says it signed, at the time it says it was signed, with the secret key the sandbox
knows for that access key. What IAM would then decide (the caller's policy allowing
``execute-api:Invoke``) is not modelled: every known principal may call.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICE = "execute-api"
MAX_SKEW = timedelta(minutes=15)
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})\s*"
)
FORBIDDEN = "Forbidden"
INVALID_TOKEN = "The security token included in the request is invalid."
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


def refusal(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    region: str,
    now: datetime | None = None,
) -> str | None:
    """Why API Gateway would refuse this request to an ``AWS_IAM`` route (its 403 message), or None.

    ``headers`` are the request's, names in lower case; ``credentials`` maps access key ids to secret keys.
    """
    found = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
    if found is None:
        return FORBIDDEN
    secret = credentials.get(found["key"])
    if secret is None:
        return INVALID_TOKEN
    timestamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return FORBIDDEN
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_SKEW:
        return "Signature expired"
    if found["service"] != SERVICE or found["region"] != region or found["date"] != timestamp[:8]:
        return MISMATCH
    names = found["signed"].split(";")
    if "host" not in names or any(name not in headers for name in names):
        return MISMATCH
    request = AWSRequest(method=method, url=url, data=body, headers={name: headers[name] for name in names})
    request.context["timestamp"] = timestamp
    signer = SigV4Auth(Credentials(found["key"], secret, headers.get("x-amz-security-token")), SERVICE, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return None if hmac.compare_digest(expected, found["signature"]) else MISMATCH
