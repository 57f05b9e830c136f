"""Benchmark the parsed-array cache of greenbench.data: first (cold) vs second (warm) load.

Run:  python benchmarks/bench_data_cache.py [--dataset mnist] [--data-dir DIR] [--repeat 5]

Each repetition starts from an empty cache directory (a fresh temporary GREENBENCH_CACHE_DIR):
the first load finds the files, gunzips, verifies the payload SHA-256, parses the IDX and writes
the .npy cache; the second load hashes the source files and memory-maps the cached arrays.
Both timings include touching every memory page of every array, so the lazily mapped second
load is charged for bringing its data in. The
source files are read once beforehand so that both loads find them in the OS page cache and
the comparison measures greenbench's work, not the disk. Prints both times per repetition,
the medians and their ratio, and checks that both loads return identical arrays.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from greenbench.data import load_dataset
from greenbench.data.cache import ENV_CACHE_DIR


PAGE = 4096


def _touch(ds) -> int:  # type: ignore[no-untyped-def]
    """Read one byte of every memory page of every array, so memory-mapped data is really loaded."""
    total = 0
    for arr in (ds.x_train, ds.y_train, ds.x_val, ds.y_val, ds.x_test, ds.y_test):
        flat = arr.reshape(-1).view(np.uint8)
        total += int(flat[::PAGE].sum())
    return total


def _timed_load(name: str, data_dir: str | None):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    ds = load_dataset(name, data_dir, download=False, progress=False)
    _touch(ds)
    return time.perf_counter() - start, ds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data-dir", default=None, help="directory with the dataset files "
                        "(default: the normal lookup, e.g. $GREENBENCH_DATA_DIR)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (median is reported)")
    args = parser.parse_args(argv)

    saved = os.environ.get(ENV_CACHE_DIR)
    colds: list[float] = []
    warms: list[float] = []
    source = ""
    try:
        for rep in range(args.repeat):
            tmp = tempfile.mkdtemp(prefix="greenbench-bench-cache-")
            os.environ[ENV_CACHE_DIR] = tmp
            try:
                if rep == 0:  # warm the OS page cache for the source files
                    _, first = _timed_load(args.dataset, args.data_dir)
                    source = first.source
                    for f in Path(source).iterdir():
                        if f.is_file():
                            f.read_bytes()
                    shutil.rmtree(tmp)
                    os.makedirs(tmp)
                cold, a = _timed_load(args.dataset, args.data_dir)
                warm, b = _timed_load(args.dataset, args.data_dir)
                for field in ("x_train", "y_train", "x_test", "y_test"):
                    if not np.array_equal(getattr(a, field), getattr(b, field)):
                        print(f"error: cached {field} differs from the parsed one", file=sys.stderr)
                        return 1
                colds.append(cold)
                warms.append(warm)
                print(f"repetition {rep + 1}: first load {cold * 1000:8.1f} ms   "
                      f"second load {warm * 1000:8.1f} ms   ratio {cold / warm:5.1f}x")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if saved is None:
            os.environ.pop(ENV_CACHE_DIR, None)
        else:
            os.environ[ENV_CACHE_DIR] = saved

    cold_med, warm_med = statistics.median(colds), statistics.median(warms)
    print()
    print(f"dataset {args.dataset} from {source}: {len(a.y_train)} train + {len(a.y_test)} test images")
    print(f"{'':24}{'first (parse+verify)':>22}{'second (cached)':>18}")
    print(f"{'median over ' + str(len(colds)) + ' runs':24}{cold_med * 1000:19.1f} ms{warm_med * 1000:15.1f} ms")
    print(f"{'best':24}{min(colds) * 1000:19.1f} ms{min(warms) * 1000:15.1f} ms")
    print(f"speed-up (median first / median second): {cold_med / warm_med:.1f}x  (target >= 5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
