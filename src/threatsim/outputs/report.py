"""The brief: one self-contained HTML page a planner can hand to a decision maker.

``threatsim report SCENARIO [WHATIF ...] --out brief.html`` (and :func:`brief` in
Python) runs the scenario and writes, answer first:

1. the headline questions (``[[questions]]`` or ``--question``), each a probability
   with its Monte Carlo interval, in words on a named scale
   (:mod:`threatsim.outputs.estimative`), and the parameters most worth finding
   out for it (:mod:`threatsim.analysis.information`);
2. one fan chart per headline series the model declares (and per question's
   output), with its bands at the report months in a table;
3. per what-if, the paired differences against the base (common random
   numbers): bands of the difference, P(better) in the direction the model
   declares, and which differences are within Monte Carlo noise;
4. every parameter's reading, range and source paragraph with its quote, or its
   assumption sentence;
5. forecast skill against observations (``--obs``) and the calibration
   diagnostics of a posterior (``--posterior``).

The page needs nothing but itself: figures are inline SVG (each with a title a
screen reader reads), the style sheet is inline, there is no script, no font
and no request; it prints to PDF from a browser (figures and tables are not
split across pages). Every number that comes from the run is in an element
with ``data-value`` (the unrounded value) beside the text a reader sees, so a
test can check the page against the Dataset.

Why our own HTML rather than a report library: the page is a few hundred lines
of plain markup, and what matters here (the numbers, their rounding and their
Monte Carlo error) is the product; a templating engine would add a dependency
for string formatting that :mod:`html` escaping does safely.
"""

from __future__ import annotations

import datetime as _dt
import html
import io
import json
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from threatsim.analysis.compare import (
    NOISE_SE,
    check_comparable,
    compare,
    difference_verdict,
    scenario_changes,
)
from threatsim.core.atomic import atomic_path
from threatsim.core.errors import ScenarioError
from threatsim.core.formatting import format_band, format_value
from threatsim.core.version import __version__
from threatsim.engine.executors import ExecutorArg
from threatsim.engine.runner import run
from threatsim.inputs.questions import ALL, Question
from threatsim.inputs.scenario import Scenario, load_scenario
from threatsim.outputs.charts import (
    Series,
    comparison_figure,
    fan_figure,
    headline_series,
    series_of,
    series_values,
)
from threatsim.outputs.estimative import SCALES, Scale, describe, percent
from threatsim.outputs.leaderboard import leaderboard
from threatsim.outputs.observations import load_observations
from threatsim.outputs.plotting_calibration import posterior_chart
from threatsim.outputs.questions import Answer, answer
from threatsim.results import open_results, sample_dims

__all__ = ["Brief", "WhatIf", "brief", "brief_from_run", "parse_question", "write_brief"]

#: The bands a brief's tables show (the fan charts show the scenario's own).
TABLE_QUANTILES = (0.05, 0.5, 0.95)
#: The what-if table shows the last this many report months (the band tables show all).
WHATIF_MONTHS = 3


@dataclass(frozen=True, slots=True)
class WhatIf:
    """A what-if scenario and its paired comparison with the base (:func:`compare`)."""

    scenario: Scenario
    comparison: xr.Dataset


@dataclass(frozen=True)
class Brief:
    """Everything a brief shows; :meth:`html` writes the page."""

    scenario: Scenario
    dataset: xr.Dataset
    answers: tuple[Answer, ...]
    series: tuple[Series, ...]
    whatifs: tuple[WhatIf, ...] = ()
    board: xr.Dataset | None = None
    posterior: xr.Dataset | None = None
    scale: Scale = SCALES["icd203"]
    created: str = field(default_factory=lambda: _dt.date.today().isoformat())

    def html(self) -> str:
        """The page, as one string."""
        return _render(self)


# -- questions from the command line ------------------------------------------------------

