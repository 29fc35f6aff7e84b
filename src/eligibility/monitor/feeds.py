"""部门大数据预警: department data pushed as risk leads (``eligibility feeds import FILE --kind …``).

淮北 pushed 12,103 warnings from department data (seed:HUAIBEI); the national procedure counts 部门筛查预警
among the channels that find a risk lead (policy.md §6.1). Each department sends a CSV or Excel file of
the people its own system flagged; :data:`FEEDS` documents the columns per department (docs/monitoring.md
§4 prints them). This module does not judge the department's flag — a record is a lead to be verified by
a visit, never a decision — so no threshold is applied here.

Every record is matched to households by the keyed hash of its ID-document number against the identity
index of the latest runs (:mod:`eligibility.store`): exactly one household → a lead with channel
部门大数据预警 and its verification deadline (the date the department found it plus the rules' parameter
``identification_max_days`` of that household's pack on that date); no household → *unmatched*; several →
*ambiguous*. A malformed row is an error naming its line and column. Nothing is dropped: all outcomes are
returned, printed and stored. A record already imported (same kind, same cells) is counted as a
duplicate and adds nothing, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from ..errors import EligibilityError, MissingParameterError
from ..ruleset import RuleSet
from ..store import IdentityKey, Store, _now

__all__ = ["CHANNEL", "FEEDS", "FeedColumn", "FeedKind", "FeedRowError", "ImportResult", "import_feed"]

CHANNEL: Final = "部门大数据预警"
"""The discovery channel of every lead from a feed (policy.md §6.1: 部门筛查预警; issue 14's wording)."""

DEADLINE_PARAMETER: Final = "identification_max_days"
"""The rules' parameter that bounds the time from a found lead to completed identification."""

ID_PATTERN: Final = re.compile(r"^[0-9]{17}[0-9X]$")


@dataclass(frozen=True)
class FeedColumn:
    """One column of a department's file: Chinese header, English name, type, whether required."""

    zh: str
    en: str
    kind: str  # text | date | money | int | enum
    required: bool = False
    values: tuple[str, ...] = ()
    bounds: tuple[int, int] | None = None


@dataclass(frozen=True)
class FeedKind:
    """One department's feed: who sends it, what its flag means, and its columns."""

    code: str
    department: str
    subject: str
    en: str
    columns: tuple[FeedColumn, ...]


_COMMON: Final = (
    FeedColumn("身份证件号码", "id_number", "text", required=True),
    FeedColumn("姓名", "name", "text"),
    FeedColumn("数据日期", "found_on", "date", required=True),
)

FEEDS: Final[dict[str, FeedKind]] = {
    f.code: f
    for f in (
        FeedKind(
            "medical",
            "医保局",
            "医疗费用个人自付较高",
            "Healthcare Security: high out-of-pocket medical spending",
            (
                *_COMMON,
                FeedColumn("合规自付金额", "self_pay", "money", required=True),
                FeedColumn("结算期间", "period", "text"),
            ),
        ),
        FeedKind(
            "civil_affairs",
            "民政局",
            "低保、特困供养变化",
            "Civil Affairs: 低保 / 特困 changes",
            (
                *_COMMON,
                FeedColumn(
                    "变动类型", "change", "enum", required=True, values=("纳入低保", "退出低保", "纳入特困", "退出特困")
                ),
            ),
        ),
        FeedKind(
            "education",
            "教育局",
            "适龄儿童少年失学辍学",
            "Education: a school-age child out of school",
            (*_COMMON, FeedColumn("学段", "stage", "text")),
        ),
        FeedKind(
            "housing",
            "住建局",
            "住房安全鉴定等级",
            "Housing: house safety grade",
            (*_COMMON, FeedColumn("住房安全等级", "grade", "enum", required=True, values=("A", "B", "C", "D"))),
        ),
        FeedKind(
            "water",
            "水利局",
            "停水或供水不足",
            "Water: supply outages",
            (*_COMMON, FeedColumn("停水天数", "outage_days", "int", required=True, bounds=(0, 366))),
        ),
        FeedKind(
            "disability",
            "残联",
            "新增或变更残疾认定",
            "Disabled Persons' Federation: disability certified",
            (*_COMMON, FeedColumn("残疾等级", "disability_grade", "int", required=True, bounds=(1, 4))),
        ),
        FeedKind(
            "labour",
            "人社局",
            "失业登记",
            "Human Resources and Social Security: registered unemployment",
            (*_COMMON, FeedColumn("登记类型", "registration", "text")),
        ),
    )
}
"""Every department feed (``--kind``), with its documented columns (docs/monitoring.md §4)."""


class FeedFormatError(EligibilityError):
    """The file cannot be read as a feed at all (unknown suffix or kind, a required column missing)."""


@dataclass(frozen=True)
class FeedRowError:
    """A malformed row: file, line (header = line 1), column, code, message."""

    file: str
    line: int
    column: str | None
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f" 列 {self.column}" if self.column else "")
        return f"{where}: {self.code}: {self.message}"


