"""A part of one program decided in row slices side by side (issue 10 §7, both cores): the slices must
decide exactly what the whole part decides, come back in input order, and share the look-up tables of
finding lists across threads without mixing them up. The slice size is lowered here so that a few dozen
households are cut into several slices (in a batch a slice has at least ``_SLICE_ROWS`` rows)."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import polars as pl
import pytest

from eligibility import Engine, parse_household
from eligibility.compile import polars as target
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.ruleset import RuleSet

from .conftest import household
from .test_batch_patterns import _households

ON = date(2023, 9, 30)


def _population() -> tuple[list[dict[str, Any]], pl.DataFrame]:
    """Households of many patterns (items lacking fields, unknown sections, past 64 members), one born
    after the assessment date (refused, so the part has a refused slice too), and one without a region."""
    items = _households()
    items.append(household(household_id="UNBORN"))
    items[-1]["members"][1]["birth_date"] = "2030-01-01"
    items.append(household(household_id="NOWHERE", region=None))
    frame = households_frame([parse_household(d) for d in items], [ON] * len(items))
    return items, frame


@pytest.mark.parametrize("ways", [2, 3])
@pytest.mark.parametrize("rule_columns", [False, True])
def test_slices_decide_what_the_whole_part_decides(
    ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch, ways: int, rule_columns: bool
) -> None:
    _, frame = _population()
    whole = decide_table(ruleset, frame, rule_columns=rule_columns)
    runs: list[tuple[int, str]] = []
    run = target.TableProgram.run

    def counted(self: target.TableProgram, df: pl.DataFrame, rule_columns: bool = False) -> pl.DataFrame:
        runs.append((df.height, threading.current_thread().name))
        return run(self, df, rule_columns)

    monkeypatch.setattr(target.TableProgram, "run", counted)
    monkeypatch.setattr(target, "_SLICE_ROWS", 5)
    monkeypatch.setattr(target, "_cores", lambda: ways)
    sliced = decide_table(ruleset, frame, rule_columns=rule_columns)
    assert len(runs) == ways  # the part was cut (the check can fail: one run when not cut)
    assert len({name for _, name in runs}) == ways  # each slice in its own thread
    assert sum(h for h, _ in runs) == frame.height - 2  # the refused and the region-less rows aside
    assert sliced.get_column("_row").to_list() == list(range(frame.height))
    assert sliced.equals(whole)


def test_sliced_rows_are_each_households_decision(
    ruleset: RuleSet, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the engine too, row by row (the slices start mid-way through households of one pattern)."""
    items, frame = _population()
    monkeypatch.setattr(target, "_SLICE_ROWS", 7)
    monkeypatch.setattr(target, "_cores", lambda: 2)
    table = decide_table(ruleset, frame)
    for data, row in zip(items[:-2], table.iter_rows(named=True), strict=False):
        expected = decision_row(engine.evaluate(data, ON, trace="none"))
        for key, value in expected.items():
            assert row[key] == value, (data["household_id"], key)
    unborn = table.filter(pl.col("_row") == len(items) - 2)
    assert unborn.get_column("error")[0] is not None


def test_small_parts_and_several_programs_are_not_cut(ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Below two slices' worth of rows, or when several programs already run side by side, one run."""
    _, frame = _population()
    runs: list[int] = []
    run = target.TableProgram.run

    def counted(self: target.TableProgram, df: pl.DataFrame, rule_columns: bool = False) -> pl.DataFrame:
        runs.append(df.height)
        return run(self, df, rule_columns)

    monkeypatch.setattr(target.TableProgram, "run", counted)
    monkeypatch.setattr(target, "_cores", lambda: 2)
    decide_table(ruleset, frame)
    assert runs == [frame.height - 2]
    runs.clear()
    monkeypatch.setattr(target, "_SLICE_ROWS", 5)
    mixed = frame.with_columns(
        pl.when(pl.col("_row") % 2 == 0).then(pl.lit(ON)).otherwise(pl.lit(date(2021, 6, 30))).alias("as_of")
    )
    decide_table(ruleset, mixed)
    assert len(runs) == 2  # two spans, one run each


def test_slices_are_asked_for_by_the_environment(ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Off unless ``ELIGIBILITY_BATCH_SLICES`` asks (a number or ``auto``); anything else is an error."""
    monkeypatch.delenv("ELIGIBILITY_BATCH_SLICES", raising=False)
    assert target._cores() == 1
    for value, want in (("2", 2), (" 3 ", 3), ("AUTO", None)):
        monkeypatch.setenv("ELIGIBILITY_BATCH_SLICES", value)
        assert target._cores() == want if want else target._cores() >= 1
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("ELIGIBILITY_BATCH_SLICES", bad)
        with pytest.raises(ValueError, match="ELIGIBILITY_BATCH_SLICES"):
            target._cores()
    monkeypatch.delenv("ELIGIBILITY_BATCH_SLICES")
    _, frame = _population()
    whole = decide_table(ruleset, frame)
    monkeypatch.setenv("ELIGIBILITY_BATCH_SLICES", "2")
    monkeypatch.setattr(target, "_SLICE_ROWS", 5)
    assert decide_table(ruleset, frame).equals(whole)
