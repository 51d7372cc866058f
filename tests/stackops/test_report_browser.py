"""report.html in a real headless Chromium: every chart drew its data, the page fetched nothing.

The report is built from the hand-made reports of report_inputs (test inputs, never shown as results).
Chromium and its driver are Debian's (``apt-get install chromium chromium-driver``; ``.ci/run`` installs
them): without them the test is skipped, unless ``CI`` is set, where it fails.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import plotly.graph_objects as go
import pytest
from selenium import webdriver

from stackops import browser, cost_model
from stackops.cli import main
from stackops.report import ReportFiles, write_report
from tests.stackops import usage_samples
from tests.stackops.report_inputs import RATES, SERVICES, VOLUMES, cost_report, usage_report

#: Marks each chart must draw from report_inputs: lines and markers, bars, boxes.
EXPECTED_MARKS = {
    # a line and a marker per volume for each of the 3 designs, and the one crossover inside the range
    "chart-volume": len(RATES) * (1 + len(VOLUMES)) + 1,
    # a bar per design and workload (member_added, workflow_run, mix)
    "chart-per-million": len(RATES) * 3,
    # a bar per design for each service, the idle alarms (cloudwatch) included: the floor's is a zero-height bar
    "chart-breakdown": len(RATES) * (len(SERVICES) + 1),
    # one bar per lever effect
    "chart-levers": 2,
    # a box per design and use case
    "chart-latency": 2 * 2,
}


@pytest.fixture(scope="module")
def chromium() -> browser.Browser:
    found = browser.find_browser()
    if found is None:
        message = f"no Chromium and chromedriver on PATH; install them: {browser.INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the browser test cannot run: {message}")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return write_report(usage_report(), cost_report(), tmp_path_factory.mktemp("compare"))


@pytest.fixture(scope="module")
def page(chromium: browser.Browser, report: ReportFiles) -> Iterator[webdriver.Chrome]:
    with browser.headless(chromium) as driver:
        browser.open_report(driver, report.html)
        yield driver


def test_every_chart_drew_its_data(page: webdriver.Chrome) -> None:
    states = {state.id: state for state in browser.chart_states(page)}

    assert sorted(states) == sorted(EXPECTED_MARKS)
    for chart_id, marks in EXPECTED_MARKS.items():
        state = states[chart_id]
        assert state.title, f"{chart_id} has no title"
        assert state.traces > 0 and state.trace_groups >= state.traces, state
        assert state.marks == marks, f"{chart_id} drew {state.marks} marks, expected {marks}"


def test_the_report_of_the_cost_models_own_output_draws_every_chart(chromium: browser.Browser, tmp_path: Path) -> None:
    usage = usage_samples.report(usage_samples.sqs_stack(), *map(usage_samples.sfn_stack, ("STANDARD", "EXPRESS")))
    files = write_report(usage, cost_model.price(usage), tmp_path)

    with browser.headless(chromium) as driver:
        browser.open_report(driver, files.html)
        states = browser.chart_states(driver)
        fetched = browser.resources_fetched(driver)

    # usage_samples measures no latency: that chart is left out, every other one is drawn
    assert sorted(s.id for s in states) == sorted(set(EXPECTED_MARKS) - {"chart-latency"})
    assert all(s.marks > 0 for s in states), states
    assert fetched == []


def test_the_page_fetched_nothing_and_logged_no_error(page: webdriver.Chrome) -> None:
    assert browser.resources_fetched(page) == []
    assert browser.console_errors(page) == []


def test_the_chart_check_sees_an_empty_chart(chromium: browser.Browser, tmp_path: Path) -> None:
    """The check above can fail: a chart whose trace has no points draws no mark."""
    empty = go.Figure(go.Scatter(x=[], y=[], mode="lines+markers"))
    html = tmp_path / "empty.html"
    html.write_text(empty.to_html(include_plotlyjs=True, div_id="chart-empty"))

    with browser.headless(chromium) as driver:
        browser.open_report(driver, html)
        (state,) = browser.chart_states(driver)

    assert state.id == "chart-empty" and state.traces == 1 and state.marks == 0


def test_screenshot_writes_a_full_page_png(chromium: browser.Browser, report: ReportFiles, tmp_path: Path) -> None:
    png = tmp_path / "images" / "compare-report.png"

    assert main(["screenshot", str(report.html), str(png)]) == 0

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width == 1280 and height > 2000  # the whole page, not the first screen

    assert main(["screenshot", str(report.html), str(png), "--height", "1500"]) == 0
    assert struct.unpack(">II", png.read_bytes()[16:24]) == (1280, 1500)
