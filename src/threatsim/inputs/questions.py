"""A scenario's headline questions (``[[questions]]``), validated.

Each question asks for the probability that one output, at one month, is below
or above a level: "reserves below $50M in 2020-12", "trial backlog at most 100 in
2021-01" (``below = 100.5`` for whole people), "more than 2,000 foreign fighters
held in 2020-06". An output with dims besides time names each one, as an
observation does: a label, or ``"all"`` to sum over them. The answers
(:mod:`threatsim.outputs.questions`) come first in what ``threatsim run`` prints.

    [[questions]]
    id = "reserves_low"
    text = "Will ISIL's reserves fall below $50 million by December 2020?"
    output = "reserves"
    at = "2020-12"
    below = 50_000_000
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from threatsim.core.months import month_index, parse_month
from threatsim.inputs.validation import Header, Problems

__all__ = ["QUESTION_KEYS", "Question", "check_questions"]

#: Keys of a ``[[questions]]`` entry that are not dim names.
QUESTION_KEYS = ("id", "text", "output", "at", "below", "above")
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")
ALL = "all"


@dataclass(frozen=True, slots=True)
class Question:
    """One headline question: P(output at month ``at`` below / above ``level``).

    >>> q = Question(id="q", text="", output="reserves", month=23, at="2020-12",
    ...              level=5e7, below=True, select=())
    >>> q.what()
    'reserves below 50,000,000 in 2020-12'
    """

    id: str
    text: str
    output: str
    month: int  # index on the run's time axis
    at: str
    level: float
    below: bool
    select: tuple[tuple[str, str], ...]  # (dim, label or "all")

    def what(self) -> str:
        """The question in a line, from its own fields."""
        where = (" (" + ", ".join(f"{dim} {label}" for dim, label in self.select) + ")"
                 if self.select else "")
        level = (f"{self.level:,.0f}" if float(self.level).is_integer()
                 else f"{self.level:,.6g}")
        return (f"{self.output}{where} {'below' if self.below else 'above'} {level} "
                f"in {self.at}")


def _is_number(v: Any) -> bool:
    return (not isinstance(v, bool) and isinstance(v, (int, float))
            and math.isfinite(float(v)))


def check_questions(p: Problems, raw: Any, head: Header) -> tuple[Question, ...]:
    """The ``[[questions]]`` of a scenario (every problem added to *p*).

    >>> from threatsim.inputs.validation import check_header
    >>> data = {"name": "q", "model": "financing", "start": "2019-01", "horizon": 24}
    >>> p = Problems()
    >>> qs = check_questions(p, [{"id": "low", "output": "reserves", "at": "2020-12",
    ...                           "below": 5e7}], check_header(p, data))
    >>> [q.what() for q in qs], p.items
    (['reserves below 50,000,000 in 2020-12'], [])
    """
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        p.add("questions", None, "must be an array of tables ([[questions]])")
        return ()
    model = head.model
    out: list[Question] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        qid = entry.get("id")
        key = f"questions[{i}]"
        if not isinstance(qid, str) or not _ID.match(qid):
            p.add(f"{key}.id", qid, "must be a name: a letter, then letters, digits, _ or -")
        elif qid in seen:
            p.add(f"{key}.id", qid, "must be unique among the questions")
        else:
            key = f"questions.{qid}"
            seen.add(qid)
        n_before = len(p.items)
        text = entry.get("text", "")
        if not isinstance(text, str):
            p.add(f"{key}.text", text, "must be a string")
        output = entry.get("output")
        decl = None
        if model is not None:
            decls = {o.name: o for o in model.info.outputs if "time" in o.dims}
            if not isinstance(output, str) or output not in decls:
                p.add(f"{key}.output", output, "must be an output over time of model "
                      f"{head.model_name!r}: {', '.join(decls)}")
            else:
                decl = decls[output]
        at, month = entry.get("at"), None
        try:
            parsed = parse_month(at)
        except (ValueError, TypeError):
            p.add(f"{key}.at", at, "must be a month YYYY-MM")
        else:
            if head.start is not None and head.horizon_known:
                month = month_index(head.start, parsed)
                if not 0 <= month <= head.horizon:
                    p.add(f"{key}.at", at, "must be a month of the run")
        given = [k for k in ("below", "above") if k in entry]
        if len(given) != 1:
            p.add(key, None, "must give exactly one of below = LEVEL or above = LEVEL")
        elif not _is_number(entry[given[0]]):
            p.add(f"{key}.{given[0]}", entry[given[0]], "must be a finite number")
        select: list[tuple[str, str]] = []
        dims = [d for d in decl.dims if d != "time"] if decl is not None else []
        for name in entry:
            if name not in QUESTION_KEYS and name not in dims:
                allowed = ", ".join((*QUESTION_KEYS, *dims))
                p.add(f"{key}.{name}", entry[name], f"is not a known key; allowed: {allowed}")
        for dim in dims:
            labels = tuple(model.info.coords.get(dim, ())) if model is not None else ()
            value = entry.get(dim)
            if value is None:
                p.add(f"{key}.{dim}", None, f"is required (output {output!r} has dim {dim}): "
                      f"one of {', '.join(labels)}, or \"all\" to sum over them")
            elif not isinstance(value, str) or (value != ALL and value not in labels):
                p.add(f"{key}.{dim}", value, f"must be one of {', '.join(labels)}, or \"all\"")
            else:
                select.append((dim, str(value)))
        if len(p.items) > n_before or month is None or decl is None:
            continue
        out.append(Question(id=str(qid), text=str(text), output=str(output), month=month,
                            at=str(at), level=float(entry[given[0]]),
                            below=given[0] == "below", select=tuple(select)))
    return tuple(out)
