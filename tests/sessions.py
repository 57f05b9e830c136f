"""Run the whole test suite as ``make test`` does: one pytest session per framework, one after another.

TensorFlow and torch's triton segfault in one process, so no test process imports both
(tests/framework_guard.py). The sessions:

* ``none``        unit tests, end-to-end tests of the real CLI (whose workers import the frameworks
                  in processes of their own) and the cross-backend parity comparison (each side
                  computed in its own process);
* ``torch``       the backend and compression contracts on torch;
* ``tensorflow``  the same on TensorFlow.

Arguments are passed to every session (``python tests/sessions.py -m "not slow" -x``). A session that
selects no test (pytest's exit code 5) is reported, not failed, unless no session ran a test. At the end:
one line per session, every skipped test with its reason, and the totals.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

SESSIONS = ("none", "torch", "tensorflow")
NO_TESTS = 5


def _results(path: Path) -> tuple[Counter[str], list[tuple[str, str]]]:
    """Outcome counts and (test, reason) of every skipped test, from a JUnit XML file."""
    counts: Counter[str] = Counter()
    skipped: list[tuple[str, str]] = []
    if not path.exists():
        return counts, skipped
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        kinds = {child.tag for child in case}
        if "skipped" in kinds:
            counts["skipped"] += 1
            node = case.find("skipped")
            skipped.append((name, (node.get("message") or node.text or "").strip()))
        elif kinds & {"failure", "error"}:
            counts["failed"] += 1
        else:
            counts["passed"] += 1
    return counts, skipped


def main(args: list[str]) -> int:
    root = Path(__file__).resolve().parents[1]
    report_dir = Path(tempfile.mkdtemp(prefix="greenbench-tests-"))
    totals: Counter[str] = Counter()
    skipped: list[tuple[str, str, str]] = []
    lines, failed_sessions, ran = [], [], 0
    for session in SESSIONS:
        xml = report_dir / f"{session}.xml"
        cmd = [sys.executable, "-m", "pytest", f"--framework={session}", f"--junitxml={xml}", *args]
        print(f"\n=== test session: {session} ===  {' '.join(cmd[1:])}", flush=True)
        began = time.monotonic()
        code = subprocess.call(cmd, cwd=root, env={**os.environ, "GREENBENCH_TEST_SESSION": session})
        counts, skips = _results(xml)
        totals.update(counts)
        skipped += [(session, name, why) for name, why in skips]
        took = time.monotonic() - began
        if code == NO_TESTS:
            lines.append(f"  {session:<11} no test selected ({took:.0f} s)")
            continue
        ran += 1
        if code != 0:
            failed_sessions.append(session)
        lines.append(f"  {session:<11} exit {code}: {counts['passed']} passed, {counts['failed']} failed, "
                     f"{counts['skipped']} skipped ({took:.0f} s)")
    print("\n=== test sessions (one framework per process) ===")
    print("\n".join(lines))
    if skipped:
        print(f"skipped ({len(skipped)}), and why:")
        for session, name, why in skipped:
            print(f"  [{session}] {name}: {why}")
    else:
        print("skipped: none")
    if ran == 0:
        print("error: no session selected any test")
        return NO_TESTS
    if failed_sessions:
        print(f"failed sessions: {', '.join(f'--framework {name}' for name in failed_sessions)}")
    print(f"tests: {totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 1 if failed_sessions else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
