"""Output files (`report --out`, `compare --markdown/--json`) never replace what is recorded: a run record,
the idle baseline, the suite marker or a log of a results directory is refused with one line, exit 2, and the
file is left byte for byte (the real CLI in a subprocess)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import ROOT


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def two_sides(make_record, write_records) -> tuple[Path, Path]:
    base = write_records([make_record(seed=s, train_s=10.0 + s / 10) for s in range(3)], name="base")
    head = write_records([make_record(seed=s, train_s=10.0 + s / 10) for s in range(3)], name="head")
    for side in (base, head):  # what `greenbench run` leaves beside the records
        (side / ".greenbench-suite").write_text('{"suite": "smoke"}\n')
        (side / "idle-baseline.json").write_text('{"watts": 1.0}\n')
        (side / "logs").mkdir(exist_ok=True)
        (side / "logs" / "worker-torch.log").write_text("a log\n")
    return base, head


def _protected(side: Path) -> list[Path]:
    record = sorted(p for p in side.glob("*.json") if p.name != "idle-baseline.json")[0]
    return [record, side / "idle-baseline.json", side / ".greenbench-suite", side / "logs" / "worker-torch.log"]


def _refused(result: subprocess.CompletedProcess[str], option: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {option} "), result.stderr
    assert "refusing to write there" in lines[0] and f"choose another file with {option}" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("fmt", ["csv", "md"])
def test_report_refuses_to_overwrite_a_record_or_a_side_file(two_sides, fmt: str) -> None:
    base, _ = two_sides
    for target in _protected(base):
        before = _digest(target)
        _refused(_cli("report", str(base), "-f", fmt, "--out", str(target)), "--out")
        assert _digest(target) == before, target


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_compare_refuses_to_overwrite_a_record_or_a_side_file(two_sides, option: str) -> None:
    base, head = two_sides
    for target in _protected(base) + _protected(head):
        before = _digest(target)
        result = _cli("compare", str(base), str(head), option, str(target))
        _refused(result, option)
        assert result.stdout == ""  # refused before anything is compared or printed
        assert _digest(target) == before, target


def test_a_new_json_in_a_results_directory_is_refused_but_other_places_are_fine(two_sides, tmp_path: Path) -> None:
    base, head = two_sides
    _refused(_cli("compare", str(base), str(head), "--json", str(base / "bench.json")), "--json")
    assert not (base / "bench.json").exists()
    ok = _cli("compare", str(base), str(head), "--json", str(tmp_path / "bench.json"),
              "--markdown", str(base / "summary.md"))
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "bench.json").exists() and (base / "summary.md").exists()
    ok = _cli("report", str(base), "-f", "csv", "--out", str(tmp_path / "r.csv"))
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(("fmt", "name", "says"), [
    ("csv", "x.html", "a .html file is for --format html, and the format is csv; a csv file ends .csv: give --format "
                      "html, or an --out ending .csv"),
    ("html", "x.md", "a .md file is for --format md, and the format is html; a html file ends .html or .htm: give "
                     "--format md, or an --out ending .html or .htm"),
    ("md", "x.CSV", "a .csv file is for --format csv, and the format is md; a md file ends .md or .markdown: give "
                    "--format csv, or an --out ending .md or .markdown"),
    ("csv", "x.parquet", "a .parquet file is for --format parquet, and the format is csv; a csv file ends .csv: give "
                         "--format parquet, or an --out ending .csv"),
])
def test_report_refuses_an_out_whose_extension_is_another_formats(two_sides, tmp_path: Path, fmt: str, name: str,
                                                                   says: str) -> None:
    # before, report -f csv --out x.html wrote CSV into a .html file, exit 0
    base, _ = two_sides
    target = tmp_path / name
    result = _cli("report", str(base), "-f", fmt, "--out", str(target))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [f"error: --out {target}: {says}"], result.stderr
    assert not target.exists()


@pytest.mark.parametrize(("fmt", "name"), [("html", "r.htm"), ("md", "r.markdown"), ("csv", "r.txt"), ("md", "r")])
def test_report_takes_its_formats_extensions_and_others(two_sides, tmp_path: Path, fmt: str, name: str) -> None:
    base, _ = two_sides
    result = _cli("report", str(base), "-f", fmt, "--out", str(tmp_path / name))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / name).exists()
