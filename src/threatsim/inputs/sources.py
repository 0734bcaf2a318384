"""The registry of reported figures (sources).

A source is one figure of a report -- a range, a one-sided bound or a point --
with the document symbol, paragraph, month it describes and the exact words.
Sources live in TOML data files (``scenarios/sources/*.toml``), never in code;
a scenario parameter names one by id, so every band can be traced back to a
paragraph.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from threatsim.core.errors import ScenarioError
from threatsim.core.months import parse_month
from threatsim.inputs.files import NotShown, read_toml, shown_path

__all__ = ["SOURCE_UNITS", "WORDINGS", "Source", "SourceRegistry", "combine_registries",
           "load_sources"]

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
    "description", "region", "as_of", "parent", "review",
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
    #: Why a person should check this entry (``threatsim extract`` writes it); empty
    #: once checked.
    review: str = ""

    @property
    def one_sided(self) -> bool:
        """True for "up to N", "more than N", "N or more"."""
        return self.wording in ("up_to", "more_than", "or_more")

    def citation(self) -> str:
        """``S/2019/103 para 12``."""
        return f"{self.document} para {self.paragraph}"

    def figure(self) -> str:
        """The figure in the report's own kind of words: ``between 14,000 and 18,000``,
        ``up to 3,000``, ``3,000 or more``, ``approximately 1,000``, ``13,000``.

        >>> reg = load_sources("scenarios/sources")
        >>> [reg[i].figure() for i in ("militants_iraq_syria", "ftf_iraq_syria",
        ...                            "fighters_hajin", "stateless_minors_iraq")]
        ['between 14,000 and 18,000', 'up to 3,000', '3,000 or more', '13,000']
        """
        money = self.unit == "usd"

        def num(x: float | None) -> str:
            assert x is not None  # WORDINGS says which of low/high/point each wording has
            if money and x >= 1e6:
                return f"${x / 1e6:,g} million"
            return f"{x:,.0f}" if x == round(x) else f"{x:,g}"

        if self.wording == "between":
            return f"between {num(self.low)} and {num(self.high)}"
        if self.wording == "or_more":
            return f"{num(self.low)} or more"
        if self.wording == "exact":
            return num(self.point)
        bound = {"up_to": self.high, "more_than": self.low}.get(self.wording, self.point)
        return f"{self.wording.replace('_', ' ')} {num(bound)}"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON output."""
        return asdict(self)


class SourceRegistry:
    """Sources by id, loaded from one or more files.

    >>> reg = load_sources("scenarios/sources")
    >>> "reserves_usd" in reg, reg.ids()[0] == next(iter(reg)).id
    (True, True)
    """

    def __init__(self, sources: Mapping[str, Source], files: tuple[str, ...] = (),
                 origins: Mapping[str, str] | None = None) -> None:
        self._sources = dict(sources)
        self.files = files
        self._origins = dict(origins or {})

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

    def file_of(self, source_id: str) -> str:
        """The file that defines *source_id* (``""`` when not from a file).

        >>> load_sources("scenarios/sources").file_of("reserves_usd")
        'scenarios/sources/S-2019-103.toml'
        """
        return self._origins.get(source_id, "")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_TOP_KEYS = ("document", "source")


