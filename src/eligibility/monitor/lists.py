"""The routine's lists as polars joins and group-bys over this month's and last month's decision tables.

Why columnar: at 淮北's scale (350,000 households) the lists hold about as many rows as there are households
(the generated population nearly all carry procedure findings), and building them household by household in
Python dicts cost more than deciding the households (issue 14 §6). Here every list is a frame computed from
the decision columns themselves; only the distinct vocabulary codes pass through Python, to look up their
Chinese labels in the rules.

The frames' columns are those of the dicts the routine has always returned (``MonthlyResult.changes`` etc.,
``monitor.json``); :mod:`eligibility.monitor.routine` documents what each list means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import polars as pl

from ..io.writers import STATUS_LABELS
from ..ruleset import RuleSet

__all__ = [
    "CHANGE_COLUMNS",
    "FLAG_SCHEMA",
    "changes_frame",
    "flags_frame",
    "focus_frame",
    "visits_frame",
]

MONITORED: Final = "监测中"
ELIMINATED: Final = "风险已消除"

CHANGE_COLUMNS: Final = ("change", "变化", "household_id", "town", "village", "reason", "rules", "before", "after")
"""The columns of a change-list row, in the order of the dicts (and of ``monitor.json``)."""

FLAG_SCHEMA: Final[dict[str, pl.DataType]] = {
    "household_id": pl.String(),
    "village": pl.String(),
    "kind": pl.String(),
    "code": pl.String(),
    "rules": pl.String(),
}
"""A focus flag (what the quarter's list sums): household, village, kind, code, its rules joined by ``,``."""

_RULES: Final = pl.List(pl.String)
_ITEM_COLUMNS: Final = ("risks", "reviews", "gaps", "exit_blockers", "procedure", "warnings")


NO_DEADLINE: Final = "本地未规定核实时限 / no verification deadline set here"
"""The visit reason of a lead where the rules give no deadline (no ``identification_max_days``)."""


def _codes(col: str) -> pl.Expr:
    """The codes of a findings column (a null list stays null)."""
    return pl.col(col).list.eval(pl.element().struct.field("code"))


def _certain_codes(col: str) -> pl.Expr:
    return pl.col(col).list.eval(pl.element().filter(pl.element().struct.field("certain")).struct.field("code"))


def _late_codes(col: str) -> pl.Expr:
    return pl.col(col).list.eval(
        pl.element().filter(pl.element().struct.field("days_late").fill_null(0) > 0).struct.field("code")
    )


def _vocab(rules: RuleSet, kind: str, codes: pl.Series) -> dict[str, str]:
    return {c: rules.vocab(kind, c).zh for c in codes.drop_nulls().unique().to_list()}


def _zh(rules: RuleSet, kind: str, frame: pl.DataFrame, col: str) -> pl.Expr:
    """The Chinese label of the code in ``col`` (empty for a null code)."""
    mapping = _vocab(rules, kind, frame.get_column(col))
    return pl.col(col).replace_strict(mapping, default="", return_dtype=pl.String).fill_null("")


def _labels(
    rules: RuleSet, kind: str, frame: pl.DataFrame, col: str, keep: pl.Expr | None = None, context: Sequence[str] = ()
) -> pl.DataFrame:
    """Per ``_i``: the labels of the items of ``col`` that ``keep`` selects, joined by ``；`` (``text``), and
    the rules that drew them in order of first appearance (``rule_ids``); rows without such items are absent.

    ``keep`` reads an item's fields (``code``, ``certain``, ``days_late``…) and the row's ``context``
    columns. A procedure finding with a due date reads ``label（应于 DATE，逾期 N 天）``.
    """
    items = (
        frame.select("_i", *context, pl.col(col).alias("__item"))
        .explode("__item")
        .filter(pl.col("__item").is_not_null())
        .with_columns(pl.col("__item").struct.unnest())
    )
    if keep is not None:
        items = items.filter(keep.fill_null(False))
    if "rules" not in items.columns:
        items = items.with_columns(pl.lit(None, dtype=_RULES).alias("rules"))
    label = _zh(rules, kind, items, "code")
    if kind == "finding":
        label = (
            pl.when(pl.col("due").is_not_null())
            .then(pl.format("{}（应于 {}，逾期 {} 天）", label, pl.col("due"), pl.col("days_late").fill_null(0)))
            .otherwise(label)
        )
    return items.group_by("_i", maintain_order=True).agg(
        label.str.join("；").alias("text"),
        pl.col("rules").explode().drop_nulls().unique(maintain_order=True).alias("rule_ids"),
    )


def _with_labels(
    rules: RuleSet,
    kind: str,
    frame: pl.DataFrame,
    col: str,
    keep: pl.Expr | None = None,
    context: Sequence[str] = (),
    how: str = "left",
) -> pl.DataFrame:
    """``frame`` with ``text`` and ``rule_ids`` of its ``col`` items beside it: ``how="left"`` keeps every
    row (empty text, no rules when it has no item), ``how="inner"`` only the rows with an item."""
    lab = _labels(rules, kind, frame, col, keep, context)
    if how == "inner":
        return frame.join(lab, on="_i", how="inner", maintain_order="left")
    return frame.join(lab, on="_i", how="left", maintain_order="left").with_columns(
        pl.col("text").fill_null(""), pl.col("rule_ids").fill_null(pl.lit([], dtype=_RULES))
    )


def _place() -> list[pl.Expr]:
    region = pl.col("region").fill_null("")
    return [region.str.slice(0, 9).alias("town"), region.str.slice(0, 12).alias("village")]


def _change(kind: str, zh: str, reason: pl.Expr, rule_ids: pl.Expr, before: pl.Expr, after: pl.Expr) -> list[pl.Expr]:
    return [
        pl.lit(kind).alias("change"),
        pl.lit(zh).alias("变化"),
        pl.col("household_id"),
        *_place(),
        reason.alias("reason"),
        rule_ids.cast(_RULES).alias("rules"),
        before.alias("before"),
        after.alias("after"),
    ]


def _status_text(col: str) -> pl.Expr:
    """The Chinese name of a decision status (empty when there is no decision)."""
    mapping = {k: v[0] for k, v in STATUS_LABELS.items()}
    return pl.col(col).replace_strict(mapping, default=pl.col(col), return_dtype=pl.String).fill_null("")


def _category_rules(rules: RuleSet, pairs: pl.DataFrame) -> dict[str, list[str]]:
    """``pack|category`` → the rules of the pack chain that conclude the category (the decision table does
    not say which of them fired; these are the candidates a reader checks)."""
    out: dict[str, list[str]] = {}
    for pack, category in pairs.iter_rows():
        out[f"{pack}|{category}"] = [
            rule.id
            for rule in rules.chain(pack).rules.values()
            for kind, code in rule.conclusions
            if kind == "category" and code == category
        ]
    return out


_EMPTY: Final = pl.lit([], dtype=_RULES)


def _joined(cur: pl.DataFrame, prev: pl.DataFrame | None) -> pl.DataFrame:
    """This month's rows (``_i``: input position) with the previous run's columns prefixed ``p_``."""
    cur = cur.with_row_index("_i")
    if prev is None:
        prev = pl.DataFrame(schema={k: v for k, v in cur.schema.items() if k not in ("_i", "region")})
    p = prev.select(pl.all().name.prefix("p_"), pl.col("household_id"))
    return cur.join(p, on="household_id", how="left", maintain_order="left")


def changes_frame(
    rules: RuleSet, cur: pl.DataFrame, prev: pl.DataFrame | None, leads: Sequence[dict[str, Any]], kinds: dict[str, str]
) -> pl.DataFrame:
    """The change lists of this month against the previous run (``kinds``: code → Chinese name, in order).

    ``cur``: this month's decided households in input order (``household_id``, ``region``,
    ``monitoring_status`` and the decision's state columns). ``prev``: every household of the previous run
    (``household_id``, ``monitoring_status`` and its state columns, null where it was an error), or
    ``None`` when there is no previous run. ``leads``: the department leads of the month."""
    j = _joined(cur, prev)
    has_p = pl.col("p_household_id").is_not_null()
    ok_p = pl.col("p_status").is_not_null()
    status, ms, ms_p = pl.col("status"), pl.col("monitoring_status"), pl.col("p_monitoring_status")
    parts: list[pl.DataFrame] = []

    def add(
        frame: pl.DataFrame, kind: str, reason: pl.Expr, rule_ids: pl.Expr, before: pl.Expr, after: pl.Expr
    ) -> None:
        parts.append(frame.select(*_change(kind, kinds[kind], reason, rule_ids, before, after)))

    text, rule_ids = pl.col("text"), pl.col("rule_ids")
    # new_risk: a risk present now and not in the previous decision.
    j = j.with_columns(_codes("p_risks").fill_null(_EMPTY).alias("__was"))
    new = _with_labels(
        rules, "risk", j, "risks", ~pl.col("__was").list.contains(pl.col("code")), ["__was"], how="inner"
    )
    add(new, "new_risk", text, rule_ids, pl.lit(""), text)
    risks = _with_labels(rules, "risk", j, "risks")
    ident = risks.filter((status == "identified") & (pl.col("p_status").fill_null("") != "identified"))
    pairs = ident.select("jurisdiction", "category").drop_nulls().unique()
    key = pl.concat_str("jurisdiction", pl.lit("|"), "category")
    cands = key.replace_strict(_category_rules(rules, pairs), default=None, return_dtype=_RULES).fill_null(_EMPTY)
    cat = _zh(rules, "category", ident, "category")
    reason = pl.concat_list(cat, text).list.eval(pl.element().filter(pl.element() != "")).list.join("；")
    add(
        ident,
        "newly_identified",
        reason,
        pl.concat_list(cands, rule_ids),
        _status_text("p_status"),
        _status_text("status"),
    )
    # eliminated: monitored last month, marked eliminated now.
    elim = j.filter(has_p & (ms_p == MONITORED) & (ms == ELIMINATED))
    method = _zh(rules, "exit_method", elim, "exit_method")
    why = pl.when(method != "").then(pl.format("已标注风险消除（{}）", method)).otherwise(pl.lit("已标注风险消除"))
    add(elim, "eliminated", why, _EMPTY, pl.lit(MONITORED), pl.lit(ELIMINATED))
    # re_entered: eliminated last month, monitored or identified again.
    again = risks.filter(has_p & (ms_p == ELIMINATED) & ((ms == MONITORED).fill_null(False) | (status == "identified")))
    after = pl.when(ms.fill_null("") != "").then(ms).otherwise(_status_text("status"))
    add(again, "re_entered", text, rule_ids, pl.lit(ELIMINATED), after)
    # category_changed
    cat_now, cat_before = pl.col("category").fill_null(""), pl.col("p_category").fill_null("")
    catc = j.filter(ok_p & (cat_now != "") & (cat_before != "") & (cat_now != cat_before))
    a, b = _zh(rules, "category", catc, "p_category"), _zh(rules, "category", catc, "category")
    add(catc, "category_changed", pl.format("{} → {}", a, b), _EMPTY, a, b)
    # risk_changed: the set of risks differs from a non-empty previous set.
    # Sorted inside ``list.eval``: the same lists, but ``list.sort()`` cost ~19 µs of CPU a row in this
    # polars (5.7 CPU s for 300,000 rows, against 0.19 s; as io/tables.py's ``_sorted_set``). On
    # ``bench_monitor_stages.py 100000`` the routine's ``changes_frame`` did not move measurably.
    now_set = _codes("risks").fill_null(_EMPTY).list.eval(pl.element().unique().sort())
    before_set = _codes("p_risks").fill_null(_EMPTY).list.eval(pl.element().unique().sort())
    riskc = risks.filter(ok_p & (before_set.list.len() > 0) & (now_set != before_set))
    names = _vocab(rules, "risk", riskc.select(before_set.alias("c")).explode("c").get_column("c"))
    a = before_set.list.eval(pl.element().replace_strict(names, default="", return_dtype=pl.String)).list.join("；")
    add(riskc, "risk_changed", pl.format("{} → {}", a, text), rule_ids, a, text)
    # exit_opened: exit possible now and not before; the reason is what blocked it last month.
    opened = j.filter(
        ok_p & (pl.col("exit_status") == "eligible") & (pl.col("p_exit_status").fill_null("") != "eligible")
    )
    opened = _with_labels(rules, "exit_blocker", opened, "p_exit_blockers")
    why = (
        pl.when(text != "")
        .then(pl.format("上月不能消除的原因已解除：{}", text))
        .otherwise(pl.lit("风险消除条件已满足"))
    )
    add(opened, "exit_opened", why, rule_ids, text, pl.lit("可标注风险消除"))
    # newly_overdue: procedure findings late now and not late in the previous decision.
    j = j.with_columns(_late_codes("p_procedure").fill_null(_EMPTY).alias("__was"))
    late = (pl.col("days_late").fill_null(0) > 0) & ~pl.col("__was").list.contains(pl.col("code"))
    overdue = _with_labels(rules, "finding", j, "procedure", late, ["__was"], how="inner")
    add(overdue, "newly_overdue", text, rule_ids, pl.lit(""), text)
    # warning: certain warnings, new or continuing.
    warned = _with_labels(rules, "warning", j, "warnings", pl.col("certain"), how="inner")
    fresh = _certain_codes("warnings").list.set_difference(_certain_codes("p_warnings").fill_null(_EMPTY))
    new_or_not = pl.when(fresh.list.len() > 0).then(pl.lit("新")).otherwise(pl.lit("持续"))
    add(warned, "warning", text, rule_ids, pl.lit(""), pl.format("{}：{}", new_or_not, text))
    lf = _leads_frame(leads)
    add(lf, "new_risk", pl.col("reason"), pl.concat_list("rule"), pl.lit(""), pl.col("channel"))
    schema = {c: (_RULES if c == "rules" else pl.String()) for c in CHANGE_COLUMNS}
    out = pl.concat([p.cast(schema) for p in parts], how="vertical")  # type: ignore[arg-type]
    order = {k: i for i, k in enumerate(kinds)}
    rank = pl.col("change").replace_strict(order, return_dtype=pl.Int32)
    return out.sort(rank, "village", "household_id", maintain_order=True)


_LEAD_COLUMNS: Final = ("household_id", "region", "reason", "rule", "channel", "verify_by")


def _leads_frame(leads: Sequence[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        {k: [x.get(k) for x in leads] for k in _LEAD_COLUMNS}, schema={k: pl.String for k in _LEAD_COLUMNS}
    )


def visits_frame(
    rules: RuleSet, cur: pl.DataFrame, everyone: pl.DataFrame, leads: Sequence[dict[str, Any]], reasons: dict[str, str]
) -> pl.DataFrame:
    """一月一提示: every household whose state this month requires a visit, with each reason and its rules.

    ``cur``: the decided households (as for :func:`changes_frame`); ``everyone``: ``household_id``,
    ``region`` and, if known, ``responsible`` (the 帮扶责任人) of every stored household of the month (a lead
    names its household's region from there); ``reasons``: reason code → Chinese text, in the order a
    household's reasons are listed. Rows are ordered by village, then 帮扶责任人, then household: the list is
    handed out per village and per officer."""
    j = cur.with_row_index("_i")
    status, text = pl.col("status"), pl.col("text")
    parts: list[pl.DataFrame] = []

    def add(frame: pl.DataFrame, why: str, detail: pl.Expr, rule_ids: pl.Expr) -> None:
        parts.append(
            frame.select(
                "household_id",
                "region",
                pl.lit(len(parts), dtype=pl.Int64).alias("__seq"),
                pl.lit(why).alias("why"),
                detail.alias("detail"),
                rule_ids.cast(_RULES).alias("rule_ids"),
            )
        )

    ident = j.filter((status == "identified") & (pl.col("monitoring_status").fill_null("") != MONITORED))
    ident = _with_labels(rules, "risk", ident, "risks")
    add(ident, "identify", text, pl.col("rule_ids"))
    review = _with_labels(rules, "review", j.filter(status == "needs_review"), "reviews")
    missing = pl.col("blocking").list.eval(pl.element().struct.field("name")).fill_null(_EMPTY).list.join("、")
    detail = pl.concat_list(text, pl.when(missing != "").then(pl.format("缺少：{}", missing)).otherwise(pl.lit("")))
    add(review, "review", detail.list.eval(pl.element().filter(pl.element() != "")).list.join("；"), pl.col("rule_ids"))
    add(j.filter(pl.col("exit_status") == "eligible"), "exit", pl.lit("风险消除条件已满足"), _EMPTY)
    code, certain = pl.col("code"), pl.col("certain")
    due = _with_labels(rules, "finding", j, "procedure", certain & (code == "visit_missing"), how="inner")
    add(due, "visit_due", text, pl.col("rule_ids"))
    late = (pl.col("days_late").fill_null(0) > 0) & (code != "visit_missing")
    add(_with_labels(rules, "finding", j, "procedure", late, how="inner"), "overdue", text, pl.col("rule_ids"))
    add(_with_labels(rules, "gap", j, "gaps", certain, how="inner"), "gap", text, pl.col("rule_ids"))
    add(_with_labels(rules, "warning", j, "warnings", certain, how="inner"), "warning", text, pl.col("rule_ids"))
    lf = _leads_frame(leads).with_row_index("__lead")
    lf = lf.join(
        everyone.select("household_id", pl.col("region").alias("__here")),
        on="household_id",
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.when(pl.col("household_id").is_in(everyone.get_column("household_id").implode()))
        .then(pl.col("__here"))
        .otherwise(pl.col("region"))
        .alias("region")
    )
    # A lead without a deadline (no identification_max_days where it lives) says so rather than "None".
    deadline = pl.format("须于 {} 前核实", pl.col("verify_by"))
    add(
        lf,
        "lead",
        pl.format("{}，{}", pl.col("reason"), deadline.fill_null(pl.lit(NO_DEADLINE))),
        pl.concat_list("rule"),
    )
    long = pl.concat([p.with_columns(pl.col("region").cast(pl.String)) for p in parts], how="vertical")
    zh = pl.col("why").replace_strict(reasons, return_dtype=pl.String)
    line = pl.when(pl.col("detail") != "").then(pl.format("{}（{}）", zh, pl.col("detail"))).otherwise(zh)
    out = (
        long.sort("__seq", maintain_order=True)
        .group_by("household_id", maintain_order=True)
        .agg(
            pl.col("region").first(),
            pl.col("why").alias("reasons"),
            line.str.join("；").alias("reason"),
            pl.col("rule_ids").explode().drop_nulls().unique().sort().alias("rules"),
        )
    )
    if "responsible" in everyone.columns:
        officers = everyone.select("household_id", pl.col("responsible").cast(pl.String)).unique(
            "household_id", keep="first", maintain_order=True
        )
        out = out.join(officers, on="household_id", how="left", maintain_order="left")
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.String).alias("responsible"))
    region = pl.col("region").fill_null("")
    return out.select(
        region.str.slice(0, 9).alias("town"),
        region.str.slice(0, 12).alias("village"),
        "household_id",
        pl.col("responsible").fill_null(""),
        "reasons",
        "reason",
        "rules",
    ).sort("village", "responsible", "household_id")


