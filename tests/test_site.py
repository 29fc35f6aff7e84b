"""The rules site: built once per session from the bundled rules and opened in real headless Chromium.

Every page must load without a script error or a failed resource, every link inside the site must
point at a file that exists, the search box must find pages, and the income rule's page must show the
monitoring line of each jurisdiction and year with its source (issue 15, "Done when").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from eligibility.cli import main

from . import cdp

RULES = Path(__file__).resolve().parent.parent / "rules"


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    assert main(["docs", str(RULES), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def browser() -> Iterator[cdp.Browser]:
    if not cdp.available():
        pytest.skip("Chromium is not installed (Debian package chromium; .ci/system.sh installs it)")
    b = cdp.Browser()
    yield b
    b.close()


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_site_has_a_page_per_rule_parameter_pack_and_code(site: Path) -> None:
    from eligibility import load_rules
    from eligibility.errors import CODES

    rules = load_rules(RULES)
    rule_ids = {rid for p in rules.packs.values() for rid in p.rules}
    params = {n for p in rules.packs.values() for n in p.params}
    assert {p.stem for p in (site / "rule").glob("*.html")} == rule_ids
    assert {p.stem for p in (site / "param").glob("*.html")} == params
    assert {p.stem for p in (site / "pack").glob("*.html")} == set(rules.packs)
    assert {p.stem for p in (site / "code").glob("*.html")} == set(CODES)


def test_every_page_renders_in_chromium_without_errors_or_broken_links(site: Path, browser: cdp.Browser) -> None:
    pages = _pages(site)
    assert len(pages) > 100
    problems: list[str] = []
    for page in pages:
        got = browser.open(page.as_uri())
        if got["exceptions"] or got["failed"]:
            problems.append(f"{page.relative_to(site)}: {got}")
            continue
        title, main_text, links = browser.evaluate(
            "[document.title, (document.querySelector('main') || {}).innerText || '',"
            " Array.from(document.querySelectorAll('a[href], link[href], script[src]'))"
            ".map(e => e.href || e.src)]"
        )
        if not title or len(main_text.strip()) < 10:
            problems.append(f"{page.relative_to(site)}: empty page")
        for link in links:
            u = urlparse(link)
            if u.scheme == "file" and not Path(unquote(u.path)).is_file():
                problems.append(f"{page.relative_to(site)}: broken link {link}")
    assert problems == []


def test_browser_check_reports_script_errors_and_missing_files(tmp_path: Path, browser: cdp.Browser) -> None:
    """The check above can fail: a page with a throwing script and a missing style sheet is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><head><link rel="stylesheet" href="nowhere.css"></head>'
        "<body><main>x</main><script>throw new Error('boom')</script></body></html>",
        encoding="utf-8",
    )
    got = browser.open(bad.as_uri())
    assert got["exceptions"] and got["failed"]


def test_search_finds_the_monitoring_line_and_the_income_rule(site: Path, browser: cdp.Browser) -> None:
    browser.open((site / "search.html").as_uri() + "?q=monitoring_line")
    hrefs = browser.evaluate("Array.from(document.querySelectorAll('#results a')).map(a => a.getAttribute('href'))")
    assert "param/monitoring_line.html" in hrefs
    # typing into the live box searches again (Chinese label of the income rule)
    found = browser.evaluate(
        "(() => { const i = document.getElementById('live'); i.value = '低于监测范围';"
        " i.dispatchEvent(new Event('input'));"
        " return Array.from(document.querySelectorAll('#results a')).map(a => a.getAttribute('href')); })()"
    )
    assert "rule/identification.income_below_line.html" in found
    browser.open((site / "search.html").as_uri() + "?q=zzzz-no-such-thing")
    assert browser.evaluate("document.querySelectorAll('#results li').length") == 0


def test_income_rule_page_shows_each_line_by_jurisdiction_and_year_with_its_source(
    site: Path, browser: cdp.Browser
) -> None:
    browser.open((site / "rule" / "identification.income_below_line.html").as_uri())
    text = browser.evaluate("document.querySelector('main').innerText")
    # the condition in readable Chinese and as the YAML of the rule file
    assert "家庭人均纯收入" in text and "低于" in text
    assert "lt: {param: monitoring_line}" in text
    # Gansu: 7,200 in 2023 and 7,800 from 2024 (rules/gansu/parameters), each with its source GS24
    rows = browser.evaluate(
        "Array.from(document.querySelectorAll('table tr')).map(tr => tr.innerText.replace(/\\s+/g, ' '))"
    )
    gansu = [r for r in rows if "[2023-01-01, 2024-01-01)" in r and "7200" in r]
    assert gansu and any("GS24" in r for r in gansu)
    assert any("[2024-01-01," in r and "7800" in r and "GS24" in r for r in rows)
    # the YAML tests that exercise it, with their outcome
    assert "甘肃2024年人均恰好7800元，不因收入纳入" in text


def test_parameter_page_draws_a_timeline_per_jurisdiction(site: Path) -> None:
    html = (site / "param" / "monitoring_line.html").read_text(encoding="utf-8")
    assert "<svg" in html
    assert re.search(r"<title>甘肃省 2024-01-01 – [^<]*: 7,800</title>", html)


def test_pages_hold_no_path_of_this_machine(site: Path) -> None:
    for page in _pages(site):
        assert str(RULES) not in page.read_text(encoding="utf-8"), page


def test_wording_page_shows_each_dated_wording_with_its_sources(site: Path) -> None:
    """Issue 12: the scheme's terms and channels change wording on 2026-01-01; the site shows both, dated."""
    html = (site / "wording.html").read_text(encoding="utf-8")
    for text in ("监测对象", "防止返贫致贫对象", "2026-01-01", "部门筛查预警", "部门大数据预警", "MARA2026"):
        assert text in html
    assert "wording.html" in (site / "index.html").read_text(encoding="utf-8")
