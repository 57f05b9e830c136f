"""The report's sections, in the order the report shows them.

Each module holds one section: its id and title, the data it computes from the results,
its figures, and what the HTML template and the Markdown summary show of it (see
:mod:`.base`). The HTML report and the Markdown summary both go through :data:`SECTIONS`;
adding a section is one new module with a ``SECTION = Spec(...)`` and one entry here.
"""

from __future__ import annotations

from . import (
    comparisons,
    compression,
    failures,
    fairness,
    headline,
    methodology,
    pareto,
    results,
    targets,
    training,
    transparency,
    what_if,
)
from .base import Inputs, Section, Spec, Table

SECTIONS: list[Spec] = [
    headline.SECTION,
    methodology.SECTION,
    pareto.SECTION,
    comparisons.SECTION,
    training.SECTION,
    targets.SECTION,
    compression.SECTION,
    fairness.SECTION,
    transparency.SECTION,
    what_if.SECTION,
    failures.SECTION,
    results.SECTION,
]

__all__ = ["SECTIONS", "Inputs", "Section", "Spec", "Table"]
