"""The polars target (issue 10 §1): the polars operators it relies on, dateutil's whole months, and the
bundled examples decided as one table exactly as :class:`~eligibility.Engine` decides them one by one."""

from __future__ import annotations

import json
import operator
from datetime import date, timedelta
from decimal import Decimal
from itertools import product
from typing import Any

import polars as pl
import pytest
from dateutil.relativedelta import relativedelta

from eligibility import Engine, parse_household
from eligibility.compile.polars import (
    INPUT_SCHEMA,
    V,
    _compare,
    _div,
    _mul,
    add_months,
    decide_table,
    decision_row,
    households_frame,
    months_between,
    since_bound,
    whole_years,
)
from eligibility.compile.python import program_for
from eligibility.errors import EvaluationError
from eligibility.ruleset import RuleSet

from .conftest import EXAMPLES, household

DEFAULT_DATE = date(2023, 9, 30)
TRI = [True, False, None]


# --------------------------------------------------------------------------- polars operators relied on


def _pairs() -> pl.DataFrame:
    return pl.DataFrame({"a": [a for a, _ in product(TRI, TRI)], "b": [b for _, b in product(TRI, TRI)]})


def _k_and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _k_or(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def test_and_or_not_are_kleene() -> None:
    """``&``, ``|`` and ``~`` on nullable Booleans are Kleene's: null & false = false, null | true = true."""
    out = _pairs().select(x=pl.col("a") & pl.col("b"), y=pl.col("a") | pl.col("b"), n=~pl.col("a"))
    for (a, b), row in zip(product(TRI, TRI), out.iter_rows(named=True), strict=True):
        assert row["x"] == _k_and(a, b)
        assert row["y"] == _k_or(a, b)
        assert row["n"] == (None if a is None else not a)


def test_comparisons_with_null_are_null() -> None:
    df = pl.DataFrame({"x": [1, None, 3]}, schema={"x": pl.Int64})
    for op in ("<", "<=", ">", ">=", "==", "!="):
        got = df.select(r=_compare(V(pl.col("x"), "int"), op, V(pl.lit(2), "int"))).get_column("r").to_list()
        assert got[1] is None
    eq = pl.DataFrame({"a": [True, None]}).select(pl.col("a") == pl.lit(True)).to_series().to_list()
    assert eq == [True, None]


def test_is_in_and_list_contains_with_nulls() -> None:
    """``is_in`` gives false (not null) for a null value, hence the explicit ``when(known)`` around it;
    ``list.contains`` on a null list is null."""
    df = pl.DataFrame({"x": ["C", None, "A"], "l": [["因病"], None, []]})
    opts = pl.lit(pl.Series(["C", "D"])).implode()
    got = df.select(
        raw=pl.col("x").is_in(opts),
        guarded=pl.when(pl.col("x").is_not_null()).then(pl.col("x").is_in(opts)),
        contains=pl.col("l").list.contains(pl.lit("因病")),
    )
    assert got.get_column("guarded").to_list() == [True, None, False]
    assert got.get_column("contains").to_list() == [True, None, False]
    assert got.get_column("raw").to_list()[0] is True


def test_list_any_is_not_kleene_so_aggregates_are_hand_written() -> None:
    """polars' own ``list.any`` ignores nulls (``[null, false]`` is false, Kleene says unknown): the
    target never uses it for ``any()``/``all()`` of the rule language."""
    df = pl.DataFrame({"l": [[None, False], [None, True]]}, schema={"l": pl.List(pl.Boolean)})
    assert df.select(pl.col("l").list.any()).to_series().to_list() == [False, True]


def test_horizontal_and_group_reductions_on_non_null_inputs() -> None:
    """any/all/sum_horizontal and a group's ``any`` are used only on non-null Booleans (fired, unknown,
    is_null flags); their plain truth tables suffice there."""
    df = pl.DataFrame({"g": [1, 1, 2], "a": [True, False, False], "b": [False, False, False]})
    got = df.select(
        any=pl.any_horizontal("a", "b"), all=pl.all_horizontal("a", "b"), n=pl.sum_horizontal(pl.col("a").cast(int))
    )
    assert got.get_column("any").to_list() == [True, False, False]
    assert got.get_column("all").to_list() == [False, False, False]
    agg = df.group_by("g", maintain_order=True).agg(pl.col("a").any()).get_column("a").to_list()
    assert agg == [True, False]


def test_concat_list_drop_nulls_keeps_order() -> None:
    df = pl.DataFrame({"a": [True, False]})
    got = df.select(
        pl.concat_list([pl.when(pl.col("a")).then(pl.lit("x")), pl.lit("y"), pl.when(~pl.col("a")).then(pl.lit("z"))])
        .list.drop_nulls()
        .alias("l")
    )
    assert got.get_column("l").to_list() == [["x", "y"], ["y", "z"]]


def test_decimal_products_are_widened_and_quotients_never_divided() -> None:
    """polars 2 keeps the larger scale of a decimal product (10.01 × 10.01 → 100.20): the target widens
    both sides first. A quotient is compared by cross-multiplication, sign-aware, and is unknown when
    the divisor is zero."""
    money = pl.Decimal(38, 2)
    df = pl.DataFrame(
        {"x": [Decimal("10.01"), Decimal("30001.00"), Decimal("5"), Decimal("-1")], "n": [1, 3, 0, -3]},
        schema={"x": money, "n": pl.Int64},
    )
    x, n = V(pl.col("x"), "dec", 2), V(pl.col("n"), "int")
    naive = df.select(pl.col("x") * pl.col("x")).to_series()[0]
    assert naive == Decimal("100.20")
    assert df.select(_mul(x, x).expr).to_series()[0] == Decimal("100.2001")
    q = _div(x, n)
    line = V(pl.lit(Decimal("10000.33"), dtype=money), "dec", 2)
    got = df.select(lt=_compare(q, "<", line), gt=_compare(q, ">", line), eq=_compare(q, "==", line))
    # 10.01 < line; 30001/3 = 10000.333… > 10000.33; 5/0 unknown; -1/-3 = 0.333… < line
    assert got.get_column("lt").to_list() == [True, False, None, True]
    assert got.get_column("gt").to_list() == [False, True, None, False]
    assert got.get_column("eq").to_list() == [False, False, None, False]


# ------------------------------------------------------------------------------------ dateutil months

_DAYS = [
    date(y, m, d)
    for y in (2019, 2020, 2023, 2024)
    for m, d in ((1, 1), (1, 30), (1, 31), (2, 27), (2, 28), (3, 1), (3, 30), (3, 31), (6, 15), (12, 31))
] + [date(2020, 2, 29), date(2024, 2, 29), date(2000, 2, 29), date(2100, 2, 28)]


def test_add_months_clips_month_ends_as_relativedelta() -> None:
    rows = [(d, n) for d in _DAYS for n in (-25, -13, -12, -1, 0, 1, 2, 11, 12, 13, 48)]
    df = pl.DataFrame({"d": [d for d, _ in rows], "n": [n for _, n in rows]})
    got = df.select(add_months(pl.col("d"), pl.col("n"))).to_series().to_list()
    assert got == [d + relativedelta(months=n) for d, n in rows]
    assert date(2023, 1, 31) + relativedelta(months=1) == date(2023, 2, 28)
    assert df.filter((pl.col("d") == date(2024, 1, 31)) & (pl.col("n") == 1)).height == 1


def test_whole_months_and_years_as_relativedelta() -> None:
    """Both directions (a later date minus an earlier one and the reverse), month ends and leap days."""
    pairs = [(a, b) for a in _DAYS for b in _DAYS] + [
        (date(2020, 2, 29), date(2021, 2, 28)),
        (date(2020, 2, 29), date(2024, 2, 28)),
        (date(2020, 2, 29), date(2024, 2, 29)),
        (date(2023, 1, 31), date(2023, 2, 28)),
        (date(2023, 3, 31), date(2023, 2, 28)),
    ]
    pairs += [(date(2020, 1, 31), date(2020, 1, 31) + timedelta(days=k)) for k in range(-70, 70)]
    df = pl.DataFrame({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]})
    m = months_between(pl.col("a"), pl.col("b"))
    got = df.select(m=m, y=whole_years(m))
    for (a, b), gm, gy in zip(pairs, got.get_column("m"), got.get_column("y"), strict=True):
        rd = relativedelta(b, a)
        assert (gm, gy) == (rd.years * 12 + rd.months, rd.years), (a, b)


