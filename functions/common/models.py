"""The messages that travel between steps, in both architectures.

They are the state input/output in Step Functions and the message bodies in SQS, so the same JSON
(camelCase, as the ASL definitions read it) crosses both. Every message carries the correlation id:
the GitHub delivery id (``X-GitHub-Delivery``). Only the fields the pipeline needs travel, never the
whole webhook body (Step Functions payloads are capped at 256 KiB).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field
from pydantic.alias_generators import to_camel

from functions.common.github_names import check_login, check_repository_name

Login = Annotated[str, Field(strict=True), AfterValidator(check_login)]
RepositoryName = Annotated[str, Field(strict=True), AfterValidator(check_repository_name)]
GitHubId = Annotated[int, Field(strict=True, gt=0)]
"""A GitHub id, run id or run attempt: a strictly positive integer, never a bool, float or string."""


class Message(BaseModel):
    """Base of every step message: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)

    correlation_id: str
    #: When the receiver got the delivery (epoch milliseconds); every step passes it on to its output
    #: (functions/common/adapter.py), so the last one can report the end-to-end latency. None on a message
    #: dispatched before the field existed.
    received_at: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready form sent to the next step."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class MemberRef(Message):
    """A person to onboard: from ``organization.member_added`` or from a backfill."""

    org: Login
    login: Login
    user_id: GitHubId
    source: Literal["member_added", "backfill"] = "member_added"


class TeamMembership(MemberRef):
    """A person after ``add_team_member``: their membership of the onboarding team."""

    team: str
    role: Literal["member", "maintainer"]
    state: str  # GitHub's membership state: "active" or "pending" (invitation not yet accepted)


class WorkflowRunRef(Message):
    """A completed workflow run attempt to price, from ``workflow_run.completed``."""

    owner: Login
    repo: RepositoryName
    repository_private: bool
    run_id: GitHubId
    run_attempt: GitHubId
    workflow_name: str
    conclusion: str | None = None
    event: str | None = None
    head_branch: str | None = None
    completed_at: str  # the run's updated_at, ISO 8601 UTC: which month the cost is booked to
    html_url: str | None = None


#: The use cases of a delivery (functions/receiver.py ``USE_CASE``): a backfilled member is the installation's.
LatencyUseCase = Literal["member_added", "workflow_run", "installation"]


Item = TypeVar("Item", bound=Message)
Request = TypeVar("Request", bound=Message)


class BackfillRequest(Message):
    """Onboard every member of an organization: from ``installation.created`` or by hand.

    ``list-org-members`` lists one page per invocation: the receiver asks for page 1, and each page's
    result carries the request for the next one (``page``, and ``listed``: the members on the pages before
    it), so no invocation's work grows with the organization.

    With the ``github-saml`` directory, the pages of the org's SAML identities come first (100 a page,
    ``identities_cursor`` naming the next one, ``identities_done`` once they are all read or cannot be),
    cached for the backfill's lookups (``functions/saml_identities.py``): one GraphQL page per 100
    members instead of one query per member. A request that names member page 2 or later skips them.
    """

    org: Login
    installation_id: GitHubId | None = None
    page: Annotated[int, Field(strict=True, ge=1)] = 1
    listed: Annotated[int, Field(strict=True, ge=0)] = 0
    identities_done: Annotated[bool, Field(strict=True)] = False
    #: GitHub's opaque ``endCursor`` of the identity page before; None: the first identity page.
    identities_cursor: Annotated[str, Field(strict=True, min_length=1, max_length=1024)] | None = None
    #: The identities cached so far by this backfill (for the log and the listing's marker).
    identities_listed: Annotated[int, Field(strict=True, ge=0)] = 0


class Page(BaseModel, Generic[Item, Request]):
    """One page of a paginated step's result: its items, and the request for the next page (None: last).

    The adapter forwards ``items`` like a list result and, in the sqs architecture, sends ``next`` back to
    the step's own queue; a state machine gets ``{"items", "count", "page", "listed", "next"}`` and loops.
    """

    model_config = ConfigDict(frozen=True)

    items: Sequence[Item]
    number: int  # this page's number, from 1; 0 for a backfill's page of SAML identities (no members)
    listed: int  # the items on this page and the pages before it
    next: Request | None

    def state_output(self) -> dict[str, Any]:
        """What a state machine reads: ``next`` is always present (null on the last page), so a Choice can test it."""
        return {
            "items": [item.to_wire() for item in self.items],
            "count": len(self.items),
            "page": self.number,
            "listed": self.listed,
            "next": None if self.next is None else self.next.to_wire(),
        }


def result_wire(result: Message | Sequence[Message] | Page[Any, Any]) -> dict[str, Any]:
    """A step's result as the next step receives it: a message, a list as ``{"items": [...], "count": n}``
    (the shape the state machines' Map states read), or a page (``Page.state_output``)."""
    if isinstance(result, Message):
        return result.to_wire()
    if isinstance(result, Page):
        return result.state_output()
    return {"items": [item.to_wire() for item in result], "count": len(result)}


