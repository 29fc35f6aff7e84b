"""The member assembly's per-row lists (``members_pl._assemble_pass``, docs/batch-speed.md §12).

Each row's ``member_measures`` list is grouped from one integer sort key per (row position, entry place),
with a placeholder entry per row so that every row keeps a group. The keys of neighbouring rows must
not meet (the last place of a row is the place before the next row's placeholder), and a finding named
by several listed rules is the union of their members only where more than one is listed. The
property tests compare the whole program with the engine on a few households; this pins the assembly
on many rows of random states, against the lists spelled out in Python.
"""

from __future__ import annotations

import random
from typing import Any

import polars as pl

from eligibility.compile.members_pl import _assemble_pass, _Entry


def _expected(row: dict[str, Any], entries: list[_Entry]) -> list[dict[str, Any]]:
    """The row's list as members.combine and the column's order define it: by kind, certain before
    possible, by code; the union of the listed rules' members, those to review without the members."""
    got = []
    for e in entries:
        state = row[f"s{e.order}"]
        listed = [i for i, _ in e.parts if row[f"l{i}"]]
        if state is None or not listed:
            continue
        members = sorted({m for i in listed for m in row[f"__msel{i}"]})
        review = sorted({m for i in listed for m in row[f"__mrev{i}"]} - set(members))
        got.append(((("measure", "gap").index(e.kind), state, e.order), e.kind, e.code, members, review))
    return [
        {"kind": k, "code": c, "members": m, "members_to_review": r}
        for _, k, c, m, r in sorted(got, key=lambda x: x[0])
    ]


def test_member_lists_on_random_states_equal_the_lists_spelled_out() -> None:
    rng = random.Random(12)
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
    for i in range(4):
        data[f"l{i}"] = [rng.random() < 0.8 for _ in range(n)]
        sel = [sorted(rng.sample(range(1, 6), rng.randint(0, 2))) for _ in range(n)]
        data[f"__msel{i}"] = sel
        data[f"__mrev{i}"] = [
            sorted(rng.sample([m for m in range(1, 6) if m not in s], rng.randint(0, 2))) for s in sel
        ]
    frame = pl.DataFrame(
        data,
        schema_overrides={
            **{f"s{k}": pl.Int8 for k in range(3)},
            **{f"__m{x}{i}": pl.List(pl.Int64) for x in ("sel", "rev") for i in range(4)},
        },
    )
    got = _assemble_pass(entries, frame.lazy()).collect()
    assert got.height == n
    assert got.get_column("_row").to_list() == data["_row"]
    cells = got.get_column("member_measures").to_list()
    for row, cell in zip(frame.iter_rows(named=True), cells, strict=True):
        assert cell == _expected(row, entries), row
    # not vacuous: rows listing the last place, merged unions, rows with nothing listed
    assert sum(1 for c in cells if c and c[-1]["code"] == "z") > 1000
    assert any(r["l0"] and r["l1"] and r["s0"] is not None for r in frame.iter_rows(named=True))
    assert any(c == [] for c in cells)