def test_since_bound_is_the_last_date_with_that_many_whole_months() -> None:
    """``since_bound(on, k)`` is the last date with ≥ k whole months to ``on`` (relativedelta's count),
    and every earlier date has them too, every later one not: for every day of 2019-2025 as ``on``
    (month ends, leap days), checked on the bound, the day after it, and dates around it."""
    ons = [date(2019, 1, 1) + timedelta(days=i) for i in range(0, 7 * 366, 1)]
    ks = [1, 2, 11, 12, 13, 72, 180, 192, 216]
    df = pl.DataFrame({"on": [o for o in ons for _ in ks], "k": [k for _ in ons for k in ks]})
    got = df.select(*(since_bound(pl.col("on"), k).alias(str(k)) for k in ks))
    for i, on in enumerate(ons):
        for k in ks:
            t = got.item(i * len(ks) + ks.index(k), str(k))
            assert _months(t, on) >= k > _months(t + timedelta(days=1), on), (on, k, t)
    for t, on in [(date(2020, 2, 29), date(2021, 2, 28)), (date(2023, 2, 28), date(2023, 3, 30))]:
        assert pl.select(since_bound(pl.lit(on), 12 if t.year < on.year else 1)).item() == t


@pytest.mark.parametrize(
    "ons",
    [
        [date(2024, 2, 29)] * 4,  # one assessment date (a part's usual case)
        [date(2024, 2, 29), None, date(2024, 2, 29), None],  # one date and nulls
        [date(2023, 3, 30), None, date(2023, 3, 31), date(2023, 3, 30)],  # a few dates and a null
        [None, None],
    ],
)
def test_since_bound_per_distinct_date_and_null(ons: list[date | None]) -> None:
    """The bound is worked out per distinct date and spread back row by row; a null date's is null."""
    df = pl.DataFrame({"on": ons}, schema={"on": pl.Date})
    got = df.select(since_bound(pl.col("on"), 13)).to_series().to_list()
    assert [t is None for t in got] == [on is None for on in ons]
    for on, t in zip(ons, got, strict=True):
        if on is not None:
            assert t is not None and _months(t, on) >= 13 > _months(t + timedelta(days=1), on), (on, t)


