"""The HTML and Markdown reports render from synthetic, schema-valid records (no frameworks)."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from report_synthetic import full_suite, partly_failed

from greenbench.errors import UserError
from greenbench.report import build_report, default_report_path
from greenbench.report.context import SECTIONS

REPO = Path(__file__).resolve().parents[3]
URL_IN_ATTR = re.compile(r"""(?:src|href|srcset|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
URL_IN_CSS = re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.I)


class Page(HTMLParser):
    """What a browser would look at: section ids and headings, image sources, links, scripts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.imgs: list[dict[str, str]] = []
        self.hrefs: list[str] = []
        self.scripts = 0
        self._section: str | None = None
        self._in_h2 = False
        self._h2 = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section":
            self._section = a.get("id")
        elif tag == "h2":
            self._in_h2, self._h2 = True, ""
        elif tag == "img":
            self.imgs.append(a)
        elif tag == "a":
            self.hrefs.append(a.get("href", ""))
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2" and self._in_h2:
            self._in_h2 = False
            if self._section:
                self.sections[self._section] = self._h2.strip()

    def handle_data(self, data: str) -> None:
        if self._in_h2:
            self._h2 += data


def section_text(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{re.escape(sid)}".*?</section>', html, re.S)
    assert m, f"section {sid} missing"
    return m.group(0)


def check_page(html: str) -> Page:
    """Invariants every report must satisfy."""
    page = Page(html)
    assert page.sections == {sid: title for sid, title in SECTIONS}, "every section, with its heading, in order"
    assert list(page.sections) == [sid for sid, _ in SECTIONS]
    assert page.scripts == 0
    assert not URL_IN_ATTR.search(html) and not URL_IN_CSS.search(html), "no external URL"
    assert not re.search(r"https?://", html), "no URL at all in the document"
    assert all(h.startswith("#") for h in page.hrefs), page.hrefs
    for img in page.imgs:
        src = img["src"]
        assert img.get("alt"), "every image has alt text"
        m = re.fullmatch(r"data:image/(png|svg\+xml);base64,([A-Za-z0-9+/=]+)", src)
        assert m, src[:80]
        raw = base64.b64decode(m.group(2), validate=True)
        if m.group(1) == "png":
            assert raw.startswith(b"\x89PNG\r\n\x1a\n")
        else:
            assert b"<svg" in raw[:400] and raw.rstrip().endswith(b"</svg>")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    return page


def set_energy(rec: dict[str, Any], **fields: Any) -> dict[str, Any]:
    for phase in rec["phases"].values():
        phase["energy"].update(fields)
    return rec


# --------------------------------------------------------------------------- full reports
def test_full_suite_renders_every_section_with_figures(make_record, write_records, tmp_path):
    recs = full_suite(make_record, seeds=(0, 1))
    d = write_records(recs)
    out = build_report([d], out=tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    page = check_page(html)
    # pareto, comparisons, curves, targets, compression, fairness, confusion, samples, what-if
    assert len(page.imgs) == 9
    assert sum(i["src"].startswith("data:image/png") for i in page.imgs) == 1  # the sample grid
    assert "No compression variants" not in html
    assert "prune-50" in section_text(html, "compression")
    assert "3 of 3 seeds" not in html and "2 of 2 seeds" in section_text(html, "targets")
    assert "Greenest within 0.5 pp of the best" in section_text(html, "headline")
    methodology = section_text(html, "methodology")
    for needle in (
        "estimated:tdp",
        "TDP",
        "Synthetic CPU",
        "2.13.0",
        "2.21.0",
        "3.3.2",
        "USA",
        "380 gCO₂eq/kWh",
        "Seeds: 0, 1",
    ):
        assert needle in methodology, needle
    assert "Energy was estimated, not measured" in methodology
    whatif = section_text(html, "what-if")
    assert "France (FRA)" in whatif and "global_energy_mix.json" in whatif and "recorded" in whatif
    assert "Every run completed." in section_text(html, "failures")
    assert out.stat().st_mode & 0o044, "the report is readable like any other file"


def test_estimated_energy_is_marked_wherever_it_appears(make_record, write_records, tmp_path):
    d = write_records(full_suite(make_record, seeds=(0,), with_compression=False, target=None))
    html = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Estimated energy." in html  # banner
    headline = section_text(html, "headline")
    assert re.search(r'class="value">[^<]*Wh †<', headline)
    assert re.search(r'class="sub">[^<]*Wh \([0-9.,]+–[0-9.,]+\) †', headline)  # with its method interval
    results = section_text(html, "results")
    cells = re.findall(r"<td>([0-9.,]+(?: \([0-9.,]+–[0-9.,]+\))?(?: [†‡]+)?)</td>", results)
    energy_cells = [c for c in cells if "†" in c]
    assert len(energy_cells) >= 2 * 8  # energy and CO₂ of all 8 completed runs


def test_measured_energy_carries_no_estimate_mark(make_record, write_records, tmp_path):
    recs = [
        set_energy(
            make_record(seed=s, accuracy=0.95 + s / 100),
            energy_source="measured",
            provenance={"cpu": "measured:rapl", "gpu": "none", "ram": "measured:rapl"},
            provenance_detail={"cpu": {"method": "RAPL package-0 + dram"}},  # the meter writes a dict per device
        )
        for s in (0, 1)
    ]
    d = write_records(recs)
    html = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    check_page(html)
    assert "Estimated energy." not in html and "†" not in section_text(html, "results")
    meth = section_text(html, "methodology")
    assert "measured with RAPL energy counters" in meth
    assert "RAPL package-0 + dram" in meth  # extra keys from the energy meter are shown, not dropped
    assert "Energy was estimated" not in meth


def test_low_confidence_phases_are_flagged(make_record, write_records, tmp_path):
    rec = make_record()
    rec["phases"]["evaluate"]["energy"]["low_confidence"] = True
    d = write_records([rec, make_record(seed=1)])
    html = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    assert "‡" in section_text(html, "results")
    assert "low-confidence" in section_text(html, "methodology")


def test_partly_failed_suite(make_record, write_records, tmp_path):
    d = write_records(partly_failed(make_record))
    html = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    check_page(html)
    fails = section_text(html, "failures")
    assert "1 failed, 1 interrupted, 1 skipped of 8 runs" in fails
    assert "failed: synthetic reason" in fails and "skipped: synthetic reason" in fails
    assert "RuntimeError: out of memory" in fails  # the stderr tail, in a <details> block
    assert "<details" in fails
    assert "Every run completed" not in fails
    assert "No compression variants in these results." in section_text(html, "compression")
    assert "set no target accuracy" in section_text(html, "targets")
    assert "Best accuracy" in section_text(html, "headline")


def test_only_failed_runs_still_render(make_record, write_records, tmp_path):
    d = write_records([make_record(status="failed"), make_record(seed=1, status="skipped")])
    html = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    page = check_page(html)
    assert page.imgs == []
    assert "No run completed" in section_text(html, "headline")
    assert "2 runs" in section_text(html, "headline")


def test_single_run(make_record, write_records, tmp_path):
    d = write_records([make_record(samples=None)])
    html = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    page = check_page(html)
    assert len(page.imgs) >= 4  # pareto, comparison, curves, fairness, confusion (no samples recorded)
    assert "single seed: no confidence interval" in section_text(html, "headline")
    assert "No sample grid: no sample predictions were recorded." in section_text(html, "transparency")
    assert not re.search(r"<td>[^<]*±", section_text(html, "comparisons"))  # one seed: no made-up interval


def test_bad_samples_are_explained_not_fatal(make_record, write_records, tmp_path):
    rec = make_record(
        samples={
            "indices": [0, 1],
            "labels": [1, 2],
            "predictions": [1, 3],
            "images_b64": base64.b64encode(b"\x00" * 100).decode(),
        }
    )
    d = write_records([rec])
    html = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    assert "hold 100 bytes, expected 2×28×28" in section_text(html, "transparency")


def test_runs_without_energy(make_record, write_records, tmp_path):
    rec = make_record()
    for phase in rec["phases"].values():
        phase["energy"] = {
            "energy_source": "disabled",
            "provenance": {"cpu": "none", "gpu": "none", "ram": "none"},
            "total_kwh": None,
            "co2_kg": None,
        }
    d = write_records([rec])
    html = build_report([d], out=tmp_path / "r.html").read_text(encoding="utf-8")
    check_page(html)
    assert "can rank accuracy but not greenness" in section_text(html, "headline")
    assert "No energy was recorded" in section_text(html, "what-if")
    assert "(disabled)" in section_text(html, "results")


def test_several_machines_merge_with_a_machine_column(make_record, write_records, tmp_path, monkeypatch):
    a = write_records(full_suite(make_record, machine="laptop", seeds=(0,), with_compression=False), name="a")
    b = write_records(
        full_suite(make_record, machine="gpu-box", seeds=(0,), with_compression=False, slow=0.5), name="b"
    )
    monkeypatch.chdir(tmp_path)
    out = build_report([a, b])
    assert out == Path("reports") / "synthetic_2-machines.html"
    html = out.read_text(encoding="utf-8")
    check_page(html)
    assert "2 machines: gpu-box, laptop" in html
    results = section_text(html, "results")
    assert "<th>machine</th>" in results and "laptop" in results and "gpu-box" in results
    meth = section_text(html, "methodology")
    assert "<th>laptop</th>" in meth and "<th>gpu-box</th>" in meth  # environment side by side
    assert "laptop vs gpu-box" in section_text(html, "comparisons")  # head to head across machines


# --------------------------------------------------------------------------- escaping
EVIL = "<script>alert(1)</script>"


def test_every_string_from_suites_and_results_is_escaped(make_record, write_records, tmp_path, monkeypatch):
    recs = [
        make_record(suite=EVIL, machine='"><img src=x onerror=alert(2)>'),
        make_record(suite=EVIL, seed=1, status="failed", machine='"><img src=x onerror=alert(2)>'),
    ]
    recs[1]["reason"] = "boom <b>bold</b> & <script>alert(3)</script>"
    recs[1]["stderr_tail"] = "</pre><script>alert(4)</script>"
    recs[0]["env"]["cpu"]["model"] = "<iframe src=javascript:alert(5)>"
    d = write_records(recs)
    monkeypatch.chdir(tmp_path)
    out = build_report([d])
    # the readable, safe part of the name and a hash of the exact name (greenbench.suite.schema.suite_slug)
    assert out.parent == Path("reports") and re.fullmatch(r"script-alert-1-script-[0-9a-f]{8}\.html", out.name)
    html = out.read_text(encoding="utf-8")
    page = check_page(html)
    assert page.scripts == 0
    assert "<script" not in html.lower() and "<iframe" not in html.lower() and "<b>bold" not in html
    assert "onerror=alert(2)>" not in html.replace("&gt;", "")  # only ever as text
    assert all(i["src"].startswith("data:") for i in page.imgs)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text, in the title and header
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert "&lt;/pre&gt;&lt;script&gt;alert(4)" in html
    assert "&lt;iframe src=javascript:alert(5)&gt;" in html

    md = build_report([d], fmt="md").read_text(encoding="utf-8")
    assert "<script" not in md and "&lt;script>alert(1)&lt;/script>" in md


# --------------------------------------------------------------------------- markdown
def test_markdown_summary(make_record, write_records, tmp_path):
    d = write_records(full_suite(make_record, seeds=(0, 1)))
    md = build_report([d], out=tmp_path / "r.md", fmt="md").read_text(encoding="utf-8")
    for heading in (
        "# greenbench report: synthetic",
        "## Headline",
        "## Methodology",
        "## Comparisons",
        "## Compression",
        "## CO₂ what-if",
        "## Failed and skipped runs",
    ):
        assert heading in md
    assert "Best accuracy" in md and "Greenest run" in md and "†" in md
    assert "data:image" not in md and "<img" not in md
    table_rows = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert table_rows and all(ln.endswith(" |") for ln in table_rows)


def test_markdown_stays_under_1_mib_with_many_records(make_record, write_records, tmp_path):
    reason = "x" * 20_000
    recs = [make_record(seed=s, accuracy=0.9 + (s % 50) / 1000) for s in range(200)]
    recs += [make_record(model="cnn", seed=s, status="failed", stderr_tail=reason) for s in range(1000)]
    for r in recs[200:]:
        r["reason"] = f"run {r['run_id']} failed: " + reason
    d = write_records(recs)
    out = build_report([d], out=tmp_path / "big.md", fmt="md")
    size = out.stat().st_size
    assert size < 1024 * 1024, size
    text = out.read_text(encoding="utf-8")
    assert "more in the HTML report" in text


def test_markdown_shrinks_to_fit_a_limit(make_record, write_records):
    from greenbench.report import context, data
    from greenbench.report.markdown import render_markdown

    d = write_records([make_record(seed=s) for s in range(40)])
    ctx = context.build(data.load([d]), with_figures=False)
    full = render_markdown(ctx)
    small = render_markdown(ctx, max_bytes=3000)
    assert len(small.encode()) <= 3000 < len(full.encode())


# --------------------------------------------------------------------------- exports
def test_csv_round_trip(make_record, write_records, tmp_path):
    import pandas as pd

    from greenbench.results.frame import COLUMNS, load_results

    d = write_records(partly_failed(make_record))
    out = build_report([d], out=tmp_path / "r.csv", fmt="csv")
    back = pd.read_csv(out)
    ref = load_results(d)
    assert list(back.columns) == COLUMNS
    assert sorted(back["run_id"]) == sorted(ref["run_id"])
    b = back.set_index("run_id").sort_index()
    r = ref.set_index("run_id").sort_index()
    pd.testing.assert_series_equal(b["test_accuracy"], r["test_accuracy"].astype(float), check_names=False)
    pd.testing.assert_series_equal(b["status"], r["status"], check_names=False)
    assert (b["total_energy_kwh"].dropna() - r["total_energy_kwh"].dropna().astype(float)).abs().max() < 1e-15


def test_parquet_round_trip(make_record, write_records, tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    from greenbench.results.frame import load_results

    d = write_records(full_suite(make_record, seeds=(0,)))
    out = build_report([d], out=tmp_path / "r.parquet", fmt="parquet")
    back = pd.read_parquet(out)
    ref = load_results(d)
    pd.testing.assert_frame_equal(back, ref, check_dtype=False)


# --------------------------------------------------------------------------- API edges
def test_user_errors(tmp_path, make_record, write_records):
    d = write_records([make_record()])
    with pytest.raises(UserError, match="format 'pdf' is not one of: html, md, csv, parquet"):
        build_report([d], fmt="pdf")
    with pytest.raises(UserError, match="no such results directory"):
        build_report([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no run records found"):
        build_report([tmp_path / "empty"])
    with pytest.raises(UserError, match="is a directory"):
        build_report([d], out=tmp_path)


def test_default_report_paths():
    assert default_report_path(["smoke"], ["m"], "html") == Path("reports/smoke.html")
    assert re.fullmatch(r"reports/My-suite-[0-9a-f]{8}\.md", str(default_report_path(["My suite!"], ["m"], "md")))
    assert default_report_path(["My suite!"], ["m"], "md") != default_report_path(["My suite?"], ["m"], "md")
    assert default_report_path(["b", "a"], ["m"], "csv") == Path("reports/a_b.csv")
    assert default_report_path(["a", "b", "c", "d"], ["m", "n"], "html") == Path("reports/4-suites_2-machines.html")


def test_report_imports_no_framework_and_no_codecarbon_module(make_record, write_records, tmp_path):
    d = write_records([make_record(), make_record(seed=1)])
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from greenbench.report import build_report
        build_report([Path({str(d)!r})], out=Path({str(tmp_path / 'r.html')!r}))
        build_report([Path({str(d)!r})], out=Path({str(tmp_path / 'r.md')!r}), fmt="md")
        bad = sorted(m for m in sys.modules if m.split(".")[0] in {{"torch", "tensorflow", "keras", "codecarbon"}})
        assert not bad, bad
        import matplotlib
        assert matplotlib.get_backend().lower() == "agg", matplotlib.get_backend()
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ok" in proc.stdout
    assert "what-if" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_every_section_module_is_listed_once_in_SECTIONS():
    """A section is one module under report/sections/ plus its entry in SECTIONS: a module left out of the
    list would silently never render."""
    import pkgutil

    from greenbench.report import sections

    modules = {m.name for m in pkgutil.iter_modules(sections.__path__)} - {"base"}
    listed = [spec.build.__module__.rsplit(".", 1)[-1] for spec in sections.SECTIONS]
    assert sorted(listed) == sorted(modules)
    assert len({spec.id for spec in sections.SECTIONS}) == len(sections.SECTIONS)
    assert SECTIONS == [(spec.id, spec.title) for spec in sections.SECTIONS]