_QUESTION = re.compile(r"^\s*(?P<output>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\[(?P<dims>[^\]]*)\])?"
                       r"\s*(?P<op><|>)\s*(?P<level>[^@\s]+)\s*@\s*(?P<at>\S+)\s*$")


def parse_question(text: str, index: int = 1) -> dict[str, Any]:
    """A ``--question`` as a ``[[questions]]`` entry: ``OUTPUT[DIM=LABEL,...]<LEVEL@YYYY-MM``
    (``>`` for above); the scenario then checks it as it checks its own.

    >>> parse_question("reserves<50e6@2020-12")
    {'id': 'q1', 'output': 'reserves', 'at': '2020-12', 'below': 50000000.0}
    >>> parse_question("detained_foreign[region=all]>2000@2020-06", 2)["region"]
    'all'
    >>> parse_question("reserves below 5")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    threatsim.core.errors.ScenarioError: --question='reserves below 5' must be OUTPUT<LEVEL@...
    """
    m = _QUESTION.match(text)
    expected = ("must be OUTPUT<LEVEL@YYYY-MM or OUTPUT[DIM=LABEL,...]>LEVEL@YYYY-MM, "
                "e.g. reserves<50e6@2020-12")
    if m is None:
        raise ScenarioError(expected, key="--question", value=text)
    try:
        level = float(m["level"].replace("_", ""))
    except ValueError:
        raise ScenarioError(f"{expected} (the level is a number)", key="--question",
                            value=text) from None
    entry: dict[str, Any] = {"id": f"q{index}", "output": m["output"], "at": m["at"],
                             "below" if m["op"] == "<" else "above": level}
    for part in filter(None, (s.strip() for s in (m["dims"] or "").split(","))):
        dim, eq, label = part.partition("=")
        if not eq or not dim.strip() or not label.strip():
            raise ScenarioError(f"{expected} (each dim as DIM=LABEL)", key="--question",
                                value=text)
        entry[dim.strip()] = label.strip()
    return entry


def _with_questions(scenario: Scenario, extra: Sequence[str]) -> Scenario:
    if not extra:
        return scenario
    entries = list(scenario.resolved.get("questions", []))
    taken = {str(e.get("id")) for e in entries if isinstance(e, Mapping)}
    n = 0
    for text in extra:
        n += 1
        while f"q{n}" in taken:
            n += 1
        entries.append(parse_question(text, n))
    return scenario.with_values({"questions": entries})


# -- building ------------------------------------------------------------------------------

def brief(
    scenario: Scenario | str | os.PathLike[str],
    whatifs: Sequence[Scenario | str | os.PathLike[str]] = (),
    *,
    questions: Sequence[str] = (),
    observations: str | os.PathLike[str] | None = None,
    posterior: str | os.PathLike[str] | None = None,
    draws: int | None = None,
    seed: int | None = None,
    scale: str = "icd203",
    executor: ExecutorArg = None,
    progress: bool | None = False,
) -> Brief:
    """Run *scenario* (every draw kept) and each what-if against it, and gather a brief.

    *questions* are ``--question`` strings added to the scenario's own
    (:func:`parse_question`); *observations* an observation file to score the
    run against; *posterior* a posterior file (``threatsim calibrate --out``)
    that both the run and the what-ifs draw their parameters from.

    >>> b = brief("scenarios/financing.toml", questions=["reserves<50e6@2020-12"],
    ...           draws=400, seed=1)
    >>> b.answers[0].question.what(), b.dataset.sizes["draw"]
    ('reserves below 50,000,000 in 2020-12', 400)
    >>> "<h2 id=\\"questions\\">" in b.html()
    True
    """
    if scale not in SCALES:
        raise ScenarioError(f"must be one of {', '.join(SCALES)}", key="--scale", value=scale)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    sc = _with_questions(sc, questions)
    others = [w if isinstance(w, Scenario) else load_scenario(w) for w in whatifs]
    for w in others:
        check_comparable(sc, w)  # before any draw
    ds = run(sc, draws=draws, seed=seed, keep="draws", executor=executor, progress=progress,
             posterior=posterior)
    pairs = []
    for w in others:
        cds = compare(sc, w, draws=ds.sizes["draw"], seed=int(ds.attrs["seed"]),
                      executor=executor, progress=progress, posterior=posterior,
                      base_run=ds)  # the run above, not a second one
        pairs.append(WhatIf(scenario=w, comparison=cds))
    return brief_from_run(sc, ds, whatifs=pairs, observations=observations,
                          posterior=posterior, scale=scale)