def _months(a: date, b: date) -> int:
    rd = relativedelta(b, a)
    return rd.years * 12 + rd.months


# ------------------------------------------------------------------------------------------ examples


def _examples() -> list[tuple[str, dict[str, Any], date]]:
    out = []
    for p in sorted(EXAMPLES.glob("*.json")):
        data = json.loads(p.read_text(encoding="utf-8"))
        on = DEFAULT_DATE
        if "household" in data:
            on = date.fromisoformat(data["as_of"])
            data = data["household"]
        out.append((p.stem, data, on))
    return out


def _table(ruleset: RuleSet, items: list[tuple[dict[str, Any], date]], **kw: Any) -> pl.DataFrame:
    frame = households_frame([parse_household(d) for d, _ in items], [on for _, on in items])
    return decide_table(ruleset, frame, **{"rowwise": 0, **kw})  # the columnar target, compared with the engine


def _assert_rows(engine: Engine, items: list[tuple[dict[str, Any], date]], table: pl.DataFrame) -> None:
    assert table.height == len(items)
    for (data, on), row in zip(items, table.iter_rows(named=True), strict=True):
        expected = decision_row(engine.evaluate(data, on, trace="none"))
        for key, value in expected.items():
            assert row[key] == value, (data["household_id"], key)


def test_examples_decided_as_one_table_equal_the_engine(ruleset: RuleSet, engine: Engine) -> None:
    examples = _examples()
    assert len(examples) >= 20  # every example household (issue 11 adds its own)
    items = [(d, on) for _, d, on in examples]
    table = _table(ruleset, items)
    assert list(table.columns[: len(INPUT_SCHEMA) and 3]) == ["_row", "household_id", "jurisdiction"]
    _assert_rows(engine, items, table)
    statuses = set(table.get_column("status"))
    assert {"identified", "not_identified", "needs_review", "already_monitored"} <= statuses


