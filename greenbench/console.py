"""Where greenbench's text meets the console: one rule for text that comes from data.

**The rule:** greenbench never hands rich a ``str`` to interpret. Suite names, run ids, reasons,
paths, install hints, error messages and table cells are data, and data can look like markup
(``pip install 'greenbench[tensorflow]'``, a suite called ``[/] release [bold``, a reason holding
``[link=x]``) or like an emoji code (``:warning:``). So everything printed is a
:class:`rich.text.Text` built by :func:`text` — data is appended literally, greenbench's own
styling is a style name on a span, never a tag in a string — and the consoles :func:`make_console`
makes have markup, emoji codes and highlighting off, so a plain ``str`` that slips through is
printed literally too. Printing functions that take a console from a caller (any rich Console)
still pass only :class:`~rich.text.Text` and other renderables, so the rule holds on it as well.

The second half of this module lays text out for logs: CI logs and pipes are 80 columns and not
a terminal, where a rich table wraps every cell over many lines. :func:`interactive` tells the
two apart; :func:`flow` and :func:`columns` wrap whole values (a run id, a workload, a number
with its unit) onto indented continuation lines instead of splitting them mid-word.
"""

from __future__ import annotations

import os
from typing import IO, Iterable, Sequence, Union

from rich.console import Console
from rich.text import Text

Part = Union[str, Text, "tuple[str, str]"]
"""A piece of a line: a ``str`` (data, literal), a ``(str, style)`` pair, or a ready :class:`Text`."""

__all__ = ["Part", "columns", "flow", "interactive", "key_values", "make_console", "print_lines", "say", "text", "words"]


def make_console(
    *, stderr: bool = False, file: IO[str] | None = None, width: int | None = None,
    force_terminal: bool | None = None,
) -> Console:
    """A console on stdout (or stderr) that prints every ``str`` literally: no markup, emoji codes or highlighting."""
    return Console(stderr=stderr, file=file, width=width, force_terminal=force_terminal,
                   markup=False, emoji=False, highlight=False)


def text(*parts: Part, style: str = "") -> Text:
    """One line of output: ``text("ok  ", ("ok", "green"), name)``. Data is never parsed as markup."""
    out = Text(style=style)
    for part in parts:
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple):
            value, part_style = part
            out.append(str(value), style=part_style or None)
        else:
            out.append(str(part))
    return out


def say(console: Console, *parts: Part, style: str = "", **print_kwargs: object) -> None:
    """Print :func:`text` of ``parts`` (any rich Console: the text is literal whatever its settings)."""
    console.print(text(*parts, style=style), **print_kwargs)  # type: ignore[arg-type]


def print_lines(console: Console, lines: Iterable[Text]) -> None:
    """Print lines laid out by :func:`flow`, :func:`columns` or :func:`key_values` as they are:
    rich neither re-wraps nor crops them (a value wider than the log stays whole on its line)."""
    for line in lines:
        console.print(line, soft_wrap=True)


def interactive(console: Console) -> bool:
    """Whether ``console`` writes to a real terminal (not a pipe, a file or a CI log).

    Read from the file itself rather than :attr:`Console.is_terminal`: ``FORCE_COLOR``, which CI
    systems set to get colours in their logs, makes rich call a log a terminal, and a log is still
    80 columns that nobody can widen. A dumb terminal (``TERM=dumb`` or ``unknown``: an editor's shell, some CI
    runners) is 80 columns to rich whatever its width, so it gets the log layout too: every value whole.
    """
    isatty = getattr(console.file, "isatty", None)
    try:
        tty = bool(isatty is not None and isatty())
    except ValueError:  # a closed file
        return False
    return tty and os.environ.get("TERM", "").lower() not in ("dumb", "unknown")


def words(value: Part, style: str = "") -> list[Text]:
    """The words of ``value`` (styles kept), for :func:`flow`; a run of spaces stays with the word before it."""
    t = text(value, style=style)
    t.plain = t.plain.replace("\n", " ").replace("\t", " ")  # same length: the styles stay in place
    out: list[Text] = []
    for piece in t.split(" ", allow_blank=True):
        if piece.plain:
            out.append(piece)
        elif out:
            out[-1].append(" ")
    return out


