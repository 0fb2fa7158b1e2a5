"""The published site in a real browser: the distribution's headless Chromium driven by Selenium through the
distribution's chromedriver (nothing downloaded; Selenium Manager is never asked because the driver's path is
given). Every page of a site published from the fixture store (tests/site_store.py) loads from a static server and
from file:// with no console error and no failed request, with no host name resolving (nothing can come from the
internet), its plots render with the traces and points the store holds, its links resolve, and the text of the
injection fixture is shown as text with none of its scripts run. Screenshots of the overview and a case page go to
results/site-screenshots/ (git-ignored)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from bench.__main__ import main
from tests import site_store
from tests.conftest import ROOT
from tests.postgres_server import free_port

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
SCREENSHOTS = ROOT / "results" / "site-screenshots"
CNN = "cnn-train-eager-fp32-bs64-cpu"


def need_browser() -> None:
    if CHROMIUM and DRIVER:
        return
    reason = "Chromium and its driver are not installed (Debian: apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: CI must run these tests (.ci/run installs them)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("browser-site")
    site_store.fill(work / "results.db", work)
    out = work / "site"
    assert main(["publish", "--db", str(work / "results.db"), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def server(site):
    """`python -m http.server` on a free local port, stopped by its PID afterwards."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "-d",
                                str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1100", f"--user-data-dir={profile}", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    options.set_capability("unhandledPromptBehavior", "ignore")
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER, log_output=str(profile / "driver.log")),
                              options=options)
    driver.set_page_load_timeout(60)
    driver.get("about:blank")  # past the browser's start page (its requests fail: no name resolves)
    time.sleep(1)
    try:
        yield driver
    finally:
        driver.quit()


def failed_requests(entries: list[dict]) -> list[str]:
    failed, urls = [], {}
    for entry in entries:
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            urls[params.get("requestId")] = params.get("request", {}).get("url", "")[:200]
        # a request this page did not send is the browser's own (its start page's, at start-up): not the site's
        if message.get("method") == "Network.loadingFailed" and params.get("requestId") in urls:
            failed.append(f"{params.get('errorText')}: {urls[params['requestId']]}")
        elif message.get("method") == "Network.responseReceived" and params["response"].get("status", 0) >= 400:
            failed.append(f"{params['response']['status']} {params['response']['url']}")
    return failed