def brief_from_run(scenario: Scenario, ds: xr.Dataset, *, whatifs: Sequence[WhatIf] = (),
                   observations: str | os.PathLike[str] | None = None,
                   posterior: str | os.PathLike[str] | None = None,
                   scale: str = "icd203", answers: Sequence[Answer] | None = None) -> Brief:
    """A brief of a run already made (``threatsim run --brief``), with every draw kept;
    *answers* are the scenario's questions answered already (else answered here).

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> b = brief_from_run(sc, threatsim.run(sc, draws=200, seed=1))
    >>> [s.title for s in b.series][:1]
    ['Reserves']
    """
    if "draw" not in ds.dims or ds.attrs.get("keep") == "summary":
        raise ScenarioError("a brief needs every draw of the run (keep = \"draws\"): a summary "
                            "keeps bands only", key="keep", value="summary")
    if answers is None or [a.question for a in answers] != list(scenario.questions):
        answers = [answer(ds, q, scale=scale) for q in scenario.questions]
    series = list(headline_series(ds, scenario))
    for q in scenario.questions:  # a question's own output gets a chart too
        select: dict[str, tuple[str, ...]] = {dim: (label,) for dim, label in q.select
                                              if label != ALL}
        if not any(s.output == q.output and dict(s.select) == select for s in series):
            series.append(_question_series(ds, q, select))
    board = None
    if observations is not None:
        board = leaderboard(ds, load_observations(Path(observations), against=ds))
    post = open_results(posterior) if posterior is not None else None
    return Brief(scenario=scenario, dataset=ds, answers=tuple(answers), series=tuple(series),
                 whatifs=tuple(whatifs), board=board, posterior=post, scale=SCALES[scale])


def _question_series(ds: xr.Dataset, q: Question, select: dict[str, tuple[str, ...]]) -> Series:
    where = ", ".join(label for _, label in q.select if label != ALL)
    title = str(ds[q.output].attrs.get("title", q.output)) + (f" ({where})" if where else "")
    return series_of(ds, q.output, select, title)


def write_brief(b: Brief, path: str | os.PathLike[str]) -> Path:
    """Write the page to *path* (whole or not at all), and return it."""
    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ScenarioError("must be an .html file", key="--out", value=target)
    page = b.html()
    with atomic_path(target, ".html") as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return target


# -- rendering -----------------------------------------------------------------------------

def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float, shown: str, **data: object) -> str:
    """A number as a reader sees it, with its unrounded value for a checker."""
    extra = "".join(f' data-{k.replace("_", "-")}="{_e(v)}"' for k, v in data.items())
    raw = "nan" if not math.isfinite(value) else repr(float(value))
    return f'<span class="num" data-value="{raw}"{extra}>{_e(shown)}</span>'


def _fmt(value: float, units: str) -> str:
    if not math.isfinite(value):
        return "-"
    if units == "people" or units.startswith("usd"):  # whole people; money in $M, 0.1 apart
        return format_band(value, units)
    return format_value(value, units)


def _pct(p: float) -> str:
    return f"{percent(p)} %" if math.isfinite(p) else "-"


