"""The two reshapings of the columnar program that cut its fixed cost per call (docs/batch-speed.md §11).

``_fused`` runs neighbouring column stages as one stage; ``_Decide.reach_stages`` works out where the gap
stage's walks reach by propagating down the rule references (a column per (gathering, rule)) instead of
spelling out every way from every start rule. Both must compute exactly what they replace: the stages one
by one, and the OR over every start rule and every way down from it of the start flag and the way's
nodes all unknown. The differential property test compares the whole program with the engine; these pin
the two pieces directly, on corner cases (a rule reached by two ways, a reference to a rule without
nodes, a start rule also reached from another).
"""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace
from typing import Any

import polars as pl

from eligibility.compile.polars import _Decide, _fused, _with_columns


def test_fused_column_stages_compute_what_the_stages_compute_one_by_one() -> None:
    stages = [
        _with_columns([(pl.col("x") + 1).alias("a")]),
        _with_columns([(pl.col("a") * 2).alias("b")], [(pl.col("b") - pl.col("x")).alias("c")]),
        lambda lf: lf.with_columns(pl.col("c").cum_sum().alias("d")),  # not a column stage: kept apart
        _with_columns([(pl.col("d") + pl.col("a")).alias("e")]),
        _with_columns([pl.col("e").alias("a")]),  # overwrites a column of an earlier batch
    ]
    fused = _fused(stages)
    assert len(fused) == 3
    frame = pl.DataFrame({"x": [1, 2, None, 4]})
    one_by_one, together = frame, frame
    for stage in stages:
        one_by_one = stage(one_by_one.lazy()).collect()
    for stage in fused:
        together = stage(together.lazy()).collect()
    assert together.equals(one_by_one)
    assert together.get_column("a").to_list() == [5, 10, None, 18]


# rule -> (its nodes, leaves, [(nodes down to a reference node, referenced rule)])
NODES: dict[str, tuple[dict[int, Any], list[Any], list[tuple[list[int], str]]]] = {
    "D": ({0: None}, [], []),
    "C": ({0: None, 1: None}, [], [([0, 1], "D"), ([0], "gone")]),  # "gone": a rule without nodes
    "B": ({0: None, 1: None}, [], [([0], "C"), ([1], "D")]),
    "A": ({0: None, 1: None, 2: None}, [], [([0, 1], "B"), ([2], "C")]),  # C by two ways
    "E": ({0: None}, [], []),  # reached by nothing, started by nothing
}


def _ways(rid: str) -> list[tuple[str, list[str]]]:
    """Every (reached rule, node columns on the way) from ``rid``, spelled out."""
    out: list[tuple[str, list[str]]] = []
    for path, target in NODES[rid][2]:
        if target not in NODES:
            continue
        here = [f"__n:{rid}:{i}" for i in path]
        out.append((target, here))
        out += [(t, here + sub) for t, sub in _ways(target)]
    return out


def test_reach_propagated_down_the_references_is_the_or_over_every_way() -> None:
    starts = {"t": ["A", "C"], "u": ["B"]}
    tags = {tag: {r: pl.lit(True) for r in rules} for tag, rules in starts.items()}
    decide: Any = SimpleNamespace(c=SimpleNamespace(rule_nodes=NODES))
    reached, stages, ways = _Decide.reach_stages(decide, tags)
    assert reached == {"t": {"A", "B", "C", "D"}, "u": {"B", "C", "D"}}

    rng = random.Random(11)
    node_cols = [f"__n:{r}:{i}" for r, (nodes, _, _) in NODES.items() for i in nodes]
    mem_cols = [f"__mem:{tag}:{r}" for tag, rules in starts.items() for r in rules]
    columns = {c: [rng.choice([None, 1]) for _ in range(400)] for c in node_cols}
    columns |= {c: [rng.random() < 0.7 for _ in range(400)] for c in mem_cols}
    # every combination of the nodes on A's ways once, beside the random rows
    for combo in itertools.product([None, 1], repeat=5):
        for c, v in zip(["__n:A:0", "__n:A:1", "__n:A:2", "__n:B:0", "__n:C:0"], combo, strict=True):
            columns[c].append(v)
        for c in node_cols:
            if len(columns[c]) < len(columns["__n:A:0"]):
                columns[c].append(1)
        for c in mem_cols:
            columns[c].append(True)
    frame = pl.DataFrame(columns, schema={**dict.fromkeys(node_cols, pl.Int64), **dict.fromkeys(mem_cols, pl.Boolean)})
    lf = frame.lazy().with_columns(ways)  # each way's column, in a layer before the stages (as the gap stage)
    for cols in stages:
        lf = lf.with_columns(cols)
    got = lf.collect()

    for tag, rules in starts.items():
        for target in sorted(reached[tag]):
            want = []
            for row in frame.iter_rows(named=True):
                hit = target in rules and row[f"__mem:{tag}:{target}"]
                for s in rules:
                    if row[f"__mem:{tag}:{s}"]:
                        hit |= any(t == target and all(row[c] is None for c in way) for t, way in _ways(s))
                want.append(hit)
            assert got.get_column(f"__reach:{tag}:{target}").to_list() == want, (tag, target)
