"""The business functions: one entry per Lambda, shared by both architectures.

What a function *is* (handler, code, memory, timeout, which secrets and tables it uses) lives here;
how it is wired (queues or state machines) belongs to the architecture components.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

#: The longest one GitHub call can take: connect 5 s + read 10 s (``functions/common/github.py``).
GITHUB_CALL_MAX_SECONDS = 15
#: What the sqs adapter keeps of an invocation to forward, notify and answer
#: (``functions.common.batch.REPLY_MARGIN_MS``).
REPLY_MARGIN_SECONDS = 3


class Needs(Enum):
    """Shared resources a function uses; each grants the least IAM privilege for it."""

    WEBHOOK_SECRET = "webhook-secret"  # secretsmanager:GetSecretValue on the webhook secret
    GITHUB_APP_SECRET = "github-app-secret"  # secretsmanager:GetSecretValue on the App secret
    TABLE_NAMES = "table-names"  # builds write plans: knows the table names, no table access
    TABLE_WRITES = "table-writes"  # runs write plans: conditional puts and updates on both tables
    NOTIFICATIONS = "notifications"  # sns:Publish on the notification topic
    SAML_IDENTITIES_WRITE = "saml-identities-write"  # dynamodb:BatchWriteItem on the SAML identity cache
    SAML_IDENTITIES_READ = "saml-identities-read"  # dynamodb:GetItem on the SAML identity cache
    CHARGEBACK_READS = "chargeback-reads"  # dynamodb:Query on the workflow-runs table and its period-index


@dataclass(frozen=True)
class FunctionSpec:
    key: str  # short name: resource names, log groups, Powertools service name
    module: str  # Python module under functions/ exposing ``handler``
    description: str
    timeout_seconds: int
    memory_mb: int
    needs: frozenset[Needs]
    #: GitHub calls one record makes at worst when their number is bounded (the installation token
    #: exchange, at most once an hour, counts): the timeout must cover them one after another plus the
    #: reply margin (``record_seconds``). Paginated listings (their number depends on the data) are
    #: not bounded: a record that outlasts the invocation is reported alone, not the whole batch.
    github_calls: int = 0

    @property
    def record_seconds(self) -> int:
        """The worst-case time of one record, with the reply margin: the timeout's lower bound.

        The records of an SQS batch run at once (``functions.common.batch``), so this bounds the batch.
        """
        return self.github_calls * GITHUB_CALL_MAX_SECONDS + REPLY_MARGIN_SECONDS

    @property
    def handler(self) -> str:
        return f"functions.{self.module}.handler"


RECEIVER = FunctionSpec(
    "receiver",
    "receiver",
    "Verifies GitHub webhook deliveries and hands them to the pipeline",
    timeout_seconds=8,
    memory_mb=256,
    needs=frozenset({Needs.WEBHOOK_SECRET}),
)
ADD_TEAM_MEMBER = FunctionSpec(
    "add-team-member",
    "add_team_member",
    "Adds a new organization member to the onboarding team",
    timeout_seconds=35,  # token exchange + PUT membership: 2 x 15 s + 3 s
    memory_mb=256,
    needs=frozenset({Needs.GITHUB_APP_SECRET}),
    github_calls=2,
)
LOOKUP_DIRECTORY = FunctionSpec(
    "lookup-directory",
    "lookup_directory",
    "Fetches a member's company record and plans the member write",
    timeout_seconds=35,  # token exchange + GraphQL SAML lookup: 2 x 15 s + 3 s (an HTTP directory: 5 s)
    memory_mb=256,
    # a backfilled member's SAML identity is read from the cache its backfill wrote (functions/saml_identities.py)
    needs=frozenset({Needs.GITHUB_APP_SECRET, Needs.TABLE_NAMES, Needs.SAML_IDENTITIES_READ}),
    github_calls=2,
)
PRICE_WORKFLOW_RUN = FunctionSpec(
    "price-workflow-run",
    "price_workflow_run",
    "Prices a completed workflow run's jobs for chargeback",
    timeout_seconds=60,  # token exchange + 2 pages of 100 jobs at worst in time; more pages: retried alone
    memory_mb=256,
    needs=frozenset({Needs.GITHUB_APP_SECRET, Needs.TABLE_NAMES}),
    github_calls=3,
)
LIST_ORG_MEMBERS = FunctionSpec(
    "list-org-members",
    "list_org_members",
    "Lists an organization's members for a backfill",
    # token exchange + 6 pages of 100 members at worst in time (a page of SAML identities: one GraphQL call and
    # 5 BatchWriteItem calls of 25)
    timeout_seconds=120,
    memory_mb=256,
    needs=frozenset({Needs.GITHUB_APP_SECRET, Needs.SAML_IDENTITIES_WRITE}),
    github_calls=7,
)

#: Deployed unchanged by both architectures.
BUSINESS_FUNCTIONS: tuple[FunctionSpec, ...] = (
    RECEIVER,
    ADD_TEAM_MEMBER,
    LOOKUP_DIRECTORY,
    PRICE_WORKFLOW_RUN,
    LIST_ORG_MEMBERS,
)

#: Behind ``GET /chargeback`` (IAM-authorized) in both architectures: the month's report, read-only.
CHARGEBACK_REPORT = FunctionSpec(
    "chargeback-report",
    "chargeback_report",
    "Answers GET /chargeback?month=YYYY-MM: the month's per-repository chargeback",
    timeout_seconds=25,  # every page of a month's totals; the HTTP API gives up at 30 s
    memory_mb=256,
    needs=frozenset({Needs.CHARGEBACK_READS}),
)

#: The sqs architecture's store step; Step Functions writes and notifies through native integrations.
STORE_RECORDS = FunctionSpec(
    "store-records",
    "store_records",
    "Runs a planned DynamoDB write once and publishes its notification",
    timeout_seconds=30,
    memory_mb=128,
    needs=frozenset({Needs.TABLE_NAMES, Needs.TABLE_WRITES, Needs.NOTIFICATIONS}),
)
