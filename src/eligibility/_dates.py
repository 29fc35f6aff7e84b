"""Whole years and whole months between two dates, by integer arithmetic.

The rules count age and durations the way ``dateutil.relativedelta`` does (a member born on 02-29 turns
one on 02-28 of the next year; one month after 01-31 is 02-28/29), and the results here are exactly
``relativedelta(b, a).years`` and ``relativedelta(b, a).years * 12 + relativedelta(b, a).months`` —
tests compare them on random dates. They exist because building a ``relativedelta`` costs microseconds
of Python (a loop, ``calendar.monthrange``, datetime conversions) for what is a few integer operations,
and a county batch asks for several ages per household.

Only calendar dates are meant: a ``datetime`` is a ``date`` to the type checker, but its time of day,
which ``relativedelta`` would count, is ignored here.
"""

from __future__ import annotations

from datetime import date

__all__ = ["iso_date", "whole_months", "whole_years"]

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def whole_months(a: date, b: date) -> int:
    """Whole months from ``a`` to ``b``; negative when ``b`` is before ``a``, as relativedelta counts them.

    relativedelta starts from the difference of the (year, month) pairs, adds that many months to ``a``
    — clipping the day to the end of the target month, so 01-31 plus one month is 02-28 — and then steps
    one month back towards ``a`` while the result overshoots ``b``. One step is always enough: a month
    earlier (or later) lies wholly on the other side of ``b``. So only the day of ``b`` against ``a``'s day
    (clipped to ``b``'s month) decides.
    """
    months = (b.year - a.year) * 12 + (b.month - a.month)
    day = min(a.day, _days_in_month(b.year, b.month))  # a + months, clipped, falls on this day of b's month
    if b >= a:
        if b.day < day:
            months -= 1
    elif b.day > day:
        months += 1
    return months


def whole_years(born: date, on: date) -> int:
    """Whole years from ``born`` to ``on`` (an age); negative when ``on`` is before ``born``.

    relativedelta splits the whole months into years and months of the same sign, so the years are the
    months divided by 12 rounded towards zero (not floored: -13 months is -1 year and -1 month).
    """
    months = whole_months(born, on)
    return months // 12 if months >= 0 else -(-months // 12)


def iso_date(raw: object) -> date | None:
    """``raw`` as a date when it is a ``YYYY-MM-DD`` string naming a real calendar day, else None: how an
    ``{"as_of": ..., "household": {...}}`` record's date is read (JSON Lines files, the HTTP service)."""
    if not isinstance(raw, str) or len(raw) != 10:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None
