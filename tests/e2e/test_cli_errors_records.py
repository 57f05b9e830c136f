"""Record files that cannot be read are never passed over in silence: `greenbench report` (every format) says
how many on one warning line, with one example and its reason, and the HTML and Markdown reports list them
(the real CLI in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_support import ROOT


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenbench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "80"})


@pytest.fixture
def with_unreadable(make_record, write_records) -> Path:
    d = write_records([make_record(seed=s) for s in range(2)], name="smoke")
    (d / "torch-mlp-truncated.json").write_text('{"schema_version": 1, "run_id": "torch-ml')
    (d / "torch-mlp-list.json").write_text("[1, 2]\n")
    return d


@pytest.mark.parametrize("fmt", ["md", "html", "csv"])
def test_report_warns_once_about_unreadable_record_files(with_unreadable: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"r.{fmt}"
    result = _cli("report", str(with_unreadable), "-f", fmt, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line per invocation, however many files and however wide
    assert lines[0].startswith("warning: 2 record file(s) could not be read and are not in the report, e.g. "
                               f"{with_unreadable / 'torch-mlp-list.json'}: not a JSON object"), lines[0]
    assert "Traceback" not in result.stderr
    if fmt == "md":  # listed as in the HTML report, file and problem
        text = out.read_text(encoding="utf-8")
        assert "2 record file(s) could not be read and are left out of this report" in text
        assert "torch-mlp-truncated.json | unreadable JSON (" in text.replace("\\_", "_")
        assert "torch-mlp-list.json | not a JSON object" in text.replace("\\_", "_")


def test_report_is_quiet_when_every_record_file_is_read(make_record, write_records, tmp_path: Path) -> None:
    d = write_records([make_record(seed=s) for s in range(2)], name="smoke")
    result = _cli("report", str(d), "-f", "md", "--out", str(tmp_path / "r.md"))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "could not be read" not in (tmp_path / "r.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["md", "html"])
@pytest.mark.parametrize("value", [1e307, "abc", [1]], ids=["1e307", "abc", "list"])
def test_a_record_with_a_bad_accuracy_is_an_unreadable_file_not_a_crash(
    make_record, write_records, tmp_path: Path, fmt: str, value
) -> None:
    d = write_records([make_record(seed=s) for s in range(2)], name="smoke")
    victim = sorted(d.glob("*.json"))[0]
    rec = json.loads(victim.read_text())
    rec["metrics"]["test_accuracy"] = value  # before: OverflowError (report/fmt.py) or TypeError (sections)
    victim.write_text(json.dumps(rec))
    out = tmp_path / f"r.{fmt}"
    result = _cli("report", str(d), "-f", fmt, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"warning: 1 record file(s) could not be read and are not in the report, e.g. {victim}: "
                           "not a greenbench record: metrics.test_accuracy is "), line
    assert line.endswith("allowed: a finite number from 0 to 1, or null"), line
    assert victim.name in out.read_text(encoding="utf-8").replace("\\_", "_")  # listed in the report


def test_report_on_a_file_that_is_no_record_names_the_problem(make_record, write_records, tmp_path: Path) -> None:
    # before: 'no run records found in notes.txt (1 unreadable record file(s))'
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    result = _cli("report", str(notes), "-f", "md", "--out", str(tmp_path / "r.md"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {notes}: a file, not a results directory, and not a run record (unreadable JSON (Expecting value: "
        "line 1 column 1 (char 0))); give a results directory (results/<suite>) or a record file"], result.stderr
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "torch-mlp-list.json").write_text("[1, 2]\n")
    result = _cli("report", str(only_bad), "-f", "md", "--out", str(tmp_path / "r.md"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: no run records found in {only_bad}: 1 record file(s) could not be read, e.g. "
        f"{only_bad / 'torch-mlp-list.json'}: not a JSON object"], result.stderr
    assert not (tmp_path / "r.md").exists()
