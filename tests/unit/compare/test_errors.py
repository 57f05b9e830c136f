"""Bad input: one clear UserError naming what is wrong and what is allowed; exit code 2 from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from greenbench.compare import compare, parse_pp, parse_threshold
from greenbench.errors import UserError

ROOT = Path(__file__).resolve().parents[3]


def test_missing_directory(side, tmp_path):
    with pytest.raises(UserError, match=r"^head: .*nope: no such results directory"):
        compare(side("base", seeds=[0]), tmp_path / "nope")


def test_empty_directory(side, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(UserError, match=r"^base: .*empty holds no run records"):
        compare(tmp_path / "empty", side("head", seeds=[0]))


def test_directory_with_only_corrupt_records(side, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "torch-mlp.json").write_text("{not json")
    with pytest.raises(UserError, match=r"^base: .*no readable run record \(1 unreadable, e.g. .*unreadable JSON"):
        compare(bad, side("head", seeds=[0]))


def test_no_completed_run(make_record, write_records, side):
    failed = write_records([make_record(seed=s, status="failed") for s in range(2)], name="failed")
    with pytest.raises(UserError, match=r"^base: no completed run in .* \(2 failed\)"):
        compare(failed, side("head", seeds=[0]))


def test_unknown_metric_names_the_allowed_ones(side):
    base, head = side("base", seeds=[0]), side("head", seeds=[0])
    with pytest.raises(UserError, match=r"unknown metric 'speed'; allowed: train_time_s, .*test_accuracy"):
        compare(base, head, metrics=["speed"])


@pytest.mark.parametrize("text, value", [("10%", 0.10), ("10 %", 0.10), ("0.1", 0.1), (0.25, 0.25), ("0", 0.0),
                                         ("2.5%", 0.025), ("150%", 1.5)])
def test_threshold_forms(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text, message", [("10", r"ambiguous: write 10% .* or a fraction below 1 such as 0\.1"),
                                            ("1", r"ambiguous"), ("ten", r"not a number"), ("-5%", r"non-negative"),
                                            ("", r"not a number"), ("10%%", r"not a number")])
def test_bad_threshold(text, message):
    with pytest.raises(UserError, match=message):
        parse_threshold(text)


def test_accuracy_threshold_forms():
    assert parse_pp("0.5pp") == parse_pp("0.5 pp") == parse_pp("0.5") == parse_pp(0.5) == 0.5
    with pytest.raises(UserError, match=r"relative % is ambiguous for accuracy.*0\.5pp"):
        parse_pp("0.5%")
    with pytest.raises(UserError, match=r"between 0 and 100"):
        parse_pp("150")


def test_bad_threshold_through_compare(side):
    with pytest.raises(UserError, match="ambiguous"):
        compare(side("base", seeds=[0]), side("head", seeds=[0]), threshold="10")
    with pytest.raises(UserError, match="alpha"):
        compare(side("base", seeds=[0]), side("head", seeds=[0]), alpha=5)


def test_nothing_matched_names_the_difference(side):
    base = side("base", seeds=[0], workloads=[("torch", "mlp")])
    head = side("head", seeds=[0], workloads=[("tensorflow", "cnn")])
    with pytest.raises(UserError, match=r"^nothing to compare: .*backend: base torch; head tensorflow / "
                                        r"model: base mlp; head cnn"):
        compare(base, head)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "greenbench", "compare", *args], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=120)


def test_cli_bad_input_exits_2_with_one_line(side, tmp_path):
    base = side("base", seeds=[0])
    proc = _cli(str(base), str(tmp_path / "missing"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "no such results directory" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _cli(str(base), str(base), "--threshold", "10")
    assert proc.returncode == 2 and "ambiguous" in proc.stderr
    proc = _cli(str(base), str(base), "--correction", "sidak")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'sidak' is not one of 'bh', 'holm', 'none'" in proc.stderr


def test_unknown_correction_from_python(side):
    base = side("base", seeds=[0])
    with pytest.raises(UserError, match=r"^unknown correction 'sidak'; allowed: bh, holm, none$"):
        compare(base, base, correction="sidak")
