"""The monthly routine (榆林's "六个一", seed:YULIN): batch, store, compare with last month, write the lists.

``eligibility monitor run IN --as-of DATE --db URL`` reads the county's tables and decides them through the
batch path (:func:`eligibility.batch.read_inputs`, :func:`eligibility.compile.polars.decide_table`), stores
the run (:mod:`eligibility.store`, one transaction) and compares it with the previous run of the same
jurisdiction. Its files, Chinese headers first (Excel or CSV through the batch writers, and JSON):

* 一月一提示 — who to visit this month and why, per town and village (:data:`VISIT_REASONS`);
* 一月一分析 — the batch summary by region with the change since last month;
* 一季一预警 — the quarter's focus list: households flagged (warnings, overdue procedure, unresolved
  review) in the quarter's runs, with the number of months flagged;
* 一周一抽查 — a seeded, reproducible random sample of the monitored households, stratified by village;
* 变化清单 — the change lists (new risk leads, newly identified, eliminated, re-entered, category and risk
  changes, exit gates that opened, newly overdue procedure findings, warnings), each with reason and rule.

Nothing here decides a household: every conclusion comes from the decision table, and every reason is a
label of the rules' vocabulary with the ids of the rules that drew it.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import random
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final, TextIO

import polars as pl

from ..batch import configuration_gaps, read_inputs
from ..compile.polars import decide_table
from ..io.summary import LEVELS, summarise
from ..io.tables import RowError
from ..io.writers import DECISION_SCHEMA, ERROR_COLUMNS, errors_frame, neutralised
from ..ruleset import RuleSet
from ..store import PARQUET_MAGIC, IdentityKey, RunInfo, Store, _now
from .lists import FLAG_SCHEMA, changes_frame, flags_frame, focus_frame, visits_frame

__all__ = [
    "CHANGE_KINDS",
    "HISTORY_MONTHS",
    "VISIT_REASONS",
    "MonthlyResult",
    "history_block",
    "input_digests",
    "run_monthly",
    "stratified_sample",
    "with_history",
]

MONITORED: Final = "监测中"
ELIMINATED: Final = "风险已消除"

CHANGE_KINDS: Final[dict[str, str]] = {
    "new_risk": "新增风险线索",
    "newly_identified": "新识别监测对象",
    "eliminated": "风险消除",
    "re_entered": "消除后再次出现风险",
    "category_changed": "监测类别变化",
    "risk_changed": "风险类型变化",
    "exit_opened": "本月可标注风险消除",
    "newly_overdue": "本月新增程序逾期",
    "warning": "预警",
}
"""Change-list code → Chinese name (the order of the lists)."""

VISIT_REASONS: Final[dict[str, str]] = {
    "identify": "新识别：入户核实、农户授权承诺",
    "review": "需研判：入户核查、补齐数据",
    "exit": "可标注风险消除：入户核实",
    "visit_due": "本月应入户走访",
    "overdue": "程序逾期：督办",
    "gap": "帮扶缺口：落实帮扶措施",
    "warning": "预警：入户核查",
    "lead": "部门大数据预警：入户核实",
}
"""Why a household is on the month's visit list (docs/monitoring.md §3 gives the source of each)."""

HISTORY_MONTHS: Final = 36
"""How far back ``monitor run`` fills a household's ``history.assessments`` from the store: three years of
runs, enough for every history fact of the packs (the assessment two years before needs 24 months)."""

_DECISION_COLUMNS: Final = [c for c in DECISION_SCHEMA if c not in ("_row", "household_id", "error")]
_STATE_COLUMNS: Final = [
    "jurisdiction",
    "status",
    "category",
    "risks",
    "reviews",
    "blocking",
    "gaps",
    "exit_status",
    "exit_blockers",
    "exit_method",
    "procedure",
    "warnings",
]
"""The decision columns the comparison, the visit list and the focus flags read (``_Household.decision``)."""


class _Rows:
    """A list of a :class:`MonthlyResult` as dicts (as in ``monitor.json``), built from its frame when first
    read: the routine itself never needs them, a caller who reads them pays once."""

    def __init__(self, frame: str) -> None:
        self.frame = frame
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] | None = obj.__dict__.get(self.name)
        if rows is None:
            rows = obj.__dict__[self.name] = getattr(obj, self.frame).to_dicts()
        return rows


