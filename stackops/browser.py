"""A real headless Chromium, driven by Selenium, to look at ``report.html`` the way a reader's browser does.

Shared by the browser test (``tests/stackops/test_report_browser.py``: every chart drew its data, the page
fetched nothing) and ``python -m stackops screenshot`` (the README's picture of the report). Only the
browser on this machine is used (Debian's ``chromium`` and ``chromium-driver``, or a Chrome and its
chromedriver on ``PATH``): Selenium Manager, which would download one, is never reached, because the
driver's path is always given.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

#: How to get a browser where there is none (the skip message of the browser test says it too).
INSTALL_HINT = "apt-get install chromium chromium-driver"

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)

#: Per plotly chart on the page: its id, its title, how many traces its data holds, and how many SVG marks
#: (bar rectangles, line and marker paths, box outlines) were drawn for them.
_CHART_STATE_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (div) {
  var marks = div.querySelectorAll(
    '.scatterlayer .trace path.js-line, .scatterlayer .trace .points path, ' +
    '.barlayer .trace .point path, .boxlayer .trace path.box');
  var drawn = Array.prototype.filter.call(marks, function (p) {
    var d = p.getAttribute('d'); return d !== null && d.length > 1 && d !== 'M0,0Z';
  });
  var title = div.querySelector('.gtitle');
  return {id: div.id, title: title ? title.textContent : '', traces: (div.data || []).length,
          marks: drawn.length, traceGroups: div.querySelectorAll('.trace').length};
});
"""


@dataclass(frozen=True)
class Browser:
    """Where the browser and its driver are."""

    binary: str
    driver: str


@dataclass(frozen=True)
class ChartState:
    """What one plotly chart drew in the page."""

    id: str
    title: str
    traces: int  # traces in the figure's data
    marks: int  # SVG marks drawn with a non-empty path (bars, lines, markers, boxes)
    trace_groups: int  # `.trace` groups in the SVG


def find_browser() -> Browser | None:
    """The Chromium (or Chrome) and chromedriver on this machine, or None when either is missing."""
    binary = next((path for name in _BROWSERS if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    return Browser(binary, driver) if binary and driver else None


def require_browser() -> Browser:
    """:func:`find_browser`, or a RuntimeError saying how to install one."""
    browser = find_browser()
    if browser is None:
        raise RuntimeError(f"no Chromium and chromedriver on PATH; install them: {INSTALL_HINT}")
    return browser


@contextmanager
def headless(browser: Browser, width: int = 1280, height: int = 900) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile, closed (and its profile removed) on exit."""
    with tempfile.TemporaryDirectory(prefix="stackops-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = browser.binary
        for flag in _FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=browser.driver))
        try:
            yield driver
        finally:
            driver.quit()


def open_report(driver: webdriver.Chrome, html: Path, timeout: float = 60.0) -> None:
    """Load ``html`` from disk and wait until every plotly chart on it has been drawn."""
    driver.get(html.resolve().as_uri())
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && "
            "Array.from(document.querySelectorAll('.js-plotly-plot')).every("
            "function (div) { return div._fullLayout !== undefined; });"
        )
    )


def chart_states(driver: webdriver.Chrome) -> list[ChartState]:
    """What each plotly chart on the open page drew."""
    rows = cast(list[dict[str, Any]], driver.execute_script(_CHART_STATE_JS))
    return [
        ChartState(
            id=str(row["id"]),
            title=str(row["title"]),
            traces=int(row["traces"]),
            marks=int(row["marks"]),
            trace_groups=int(row["traceGroups"]),
        )
        for row in rows
    ]


def resources_fetched(driver: webdriver.Chrome) -> list[str]:
    """Every resource the open page requested after the document itself (a self-contained page: none)."""
    return [str(url) for url in driver.execute_script(_RESOURCES_JS)]


_RESOURCES_JS = "return performance.getEntriesByType('resource').map(function (e) { return e.name; });"


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """The browser console's SEVERE entries (a script error, a request the page's CSP refused)."""
    entries = driver.get_log("browser")  # type: ignore[no-untyped-call]  # selenium leaves it unannotated
    return [str(entry["message"]) for entry in entries if entry.get("level") == "SEVERE"]


def full_page_png(driver: webdriver.Chrome, width: int = 1280, height: int | None = None) -> bytes:
    """A PNG of the open page, ``width`` CSS pixels wide: its top ``height`` pixels, or all of it."""
    document = int(driver.execute_script("return document.documentElement.scrollHeight"))
    height = document if height is None else min(height, document)
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    return base64.b64decode(shot["data"])


def screenshot(html: Path, png: Path, browser: Browser | None = None, height: int | None = None) -> list[ChartState]:
    """Open ``html`` in headless Chromium and write a PNG of it (the top ``height`` px, or all); what was drawn."""
    with headless(browser or require_browser()) as driver:
        open_report(driver, html)
        states = chart_states(driver)
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(full_page_png(driver, height=height))
    return states
