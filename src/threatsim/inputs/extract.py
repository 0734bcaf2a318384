"""Reading a report's figures: numbered paragraphs in, a draft source registry out.

A planner who receives the next report needs its figures in the registry
(``scenarios/sources/``) before anything can be scored, calibrated or rerun.
:func:`extract_figures` reads a report's text (a ``.txt`` as it is, a ``.pdf``
through pypdf) the way the shipped registry was typed by hand:

1. **Paragraphs** as the report numbers them (``17. ISIL is reported ...``): a
   line starting ``N.`` opens paragraph N only when N follows the last one, so
   headings such as ``1. Middle East`` are not taken for paragraphs. Footnotes
   (after a ``_____`` rule) and link lines are kept apart; footnote markers in
   the text (``al-Baghdadi,3 but``, ``militants. 28``) are not taken for
   figures. Words broken across lines are joined.
2. **Figures**: numbers in digits or words (``Three thousand``), money
   (``$50 million``), ranges (``between 14,000 and 18,000``, ``1,500 to 3,500``,
   across line breaks too), each with its wording class (``between``,
   ``up_to``, ``more_than``, ``or_more``, ``approximately``, ``nearly``,
   ``exact``), what it counts (``foreign terrorist fighters``) and its unit, the
   paragraph, the as-of month the sentence gives (``In July 2018``) and the quote.
   A figure introduced by ``including``, ``of whom`` or ``Of those`` is nested
   in the figure before it (``parent``).
3. **Review**: every entry carries ``review``, the reasons it needs a person's
   eye (what is counted was inferred, the date is the report's own, the figure
   is in a footnote); statements that look quantitative but could not be read
   are kept as :class:`Unread` with their paragraph, never dropped.

Dates, years, document symbols (``S/2018/705``), resolution numbers
(``resolution 2253 (2015)``), paragraph references and sanctions-list codes
(``QDi.299``) are not figures and are left out. Figures about the victims of
attacks are listed as unread: the registry never records targets.

This is our own code because it is the product: no maintained library reads a
report's hedged ranges with their wording and paragraph (number parsers read
numbers, not "up to 3,000 ... including"). PDF text comes from pypdf.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from threatsim.core.errors import ScenarioError

__all__ = ["Figure", "Paragraph", "Report", "Table", "Unread", "extract_figures", "paragraphs",
           "read_report", "words_to_number"]

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|" \
         r"November|December)"

# --- numbers in words --------------------------------------------------------------

_UNITS_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
     "eighteen", "nineteen"])}
_TENS_WORDS = {w: 10 * (i + 2) for i, w in enumerate(
    ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"])}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
_WORD = "|".join([*_UNITS_WORDS, *_TENS_WORDS, *_SCALES, "a", "and"])
_WORDS_NUMBER = re.compile(
    rf"\b(?:(?:{'|'.join([*_UNITS_WORDS, *_TENS_WORDS])})(?:-(?:{'|'.join(_UNITS_WORDS)}))?"
    rf"|a(?= (?:hundred|thousand|million)))"
    rf"(?:[ -](?:{_WORD})(?:-(?:{'|'.join(_UNITS_WORDS)}))?)*\b", re.I)


def words_to_number(text: str) -> int | None:
    """``"three thousand"`` -> 3000, ``"twenty-five"`` -> 25, ``"a hundred"`` -> 100;
    None when *text* is not a number in words.

    >>> words_to_number("Three thousand"), words_to_number("one hundred and fifty")
    (3000, 150)
    >>> words_to_number("twenty-five"), words_to_number("fighters") is None
    (25, True)
    """
    total, current, seen = 0, 0, False
    for word in re.split(r"[ -]+", text.strip().lower()):
        if word == "and" and seen:
            continue
        if word == "a" and not seen:
            current, seen = 1, True
        elif word in _UNITS_WORDS:
            current += _UNITS_WORDS[word]
            seen = True
        elif word in _TENS_WORDS:
            current += _TENS_WORDS[word]
            seen = True
        elif word in _SCALES and seen:
            scale = _SCALES[word]
            if scale == 100:
                current *= 100
            else:
                total += current * scale
                current = 0
        else:
            return None
    return total + current if seen else None


# --- what is counted ---------------------------------------------------------------

#: Nouns (plural, lower case, as the text has them) a figure counts, by registry unit.
#: Longest first within a unit is not needed: the match takes the longest phrase.
COUNTED = {
    "people": ("foreign terrorist fighters", "terrorist fighters", "foreign fighters",
               "fighters", "militants", "dependants", "minors", "children", "women",
               "men", "returnees", "detainees", "prisoners", "members", "operatives",
               "cadres", "recruits", "travellers", "nationals", "refugees", "persons",
               "individuals", "youth leaders", "Taliban", "troops", "soldiers",
               "civilians", "people", "cyclists", "hostages", "family members",
               "jihadists", "combatants", "supporters"),
    "attacks": ("terrorist attacks", "attacks", "plots", "incidents"),
}
#: Counted nouns whose figures are victims or targets: listed as unread, never entered.
VICTIMS = ("troops", "soldiers", "civilians", "cyclists", "hostages", "people")
#: Words that may stand between a figure and its noun (``3,000 armed ISIL fighters``).
_MODIFIER = re.compile(r"^(?:[A-Z][\w’'-]*|armed|foreign|local|affiliated|active|known|"
                       r"suspected|ISIL-affiliated|[a-z]+-affiliated|high-profile|"
                       r"terrorist|former|female|male|young|adult|such|other|more|new|"
                       r"additional|remaining|detained|Iraqi|Syrian|Nigerian|Afghan)$")
#: Countable things that are not people, money or attacks: read, then listed as unread.
_OTHER_NOUN = re.compile(r"^(?:Member\s+States|States|countries|missions|camps|sessions|"
                         r"workshops|meetings|cases|entities|projects|programmes|"
                         r"provinces|cities|years|months|weeks|days|per\s+cent|percent|"
                         r"%|times|languages|platforms|accounts|websites)\b", re.I)

# --- the parts of a figure -----------------------------------------------------------

_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_MONEY_SCALE = r"(?:\s*(?:million|billion|thousand|m|bn))?"
_AMOUNT = rf"(?:US\s?)?\$\s?(?:{_DIGITS}){_MONEY_SCALE}"
_NUMBER = rf"{_AMOUNT}|{_DIGITS}|{_WORDS_NUMBER.pattern}"
_NUM = re.compile(_NUMBER, re.I)

#: Hedges before a figure, by wording class (checked on the words just before it).
_BEFORE = (
    ("between", re.compile(r"\bbetween\s*$", re.I)),
    ("up_to", re.compile(r"\b(?:up\s+to|as\s+many\s+as|at\s+most|no\s+more\s+than)\s*$",
                         re.I)),
    ("more_than", re.compile(r"\b(?:more\s+than|over|in\s+excess\s+of|upwards\s+of)\s*$",
                             re.I)),
    ("or_more", re.compile(r"\bat\s+least\s*$", re.I)),
    ("nearly", re.compile(r"\b(?:nearly|almost|close\s+to|just\s+under)\s*$", re.I)),
    ("approximately", re.compile(
        r"\b(?:approximately|about|around|some|roughly|an\s+estimated|estimated\s+at|"
        r"an\s+approximate|up\s+to\s+an\s+estimated)\s*$", re.I)),
)
_RANGE_JOIN = re.compile(r"^\s*(?:to|and|-|–|—)\s*", re.I)
_OR_MORE_AFTER = re.compile(r"^\s*or\s+more\b", re.I)
_NESTING = re.compile(r"\b(?:including|of\s+whom|among\s+them|among\s+whom|of\s+which)"
                      r"(?:\s+\S+){0,3}\s*$", re.I)
_OF_THOSE = re.compile(r"^\s*(?:Of\s+(?:those|these|them|whom)|Among\s+them)\b", re.I)


@dataclass(frozen=True, slots=True)
class Paragraph:
    """A paragraph as the report numbers it, its text on one line, and its footnotes."""

    number: int
    text: str
    footnotes: dict[int, str] = field(default_factory=dict)
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True, slots=True)
class Table:
    """A table in a paragraph's place: its title, its header cells and its rows."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure found in a report, ready for a ``[[source]]`` table.

    ``low``/``high``/``point`` follow the registry's rule for the wording
    (``between``: both bounds; ``up_to``: high; ``more_than``/``or_more``: low;
    ``approximately``/``nearly``/``exact``: point).
    """

    paragraph: int
    wording: str
    unit: str
    counted: str
    quote: str
    as_of: str
    low: float | None = None
    high: float | None = None
    point: float | None = None
    parent: int | None = None  # index of the figure it is nested in
    review: tuple[str, ...] = ()
    in_footnote: bool = False
    label: str = ""  # a table figure's row and column


@dataclass(frozen=True, slots=True)
class Unread:
    """A statement that looks quantitative but was not entered, with the reason."""

    paragraph: int
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class Report:
    """What :func:`extract_figures` found: figures, unread statements, paragraphs."""

    figures: tuple[Figure, ...]
    unread: tuple[Unread, ...]
    paragraphs: tuple[Paragraph, ...]
    as_of: str
    as_of_found: bool


# --- reading the file ------------------------------------------------------------------

def read_report(path: str | Path) -> str:
    """The text of a report: a ``.txt`` file as it is, a ``.pdf`` through pypdf.

    Raises :class:`ScenarioError` (exit 2 on the command line) for a missing or
    empty file, a PDF without a text layer (a scan) and any other kind of file.
    """
    path = Path(path)
    if not path.is_file():
        raise ScenarioError("no such report file" if not path.exists() else
                            "is a folder, not a report file", path=str(path))
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        text = _pdf_text(path)
        if not text.strip():
            raise ScenarioError("has no text to read (a scanned PDF? run OCR on it first, "
                                "or give the report as .txt)", path=str(path))
        return text
    if suffix not in (".txt", ".text", ".md"):
        raise ScenarioError("must be a .txt or .pdf report", path=str(path), key="REPORT",
                            value=path.suffix or path.name)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"is not UTF-8 text (byte {exc.start}); save it as UTF-8",
                            path=str(path)) from None
    if not text.strip():
        raise ScenarioError("is empty: no text to read", path=str(path))
    return text


def _pdf_text(path: Path) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise ScenarioError("needs pypdf to read PDF reports: pip install 'threatsim[extract]'"
                            " (or give the report as .txt)", path=str(path)) from None
    # pypdf logs what it repairs or cannot read ("EOF marker not found") as warnings on
    # stderr; what matters reaches the user as our one-line error, so they stay quiet.
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)
    try:
        reader = PdfReader(path)
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ScenarioError(f"cannot be read as a PDF: {exc}", path=str(path)) from None
    finally:
        pypdf_log.setLevel(level)


# --- paragraphs ------------------------------------------------------------------------

_PARA_START = re.compile(r"^(\d{1,3})\.\s+(\S.*)$")
_FOOTNOTE_START = re.compile(r"^(\d{1,3})\s+(\S.*)$")
_RULE = re.compile(r"^_{5,}\s*$")
_LINK = re.compile(r"^(?:https?://|www\.)\S+$")
#: A heading: a number or letter, then a few words with no figure and no full stop.
_HEADING = re.compile(r"^(?:[IVX]+|[A-Z]|\d{1,2})\.\s+[A-Z][^.\d$]{0,70}$")
_SENTENCE_END = re.compile(r"[.!?][\"”’')\]]*$")


def _join(lines: Sequence[str]) -> str:
    """Lines of one paragraph as one line: a word broken at a line end (``oil -`` /
    ``producing``) joined, other line breaks become one space."""
    out = ""
    for line in lines:
        if not out:
            out = line
        elif re.search(r"\w ?-$", out) and line[:1].islower():
            out = re.sub(r" ?-$", "-", out) + line
        else:
            out += " " + line
    return re.sub(r"\s+", " ", out).strip()


def paragraphs(text: str) -> list[Paragraph]:
    """The numbered paragraphs of *text*, in order, footnotes kept apart.

    >>> text = "I. Introduction\\n1. First one, with 200\\n\\nfighters.\\n1. Heading\\n"\\
    ...        "2. Second.1\\n__________\\n1 A footnote.\\n"
    >>> [(p.number, p.text, p.footnotes) for p in paragraphs(text)]
    [(1, 'First one, with 200 fighters.', {}), (2, 'Second.1', {1: 'A footnote.'})]
    """
    paras: list[tuple[int, list[str], dict[int, list[str]]]] = []
    tables: dict[int, list[_TableDraft]] = {}
    table: _TableDraft | None = None
    in_notes = False
    last_note: list[str] | None = None
    next_note: int | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or _LINK.match(line):
            continue
        if _RULE.match(line):
            in_notes, last_note = True, None
            continue
        m = _PARA_START.match(line)
        expected = paras[-1][0] + 1 if paras else None
        opens_first = expected is None and not (_HEADING.match(line)
                                                 and not _SENTENCE_END.search(line))
        if m and (int(m.group(1)) == expected or opens_first):
            paras.append((int(m.group(1)), [m.group(2)], {}))
            in_notes, last_note = False, None
            continue
        if in_notes:
            f = _FOOTNOTE_START.match(line)
            # footnotes run in sequence through the report (an excerpt may start at any)
            if f and (next_note is None or next_note - 1 <= int(f.group(1)) <= next_note + 5):
                number = int(f.group(1))
                next_note = number + 1
                last_note = [f.group(2)]
                if paras:
                    paras[-1][2][number] = last_note
                continue
            if last_note is not None and not _SENTENCE_END.search(last_note[-1]):
                last_note.append(line)  # a footnote running on
                continue
            in_notes, last_note = False, None  # the page's text goes on
        if not paras:
            continue  # the front matter before paragraph 1
        head = _TABLE_HEAD.match(line)
        if head:
            table = _TableDraft(title=head.group(1).strip())
            tables.setdefault(paras[-1][0], []).append(table)
            continue
        if table is not None:
            cells = tuple(c.strip() for c in re.split(r"\s{2,}|\t", raw.strip()) if c.strip())
            if len(cells) >= 2:
                if table.header:
                    table.rows.append(cells)
                else:
                    table.header = cells
                continue
            if not table.header:
                table.title = f"{table.title} {line}".strip()
                continue
            table = None  # the text goes on after the table
        if _HEADING.match(line) and not _SENTENCE_END.search(line):
            continue  # a heading between paragraphs ("1. Middle East", "B. Regional trends")
        paras[-1][1].append(line)
    return [Paragraph(n, _join(lines), {k: _join(v) for k, v in notes.items()},
                      tuple(Table(t.title, t.header, tuple(t.rows)) for t in tables.get(n, ())))
            for n, lines, notes in paras]


@dataclass
class _TableDraft:
    title: str
    header: tuple[str, ...] = ()
    rows: list[tuple[str, ...]] = field(default_factory=list)


_TABLE_HEAD = re.compile(r"^Table\s+(?:\d+|[IVX]+)\.?\s*(.*)$")


# --- what is not a figure ------------------------------------------------------------

_NOT_FIGURES = [
    re.compile(r"\b[A-Z]{1,3}(?:/[A-Z]{2,5})*/\d{2,4}(?:/\d+)*(?:\(\d{4}\))?"),  # S/2018/705
    re.compile(r"\(Q[A-Z][a-z]\.\d+\)|\bQ[A-Z][a-z]\.\d+"),                    # (QDi.299)
    re.compile(r"\bresolutions?\s+(?:\d{3,4}\s*\(\d{4}\)(?:,\s*|\s+and\s+)?)+", re.I),
    re.compile(r"\b\d{3,4}\s*\((?:19|20)\d{2}\)"),                             # 2379 (2017)
    re.compile(r"\b(?:paragraphs?|paras?\.?)\s+\d+(?:\s*(?:-|–|and|to)\s*\d+)?", re.I),
    re.compile(rf"\b\d{{1,2}}\s+{_MONTH}(?:\s+(?:19|20)\d{{2}})?"),             # 26 November 2018
    re.compile(rf"\b{_MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d{{2}}"),               # November 26, 2018
    re.compile(r"\b(?:19|20)\d{2}\s*[-–]\s*(?:19|20)?\d{2}\b"),                # 2015–2016
    re.compile(r"\b(?:mid-|early |late )?(?:19|20)\d{2}\b(?!,\d)"),           # 2018
    re.compile(r"\b\d+(?:st|nd|rd|th)\b"),                                     # 21st
    re.compile(r"\b\d+/\d+\b"),                                                # 70/291
    re.compile(r"\bage\s+of\s+\d+\b|\bunder\s+\d+\b|\baged\s+\d+", re.I),      # ages
    re.compile(r"\b(?:https?://|www\.)\S+"),                                   # links
    # a token that starts with a letter and holds a digit: a code, a hashtag, or a word
    # with its footnote marker ("#Unite4Heritage", "A/73/PV.6", "Kabul.29")
    re.compile(r"(?<!\S)[(\[]*[#A-Za-z][^\s$]*\d[^\s]*"),
    re.compile(r"(?<!\S)[^\s$]*[/_][^\s]*"),                                   # paths
]


def _masked(text: str, footnotes: Sequence[int]) -> str:
    """*text* with what is not a figure blanked out (same length, so offsets hold):
    dates, years, symbols, resolution and paragraph numbers, codes, footnote markers."""
    chars = list(text)

    def blank(start: int, end: int) -> None:
        for i in range(start, end):
            chars[i] = " " if not chars[i].isspace() else chars[i]

    for pattern in _NOT_FIGURES:
        for m in pattern.finditer(text):
            blank(m.start(), m.end())
    notes = set(footnotes)
    # A footnote marker: a footnote's number right after a word or punctuation
    # ("Baghdadi,3", "(QDi.415).18"), or after punctuation and spaces when no counted
    # noun follows ("militants. 28", "Team, 2  in").
    for m in re.finditer(r"(?<=[\w.,;:)”’\"])(\d{1,3})(?=[\s.,;:)]|$)"
                         r"|(?<=[.,;:”’)] )(\d{1,3})(?=\s|$)|(?<=[.,;:”’)]  )(\d{1,3})(?=\s|$)",
                         text):
        number = int(m.group(m.lastindex or 1))
        if number not in notes:
            continue
        after = text[m.end():m.end() + 40]
        sentence_start = text[:m.start()].rstrip().endswith((".", "”", ")", "’"))
        if m.group(1) is None and not sentence_start and _counted(after)[0] in (
                "people", "attacks"):
            continue  # ", 30 fighters": a figure (a sentence never starts with digits)
        if m.group(1) is not None and text[m.start() - 1].isdigit():
            continue
        blank(m.start(), m.end())
    return "".join(chars)


# --- figures ---------------------------------------------------------------------------

def _value(token: str) -> tuple[float, bool] | None:
    """The value of a number token and whether it is money."""
    t = token.strip()
    money = "$" in t
    scale = 1.0
    low = t.lower()
    for word, factor in (("billion", 1e9), ("bn", 1e9), ("million", 1e6), ("thousand", 1e3)):
        if low.endswith(word) and (money or re.search(r"\d", low)):
            scale = factor
            t = t[: len(t) - len(word)]
            break
    else:
        if money and re.search(r"\d\s*m$", low):
            scale, t = 1e6, t[:-1]
    digits = re.sub(r"[^\d.]", "", t)
    if digits:
        try:
            return float(digits) * scale, money
        except ValueError:
            return None
    words = words_to_number(t)
    return (float(words), money) if words is not None else None


def _counted(after: str) -> tuple[str | None, str, int]:
    """What the words after a figure count: (unit or None, the phrase, its length in
    characters); unit ``"other"`` for a countable thing that is not people or attacks."""
    words = after.lstrip()
    lead = len(after) - len(words)
    other = _OTHER_NOUN.match(words)
    if other:
        return "other", other.group(0), lead + other.end()
    best: tuple[str | None, str, int] = (None, "", 0)
    tokens = list(re.finditer(r"\S+", words))
    for n_mod in range(0, 6):
        if n_mod > len(tokens):
            break
        rest = words[tokens[n_mod].start():] if n_mod < len(tokens) else ""
        for unit, nouns in COUNTED.items():
            for noun in nouns:
                if re.match(rf"{re.escape(noun)}\b", rest, re.I if noun.islower() else 0):
                    end = tokens[n_mod].start() + len(noun) if n_mod < len(tokens) else 0
                    if end > best[2] - lead:
                        best = (unit, words[:end], lead + end)
        if best[0] is not None:
            return best
        if n_mod < len(tokens) and not _MODIFIER.match(tokens[n_mod].group(0).strip(",")):
            break
    return best


def _sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of *text*."""
    spans, start = [], 0
    for m in re.finditer(r"(?<=[.!?])[\"”’)]*\s+(?=[A-Z“\"(])", text):
        if re.search(r"\b(?:para|e\.g|i\.e|No|St|Mr|Ms|Dr|al|aka)\.$", text[:m.start()]):
            continue
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return spans


