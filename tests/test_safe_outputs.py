"""Safe outputs where a household's own text is shown (issue 13 §5), in process and quick.

A household id or member id is the county's key and comes back by design — but on a terminal it must stay
on its line (a line break in it would print a line that reads as another household's summary, or a line
of the explanation), and in a what-if report's CSV or Excel it must not run as a formula. The slow,
end-to-end forms over every output are in ``tests/fuzz/test_output_formats.py`` (``make fuzz``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from eligibility import load_rules
from eligibility._safe import inline, printable, spreadsheet_cell
from eligibility.cli import main
from eligibility.whatif import impact, render_markdown, write_report

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "households" / "01-huaibei-marginal.json"
FORGED = "X\n    HB-999 [淮北市] identified 伪造\r\x1b[31m\u202e"


def _hostile(tmp_path: Path) -> Path:
    h = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    h["household_id"] = FORGED
    h["members"][1]["member_id"] = "2\n  • 伪造的一行"
    path = tmp_path / "h.json"
    path.write_text(json.dumps(h, ensure_ascii=False), encoding="utf-8")
    return path


def test_inline_escapes_what_printable_keeps() -> None:
    assert printable("a\nb\tc\x1b") == "a\nb\tc\\u001b"
    assert inline("a\nb\tc\x1b\u2028\u202e王") == "a\\u000ab\\u0009c\\u001b\\u2028\\u202e王"
    assert spreadsheet_cell("\t=1+1") == "' =1+1" and spreadsheet_cell("x\n=1") == "x =1"


@pytest.mark.parametrize("command", [["evaluate", "--summary"], ["explain"], ["explain", "--lang", "en"]])
def test_an_id_with_a_line_break_stays_on_its_line(tmp_path: Path, capsys: Any, command: list[str]) -> None:
    main([*command, str(_hostile(tmp_path)), "--as-of", "2023-09-30"])
    out = capsys.readouterr().out
    assert "X\\u000a    HB-999 [淮北市] identified 伪造\\u000d\\u001b[31m\\u202e" in out
    assert not any(line.lstrip().startswith(("HB-999", "• 伪造")) for line in out.splitlines())
    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    if command[0] == "explain":
        assert "2\\u000a  • 伪造的一行" in out


def test_the_decision_itself_keeps_the_id(tmp_path: Path, capsys: Any) -> None:
    main(["evaluate", str(_hostile(tmp_path)), "--as-of", "2023-09-30", "--jsonl"])
    record = json.loads(capsys.readouterr().out)
    assert record["decision"]["household_id"] == FORGED


def test_the_what_if_report_cannot_run_or_forge_rows(tmp_path: Path, capsys: Any) -> None:
    """Households whose ids are formulas and line breaks, decided on two dates of one rule set (the lines
    change between them, so the ids reach the report's tables of changed households)."""
    base = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    ids = ['=HYPERLINK("http://x")', "+1", "-1", "@SUM(A1)", "\t=1", "a\nb|c\r\n=2"]
    path = tmp_path / "population.jsonl"
    rows = []
    for i, hid in enumerate(ids):
        h = json.loads(json.dumps(base))
        h["household_id"], h["income"]["wage"] = hid, 9000 + 10 * i
        rows.append(json.dumps(h, ensure_ascii=False))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    rules = load_rules(ROOT / "rules")
    imp = impact([path], rules, rules, date(2023, 9, 30), date(2021, 9, 30))
    assert len(imp.changes) == len(ids)  # every household moves: the report lists all of them
    md = render_markdown(imp)
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in table)  # no row cut short by an id's line break
    assert any(line.startswith("| a b\\|c  =2 |") for line in table)
    write_report(imp, tmp_path / "r.csv")
    cells = [c for row in csv.reader(io.StringIO((tmp_path / "r.csv").read_text("utf-8-sig"))) for c in row]
    assert '\'=HYPERLINK("http://x")' in cells and "' =1" in cells
    assert not [c for c in cells if re.match(r"^ *[=+\-@]", c) or "\n" in c or "\r" in c]
    write_report(imp, tmp_path / "r.xlsx")
    with zipfile.ZipFile(tmp_path / "r.xlsx") as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".xml"))
    assert not re.search(r"<f[ >]", xml)
    assert not [t for t in re.findall(r"<t(?: [^>]*)?>([^<]*)</t>", xml) if re.match(r"^ *[=+\-@]", t)]
    main(["diff", str(ROOT / "rules"), "--population", str(path), "--as-of", "2023-09-30", "--vs-as-of", "2021-09-30"])
    out = capsys.readouterr().out
    assert "\r" not in out and all(line.endswith("|") for line in out.splitlines() if line.startswith("|"))


def test_the_rules_site_escapes_what_a_rule_file_says(tmp_path: Path) -> None:
    """Policy staff edit the rule files, and a label is shown on every page that names it: markup in a
    label is text on the site, never an element (the site is opened on county intranets)."""
    from eligibility.site import build_site

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    risks = rules / "national" / "identification" / "risk_types.yaml"
    text = risks.read_text(encoding="utf-8")
    label = "{zh: 因病：成员患大病或长期慢性病且有合规自付医疗支出, en: Illness"
    assert label in text
    hostile = "'<script>alert(1)</script>\"&<img src=x onerror=alert(2)>'"
    risks.write_text(text.replace(label, f"{{zh: {hostile}, en: Illness"), "utf-8")
    built = build_site(rules, tmp_path / "site", tests=False)
    pages = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "site").rglob("*.html"))
    assert built.pages and "&lt;script&gt;alert(1)&lt;/script&gt;" in pages
    assert "<script>alert(1)" not in pages and "<img src=x" not in pages
