"""Downloading dataset files with the standard library, with a rich progress bar.

:data:`urlopen` is looked up at call time, so tests replace it (``monkeypatch.setattr``) to
guarantee they never reach the network; the real code path is tested against a local HTTP
server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

from greenbench._version import __version__
from greenbench.fsutil import atomic_write

urlopen = urllib.request.urlopen  # replaced in tests

CHUNK = 1 << 16


class DownloadError(Exception):
    """A URL that could not be fetched (internal; the loader turns it into a DataError)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class _LazyBar:
    """A rich download progress bar on stderr that appears only once a download starts."""

    def __init__(self) -> None:
        self._bar = None

    def add_task(self, description: str, total: int | None) -> object:
        if self._bar is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            from greenbench.console import make_console

            self._bar = Progress(
                TextColumn("{task.description}", markup=False, style="bold"),  # a file name: data, not markup
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=make_console(stderr=True),
            )
            self._bar.start()
        return self._bar.add_task(description, total=total)

    def update(self, task: object, advance: int) -> None:
        assert self._bar is not None
        self._bar.update(task, advance=advance)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[_LazyBar | None]:
    """A download progress bar (shown from the first download on), or ``None`` when disabled."""
    if not enabled:
        yield None
        return
    bar = _LazyBar()
    try:
        yield bar
    finally:
        bar.stop()


def download(url: str, dest: Path, *, progress: _LazyBar | None = None, timeout: float = 60.0) -> int:
    """Fetch ``url`` into ``dest`` atomically; returns the number of bytes written.

    ``progress`` comes from :func:`progress_bar` (or is ``None``).
    Raises :class:`DownloadError` for any network or HTTP failure; ``dest`` is then untouched.
    """
    request = urllib.request.Request(url, headers={"User-Agent": f"greenbench/{__version__}"})
    written = 0
    try:
        with urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            task = progress.add_task(dest.name, total=total) if progress is not None else None

            def copy(tmp: Path) -> None:
                nonlocal written
                with open(tmp, "wb") as fh:
                    while chunk := response.read(CHUNK):
                        fh.write(chunk)
                        written += len(chunk)
                        if task is not None:
                            progress.update(task, advance=len(chunk))  # type: ignore[union-attr]
                if total is not None and written != total:
                    raise DownloadError(url, f"connection closed after {written} of {total} bytes")

            atomic_write(dest, copy)
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        raise DownloadError(url, f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(url, str(exc.reason)) from None
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        raise DownloadError(url, f"{type(exc).__name__}: {exc}") from None
    return written