@dataclass
class MonthlyResult:
    """What one monthly run did. The lists are kept as frames (``*_frame``); ``changes``, ``visits``,
    ``focus`` and ``sample`` give them as lists of dicts (as in ``monitor.json``), built when first read."""

    run_id: int
    jurisdiction: str
    as_of: date
    previous: RunInfo | None
    rows: int
    decided: int
    errors: int
    changes_frame: pl.DataFrame
    visits_frame: pl.DataFrame
    focus_frame: pl.DataFrame
    sample_frame: pl.DataFrame
    analysis: pl.DataFrame
    files: list[Path]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    gaps: list[tuple[str, str, int]] = field(default_factory=list)
    """配置缺口 (jurisdiction, parameter, households): decided with what needs the parameter undecided."""

    changes = _Rows("changes_frame")
    visits = _Rows("visits_frame")
    focus = _Rows("focus_frame")
    sample = _Rows("sample_frame")

    def change_counts(self) -> dict[str, int]:
        """Change code → rows of that kind (every code of :data:`CHANGE_KINDS`, zero included)."""
        got = dict(self.changes_frame.get_column("change").value_counts().iter_rows())
        return {k: int(got.get(k, 0)) for k in CHANGE_KINDS}


# ------------------------------------------------------------------------------------------- helpers


def _jurisdiction(regions: Sequence[str]) -> str:
    """The longest region level (12, 9, 6, 4, 2 digits) that all households share, else 全国."""
    for n in sorted(set(LEVELS.values()), reverse=True):
        prefixes = {r[:n] for r in regions if r}
        if len(prefixes) == 1 and all(len(r) >= n for r in regions):
            return prefixes.pop()
    return "全国"


DIGEST_ROWS: Final = 50_000
"""Rows written as JSON and hashed at a time (a city's rows as JSON are over a gigabyte at once)."""


def input_digests(frame: pl.DataFrame) -> pl.Series:
    """Each row's input digest: BLAKE2b-128 of the row as read (the households frame, without ``_row``
    and ``as_of``) written as one line of JSON — the definition the store documents, so an unchanged
    household keeps its digest from month to month, across versions of this code too.

    The JSON is made by polars for a column at once (``struct.json_encode`` writes exactly the line
    ``write_ndjson`` writes, without one big text to split again), :data:`DIGEST_ROWS` rows at a time, and
    each row is hashed from its bytes without first becoming a Python string.
    """
    b2 = hashlib.blake2b
    row = pl.struct(pl.exclude("_row", "as_of")).struct.json_encode().cast(pl.Binary)
    out: list[bytes] = []
    for start in range(0, frame.height, DIGEST_ROWS):
        text = frame.slice(start, DIGEST_ROWS).select(row).to_series().to_list()
        out += [b2(line, digest_size=16).digest() for line in text]
    return pl.Series("input_digest", out, pl.Binary)


