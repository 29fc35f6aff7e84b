"""An aggregate worked out inside each list (``_within``) equals the exploded pass, Kleene nulls included.

The compiled program takes the ``list.eval`` path for a ``count``/``any``/``all`` whose body reads only the
item, and the explode-and-sum path otherwise. Both must give the same column on every shape of input: an
absent list (unknown), an empty list, a null item (no item), an item with an unknown field, an unknown
filter. The differential property test compares the whole program with the engine; this one pins the two
paths against each other on the corner cases directly.
"""

from __future__ import annotations

import polars as pl
import pytest

from eligibility.compile.polars import V, _aggregate_pass, _AggSpec

ITEM = pl.Struct({"flag": pl.Boolean, "grade": pl.Int64})
LISTS = [
    None,  # absent collection: every aggregate unknown
    [],  # empty: count 0, any false, all true
    [None],  # a null item counts as no item
    [{"flag": True, "grade": 1}],
    [{"flag": False, "grade": 1}],
    [{"flag": None, "grade": 1}],  # unknown value
    [{"flag": True, "grade": None}],  # unknown filter
    [{"flag": False, "grade": None}, {"flag": True, "grade": 3}],
    [{"flag": None, "grade": 2}, {"flag": True, "grade": 2}],
    [{"flag": False, "grade": 2}, None, {"flag": None, "grade": None}],
    [{"flag": True, "grade": 2}] * 70,  # more than 64 items
]


def _spec(fn: str, *, where: bool, value: bool, element: bool) -> _AggSpec:
    item = pl.element() if element else pl.col("members")
    w = (item.struct.field("grade") <= 2) if where else None
    v = V(item.struct.field("flag"), "bool") if value else None
    if element:
        return _AggSpec("__agg", fn, "members", None, None, set(), {"flag", "grade"}, (w, v))
    return _AggSpec("__agg", fn, "members", w, v, set(), {"flag", "grade"})


@pytest.mark.parametrize(
    ("fn", "where", "value"),
    [("count", True, False), ("any", True, True), ("any", False, True), ("all", True, True), ("all", False, True)],
)
def test_within_equals_exploded(fn: str, where: bool, value: bool) -> None:
    df = pl.DataFrame(
        {"_row": pl.Series(range(len(LISTS)), dtype=pl.UInt64), "members": pl.Series(LISTS, dtype=pl.List(ITEM))}
    )
    exploded = _aggregate_pass("members", [_spec(fn, where=where, value=value, element=False)], df.lazy())
    within = _aggregate_pass("members", [_spec(fn, where=where, value=value, element=True)], df.lazy())
    a, b = exploded.collect(), within.collect()
    assert a.columns == b.columns
    assert a.get_column("__agg").dtype == b.get_column("__agg").dtype
    assert a.get_column("__agg").to_list() == b.get_column("__agg").to_list()
    got = a.get_column("__agg").to_list()
    assert got[0] is None  # an absent collection leaves every aggregate unknown
    if fn == "count":
        assert got[1:4] == [0, 0, 1]
        assert got[6] is None  # an unknown filter makes the count unknown
        assert got[10] == 70
    elif fn == "any":
        assert got[1:5] == [False, False, True, False]
        assert got[5] is None
    else:
        assert got[1:5] == [True, True, True, False]
        assert got[5] is None


