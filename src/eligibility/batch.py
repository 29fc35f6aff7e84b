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

Memory (``docs/batch.md`` §9): one part at a time. A Parquet input is read part by part (a slice per
part, with one pass over the household-id column first so that a repeated id is found across parts);
so is JSON Lines (one pass first finds where each part starts and which ids repeat), and CSV (one pass
over each table copies every record into the spill file of its part — an item row into its household's
part — and finds the ids that repeat: :func:`~eligibility.io.tables.csv_parts`); Excel is read whole (a
county's workbook, checked row by row) and decided part by part.
Each part's output, row errors and summary counts go to disk before the part counts as done; the output
is joined from the parts (Parquet streamed from Parquet parts, or a run's one part is the output; CSV and
JSON Lines from each part's piece of the output, rendered as soon as the part is decided, or at the end
with rule columns; Excel written whole) and the summary adds up the parts' counts, so the decisions of the
whole run are never in memory together. A part's output is written by a second thread while the next
part is read and decided, so at the peak two parts are in memory.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, TextIO, TypeVar

import polars as pl

from .compile.polars import OUTPUT_SCHEMA, decide_table, usable_cores
from .compile.polars import row_errors as row_errors_of
from .compile.rowwise import rowwise_rows
from .errors import BatchWorkerError
from .io.filecopy import append_range
from .io.parquet_join import join_parquet
from .io.summary import _INDICATORS, ALL_REGIONS, render_markdown, summarise, write_summary
from .io.tables import (
    ReadResult,
    RowError,
    csv_parts,
    jsonl_index,
    parquet_repeated_ids,
    parquet_rows,
    read_csv_part,
    read_households,
    read_jsonl_part,
    read_parquet_slice,
)
from .io.writers import write_decisions, write_decisions_csv, write_errors
from .ruleset import RuleSet

__all__ = ["BatchResult", "read_inputs", "run_batch"]

# fastexcel logs a line for every column whose type it guesses as text; the readers check each cell
# themselves and report what is wrong, so those lines are noise on a clerk's terminal.
logging.getLogger("fastexcel").setLevel(logging.ERROR)

PARTS_FORMAT = "eligibility-batch-parts/1"
_R = TypeVar("_R")


def _part_suffix(out: Path) -> str:
    """How a run keeps its parts' decisions on disk (:func:`_write_part`): Parquet when the output is
    Parquet, Arrow IPC otherwise."""
    return ".parquet" if out.suffix.lower() == ".parquet" else ".arrow"


def _write_part(decided: pl.DataFrame, tmp: Path, suffix: str) -> None:
    """A part's decision table, written to ``tmp`` in the format of ``suffix`` (a run's one Parquet part
    is its output: :func:`_one_part`).

    CSV, JSON Lines and Excel outputs are rendered again from the parts, so their parts are Arrow IPC
    with LZ4: Parquet's encoding of the nested finding lists (repetition and definition levels), not its
    codec, was the cost (measured at 100,000 bundled households: writing 1.15 CPU s and reading back 0.43,
    against 0.36–0.45 and 0.29 for IPC with LZ4; ``docs/batch-speed.md``, "端到端 / End to end"). LZ4
    keeps such a part at about 70 MB (220 MB uncompressed; the Parquet part is 15 MB, the part's CSV
    240 MB). A Parquet output keeps Parquet parts: it is joined from them unchanged, and the same
    decisions joined from IPC parts made a different (larger) Parquet file — equal tables, not equal bytes."""
    if suffix == ".parquet":
        # Only the decisions: the rows the rules could not decide are in the part's errors file
        # (:func:`_outcome`), so a run of one part has its output in this file (:func:`_one_part`).
        if decided.get_column("error").null_count() < decided.height:
            decided = decided.filter(pl.col("error").is_null())
        # Small row groups: joining the parts decodes a few row groups at a time, and one row group
        # per part (100,000 rows of nested lists) made that step the peak of a run (measured at
        # 1,000,000 households: 1.87 GiB, against 1.29 GiB with groups of 10,000).
        _compact_lists(decided).write_parquet(tmp, row_group_size=_ROW_GROUP)
    else:
        decided.write_ipc(tmp, compression="lz4")


_ROW_GROUP = 10_000
"""Rows per row group of a Parquet part (:func:`_write_part`), and so per chunk of :func:`_compact_lists`."""


def _compact_lists(decided: pl.DataFrame, rows: int = _ROW_GROUP) -> pl.DataFrame:
    """The decisions as chunks of ``rows`` rows, each chunk's list columns rebuilt (``list.eval``) so
    that they hold that chunk's elements only: the same cells (the table ``equals`` the decided one),
    which polars' Parquet writer, cutting row groups of ``rows``, encodes as it does a table read back.

    Why: polars sizes a column's data pages by the byte size of the *unsliced* leaf array of a nested
    column divided by the row group's rows (its ``array_to_pages`` says as much: "not correct if the
    array is sliced"). A row group of 10,000 rows cut from a 100,000-row chunk so looks ten times its
    size, and each leaf column is written in about ten pages of ~90 KB instead of one of ~1 MB (counted
    in the page headers: ``unknown.name`` 30 pages a row group, against 3 read back from Parquet). The
    decided lists themselves are compact (one chunk, no offset into a larger child, string views into
    small shared buffers); the cost is the page count. In chunks of the row group's size, each row
    group's leaf is its own, and the part file is the very bytes of the same table joined from parts.

    Measured at 100,000 bundled households (least of three, CPU s): writing the decided frame 1.50–2.37
    and 15.1 MB; with every list rebuilt in one piece (2 chunks) 0.88–1.16 and 14.4 MB; in chunks of
    10,000 0.76 and 13.7 MB; the chunking itself 0.02 s."""
    lists = [name for name, dtype in decided.schema.items() if isinstance(dtype, pl.List)]
    if not lists or decided.height <= rows:
        return decided
    rebuilt = [pl.col(name).list.eval(pl.element()) for name in lists]
    return pl.concat([chunk.with_columns(rebuilt) for chunk in decided.iter_slices(rows)], rechunk=False)


def _scan_part(path: Path) -> pl.LazyFrame:
    """A part's decisions, lazily, by its file's suffix (so a run begun by an earlier version, whose parts
    were all Parquet, resumes)."""
    return pl.scan_parquet(path) if path.suffix == ".parquet" else pl.scan_ipc(path)


def _scan_parts(files: Sequence[Path]) -> pl.LazyFrame:
    """All the parts' decisions, lazily, in part order (one scan per part, concatenated).

    Parts of one schema are stacked as they are. With ``--rule-columns`` parts of different rule packs
    carry different ``rule:``/``fact:`` columns (and a fact can be typed in one part and all-null in
    another): those are joined as the union of their columns, in order of first appearance, each cell
    null where its part has no such column — as :func:`decide_table` joins its own parts — instead of
    failing on the first mismatch."""
    scans = [_scan_part(f) for f in files]
    schemas = [s.collect_schema() for s in scans]
    if all(s == schemas[0] for s in schemas[1:]):
        return pl.concat(scans)
    return pl.concat(scans, how="diagonal_relaxed")


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


@dataclass
class _Chunk:
    """One part of a run: input rows ``start`` … ``start + rows - 1`` (numbered across the files), read
    only when the part is not already on disk."""

    part: int
    start: int
    rows: int
    read: Callable[[], ReadResult]
    ship: Callable[[], Callable[[], ReadResult]] | None = None
    """For a worker process (:func:`run_batch`'s ``workers``): a reader that can be pickled and run
    there — the part read by the worker itself (Parquet, JSON Lines, CSV); None: the part is read here
    and its rows sent (Excel, read whole)."""

    def shipped(self) -> Callable[[], ReadResult]:
        """What a worker process calls to read this part."""
        if self.ship is not None:
            return self.ship()
        return functools.partial(_given, self.read())


def _chunks(paths: Sequence[str | Path], as_of: date | None, chunk_rows: int) -> Iterator[_Chunk]:
    """The parts of a run, in input order. A Parquet file is read slice by slice (only the slice is in
    memory, its repeated ids found by one pass over the id column); a JSON Lines file part by part from
    the byte offsets one pass over it finds (:func:`~eligibility.io.tables.jsonl_index`); a CSV file
    part by part from the spill files one pass over its tables writes
    (:func:`~eligibility.io.tables.csv_parts`); Excel is read whole, when its first part is due, and then
    cut into parts (two tables joined by id)."""
    offset, part = 0, 0
    for p in paths:
        path = Path(p)
        if path.suffix.lower() == ".parquet" and path.is_file():
            total = parquet_rows(path)
            repeated: list[set[str]] = []  # the file's repeated ids, found by the first part read
            for start in range(0, total, chunk_rows):
                rows = min(chunk_rows, total - start)
                read = functools.partial(_read_parquet_part, path, start, rows, offset, as_of, repeated)
                yield _Chunk(part, offset + start, rows, read, functools.partial(_ship_parquet, read))
                part += 1
            offset += total
            continue
        if path.suffix.lower() in (".jsonl", ".ndjson") and path.is_file():
            index = jsonl_index(path, chunk_rows, as_of)
            for begin in index.starts or [(0, 1, 0)]:  # an empty file is one (empty) part
                rows = min(chunk_rows, index.records - begin[2])
                read = functools.partial(read_jsonl_part, path, begin, rows, as_of, index.repeated)
                shifted = functools.partial(_read_shifted, read, offset)
                yield _Chunk(part, offset + begin[2], rows, shifted, _as_is(shifted))
                part += 1
            offset += index.records
            continue
        if path.suffix.lower() == ".csv" and path.is_file():
            cut = csv_parts(path, chunk_rows)  # its spill folder goes when the last part's reader does
            # A worker's copy of the parts has no clean-up: the spill folder is this process's to delete.
            shipped = replace(cut, _cleanup=None)
            for k, (start, rows) in enumerate(cut.parts):
                read = functools.partial(read_csv_part, cut, k, as_of)
                there = functools.partial(_read_shifted, functools.partial(read_csv_part, shipped, k, as_of), offset)
                yield _Chunk(part, offset + start, rows, functools.partial(_read_shifted, read, offset), _as_is(there))
                part += 1
            offset += sum(rows for _, rows in cut.parts)
            continue
        whole = read_households(p, as_of=as_of)
        got = _shifted(whole, offset)
        total = max(whole.total_rows, 1)  # an empty file is one (empty) part: its header errors still count
        for start in range(0, total, chunk_rows):
            rows = min(chunk_rows, whole.total_rows - start)
            yield _Chunk(part, offset + start, rows, functools.partial(_cut, got, offset + start, rows, start == 0))
            part += 1
        offset += whole.total_rows


def _read_parquet_part(
    path: Path, start: int, rows: int, base: int, as_of: date | None, box: list[set[str]]
) -> ReadResult:
    """Rows ``start`` … ``start + rows - 1`` of a Parquet file, numbered after ``base`` rows of the files
    before it; ``box`` keeps the file's repeated ids for its other parts (:func:`_repeated_ids`)."""
    return _shifted(read_parquet_slice(path, start, rows, as_of=as_of, repeated=_repeated_ids(path, box)), base)


def _repeated_ids(path: Path, box: list[set[str]]) -> set[str]:
    """The ids on more than one row of a Parquet file: one pass over its id column, the first time a
    part of the file needs them, kept in ``box`` for the others."""
    if not box:
        box.append(parquet_repeated_ids(path))
    return box[0]


def _ship_parquet(read: functools.partial[ReadResult]) -> Callable[[], ReadResult]:
    """A Parquet part's reader for a worker process: the file's repeated ids found here first, once, so
    that no worker makes the pass over the id column again (the box travels filled)."""
    _repeated_ids(read.args[0], read.args[-1])
    return read


def _as_is(read: Callable[[], ReadResult]) -> Callable[[], Callable[[], ReadResult]]:
    """A ``ship`` for a reader that can be pickled as it is."""
    return functools.partial(_same, read)


def _same(read: Callable[[], ReadResult]) -> Callable[[], ReadResult]:
    return read


def _given(got: ReadResult) -> ReadResult:
    """A part read in the parent process, handed to a worker with its rows."""
    return got


def _read_shifted(read: Callable[[], ReadResult], offset: int) -> ReadResult:
    return _shifted(read(), offset)


def _shifted(got: ReadResult, offset: int) -> ReadResult:
    """A file's rows numbered after the ``offset`` rows of the files before it."""
    if offset:
        got.frame = got.frame.with_columns((pl.col("_row") + offset).cast(pl.UInt64))
        got.errors = [_shift(e, offset) for e in got.errors]
    return got


def _cut(got: ReadResult, start: int, rows: int, first: bool) -> ReadResult:
    """Rows ``start`` … ``start + rows - 1`` of a file read whole; the errors of the whole file (no
    row) go with its first part."""
    inside = pl.col("_row").is_between(start, start + rows - 1)
    errors = [
        e
        for e in got.errors
        if (e.index is None and first) or (e.index is not None and start <= e.index < start + rows)
    ]
    unknown = got.unknown_columns if first else []
    notes = got.notes if first else []
    return ReadResult(got.frame.filter(inside), errors, unknown, rows, notes)


def _merge_summaries(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The summary of a run from the summaries of its parts: households and people add up, since each
    household is in exactly one part; rows are put back in :func:`summarise`'s order."""
    if not parts:
        return pl.DataFrame()
    order = {label: i for i, label in enumerate(_INDICATORS.values())}
    merged = (
        pl.concat(parts, how="vertical_relaxed")
        .group_by(["region", "indicator", "code", "item"], maintain_order=True)
        .agg(pl.col("households").sum(), pl.col("people").sum())
    )
    return (
        merged.with_columns(
            (pl.col("region") == ALL_REGIONS).alias("_total"),
            pl.col("indicator").replace_strict(order, default=len(order), return_dtype=pl.Int64).alias("_order"),
        )
        .sort(["_total", "region", "_order", "households", "code"], descending=[False, False, False, True, False])
        .drop("_total", "_order")
    )


def _renders(out: Path) -> bool:
    """Whether a run writes each part's piece of ``out`` itself (CSV and JSON Lines: a text file is its
    pieces one after the other), rather than keeping the part's decisions for the end (Parquet is joined
    by polars from Parquet parts; Excel is written whole)."""
    return out.suffix.lower() in (".csv", ".jsonl", ".ndjson")


def _write_piece(decided: pl.DataFrame, piece: Path, first: bool, lang: str, rules: RuleSet, on: date | None) -> None:
    """A part's decisions (error rows left out) as its piece of a CSV or JSON Lines output, in ``piece``.

    Written when the part is decided, so that its decisions are never written to a part file and read
    back to be rendered at the end (measured at 100,000 bundled households, CSV: the Arrow part written
    0.38 CPU s and read back 0.31). The first part's piece carries the CSV header and byte-order mark;
    :func:`_join_pieces` puts the pieces together."""
    frame = decided.filter(pl.col("error").is_null())
    if piece.suffix == ".csv":
        with piece.open("wb") as sink:
            # The header (and BOM) only once, as a later part's rows follow the first part's.
            write_decisions_csv(frame, sink, header=first, lang=lang, rules=rules, on=on)  # type: ignore[arg-type]
    else:
        write_decisions(frame, piece, lang=lang, rules=rules, on=on)  # type: ignore[arg-type]


def _in_order(decided: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """A part's decisions with its columns in the order of the first part's, whose piece has the header.

    The order of the ``rule:``/``fact:`` columns (``--rule-columns``) is stable within a process but not
    from one process to the next, and a resumed run joins pieces made by both; a piece in another order
    would put its cells under the wrong headers. A part with other columns than the first cannot be joined
    to it at all: an error rather than a file with shifted cells (a run with rule columns, whose parts of
    other packs have other columns, renders its output from the parts' decisions instead:
    :func:`_join_rendered`)."""
    if list(decided.columns) == list(columns):
        return decided
    if set(decided.columns) == set(columns):
        return decided.select(columns)
    if not decided.filter(pl.col("error").is_null()).height:
        return decided  # no rows: its piece is empty (or, for the first part, it is the header)
    raise ValueError(
        "各部分的列不同，不能拼成一个文件 / the parts' decisions have different columns and cannot be joined "
        f"into one file: {sorted(set(decided.columns) ^ set(columns))}"
    )


def _join_pieces(pieces: Sequence[Path], out: Path) -> None:
    """The output from its parts' pieces, in part order: the first piece becomes the file and the others
    are appended (a run of one part only renames its piece). A run killed while this goes on has lost its
    first piece, so that part counts as not done and is decided again when resumed."""
    tmp = out.with_name(out.name + ".tmp")
    os.replace(pieces[0], tmp)
    if len(pieces) > 1:
        with tmp.open("r+b") as sink:
            for piece in pieces[1:]:
                with piece.open("rb") as source:
                    append_range(source, sink, 0, os.fstat(source.fileno()).st_size)
    os.replace(tmp, out)


def _write_output(
    files: list[Path], out: Path, parts_dir: Path, lang: str, rules: RuleSet, on: date | None = None
) -> int:
    """Join the parts' decisions (error rows left out) into ``out`` without holding them all: Parquet is
    streamed by polars; Excel, whose sheets stop at 1,048,576 rows, is written whole; a run without any
    part writes an empty table. Returns the number of decisions written.

    A CSV or JSON Lines output is joined from its parts' pieces (:func:`_write_piece`,
    :func:`_join_pieces`), rendered when each part is decided — or here, from the parts' decisions, for
    a run with rule columns (:func:`_join_rendered`)."""
    ok = pl.col("error").is_null()
    suffix = out.suffix.lower()
    if not files:
        write_decisions(pl.DataFrame(schema=OUTPUT_SCHEMA), out, lang=lang, rules=rules, on=on)  # type: ignore[arg-type]
        return 0
    if _renders(out):
        return _join_rendered(files, out, parts_dir, lang, rules, on)
    if suffix == ".parquet":
        tmp = out.with_name(out.name + ".tmp")
        # One scan per part, concatenated: a single scan over every part held about 0.5 GiB more at
        # its peak, growing with the number of parts.
        _scan_parts(files).filter(ok).sink_parquet(tmp, row_group_size=10_000)
        os.replace(tmp, out)
        return parquet_rows(out)
    frame = _scan_parts(files).filter(ok).collect()
    write_decisions(frame, out, lang=lang, rules=rules, on=on)  # type: ignore[arg-type]
    return frame.height


def _one_part(ordered: Sequence[dict[str, Any]], out: Path) -> bool:
    """Whether a Parquet output is its run's one part file as it is: a part this version wrote holds only
    the part's decisions, in the output's row groups (:func:`_write_part`), so it is renamed rather than
    joined — scanning it and writing it again decoded and encoded every nested list once more (measured
    at 100,000 bundled households: 1.4–1.7 CPU s of a 5.5 s run). Written in chunks of a row group
    (:func:`_compact_lists`), the part file is the bytes the join would write (13,689,266 at 100,000).
    A run of several parts is joined by :func:`_write_output`. A run stopped after the rename has lost
    its part, which is decided again when resumed."""
    return out.suffix.lower() == ".parquet" and len(ordered) == 1 and bool(ordered[0].get("decisions_only"))


def _copied_parts(ordered: Sequence[dict[str, Any]], out: Path, parts_dir: Path) -> bool:
    """Whether a Parquet output of several parts was written by copying the parts' column chunks as they
    are (:func:`~eligibility.io.parquet_join.join_parquet`): parts this version wrote hold only decisions
    (:func:`_write_part`), so the output is their rows in part order — for parts of whole row groups
    (as every part but the last of a run without row errors) the very bytes the decoding join writes. Scanning them and
    writing them again (:func:`_write_output`) decoded and encoded every nested list once more: 2.4 CPU
    s of 200,000 bundled households, against 0.15–0.3 for the copy (``docs/batch-speed.md``, "Session
    16 (lead)"). Parts whose footers differ (``--rule-columns`` over packs of different rules) or that
    carry what the copy does not move are joined by decoding. A run killed while copying leaves only
    ``out``'s temporary file; its parts stay, and the join is done again when resumed."""
    return (
        out.suffix.lower() == ".parquet"
        and len(ordered) > 1
        and all(p.get("decisions_only") for p in ordered)
        and join_parquet([parts_dir / p["file"] for p in ordered], out)
    )


def _join_rendered(files: list[Path], out: Path, parts_dir: Path, lang: str, rules: RuleSet, on: date | None) -> int:
    """A CSV or JSON Lines output of a run with rule columns, from its parts' decisions, one part at a time.

    Every row has every ``rule:``/``fact:`` column of the run: the columns and types are those of the
    parts joined as for a Parquet output (:func:`_scan_parts`: the union in order of first appearance,
    each cell null where its part's pack has no such rule), so each cell is the rendering of the Parquet
    output's cell — JSON ``null``, and in a CSV what an Excel output shows for it. Each part is selected
    by column name, so parts decided by two processes (a resumed run) join under one header. The parts'
    files stay until the run ends: a run stopped while joining renders them again when resumed."""
    union = _scan_parts(files).collect_schema()
    pieces: list[Path] = []
    decided = 0
    for k, f in enumerate(files):
        part = _scan_part(f)
        have = set(part.collect_schema().names())
        frame = (
            part.filter(pl.col("error").is_null())
            .select((pl.col(n) if n in have else pl.lit(None)).cast(t).alias(n) for n, t in union.items())
            .collect()
        )
        pieces.append(parts_dir / f"{f.stem}.piece{out.suffix.lower()}")
        _write_piece(frame, pieces[-1], k == 0, lang, rules, on)
        decided += frame.height
    _join_pieces(pieces, out)
    return decided


def _outcome(decided: pl.DataFrame | pl.LazyFrame) -> dict[str, Any]:
    """What the end of a run needs of a part besides its output: how many decisions it has, its rows the
    rules could not decide (``_row``, household id, error) and its configuration gaps' counts — kept in
    the part's errors file so that the end reads no part's decisions back."""
    lf = decided.lazy()
    ok = pl.col("error").is_null()
    counts = lf.select(ok.sum().alias("decided")).collect()
    evaluation = lf.filter(~ok).select("_row", "household_id", "error").collect()
    return {
        "decided": int(counts.item()),
        "evaluation": [[int(r), h, str(e)] for r, h, e in evaluation.iter_rows()],
        "gaps": _gap_counts(lf.filter(ok)),
    }


OUTPUT_THREAD: bool | None = None
"""Whether a run writes each part's output in a second thread (:func:`run_batch`); None: as the
environment variable ``ELIGIBILITY_BATCH_OUTPUT_THREAD`` says (``1``, ``true``, ``yes``), off when unset.

Off by default because it was not shown to pay: at 300,000 households in three parts (CSV) it took the
same CPU time as writing in order and about 100–200 MiB more peak memory (two parts in memory), and on
this shared machine (load 5–27) no wall-time gain could be told from the noise (``docs/batch-speed.md``,
"Session 14, e2eout"). On a quiet two-core machine it may hide a part's formatting behind the next part's
deciding; that is to be measured before it is turned on. ``benchmarks/bench_batch_profile.py`` sets it to
False to time each step on its own, since CPU time counts every thread of the process."""


class _InOrder(Executor):
    """An executor that runs each call at once, in the caller's thread (``OUTPUT_THREAD = False``)."""

    def submit(self, fn: Callable[..., _R], /, *args: Any, **kwargs: Any) -> Future[_R]:
        done: Future[_R] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as e:  # handed to the caller by Future.result, as a thread's would be
            done.set_exception(e)
        return done


def _output_pool() -> Executor:
    """Where a run's part outputs are written: one second thread, or in order (:data:`OUTPUT_THREAD`)."""
    on = OUTPUT_THREAD
    if on is None:
        on = os.environ.get("ELIGIBILITY_BATCH_OUTPUT_THREAD", "").strip().lower() in ("1", "true", "yes")
    if on:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="eligibility-output")
    return _InOrder()


def _first_columns(done: Sequence[dict[str, Any]], parts_dir: Path) -> list[str] | None:
    """The column order of the pieces a resumed run already has (None when it has none): every piece of a
    run keeps one order (:func:`_in_order`), recorded in the manifest. The first part itself may be among
    the parts to decide again (a run stopped while joining), so any done part's record serves; a first part
    an earlier version left gives its decisions file's order."""
    for p in done:
        if "columns" in p:
            return list(p["columns"])
    for p in done:
        if int(p["part"]) == 0:
            return _scan_part(parts_dir / p["file"]).collect_schema().names()
    return None


def _error_record(e: RowError) -> dict[str, Any]:
    return {k: getattr(e, k) for k in RowError.__dataclass_fields__}


@dataclass(frozen=True)
class _PartSpec:
    """Everything deciding one part needs besides the rules (:func:`_decide_part`) — plain data and a
    reader that can be pickled, so that a worker process can do it."""

    part: int
    rows: int
    read: Callable[[], ReadResult]
    parts_dir: Path
    suffix: str
    renders: bool
    columns: list[str] | None
    as_of: date | None
    lang: str
    rule_columns: bool
    rowwise: int | None
    level: str
    render: list[Any]


def _decide_part(spec: _PartSpec, rules: RuleSet, pool: Executor) -> tuple[dict[str, Any], Path, Future[None]]:
    """Read, decide and write one part: its output (a piece of a CSV or JSON Lines output, else its
    decisions) to a temporary name, submitted to ``pool``; its summary counts and row errors to their
    files. Returns the part's manifest entry, the temporary file and the write's future: the part is done
    once the caller has waited for the write and renamed the file (``run_batch``'s ``finish``).

    The temporary name carries this process's id: a worker of a killed run, on a system where workers do
    not die with their parent (:func:`_die_with_parent`), cannot write into a resumed run's file."""
    read = spec.read()
    decided = decide_table(rules, read.frame, spec.as_of, rule_columns=spec.rule_columns, rowwise=spec.rowwise)
    stem = f"part-{spec.part:05d}"
    # The temporary name keeps the suffix: the writers choose the format by it.
    tmp = spec.parts_dir / f"{stem}.tmp{os.getpid()}{spec.suffix}"
    columns = spec.columns
    if spec.renders:
        if columns is None:
            columns = decided.columns
        decided = _in_order(decided, columns)
        job = pool.submit(_write_piece, decided, tmp, spec.part == 0, spec.lang, rules, spec.as_of)
    else:
        job = pool.submit(_write_part, decided, tmp, spec.suffix)
    summary = summarise(decided.filter(pl.col("error").is_null()), read.frame, spec.level, rules=rules)
    summary.write_parquet(spec.parts_dir / f"{stem}.summary.parquet")
    errors = [_error_record(e) for e in read.errors]
    _write_json_atomic(spec.parts_dir / f"{stem}.errors.json", {"errors": errors, **_outcome(decided)})
    entry = {
        "part": spec.part,
        "file": f"{stem}{spec.suffix}",
        "errors": f"{stem}.errors.json",
        "summary": f"{stem}.summary.parquet",
        "rows": spec.rows,
        "unknown_columns": read.unknown_columns,
        "notes": read.notes,
        **({"render": spec.render, "columns": columns} if spec.renders else {}),
        **({"decisions_only": True} if spec.suffix == ".parquet" else {}),
    }
    return entry, tmp, job


WORKERS_ENV = "ELIGIBILITY_BATCH_WORKERS"
"""The environment variable that sets :func:`run_batch`'s ``workers`` when the caller leaves it None."""


def _workers(asked: int | str | None, parts: int) -> int:
    """How many processes decide a run's ``parts`` remaining parts: ``asked`` (a number, or ``"auto"``),
    else :data:`WORKERS_ENV`, else 1; never more than the parts, and 1 — this process, no pool — for a run
    of one part. A wrong value is an error before any part is read.

    ``"auto"``: every usable core, but at least two parts per worker. A worker's start (a new Python
    importing polars and the engine, then compiling the programs its first part needs) costs about what
    deciding a part does, so a run of two or three parts was slower in two workers than in one process
    (200,000 bundled households in two parts: 3.1 s against 2.6–2.8 s; 400,000 in four: 4.8 against 6.8 s —
    ``docs/batch-speed.md``, session 20)."""
    wanted: int | str = asked if asked is not None else (os.environ.get(WORKERS_ENV, "").strip() or 1)
    if isinstance(wanted, str):
        if wanted.strip().lower() == "auto":
            wanted = max(1, min(usable_cores(), parts // 2))
        else:
            try:
                wanted = int(wanted)
            except ValueError:
                wanted = 0
    if isinstance(wanted, bool) or wanted < 1:
        raise ValueError(f"workers 应为正整数或 auto / workers must be a positive number or auto, got {asked!r}")
    return max(1, min(wanted, parts))


_WORKER_RULES: list[RuleSet] = []
"""A worker process's rule set, read once when the process starts (:func:`_worker_start`)."""


def _worker_start(rules_file: str) -> None:
    """A worker process's set-up: end with the parent (:func:`_die_with_parent`), and keep the rules read
    from ``rules_file``, the pickle :func:`_in_workers` wrote (each worker compiles its programs on its
    first part, as a run in one process does).

    Why a file and not the rule set itself as the initializer's argument: a ``spawn``ed worker gets its
    start-up data through a pipe that the parent writes in full before it lets go of the pipe's reading
    end. The bundled rules pickle to about 320 KB, more than a pipe holds (64 KiB), so a worker that died
    while starting — a user's script run again in the worker because its ``run_batch`` call is not under
    ``if __name__ == "__main__":`` — left the parent waiting on that write for ever (measured: a run of
    two workers hung until killed). A path is a few bytes: the parent's write ends, the pool sees the
    worker gone, and :func:`_in_workers` says so (:class:`~eligibility.errors.BatchWorkerError`)."""
    _die_with_parent()
    import pickle

    with open(rules_file, "rb") as f:
        rules = pickle.load(f)  # our own file, written by this run's parent a moment ago
    _WORKER_RULES[:] = [rules]


def _worker_part(spec: _PartSpec) -> tuple[dict[str, Any], Path]:
    """One part decided in a worker process; its output written before this returns."""
    entry, tmp, job = _decide_part(spec, _WORKER_RULES[0], _InOrder())
    job.result()
    return entry, tmp


def _die_with_parent() -> None:
    """End this worker process when its parent ends: a run killed midway (``kill -9``, a closed terminal)
    must leave nothing behind. Needed, not tidy: a pool worker waits for its next part on a queue whose
    writing end it holds itself, so with the parent gone it would wait forever. On Linux the kernel does
    it (``PR_SET_PDEATHSIG``); elsewhere a daemon thread looks once a second whether the process has been
    given another parent, and exits. A worker that outlives its parent for that second records nothing
    (only the parent renames part files and keeps the manifest) and writes under a temporary name of its
    own (:func:`_decide_part`)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0:  # 1 = PR_SET_PDEATHSIG
                return
        except (OSError, AttributeError):  # a libc without prctl: as elsewhere
            pass
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="eligibility-parent-watch", daemon=True).start()


@contextlib.contextmanager
def _polars_threads(threads: int) -> Iterator[None]:
    """``POLARS_MAX_THREADS`` set to ``threads`` in this process's environment while worker processes are
    started (they inherit it, and polars reads it once, when it is imported), unless the caller set it.

    Why: polars sizes its thread pool to every core; two workers on two cores then ran four busy threads,
    which made each part take 1.5× the CPU time (1.8 against 1.2 CPU s for 100,000 bundled households)
    and the run slower than one process (400,000 households: 9.4–10.0 s against 6.4–8.4 s; with one
    thread per worker 5.1 s — ``docs/batch-speed.md``, session 20). The environment is the only way in:
    a ``spawn``ed worker may import polars before any code of ours runs in it (its parent's main module is
    imported first)."""
    if "POLARS_MAX_THREADS" in os.environ:
        yield
        return
    os.environ["POLARS_MAX_THREADS"] = str(threads)
    try:
        yield
    finally:
        os.environ.pop("POLARS_MAX_THREADS", None)


def _in_workers(
    ways: int,
    rules: RuleSet,
    todo: Sequence[_Chunk],
    spec: Callable[[_Chunk, Callable[[], ReadResult]], _PartSpec],
    finish: Callable[[dict[str, Any], Path, Future[None]], None],
    parts_dir: Path,
) -> None:
    """Decide ``todo`` in ``ways`` worker processes, each part whole in one worker (read, decide, write
    its files), and record them here in part order as they come in.

    Why processes: a part's stages are polars queries with Python between them, and one process kept
    about 1.3 of two cores busy (``docs/batch-speed.md``, session 20); two parts at once keep both busy.
    Each worker holds one part, so memory is about ``ways`` times one process's. ``spawn``, not
    ``fork``: polars' thread pool does not survive a fork. At most ``ways + 1`` parts are out at once, so
    a worker never waits for its next part, and parts read here (Excel) are not all in memory at once."""
    import multiprocessing
    import pickle
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # The rules for the workers (:func:`_worker_start` says why a file), in the run's parts folder like the
    # workers' own temporary files: a run killed before it removes the file leaves it there, and the next
    # run, resumed or not, clears the folder.
    rules_file = parts_dir / f"rules.tmp{os.getpid()}.pickle"
    try:
        with rules_file.open("wb") as f:
            pickle.dump(rules, f, protocol=pickle.HIGHEST_PROTOCOL)
        pool = ProcessPoolExecutor(
            max_workers=ways,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(str(rules_file),),
        )
    except BaseException:
        rules_file.unlink(missing_ok=True)
        raise
    out: deque[Future[tuple[dict[str, Any], Path]]] = deque()
    left = iter(todo)

    def submit() -> None:
        chunk = next(left, None)
        if chunk is not None:
            out.append(pool.submit(_worker_part, spec(chunk, chunk.shipped())))

    written: Future[None] = Future()
    written.set_result(None)  # a worker's part is on disk when its result comes back
    try:
        # The pool starts a worker on each of the first submits: each with its share of the cores
        # (:func:`_polars_threads`).
        with _polars_threads(max(1, usable_cores() // ways)):
            for _ in range(ways):
                submit()
        submit()
        while out:
            entry, tmp = out.popleft().result()
            finish(entry, tmp, written)
            submit()
    except BrokenProcessPool as exc:
        raise BatchWorkerError() from exc
    finally:
        # Parts not started are dropped and parts under way finish (their files are not recorded; once a
        # worker has died the others are ended instead, see _end_pool): a run stopped by an error or by
        # ``after_part`` leaves no process working behind it.
        _end_pool(pool)
        rules_file.unlink(missing_ok=True)  # (a script run again in a worker clears the folder, this file too)


def _end_pool(pool: Executor) -> None:
    """``pool.shutdown(wait=True, cancel_futures=True)``, except when a worker has died (killed, out of
    memory): then the workers still there are ended too, and the shutdown does not wait for ever.

    Why: a worker killed while it held a lock of the pool's queues (waiting for its next part holds the
    reading one; sending a result, the writing one) never releases it, and a worker left waiting on that
    lock never exits, so the plain shutdown, which joins every worker, hung (one of two workers killed
    after the first part of three: the 9th of 40 runs hung; ``concurrent.futures`` of Python 3.11 ends the
    others only when it notices the death before its shutdown began). The pool's workers are read from its private
    ``_processes`` (the same name since Python 3.3); without it this is the plain shutdown."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    if not workers or manager is None:
        pool.shutdown(wait=True, cancel_futures=True)
        return
    pool.shutdown(wait=False, cancel_futures=True)
    while manager.is_alive():
        if any(p.exitcode not in (None, 0) for p in workers):
            for p in workers:
                if p.exitcode is None:
                    p.kill()
        manager.join(timeout=0.2)


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
    rowwise: int | None = None,
    progress: bool | None = None,
    log: TextIO | None = None,
    after_part: Callable[[int], None] | None = None,
    workers: int | str | None = None,
) -> BatchResult:
    """Decide every household of ``paths`` and write the decisions to ``out`` (see the module docstring).

    The run goes part by part (``chunk_rows`` input rows each): read the part, decide it, write its
    output (its piece of a CSV or JSON Lines output, else its decisions), row errors, outcome and summary
    under ``<out>.parts/``, record it in the manifest. Nothing of a finished part stays in memory, so
    memory is bounded by two parts (the one being written, the one being decided; ``docs/batch.md``)
    whatever the input's size; a Parquet input is also *read* part by part. ``after_part`` is called
    with each part's number, in order, once it is safely on disk (tests use it to kill a run midway).

    ``rowwise`` is :func:`decide_table`'s, for every part: within a part, the rows of a (pack chain, date
    span) fewer than this are decided household by household (the same cells, without the columnar
    program's fixed cost); None takes ``ELIGIBILITY_BATCH_ROWWISE`` or the default, 0 keeps every part
    columnar (``docs/batch.md`` §11). It changes how, not what — the output's bytes are the same
    whatever its value — so, unlike ``chunk_rows``, it is not part of what a resumed run must share.

    ``workers``: how many processes decide the parts — a number, or ``"auto"`` for every usable core;
    None takes ``ELIGIBILITY_BATCH_WORKERS`` or 1 (this process). With more than one, each part is read,
    decided and written whole by a worker process (started with ``spawn``: a script that calls this at
    its top level needs the ``if __name__ == "__main__":`` guard, as every ``multiprocessing`` program
    does; ``eligibility batch`` uses every core by default) and recorded here in part order, so the
    manifest, ``after_part``, ``--resume`` and the output bytes are what one process gives. Memory is
    about ``workers`` parts instead of one (``docs/batch.md``). Like ``rowwise``, not part of what a
    resumed run must share."""
    log = log or sys.stderr
    t0 = time.perf_counter()
    if rowwise is not None:
        rowwise_rows(rowwise)  # a wrong value stops the run before its first part, not at it
    out = Path(out)
    fingerprint = ",".join(sorted(p.digest for p in rules.packs.values())) + rules.sources_digest
    parts_dir = out.with_name(out.name + ".parts")
    # With rule columns the parts of different packs have different columns, and the header of a CSV
    # is written with the first piece: such a run keeps each part's decisions and renders the output at
    # the end, from the union of the parts' columns (:func:`_join_rendered`).
    renders = _renders(out) and not rule_columns
    suffix = out.suffix.lower() if renders else _part_suffix(out)
    # A piece is rendered: it is done only for a run that renders it the same way.
    render = [suffix, lang, rule_columns]
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
        done = [
            p
            for p in got["parts"]
            if all((parts_dir / p[k]).exists() for k in ("file", "errors", "summary"))
            and p.get("render", render) == render
        ]
    else:
        if parts_dir.exists():
            for f in parts_dir.iterdir():
                f.unlink()
        parts_dir.mkdir(parents=True, exist_ok=True)
    chunks = list(_chunks(paths, as_of, chunk_rows))
    n = sum(c.rows for c in chunks)
    parts: list[dict[str, Any]] = list(done)
    finished = {int(p["part"]) for p in done}
    manifest: dict[str, Any] = {"format": PARTS_FORMAT, "run": run_id, "rows": n, "chunk_rows": chunk_rows}
    bar = _Progress(n, log, progress)
    if done:
        bar.advance(sum(p["rows"] for p in done))
    # The column order every piece keeps (:func:`_in_order`): the done parts', else the first decided part's.
    columns = _first_columns(done, parts_dir) if renders else None
    todo = [c for c in chunks if c.part not in finished]
    ways = _workers(workers, len(todo))

    def spec(chunk: _Chunk, read: Callable[[], ReadResult]) -> _PartSpec:
        return _PartSpec(
            part=chunk.part,
            rows=chunk.rows,
            read=read,
            parts_dir=parts_dir,
            suffix=suffix,
            renders=renders,
            columns=columns,
            as_of=as_of,
            lang=lang,
            rule_columns=rule_columns,
            rowwise=rowwise,
            level=level,
            render=render,
        )

    def finish(entry: dict[str, Any], tmp: Path, job: Future[None]) -> None:
        """A part done: its output on disk under its own name, then in the manifest — in part order."""
        nonlocal columns
        job.result()
        for note in entry["notes"]:
            print(f"注意 / note: {note}", file=log)
        if renders:
            if columns is None:
                columns = entry["columns"]
            elif entry["columns"] != columns:  # (a run without rule columns has one set of columns)
                raise ValueError(
                    "各部分的列顺序不同 / the parts' decisions came out with their columns in another order: "
                    f"{entry['columns']} against {columns}"
                )
        os.replace(tmp, parts_dir / entry["file"])
        parts.append(entry)
        _write_json_atomic(manifest_path, {**manifest, "parts": parts})
        bar.advance(entry["rows"])
        if after_part is not None:
            after_part(entry["part"])

    try:
        if ways > 1:
            _in_workers(ways, rules, todo, spec, finish, parts_dir)
        else:
            # With OUTPUT_THREAD a part's output (its piece, or its decisions file) is written by a second
            # thread while this one works out the part's summary and then reads and decides the next part
            # (polars and the file writes release the GIL; issue 10 §5), two parts' decisions in memory at
            # the peak. Either way a part is recorded as done only after its output is on disk, and in part
            # order.
            pending: Callable[[], None] | None = None
            with _output_pool() as pool:
                for chunk in todo:
                    entry, tmp, job = _decide_part(spec(chunk, chunk.read), rules, pool)
                    if renders and columns is None:
                        columns = entry["columns"]  # the next parts' pieces in the first one's order
                    if pending is not None:
                        pending()
                    pending = functools.partial(finish, entry, tmp, job)
                if pending is not None:
                    pending()
    finally:
        bar.close()
    ordered = sorted(parts, key=lambda p: int(p["part"]))
    unknown: list[str] = []
    notes: list[str] = []
    for p in ordered:
        unknown += [c for c in p.get("unknown_columns", []) if c not in unknown]
        notes += [x for x in p.get("notes", []) if x not in notes]
    if unknown:
        print("未识别的列（未使用）/ unknown columns (not used): " + ", ".join(unknown), file=log)
    kept = [json.loads((parts_dir / p["errors"]).read_text("utf-8")) for p in ordered]
    for p, got in zip(ordered, kept, strict=True):
        if "decided" not in got:  # a part an earlier version left: its outcome from its decisions
            got.update(_outcome(_scan_part(parts_dir / p["file"])))
    # A row the rules could not decide goes to the errors file only: every input row is in exactly one
    # of the two files.
    # Labels in the words of the assessment date (``--as-of``; per-row dates keep each code's first wording).
    if renders and ordered:
        pieces = []
        for p in ordered:
            if "render" not in p:  # a part an earlier version left: its piece rendered from its decisions
                piece = parts_dir / f"part-{int(p['part']):05d}.old{suffix}"
                first = int(p["part"]) == 0
                decided = _scan_part(parts_dir / p["file"]).collect()
                _write_piece(_in_order(decided, columns or decided.columns), piece, first, lang, rules, as_of)
                p = {**p, "file": piece.name}
            pieces.append(parts_dir / p["file"])
        _join_pieces(pieces, out)
        decided_ok = sum(int(got["decided"]) for got in kept)
    elif _one_part(ordered, out):
        os.replace(parts_dir / ordered[0]["file"], out)
        decided_ok = int(kept[0]["decided"])
    elif _copied_parts(ordered, out, parts_dir):
        decided_ok = sum(int(got["decided"]) for got in kept)
    else:
        decided_ok = _write_output([parts_dir / p["file"] for p in ordered], out, parts_dir, lang, rules, as_of)
    read_errors = [RowError(**e) for got in kept for e in got["errors"]]
    evaluation = [r for got in kept for r in got["evaluation"]]
    row_errors = list(read_errors)
    for row, household_id, error in evaluation:
        for column, code, message in row_errors_of(error):
            row_errors.append(
                RowError(
                    file=", ".join(str(p) for p in paths),
                    row=None,
                    column=column,
                    code=code,
                    message=message,
                    index=row,
                    household_id=household_id,
                )
            )
    errors_file: Path | None = None
    if row_errors:
        errors_file = out.with_name(out.stem + ".errors" + out.suffix)
        write_errors(row_errors, errors_file, lang=lang)  # type: ignore[arg-type]
    summary = _merge_summaries([pl.read_parquet(parts_dir / p["summary"]) for p in ordered])
    if summary_path is not None:
        write_summary(summary, summary_path)
    bad_rows = {e.index for e in read_errors if e.index is not None}
    unplaced = [e for e in read_errors if e.index is None]
    result = BatchResult(
        rows=n,
        decided=decided_ok,
        errors=len(bad_rows) + len(unplaced) + len(evaluation),
        unknown_columns=unknown,
        output=out,
        errors_file=errors_file,
        summary=summary,
        seconds=time.perf_counter() - t0,
        resumed_parts=len(done),
        notes=notes,
        gaps=_merged_gaps(got["gaps"] for got in kept),
    )
    for f in parts_dir.iterdir():
        f.unlink()
    parts_dir.rmdir()
    return result


def print_gaps(gaps: Sequence[tuple[str, str, int]], log: TextIO) -> None:
    """Each configuration gap once, Chinese first: the parameter, its jurisdiction, households touched."""
    for jurisdiction, name, n in gaps:
        print(
            f"配置缺口 / configuration gap: {jurisdiction} 没有参数 {name} 的取值，{n:,} 户的相关结论未能判定"
            f" / no value of {name}: {n:,} households partly undecided",
            file=log,
        )


def configuration_gaps(decisions: pl.DataFrame | pl.LazyFrame) -> list[tuple[str, str, int]]:
    """Each configuration gap once per jurisdiction and parameter, with how many households it touched.

    A lazy frame (a run's parts on disk) is counted streaming: only the counts are ever in memory."""
    return _merged_gaps([_gap_counts(decisions.lazy())])


def _gap_counts(lf: pl.LazyFrame) -> list[list[Any]]:
    """Households per (jurisdiction, missing parameter) of ``lf``, unordered: a part's share of
    :func:`configuration_gaps`, which :func:`_merged_gaps` adds up over the parts (each household is in
    one part)."""
    if "missing_parameters" not in lf.collect_schema().names():
        return []
    long = lf.select("jurisdiction", "missing_parameters").explode("missing_parameters").drop_nulls()
    grouped = long.group_by("jurisdiction", "missing_parameters").len()
    return [[str(j), str(p), int(n)] for j, p, n in grouped.collect(engine="streaming").iter_rows()]


def _merged_gaps(parts: Iterable[Sequence[Sequence[Any]]]) -> list[tuple[str, str, int]]:
    """The counts of :func:`_gap_counts` of every part added up, in order of jurisdiction and parameter."""
    rows = [tuple(r) for part in parts for r in part]
    schema = {"jurisdiction": pl.String, "missing_parameters": pl.String, "len": pl.Int64}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    summed = frame.group_by("jurisdiction", "missing_parameters").agg(pl.col("len").sum())
    counted = summed.sort("jurisdiction", "missing_parameters")
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
    print_gaps(result.gaps, log)
    if result.summary is not None and result.summary.height:
        print(render_markdown(result.summary), file=log)
