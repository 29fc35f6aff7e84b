"""A batch read and decided part by part equals one read and decided whole (issue 10 §5, streaming).

Parquet inputs are read slice by slice (``read_parquet_slice``) and JSON Lines part by part
(``jsonl_index``, ``read_jsonl_part``), so the parts must give the same valid rows and the same errors as
the whole file — a household id repeated in two parts included — and a run of many small parts must
write the same decisions, errors and summary as a run of one part.
"""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from eligibility import Engine, load_rules, parse_household
from eligibility.batch import run_batch
from eligibility.compile.polars import decide_table, households_frame
from eligibility.errors import HouseholdError
from eligibility.io.tables import (
    jsonl_index,
    parquet_repeated_ids,
    read_households,
    read_jsonl_part,
    read_parquet_slice,
)

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


@pytest.fixture(scope="module")
def jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example households four times over (ids made unique) as JSON Lines, with what a careless
    export adds: a blank line, a line that is not JSON, an id on two valid records far apart, an id on
    a valid record and on an invalid one (the valid one is decided), a member born after the date."""
    lines = (ROOT / "examples" / "batch" / "households.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    records = [r for r in records if "household_id" in r]  # the bare records (one line wraps its own date)
    out: list[str] = []
    for k in range(4):
        for r in records:
            out.append(json.dumps({**r, "household_id": f"{r['household_id']}-{k}"}, ensure_ascii=False))
    out[2] = ""  # a blank line: no record
    out[3] = '{"household_id": "HB-x", '  # truncated JSON
    twice = json.loads(out[0])["household_id"]
    out.append(json.dumps({**records[1], "household_id": twice}, ensure_ascii=False))  # valid, repeated
    once = json.loads(out[5])["household_id"]
    out.append(json.dumps({**records[1], "household_id": once, "region": 5}, ensure_ascii=False))  # invalid
    unborn = json.loads(out[7])
    unborn["members"][0]["birth_date"] = "2073-05-01"
    out[7] = json.dumps(unborn, ensure_ascii=False)
    path = tmp_path_factory.mktemp("jsonl") / "households.jsonl"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def test_jsonl_parts_read_as_the_whole_file(jsonl: Path) -> None:
    whole = read_households(jsonl, as_of=AS_OF)
    index = jsonl_index(jsonl, 4, AS_OF)
    assert index.records == whole.total_rows and len(index.starts) == -(-index.records // 4)
    frames, errors = [], []
    for start in index.starts:
        got = read_jsonl_part(jsonl, start, min(4, index.records - start[2]), AS_OF, index.repeated)
        frames.append(got.frame)
        errors += got.errors
    assert_frame_equal(pl.concat(frames), whole.frame)
    key = lambda e: (e.index, e.row, e.column, e.code)  # noqa: E731
    assert sorted(errors, key=key) == sorted(whole.errors, key=key)
    codes = [e.code for e in errors]
    assert codes.count("duplicate_id") == 2, "both valid records of a repeated id, not the invalid one"
    assert "born_after_as_of" in codes and "bad_json" in codes
    assert whole.frame.height + len({e.index for e in errors}) == whole.total_rows


def test_a_jsonl_run_in_many_parts_writes_what_one_part_writes(jsonl: Path, tmp_path: Path) -> None:
    got = []
    for chunk in (3, 1000):
        out = tmp_path / f"out-{chunk}.jsonl"
        r = run_batch([jsonl], out, rules=RULES, as_of=AS_OF, chunk_rows=chunk, progress=False, log=io.StringIO())
        assert r.decided + r.errors == r.rows
        assert r.errors_file is not None
        got.append((r.rows, r.decided, r.errors, out.read_bytes(), r.errors_file.read_bytes()))
    assert got[0] == got[1]


def test_a_member_born_after_the_date_is_refused_as_the_engine_refuses_it(jsonl: Path, tmp_path: Path) -> None:
    """The batch and ``Engine.evaluate`` reject the same record with the same code and JSON path."""
    line = jsonl.read_text(encoding="utf-8").splitlines()[7]
    with pytest.raises(HouseholdError) as info:
        Engine(RULES).evaluate(json.loads(line), AS_OF)
    engine = [(e.path, e.code) for e in info.value.errors]
    assert engine == [("$.members[0].birth_date", "born_after_as_of")]
    read = read_households(jsonl, as_of=AS_OF)
    batch = [(e.column, e.code) for e in read.errors if e.row == 8]
    assert batch == engine
    frame = households_frame([parse_household(line), parse_household(jsonl.read_text("utf-8").splitlines()[0])], AS_OF)
    errors = decide_table(RULES, frame).get_column("error").to_list()
    assert errors[0] is not None and errors[0].startswith("$.members[0].birth_date: ")
    assert errors[0].endswith("(born_after_as_of)") and errors[1] is None


def test_a_parquet_member_born_after_the_date_is_an_error_naming_path_and_code(tmp_path: Path) -> None:
    frame = read_households(ROOT / "examples" / "batch" / "households.jsonl", as_of=AS_OF).frame
    births = frame.get_column("members").to_list()
    births[0][1]["birth_date"] = date(2073, 5, 1)
    frame = frame.with_columns(pl.Series("members", births, dtype=frame.schema["members"])).drop("_row", "as_of")
    path = tmp_path / "households.parquet"
    frame.write_parquet(path)
    out = tmp_path / "out.jsonl"
    r = run_batch([path], out, rules=RULES, as_of=AS_OF, progress=False, log=io.StringIO())
    assert (r.decided, r.errors) == (frame.height - 1, 1)
    assert r.errors_file is not None
    (error,) = [json.loads(line) for line in r.errors_file.read_text("utf-8").splitlines()]
    assert "born_after_as_of" in error.values() and "$.members[1].birth_date" in error.values()


def test_a_parquet_run_of_many_parts_copies_them_into_the_output(
    parquet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A Parquet output of several parts is its parts' row groups copied one after the other
    # (io/parquet_join.py): the same table as joining them by decoding, which is still the way for
    # parts the copy declines; a run stopped after the copy resumes to the same bytes.
    from eligibility import batch
    from eligibility.io import parquet_join

    quiet: dict[str, Any] = {"rules": RULES, "as_of": AS_OF, "progress": False, "log": io.StringIO(), "chunk_rows": 4}
    copied: list[bool] = []

    def spy(files: Any, out: Path) -> bool:
        copied.append(parquet_join.join_parquet(files, out))
        return copied[-1]

    monkeypatch.setattr(batch, "join_parquet", spy)
    out = tmp_path / "copied.parquet"
    result = run_batch([parquet], out, **quiet)
    assert copied == [True]
    monkeypatch.setattr(batch, "join_parquet", lambda files, out: False)
    decoded = tmp_path / "decoded.parquet"
    again = run_batch([parquet], decoded, **quiet)
    assert (result.rows, result.decided, result.errors) == (again.rows, again.decided, again.errors)
    assert result.errors > 0 and result.decided + result.errors == result.rows
    table = pl.read_parquet(out)
    assert_frame_equal(table, pl.read_parquet(decoded))
    assert table.height == result.decided and table.get_column("error").null_count() == table.height
    assert table.get_column("_row").is_sorted()
    # stopped after the output was copied (before the summaries merged): resumed to the same bytes
    monkeypatch.setattr(batch, "join_parquet", parquet_join.join_parquet)

    class Stop(Exception):
        pass

    def stop(*_: object) -> None:
        raise Stop

    stopped = tmp_path / "stopped.parquet"
    with monkeypatch.context() as mp, pytest.raises(Stop):
        mp.setattr(batch, "_merge_summaries", stop)
        run_batch([parquet], stopped, **quiet)
    resumed = run_batch([parquet], stopped, resume=True, **quiet)
    assert stopped.read_bytes() == out.read_bytes()
    assert (resumed.rows, resumed.decided, resumed.errors) == (result.rows, result.decided, result.errors)


def test_repeated_ids_are_exactly_the_ids_on_more_than_one_row(parquet: Path, tmp_path: Path) -> None:
    """``parquet_repeated_ids`` (hashes sorted and compared with their neighbours, session 21) names every id
    on two or more rows after the reader's trimming — three rows, two rows, rows far apart — and no id on
    one row, nor the missing id (null or blank), however often it occurs."""
    frame = pl.read_parquet(parquet)
    ids: list[str | None] = [f"H{i:05d}" for i in range(frame.height)]
    ids[3] = ids[7] = ids[frame.height - 1] = "THREE"
    ids[5] = " TWO"  # the reader trims an id: " TWO" and "TWO " are one id
    ids[frame.height - 2] = "TWO "
    ids[1] = ids[2] = None
    ids[4] = ids[6] = "   "  # blank: no id, not a repeated one
    path = tmp_path / "ids.parquet"
    frame.with_columns(pl.Series("household_id", ids, dtype=pl.String)).write_parquet(path)
    assert parquet_repeated_ids(path) == {"THREE", "TWO"}
    unique = tmp_path / "unique.parquet"
    frame.with_columns(pl.Series("household_id", [f"U{i}" for i in range(frame.height)])).write_parquet(unique)
    assert parquet_repeated_ids(unique) == set()