def _as_of(sentence: str) -> tuple[str | None, str]:
    """The month a sentence dates its figures to, and how it was read."""
    months = list(re.finditer(rf"\b({_MONTH})\s+((?:19|20)\d{{2}})\b", sentence))
    if months:
        m = months[-1]
        return f"{m.group(2)}-{MONTHS.index(m.group(1).lower()) + 1:02d}", ""
    year = re.search(r"\b(?:[Tt]hroughout|[Ii]n|[Dd]uring|[Bb]y the end of)\s+((?:19|20)\d{2})\b"
                     r"(?![-–])", sentence)
    if year:
        return f"{year.group(1)}-12", f"as_of read as the end of {year.group(1)}"
    return None, ""


def _quote(text: str, start: int, end: int, sentence: tuple[int, int]) -> str:
    """The words of the figure: from a clause start before it to a clause end after it."""
    s0, s1 = sentence
    before = text[s0:start]
    cut = max(before.rfind(", "), before.rfind("; "), before.rfind(": "))
    words_before = before.split()
    q0 = s0 + cut + 2 if cut >= 0 and len(before) - cut < 80 else (
        s0 if len(words_before) <= 8 else start - len(" ".join(words_before[-6:])) - 1)
    after = text[end:s1]
    stop = re.search(r"[,;:]\s|\.(?=\s|$)|$", after)
    q1 = end + (stop.start() if stop else len(after))
    return text[max(q0, s0):q1].strip(" ,;")


