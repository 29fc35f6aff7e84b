"""``eligibility batch``: a whole county or province in one run, from the files counties actually have.

The flow (design.md, "Population work is columnar"): read the input tables into the households frame
(:mod:`eligibility.io.tables` — JSON Lines, Parquet, CSV and Excel as two tables), decide every row with
the polars program of its pack chain and date span (:mod:`eligibility.compile.polars`), write the
decision table (:mod:`eligibility.io.writers`) with an errors file beside it, and print and write the
summary by region level (:mod:`eligibility.io.summary`).

The contract of every batch: each input row yields exactly one decision or at least one error; nothing
is dropped silently. Decisions are computed and written in *parts* of ``chunk_rows`` rows under
``<out>.parts/`` with a manifest (``manifest.json``) rewritten atomically after each part, so a run
killed at any moment is resumed with ``resume=True`` (``--resume``): parts already written are kept, and
no household is decided twice or lost. The parts are joined into ``out`` at the end.

Memory: the input frame is held whole (a county's tables: about 1 KiB per household in polars), the
decisions of one part at a time, and the joined output is written from the parts with polars' lazy
scan, so the decisions of the whole run are never all in Python objects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import polars as pl

from .compile.polars import decide_table
from .io.summary import render_markdown, summarise, write_summary
from .io.tables import ReadResult, RowError, read_households
from .io.writers import write_decisions, write_errors
from .ruleset import RuleSet

__all__ = ["BatchResult", "read_inputs", "run_batch"]

# fastexcel logs a line for every column whose type it guesses as text; the readers check each cell
# themselves and report what is wrong, so those lines are noise on a clerk's terminal.
logging.getLogger("fastexcel").setLevel(logging.ERROR)

PARTS_FORMAT = "eligibility-batch-parts/1"


@dataclass
class BatchResult:
    """What a batch run did: counts, where it wrote, and the summary table."""

    rows: int
    decided: int
    errors: int
    unknown_columns: list[str]
    output: Path
    errors_file: Path | None
    summary: pl.DataFrame | None
    seconds: float
    resumed_parts: int = 0
    notes: list[str] = field(default_factory=list)
    gaps: list[tuple[str, str, int]] = field(default_factory=list)
    """配置缺口: (jurisdiction, parameter, households) — a required parameter without value, reported once."""


def read_inputs(paths: Sequence[str | Path], *, as_of: date | None = None) -> ReadResult:
    """Read one or more input files into one households frame (rows numbered across the files)."""
    frames: list[pl.DataFrame] = []
    errors: list[RowError] = []
    unknown: list[str] = []
    notes: list[str] = []
    offset = 0
    for p in paths:
        got = read_households(p, as_of=as_of)
        if offset:
            got.frame = got.frame.with_columns((pl.col("_row") + offset).cast(pl.UInt64))
            got.errors = [_shift(e, offset) for e in got.errors]
        frames.append(got.frame)
        errors += got.errors
        unknown += [c for c in got.unknown_columns if c not in unknown]
        notes += got.notes
        offset += got.total_rows
    frame = pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]
    return ReadResult(frame=frame, errors=errors, unknown_columns=unknown, total_rows=offset, notes=notes)


def _shift(e: RowError, offset: int) -> RowError:
    return replace(e, index=None if e.index is None else e.index + offset)


def _digest(paths: Sequence[str | Path], as_of: date | None, fingerprint: str, chunk_rows: int) -> str:
    """What a resumed run must share with the run it continues: the inputs' bytes, the date, the rules."""
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p).encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    h.update(f"|{as_of}|{fingerprint}|{chunk_rows}".encode())
    return "sha256:" + h.hexdigest()


