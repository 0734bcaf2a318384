"""Charts a planner reads: one output per figure, titled, in units, with sources.

The same rules for ``run`` (its default PNG, ``--plot``), ``compare --plot`` and
the brief:

* one output per figure (:func:`fan_figure`), or a few small panels of the
  model's headline series (:func:`overview_figure`, at most six), never a strip
  of every output;
* the title is the output's declared title, the y axis names the unit
  (US$ million, people, days), tick labels have thousands separators and
  people are counted in whole numbers;
* the legend is on the figure; lever changes of the scenario's timeline are
  labelled vertical lines (``from 2019-07: courts 20 -> 40``) and event windows
  shaded spans; report months are not drawn (they are table rows, not dates);
* a footnote cites the report's paragraphs the scenario's parameters come
  from, says that the other ranges are analyst assumptions, and names the
  run (:func:`chart_footnote`);
* a comparison (:func:`comparison_figure`) draws base and what-if in two
  colour-blind-safe colours (Okabe-Ito blue and vermillion) with see-through
  bands, and the paired difference with a zero line and the direction that is
  better.

The series are resolved from the model's declarations (:class:`Series`,
:func:`headline_series`, :func:`output_family_series`) and read from a full
run (every draw) or a summary run (``keep = "summary"``: the bands it kept).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: the CLI and tests run without a screen

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from threatsim.core.errors import ScenarioError
from threatsim.core.formatting import printable
from threatsim.inputs.scenario import Scenario
from threatsim.models.registry import get_model
from threatsim.results import bands

__all__ = [
    "BASE_COLOUR",
    "WHATIF_COLOUR",
    "Series",
    "chart_footnote",
    "comparison_figure",
    "draw_fan",
    "family_figure",
    "fan_figure",
    "headline_series",
    "label",
    "month_x",
    "monthly_outputs",
    "output_family_series",
    "overview_figure",
    "scale_of",
    "series_of",
    "series_values",
    "text",
]

_SCALE = {"usd": (1e6, "US$ million"), "usd_per_month": (1e6, "US$ million / month")}
_UNIT_NAMES = {"people": "people", "days": "days", "months": "months"}
_SAMPLE = ("draw", "replicate")
#: Dims a chart keeps (never summed): the sample, the months, a summary's bands, a
#: comparison's two scenarios.
_KEPT = ("draw", "replicate", "time", "quantile", "scenario")
#: Dims an output family is split by (the run table's, and the kinds of event outcome and
#: shock, whose sum means little).
_SPLIT_DIMS = ("compartment", "origin", "nationality", "outcome", "shock")
_SKIP_EMPTY = ("origin", "nationality", "outcome", "shock")
#: Okabe-Ito blue and vermillion: told apart with every common colour-vision deficiency.
BASE_COLOUR, WHATIF_COLOUR = "#0072B2", "#D55E00"
_LINE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
_LINE_STYLES = ("-", "--", "-.", ":")
#: Headline series a run falls back to when its model declares none.
_FALLBACK = 4
#: The panels of an overview at most.
_PANELS = 6


def scale_of(units: str) -> tuple[float, str]:
    """The divisor and the axis label of a unit: US$ in millions, others as they are.

    >>> scale_of("usd"), scale_of("people")
    ((1000000.0, 'US$ million'), (1.0, 'people'))
    """
    return _SCALE.get(units, (1.0, _UNIT_NAMES.get(units, units)))


def text(s: str) -> str:
    """Text for matplotlib: a ``$`` is a dollar, not the start of mathtext.

    >>> text("US$ million")
    'US\\\\$ million'
    """
    return s.replace("$", r"\$")


def label(name: Any) -> str:
    """A name from the user (a scenario's) for a title or legend: on one line, no control
    character, not too long, ``$`` a dollar.

    >>> label("base\\nline")
    'base\\\\nline'
    """
    return text(printable(name))


def month_x(month: str) -> np.datetime64:
    """The x position of a month (``YYYY-MM``) on a time axis.

    >>> str(month_x("2019-07"))[:10]
    '2019-07-01'
    """
    when: np.datetime64 = np.datetime64(month, "M").astype("datetime64[ns]")
    return when


def draw_fan(ax: Any, t: np.ndarray, b: xr.DataArray, qs: Sequence[float], *,
             labelled: bool = True, colour: Any = None, alpha: float = 1.0,
             name: str = "") -> None:
    """Nested quantile bands (lighter = wider) and the median of *b* (dim ``quantile``).

    >>> fig, ax = plt.subplots()
    >>> b = xr.DataArray(np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0]]),
    ...                  dims=("quantile", "time"), coords={"quantile": [0.05, 0.5, 0.95]})
    >>> draw_fan(ax, np.arange(2), b, [0.05, 0.5, 0.95])
    >>> len(ax.collections), len(ax.lines)
    (1, 1)
    >>> plt.close(fig)
    """
    pairs = [(qs[i], qs[-1 - i]) for i in range(len(qs) // 2)]
    prefix = f"{name} " if name else ""
    for k, (lo, hi) in enumerate(pairs):
        shade = plt.cm.Blues(0.25 + 0.5 * k / max(len(pairs), 1)) if colour is None else colour
        ax.fill_between(t, b.sel(quantile=lo).values, b.sel(quantile=hi).values,
                        color=shade, linewidth=0, alpha=alpha,
                        label=(f"{prefix}{hi - lo:.0%} band ({lo:.0%}-{hi:.0%})"
                               if labelled else None))
    if 0.5 in qs:
        ax.plot(t, b.sel(quantile=0.5).values, color="black" if colour is None else colour,
                lw=1.5, label=f"{prefix}median" if labelled else None)


@dataclass(frozen=True)
class Series:
    """One series to chart: an output, labels of its dims summed, a title, units, direction.

    >>> Series("reserves", title="Reserves", units="usd", better="lower").label_units
    'US$ million'
    """

    output: str
    select: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    title: str = ""
    units: str = ""
    better: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "select", MappingProxyType(
            {d: tuple(v) for d, v in self.select.items()}))

    @property
    def label_units(self) -> str:
        """The unit as the y axis names it."""
        return scale_of(self.units)[1]

    @property
    def stem(self) -> str:
        """A file name stem for this series: the output and its selected labels."""
        picked = "_".join("_".join(v) for v in self.select.values())
        return f"{self.output}_{picked}" if picked else self.output


def _better(da: xr.DataArray, select: Mapping[str, tuple[str, ...]]) -> str | None:
    """The direction a series is better in: the output's, or the common one of its
    selected compartments (None where they differ)."""
    overall = da.attrs.get("better", "none")
    overall = None if overall in ("none", None, "") else str(overall)
    if "compartment" not in select:
        return overall
    by = json.loads(str(da.attrs.get("better_by_compartment", "{}")) or "{}")
    ways = {by.get(c, overall) for c in select["compartment"]}
    return ways.pop() if len(ways) == 1 else None


def series_of(ds: xr.Dataset, output: str,
              select: Mapping[str, tuple[str, ...]] | None = None, title: str = "") -> Series:
    """The series of *output* (labels in *select* summed) with the title, units and
    direction its Dataset attrs declare.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/fighters.toml")
    >>> ds = threatsim.run(sc, draws=4, progress=False)
    >>> series_of(ds, "population", {"compartment": ("active_local",)}).better
    'lower'
    """
    da = ds[output]
    chosen = dict(select or {})
    return Series(output=output, select=chosen,
                  title=title or str(da.attrs.get("title") or output.replace("_", " ")),
                  units=str(da.attrs.get("units", "")), better=_better(da, chosen))


def _summary(ds: xr.Dataset) -> bool:
    return ds.attrs.get("keep") == "summary"


def _pick(da: xr.DataArray, series: Series) -> xr.DataArray:
    """*da* with the series' labels summed and every other model dim summed."""
    for dim, labels in series.select.items():
        da = da.sel({dim: list(labels)}).sum(dim, keep_attrs=True)
    extra = [d for d in da.dims if d not in _KEPT]
    return da.sum(extra, keep_attrs=True) if extra else da


