"""The webhook deliveries the sandbox replays, and what the tables must hold afterwards.

- Deliveries are the payload fixtures of ``tests/fixtures/github-webhooks`` rewritten to the org the
  fake GitHub seeds (:data:`sandbox.fake_github.SANDBOX_ORG`): its members, repositories and runs.
  :func:`sandbox_workload` is what ``make run`` sends; :func:`signed_request` signs one as GitHub does.
- :func:`expected_tables` is the oracle: from the seeded GitHub data and a delivery sequence (with
  redeliveries, in any order) it states the final contents of the members and workflow-runs tables,
  by running the product's own pricing (``functions.pricing``) and write plans (``functions.records``)
  and applying those plans the way DynamoDB does (conditional Put, ``SET``/``ADD`` updates, all or
  nothing per transaction).
- :func:`workloads` is a hypothesis strategy of random delivery sequences with transient GitHub faults,
  for the equivalence test.

The failing delivery is an ``organization.member_added`` for ``SANDBOX_ORG.unreachable``, whose team
membership PUT the fake answers with 502 every time. A 5xx (not a 404) on purpose: it is a *retryable*
error (``GitHubUnavailable``), so the delivery goes through every retry each architecture has (Step
Functions ``Retry`` with backoff, SQS redelivery up to ``maxReceiveCount``) before it is parked (a failed
execution with a failure notification, the DLQ) — a 404 is not retried by the state machines and would
leave that path untested. The person is not an org member, so the installation backfill never meets them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from boto3.dynamodb.types import TypeDeserializer
from hypothesis import strategies as st

from functions import records
from functions.common.models import (
    BackfillRequest,
    MemberRef,
    NotificationMarker,
    StoreRequest,
    TeamMembership,
    WorkflowRunRef,
)
from functions.common.settings import Settings
from functions.directory import SAML_DIRECTORY, CompanyRecord, DirectoryResult
from functions.pricing import JobUsage, price_run, self_hosted_rate
from functions.webhook_events import MalformedWebhook, to_message
from sandbox.fake_github import (
    SANDBOX_ORG,
    FakeGitHub,
    Fault,
    OrgSeed,
    Person,
    RunSpec,
    fixture_payload,
    make_user,
    run_jobs_json,
)

Expected = Literal["processed", "ignored", "failed"]
USER_AGENT = "GitHub-Hookshot/sandbox"
MEMBERS_TABLE, WORKFLOW_RUNS_TABLE = "members", "workflow-runs"
VOLATILE_MEMBER_FIELDS = frozenset({"onboardedAt"})  # the time of onboarding: no oracle can know it
_FIXTURE_ORG, _FIXTURE_REPO, _FIXTURE_RUN_ID = "octo-org", "octo-repo", 289782451


@dataclass(frozen=True)
class Delivery:
    event: str  # X-GitHub-Event
    delivery_id: str  # X-GitHub-Delivery; a redelivery keeps it
    body: bytes
    expected: Expected
    label: str  # what it is, for progress and reports: "member_added alice"
    redelivery: bool = False

    def redeliver(self) -> Delivery:
        """The same delivery sent again (same id, same body), as GitHub's "Redeliver" does."""
        return replace(self, redelivery=True)

    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


def signed_request(delivery: Delivery, secret: str) -> tuple[dict[str, str], bytes]:
    """The headers and body GitHub would POST for ``delivery`` to an App webhook signed with ``secret``.

    Signed here with ``hmac`` from GitHub's documented recipe, not with githubkit, which the receiver
    verifies with: a library is not checked against itself.
    """
    key = secret.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Event": delivery.event,
        "X-GitHub-Delivery": delivery.delivery_id,
        "X-GitHub-Hook-ID": "1",
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-Hub-Signature": "sha1=" + hmac.new(key, delivery.body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(key, delivery.body, hashlib.sha256).hexdigest(),
    }
    return headers, delivery.body


# --- deliveries of the seeded org ------------------------------------------------------------------


