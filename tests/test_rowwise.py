"""The row-by-row path of ``decide_table`` (compile/rowwise.py): the frame → Household converter, the
threshold, and the parts it must leave to the columnar program.

The converter is the way back from ``households_frame``: a frame row turned into a household and that
household into a frame row again must give the same row, cell for cell and type for type — on the
shipped hypothesis strategies and on the frames each input format's reader gives (examples/batch/).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from eligibility import strategies as els
from eligibility.compile.polars import OUTPUT_SCHEMA, households_frame
from eligibility.compile.rowwise import ROWWISE_ENV, ROWWISE_ROWS, decide_rows, households_of, rows_frame, rowwise_rows
from eligibility.io.tables import read_households
from eligibility.models import Household, parse_household
from eligibility.ruleset import RuleSet

from .conftest import ROOT

ON = date(2023, 9, 30)
EXAMPLES = ROOT / "examples" / "batch"


def _round_trip(frame: pl.DataFrame) -> pl.DataFrame:
    households = households_of(frame)
    assert households is not None
    return households_frame(households, frame.get_column("as_of").to_list()).with_columns(frame.get_column("_row"))


@settings(max_examples=60)
@given(st.lists(els.households(), min_size=1, max_size=6))
def test_frames_of_generated_households_come_back_the_same(households: list[Household]) -> None:
    frame = households_frame(households, ON)
    assert_frame_equal(_round_trip(frame), frame)


@pytest.mark.parametrize("name", ["households.csv", "households.jsonl", "households.xlsx", "households.parquet"])
def test_frames_of_every_input_format_come_back_the_same(name: str, tmp_path: Path) -> None:
    path = EXAMPLES / name
    if name.endswith(".parquet"):  # no Parquet example ships: the CSV example's frame, written as run_batch reads it
        path = tmp_path / name
        read_households(EXAMPLES / "households.csv", as_of=ON).frame.drop("_row").write_parquet(path)
    frame = read_households(path, as_of=ON).frame
    assert frame.height == 6
    assert frame.get_column("members").list.len().sum() > 0  # the nested tables came along
    assert_frame_equal(_round_trip(frame), frame)


def test_cells_reach_the_models_as_they_are() -> None:
    """Money keeps its column's scale, the litres their ten decimals, dates and codes their values; a set
    of codes becomes the models' frozenset, a list of dates their tuple, absent sections stay absent."""
    data = {
        "household_id": "h1",
        "region": "340602000000",
        "income": {"wage": "1234.5"},
        "water": {"litres_per_person_day": "62.25"},
        "members": [
            {"member_id": "m1", "birth_date": "1970-01-02", "health": ["残疾", "长期慢性病"], "labour": "普通劳动力"}
        ],
        "procedure": {"visits": ["2023-01-05", "2023-02-06"]},
        "monitoring": {"risks": ["因学", "因病"], "measures": []},
    }
    frame = households_frame([parse_household(data)], ON)
    (h,) = households_of(frame) or []
    assert h.income is not None and str(h.income.wage) == "1234.50"
    assert h.water is not None and h.water.litres_per_person_day == Decimal("62.25")
    assert h.members is not None and h.members[0].birth_date == date(1970, 1, 2)
    assert h.members[0].health is not None and {x.value for x in h.members[0].health} == {"残疾", "长期慢性病"}
    assert h.procedure is not None and h.procedure.visits == (date(2023, 1, 5), date(2023, 2, 6))
    assert h.monitoring is not None and [r.value for r in h.monitoring.risks or ()] == ["因学", "因病"]
    assert h.monitoring.measures == ()  # known empty, not unknown
    assert h.housing is None and h.history is None
    assert h.members[0].name is None and "name" not in h.members[0].model_fields_set


def test_nothing_is_coerced() -> None:
    """A value the models refuse is refused here too (the table then decides the part columnar), and a
    frame without a column of the contract, or with one of another type, is not converted at all."""
    frame = households_frame([parse_household({"household_id": "h1", "members": [{"member_id": "m1"}]})], ON)
    bad = frame.with_columns(
        pl.lit([{**frame.get_column("members")[0][0], "disability_grade": 9}])
        .cast(frame.schema["members"])
        .alias("members")
    )
    with pytest.raises(ValidationError):
        households_of(bad)
    assert households_of(frame.drop("loan.amount")) is None
    assert households_of(frame.with_columns(pl.col("loan.term_months").cast(pl.Float64))) is None
    assert households_of(frame.with_columns(pl.col("as_of").cast(pl.Datetime))) is None


def test_the_threshold_and_its_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ROWWISE_ENV, raising=False)
    assert rowwise_rows() == ROWWISE_ROWS
    assert rowwise_rows(0) == 0 and rowwise_rows(25) == 25
    monkeypatch.setenv(ROWWISE_ENV, "7")
    assert rowwise_rows() == 7 and rowwise_rows(3) == 3
    for wrong in ("-1", "many", "1.5"):
        monkeypatch.setenv(ROWWISE_ENV, wrong)
        with pytest.raises(ValueError, match=ROWWISE_ENV):
            rowwise_rows()
    with pytest.raises(ValueError):
        rowwise_rows(-1)


def test_decision_rows_come_in_the_tables_types(ruleset: RuleSet) -> None:
    """``rows_frame`` builds the nested columns itself (decide_table's shaping cast would hide a wrong
    inner type, so it is checked here, before it)."""
    frame = read_households(EXAMPLES / "households.csv", as_of=ON).frame
    pack = ruleset.pack_for_region(frame.get_column("region")[0])
    part = frame.filter(pl.col("region").map_elements(ruleset.pack_for_region, return_dtype=pl.String) == pack)
    rows = decide_rows(ruleset, ruleset.chain(pack), part)
    assert rows is not None and len(rows) == part.height
    table = rows_frame(rows)
    assert table.schema == pl.Schema(OUTPUT_SCHEMA)
    assert table.get_column("_row").to_list() == part.get_column("_row").to_list()
