"""The columnar decision's table look-ups (issue 10 §7, docs/batch-speed.md §6): lists made once per
combination of flags or rule outcomes and gathered per row, the finding tables a program keeps between
batches, the pack of each row by prefix expression and the quick check for births after the date. Each
is held against the plain per-row computation or the engine."""

from __future__ import annotations

import copy
import itertools
import random
from datetime import date
from typing import Any

import polars as pl
import pytest

from eligibility import Engine
from eligibility.compile.polars import _LOOKUP_BITS, _listed, _lookup, _pack_of, decide_table, decision_row
from eligibility.compile.polars import households_frame as frame_of
from eligibility.errors import NoPackError
from eligibility.models import Household
from eligibility.ruleset import RuleSet

from .conftest import household

ON = date(2023, 9, 30)


def _per_row(flags: list[pl.Expr], values: list[str]) -> pl.Expr:
    return _listed([pl.when(f).then(pl.lit(v)) for f, v in zip(flags, values, strict=True)], pl.String())


@pytest.mark.parametrize("n", [0, 1, 3, _LOOKUP_BITS, _LOOKUP_BITS + 1])
def test_lookup_lists_equal_the_per_row_lists(n: int) -> None:
    """Every combination of up to 12 flags from the table, more flags per row; codes may repeat."""
    rng = random.Random(n)
    rows = [[rng.random() < 0.4 for _ in range(n)] for _ in range(300)]
    rows += [list(c) for c in itertools.islice(itertools.product([False, True], repeat=n), 64)]
    df = pl.DataFrame({f"f{i}": [r[i] for r in rows] for i in range(n)}, schema={f"f{i}": pl.Boolean for i in range(n)})
    if n == 0:
        df = pl.DataFrame({"x": [1, 2, 3]})
    flags = [pl.col(f"f{i}") for i in range(n)]
    values = [f"c{i % 5}" for i in range(n)]
    got = df.with_columns(_lookup(flags, values, pl.String()).alias("l")).get_column("l").to_list()
    want = df.with_columns(_per_row(flags, values).alias("l")).get_column("l").to_list() if n else [[]] * 3
    assert got == want
    assert df.head(0).with_columns(_lookup(flags, values, pl.String()).alias("l")).height == 0


def _households() -> list[Household]:
    """Households whose identification and assistance outcomes differ: unknown and known sections,
    each an own combination of rule outcomes."""
    from eligibility import parse_household

    out = []
    for i, drop in enumerate(
        [(), ("income",), ("housing",), ("members",), ("housing", "water"), ("circumstances",), ("evidence",)]
    ):
        data = household(household_id=f"H{i}")
        for key in drop:
            data.pop(key, None)
        out.append(parse_household(copy.deepcopy(data)))
    return out


def test_finding_tables_kept_between_batches_give_the_engines_lists(ruleset: RuleSet, engine: Engine) -> None:
    """A program's finding tables grow with the combinations it meets: batches in another order, one
    household at a time and all together, must each still match the engine row by row."""
    people = _households()
    want = [
        decision_row(engine.evaluate(h.model_dump(mode="json", exclude_none=True), ON, trace="none")) for h in people
    ]
    for order in (list(range(len(people))), list(reversed(range(len(people)))), [3], [0, 3, 3, 0]):
        table = decide_table(ruleset, frame_of([people[i] for i in order], ON))
        for i, row in zip(order, table.iter_rows(named=True), strict=True):
            for key, value in want[i].items():
                assert row[key] == value, (people[i].household_id, key)


def test_pack_of_each_row_is_pack_for_region(ruleset: RuleSet) -> None:
    codes: list[Any] = ["340602001001", "340600000000", "340000000000", "110101001001", "3406", "34", "9", "", None]
    codes += [p + "0" * (12 - len(p)) for p, _ in ruleset._prefixes]
    got = pl.DataFrame({"r": codes}, schema={"r": pl.String}).select(_pack_of(ruleset, pl.col("r"))).to_series()
    assert got.to_list() == [None if c is None else ruleset.pack_for_region(c) for c in codes]


def test_a_region_no_pack_covers_is_an_error_without_a_root_pack(ruleset: RuleSet) -> None:
    rootless = copy.copy(ruleset)
    rootless.root_pack = ""
    frame = frame_of([_households()[0]], ON).with_columns(pl.lit("990000000000").alias("region"))
    with pytest.raises(NoPackError):
        decide_table(rootless, frame)


def test_a_birth_after_the_date_is_found_after_the_quick_check(ruleset: RuleSet) -> None:
    """Only a member born after ``as_of`` makes the row an error, wherever in the list (the quick check
    reads the latest birth date of each row)."""
    people = _households()
    assert people[0].members
    born = people[0].members[-1].model_copy(update={"birth_date": date(2024, 1, 1)})
    late = people[0].model_copy(update={"members": (*people[0].members[:-1], born)})
    rows = decide_table(ruleset, frame_of([people[0], late, people[3]], ON)).get_column("error").to_list()
    assert rows[0] is None and rows[2] is None
    assert rows[1] is not None and rows[1].endswith("(born_after_as_of)")
    assert f"$.members[{len(late.members) - 1}].birth_date" in rows[1]