def series_values(ds: xr.Dataset, series: Series) -> xr.DataArray:
    """The series' values: sample dims and ``time`` (a summary run: ``quantile`` and ``time``).

    A full run sums the selected labels draw by draw. A summary run keeps exact
    bands of each cell and of the sum over every model dim only, so a series is
    there when it is one of those: a ScenarioError says so otherwise.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/fighters.toml")
    >>> ds = threatsim.run(sc, draws=20, progress=False)
    >>> active = headline_series(ds, sc)[0]
    >>> active.title, series_values(ds, active).dims
    ('Active fighters', ('draw', 'time'))
    """
    if series.output not in ds:
        raise ScenarioError(f"is not an output of this run ({', '.join(map(str, ds.data_vars))})",
                            key="series", value=series.output)
    da = ds[series.output]
    if not _summary(ds) or "quantile" not in da.dims:
        return _pick(da, series)
    cells = [str(d) for d in da.dims if d not in ("quantile", "time")]
    if not series.select and cells:
        total = f"{series.output}_sum"
        while total in ds and ds[total].dims != ("quantile", "time"):
            total += "_"
        if total in ds:
            return ds[total]
    if all(len(series.select.get(d, ())) == 1 for d in cells) and set(series.select) <= set(cells):
        return da.sel({d: series.select[d][0] for d in cells})
    raise ScenarioError("a summary run keeps bands of each cell and of the total only: run "
                        "with keep = \"draws\" to chart this sum", key="series",
                        value=f"{series.output} {dict(series.select)}")


