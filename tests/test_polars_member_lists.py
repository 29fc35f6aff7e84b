"""The member assembly's per-row lists (``members_pl._assemble_pass``, docs/batch-speed.md §12, §13).

Each row's ``member_measures`` list is grouped from one integer sort key per (row position, entry place),
with a placeholder entry per row so that every row keeps a group. The keys of neighbouring rows must
not meet (the last place of a row is the place before the next row's placeholder), and a finding named
by several listed rules is the union of their members only where more than one is listed. The
selections arrive as bit masks, one UInt64 word per 64 members, and the positions are spelled out from
them: households of more than 64 members take more words. The property tests compare the whole
program with the engine on a few households; this pins the assembly on many rows of random states,
against the lists spelled out in Python.
"""

from __future__ import annotations

import copy
import random
from datetime import date
from typing import Any

import polars as pl
import pytest

from eligibility import Engine, load_rules
from eligibility.compile.members_pl import _assemble_pass, _Entry
from eligibility.compile.polars import decide_table, decision_row, households_frame
from eligibility.models import parse_household
from eligibility.testing import collect

from .conftest import RULES

RULESET = load_rules(RULES)
ENGINE = Engine(RULESET)


def _expected(
    row: dict[str, Any], entries: list[_Entry], chosen: dict[str, list[list[int]]], r: int
) -> list[dict[str, Any]]:
    """The row's list as members.combine and the column's order define it: by kind, certain before
    possible, by code; the union of the listed rules' members, those to review without the members."""
    got = []
    for e in entries:
        state = row[f"s{e.order}"]
        listed = [i for i, _ in e.parts if row[f"l{i}"]]
        if state is None or not listed:
            continue
        members = sorted({m for i in listed for m in chosen[f"sel{i}"][r]})
        review = sorted({m for i in listed for m in chosen[f"rev{i}"][r]} - set(members))
        got.append(((("measure", "gap").index(e.kind), state, e.order), e.kind, e.code, members, review))
    return [
        {"kind": k, "code": c, "members": m, "members_to_review": r}
        for _, k, c, m, r in sorted(got, key=lambda x: x[0])
    ]