def _svg(fig: Any, alt: str, tag: str) -> str:
    """A matplotlib figure as inline SVG with a title (its alt text); its element ids (and
    the references to them) get the prefix *tag*, since every matplotlib SVG calls its
    groups ``figure_1``, ``axes_1``... and one page holds many."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": tag}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{tag}-{m[1]}"', text)
    text = re.sub(r"#([A-Za-z_][\w.\-]*)",
                  lambda m: f"#{tag}-{m[1]}" if m[1] in ids else m[0], text)
    text = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"',
                  rf'<svg\1 role="img" aria-labelledby="{tag}-title" class="chart"', text,
                  count=1)
    head_end = text.index(">") + 1
    return text[:head_end] + f'<title id="{tag}-title">{_e(alt)}</title>' + text[head_end:]


def _months(ds: xr.Dataset, scenario: Scenario) -> list[int]:
    n = ds.sizes["time"]
    months = [i for i in scenario.report_months if 0 < i < n]
    return months or [n - 1]


def _label(ds: xr.Dataset, i: int) -> str:
    return str(np.datetime64(ds["time"].values[i], "M"))


def _band_table(b: Brief, s: Series) -> str:
    da = series_values(b.dataset, s)
    dims = sample_dims(da)
    rows = []
    for i in _months(b.dataset, b.scenario):
        month = _label(b.dataset, i)
        x = da.isel(time=i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q = x.quantile(list(TABLE_QUANTILES), dim=dims)
        cells = "".join(
            f"<td>{_num(float(v), _fmt(float(v), s.units), series=s.output, month=month, quantile=qq)}</td>"  # noqa: E501
            for qq, v in zip(TABLE_QUANTILES, q.values, strict=True))
        rows.append(f"<tr><th scope=\"row\">{month}</th>{cells}</tr>")
    head = "".join(f"<th scope=\"col\">{q:.0%}</th>" for q in TABLE_QUANTILES)
    return (f'<table class="bands" data-series="{_e(s.output)}" '
            f'data-select="{_e(json.dumps({k: list(v) for k, v in s.select.items()}))}">'
            f"<caption>{_e(s.title)} ({_e(_unit_words(s.units))}): median and 90 % band "
            f"of {b.dataset.sizes['draw']:,} draws</caption>"
            f"<thead><tr><th scope=\"col\">month</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _unit_words(units: str) -> str:
    return {"usd": "US dollars", "usd_per_month": "US dollars a month", "people": "people",
            "days": "days", "months": "months"}.get(units, units)


def _answers(b: Brief) -> str:
    if not b.answers:
        return ("<p class=\"note\">This scenario declares no headline questions. Add them as "
                "<code>[[questions]]</code> in the scenario file, or with <code>--question "
                "OUTPUT&lt;LEVEL@YYYY-MM</code> (see docs/analysis.md, “Headline "
                "questions”).</p>")
    out = []
    for a in b.answers:
        q, est = a.question, a.estimate
        out.append(f'<article class="answer" id="q-{_e(q.id)}" data-question="{_e(q.id)}">')
        out.append(f"<h3>{_e(q.text or q.what())}</h3>")
        out.append(f"<p class=\"what\">{_e(q.what())}</p>")
        out.append(f"<p class=\"verdict\"><strong>{_e(est.words.capitalize())}</strong>: "
                   f"{_num(est.probability, _pct(est.probability), question=q.id)} of "
                   f"{est.draws:,} draws (95 % Monte Carlo interval "
                   f"{_num(est.low, _pct(est.low), bound='low')} to "
                   f"{_num(est.high, _pct(est.high), bound='high')}).</p>")
        if not est.settled:
            more = (f"about {est.draws_to_settle:,} draws in all would settle the term"
                    if est.draws_to_settle is not None else
                    "the estimate sits on the edge between the two terms: more draws would "
                    "not settle it")
            out.append(f"<p class=\"unsettled\">The Monte Carlo interval spans two terms of "
                       f"the scale, so both are given; {_e(more)}.</p>")
        if a.drivers:
            items = "".join(
                f"<li><code>{_e(name)}</code>: "
                f"{_num(share, f'{share * 100:.0f} %', parameter=name)} of the answer's "
                f"variance; {_e(prov)}</li>" for name, share, prov in a.drivers)
            out.append("<p>Most worth finding out (the share of the answer's variance that "
                       f"knowing it would remove):</p><ol class=\"drivers\">{items}</ol>")
        else:
            out.append("<p>Most worth finding out: not ranked (too few draws answer it one way, "
                       "or no single parameter moves it).</p>")
        out.append("</article>")
    return "\n".join(out)


def _outlook(b: Brief) -> str:
    out = []
    for i, s in enumerate(b.series):
        fig = fan_figure(b.dataset, s, scenario=b.scenario)
        alt = (f"Fan chart of {s.title} ({_unit_words(s.units)}) from "
               f"{_label(b.dataset, 0)} to {_label(b.dataset, b.dataset.sizes['time'] - 1)}: "
               "median and bands over the draws")
        out.append(f'<figure class="fan" data-series="{_e(s.output)}">{_svg(fig, alt, f"fan{i}")}'
                   f"<figcaption>{_e(s.title)}, {_e(b.scenario.name)} scenario.</figcaption>"
                   "</figure>")
        out.append(_band_table(b, s))
    return "\n".join(out)


def _direction(better: str | None) -> str:
    return {"lower": "lower is better", "higher": "higher is better"}.get(
        better or "", "no direction declared")


def _whatif(b: Brief, w: WhatIf, k: int) -> str:
    cds = w.comparison
    base = cds.sel(scenario="base")
    what = cds.sel(scenario="whatif")
    n = cds.sizes["draw"]
    out = [f'<section class="whatif" data-whatif="{_e(w.scenario.name)}">',
           f"<h3>{_e(w.scenario.name)}: {_e(w.scenario.description)}</h3>"]
    changes = scenario_changes(b.scenario, w.scenario)
    if changes:
        items = "".join(f"<li><code>{_e(k)}</code>: {_e(json.dumps(old))} → "
                        f"{_e(json.dumps(new))}</li>" for k, old, new in changes)
        out.append(f"<p>What it changes:</p><ul class=\"changes\">{items}</ul>")
    out.append(f"<p>Both runs share {n:,} draws with common random numbers: draw by draw they "
               "see the same parameter values and the same chance wherever the scenarios "
               "agree, so the difference below is paired.</p>")
    rows = []
    effect: dict[int, float] = {}  # series -> largest |median difference| / |base median|
    months = _months(b.dataset, b.scenario)[-WHATIF_MONTHS:]
    for j, s in enumerate(b.series):
        if s.output not in cds.data_vars or "scenario" not in cds[s.output].dims:
            continue
        xa, xb = series_values(base, s), series_values(what, s)
        diff = xb - xa
        dims = sample_dims(diff)
        for i in months:
            d = diff.isel(time=i)
            valid = np.asarray(d.values, dtype=float)
            valid = valid[np.isfinite(valid)]
            if valid.size == 0:
                continue
            month = _label(b.dataset, i)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                qs = d.quantile(list(TABLE_QUANTILES), dim=dims).values
                med_a = float(xa.isel(time=i).median(dims))
                med_b = float(xb.isel(time=i).median(dims))
            key = {"series": s.output, "month": month}
            effect[j] = max(effect.get(j, 0.0), abs(float(qs[1])) / max(abs(med_a), 1e-9))
            verdict = difference_verdict(valid)  # the same test as compare's table
            same = verdict == "no change"
            if s.better is None or same:
                pb_cell = "-"
            else:
                gain = valid < 0 if s.better == "lower" else valid > 0
                pb = float(gain.mean())
                est = describe(pb, int(valid.size), scale=b.scale)
                pb_cell = f"{_num(pb, _pct(pb), **key, kind='p_better')} ({_e(est.words)})"
            if same:
                mark = '<span class="noise">no change in any draw</span>'
            elif verdict == "noise":
                mark = '<span class="noise">within Monte Carlo noise</span>'
            else:
                mark = "clear"
            diff_cells = "".join(
                "<td>" + _num(float(v), _signed(float(v), s.units), **key, quantile=q,
                              kind="diff") + "</td>"
                for q, v in zip(TABLE_QUANTILES, qs, strict=True))
            rows.append(
                f"<tr><th scope=\"row\">{_e(s.title)}</th><td>{month}</td>"
                f"<td>{_num(med_a, _fmt(med_a, s.units), **key, kind='base')}</td>"
                f"<td>{_num(med_b, _fmt(med_b, s.units), **key, kind='whatif')}</td>"
                f"{diff_cells}<td>{_e(_direction(s.better))}</td><td>{pb_cell}</td>"
                f"<td>{mark}</td></tr>")
    head = ("<tr><th scope=\"col\">series</th><th scope=\"col\">month</th>"
            "<th scope=\"col\">base median</th><th scope=\"col\">what-if median</th>"
            + "".join(f"<th scope=\"col\">difference {q:.0%}</th>" for q in TABLE_QUANTILES)
            + "<th scope=\"col\">better is</th><th scope=\"col\">P(what-if better)</th>"
            "<th scope=\"col\">against noise</th></tr>")
    out.append(f'<table class="diffs"><caption>What-if minus base, draw by draw. '
               f"“Within Monte Carlo noise”: the mean paired difference is within "
               f"{NOISE_SE:g} standard errors of zero, so these draws cannot tell it from no "
               f"change.</caption><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>")
    # the two series the what-if moves most, drawn (none when it moves nothing)
    drawn = sorted((j for j, e in effect.items() if e > 0), key=lambda j: -effect[j])[:2]
    for i, j in enumerate(drawn):
        s = b.series[j]
        fig = comparison_figure(cds, s, base=b.scenario, whatif=w.scenario)
        alt = (f"{s.title}: base and what-if {w.scenario.name} bands, and their paired "
               "difference over time")
        svg = _svg(fig, alt, f"w{k}c{i}")
        out.append(f'<figure class="comparison">{svg}<figcaption>{_e(s.title)}: '
                   f"{_e(w.scenario.name)} against {_e(b.scenario.name)}.</figcaption></figure>")
    out.append("</section>")
    return "\n".join(out)


def _signed(value: float, units: str) -> str:
    """A paired difference: whole people, money to three significant digits (a difference
    of $754 is not "$0.0M")."""
    if not math.isfinite(value):
        return "-"
    text = (format_band(abs(value), units) if units == "people"
            else format_value(abs(value), units))
    return text if value == 0 or text == "-" else ("+" if value > 0 else "-") + text


def _reading(p: Any) -> str:
    d = p.dist
    unit = p.unit
    if d.kind == "point":
        return f"fixed at {_fmt(float(d.value), unit)}"
    if d.kind == "discrete":
        return "one of " + ", ".join(f"{v:g}" for v in d.values)
    low, high = _fmt(float(d.low), unit), _fmt(float(d.high), unit)
    text = {"uniform": f"uniform from {low} to {high}",
            "triangular": f"triangular from {low} to {high}",
            "lognormal90": f"log-normal with 90 % of draws between {low} and {high}",
            "normal90": f"normal with 90 % of draws between {low} and {high}"}.get(
        d.kind, f"{d.kind} from {low} to {high}")
    if d.kind == "triangular" and d.mode is not None:
        text += f", most likely {_fmt(float(d.mode), unit)}"
    return text


def _sources_table(b: Brief) -> str:
    sc = b.scenario
    rows = []
    for name, p in sc.parameters.items():
        if p.source is not None and p.source in sc.sources:
            s = sc.sources[p.source]
            where = (f"{_e(s.citation())}: “{_e(s.quote)}”"
                     + (f"<br><em>Range:</em> {_e(p.range_assumption)}"
                        if p.range_assumption else ""))
        else:
            where = f"<em>Assumption:</em> {_e(p.assumption or p.provenance(sc.sources))}"
        rows.append(f"<tr><th scope=\"row\"><code>{_e(name)}</code></th>"
                    f"<td>{_e(p.unit)}</td><td>{_e(_reading(p))}</td><td>{where}</td></tr>")
    levers = "".join(f"<li><code>{_e(k)}</code> = {v:g}</li>" for k, v in sc.levers.items())
    timeline = "".join(
        f"<li>from {_e(sc.month_label(t.at))}: "
        + ", ".join(f"<code>{_e(k)}</code> = {v:g}" for k, v in t.levers.items())
        + (f" ({_e(t.note)})" if t.note else "") + "</li>" for t in sc.timeline)
    return ("<table class=\"sources\"><caption>Every sampled input: how its range is read, and "
            "the paragraph and words it comes from, or the assumption behind it.</caption>"
            "<thead><tr><th scope=\"col\">parameter</th><th scope=\"col\">unit</th>"
            "<th scope=\"col\">reading</th><th scope=\"col\">source or assumption</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>"
            f"<h3>Policy levers</h3><ul class=\"levers\">{levers}</ul>"
            + (f"<h3>Lever changes over time</h3><ul>{timeline}</ul>" if timeline else ""))


def _skill(board: xr.Dataset) -> str:
    cols = [("crps", "CRPS (lower is better)"), ("skill_persistence",
                                                 "skill vs persistence (higher is better)"),
            ("median", "forecast median"), ("q05", "forecast 5 %"), ("q95", "forecast 95 %")]
    rows = []
    for j, oid in enumerate(str(o) for o in board["observation"].values):
        lo, hi = float(board["low"][j]), float(board["high"][j])
        fig = (f"{lo:,.6g}" if lo == hi else f"{lo:,.6g} to {hi:,.6g}")
        cells = "".join(
            f"<td>{_num(float(board[c][j]), f'{float(board[c][j]):,.4g}', observation=oid, score=c)}</td>"  # noqa: E501
            for c, _ in cols if c in board)
        rows.append(f"<tr><th scope=\"row\">{_e(oid)}</th><td>{_e(board['variable'][j].item())}"
                    f"</td><td>{_e(board['month'][j].item())}</td><td>{_e(fig)}</td>"
                    f"<td>{_e(board['source'][j].item())}</td>{cells}</tr>")
    head = "".join(f"<th scope=\"col\">{_e(t)}</th>" for c, t in cols if c in board)
    return ("<table class=\"skill\"><caption>The run scored against what was reported later "
            f"({_e(board.attrs.get('observations_file', ''))}; docs/scoring.md).</caption>"
            "<thead><tr><th scope=\"col\">observation</th><th scope=\"col\">output</th>"
            "<th scope=\"col\">month</th><th scope=\"col\">reported</th>"
            f"<th scope=\"col\">source</th>{head}</tr></thead><tbody>{''.join(rows)}"
            "</tbody></table>")


def _calibration(post: xr.Dataset) -> str:
    from threatsim.outputs.calibration import calibration_report

    alt = "Prior and posterior 90 % intervals of the calibrated parameters"
    return (f"<pre class=\"diagnostics\">{_e(calibration_report(post))}</pre>"
            f"<figure class=\"posterior\">{_svg(posterior_chart(post), alt, 'posterior')}"
            f"<figcaption>{_e(alt)}.</figcaption></figure>")


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #1f4e79;padding-bottom:.2rem;
margin-top:2.2rem}.meta{color:#444;font-size:.9rem}code{font-size:.9em}
.answer{border-left:4px solid #1f4e79;padding:.2rem 1rem;margin:1rem 0;background:#f4f7fb}
.verdict{font-size:1.15rem}.what{color:#444;font-size:.9rem;margin:0}
.unsettled{color:#7a4a00}.noise{color:#7a4a00}
table{border-collapse:collapse;margin:.6rem 0 1.4rem;font-size:.88rem;width:100%}
caption{text-align:left;color:#333;padding:.3rem 0;font-size:.88rem}
th,td{border-bottom:1px solid #ccc;padding:.25rem .5rem;text-align:right;vertical-align:top}
th[scope=row],td:first-child{text-align:left}table.sources td{text-align:left}
.num,table.diffs td:nth-child(2){white-space:nowrap}
figure{margin:1rem 0}svg.chart{width:100%;height:auto}figcaption{font-size:.8rem;color:#444}
pre{white-space:pre-wrap;font-size:.78rem;background:#f6f6f6;padding:.6rem}
@media print{body{max-width:none;margin:0}h2{break-after:avoid}
figure,table,.answer{break-inside:avoid}a{color:inherit}}
"""


