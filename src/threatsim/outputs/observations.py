"""Observations: figures reported later, which a run's forecasts are scored against.

An observation file is TOML data. Each ``[[observation]]`` names an output
variable, a selection of its labelled dims (summed over the labels given), a
month, the truth -- a point, a ``low``/``high`` range or a one-sided bound --
its unit and its source::

    document = "S/2019/103"            # default document of every observation

    [[observation]]
    id = "balkans_killed"
    variable = "population"
    date = "2019-01"                   # the month whose time step is scored
    region = ["iraq", "syria"]         # any dim of the variable, by name ...
    compartment = "killed"             # ... one label, a list (summed) or "all"
    point = 100                        # or low = / high = (one or both)
    unit = "people"
    paragraph = 37
    quote = "Of those, 100 have been reported killed"

Keys other than the reserved ones below are read as dim names, so a file
from any later report works with any model without code changes. Every
non-sample, non-time dim of the variable must be named (``"all"`` sums over
every label), so the meaning of an observation cannot silently change when a
model grows a dim.

Loading checks the file itself (gathering every problem into one
:class:`~threatsim.core.errors.ScenarioError`), and, given the run it will score,
that the variable, dims, labels, month and unit exist in that run.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from threatsim.core.errors import ScenarioError
from threatsim.core.months import parse_month
from threatsim.inputs.files import read_toml
from threatsim.results import SAMPLE_DIMS

__all__ = [
    "Observation",
    "ObservationSet",
    "Previous",
    "check_observations",
    "load_observations",
    "observations_from_dict",
]

#: Keys of an ``[[observation]]`` entry that are not dim names.
RESERVED = ("id", "variable", "date", "point", "low", "high", "unit", "document",
            "paragraph", "quote", "source", "description", "assumption", "previous")
_TOP_KEYS = ("title", "description", "document", "observation")
_PREVIOUS_KEYS = ("point", "low", "high", "document", "paragraph", "quote", "date")
#: The value of a dim key that means "sum over every label".
ALL = "all"


@dataclass(frozen=True, slots=True, kw_only=True)
class Previous:
    """The last report's figure for the same quantity (for the persistence reference).

    >>> Previous(low=50e6, high=300e6, citation="S/2019/103 para 12").high
    300000000.0
    """

    low: float
    high: float
    citation: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One reported figure to score a forecast against.

    ``low``/``high`` are the bounds of the truth: equal for a point, ``-inf``
    or ``inf`` for a one-sided bound. ``select`` maps each dim to the labels
    summed over (``None``: all labels).

    >>> o = Observation(id="r", variable="reserves", month=np.datetime64("2020-01"), low=1e6,
    ...                 high=math.inf, unit="usd")
    >>> o.kind, o.month_label, o.truth_text()
    ('at_least', '2020-01', '>= 1e+06')
    """

    id: str
    variable: str
    month: np.datetime64
    low: float
    high: float
    unit: str
    select: Mapping[str, tuple[Any, ...] | None] = field(default_factory=dict)
    document: str = ""
    paragraph: int | str | None = None
    quote: str = ""
    source: str = ""
    description: str = ""
    assumption: str = ""
    previous: Previous | None = None

    def __post_init__(self) -> None:
        if not self.low <= self.high or (math.isinf(self.low) and math.isinf(self.high)):
            msg = "must satisfy low <= high with at least one finite bound"
            raise ScenarioError(msg, key=f"observation.{self.id}",
                                value=(self.low, self.high))

    @property
    def kind(self) -> str:
        """``"point"``, ``"range"``, ``"at_least"`` or ``"at_most"``."""
        if self.low == self.high:
            return "point"
        if math.isinf(self.high):
            return "at_least"
        if math.isinf(self.low):
            return "at_most"
        return "range"

    @property
    def month_label(self) -> str:
        """The observed month as ``"YYYY-MM"``."""
        return str(self.month.astype("datetime64[M]"))

    def citation(self) -> str:
        """``"S/2019/103 para 37"`` (or what of it is known)."""
        text = self.document or "unknown document"
        if self.paragraph is not None:
            text += f" para {self.paragraph}"
        return text

    def truth_text(self) -> str:
        """The truth as a report would word it."""
        if self.kind == "point":
            return f"{self.low:,.6g}"
        if self.kind == "at_least":
            return f">= {self.low:,.6g}"
        if self.kind == "at_most":
            return f"<= {self.high:,.6g}"
        return f"{self.low:,.6g} - {self.high:,.6g}"

    def forecast(self, ds: xr.Dataset) -> np.ndarray:
        """The run's ensemble for this observation: one value per draw (and replicate)."""
        da = ds[self.variable]
        when = self.month.astype("datetime64[M]").astype("datetime64[ns]")
        da = da.sel(time=when)
        for dim, labels in self.select.items():
            if labels is not None:
                da = da.sel({dim: list(labels)})
        extra = [d for d in da.dims if d not in SAMPLE_DIMS]
        if extra:
            da = da.sum(extra, skipna=False)
        lead = [d for d in SAMPLE_DIMS if d in da.dims]
        return np.asarray(da.transpose(*lead).values, dtype=np.float64).ravel()

    def start_forecast(self, ds: xr.Dataset) -> np.ndarray:
        """The run's ensemble for the same selection at its first month with values.

        That is the first month for a stock, the second for a flow (a flow
        has no value before the first month has passed).
        """
        for when in ds["time"].values:
            month = np.datetime64(when, "M")
            xs = Observation(id=self.id, variable=self.variable, month=month, low=self.low,
                             high=self.high, unit=self.unit, select=self.select).forecast(ds)
            if np.all(np.isfinite(xs)):
                return xs
        return xs


