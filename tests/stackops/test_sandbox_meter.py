"""The meter's workload: enough distinct members and runs that no delivery of a phase repeats another."""

from __future__ import annotations

import pytest

from stackops.sandbox_meter import cold_waits, meter_sandbox, metering_seed, workload


@pytest.mark.parametrize("deliveries", [1, 12, 30])
def test_each_delivery_of_a_phase_is_a_new_member_or_run(deliveries: int) -> None:
    seed = metering_seed(members=deliveries, runs=deliveries)
    members = workload(seed, "member_added", deliveries)
    runs = workload(seed, "workflow_run", deliveries)
    assert len(members) == len(runs) == deliveries
    assert len({d.label for d in members}) == len({d.label for d in runs}) == deliveries
    assert all(d.expected == "processed" for d in members + runs)


def test_bad_arguments_name_the_argument_value_and_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="deliveries must be at least 1, got 0"):
        meter_sandbox(deliveries=0)
    with pytest.raises(ValueError, match=r"designs: unknown \['lambda-only'\]; allowed: sqs, stepfunctions"):
        meter_sandbox(designs=["lambda-only"])


def test_a_cold_init_is_put_on_the_latest_execution_running_when_it_began() -> None:
    windows = [(0.0, 10.0), (2.0, 5.0), (20.0, 21.0)]
    colds = [(3.0, 1.5), (6.0, 0.5), (15.0, 2.0)]  # in both of the first two; only in the first; in none
    assert cold_waits(windows, colds) == [0.5, 1.5, 0.0]
