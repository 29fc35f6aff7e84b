"""The county report opens in a real headless Chromium, offline, with its charts drawn (issue 14 §5)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from eligibility import load_rules
from eligibility.monitor.report import write_report
from eligibility.monitor.routine import run_monthly
from eligibility.store import Store

from ..cdp import HEADLESS_FLAGS
from .conftest import KEY, ROOT, month_two, population, write_jsonl
from .test_monitor import AUG, SEP

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/system.sh installs it)")
    flags = [
        *HEADLESS_FLAGS,
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        # No network at all: any request to a host fails, so the page must be self-contained.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=10000",
        "--window-size=1400,2400",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180)


def test_the_report_renders_offline_with_its_numbers_and_charts(store: Store, tmp_path: Path) -> None:
    rules = load_rules(ROOT / "rules")
    kw = {"store": store, "rules": rules, "key": KEY, "jurisdiction": "test"}
    run_monthly([write_jsonl(population(), tmp_path / "m1.jsonl")], as_of=AUG, out_dir=tmp_path / "o1", **kw)
    second = run_monthly(
        [write_jsonl(month_two(population()), tmp_path / "m2.jsonl")], as_of=SEP, out_dir=tmp_path / "o2", **kw
    )
    page = write_report(store, SEP, tmp_path / "report.html")
    text = page.read_text(encoding="utf-8")
    assert get_plotlyjs() in text  # plotly.js is inside the file…
    assert not re.search(
        r"<script[^>]*\bsrc=|<link[^>]*\bhref=", text.replace(get_plotlyjs(), "")
    )  # …and nothing is fetched

    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout

    def kpi(name: str) -> str:
        found = re.search(rf"id=\"kpi-{name}\">([^<]*)<", html)
        assert found, name
        return found.group(1)

    assert kpi("households") == str(len(population()))
    assert kpi("identified") == "5"  # HB-001, HB-002, HB-003, GS-012, HB-017
    assert kpi("visits") == str(len(second.visits))
    assert "防止返贫动态监测月报" in html and "2023-09-30" in html
    # plotly.js ran: each chart's div holds its drawn SVG, with one bar per town / point per month.
    for chart in ("chart-town", "chart-village", "chart-trend"):
        start = html.index(f'id="{chart}"')
        block = html[start : start + 200_000]
        assert 'class="main-svg"' in block, chart
    town = html[html.index('id="chart-town"') :]
    town = town[: town.index('id="chart-village"')]
    assert town.count('class="point"') >= 3  # stacked bars: several statuses over the towns
    for hid in (v["household_id"] for v in second.visits):
        assert hid in html

    shot = tmp_path / "report.png"
    got = chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    assert got.returncode == 0 and shot.exists(), got.stderr[-2000:]
    assert shot.stat().st_size > 50_000  # a drawn page; a blank one of this size compresses to a few KB
