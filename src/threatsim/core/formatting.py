"""Numbers and units for people to read: the one module every table and chart takes them from.

* :func:`format_value`: a value in its unit (``$90M``, ``2.5 %/month``, ``14,000``),
  for labels, sweeps and comparisons.
* :func:`format_band` and :func:`format_se`: a band of the run table and its Monte
  Carlo standard error (money always in millions, so a column lines up).
* :func:`format_number`: a unit-less score with a k/M/G suffix (leaderboards).
* :func:`printable`: a label from the user (a scenario's name) safe to show on one
  line: control characters escaped, a very long one cut short.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LABEL_LIMIT", "format_band", "format_number", "format_se", "format_value",
           "printable"]


def format_band(value: float, unit: str) -> str:
    """A band of the run table: ``$90.0M``, ``14,000``, ``0.123``; ``-`` for NaN.

    >>> format_band(9.04e7, "usd"), format_band(14000.0, "people")
    ('$90.4M', '14,000')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit.startswith("usd"):
        return f"${value / 1e6:,.1f}M"
    if unit == "people":
        return f"{value:,.0f}"
    return f"{value:,.3g}"



def format_se(se: float, unit: str) -> str:
    """`` ±x``: a band's Monte Carlo standard error, in the band's unit.

    >>> format_se(2.5e6, "usd"), format_se(float("nan"), "people")
    (' ±$2.5M', '')
    """
    if se is None or not math.isfinite(se):
        return ""
    if unit.startswith("usd"):
        return f" ±${se / 1e6:.2g}M"
    return f" ±{se:.2g}"


def format_value(value: float, unit: str, *, digits: int = 3, short: bool = False) -> str:
    """A value in its unit for people to read: ``$90M``, ``2.5 %/month``, ``14,000``.

    ``short`` leaves out the per-time suffix (``/month``) for table cells
    whose header names the unit.

    >>> format_value(90e6, "usd"), format_value(0.025, "share_per_month")
    ('$90.0M', '2.50 %/month')
    >>> format_value(14e3, "people")
    '14,000'
    """
    if value is None or not np.isfinite(value):
        return "-" if value is None or np.isnan(value) else str(value)
    sign = "-" if value < 0 else ""
    size = abs(value)
    if unit.startswith("usd"):
        suffix = "" if unit == "usd" or short else "/" + unit.removeprefix(
            "usd_per_").replace("_", " ")
        if size >= 1e6:
            return f"{sign}${size / 1e6:,.{_decimals(size / 1e6, digits)}f}M{suffix}"
        if size >= 1e3:
            return f"{sign}${size / 1e3:,.{_decimals(size / 1e3, digits)}f}k{suffix}"
        return f"{sign}${size:,.{_decimals(size, digits)}f}{suffix}"
    if unit in ("share", "share_per_month"):
        suffix = " %" if unit == "share" or short else " %/month"
        return f"{100 * value:.{_decimals(100 * value, digits)}f}{suffix}"
    if unit == "people":
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}"



def _decimals(x: float, digits: int) -> int:
    """Decimals that show *digits* significant figures of *x* (at most 3)."""
    if x == 0:
        return 0
    mag = int(np.floor(np.log10(abs(x))))
    return int(min(3, max(0, digits - 1 - mag)))


def format_number(value: float) -> str:
    """A score for a table: three significant figures, k/M/G for large ones.

    >>> format_number(1234567.0), format_number(0.01234)
    ('1.23M', '0.0123')
    """
    if value is None or not math.isfinite(value):
        return "-" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
    size = abs(value)
    for cut, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= cut:
            return f"{value / cut:.3g}{suffix}"
    return f"{value:.3g}"


#: Characters a label (a scenario's name in a title or a table) is shown with at most.
LABEL_LIMIT = 80
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: object, limit: int = LABEL_LIMIT) -> str:
    """*text* as a label to show on one line (a chart's title, a table's head).

    Every character Python does not count as printable (``str.isprintable``:
    control characters such as NUL, newline and ESC, and format characters such as
    a right-to-left override) is shown as its escape, as ``repr`` writes it
    (``\\n``, ``\\x00``, ``\\x1b``, ``\\u202e``), so that a label can neither break a
    line, colour a terminal nor ask a font for a glyph it lacks. A label longer
    than *limit* characters is cut, with ``…`` at the end (an escape is never cut
    in two).

    >>> printable("financing")
    'financing'
    >>> print(printable("a\\x00b\\nc\\x1b[31m"))
    a\\x00b\\nc\\x1b[31m
    >>> printable("x" * 100, limit=10)
    'xxxxxxxxx…'
    """
    pieces, size = [], 0
    chars = str(text)
    for i, ch in enumerate(chars):
        piece = ch if ch.isprintable() else _escape(ch)
        rest = len(chars) - i - 1  # characters after this one: at least one each
        if size + len(piece) > limit or (rest and size + len(piece) >= limit):
            pieces.append("…")
            break
        pieces.append(piece)
        size += len(piece)
    return "".join(pieces)
