"""The finding lists of new combinations of rule outcomes, worked out in columns (issue 10 §7): for any
layout of codes and rules and any outcomes, the same list as Engine._findings' rule — certain codes first,
then possible ones, each in code order, with the rules that decided them in program order — written
here per combination in plain Python (the form the columnar one replaced)."""

from __future__ import annotations

import functools
import operator

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from eligibility.compile.polars import FINDING, _combination_lists

Entry = tuple[str, bool, list[str]]


def _by_rule(key: int, codes: list[tuple[str, list[tuple[int, str]]]]) -> list[Entry]:
    sure: list[Entry] = []
    maybe: list[Entry] = []
    for code, rules in codes:
        fired = [r for at, r in rules if key >> at & 3 == 1]
        if fired:
            sure.append((code, True, fired))
            continue
        unknown = [r for at, r in rules if key >> at & 3 == 2]
        if unknown:
            maybe.append((code, False, unknown))
    return sure + maybe


@st.composite
def _layouts(draw: st.DrawFn) -> tuple[list[tuple[str, list[tuple[int, str]]]], list[int]]:
    """Up to 32 rules (2 bits each, up to bit 63), each concluding one or more of up to 6 codes, and
    keys of outcomes (0 not fired, 1 fired, 2 unknown per rule), repeated keys among them."""
    n_rules = draw(st.integers(1, 32))
    codes = [f"c{i}" for i in range(draw(st.integers(1, 6)))]
    concluded = [draw(st.sets(st.sampled_from(codes), min_size=1)) for _ in range(n_rules)]
    layout = [(c, [(2 * i, f"r{i}") for i in range(n_rules) if c in concluded[i]]) for c in codes]
    states = st.lists(st.sampled_from([0, 1, 2]), min_size=n_rules, max_size=n_rules)
    keys = [sum(s << 2 * i for i, s in enumerate(x)) for x in draw(st.lists(states, max_size=12))]
    return [(c, rules) for c, rules in layout if rules], keys


@given(_layouts())
def test_columnar_lists_are_the_per_combination_lists(
    layout: tuple[list[tuple[str, list[tuple[int, str]]]], list[int]],
) -> None:
    codes, keys = layout
    masks = [(c, functools.reduce(operator.or_, (1 << at for at, _ in rules), 0), rules) for c, rules in codes]
    got = _combination_lists(keys, masks, pl.List(FINDING))
    assert got.len() == len(keys)
    expected = [[{"code": c, "certain": k, "rules": r} for c, k, r in _by_rule(key, codes)] for key in keys]
    assert got.to_list() == expected


def test_the_highest_bits_and_no_new_keys() -> None:
    """The 32nd rule's "unknown" state is bit 63 of the key; no keys give an empty column."""
    codes = [("a", [(0, "r0"), (62, "r31")])]
    masks = [("a", 1 | 1 << 62, codes[0][1])]
    got = _combination_lists([2 << 62, 1 << 62 | 2, 0], masks, pl.List(FINDING)).to_list()
    assert got == [
        [{"code": "a", "certain": False, "rules": ["r31"]}],
        [{"code": "a", "certain": True, "rules": ["r31"]}],
        [],
    ]
    assert _combination_lists([], masks, pl.List(FINDING)).len() == 0
