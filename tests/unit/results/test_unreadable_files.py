"""A record file that cannot be read says why: a permission denied is 'cannot read (permission denied)', not bad
JSON; readers (`compare`, `report`) pass that reason on. chmod means nothing to root, who runs CI: the refusal
is faked on the file's read (the ``refuse_read`` fixture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenbench.compare.load import load_side
from greenbench.errors import UserError
from greenbench.results import read_record
from greenbench.results.walk import find_records


@pytest.fixture
def locked(make_record, write_records, refuse_read) -> tuple[Path, Path]:
    d = write_records([make_record(seed=s) for s in range(3)], name="side")
    victim = sorted(d.glob("*.json"))[0]
    refuse_read(victim)
    return d, victim


def test_a_record_that_cannot_be_read_says_permission_denied(locked: tuple[Path, Path]) -> None:
    d, victim = locked
    with pytest.raises(ValueError) as info:
        read_record(victim)
    assert str(info.value) == "cannot read (permission denied); make it readable for this user"  # not 'unreadable JSON'
    found = find_records(d)
    assert found.corrupt == [(str(victim), "cannot read (permission denied); make it readable for this user")]
    assert len(found.records) == 2


def test_compare_names_a_locked_record_as_such(locked: tuple[Path, Path]) -> None:
    d, victim = locked
    with pytest.raises(UserError) as info:
        load_side([victim], "base")
    assert str(info.value) == f"base: {victim}: cannot read (permission denied); make it readable for this user"
    side = load_side([d], "base")
    assert side.corrupt == [(str(victim), "cannot read (permission denied); make it readable for this user")]


def test_bad_json_is_still_called_so(tmp_path: Path) -> None:
    bad = tmp_path / "torch-mlp-x.json"
    bad.write_bytes(b"\xff{")
    with pytest.raises(ValueError, match=r"^unreadable JSON \("):
        read_record(bad)
    bad.write_text('{"run_id": ')
    with pytest.raises(ValueError, match=r"^unreadable JSON \("):
        read_record(bad)
