"""Numbers and units for people to read: the one module every table and chart takes them from.

* :func:`format_value`: a value in its unit (``$90M``, ``2.5 %/month``, ``14,000``),
  for labels, sweeps and comparisons.
* :func:`format_estimate`: an estimate and its Monte Carlo standard error, both rounded
  to the decimal place the standard error supports (``2,440 ± 200``, ``$12.3M ± $0.4M``):
  every table's bands.
* :func:`format_band` and :func:`format_se`: a value alone and a standard error alone
  (money in millions).
* :func:`format_number`: a unit-less score with a k/M/G suffix (leaderboards).
* :func:`printable`: a label from the user (a scenario's name) safe to show on one
  line: control characters escaped, a very long one cut short.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["LABEL_LIMIT", "format_band", "format_estimate", "format_number", "format_se",
           "format_value", "printable", "se_place"]


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
    return _plain(value, _significant_place(value, 3))



def se_place(se: float) -> int:
    """The power of ten of the last digit a standard error *se* is shown to.

    The Particle Data Group's rule: the three leading digits of *se* decide; from 100
    to 354 it keeps two significant digits, from 355 to 949 one, and from 950 it is
    rounded up to the next power of ten and keeps two. An estimate is rounded to
    the same place.

    >>> se_place(215.0), se_place(0.4), se_place(72.0), se_place(0.97), se_place(24.0)
    (1, -1, 1, -1, 0)
    """
    exp = math.floor(math.log10(se))
    lead = round(se / 10.0 ** (exp - 2))  # 100 ... 1000
    if lead >= 1000:  # 9.995 read as 1000: the next decade
        exp, lead = exp + 1, 100
    return exp - 1 if lead < 355 else exp  # from 950: 10**(exp+1) to two digits


def _significant_place(value: float, digits: int) -> int:
    """The place of the last of *digits* significant digits of *value* (0 for zero)."""
    if value == 0 or not math.isfinite(value):
        return 0
    return math.floor(math.log10(abs(value))) - digits + 1


def _plain(value: float, place: int) -> str:
    """*value* rounded to the 10**place digit, with thousands separators, never ``e+02``."""
    decimals = max(0, -place)
    rounded = round(value, -place) if place > 0 else value
    text = f"{rounded + 0.0:,.{decimals}f}"
    return text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) \
        else text


#: Money scales, largest first: a value is shown in the largest its size reaches.
_MONEY = ((1e6, "M"), (1e3, "k"), (1.0, ""))


def format_estimate(value: float, se: float | None, unit: str) -> str:
    """An estimate ``value ± se`` for a table, both rounded to the same decimal place.

    The place is the standard error's (:func:`se_place`): ``2,442 ± 215`` is
    ``2,440 ± 220`` and a median of 15 with a standard error of 72 is ``20 ± 70``.
    People are whole numbers (never rounded below units); money is in $M, $k or $
    by the value's size, a smaller scale where the standard error would need more
    than three decimals (never ``$0M`` for a nonzero standard error); no number is
    shown with an exponent. Without a standard error (``None``, NaN) the value has
    three significant figures (people: units); a zero standard error is ``± 0``.
    NaN is ``-``.

    >>> format_estimate(2442.0, 215.0, "people"), format_estimate(12.34e6, 0.4e6, "usd")
    ('2,440 ± 220', '$12.3M ± $0.4M')
    >>> format_estimate(15.0, 72.0, "people"), format_estimate(40e3, 300.0, "usd")
    ('20 ± 70', '$40.0k ± $0.3k')
    >>> format_estimate(663.5, 24.0, "days"), format_estimate(0.1234, 0.0042, "share")
    ('664 ± 24', '0.123 ± 0.004')
    >>> format_estimate(3.0, 0.0, "people"), format_estimate(2442.0, None, "days")
    ('3 ± 0', '2,440')
    """
    if value is None or math.isnan(value):
        return "-"
    has_se = se is not None and math.isfinite(se)
    if unit.startswith("usd"):
        return _money_estimate(value, se if has_se else None)
    if not has_se:
        return _plain(value, 0 if unit == "people" else _significant_place(value, 3))
    assert se is not None  # has_se
    if se == 0:
        place = 0 if unit == "people" else _significant_place(value, 3)
        return f"{_plain(value, place)} ± 0"
    place = se_place(abs(se))
    if unit == "people":
        place = max(place, 0)
    return f"{_plain(value, place)} ± {_plain(abs(se), place)}"


def _money_estimate(value: float, se: float | None) -> str:
    size = max(abs(value), abs(se) if se else 0.0)
    scales = [i for i, (cut, _) in enumerate(_MONEY) if size >= cut or cut == 1.0]
    start = scales[0]
    for cut, suffix in _MONEY[start:]:
        if se is None:  # as a band alone: $90.4M, $40.0k, $512
            return _signed_money(value / cut, -1 if cut > 1 else 0, suffix)
        if se == 0:
            return _signed_money(value / cut, -1 if cut > 1 else 0, suffix) + " ± $0"
        place = se_place(abs(se) / cut)
        if place >= -3 or cut == 1.0:
            place = max(place, -3)
            return (f"{_signed_money(value / cut, place, suffix)} ± "
                    f"{_signed_money(abs(se) / cut, place, suffix)}")
    raise AssertionError("unreachable: the last money scale always returns")


def _signed_money(x: float, place: int, suffix: str) -> str:
    text = _plain(x, place)
    return f"-${text[1:]}{suffix}" if text.startswith("-") else f"${text}{suffix}"


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
