"""Batch writers: decision tables, error lists and household templates, in the formats counties use.

Parquet and JSON Lines keep the decision table's nested structure (lists of findings with their rules),
for programs. CSV and Excel are for people: every list becomes one readable cell, codes become Chinese
labels (``RuleSet.vocab``), uncertain findings are marked ``（待定）``, and headers are Chinese unless
``lang="en"``. CSV is written as UTF-8 *with* a byte-order mark, because Excel and WPS on Chinese
Windows otherwise open a UTF-8 file as GBK and show mojibake.

:func:`write_household_tables` writes households in the batch input layout (``docs/batch.md``); it makes
the templates in ``examples/batch`` and is the inverse of :func:`eligibility.io.tables.read_households`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Generic, Literal, TypeVar

import polars as pl

from .._safe import CONTROL, FORMULA_START
from ..compile.polars import OUTPUT_SCHEMA, decision_row
from .columns import AS_OF, COLLECTIONS, HOUSEHOLD_ID, ROW, SHEETS, TABLES, Column, Table
from .tables import RowError, _value
from .xlsx_cells import TableCells, workbook

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

    from ..decision import Decision
    from ..models import Household
    from ..ruleset import RuleSet

__all__ = [
    "DECISION_COLUMNS",
    "STATUS_LABELS",
    "decision_table",
    "errors_frame",
    "flatten_decisions",
    "write_decisions",
    "write_decisions_csv",
    "write_errors",
    "write_household_tables",
]

Lang = Literal["zh", "en"]

UNCERTAIN: Final = {"zh": "（待定）", "en": " (uncertain)"}
_SEP: Final = "；"
"""Between the items of one cell: labels may contain 、 and commas, never a full-width semicolon."""

DECISION_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    ROW: ("序号", "row"),
    "household_id": ("户编号", "household id"),
    "jurisdiction": ("适用规则包", "jurisdiction"),
    "status": ("认定结论", "status"),
    "category": ("监测对象类别", "category"),
    "candidate_categories": ("可能的类别", "candidate categories"),
    "risks": ("风险", "risks"),
    "risk_types": ("致贫返贫风险类型（评估）", "risk types (assessed)"),
    "layers": ("农村社会救助分层", "social-assistance layers"),
    "exclusions": ("排除情形（信息比对）", "exclusion evidence"),
    "reviews": ("需研判事项", "review reasons"),
    "measures": ("应落实帮扶措施", "measures required"),
    "gaps": ("帮扶缺口", "assistance gaps"),
    "warnings": ("预警", "warnings"),
    "blocking": ("缺少数据（影响结论）", "missing data that blocks the decision"),
    "unknown": ("缺少数据（其他）", "other missing data"),
    "exit_status": ("风险消除", "exit status"),
    "exit_blockers": ("不能消除的原因", "exit blockers"),
    "exit_opens_on": ("最早可消除日期", "exit opens on"),
    "exit_method": ("风险消除方式", "exit method"),
    "exit_blocking": ("风险消除缺少数据", "missing data for exit"),
    "procedure": ("程序问题", "procedure findings"),
    "missing_parameters": ("缺少参数（配置缺口）", "missing parameters (configuration gap)"),
    "member_measures": ("帮扶措施落实到人（成员序号）", "measures per member (member positions)"),
    "ruleset_fingerprint": ("规则版本指纹", "rule-set fingerprint"),
    "error": ("错误", "error"),
}
"""Decision-table column → (Chinese header, English header)."""

_FINDING_KIND: Final[dict[str, str]] = {
    "risks": "risk",
    "risk_types": "risk_type",
    "layers": "layer",
    "exclusions": "exclusion",
    "reviews": "review",
    "measures": "measure",
    "gaps": "gap",
    "warnings": "warning",
    "exit_blockers": "exit_blocker",
    "procedure": "finding",
}
"""List columns of findings → the vocabulary kind their codes belong to."""

STATUS_LABELS: Final[dict[str, tuple[str, str]]] = {
    "identified": ("纳入监测", "identified"),
    "not_identified": ("不纳入监测", "not identified"),
    "needs_review": ("需研判", "needs review"),
    "already_monitored": ("已在监测", "already monitored"),
    "error": ("评估出错", "error"),
}
EXIT_LABELS: Final[dict[str, tuple[str, str]]] = {
    "not_applicable": ("不适用", "not applicable"),
    "eligible": ("可标注风险消除", "eligible"),
    "blocked": ("暂不能消除", "blocked"),
    "needs_review": ("需研判", "needs review"),
}

DECISION_SCHEMA: Final[dict[str, pl.DataType]] = OUTPUT_SCHEMA
"""The decision table's types (the columnar evaluator's output contract, issue 10)."""


def decision_table(results: Iterable[tuple[int, Decision | BaseException]]) -> pl.DataFrame:
    """The decision table of per-household :class:`~eligibility.Decision` objects (``(_row, decision)``).

    The columnar evaluator produces this table directly; this function builds the same table from the
    reference engine, so writers and summaries can be used (and tested) with either. An exception in
    place of a decision becomes a row with only ``_row`` and ``error``.
    """

    rows: list[dict[str, Any]] = []
    for row, d in results:
        if isinstance(d, BaseException):
            rows.append({ROW: row, "status": "error", "error": str(d)})
            continue
        rows.append(
            {
                **decision_row(d),  # the columnar target's row form: one definition of every column
                ROW: row,
                "jurisdiction": d.jurisdiction.code,
                "ruleset_fingerprint": getattr(d.trace, "ruleset_fingerprint", None),
            }
        )
    return pl.DataFrame(rows, schema=DECISION_SCHEMA)


# ---------------------------------------------------------------------------------------- flattening


def _label(rules: RuleSet | None, kind: str, code: str, lang: Lang, on: date | None = None) -> str:
    if rules is None:
        return code
    item = rules.vocab(kind, code, on)
    return item.zh if lang == "zh" else item.en


_FINDING_FIELDS: Final = ("code", "certain", "until", "due", "days_late")
"""The fields of a finding :func:`_finding_cells` shows (not ``rules``, ``severity``, ``on``)."""


def _finding_fields(s: pl.Series) -> pl.Series:
    """A list column of findings with only :data:`_FINDING_FIELDS` in its items (a null item stays null).

    The cells are formatted by distinct item or distinct cell; the rules that concluded a finding are
    not shown, and with them left out the distinct values are fewer and cheaper to hash (measured at
    100,000 bundled households: the ten finding columns 0.51 → 0.28 CPU s; procedure findings 4,290
    distinct cells → 5)."""
    if not (isinstance(s.dtype, pl.List) and isinstance(s.dtype.inner, pl.Struct)):
        return s
    item = pl.element()
    kept = [item.struct.field(f.name) for f in s.dtype.inner.fields if f.name in _FINDING_FIELDS]
    return s.list.eval(pl.when(item.is_not_null()).then(pl.struct(kept)))


def _finding_cells(
    s: pl.Series, kind: str, rules: RuleSet | None, lang: Lang, on: date | None
) -> tuple[pl.Series, bool]:
    """A list column of findings as cells ``标签（至 …，应于 …，逾期 n 天）（待定）；…`` — each item its
    code's label, the dates and days late it carries, and the uncertain mark — and whether any text in
    them is one :func:`neutralised` might change.

    Built by polars over the lists themselves, the labels looked up once per distinct code (the only
    texts not made of dates, whole numbers and fixed words, so the only ones that can be risky; a cell
    starts with its first item's label). Formatting distinct items in Python and grouping them back per
    row cost more than the texts (measured at 100,000 bundled households, the ten finding columns: 0.35
    → 0.26 CPU s; the list of measures 0.17 → 0.07). A null item is left out and an absent list stays
    absent; ``certain`` null is not uncertain, ``days_late`` shows only when above 0 (as in the Chinese and
    English tables before)."""
    if not (isinstance(s.dtype, pl.List) and isinstance(s.dtype.inner, pl.Struct)):
        raise TypeError(f"a list of findings, not {s.dtype}")
    present = {f.name for f in s.dtype.inner.fields}
    codes = s.explode().struct.field("code").drop_nulls().unique()
    labels = {c: _label(rules, kind, c, lang, on) for c in codes}
    risky = any(_RISKY_TEXT.search(t) for t in labels.values())
    item = pl.element()
    zh = lang == "zh"
    extras: list[pl.Expr] = []
    for name, word in (("until", "至 " if zh else "until "), ("due", "应于 " if zh else "due ")):
        if name in present:
            extras.append(pl.concat_str(pl.lit(word), item.struct.field(name).cast(pl.String)))
    if "days_late" in present:
        late = item.struct.field("days_late")
        days = late.cast(pl.String)
        said = pl.concat_str(pl.lit("逾期 "), days, pl.lit(" 天")) if zh else pl.concat_str(days, pl.lit(" days late"))
        extras.append(pl.when(late > 0).then(said))
    pieces = [item.struct.field("code").replace_strict(labels, return_dtype=pl.String)]
    if extras:
        # Whether any extra shows is worked out apart from their text, which is then built only once.
        shown = pl.any_horizontal(e.is_not_null() for e in extras)
        joined = pl.concat_str(extras, separator="，" if zh else ", ", ignore_nulls=True)
        opening, closing = ("（", "）") if zh else (" (", ")")
        pieces.append(
            pl.when(shown).then(pl.concat_str(pl.lit(opening), joined, pl.lit(closing))).otherwise(pl.lit(""))
        )
    if "certain" in present:
        pieces.append(pl.when(item.struct.field("certain").not_()).then(pl.lit(UNCERTAIN[lang])).otherwise(pl.lit("")))
    text = pl.concat_str(pieces) if len(pieces) > 1 else pieces[0]

    def cells(v: pl.Series) -> pl.Series:
        return v.list.eval(text).list.join(_SEP, ignore_nulls=True)

    # Where whole cells repeat (a few combinations of risks or procedure findings over a county), the
    # distinct cells of the fields shown are formatted and joined back; elsewhere every row's items.
    if _repeats(_finding_fields(s.head(_SAMPLE))):
        return _by_distinct(_finding_fields(s), cells), risky
    return cells(s), risky


def _member_measure_cells(s: pl.Series, rules: RuleSet | None, lang: Lang) -> tuple[pl.Series, bool]:
    """A list column of measures and gaps per member as cells ``健康帮扶：…：成员1、成员3（待核实：成员2）；…``
    — each item the label of its measure or gap and the members it names (``无`` when none) — and whether
    any text in them is one :func:`neutralised` might change (only a label can be: the rest is member
    positions and fixed words, and an item starts with its label).

    Built by polars over the lists themselves, the labels looked up once per distinct (kind, code): the
    members differ from household to household, so neither cells nor items repeat much (measured at
    100,000 bundled households: 0.22 → 0.21 CPU s; the member positions' texts are most of it).
    A null item is left out and an absent list stays absent."""
    flat = s.explode()
    pairs = flat.struct.unnest().select("kind", "code").drop_nulls().unique().rows()
    labels = {f"{k}\x1f{c}": _label(rules, k, c, lang) for k, c in pairs}
    risky = any(_RISKY_TEXT.search(t) for t in labels.values())
    item = pl.element()
    key = pl.concat_str(item.struct.field("kind"), pl.lit("\x1f"), item.struct.field("code"))
    label = key.replace_strict(labels, return_dtype=pl.String)
    zh = lang == "zh"
    word, between = ("成员", "、") if zh else ("member ", ", ")

    def named(field: str, opening: str, closing: str) -> pl.Expr:
        """``opening`` + the members of ``field`` as ``成员1、成员3`` + ``closing``; null when there are none.
        Each text is built once (an expression used twice inside ``list.eval`` is worked out twice)."""
        members = item.struct.field(field)
        joined = members.cast(pl.List(pl.String)).list.join(between + word)
        return pl.when(members.list.len() > 0).then(pl.concat_str(pl.lit(opening + word), joined, pl.lit(closing)))

    text = pl.concat_str(
        label,
        pl.lit("：" if zh else ": "),
        named("members", "", "").fill_null(pl.lit("无" if zh else "none")),
        named("members_to_review", *(("（待核实：", "）") if zh else (" (to review: ", ")"))).fill_null(pl.lit("")),
    )
    return s.list.eval(text).list.join(_SEP, ignore_nulls=True), risky


def _param_label(rules: RuleSet | None, name: str, lang: Lang) -> str:
    """A parameter's label and name (``监测标准（monitoring_line）``): its declaration in any pack."""
    for pack in rules.packs.values() if rules is not None else ():
        decl = pack.params.get(name)
        if decl is not None:
            return f"{decl.zh if lang == 'zh' else decl.en}（{name}）"
    return name


def _fact_label(rules: RuleSet | None, name: str, lang: Lang) -> str:
    """A fact's label: its declaration in any pack (the name itself when none declares it)."""
    for pack in rules.packs.values() if rules is not None else ():
        fact = pack.facts.get(name)
        if fact is not None:
            return str(fact.zh if lang == "zh" else fact.en)
    return name


def _missing_cells(s: pl.Series, rules: RuleSet | None, lang: Lang) -> tuple[pl.Series, bool]:
    """A list column of missing data (``name``, ``fields``) as cells ``事实（字段、字段）；事实`` — each
    item its fact's label, with the fields it names — and whether any text in them is one
    :func:`neutralised` might change.

    Built by polars over the lists themselves, the labels looked up once per distinct fact: these
    lists name each household's own members, so neither whole cells nor items repeat much, and the
    distinct-value path of :func:`_each_item` (explode, hash, join back, group again) cost more than
    the texts (measured at 100,000 bundled households, the list of other missing data: 0.43 → 0.27
    CPU s). A null item is left out and an absent list stays absent, as :func:`_item_cells` does."""
    flat = s.explode()
    names = flat.struct.field("name").drop_nulls().unique()
    labels = {n: _fact_label(rules, n, lang) for n in names}
    fields = flat.struct.field("fields").explode().drop_nulls().unique()
    risky = any(_RISKY_TEXT.search(t) for t in (*labels.values(), *fields))
    item = pl.element()
    label = item.struct.field("name").replace_strict(labels, return_dtype=pl.String)
    named = item.struct.field("fields")
    opening, between, closing = ("（", "、", "）") if lang == "zh" else (" (", ", ", ")")
    # The label once, and the fields (when any) after it: an expression used twice inside ``list.eval`` is
    # worked out twice.
    with_fields = pl.concat_str(pl.lit(opening), named.list.join(between), pl.lit(closing))
    text = pl.concat_str(label, pl.when(named.list.len() > 0).then(with_fields).otherwise(pl.lit("")))
    return s.list.eval(text).list.join(_SEP), risky


def flatten_decisions(
    frame: pl.DataFrame, *, lang: Lang = "zh", rules: RuleSet | None = None, on: date | None = None
) -> pl.DataFrame:
    """The decision table with every list as one readable text cell and codes as labels (CSV, Excel).

    ``on``: the assessment date, whose wording the labels use (labels are dated: 2026 renamed some)."""
    return _flatten(frame, lang=lang, rules=rules, on=on)[0]


def _flatten(
    frame: pl.DataFrame, *, lang: Lang, rules: RuleSet | None, on: date | None
) -> tuple[pl.DataFrame, frozenset[str]]:
    """:func:`flatten_decisions`, and the headers of the columns known safe for a spreadsheet as they are.

    Every formatted cell is made of texts worked out once per distinct value or item (labels, dates,
    JSON); when none of those texts has a control character or a formula start, no cell has one either (a
    list cell joins its items with ``；`` and starts with its first item), so :func:`neutralised` need not
    scan the column's rows — most of its cost (0.41 CPU s for 100,000 bundled households' rows)."""
    i = 0 if lang == "zh" else 1
    out: dict[str, pl.Series] = {}
    clean: set[str] = set()
    for name in frame.columns:
        s = frame[name]
        header = DECISION_COLUMNS[name][i] if name in DECISION_COLUMNS else _rule_header(name, lang)
        text: Callable[[Any], str | None]
        item: Callable[[Any], str] | None = None
        built: tuple[pl.Series, bool] | None = None
        if name in _FINDING_KIND:
            built = _finding_cells(s, _FINDING_KIND[name], rules, lang, on)
        elif name in ("blocking", "unknown", "exit_blocking"):
            built = _missing_cells(s, rules, lang)
        elif name == "member_measures":
            built = _member_measure_cells(s, rules, lang)
        if built is not None:
            cells, risky_cells = built
            out[header] = cells.alias(header)
            if not risky_cells:
                clean.add(header)
            continue
        if name == "missing_parameters":

            def item(x: Any) -> str:
                return _param_label(rules, x, lang)

        elif name == "candidate_categories":

            def item(x: Any) -> str:
                return _label(rules, "category", x, lang, on)

        if item is not None:
            risky = _Risky(item)
            out[header] = _each_item(s, risky).alias(header)
            if not risky.seen:
                clean.add(header)
            continue
        if name in ("category", "exit_method"):

            def text(v: Any, kind: str = name) -> str | None:
                return None if v is None else _label(rules, kind, v, lang, on)

        elif name in ("status", "exit_status"):
            labels = STATUS_LABELS if name == "status" else EXIT_LABELS

            def text(v: Any, labels: dict[str, tuple[str, str]] = labels) -> str | None:
                return None if v is None else labels.get(v, (v, v))[i]

        elif name == "jurisdiction" and rules is not None:
            packs = rules.packs

            def text(v: Any, packs: Any = packs) -> str | None:
                return None if v is None or v not in packs else str(getattr(packs[v], lang))

        elif name.startswith("rule:") and isinstance(s.dtype, pl.Boolean):
            # A rule column is Kleene: true (fired), false (not fired), null (unknown) — never a blank cell.
            words = _RULE_OUTCOME[lang]

            def text(v: Any, words: dict[bool | None, str] = words) -> str | None:
                return words[v]

        elif isinstance(s.dtype, pl.List | pl.Struct | pl.Array):

            def text(v: Any) -> str | None:
                return None if v is None else json.dumps(_plain(v), ensure_ascii=False, default=str)

        else:
            out[header] = s.alias(header)
            continue
        risky_text = _Risky(text)
        out[header] = _each_distinct(s, risky_text).alias(header)
        if not risky_text.seen:
            clean.add(header)
    return pl.DataFrame(list(out.values())), frozenset(clean)


_T = TypeVar("_T", str, "str | None")


class _Risky(Generic[_T]):
    """A formatting function that notes whether any text it made is one :func:`neutralised` would change."""

    def __init__(self, fn: Callable[[Any], _T]) -> None:
        self.fn: Callable[[Any], _T] = fn
        self.seen = False

    def __call__(self, value: Any) -> _T:
        text = self.fn(value)
        if text is not None and not self.seen and _RISKY_TEXT.search(text):
            self.seen = True
        return text


def _each_distinct(s: pl.Series, text: Callable[[Any], str | None]) -> pl.Series:
    """``text`` of every cell of ``s``, worked out once per distinct value and joined back: most
    households share a few combinations of findings, and formatting each row's cells in Python (label
    look-ups, JSON) cost more than deciding them (measured: 2.5x the CPU time of ``decide_table`` for a
    CSV output)."""
    return _by_distinct(s, lambda distinct: pl.Series([text(v) for v in distinct], dtype=pl.String))


def _by_distinct(s: pl.Series, texts: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``texts`` of the distinct values of ``s`` (in order of first appearance), joined back to every cell."""
    frame = s.rename("v").to_frame()
    distinct = frame.unique(maintain_order=True)
    return frame.join(
        distinct.with_columns(texts(distinct.get_column("v")).alias("t")),
        on="v",
        how="left",
        nulls_equal=True,
        maintain_order="left",
    ).get_column("t")


_SAMPLE: Final = 10_000
"""Rows of a list column :func:`_each_item` looks at to tell whether its whole cells repeat."""


def _each_item(s: pl.Series, item: Callable[[Any], str]) -> pl.Series:
    """A list cell as its items' texts joined by ``；`` (an absent list stays empty).

    Where whole cells repeat (a few combinations of risks, reviews or warnings over a county: in the
    first :data:`_SAMPLE` rows at most one cell in four distinct), the distinct cells are formatted and
    joined back; elsewhere (the lists of missing data name each household's own members, so cells
    rarely repeat where their items do) every row's items are formatted by distinct item. Both give the
    same cells; the choice is only what costs less (measured at 100,000 bundled households: risks 0.13
    → 0.02 CPU s, warnings 0.11 → 0.02, but the list of other missing data 0.33 → 0.46)."""
    if _repeats(s):
        return _by_distinct(s, lambda distinct: _item_cells(distinct, item))
    return _item_cells(s, item)


def _repeats(s: pl.Series) -> bool:
    """Whether the whole cells of ``s`` repeat enough to format its distinct cells only: in the first
    :data:`_SAMPLE` rows at most one cell in four distinct."""
    sample = s.head(_SAMPLE)
    return bool(sample.len()) and sample.n_unique() * 4 <= sample.len()


def _item_cells(s: pl.Series, item: Callable[[Any], str]) -> pl.Series:
    """:func:`_each_item` row by row: each distinct item formatted once, the texts joined per row."""
    frame = pl.DataFrame({"v": s}).with_row_index("r")
    flat = frame.explode("v").filter(pl.col("v").is_not_null())
    texts = _each_distinct(flat.get_column("v"), lambda x: None if x is None else item(x))
    joined = flat.select("r", texts.alias("t")).group_by("r", maintain_order=True).agg(pl.col("t").str.join(_SEP))
    cells = frame.select("r", pl.col("v").is_null().alias("absent")).join(
        joined, on="r", how="left", maintain_order="left"
    )
    return cells.select(pl.when(~pl.col("absent")).then(pl.col("t").fill_null(""))).to_series()


def _plain(v: Any) -> Any:
    """A cell as plain Python (a list cell iterates as a polars Series) for ``json.dumps``."""
    return v.to_list() if isinstance(v, pl.Series) else v


_RULE_OUTCOME: Final[dict[str, dict[bool | None, str]]] = {
    "zh": {True: "成立", False: "不成立", None: "未知"},
    "en": {True: "fired", False: "not fired", None: "unknown"},
}


def _rule_header(name: str, lang: Lang) -> str:
    """``rule:<id>`` / ``fact:<name>`` columns keep their id, with a Chinese prefix in Chinese tables."""
    kind, _, rest = name.partition(":")
    if lang == "zh" and kind in ("rule", "fact") and rest:
        return ("规则:" if kind == "rule" else "事实:") + rest
    return name


# ------------------------------------------------------------------------------------------- output


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    formats = {".parquet": "parquet", ".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl"}
    if suffix not in formats:
        raise ValueError(f"不支持的输出格式 / unsupported output format {suffix!r} (parquet, csv, xlsx, jsonl)")
    return formats[suffix]


_RISKY: Final = f"{CONTROL}|{FORMULA_START}"
"""A cell :func:`neutralised` changes: a control character anywhere, or a formula start."""
_RISKY_TEXT: Final = re.compile(_RISKY)


def neutralised(frame: pl.DataFrame, clean: Collection[str] = ()) -> pl.DataFrame:
    """Text columns made safe to open in a spreadsheet, as :func:`eligibility._safe.spreadsheet_cell` does
    for one cell: control characters become spaces, a leading ``=`` ``+`` ``-`` ``@`` gets a ``'``.

    ``clean``: columns known to have no such cell (:func:`_flatten`), left as they are without a scan."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String and name not in clean]
    if text:
        # One scan finds the columns with any cell to change (codes, labels and ids seldom have one); only
        # those are rewritten, which is most of the cost for a city's lists of hundreds of thousands of rows.
        risky = frame.select(pl.col(text).str.contains(_RISKY).any()).row(0)
        text = [name for name, hit in zip(text, risky, strict=True) if hit]
    if not text:
        return frame
    spaced = frame.with_columns(pl.col(text).str.replace_all(CONTROL, " "))
    return spaced.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )


def _write_flat(
    frame: pl.DataFrame,
    path: Path | BinaryIO,
    fmt: str,
    sheet: str,
    *,
    header: bool = True,
    clean: Collection[str] = (),
) -> None:
    """``header=False``: CSV rows only, no byte-order mark and no header (a later piece of one file);
    ``clean``: columns :func:`neutralised` need not scan."""
    frame = neutralised(frame, clean)
    if fmt == "csv":
        frame.write_csv(path, include_bom=header, include_header=header)
    else:
        _write_excel(frame, path, sheet)


_XL_OPTIONS: Final = {
    "nan_inf_to_errors": True,
    "strings_to_formulas": False,
    "default_date_format": "yyyy-mm-dd;@",
}
"""The workbook options ``DataFrame.write_excel`` gives a workbook it makes from a path (polars'
``_xl_setup_workbook``): :func:`_write_excel` makes the workbook itself, so that it can set the widths,
and must make the same one (``tests/property/test_excel_widths.py`` compares the files part by part)."""

_XL_URL: Final = r"^(?:(?:ftp|http)s?://|mailto:|(?:in|ex)ternal:|file://)"
"""Text xlsxwriter writes as a link (``strings_to_urls``, its default): its cell may show other text."""


def _write_excel(frame: pl.DataFrame, path: Path | BinaryIO, sheet: str) -> None:
    """``frame.write_excel(path, worksheet=sheet, autofit=True, header_format={"bold": True},
    freeze_panes=(1, 0))``, byte for byte, with the column widths worked out by :func:`_excel_widths`
    instead of xlsxwriter's ``autofit``.

    ``autofit`` measures every cell's text in pixels character by character in Python: 38 % of writing
    100,000 bundled decisions to Excel (about 12 of 33 CPU s), though most columns hold a few distinct
    texts. The widths are set as ``autofit`` sets them (``bestFit``), so the workbook is the same file.

    The table's cells and the shared strings are written by polars too (:mod:`.xlsx_cells`): after the
    widths, xlsxwriter's per-cell Python was nearly all that was left (measured at 100,000 bundled
    decisions: 31.3 → 12.2 CPU s for the cells, see ``docs/batch-speed.md``)."""
    from xlsxwriter.worksheet import ColumnInfo  # type: ignore[import-untyped]

    wb = workbook(path, _XL_OPTIONS)
    try:
        ws = wb.add_worksheet(sheet)  # as write_excel adds it; made first for its date width
        # write_excel does not autofit an empty frame; a table with a cell autofit measures otherwise (a
        # link, other types) is measured by autofit, from the cells xlsxwriter keeps.
        widths = None if frame.is_empty() else _excel_widths(frame, ws.default_date_width)
        given = TableCells(ws, frame).install() if widths is not None and TableCells.takes(frame) else frame
        given.write_excel(wb, worksheet=ws, header_format={"bold": True}, freeze_panes=(1, 0))
        if frame.is_empty():
            return
        if widths is None:
            ws.autofit()
            return
        for col, width in enumerate(widths):
            if width > 0:  # as autofit: a column with no text (an empty header, no cells) keeps its width
                # autofit's 7 pixels of padding, its cap, and its column record (bestFit="1").
                ws.col_info[col] = ColumnInfo(width=min(width + 7, ws.max_col_width), autofit=True)
    finally:
        wb.close()


def _excel_widths(frame: pl.DataFrame, date_width: int) -> list[int] | None:
    """Each column's widest cell in pixels, header included, as xlsxwriter's ``Worksheet.autofit``
    measures them (before its padding and cap), or ``None`` where a cell is one this does not measure
    as autofit would (a link, a type other than text, whole numbers, decimals, true/false, dates).

    autofit (xlsxwriter 3.3): a text is the sum of its characters' widths (``xl_pixel_width``), its
    widest line if it has several; the header's text 16 pixels more for the filter button; a number
    (whole or decimal) 7 pixels a character of ``str``; a date ``default_date_width``; true 31, false 36;
    an empty cell 0. Here a text is measured once however many cells hold it, by polars over the distinct texts."""
    from xlsxwriter.utility import CHAR_WIDTHS, xl_pixel_width  # type: ignore[import-untyped]

    measure = _TextWidth(CHAR_WIDTHS, xl_pixel_width)

    widths: list[int] = []
    for s in frame.get_columns():
        header = measure(pl.Series([s.name]))
        widest = header + 16 if header else 0
        # Renamed: polars runs a Series method as an expression on a column of the Series' name, and a name
        # like ``^…$`` is taken there for a regular expression (our headers are not such, but this measures
        # any frame; the property test drew one).
        values = s.rename("v").drop_nulls()
        if not len(values):
            pass
        elif s.dtype == pl.String:
            distinct = values.unique()
            if distinct.str.contains(_XL_URL).any():
                return None
            widest = max(widest, measure(distinct))
        elif s.dtype.is_integer():
            digits = max(len(str(values.min())), len(str(values.max())))  # the longest is the least or greatest
            widest = max(widest, 7 * digits)
        elif s.dtype.is_decimal():  # money and ratios of ``--rule-columns``: each distinct value's ``str``
            widest = max(widest, 7 * max(len(str(v)) for v in values.unique().to_list()))
        elif s.dtype == pl.Boolean:
            widest = max(widest, 36 if not values.all() else 31)
        elif s.dtype == pl.Date:
            widest = max(widest, date_width)
        elif s.dtype != pl.Null:
            return None
        widths.append(widest)
    return widths


class _TextWidth:
    """The widest of some texts (no nulls) in xlsxwriter's pixels, as ``xl_pixel_width`` measures one text
    (the sum of its characters' ``CHAR_WIDTHS``, any other character 8) and ``autofit`` one of several
    lines (its widest line): single lines by polars, over all the texts at once; the few texts of several
    lines by ``xl_pixel_width``, line by line."""

    def __init__(self, char_widths: dict[str, int], pixel_width: Callable[[str], int]) -> None:
        self.pixel_width = pixel_width
        by_width: dict[int, list[str]] = {}
        for char, width in char_widths.items():
            if width != 8:
                by_width.setdefault(width, []).append(char)
        text = pl.col("t")
        pixels = text.str.len_chars().cast(pl.Int64) * 8
        for width, chars in by_width.items():
            char_class = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"
            pixels = pixels + text.str.count_matches(char_class).cast(pl.Int64) * (width - 8)
        self.widest: pl.Expr = pixels.max()

    def __call__(self, texts: pl.Series) -> int:
        lines = texts.str.contains("\n", literal=True)
        several = texts.filter(lines).to_list()
        widest = max((self.pixel_width(line) for text in several for line in text.split("\n")), default=0)
        single = texts.filter(~lines)
        if len(single):
            widest = max(widest, int(single.rename("t").to_frame().select(self.widest).item()))
        return widest


def _write_jsonl(frame: pl.DataFrame, path: Path) -> None:
    """JSON Lines with exact decimals and ISO dates, Chinese unescaped (polars would write floats): each
    line is what ``json.dumps(row, ensure_ascii=False, default=_json_default)`` writes for the row as a
    dict, ``{"key": value, "key": value}``.

    The lines are put together by polars from each cell's JSON text (:func:`_json_text`), not by
    ``json.dumps`` of every row: turning 100,000 bundled decisions into Python dicts and dumping them
    was most of a JSON Lines run (measured: 16.8 of its 22 CPU s)."""
    if not frame.width:
        path.write_text("{}\n" * frame.height, encoding="utf-8")
        return
    pieces: list[pl.Expr] = []
    for k, (name, dtype) in enumerate(frame.schema.items()):
        key = json.dumps(name, ensure_ascii=False)
        text = _json_text(pl.col(name), dtype)
        if text is None:
            text = pl.lit(_json_dumped(frame[name]))
        elif isinstance(dtype, pl.List) and _repeats(frame[name]):
            text = pl.lit(_json_of_distinct(frame[name], dtype))
        elif isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct) and _repeats(_items(frame[name])):
            text = pl.lit(_json_of_items(frame[name], dtype))
        pieces += [pl.lit(("{" if k == 0 else ", ") + key + ": "), text]
    lines = frame.select(pl.concat_str([*pieces, pl.lit("}")]).alias("line"))
    # One line per row and nothing else: no header, no quotes (a JSON text has no raw line break).
    lines.write_csv(path, include_header=False, quote_style="never")


def _json_of_distinct(s: pl.Series, dtype: PolarsDataType) -> pl.Series:
    """:func:`_json_text` of a list column whose whole cells repeat, built for its distinct cells and joined
    back: a county's risks or procedure findings are a few combinations, and building their JSON text
    (every finding with its rules) row by row cost more than hashing the cells (measured at 100,000
    bundled households, the nine such finding columns 0.83 → 0.46 CPU s; procedure findings, 4,290 distinct
    cells, 0.34 → 0.21)."""

    def texts(distinct: pl.Series) -> pl.Series:
        text = _json_text(pl.col("v"), dtype)
        assert text is not None  # the caller built it for the column
        return distinct.to_frame("v").select(text).to_series()

    return _by_distinct(s, texts)


def _items(s: pl.Series) -> pl.Series:
    """The items of the first :data:`_SAMPLE` rows of a list column (null for a null or empty list)."""
    return s.head(_SAMPLE).explode()


def _json_of_items(s: pl.Series, dtype: pl.List) -> pl.Series:
    """:func:`_json_text` of a list column whose cells differ but whose items repeat, each distinct item's
    JSON text built once and put in place of the item in its list (``replace_strict``, a null item
    ``null``): the lists of missing data and of measures name each household's own facts and members, so
    whole cells seldom repeat, but a county's 100,000 households hold about a million items of missing
    data of 1,131 kinds (measured at 100,000 bundled households, CPU s: missing data 0.41 → 0.29,
    measures 0.27 → 0.12, measures per member 0.18 → 0.08)."""
    items = s.explode().drop_nulls().unique()
    item, whole = _json_text(pl.col("v"), dtype.inner), _json_text(pl.col("v"), dtype)
    assert item is not None and whole is not None  # the caller built it for the column
    if not len(items):  # only null items: nothing to look up
        return s.rename("v").to_frame().select(whole).to_series()
    texts = items.to_frame("v").select(item).to_series()
    each = pl.element().replace_strict(items, texts, return_dtype=pl.String).fill_null(pl.lit("null"))
    cell = pl.concat_str(pl.lit("["), pl.col("v").list.eval(each).list.join(", "), pl.lit("]"))
    return (
        s.rename("v").to_frame().select(pl.when(pl.col("v").is_null()).then(pl.lit("null")).otherwise(cell)).to_series()
    )


_JSON_ESCAPES: Final[dict[str, str]] = {
    **{chr(i): f"\\u{i:04x}" for i in range(0x20)},
    **{"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"},
}
"""What ``json.dumps`` writes for a character of a string it escapes (``ensure_ascii=False``)."""


def _json_text(e: pl.Expr, dtype: PolarsDataType) -> pl.Expr | None:
    """``e`` as the text ``json.dumps(value, ensure_ascii=False)`` makes of each value, for the types a
    decision or errors table has — texts, whole numbers, booleans, dates, and lists and structs of them;
    None for any other type (the caller dumps that column's distinct values: :func:`_json_dumped`)."""
    text: pl.Expr
    if dtype.is_integer():
        text = e.cast(pl.String)
    elif dtype == pl.String:
        text = pl.concat_str(
            pl.lit('"'), e.str.replace_many(list(_JSON_ESCAPES), list(_JSON_ESCAPES.values())), pl.lit('"')
        )
    elif dtype == pl.Boolean:
        text = pl.when(e).then(pl.lit("true")).otherwise(pl.lit("false"))
    elif dtype == pl.Date:
        text = pl.concat_str(pl.lit('"'), e.dt.to_string("%Y-%m-%d"), pl.lit('"'))
    elif dtype == pl.Null:
        return pl.lit("null")
    elif isinstance(dtype, pl.Struct):
        pieces: list[pl.Expr] = []
        for k, f in enumerate(dtype.fields):
            inner = _json_text(e.struct.field(f.name), f.dtype)
            if inner is None:
                return None
            pieces += [pl.lit(("{" if k == 0 else ", ") + json.dumps(f.name, ensure_ascii=False) + ": "), inner]
        text = pl.concat_str([*pieces, pl.lit("}")]) if pieces else pl.lit("{}")
    elif isinstance(dtype, pl.List):
        item = _json_text(pl.element(), dtype.inner)
        if item is None:
            return None
        text = pl.concat_str(pl.lit("["), e.list.eval(item).list.join(", "), pl.lit("]"))
    else:
        return None
    return pl.when(e.is_null()).then(pl.lit("null")).otherwise(text)


def _json_dumped(s: pl.Series) -> pl.Series:
    """Each cell of ``s`` as ``json.dumps(value, ensure_ascii=False, default=_json_default)`` writes it,
    once per distinct value: the types :func:`_json_text` does not build (decimals, floats, times)."""

    def texts(distinct: pl.Series) -> pl.Series:
        dumped = [json.dumps(v, ensure_ascii=False, default=_json_default) for v in distinct.to_list()]
        return pl.Series(dumped, dtype=pl.String)

    return _by_distinct(s, texts)


def _json_default(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, date | datetime):
        return v.isoformat()
    raise TypeError(type(v).__name__)


def write_decisions(
    frame: pl.DataFrame,
    path: str | Path,
    *,
    lang: Lang = "zh",
    rules: RuleSet | None = None,
    on: date | None = None,
) -> None:
    """Write a decision table: Parquet/JSONL nested as is; CSV (UTF-8 with BOM) and Excel flattened, with the
    labels worded as on ``on`` (the assessment date)."""
    p = Path(path)
    fmt = _format(p)
    if fmt == "parquet":
        frame.write_parquet(p)
    elif fmt == "jsonl":
        _write_jsonl(frame, p)
    else:
        flat, clean = _flatten(frame, lang=lang, rules=rules, on=on)
        _write_flat(flat, p, fmt, "认定结果" if lang == "zh" else "decisions", clean=clean)


def write_decisions_csv(
    frame: pl.DataFrame,
    sink: BinaryIO,
    *,
    header: bool,
    lang: Lang = "zh",
    rules: RuleSet | None = None,
    on: date | None = None,
) -> None:
    """The CSV of :func:`write_decisions` into an open file, with (``header``) or without its byte-order
    mark and header row: a batch joins its parts' decisions into one CSV piece by piece this way, where
    writing each piece to a file of its own and copying it over cost a second write and read of every
    byte of the output."""
    flat, clean = _flatten(frame, lang=lang, rules=rules, on=on)
    _write_flat(flat, sink, "csv", "", header=header, clean=clean)


ERROR_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    "file": ("文件", "file"),
    "sheet": ("工作表", "sheet"),
    "row": ("行号", "row"),
    "column": ("列", "column"),
    "code": ("错误代码", "code"),
    "message": ("说明", "message"),
    "household_id": ("户编号", "household id"),
    "index": ("序号", "row index"),
}


