"""GitHub's clock in the sandbox: the fake GitHub's resets and the function processes' pacing read one clock.

The sandbox scales waits by ``time_scale``; were the function processes to pace on the wall clock, a
``Retry-After: 37`` would hold a process's requests for 37 real seconds (a day and a half of the sandbox's
time at 0.002), and every delivery that met the process meanwhile would wait out a limit long over.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from sandbox.fake_github import PRIMARY_RESET_SECONDS, FakeGitHub
from sandbox.fake_rate_limits import RateLimitPolicy
from sandbox.github_clock import GitHubClock
from sandbox.lambda_runtime import FunctionConfig, LocalLambdaRuntime
from sandbox.workload import SANDBOX_ORG
from tests.sandbox.lambda_fixtures import functions_package_zip
from tests.sandbox.test_fake_github import app_key

TIME_SCALE = 0.01
WALL_SECONDS = 10.0  # since the clock's epoch
AHEAD_SECONDS = WALL_SECONDS / TIME_SCALE - WALL_SECONDS  # how far GitHub's clock is ahead of the wall's by then

CLOCK_PROBE = """
import time


def handler(event, context):
    from functions.common import github_pacing  # imported late, as a function's first request would

    return {"github": github_pacing.now(), "wall": time.time()}
"""


def test_githubs_clock_reads_the_walls_at_its_epoch_then_runs_faster() -> None:
    clock = GitHubClock(1_800_000_000.0, TIME_SCALE)
    assert clock.at(clock.epoch) == clock.epoch
    assert clock.at(clock.epoch + 1) == pytest.approx(clock.epoch + 1 / TIME_SCALE)
    assert GitHubClock.from_env(next(iter(clock.env().values()))) == clock
    with pytest.raises(ValueError, match="time_scale must be > 0"):
        GitHubClock(0.0, 0)


def _probe() -> FunctionConfig:
    code = functions_package_zip({"clock_probe.py": CLOCK_PROBE})
    return FunctionConfig(
        name="clock-probe",
        arn="arn:aws:lambda:us-east-1:123456789012:function:clock-probe",
        handler="clock_probe.handler",
        code_zip=code,
        code_sha256=hashlib.sha256(code).hexdigest(),
        timeout=30,
        memory_size=128,
    )


@pytest.mark.parametrize("scaled", [True, False])
def test_a_function_process_paces_on_githubs_clock(scaled: bool) -> None:
    runtime = LocalLambdaRuntime("http://127.0.0.1:9")
    if scaled:
        runtime.github_clock = GitHubClock(time.time() - WALL_SECONDS, TIME_SCALE)
    try:
        result = runtime.invoke(_probe(), b"{}")
    finally:
        runtime.close()
    assert result.function_error is None, result.payload
    answer = json.loads(result.payload)
    ahead = answer["github"] - answer["wall"]
    if scaled:
        assert AHEAD_SECONDS - 1 < ahead < AHEAD_SECONDS + 1000, "a few wall seconds more are a few hundred GitHub's"
    else:
        assert abs(ahead) < 1, "without a clock the pacing reads the wall's"


@pytest.mark.parametrize("fault", ["primary_rate_limit", "graphql_rate_limited"])
def test_a_faults_reset_is_on_githubs_clock(fault: str) -> None:
    """A reset reckoned from the wall would lie in GitHub's past: the product would not wait at all."""
    clock = GitHubClock(time.time() - WALL_SECONDS, TIME_SCALE)
    fake = FakeGitHub.seeded(
        SANDBOX_ORG, app_key().public_key, rate_limits=RateLimitPolicy(time_scale=TIME_SCALE), epoch=clock.epoch
    )
    fake.fail(fault)  # type: ignore[arg-type]
    path = "/graphql" if fault == "graphql_rate_limited" else f"/orgs/{SANDBOX_ORG.org}/members"
    reply = fake.handle("POST" if path == "/graphql" else "GET", f"https://api.github.test{path}", {}, b"{}")
    reset = int(reply.headers["x-ratelimit-reset"])
    assert reply.headers["x-ratelimit-remaining"] == "0"
    assert clock.now() - 5 < reset - PRIMARY_RESET_SECONDS <= clock.now()
