"""A large part of one program decided in even chunks of at most ``chunk_rows`` rows, side by side on the
usable cores (issue 10 §5 and §7: both cores, bounded memory). The chunks must decide exactly what one run
over the whole part decides, in input order, with each refused row refused once; at most one chunk a core
runs at a time. The chunk size is lowered here so that a few dozen households make several chunks."""

from __future__ import annotations

import threading
import time
from datetime import date

import polars as pl
import pytest

from eligibility.compile import polars as target
from eligibility.compile.polars import decide_table
from eligibility.ruleset import RuleSet

from .test_polars_slices import _population

ON = date(2023, 9, 30)


def _counted(monkeypatch: pytest.MonkeyPatch) -> tuple[list[tuple[int, str]], list[int]]:
    """Patch ``TableProgram.run`` to record each run's rows and thread, and how many run at once."""
    runs: list[tuple[int, str]] = []
    peak = [0, 0]  # running now, most at once
    lock = threading.Lock()
    run = target.TableProgram.run

    def counted(self: target.TableProgram, df: pl.DataFrame, rule_columns: bool = False) -> pl.DataFrame:
        with lock:
            peak[0] += 1
            peak[1] = max(peak)
            runs.append((df.height, threading.current_thread().name))
        try:
            time.sleep(0.01)  # (so that runs a pool lets overlap do overlap)
            return run(self, df, rule_columns)
        finally:
            with lock:
                peak[0] -= 1

    monkeypatch.setattr(target.TableProgram, "run", counted)
    return runs, peak


@pytest.mark.parametrize("rule_columns", [False, True])
def test_chunks_decide_what_one_run_decides(
    ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch, rule_columns: bool
) -> None:
    _, frame = _population()
    whole = decide_table(ruleset, frame, rule_columns=rule_columns)
    runs, peak = _counted(monkeypatch)
    monkeypatch.setattr(target, "usable_cores", lambda: 2)
    chunked = decide_table(ruleset, frame, rule_columns=rule_columns, chunk_rows=7)
    part = frame.height - 1  # the region-less row aside (no pack); the refused one is the part's last
    # Even chunks of at most 7 rows, as many as a multiple of the two cores needs (a multiset: two threads
    # may record their runs' starts in either order). A chunk refuses its rows of a member born after
    # as_of itself, so the last chunk runs one row short.
    n = 2 * -(-part // 14)
    size = -(-part // n)
    cut = [size] * (part // size) + ([part % size] if part % size else [])
    expected = [*cut[:-1], cut[-1] - 1]
    assert sorted(h for h, _ in runs) == sorted(expected) and max(expected) <= 7 and len(expected) > 2
    assert len({name for _, name in runs}) == 2  # both threads took chunks (can fail: one thread)
    assert peak[1] == 2  # side by side, never more than the cores
    assert chunked.get_column("_row").to_list() == list(range(frame.height))
    assert chunked.equals(whole)


def test_one_core_runs_the_chunks_in_this_thread(ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    _, frame = _population()
    whole = decide_table(ruleset, frame)
    runs, peak = _counted(monkeypatch)
    monkeypatch.setattr(target, "usable_cores", lambda: 1)
    assert decide_table(ruleset, frame, chunk_rows=10).equals(whole)
    assert len(runs) > 1 and {name for _, name in runs} == {threading.current_thread().name}
    assert peak[1] == 1


def test_several_programs_and_row_by_row_parts_in_chunks(ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two date spans (two programs), each cut in chunks, and a small third part decided row by row by the
    Python target meanwhile: the same table as with no chunks and every part columnar."""
    _, frame = _population()
    spans = [ON, date(2021, 6, 30), date(2024, 6, 30)]
    mixed = frame.with_columns(
        pl.when(pl.col("_row") < 3)
        .then(pl.lit(spans[2]))
        .when(pl.col("_row") % 2 == 0)
        .then(pl.lit(spans[0]))
        .otherwise(pl.lit(spans[1]))
        .alias("as_of")
    )
    reference = decide_table(ruleset, mixed, rowwise=0)
    monkeypatch.setattr(target, "usable_cores", lambda: 2)
    assert decide_table(ruleset, mixed, rowwise=5, chunk_rows=4).equals(reference)


def test_chunk_rows_must_be_positive(ruleset: RuleSet) -> None:
    _, frame = _population()
    for bad in (0, -5):
        with pytest.raises(ValueError, match="chunk_rows"):
            decide_table(ruleset, frame, chunk_rows=bad)


def test_a_part_that_fits_is_one_run(ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """A part of at most ``chunk_rows`` rows is not cut, whatever the cores (``run_batch`` hands its parts
    of ``--chunk-rows`` rows to worker processes that already use every core)."""
    _, frame = _population()
    runs, _ = _counted(monkeypatch)
    monkeypatch.setattr(target, "usable_cores", lambda: 2)
    part = frame.height - 1  # the region-less row aside; the row born after as_of (the last) is refused
    decide_table(ruleset, frame, chunk_rows=part)
    assert [h for h, _ in runs] == [part - 1]
    runs.clear()
    decide_table(ruleset, frame, chunk_rows=part - 1)  # one row too many: two even chunks
    assert sorted(h for h, _ in runs) == sorted([-(-part // 2), part // 2 - 1])


def test_a_chunk_of_refused_rows_only(ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk whose every row has a member born after as_of runs no program: its rows come back refused,
    in place, as one run over the whole part refuses them."""
    _, frame = _population()
    two = frame.filter((pl.col("_row") == 0) | (pl.col("household_id") == "UNBORN"))
    assert two.height == 2
    whole = decide_table(ruleset, two)
    runs, _ = _counted(monkeypatch)
    monkeypatch.setattr(target, "usable_cores", lambda: 2)
    chunked = decide_table(ruleset, two, chunk_rows=1)
    assert [h for h, _ in runs] == [1]  # the other chunk refused its one row without a run
    assert chunked.equals(whole)
    assert chunked.get_column("error").to_list()[0] is None
    assert "born_after_as_of" in chunked.get_column("error").to_list()[1]