@dataclass
class ImportResult:
    """What one import did. ``leads`` are the new leads; the other lists are reported, never dropped."""

    kind: str
    rows: int
    leads: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    ambiguous: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FeedRowError] = field(default_factory=list)
    duplicates: int = 0


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line, cells) of a CSV (UTF-8 with or without BOM, else GB18030) or an Excel sheet."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
        reader = csv.reader(io.StringIO(text, newline=""))
        rows: list[tuple[int, list[str]]] = []
        header: list[str] | None = None
        line = 1
        for cells in reader:
            if header is None:
                header = cells
            elif any(c.strip() for c in cells):
                rows.append((line, cells))
            line = reader.line_num + 1
        return header or [], rows
    if suffix == ".xlsx":
        import polars as pl

        frame = pl.read_excel(path, infer_schema_length=0)
        return list(frame.columns), [
            (i + 2, ["" if v is None else str(v) for v in r])
            for i, r in enumerate(frame.iter_rows())
            if any(v not in (None, "") for v in r)
        ]
    raise FeedFormatError(f"不支持的文件格式 / unsupported feed file {path.name} (.csv, .xlsx)")


def _cell(col: FeedColumn, raw: str) -> tuple[Any, str | None]:
    """The cell's value, or the error code."""
    v = raw.strip()
    if not v:
        return None, "missing" if col.required else None
    if col.kind == "date":
        try:
            return date.fromisoformat(v).isoformat(), None if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v) else "bad_date"
        except ValueError:
            return None, "bad_date"
    if col.kind == "money":
        try:
            d = Decimal(v)
        except InvalidOperation:
            return None, "not_a_number"
        if not re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", v):
            return None, "not_a_number"
        return str(d), None
    if col.kind == "int":
        if not re.fullmatch(r"[0-9]+", v):
            return None, "not_integer"
        n = int(v)
        if col.bounds and not col.bounds[0] <= n <= col.bounds[1]:
            return None, "out_of_range"
        return n, None
    if col.kind == "enum" and v not in col.values:
        return None, "bad_value"
    if col.en == "id_number":
        v = IdentityKey.normalise(v)
        if not ID_PATTERN.fullmatch(v):
            return None, "pattern"
    return v, None


_MESSAGES: Final = {
    "missing": "不能为空 / is required",
    "bad_date": "应为日期 YYYY-MM-DD / must be a date YYYY-MM-DD",
    "not_a_number": "应为金额（最多两位小数）/ must be an amount with at most two decimals",
    "not_integer": "应为整数 / must be a whole number",
    "out_of_range": "超出范围 / out of range",
    "bad_value": "不是允许的取值 / is not an allowed value",
    "pattern": "应为18位身份证件号码 / must be an 18-character ID number",
}


def _deadline(rules: RuleSet, region: str | None, found: date) -> str | None:
    """found + the rules' identification_max_days for the household's pack on that date (None: no value)."""
    if not region:
        return None
    try:
        hit = rules.chain(rules.pack_for_region(region)).param_hit(DEADLINE_PARAMETER, found)
    except (MissingParameterError, EligibilityError):
        return None
    return (found + timedelta(days=int(hit.value))).isoformat()


