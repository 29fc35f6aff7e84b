"""Member selectors in the polars target: the ``member_measures`` column of the decision table.

Each selector's member condition (:mod:`eligibility.members`) is compiled with the polars target's own
expression compiler, over the ``members`` struct of one exploded item, exactly as the ``where`` of an
aggregate over members is. One extra stage, after the rule and decision stages, explodes the members
once (with the outer columns the conditions read: ``as_of``, facts, household fields), computes every
condition per member, and sums per household the bit masks of the members (bit ``k``: position
``k + 1``) where it is true and where it is null (unknown). A selector with ``not_delivered`` first
reads, per household, which delivered measures of those types cover everyone (no member named) or named
members, surely or possibly (a measure of unknown type or date), and takes covered members off
(Kleene: ``where and not covered``).

The ``member_measures`` column then lists, for each required measure and each gap whose listed rules
carry a selector, ``{kind, code, members, members_to_review}`` — the union over those rules, as
:func:`eligibility.members.combine` defines it (a bitwise OR of the masks), spelled out as positions;
household-level findings are not listed. A gap whose listed rules all name members and together name
none is taken out of ``gaps`` (:func:`eligibility.members.keep_gap`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from ..facts import CATALOGUE
from ..members import SELECTABLE_KINDS

if TYPE_CHECKING:
    from .polars import TableProgram, _Compiler, _Decide

__all__ = ["ENGINE", "MEMBER_MEASURE", "add_member_stage", "member_rows"]

ENGINE: Final = "in-memory"
"""The polars engine of every collect of the columnar program (here and in :mod:`.polars`). polars 2's
default (``"auto"``) is its streaming engine, whose per-query set-up (building the node graph, starting
its tasks) was paid on each of the program's ~54 collects per call (polars' own eager steps, ~170 more,
already run in memory): on fresh 1,000-row parts a bundled call took 0.25 CPU s streaming against 0.19
in memory, and on 100,000-row parts 0.85 against 0.72, with about 15 % less peak memory in ``run_batch``
(in-process alternation and alternating processes, docs/batch-speed.md, session 19 bfix)."""

MEMBER_MEASURE: Final = pl.Struct(
    {
        "kind": pl.String,
        "code": pl.String,
        "members": pl.List(pl.Int64),
        "members_to_review": pl.List(pl.Int64),
    }
)
"""One entry of the ``member_measures`` column (positions from 1)."""

_INDEX: Final = "__member_no"
_MEASURES: Final = "monitoring.measures"
_SELECTED: Final = "__msel"
_REVIEW: Final = "__mrev"
_NAMES: Final = "__mnames"
_WORD: Final = 64
"""Columns between the two stages: ``__msel<i>:<j>`` / ``__mrev<i>:<j>``, word ``j`` of the mask of the
members selector ``i`` surely / possibly selects; ``__mnames<i>``, whether it names anybody."""


def add_member_stage(c: _Compiler, prog: TableProgram, decide: _Decide) -> pl.Expr:
    """Add the selection stage to ``prog`` (when a selector is in force) and return the column's expr;
    ``gaps`` is then re-listed without the gaps that name nobody."""
    from .polars import _empty

    todo = [(rule.id, kind, code, sel) for rule, _ in prog.rules for (kind, code), sel in rule.selectors.items()]
    if not todo:
        return _empty(MEMBER_MEASURE).alias("member_measures")
    type_sets = sorted({sel.not_delivered for _, _, _, sel in todo if sel.not_delivered})
    c.item.append(("members", CATALOGUE["members"]))
    c.item_keys.append(set())
    c.outer.append(set())
    before = len(c.pending_aggs)
    try:
        conditions: list[pl.Expr] = []  # the distinct ``where``s (several selectors may share one)
        keys: list[tuple[int, tuple[str, ...] | None]] = []  # the distinct (condition, type set) pairs
        of: list[int] = []  # each selector's pair among them
        wheres: list[pl.Expr] = []
        plain: list[pl.Expr] = []
        for _, _, _, sel in todo:
            cond = c.expr(sel.where).expr.cast(pl.Boolean)
            k = next((k for k, x in enumerate(conditions) if x.meta.eq(cond)), len(conditions))
            if k == len(conditions):
                conditions.append(cond)
            key = (k, sel.not_delivered or None)
            if key in keys:
                of.append(keys.index(key))
                continue
            of.append(len(keys))
            keys.append(key)
            w = p = pl.col(f"__c{k}")
            if sel.not_delivered:
                t = type_sets.index(sel.not_delivered)
                w = w & ~_covered(t)
                p = p & ~pl.col(f"__cov{t}:hh")
            wheres.append(w)
            plain.append(p)
    finally:
        c.item.pop()
        fields = c.item_keys.pop()
        outer = c.outer.pop()
    if len(c.pending_aggs) != before:
        raise NotImplementedError("an aggregate inside a member condition")
    outer.discard("members")
    ways = [_Way(plain, sorted(outer | {f"__cov{k}:hh" for k in range(len(type_sets))}), sorted(fields))]
    if type_sets:
        outer |= {"as_of", _MEASURES, *(f"__cov{k}:{x}" for k in range(len(type_sets)) for x in _COVERAGE)}
        ways.append(_Way(wheres, sorted(outer), sorted({*fields, "member_id"})))  # member_id: read by _covered
    prog.stages.append(functools.partial(_select_pass, conditions, ways, type_sets, of))
    prog.stages.append(functools.partial(_assemble_pass, _entries(decide, todo)))
    return pl.col("member_measures")


@dataclass(frozen=True)
class _Way:
    """The member selection's ``wheres`` (one per distinct (condition, type set) pair of the selectors)
    with the household columns (``outer``) and member ``fields`` they read.

    With ``not_delivered`` selectors there are two ways: the first reads each household's coverage as
    one value (``__cov<k>:hh``, see :func:`_coverage`), right where no delivered measure of the part
    names members; the second, for the other parts, looks each member up in the covered ids
    (:func:`_covered`)."""

    wheres: list[pl.Expr]
    outer: list[str]
    fields: list[str]


@dataclass(frozen=True)
class _Entry:
    """One finding that may name members, with the per-row expressions the assembly reads.

    ``state`` is 1 where the entry is listed among the certain findings, 2 among the possible ones, null
    where it is not listed; ``parts`` are the selector numbers of its named rules, each with whether that
    rule is listed on the row; ``drop`` (gaps only) is where the finding is taken out of ``gaps``."""

    kind: str
    code: str
    order: int
    state: pl.Expr
    parts: tuple[tuple[int, pl.Expr], ...]
    drop: pl.Expr | None


def _entries(decide: _Decide, todo: list[tuple[str, str, str, Any]]) -> list[_Entry]:
    """Every (kind, code) some selector names, in the order the column lists them (kind, then code)."""
    column = {(rid, kind, code): i for i, (rid, kind, code, _) in enumerate(todo)}
    out: list[_Entry] = []
    for kind in SELECTABLE_KINDS:
        for code in sorted({code for _, k, code, _ in todo if k == kind}):
            rids = decide.by.get(kind, {}).get(code, [])
            listed = {r: decide.in_list(kind, code, r) for r in rids}
            named = [r for r in rids if (r, kind, code) in column]
            parts = tuple((column[(r, kind, code)], listed[r]) for r in named)
            any_named = pl.any_horizontal([listed[r] for r in named])
            shown, drop = any_named, None
            if kind == "gap":
                # Nobody named: every listed part is empty (the union of empty sets, members.keep_gap).
                named_some = [pl.when(e).then(pl.col(f"{_NAMES}{i}")).otherwise(False) for i, e in parts]
                nobody = ~pl.any_horizontal(named_some) & pl.col("members").is_not_null()
                unnamed = [~listed[r] for r in rids if r not in named]
                drop = pl.all_horizontal([any_named, *unnamed]) & nobody
                shown = any_named & ~drop
            sure, maybe = decide.sure(kind, code), decide.maybe(kind, code)
            state = (
                pl.when(shown & sure)
                .then(pl.lit(1, dtype=pl.Int8))
                .when(shown & ~sure & maybe)
                .then(pl.lit(2, dtype=pl.Int8))
            )
            out.append(_Entry(kind, code, len(out), state, parts, drop))
    return out


def _assemble_pass(entries: list[_Entry], lf: pl.LazyFrame) -> pl.LazyFrame:
    """The ``member_measures`` column, and ``gaps`` without the gaps that name nobody, in long form.

    A row lists only a few of the findings that may name members: the (row, finding) pairs are cut out
    of the table one finding at a time and grouped into each row's list, and only the rows with such a
    pair are touched. Built instead as one wide expression per possible finding (a struct of lists for
    every row, whether listed or not), these two columns cost 70 % of the CPU time of a bundled-packs
    batch (measured at 50,000 households).

    The selections come as bit masks (``_select_pass``), so a finding's members are worked out on the
    whole table before the cut: the union over its listed rules (:func:`eligibility.members.combine`) is
    a bitwise OR, those to review the OR of theirs without the members. The lists of positions are
    spelled out once per distinct mask word (a few dozen in 100,000 households: most households have
    few members) and gathered into the long form by the word's rank among them.

    Every row then keeps a place in the grouping: its pieces, or, for a row without any, one placeholder
    entry (dropped inside the grouping; a placeholder on every row moved and sorted 100,000 more entries
    of a bundled part for nothing), sorted on one integer key (row position, entry place), so the groups
    come out one per row in order and are stacked beside the table: sorting on (``_row``, place),
    grouping by ``_row`` and joining the lists back on it cost three times as much (measured: 0.15
    against 0.045 CPU s at 100,000 households)."""
    df = lf.collect(engine=ENGINE)
    words = sum(1 for c in df.columns if c.startswith(f"{_SELECTED}0:"))
    selectors = sorted({i for e in entries for i, _ in e.parts})
    # lazily: an eager select on this wide frame costs tens of ms of CPU (see TableProgram.run)
    wide = (
        df.lazy()
        .with_columns(
            pl.any_horizontal((_word(_SELECTED, i, j) | _word(_REVIEW, i, j)) != 0 for j in range(words)).alias(
                f"{_NAMES}{i}"
            )
            for i in selectors
        )
        .select(
            "_row",
            pl.int_range(pl.len(), dtype=pl.Int64).alias("__r"),
            *(e.state.alias(f"__ms{e.order}") for e in entries),
            *(pl.any_horizontal(x for _, x in e.parts).alias(f"__ml{e.order}") for e in entries),
            *(_union(e, _SELECTED, j).alias(f"__ms{e.order}:{j}") for e in entries for j in range(words)),
            *(_union(e, _REVIEW, j).alias(f"__mr{e.order}:{j}") for e in entries for j in range(words)),
            *(e.drop.alias(f"__md{e.order}") for e in entries if e.drop is not None),
        )
        .collect(engine=ENGINE)
    )
    n = len(entries)
    sel = [f"__s{j}" for j in range(words)]
    rev = [f"__v{j}" for j in range(words)]
    pieces = [
        wide.lazy()
        .filter(pl.col(f"__ms{e.order}").is_not_null() & pl.col(f"__ml{e.order}"))
        .select(
            "__r",
            # the entry's place in the row's list: by kind, certain ones before possible ones, by code
            (
                pl.lit(2 * n * SELECTABLE_KINDS.index(e.kind) + e.order)
                + (pl.col(f"__ms{e.order}").cast(pl.Int64) - 1) * n
            )
            .cast(pl.Int64)
            .alias("__pos"),
            *(pl.col(f"__ms{e.order}:{j}").alias(s) for j, s in enumerate(sel)),
            # those to review without the members (apart already where one rule is listed)
            *((pl.col(f"__mr{e.order}:{j}") & ~pl.col(f"__ms{e.order}:{j}")).alias(v) for j, v in enumerate(rev)),
        )
        for e in entries
    ]
    # placeholders only for the rows without a piece (about 37 % of a bundled part): a row with one
    # keeps its group through it
    listing = pl.any_horizontal(
        (pl.col(f"__ms{e.order}").is_not_null() & pl.col(f"__ml{e.order}")).fill_null(False) for e in entries
    )
    places = (
        wide.lazy()
        .filter(~listing)
        .select(
            "__r",
            pl.lit(-1, dtype=pl.Int64).alias("__pos"),
            *(_u64(0).alias(c) for c in (*sel, *rev)),
        )
    )
    # one integer per (row, entry place): places run from -1 (the placeholder) to 2n·kinds - 1
    span = 2 * n * len(SELECTABLE_KINDS) + 1
    long = pl.concat([places, *pieces]).sort(pl.col("__r") * span + pl.col("__pos") + 1).collect(engine=ENGINE)
    order = pl.col("__pos") % n
    item = pl.struct(
        pl.lit(pl.Series([e.kind for e in entries], dtype=pl.String)).gather(order).alias("kind"),
        pl.lit(pl.Series([e.code for e in entries], dtype=pl.String)).gather(order).alias("code"),
        _spelled(long, sel).alias("members"),
        _spelled(long, rev).alias("members_to_review"),
    )
    listed = (
        long.lazy()
        .select("__r", "__pos", item.alias("__item"))
        .group_by(pl.col("__r").set_sorted(), maintain_order=True)
        .agg(pl.col("__item").filter(pl.col("__pos") >= 0).alias("member_measures"))
        .collect(engine=ENGINE)
    )
    if listed.height != df.height:  # pragma: no cover - one group per row, by construction
        raise AssertionError("member measures: not one list per row")
    out = pl.concat([df, listed.select("member_measures")], how="horizontal").lazy()
    dropping = [e for e in entries if e.drop is not None]
    if dropping:
        out = out.with_columns(_gaps_kept(df, wide, dropping))
    return out


def _word(prefix: str, i: int, j: int) -> pl.Expr:
    """Word ``j`` of selector ``i``'s mask (``prefix`` :data:`_SELECTED` or :data:`_REVIEW`)."""
    return pl.col(f"{prefix}{i}:{j}")