def _figures_in(par: Paragraph, text: str, as_of: str, *, footnote: bool,
                first_index: int, notes: Sequence[int]) -> tuple[list[Figure], list[Unread]]:
    masked = _masked(text, notes)
    figures: list[Figure] = []
    unread: list[Unread] = []
    spans = _sentences(text)
    taken_until = 0
    sentence_index: list[int] = []  # the sentence of each figure found so far
    for m in _NUM.finditer(masked):
        if m.start() < taken_until:
            continue
        token = masked[m.start():m.end()].strip()
        if not token or (not re.search(r"\d|\$", token) and token.lower() in ("a", "and")):
            continue
        start, end = m.start(), m.end()
        val = _value(text[start:end])
        if val is None:
            continue
        value, money = val
        words_only = not re.search(r"\d", token)
        if words_only and (masked[end:end + 1] == "-" or (
                token[:1].isupper() and not re.search(r"(?:^|[.!?][\"”’)]*\s+)$",
                                                      text[:start]))):
            continue  # "two-way", "Group of Five": part of a word or a name, not a count
        sentence = next((s for s in spans if s[0] <= start < s[1] + 1), (0, len(text)))
        before = text[sentence[0]:start]
        wording, low, high, point = "exact", None, None, None
        # a range: "between X and Y", "X to Y", "X-Y"
        join = _RANGE_JOIN.match(masked[end:])
        second = _NUM.match(masked, end + join.end()) if join else None
        hedge = next((w for w, p in _BEFORE if p.search(before)), None)
        is_range = (second is not None and join is not None
                    and (join.group(0).strip().lower() != "and" or hedge == "between")
                    and _value(text[second.start():second.end()]) is not None)
        if is_range:
            assert second is not None
            v2 = _value(text[second.start():second.end()])
            assert v2 is not None
            if v2[1] or money:
                money = True
            low, high = value, v2[0]
            if money and low < 1e3 <= high:  # "$50 to $300 million": the scale of the second
                low *= high / v2[0] if v2[0] else 1
            wording, end = "between", second.end()
        elif _OR_MORE_AFTER.match(text[end:]):
            wording, low = "or_more", value
            end += _OR_MORE_AFTER.match(text[end:]).end()  # type: ignore[union-attr]
        elif hedge in ("up_to",):
            wording, high = "up_to", value
        elif hedge in ("more_than", "or_more"):
            wording, low = hedge, value
        elif hedge in ("nearly", "approximately"):
            wording, point = hedge, value
        else:
            point = value
        reasons: list[str] = []
        inherited = False
        if money:
            unit, counted, noun_end = "usd", "US dollars", end
            tail = re.match(r"\s*(?:in|of)\s+([a-z][\w\s-]{0,30}?)(?=[,.;]|$| and| to)",
                            text[end:])
            if tail:
                counted = tail.group(1).strip()
        else:
            unit_found, counted, length = _counted(text[end:])
            noun_end = end + length
            unit = unit_found or ""
            if unit_found is None:
                if words_only:
                    if value >= 2:  # "two scoping missions": a count of something unnamed
                        unread.append(Unread(par.number, _quote(text, start, end, sentence),
                                             "a number in words with nothing counted after "
                                             "it that is people, money or attacks"))
                    continue  # "one document", "one of its fighters": not a count
                previous = figures[-1] if figures else None
                if previous is not None and previous.unit in ("people", "attacks"):
                    unit, counted = previous.unit, previous.counted
                    inherited = True
                    reasons.append(f"what is counted ({counted}) is taken from the figure "
                                   "before it: the text leaves it out")
                else:
                    unread.append(Unread(par.number, _quote(text, start, end, sentence),
                                         "no counted noun after the figure: what it counts "
                                         "is unclear"))
                    taken_until = end
                    continue
            if unit == "other":
                unread.append(Unread(par.number, _quote(text, start, noun_end, sentence),
                                     f"counts {counted}, not people, money or attacks"))
                taken_until = noun_end
                continue
            if counted.split()[-1].lower() in VICTIMS:
                unread.append(Unread(par.number, _quote(text, start, noun_end, sentence),
                                     f"victims or targets ({counted}): the registry never "
                                     "records them"))
                taken_until = noun_end
                continue
        after_noun = _OR_MORE_AFTER.match(text[noun_end:])
        if wording == "exact" and after_noun:  # "3,000 militants or more"
            wording, low, point = "or_more", value, None
            noun_end += after_noun.end()
        nested_parent: int | None = None
        here = spans.index(sentence) if sentence in spans else -1
        if _NESTING.search(before[-40:]):
            # nested in the first figure of this sentence that is not nested itself
            mine = [j for j, k in enumerate(sentence_index) if k == here
                    and figures[j].parent is None]
            if mine:
                nested_parent = first_index + mine[0]
        elif _OF_THOSE.match(text[sentence[0]:]):
            # "Of those, 100 ...": in the last figure of the sentences before
            earlier = [j for j, k in enumerate(sentence_index) if k < here
                       and figures[j].parent is None]
            if earlier:
                nested_parent = first_index + earlier[-1]
        month, how = _as_of(text[sentence[0]:sentence[1]])
        if month is None:
            month = as_of
            reasons.append(f"the date is the report's own ({as_of}): the sentence gives none")
        elif how:
            reasons.append(how)
        if words_only:
            reasons.append(f"a number in words ({token}) read as {value:,.0f}")
        if footnote:
            reasons.append("the figure is in a footnote")
        if nested_parent is not None:
            reasons.append("nested in the figure before it (check parent)")
        figures.append(Figure(
            paragraph=par.number, wording=wording, unit=unit, counted=counted.strip(),
            # a figure whose noun is left out is quoted with its whole sentence
            quote=(text[sentence[0]:sentence[1]].strip() if inherited
                   else _quote(text, start, max(end, noun_end), sentence)), as_of=month,
            low=low, high=high, point=point, parent=nested_parent, review=tuple(reasons),
            in_footnote=footnote))
        sentence_index.append(here)
        taken_until = max(end, noun_end)
    return figures, unread