def errors_frame(errors: Iterable[RowError]) -> pl.DataFrame:
    """Row errors as a table (one row per error, in the order given)."""
    schema = {
        "file": pl.String,
        "sheet": pl.String,
        "row": pl.Int64,
        "column": pl.String,
        "code": pl.String,
        "message": pl.String,
        "household_id": pl.String,
        "index": pl.Int64,
    }
    rows = [{k: getattr(e, k) for k in schema} for e in errors]
    return pl.DataFrame(rows, schema=schema)


def write_errors(errors: Iterable[RowError], path: str | Path, *, lang: Lang = "zh") -> None:
    """Write row errors in the format of ``path`` (same formats as :func:`write_decisions`)."""
    p = Path(path)
    fmt = _format(p)
    frame = errors_frame(errors)
    if fmt == "parquet":
        frame.write_parquet(p)
    elif fmt == "jsonl":
        _write_jsonl(frame, p)
    else:
        i = 0 if lang == "zh" else 1
        _write_flat(
            frame.rename({k: v[i] for k, v in ERROR_COLUMNS.items()}), p, fmt, "错误" if lang == "zh" else "errors"
        )


# ------------------------------------------------------------------------------- household templates


def _cell(col: Column, value: Any) -> Any:
    """A frame value as a table cell: 是/否, 、-joined sets (``无`` when known empty), ISO dates."""
    if value is None:
        return None
    if col.kind == "bool":
        return "是" if value else "否"
    if col.kind in ("set", "dates"):
        return "、".join(str(v) for v in value) if value else "无"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _table_rows(households: Sequence[tuple[Household, date | None]]) -> dict[Table, list[dict[str, Any]]]:
    """Rows of the households, members and measures tables, keyed by Chinese header."""
    out: dict[Table, list[dict[str, Any]]] = {"households": [], "members": [], "measures": []}
    hh_cols = [c for c in TABLES["households"] if c.path not in COLLECTIONS and c.path != AS_OF]
    any_as_of = any(on is not None for _, on in households)
    for h, on in households:
        row: dict[str, Any] = {}
        for col in hh_cols:
            obj: Any = h
            for part in col.path.split("."):
                obj = getattr(obj, part, None) if obj is not None else None
            row[col.header] = _cell(col, _value(obj))
        if any_as_of:
            row[next(c.header for c in TABLES["households"] if c.path == AS_OF)] = on.isoformat() if on else None
        for collection, kind in COLLECTIONS.items():
            marker = next(c for c in TABLES["households"] if c.path == collection)
            obj = h
            for part in collection.split("."):
                obj = getattr(obj, part, None) if obj is not None else None
            items: tuple[Any, ...] | None = obj
            row[marker.header] = "无" if items is not None and len(items) == 0 else None
            for item in items or ():
                irow: dict[str, Any] = {}
                for col in TABLES[kind]:
                    v = h.household_id if col.path == HOUSEHOLD_ID else _value(getattr(item, col.path))
                    irow[col.header] = _cell(col, v)
                out[kind].append(irow)
        out["households"].append(row)
    return out


