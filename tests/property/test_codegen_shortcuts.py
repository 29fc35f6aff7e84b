"""The shortcuts the generated program takes (docs/codegen.md, "再快一倍 / Twice as fast"), each against
the general computation it replaces.

The oracle comparisons in ``test_codegen.py`` and ``test_compiled.py`` check whole decisions; these check
each shortcut on its own, over the whole range of its inputs, so that a shortcut that is right only for
the households the strategies happen to generate fails here:

- whole months and years up to the assessment date by integer arithmetic on the day's two anchors are
  relativedelta's, on every pair of dates (month ends, 29 February, a date after the assessment);
- a coded field tested by identity with enum members gives what comparing its Chinese value gave;
- a Decimal divided by an int, or by a Decimal, without the ``Decimal()`` copies, is the same number
  with the same exponent (the trace prints it);
- constants shared by value keep their spelling (``Decimal('1.0')`` is not ``Decimal('1.00')``);
- a Kleene and/or of tests written as branches has the truth table of ``kleene_and`` / ``kleene_or``;
- the date helpers by integer arithmetic (``_add_months``, ``_end_of_month``, ``_lacking``, the
  memo dropped from the last) are dateutil's ``relativedelta`` / ``rrule``, the oracle's primitives, on
  every date including month ends, 29 February and the calendar's last years;
- ``months_between(x, as_of)`` written like ``months_since(x)`` is relativedelta's;
- an item's ``age(d)`` / ``months_since(d)`` compared with a whole number, written as ``d`` compared
  with the day's ``_since_at_least`` date, is relativedelta's years (months) compared, for every
  comparison, either side, on every pair of dates (a date after the assessment included).
"""

from __future__ import annotations

import enum
import itertools
import operator
from datetime import date
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from hypothesis import example, given
from hypothesis import strategies as st

from eligibility import models
from eligibility.compile.python import (
    _add_months,
    _Compiler,
    _Days,
    _end_of_month,
    _lacking,
    _month_cut,
    _since_at_least,
    _whole,
)
from eligibility.expressions import UNKNOWN, Binary, BoolOp, Call, Lit, Name, kleene_and, kleene_or, months_lacking

DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


def _compiler() -> Any:
    """A compiler with no chain: enough for the methods that only build code text."""
    return _Compiler(None, date(2023, 9, 30), date(2023, 1, 1), None)  # type: ignore[arg-type]


def _since(fn: str, born: date, on: date) -> Any:
    """``age(born)`` / ``months_since(born)`` on ``on`` as the generated code computes it: the day
    function's lines, then the expression the program evaluates."""
    c = _compiler()
    expr = c.since(fn, "x")
    env: dict[str, Any] = {"as_of": on, "_month_cut": _month_cut, "_delta": _whole, "x": born}
    for line in c.day_lines:
        exec(line, env)  # the generator's own lines, no outside text
    return eval(expr, env)  # the generator's own expression


@given(DAYS, DAYS)
@example(date(2020, 2, 29), date(2021, 2, 28))
@example(date(2020, 2, 29), date(2024, 2, 29))
@example(date(2019, 1, 31), date(2019, 2, 28))
@example(date(2019, 3, 31), date(2019, 4, 30))
@example(date(2019, 3, 30), date(2019, 4, 30))
@example(date(2023, 9, 30), date(2023, 9, 30))
@example(date(2024, 1, 1), date(2023, 12, 31))
def test_months_and_years_to_the_day_are_relativedeltas(born: date, on: date) -> None:
    delta = relativedelta(on, born)
    assert _since("months_since", born, on) == delta.years * 12 + delta.months
    assert _since("age", born, on) == delta.years


def _coded_types() -> list[type[enum.Enum]]:
    return [
        t
        for t in vars(models).values()
        if isinstance(t, type) and issubclass(t, models.CodedEnum) and t is not models.CodedEnum
    ]


def test_coded_values_by_member_identity_are_comparisons_of_their_values() -> None:
    """``x._value_ == v`` ⇔ ``x is member(v)``; ``x._value_ in vs`` ⇔ ``x in {member(v)}``;
    ``v in {m._value_ for m in s}`` ⇔ ``member(v) in s`` — for every coded type, every member, every
    value of the type and a value no member has."""
    for kind in _coded_types():
        members = {m.value: m for m in kind}
        values = [*members, "不是任何一项 / none of them"]
        for x in kind:
            for v in values:
                assert (x._value_ == v) == (x is members.get(v))
            for n in range(3):
                for options in itertools.combinations(values, n):
                    chosen = frozenset(members[v] for v in options if v in members)
                    assert (x._value_ in options) == (x in chosen)
        for n in range(3):
            for held in itertools.combinations(list(kind), n):
                s = frozenset(held)
                for v in values:
                    assert (v in {m._value_ for m in s}) == (v in members and members[v] in s)


