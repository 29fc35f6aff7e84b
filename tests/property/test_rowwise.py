"""The row-by-row path of ``decide_table`` against the columnar one (issue 10 §1, §7).

Parts below the threshold are decided by the Python target and turned into the table's rows
(:mod:`eligibility.compile.rowwise`); the result must be the columnar program's frame exactly — every
column, every cell, every type, list items in the same order — on generated mixed populations: every
bundled pack, dates around every effective date, missing values, records without a region, members born
after the assessment date (refused with the table's own text).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from eligibility.compile.polars import decide_table, households_frame
from eligibility.models import parse_household

from ..conftest import population_examples
from .test_compiled import RULESET
from .test_polars_sameness import _member


@st.composite
def _population(draw: st.DrawFn) -> list[tuple[dict[str, Any], date]]:
    population = draw(st.lists(_member(), min_size=1, max_size=30))
    if draw(st.integers(0, 4)) == 0:  # a member born after the assessment date: the row is refused
        data, on = population[0]
        members = data.get("members") or [{"member_id": "m-late"}]
        members[0] = {**members[0], "birth_date": (on + timedelta(days=1)).isoformat()}
        population[0] = ({**data, "members": members}, on)
    return population


@population_examples(25)
@given(_population())
def test_row_by_row_gives_the_columnar_frame(population: list[tuple[dict[str, Any], date]]) -> None:
    frame = households_frame([parse_household(d) for d, _ in population], [on for _, on in population])
    columnar = decide_table(RULESET, frame, rowwise=0)
    by_row = decide_table(RULESET, frame, rowwise=10**9)
    assert_frame_equal(by_row, columnar)  # names, order, dtypes (nested too) and every cell