def _new_id() -> str:
    """A fresh GUID per built delivery, so replays into a live stack never look like redeliveries."""
    return str(uuid.uuid4())


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _renamed(value: Any, renames: Sequence[tuple[str, str]]) -> Any:
    """``value`` with every string rewritten by ``renames`` (URLs, full names, logins)."""
    if isinstance(value, str):
        for old, new in renames:
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {key: _renamed(item, renames) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item, renames) for item in value]
    return value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def member_added(seed: OrgSeed, person: Person) -> Delivery:
    payload = fixture_payload("organization", "member_added")
    payload = _renamed(payload, [(payload["organization"]["login"], seed.org)])
    payload["membership"].update(
        user=make_user(person.login, person.user_id),
        url=f"https://api.github.com/orgs/{seed.org}/memberships/{person.login}",
        state="active",
    )
    expected: Expected = "failed" if person == seed.unreachable else "processed"
    return Delivery("organization", _new_id(), _body(payload), expected, f"member_added {person.login}")


def workflow_run_completed(seed: OrgSeed, run: RunSpec) -> Delivery:
    payload = _renamed(
        fixture_payload("workflow_run", "completed"),
        [
            (f"{_FIXTURE_ORG}/{_FIXTURE_REPO}", f"{seed.org}/{run.repo}"),
            (_FIXTURE_ORG, seed.org),
            (_FIXTURE_REPO, run.repo),
            (str(_FIXTURE_RUN_ID), str(run.run_id)),
        ],
    )
    private = seed.repos[run.repo]
    payload["repository"].update(name=run.repo, private=private, visibility="private" if private else "public")
    started = min((job.started_at for job in run.jobs), default=run.completed_at)
    payload["workflow_run"].update(
        id=run.run_id,
        run_attempt=run.attempt,
        name=run.workflow_name,
        display_title=run.workflow_name,
        conclusion=run.conclusion,
        status="completed",
        event=run.event,
        head_branch=run.head_branch,
        created_at=_iso(started),
        run_started_at=_iso(started),
        updated_at=_iso(run.completed_at),
    )
    label = f"workflow_run {run.repo} #{run.run_id}.{run.attempt}"
    return Delivery("workflow_run", _new_id(), _body(payload), "processed", label)


def installation_created(seed: OrgSeed) -> Delivery:
    payload = fixture_payload("installation", "created")
    account = payload["installation"]["account"]
    payload["installation"].update(
        id=seed.installation_id,
        app_id=seed.app_id,
        target_type="Organization",
        account=_renamed(account, [(account["login"], seed.org)]) | {"type": "Organization"},
    )
    payload["repositories"] = [
        {"id": 1000 + index, "name": name, "full_name": f"{seed.org}/{name}", "private": private}
        for index, (name, private) in enumerate(seed.repos.items())
    ]
    return Delivery("installation", _new_id(), _body(payload), "processed", f"installation created on {seed.org}")


# Events and actions the receiver answers 202 "ignored": (event, fixture name).
IGNORED_FIXTURES: tuple[tuple[str, str], ...] = (
    ("ping", "with-organization"),
    ("push", "with-organization"),
    ("issues", "opened.with-organization"),
    ("organization", "member_invited"),
)


def ignored(seed: OrgSeed, event: str, fixture: str) -> Delivery:
    payload = fixture_payload(event, fixture)
    if organization := payload.get("organization"):
        payload = _renamed(payload, [(organization["login"], seed.org)])
    action = f".{payload['action']}" if "action" in payload else ""
    return Delivery(event, _new_id(), _body(payload), "ignored", f"{event}{action} (ignored)")


def sandbox_workload(seed: OrgSeed = SANDBOX_ORG) -> list[Delivery]:
    """What ``make run`` sends each stack: members added (one without a company record), every seeded
    run (several runner kinds, a public and a private repository, two months and both rate periods, a
    two-page job list), an installation that backfills the whole org, ignored events, two redeliveries
    (a member and a run: neither may be stored or counted twice) and the delivery that always fails."""
    alice, bob, carol, *_ = seed.members
    no_record = next(person for person in seed.members if person.employee_id is None)
    first_member = member_added(seed, alice)
    first_run = workflow_run_completed(seed, seed.runs[0])
    ping, push, issue, invited = (ignored(seed, event, fixture) for event, fixture in IGNORED_FIXTURES)
    return [
        ping,
        first_member,
        member_added(seed, bob),
        member_added(seed, carol),
        member_added(seed, no_record),
        first_run,
        *(workflow_run_completed(seed, run) for run in seed.runs[1:]),
        push,
        issue,
        invited,
        installation_created(seed),
        first_member.redeliver(),
        first_run.redeliver(),
        member_added(seed, seed.unreachable),
    ]