MONEY = st.decimals(min_value=-(10**6), max_value=10**6, places=2, allow_nan=False, allow_infinity=False)


@given(st.lists(MONEY | st.integers(-(10**6), 10**6).map(Decimal), min_size=1, max_size=5), st.integers(1, 40))
@example([Decimal("1.10"), Decimal("2")], 3)
@example([Decimal("7900.00")], 1)
def test_decimal_division_without_copies_keeps_value_and_spelling(amounts: list[Decimal], size: int) -> None:
    total = sum(amounts[1:], amounts[0])  # a net income: a sum of amounts of different exponents
    assert repr(total / size) == repr(Decimal(total) / Decimal(size))
    assert repr(size / total if total else 0) == repr(Decimal(size) / Decimal(total) if total else 0)
    d = Decimal(size)
    assert repr(total / d) == repr(Decimal(total) / Decimal(d))


def test_constants_are_shared_by_value_and_spelling_only() -> None:
    c = _compiler()
    a, b = c.const(Decimal("7900")), c.const(Decimal(7900))
    assert a == b  # the same value, spelt the same: one name
    assert c.const(Decimal("1.0")) != c.const(Decimal("1.00"))  # equal, but printed differently
    assert c.const(1) != c.const(Decimal(1))  # equal, but not the same type
    assert c.const(("a", "b")) == c.const(("a", "b"))
    for _ in range(1000):  # temporary objects: a reused id must not alias another constant
        c.const(frozenset({"x", str(_)}))
    assert len({c.const(frozenset({"x", str(i)})) for i in range(1000)}) == 1000


TRUTH = (True, False, UNKNOWN)


def test_kleene_tests_as_branches_have_the_truth_tables() -> None:
    """Every and/or of one to three tests, each True, False or unknown."""
    for op, table in (("and", kleene_and), ("or", kleene_or)):
        for n in (1, 2, 3):
            c = _compiler()
            c.depth = 0
            tests = [(f"u{i}", f"h{i}") for i in range(n)]
            c.kleene_tests(op, tests, False, ("r = True", "r = U", "r = False"))
            code = "\n".join(c.lines)
            for values in itertools.product(TRUTH, repeat=n):
                env: dict[str, Any] = {"U": UNKNOWN, "r": None}
                for i, v in enumerate(values):
                    env[f"u{i}"], env[f"h{i}"] = v is UNKNOWN, v is True
                exec(code, env)  # the generator's own code
                assert env["r"] is table(list(values)), (op, values, code)


def test_the_day_memo_gives_each_date_its_own_values() -> None:
    calls: list[date] = []
    days = _Days()
    days.fn = lambda on: calls.append(on) or (on.year * 12 + on.month, _month_cut(on))
    first, second = date(2023, 9, 30), date(2023, 10, 15)
    assert days[first] == (2023 * 12 + 9, 99) and days[second] == (2023 * 12 + 10, 15)
    assert days[first] == (2023 * 12 + 9, 99) and calls == [first, second]


MONTH_ENDS = st.builds(
    lambda y, m: _end_of_month.__wrapped__(date(y, m, 1)), st.integers(1900, 2100), st.integers(1, 12)
)
"""The last day of a month (28, 29, 30 or 31), computed by the helper under test only to pick dates:
the tests compare it with dateutil anyway."""
ANY_DAY = st.one_of(DAYS, MONTH_ENDS, st.dates(min_value=date(9990, 1, 1)), st.dates(max_value=date(1, 12, 31)))


def _same_or_both_fail(mine: Any, theirs: Any) -> None:
    """Either both give the same date, or both raise ValueError (a date outside years 1–9999)."""
    try:
        expected = theirs()
    except (ValueError, OverflowError):
        try:
            got = mine()
        except ValueError:
            return
        raise AssertionError(f"dateutil raises, the helper gives {got}") from None
    assert mine() == expected


@given(ANY_DAY, st.integers(-1200, 1200))
@example(date(2020, 1, 31), 1)
@example(date(2021, 1, 31), 1)
@example(date(2020, 2, 29), 12)
@example(date(2020, 2, 29), -12)
@example(date(2020, 2, 29), 48)
@example(date(2019, 3, 31), -1)
@example(date(2023, 12, 31), 1)
@example(date(2023, 1, 1), -1)
@example(date(9999, 12, 31), 1)
@example(date(1, 1, 1), -1)
def test_add_months_is_relativedeltas(d: date, n: int) -> None:
    _add_months.cache_clear()
    _same_or_both_fail(lambda: _add_months(d, n), lambda: d + relativedelta(months=n))
    _same_or_both_fail(lambda: _add_months(d, n), lambda: d + relativedelta(months=n))  # from the memo