class _Progress:
    """A progress bar (rich) with households/s and ETA on a terminal; plain log lines otherwise."""

    def __init__(self, total: int, log: TextIO, enabled: bool | None) -> None:
        self.total, self.log, self.done, self.t0 = total, log, 0, time.perf_counter()
        self.bar: Any = None
        tty = log.isatty() if enabled is None else enabled
        if tty:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("评估 / deciding"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} 户/s"),
                TimeRemainingColumn(),
                console=Console(file=log),
                transient=True,
            )
            self.task = self.bar.add_task("batch", total=total, rate="—")
            self.bar.start()

    def advance(self, n: int) -> None:
        self.done += n
        rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
        if self.bar is not None:
            self.bar.update(self.task, advance=n, rate=f"{rate:,.0f}")
        else:
            eta = (self.total - self.done) / rate if rate else 0.0
            print(
                f"已评估 {self.done:,}/{self.total:,} 户 / decided {self.done:,} of {self.total:,}: "
                f"{rate:,.0f} households/s, ETA {eta:,.0f} s",
                file=self.log,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def run_batch(
    paths: Sequence[str | Path],
    out: str | Path,
    *,
    rules: RuleSet,
    as_of: date | None = None,
    lang: str = "zh",
    rule_columns: bool = False,
    summary_path: str | Path | None = None,
    level: str = "county",
    resume: bool = False,
    chunk_rows: int = 100_000,
    progress: bool | None = None,
    log: TextIO | None = None,
    after_part: Callable[[int], None] | None = None,
) -> BatchResult:
    """Decide every household of ``paths`` and write the decisions to ``out`` (see the module docstring).

    ``after_part`` is called with each part's number once it is safely on disk (tests use it to kill a
    run midway)."""
    log = log or sys.stderr
    t0 = time.perf_counter()
    out = Path(out)
    read = read_inputs(paths, as_of=as_of)
    for note in read.notes:
        print(f"注意 / note: {note}", file=log)
    if read.unknown_columns:
        print(
            "未识别的列（未使用）/ unknown columns (not used): " + ", ".join(read.unknown_columns),
            file=log,
        )
    fingerprint = ",".join(sorted(p.digest for p in rules.packs.values())) + rules.sources_digest
    parts_dir = out.with_name(out.name + ".parts")
    manifest_path = parts_dir / "manifest.json"
    run_id = _digest(paths, as_of, str(fingerprint), chunk_rows)
    done: list[dict[str, Any]] = []
    if resume and manifest_path.exists():
        got = json.loads(manifest_path.read_text(encoding="utf-8"))
        if got.get("run") != run_id:
            raise ValueError(
                f"{manifest_path}: 输入、日期或规则已变，不能续跑 / the inputs, date or rules changed since "
                "that run: start again without --resume"
            )
        done = [p for p in got["parts"] if (parts_dir / p["file"]).exists()]
    else:
        if parts_dir.exists():
            for f in parts_dir.iterdir():
                f.unlink()
        parts_dir.mkdir(parents=True, exist_ok=True)
    frame = read.frame
    n = frame.height
    starts = list(range(0, n, chunk_rows)) or [0]
    parts: list[dict[str, Any]] = list(done)
    manifest: dict[str, Any] = {"format": PARTS_FORMAT, "run": run_id, "rows": n, "chunk_rows": chunk_rows}
    bar = _Progress(n, log, progress)
    if done:
        bar.advance(sum(p["rows"] for p in done))
    try:
        for k, start in enumerate(starts):
            if any(p["part"] == k for p in done):
                continue
            chunk = frame.slice(start, chunk_rows)
            decided = decide_table(rules, chunk, as_of, rule_columns=rule_columns)
            name = f"part-{k:05d}.parquet"
            tmp = parts_dir / (name + ".tmp")
            decided.write_parquet(tmp)
            os.replace(tmp, parts_dir / name)
            parts.append({"part": k, "file": name, "rows": chunk.height})
            _write_json_atomic(manifest_path, {**manifest, "parts": parts})
            bar.advance(chunk.height)
            if after_part is not None:
                after_part(k)
    finally:
        bar.close()
    files = [parts_dir / p["file"] for p in sorted(parts, key=lambda p: int(p["part"]))]
    decisions = pl.scan_parquet(files).collect() if files else decide_table(rules, frame, as_of)
    decisions = decisions.sort("_row")
    # A row the rules could not decide goes to the errors file only: every input row is in exactly one
    # of the two files.
    ok = decisions.filter(pl.col("error").is_null()) if "error" in decisions.columns else decisions
    write_decisions(ok, out, lang=lang, rules=rules)  # type: ignore[arg-type]
    row_errors = list(read.errors)
    errors_file: Path | None = None
    decided_ok = ok.height
    eval_errors = decisions.height - decided_ok
    if row_errors or eval_errors:
        errors_file = out.with_name(out.stem + ".errors" + out.suffix)
        if eval_errors:
            for r in (
                decisions.filter(pl.col("error").is_not_null()).select("_row", "household_id", "error").iter_rows()
            ):
                row_errors.append(
                    RowError(
                        file=", ".join(str(p) for p in paths),
                        row=None,
                        column=None,
                        code="evaluation",
                        message=str(r[2]),
                        index=int(r[0]),
                        household_id=r[1],
                    )
                )
        write_errors(row_errors, errors_file, lang=lang)  # type: ignore[arg-type]
    summary = summarise(
        ok,
        frame,
        level,
        rules=rules,
    )
    if summary_path is not None:
        write_summary(summary, summary_path)
    bad_rows = {e.index for e in read.errors if e.index is not None}
    unplaced = [e for e in read.errors if e.index is None]
    result = BatchResult(
        rows=read.total_rows,
        decided=decided_ok,
        errors=len(bad_rows) + len(unplaced) + eval_errors,
        unknown_columns=read.unknown_columns,
        output=out,
        errors_file=errors_file,
        summary=summary,
        seconds=time.perf_counter() - t0,
        resumed_parts=len(done),
        notes=read.notes,
        gaps=configuration_gaps(ok),
    )
    for f in parts_dir.iterdir():
        f.unlink()
    parts_dir.rmdir()
    return result


def configuration_gaps(decisions: pl.DataFrame) -> list[tuple[str, str, int]]:
    """Each configuration gap once per jurisdiction and parameter, with how many households it touched."""
    if "missing_parameters" not in decisions.columns or not decisions.height:
        return []
    long = decisions.select("jurisdiction", "missing_parameters").explode("missing_parameters").drop_nulls()
    counted = long.group_by("jurisdiction", "missing_parameters").len().sort("jurisdiction", "missing_parameters")
    return [(str(j), str(p), int(n)) for j, p, n in counted.iter_rows()]


def print_summary(result: BatchResult, log: TextIO) -> None:
    """The totals and the summary table, Chinese first."""
    rate = result.rows / result.seconds if result.seconds else 0.0
    print(
        f"{result.rows:,} 行：{result.decided:,} 个决定，{result.errors:,} 个错误；用时 {result.seconds:,.1f} 秒"
        f"（{rate:,.0f} 户/秒）/ {result.rows:,} rows: {result.decided:,} decisions, {result.errors:,} errors "
        f"in {result.seconds:,.1f} s",
        file=log,
    )
    print(f"决定 / decisions: {result.output}", file=log)
    if result.errors_file is not None:
        print(f"错误 / errors: {result.errors_file}", file=log)
    for jurisdiction, name, n in result.gaps:
        print(
            f"配置缺口 / configuration gap: {jurisdiction} 没有参数 {name} 的取值，{n:,} 户的相关结论未能判定"
            f" / no value of {name}: {n:,} households partly undecided",
            file=log,
        )
    if result.summary is not None and result.summary.height:
        print(render_markdown(result.summary), file=log)