#: The messages a webhook starts, by name (``functions.webhook_events.Outgoing.kind``).
MESSAGE_TYPES: dict[str, type[Message]] = {
    model.__name__: model for model in (MemberRef, WorkflowRunRef, BackfillRequest)
}


#: SNS: a subject "must be less than 100 characters", ASCII, with no line breaks or control characters, and
#: must begin with a letter, number or punctuation mark (Publish, Subject).
SNS_SUBJECT_MAX = 99
SNS_SUBJECT_ELLIPSIS = "..."
#: What an empty (or all-unprintable) subject becomes: SNS wants it to begin with a letter, number or mark.
SNS_SUBJECT_EMPTY = "(no subject)"


def sns_subject(text: str) -> str:
    """An SNS Subject: printable ASCII on one line, at most ``SNS_SUBJECT_MAX`` (99) characters.

    Letters with accents keep their base letter (NFKD); anything else that is not ASCII is dropped; runs of
    whitespace (line breaks included) become one space; a longer text is cut and ends in "...".
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    printable = "".join(char if char.isprintable() else " " if char.isspace() else "" for char in ascii_text)
    line = " ".join(printable.split())
    if not line:
        return SNS_SUBJECT_EMPTY
    if len(line) <= SNS_SUBJECT_MAX:
        return line
    return line[: SNS_SUBJECT_MAX - len(SNS_SUBJECT_ELLIPSIS)].rstrip() + SNS_SUBJECT_ELLIPSIS


class Notification(BaseModel):
    """An SNS message; its subject is made valid for SNS whatever text it is given."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)

    subject: Annotated[str, AfterValidator(sns_subject)]
    message: str


#: On a stored item: the delivery whose plan stored it, which announces it (functions/records.py).
STORED_BY = "correlationId"


class NotificationMarker(BaseModel):
    """The ``UpdateItem`` that records on the stored item that its success notification went out.

    Both architectures run the same request after the publish (the store Lambda with boto3, the state
    machines through the native ``dynamodb:updateItem`` integration, reading every field from here), and
    read the marker back with a consistent ``GetItem`` of ``key`` projecting ``read_attribute_names`` (the
    marker and the id of the delivery that stored the item) when a retry or a redelivery finds the record
    already stored. Built in ``functions/records.py``.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, defer_build=True)

    table_name: str
    key: dict[str, Any]  # low-level attribute JSON of the stored item's primary key
    update_expression: str
    condition_expression: str  # the item exists: a marker never creates an item of its own
    expression_attribute_names: dict[str, str]
    expression_attribute_values: dict[str, Any]
    read_attribute_names: dict[str, str]  # what GetItem projects: the marker and the storing delivery's id

    @property
    def item_identity(self) -> str:
        """The stored item this marker belongs to (its table and key), the same for every duplicate."""
        return json.dumps([self.table_name, self.key], sort_keys=True)

    @property
    def notified_attribute(self) -> str:
        """The attribute the marker sets (the one name in ``expression_attribute_names``)."""
        (name,) = self.expression_attribute_names.values()
        return name

    def get_item_request(self) -> dict[str, Any]:
        """``GetItem`` keyword arguments reading the marker, strongly consistent (it was written just before)."""
        return {
            "TableName": self.table_name,
            "Key": self.key,
            "ConsistentRead": True,
            "ProjectionExpression": ", ".join(self.read_attribute_names),
            "ExpressionAttributeNames": self.read_attribute_names,
        }

    def update_item_request(self) -> dict[str, Any]:
        """``UpdateItem`` keyword arguments setting the marker."""
        return {
            "TableName": self.table_name,
            "Key": self.key,
            "UpdateExpression": self.update_expression,
            "ConditionExpression": self.condition_expression,
            "ExpressionAttributeNames": self.expression_attribute_names,
            "ExpressionAttributeValues": self.expression_attribute_values,
        }


class StoreRequest(Message):
    """What a terminal business step hands to the store step.

    ``transact_items`` is a DynamoDB ``TransactWriteItems`` request body (low-level attribute JSON),
    computed once in Python: the Step Functions variant runs it through the native
    ``aws-sdk:dynamodb:transactWriteItems`` integration, the SQS variant through the store Lambda.
    Every item is conditional, so running it twice writes once (the second run is cancelled with
    ``TransactionCanceledException``/``ConditionalCheckFailed`` and counts as already stored).

    Stored and notified are one idempotent unit: after the publish, ``marker`` records on the stored item
    that the notification went out; a run that finds the record already stored publishes only if the
    marker is missing. A crash between the publish and the marker publishes again on the next run, so
    notifications are at least once.
    """

    kind: Literal["member", "workflow_run"]
    record: dict[str, Any]
    transact_items: list[dict[str, Any]]
    notification: Notification
    marker: NotificationMarker

    @computed_field  # type: ignore[prop-decorator]
    @property
    def use_case(self) -> LatencyUseCase:
        """The delivery's use case (the receiver's ``UseCase``): the ``DeliveryLatency`` dimension, on the wire
        as ``useCase`` so both architectures' last steps read it from the same place."""
        if self.kind == "workflow_run":
            return "workflow_run"
        return "installation" if self.record.get("source") == "backfill" else "member_added"