def flags_frame(cur: pl.DataFrame) -> pl.DataFrame:
    """This month's focus flags (:data:`FLAG_SCHEMA`): certain warnings, overdue procedure findings and,
    for a household that needs review, its review items — per household in that order, households in
    input order."""
    j = cur.with_row_index("_i").with_columns(pl.col("region").fill_null("").str.slice(0, 12).alias("village"))
    review = pl.when(pl.col("status") == "needs_review").then(pl.col("reviews")).otherwise(None)
    sources = [
        ("warning", pl.col("warnings"), pl.col("certain").fill_null(False)),
        ("finding", pl.col("procedure"), pl.col("days_late").fill_null(0) > 0),
        ("review", review, pl.lit(True)),
    ]
    parts = []
    for k, (kind, col, keep) in enumerate(sources):
        items = (
            j.select("_i", "household_id", "village", col.alias("__item"))
            .explode("__item")
            .filter(pl.col("__item").is_not_null())
            .with_columns(pl.col("__item").struct.unnest())
            .filter(keep)
        )
        parts.append(
            items.select(
                "_i",
                pl.lit(k).alias("__k"),
                "household_id",
                "village",
                pl.lit(kind).alias("kind"),
                "code",
                pl.col("rules").fill_null(_EMPTY).list.join(",").alias("rules"),
            )
        )
    flags = pl.concat(parts, how="vertical").sort("_i", "__k", maintain_order=True)
    return flags.select(*FLAG_SCHEMA).cast(FLAG_SCHEMA)  # type: ignore[arg-type]