def test_mixed_jurisdictions_come_back_in_input_order(ruleset: RuleSet, engine: Engine) -> None:
    examples = _examples()
    items = [(d, on) for _, d, on in reversed(examples)] + [(d, on) for _, d, on in examples[::3]]
    table = _table(ruleset, items)
    assert table.get_column("_row").to_list() == list(range(len(items)))
    assert table.get_column("household_id").to_list() == [d["household_id"] for d, _ in items]
    assert table.get_column("jurisdiction").n_unique() >= 3
    _assert_rows(engine, items, table)


def test_absent_members_differ_from_an_empty_list(ruleset: RuleSet, engine: Engine) -> None:
    absent = household(household_id="ABSENT")
    absent.pop("members")
    empty = household(household_id="EMPTY", members=[])
    items = [(absent, DEFAULT_DATE), (empty, DEFAULT_DATE)]
    table = _table(ruleset, items, rule_columns=True)
    _assert_rows(engine, items, table)
    assert table.get_column("fact:household_size").to_list() == [None, 0]
    # per-capita income of no members is unknown, not a division error
    assert table.get_column("fact:per_capita_net_income").to_list() == [None, None]


def test_a_record_without_region_needs_review(ruleset: RuleSet, engine: Engine) -> None:
    data = household(household_id="NOREGION")
    data.pop("region")
    table = _table(ruleset, [(data, DEFAULT_DATE)])
    row = table.row(0, named=True)
    assert row["status"] == "needs_review"
    assert row["blocking"] == [{"name": "region", "fields": ["$.region"]}]
    assert row["jurisdiction"] is None
    _assert_rows(engine, [(data, DEFAULT_DATE)], table)


def test_per_row_errors_do_not_stop_the_table(ruleset: RuleSet, engine: Engine) -> None:
    """No rules are in force in 1990: that row says so in ``error``; a national-pack household (no
    monitoring line in 2023) is decided with the gap named; the other rows are decided."""
    good = household(household_id="GOOD")
    national = household(household_id="NATIONAL", region="110101001001")
    items = [(good, DEFAULT_DATE), (national, DEFAULT_DATE), (good, date(1990, 1, 1)), (good, DEFAULT_DATE)]
    table = _table(ruleset, items)
    errors = table.get_column("error").to_list()
    for (data, on), err in zip(items, errors, strict=True):
        try:
            engine.evaluate(data, on, trace="none")
        except EvaluationError as exc:
            assert err == str(exc)
        else:
            assert err is None
    assert errors[0] is None and errors[1] is None and errors[2] is not None
    assert table.get_column("status").to_list()[2] is None
    assert table.get_column("missing_parameters").to_list()[1] == ["monitoring_line"]
    _assert_rows(engine, [items[0], items[1], items[3]], table.filter(pl.col("error").is_null()))


def test_as_of_argument_fills_the_column(ruleset: RuleSet, engine: Engine) -> None:
    data = household(household_id="ASOF")
    frame = households_frame([parse_household(data)]).drop("as_of")
    table = decide_table(ruleset, frame, as_of=DEFAULT_DATE)
    _assert_rows(engine, [(data, DEFAULT_DATE)], table)


def test_rule_and_fact_columns_are_the_python_programs(ruleset: RuleSet, engine: Engine) -> None:
    """With ``rule_columns=True``: every rule's outcome exactly, every fact's value (a quotient to within
    1e-16 of the Python target's 28-digit Decimal: the one output that is an actual division)."""
    examples = _examples()
    items = [(d, on) for _, d, on in examples]
    table = _table(ruleset, items, rule_columns=True)
    for (data, on), row in zip(items, table.iter_rows(named=True), strict=True):
        h = parse_household(data)
        prog = program_for(ruleset.chain(ruleset.pack_for_region(h.region or "")), on)
        values, nodes, _, _ = prog.run(h, on)
        for rule, _, root in prog.rules:
            outcome = nodes[root.index]  # "1"/"0"/"?" or True/False/UNKNOWN, as the compact trace stores it
            want = {"1": True, "0": False, "?": None, True: True, False: False}.get(outcome)
            assert row["rule:" + rule.id] == want, (data["household_id"], rule.id)
        for slot in prog.facts:
            want = values[slot.index]
            got = row["fact:" + slot.name]
            if isinstance(want, Decimal) and isinstance(got, Decimal):
                assert abs(want - got) < Decimal("1e-16"), slot.name
            elif isinstance(want, frozenset | tuple | list):
                assert sorted(got or []) == sorted(want), slot.name
            else:
                assert got == (None if want.__class__.__name__ == "Unknown" else want), slot.name


