"""Render the report context to one self-contained HTML file (Jinja2, autoescape on)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from . import fmt
from .sections.base import Table


def table_html(table: Table) -> Markup:
    """A pandas table; ``escape=True`` escapes every header and cell, so the result is safe markup."""
    classes = "tbl wide" if table.wide else "tbl"
    html = table.frame.to_html(index=False, escape=True, border=0, na_rep=fmt.NA, classes=classes)
    return Markup(html)  # noqa: S704 - produced by pandas with escape=True


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("greenbench.report", "templates"),
        autoescape=True,  # every template, whatever its name: suite names and reasons are untrusted
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.globals.update(table=table_html, est=fmt.EST, low=fmt.LOW, na=fmt.NA)
    return env


def render_html(ctx: dict[str, Any]) -> str:
    return environment().get_template("report.html.j2").render(**ctx)
