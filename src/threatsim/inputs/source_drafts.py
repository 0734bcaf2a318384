"""Draft registries from a report's figures, and what a new registry changed.

* :func:`draft_registry` writes the figures :func:`~threatsim.inputs.extract.extract_figures`
  found as a source file (the format of ``scenarios/sources/``), each entry with the
  ``review`` reasons a person should check, and the statements it could not read
  listed at the end with their paragraph. The draft loads with
  :func:`~threatsim.inputs.sources.load_sources` as it is.
* :func:`diff_registries` matches the figures of an old and a new registry (same
  quantity, possibly a new range) and says, figure by figure, what changed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from threatsim.inputs.extract import Figure, Report
from threatsim.inputs.sources import WORDINGS, Source, SourceRegistry

__all__ = ["SourceChange", "diff_registries", "diff_text", "draft_ids", "draft_registry"]


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "_".join(words[:4]) or "figure"


def draft_ids(figures: Sequence[Figure]) -> list[str]:
    """An id per figure, unique in the draft: what it counts and its paragraph
    (``militants_p17``; ``_2``, ``_3`` for more in the same paragraph).

    >>> from threatsim.inputs.extract import extract_figures
    >>> report = extract_figures("17. About 20 fighters and 30 fighters.", as_of="2019-01")
    >>> draft_ids(report.figures)
    ['fighters_p17', 'fighters_p17_2']
    """
    ids: list[str] = []
    for f in figures:
        base = f"{_slug(f.counted)}_p{f.paragraph}"
        candidate, n = base, 1
        while candidate in ids:
            n += 1
            candidate = f"{base}_{n}"
        ids.append(candidate)
    return ids


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(x: float) -> str:
    return f"{int(x):_}" if float(x).is_integer() else repr(float(x))


def draft_registry(report: Report, *, document: str, source_file: str = "") -> str:
    """The text of a draft source file for *report*'s figures.

    >>> from threatsim.inputs.extract import extract_figures
    >>> report = extract_figures("12. Reserves of between $50 million and $300 million.",
    ...                          as_of="2019-01")
    >>> print(draft_registry(report, document="S/2019/103").split("[[source]]")[1].strip())
    ... # doctest: +NORMALIZE_WHITESPACE
    id = "us_dollars_p12"
    paragraph = 12
    unit = "usd"
    wording = "between"
    low = 50_000_000
    high = 300_000_000
    quote = "Reserves of between $50 million and $300 million"
    description = "US dollars"
    as_of = "2019-01"
    review = "the date is the report's own (2019-01): the sentence gives none"
    """
    ids = draft_ids(report.figures)
    lines = [
        f"# Draft registry of the figures of {document}, written by `threatsim extract`"
        + (f" from {source_file}" if source_file else "") + ".",
        "# Every entry says in `review` what a person should check; delete the line once",
        "# checked. Statements that look quantitative but were not entered are listed at the",
        "# end with their paragraph. Check each value against the report before use.",
        "",
        "[document]",
        f"symbol = {_toml_string(document)}",
        f"as_of = {_toml_string(report.as_of)}"
        + ("" if report.as_of_found else "  # not given: the latest month the report names"),
    ]
    for f, fid in zip(report.figures, ids, strict=True):
        lines += ["", "[[source]]", f"id = {_toml_string(fid)}", f"paragraph = {f.paragraph}",
                  f"unit = {_toml_string(f.unit)}", f"wording = {_toml_string(f.wording)}"]
        for key in WORDINGS[f.wording]:
            value = getattr(f, key)
            lines.append(f"{key} = {_number(value)}")
        lines.append(f"quote = {_toml_string(f.quote)}")
        description = f.counted + (f" ({f.label})" if f.label else "")
        lines.append(f"description = {_toml_string(description)}")
        lines.append(f"as_of = {_toml_string(f.as_of)}")
        if f.parent is not None:
            lines.append(f"parent = {_toml_string(ids[f.parent])}")
        if f.review:
            lines.append(f"review = {_toml_string('; '.join(f.review))}")
    if report.unread:
        lines += ["", "# --- Not entered: quantitative statements not read as a figure ---"]
        for u in report.unread:
            text = re.sub(r"\s+", " ", u.text)[:160]
            lines.append(f"# para {u.paragraph}: \"{text}\" ({u.reason})")
    return "\n".join(lines) + "\n"


# --- what a new registry changed -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SourceChange:
    """One figure of the comparison: ``kind`` is changed, same, new or gone."""

    kind: str
    old: Source | None
    new: Source | None
    how: str = ""  # how the two were matched: "id" or "quote"


def _values(s: Source) -> tuple[str, float | None, float | None, float | None]:
    return s.wording, s.low, s.high, s.point


def _words(s: Source) -> list[str]:
    """The words of an entry's quote without its numbers: what it says is counted."""
    return re.findall(r"[a-z]+", s.quote.lower().replace("million", ""))


