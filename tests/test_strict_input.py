"""Strict input and the one-decision-or-one-error contract, as a new user checks them (issue 13).

* A JSON Lines file with corrupted lines of every kind gives, through ``eligibility evaluate --jsonl``,
  one line per input in input order — a decision or an error — and exit code 1.
* ``"wage": "14_000"`` is an error naming ``$.income.wage``; so are the other lax forms.
* Limits (size, depth, members, text length, dates) are clear errors with a path, never a crash.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from eligibility import Engine, HouseholdError, parse_household
from eligibility import models as m
from eligibility.explain import _pair

from .conftest import household

AS_OF = "2023-09-30"


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    cmd = [sys.executable, "-m", "eligibility.cli", *args]
    return subprocess.run(cmd, capture_output=True, timeout=600, check=False, input=stdin)


def _errors(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(HouseholdError) as info:
        parse_household(data)
    return [(e.path, e.code) for e in info.value.errors]


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ('"14_000"', "number_type"),
        ('"١٢٣"', "number_type"),
        ('"1.4e4"', "number_type"),
        ('"14000"', "number_type"),
        ("true", "number_type"),
        ("23699.999999999999999999", "decimal_max_digits"),
        ("1e-400", "decimal_max_digits"),
        ("-1", "greater_than_equal"),
    ],
)
def test_a_mistyped_wage_is_an_error_naming_the_field(value: str, code: str) -> None:
    text = json.dumps(household()).replace('"wage": 14000', f'"wage": {value}')
    assert '"wage": ' + value in text
    assert _errors(text) == [("$.income.wage", code)]
    assert _errors(text.encode()) == [("$.income.wage", code)]


@pytest.mark.parametrize(
    ("section", "field", "value", "code"),
    [
        ("water", "piped", '"1"', "bool_type"),
        ("water", "piped", '"t"', "bool_type"),
        ("water", "piped", "1", "bool_type"),
        ("water", "fetch_minutes", '"5"', "int_type"),
        ("water", "fetch_minutes", "5.0", "int_type"),
        ("water", "litres_per_person_day", '"60"', "number_type"),
        ("water", "litres_per_person_day", "60.00000000000000000001", "decimal_max_digits"),
        ("income", "window_start", "0", "not_a_date"),
        ("income", "window_start", '"2023-01-01T00:00:00"', "not_a_date"),
        ("income", "window_start", '"9999-12-31"', "less_than_equal"),
        ("income", "window_start", '"1800-01-01"', "greater_than_equal"),
        ("income", "window_start", '"2023-02-30"', "date_from_datetime_parsing"),
    ],
)
def test_lax_coercions_are_errors(section: str, field: str, value: str, code: str) -> None:
    data = household()
    data.setdefault(section, {})[field] = "@@"
    text = json.dumps(data, ensure_ascii=False).replace('"@@"', value)
    errors = _errors(text)
    assert [p for p, _ in errors] == [f"$.{section}.{field}"]
    assert errors[0][1] == code or (code == "date_from_datetime_parsing" and errors[0][1].startswith("date"))


def test_a_4400_digit_number_is_one_clear_error() -> None:
    text = json.dumps(household()).replace('"wage": 14000', '"wage": ' + "9" * 4400)
    with pytest.raises(HouseholdError) as info:
        parse_household(text)
    assert [(e.path, e.code) for e in info.value.errors] == [("$", "json_invalid")]
    assert "number" in str(info.value)


def test_a_member_id_sent_as_a_number_is_an_error() -> None:
    data = household()
    data["members"][0]["member_id"] = 7
    assert _errors(json.dumps(data)) == [("$.members[0].member_id", "string_type")]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"household_id": "A", "household_id": "B"}', "duplicate_key"),
        ('{"household_id": "A", "income": {"wage": 1, "wage": 9}}', "duplicate_key"),
        ('{"household_id": "A", "income": {"wage": NaN}}', "json_invalid"),
        ('{"household_id": "A", "income": {"wage": Infinity}}', "json_invalid"),
        ('{"household_id": "\\ud800"}', "json_invalid"),
        ('{"household_id": "A", "name": ' + "[" * 1000 + "]" * 1000 + "}", "too_deep"),
        ("[]", "model_type"),
    ],
)
def test_broken_json_is_one_error_at_the_root(text: str, code: str) -> None:
    assert _errors(text) == [("$", code)]


def test_limits_are_errors_with_a_path() -> None:
    big = household(household_id="x" * (m.MAX_TEXT + 1))
    assert _errors(json.dumps(big)) == [("$.household_id", "string_too_long")]
    crowd = household()
    crowd["members"] = [{"member_id": str(i)} for i in range(m.MAX_MEMBERS + 1)]
    assert _errors(json.dumps(crowd)) == [("$.members", "too_long")]
    huge = json.dumps(household(bank_account="1" * m.MAX_TEXT)) + " " * m.MAX_RECORD_BYTES
    assert _errors(huge) == [("$", "too_large")]
    assert _errors({"household_id": "a\ud800"}) == [("$.household_id", "string_unicode")]


def test_a_repeated_key_cannot_flip_a_decision() -> None:
    """The probe's case: the last of two wages won and changed the outcome; now the record is an error."""
    text = json.dumps(household()).replace('"wage": 14000', '"wage": 14000, "wage": 100')
    assert _errors(text) == [("$", "duplicate_key")]


