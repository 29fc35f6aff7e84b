"""Parquet parts joined by copying their row groups (``eligibility.io.parquet_join``).

The joined file must read back as the parts' rows in order — whole, by column, filtered through the
row groups' statistics — and its page index must point at real pages: every offset moved by where its
part landed. Files the copy cannot join are declined (nothing written), for the caller to join by
decoding."""

from __future__ import annotations

import struct
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility.io import parquet_join as pj

from .conftest import population_examples


def _frame(n: int, start: int) -> pl.DataFrame:
    """Rows ``start``…``start + n`` of a table shaped like the decisions: integers, strings (some null),
    dates, decimals, Booleans and nested lists of strings and of structs."""
    rows = range(start, start + n)
    schema = {
        "_row": pl.UInt64,
        "household_id": pl.String,
        "as_of": pl.Date,
        "income": pl.Decimal(12, 2),
        "flag": pl.Boolean,
        "codes": pl.List(pl.String),
        "unknown": pl.List(pl.Struct({"name": pl.String, "paths": pl.List(pl.String)})),
    }
    columns = {
        "_row": list(rows),
        "household_id": [f"H{r:07d}" if r % 7 else None for r in rows],
        "as_of": [date(2024, 1, 1) + timedelta(days=r % 400) for r in rows],
        "income": [Decimal(r % 9000) / 4 for r in rows],
        "flag": [None if r % 5 == 0 else r % 3 == 0 for r in rows],
        "codes": [[f"c{r % 11}", f"d{r % 3}"][: r % 3] for r in rows],
        "unknown": [[{"name": f"f{r % 13}", "paths": [f"p{r % 4}"] * (r % 2)}] if r % 4 else None for r in rows],
    }
    return pl.DataFrame([pl.Series(k, v, dtype=schema[k], strict=False) for k, v in columns.items()])


def _parts(tmp_path: Path, sizes: list[int], group: int) -> tuple[list[Path], pl.DataFrame]:
    files: list[Path] = []
    frames: list[pl.DataFrame] = []
    at = 0
    for i, n in enumerate(sizes):
        frame = _frame(n, at)
        at += n
        files.append(tmp_path / f"part-{i}.parquet")
        frame.write_parquet(files[-1], row_group_size=group)
        frames.append(frame)
    return files, pl.concat(frames)


def _footer(path: Path) -> list[pj._Field]:
    data = path.read_bytes()
    (n,) = struct.unpack("<I", data[-8:-4])
    return pj._In(data[-8 - n : -8]).struct()


def _relative_offsets(path: Path) -> list[tuple[int, ...]]:
    """Per row group, its ``file_offset`` less its first chunk's first page, and per chunk its
    ``file_offset`` less the end of its pages: the same in the joined file as in the part it came from
    when every offset moved with its chunk."""
    out: list[tuple[int, ...]] = []
    for group in pj._row_groups(_footer(path)):
        firsts: list[int] = []
        for chunk in pj._chunks(group):
            meta = pj._get(chunk, pj._CC_META)
            assert meta is not None
            first = pj._int(meta.value, pj._CM_DICT_PAGE) or pj._int(meta.value, pj._CM_DATA_PAGE) or 0
            firsts.append(first)
            end = first + (pj._int(meta.value, pj._CM_COMPRESSED) or 0)
            out.append(((pj._int(chunk, pj._CC_FILE_OFFSET) or 0) - end,))
        out.append(((pj._int(group, pj._RG_FILE_OFFSET) or 0) - firsts[0], len(firsts)))
    return out


def _inline_copies(path: Path) -> int:
    """Every chunk's metadata copy right after its pages equals the footer's metadata of that chunk (so
    it was written anew with the moved offsets); returns how many were checked. (polars points the
    deprecated ``file_offset`` at the data page plus the chunk's size, past the copy when the chunk has
    a dictionary page: the copy is found after the pages instead.)"""
    data = path.read_bytes()
    checked = 0
    for group in pj._row_groups(_footer(path)):
        for chunk in pj._chunks(group):
            meta = pj._get(chunk, pj._CC_META)
            assert meta is not None
            first = pj._int(meta.value, pj._CM_DICT_PAGE) or pj._int(meta.value, pj._CM_DATA_PAGE) or 0
            at = first + (pj._int(meta.value, pj._CM_COMPRESSED) or 0)
            copy = pj._encode(meta.value)
            assert data[at : at + len(copy)] == copy
            checked += 1
    return checked


