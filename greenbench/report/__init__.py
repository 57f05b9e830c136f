"""``greenbench report``: one self-contained HTML report (or Markdown, CSV, Parquet) of run records.

>>> from greenbench.report import build_report
>>> build_report([Path("results/smoke")])            # → reports/smoke.html

This package reads only :mod:`greenbench.results`; it never imports a framework.
matplotlib is imported inside :func:`build_report`, with the Agg backend.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

from greenbench.errors import UserError, write_fault
from greenbench.fsutil import atomic_write
from greenbench.results.frame import COLUMNS
from greenbench.results.store import check_output_path
from greenbench.suite.schema import suite_slug

FORMATS = ("html", "md", "csv", "parquet")
#: The file extensions each format's file takes: an --out ending in another format's extension is refused.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "html": (".html", ".htm"), "md": (".md", ".markdown"), "csv": (".csv",), "parquet": (".parquet", ".pq")}
DEFAULT_REPORTS = Path("reports")

__all__ = ["EXTENSIONS", "FORMATS", "build_report", "check_extension", "default_report_path", "unreadable_warning"]


def check_extension(path: Path, fmt: str) -> None:
    """Refuse an ``--out`` whose extension is another format's (``-f csv --out x.html`` would put CSV in an
    HTML file): one :class:`UserError` naming the extensions that go with ``fmt``. An extension no format
    has (``.txt``, none) is the user's choice."""
    suffix = path.suffix.lower()
    other = next((f for f, exts in EXTENSIONS.items() if suffix in exts), None)
    if other is None or other == fmt:
        return
    mine = " or ".join(EXTENSIONS[fmt])
    raise UserError(f"--out {path}: a {suffix} file is for --format {other}, and the format is {fmt}; a {fmt} "
                    f"file ends {mine}: give --format {other}, or an --out ending {mine}")


def default_report_path(
    suites: Sequence[str], machines: Sequence[str], fmt: str, reports_dir: Path = DEFAULT_REPORTS
) -> Path:
    """``reports/<suite>.<ext>``; several suites join their slugs, several machines add ``_<n>-machines``."""
    slugs = sorted({suite_slug(s) for s in suites}) or ["results"]
    name = slugs[0] if len(slugs) == 1 else ("_".join(slugs) if len(slugs) <= 3 else f"{len(slugs)}-suites")
    if len(set(machines)) > 1:
        name += f"_{len(set(machines))}-machines"
    return reports_dir / f"{name}.{fmt}"


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` atomically: a full disk or a read-only location leaves no partial report (and any
    previous report intact), and is one clear error."""
    try:
        atomic_write(path, write)
    except OSError as exc:
        raise write_fault(exc, path, "write the report", "--out") from None


def unreadable_warning(corrupt: Sequence[tuple[str, str]]) -> str | None:
    """One line saying how many record files could not be read (left out of a report), with one example and
    its reason; ``None`` when every file was read."""
    if not corrupt:
        return None
    f, why = corrupt[0]
    line = (f"{len(corrupt)} record file(s) could not be read and are not in the report, e.g. {f}: {why}")
    return " ".join(line.split())  # one line, whatever the reason holds


def build_report(result_dirs: Sequence[str | Path], out: str | Path | None = None, fmt: str = "html",
                 warn: Callable[[str], None] | None = None) -> Path:
    """Render the records under ``result_dirs`` as ``fmt`` (html, md, csv or parquet); returns the written path.

    ``out`` defaults to ``reports/<suite slug>.<fmt>`` (relative to the working directory).
    Raises :class:`~greenbench.errors.UserError` for an unknown format, a missing directory
    or a directory without records. Record files that cannot be read are left out of every format (the
    HTML and Markdown reports list them); once the report is written, ``warn`` gets one line saying how
    many, with one example (:func:`unreadable_warning`).
    """
    fmt = str(fmt).lower().lstrip(".")
    if fmt == "markdown":
        fmt = "md"
    if fmt not in FORMATS:
        raise UserError(f"report format {fmt!r} is not one of: {', '.join(FORMATS)}")
    if not result_dirs:
        raise UserError("no results directory given to report on")
    if out is not None:
        check_extension(Path(out), fmt)

    from . import data

    results = data.load(list(result_dirs))
    path = Path(out) if out is not None else default_report_path(results.suites, results.machines, fmt)
    if path.exists() and path.is_dir():
        raise UserError(f"--out {path}: is a directory; give a file name such as {path / ('report.' + fmt)}")
    check_output_path(path, "--out")  # never over a run record, a marker, a side file or a log

    if fmt in ("csv", "parquet"):
        frame = results.df[COLUMNS]
        if fmt == "csv":
            _atomic_write(path, lambda p: frame.to_csv(p, index=False))
        else:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise UserError("--format parquet needs pyarrow: pip install pyarrow (or greenbench[all])") from None
            _atomic_write(path, lambda p: frame.to_parquet(p, index=False))
        _warn_unreadable(results.corrupt, warn)
        return path

    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:  # never switch a backend someone else already uses
        matplotlib.use("Agg")

    from . import context

    ctx = context.build(results, with_figures=(fmt == "html"))
    if fmt == "md":
        from .markdown import render_markdown

        text = render_markdown(ctx)
    else:
        from .html import render_html

        text = render_html(ctx)
    _atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    _warn_unreadable(results.corrupt, warn)
    return path


def _warn_unreadable(corrupt: Sequence[tuple[str, str]], warn: Callable[[str], None] | None) -> None:
    message = unreadable_warning(corrupt)
    if message is not None and warn is not None:
        warn(message)