def _render(b: Brief) -> str:
    sc, ds = b.scenario, b.dataset
    n = ds.sizes["draw"]
    end = _label(ds, ds.sizes["time"] - 1)
    posterior = (f", parameters drawn from posterior {_e(ds.attrs['posterior_id'])}"
                 if "posterior_id" in ds.attrs else "")
    scale = b.scale
    bands = ", ".join(f"{t} {_band(scale, i)}" for i, t in enumerate(scale.terms))
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # no request may leave the page: nothing but inline content and data: URLs
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(sc.name)}: threatsim brief</title>", f"<style>{_STYLE}</style>",
        "</head>", "<body>",
        f"<header><h1>{_e(sc.description or sc.name)}</h1>",
        f"<p class=\"meta\">Scenario <code>{_e(sc.name)}</code> (model {_e(sc.model)}), "
        f"{_e(sc.month_label(0))} to {_e(end)}; {n:,} draws, seed {_e(ds.attrs.get('seed'))}, "
        f"sampler {_e(ds.attrs.get('sampler'))}{posterior}; run id "
        f"<code>{_e(ds.attrs.get('run_id'))}</code>; threatsim {_e(__version__)}; "
        f"{_e(b.created)}.</p>",
        f"<p class=\"meta\">Probabilities are worded on the {_e(scale.name)} scale "
        f"({_e(scale.citation)}): {_e(bands)}. A single term is used only when the "
        "probability's 95 % Monte Carlo interval lies inside its band.</p></header>",
        "<main>",
        '<h2 id="questions">Headline questions</h2>', _answers(b),
        '<h2 id="outlook">Outlook</h2>',
        "<p>Each chart shows the median and the bands over the draws; shaded spans are the "
        "windows of events the scenario declares, labelled lines its lever changes.</p>",
        _outlook(b),
    ]
    if b.whatifs:
        parts += ['<h2 id="whatifs">What-ifs</h2>',
                  *(_whatif(b, w, k) for k, w in enumerate(b.whatifs))]
    if b.board is not None:
        parts += ['<h2 id="skill">Forecast skill</h2>', _skill(b.board)]
    if b.posterior is not None:
        parts += ['<h2 id="calibration">Calibration</h2>', _calibration(b.posterior)]
    parts += ['<h2 id="sources">Sources and assumptions</h2>', _sources_table(b),
              "</main>",
              f"<footer class=\"meta\"><p>Made by threatsim {_e(__version__)} from "
              f"<code>{_e(Path(sc.path).name if sc.path else sc.name)}</code>. The figures of "
              "S/2019/103 are those of the Secretary-General's eighth report on the threat "
              "posed by ISIL, prepared by the Counter-Terrorism Committee Executive "
              "Directorate and the Analytical Support and Sanctions Monitoring Team (para 2); "
              "every other range is an assumption stated above.</p></footer>",
              "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _band(scale: Scale, i: int) -> str:
    lo, hi = scale.edges[i], scale.edges[i + 1]
    return f"{lo * 100:g}-{hi * 100:g} %"

