"""The columnar lists (eligibility.monitor.lists) against the household-by-household oracle (reference.py).

The routine's lists became polars joins and group-bys for speed at 淮北's scale (issue 14 §6). These tests
draw random months from the decisions of the example households — each household gets another
household's decided state, a monitoring status, maybe no previous run or an error last month, and the
month's department leads — and require the frames to equal, row for row and field for field, what the
previous Python implementation builds from the same months: change lists (every kind, category and risk
changes included), the visit list, the focus flags and the quarter's focus list.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from eligibility import load_rules
from eligibility.batch import read_inputs
from eligibility.monitor.lists import changes_frame, flags_frame, focus_frame, visits_frame
from eligibility.monitor.routine import _STATE_COLUMNS, CHANGE_KINDS, ELIMINATED, MONITORED, VISIT_REASONS, _decide
from eligibility.ruleset import RuleSet

from . import reference
from .conftest import ROOT, month_two, population, write_jsonl

SEP = date(2023, 9, 30)
STATUSES = [MONITORED, MONITORED, ELIMINATED, ELIMINATED, "未纳入监测", None]
REGIONS = ["340602001001", "340602001002", "340603002001", "3406", None]
OFFICERS = ["驻村工作队员甲", "村干部乙", None]


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(ROOT / "rules")


@pytest.fixture(scope="module")
def pool(rules: RuleSet, tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """The decided states of the example households in two months (the pool months are drawn from)."""
    tmp = Path(tmp_path_factory.mktemp("pool"))
    states = []
    for name, households in (("m1", population()), ("m2", month_two(population()))):
        frame = read_inputs([write_jsonl(households, tmp / f"{name}.jsonl")], as_of=SEP).frame
        decisions = _decide(rules, frame, SEP).filter(pl.col("error").is_null())
        states.append(decisions.select(_STATE_COLUMNS))
    # The examples' warnings and gaps are undecided without a history; a copy where they hold makes the
    # certain ones (warning changes, visit reasons, focus flags) occur too.
    certain = pl.element().struct.with_fields(pl.lit(True).alias("certain"))
    sure = states[-1].with_columns(pl.col(c).list.eval(certain) for c in ("warnings", "gaps"))
    return pl.concat([*states, sure])


def _month(rng: random.Random, pool: pl.DataFrame, ids: list[str]) -> pl.DataFrame:
    picks = [rng.randrange(pool.height) for _ in ids]
    head = pl.DataFrame(
        {
            "household_id": ids,
            "region": [rng.choice(REGIONS) for _ in ids],
            "monitoring_status": [rng.choice(STATUSES) for _ in ids],
            "responsible": [rng.choice(OFFICERS) for _ in ids],
        },
        schema={
            "household_id": pl.String,
            "region": pl.String,
            "monitoring_status": pl.String,
            "responsible": pl.String,
        },
    )
    return pl.concat([head, pool[picks]], how="horizontal")


def _households(frame: pl.DataFrame, decided: bool = True) -> list[reference.Household]:
    out = []
    for row in frame.to_dicts():
        state = {c: row[c] for c in _STATE_COLUMNS} if decided and row["status"] is not None else None
        out.append(
            reference.Household(
                row["household_id"], row.get("region"), row["monitoring_status"], state, row.get("responsible")
            )
        )
    return out


def _leads(rng: random.Random, ids: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "household_id": rng.choice([*ids, "X-404"]),
            "region": rng.choice(REGIONS),
            "reason": f"医保个人自付 {k}",
            "rule": "feed.medical",
            "channel": "部门大数据预警",
            "verify_by": rng.choice(["2023-10-15", None]),
        }
        for k in range(rng.randrange(4))
    ]


@pytest.mark.parametrize("seed", range(12))
def test_the_columnar_lists_equal_the_household_by_household_ones(
    rules: RuleSet, pool: pl.DataFrame, seed: int
) -> None:
    rng = random.Random(seed)
    ids = [f"H-{i:03d}" for i in range(40)]
    now = _month(rng, pool, ids)
    # Last month: some households absent, some were errors (no state), one no longer here.
    before_ids = [i for i in ids if rng.random() < 0.8] + ["GONE-1"]
    before = _month(rng, pool, before_ids)
    failed = pl.Series([rng.random() < 0.1 for _ in before_ids])
    before = before.with_columns(pl.when(failed).then(None).otherwise(pl.col(c)).alias(c) for c in _STATE_COLUMNS).drop(
        "region"
    )
    # This month's errors are stored households without a decision: not in the lists, but a lead names
    # their region.
    errors = [i for i in ids if rng.random() < 0.1]
    cur = now.filter(~pl.col("household_id").is_in(errors))
    leads = _leads(rng, ids)
    ref_now = _households(cur) + [h for h in _households(now, decided=False) if h.household_id in errors]
    ref_before = {h.household_id: h for h in _households(before)}
    prev = before if seed % 4 else None  # a first month too
    got = changes_frame(rules, cur, prev, leads, CHANGE_KINDS).to_dicts()
    want = reference.compare(rules, ref_now, ref_before if prev is not None else {}, leads)
    assert got == want
    everyone = now.select("household_id", "region", "responsible")
    assert visits_frame(rules, cur, everyone, leads, VISIT_REASONS).to_dicts() == reference.visits(
        rules, ref_now, leads
    )
    flags = flags_frame(cur)
    assert [list(r) for r in flags.iter_rows()] == reference._flags(ref_now)
    earlier = flags_frame(
        before.filter(pl.col("status").is_not_null()).with_columns(pl.lit("340602001009").alias("region"))
    )
    runs = [(date(2023, 8, 31), [list(r) for r in earlier.iter_rows()]), (SEP, [list(r) for r in flags.iter_rows()])]
    got_focus = focus_frame(
        rules, [(on.isoformat(), pl.DataFrame(f, schema=list(flags.columns), orient="row")) for on, f in runs]
    )
    assert got_focus.to_dicts() == reference.focus_list(rules, runs)


def test_the_draws_reach_every_change_kind(rules: RuleSet, pool: pl.DataFrame) -> None:
    """The random months above are worth their salt: between them, every kind of change occurs."""
    seen: set[str] = set()
    for seed in range(12):
        rng = random.Random(seed)
        ids = [f"H-{i:03d}" for i in range(40)]
        now, before = _month(rng, pool, ids), _month(rng, pool, ids)
        seen |= set(changes_frame(rules, now, before, _leads(rng, ids), CHANGE_KINDS).get_column("change"))
    assert seen == set(CHANGE_KINDS)