def _file_digest(paths: Sequence[str | Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


def stratified_sample(households: Sequence[tuple[str, str]], size: int, seed: str | int) -> list[tuple[str, str]]:
    """A reproducible sample of ``size`` (village, household_id) pairs, stratified by village.

    Each village gets its proportional share (largest remainders first, ties by village code), so every
    village with households is represented once ``size`` reaches the number of villages; within a village
    the households are drawn by ``random.Random(f"{seed}|{village}")`` from the id-sorted list, so the same
    seed, month and population always give the same sample, whatever the input order.
    """
    by_village: dict[str, list[str]] = {}
    for village, hid in households:
        by_village.setdefault(village, []).append(hid)
    total = sum(len(v) for v in by_village.values())
    size = min(size, total)
    if size <= 0:
        return []
    quotas = {v: size * len(ids) / total for v, ids in by_village.items()}
    alloc = {v: int(q) for v, q in quotas.items()}
    rest = size - sum(alloc.values())
    for v in sorted(quotas, key=lambda v: (-(quotas[v] - alloc[v]), v))[:rest]:
        alloc[v] += 1
    out: list[tuple[str, str]] = []
    for village in sorted(by_village):
        ids = sorted(by_village[village])
        rng = random.Random(f"{seed}|{village}")
        out += [(village, hid) for hid in sorted(rng.sample(ids, alloc[village]))]
    return out


def _quarter_start(on: date) -> date:
    return date(on.year, 3 * ((on.month - 1) // 3) + 1, 1)


def _analysis(summary: pl.DataFrame, prev: pl.DataFrame | None) -> pl.DataFrame:
    """The batch summary with last month's counts beside it."""
    keys = ["region", "indicator", "code"]
    if prev is not None and prev.height:
        prev = prev.select(*keys, pl.col("households").alias("prev_households"), pl.col("people").alias("prev_people"))
    else:
        prev = pl.DataFrame(
            schema={**{k: pl.String for k in keys}, "prev_households": pl.Int64, "prev_people": pl.Int64}
        )
    return summary.join(prev, on=keys, how="left", nulls_equal=True).with_columns(
        (pl.col("households") - pl.col("prev_households").fill_null(0)).alias("change_households"),
        (pl.col("people") - pl.col("prev_people").fill_null(0)).alias("change_people"),
    )


def _stored_frame(store: Store, run_id: int, name: str, schema: dict[str, Any]) -> pl.DataFrame | None:
    """A list stored with a run as a frame: a Parquet table as it is, or (stores written before the lists
    were kept as tables) the JSON rows, read in ``schema``'s column order."""
    return _list_frame(store.run_list_body(run_id, name), schema)


def _list_frame(body: bytes | None, schema: dict[str, Any]) -> pl.DataFrame | None:
    """A stored list's body (``Store.run_list_body``) as a frame (:func:`_stored_frame`)."""
    if body is None:
        return None
    if body.startswith(PARQUET_MAGIC):
        return pl.read_parquet(io.BytesIO(body))
    rows = json.loads(zlib.decompress(body))
    return pl.DataFrame(rows or None, schema=schema, orient="row")


PARQUET_LEVEL: Final = 3
"""zstd level of the stored tables: about a third smaller than the zlib JSON they replace and written as
fast as Arrow IPC (level 6 halves the size again but doubles the time; measured on the generated 淮北 months)."""


def _table_bytes(frame: pl.DataFrame) -> bytes:
    """A frame as the store keeps it: one Parquet file (zstd)."""
    out = io.BytesIO()
    frame.write_parquet(out, compression="zstd", compression_level=PARQUET_LEVEL, statistics=False)
    return out.getvalue()


# ------------------------------------------------------------------------------------------- files

_HEADERS: Final[dict[str, dict[str, str]]] = {
    "visits": {
        "town": "乡镇",
        "village": "村",
        "household_id": "户编号",
        "responsible": "帮扶责任人",
        "reason": "走访原因",
        "rules": "依据规则",
    },
    "changes": {
        "变化": "变化",
        "town": "乡镇",
        "village": "村",
        "household_id": "户编号",
        "reason": "原因",
        "rules": "依据规则",
        "before": "上月",
        "after": "本月",
    },
    "focus": {
        "village": "村",
        "household_id": "户编号",
        "label": "重点事项",
        "n_months": "本季出现月数",
        "months": "出现月份",
        "rules": "依据规则",
    },
    "sample": {"village": "村", "household_id": "户编号"},
    "analysis": {
        "region": "区划代码",
        "indicator": "指标",
        "code": "代码",
        "item": "项目",
        "households": "户数",
        "people": "人数",
        "prev_households": "上月户数",
        "change_households": "户数变化",
        "prev_people": "上月人数",
        "change_people": "人数变化",
    },
}


def _table(frame: pl.DataFrame, headers: dict[str, str]) -> pl.DataFrame:
    """A list's frame as its file shows it: the columns of ``headers`` under their Chinese names, lists
    joined by 、."""
    cols = []
    for k, zh in headers.items():
        col = pl.col(k)
        if frame.schema[k] == pl.List(pl.String):
            col = col.list.join("、")
        cols.append(col.cast(pl.Int64 if k == "n_months" else pl.String).alias(zh))
    return frame.select(cols)


EXCEL_ROWS: Final = 1_048_575
"""Data rows an Excel sheet holds (1,048,576 rows, one of them the header); a longer list continues on
the next sheet of the same workbook (``变化清单``, ``变化清单 (2)``, …) rather than being cut off."""


def _write(frame: pl.DataFrame, path: Path, sheet: str) -> Path:
    """One list as CSV (UTF-8 with a BOM, so that Excel and WPS read it; docs/batch.md §5) or as an Excel
    workbook: bold header, frozen first row, columns sized to their content.

    The workbook is written by rust_xlsxwriter (``rustpy-xlsxwriter``) from the frame's Arrow columns:
    xlsxwriter through ``DataFrame.write_excel`` goes cell by cell in Python, about ten times slower,
    which a city's lists (hundreds of thousands of rows) turned into a minute a month.

    Every text cell is neutralised first (:func:`~eligibility.io.writers.neutralised`, the semantics of
    :func:`eligibility._safe.spreadsheet_cell`): a household id, a region or a department's lead text
    comes from the county's input, and the lists are opened in Excel and WPS (issue 13 §5)."""
    frame = neutralised(frame)
    if path.suffix == ".csv":
        frame.write_csv(path, include_bom=True)
        return path
    from rustpy_xlsxwriter import FastExcel

    book = FastExcel(str(path), autofit=True).format(bold_headers=True).freeze(row=1)
    parts = range(0, max(frame.height, 1), EXCEL_ROWS)
    for n, start in enumerate(parts, 1):
        book.sheet(sheet if n == 1 else f"{sheet} ({n})", frame.slice(start, EXCEL_ROWS))
    book.save()
    return path


def _write_timed(frame: pl.DataFrame, path: Path, sheet: str) -> tuple[Path, float]:
    """:func:`_write`, and the seconds it took."""
    t = time.perf_counter()
    return _write(frame, path, sheet), time.perf_counter() - t


def _write_json_lists(path: Path, lists: dict[str, pl.DataFrame], changes: pl.DataFrame) -> tuple[Path, float]:
    """monitor.json after its head's fields: ``changes`` (one array per change code, in
    :data:`CHANGE_KINDS`' order), then ``lists`` — each array written by polars straight into the file, no
    text of the whole document built in between (it is a few hundred megabytes for a city). Written before
    the run is stored (the head needs the run's id, :func:`_finish_json` puts it in front)."""
    t = time.perf_counter()
    by_kind = changes.partition_by("change", as_dict=True, maintain_order=True)
    none = changes.head(0)
    with path.open("wb") as f:
        f.write(b', "changes": {')
        for n, kind in enumerate(CHANGE_KINDS):
            f.write(f"{', ' if n else ''}{json.dumps(kind)}: ".encode())
            by_kind.get((kind,), none).write_json(f)
        f.write(b"}")
        for name, frame in lists.items():
            f.write(f', "{name}": '.encode())
            frame.write_json(f)
        f.write(b"}")
    return path, time.perf_counter() - t


def _finish_json(path: Path, head: dict[str, Any], lists: Path) -> None:
    """monitor.json: ``head``'s fields, then the lists already written to ``lists`` (copied, not parsed)."""
    with path.open("wb") as f, lists.open("rb") as body:
        f.write(json.dumps(head, ensure_ascii=False)[:-1].encode())
        shutil.copyfileobj(body, f, 1 << 20)


# ------------------------------------------------------------------------------------------- the routine

OVERLAP: bool = True
"""Whether the routine runs its independent steps beside each other (the input digests beside the
decisions, the files beside the store). ``False`` runs them one after the other in the calling thread —
the same results; ``benchmarks/bench_monitor.py --serial`` measures the difference."""


FILE_THREADS: Final = 2
"""Threads writing the routine's files: the biggest list (变化清单) is written beside the others, each
list's file started as soon as the list is made (rust_xlsxwriter and polars' CSV writer run outside the GIL)."""


class _Inline(Executor):
    """An executor that runs each job at once in the calling thread (:data:`OVERLAP` off)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            done.set_exception(exc)
        return done


def _executor(name: str, workers: int = 1) -> Executor:
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) if OVERLAP else _Inline()


def run_monthly(
    paths: Sequence[str | Path],
    *,
    as_of: date,
    store: Store,
    rules: RuleSet,
    key: IdentityKey,
    out_dir: str | Path,
    jurisdiction: str | None = None,
    level: str = "town",
    sample_size: int = 20,
    seed: str | int | None = None,
    fmt: str = "xlsx",
    store_plain_ids: bool = False,
    history_months: int = HISTORY_MONTHS,
    chunk_rows: int = 100_000,
    after_batch: Callable[[int], None] | None = None,
    log: TextIO | None = None,
) -> MonthlyResult:
    """Decide, store and compare one month (module docstring); write the routine's files to ``out_dir``."""
    # The store's rows (a tuple per household and per member) are many small objects, none of them cyclic
    # garbage: the cyclic collector would walk that growing heap again and again, so it is paused for the run.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _run_monthly(
            paths,
            as_of=as_of,
            store=store,
            rules=rules,
            key=key,
            out_dir=out_dir,
            jurisdiction=jurisdiction,
            level=level,
            sample_size=sample_size,
            seed=seed,
            fmt=fmt,
            store_plain_ids=store_plain_ids,
            history_months=history_months,
            chunk_rows=chunk_rows,
            after_batch=after_batch,
            log=log,
        )
    finally:
        if was_enabled:
            gc.enable()


def _run_monthly(
    paths: Sequence[str | Path],
    *,
    as_of: date,
    store: Store,
    rules: RuleSet,
    key: IdentityKey,
    out_dir: str | Path,
    jurisdiction: str | None,
    level: str,
    sample_size: int,
    seed: str | int | None,
    fmt: str,
    store_plain_ids: bool,
    history_months: int,
    chunk_rows: int,
    after_batch: Callable[[int], None] | None,
    log: TextIO | None,
) -> MonthlyResult:
    log = log or sys.stderr
    if fmt != "csv":
        # The Excel writer (extra ``monitor``) is needed only at the end: missing, say so before any work.
        import rustpy_xlsxwriter  # noqa: F401
    t0 = time.perf_counter()
    started = _now()
    timings: dict[str, float] = {}
    store.check_key(key)
    read = read_inputs(paths, as_of=as_of)
    frame = read.frame
    regions = [r for r in frame.get_column("region").to_list() if r]
    juris = jurisdiction or _jurisdiction(regions)
    timings["read"] = time.perf_counter() - t0
    # The month's steps share the two cores (polars, hashlib, SQLite and rust_xlsxwriter work outside the
    # GIL): ``decide`` decides the households while this thread reads last month from the store (its
    # connection stays in this thread); ``work`` computes what needs only the rows as read (the input
    # digests, the members' identity hashes), then the store's rows of the decisions and the stored lists'
    # tables while this thread builds the lists; ``files`` (:data:`FILE_THREADS`) writes each list's file,
    # and monitor.json's lists, into a staging folder as soon as the list is made, beside the next list and
    # the store. With :data:`OVERLAP` off each job runs at once where it is submitted: the same results.
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".monitor-", dir=out))
    work, decide_pool = _executor("monitor-work"), _executor("monitor-decide")
    files_pool = _executor("monitor-files", FILE_THREADS)
    try:
        # Ids repeated across input files cannot both be stored: every copy becomes an error, none is decided.
        dup = sorted(
            frame.filter(pl.col("household_id").is_duplicated())
            .get_column("household_id")
            .drop_nulls()
            .unique()
            .to_list()
        )
        digest_job = work.submit(input_digests, frame)
        file_digest_job = work.submit(_file_digest, paths)
        identities_job = work.submit(
            _identities, frame.filter(~pl.col("household_id").is_in(dup)), key, store_plain_ids
        )
        t = time.perf_counter()
        since = _months_before(as_of, history_months)
        decided_frame = with_history(frame, store.history(juris, as_of, since))
        timings["history"] = time.perf_counter() - t
        t = time.perf_counter()
        decide_job = decide_pool.submit(_decide_all, rules, decided_frame, as_of, chunk_rows)
        # Last month's state and lists are read from the store (this thread's connection) while the
        # households are decided.
        previous = store.previous_run(juris, as_of)
        prev = _previous_state(store, previous.run_id) if previous is not None else None
        window_start = previous.as_of + timedelta(days=1) if previous else as_of - timedelta(days=31)
        leads = [
            lead for lead in _leads(store, juris) if window_start.isoformat() <= lead["found_on"] <= as_of.isoformat()
        ]
        quarter_flags = [
            (r.as_of.isoformat(), f)
            for r in store.runs(juris)
            if _quarter_start(as_of) <= r.as_of < as_of
            and (f := _stored_frame(store, r.run_id, "focus_flags", FLAG_SCHEMA)) is not None
        ]
        prev_summary_body = store.run_list_body(previous.run_id, "summary") if previous else None
        timings["previous"] = time.perf_counter() - t
        decisions = decide_job.result()
        timings["decide"] = time.perf_counter() - t
        t = time.perf_counter()
        digests = digest_job.result()

        # Per household: the input digest (the row as read, without its position and date) and the decision
        # table's row beside what was read (the state the lists compare).
        table = pl.concat(
            [
                frame.select(
                    "_row",
                    "household_id",
                    "region",
                    pl.col("monitoring.status").alias("monitoring_status"),
                    _officer(frame),
                    digests,
                ),
                decisions.select(pl.exclude("_row", "household_id")),
            ],
            how="horizontal",
        )
        repeated = pl.col("household_id").is_duplicated()
        row_errors: list[RowError] = list(read.errors)
        file_label = ", ".join(str(p) for p in paths)
        row_errors += [
            RowError(
                file_label,
                None,
                "户编号",
                "duplicate_id",
                "户编号在多个输入中重复 / household id repeated",
                index=int(row),
                household_id=hid,
            )
            for row, hid in table.filter(repeated).select("_row", "household_id").iter_rows()
        ]
        stored = table.filter(~repeated)
        row_errors += [
            RowError(file_label, None, None, "evaluation", err, index=int(row), household_id=hid)
            for row, hid, err in stored.filter(pl.col("error").is_not_null())
            .select("_row", "household_id", "error")
            .iter_rows()
        ]
        ok = pl.col("error").is_null()
        cur = stored.filter(ok).select("household_id", "region", "monitoring_status", *_STATE_COLUMNS)
        # The store's rows of the households and decisions need nothing from the lists.
        rows_job = work.submit(_store_rows, stored, frame, decisions, dup)
        timings["digest"] = time.perf_counter() - t

        t = time.perf_counter()
        # Each list's file is written (into the staging folder, by the ``files`` threads) as soon as the list
        # is made, beside the next list and the store; they are moved into ``out_dir`` once the run is
        # committed — a run that fails to store leaves no files.
        suffix = ".csv" if fmt == "csv" else ".xlsx"
        quarter_name = f"{as_of.year}Q{(as_of.month - 1) // 3 + 1}"
        file_jobs: dict[str, Future[tuple[Path, float]]] = {}

        def write(name: str, table: pl.DataFrame) -> None:
            file_jobs[name] = files_pool.submit(_write_timed, table, staging / f"{name}{suffix}", name.split("-")[0])

        changes = changes_frame(rules, cur, prev, leads, CHANGE_KINDS)
        write("变化清单", _table(changes, _HEADERS["changes"]))
        timings["compare"] = time.perf_counter() - t
        t = time.perf_counter()
        everyone = stored.select("household_id", "region", "responsible")
        visit_list = visits_frame(rules, cur, everyone, leads, VISIT_REASONS)
        write("一月一提示", _table(visit_list, _HEADERS["visits"]))
        flags = flags_frame(cur)
        focus = focus_frame(rules, [*quarter_flags, (as_of.isoformat(), flags)])
        write(f"一季一预警-{quarter_name}", _table(focus, _HEADERS["focus"]))
        in_care = (pl.col("monitoring_status") == MONITORED).fill_null(False) | pl.col("status").is_in(
            ["identified", "already_monitored"]
        ).fill_null(False)
        monitored = stored.filter(in_care).select(pl.col("region").fill_null("").str.slice(0, 12), "household_id")
        sample = pl.DataFrame(
            stratified_sample(
                list(monitored.iter_rows()), sample_size, seed if seed is not None else as_of.isoformat()
            ),
            schema={"village": pl.String, "household_id": pl.String},
            orient="row",
        )
        write("一周一抽查", _table(sample, _HEADERS["sample"]))
        json_lists = {"visits": visit_list, "focus": focus, "sample": sample}
        json_job = files_pool.submit(_write_json_lists, staging / ".monitor.json.lists", json_lists, changes)
        decided_ok = decisions.filter(ok & ~pl.col("household_id").is_in(dup))
        summary = summarise(decided_ok, frame, level, rules=rules)
        prev_summary = _list_frame(prev_summary_body, dict(summary.schema)) if previous else None
        analysis = _analysis(summary, prev_summary)
        write("一月一分析", analysis.rename(_HEADERS["analysis"]))
        if row_errors:
            # As eligibility.io.writers.write_errors lays them out, through the same writer (and
            # neutralisation) as the lists.
            write("错误", errors_frame(row_errors).rename({k: v[0] for k, v in ERROR_COLUMNS.items()}))
        timings["lists"] = time.perf_counter() - t

        decided = cur.height
        bad_rows = {e.index for e in row_errors if e.index is not None}
        n_errors = len(bad_rows) + sum(1 for e in row_errors if e.index is None)
        t = time.perf_counter()
        stored_lists = {
            "summary": summary,
            "changes": changes,
            "visits": visit_list,
            "focus_flags": flags,
            "focus": focus,
            "sample": sample,
        }
        lists_job = work.submit(lambda: {k: _table_bytes(v) for k, v in stored_lists.items()})
        fingerprint = (
            "sha256:"
            + hashlib.sha256(
                (",".join(sorted(p.digest for p in rules.packs.values())) + rules.sources_digest).encode()
            ).hexdigest()
        )
        counts = dict(changes.get_column("change").value_counts().iter_rows())
        # The run row keeps the totals the report's trend needs; the whole table (a row per region, indicator
        # and item: large for a city at town level) is a list beside it.
        totals = summary.filter((pl.col("region") == "合计") & (pl.col("indicator") == "认定结论"))
        run_summary = {
            "status": dict(totals.select("code", "households").iter_rows()),
            "level": level,
            "changes": {k: int(counts.get(k, 0)) for k in CHANGE_KINDS},
            "visits": visit_list.height,
            "focus": focus.height,
            "sample": sample.height,
        }
        households, blocks, block = rows_job.result()
        identities = identities_job.result()
        list_bodies = lists_job.result()
        timings["prepare"] = time.perf_counter() - t
        t = time.perf_counter()
        run_id = store.record_run(
            jurisdiction=juris,
            as_of=as_of,
            started_at=started,
            ruleset_fingerprint=fingerprint,
            input_digest=file_digest_job.result(),
            counts=(read.total_rows, decided, n_errors),
            summary=run_summary,
            households=households,
            decisions=blocks,
            errors=[(e.index, e.household_id, e.file, e.row, e.column, e.code, e.message) for e in row_errors],
            identities=identities,
            lists=list_bodies,
            after_batch=after_batch,
            history=block,
        )
        timings["store"] = time.perf_counter() - t
        t = time.perf_counter()
        # The files in the order they have always been listed: the lists, the errors file, monitor.json.
        order = ["一月一提示", "一月一分析", f"一季一预警-{quarter_name}", "一周一抽查", "变化清单", "错误"]
        written = [file_jobs[name].result() for name in order if name in file_jobs]
        json_body, json_seconds = json_job.result()
        timings["files"] = sum(seconds for _, seconds in written) + json_seconds
        files = [p.replace(out / p.name) for p, _ in written]
        head = {
            "run_id": run_id,
            "jurisdiction": juris,
            "as_of": as_of.isoformat(),
            "previous_as_of": previous.as_of.isoformat() if previous else None,
            "rows": read.total_rows,
            "decided": decided,
            "errors": n_errors,
        }
        json_path = out / "monitor.json"
        _finish_json(json_path, head, json_body)
        files.append(json_path)
        timings["write"] = time.perf_counter() - t
    finally:
        for pool in (decide_pool, work, files_pool):
            pool.shutdown(wait=True)
        shutil.rmtree(staging, ignore_errors=True)
    return MonthlyResult(
        run_id=run_id,
        jurisdiction=juris,
        as_of=as_of,
        previous=previous,
        rows=read.total_rows,
        decided=decided,
        errors=n_errors,
        changes_frame=changes,
        visits_frame=visit_list,
        focus_frame=focus,
        sample_frame=sample,
        analysis=analysis,
        files=files,
        seconds=time.perf_counter() - t0,
        timings=timings,
        gaps=configuration_gaps(decisions.filter(pl.col("error").is_null())),
    )


def _decide_all(rules: RuleSet, frame: pl.DataFrame, as_of: date, chunk_rows: int) -> pl.DataFrame:
    """The decision table of every household of ``frame`` (``chunk_rows`` at a time), in input order."""
    parts = [_decide(rules, frame.slice(s, chunk_rows), as_of) for s in range(0, frame.height, chunk_rows)]
    decisions = pl.concat(parts) if parts else _decide(rules, frame, as_of)
    return decisions.sort("_row")


def _officer(frame: pl.DataFrame) -> pl.Expr:
    """The household's 帮扶责任人 (``monitoring.assistance_officer``) as the visit list's ``responsible``
    column: the list is read per village and per officer (issue 14 §2, 一月一提示). An input without the
    column (a table that never had it) gives null, shown as an empty cell for the village to fill."""
    if "monitoring.assistance_officer" in frame.columns:
        return pl.col("monitoring.assistance_officer").cast(pl.String).alias("responsible")
    return pl.lit(None, dtype=pl.String).alias("responsible")


def _store_rows(
    stored: pl.DataFrame, frame: pl.DataFrame, decisions: pl.DataFrame, dup: Sequence[str]
) -> tuple[list[tuple[Any, ...]], list[bytes], bytes]:
    """What :meth:`Store.record_run` writes of the households: the households table's rows (what SQL
    counts), the compact decisions as the decision table itself (Parquet blocks, no JSON written or parsed
    on the way) and the run's history block."""
    ok = pl.col("error").is_null()
    state = stored.select(
        "household_id",
        pl.col("_row").cast(pl.Int64),
        "region",
        "monitoring_status",
        *(pl.when(ok).then(pl.col(c)).alias(c) for c in ("status", "category", "exit_status")),
        "input_digest",
        "error",
    )
    households = state.rows()  # tuples in HouseholdRow's order
    blocks = [
        _table_bytes(stored.slice(s, DECISION_BLOCK_ROWS).select(_DECISION_COLUMNS))
        for s in range(0, stored.height, DECISION_BLOCK_ROWS)
    ]
    return households, blocks, history_block(frame, decisions, dup)


DECISION_BLOCK_ROWS: Final = 50_000
"""Households per stored block of the decision table (each block is one Parquet file, zstd)."""


def _previous_state(store: Store, run_id: int) -> pl.DataFrame:
    """Every household of a stored run with its decision's state columns (null where it was an error),
    read in bulk: the households table in one query and the decision blocks as Parquet (or, for runs stored
    before, as JSON Lines parsed by polars)."""
    base = pl.DataFrame(
        store.household_states(run_id),
        schema={"household_id": pl.String, "monitoring_status": pl.String, "__error": pl.String},
        orient="row",
    )
    schema = {c: DECISION_SCHEMA[c] for c in _STATE_COLUMNS}
    parts = []
    for body in store.decision_blocks(run_id):
        if body.startswith(PARQUET_MAGIC):
            parts.append(pl.read_parquet(io.BytesIO(body), columns=_STATE_COLUMNS))
        else:
            lines = zlib.decompress(body).split(b"\n")
            text = b"\n".join(line or b"{}" for line in lines)
            parts.append(pl.read_ndjson(io.BytesIO(text), schema=schema))
    state = pl.concat(parts, how="vertical") if parts else pl.DataFrame(schema=schema)
    state = pl.concat([base, state.head(base.height)], how="horizontal")
    failed = pl.col("__error").is_not_null()
    return state.select(
        "household_id",
        "monitoring_status",
        *(pl.when(failed).then(None).otherwise(pl.col(c)).alias(c) for c in _STATE_COLUMNS),
    )


# ------------------------------------------------------------------------------------------- history

HISTORY_FACT: Final = "per_capita_net_income"
"""The fact whose value each run keeps as the household's per-capita income of that assessment."""

_ASSESSMENT_FIELDS: Final = ("as_of", "per_capita_net_income", "monitoring_status", "risks", "risk_eliminated_on")
"""The fields of an earlier assessment, in the model's order (the frame's struct casts by position)."""


def _months_before(on: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (clipped to the month's end)."""
    from dateutil.relativedelta import relativedelta

    return on - relativedelta(months=months)


def with_history(frame: pl.DataFrame, stored: Sequence[tuple[date, bytes]]) -> pl.DataFrame:
    """The households frame with ``history.assessments`` filled from the history blocks of stored earlier
    runs (``Store.history``) for every household whose input does not give its own history. A household
    with no earlier run keeps a null history: every fact over it is unknown (no earlier assessment is not
    "no change")."""
    column = "history.assessments"
    if not stored:
        return frame
    runs = [pl.read_ipc(io.BytesIO(body)).with_columns(pl.lit(on, dtype=pl.Date).alias("as_of")) for on, body in stored]
    hist = (
        pl.concat(runs, how="vertical_relaxed")
        .sort("household_id", "as_of")
        .group_by("household_id", maintain_order=True)
        .agg(pl.struct(*_ASSESSMENT_FIELDS).alias("__history"))
        .with_columns(pl.col("__history").cast(frame.schema[column]))
    )
    return (
        frame.join(hist, on="household_id", how="left", maintain_order="left")
        .with_columns(pl.col(column).fill_null(pl.col("__history")))
        .drop("__history")
    )


def _decide(rules: RuleSet, frame: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """The decision table plus the one fact later runs keep (``fact:per_capita_net_income``)."""
    table = decide_table(rules, frame, as_of, rule_columns=True)
    fact = "fact:" + HISTORY_FACT
    keep = [*(c for c in table.columns if not c.startswith(("rule:", "fact:"))), fact]
    if fact not in table.columns:
        table = table.with_columns(pl.lit(None, dtype=pl.Decimal(38, 2)).alias(fact))
    return table.select(keep)


def history_block(frame: pl.DataFrame, decisions: pl.DataFrame, exclude: Sequence[str]) -> bytes:
    """This run's history block: for each decided household, what later runs read as one earlier
    assessment (Arrow IPC, zstd). ``exclude``: household ids not stored (repeated ids)."""
    income = decisions.get_column("fact:" + HISTORY_FACT).cast(pl.Decimal(38, 18))
    block = (
        pl.DataFrame(
            {
                "household_id": frame.get_column("household_id"),
                # Half up to the fen, as the decision's own display rounds (docs/input.md): polars'
                # half-away-from-zero is Python's ROUND_HALF_UP, done without a Python call per household.
                "per_capita_net_income": income.round(2, mode="half_away_from_zero").cast(pl.Decimal(38, 2)),
                "monitoring_status": frame.get_column("monitoring.status"),
                "risks": frame.get_column("monitoring.risks"),
                "risk_eliminated_on": frame.get_column("monitoring.risk_eliminated_on"),
                "__ok": decisions.get_column("error").is_null(),
            }
        )
        .filter(pl.col("__ok") & pl.col("household_id").is_not_null() & ~pl.col("household_id").is_in(list(exclude)))
        .drop("__ok")
    )
    out = io.BytesIO()
    block.write_ipc(out, compression="zstd")
    return out.getvalue()


def _identities(frame: pl.DataFrame, key: IdentityKey, plain: bool) -> list[tuple[Any, ...]]:
    """(household_id, region, member_id, id_hash, phone_hash, id_number, phone) of every member with an ID
    or phone number."""
    members = (
        frame.select("household_id", "region", "members")
        .explode("members")
        .filter(pl.col("members").is_not_null())
        .unnest("members")
        .select("household_id", "region", "member_id", "id_number", "phone")
        .filter((pl.col("id_number").fill_null("") != "") | (pl.col("phone").fill_null("") != ""))
    )
    ids, phones = members.get_column("id_number").to_list(), members.get_column("phone").to_list()
    columns = [
        members.get_column("household_id").to_list(),
        members.get_column("region").to_list(),
        members.get_column("member_id").to_list(),
        key.hash_many(ids),
        key.hash_many(phones),
        ids if plain else [None] * len(ids),
        phones if plain else [None] * len(ids),
    ]
    return list(zip(*columns, strict=True))


def _leads(store: Store, jurisdiction: str) -> list[dict[str, Any]]:
    rows = store.execute(
        "SELECT household_id, region, kind, channel, found_on, verify_by, reason, rule FROM leads "
        "WHERE jurisdiction = ? ORDER BY found_on, household_id",
        (jurisdiction,),
    )
    keys = ("household_id", "region", "kind", "channel", "found_on", "verify_by", "reason", "rule")
    return [dict(zip(keys, r, strict=True)) for r in rows]
