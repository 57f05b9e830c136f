"""py-cpuinfo's answer is kept per machine: same answer, asked once, never served for another CPU."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from greenbench.measure import cpuinfo_cache

PROC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2450.000
bogomips\t: 4900.00
flags\t\t: fpu sse2 avx2

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2449.998
bogomips\t: 4900.00
flags\t\t: fpu sse2 avx2
"""


class Counting:
    """Stands in for py-cpuinfo's slow ``get_cpu_info``; counts how often it is really asked."""

    def __init__(self, answer: dict[str, Any], delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        time.sleep(self.delay)
        return dict(self.answer)


ANSWER = {"brand_raw": "AMD EPYC 7B13", "count": 2, "flags": ["avx2", "fpu", "sse2"], "hz_advertised": [2450000000, 0]}


def test_the_key_ignores_clock_speed_lines_but_not_the_cpu() -> None:
    key = cpuinfo_cache.cache_key(PROC, "9.0.0")
    assert cpuinfo_cache.cache_key(PROC.replace("2449.998", "3100.123").replace("4900.00", "4899.87"), "9.0.0") == key
    assert cpuinfo_cache.cache_key(PROC.replace("7B13", "9654"), "9.0.0") != key  # another CPU model
    assert cpuinfo_cache.cache_key(PROC.split("\n\n")[0], "9.0.0") != key  # another CPU count
    assert cpuinfo_cache.cache_key(PROC, "9.0.1") != key  # another py-cpuinfo


def test_asked_once_then_answered_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo-k.json"
    slow = Counting(ANSWER)
    assert cpuinfo_cache.remembered(path, slow) == ANSWER
    assert cpuinfo_cache.remembered(path, slow) == ANSWER  # e.g. the next worker, or the next invocation
    assert slow.calls == 1
    assert path.is_file()


@pytest.mark.parametrize("content", ["{not json", "{}", "[]", ""])
def test_a_corrupt_or_useless_file_is_asked_again_and_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / "cpuinfo-k.json"
    path.write_text(content)
    slow = Counting(ANSWER)
    assert cpuinfo_cache.remembered(path, slow) == ANSWER
    assert slow.calls == 1
    assert cpuinfo_cache.remembered(path, slow) == ANSWER
    assert slow.calls == 1


def test_a_failed_answer_is_not_kept(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo-k.json"
    failing = Counting({})  # py-cpuinfo answers {} when its helper process fails
    assert cpuinfo_cache.remembered(path, failing) == {}
    assert cpuinfo_cache.remembered(path, failing) == {}
    assert failing.calls == 2
    assert not path.exists()


def test_callers_starting_together_ask_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three callers find no answer at once; the lock makes one compute and the others read its answer.

    The race is forced and seen, not hoped for with a sleep: the computing caller does not answer
    until both others are waiting at the lock.
    """
    import fcntl

    path = tmp_path / "cpuinfo-k.json"
    at_lock: list[str] = []  # callers that reached the lock, in order
    all_at_lock = threading.Event()
    real_flock = fcntl.flock

    def flock(fd: Any, op: int) -> Any:
        if op & fcntl.LOCK_EX:
            at_lock.append(threading.current_thread().name)
            if len(at_lock) == 3:
                all_at_lock.set()
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    computed: list[tuple[str, bool]] = []

    def compute() -> dict[str, Any]:
        computed.append((threading.current_thread().name, all_at_lock.wait(timeout=30)))
        return dict(ANSWER)

    start = threading.Barrier(3)
    answers: list[Any] = []

    def caller() -> None:
        start.wait(timeout=30)
        answers.append(cpuinfo_cache.remembered(path, compute))

    threads = [threading.Thread(target=caller, name=f"caller-{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    # the race happened: one caller was computing while the two others waited at the lock
    assert sorted(at_lock) == sorted(t.name for t in threads)
    assert len(computed) == 1 and computed[0][1], (computed, at_lock)
    assert answers == [ANSWER] * 3  # ...and only that one asked py-cpuinfo


def test_an_unwritable_cache_still_answers(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    slow = Counting(ANSWER)
    assert cpuinfo_cache.remembered(blocker / "machine" / "cpuinfo-k.json", slow) == ANSWER


def test_a_cache_that_cannot_be_written_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """E.g. a read-only cache directory (simulated: this suite may run as root, who writes anywhere)."""
    import greenbench.fsutil as cache

    def read_only(path: Path, write: Any) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cache, "atomic_write", read_only)
    slow = Counting(ANSWER)
    path = tmp_path / "cpuinfo-k.json"
    assert cpuinfo_cache.remembered(path, slow) == ANSWER
    assert cpuinfo_cache.remembered(path, slow) == ANSWER
    assert slow.calls == 2  # nothing could be kept, and nothing failed
    assert not path.exists()


def test_a_file_system_without_locks_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    def no_locks(*a: Any) -> None:
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    slow = Counting(ANSWER)
    path = tmp_path / "cpuinfo-k.json"
    assert cpuinfo_cache.remembered(path, slow) == ANSWER
    assert cpuinfo_cache.remembered(path, slow) == ANSWER  # kept without the lock, read without it
    assert slow.calls == 1


def test_the_wrapper_asks_py_cpuinfo_when_the_cache_itself_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = pytest.importorskip("cpuinfo")
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo on this platform: install() leaves py-cpuinfo alone")
    real = cpuinfo.get_cpu_info
    slow = Counting(ANSWER)
    monkeypatch.setattr(cpuinfo, "get_cpu_info", slow)
    try:
        assert cpuinfo_cache.install(tmp_path)
        assert cpuinfo_cache.install(tmp_path)  # a second install does not wrap the wrapper
        assert cpuinfo.get_cpu_info.__wrapped__ is slow

        def broken(path: Path, compute: Any) -> Any:
            raise RuntimeError("cache broken")

        monkeypatch.setattr(cpuinfo_cache, "remembered", broken)
        assert cpuinfo.get_cpu_info() == ANSWER
        assert slow.calls == 1
    finally:
        cpuinfo.get_cpu_info = real


def test_install_wraps_py_cpuinfo_and_gives_the_same_answer_in_a_fresh_process(tmp_path: Path) -> None:
    """The real py-cpuinfo (what codecarbon calls): the first process asks it, the second reads the
    file; both see exactly py-cpuinfo's own answer for the CPU's name."""
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo on this platform: install() leaves py-cpuinfo alone")
    script = (
        "import json, sys; from pathlib import Path\n"
        "from greenbench.measure import cpuinfo_cache\n"
        "import cpuinfo\n"
        "if sys.argv[2] == 'forbid':  # the second process must not ask py-cpuinfo again\n"
        "    def asked(): raise AssertionError('py-cpuinfo was asked again')\n"
        "    cpuinfo.get_cpu_info = asked\n"
        "assert cpuinfo_cache.install(Path(sys.argv[1]))\n"
        "print(json.dumps(cpuinfo.get_cpu_info().get('brand_raw')))\n"
    )
    answers = []
    for mode in ("ask", "forbid"):
        proc = subprocess.run([sys.executable, "-c", script, str(tmp_path), mode], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        answers.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if not answers[0]:
            pytest.skip("py-cpuinfo names no CPU here, so there is nothing to keep")
    first, second = answers
    kept = list((tmp_path / "machine").glob("cpuinfo-*.json"))
    assert len(kept) == 1
    assert json.loads(kept[0].read_text())["brand_raw"] == first == second
    assert first  # asked of py-cpuinfo itself (the cache directory was empty)


def test_uninstall_restores_py_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = pytest.importorskip("cpuinfo")
    original = cpuinfo.get_cpu_info
    cpuinfo_cache.uninstall()
    try:
        before = cpuinfo.get_cpu_info
        if cpuinfo_cache.install(tmp_path):
            assert cpuinfo.get_cpu_info is not before
            assert cpuinfo.get_cpu_info.__wrapped__ is before
        cpuinfo_cache.uninstall()
        assert cpuinfo.get_cpu_info is before
    finally:
        cpuinfo.get_cpu_info = original
