"""The CSV / Excel cells of findings and of measures per member against the item-by-item formatting (issue 10).

:func:`eligibility.io.writers._flatten` builds these cells with polars over the lists themselves
(``_finding_cells``, ``_member_measure_cells``). Their oracle here is the Python formatting they replaced,
kept only in this test (``_fmt_finding``, ``_fmt_member_measure``, one item at a time, the items of a cell
joined by ``；``, a null item left out, an absent list left absent). Both are checked on decided tables of
generated populations (the columnar target's own output, every bundled pack) and on hand-made lists with
the edges a population seldom reaches: null items, unknown ``certain``, days late of 0 or below, risky
labels (a formula start, a control character) — for which the column must not be listed as clean.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from eligibility._safe import CONTROL, FORMULA_START
from eligibility.compile.polars import OUTPUT_SCHEMA, decide_table, households_frame
from eligibility.io.writers import _FINDING_KIND, DECISION_COLUMNS, UNCERTAIN, _flatten, _label
from eligibility.models import parse_household
from eligibility.ruleset import RuleSet

from ..conftest import population_examples
from .test_compiled import RULESET
from .test_polars_sameness import POPULATION

_RISKY = re.compile(f"{CONTROL}|{FORMULA_START}")


def _fmt_finding(item: dict[str, Any], kind: str, rules: RuleSet | None, lang: str, on: date | None) -> str:
    """The oracle: a finding's text as the writers made it item by item before session 15."""
    text = _label(rules, kind, item["code"], lang, on)  # type: ignore[arg-type]
    extra: list[str] = []
    if item.get("until") is not None:
        extra.append(f"至 {item['until']}" if lang == "zh" else f"until {item['until']}")
    if item.get("due") is not None:
        extra.append(f"应于 {item['due']}" if lang == "zh" else f"due {item['due']}")
    late = item.get("days_late")
    if late is not None and late > 0:
        extra.append(f"逾期 {late} 天" if lang == "zh" else f"{late} days late")
    if extra:
        text += "（" + "，".join(extra) + "）" if lang == "zh" else " (" + ", ".join(extra) + ")"
    if item.get("certain") is False:
        text += UNCERTAIN[lang]  # type: ignore[index]
    return text


def _fmt_member_measure(item: dict[str, Any], rules: RuleSet | None, lang: str) -> str:
    """The oracle: a measure or gap per member as the writers made it item by item before session 15."""
    label = _label(rules, item["kind"], item["code"], lang)  # type: ignore[arg-type]
    word = "成员" if lang == "zh" else "member "
    named = ("、" if lang == "zh" else ", ").join(f"{word}{i}" for i in item["members"] or [])
    text = f"{label}：{named or '无'}" if lang == "zh" else f"{label}: {named or 'none'}"
    review = ("、" if lang == "zh" else ", ").join(f"{word}{i}" for i in item["members_to_review"] or [])
    if review:
        text += f"（待核实：{review}）" if lang == "zh" else f" (to review: {review})"
    return text


def _expected(frame: pl.DataFrame, name: str, rules: RuleSet | None, lang: str, on: date | None) -> list[Any]:
    def item(x: dict[str, Any]) -> str:
        if name == "member_measures":
            return _fmt_member_measure(x, rules, lang)
        return _fmt_finding(x, _FINDING_KIND[name], rules, lang, on)

    return [None if cell is None else "；".join(item(x) for x in cell if x is not None) for cell in frame[name]]


def _check(frame: pl.DataFrame, on: date | None) -> None:
    names = [n for n in frame.columns if n in _FINDING_KIND or n == "member_measures"]
    for lang, i in (("zh", 0), ("en", 1)):
        for rules in (RULESET, None):
            flat, clean = _flatten(frame, lang=lang, rules=rules, on=on)  # type: ignore[arg-type]
            for name in names:
                header = DECISION_COLUMNS[name][i]
                expected = _expected(frame, name, rules, lang, on)
                assert flat[header].to_list() == expected, (name, lang, rules is None)
                risky = any(_RISKY.search(t) for cell in expected if cell for t in cell.split("；"))
                assert (header not in clean) == risky, (name, lang, rules is None)


@population_examples(10)
@given(POPULATION)
def test_decided_tables_flatten_as_item_by_item(population: list[tuple[dict[str, Any], date]]) -> None:
    households = [parse_household(d) for d, _ in population]
    table = decide_table(RULESET, households_frame(households, [on for _, on in population]), rowwise=0)
    _check(table.filter(pl.col("error").is_null()), population[0][1])


_CODES = st.sampled_from(["extreme_poverty_risk", "education", "=1+1", "-x", "a\x01b", "  @y", "未知代码"])
_DAY = st.one_of(st.none(), st.dates(date(1, 1, 1), date(9999, 12, 31)))


@st.composite
def _finding(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    return {
        "code": draw(_CODES),
        "certain": draw(st.one_of(st.none(), st.booleans())),
        "rules": ["r"],
        "severity": "minor",
        "until": draw(_DAY),
        "due": draw(_DAY),
        "on": None,
        "days_late": draw(st.one_of(st.none(), st.integers(-5, 400))),
    }


@st.composite
def _member_measure(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    members = st.one_of(st.none(), st.lists(st.integers(1, 12), max_size=4))
    return {
        "kind": draw(st.sampled_from(["measure", "gap"])),
        "code": draw(_CODES),
        "members": draw(members),
        "members_to_review": draw(members),
    }


def _cells(item: st.SearchStrategy[Any]) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.one_of(st.none(), st.lists(item, max_size=4)), min_size=1, max_size=40)


@given(_cells(_finding()), _cells(_member_measure()), st.sampled_from([None, date(2023, 6, 1), date(2026, 3, 1)]))
def test_hand_made_lists_flatten_as_item_by_item(findings: list[Any], measures: list[Any], on: date | None) -> None:
    n = min(len(findings), len(measures))
    procedure = OUTPUT_SCHEMA["procedure"]
    blocker = pl.List(pl.Struct({**dict(procedure.inner), "until": pl.Date}))  # type: ignore[attr-defined]

    def typed(dtype: Any) -> pl.Series:
        keys = [f.name for f in dtype.inner.fields]
        cells = [None if c is None else [None if x is None else {k: x[k] for k in keys} for x in c] for c in findings]
        return pl.Series(cells[:n], dtype=dtype)

    frame = pl.DataFrame(
        {
            "procedure": typed(procedure),
            "exit_blockers": typed(blocker),
            "member_measures": pl.Series(measures[:n], dtype=OUTPUT_SCHEMA["member_measures"]),
        }
    )
    _check(frame, on)
    # Whole cells repeated: the columns take the distinct-cells path (the varied ones the per-item path).
    _check(pl.concat([frame, *[frame.head(1)] * (n * 4)]), on)