def _check_pages(path: Path) -> int:
    """Every offset index entry of ``path`` points at a page header whose size and row agree with it
    (the page index read on its own, not through polars); returns how many pages were checked."""
    data = path.read_bytes()
    checked = 0
    for group in pj._row_groups(_footer(path)):
        firsts = []
        for chunk in pj._chunks(group):
            meta = pj._get(chunk, pj._CC_META)
            assert meta is not None
            first = pj._int(meta.value, pj._CM_DICT_PAGE) or pj._int(meta.value, pj._CM_DATA_PAGE)
            assert first is not None
            firsts.append(first)
            at, n = pj._int(chunk, pj._CC_OI_OFFSET), pj._int(chunk, pj._CC_OI_LENGTH)
            assert at is not None and n is not None
            index = pj._In(data[at : at + n]).struct()
            pages = pj._get(index, pj._OI_PAGES)
            assert pages is not None
            for loc in pages.value.items:
                offset, size = pj._int(loc, 1), pj._int(loc, 2)
                assert offset is not None and size is not None
                header = pj._In(data[offset : offset + size])
                fields = header.struct()
                # PageHeader: 1 type, 2 uncompressed size, 3 compressed size; the location's size is
                # the header's bytes and the page's together.
                assert header.pos + pj._int(fields, 3) == size  # type: ignore[operator]
                checked += 1
    return checked


@population_examples(25)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=700), min_size=2, max_size=5),
    group=st.sampled_from([50, 128, 1000]),
)
def test_joined_file_reads_as_the_parts_in_order(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], group: int
) -> None:
    if not any(sizes):
        sizes = [*sizes, 1]
    tmp = tmp_path_factory.mktemp("pj")
    files, whole = _parts(tmp, sizes, group)
    out = tmp / "out.parquet"
    assert pj.join_parquet(files, out)
    got = pl.read_parquet(out)
    assert got.equals(whole)
    assert got.schema == whole.schema
    # by column and filtered: the row groups' statistics and the readers' page reads at the moved offsets
    cut = whole.height // 2
    assert (
        pl.scan_parquet(out)
        .filter(pl.col("_row") >= cut)
        .select("_row", "unknown")
        .collect()
        .equals(whole.filter(pl.col("_row") >= cut).select("_row", "unknown"))
    )
    assert pl.scan_parquet(out).select(pl.len()).collect().item() == whole.height
    groups = pj._row_groups(_footer(out))
    assert [pj._int(g, pj._RG_ORDINAL) for g in groups] == list(range(len(groups)))
    assert _check_pages(out) >= len(groups) * len(whole.columns)
    assert _relative_offsets(out) == [x for f in files for x in _relative_offsets(f)]
    assert _inline_copies(out) == sum(_inline_copies(f) for f in files) >= len(groups) * len(whole.columns)


def test_page_index_is_checked_by_the_test(tmp_path: Path) -> None:
    """The page check above fails on a join whose offset indexes were not moved (so it can fail)."""
    files, _ = _parts(tmp_path, [300, 300], 100)
    out = tmp_path / "out.parquet"
    original = pj._moved_pages
    try:
        pj._moved_pages = lambda index, by: index  # type: ignore[assignment]
        assert pj.join_parquet(files, out)
    finally:
        pj._moved_pages = original
    with pytest.raises((AssertionError, pj._Decline, TypeError)):
        _check_pages(out)


def test_declines_what_it_cannot_copy(tmp_path: Path) -> None:
    files, _ = _parts(tmp_path, [100, 100], 50)
    other = tmp_path / "other.parquet"
    _frame(100, 0).drop("flag").write_parquet(other)
    text = tmp_path / "text.parquet"
    text.write_text("not parquet", encoding="utf-8")
    out = tmp_path / "out.parquet"
    assert not pj.join_parquet([files[0], other], out)  # another schema
    assert not pj.join_parquet([files[0], text], out)
    assert not pj.join_parquet([], out)
    assert not out.exists() and not out.with_name("out.parquet.tmp").exists()


def test_empty_parts_are_left_out(tmp_path: Path) -> None:
    files, whole = _parts(tmp_path, [0, 250, 0, 40], 100)
    out = tmp_path / "out.parquet"
    assert pj.join_parquet(files, out)
    assert pl.read_parquet(out).equals(whole)
    (tmp_path / "e").mkdir()
    empty, _ = _parts(tmp_path / "e", [0, 0], 100)
    assert not pj.join_parquet(empty, tmp_path / "none.parquet")


def test_footer_codec_round_trips(tmp_path: Path) -> None:
    files, _ = _parts(tmp_path, [500], 64)
    data = files[0].read_bytes()
    (n,) = struct.unpack("<I", data[-8:-4])
    raw = data[-8 - n : -8]
    assert pj._encode(pj._In(raw).struct()) == raw


@pytest.mark.parametrize("sizes", [[200, 200], [100, 300, 100], [400]])
def test_parts_of_whole_row_groups_join_to_the_bytes_polars_writes(tmp_path: Path, sizes: list[int]) -> None:
    # Parts whose row groups line up with the joined file's hold the same column chunks as polars' own
    # join (scan the parts, concatenate, write in row groups of the same size): the copy, with its
    # chunks' metadata copies and page index rewritten, is then that very file.
    files, _ = _parts(tmp_path, sizes, 100)
    out = tmp_path / "out.parquet"
    assert pj.join_parquet(files, out)
    polars_join = tmp_path / "polars.parquet"
    pl.concat([pl.scan_parquet(f) for f in files]).sink_parquet(polars_join, row_group_size=100)
    assert out.read_bytes() == polars_join.read_bytes()
