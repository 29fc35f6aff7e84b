"""A batch read and decided part by part equals one read and decided whole (issue 10 §5, streaming).

Parquet inputs are read slice by slice (``read_parquet_slice``), so the slices must give the same valid
rows and the same errors as the whole file — a household id repeated in two slices included — and a run
of many small parts must write the same decisions, errors and summary as a run of one part.
"""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from eligibility import load_rules
from eligibility.batch import run_batch
from eligibility.io.tables import parquet_repeated_ids, read_households, read_parquet_slice

ROOT = Path(__file__).resolve().parent.parent
RULES = load_rules(ROOT / "rules")
AS_OF = date(2023, 9, 30)


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example households three times over (ids made unique), with one id repeated in rows far
    apart and one bad cell: 3 × the examples, in the Parquet frame contract."""
    frame = read_households(ROOT / "examples" / "batch" / "households.jsonl", as_of=AS_OF).frame
    copies = [frame.with_columns(pl.col("household_id") + f"-{k}") for k in range(3)]
    big = pl.concat(copies).drop("_row", "as_of")
    ids = big.get_column("household_id").to_list()
    ids[-1] = ids[0]  # the last row repeats the first one's id: two slices apart
    big = big.with_columns(pl.Series("household_id", ids))
    wage = big.get_column("income.wage").cast(pl.String).to_list()
    big = big.with_columns(pl.Series("income.wage", [None, "x", *wage[2:]][: big.height], dtype=pl.String))
    path = tmp_path_factory.mktemp("parquet") / "households.parquet"
    big.write_parquet(path)
    return path


def test_slices_read_as_the_whole_file(parquet: Path) -> None:
    whole = read_households(parquet, as_of=AS_OF)
    repeated = parquet_repeated_ids(parquet)
    assert len(repeated) == 1
    n = whole.total_rows
    frames, errors = [], []
    for start in range(0, n, 4):
        got = read_parquet_slice(parquet, start, min(4, n - start), as_of=AS_OF, repeated=repeated)
        frames.append(got.frame)
        errors += got.errors
    assert_frame_equal(pl.concat(frames), whole.frame)
    key = lambda e: (e.index, e.column, e.code)  # noqa: E731
    assert sorted(errors, key=key) == sorted(whole.errors, key=key)
    assert {e.code for e in errors} >= {"duplicate_id", "not_a_number"}
    assert sum(e.code == "duplicate_id" for e in errors) == 2, "both rows of a repeated id are errors"


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_many_small_parts_write_what_one_part_writes(parquet: Path, tmp_path: Path, suffix: str) -> None:
    results = []
    for chunk in (3, 1000):
        out = tmp_path / f"out-{chunk}{suffix}"
        summary = tmp_path / f"summary-{chunk}.csv"
        quiet: dict[str, Any] = {"progress": False, "log": io.StringIO()}
        r = run_batch([parquet], out, rules=RULES, as_of=AS_OF, chunk_rows=chunk, summary_path=summary, **quiet)
        results.append((r, out, summary))
    (small, out_small, sum_small), (one, out_one, sum_one) = results
    assert (small.rows, small.decided, small.errors) == (one.rows, one.decided, one.errors)
    assert small.decided + small.errors == small.rows
    assert out_small.read_bytes() == out_one.read_bytes() if suffix != ".parquet" else True
    if suffix == ".parquet":
        assert_frame_equal(pl.read_parquet(out_small), pl.read_parquet(out_one))
    assert small.errors_file is not None and one.errors_file is not None
    assert small.errors_file.read_bytes() == one.errors_file.read_bytes()
    assert sum_small.read_bytes() == sum_one.read_bytes()