def _latest_month(text: str) -> str | None:
    found = [(int(y), MONTHS.index(m.lower()) + 1)
             for m, y in re.findall(rf"\b({_MONTH})\s+((?:19|20)\d{{2}})\b", text)]
    return f"{max(found)[0]}-{max(found)[1]:02d}" if found else None


def extract_figures(text: str, *, as_of: str | None = None) -> Report:
    """Every figure of a report's numbered paragraphs (and their footnotes).

    *as_of* (``YYYY-MM``) is the month the report's undated figures describe;
    without it, the latest month the report names is used and every entry
    taking it says so in its review reasons.

    >>> report = extract_figures(
    ...     "17. ISIL controls between 14,000 and 18,000\\nmilitants, including up to "
    ...     "3,000 foreign terrorist fighters.\\n", as_of="2019-01")
    >>> for f in report.figures:
    ...     print(f.wording, f.low, f.high, f.counted, f.parent)
    between 14000.0 18000.0 militants None
    up_to None 3000.0 foreign terrorist fighters 0
    """
    paras = paragraphs(text)
    if not paras:
        raise ScenarioError("has no numbered paragraphs (lines starting '1. ', '2. ', ...): "
                            "threatsim extract reads reports whose paragraphs are numbered")
    found_as_of = as_of is not None
    if as_of is None:
        named = " ".join(part for p in paras
                         for part in (p.text, *p.footnotes.values(), *(t.title for t in p.tables)))
        as_of = _latest_month(named) or "2000-01"
    figures: list[Figure] = []
    unread: list[Unread] = []
    # footnote markers may stand paragraphs before their footnotes: every number counts
    notes = sorted({n for p in paras for n in p.footnotes})
    for par in paras:
        got, missed = _figures_in(par, par.text, as_of, footnote=False,
                                  first_index=len(figures), notes=notes)
        figures += got
        unread += missed
        for table in par.tables:
            got, missed = _table_figures(par, table, as_of, first_index=len(figures))
            figures += got
            unread += missed
        for number, note in par.footnotes.items():
            note_par = Paragraph(_marked_in(paras, par.number, number), note, {})
            got, missed = _figures_in(note_par, note, as_of, footnote=True,
                                      first_index=len(figures), notes=())
            figures += [_with_note(f, number) for f in got]
            unread += missed
    if not found_as_of:
        why = (f"the report's date was not given (--as-of): {as_of} is the latest month "
               "it names")
        figures = [f if not any("report's own" in r for r in f.review) else
                   _replace_review(f, why) for f in figures]
    return Report(tuple(figures), tuple(unread), tuple(paras), as_of, found_as_of)