# --- the oracle ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackSettings:
    """The stack settings the table contents depend on (the Pulumi config keys of the same names)."""

    onboarding_team: str = SANDBOX_ORG.team
    team_role: Literal["member", "maintainer"] = "member"
    directory: str = SAML_DIRECTORY  # or the fake's directory URL
    self_hosted_usd_per_minute: str = "0"

    def function_settings(self, org: str) -> Settings:
        return Settings.model_validate(
            {
                "GITHUB_ORG": org,
                "ONBOARDING_TEAM": self.onboarding_team,
                "TEAM_ROLE": self.team_role,
                "DIRECTORY": self.directory,
                "SELF_HOSTED_USD_PER_MINUTE": self.self_hosted_usd_per_minute,
                "MEMBERS_TABLE": MEMBERS_TABLE,
                "WORKFLOW_RUNS_TABLE": WORKFLOW_RUNS_TABLE,
            }
        )


Key = tuple[str, ...]


@dataclass(frozen=True)
class ExpectedTables:
    """What the tables must hold. Each key maps to the items it may hold: the first is what processing
    the deliveries one after another in the given order gives; the others are what another processing
    order gives (a member onboarded both by ``member_added`` and by the backfill keeps whichever
    onboarding wrote first: its correlation id and source). Totals rows have exactly one.
    Member items leave out ``onboardedAt`` (a clock reading)."""

    members: dict[Key, tuple[dict[str, Any], ...]]  # (login,)
    workflow_runs: dict[Key, tuple[dict[str, Any], ...]]  # (pk, sk): run items and TOTAL/MONTH# totals

    def differences(self, members: Iterable[dict[str, Any]], workflow_runs: Iterable[dict[str, Any]]) -> list[str]:
        """How the scanned tables (boto3 resource items) differ from what they must hold; [] if not at all."""
        actual_members = [_without_volatile(item) for item in members]
        return _differences("members", self.members, actual_members, ("login",)) + _differences(
            "workflow-runs", self.workflow_runs, list(workflow_runs), ("pk", "sk")
        )

    def member(self, login: str) -> dict[str, Any]:
        return self.members[(login,)][0]

    def run_row(self, owner: str, repo: str, sk: str) -> dict[str, Any]:
        return self.workflow_runs[(records.repository_pk(owner, repo), sk)][0]


def _differences(
    table: str, expected: dict[Key, tuple[dict[str, Any], ...]], actual: list[dict[str, Any]], key_names: Key
) -> list[str]:
    found = {tuple(str(item[name]) for name in key_names): item for item in actual}
    problems = [f"{table}: missing {key}" for key in expected if key not in found]
    problems += [f"{table}: unexpected {key}: {found[key]}" for key in found if key not in expected]
    for key, item in found.items():
        if key in expected and item not in expected[key]:
            want = expected[key][0]
            changed = sorted(name for name in want.keys() | item.keys() if want.get(name) != item.get(name))
            problems.append(
                f"{table}: {key} differs in {changed}: "
                + ", ".join(f"{name}={item.get(name)!r} (expected {want.get(name)!r})" for name in changed)
            )
    return problems


def expected_tables(
    seed: OrgSeed, deliveries: Iterable[Delivery], stack: StackSettings | None = None
) -> ExpectedTables:
    """The contents of the two tables after ``deliveries`` reach a stack of ``stack`` settings whose
    GitHub is the fake seeded with ``seed``, and every transient fault has been retried away."""
    oracle = _Oracle(seed, (stack or StackSettings()).function_settings(seed.org))
    seen: set[str] = set()
    for delivery in deliveries:
        if delivery.delivery_id in seen:
            continue  # a redelivery of a processed delivery: the conditional writes make it change nothing
        seen.add(delivery.delivery_id)
        oracle.deliver(delivery)
    members = {
        key: tuple(_without_volatile(item) for item in items)
        for key, items in oracle.tables.candidates(MEMBERS_TABLE).items()
    }
    return ExpectedTables(members=members, workflow_runs=oracle.tables.candidates(WORKFLOW_RUNS_TABLE))


def _without_volatile(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in VOLATILE_MEMBER_FIELDS}


