"""Fixtures of the store, routine, feed and report tests: a store on each backend and a two-month population."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eligibility.store import IdentityKey, Store, open_store

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples" / "households"
KEY = IdentityKey("test-key-0123456789abcdef")
PG_ENV = "ELIGIBILITY_TEST_POSTGRES_URL"


def _pg_database(base: str) -> Iterator[str]:
    """A database of its own for one test on the CI server; dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    head, _, _ = base.rpartition("/")
    try:
        yield f"{head}/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store: a SQLite file, or a new database on the PostgreSQL server of the test run."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (.ci/run starts a PostgreSQL server and sets it)")
    yield from _pg_database(base)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as s:
        yield s


def example(name: str) -> dict[str, Any]:
    path = next(EXAMPLES.glob(f"{name}-*.json"))
    data = json.loads(path.read_text(encoding="utf-8"))
    return data.get("household", data)  # type: ignore[no-any-return]


def population() -> list[dict[str, Any]]:
    """The example households (examples/households), one per file, as month 1 (2023-08) has them — those
    made for assessments from 2025 on (the 2026 scheme's examples) belong to other months and are left out."""
    out = []
    for path in sorted(EXAMPLES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if str(data.get("as_of", "")) >= "2025":
            continue
        out.append(data.get("household", data))
    # 15: marked eliminated last month (so that month 2 can show it re-entering).
    h15 = next(h for h in out if h["household_id"] == "HB-015")
    h15["monitoring"] = {
        **h15["monitoring"],
        "status": "风险已消除",
        "risk_eliminated_on": "2023-08-20",
        "elimination_method": "帮扶消除",
    }
    return out


def month_two(households: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Month 2: 13 marked eliminated, 15 back under monitoring, 03's wage lower (below the line)."""
    out = copy.deepcopy(households)
    by_id = {h["household_id"]: h for h in out}
    by_id["HB-013"]["monitoring"] = {
        **by_id["HB-013"]["monitoring"],
        "status": "风险已消除",
        "risk_eliminated_on": "2023-09-20",
        "elimination_method": "帮扶消除",
    }
    by_id["HB-015"]["monitoring"] = {**by_id["HB-015"]["monitoring"], "status": "监测中"}
    by_id["HB-015"]["monitoring"].pop("risk_eliminated_on", None)
    by_id["HB-015"]["monitoring"].pop("elimination_method", None)
    by_id["HB-003"]["income"] = {**by_id["HB-003"]["income"], "wage": 5000}
    return out


def year_before(households: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same households a year earlier (2022-09): same incomes as month 1, the 12-month window a year
    back, nobody yet identified in 2023 under monitoring, no procedure events. Run before the two months,
    it gives month 2 a household's previous-year income from the store (issue 14 §3): HB-003's lower wage
    in month 2 is then a certain 收入下降 warning instead of an undecided one."""
    out = copy.deepcopy(households)
    for h in out:
        if (h.get("monitoring") or {}).get("identified_on", "") > "2022-09-30":
            h["monitoring"] = {"status": "未纳入监测"}
        h.pop("procedure", None)
        h.pop("history", None)  # the assessments an example carries are later than a year before
        if h.get("income"):
            h["income"] = {**h["income"], "window_start": "2021-09-01", "window_end": "2022-08-31"}
    return out


def write_jsonl(households: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(h, ensure_ascii=False) + "\n" for h in households), encoding="utf-8")
    return path