def _entry_problems(entry: dict[str, Any], where: str, default_as_of: Any) -> list[ScenarioError]:
    """What is wrong with one ``[[source]]`` table (empty: nothing)."""
    problems: list[ScenarioError] = []

    def add(key: str, value: Any, expected: str) -> None:
        problems.append(ScenarioError(expected, key=f"{where}.{key}", value=value))

    for key in sorted(set(entry) - _SOURCE_KEYS, key=str):
        add(key, entry[key], f"is not a source key; allowed: {', '.join(sorted(_SOURCE_KEYS))}")
    wording = entry.get("wording")
    if not isinstance(wording, str) or wording not in WORDINGS:
        add("wording", wording, f"must be one of {', '.join(WORDINGS)}")
    else:
        needed = WORDINGS[wording]
        for key in ("low", "high", "point"):
            present = key in entry
            if present != (key in needed):
                add(key, entry.get(key), f"wording {wording!r} takes {' and '.join(needed)} only")
            elif present and not (_number(entry[key]) and entry[key] >= 0):
                add(key, entry[key], "must be a finite number >= 0")
        low: Any = entry.get("low")
        high: Any = entry.get("high")
        if _number(low) and _number(high) and low > high:
            add("low", low, "must have low <= high")
    unit = entry.get("unit")
    if not isinstance(unit, str) or unit not in SOURCE_UNITS:
        add("unit", unit, f"must be one of {', '.join(SOURCE_UNITS)}")
    as_of = entry.get("as_of", default_as_of)
    try:
        parse_month(as_of)
    except ValueError as exc:
        add("as_of", as_of, str(exc))
    paragraph = entry.get("paragraph", 0)
    if isinstance(paragraph, bool) or not isinstance(paragraph, int) or paragraph < 0:
        add("paragraph", paragraph, "must be the paragraph's number (a whole number)")
    for key in ("id", "quote"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            add(key, entry.get(key), "must be a non-empty string")
    for key in ("description", "region", "review"):
        if not isinstance(entry.get(key, ""), str):
            add(key, entry[key], "must be a string")
    if "parent" in entry and (not isinstance(entry["parent"], str) or not entry["parent"]):
        add("parent", entry["parent"], "must be the id (a string) of another source")
    return problems


def _parse_file(path: Path, *, via: str | None, reveal: bool) -> list[Source]:
    shown = shown_path(path)
    data = read_toml(path, what="source file", via=via)
    problems: list[ScenarioError] = []
    for key in sorted(set(data) - set(_TOP_KEYS), key=str):
        problems.append(ScenarioError("is not a key of a source file; allowed: "
                                      "[document] and [[source]] tables", key=key,
                                      value=data[key]))
    document = data.get("document", {})
    if not isinstance(document, dict):
        problems.append(ScenarioError("must be a table ([document]) with symbol and as_of",
                                      key="document", value=document))
        document = {}
    symbol = document.get("symbol")
    default_as_of = document.get("as_of")
    if not isinstance(symbol, str) or not symbol.strip():
        problems.append(ScenarioError("must be the document symbol (a string)",
                                      key="document.symbol", value=symbol))
    entries = data.get("source", [])
    if not isinstance(entries, list):
        problems.append(ScenarioError("must be an array of tables ([[source]])", key="source",
                                      value=entries))
        entries = []
    out: list[Source] = []
    for i, entry in enumerate(entries):
        where = f"source[{i}]"
        if not isinstance(entry, dict):
            problems.append(ScenarioError("must be a table ([[source]]) with id, paragraph, "
                                          "unit, wording, its figures and quote", key=where,
                                          value=entry))
            continue
        found = _entry_problems(entry, where, default_as_of)
        if found or problems:
            problems.extend(found)
            continue
        out.append(Source(
            id=entry["id"], document=str(symbol), paragraph=entry.get("paragraph", 0),
            unit=entry["unit"], wording=entry["wording"], quote=entry["quote"],
            as_of=str(entry.get("as_of", default_as_of)),
            low=entry.get("low"), high=entry.get("high"), point=entry.get("point"),
            description=entry.get("description", ""), region=entry.get("region", ""),
            parent=entry.get("parent"), review=entry.get("review", ""),
        ))
    if problems:
        if not reveal:
            problems = [ScenarioError(e.expected, key=e.key,
                                      value=None if e.value is None else NotShown())
                        for e in problems]
        # the message of an error with problems has no room for why the file was read
        raise ScenarioError("invalid source file", path=f"{shown} ({via})" if via else shown,
                            problems=tuple(problems))
    return out


def load_sources(*paths: str | os.PathLike[str], via: str | None = None,
                 reveal: bool = True) -> SourceRegistry:
    """Load source files (or every ``*.toml`` in a folder) into one registry.

    Parameters
    ----------
    paths
        Source files, or folders of them.
    via
        Which key of which file named them (``"named by sources in x.toml"``), for the
        errors.
    reveal
        Quote the bad values in errors. :func:`~threatsim.inputs.scenario.load_scenario`
        reads the registries of a scenario with ``reveal=False``: a file the user did not
        name may be anything, and its contents are never printed (the key path says
        where to look).

    Raises
    ------
    ScenarioError
        A file that cannot be read or is not valid TOML, a bad entry, or an id defined
        twice.

    >>> reg = load_sources("scenarios/sources/S-2019-103.toml")
    >>> reg["reserves_usd"].low, reg["reserves_usd"].high
    (50000000, 300000000)
    """
    suffix = f" ({via})" if via else ""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        try:
            is_dir = p.is_dir()
        except (OSError, ValueError):
            is_dir = False
        if is_dir:
            try:
                files.extend(sorted(f for f in p.glob("*.toml") if not f.is_dir()))
            except OSError as exc:
                raise ScenarioError(f"cannot be listed: {exc.strerror or exc}{suffix}",
                                    path=shown_path(p)) from None
        else:
            files.append(p)
    sources: dict[str, Source] = {}
    where: dict[str, Path] = {}
    for f in files:
        for src in _parse_file(f, via=via, reveal=reveal):
            if src.id in sources:
                raise ScenarioError(f"is defined twice (also in {shown_path(where[src.id])})"
                                    f"{suffix}", path=shown_path(f), key="source.id",
                                    value=src.id)
            sources[src.id] = src
            where[src.id] = f
    for src in sources.values():
        if src.parent is not None and src.parent not in sources:
            raise ScenarioError(f"names an unknown parent source{suffix}",
                                path=shown_path(where[src.id]), key=f"{src.id}.parent",
                                value=src.parent)
    return SourceRegistry(sources, tuple(str(f) for f in files),
                          {sid: str(f) for sid, f in where.items()})


def combine_registries(registries: Sequence[SourceRegistry]) -> SourceRegistry:
    """One registry holding every source of *registries* (those of a scenario and of the
    files it extends). An id in two of them must be the same figure.

    >>> reg = load_sources("scenarios/sources")
    >>> again = load_sources("scenarios/sources/S-2019-103.toml")
    >>> len(combine_registries([reg, again])) == len(reg)
    True
    """
    sources: dict[str, Source] = {}
    where: dict[str, str] = {}
    files: list[str] = []
    for registry in registries:
        files.extend(f for f in registry.files if f not in files)
        for src in registry:
            known = sources.get(src.id)
            if known is not None and known != src:
                raise ScenarioError(
                    f"is defined differently in {shown_path(where[src.id])} and "
                    f"{shown_path(registry.file_of(src.id))}: a scenario and the files it "
                    "extends must agree on what an id reports", key="source.id",
                    value=src.id)
            if known is None:
                sources[src.id] = src
                where[src.id] = registry.file_of(src.id)
    return SourceRegistry(sources, tuple(files), where)