def visit(driver, url: str) -> None:
    """Load ``url``, wait until every plot of it has rendered, and fail on a console error or a failed request."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && Array.from(document.querySelectorAll('[data-plot]'))"
        ".every(e => e.getAttribute('data-rendered') === 'true')"))
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, (url, errors)
    failed = failed_requests(driver.get_log("performance"))
    assert not failed, (url, failed)
    assert no_injection_ran(driver), url


def no_injection_ran(driver) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert.dismiss()
        return False  # an alert is open: a script from a report ran
    except NoAlertPresentException:
        pass
    return driver.execute_script(
        "return window.__pwned === undefined && document.querySelectorAll('img').length === 0"
        " && Array.from(document.scripts).every(s => s.src || s.type === 'application/json')")


def page_names(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


def count(driver, selector: str) -> int:
    return driver.execute_script(f"return document.querySelectorAll({json.dumps(selector)}).length")


def case_page(site: Path) -> str:
    return next(name for name in page_names(site) if name.startswith("cases/cnn"))


def test_every_page_loads_renders_and_links_inside_the_site(site, server, browser):
    names = page_names(site)
    for name in names:
        visit(browser, server + name)
        for link in browser.execute_script("return Array.from(document.querySelectorAll('a[href]'))"
                                           ".map(a => a.href)"):
            assert link.startswith(server), (name, link)
            path = site / urllib.parse.unquote(urllib.parse.urlparse(link).path).lstrip("/")
            assert path.is_file(), (name, link)
        plots = count(browser, "[data-plot]")
        assert count(browser, ".js-plotly-plot") == plots, name
    assert len(names) == 3 + 1 + 2 + len(site_store.NODES) + 4


def test_the_case_plot_draws_each_node_its_band_and_the_change_point(site, server, browser):
    visit(browser, server + case_page(site))
    # lines: node-a; node-b, node-c, node-d on the fleet's series, and node-b's matrix setup torch-2.11 apart from
    # its plain runs (a line per node and setup); node-b's torch-2.14 setup (OMP_NUM_THREADS=1); the evil host.
    # Each line has its band (a filled trace), and one trace marks the change points: 7 x 2 + 1.
    assert count(browser, ".scatterlayer .trace") == 15
    # one marker per measured invocation: node-a 12, node-b 4 (two runs, the matrix's first setup, validate),
    # node-c 2, node-d 3, node-b's second setup 1, evil 2; and the change point's marker
    assert count(browser, ".scatterlayer .trace .points path") == 24 + 1
    assert count(browser, ".shapelayer path") == 1  # the change point's dashed line
    notes = browser.execute_script("return Array.from(document.querySelectorAll('.annotation-text'))"
                                   ".map(e => e.textContent)")
    assert len(notes) == 1 and re.fullmatch(r"\+(9\.[5-9]|10\.[0-5])% torch 2\.11\.0 -> 2\.14\.1", notes[0]), notes
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "case.png"))
    # hovering a point shows its invocation
    browser.execute_script("var el = document.getElementById('case-plot');"
                           "var i = el.data.findIndex(t => t.meta && t.name.startsWith('node-a'));"
                           "Plotly.Fx.hover(el, [{curveNumber: i, pointNumber: 11}]);")
    hover = browser.execute_script("return Array.from(document.querySelectorAll('.hoverlayer text'))"
                                   ".map(e => e.textContent).join(' ')")
    assert "invocation" in hover and "node-a" in hover and "torch 2.14.1" in hover, hover


def test_the_heat_map_renders_its_rows_and_clicks_through_to_the_node(site, server, browser):
    visit(browser, server + "fleet.html")
    assert count(browser, ".hm") == 1
    ticks = browser.execute_script("return Array.from(document.querySelectorAll('.ytick text'))"
                                   ".sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)"
                                   ".map(e => e.textContent)")  # top to bottom
    assert ticks[0] == "node-d" and sorted(ticks[1:]) == ["node-b", "node-c"]
    browser.execute_script("document.getElementById('fleet-plot')"
                           ".emit('plotly_click', {points: [{y: 'node-d', x: 0}]})")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda d: "/nodes/node-d-" in d.current_url)
    assert browser.find_element("tag name", "h1").text == "node node-d"
    assert count(browser, ".barlayer .trace") == 2 and count(browser, ".barlayer .point") == 4


def test_the_site_opens_from_file_urls(site, browser):
    visit(browser, (site / "index.html").as_uri())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "overview.png"))
    visit(browser, (site / case_page(site)).as_uri())
    assert count(browser, ".scatterlayer .trace") == 15
    visit(browser, (site / "fleet.html").as_uri())
    browser.set_window_size(1400, 900)
    browser.save_screenshot(str(SCREENSHOTS / "fleet.png"))
    node = next(name for name in page_names(site) if name.startswith("nodes/node-d-"))
    visit(browser, (site / node).as_uri())
    browser.save_screenshot(str(SCREENSHOTS / "node.png"))
    compare = next(name for name in page_names(site) if name.startswith("compare/matrix"))
    visit(browser, (site / compare).as_uri())
    browser.save_screenshot(str(SCREENSHOTS / "compare.png"))
    browser.set_window_size(1400, 1100)


def test_the_injection_fixture_is_text_and_runs_nothing(site, server, browser):
    evil = next(name for name in page_names(site) if name.startswith("nodes/evil"))
    visit(browser, server + evil)
    assert browser.find_element("tag name", "h1").text == "node " + site_store.EVIL_HOST
    body = browser.find_element("tag name", "body").text
    assert "driver says " + site_store.SCRIPT in body and "GPU " + site_store.SCRIPT in body
    visit(browser, server + case_page(site))
    browser.execute_script("var el = document.getElementById('case-plot');"
                           "var i = el.data.findIndex(t => t.meta && t.name.startsWith('evil'));"
                           "Plotly.Fx.hover(el, [{curveNumber: i, pointNumber: 0}]);")
    hover = browser.execute_script("return Array.from(document.querySelectorAll('.hoverlayer text'))"
                                   ".map(e => e.textContent).join(' ')")
    assert site_store.EVIL_HOST in hover, hover  # shown as the characters it is
    legend = browser.execute_script("return Array.from(document.querySelectorAll('.legendtext'))"
                                    ".map(e => e.textContent)")
    assert any(name.startswith(site_store.EVIL_HOST) for name in legend), legend
    assert no_injection_ran(browser)