def test_an_unknown_key_that_is_a_value_is_not_echoed() -> None:
    data = household()
    data["members"][0]["110101199003076518"] = True
    assert _errors(data) == [("$.members[0].<?>", "extra_forbidden")]
    text = json.dumps(data).replace('"member_id"', '"110101199003076518": 1, "member_id"', 1)
    with pytest.raises(HouseholdError) as info:
        parse_household(text)
    assert "110101199003076518" not in str(info.value)


def test_births_after_the_assessment_date_and_far_dates_are_errors(engine: Engine) -> None:
    data = household()
    data["members"][1]["birth_date"] = "2073-05-01"
    with pytest.raises(HouseholdError) as info:
        engine.evaluate(data, AS_OF)
    assert [(e.path, e.code) for e in info.value.errors] == [("$.members[1].birth_date", "born_after_as_of")]
    from eligibility.errors import EvaluationError

    with pytest.raises(EvaluationError):
        engine.evaluate(household(), "9999-12-31")


def test_a_float_money_literal_and_its_text_read_the_same() -> None:
    """``1000.00`` read through the fast path or the exact one is the same Decimal, digest and all."""
    plain = json.dumps(household()).replace('"wage": 14000', '"wage": 14000.50')
    forced = plain.replace('"household_id": "', '"household_id": "a:', 1)  # a colon in a string: exact path
    a, b = parse_household(plain), parse_household(forced)
    assert a.income == b.income and str(a.income.wage) == str(b.income.wage) == "14000.5"  # type: ignore[union-attr]


def test_a_households_own_json_is_valid_input() -> None:
    h = parse_household(household())
    assert parse_household(h.model_dump_json()) == h


@pytest.mark.parametrize(
    ("actual", "expected"),
    [(7899.999, 7900), (7900.001, 7900), (7900.125, 7900.13), (7900, 7900), (0.004, 0), (-0.004, 0)],
)
def test_explain_never_states_a_comparison_its_numbers_contradict(actual: float, expected: float) -> None:
    shown_a, shown_e = _pair(actual, expected, "zh")
    from decimal import Decimal

    real = (actual > expected) - (actual < expected)
    assert (Decimal(shown_a) > Decimal(shown_e)) - (Decimal(shown_a) < Decimal(shown_e)) == real


def test_display_rounds_half_up() -> None:
    from decimal import Decimal

    from eligibility.expressions import format_value

    assert format_value(Decimal("7900.125")) == "7900.13"
    assert format_value(Decimal("7900.115")) == "7900.12"


# --- the CLI: one line per record, in order, streaming -----------------------------------------------


