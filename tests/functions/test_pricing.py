"""Pricing: GitHub's billing rules as properties, and worked examples against the rate table to the cent."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.pricing import (
    RATES_FILE,
    JobUsage,
    PricedJob,
    billed_minutes,
    price_job,
    price_run,
    rate_card,
    self_hosted_rate,
)

DOCS = Path(__file__).parents[2] / "docs" / "pricing.md"
UTC = UTC
JAN_2026 = date(2026, 1, 1)

STANDARD_LABELS = {
    "ubuntu-latest": "linux",
    "ubuntu-24.04": "linux",
    "ubuntu-22.04": "linux",
    "ubuntu-slim": "linux_slim",
    "ubuntu-24.04-arm": "linux_2_core_arm",
    "ubuntu-22.04-arm": "linux_2_core_arm",
    "windows-latest": "windows",
    "windows-2025": "windows",
    "windows-2022": "windows",
    "windows-11-arm": "windows_2_core_arm",
    "macos-latest": "macos",
    "macos-26": "macos",
    "macos-15": "macos",
    "macos-14": "macos",
    "macos-15-intel": "macos",
}
LARGER_LABELS = {
    "macos-latest-xlarge": "macos_xl",
    "macos-15-xlarge": "macos_xl",
    "macos-14-xlarge": "macos_xl",
    "macos-latest-large": "macos_l",
    "macos-15-large": "macos_l",
    "macos-14-large": "macos_l",
}
ALL_KNOWN = {**STANDARD_LABELS, **LARGER_LABELS}


def job(
    labels: list[str],
    seconds: float,
    *,
    start: datetime = datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
    conclusion: str | None = "success",
    job_id: int = 1,
) -> JobUsage:
    return JobUsage(
        job_id=job_id,
        name=f"job {job_id}",
        labels=tuple(labels),
        conclusion=conclusion,
        started_at=start,
        completed_at=start + timedelta(seconds=seconds),
    )


def price(usage: JobUsage, *, private: bool = True, self_hosted: str = "0") -> PricedJob:
    return price_job(
        usage,
        repository_private=private,
        self_hosted_usd_per_minute=Decimal(self_hosted),
        fallback_day=date(2026, 3, 10),
    )


durations = st.integers(min_value=0, max_value=6 * 3600)  # GitHub times jobs to the second
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))
known_labels = st.sampled_from(sorted(ALL_KNOWN))
standard_labels = st.sampled_from(sorted(STANDARD_LABELS))
unknown_labels = st.from_regex(r"[a-z][a-z0-9-]{2,30}", fullmatch=True).filter(
    lambda label: rate_card().sku_for([label]) is None and label != "self-hosted"
)


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(seconds=durations)
def test_each_job_is_rounded_up_to_whole_minutes(seconds: int) -> None:
    minutes = billed_minutes(job(["ubuntu-latest"], seconds))
    assert minutes == math.ceil(seconds / 60)
    assert minutes * 60 >= seconds
    assert seconds == 0 or (minutes - 1) * 60 < seconds


@settings(max_examples=50, deadline=None)
@given(seconds=st.integers(min_value=-86400, max_value=-1))
def test_a_job_that_ends_before_it_starts_costs_nothing(seconds: int) -> None:
    priced = price(job(["ubuntu-latest"], seconds))
    assert (priced.minutes, priced.cost_usd) == (0, 0)


@settings(max_examples=100, deadline=None)
@given(label=known_labels, first=durations, second=durations, private=st.booleans())
def test_price_is_monotonic_in_duration(label: str, first: int, second: int, private: bool) -> None:
    shorter, longer = sorted((first, second))
    cheaper = price(job([label], shorter), private=private)
    dearer = price(job([label], longer), private=private)
    assert cheaper.cost_usd <= dearer.cost_usd and cheaper.minutes <= dearer.minutes


@settings(max_examples=50, deadline=None)
@given(seconds=durations, others=st.lists(st.sampled_from(["linux", "x64", "ARM64", "gpu", "ubuntu-latest"])))
def test_self_hosted_runners_are_free_by_default(seconds: int, others: list[str]) -> None:
    priced = price(job(["self-hosted", *others], seconds))
    assert priced.sku == "self_hosted"
    assert priced.cost_usd == 0 and priced.billable_minutes == 0 and not priced.estimated
    assert priced.minutes == math.ceil(seconds / 60)


@settings(max_examples=50, deadline=None)
@given(seconds=durations)
def test_self_hosted_rate_is_configurable(seconds: int) -> None:
    priced = price(job(["self-hosted", "linux"], seconds), self_hosted="0.002")
    assert priced.cost_usd == Decimal("0.002") * math.ceil(seconds / 60)
    assert priced.billable_minutes == priced.minutes


@settings(max_examples=75, deadline=None)
@given(label=unknown_labels, seconds=durations, private=st.booleans(), day=days)
def test_unknown_label_is_priced_as_linux_2_core_and_flagged(
    label: str, seconds: int, private: bool, day: date
) -> None:
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    priced = price(job([label], seconds, start=start), private=private)
    linux_rate = Decimal("0.008") if day < JAN_2026 else Decimal("0.006")
    assert priced.sku == "linux"
    assert priced.usd_per_minute == linux_rate
    # most likely an organization's larger runner: never free, not even in a public repository
    assert priced.cost_usd == linux_rate * priced.minutes
    assert priced.estimated == (priced.minutes > 0)


@settings(max_examples=75, deadline=None)
@given(day=days, label=known_labels)
def test_the_rate_in_effect_when_the_job_started_applies(day: date, label: str) -> None:
    start = datetime(day.year, day.month, day.day, 23, 59, 30, tzinfo=UTC)
    sku = rate_card().sku(ALL_KNOWN[label])
    before, after = (rate.usd_per_minute for rate in sku.rates)
    # the job runs past midnight: the start decides
    priced = price(job([label], 600, start=start))
    assert priced.usd_per_minute == (before if day < JAN_2026 else after)
    assert not priced.estimated


@settings(max_examples=75, deadline=None)
@given(label=known_labels, seconds=durations)
def test_standard_runners_are_free_in_public_repositories_larger_ones_are_not(label: str, seconds: int) -> None:
    public = price(job([label], seconds), private=False)
    private = price(job([label], seconds), private=True)
    assert private.cost_usd == private.usd_per_minute * private.minutes
    if label in STANDARD_LABELS:
        assert public.cost_usd == 0 and public.billable_minutes == 0
    else:
        assert public.cost_usd == private.cost_usd and public.billable_minutes == public.minutes


@settings(max_examples=50, deadline=None)
@given(jobs=st.lists(st.tuples(known_labels, durations), max_size=12), private=st.booleans())
def test_a_run_costs_the_sum_of_its_jobs(jobs: list[tuple[str, int]], private: bool) -> None:
    usages = [job([label], seconds, job_id=index) for index, (label, seconds) in enumerate(jobs)]
    run = price_run(
        usages, repository_private=private, self_hosted_usd_per_minute=Decimal(0), fallback_day=date(2026, 3, 10)
    )
    assert run.cost_usd == sum((price(usage, private=private).cost_usd for usage in usages), Decimal(0))
    assert run.minutes == sum(math.ceil(seconds / 60) for _, seconds in jobs)
    assert isinstance(run.cost_usd, Decimal)


# --- rules at the edges -------------------------------------------------------------------------


def test_skipped_and_untimed_jobs_cost_nothing() -> None:
    assert price(job(["ubuntu-latest"], 600, conclusion="skipped")).minutes == 0
    never_finished = JobUsage(
        job_id=2,
        name="cancelled before start",
        labels=("ubuntu-latest",),
        conclusion="cancelled",
        started_at=datetime(2026, 3, 1, tzinfo=UTC),
        completed_at=None,
    )
    assert price(never_finished).cost_usd == 0


def test_labels_match_case_insensitively_and_first_known_label_wins() -> None:
    assert price(job(["Ubuntu-Latest"], 60)).sku == "linux"
    assert price(job(["my-group", "macos-15-xlarge", "ubuntu-latest"], 60)).sku == "macos_xl"


def test_a_job_before_the_first_known_rate_is_priced_at_it_and_flagged() -> None:
    priced = price(job(["windows-latest"], 60, start=datetime(2024, 6, 1, tzinfo=UTC)))
    assert priced.usd_per_minute == Decimal("0.016") and priced.estimated


def test_every_documented_standard_and_larger_label_selects_its_sku() -> None:
    for label, sku in ALL_KNOWN.items():
        assert rate_card().sku_for([label]).sku == sku, label


@pytest.mark.parametrize("setting", ["-0.001", "abc", "NaN", "Infinity"])
def test_a_bad_self_hosted_rate_is_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="SELF_HOSTED_USD_PER_MINUTE"):
        self_hosted_rate(setting)


def test_self_hosted_rate_parses_exactly() -> None:
    assert self_hosted_rate("0.002") == Decimal("0.002")


# --- worked examples (USD, exact) ---------------------------------------------------------------


def _run(jobs: list[JobUsage], *, private: bool) -> tuple[Decimal, int]:
    run = price_run(jobs, repository_private=private, self_hosted_usd_per_minute=Decimal(0), fallback_day=JAN_2026)
    return run.cost_usd, run.billable_minutes


def test_worked_example_private_repository_march_2026() -> None:
    jobs = [
        job(["ubuntu-latest"], 10 * 60 + 30, job_id=1),  # 11 min x 0.006 = 0.066
        job(["windows-latest"], 4 * 60, job_id=2),  # 4 min x 0.010 = 0.040
        job(["macos-latest"], 61, job_id=3),  # 2 min x 0.062 = 0.124
        job(["self-hosted", "linux"], 30 * 60, job_id=4),  # free
        job(["ubuntu-latest"], 300, conclusion="skipped", job_id=5),  # not run
        job(["ubuntu-24.04-arm"], 59, job_id=6),  # 1 min x 0.005 = 0.005
        job(["ubuntu-slim"], 125, job_id=7),  # 3 min x 0.002 = 0.006
    ]
    assert _run(jobs, private=True) == (Decimal("0.241"), 21)


def test_worked_example_same_jobs_in_december_2025_at_the_old_rates() -> None:
    december = datetime(2025, 12, 15, 8, tzinfo=UTC)
    jobs = [
        job(["ubuntu-latest"], 10 * 60 + 30, start=december),  # 11 x 0.008 = 0.088
        job(["windows-latest"], 4 * 60, start=december),  # 4 x 0.016 = 0.064
        job(["macos-latest"], 61, start=december),  # 2 x 0.080 = 0.160
    ]
    assert _run(jobs, private=True) == (Decimal("0.312"), 17)


def test_worked_example_public_repository_pays_only_for_larger_and_unknown_runners() -> None:
    jobs = [
        job(["ubuntu-latest"], 45 * 60),  # free
        job(["macos-15-xlarge"], 150),  # 3 x 0.102 = 0.306
        job(["macos-14-large"], 10 * 60),  # 10 x 0.077 = 0.770
        job(["ubuntu-latest-16-cores"], 4 * 60 + 1),  # unknown: 5 x 0.006 = 0.030, estimated
    ]
    assert _run(jobs, private=False) == (Decimal("1.106"), 18)
    cost = sum((price(usage, private=False).cost_usd for usage in jobs), Decimal(0))
    assert cost.quantize(Decimal("0.01")) == Decimal("1.11")


# --- the data file and its documentation --------------------------------------------------------


def test_rate_table_is_well_formed() -> None:
    card = rate_card()
    raw = json.loads(RATES_FILE.read_text())
    exact_labels = [label for sku in card.skus for label in sku.labels if "*" not in label]
    assert len(exact_labels) == len(set(exact_labels)), "a label selects two SKUs"
    for sku in raw["skus"]:
        assert sku["rates"], sku["sku"]
        for rate in sku["rates"]:
            assert rate["source"].startswith("https://"), sku["sku"]
            assert re.fullmatch(r"\d+\.\d{3}", rate["usdPerMinute"]), "rates are exact decimal strings"


def test_docs_table_matches_the_rate_file() -> None:
    documented = {
        match.group(1): (Decimal(match.group(2)), Decimal(match.group(3)))
        for match in re.finditer(r"^\| `(\w+)` \|[^|]*\|[^|]*\| \$?([\d.]+) \| \$?([\d.]+) \|", DOCS.read_text(), re.M)
    }
    in_file = {sku.sku: tuple(rate.usd_per_minute for rate in sku.rates) for sku in rate_card().skus}
    assert documented == in_file