def _union(e: _Entry, prefix: str, j: int) -> pl.Expr:
    """Word ``j`` of the OR of the masks of ``e``'s rules listed on the row (one rule: its mask, read
    only where it is listed)."""
    from .polars import _bit_or

    if len(e.parts) == 1:
        return _word(prefix, e.parts[0][0], j)
    return _bit_or([pl.when(listed).then(_word(prefix, i, j)).otherwise(_u64(0)) for i, listed in e.parts])


def _spelled(long: pl.DataFrame, masks: list[str]) -> pl.Expr:
    """The positions (from 1, ascending) of the bits set in the mask words ``masks`` of each row of
    ``long`` (word ``j`` holds positions ``64 j + 1`` to ``64 j + 64``): each distinct mask spelled out
    once, with one test per bit up to the highest set, and gathered by its number among them.

    A mask's number is the rank of its word among the distinct words; with several words, the ranks are
    combined word by word and ranked again (so the number stays below the row count): concatenating a
    list per word on every row instead cost five times the rest of the assembly (measured at 70
    members)."""
    from .polars import _rank_in

    ids: pl.Series | None = None
    distinct = pl.DataFrame()
    for m in masks:
        distinct = long.get_column(m).unique().sort().to_frame()
        rank = _rank_in(distinct.to_series(), long.get_column(m)).cast(pl.UInt64)
        if ids is not None:
            ids = ids * (int(rank.max() or 0) + 1) + rank
            rank = _rank_in(ids.unique().sort(), ids).cast(pl.UInt64)
        ids = rank
    assert ids is not None
    # one word: its distinct values, in order, are the masks by number already (a ``unique`` of the
    # rows' (mask, number) pairs cost as much again as the ranks: measured, the two ``_spelled`` calls
    # of a fresh 100,000-household part 0.027-0.036 -> 0.018-0.023 CPU s)
    first = distinct if len(masks) == 1 else long.select(*masks, ids.alias("__id")).unique("__id").sort("__id")
    tests = []
    for j, m in enumerate(masks):
        top = int(first.select(pl.col(m).max().fill_null(0)).item()).bit_length()
        tests += [
            pl.when(pl.col(m) & _u64(1 << k) != 0).then(pl.lit(64 * j + k + 1, dtype=pl.Int64)) for k in range(top)
        ]
    spelled = first.select(pl.concat_list(pl.lit([], dtype=pl.List(pl.Int64)), *tests).list.drop_nulls())
    return pl.lit(spelled.to_series()).gather(pl.lit(ids))