def _available(ds: xr.Dataset, series: Series) -> bool:
    try:
        series_values(ds, series)
    except ScenarioError:
        return False
    return True


def monthly_outputs(ds: xr.Dataset) -> list[str]:
    """The run's monthly outputs (not parameters, a summary's standard errors and
    P(= 0); of a comparison, the compared outputs, not their differences).

    >>> ds = xr.Dataset({"reserves": ("time", [1.0]), "mcse_reserves": ("time", [0.1])})
    >>> ds["reserves"].attrs["title"] = "Reserves"
    >>> monthly_outputs(ds)
    ['reserves']
    """
    compared = json.loads(ds.attrs["compared"]) if "compared" in ds.attrs else None
    return [str(n) for n, v in ds.data_vars.items()
            if "time" in v.dims and (compared is None or n in compared)
            and v.attrs.get("role") != "parameter"
            and not str(n).startswith(("p_zero_", "mcse_")) and not str(n).endswith("_diff")
            and "title" in v.attrs and not _summary_total(ds, str(n))]


def _summary_total(ds: xr.Dataset, name: str) -> bool:
    """Whether *name* is a summary's band of an output's total (``population_sum``)."""
    base = name.rstrip("_").removesuffix("_sum")
    return _summary(ds) and name.rstrip("_").endswith("_sum") and base in ds


def headline_series(ds: xr.Dataset, scenario: Scenario) -> list[Series]:
    """The model's headline series that this run (or comparison) holds.

    Falls back to the first few monthly outputs when the model declares none
    (or the run holds none of them, as a summary run may).

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> [s.title for s in headline_series(threatsim.run(sc, draws=20, progress=False), sc)]
    ['Reserves', 'Revenue', 'Seized, frozen or found', 'Spending']
    """
    info = get_model(scenario.model).info
    found = [series_of(ds, h.output, h.select, h.title) for h in info.headline if h.output in ds]
    found = [s for s in found if _available(ds, s)]
    if found:
        return found
    fallback = [series_of(ds, n) for n in monthly_outputs(ds)]
    return [s for s in fallback if _available(ds, s)][:_FALLBACK]


def output_family_series(ds: xr.Dataset, name: str) -> list[Series]:
    """One output split by compartment, origin group or nationality: one series per entry.

    Other model dims are summed; origin groups and nationalities with nobody in
    them are left out (as the run table does). An output with none of those dims
    is one series.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/fighters.toml")
    >>> ds = threatsim.run(sc, draws=20, progress=False)
    >>> [s.title for s in output_family_series(ds, "population")][:2]
    ['active local', 'active foreign']
    """
    da = ds[name]
    splits = [d for d in _SPLIT_DIMS if d in da.dims]
    if not splits:
        return [series_of(ds, name)]
    out = []
    for combo in itertools.product(*(da[s].values for s in splits)):
        select = {d: (str(c),) for d, c in zip(splits, combo, strict=True)}
        s = series_of(ds, name, select, " ".join(str(c) for c in combo).replace("_", " "))
        if not _available(ds, s):
            continue
        if any(d in _SKIP_EMPTY for d in splits) and not bool(series_values(ds, s).any()):
            continue
        out.append(s)
    return out


