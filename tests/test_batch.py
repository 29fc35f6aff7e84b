"""``eligibility batch``: tables in, decisions and errors out, summary, progress, resume after a kill."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from eligibility import Engine, batch, load_rules
from eligibility.batch import run_batch
from eligibility.cli import main
from eligibility.io.tables import read_households

ROOT = Path(__file__).resolve().parent.parent
BATCH = ROOT / "examples" / "batch"
RULES = load_rules(ROOT / "rules")


def _csv(path: Path) -> list[dict[str, str]]:
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf", "CSV for Excel and WPS starts with the UTF-8 BOM"
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_the_excel_template_gives_a_chinese_csv_and_every_row_is_accounted_for(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    text = io.StringIO()
    code = main(
        [
            "batch",
            str(BATCH / "households.xlsx"),
            "--as-of",
            "2023-09-30",
            "-o",
            str(out),
            "--summary",
            str(tmp_path / "s.md"),
        ],
        out=text,
    )
    rows = _csv(out)
    assert "户编号" in rows[0] and "认定结论" in rows[0]
    ids = [r["户编号"] for r in rows]
    assert ids == ["HB-001", "GS-006", "GS-010", "HB-013", "HB-017", "WX-018"]
    assert code == 0 and "6 行：6 个决定，0 个错误" in text.getvalue()
    assert "| 合计 | 评估户数 |" in (tmp_path / "s.md").read_text(encoding="utf-8")


def test_batch_decisions_are_the_engines(tmp_path: Path) -> None:
    """The columnar path and the per-household evaluator decide the templates' households alike."""
    out = tmp_path / "out.parquet"
    run_batch(
        [BATCH / "households.jsonl"], out, rules=RULES, as_of=date(2023, 9, 30), progress=False, log=io.StringIO()
    )
    got = pl.read_parquet(out).sort("_row")
    engine = Engine(RULES)
    lines = (BATCH / "households.jsonl").read_text(encoding="utf-8").splitlines()
    for line, row in zip(lines, got.iter_rows(named=True), strict=True):
        data = json.loads(line)
        on = date(2023, 9, 30)
        if set(data) == {"as_of", "household"}:
            on, data = date.fromisoformat(data["as_of"]), data["household"]
        d = engine.evaluate(data, on, trace="none")
        assert row["household_id"] == d.household_id
        assert row["status"] == d.identification.status
        assert row["category"] == (d.identification.category.code if d.identification.category else None)
        assert [r["code"] for r in row["risks"]] == [r.code for r in d.identification.risks]
        assert row["exit_status"] == d.exit.status


def test_a_jurisdiction_without_a_line_is_decided_except_what_needs_the_line(tmp_path: Path) -> None:
    """淮北 has no monitoring line for 2024 in the bundled rules: its rows are still decided (warnings,
    procedure findings) with the income-dependent conclusions undecided and the parameter named; the
    gap is reported once per jurisdiction, not per household, and the run exits non-zero."""
    out = tmp_path / "out.csv"
    text = io.StringIO()
    code = main(["batch", str(BATCH / "households.xlsx"), "--as-of", "2024-06-30", "-o", str(out)], out=text)
    assert code == 1
    rows = {r["户编号"]: r for r in _csv(out)}
    assert set(rows) == {"HB-001", "GS-006", "GS-010", "HB-013", "HB-017", "WX-018"}
    assert not (tmp_path / "out.errors.csv").exists()
    huaibei = {k: r for k, r in rows.items() if k.startswith("HB-")}
    assert all("monitoring_line" in r["缺少参数（配置缺口）"] for r in huaibei.values())
    assert all(r["缺少参数（配置缺口）"] == "" for k, r in rows.items() if not k.startswith("HB-"))
    assert huaibei["HB-017"]["程序问题"], "procedure findings survive the missing line"
    gap_lines = [line for line in text.getvalue().splitlines() if line.startswith("配置缺口")]
    assert len(gap_lines) == 1 and "monitoring_line" in gap_lines[0] and "3 户" in gap_lines[0]