def _table_figures(par: Paragraph, table: Table, as_of: str, *,
                   first_index: int) -> tuple[list[Figure], list[Unread]]:
    """Each number of a table's cells, counting what its title counts."""
    noun = _title_noun(table.title)
    figures: list[Figure] = []
    unread: list[Unread] = []
    month, how = _as_of(table.title)
    for row in table.rows:
        for j, cell in enumerate(row[1:], start=1):
            if not re.search(r"\d", cell) and words_to_number(cell) is None:
                continue
            column = table.header[j] if j < len(table.header) else f"column {j + 1}"
            quote = " | ".join(row)
            if noun is None:
                unread.append(Unread(par.number, quote, f"a table ({table.title}) whose title "
                                     "names nothing counted: people, money or attacks"))
                continue
            got, _ = _figures_in(Paragraph(par.number, f"{cell} {noun[1]}"),
                                 f"{cell} {noun[1]}", month or as_of, footnote=False,
                                 first_index=first_index + len(figures), notes=())
            for f in got[:1]:
                reasons = [r for r in f.review if "report's own" not in r]
                if month is None:
                    reasons.append(f"the date is the report's own ({as_of}): the table gives "
                                   "none")
                elif how:
                    reasons.append(how)
                reasons.append(f"a table cell (row {row[0]}, column {column}): what is counted "
                               "comes from the table's title")
                figures.append(Figure(
                    paragraph=par.number, wording=f.wording, unit=noun[0], counted=noun[1],
                    quote=quote, as_of=month or as_of, low=f.low, high=f.high, point=f.point,
                    review=tuple(reasons), label=f"{row[0]}, {column}"))
    return figures, unread