def test_many_aggregates_in_one_pass_equal_each_alone() -> None:
    """Aggregates over one collection worked out together (``any``/``all`` share an integer per item, two
    bits each, 32 to a word) give each the column it gets alone on the exploded path: 50 of them (40
    ``any``/``all``, so two words), every shape of body, in an order that interleaves the kinds."""
    df = pl.DataFrame(
        {"_row": pl.Series(range(len(LISTS)), dtype=pl.UInt64), "members": pl.Series(LISTS, dtype=pl.List(ITEM))}
    )
    shapes = [
        ("count", True, False),
        ("any", True, True),
        ("any", False, True),
        ("all", True, True),
        ("all", False, True),
    ]
    specs, alone = [], {}
    for i in range(50):
        fn, where, value = shapes[i % len(shapes)]
        if i % 7 == 3:  # a filter of another threshold, so that neighbouring bits differ
            item = pl.element()
            spec = _AggSpec(
                f"__agg{i}",
                fn,
                "members",
                None,
                None,
                set(),
                {"flag", "grade"},
                (item.struct.field("grade") >= 2, V(item.struct.field("flag"), "bool") if value else None),
            )
            flat = pl.col("members")
            ref = _AggSpec(
                f"__agg{i}",
                fn,
                "members",
                flat.struct.field("grade") >= 2,
                V(flat.struct.field("flag"), "bool") if value else None,
                set(),
                {"flag", "grade"},
            )
        else:
            spec = _spec(fn, where=where, value=value, element=True)
            spec.column = f"__agg{i}"
            ref = _spec(fn, where=where, value=value, element=False)
            ref.column = f"__agg{i}"
        specs.append(spec)
        alone[spec.column] = _aggregate_pass("members", [ref], df.lazy()).collect().get_column(spec.column)
    together = _aggregate_pass("members", specs, df.lazy()).collect()
    assert [c for c in together.columns if c.startswith("__agg")] == list(alone)
    for name, column in alone.items():
        assert together.get_column(name).dtype == column.dtype, name
        assert together.get_column(name).to_list() == column.to_list(), name


@pytest.mark.parametrize("grade", [pl.Int64, pl.Int32, pl.UInt8])
def test_a_collection_absent_from_every_row_gives_the_full_pass_columns(grade: type[pl.DataType]) -> None:
    """With the collection absent from every row the pass skips its explode, group_by and join: every
    aggregate is unknown, in the columns, types and order the full pass gives those rows (here the full
    pass runs because one more row has items, and its answer for the absent rows is the reference). The
    same list of aggregates over items of three types (``min``/``max`` keep the item's type): the
    remembered columns are per input schema, and each absent part is asked twice."""
    item = pl.Struct({"flag": pl.Boolean, "grade": grade})
    specs = _SPECS_OVER_ABSENT
    absent = pl.DataFrame(
        {"_row": pl.Series(range(3), dtype=pl.UInt64), "members": pl.Series([None] * 3, dtype=pl.List(item))}
    )
    some = pl.concat(
        [absent, pl.DataFrame({"_row": [3], "members": [[{"flag": True, "grade": 2}]]}, schema=absent.schema)]
    )
    full = _aggregate_pass("members", specs, some.lazy()).collect()
    assert full.row(3, named=True) == {
        "_row": 3,
        "members": [{"flag": True, "grade": 2}],
        "__agg0": 1,
        "__agg1": True,
        "__agg2": True,
        "__agg3": 2,
        "__agg4": 2,
        "__agg5": 2,
    }
    assert full.schema["__agg4"] == grade
    for _ in range(2):
        got = _aggregate_pass("members", specs, absent.lazy()).collect()
        assert got.schema == full.schema
        assert got.equals(full.head(3))
        assert got.select(pl.all().exclude("_row", "members")).null_count().row(0) == (3,) * len(specs)


def _absent_specs() -> list[_AggSpec]:
    flat = pl.col("members")
    specs = [
        _spec("count", where=True, value=False, element=False),
        _spec("any", where=True, value=True, element=True),
        _spec("all", where=False, value=True, element=False),
        *(
            _AggSpec("", fn, "members", None, V(flat.struct.field("grade"), "int"), set(), {"grade"})
            for fn in ("sum", "min", "max")
        ),
    ]
    for i, s in enumerate(specs):
        s.column = f"__agg{i}"
    return specs


_SPECS_OVER_ABSENT = _absent_specs()  # one list for every case: the pass remembers its columns per list
