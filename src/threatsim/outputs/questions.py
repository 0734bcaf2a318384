"""Answers to a scenario's headline questions (``[[questions]]``), answer first.

Each answer is the share of the run's draws in which the output, at the month,
is below (above) the level, worded on a named scale with its Monte Carlo
interval (:func:`threatsim.outputs.estimative.describe`: one term only when the
interval lies inside its band), and the parameters most worth finding out for
it (:func:`threatsim.analysis.information.information_value`), each with its
source paragraph or assumption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from threatsim.analysis.information import information_value
from threatsim.core.errors import ScenarioError
from threatsim.inputs.questions import ALL, Question
from threatsim.outputs.estimative import Estimate, Scale, describe

__all__ = ["Answer", "answer", "answers_text"]

#: The drivers are ranked only when at least this many draws answer yes, and as many no:
#: with fewer, a regression of a 0/1 outcome has next to nothing to go on.
MIN_EACH = 20
#: A parameter is listed only when knowing it would remove at least this share.
MIN_SHARE = 0.01
#: Provenance is cut to this many characters in the printed lines.
PROVENANCE_CHARS = 70


@dataclass(frozen=True, slots=True)
class Answer:
    """A question, its estimate in words, and what to find out next."""

    question: Question
    estimate: Estimate
    drivers: tuple[tuple[str, float, str], ...]  # (parameter, share of variance, provenance)


def _outcome(ds: xr.Dataset, q: Question) -> xr.DataArray:
    da = ds[q.output].isel(time=q.month)
    for dim, label in q.select:
        da = da.sum(dim) if label == ALL else da.sel({dim: label})
    return da


def answer(ds: xr.Dataset, q: Question, *, scale: Scale | str = "icd203",
           top: int = 3) -> Answer:
    """Answer *q* from the run *ds* (it needs every draw: a summary run cannot).

    >>> import threatsim
    >>> sc = threatsim.load_scenario("scenarios/financing.toml")
    >>> q = Question(id="low", text="", output="reserves", month=23, at="2020-12",
    ...              level=5e7, below=True, select=())
    >>> a = answer(threatsim.run(sc, draws=2000, seed=1, progress=False), q)
    >>> a.estimate.draws, a.drivers[0][0]
    (2000, 'reserves_initial')
    """
    if q.output not in ds.data_vars or "draw" not in ds[q.output].dims:
        raise ScenarioError("needs every draw of the run (keep = \"draws\"): a summary keeps "
                            "bands only", key=f"questions.{q.id}.output", value=q.output)
    da = _outcome(ds, q)
    if "replicate" in da.dims:
        da = da.mean("replicate")
    y = np.asarray(da.values, dtype=np.float64)
    hit = (y < q.level) if q.below else (y > q.level)
    estimate = describe(float(np.mean(hit)), int(hit.size), scale=scale)
    probe = xr.Dataset({"outcome": ("draw", hit.astype(np.float64))})
    for name, v in ds.data_vars.items():
        if v.attrs.get("role") == "parameter" and v.dims == ("draw",):
            probe[name] = v
    drivers: tuple[tuple[str, float, str], ...] = ()
    hits = int(hit.sum())
    if min(hits, hit.size - hits) >= MIN_EACH and len(probe.data_vars) > 1:
        voi = information_value(probe, "outcome")
        drivers = tuple((str(p), float(s), str(v)) for p, s, v in zip(
            voi["parameter"].values, voi["share"].values, voi["provenance"].values,
            strict=True) if s >= MIN_SHARE)[:top]
    return Answer(question=q, estimate=estimate, drivers=drivers)


def _short(text: str) -> str:
    text = text or "no provenance recorded"
    return text if len(text) <= PROVENANCE_CHARS else text[:PROVENANCE_CHARS - 1] + "…"


def answers_text(answers: Sequence[Answer]) -> str:
    """The answers as the lines ``threatsim run`` prints first.

    >>> from threatsim.outputs.estimative import describe
    >>> q = Question(id="low", text="Reserves under $50M?", output="reserves", month=23,
    ...              at="2020-12", level=5e7, below=True, select=())
    >>> print(answers_text([Answer(q, describe(0.62, 10_000), (("reserves_initial", 0.5,
    ...                            "S/2019/103 para 12"),))]))
    Questions (ICD 203 scale; US Intelligence Community Directive 203, Analytic Standards (2015))
      low: Reserves under $50M? (reserves below 50,000,000 in 2020-12)
        likely (62 %; 95 % Monte Carlo interval 61-63 %, ICD 203 scale)
        most worth finding out (share of the answer's variance it would remove):
          reserves_initial: 50 %; S/2019/103 para 12
    """
    if not answers:
        return ""
    scale = answers[0].estimate.scale
    lines = [f"Questions ({scale.name} scale; {scale.citation})"]
    for a in answers:
        q = a.question
        head = f"{q.text} ({q.what()})" if q.text else q.what()
        lines.append(f"  {q.id}: {head}")
        lines.append(f"    {a.estimate.text()}")
        if a.drivers:
            lines.append("    most worth finding out (share of the answer's variance "
                         "it would remove):")
            lines += [f"      {name}: {share * 100:.0f} %; {_short(prov)}"
                      for name, share, prov in a.drivers]
        else:
            lines.append("    most worth finding out: not ranked (too few draws answer it one "
                         "way, or no single parameter moves it)")
    return "\n".join(lines)