def _gaps_kept(df: pl.DataFrame, wide: pl.DataFrame, dropping: list[_Entry]) -> pl.Series:
    """``gaps`` without the gaps that name nobody (:func:`eligibility.members.keep_gap`), by row position:
    the few rows that list one (about 6 % of a bundled part) are taken by position (``__r``), their gaps
    exploded, the dropped ones taken out and the rest regrouped; every row then takes its list from
    ``gaps`` or, for those rows, from the regrouped lists appended after it, in one gather. Joining the
    regrouped lists back on ``_row`` beside the wide table and filling the other rows' nulls from
    ``gaps`` copied the whole nested column a second time (measured: 0.015 and 0.008 CPU s of a fresh
    100,000-household part, against 0.004 for this; docs/batch-speed.md, session 18 bgap2)."""
    from .polars import _rank_in

    dropped = pl.concat(
        [
            wide.lazy().filter(pl.col(f"__md{e.order}")).select("__r", pl.lit(e.code, dtype=pl.String).alias("code"))
            for e in dropping
        ]
    ).collect(engine=ENGINE)
    gaps = df.get_column("gaps")
    at = dropped.get_column("__r").unique().sort()
    kept = (
        pl.DataFrame([at, gaps.gather(at)])
        .lazy()
        .with_columns(pl.int_ranges(pl.col("gaps").list.len()).alias("__i"))
        .explode("gaps", "__i")
        .filter(pl.col("gaps").is_not_null())
        .join(
            dropped.lazy(),
            left_on=["__r", pl.col("gaps").struct.field("code")],
            right_on=["__r", "code"],
            how="anti",
            maintain_order="left",
        )
        .group_by("__r", maintain_order=True)
        .agg(pl.col("gaps"))
        .collect(engine=ENGINE)
    )
    # rows keeping none of their gaps are not among ``kept``: an empty list, appended last
    n, k = df.height, kept.height
    lists = pl.concat([gaps, kept.get_column("gaps"), pl.Series("gaps", [[]], dtype=gaps.dtype)], rechunk=True)
    which = pl.repeat(n + k, at.len(), dtype=pl.Int64, eager=True).scatter(
        _rank_in(at, kept.get_column("__r")), pl.int_range(n, n + k, dtype=pl.Int64, eager=True)
    )
    return lists.gather(pl.int_range(n, dtype=pl.Int64, eager=True).scatter(at, which))


