"""The HTML report in a real headless Chromium: no console errors, no network, every image renders.

Skipped (by capability) where Chromium, chromedriver or selenium is absent. CI installs the
Debian packages ``chromium`` and ``chromedriver``. A full-page screenshot of each report is kept
for people to look at: under ``$GREENBENCH_TEST_ARTIFACTS/report-browser/`` when that variable
names a directory (CI uploads it), else in the test's temporary directory — never in the
repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS_ENV = "GREENBENCH_TEST_ARTIFACTS"


def _find(name: str) -> str | None:
    fixed = Path("/usr/bin") / name
    return str(fixed) if fixed.exists() else shutil.which(name)


CHROMIUM = _find("chromium") or _find("chromium-browser") or _find("google-chrome")
CHROMEDRIVER = _find("chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.requires("chromium"),  # CI promises it: there a skip fails (tests/capabilities.py)
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs headless Chromium and chromedriver (Debian: chromium, chromium-driver)",
    ),
]


def _synthetic() -> Any:
    """The synthetic-suite builder shared with the report unit tests."""
    path = REPO / "tests" / "unit" / "report" / "report_synthetic.py"
    spec = importlib.util.spec_from_file_location("report_synthetic", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where this test's screenshots go: ``$GREENBENCH_TEST_ARTIFACTS/report-browser`` or the test's tmp_path."""
    base = os.environ.get(ARTIFACTS_ENV)
    return Path(base) / "report-browser" if base else tmp_path / "artifacts"


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--disable-default-apps",
        "--hide-scrollbars",
        "--window-size=1300,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def open_and_check(driver: Any, report: Path, screenshot: Path) -> dict[str, Any]:
    """Load ``report`` and assert what a reader relies on; returns facts for further checks."""
    from greenbench.report.context import SECTIONS

    driver.get("about:blank")  # leave the start page, then drop what it logged: only the report counts
    driver.get_log("performance")
    driver.get_log("browser")
    driver.get(report.resolve().as_uri())
    # get() returns once chromedriver's navigation wait ends, which on a loaded machine can be before the load
    # event (readyState "interactive": 1 of 20 flake-check runs). The page must reach "complete" — its images
    # decoded — within the same 60 s the page load is allowed.
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: d.execute_script("return document.readyState") == "complete")

    # every section heading, in order
    headings = driver.execute_script(
        "return Array.from(document.querySelectorAll('main section'))"
        ".map(s => [s.id, s.querySelector('h2').textContent.trim()])"
    )
    assert [tuple(h) for h in headings] == SECTIONS

    # every image decoded and rendered
    imgs = driver.execute_script(
        "return Array.from(document.images).map(i => ({src: i.currentSrc.slice(0, 30), ok: i.complete,"
        " w: i.naturalWidth, h: i.naturalHeight, shown: i.getBoundingClientRect().width}))"
    )
    assert imgs, "the report shows figures"
    for img in imgs:
        assert img["ok"] and img["w"] > 0 and img["h"] > 0 and img["shown"] > 0, img
        assert img["src"].startswith("data:image/"), img

    # no network: every resource the page asked for is the file itself or a data: URI
    requested = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            requested.append(msg["params"]["request"]["url"])
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    for url in requested + resources:
        assert url.startswith(("file:", "data:")), f"network request to {url}"

    # no console errors (a CSP violation, a broken image or a script error would all show here)
    logs = driver.get_log("browser")
    errors = [entry for entry in logs if entry["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    assert driver.execute_script("return document.scripts.length") == 0

    # nothing overflows the page sideways (wide tables scroll inside their own box)
    overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"page is {overflow}px wider than the window"

    # full-page screenshot for people (and for the lead's review)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1300, min(int(height) + 200, 20000))
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(screenshot))
    return {"images": len(imgs), "requested": requested}


# Each figure that draws method intervals says so (data-method-error-bars) and tags the error bars'
# SVG groups "gb-method-interval-…". The figure is an <img> (no SVG in the page's DOM), so the check parses
# the image's own SVG, lays it out in the page off-screen and measures each tagged group: a group with
# an empty bounding box drew nothing.
METHOD_BARS_JS = """
const out = [];
for (const f of document.querySelectorAll('figure.has-method-bars')) {
  const img = f.querySelector('img');
  const bytes = Uint8Array.from(atob(img.currentSrc.split(',')[1]), c => c.charCodeAt(0));
  const doc = new DOMParser().parseFromString(new TextDecoder().decode(bytes), 'image/svg+xml');
  const holder = document.createElement('div');
  holder.style.cssText = 'position:absolute;left:-20000px;top:0';
  const svg = document.importNode(doc.documentElement, true);
  holder.appendChild(svg);
  document.body.appendChild(holder);
  const groups = Array.from(svg.querySelectorAll('g[id^="gb-method-interval"]'));
  const drawn = groups.filter(g => { const b = g.getBBox(); return b.width > 0 || b.height > 0; }).length;
  holder.remove();
  out.push({declared: Number(f.dataset.methodErrorBars), groups: groups.length, drawn: drawn,
            caption: (f.querySelector('figcaption') || {}).textContent || '',
            section: f.closest('section').id, shown: img.getBoundingClientRect().width, w: img.naturalWidth});
}
return out;
"""


def method_error_bars(driver: Any) -> list[dict[str, Any]]:
    """The figures that declare method-interval error bars, with what the browser actually laid out."""
    figs = driver.execute_script(METHOD_BARS_JS)
    for f in figs:
        assert f["declared"] > 0 and f["w"] > 0 and f["shown"] > 0, f
        assert f["groups"] >= f["declared"], f  # every error-bar container is tagged in the SVG
        assert f["drawn"] == f["groups"], f  # and every tagged group has geometry in the browser
        assert f["caption"].startswith("Bars: method interval ("), f
        assert "Seed spread: " in f["caption"], f
    return figs


def test_synthetic_report_in_chromium(browser, artifacts, make_record, write_records, tmp_path):
    from greenbench.report import build_report

    syn = _synthetic()
    recs = syn.full_suite(make_record, seeds=(0, 1, 2))
    failed = make_record(
        backend="torch",
        model="mlp",
        optimizer="rmsprop",
        seed=0,
        status="failed",
        stderr_tail="Traceback (most recent call last):\n  ...\nRuntimeError: worker died <oom>",
    )
    recs.append(failed)
    report = build_report([write_records(recs)], out=tmp_path / "synthetic.html")
    facts = open_and_check(browser, report, artifacts / "synthetic.png")
    assert facts["images"] == 9
    # the energy figures' error bars (method intervals) render, with captions saying what they are
    bars = method_error_bars(browser)
    assert {f["section"] for f in bars} == {"pareto", "comparisons", "training", "targets", "compression", "what-if"}
    comparisons = [f for f in bars if f["section"] == "comparisons"][0]
    assert comparisons["declared"] == 4  # energy and CO₂ panels × two backends
    assert "For energy, the method interval is wider than the seed spread" in comparisons["caption"]
    # and the tables show the ranges beside the values
    cell = browser.execute_script(
        "const t = document.querySelector('#results table'); const h = Array.from(t.tHead.rows[0].cells)"
        ".map(c => c.textContent); const i = h.findIndex(x => x.startsWith('energy (')); "
        "return t.tBodies[0].rows[0].cells[i].textContent"
    )
    assert re.fullmatch(r"[0-9.,]+ \([0-9.,]+–[0-9.,]+\) †", cell), cell
    # the failed run's details open without JavaScript (<details>) and show the escaped stderr
    text = browser.find_element("css selector", "#failures details pre").get_attribute("textContent")
    assert "RuntimeError: worker died <oom>" in text


def test_escaped_suite_name_renders_as_text_in_chromium(browser, artifacts, make_record, write_records, tmp_path):
    from greenbench.report import build_report

    evil = "<script>alert(1)</script>"
    report = build_report(
        [write_records([make_record(suite=evil), make_record(suite=evil, seed=1)])], out=tmp_path / "evil.html"
    )
    open_and_check(browser, report, artifacts / "escaped.png")
    assert browser.find_element("css selector", "header h1").text == f"greenbench report: {evil}"
    assert browser.title == f"greenbench report: {evil}"


@pytest.mark.slow
def test_report_from_real_smoke_results_in_chromium(browser, artifacts, smoke_results, tmp_path):
    """The issue's check: real `greenbench run suites/smoke.yaml` results, the real CLI, a real browser."""
    from e2e_support import run_cli

    out = tmp_path / "smoke.html"
    proc = run_cli("report", str(smoke_results), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert str(out) in " ".join(proc.stdout.split())
    facts = open_and_check(browser, out, artifacts / "smoke.png")
    assert facts["images"] >= 5
    body = browser.find_element("css selector", "main").text
    assert "int8-dynamic" in body  # the compression trade-offs show the smoke suite's variant
    bars = method_error_bars(browser)  # every figure that declares method-interval bars renders them
    from greenbench.results.frame import load_results

    if load_results(smoke_results)["total_energy_kwh_low"].notna().any():  # energy with a method interval
        assert {"pareto", "comparisons"} <= {f["section"] for f in bars}, bars
    # The methodology says how energy was obtained, per device, exactly as the records say it —
    # measured or estimated, whichever this machine allowed.
    records = [json.loads(p.read_text()) for p in smoke_results.glob("*.json")]
    provenance = {
        (device.upper(), how)
        for rec in records for phase in rec["phases"].values() if (phase.get("energy") or {}).get("provenance")
        for device, how in phase["energy"]["provenance"].items()
    }
    assert provenance, "the smoke records carry energy provenance"
    tables = browser.execute_script(
        "return Array.from(document.querySelectorAll('#methodology .table-block')).map(b => ({"
        " caption: (b.querySelector('h3') || {}).textContent,"
        " head: Array.from(b.querySelectorAll('thead th')).map(c => c.textContent.trim()),"
        " rows: Array.from(b.querySelectorAll('tbody tr')).map(r => Array.from(r.cells).map(c => c.textContent.trim()))"
        "}))"
    )
    (table,) = [t for t in tables if t["caption"] == "How energy was obtained, per device"]
    col = {name: i for i, name in enumerate(table["head"])}
    shown = {(row[col["device"]], row[col["energy obtained by"]]) for row in table["rows"]}
    assert shown == provenance, (shown, provenance)
    estimated = sorted({device for device, how in provenance if how.startswith("estimated:")})
    note = "Energy was estimated, not measured, for " + ", ".join(estimated) + ":"
    assert (note in body) == bool(estimated), body
