"""Flake check: run the fast tests N times beside a busy neighbour and report every test that ever failed.

    python benchmarks/flake_check.py                 # the fast tests (-m "not slow"), 20 times
    python benchmarks/flake_check.py -n 50 tests/unit/measure -k energy   # plus any pytest selection

A test that passes on a quiet machine and fails under load is a flaky test, and CI runners are
loaded. Each repetition runs the selection the way ``make test`` does — one pytest session per
framework (``tests/sessions.py``: ``none``, ``torch``, ``tensorflow``) — while a neighbour process
spins a core (``python -c "while True: pass"``; ``--neighbours`` to change how many, 0 for none).
Every session writes a JUnit XML report; at the end, each test that failed (or errored) in any
repetition is listed with its count and its first failure message. Exit code 0 when nothing ever
failed, 1 otherwise. The neighbours are killed at the end, whatever happens. Run by hand, not in CI:
it takes N times the fast suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "datasets" / "mnist"
NO_TESTS = 5  # pytest's exit code when the selection is empty (e.g. a framework session with nothing to do)


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def sessions() -> list[str | None]:
    """The per-framework sessions of ``make test`` (tests/sessions.py), or one plain session without it."""
    path = ROOT / "tests" / "sessions.py"
    if not path.is_file():
        return [None]
    spec = importlib.util.spec_from_file_location("greenbench_test_sessions", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(getattr(module, "SESSIONS", [None]))


def test_id(classname: str, name: str) -> str:
    """``tests.unit.measure.test_energy`` + ``test_x`` → ``tests/unit/measure/test_energy.py::test_x``."""
    parts = classname.split(".") if classname else []
    for cut in range(len(parts), 0, -1):
        path = Path(*parts[:cut]).with_suffix(".py")
        if (ROOT / path).is_file():
            return "::".join([path.as_posix(), *parts[cut:], name])
    return f"{classname}::{name}" if classname else name


def failures(xml: Path) -> tuple[dict[str, str], Counter[str]]:
    """(test → first line of its failure message, outcome counts) from one JUnit XML report."""
    failed: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for case in ET.parse(xml).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is not None:
            message = (bad.get("message") or bad.text or "").strip().splitlines()
            failed[test_id(case.get("classname", ""), case.get("name", ""))] = message[0][:200] if message else ""
            counts["failed"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return failed, counts


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--runs", type=int, default=20, help="repetitions (default 20)")
    parser.add_argument("--neighbours", type=int, default=1, help="busy neighbour processes (default 1)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="directory for the JUnit reports and pytest logs (default: a new temporary one)")
    args, selection = parser.parse_known_args(argv)
    if args.runs < 1 or args.neighbours < 0:
        parser.error("--runs must be >= 1 and --neighbours >= 0")
    out = args.keep or Path(tempfile.mkdtemp(prefix="greenbench-flake-"))
    out.mkdir(parents=True, exist_ok=True)
    plan = sessions()
    # The real MNIST copy, as .ci/run hands it over: without it every test that trains skips, and a flake
    # check that skips them says little. The default is CI's (shared/datasets/mnist beside the checkout).
    env = dict(os.environ)
    if not env.get("GREENBENCH_DATA_DIR") and SHARED_MNIST.is_dir():
        env["GREENBENCH_DATA_DIR"] = str(SHARED_MNIST)
    data = env.get("GREENBENCH_DATA_DIR") or "not set: the tests that need MNIST skip"
    print(f"flake check: {args.runs} runs of pytest -m 'not slow' {' '.join(selection)}".rstrip()
          + f" ({len(plan)} session(s) each), {args.neighbours} busy neighbour(s); reports in {out}; "
          f"GREENBENCH_DATA_DIR {data}", flush=True)

    ever: Counter[str] = Counter()
    first_message: dict[str, str] = {}
    neighbours = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.neighbours)]
    try:
        for run in range(1, args.runs + 1):
            for session in plan:
                tag = f"run{run:03d}" + (f"-{session}" if session else "")
                xml, log = out / f"{tag}.xml", out / f"{tag}.log"
                cmd = [sys.executable, "-m", "pytest", "-m", "not slow", "-q", "-p", "no:cacheprovider",
                       f"--junitxml={xml}", *([f"--framework={session}"] if session else []), *selection]
                began = time.monotonic()
                with log.open("w") as fh:
                    # pytest starts as from a terminal (SIGINT at its default) even when this script runs
                    # in the background of a non-interactive shell, which starts its children with SIGINT ignored
                    code = subprocess.call(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                           env={**env, **({"GREENBENCH_TEST_SESSION": session} if session else {})},
                                           preexec_fn=_sigint_default if os.name == "posix" else None)
                took = time.monotonic() - began
                if xml.is_file():
                    failed, counts = failures(xml)
                else:
                    failed, counts = {}, Counter()
                if code not in (0, 1, NO_TESTS) or (code == 1 and not failed):
                    # interrupted, internal or usage error, or a failure the report does not name
                    failed[f"<pytest session {session or 'default'}: exit code {code}, see {log}>"] = ""
                for name, message in failed.items():
                    ever[name] += 1
                    first_message.setdefault(name, message)
                summary = "no test selected" if code == NO_TESTS else (
                    f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
                print(f"run {run}/{args.runs}" + (f" [{session}]" if session else "") + f": {summary} ({took:.0f} s)"
                      + ("".join(f"\n    FAILED {name}" for name in failed)), flush=True)
    finally:
        for proc in neighbours:
            proc.kill()
        for proc in neighbours:
            proc.wait()

    if not ever:
        print(f"\nno test failed in {args.runs} runs")
        return 0
    print(f"\n{len(ever)} test(s) failed at least once in {args.runs} runs:")
    for name, n in sorted(ever.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:>3}/{args.runs}  {name}" + (f"\n           first: {first_message[name]}" if first_message[name] else ""))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
