"""The registry of reported figures (sources).

A source is one figure of a report -- a range, a one-sided bound or a point --
with the document symbol, paragraph, month it describes and the exact words.
Sources live in TOML data files (``scenarios/sources/*.toml``), never in code;
a scenario parameter names one by id, so every band can be traced back to a
paragraph.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from threatsim.core.errors import ScenarioError
from threatsim.core.months import parse_month

__all__ = ["SOURCE_UNITS", "WORDINGS", "Source", "SourceRegistry", "load_sources"]

SOURCE_UNITS = ("usd", "people", "attacks")
#: How a report hedges a figure, and which of low/high/point it then carries.
WORDINGS = {
    "between": ("low", "high"),
    "up_to": ("high",),
    "more_than": ("low",),
    "or_more": ("low",),
    "approximately": ("point",),
    "nearly": ("point",),
    "exact": ("point",),
}
_SOURCE_KEYS = {
    "id", "paragraph", "unit", "wording", "low", "high", "point", "quote",
    "description", "region", "as_of", "parent",
}  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One reported figure.

    >>> src = load_sources("scenarios/sources")["reserves_usd"]
    >>> src.citation(), src.wording, src.one_sided
    ('S/2019/103 para 12', 'between', False)
    """

    id: str
    document: str
    paragraph: int
    unit: str
    wording: str
    quote: str
    as_of: str
    low: float | None = None
    high: float | None = None
    point: float | None = None
    description: str = ""
    region: str = ""
    parent: str | None = None

    @property
    def one_sided(self) -> bool:
        """True for "up to N", "more than N", "N or more"."""
        return self.wording in ("up_to", "more_than", "or_more")

    def citation(self) -> str:
        """``S/2019/103 para 12``."""
        return f"{self.document} para {self.paragraph}"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


class SourceRegistry:
    """Sources by id, loaded from one or more files.

    >>> reg = load_sources("scenarios/sources")
    >>> "reserves_usd" in reg, reg.ids()[0] == next(iter(reg)).id
    (True, True)
    """

    def __init__(self, sources: dict[str, Source], files: tuple[str, ...] = ()) -> None:
        self._sources = dict(sources)
        self.files = files

    def __contains__(self, source_id: object) -> bool:
        return source_id in self._sources

    def __getitem__(self, source_id: str) -> Source:
        return self._sources[source_id]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._sources.values())

    def __len__(self) -> int:
        return len(self._sources)

    def ids(self) -> list[str]:
        """All source ids, in file order."""
        return list(self._sources)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_file(path: Path) -> list[Source]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"is not valid TOML: {exc}", path=str(path)) from None
    document = data.get("document", {})
    symbol = document.get("symbol")
    default_as_of = document.get("as_of")
    problems: list[ScenarioError] = []
    if not isinstance(symbol, str):
        problems.append(ScenarioError("must be the document symbol", key="document.symbol",
                                      value=symbol))
    out: list[Source] = []
    for i, entry in enumerate(data.get("source", [])):
        where = f"source[{i}]"
        unknown = set(entry) - _SOURCE_KEYS
        for key in sorted(unknown):
            problems.append(ScenarioError(f"is not a source key; allowed: {sorted(_SOURCE_KEYS)}",
                                          key=f"{where}.{key}", value=entry[key]))
        wording = entry.get("wording")
        if wording not in WORDINGS:
            problems.append(ScenarioError(f"must be one of {list(WORDINGS)}",
                                          key=f"{where}.wording", value=wording))
            continue
        needed = WORDINGS[wording]
        for key in ("low", "high", "point"):
            present = key in entry
            if present != (key in needed):
                problems.append(ScenarioError(
                    f"wording {wording!r} takes {' and '.join(needed)} only",
                    key=f"{where}.{key}", value=entry.get(key)))
            elif present and not (_number(entry[key]) and entry[key] >= 0):
                problems.append(ScenarioError("must be a finite number >= 0",
                                              key=f"{where}.{key}", value=entry[key]))
        if entry.get("unit") not in SOURCE_UNITS:
            problems.append(ScenarioError(f"must be one of {list(SOURCE_UNITS)}",
                                          key=f"{where}.unit", value=entry.get("unit")))
        as_of = entry.get("as_of", default_as_of)
        try:
            parse_month(as_of)
        except ValueError as exc:
            problems.append(ScenarioError(str(exc), key=f"{where}.as_of", value=as_of))
        if "low" in entry and "high" in entry and entry["low"] > entry["high"]:
            problems.append(ScenarioError("must have low <= high", key=f"{where}.low",
                                          value=entry["low"]))
        for key in ("id", "quote"):
            if not isinstance(entry.get(key), str) or not entry.get(key):
                problems.append(ScenarioError("must be a non-empty string",
                                              key=f"{where}.{key}", value=entry.get(key)))
        if problems:
            continue
        out.append(Source(
            id=entry["id"], document=symbol, paragraph=int(entry.get("paragraph", 0)),
            unit=entry["unit"], wording=wording, quote=entry["quote"], as_of=as_of,
            low=entry.get("low"), high=entry.get("high"), point=entry.get("point"),
            description=entry.get("description", ""), region=entry.get("region", ""),
            parent=entry.get("parent"),
        ))
    if problems:
        raise ScenarioError("invalid source file", path=str(path), problems=tuple(problems))
    return out


def load_sources(*paths: str | Path) -> SourceRegistry:
    """Load source files (or every ``*.toml`` in a folder) into one registry.

    Raises
    ------
    ScenarioError
        A file that is not valid TOML, a bad entry, or an id defined twice.

    >>> reg = load_sources("scenarios/sources/S-2019-103.toml")
    >>> reg["reserves_usd"].low, reg["reserves_usd"].high
    (50000000, 300000000)
    """
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(p.glob("*.toml")))
        elif p.is_file():
            files.append(p)
        else:
            raise ScenarioError("no such source file or folder", path=str(p))
    sources: dict[str, Source] = {}
    for f in files:
        for src in _parse_file(f):
            if src.id in sources:
                raise ScenarioError("is defined twice", path=str(f), key="source.id", value=src.id)
            sources[src.id] = src
    for src in sources.values():
        if src.parent is not None and src.parent not in sources:
            raise ScenarioError("names an unknown parent source", key=f"{src.id}.parent",
                                value=src.parent)
    return SourceRegistry(sources, tuple(str(f) for f in files))