def flow(
    chunks: Iterable[Part], width: int, *, lead: str = "", indent: int | None = None, sep: str = " ",
) -> list[Text]:
    """Lay ``chunks`` out in lines of at most ``width`` cells, never splitting a chunk.

    The first line starts with ``lead``, the next ones with ``indent`` spaces (default: as wide as
    ``lead``). Chunks are joined by ``sep``. A chunk wider than a whole line gets a line of its own
    and stays whole: a value is never cut, even when it is longer than the log is wide.
    """
    pad = " " * (len(lead) if indent is None else indent)
    lines: list[Text] = []
    line = text(lead)
    empty = True
    for chunk in chunks:
        piece = text(chunk)
        if not piece.plain:
            continue
        if not empty and line.cell_len + len(sep) + piece.cell_len > width:
            lines.append(line)
            line, empty = text(pad), True
        if not empty:
            line.append(sep)
        line.append_text(piece)
        empty = False
    if not empty or not lines:
        lines.append(line)
    for ln in lines:
        ln.rstrip()
    return lines


def columns(
    headers: Sequence[str], rows: Sequence[Sequence[Part]], width: int, *, right: Iterable[int] = (),
    gap: int = 2, lead: str = "",
) -> list[Text]:
    """A plain table for logs: every cell whole, no line wider than ``width`` where the values allow.

    One line per row when the columns fit; else the last column (typically a long id) goes on a
    line of its own under the second column; else each row becomes ``header value`` pairs
    flowed over indented lines.
    """
    right = set(right)
    cells = [[text(c) for c in row] for row in rows]
    widths = [max([len(h), *(r[i].cell_len for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[Text], idx: Sequence[int]) -> Text:
        out = text(lead)
        for n, (i, v) in enumerate(zip(idx, values)):
            if n:
                out.append(" " * gap)
            padding = " " * (widths[i] - v.cell_len)
            if i in right:
                out.append(padding)
                out.append_text(v)
            else:
                out.append_text(v)
                if n < len(idx) - 1:
                    out.append(padding)
        out.rstrip()
        return out

    n = len(headers)
    total = len(lead) + sum(widths) + gap * (n - 1)
    heads = [text((h, "bold")) for h in headers]
    if total <= width:
        idx = list(range(n))
        return [line(heads, idx)] + [line(r, idx) for r in cells]
    first = len(lead) + sum(widths[:-1]) + gap * (n - 2)
    under = len(lead) + widths[0] + gap if n > 2 else len(lead)
    if n >= 2 and first <= width and under + widths[-1] <= width:
        idx = list(range(n - 1))
        out = [line(heads[:-1], idx), text(" " * under, heads[-1])]
        for r in cells:
            out += [line(r[:-1], idx), text(" " * under, r[-1])]
        return out
    out = []
    for r in cells:
        pairs = [text((h, "bold"), " ", v) for h, v in zip(headers[1:], r[1:])]
        num = r[0].plain.rjust(widths[0]) if 0 in right else r[0].plain.ljust(widths[0])
        out += flow(pairs, width, lead=lead + num + " " * gap, sep="  ")
    return out


def key_values(pairs: Sequence[tuple[Part, Part]], width: int, *, lead: str = "") -> list[Text]:
    """``label  value`` lines, labels aligned, each value flowed word by word under its own column."""
    labels = [text(k) for k, _ in pairs]
    w = max((lab.cell_len for lab in labels), default=0)
    out: list[Text] = []
    for lab, (_, value) in zip(labels, pairs):
        head = text(lead, lab, " " * (w - lab.cell_len + 2))
        lines = flow(words(value), width, lead=" " * head.cell_len)
        first = lines[0]
        out.append(text(head, first[head.cell_len:]))
        out += lines[1:]
    return out