def _title_noun(title: str) -> tuple[str, str] | None:
    """The unit and the counted noun a table's title names (``Foreign terrorist fighters
    detained, by country`` -> people, foreign terrorist fighters)."""
    for unit, nouns in COUNTED.items():
        for noun in sorted(nouns, key=len, reverse=True):
            if re.search(rf"\b{re.escape(noun)}\b", title, re.I):
                return unit, noun
    if re.search(r"US\$|\$|dollars", title):
        return "usd", "US dollars"
    return None


def _marked_in(paras: Sequence[Paragraph], last: int, note: int) -> int:
    """The paragraph whose text carries footnote *note*'s marker: the block of
    footnotes after paragraph *last* belongs to it or to one before it."""
    marker = re.compile(rf"(?<=[\w.,;:)”’\"]){note}(?![\d,])|(?<=[.,;:”’)] ){note}(?=\s|$)"
                        rf"|(?<=[.,;:”’)]  ){note}(?=\s|$)")
    for par in reversed([p for p in paras if p.number <= last]):
        if marker.search(par.text):
            return par.number
    return last


def _with_note(f: Figure, number: int) -> Figure:
    return _replace_review(f, f"footnote {number}", keep=True)


def _replace_review(f: Figure, reason: str, *, keep: bool = False) -> Figure:
    reasons = list(f.review) if keep else [r for r in f.review if "report's own" not in r]
    return Figure(paragraph=f.paragraph, wording=f.wording, unit=f.unit, counted=f.counted,
                  quote=f.quote, as_of=f.as_of, low=f.low, high=f.high, point=f.point,
                  parent=f.parent, review=(*reasons, reason), in_footnote=f.in_footnote)


def iter_text_figures(report: Report) -> Iterator[Figure]:
    """The figures of the paragraphs' own text (footnotes left out)."""
    return (f for f in report.figures if not f.in_footnote)