def test_audit_columns_come_in_the_same_order_every_run(ruleset: RuleSet) -> None:
    """Parts of several jurisdictions and dates carry different rule and fact columns; their union is
    in the order the parts first appear in the input, the same on every call (a plain ``group_by``
    ordered the parts, and so these columns, differently from call to call: a CSV or JSON Lines output
    of the same input changed its columns' order between runs)."""
    items = [(d, on) for _, d, on in _examples()]
    orders = {tuple(_table(ruleset, items, rule_columns=True).columns) for _ in range(3)}
    assert len(orders) == 1
    audit = [c for c in next(iter(orders)) if c.startswith(("rule:", "fact:"))]
    assert len(audit) > 100


@pytest.mark.parametrize("n", [0])
def test_empty_table(ruleset: RuleSet, n: int) -> None:
    table = decide_table(ruleset, households_frame([], DEFAULT_DATE))
    assert table.height == n


def test_a_row_without_a_date_gets_an_error(ruleset: RuleSet, engine: Engine) -> None:
    data = household(household_id="DATED")
    frame = households_frame([parse_household(data), parse_household(household(household_id="UNDATED"))])
    frame = frame.with_columns(pl.when(pl.col("_row") == 0).then(pl.lit(DEFAULT_DATE)).alias("as_of"))
    table = decide_table(ruleset, frame)
    assert table.get_column("error").to_list()[0] is None
    assert "as_of" in table.get_column("error").to_list()[1]
    _assert_rows(engine, [(data, DEFAULT_DATE)], table.head(1))


@pytest.mark.parametrize("fn", ["age", "months_since", "between"])
def test_age_and_months_comparisons_agree_with_relativedelta(fn: str) -> None:
    """``age(d) op n`` / ``months_since(d) op n`` / ``months_between(d, as_of) op n`` (either side, every
    order operator, whole numbers from 0 up) as the compiler writes them — a comparison of ``d`` with the
    bound date where it can — give relativedelta's answer for dates around every bound, month ends, leap
    days, dates after the assessment date and a null date."""
    from eligibility.compile.polars import _Compiler
    from eligibility.expressions import Binary, Call, Lit, Name

    ons = [date(2023, 9, 30), date(2024, 2, 29), date(2025, 2, 28), date(2023, 3, 30), date(2024, 1, 15)]
    births: list[date | None] = [date(2008, 2, 29) + timedelta(days=i) for i in range(-400, 6500, 3)]
    births += [date(2024, 6, 1), None]
    df = pl.DataFrame(
        {"as_of": [on for on in ons for _ in births], "monitoring.identified_on": [d for _ in ons for d in births]},
        schema={"as_of": pl.Date, "monitoring.identified_on": pl.Date},
    )
    d = Name(0, ("monitoring", "identified_on"), "field", "monitoring.identified_on")
    as_of = Name(0, ("as_of",), "as_of", "as_of")
    call = Call(0, "months_between", [d, as_of]) if fn == "between" else Call(0, fn, [d])
    compiler = _Compiler(None, date(2023, 1, 1), date(2023, 1, 1), None)  # type: ignore[arg-type]
    ops = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
    for n in (0, 1, 6, 12, 15, 16, 180):
        for op, test in ops.items():
            for node, mirrored in ((Binary(0, op, call, Lit(0, n)), False), (Binary(0, op, Lit(0, n), call), True)):
                text = f"{fn} {op} {n} mirrored={mirrored}"
                got = df.select(compiler.expr(node).expr).to_series().to_list()
                for on, born, g in zip(
                    df.get_column("as_of"), df.get_column("monitoring.identified_on"), got, strict=True
                ):
                    if born is None:
                        assert g is None, text
                        continue
                    rd = relativedelta(on, born)
                    f = rd.years if fn == "age" else rd.years * 12 + rd.months
                    assert g == (test(n, f) if mirrored else test(f, n)), (text, on, born)
