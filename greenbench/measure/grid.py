"""Per-country grid carbon intensity, read from the data file codecarbon ships.

codecarbon converts energy to CO₂ with ``data/private_infra/global_energy_mix.json``
(``carbon_intensity`` in gCO₂eq/kWh per ISO 3166-1 alpha-3 country, with the data's
year). We read that file directly with :mod:`json`, without importing codecarbon's
modules (they pull in HTTP clients, pandas and hardware probes).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

RELATIVE_PATH = Path("data") / "private_infra" / "global_energy_mix.json"

# A spread of grids, from low-carbon (hydro, nuclear) to coal-heavy.
WHAT_IF_COUNTRIES = ("SWE", "FRA", "BRA", "CAN", "GBR", "USA", "DEU", "JPN", "CHN", "POL", "IND", "ZAF")


@dataclass(frozen=True)
class GridIntensity:
    iso: str
    name: str
    g_per_kwh: float
    year: int | None


@dataclass(frozen=True)
class GridData:
    countries: dict[str, GridIntensity]
    source: str  # how to cite it, e.g. "codecarbon 3.3.2, data/private_infra/global_energy_mix.json"


def _codecarbon_dir() -> Path | None:
    # find_spec on a top-level package locates it without executing its __init__.
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=1)
def load_grid_data() -> GridData | None:
    """The per-country intensities codecarbon ships, or ``None`` if codecarbon (or the file) is absent."""
    root = _codecarbon_dir()
    if root is None:
        return None
    path = root / RELATIVE_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    countries: dict[str, GridIntensity] = {}
    for iso, row in raw.items() if isinstance(raw, dict) else []:
        if not isinstance(row, dict):
            continue
        value = row.get("carbon_intensity")
        if not isinstance(value, (int, float)) or value < 0:
            continue
        year = row.get("year")
        countries[str(iso).upper()] = GridIntensity(
            iso=str(iso).upper(),
            name=str(row.get("country_name") or iso),
            g_per_kwh=float(value),
            year=int(year) if isinstance(year, (int, float)) else None,
        )
    try:
        version = metadata.version("codecarbon")
    except metadata.PackageNotFoundError:
        version = "?"
    return GridData(countries=countries, source=f"codecarbon {version}, {RELATIVE_PATH.as_posix()}")