def _likeness(old: Source, new: Source) -> float:
    """How alike two entries are: their quotes' words, numbers left out (the ratio of
    difflib, or the share of the shorter quote the longer holds), a little more for
    the same figures or the same paragraph of the same document; 0 across units or
    regions, so a figure is only ever paired with the same kind of quantity."""
    if old.unit != new.unit or (old.region and new.region and old.region != new.region):
        return 0.0
    a, b = _words(old), _words(new)
    match = difflib.SequenceMatcher(None, a, b, autojunk=False)
    score = match.ratio()
    shorter = min(len(a), len(b))
    if shorter >= 3:  # one quote cut shorter than the other: how much of it the other holds
        held = sum(block.size for block in match.get_matching_blocks())
        score = max(score, 0.9 * held / shorter)
    if _values(old) == _values(new):
        score += 0.2  # the same figure: more likely the same quantity, never enough alone
    if old.document == new.document and old.paragraph == new.paragraph:
        score += 0.1
    return score


#: Quotes at least this alike (numbers left out) are read as the same quantity.
SAME_QUANTITY = 0.6


def diff_registries(old: SourceRegistry, new: SourceRegistry) -> list[SourceChange]:
    """Figure by figure: the same quantity in both (the same id, else the most alike
    quote of the same unit and region, numbers left out), with what changed; figures
    only in *new* or only in *old*.

    >>> from threatsim.inputs.sources import load_sources
    >>> reg = load_sources("scenarios/sources")
    >>> [c.kind for c in diff_registries(reg, reg)][:3]
    ['same', 'same', 'same']
    """
    pairs: dict[str, tuple[Source, str]] = {}
    olds, news = list(old), list(new)
    by_id = {n.id: n for n in news}
    taken: set[str] = set()
    for o in olds:
        if o.id in by_id:
            pairs[o.id] = (by_id[o.id], "id")
            taken.add(o.id)
    scored = sorted(((_likeness(o, n), i, j) for i, o in enumerate(olds) if o.id not in pairs
                     for j, n in enumerate(news) if n.id not in taken), reverse=True)
    for score, i, j in scored:  # the most alike pairs first, each entry paired once
        if score < SAME_QUANTITY:
            break
        if olds[i].id in pairs or news[j].id in taken:
            continue
        pairs[olds[i].id] = (news[j], "quote")
        taken.add(news[j].id)
    changes: list[SourceChange] = []
    for o in olds:
        if o.id not in pairs:
            changes.append(SourceChange("gone", o, None))
            continue
        n, how = pairs[o.id]
        same = _values(o) == _values(n) and o.as_of == n.as_of
        changes.append(SourceChange("same" if same else "changed", o, n, how))
    changes += [SourceChange("new", None, n) for n in news if n.id not in taken]
    return changes


def _figure(s: Source) -> str:
    return f"{s.figure()} ({s.citation()}, as of {s.as_of})"


def diff_text(changes: Sequence[SourceChange]) -> str:
    """What :func:`diff_registries` found, changed figures first.

    >>> from threatsim.inputs.sources import load_sources
    >>> reg = load_sources("scenarios/sources")
    >>> diff_text(diff_registries(reg, reg)).splitlines()[0]
    'changed 0, new 0, gone 0, the same 20'
    """
    count = {k: sum(c.kind == k for c in changes) for k in ("changed", "new", "gone", "same")}
    lines = [f"changed {count['changed']}, new {count['new']}, gone {count['gone']}, "
             f"the same {count['same']}"]
    for c in changes:
        if c.kind == "changed" and c.old is not None and c.new is not None:
            matched = f" [matched by {c.how}: {c.new.id}]" if c.how != "id" else ""
            lines.append(f"changed  {c.old.id}: {_figure(c.old)} -> {_figure(c.new)}{matched}")
    for c in changes:
        if c.kind == "new" and c.new is not None:
            lines.append(f"new      {c.new.id}: {_figure(c.new)}: {c.new.description}")
    for c in changes:
        if c.kind == "gone" and c.old is not None:
            lines.append(f"gone     {c.old.id}: {_figure(c.old)}: not in the new registry")
    return "\n".join(lines)
