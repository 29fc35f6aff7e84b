"""What the columnar program's fixed cost per call rests on (docs/batch-speed.md, session 19 bfix): every
collect of the program runs on :data:`~eligibility.compile.members_pl.ENGINE` (polars' in-memory engine:
polars 2's default, the streaming engine, costs a set-up per query, and a call makes dozens), and the
typed integer literals are made once per value (``_typed``). Neither may change a decision: the program
on the streaming engine decides the same cells."""

from __future__ import annotations

import sys
from typing import Any

import polars as pl
import pytest

from eligibility.compile import members_pl
from eligibility.compile import polars as target
from eligibility.compile.polars import _typed, decide_table
from eligibility.ruleset import RuleSet

from .test_polars_slices import _population


@pytest.mark.parametrize("rule_columns", [False, True])
def test_every_collect_of_the_program_runs_on_its_engine(
    ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch, rule_columns: bool
) -> None:
    _, frame = _population()
    engines: list[tuple[str, Any]] = []
    collect = pl.LazyFrame.collect

    def recorded(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        module = caller.f_globals.get("__name__", "")
        if module.startswith("eligibility.compile"):
            engines.append((f"{module}:{caller.f_lineno}", kwargs.get("engine", "auto")))
        return collect(self, *args, **kwargs)

    monkeypatch.setattr(pl.LazyFrame, "collect", recorded)
    decide_table(ruleset, frame, rule_columns=rule_columns)
    assert len(engines) > 20  # the stages, the gap and findings stages' pieces, the member passes
    assert {module.split(":")[0] for module, _ in engines} >= {
        "eligibility.compile.polars",
        "eligibility.compile.members_pl",
    }
    assert [site for site, engine in engines if engine != "in-memory"] == []
    assert target.ENGINE == members_pl.ENGINE == "in-memory"


def test_the_streaming_engine_decides_the_same_cells(ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    _, frame = _population()
    in_memory = decide_table(ruleset, frame, rule_columns=True)
    monkeypatch.setattr(target, "ENGINE", "streaming")
    monkeypatch.setattr(members_pl, "ENGINE", "streaming")
    streaming = decide_table(ruleset, frame, rule_columns=True)
    assert streaming.equals(in_memory)


def test_typed_literals_are_made_once_per_value_and_type() -> None:
    assert _typed(5, pl.UInt32) is _typed(5, pl.UInt32)  # made once (the point: no Series each time)
    got = pl.select(
        _typed(5, pl.UInt32).alias("a"),
        _typed(5, pl.UInt64).alias("b"),
        _typed(1 << 63, pl.UInt64).alias("c"),  # above Int64
        _typed(None, pl.UInt32).alias("d"),
    )
    assert got.schema == pl.Schema({"a": pl.UInt32, "b": pl.UInt64, "c": pl.UInt64, "d": pl.UInt32})
    assert got.row(0) == (5, 5, 1 << 63, None)