def _corrupted_batch(tmp: Path, good: int) -> tuple[Path, list[str]]:
    """``good`` valid households with one corrupted line of each kind between them; returns the kinds."""
    base = json.dumps(household(), ensure_ascii=False)
    bad = {
        "surrogate": base.replace('"HB-003"', '"\\ud800"'),
        "deep": base.replace('"14000"', "[" * 2000 + "]" * 2000).replace("14000", "[" * 2000 + "]" * 2000, 1),
        "duplicate": base.replace('"wage": 14000', '"wage": 14000, "wage": 1'),
        "underscore": base.replace('"wage": 14000', '"wage": "14_000"'),
        "truncated": base[:50],
        "not_utf8": base.replace("王", "\udcff", 1),
        "nan": base.replace("14000", "NaN", 1),
        "empty_list": "[]",
        "future_birth": base.replace('"birth_date": "', '"birth_date": "2', 1).replace(
            '"birth_date": "21', '"birth_date": "20', 1
        ),
        "u2028": base.replace('"name": "', '"name": "\u2028', 1),
    }
    lines: list[bytes] = []
    kinds: list[str] = []
    for i in range(good):
        lines.append(base.replace('"HB-003"', f'"G-{i}"').encode())
        kinds.append("good")
        if i % (good // len(bad)) == 0 and len(kinds) - kinds.count("good") < len(bad):
            kind = list(bad)[len(kinds) - kinds.count("good")]
            lines.append(bad[kind].encode("utf-8", "surrogateescape"))
            kinds.append(kind)
    path = tmp / "batch.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, kinds


def test_a_corrupted_batch_gives_one_line_per_record_in_order(tmp_path: Path) -> None:
    path, kinds = _corrupted_batch(tmp_path, 60)
    run = _cli("evaluate", str(path), "--jsonl", "--as-of", AS_OF, "--trace", "none")
    assert run.returncode == 1 and b"Traceback" not in run.stderr
    records = [json.loads(line) for line in run.stdout.decode("utf-8").splitlines()]
    assert [r["input"] for r in records] == [f"{path}:{n}" for n in range(1, len(kinds) + 1)]
    got = ["good" if "decision" in r else "bad" for r in records]
    # U+2028 inside a name is legal JSON: one record, decided.
    assert got == ["good" if k in ("good", "u2028") else "bad" for k in kinds]
    for r in records:
        if "error" in r:
            assert r["error"]["code"] and r["error"]["message"]


def test_decisions_are_written_as_they_are_made(tmp_path: Path) -> None:
    """The first line arrives while later records are still unread: a reader sees output before it ends."""
    line = json.dumps(household(), ensure_ascii=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "eligibility.cli", "evaluate", "-", "--jsonl", "--as-of", AS_OF],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write((line + "\n").encode())
        proc.stdin.flush()
        first = proc.stdout.readline()  # would block for ever if output waited for the end of the input
        assert json.loads(first)["decision"]["household_id"] == "HB-003"
        proc.stdin.write((line + "\n").encode())
        proc.stdin.close()
        assert json.loads(proc.stdout.readline())["input"].endswith(":2")
    finally:
        proc.kill()
        proc.wait()


def test_a_file_with_an_empty_list_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text("[]", encoding="utf-8")
    run = _cli("evaluate", str(tmp_path / "empty.json"), "--jsonl", "--as-of", AS_OF)
    assert run.returncode == 1
    assert json.loads(run.stdout)["error"]["code"] == "empty"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_among_the_inputs_are_errors(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "a-pipe.json")
    (tmp_path / "b-zero.json").symlink_to("/dev/zero")
    (tmp_path / "c-loop.json").symlink_to(tmp_path / "c-loop.json")
    (tmp_path / "d-good.json").write_text(json.dumps(household()), encoding="utf-8")
    run = _cli("evaluate", str(tmp_path), "--jsonl", "--as-of", AS_OF)
    records = [json.loads(line) for line in run.stdout.decode().splitlines()]
    assert [("error" in r, r.get("error", {}).get("code")) for r in records] == [
        (True, "not_a_file"),
        (True, "not_a_file"),
        (True, "unreadable"),
        (False, None),
    ]


def test_lint_and_test_fail_on_a_missing_path_or_no_tests(tmp_path: Path) -> None:
    assert _cli("lint", str(tmp_path / "no-such")).returncode == 1
    assert _cli("test", str(tmp_path / "no-such")).returncode == 1
    (tmp_path / "empty").mkdir()
    assert _cli("test", str(tmp_path / "empty")).returncode == 1


def test_summary_output_carries_no_terminal_escapes(tmp_path: Path) -> None:
    data = household(household_id="\x1b[2J\x1b[31mX\u202e")
    (tmp_path / "h.json").write_text(json.dumps(data), encoding="utf-8")
    run = _cli("evaluate", str(tmp_path / "h.json"), "--summary", "--as-of", AS_OF)
    out = run.stdout.decode()
    assert "\x1b" not in out and "\u202e" not in out and "\\u001b[2J" in out


def test_the_notice_csv_cannot_run_or_forge_rows(tmp_path: Path) -> None:
    data = household(household_id="N1")
    data["income"]["wage"] = 100
    data["members"][0]["name"] = '=HYPERLINK("http://evil")\n2,340602,forged'
    (tmp_path / "h.json").write_text(json.dumps(data), encoding="utf-8")
    run = _cli("publicity", str(tmp_path / "h.json"), "--as-of", AS_OF, "--format", "csv")
    rows = run.stdout.decode().splitlines()
    assert len(rows) == 2 and "'=HYPERLINK" in rows[1] and "forged" in rows[1]
