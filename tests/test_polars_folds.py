"""The columnar program's shortcuts for constant operands (docs/batch-speed.md, session 21 tblw): calendar
arithmetic on a column holding one date is worked out once (``per_date``), and a plain number's
denominator 1 is not multiplied in (``_mul`` by ``_ONE``). Both must give what the row-by-row form gives —
relativedelta's months and exact fractions — on columns of one date, of one date and nulls, of nulls only,
of no rows and of varied dates."""

from __future__ import annotations

import calendar
import operator
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import polars as pl
import pytest
from dateutil.relativedelta import relativedelta

from eligibility.compile.polars import _ONE, V, _compare, _Compiler, _div, _mul
from eligibility.expressions import Call, Lit, Name, Node, Unary

_D = Name(0, ("monitoring", "identified_on"), "field", "monitoring.identified_on")


def _month_end(d: date) -> date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


_COLUMNS: dict[str, list[date | None]] = {
    "one date": [date(2024, 1, 31)] * 7,
    "one date and nulls": [None, date(2024, 3, 31), None, date(2024, 3, 31), date(2024, 3, 31), None],
    "a leap day and nulls": [date(2024, 2, 29), None, date(2024, 2, 29)],
    "nulls only": [None, None, None],
    "one row": [date(2023, 9, 30)],
    "no rows": [],
    "varied": [date(2019, 12, 31) + timedelta(days=37 * k) for k in range(60)] + [None],
}


def _call(months: Node | None) -> Node:
    inner: Node = _D if months is None else Call(0, "add_months", [_D, months])
    return Call(0, "end_of_month", [inner])


@pytest.mark.parametrize("name", list(_COLUMNS))
@pytest.mark.parametrize("months", [-13, -1, 0, 1, 12, 25])
def test_month_arithmetic_on_constant_and_varied_columns(name: str, months: int) -> None:
    """``add_months(d, n)``, ``end_of_month(d)`` and their composition, as the compiler writes them with
    ``n`` a literal or a negated literal (``add_months(as_of, -1)``), equal relativedelta per row."""
    dates = _COLUMNS[name]
    df = pl.DataFrame({"monitoring.identified_on": dates}, schema={"monitoring.identified_on": pl.Date})
    compiler = _Compiler(None, date(2023, 1, 1), date(2023, 1, 1), None)  # type: ignore[arg-type]
    n: Node = Unary(0, "-", Lit(0, -months)) if months > 0 else Lit(0, months)
    cases = {
        "add_months": (Call(0, "add_months", [_D, n]), lambda d: d + relativedelta(months=months)),
        "end_of_month": (_call(None), _month_end),
        "both": (_call(n), lambda d: _month_end(d + relativedelta(months=months))),
    }
    for what, (node, expected) in cases.items():
        got = df.select(compiler.expr(node).expr.alias("x")).get_column("x")
        assert got.dtype == pl.Date, what
        assert got.to_list() == [None if d is None else expected(d) for d in dates], (what, name)


def test_constant_months_only_for_whole_numbers() -> None:
    """A months count that is not a literal whole number (a column) takes the row-by-row form, with its
    own value on each row."""
    df = pl.DataFrame(
        {"monitoring.identified_on": [date(2024, 1, 31)] * 4, "n": [1, -1, None, 13]},
        schema={"monitoring.identified_on": pl.Date, "n": pl.Int64},
    )
    compiler = _Compiler(None, date(2023, 1, 1), date(2023, 1, 1), None)  # type: ignore[arg-type]
    col = Name(0, ("n",), "field", "n")
    node = Call(0, "add_months", [_D, col])
    compiler.name = lambda nd: V(pl.col("n"), "int") if nd is col else _Compiler.name(compiler, nd)  # type: ignore[method-assign]
    got = df.select(compiler.expr(node).expr).to_series().to_list()
    assert got == [date(2024, 2, 29), date(2023, 12, 31), None, date(2025, 2, 28)]


def test_quotients_by_a_plain_number_compare_exactly() -> None:
    """A quotient against a plain number (the per-capita income against the line) is cross-multiplied by
    the number's denominator 1, which the program leaves out: every order and equality operator, either
    side, signs and zero divisors, against exact fractions; the factor left is the other one, of its
    own type."""
    money = pl.Decimal(38, 2)
    xs = [Decimal("7900.00"), Decimal("7899.99"), Decimal("-15800.01"), Decimal("0"), Decimal("23700.03")]
    ns = [1, 2, 3, -1, 0]
    df = pl.DataFrame(
        {"x": [x for x in xs for _ in ns], "n": [n for _ in xs for n in ns]}, schema={"x": money, "n": pl.Int64}
    )
    x, n = V(pl.col("x"), "dec", 2), V(pl.col("n"), "int")
    ops = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq}
    for line_value in (Decimal("7900"), Decimal("7900.01"), Decimal("-7900.005")):
        exp = line_value.as_tuple().exponent
        assert isinstance(exp, int)
        line = V(pl.lit(line_value, dtype=pl.Decimal(38, -exp)), "dec", -exp)
        for op, test in ops.items():
            for mirrored in (False, True):
                q = _div(x, n)
                expr = _compare(line, op, q) if mirrored else _compare(q, op, line)
                got = df.select(expr.alias("r")).get_column("r").to_list()
                for xv, nv, g in zip(df.get_column("x"), df.get_column("n"), got, strict=True):
                    if nv == 0:
                        assert g is None
                        continue
                    f, lv = Fraction(xv) / nv, Fraction(line_value)
                    assert g == (test(lv, f) if mirrored else test(f, lv)), (op, mirrored, xv, nv, line_value)
    product = _mul(x, _ONE)
    assert (product.kind, product.scale) == ("dec", 2)
    assert df.select(product.expr).to_series().equals(df.get_column("x"), check_names=False)
    assert df.select(_mul(_ONE, n).expr).to_series().equals(df.get_column("n"), check_names=False)
