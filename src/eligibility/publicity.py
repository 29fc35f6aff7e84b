"""Village 公示 list: the identified households, as CSV or text, never with sensitive data.

Identification ends with a village notice (民主评议和公示, policy.md §6.2), and a notice must not show
ID-document numbers, mobile numbers, bank accounts or health status (QINAN, §6.3). So the list is
built from an *allowlist* of columns — nothing else of the household can reach it — and each column's
source is checked against the rules' ``publicity_forbidden_fields`` before anything is rendered.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._safe import CONTROL, spreadsheet_cell
from .decision import Decision
from .errors import InternalError
from .models import Household, Member, Relation
from .ruleset import RuleSet

_CONTROL = re.compile(CONTROL)

__all__ = ["COLUMNS", "PublicityRow", "publicity_rows", "render_csv", "render_text"]


@dataclass(frozen=True)
class PublicityRow:
    """One line of the notice."""

    region: str
    head_name: str
    household_size: str
    category: str
    as_of: str


COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    # (attribute, household field it is taken from, zh header, en header)
    ("region", "region", "行政区划代码", "Region code"),
    ("head_name", "members.name", "户主姓名", "Head of household"),
    ("household_size", "members", "家庭人口数", "Household size"),
    ("category", "decision.category", "监测对象类别", "Category"),
    ("as_of", "decision.as_of", "认定评估日期", "Assessment date"),
)
"""The allowlist: the only data a notice can show."""


def _head(members: Sequence[Member]) -> Member | None:
    return next((m for m in members if m.relation is Relation.head), members[0] if members else None)


def _check(rules: RuleSet, decision: Decision) -> None:
    """Refuse to render a column the rules forbid publishing (a guard against a future column)."""
    chain = rules.chain(decision.jurisdiction.code)
    forbidden = set(chain.param_hit("publicity_forbidden_fields", decision.as_of).value)
    for _, source, _, _ in COLUMNS:
        if source.rsplit(".", 1)[-1] in forbidden:
            raise InternalError(f"publicity column from `{source}` is forbidden by the rules")


def publicity_rows(items: Iterable[tuple[Household, Decision]], rules: RuleSet) -> list[PublicityRow]:
    """Rows for the identified households, in the order given; others are left out."""
    rows: list[PublicityRow] = []
    for household, decision in items:
        ident = decision.identification
        if ident.status != "identified" or ident.category is None:
            continue
        _check(rules, decision)
        members = household.members or ()
        head = _head(members)
        rows.append(
            PublicityRow(
                region=household.region or "",
                head_name=(head.name or "") if head else "",
                household_size=str(len(members)) if household.members is not None else "",
                category=ident.category.zh,
                as_of=decision.as_of.isoformat(),
            )
        )
    return rows


def render_csv(rows: Sequence[PublicityRow], lang: str = "zh") -> str:
    """CSV with a header row (Chinese or English headers); every cell neutralised for spreadsheets
    (:func:`~eligibility._safe.spreadsheet_cell`): a name beginning ``=`` does not run, a line break in a
    name does not start a row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["序号" if lang == "zh" else "No.", *[(zh if lang == "zh" else en) for _, _, zh, en in COLUMNS]])
    for i, row in enumerate(rows, 1):
        writer.writerow([i, *[spreadsheet_cell(getattr(row, attr)) for attr, _, _, _ in COLUMNS]])
    return out.getvalue()


def render_text(rows: Sequence[PublicityRow], title: str = "防止返贫监测对象拟纳入名单公示") -> str:
    """A plain-text notice for the village board: one line per household, whatever a name holds (line
    breaks and other control characters become spaces)."""
    lines = [title, ""]
    for i, row in enumerate(rows, 1):
        cells = [f"{zh}：{_CONTROL.sub(' ', getattr(row, attr))}" for attr, _, zh, _ in COLUMNS]
        lines.append(f"{i}. " + "；".join(cells))
    lines += ["", f"共 {len(rows)} 户。公示期内如有异议，请向村民委员会反映。"]
    return "\n".join(lines) + "\n"