class _Oracle:
    ONBOARDED_AT = datetime(2000, 1, 1, tzinfo=UTC)  # left out of the comparison

    def __init__(self, seed: OrgSeed, settings: Settings) -> None:
        self.seed = seed
        self.settings = settings
        self.tables = _Tables({MEMBERS_TABLE: ("login",), WORKFLOW_RUNS_TABLE: ("pk", "sk")})

    def deliver(self, delivery: Delivery) -> None:
        try:
            message = to_message(delivery.event, delivery.payload(), delivery.delivery_id, self.seed.org)
        except MalformedWebhook:
            return  # the receiver answers 400
        if isinstance(message, MemberRef):
            self.onboard(message)
        elif isinstance(message, WorkflowRunRef):
            self.charge(message)
        elif isinstance(message, BackfillRequest):
            for person in self.seed.members:
                self.onboard(
                    MemberRef(
                        correlation_id=message.correlation_id,
                        org=message.org,
                        login=person.login,
                        user_id=person.user_id,
                        source="backfill",
                    )
                )

    def onboard(self, member: MemberRef) -> None:
        if member.login == self.seed.unreachable.login:
            return  # its team membership PUT never succeeds
        in_org = any(person.login == member.login for person in self.seed.members)
        membership = TeamMembership(
            **member.model_dump(),
            team=self.settings.need("onboarding_team"),
            role=self.settings.team_role,
            state="active" if in_org else "pending",
        )
        person = next((person for person in self.seed.members if person.login == member.login), None)
        directory = _directory_result(self.settings.directory, member.org, member.login, person)
        self.tables.store_and_notify(
            records.member_store_request(membership, directory, onboarded_at=self.ONBOARDED_AT, table=MEMBERS_TABLE)
        )

    def charge(self, run: WorkflowRunRef) -> None:
        key = (run.repo, run.run_id, run.run_attempt)
        seeded = next((spec for spec in self.seed.runs if (spec.repo, spec.run_id, spec.attempt) == key), None)
        if seeded is None or run.owner != self.seed.org:
            return  # the jobs API answers 404: rejected for good
        jobs = [
            JobUsage(
                job_id=job["id"],
                name=job["name"],
                labels=tuple(job["labels"]),
                conclusion=job["conclusion"],
                started_at=job["started_at"],
                completed_at=job["completed_at"],
            )
            for job in run_jobs_json(run.owner, seeded)
        ]
        price = price_run(  # as functions.price_workflow_run does
            jobs,
            repository_private=run.repository_private,
            self_hosted_usd_per_minute=self_hosted_rate(self.settings.self_hosted_usd_per_minute),
            fallback_day=records.booking_day(run.completed_at),
        )
        self.tables.store_and_notify(records.workflow_run_store_request(run, price, table=WORKFLOW_RUNS_TABLE))


def _directory_result(setting: str, org: str, login: str, person: Person | None) -> DirectoryResult:
    """What ``functions.directory`` finds for ``person`` in the fake (its SAML identity or directory record)."""
    known = person is not None and person.employee_id is not None
    if setting == SAML_DIRECTORY:
        if not known:
            return DirectoryResult(
                status="not_found", source=SAML_DIRECTORY, detail=f"{login} has no linked SAML identity in {org}"
            )
        assert person is not None and person.employee_id is not None
        record = CompanyRecord(employee_id=person.employee_id, email=person.email or None, name=person.name or None)
        return DirectoryResult(status="found", source=SAML_DIRECTORY, record=record)
    source = setting.rstrip("/")
    if not known:
        return DirectoryResult(status="not_found", source=source, detail=f"the directory does not know {login}")
    assert person is not None and person.employee_id is not None
    record = CompanyRecord(
        employee_id=person.employee_id,
        email=person.email or None,
        name=person.name or None,
        department=person.department or None,
    )
    return DirectoryResult(status="found", source=source, record=record)


_deserializer = TypeDeserializer()
_UPDATE_CLAUSE = re.compile(r"\b(SET|ADD|REMOVE|DELETE)\s+(.*?)(?=\s+\b(?:SET|ADD|REMOVE|DELETE)\b|$)", re.S)
_NOT_EXISTS = re.compile(r"attribute_not_exists\(\s*([#\w]+)\s*\)")