def _bands_of(values: xr.DataArray, qs: Sequence[float]) -> xr.DataArray:
    if "quantile" in values.dims:
        return values.sel(quantile=list(qs))
    return bands(values, list(qs))


def _quantiles(ds: xr.Dataset, scenario: Scenario | None,
               quantiles: Sequence[float] | None) -> list[float]:
    qs = sorted(quantiles if quantiles is not None else
                (scenario.quantiles if scenario is not None else (0.05, 0.25, 0.5, 0.75, 0.95)))
    if _summary(ds) and "quantile" in ds.coords:
        kept = {float(q) for q in ds["quantile"].values}
        qs = [q for q in qs if q in kept] or sorted(kept)
    return qs


def _draws(ds: xr.Dataset) -> int:
    return int(ds.attrs.get("draws") or ds.sizes.get("draw", 0))


def _band_words(qs: Sequence[float]) -> str:
    widths = [f"{round(100 * (qs[-1 - i] - qs[i]))} %" for i in range(len(qs) // 2)][::-1]
    head = "median" if 0.5 in qs else ""
    if not widths:
        return head
    return f"{head}, {' and '.join(widths) if len(widths) < 3 else ', '.join(widths)} bands" \
        if head else f"{' and '.join(widths)} bands"


def _thousands(ax: Any) -> Callable[[float, Any], str]:
    def fmt(x: float, _pos: Any) -> str:
        locs = ax.yaxis.get_majorticklocs()
        step = float(np.min(np.diff(locs))) if len(locs) > 1 else 1.0
        decimals = 0 if step >= 1 or step <= 0 else min(3, int(np.ceil(-np.log10(step))))
        value = 0.0 if abs(x) < step * 1e-9 else x
        return f"{value:,.{decimals}f}"
    return fmt


def _style_axis(ax: Any, units: str) -> None:
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=7))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))  # type: ignore[no-untyped-call]
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=units == "people"))
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands(ax)))
    ax.set_ylabel(text(scale_of(units)[1]))
    ax.grid(True, color="0.88", lw=0.5)
    ax.tick_params(labelsize=8)


def _lever_changes(scenario: Scenario) -> list[tuple[str, str]]:
    """(month, "from YYYY-MM: lever a -> b, ...") for each timeline entry."""
    now = dict(scenario.levers)
    marks = []
    for entry in sorted(scenario.timeline, key=lambda e: e.at):
        parts = []
        for lever, value in entry.levers.items():
            before = now.get(lever)
            parts.append(f"{lever} {before:g} -> {value:g}" if before is not None
                         else f"{lever} {value:g}")
            now[lever] = value
        month = scenario.month_label(entry.at)
        marks.append((month, f"from {month}: {', '.join(parts)}"))
    return marks


def _event_windows(scenario: Scenario) -> list[tuple[str, str, str]]:
    """(first, last, text) for each event with a window."""
    out = []
    for name, event in dict(scenario.resolved.get("events", {}) or {}).items():
        window = event.get("window") if isinstance(event, Mapping) else None
        if not window or len(window) != 2:
            continue
        note = str(event.get("note") or "").strip()
        words = f"{name} window {window[0]} to {window[1]}" + (f": {note}" if note else "")
        out.append((str(window[0]), str(window[1]), words))
    return out