@dataclass(frozen=True, slots=True, kw_only=True)
class ObservationSet:
    """The observations of one file, in file order.

    >>> obs = load_observations("scenarios/observations/synthetic.toml")
    >>> len(obs), obs.only(["revenue_*"]).ids()
    (6, ['revenue_2020_07'])
    """

    observations: tuple[Observation, ...]
    title: str = ""
    description: str = ""
    path: str | None = None

    def __iter__(self) -> Iterator[Observation]:
        return iter(self.observations)

    def __len__(self) -> int:
        return len(self.observations)

    def ids(self) -> list[str]:
        """The observation ids, in file order."""
        return [o.id for o in self.observations]

    def only(self, patterns: Sequence[str]) -> ObservationSet:
        """The observations whose id matches one of the shell-style *patterns*."""
        keep = tuple(o for o in self.observations
                     if any(fnmatch.fnmatchcase(o.id, p) for p in patterns))
        if not keep:
            raise ScenarioError(f"matches no observation; ids: {', '.join(self.ids())}",
                                path=self.path, key="only", value=list(patterns))
        return ObservationSet(observations=keep, title=self.title,
                              description=self.description, path=self.path)


# -- reading -------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[ScenarioError] = []

    def add(self, key: str, value: Any, expected: str) -> None:
        self.items.append(ScenarioError(expected, key=key, value=value))



def _is_number(x: Any) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:  # a TOML integer may be longer than any float
        return math.isfinite(x)
    except OverflowError:
        return False


def _truth(p: _Problems, key: str, entry: Mapping[str, Any]) -> tuple[float, float] | None:
    """``(low, high)`` from point / low / high, or ``None`` after adding a problem."""
    given = {k: entry[k] for k in ("point", "low", "high") if k in entry}
    bad = [k for k, v in given.items() if not _is_number(v)]
    for k in bad:
        p.add(f"{key}.{k}", given[k], "must be a finite number")
    if bad:
        return None
    if "point" in given:
        if len(given) > 1:
            p.add(key, sorted(given), "must give either point or low/high, not both")
            return None
        return float(given["point"]), float(given["point"])
    if not given:
        p.add(key, None, "must give the truth: point = N, or low = / high = (one or both)")
        return None
    low = float(given.get("low", -math.inf))
    high = float(given.get("high", math.inf))
    if low > high:
        p.add(f"{key}.low", given["low"], f"must be <= high ({given['high']!r})")
        return None
    return low, high


def _month(p: _Problems, key: str, value: Any) -> np.datetime64 | None:
    if hasattr(value, "year") and hasattr(value, "month"):  # a TOML date
        value = f"{value.year:04d}-{value.month:02d}"
    try:
        return parse_month(value)
    except ValueError as exc:
        p.add(key, value, str(exc))
        return None


def _previous(p: _Problems, key: str, value: Any, document: str) -> Previous | None:
    if not isinstance(value, dict):
        p.add(key, value, "must be a table: { low = .., high = .. } or { point = .. }")
        return None
    for k in value:
        if k not in _PREVIOUS_KEYS:
            p.add(f"{key}.{k}", value[k], f"is not a known key; allowed: "
                                          f"{', '.join(_PREVIOUS_KEYS)}")
    bounds = _truth(p, key, value)
    if bounds is None:
        return None
    if not all(math.isfinite(b) for b in bounds):
        p.add(key, value, "must be a point or a two-sided range (the reference reads it "
                          "as uniform)")
        return None
    doc = str(value.get("document", document))
    para = value.get("paragraph")
    citation = doc + (f" para {para}" if para is not None else "")
    return Previous(low=bounds[0], high=bounds[1], citation=citation)