def focus_frame(rules: RuleSet, runs: Sequence[tuple[str, pl.DataFrame]]) -> pl.DataFrame:
    """一季一预警: households flagged in the quarter's runs (``(as_of, flags)``, oldest first), with the
    months flagged and why; most months first."""
    empty = pl.DataFrame(schema=FLAG_SCHEMA)
    flags = pl.concat(
        [empty, *(f.select(*FLAG_SCHEMA).cast(FLAG_SCHEMA).with_columns(pl.lit(on).alias("on")) for on, f in runs)],  # type: ignore[arg-type]
        how="diagonal",
    ).with_columns(pl.col("on").cast(pl.String))
    acc = (
        flags.group_by("household_id", "kind", "code", maintain_order=True)
        .agg(
            pl.col("village").first(),
            pl.col("on").unique().sort().alias("months"),
            pl.col("rules").str.split(",").explode().unique().sort().alias("rules"),
        )
        .with_columns(pl.col("rules").list.eval(pl.element().filter(pl.element() != "")))
    )
    pairs = acc.select("kind", "code").unique()
    labels = {f"{k}|{c}": rules.vocab(k, c).zh for k, c in pairs.iter_rows()}
    key = pl.concat_str("kind", pl.lit("|"), "code")
    out = acc.select(
        "household_id",
        "village",
        "kind",
        "code",
        key.replace_strict(labels, default="", return_dtype=pl.String).alias("label"),
        "months",
        "rules",
        pl.col("months").list.len().cast(pl.Int64).alias("n_months"),
    )
    return out.sort(
        pl.col("n_months"), "village", "household_id", "kind", "code", descending=[True, False, False, False, False]
    )