def _plain(attributes: dict[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in attributes.items()}


@dataclass
class _Tables:
    """DynamoDB's handling of the write plans ``functions.records`` makes: a transaction is applied
    whole or not at all; Put honours ``attribute_not_exists``; Update does ``SET`` and numeric ``ADD``."""

    key_names: dict[str, Key]
    items: dict[str, dict[Key, dict[str, Any]]] = field(default_factory=dict)
    puts: dict[str, dict[Key, list[dict[str, Any]]]] = field(default_factory=dict)  # every item a Put offered

    def candidates(self, table: str) -> dict[Key, tuple[dict[str, Any], ...]]:
        result: dict[Key, tuple[dict[str, Any], ...]] = {}
        for key, item in self.items.get(table, {}).items():
            others = [put for put in self.puts.get(table, {}).get(key, []) if put != item]
            result[key] = (item, *_unique(others))
        return result

    def store_and_notify(self, request: StoreRequest) -> None:
        """What a store step leaves once every fault is retried away: the plan's writes, and the stored
        item marked as notified (whichever delivery's plan stored it)."""
        self.transact(request)
        self.mark(request.marker)

    def mark(self, marker: NotificationMarker) -> None:
        """The marker's ``UpdateItem`` (condition: the item exists), on the item and on every Put offered
        for it, since whichever of them is stored gets marked."""
        table = marker.table_name
        key = self._key(table, _plain(marker.key))
        spec = marker.update_item_request()
        rows = self.items.get(table, {})
        if key in rows:
            rows[key] = _updated(rows[key], spec)
        offered = self.puts.get(table, {}).get(key)
        if offered:
            self.puts[table][key] = [_updated(item, spec) for item in offered]

    def transact(self, request: StoreRequest) -> None:
        staged = {table: dict(items) for table, items in self.items.items()}
        offered: list[tuple[str, Key, dict[str, Any]]] = []
        committed = True
        for operation in request.transact_items:
            ((kind, spec),) = operation.items()
            table = spec["TableName"]
            rows = staged.setdefault(table, {})
            if kind == "Put":
                item = _plain(spec["Item"])
                key = self._key(table, item)
                offered.append((table, key, item))
                if not self._condition_holds(spec.get("ConditionExpression"), rows.get(key)):
                    committed = False
                    continue
                rows[key] = item
            elif kind == "Update":
                if "ConditionExpression" in spec:
                    raise ValueError(f"the oracle does not model conditional updates: {spec['ConditionExpression']}")
                key_values = _plain(spec["Key"])
                key = self._key(table, key_values)
                rows[key] = _updated(rows.get(key, key_values), spec)
            else:
                raise ValueError(f"the oracle does not model {kind} in a transaction")
        for table, key, item in offered:  # a Put that lost the race shows what another order would store
            self.puts.setdefault(table, {}).setdefault(key, []).append(item)
        if committed:
            self.items = staged

    def _key(self, table: str, item: dict[str, Any]) -> Key:
        return tuple(str(item[name]) for name in self.key_names[table])

    @staticmethod
    def _condition_holds(condition: str | None, existing: dict[str, Any] | None) -> bool:
        if condition is None:
            return True
        if not _NOT_EXISTS.fullmatch(condition.strip()):
            raise ValueError(f"the oracle does not model the condition {condition!r}")
        return existing is None


def _updated(item: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    names = spec.get("ExpressionAttributeNames", {})
    values = _plain(spec.get("ExpressionAttributeValues", {}))
    result = copy.deepcopy(item)
    for action, body in _UPDATE_CLAUSE.findall(spec["UpdateExpression"]):
        for term in (part.strip() for part in body.split(",")):
            if action == "SET" and (match := re.fullmatch(r"([#\w]+)\s*=\s*(:\w+)", term)):
                result[names.get(match.group(1), match.group(1))] = values[match.group(2)]
            elif action == "ADD" and (match := re.fullmatch(r"([#\w]+)\s+(:\w+)", term)):
                name = names.get(match.group(1), match.group(1))
                result[name] = result.get(name, 0) + values[match.group(2)]
            else:
                raise ValueError(f"the oracle does not model the update term {action} {term!r}")
    return result


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique: list[dict[str, Any]] = []
    for item in items:
        if item not in unique:
            unique.append(item)
    return unique


# --- random workloads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultSpec:
    kind: Fault
    path: str  # a regular expression over the request path (FakeGitHub.fail)
    times: int


@dataclass(frozen=True)
class Workload:
    deliveries: tuple[Delivery, ...]
    faults: tuple[FaultSpec, ...] = ()

    def inject_faults(self, github: FakeGitHub) -> None:
        for fault in self.faults:
            github.fail(fault.kind, times=fault.times, path=fault.path)


REST_TRANSIENT: tuple[Fault, ...] = (
    "server_error",
    "too_many_requests",
    "secondary_rate_limit",
    "secondary_rate_limit_retry_after",
)
# Where a transient fault may strike, and which faults GitHub (or the directory) answers there.
TRANSIENT_FAULTS: dict[str, tuple[Fault, ...]] = {
    r"^/app/installations/\d+/access_tokens$": REST_TRANSIENT,
    r"^/orgs/[^/]+/teams/[^/]+/memberships/[^/]+$": REST_TRANSIENT,
    r"^/orgs/[^/]+/members$": REST_TRANSIENT,
    r"^/repos/[^/]+/[^/]+/actions/runs/\d+/attempts/\d+/jobs$": REST_TRANSIENT,
    r"^/graphql$": ("server_error", "too_many_requests", "graphql_rate_limited"),
    r"^/directory/": ("server_error", "too_many_requests"),  # a 403 from the directory is not transient
}


@st.composite
def _faults(draw: st.DrawFn, budget: int) -> tuple[FaultSpec, ...]:
    paths = draw(st.lists(st.sampled_from(sorted(TRANSIENT_FAULTS)), unique=True, max_size=budget))
    faults: list[FaultSpec] = []
    left = budget
    for path in paths:
        if left == 0:
            break
        times = draw(st.integers(1, left))
        faults.append(FaultSpec(draw(st.sampled_from(TRANSIENT_FAULTS[path])), path, times))
        left -= times
    return tuple(faults)


@st.composite
def workloads(
    draw: st.DrawFn,
    seed: OrgSeed = SANDBOX_ORG,
    *,
    max_members: int = 3,
    max_runs: int = 3,
    fault_budget: int = 2,
    failing: bool = True,
) -> Workload:
    """Random delivery sequences of the seeded org: some members added, some runs completed, maybe the
    installation (a backfill), ignored events, redeliveries, any order; maybe the always-failing
    delivery (``failing``); and transient faults for the fake GitHub.

    At most ``fault_budget`` faulty answers in all, so no step meets more than that many in a row:
    keep it below both architectures' tries (Step Functions: 1 + 3 retries; SQS: ``maxReceiveCount``),
    and every fault is retried away. Delivery ids are fresh GUIDs each time a workload is drawn, so a
    stack that lives across examples never takes one for a redelivery; empty the tables between
    examples, as the oracle starts from empty tables.
    """
    members = draw(st.lists(st.sampled_from(seed.members), unique=True, max_size=max_members))
    runs = draw(st.lists(st.sampled_from(seed.runs), unique=True, max_size=max_runs))
    deliveries = [member_added(seed, person) for person in members]
    deliveries += [workflow_run_completed(seed, run) for run in runs]
    if draw(st.booleans()):
        deliveries.append(installation_created(seed))
    if failing and draw(st.booleans()):
        deliveries.append(member_added(seed, seed.unreachable))
    deliveries += [ignored(seed, *fixture) for fixture in draw(st.lists(st.sampled_from(IGNORED_FIXTURES), max_size=2))]
    if not deliveries:
        deliveries.append(workflow_run_completed(seed, draw(st.sampled_from(seed.runs))))
    repeats = draw(st.lists(st.sampled_from(deliveries), max_size=3))
    shuffled = draw(st.permutations(deliveries + [delivery.redeliver() for delivery in repeats]))
    return Workload(_mark_redeliveries(shuffled), draw(_faults(fault_budget)))


def _mark_redeliveries(deliveries: Sequence[Delivery]) -> tuple[Delivery, ...]:
    """The first of each delivery id is the delivery; any later one, a redelivery."""
    seen: set[str] = set()
    marked = []
    for delivery in deliveries:
        marked.append(replace(delivery, redelivery=delivery.delivery_id in seen))
        seen.add(delivery.delivery_id)
    return tuple(marked)