def _select(p: _Problems, key: str, dim: str, value: Any) -> tuple[Any, ...] | None:
    if value == ALL:
        return None
    labels = value if isinstance(value, list) else [value]
    if not labels or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                             for v in labels):
        p.add(f"{key}.{dim}", value, f"must be a label, a list of labels or {ALL!r}")
        return ()
    if len(set(labels)) != len(labels):
        p.add(f"{key}.{dim}", value, "must not repeat a label (it would be counted twice)")
    return tuple(labels)


def _observation(p: _Problems, index: int, entry: Any, document: str,
                 seen: set[str]) -> Observation | None:
    key = f"observation[{index}]"
    if not isinstance(entry, dict):
        p.add(key, entry, "must be a table ([[observation]])")
        return None
    oid = entry.get("id")
    if not isinstance(oid, str) or not oid.strip():
        p.add(f"{key}.id", oid, "must be a non-empty string")
    else:
        if oid in seen:
            p.add(f"{key}.id", oid, "must be unique within the file")
        seen.add(oid)
        key = f"observation.{oid}"
    n_before = len(p.items)
    variable = entry.get("variable")
    if not isinstance(variable, str) or not variable:
        p.add(f"{key}.variable", variable, "must name an output variable of the run")
    unit = entry.get("unit")
    if not isinstance(unit, str) or not unit:
        p.add(f"{key}.unit", unit, "must be a unit string (e.g. 'people', 'usd')")
    month = _month(p, f"{key}.date", entry.get("date"))
    truth = _truth(p, key, entry)
    doc = entry.get("document", document)
    if not isinstance(doc, str) or not doc:
        p.add(f"{key}.document", doc, "must name the source document (here or at the top "
                                      "of the file)")
    para = entry.get("paragraph")
    if para is not None and (isinstance(para, bool) or not isinstance(para, (int, str))):
        p.add(f"{key}.paragraph", para, "must be a paragraph number or label")
    for text_key in ("quote", "source", "description", "assumption"):
        if text_key in entry and not isinstance(entry[text_key], str):
            p.add(f"{key}.{text_key}", entry[text_key], "must be a string")
    previous = None
    if "previous" in entry:
        previous = _previous(p, f"{key}.previous", entry["previous"], str(doc))
    select = {dim: _select(p, key, dim, v) for dim, v in entry.items() if dim not in RESERVED}
    if len(p.items) > n_before or month is None or truth is None:
        return None
    return Observation(
        id=str(oid), variable=str(variable), month=month, low=truth[0], high=truth[1],
        unit=str(unit),
        select=select, document=doc, paragraph=para, quote=entry.get("quote", ""),
        source=entry.get("source", ""), description=entry.get("description", ""),
        assumption=entry.get("assumption", ""), previous=previous)


def observations_from_dict(data: Mapping[str, Any], *, path: str | None = None) -> ObservationSet:
    """Build and check an :class:`ObservationSet` from parsed TOML (see the module doc).

    Raises
    ------
    ScenarioError
        Naming the file, the key (``observation.<id>.<key>``), the value and
        what is allowed, for every problem found.

    >>> obs = observations_from_dict({"document": "S/2019/103", "observation": [
    ...     {"id": "r", "variable": "reserves", "date": "2020-01", "low": 1e6, "unit": "usd"}]})
    >>> obs.ids(), next(iter(obs)).kind
    (['r'], 'at_least')
    """
    obs, problems = _read_observations(data, path)
    if problems:
        raise ScenarioError("invalid observations", path=path, problems=tuple(problems))
    return obs