@given(ANY_DAY)
@example(date(2024, 2, 1))
@example(date(2023, 2, 28))
@example(date(1900, 2, 10))
@example(date(2000, 2, 10))
@example(date(9999, 12, 31))
def test_end_of_month_is_relativedeltas(d: date) -> None:
    assert _end_of_month.__wrapped__(d) == d + relativedelta(day=31) == _end_of_month(d)


@given(st.lists(ANY_DAY, max_size=8), ANY_DAY, ANY_DAY)
@example([date(2024, 2, 29)], date(2024, 1, 31), date(2024, 3, 1))
@example([date(2023, 9, 1), date(2023, 10, 1)], date(2023, 9, 30), date(2023, 11, 1))
@example([date(2023, 9, 1)], date(2023, 9, 30), date(2023, 9, 1))
@example([], date(2023, 9, 30), date(2023, 8, 31))
@example([date(2023, 7, 1)], date(2023, 9, 30), date(2023, 8, 31))
@example([], date(2023, 9, 30), date(2023, 9, 1))
@example([date(2023, 12, 31)], date(2023, 11, 30), date(2024, 2, 29))
@example([], date(9999, 11, 15), date(9999, 12, 31))
def test_lacking_is_the_count_and_first_of_the_oracles_months(dates: list[date], start: date, end: date) -> None:
    """``months_without`` and ``first_month_without`` in the programs: (the count, the first or UNKNOWN)."""
    if (end.year - start.year) * 12 > 2400:  # the oracle's rrule walks every month: keep it short
        start = date(end.year - 200, start.month, 1) if end.year > 200 else start
    months = months_lacking(dates, start, end)
    assert _lacking(dates, start, end) == (len(months), months[0] if months else UNKNOWN)


@given(DAYS, DAYS)
@example(date(2020, 2, 29), date(2021, 2, 28))
@example(date(2024, 1, 31), date(2023, 12, 31))
def test_months_between_and_the_assessment_date_is_relativedeltas(x: date, on: date) -> None:
    """The generator writes ``months_between(x, as_of)`` as ``months_since(x)``; that is this, per date."""
    delta = relativedelta(on, x)
    assert _since("months_since", x, on) == delta.years * 12 + delta.months == _whole(x, on)[1]


@given(ANY_DAY, DAYS, st.integers(1, 1300))
@example(date(2017, 2, 28), date(2018, 2, 28), 12)
@example(date(2016, 2, 29), date(2017, 2, 28), 12)
@example(date(2016, 3, 1), date(2017, 2, 28), 12)
@example(date(2023, 8, 31), date(2023, 9, 30), 1)
@example(date(2023, 9, 1), date(2023, 9, 30), 1)
@example(date(2017, 9, 30), date(2023, 9, 30), 72)
@example(date(2017, 10, 1), date(2023, 9, 30), 72)
def test_since_at_least_is_the_last_date_with_that_many_months(x: date, on: date, months: int) -> None:
    delta = relativedelta(on, x)
    assert (delta.years * 12 + delta.months >= months) == (x <= _since_at_least(on, months))


def _date_call(fn: str) -> Call:
    """``fn(member.birth_date)``, or ``months_between(member.birth_date, as_of)``."""
    born = Name(0, ("member", "birth_date"), "item", "birth_date")
    if fn == "months_between":
        return Call(0, fn, [born, Name(0, ("as_of",), "as_of", "as_of")])
    return Call(0, fn, [born])


def _since_test(fn: str, op: str, n: int, const_left: bool, x: Any, on: date) -> Any:
    """``fn(member.birth_date) op n`` (``n op fn(…)`` when ``const_left``) as the generated test computes
    it: the day function's lines, then U when ``unknown`` holds, else ``holds``."""
    c = _compiler()
    c.loop_vars.append(("m1", "members"))
    c.item_dicts.add("m1")
    c.date_bounds = True  # (as build sets it)
    call = _date_call(fn)
    node = Binary(0, op, Lit(0, n), call) if const_left else Binary(0, op, call, Lit(0, n))
    got = c.test(node)
    assert got is not None and "_since_at_least" in "\n".join(c.day_lines)
    env: dict[str, Any] = {"as_of": on, "_since_at_least": _since_at_least, "m1d": {"birth_date": x}}
    for line in c.day_lines:
        exec(line, env)  # the generator's own lines, no outside text
    unknown, holds = got
    return UNKNOWN if eval(unknown, env) else eval(holds, env)  # the generator's own expressions