def _timeline(ax: Any, scenario: Scenario | None, *, labelled: bool) -> None:
    if scenario is None:
        return
    for first, last, words in _event_windows(scenario):
        end = np.datetime64(last, "M") + np.timedelta64(1, "M")
        ax.axvspan(month_x(first), month_x(str(end)), color="0.6", alpha=0.22, lw=0, zorder=0,
                   label=text(printable(words, 90)) if labelled else None)
    for month, words in _lever_changes(scenario):
        x = month_x(month)
        ax.axvline(x, color="#009E73", ls="--", lw=1.1,
                   label=text(printable(words, 70)) if labelled else None)
        ax.annotate(text(printable(words, 50)), (x, 0.98), xycoords=("data", "axes fraction"),
                    fontsize=6.5, rotation=90, va="top", ha="right", color="#00684c")


def chart_footnote(ds: xr.Dataset, scenario: Scenario) -> str:
    """The sources and the run a chart comes from, for its foot.

    The paragraphs are those of the sources the scenario's parameters cite; the
    date is the Dataset's ``created`` attr, or today.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = threatsim.run(sc, draws=20, seed=3, progress=False)
    >>> print(chart_footnote(ds, sc))  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
    Sources: S/2019/103 paras 12, 17; other ranges are analyst assumptions stated
    in the scenario. Run ..., 20 draws, seed 3, ....
    """
    paragraphs: dict[str, set[int]] = {}
    for p in scenario.parameters.values():
        if p.source and p.source in scenario.sources:
            src = scenario.sources[p.source]
            paragraphs.setdefault(src.document, set()).add(int(src.paragraph))
    if paragraphs:
        cited = "; ".join(
            f"{doc} para{'s' if len(ps) > 1 else ''} {', '.join(map(str, sorted(ps)))}"
            for doc, ps in sorted(paragraphs.items()))
        head = (f"Sources: {cited}; other ranges are analyst assumptions stated in the "
                "scenario.")
    else:
        head = "Sources: none cited; every range is an analyst assumption stated in the scenario."
    created = str(ds.attrs.get("created", ""))[:10] or _dt.date.today().isoformat()
    run_id = ds.attrs.get("run_id", scenario.run_id)
    return (f"{head} Run {run_id}, {_draws(ds):,} draws, seed {ds.attrs.get('seed')}, "
            f"{created}.")


def _foot(fig: Figure, words: str) -> None:
    import textwrap

    wrapped = "\n".join(textwrap.wrap(words, width=int(fig.get_figwidth() * 17)))
    fig.text(0.01, 0.01, text(wrapped), fontsize=6.5, color="0.25", ha="left", va="bottom")


def _subtitle(ds: xr.Dataset, scenario: Scenario | None, qs: Sequence[float]) -> str:
    name = label(scenario.name if scenario is not None else ds.attrs.get("scenario_name", ""))
    return f"{name} scenario: {_band_words(qs)} of {_draws(ds):,} draws"


def _draw_series(ax: Any, ds: xr.Dataset, series: Series, qs: Sequence[float],
                 scenario: Scenario | None, *, labelled: bool) -> None:
    scale, _ = scale_of(series.units)
    b = _bands_of(series_values(ds, series), qs) / scale
    draw_fan(ax, ds["time"].values, b, qs, labelled=labelled)
    _timeline(ax, scenario, labelled=labelled)
    _style_axis(ax, series.units)
    ax.set_ylim(bottom=min(0.0, float(b.min())))


def _finish(fig: Figure, ds: xr.Dataset, scenario: Scenario | None) -> None:
    foot = chart_footnote(ds, scenario) if scenario is not None else ""
    lines = max(1, -(-len(foot) // int(fig.get_figwidth() * 17))) if foot else 0
    bottom = (0.1 + 0.11 * lines) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 1))
    if foot:
        _foot(fig, foot)


def fan_figure(ds: xr.Dataset, series: Series, *, scenario: Scenario,
               quantiles: Sequence[float] | None = None) -> Figure:
    """One series' fan chart: nested bands and the median over the months.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = threatsim.run(sc, draws=50, progress=False)
    >>> fig = fan_figure(ds, headline_series(ds, sc)[0], scenario=sc)
    >>> len(fig.axes), fig.axes[0].get_title(loc="left")
    (1, 'Reserves')
    >>> plt.close(fig)
    """
    qs = _quantiles(ds, scenario, quantiles)
    fig, ax = plt.subplots(figsize=(7.5, 3.9))
    _draw_series(ax, ds, series, qs, scenario, labelled=True)
    ax.set_title(text(series.title), loc="left", fontsize=11, fontweight="bold", pad=15)
    ax.text(0.0, 1.01, _subtitle(ds, scenario, qs), transform=ax.transAxes, fontsize=7.5,
            color="0.3", va="bottom")
    ax.legend(loc="best", fontsize=7, frameon=True, framealpha=0.85)
    _finish(fig, ds, scenario)
    return fig