def import_feed(path: str | Path, *, kind: str, store: Store, key: IdentityKey, rules: RuleSet) -> ImportResult:
    """Import one department file into the store (one transaction); see the module docstring."""
    if kind not in FEEDS:
        raise FeedFormatError(f"未知的部门数据类型 / unknown feed kind {kind!r}: {', '.join(FEEDS)}")
    feed = FEEDS[kind]
    p = Path(path)
    store.check_key(key)
    header, rows = _read_rows(p)
    index: dict[str, int] = {}
    for i, h in enumerate(header):
        name = "".join(h.split())
        for col in feed.columns:
            if name in (col.zh, col.en):
                index[col.en] = i
    missing = [c.zh for c in feed.columns if c.required and c.en not in index]
    if missing:
        raise FeedFormatError(
            f"{p.name}: 缺少必填列 / required columns missing: {'、'.join(missing)}（{feed.department}数据的列见 "
            "docs/monitoring.md §4）"
        )
    result = ImportResult(kind=kind, rows=len(rows))
    good: list[tuple[int, dict[str, Any]]] = []
    for line, cells in rows:
        record: dict[str, Any] = {}
        bad = False
        for col in feed.columns:
            raw = cells[index[col.en]] if col.en in index and index[col.en] < len(cells) else ""
            value, code = _cell(col, raw)
            if code is not None:
                result.errors.append(FeedRowError(str(p), line, col.zh, code, f"{col.zh}{_MESSAGES[code]}"))
                bad = True
            elif value is not None:
                record[col.en] = value
        if not bad:
            good.append((line, record))
    hashes = {line: key.hash(rec["id_number"]) or "" for line, rec in good}
    matches = store.households_by_id_hash(hashes.values())
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    with store.transaction():
        import_id = int(
            store.execute(
                "INSERT INTO feed_imports (kind, file_name, file_digest, imported_at, rows_read, matched, unmatched, "
                "ambiguous, errors, duplicates) VALUES (?, ?, ?, ?, ?, 0, 0, 0, ?, 0) RETURNING import_id",
                (kind, p.name, digest, _now(), len(rows), len(result.errors)),
            )[0][0]
        )
        for line, rec in good:
            id_hash = hashes[line]
            # The record's identity: its kind and cells (the ID number only through its keyed hash).
            content = {k: v for k, v in rec.items() if k not in ("id_number", "name")}
            record_key = key.hash(json.dumps([kind, id_hash, content], sort_keys=True, ensure_ascii=False)) or ""
            if store.execute("SELECT 1 FROM feed_records WHERE record_key = ?", (record_key,)):
                result.duplicates += 1
                continue
            found = matches.get(id_hash, [])
            outcome = "matched" if len(found) == 1 else "unmatched" if not found else "ambiguous"
            detail = json.dumps(content, ensure_ascii=False, sort_keys=True)
            store.execute(
                "INSERT INTO feed_records (record_key, kind, import_id, line, id_hash, outcome, found_on, candidates, "
                "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record_key,
                    kind,
                    import_id,
                    line,
                    id_hash,
                    outcome,
                    rec["found_on"],
                    json.dumps([list(f) for f in found], ensure_ascii=False),
                    detail,
                ),
            )
            report = {
                "line": line,
                "found_on": rec["found_on"],
                "detail": content,
                "candidates": [{"jurisdiction": j, "household_id": h} for j, h, _ in found],
            }
            if outcome == "unmatched":
                result.unmatched.append(report)
                continue
            if outcome == "ambiguous":
                result.ambiguous.append(report)
                continue
            juris, hid, region = found[0]
            verify_by = _deadline(rules, region, date.fromisoformat(rec["found_on"]))
            shown = "，".join(f"{c.zh} {rec[c.en]}" for c in feed.columns[3:] if c.en in rec)
            reason = f"{CHANNEL}·{feed.department}：{feed.subject}" + (f"（{shown}）" if shown else "")
            store.execute(
                "INSERT INTO leads (record_key, kind, channel, jurisdiction, household_id, region, found_on, "
                "verify_by, reason, rule, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record_key,
                    kind,
                    CHANNEL,
                    juris,
                    hid,
                    region,
                    rec["found_on"],
                    verify_by,
                    reason,
                    DEADLINE_PARAMETER,
                    detail,
                ),
            )
            result.leads.append(
                {**report, "household_id": hid, "jurisdiction": juris, "verify_by": verify_by, "reason": reason}
            )
        store.execute(
            "UPDATE feed_imports SET matched = ?, unmatched = ?, ambiguous = ?, duplicates = ? WHERE import_id = ?",
            (len(result.leads), len(result.unmatched), len(result.ambiguous), result.duplicates, import_id),
        )
    return result


def feed_table_markdown() -> str:
    """The documented columns of every feed, as Markdown (docs/monitoring.md §4 is made from it)."""
    out: list[str] = []
    for f in FEEDS.values():
        out += [
            f"### `{f.code}` — {f.department}：{f.subject} / {f.en}",
            "",
            "| 列 / column | English | 类型 / type | 必填 / required | 取值 / values |",
            "|---|---|---|---|---|",
        ]
        for c in f.columns:
            values = "、".join(c.values) if c.values else (f"{c.bounds[0]}–{c.bounds[1]}" if c.bounds else "")
            out.append(f"| {c.zh} | `{c.en}` | {c.kind} | {'是' if c.required else '否'} | {values} |")
        out.append("")
    return "\n".join(out)


def lead_rows(result: ImportResult) -> Sequence[dict[str, Any]]:
    """Every record's outcome in one list (for the command's report file)."""
    rows: list[dict[str, Any]] = []
    for lead in result.leads:
        rows.append(
            {
                "行号": lead["line"],
                "结果": "已生成线索",
                "户编号": lead["household_id"],
                "核实期限": lead["verify_by"] or "",
                "说明": lead["reason"],
            }
        )
    for kind, items in (("未匹配", result.unmatched), ("匹配到多户", result.ambiguous)):
        for r in items:
            rows.append(
                {
                    "行号": r["line"],
                    "结果": kind,
                    "户编号": "、".join(c["household_id"] for c in r["candidates"]),
                    "核实期限": "",
                    "说明": json.dumps(r["detail"], ensure_ascii=False),
                }
            )
    for e in result.errors:
        rows.append({"行号": e.line, "结果": "错误", "户编号": "", "核实期限": "", "说明": f"{e.column}：{e.message}"})
    rows.sort(key=lambda r: int(r["行号"]))
    return rows