@given(
    st.one_of(ANY_DAY, st.none()),
    DAYS,
    st.sampled_from(["age", "months_since", "months_between"]),
    st.sampled_from(["<", "<=", ">", ">="]),
    st.integers(0, 100),
    st.booleans(),
)
@example(date(2017, 9, 30), date(2023, 9, 30), "age", ">=", 6, False)
@example(date(2017, 10, 1), date(2023, 9, 30), "age", ">=", 6, False)
@example(date(2007, 10, 1), date(2023, 9, 30), "age", "<=", 15, False)
@example(date(2007, 9, 30), date(2023, 9, 30), "age", "<=", 15, False)
@example(date(2024, 1, 1), date(2023, 9, 30), "age", "<=", 0, False)
@example(date(2024, 1, 1), date(2023, 9, 30), "months_since", "<", 1, True)
@example(date(2023, 3, 31), date(2023, 9, 30), "months_between", ">=", 6, False)
@example(date(2023, 4, 1), date(2023, 9, 30), "months_between", ">=", 6, False)
def test_age_compared_as_a_date_is_the_age_compared(
    x: date | None, on: date, fn: str, op: str, n: int, const_left: bool
) -> None:
    c = _compiler()
    c.loop_vars.append(("m1", "members"))
    c.item_dicts.add("m1")
    c.date_bounds = True  # (as build sets it)
    call = _date_call(fn)
    as_written = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op] if const_left else op  # f as_written n
    if n + (as_written in (">", "<=")) < 1:  # a bound below 1: the general path, not a date
        node = Binary(0, op, Lit(0, n), call) if const_left else Binary(0, op, call, Lit(0, n))
        assert c.test(node) is None or "_since_at_least" not in "\n".join(c.day_lines)
        return
    if x is None:
        expected: Any = UNKNOWN
    else:
        years, months = _whole.__wrapped__(x, on)
        f = years if fn == "age" else months  # (months_between(d, as_of) is months_since(d))
        compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
        expected = compare(n, f) if const_left else compare(f, n)
    assert _since_test(fn, op, n, const_left, x, on) == expected


def test_an_and_of_tests_of_one_date_reads_it_once() -> None:
    """``age(m.birth_date) >= 6 and age(m.birth_date) <= 15``: one unknown (the first item's read), and
    the second item's comparison reads the same local."""
    c = _compiler()
    c.loop_vars.append(("m1", "members"))
    c.item_dicts.add("m1")
    c.date_bounds = True  # (as build sets it)
    call = Call(0, "age", [Name(0, ("member", "birth_date"), "item", "birth_date")])
    got = c.test(BoolOp(0, "and", [Binary(0, ">=", call, Lit(0, 6)), Binary(0, "<=", call, Lit(0, 15))]))
    assert got is not None
    unknown, holds = got
    assert unknown.count(":=") == 1 and holds.count("x") == 2 and len(set(holds.split()) & {"<=", ">"}) == 2
    for born, expected in ((date(2017, 9, 30), True), (date(2017, 10, 1), False), (date(2007, 10, 1), True)):
        env: dict[str, Any] = {"as_of": date(2023, 9, 30), "_since_at_least": _since_at_least}
        env["m1d"] = {"birth_date": born}
        for line in c.day_lines:
            exec(line, env)  # the generator's own lines
        assert eval(unknown, env) is False  # the generator's own expression
        assert eval(holds, env) is expected, born


def test_an_and_whose_first_test_reads_two_attributes_keeps_their_own_unknowns() -> None:
    """``m.disability_grade == m.work_months and m.disability_grade > 2``: the first test is unknown when
    either attribute is, the second only when the grade is — so they are not one test with one unknown
    (a known grade of 1 makes the ``and`` False whatever the months). Whatever code the compiler writes
    for it, its Kleene value is the truth table's."""
    grade = Name(0, ("member", "disability_grade"), "item", "disability_grade")
    months = Name(0, ("member", "work_months"), "item", "work_months")
    node = BoolOp(0, "and", [Binary(0, "==", grade, months), Binary(0, ">", grade, Lit(0, 2))])
    for g, w in itertools.product((None, 1, 3), (None, 1, 3)):
        c = _compiler()
        c.loop_vars.append(("m1", "members"))
        c.item_dicts.add("m1")
        c.date_bounds = True
        got = c.test(node)
        if got is None:  # the general path: not this shortcut's business
            continue
        env: dict[str, Any] = {"U": UNKNOWN, "m1d": {"disability_grade": g, "work_months": w}}
        unknown, holds = got
        value = UNKNOWN if eval(unknown, env) else eval(holds, env)  # the generator's own expressions
        first = UNKNOWN if g is None or w is None else g == w
        second = UNKNOWN if g is None else g > 2
        assert value == kleene_and([first, second]), (g, w)
