"""The ``eligibility`` command: evaluate (one, many, bad records), explain, schema, packs, test."""

from __future__ import annotations

import io
import json
from pathlib import Path

from eligibility.cli import main

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_evaluate_one_household_prints_its_decision_json() -> None:
    code, out = run("evaluate", str(EX / "households" / "01-huaibei-marginal.json"), "--as-of", "2023-09-30")
    assert code == 0
    d = json.loads(out)
    assert d["identification"]["status"] == "identified"
    assert d["identification"]["category"]["zh"] == "边缘易致贫户"


def test_a_batch_with_bad_records_reports_them_and_goes_on(tmp_path: Path) -> None:
    good = json.loads((EX / "households" / "01-huaibei-marginal.json").read_text(encoding="utf-8"))
    lines = [
        json.dumps(good, ensure_ascii=False),
        "{not json",
        json.dumps({**good, "household_id": "BAD", "region": "x"}),
        json.dumps({**good, "household_id": "BJ", "region": "110101001001"}),
        json.dumps({**good, "household_id": "OK2"}),
    ]
    f = tmp_path / "batch.jsonl"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, out = run("evaluate", str(f), "--as-of", "2023-09-30")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 1
    assert [r["input"].rsplit(":", 1)[1] for r in records] == ["1", "2", "3", "4", "5"]
    assert [("decision" in r, "error" in r) for r in records] == [
        (True, False),
        (False, True),
        (False, True),
        (True, False),
        (True, False),
    ]
    assert records[2]["error"]["fields"][0]["path"] == "$.region"
    # 北京 (national pack only) has no monitoring line for 2023: decided, with the gap named
    assert [m["name"] for m in records[3]["decision"]["missing_parameters"]] == ["monitoring_line"]


def test_invalid_household_example_names_every_bad_field() -> None:
    code, out = run("evaluate", str(EX / "errors" / "invalid-household.json"), "--as-of", "2023-09-30", "--jsonl")
    assert code == 1
    fields = [f["path"] for f in json.loads(out)["error"]["fields"]]
    assert fields == ["$.region", "$.members[0].birth_date", "$.income.wage", "$.housing.grade"]


def test_explain_in_both_languages() -> None:
    path = str(EX / "households" / "09-huaibei-missing-water-data.json")
    code, zh = run("explain", path, "--as-of", "2023-09-30")
    assert code == 0 and "需补充的数据" in zh and "$.water.quality" in zh
    code, en = run("explain", path, "--as-of", "2023-09-30", "--lang", "en")
    assert code == 0 and "Data to fill in" in en


def test_schema_and_rule_format_schema() -> None:
    code, out = run("schema")
    assert code == 0 and json.loads(out)["title"] == "Household"
    code, out = run("schema", "--rules-format")
    assert code == 0 and "pack.yaml" in json.loads(out)


def test_packs_lists_parameter_coverage() -> None:
    code, out = run("packs")
    assert code == 0
    assert "gansu: 甘肃省 / Gansu  regions: 62 extends national" in out
    assert "monitoring_line: [2023-01-01, 2024-01-01) 7200; [2024-01-01, 2025-01-01) 7800; [2025-01-01, …) —" in out


def test_yaml_rule_tests_through_the_cli(tmp_path: Path) -> None:
    """The CLI's own part: a folder's test files found and run, the tally, the exit code, a failure worded.

    One pack's folder, not all of ``rules/``: every bundled YAML test already runs in this suite through
    the pytest plugin (``testpaths``), and running them all twice more here took ~36 s of CI."""
    code, out = run("test", str(ROOT / "rules" / "gansu"))
    assert code == 0 and out.strip().endswith("0 failed")
    assert int(out.strip().rsplit("\n", 1)[-1].split()[0]) > 1  # more than one case, from more than one file
    bad = tmp_path / "rules"
    import shutil

    shutil.copytree(ROOT / "rules", bad)
    f = bad / "gansu" / "tests" / "line.yaml"
    f.write_text(
        f.read_text(encoding="utf-8").replace("category: marginal}", "category: unstable_former_poor}", 1),
        encoding="utf-8",
    )
    code, out = run("test", str(f))
    assert code == 1
    assert "FAIL" in out and "category: expected unstable_former_poor, got marginal" in out


def test_a_configuration_gap_is_named_in_the_summary_and_fails_the_run() -> None:
    """淮北 has no line for 2024: the household is decided, the summary names the missing parameter, exit 1."""
    code, out = run(
        "evaluate", str(EX / "households" / "01-huaibei-marginal.json"), "--as-of", "2024-06-30", "--summary"
    )
    assert code == 1
    assert "配置缺口（缺少参数）" in out and "monitoring_line" in out
    assert "1 households: 1 decisions, 0 errors" in out