_COVERAGE: Final = ("all", "all?", "ids", "ids?")
"""Per household and type set: a measure surely / possibly covering everyone; member ids surely / possibly
covered by a measure naming them."""


def _covered(k: int) -> pl.Expr:
    """Per exploded member: whether a delivered measure of type set ``k`` covers them (Kleene)."""
    mid = pl.col("members").struct.field("member_id")

    def col(x: str) -> pl.Expr:
        return pl.col(f"__cov{k}:{x}")

    return (
        pl.when(pl.col(_MEASURES).is_null())
        .then(pl.lit(None, dtype=pl.Boolean))
        .when(col("all") | col("ids").list.contains(mid))
        .then(True)
        .when(col("all?") | col("ids?").list.contains(mid))
        .then(pl.lit(None, dtype=pl.Boolean))
        .otherwise(False)
    )


def _coverage(df: pl.DataFrame, type_sets: list[tuple[str, ...]]) -> tuple[pl.DataFrame, bool]:
    """The ``__cov<k>:*`` columns of every household (see :data:`_COVERAGE`), from one explode of the
    delivered measures, and whether a measure that may cover names members (``ids``/``ids?`` not all
    empty).

    Where none does, a household's coverage is the same for all its members: ``__cov<k>:hh``, what
    :func:`_covered` gives a member when the ids are empty, and the only column returned when no
    household has a delivered measure at all. The selection then explodes that one Boolean per type set
    instead of the four coverage columns (two lists) and looks nobody up in lists: on the bundled
    workload (no household with measures) ``_select_pass`` ran 1,007 → 653 M polars instructions a run
    (least CPU s 0.09 → 0.07 in ``bench_batch_profile.py --n 100000``; docs/batch-speed.md, session 22
    pmem). A part where a measure names members takes the per-member way as before."""
    flat = (
        df.lazy()
        .select("_row", "as_of", _MEASURES)
        .filter(pl.col(_MEASURES).list.len() > 0)
        .explode(_MEASURES)
        .filter(pl.col(_MEASURES).is_not_null())
        .with_columns(
            pl.col(_MEASURES).struct.field("type").alias("__t"),
            (pl.col(_MEASURES).struct.field("delivered_on") <= pl.col("as_of")).alias("__d"),
            pl.col(_MEASURES).struct.field("member_id").alias("__who"),
        )
    )
    aggs: list[pl.Expr] = []
    for k, types in enumerate(type_sets):
        counts = pl.col("__t").is_in(list(types)) & pl.col("__d")  # Kleene: null when type or date unknown
        whole = pl.col("__who").is_null()
        aggs += [
            (counts.fill_null(False) & whole).any().alias(f"__cov{k}:all"),
            (counts.is_null() & whole).any().alias(f"__cov{k}:all?"),
            pl.col("__who").filter(counts.fill_null(False) & ~whole).alias(f"__cov{k}:ids"),
            pl.col("__who").filter(counts.is_null() & ~whole).alias(f"__cov{k}:ids?"),
        ]
    got = flat.group_by("_row").agg(aggs).collect(engine=ENGINE)
    unknown = pl.col(_MEASURES).is_null()
    if got.height == 0:  # no household of the part has a delivered measure: nothing is covered
        return df.select(
            pl.when(unknown).then(None).otherwise(False).alias(f"__cov{k}:hh") for k in range(len(type_sets))
        ), False
    named = bool(
        got.select(
            pl.any_horizontal(
                (pl.col(f"__cov{k}:{x}").list.len() > 0).any() for k in range(len(type_sets)) for x in ("ids", "ids?")
            )
        ).item()
    )
    out = df.select("_row", _MEASURES).join(got, on="_row", how="left", maintain_order="left")
    fills = []
    for k in range(len(type_sets)):
        fills += [pl.col(f"__cov{k}:{x}").fill_null(False) for x in ("all", "all?")]
        fills += [pl.col(f"__cov{k}:{x}").fill_null(pl.lit([], dtype=pl.List(pl.String))) for x in ("ids", "ids?")]
    out = out.with_columns(fills)
    # where no measure names members, a household's coverage is one value for all its members (_covered)
    hh = (
        pl.when(unknown)
        .then(None)
        .when(pl.col(f"__cov{k}:all"))
        .then(True)
        .when(pl.col(f"__cov{k}:all?"))
        .then(None)
        .otherwise(False)
        .alias(f"__cov{k}:hh")
        for k in range(len(type_sets))
    )
    return out.with_columns(hh).drop("_row", _MEASURES), named


