"""The columnar gap stage's wide query (docs/batch-speed.md, session 19 bfix2): it starts from the columns
of its input that its expressions read, named by the stage itself, and runs with polars' optimiser cut
down to common subexpressions (``_WIDE_FLAGS``): planning its ~1,100 columns with every optimisation cost
about as much as running it on a 25,000-row slice. Neither may change a cell: the same query collected
with every optimisation gives the same table, and the part decides what the per-household engine does
(the other columnar tests)."""

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pytest

from eligibility.compile import polars as target
from eligibility.compile.polars import decide_table
from eligibility.ruleset import RuleSet

from .test_polars_slices import _population


def test_the_wide_query_runs_on_its_flags_and_equals_the_fully_optimised_one(
    ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, frame = _population()
    ran: list[tuple[pl.LazyFrame, pl.DataFrame]] = []
    collect = pl.LazyFrame.collect

    def recorded(self: pl.LazyFrame, *args: Any, **kwargs: Any) -> Any:
        got = collect(self, *args, **kwargs)
        if kwargs.get("optimizations") is target._WIDE_FLAGS:
            ran.append((self, got))
        return got

    monkeypatch.setattr(pl.LazyFrame, "collect", recorded)
    decided = decide_table(ruleset, frame)
    assert ran  # the stage ran its wide query on the cut-down optimiser
    for query, got in ran:
        assert got.height > 0 and got.width > 100
        # every optimisation, polars' own projection among them: the same cells
        assert got.equals(collect(query, engine=target.ENGINE))
        # the input is already projected, to what polars' own projection pushdown would read: the
        # select the stage puts under the query (just above the frame in the plan as given) keeps as
        # many columns as the pushdown keeps of the frame
        given = query.explain(optimizations=pl.QueryOptFlags.none()).splitlines()
        at = next(i for i, line in enumerate(given) if line.strip().startswith("DF ["))
        assert given[at - 1].strip().startswith("SELECT ["), given[at - 1][:80]
        ours = given[at - 1].count('col("')
        pushed = query.explain(optimizations=pl.QueryOptFlags.none(projection_pushdown=True))
        found = re.search(r"PROJECT[^\n]*?(\d+)/(\d+) COLUMNS", pushed)
        assert found is not None
        assert ours == int(found.group(1)) < int(found.group(2))
    assert decided.height == frame.height


def test_each_way_into_a_referenced_rule_is_one_column(ruleset: RuleSet) -> None:
    """A reference's way (its nodes all unknown) is one ``__way:`` column, made in a layer before the
    ``__reach:`` stages and read by each gathering that reaches its rule: none of those stages reads a
    node column itself (each way's chain once in the plan, not once per gathering: session 24 pol3)."""
    from datetime import date

    chain = ruleset.chain(ruleset.pack_for_region("340602000000"))
    prog = target.compile_table(chain, date(2024, 6, 30))
    (stage,) = [s for s in prog.stages if getattr(s, "__qualname__", "").startswith("_Decide.gap_stage")]
    cells = dict(zip(stage.__code__.co_freevars, (c.cell_contents for c in stage.__closure__ or ()), strict=True))
    layers: list[list[pl.Expr]] = cells["layers"]
    made = [e.meta.output_name() for layer in layers for e in layer]
    ways = [n for n in made if n.startswith("__way:")]
    assert ways and len(ways) == len(set(ways))
    reaching = [e for layer in layers for e in layer if e.meta.output_name().startswith("__reach:")]
    assert reaching
    read = {r for e in reaching for r in e.meta.root_names()}
    assert not {r for r in read if r.startswith("__n:")}, sorted(read)[:5]
    assert {r for r in read if r.startswith("__way:")} == set(ways)