def test_bad_rows_get_one_error_each_naming_row_and_column(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    main(
        ["batch", str(BATCH / "households-with-errors.csv"), "--as-of", "2023-09-30", "-o", str(out)], out=io.StringIO()
    )
    errors = _csv(tmp_path / "out.errors.csv")
    assert errors and all(e["行号"] and e["列"] for e in errors if e["错误代码"] != "evaluation")
    source = _csv_rows(BATCH / "households-with-errors.csv")
    decided = {r["户编号"] for r in _csv(out)}
    bad = {e["户编号"] for e in errors}
    assert {r["户编号"] for r in source if r["户编号"]} <= decided | bad | {""}
    assert not decided & bad


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


KILLER = """
import os, signal, sys
from datetime import date
from pathlib import Path
from typing import Any
from eligibility import load_rules
from eligibility import batch
from eligibility.batch import run_batch

def die(part):
    if part == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)

run_batch([Path(sys.argv[1])], Path(sys.argv[2]), rules=load_rules(sys.argv[4]), as_of=date(2023, 9, 30),
          chunk_rows=2, progress=False, resume=sys.argv[5] == "resume", after_part=die)
"""


def test_a_run_killed_midway_resumes_with_no_duplicate_and_no_loss(tmp_path: Path) -> None:
    src = BATCH / "households.jsonl"
    out = tmp_path / "out.parquet"
    script = tmp_path / "kill.py"
    script.write_text(KILLER, encoding="utf-8")
    killed = subprocess.run(
        [sys.executable, str(script), str(src), str(out), "1", str(ROOT / "rules"), "fresh"],
        capture_output=True,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    manifest = json.loads((tmp_path / "out.parquet.parts" / "manifest.json").read_text(encoding="utf-8"))
    assert [p["part"] for p in manifest["parts"]] == [0, 1] and not out.exists()
    result = run_batch(
        [src], out, rules=RULES, as_of=date(2023, 9, 30), chunk_rows=2, progress=False, resume=True, log=io.StringIO()
    )
    assert result.resumed_parts == 2
    resumed = pl.read_parquet(out)
    clean = tmp_path / "clean.parquet"
    run_batch([src], clean, rules=RULES, as_of=date(2023, 9, 30), chunk_rows=2, progress=False, log=io.StringIO())
    assert resumed["_row"].to_list() == sorted(set(resumed["_row"].to_list()))
    assert resumed.equals(pl.read_parquet(clean))


def test_resume_refuses_a_run_whose_inputs_changed(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text((BATCH / "households.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "out.parquet"
    parts = tmp_path / "out.parquet.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text(json.dumps({"run": "sha256:other", "parts": []}), encoding="utf-8")
    with pytest.raises(ValueError, match="resume"):
        run_batch([src], out, rules=RULES, as_of=date(2023, 9, 30), resume=True, progress=False, log=io.StringIO())
    assert os.path.exists(parts / "manifest.json")


class _Stop(Exception):
    """What ``after_part`` raises to stop a run in this process, where a kill would stop it."""


def _stop_after(last: int | None) -> Callable[..., None]:
    """An ``after_part`` that stops the run once part ``last`` is done (``None``: at the first call)."""

    def stop(part: object = None, *_: object) -> None:
        if last is None or part == last:
            raise _Stop

    return stop


def test_a_csv_run_resumes_over_its_own_parts_and_an_earlier_versions(tmp_path: Path) -> None:
    # A CSV output keeps each part as its piece of the output; a run begun by an earlier version kept the
    # part's decisions (Arrow IPC or Parquet) and no outcome in its errors file. Either way a resumed run
    # writes the very bytes (and errors file) of a run never stopped.
    src = BATCH / "households.jsonl"
    on = date(2023, 9, 30)
    clean = tmp_path / "clean.csv"
    whole = run_batch([src], clean, rules=RULES, as_of=on, chunk_rows=2, progress=False, log=io.StringIO())
    out = tmp_path / "out.csv"
    with pytest.raises(_Stop):
        run_batch([src], out, rules=RULES, as_of=on, chunk_rows=2, progress=False, after_part=_stop_after(1))
    parts = tmp_path / "out.csv.parts"
    manifest = json.loads((parts / "manifest.json").read_text(encoding="utf-8"))
    assert [p["file"] for p in manifest["parts"]] == ["part-00000.csv", "part-00001.csv"]
    # part 0 as an earlier version wrote it: its decisions (an Excel run still keeps them), no outcome
    old = tmp_path / "old.xlsx"
    with pytest.raises(_Stop):
        run_batch([src], old, rules=RULES, as_of=on, chunk_rows=2, progress=False, after_part=_stop_after(1))
    pl.read_ipc(tmp_path / "old.xlsx.parts" / "part-00000.arrow").write_parquet(parts / "part-00000.parquet")
    (parts / "part-00000.csv").unlink()
    del manifest["parts"][0]["render"]
    manifest["parts"][0]["file"] = "part-00000.parquet"
    (parts / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    errors = parts / "part-00000.errors.json"
    errors.write_text(json.dumps({"errors": json.loads(errors.read_text("utf-8"))["errors"]}), encoding="utf-8")
    result = run_batch([src], out, rules=RULES, as_of=on, chunk_rows=2, progress=False, resume=True, log=io.StringIO())
    assert result.resumed_parts == 2 and not parts.exists()
    assert out.read_bytes() == clean.read_bytes()
    assert (result.decided, result.errors, result.gaps) == (whole.decided, whole.errors, whole.gaps)


def test_a_resumed_run_renders_again_the_pieces_of_another_language(tmp_path: Path) -> None:
    # A part's piece is its output in one language (and with or without rule columns): a run resumed in
    # the other one decides that part again rather than join a Chinese piece into an English file.
    src = BATCH / "households.jsonl"
    on = date(2023, 9, 30)
    clean = tmp_path / "clean.csv"
    run_batch([src], clean, rules=RULES, as_of=on, chunk_rows=2, lang="en", progress=False, log=io.StringIO())
    out = tmp_path / "out.csv"
    with pytest.raises(_Stop):
        run_batch([src], out, rules=RULES, as_of=on, chunk_rows=2, progress=False, after_part=_stop_after(1))
    result = run_batch(
        [src], out, rules=RULES, as_of=on, chunk_rows=2, lang="en", progress=False, resume=True, log=io.StringIO()
    )
    assert result.resumed_parts == 0
    assert out.read_bytes() == clean.read_bytes()


def test_a_run_stopped_while_joining_its_pieces_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    # Joining moves the first part's piece into the output before the others are appended: a run stopped
    # there has lost that piece, so the resumed run decides that part again — no household lost or twice.
    src = BATCH / "households.jsonl"
    on = date(2023, 9, 30)
    clean = tmp_path / "clean.csv"
    run_batch([src], clean, rules=RULES, as_of=on, chunk_rows=2, progress=False, log=io.StringIO())
    out = tmp_path / "out.csv"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(batch, "append_range", _stop_after(None))
        with pytest.raises(_Stop):
            run_batch([src], out, rules=RULES, as_of=on, chunk_rows=2, progress=False, log=io.StringIO())
    assert not out.exists()
    result = run_batch([src], out, rules=RULES, as_of=on, chunk_rows=2, progress=False, resume=True, log=io.StringIO())
    assert result.resumed_parts == 2
    assert out.read_bytes() == clean.read_bytes()


@pytest.mark.parametrize("stop", ["after the first part", "while joining"])
def test_a_resumed_run_keeps_the_order_of_rule_columns_of_its_pieces(tmp_path: Path, stop: str) -> None:
    # The order of the rule columns may differ from one process to the next; a resumed run joins parts
    # decided by both. A run with rule columns keeps each part's decisions and renders the CSV at the end,
    # each part's columns taken by name under the header of the first part's order, so no cell lands
    # under another header: whether the first part is among those another process wrote (stopped after
    # it) or not (stopped while joining, with every part written: the later ones in another order).
    records = [json.loads(line) for line in (BATCH / "households.jsonl").read_text(encoding="utf-8").splitlines()]
    huaibei = [r for r in records if str(r.get("region", "")).startswith("3406")]
    src = tmp_path / "huaibei.jsonl"
    lines = [json.dumps({**r, "household_id": f"{r['household_id']}-{k}"}) for k in (1, 2) for r in huaibei]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    on = date(2023, 9, 30)
    quiet: dict[str, Any] = {"progress": False, "log": io.StringIO(), "rule_columns": True, "chunk_rows": 2}
    clean = tmp_path / "clean.csv"
    run_batch([src], clean, rules=RULES, as_of=on, **quiet)
    out = tmp_path / "out.csv"
    with pytest.MonkeyPatch.context() as mp, pytest.raises(_Stop):
        if stop == "while joining":
            mp.setattr(batch, "append_range", _stop_after(None))
        run_batch(
            [src], out, rules=RULES, as_of=on, after_part=_stop_after(0 if stop != "while joining" else -1), **quiet
        )
    parts = tmp_path / "out.csv.parts"
    manifest = json.loads((parts / "manifest.json").read_text(encoding="utf-8"))
    done = [p for p in manifest["parts"] if (parts / p["file"]).exists()]
    assert [p["part"] for p in done] == ([0] if stop != "while joining" else [0, 1, 2])
    # the parts as another process wrote them: their rule columns in the reverse order
    redone = done if stop != "while joining" else done[1:]
    for p in redone:
        decided = pl.read_ipc(parts / p["file"])
        rules_first = next(k for k, c in enumerate(decided.columns) if c.startswith(("rule:", "fact:")))
        columns = decided.columns[:rules_first] + decided.columns[rules_first:][::-1]
        decided.select(columns).write_ipc(parts / p["file"])
    run_batch([src], out, rules=RULES, as_of=on, resume=True, **quiet)
    got, want = pl.read_csv(out, infer_schema=False), pl.read_csv(clean, infer_schema=False)
    assert (got.columns != want.columns) == (stop != "while joining") and sorted(got.columns) == sorted(want.columns)
    assert got.equals(want.select(got.columns))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_second_output_thread_writes_the_same_files_in_the_same_order(tmp_path: Path, suffix: str) -> None:
    # ELIGIBILITY_BATCH_OUTPUT_THREAD (off by default) writes each part's output while the next is
    # decided; parts are still recorded in order, and the files are those of a run in order.
    src = BATCH / "households.jsonl"
    on = date(2023, 9, 30)
    seen: dict[bool, list[int]] = {}
    for thread in (False, True):
        seen[thread] = []
        out = tmp_path / f"out-{thread}{suffix}"
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(batch, "OUTPUT_THREAD", None)
            mp.setenv("ELIGIBILITY_BATCH_OUTPUT_THREAD", "1" if thread else "")
            threads = {t.name for t in threading.enumerate()}
            run_batch(
                [src], out, rules=RULES, as_of=on, chunk_rows=2, progress=False, log=io.StringIO(),
                after_part=lambda k, box=seen[thread], before=threads: box.append(k) or box.append(
                    any(t.name.startswith("eligibility-output") for t in threading.enumerate() if t.name not in before)
                ),
            )  # fmt: skip
    assert seen[False] == [0, False, 1, False, 2, False]
    assert seen[True] == [0, True, 1, True, 2, True]
    written = {thread: sorted(p.name for p in tmp_path.glob(f"out-{thread}*")) for thread in (False, True)}
    assert written[True] == [n.replace("False", "True") for n in written[False]]
    for name in written[False]:
        assert (tmp_path / name).read_bytes() == (tmp_path / name.replace("False", "True")).read_bytes()


def test_run_batch_passes_rowwise_to_every_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # run_batch(rowwise=…) is decide_table's threshold for each part: 0 keeps every part columnar, a large
    # one decides the parts household by household, None leaves it to ELIGIBILITY_BATCH_ROWWISE — and the
    # files are the same bytes whichever path decided them.
    from eligibility.compile import rowwise as rowwise_module

    calls: list[int] = []
    decide_rows = rowwise_module.decide_rows

    def counted(ruleset: Any, chain: Any, part: pl.DataFrame) -> Any:
        calls.append(part.height)
        return decide_rows(ruleset, chain, part)

    monkeypatch.setattr(rowwise_module, "decide_rows", counted)
    monkeypatch.setenv("ELIGIBILITY_BATCH_ROWWISE", "0")
    src = BATCH / "households.jsonl"
    on = date(2023, 9, 30)
    quiet: dict[str, Any] = {"rules": RULES, "as_of": on, "chunk_rows": 3, "progress": False, "log": io.StringIO()}
    rows: dict[str, int] = {}
    for name, value in (("columnar", 0), ("rowwise", 1_000_000), ("environment", None)):
        calls.clear()
        run_batch([src], tmp_path / f"{name}.csv", rowwise=value, **quiet)
        rows[name] = sum(calls)
    assert rows == {"columnar": 0, "rowwise": rows["rowwise"], "environment": 0}
    assert rows["rowwise"] > 0
    columnar = (tmp_path / "columnar.csv").read_bytes()
    assert (tmp_path / "rowwise.csv").read_bytes() == columnar
    with pytest.raises(ValueError, match="rowwise"):
        run_batch([src], tmp_path / "bad.csv", rowwise=-1, **quiet)
    # the command's --rowwise-rows is the same keyword
    for value, decided_by_rows in (("0", False), ("1000000", True)):
        calls.clear()
        args = ["batch", str(src), "--as-of", "2023-09-30", "-o", str(tmp_path / f"cli-{value}.csv")]
        main([*args, "--rowwise-rows", value], out=io.StringIO())
        assert bool(calls) == decided_by_rows
        assert (tmp_path / f"cli-{value}.csv").read_bytes() == columnar
    assert main([*args, "--rowwise-rows", "-1"], out=io.StringIO()) == 1


@pytest.mark.parametrize("stop", ["after its part", "after its part became the output"])
def test_a_parquet_run_of_one_part_resumes_to_the_same_bytes(tmp_path: Path, stop: str) -> None:
    # A Parquet run of one part has its output in the part's file, renamed rather than joined: it holds
    # the decisions only (the row the rules could not decide is in the errors file), and a run stopped
    # after the part is done — or after its file became the output, which loses the part — resumes to
    # the bytes of a run that was not stopped.
    on = date(2023, 9, 30)
    frame = read_households(BATCH / "households.jsonl", as_of=on).frame
    births = frame.get_column("members").to_list()
    births[0][0]["birth_date"] = date(2073, 5, 1)  # a row the rules cannot decide (a Parquet input's reader
    frame = frame.with_columns(pl.Series("members", births, dtype=frame.schema["members"]))  # lets it by)
    src = tmp_path / "in.parquet"
    frame.drop("_row", "as_of").write_parquet(src)
    unborn = {"household_id": frame.get_column("household_id")[0]}
    quiet: dict[str, Any] = {"rules": RULES, "as_of": on, "progress": False, "log": io.StringIO()}
    clean = tmp_path / "clean.parquet"
    result = run_batch([src], clean, **quiet)
    table = pl.read_parquet(clean)
    assert result.errors == 1 and result.decided == result.rows - 1
    assert table.height == result.decided and table.get_column("error").null_count() == table.height
    assert unborn["household_id"] not in table.get_column("household_id").to_list()
    out = tmp_path / "out.parquet"
    with pytest.MonkeyPatch.context() as mp, pytest.raises(_Stop):
        if stop == "after its part":
            run_batch([src], out, after_part=_stop_after(0), **quiet)
        else:
            mp.setattr(batch, "_merge_summaries", _stop_after(None))
            run_batch([src], out, **quiet)
    assert out.exists() == (stop != "after its part")
    resumed = run_batch([src], out, resume=True, **quiet)
    assert resumed.resumed_parts == (1 if stop == "after its part" else 0)
    assert out.read_bytes() == clean.read_bytes()
    assert (resumed.rows, resumed.decided, resumed.errors) == (result.rows, result.decided, result.errors)
