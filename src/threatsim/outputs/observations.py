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

Forms for what real reports say (docs/scoring.md has an example of each):

- ``variables = ["detained_foreign", "dependants_detained"]`` instead of
  ``variable``: the figure is the sum of those outputs, per draw; each dim key
  selects on the variables that have that dim, and every variable's dims must
  be named. They must share the unit and the kind (stock or flow).
- ``offset = 1200`` with ``offset_source = "..."`` (required: a citation or an
  assumption sentence): people counted before the run's start, added to the
  model's value in every draw (for a figure "since 2014" scored against an
  output that counts from the run's start).
- ``date = "2021"``, ``"2020-H2"`` or ``"2020-Q3"``: a period of 12, 6 or 3
  calendar months, scored as ``window = "mean"`` (a stock's mean over the
  states at the start of its months; the default for a stock), ``"sum"`` (a
  flow's total during its months, the time steps one month later, since a flow
  at step *t* is the month before; the default for a flow; its unit drops a
  ``_per_month``) or ``"end"`` (the time step after the period: a stock at the
  end of it, a flow during its last month).
- ``previous = { low = 500 }`` (or ``high``): a one-sided last report ("more
  than 500"); the persistence reference then carries the bound forward as a
  point.

Loading checks the file itself (gathering every problem into one
:class:`~threatsim.core.errors.ScenarioError`), and, given the run it will score,
that the variables, dims, labels, months and unit exist in that run.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
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
RESERVED = ("id", "variable", "variables", "date", "window", "point", "low", "high", "unit",
            "offset", "offset_source", "document", "paragraph", "quote", "source",
            "description", "assumption", "previous", "reporting_error")
_TOP_KEYS = ("title", "description", "document", "observation")
_PREVIOUS_KEYS = ("point", "low", "high", "document", "paragraph", "quote", "date")
#: The value of a dim key that means "sum over every label".
ALL = "all"
#: How a period (``date = "2021"``, ``"2020-H2"``, ``"2020-Q3"``) is scored (module doc).
WINDOWS = ("mean", "sum", "end")
_PERIOD = re.compile(r"^(\d{4})(?:-([HQ])([1-4]))?$")
_DATE_FORMS = ("a month written 'YYYY-MM' (e.g. '2019-01') or a period 'YYYY', 'YYYY-H1', "
               "'YYYY-H2' or 'YYYY-Q1' .. 'YYYY-Q4' (e.g. '2020-H2')")


@dataclass(frozen=True, slots=True, kw_only=True)
class Previous:
    """The last report's figure for the same quantity (for the persistence reference).

    A point, a range, or a one-sided bound (``high = inf``: "more than
    ``low``"). :meth:`reference_range` is what the persistence reference reads
    as uniform: the range itself, or the bound as a point.

    >>> Previous(low=50e6, high=300e6, citation="S/2019/103 para 12").high
    300000000.0
    >>> Previous(low=500, high=math.inf).reference_range()
    (500.0, 500.0)
    """

    low: float
    high: float
    citation: str = ""

    def reference_range(self) -> tuple[float, float]:
        """``(low, high)`` of the uniform the persistence reference carries forward."""
        if math.isinf(self.high):
            return float(self.low), float(self.low)
        if math.isinf(self.low):
            return float(self.high), float(self.high)
        return float(self.low), float(self.high)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One reported figure to score a forecast against.

    ``low``/``high`` are the bounds of the truth: equal for a point, ``-inf``
    or ``inf`` for a one-sided bound. ``select`` maps each dim to the labels
    summed over (``None``: all labels). ``variables`` are the outputs summed
    (``(variable,)`` when only ``variable`` is given; ``variable`` is then the
    first). ``month`` is the first month of a period of ``months`` months,
    scored by ``window`` (``""``: by the output's kind; see the module doc).
    ``offset`` is added to the model's value in every draw.

    >>> o = Observation(id="r", variable="reserves", month=np.datetime64("2020-01"), low=1e6,
    ...                 high=math.inf, unit="usd")
    >>> o.kind, o.month_label, o.truth_text()
    ('at_least', '2020-01', '>= 1e+06')
    >>> s = Observation(id="s", variables=("spending", "seized"), month=np.datetime64("2020-07"),
    ...                 months=6, low=1e6, high=2e6, unit="usd")
    >>> s.variable, s.variable_label, s.month_label
    ('spending', 'spending + seized', '2020-H2')
    """

    id: str
    variable: str = ""
    variables: tuple[str, ...] = ()
    month: np.datetime64
    months: int = 1
    window: str = ""
    low: float
    high: float
    unit: str
    offset: float = 0.0
    offset_source: str = ""
    select: Mapping[str, tuple[Any, ...] | None] = field(default_factory=dict)
    document: str = ""
    paragraph: int | str | None = None
    quote: str = ""
    source: str = ""
    description: str = ""
    assumption: str = ""
    previous: Previous | None = None
    #: The relative reporting error calibration reads this figure with (None: the
    #: default of :mod:`threatsim.outputs.calibration`, or ``--error``). Scoring ignores it.
    reporting_error: float | None = None

    def __post_init__(self) -> None:
        key = f"observation.{self.id}"
        if not self.low <= self.high or (math.isinf(self.low) and math.isinf(self.high)):
            msg = "must satisfy low <= high with at least one finite bound"
            raise ScenarioError(msg, key=key, value=(self.low, self.high))
        names = tuple(self.variables) or ((self.variable,) if self.variable else ())
        if not names or (self.variable and self.variable != names[0]):
            raise ScenarioError("must name the variable (or variables, the first of them "
                                "as variable)", key=f"{key}.variables", value=list(names))
        object.__setattr__(self, "variables", names)
        object.__setattr__(self, "variable", names[0])
        if isinstance(self.months, bool) or not isinstance(self.months, int) or self.months < 1:
            raise ScenarioError("must be a whole number of months >= 1", key=f"{key}.months",
                                value=self.months)
        if self.window not in ("", *WINDOWS):
            raise ScenarioError(f"must be one of {', '.join(WINDOWS)}", key=f"{key}.window",
                                value=self.window)
        if not _is_number(self.offset):
            raise ScenarioError("must be a finite number", key=f"{key}.offset",
                                value=self.offset)

    @property
    def variable_label(self) -> str:
        """The variables as the leaderboard shows them: ``"a + b"`` for a sum."""
        return " + ".join(self.variables)

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
        """The observed month as ``"YYYY-MM"``, or the period (``"2021"``, ``"2020-H2"``)."""
        return _period_label(self.month, self.months)

    def window_for(self, ds: xr.Dataset) -> str:
        """How the period is scored on *ds*: ``""`` for one month, else one of :data:`WINDOWS`.

        Not given in the file, it follows the output's kind: ``"mean"`` for a
        stock, ``"sum"`` for a flow.

        >>> ds = xr.Dataset({"stock": ("time", [1.0, 2.0], {"kind": "stock"})})
        >>> Observation(id="s", variable="stock", month=np.datetime64("2020-01"), months=12,
        ...             low=1.0, high=1.0, unit="people").window_for(ds)
        'mean'
        """
        if self.months == 1 and not self.window:
            return ""
        if self.window:
            return self.window
        kind = ds[self.variable].attrs.get("kind")
        if kind not in ("stock", "flow"):
            raise ScenarioError(
                f"covers {self.months} months and {self.variable!r} declares no kind (stock "
                f"or flow); give window = one of {', '.join(WINDOWS)}",
                key=f"observation.{self.id}.date", value=self.month_label)
        return "mean" if kind == "stock" else "sum"

    def steps(self, ds: xr.Dataset) -> list[np.datetime64]:
        """The time steps of *ds* the forecast reads (see the module doc).

        >>> import threatsim
        >>> ds = threatsim.run(threatsim.load_scenario("scenarios/financing.toml"), draws=2)
        >>> o = Observation(id="r", variable="revenue", month=np.datetime64("2020-07"),
        ...                 months=6, low=0.0, high=1e9, unit="usd")
        >>> [str(m) for m in o.steps(ds)][::5]                  # a flow: one month later
        ['2020-08', '2021-01']
        """
        first = self.month.astype("datetime64[M]")
        window = self.window_for(ds)
        if window == "":
            return [first]
        if window == "end":
            return [first + self.months]
        flow = all(ds[v].attrs.get("kind") == "flow" for v in self.variables if v in ds)
        return [first + i + (1 if flow else 0) for i in range(self.months)]

    def unit_for(self, ds: xr.Dataset) -> str:
        """The unit the figure must have on *ds*: the outputs' unit, less ``_per_month``
        for a period's sum (a total over months).

        >>> ds = xr.Dataset({"revenue": ("time", [1.0], {"kind": "flow",
        ...                                              "units": "usd_per_month"})})
        >>> Observation(id="r", variable="revenue", month=np.datetime64("2020-07"), months=6,
        ...             low=1.0, high=1.0, unit="usd").unit_for(ds)
        'usd'
        """
        unit = str(ds[self.variable].attrs.get("units", ""))
        if self.window_for(ds) == "sum":
            return unit.removesuffix("_per_month")
        return unit

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

    def _at(self, ds: xr.Dataset, month: np.datetime64) -> np.ndarray:
        """The selection summed over its labels and its variables at one time step."""
        total: np.ndarray | None = None
        when = month.astype("datetime64[M]").astype("datetime64[ns]")
        for name in self.variables:
            da = ds[name].sel(time=when)
            for dim, labels in self.select.items():
                if labels is not None and dim in da.dims:
                    da = da.sel({dim: list(labels)})
            extra = [d for d in da.dims if d not in SAMPLE_DIMS]
            if extra:
                da = da.sum(extra, skipna=False)
            lead = [d for d in SAMPLE_DIMS if d in da.dims]
            xs = np.asarray(da.transpose(*lead).values, dtype=np.float64).ravel()
            total = xs if total is None else total + xs
        assert total is not None  # __post_init__: at least one variable
        return total

    def _with_offset(self, xs: np.ndarray) -> np.ndarray:
        return xs + self.offset if self.offset else xs

    def forecast(self, ds: xr.Dataset) -> np.ndarray:
        """The run's ensemble for this observation: one value per draw (and replicate).

        The selection summed over its labels and variables, over the period's
        time steps by its window (:meth:`steps`), plus the offset.
        """
        steps = self.steps(ds)
        if len(steps) == 1:
            return self._with_offset(self._at(ds, steps[0]))
        values = np.stack([self._at(ds, m) for m in steps])
        window = self.window_for(ds)
        out = values.sum(axis=0) if window == "sum" else values.mean(axis=0)
        return self._with_offset(out)

    def start_forecast(self, ds: xr.Dataset) -> np.ndarray:
        """The run's ensemble for the same selection at its first month with values.

        That is the first month for a stock, the second for a flow (a flow
        has no value before the first month has passed). Over a period it is
        that value carried through the period (times its months for a sum),
        and the offset is added: the run's starting point in the observation's
        terms.
        """
        xs = np.full(1, math.nan)
        for when in ds["time"].values:
            xs = self._at(ds, np.datetime64(when, "M"))
            if np.all(np.isfinite(xs)):
                break
        if self.months > 1 and self.window_for(ds) == "sum":
            xs = xs * self.months
        return self._with_offset(xs)


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


def _period_label(month: np.datetime64, months: int) -> str:
    """``"2019-01"`` for one month; ``"2021"``, ``"2020-H2"``, ``"2020-Q3"`` for a period."""
    first = month.astype("datetime64[M]")
    year, index = divmod(int(first.astype(int)), 12)
    year += 1970
    if months == 12 and index == 0:
        return f"{year}"
    if months == 6 and index in (0, 6):
        return f"{year}-H{index // 6 + 1}"
    if months == 3 and index % 3 == 0:
        return f"{year}-Q{index // 3 + 1}"
    if months == 1:
        return str(first)
    return f"{first}..{first + months - 1}"


def _month(p: _Problems, key: str, value: Any) -> tuple[np.datetime64, int] | None:
    """``(first month, months)`` of a date: one month, or a year, half-year or quarter."""
    if hasattr(value, "year") and hasattr(value, "month"):  # a TOML date
        value = f"{value.year:04d}-{value.month:02d}"
    match = _PERIOD.match(value.upper()) if isinstance(value, str) else None
    if match is not None:
        year, part, n = match.group(1), match.group(2), match.group(3)
        if part is None:
            return np.datetime64(f"{year}-01", "M"), 12
        if part == "H" and n in ("1", "2"):
            return np.datetime64(f"{year}-01", "M") + 6 * (int(n) - 1), 6
        if part == "Q":
            return np.datetime64(f"{year}-01", "M") + 3 * (int(n) - 1), 3
    try:
        return parse_month(value), 1
    except ValueError:
        p.add(key, value, f"must be {_DATE_FORMS}, as a string")
        return None


def _previous(p: _Problems, key: str, value: Any, document: str) -> Previous | None:
    if not isinstance(value, dict):
        p.add(key, value, "must be a table: { low = .., high = .. }, { point = .. } or a "
                          "bound { low = .. } / { high = .. }")
        return None
    for k in value:
        if k not in _PREVIOUS_KEYS:
            p.add(f"{key}.{k}", value[k], f"is not a known key; allowed: "
                                          f"{', '.join(_PREVIOUS_KEYS)}")
    bounds = _truth(p, key, value)
    if bounds is None:
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


def _variables(p: _Problems, key: str, entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The outputs summed: ``variable = "a"`` or ``variables = ["a", "b"]``, not both."""
    if "variable" in entry and "variables" in entry:
        p.add(f"{key}.variables", entry["variables"], "must not be given with variable: "
                                                      "name one output as variable, or "
                                                      "several (summed) as variables")
        return ()
    if "variables" not in entry:
        variable = entry.get("variable")
        if not isinstance(variable, str) or not variable:
            p.add(f"{key}.variable", variable, "must name an output variable of the run "
                                               "(or give variables = [..] to sum several)")
            return ()
        return (variable,)
    names = entry["variables"]
    if (not isinstance(names, list) or not names
            or not all(isinstance(v, str) and v for v in names)):
        p.add(f"{key}.variables", names, "must be a list of output variable names "
                                         "(summed per draw), e.g. ['a', 'b']")
        return ()
    if len(set(names)) != len(names):
        p.add(f"{key}.variables", names, "must not repeat a variable (it would be counted "
                                         "twice)")
        return ()
    return tuple(names)


def _offset(p: _Problems, key: str, entry: Mapping[str, Any]) -> float:
    """``offset`` (>= 0, with its required ``offset_source``), or 0."""
    source = entry.get("offset_source")
    if "offset" not in entry:
        if source is not None:
            p.add(f"{key}.offset_source", source, "is given without offset (the count "
                                                  "before the run's start it cites)")
        return 0.0
    offset = entry["offset"]
    if not _is_number(offset) or offset < 0:
        p.add(f"{key}.offset", offset, "must be a finite number >= 0: the count before the "
                                       "run's start, added to the model's value")
        return 0.0
    if not isinstance(source, str) or not source.strip():
        p.add(f"{key}.offset_source", source, "must say where the offset comes from: a "
                                              "citation (document and paragraph) or an "
                                              "assumption sentence")
    return float(offset)


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
    variables = _variables(p, key, entry)
    unit = entry.get("unit")
    if not isinstance(unit, str) or not unit:
        p.add(f"{key}.unit", unit, "must be a unit string (e.g. 'people', 'usd')")
    month = _month(p, f"{key}.date", entry.get("date"))
    window = entry.get("window", "")
    if "window" in entry:
        if window not in WINDOWS:
            p.add(f"{key}.window", window, f"must be one of {', '.join(WINDOWS)}")
        elif month is not None and month[1] == 1:
            p.add(f"{key}.window", window, f"applies only to a date that covers several "
                                           f"months ('2021', '2020-H2', '2020-Q3'); the date "
                                           f"{_period_label(*month)!r} is one month")
    offset = _offset(p, key, entry)
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
    rep = entry.get("reporting_error")
    if "reporting_error" in entry and (
            isinstance(rep, bool) or not isinstance(rep, (int, float))
            or not math.isfinite(rep) or not 0 <= rep <= 10):
        p.add(f"{key}.reporting_error", rep, "must be a number from 0 to 10 (a relative "
              "error: 0.1 reads the figure as reported to within about 10 %)")
    select = {dim: _select(p, key, dim, v) for dim, v in entry.items() if dim not in RESERVED}
    if len(p.items) > n_before or month is None or truth is None:
        return None
    return Observation(
        id=str(oid), variables=variables, month=month[0], months=month[1],
        window=str(window), low=truth[0], high=truth[1], unit=str(unit),
        offset=offset, offset_source=str(entry.get("offset_source", "")),
        select=select, document=doc, paragraph=para, quote=entry.get("quote", ""),
        source=entry.get("source", ""), description=entry.get("description", ""),
        assumption=entry.get("assumption", ""), previous=previous,
        reporting_error=None if rep is None else float(rep))


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
        var_key = f"{key}.variables" if len(o.variables) > 1 else f"{key}.variable"
        bad = False
        for name in o.variables:
            if name not in outputs:
                close = difflib.get_close_matches(name, outputs, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                p.add(var_key, name, f"is not a time series of this run; {hint}"
                                     f"allowed: {', '.join(outputs) or 'none'}")
                bad = True
            elif "draw" not in ds[name].dims:
                p.add(var_key, name, "has no draw dim in this run (a summary without draws "
                                     "cannot be scored); allowed: a run that keeps its draws")
                bad = True
        if bad:
            continue
        first = ds[o.variable]
        for name in o.variables[1:]:
            for attr, what in (("units", "unit"), ("kind", "kind")):
                if ds[name].attrs.get(attr) != first.attrs.get(attr):
                    p.add(var_key, name, f"cannot be summed with {o.variable!r}: its {what} "
                                         f"is {ds[name].attrs.get(attr, 'undeclared')!r}, "
                                         f"not {first.attrs.get(attr, 'undeclared')!r}")
                    bad = True
        if bad:
            continue
        of = (repr(o.variable) if len(o.variables) == 1
              else "any of " + ", ".join(map(repr, o.variables)))
        dims: list[str] = []
        for name in o.variables:
            dims += [str(d) for d in ds[name].dims
                     if d not in (*SAMPLE_DIMS, "time") and str(d) not in dims]
        for dim, labels in o.select.items():
            if dim not in dims:
                close = difflib.get_close_matches(dim, [*dims, *RESERVED], n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                shown = ALL if labels is None else labels[0] if len(labels) == 1 else list(labels)
                p.add(f"{key}.{dim}", shown,
                      f"is not a dim of {of} nor a known key; {hint}dims: "
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
        try:
            window = o.window_for(ds)
        except ScenarioError as err:
            p.items.append(err)
            continue
        if window == "sum" and first.attrs.get("kind") != "flow":
            p.add(f"{key}.window", window, f"adds up month-start states of the stock "
                                           f"{o.variable!r} (each person counted once a "
                                           f"month); allowed for a stock: mean, end")
            continue
        steps = o.steps(ds)
        outside = [m for m in steps if m not in months]
        if outside:
            reads = (f"; it reads the time steps {steps[0]} .. {steps[-1]} (a flow at step t "
                     "is the month before; end is the step after the period)"
                     if o.months > 1 else "")
            p.add(f"{key}.date", o.month_label, f"is outside the run{reads}; allowed: {span}")
        unit = o.unit_for(ds)
        if o.unit != unit:
            what = (f"a sum over the period of {o.variable!r}" if window == "sum"
                    else repr(o.variable))
            p.add(f"{key}.unit", o.unit, f"does not match the unit of {what}; "
                                         f"allowed: {unit!r}")
    return p.items