def _mask_words(positions: list[list[int]], words: int) -> list[list[int]]:
    """Per word ``j``, each row's mask of the positions ``64 j + 1`` to ``64 j + 64`` (``_select_pass``)."""
    return [[sum(1 << (p - 1 - 64 * j) for p in ps if (p - 1) // 64 == j) for ps in positions] for j in range(words)]


@pytest.mark.parametrize("largest", [5, 64, 65, 150])
def test_member_lists_on_random_states_equal_the_lists_spelled_out(largest: int) -> None:
    rng = random.Random(12 + largest)
    words = -(-largest // 64)
    # measure "a" named by two rules (parts 0 and 1: merged where both are listed), gap "z" last
    entries = [
        _Entry("measure", "a", 0, pl.col("s0"), ((0, pl.col("l0")), (1, pl.col("l1"))), None),
        _Entry("measure", "b", 1, pl.col("s1"), ((2, pl.col("l2")),), None),
        _Entry("gap", "z", 2, pl.col("s2"), ((3, pl.col("l3")),), None),
    ]
    n = 3000
    data: dict[str, Any] = {"_row": list(range(500, 500 + n))}
    for e in entries:
        # the last entry possible on most rows: its place is the last a row can have
        weights = [1, 1, 6] if e.order == 2 else [2, 1, 1]
        data[f"s{e.order}"] = rng.choices([None, 1, 2], weights=weights, k=n)
    chosen: dict[str, list[list[int]]] = {}
    for i in range(4):
        data[f"l{i}"] = [rng.random() < 0.8 for _ in range(n)]
        # positions 64 and 65 (the last of one word, the first of the next) and the largest often
        pool = sorted({1, 2, 3, 4, 5, 63, 64, 65, largest} & set(range(1, largest + 1)))
        sel = [sorted(rng.sample(pool, rng.randint(0, 2))) for _ in range(n)]
        chosen[f"sel{i}"] = sel
        chosen[f"rev{i}"] = [sorted(rng.sample([m for m in pool if m not in s], rng.randint(0, 2))) for s in sel]
        for x in ("sel", "rev"):
            for j, masks in enumerate(_mask_words(chosen[f"{x}{i}"], words)):
                data[f"__m{x}{i}:{j}"] = masks
    frame = pl.DataFrame(
        data,
        schema_overrides={
            **{f"s{k}": pl.Int8 for k in range(3)},
            **{f"__m{x}{i}:{j}": pl.UInt64 for x in ("sel", "rev") for i in range(4) for j in range(words)},
        },
    )
    got = _assemble_pass(entries, frame.lazy()).collect()
    assert got.height == n
    assert got.get_column("_row").to_list() == data["_row"]
    cells = got.get_column("member_measures").to_list()
    for r, (row, cell) in enumerate(zip(frame.iter_rows(named=True), cells, strict=True)):
        assert cell == _expected(row, entries, chosen, r), row
    # not vacuous: rows listing the last place, merged unions, rows with nothing listed, the largest named
    assert sum(1 for c in cells if c and c[-1]["code"] == "z") > 1000
    assert any(r["l0"] and r["l1"] and r["s0"] is not None for r in frame.iter_rows(named=True))
    assert any(c == [] for c in cells)
    assert any(largest in e["members"] for c in cells for e in c)


@pytest.mark.parametrize("size", [21, 32, 33, 64, 65, 140])
def test_large_households_name_the_engines_members(size: int) -> None:
    """The member cases of the national rule tests, each household padded to ``size`` members with
    copies of its non-head members (fresh member ids): ``decide_table`` names the members the engine
    names, across the mask layouts of ``members_pl._packing`` (up to 32 members several masks share a
    word, 33–64 one word each, from 65 several words each), and the padding is named (the check reaches
    the last position)."""
    cases, problems = collect(RULES / "national" / "tests" / "members.yaml")
    assert not problems
    population = []
    for case in cases:
        h = copy.deepcopy(case.household)
        members = h.get("members") or []
        others = [m for m in members if m.get("relation") != "户主"] or members
        while members and len(members) < size:
            m = copy.deepcopy(others[len(members) % len(others)])
            m["member_id"] = f"P{len(members) + 1}"
            members.append(m)
        population.append((h, case.as_of))
    frame = households_frame([parse_household(h) for h, _ in population], [on for _, on in population])
    rows = decide_table(RULESET, frame).iter_rows(named=True)
    furthest = 0
    for (h, on), row in zip(population, rows, strict=True):
        expected = decision_row(ENGINE.evaluate(h, on, trace="none"))
        assert row["member_measures"] == expected["member_measures"], h
        assert row["gaps"] == expected["gaps"], h
        furthest = max([furthest, *(p for e in row["member_measures"] for p in e["members"] + e["members_to_review"])])
    assert furthest == size


def test_selection_masks_beside_households_without_members() -> None:
    """``_select_pass`` gives each household its own masks, in order, when households without members
    (an empty list, an unknown collection) lie between others: each of those explodes to one
    placeholder row, and the sums per household must still line up with the households."""
    from eligibility.compile.members_pl import _select_pass, _Way

    item = pl.Struct({"flag": pl.Boolean})
    lists = [
        [{"flag": True}, {"flag": None}, {"flag": True}],
        [],
        None,
        [{"flag": False}, {"flag": True}],
        [],
        [{"flag": None}],
    ]
    df = pl.DataFrame(
        {"_row": range(len(lists)), "members": lists}, schema={"_row": pl.Int64, "members": pl.List(item)}
    )
    cond = pl.col("members").struct.field("flag")
    out = _select_pass([cond], [_Way([pl.col("__c0")], [], ["flag"])], [], [0], df.lazy()).collect()
    assert out.get_column("__msel0:0").to_list() == [0b101, 0, 0, 0b10, 0, 0]
    assert out.get_column("__mrev0:0").to_list() == [0b010, 0, 0, 0, 0, 0b1]


def test_gaps_naming_nobody_taken_out_by_row_position() -> None:
    """``_gaps_kept`` (docs/batch-speed.md, session 18 bgap2): each row keeps its ``gaps`` except those
    dropped on it, the rows that drop some taken by position and their kept lists (none kept: an empty
    list) put back in the same order; rows that keep nothing lie between rows that keep some, and
    ``gaps`` comes in several chunks."""
    from eligibility.compile.members_pl import _gaps_kept
    from eligibility.compile.polars import FINDING

    rng = random.Random(18)
    codes = ["g0", "g1", "g2", "g3"]
    entries = [_Entry("gap", c, k, pl.lit(1), (), pl.col(f"__md{k}")) for k, c in enumerate(codes[:3])]
    n = 2000
    lists = [None if rng.random() < 0.02 else sorted(rng.sample(codes, rng.randint(0, len(codes)))) for _ in range(n)]
    drops = [[bool(ls) and c in ls and rng.random() < 0.3 for c in codes[:3]] for ls in lists]
    gaps = pl.Series(
        "gaps",
        [None if ls is None else [{"code": c, "certain": True, "rules": [f"r.{c}"]} for c in ls] for ls in lists],
        dtype=pl.List(FINDING),
    )
    half = n // 2
    df = pl.concat([pl.DataFrame([gaps.head(half)]), pl.DataFrame([gaps.tail(n - half)])], rechunk=False)
    assert df.get_column("gaps").n_chunks() > 1
    wide = pl.DataFrame(
        {"_row": list(range(7, 7 + n)), "__r": list(range(n)), **{f"__md{k}": [d[k] for d in drops] for k in range(3)}}
    )
    got = _gaps_kept(df, wide, entries).to_list()
    assert len(got) == n
    for ls, d, cell in zip(lists, drops, got, strict=True):
        if ls is None:
            assert cell is None
            continue
        dropped = {c for c, x in zip(codes, d, strict=False) if x}
        assert [g["code"] for g in cell] == [c for c in ls if c not in dropped]
    # not vacuous: rows keeping none of several gaps before and after rows keeping some
    kinds = ["none" if any(d) and not cell else "some" if any(d) else "" for d, cell in zip(drops, got, strict=True)]
    assert "none" in kinds and "some" in kinds[kinds.index("none") :] and "none" in kinds[kinds.index("some") :]


def test_coverage_one_value_per_household_unless_a_measure_names_members() -> None:
    """``_coverage`` (docs/batch-speed.md, session 22 pmem): where no delivered measure of the part names
    members, each household's coverage is one Kleene value (``__cov<k>:hh``: unknown measures → null, a
    delivered measure of the types → true, one of unknown type or date → null, else false) and the
    selection takes the way that reads it; a measure naming a member sends the part the per-member way."""
    from eligibility.compile.members_pl import _coverage

    measure = pl.Struct({"type": pl.String, "delivered_on": pl.Date, "member_id": pl.String})
    on = date(2024, 6, 30)
    lists = [
        None,
        [],
        [{"type": "综合保障", "delivered_on": date(2024, 1, 1), "member_id": None}],
        [{"type": None, "delivered_on": date(2024, 1, 1), "member_id": None}],
        [{"type": "综合保障", "delivered_on": None, "member_id": None}],
        [{"type": "综合保障", "delivered_on": date(2025, 1, 1), "member_id": None}],
        [{"type": "其他", "delivered_on": date(2024, 1, 1), "member_id": None}],
    ]
    df = pl.DataFrame(
        {"_row": range(len(lists)), "as_of": [on] * len(lists), "monitoring.measures": lists},
        schema={"_row": pl.Int64, "as_of": pl.Date, "monitoring.measures": pl.List(measure)},
    )
    cov, named = _coverage(df, [("综合保障",)])
    assert not named
    assert cov.get_column("__cov0:hh").to_list() == [None, False, True, None, None, False, False]
    cov, named = _coverage(df.head(2), [("综合保障",)])  # no delivered measure at all
    assert not named
    assert cov.get_column("__cov0:hh").to_list() == [None, False]
    assert cov.columns == ["__cov0:hh"]
    for kind, way in (("其他", False), (None, True), ("综合保障", True)):
        # a measure naming a member that may cover them (its type one of the set's or unknown): per member
        naming = [{"type": kind, "delivered_on": date(2024, 1, 1), "member_id": "m1"}]
        one = df.head(1).with_columns(pl.lit(naming, dtype=pl.List(measure)).alias("monitoring.measures"))
        _, named = _coverage(pl.concat([df, one]), [("综合保障",)])
        assert named == way, kind


def test_equal_age_conditions_computed_once() -> None:
    """Two selectors' member conditions with the same age test (the bundled packs' "dropped out, aged
    6-15", once per pack) are one condition of ``_select_pass``: the bound date of each month count is one
    expression object (``polars._as_of_since``), so polars' ``meta.eq`` sees the conditions alike and the
    member selection computes the column once. Each holding its own ``since_bound`` (a new Python
    function node), they printed alike and were computed twice."""
    from eligibility.compile import polars as target
    from eligibility.compile.members_pl import _select_pass

    chain = RULESET.chain(RULESET.pack_for_region("340602000000"))
    prog = target.compile_table(chain, date(2024, 6, 30))
    (stage,) = [s for s in prog.stages if getattr(s, "func", None) is _select_pass]
    aged = [str(c) for c in stage.args[0] if "python_udf" in str(c)]
    assert aged, "the bundled packs have an age test in a member condition"
    assert len(aged) == len(set(aged)), aged
    assert target._as_of_since(72) is target._as_of_since(72)
