"""The identity index is updated, not rewritten, from month to month — and holds exactly the newest month.

On SQLite :meth:`Store._replace_identities` deletes and inserts only the members that changed and re-marks
the rest with the new run; the result must be the index a rewrite gives: one row per member with an ID or
phone number of the newest run of the jurisdiction, every row carrying that run. Re-running an older month
leaves it alone; re-running the newest rebuilds it. Checked on both backends.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from eligibility import load_rules
from eligibility.batch import read_inputs
from eligibility.monitor.routine import _identities, run_monthly
from eligibility.store import Store

from .conftest import KEY, ROOT, population, write_jsonl

AUG, SEP = date(2023, 8, 31), date(2023, 9, 30)


def _changed(households: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Month 2: a member leaves HB-001, HB-002's head changes phone, HB-004 gains a member who repeats an
    existing member exactly (a repeated row must be kept twice, as a rewrite keeps it)."""
    out = copy.deepcopy(households)
    by_id = {h["household_id"]: h for h in out}
    by_id["HB-001"]["members"] = by_id["HB-001"]["members"][:-1]
    head = by_id["HB-002"]["members"][0]
    head["phone"] = "19911112222"
    twin = copy.deepcopy(by_id["HB-004"]["members"][0])
    by_id["HB-004"]["members"] = [*by_id["HB-004"]["members"], twin]
    return out


def _index(store: Store) -> Counter[tuple[Any, ...]]:
    return Counter(
        store.execute(
            "SELECT jurisdiction, run_id, household_id, region, member_id, id_hash, phone_hash, id_number, phone "
            "FROM identities"
        )
    )


def _expected(path: Path, on: date, run_id: int) -> Counter[tuple[Any, ...]]:
    frame = read_inputs([path], as_of=on).frame
    return Counter(("t", run_id, *row) for row in _identities(frame, KEY, False))


def test_the_index_is_the_newest_month_whatever_came_before(store: Store, tmp_path: Path) -> None:
    rules = load_rules(ROOT / "rules")
    m1 = write_jsonl(population(), tmp_path / "m1.jsonl")
    m2 = write_jsonl(_changed(population()), tmp_path / "m2.jsonl")
    kw: dict[str, Any] = {"store": store, "rules": rules, "key": KEY, "jurisdiction": "t"}
    first = run_monthly([m1], as_of=AUG, out_dir=tmp_path / "o1", **kw)
    assert _index(store) == _expected(m1, AUG, first.run_id)
    second = run_monthly([m2], as_of=SEP, out_dir=tmp_path / "o2", **kw)
    want = _expected(m2, SEP, second.run_id)
    assert _index(store) == want and want != _expected(m1, SEP, second.run_id)
    # an older month run again: the index stays the newest month's
    run_monthly([m1], as_of=AUG, out_dir=tmp_path / "o3", **kw)
    assert _index(store) == want
    # the newest month run again (its run replaced): rebuilt, under the new run
    again = run_monthly([m2], as_of=SEP, out_dir=tmp_path / "o4", **kw)
    assert again.run_id != second.run_id and _index(store) == _expected(m2, SEP, again.run_id)
