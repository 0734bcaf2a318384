"""Month arithmetic: scenarios step in calendar months from a start month."""

from __future__ import annotations

import re

import numpy as np

__all__ = ["month_index", "month_label", "month_range", "parse_month"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: object) -> np.datetime64:
    """Parse ``"YYYY-MM"`` into a ``datetime64[M]``; raise ValueError otherwise.

    >>> parse_month("2019-01")
    np.datetime64('2019-01')
    >>> parse_month("2019-13")
    Traceback (most recent call last):
    ...
    ValueError: must be a month written 'YYYY-MM' (e.g. '2019-01')
    """
    if not isinstance(text, str):
        msg = "must be a month written as a string 'YYYY-MM'"
        raise ValueError(msg)
    match = _MONTH.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        msg = "must be a month written 'YYYY-MM' (e.g. '2019-01')"
        raise ValueError(msg)
    return np.datetime64(text, "M")


def month_index(start: np.datetime64, month: np.datetime64) -> int:
    """Whole months from *start* to *month* (negative before the start).

    >>> month_index(parse_month("2019-01"), parse_month("2020-03"))
    14
    """
    return int((month.astype("datetime64[M]") - start.astype("datetime64[M]")).astype(int))


def month_range(start: np.datetime64, n: int) -> np.ndarray:
    """*n* consecutive month-start dates from *start*, as ``datetime64[ns]``.

    >>> month_range(parse_month("2019-11"), 3).astype("datetime64[M]")
    array(['2019-11', '2019-12', '2020-01'], dtype='datetime64[M]')
    """
    months = start.astype("datetime64[M]") + np.arange(n)
    out: np.ndarray = months.astype("datetime64[D]").astype("datetime64[ns]")
    return out


def month_label(start: np.datetime64, index: int) -> str:
    """``"YYYY-MM"`` of the month *index* months after *start*.

    >>> month_label(parse_month("2019-01"), 12)
    '2020-01'
    """
    return str(start.astype("datetime64[M]") + index)
