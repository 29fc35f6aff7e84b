"""A Parquet part written in chunks of its row groups (``batch._compact_lists``): the same table, in the
bytes polars writes for that table read back from Parquet (each row group's pages sized by its own
elements, not by the whole chunk's)."""

from __future__ import annotations

import io

import polars as pl

from eligibility.batch import _compact_lists


def _frame(rows: int) -> pl.DataFrame:
    """A nested list column of strings and a plain one, as one chunk (as ``decide_table`` returns)."""
    dtype = pl.List(pl.Struct({"name": pl.String, "fields": pl.List(pl.String)}))
    cells = [[{"name": f"f{i % 7}", "fields": [f"x{j}" for j in range(i % 5)]}] * 8 for i in range(rows)]
    return pl.DataFrame({"_row": range(rows), "unknown": pl.Series(cells, dtype=dtype)})


def _parquet(frame: pl.DataFrame, rows: int) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out, row_group_size=rows)
    return out.getvalue()


def test_compact_lists_writes_the_bytes_of_the_table_read_back() -> None:
    frame = _frame(20_000)
    chunked = _compact_lists(frame, rows=1_000)
    assert chunked.equals(frame)
    assert chunked.get_column("unknown").n_chunks() == 20
    read_back = pl.read_parquet(io.BytesIO(_parquet(frame, 1_000)))
    assert _parquet(chunked, 1_000) == _parquet(read_back, 1_000)


def test_compact_lists_keeps_a_frame_of_one_row_group() -> None:
    frame = _frame(500)
    assert _compact_lists(frame, rows=1_000) is frame