def write_household_tables(
    households: Iterable[Household | tuple[Household, date | None]], path: str | Path
) -> list[Path]:
    """Write households in the batch input layout; returns the files written.

    ``.xlsx``: one workbook with the sheets 农户, 成员, 措施 (money and whole numbers as number cells,
    dates as date cells, everything else as text so ids keep their leading zeros). ``.csv``: the
    households file plus ``members.csv``/``measures.csv`` beside it when the stem is ``households``, else
    ``<stem>.members.csv``/``<stem>.measures.csv`` (UTF-8 with BOM). Empty collections get ``无`` in
    their marker column, so that "known to have none" survives the round trip.
    """
    items = [x if isinstance(x, tuple) else (x, None) for x in households]
    rows = _table_rows(items)
    p = Path(path)
    if p.suffix.lower() == ".xlsx":
        _write_workbook(rows, p)
        return [p]
    written: list[Path] = []
    for kind, table_rows in rows.items():
        if kind == "households":
            target = p
        else:
            target = p.with_name(f"{kind}.csv" if p.stem == "households" else f"{p.stem}.{kind}.csv")
        headers = _headers(kind, table_rows)
        frame = pl.DataFrame(
            [{h: (None if r.get(h) is None else str(r[h])) for h in headers} for r in table_rows],
            schema=dict.fromkeys(headers, pl.String),
            orient="row",
        )
        frame.write_csv(target, include_bom=True)
        written.append(target)
    return written