def _select_pass(
    conditions: list[pl.Expr],
    ways: list[_Way],
    type_sets: list[tuple[str, ...]],
    of: list[int],
    lf: pl.LazyFrame,
) -> pl.LazyFrame:
    """Explode the members once; per selector, the members where its condition is true / null, as bit
    masks. Only the member ``fields`` the selectors read are exploded (``_narrowed``), not every field;
    each distinct ``where`` of the selectors (``conditions``, column ``__c<k>``) is computed once.

    A mask is one UInt64 word per 64 members (bit ``k`` of word ``j``: the member at position
    ``64 j + k + 1``), as many words as the largest household of the part needs, so any size is exact.
    It is the sum of its members' bits per household. Gathering a list of positions per household and
    selector instead was most of this stage, and even a sum per mask costs about 7 ms per 100,000
    households, as much as a condition: so the masks are summed packed (``_packing``: where the largest
    household has ``L`` ≤ 32 members, ``64 // L`` masks share a word, ``L`` bits each; likewise the last,
    partial word of larger households) and cut apart after the sum (measured in §13). The assembly spells
    the positions out once per distinct mask.

    Selectors of the same condition and type set share one mask (computed once, its columns written
    under each selector's number: ``of``); ``ways`` are the two readings of coverage (:class:`_Way`).

    Every household keeps a place in the explode (no members, or an unknown collection, explodes to one
    null entry with a null position, whose bit is null and adds nothing), so the sums come out one per
    household in input order (read off a running sum at each household's last row) and are stacked
    beside the table: joining them back on ``_row`` and filling
    the empty lists cost more than the selection itself (measured: 0.23 of 0.43 CPU s at 100,000
    households)."""
    from .polars import _bit_or, _narrowed, _sums_to

    df = lf.collect(engine=ENGINE)
    named = False
    if type_sets:
        cov, named = _coverage(df, type_sets)
        df = pl.concat([df, cov], how="horizontal")
    way = ways[1 if named else 0]
    wheres = way.wheres
    largest: int = df.select(pl.col("members").list.len().max().fill_null(0)).item()
    words = max(1, -(-largest // _WORD))
    at = pl.col(_INDEX)  # the member's position from 0
    two = _u64(2)
    bits = [two.pow(at)] if words == 1 else [pl.when(at // _WORD == j).then(two.pow(at % _WORD)) for j in range(words)]
    # each mask (selected, then to review, per selector): whether the member is in it, on the exploded rows
    holds = [pl.col(f"__w{i}").fill_null(False) for i in range(len(wheres))]
    holds += [pl.col(f"__w{i}").is_null() for i in range(len(wheres))]
    slots = _packing(len(holds), largest)
    # packed word → the flags it carries (each shifted to its slot) and which word of the masks it holds
    flags: dict[int, tuple[int, list[pl.Expr]]] = {}
    for h, mask in zip(holds, slots, strict=True):
        for j, (word, shift, _) in enumerate(mask):
            # a choice of two literals, not the flag cast to UInt64 times the slot's bit: half the CPU time
            # (bundled packs, 28 flags on 295,000 member rows, one thread: 0.0123 -> 0.0067 s)
            flags.setdefault(word, (j, []))[1].append(pl.when(h).then(_u64(1 << shift)).otherwise(_u64(0)))
    flat = (
        df.lazy()
        .select(_narrowed("members", way.fields), *way.outer)
        .with_columns(pl.int_ranges(pl.col("members").list.len(), dtype=pl.UInt64).alias(_INDEX))
        .explode("members", _INDEX, empty_as_null=True)
        .with_columns(x.alias(f"__c{k}") for k, x in enumerate(conditions))
        .with_columns(w.alias(f"__w{i}") for i, w in enumerate(wheres))
        .select(
            # the flags of a word times the member's bit in it: a slot is as wide as the member bits it holds
            # (0 on a household's placeholder row)
            (_bit_or(xs) * bits[j]).fill_null(0).alias(f"__p{word}")
            for word, (j, xs) in flags.items()
        )
    )
    # summed per household off a running sum read at each household's last row (``_sums_to``): the
    # group_by on the row number it replaces cost 2.6x as much (0.024 -> 0.009 CPU s per 100,000
    # households); a word's sum is of distinct bits, below 2**64, so the UInt64 wrap-around is exact
    ends = df.select(pl.col("members").list.len().fill_null(0).clip(1).cast(pl.Int64).cum_sum()).to_series()
    picked = (
        _sums_to(ends, flat, pl.UInt64())
        .lazy()
        .select(
            (pl.col(f"__p{word}") // _u64(1 << shift) % _u64(1 << width) if width < _WORD else pl.col(f"__p{word}"))
            .cast(pl.UInt64)
            .alias(f"{prefix}{i}:{j}")
            for prefix, base in ((_SELECTED, 0), (_REVIEW, len(wheres)))
            for i, d in enumerate(of)
            for j, (word, shift, width) in enumerate(slots[base + d])
        )
        .collect(engine=ENGINE)
    )
    if picked.height != df.height:  # pragma: no cover - one group per household, by construction
        raise AssertionError("member selection: not one sum per household")
    return pl.concat([df, picked], how="horizontal").lazy()


def _u64(x: int) -> pl.Expr:
    """``x`` as a UInt64 literal (a mask word; ``2 ** 63`` and above do not fit the default Int64), made
    once per value (``polars._typed``)."""
    from .polars import _typed

    return _typed(x, pl.UInt64)


def _packing(masks: int, largest: int) -> list[list[tuple[int, int, int]]]:
    """Where each word of each of ``masks`` masks is summed: (packed word, shift of its slot, slot width).

    A household of the part has at most ``largest`` members, so word ``j`` of a mask holds
    ``min(64, largest - 64 j)`` member bits: where that width ``w`` is at most 32, ``64 // w`` masks' words
    ``j`` share one packed word, each ``w`` bits to the left of the one before (the sum of a household's
    bits never carries out of its slot); a full word is summed alone. So up to 32 members several masks
    share a word, from 33 to 64 each has its own, and beyond, the full words are alone and the last,
    partial one is shared again."""
    words = max(1, -(-largest // _WORD))
    out: list[list[tuple[int, int, int]]] = [[] for _ in range(masks)]
    start = 0
    for j in range(words):
        width = max(1, min(_WORD, largest - _WORD * j))
        per = _WORD // width
        for m in range(masks):
            out[m].append((start + m // per, (m % per) * width, width))
        start += -(-masks // per)
    return out


def member_rows(decision: Any) -> list[dict[str, Any]]:
    """The ``member_measures`` cell of a :class:`~eligibility.decision.Decision` (its row form)."""
    a = decision.assistance
    return [
        {
            "kind": kind,
            "code": f.code,
            "members": [m.index for m in f.members],
            "members_to_review": [m.index for m in f.members_to_review],
        }
        for kind, items in (("measure", a.required), ("gap", a.gaps))
        for f in items
        if f.members is not None
    ]