def _read_observations(data: Mapping[str, Any],
                       path: str | None) -> tuple[ObservationSet, list[ScenarioError]]:
    """The valid observations of *data*, and the problems of the others."""
    p = _Problems()
    for k in data:
        if k not in _TOP_KEYS:
            close = difflib.get_close_matches(k, _TOP_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            p.add(k, data[k], f"is not a known key; {hint}allowed: {', '.join(_TOP_KEYS)}")
    document = data.get("document", "")
    if not isinstance(document, str):
        p.add("document", document, "must be a string (a document symbol)")
        document = ""
    entries = data.get("observation")
    if not isinstance(entries, list) or not entries:
        p.add("observation", entries, "must be one or more [[observation]] tables")
        entries = []
    seen: set[str] = set()
    found = [_observation(p, i, e, document, seen) for i, e in enumerate(entries)]
    for text_key in ("title", "description"):
        if not isinstance(data.get(text_key, ""), str):
            p.add(text_key, data[text_key], "must be a string")
    obs = ObservationSet(observations=tuple(o for o in found if o is not None),
                         title=str(data.get("title", "")),
                         description=str(data.get("description", "")), path=path)
    return obs, p.items


def load_observations(path: str | Path, *, against: xr.Dataset | None = None,
                      only: Sequence[str] | None = None) -> ObservationSet:
    """Read an observation file; check it against the run it will score.

    Parameters
    ----------
    path
        The TOML file.
    against
        A run (from :func:`threatsim.run` or :func:`threatsim.open_results`):
        the variables, dims, labels, months and units are checked against it.
    only
        Keep only observations whose id matches one of these shell-style
        patterns (``"balkans_*"``), e.g. the figures a given scenario models.

    Raises
    ------
    ScenarioError
        Naming the file, the key, the value and what is allowed.

    Examples
    --------
    >>> obs = load_observations("scenarios/observations/synthetic.toml")
    >>> obs.ids()[:1]
    ['reserves_2019_07']
    """
    path = Path(path)
    data = read_toml(path, what="observation file")
    obs, problems = _read_observations(data, str(path))
    if only and (obs.observations or not problems):
        obs = obs.only(only)
    if against is not None:  # the file's problems and the run's, together
        problems = [*problems, *_problems_with_run(obs, against)]
    if problems:
        raise ScenarioError("invalid observations", path=str(path), problems=tuple(problems))
    return obs


def _labels(values: np.ndarray) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


def check_observations(obs: ObservationSet, ds: xr.Dataset) -> None:
    """Raise a :class:`ScenarioError` unless every observation can be scored on *ds*.

    >>> import threatsim
    >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=10)
    >>> check_observations(load_observations("scenarios/observations/synthetic.toml"), ds)
    """
    problems = _problems_with_run(obs, ds)
    if problems:
        raise ScenarioError("invalid observations", path=obs.path, problems=tuple(problems))


def _problems_with_run(obs: ObservationSet, ds: xr.Dataset) -> list[ScenarioError]:
    """What stops each observation of *obs* from being scored on the run *ds*."""
    p = _Problems()
    outputs = [str(n) for n, v in ds.data_vars.items()
               if v.attrs.get("role") != "parameter" and "time" in v.dims]
    months = ds["time"].values.astype("datetime64[M]")
    span = f"{months[0]} .. {months[-1]}" if len(months) else "none"
    for o in obs:
        key = f"observation.{o.id}"
        if o.variable not in outputs:
            close = difflib.get_close_matches(o.variable, outputs, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            p.add(f"{key}.variable", o.variable, f"is not a time series of this run; {hint}"
                                                 f"allowed: {', '.join(outputs) or 'none'}")
            continue
        da = ds[o.variable]
        if "draw" not in da.dims:
            p.add(f"{key}.variable", o.variable, "has no draw dim in this run (a summary "
                                                 "without draws cannot be scored); allowed: "
                                                 "a run that keeps its draws")
            continue
        dims = [str(d) for d in da.dims if d not in (*SAMPLE_DIMS, "time")]
        for dim, labels in o.select.items():
            if dim not in dims:
                close = difflib.get_close_matches(dim, [*dims, *RESERVED], n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                shown = ALL if labels is None else labels[0] if len(labels) == 1 else list(labels)
                p.add(f"{key}.{dim}", shown,
                      f"is not a dim of {o.variable!r} nor a known key; {hint}dims: "
                      f"{', '.join(dims) or 'none'}; keys: {', '.join(RESERVED)}")
                continue
            allowed = _labels(ds[dim].values)
            missing = [lab for lab in labels or () if lab not in allowed]
            if missing:
                p.add(f"{key}.{dim}", missing[0] if len(missing) == 1 else missing,
                      f"is not a label of dim {dim!r}; allowed: "
                      f"{', '.join(map(str, allowed))} (or {ALL!r})")
        for dim in dims:
            if dim not in o.select:
                p.add(f"{key}.{dim}", None,
                      f"must be given: the labels of dim {dim!r} to sum over, or {ALL!r}; "
                      f"allowed: {', '.join(map(str, _labels(ds[dim].values)))}")
        if o.month.astype("datetime64[M]") not in months:
            p.add(f"{key}.date", o.month_label, f"is outside the run; allowed: {span}")
        unit = da.attrs.get("units", "")
        if o.unit != unit:
            p.add(f"{key}.unit", o.unit, f"does not match the unit of {o.variable!r}; "
                                         f"allowed: {unit!r}")
    return p.items