def _headers(kind: Table, table_rows: list[dict[str, Any]]) -> list[str]:
    """Every column of the table (so a template shows all fields), the optional ones only when used."""
    optional = {c.header for c in TABLES["households"] if c.path == AS_OF or c.path in COLLECTIONS}
    present = {h for r in table_rows for h, v in r.items() if v is not None}
    cols = TABLES[kind]
    return [c.header for c in cols if c.header not in optional or c.header in present]


def _write_workbook(rows: dict[Table, list[dict[str, Any]]], path: Path) -> None:
    import xlsxwriter  # type: ignore[import-untyped]

    wb = xlsxwriter.Workbook(str(path))
    try:
        bold = wb.add_format({"bold": True})
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        for kind, table_rows in rows.items():
            ws = wb.add_worksheet(SHEETS[kind][0])
            kinds = {c.header: c for c in TABLES[kind]}
            headers = _headers(kind, table_rows)
            ws.write_row(0, 0, headers, bold)
            ws.freeze_panes(1, 0)
            for r, rec in enumerate(table_rows, start=1):
                for c, h in enumerate(headers):
                    v = rec.get(h)
                    col = kinds[h]
                    if v is None:
                        continue
                    if col.kind in ("money", "decimal", "int"):
                        ws.write_number(r, c, float(v))
                    elif col.kind == "date" and isinstance(v, str):
                        ws.write_datetime(r, c, datetime.fromisoformat(v), date_fmt)
                    else:
                        ws.write_string(r, c, str(v))
            ws.set_column(0, max(len(headers) - 1, 0), 14)
    finally:
        wb.close()