def family_figure(ds: xr.Dataset, family: Sequence[Series], *, scenario: Scenario,
                  quantiles: Sequence[float] | None = None) -> Figure:
    """One output split into its entries (:func:`output_family_series`): a median line
    and a light outer band per entry, on one axes.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/fighters.toml")
    >>> ds = threatsim.run(sc, draws=20, progress=False)
    >>> fig = family_figure(ds, output_family_series(ds, "population"), scenario=sc)
    >>> len(fig.axes)
    1
    >>> plt.close(fig)
    """
    if not family:
        raise ScenarioError("has no series to draw", key="family", value=[])
    qs = _quantiles(ds, scenario, quantiles)
    lo, hi = qs[0], qs[-1]
    fig, ax = plt.subplots(figsize=(7.5, 3.9))
    t = ds["time"].values
    units = family[0].units
    scale, _ = scale_of(units)
    for i, s in enumerate(family):
        b = _bands_of(series_values(ds, s), qs) / scale
        colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
        if len(family) <= 3:
            ax.fill_between(t, b.sel(quantile=lo).values, b.sel(quantile=hi).values,
                            color=colour, alpha=0.15, lw=0)
        mid = b.sel(quantile=0.5) if 0.5 in qs else b.mean("quantile")
        ax.plot(t, mid.values, color=colour, ls=_LINE_STYLES[(i // len(_LINE_COLOURS)) % 4],
                lw=1.5, label=text(printable(s.title, 40)))
    _timeline(ax, scenario, labelled=True)
    _style_axis(ax, units)
    ax.set_ylim(bottom=0.0)
    title = str(ds[family[0].output].attrs.get("title") or family[0].output)
    ax.set_title(text(title), loc="left", fontsize=11, fontweight="bold", pad=15)
    band = f"; {round(100 * (hi - lo))} % bands shaded" if len(family) <= 3 else ""
    ax.text(0.0, 1.01, f"{label(scenario.name)} scenario: medians of {_draws(ds):,} draws{band}",
            transform=ax.transAxes, fontsize=7.5, color="0.3", va="bottom")
    ax.legend(loc="best", fontsize=7, frameon=True, framealpha=0.85,
              ncol=2 if len(family) > 4 else 1)
    _finish(fig, ds, scenario)
    return fig


def overview_figure(ds: xr.Dataset, series_list: Sequence[Series], *,
                    scenario: Scenario) -> Figure:
    """At most six series in small panels (two columns): a run's default picture.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> ds = threatsim.run(sc, draws=50, progress=False)
    >>> fig = overview_figure(ds, headline_series(ds, sc), scenario=sc)
    >>> sum(ax.get_visible() for ax in fig.axes)
    4
    >>> plt.close(fig)
    """
    chosen = list(series_list)[:_PANELS]
    if not chosen:
        raise ScenarioError("has no series to draw", key="series", value=[])
    qs = _quantiles(ds, scenario, None)
    cols = 1 if len(chosen) == 1 else 2
    rows = -(-len(chosen) // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(5.0 * cols + 0.5, 2.7 * rows + 1.4),
                             squeeze=False, sharex=True)
    for k, s in enumerate(chosen):
        ax = grid[k // cols, k % cols]
        _draw_series(ax, ds, s, qs, scenario, labelled=k == 0)
        ax.set_title(text(s.title), loc="left", fontsize=9.5, fontweight="bold")
    for k in range(len(chosen), rows * cols):
        grid[k // cols, k % cols].set_visible(False)
    for k in range(max(0, len(chosen) - cols), len(chosen)):  # the lowest panel of a column
        grid[k // cols, k % cols].xaxis.set_tick_params(labelbottom=True)
    handles, labels = grid[0, 0].get_legend_handles_labels()
    fig.suptitle(_subtitle(ds, scenario, qs), fontsize=10, x=0.01, ha="left")
    foot = chart_footnote(ds, scenario)
    lines = max(1, -(-len(foot) // int(fig.get_figwidth() * 17)))
    legend_rows = -(-len(labels) // 3)
    bottom = (0.15 + 0.11 * lines + 0.17 * legend_rows) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 0.97))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, (0.1 + 0.11 * lines) / fig.get_figheight()))
    _foot(fig, foot)
    return fig


def comparison_figure(cds: xr.Dataset, series: Series, *, base: Scenario,
                      whatif: Scenario) -> Figure:
    """Base against what-if (left) and their paired difference (right), one series.

    *cds* comes from :func:`threatsim.compare`. Left: each scenario's median and
    outer band in its own colour, the bands see-through. Right: the fan of the
    draw-by-draw difference what-if - base, a line at zero, and which side of it
    is better.

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> other = sc.with_values({"levers.seizure_effort": 2.0})
    >>> cds = threatsim.compare(sc, other, draws=50, progress=False)
    >>> fig = comparison_figure(cds, headline_series(cds, sc)[0], base=sc, whatif=other)
    >>> len(fig.axes)
    2
    >>> plt.close(fig)
    """
    compared = json.loads(cds.attrs.get("compared", "[]"))
    if series.output not in compared or "time" not in cds[series.output].dims:
        raise ScenarioError(f"is not a monthly output of this comparison "
                            f"({', '.join(c for c in compared if 'time' in cds[c].dims)})",
                            key="series", value=series.output)
    qs = _quantiles(cds, base, None)
    lo, hi = qs[0], qs[-1]
    scale, unit_label = scale_of(series.units)
    t = cds["time"].values
    values = series_values(cds, series)
    diff_series = Series(f"{series.output}_diff", series.select)
    diff = series_values(cds, diff_series)
    better = series.better
    if not series.select:  # the comparison's own direction (an analyst may have set it)
        way = json.loads(cds.attrs.get("better", "{}") or "{}").get(series.output, better)
        better = None if way in (None, "none") else str(way)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.5, 4.0), sharex=True)
    for key, sc, colour in (("base", base, BASE_COLOUR), ("whatif", whatif, WHATIF_COLOUR)):
        b = _bands_of(values.sel(scenario=key), qs) / scale
        left.fill_between(t, b.sel(quantile=lo).values, b.sel(quantile=hi).values,
                          color=colour, alpha=0.2, lw=0,
                          label=f"{label(sc.name)}: {hi - lo:.0%} band")
        if 0.5 in qs:
            left.plot(t, b.sel(quantile=0.5).values, color=colour, lw=1.8,
                      ls="-" if key == "base" else "--", label=f"{label(sc.name)}: median")
    _timeline(left, whatif, labelled=False)
    _style_axis(left, series.units)
    left.set_title(text(series.title), loc="left", fontsize=11, fontweight="bold")
    left.legend(loc="best", fontsize=7, frameon=True, framealpha=0.85)
    db = _bands_of(diff, qs) / scale
    draw_fan(right, t, db, qs, labelled=True)
    right.axhline(0.0, color="black", lw=0.9)
    _timeline(right, whatif, labelled=False)
    _style_axis(right, series.units)
    direction = {"lower": "below 0 is better", "higher": "above 0 is better"}.get(
        str(better), "no direction declared")
    right.set_ylabel(text(f"what-if - base ({unit_label})"))
    right.set_title(f"paired difference ({direction})", loc="left", fontsize=9.5)
    right.legend(loc="best", fontsize=7, frameon=True, framealpha=0.85)
    fig.suptitle(f"{label(base.name)} against {label(whatif.name)}: {_draws(cds):,} draws "
                 "with common random numbers", fontsize=9, x=0.01, ha="left")
    foot = chart_footnote(cds, base)
    lines = max(1, -(-len(foot) // int(fig.get_figwidth() * 17)))
    fig.tight_layout(rect=(0, (0.1 + 0.11 * lines) / fig.get_figheight(), 1, 0.95))
    _foot(fig, foot)
    return fig
