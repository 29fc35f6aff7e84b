"""一月一分析: the monthly counts of a batch's decisions, per region level.

Counties report each month how many households (and people) were identified, in which category, with
which risks, which measures are required and missing, who may exit and what blocks the others, which
procedure deadlines were missed and which warnings fired — per province, city, county, town or village
(the 2/4/6/9/12-digit prefixes of the GB/T 2260 + 统计用区划代码 12-digit code). :func:`summarise`
computes that table from the decision table and the households frame; :func:`write_summary` renders it.

The table is *long* (one row per region × indicator × item) rather than wide, because the items (risk
codes, blockers) differ between rule packs and months; a long table pivots in Excel either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import polars as pl

from .columns import ROW
from .writers import _FINDING_KIND, EXIT_LABELS, STATUS_LABELS, UNCERTAIN, neutralised

if TYPE_CHECKING:
    from ..ruleset import RuleSet

__all__ = ["LEVELS", "SUMMARY_COLUMNS", "render_markdown", "summarise", "write_summary"]

Level = Literal["province", "city", "county", "town", "village"]

LEVELS: Final[dict[str, int]] = {
    "province": 2,
    "省": 2,
    "city": 4,
    "市": 4,
    "county": 6,
    "县": 6,
    "town": 9,
    "乡": 9,
    "village": 12,
    "村": 12,
}
"""Region level → digits of the code that name a unit of that level."""

ALL_REGIONS: Final = "合计"
UNKNOWN_REGION: Final = "未知"

SUMMARY_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    "region": ("区划代码", "region"),
    "indicator": ("指标", "indicator"),
    "code": ("代码", "code"),
    "item": ("项目", "item"),
    "households": ("户数", "households"),
    "people": ("人数", "people"),
}

_INDICATORS: Final[dict[str, str]] = {
    "total": "评估户数",
    "status": "认定结论",
    "category": "监测对象类别",
    "risks": "两不愁三保障和饮水问题",
    "risk_types": "致贫返贫风险类型",
    "layers": "农村社会救助分层",
    "measures": "应落实帮扶措施",
    "gaps": "帮扶缺口",
    "exit_status": "风险消除",
    "exit_blockers": "不能消除的原因",
    "procedure": "程序逾期",
    "warnings": "预警",
}
"""Indicator code → Chinese name, in the order the table lists them."""


_FLAT: Final = ("status", "category", "exit_status")
_LISTED: Final = ("risks", "risk_types", "layers", "measures", "gaps", "exit_blockers", "procedure", "warnings")
"""The decision columns counted: one code per household, and lists of findings."""


_GROUPED_FROM: Final = 1000
"""Households per region (on average) from which a list indicator is counted per distinct list first."""


def _digits(level: Level | str | int) -> int:
    if isinstance(level, int):
        return level
    if level not in LEVELS:
        raise ValueError(f"未知的区划级别 / unknown region level {level!r}: {', '.join(LEVELS)}")
    return LEVELS[level]


def summarise(
    decisions: pl.DataFrame,
    households: pl.DataFrame,
    level: Level | str | int = "county",
    *,
    rules: RuleSet | None = None,
) -> pl.DataFrame:
    """Counts of households and people per region prefix, indicator and item (see module docstring).

    ``decisions`` and ``households`` are joined on ``_row``; people are the members of each household (a
    household whose members are unknown counts as a household but adds no people). Every region gets
    the same indicators, and a ``合计`` region sums them all. Uncertain findings are counted apart,
    their item marked ``（待定）``; procedure findings count only when late (``days_late > 0``).
    """
    n = _digits(level)
    base = households.select(
        ROW,
        pl.when(pl.col("region").is_null())
        .then(pl.lit(UNKNOWN_REGION))
        .otherwise(pl.col("region").str.slice(0, n))
        .alias("region"),
        pl.col("members").list.len().fill_null(0).cast(pl.Int64).alias("_people"),
    )
    # Counted by a small integer per distinct region rather than its text: hashing a 9- or 12-digit prefix
    # in every group-by below cost about twice an integer's (a town-level part: 0.068 → 0.039 CPU s for
    # one indicator's group-by); the text comes back once per row of the table, at the end.
    regions = (
        base.select(pl.col("region").unique(maintain_order=True))
        .with_row_index("_region")
        .with_columns(pl.col("_region").cast(pl.UInt32))
    )
    base = base.join(regions, on="region", how="left").select(ROW, "_region", "_people")
    unknown = regions.filter(pl.col("region") == UNKNOWN_REGION)["_region"]
    if unknown.is_empty():
        # A decision whose household is missing is counted under 未知, which the households may not name.
        unknown = pl.Series("_region", [regions.height], dtype=pl.UInt32)
        regions = pl.concat([regions, pl.DataFrame({"_region": unknown, "region": [UNKNOWN_REGION]})])
    # Only the columns counted, and each household once: the 合计 rows are counted from the same long
    # table with the region left out (every household is in exactly one region), where stacking the
    # whole decision table a second time under 合计 cost most of a part's summary.
    counted = [c for c in (*_FLAT, *_LISTED, "error") if c in decisions.columns]
    d = (
        decisions.select(ROW, *counted)
        .join(base, on=ROW, how="left")
        .with_columns(pl.col("_region").fill_null(unknown.item()))
    )
    if "error" in d.columns:
        # A row the rules could not decide is counted as 评估出错, so the statuses add up to the total.
        d = d.with_columns(
            pl.when(pl.col("error").is_not_null()).then(pl.lit("error")).otherwise(pl.col("status")).alias("status")
        )
    # Each indicator counted on its own rows, grouped by (region, code, certain) with its name added after:
    # one group-by of the stacked long table (1.8 million rows of four text keys for 100,000 households)
    # and a second one for 合计 were most of a part's summary. The 合计 rows are the region rows added
    # up (every household is in exactly one region), a few hundred rows instead of the long table again.
    # The groups' order does not matter: the sort below is total on (region, indicator, code, certain).
    counts = [pl.len().cast(pl.Int64).alias("households"), pl.col("_people").sum().cast(pl.Int64).alias("people")]
    keys = ["indicator", "code", "certain"]

    def counted_by_region(indicator: str, rows: pl.DataFrame, weighted: bool = False) -> pl.DataFrame:
        """``rows`` (_region, _people, code, certain) counted per region, code and certain; ``weighted``:
        each row stands for ``_households`` households of ``_people`` people in all."""
        sums = [pl.col("_households").sum().alias("households"), pl.col("_people").sum().alias("people")]
        grouped = rows.group_by(["_region", "code", "certain"]).agg(sums if weighted else counts)
        return grouped.select(
            "_region", pl.lit(indicator).alias("indicator"), "code", "certain", "households", "people"
        )

    parts: list[pl.DataFrame] = [
        counted_by_region(
            "total", d.select("_region", "_people", pl.lit("all").alias("code"), pl.lit(True).alias("certain"))
        )
    ]
    for col in _FLAT:
        if col in d.columns:
            rows = d.filter(pl.col(col).is_not_null()).select(
                "_region", "_people", pl.col(col).alias("code"), pl.lit(True).alias("certain")
            )
            parts.append(counted_by_region(col, rows))
    for col in _LISTED:
        if col not in d.columns:
            continue
        # One household counts once per item even when two rules concluded it: each household's list is
        # made unique in itself (first occurrences, in order), which is what a ``unique`` over the exploded
        # rows keyed by region, household and item kept, at a quarter of its cost (measured: 0.40 → 0.12
        # CPU s for the eight lists of 100,000 households).
        item = pl.element()
        kept = item.is_not_null() & (item.struct.field("days_late") > 0 if col == "procedure" else True)
        pairs = pl.struct(item.struct.field("code"), item.struct.field("certain")).filter(kept)
        # Households with the same list in the same region counted together first when regions are large:
        # 100,000 households of one county have a few hundred to a few tens of thousands of distinct lists
        # per indicator, so the unique, explode and group-by below run over those instead of every
        # household's items (a group's households and people add up). With a hundred households a region
        # (a generated town level) nearly every list is distinct there and the extra group-by only costs.
        lists = d.select("_region", "_people", pl.col(col).list.eval(pairs))
        if d.height >= _GROUPED_FROM * regions.height:
            lists = lists.group_by("_region", col).agg(
                pl.len().cast(pl.Int64).alias("_households"), pl.col("_people").sum()
            )
        else:
            lists = lists.with_columns(pl.lit(1, pl.Int64).alias("_households"))
        items = (
            lists.with_columns(pl.col(col).list.unique(maintain_order=True))
            .explode(col)
            .filter(pl.col(col).is_not_null())
        )
        rows = items.select(
            "_region", "_households", "_people", pl.col(col).struct.field("code"), pl.col(col).struct.field("certain")
        )
        parts.append(counted_by_region(col, rows, weighted=True))
    by_region = (
        pl.concat(parts, how="vertical_relaxed")
        .join(regions, on="_region", how="left")
        .select("region", pl.exclude("region", "_region"))
    )
    total = by_region.group_by(keys).agg(pl.col("households", "people").sum())
    out = pl.concat([by_region, total.select(pl.lit(ALL_REGIONS).alias("region"), pl.all())])
    order = {k: i for i, k in enumerate(_INDICATORS)}
    out = out.with_columns(
        pl.col("indicator").replace_strict(order, return_dtype=pl.Int64).alias("_order"),
        (pl.col("region") == ALL_REGIONS).alias("_total"),
    ).sort(
        # certain before uncertain (``code?``) on a tie, as the batch's merged summary orders them
        ["_total", "region", "_order", "households", "code", "certain"],
        descending=[False, False, False, True, False, True],
    )
    # Each distinct item labelled once and joined back: every region repeats the same few items, and a
    # Python call per row of the table (tens of thousands of rows for a city by town) was most of the summary.
    distinct = out.select(keys).unique(maintain_order=True)
    labels = pl.Series("item", [_item_label(i, c, ok, rules) for i, c, ok in distinct.iter_rows()], dtype=pl.String)
    out = out.join(distinct.with_columns(labels), on=keys, how="left", nulls_equal=True, maintain_order="left")
    return out.select(
        "region",
        pl.col("indicator").replace_strict(_INDICATORS, return_dtype=pl.String).alias("indicator"),
        pl.col("code") + pl.when(pl.col("certain")).then(pl.lit("")).otherwise(pl.lit("?")),
        "item",
        "households",
        "people",
    )


def _item_label(indicator: str, code: str, certain: bool, rules: RuleSet | None) -> str:
    if indicator == "total":
        text = "全部"
    elif indicator == "status":
        text = STATUS_LABELS.get(code, (code, code))[0]
    elif indicator == "exit_status":
        text = EXIT_LABELS.get(code, (code, code))[0]
    elif rules is None:
        text = code
    elif indicator == "category":
        text = rules.vocab("category", code).zh
    else:
        text = rules.vocab(_FINDING_KIND[indicator], code).zh
    return text if certain else text + UNCERTAIN["zh"]


def render_markdown(summary: pl.DataFrame) -> str:
    """The summary as a Markdown table with Chinese headers (for a report or an issue)."""
    headers = [SUMMARY_COLUMNS[c][0] for c in summary.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in summary.iter_rows():
        lines.append("| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_summary(summary: pl.DataFrame, path: str | Path) -> None:
    """Write the summary as CSV (UTF-8 with BOM), Excel or Markdown (``.md``), Chinese headers; the text
    cells of CSV and Excel neutralised for spreadsheets, as every table a clerk opens (issue 13 §5)."""
    p = Path(path)
    suffix = p.suffix.lower()
    zh = neutralised(summary.rename({c: SUMMARY_COLUMNS[c][0] for c in summary.columns}))
    if suffix == ".md":
        p.write_text(render_markdown(summary), encoding="utf-8")
    elif suffix == ".csv":
        zh.write_csv(p, include_bom=True)
    elif suffix == ".xlsx":
        zh.write_excel(p, worksheet="一月一分析", autofit=True, header_format={"bold": True}, freeze_panes=(1, 0))
    else:
        raise ValueError(f"不支持的格式 / unsupported summary format {suffix!r} (csv, xlsx, md)")
