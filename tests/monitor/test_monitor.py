"""The store, the monthly routine and department feeds (issue 14), on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from eligibility import Engine, load_rules
from eligibility.compile.polars import INPUT_SCHEMA, decision_row
from eligibility.errors import EvaluationError
from eligibility.monitor.feeds import CHANNEL, import_feed
from eligibility.monitor.routine import MONITORED, run_monthly, stratified_sample, with_history
from eligibility.ruleset import RuleSet
from eligibility.store import IdentityKey, Store, StoreError, open_store
from eligibility.store.schema import MIGRATIONS

from .conftest import KEY, ROOT, month_two, population, write_jsonl, year_before

AUG, SEP = date(2023, 8, 31), date(2023, 9, 30)
EXAMPLE_MONTHS = ROOT / "examples" / "monitor"


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(ROOT / "rules")


def two_months(store: Store, rules: RuleSet, tmp_path: Path) -> tuple[Any, Any]:
    m1 = write_jsonl(population(), tmp_path / "2023-08.jsonl")
    m2 = write_jsonl(month_two(population()), tmp_path / "2023-09.jsonl")
    kw: dict[str, Any] = {"store": store, "rules": rules, "key": KEY, "jurisdiction": "test"}
    first = run_monthly([m1], as_of=AUG, out_dir=tmp_path / "out-08", **kw)
    second = run_monthly([m2], as_of=SEP, out_dir=tmp_path / "out-09", **kw)
    return first, second


# ----------------------------------------------------------------------------------------------- store


def test_a_new_store_is_migrated_to_the_latest_version_once(store_url: str) -> None:
    with open_store(store_url) as s:
        assert s.version == MIGRATIONS[-1].version
    with open_store(store_url) as s:
        assert s.migrate() == []  # nothing left to apply
        assert s.execute("SELECT COUNT(*) FROM schema_migrations")[0][0] == len(MIGRATIONS)


def test_a_store_newer_than_the_library_is_refused(store_url: str) -> None:
    with open_store(store_url) as s:
        s.execute("INSERT INTO schema_migrations (version, description, applied_at) VALUES (999, 'future', 'x')")
    with pytest.raises(StoreError, match="999"):
        open_store(store_url)


def test_a_different_hashing_key_is_refused(store: Store) -> None:
    store.check_key(KEY)
    store.check_key(IdentityKey("test-key-0123456789abcdef"))  # the same secret again
    with pytest.raises(StoreError, match="密钥"):
        store.check_key(IdentityKey("another-key-0123456789"))


def test_no_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELIGIBILITY_ID_KEY", raising=False)
    with pytest.raises(StoreError, match="ELIGIBILITY_ID_KEY"):
        IdentityKey.from_env()


def test_numbers_hash_alike_one_by_one_and_in_bulk() -> None:
    """A department's number (hashed one by one) must meet the same member's number hashed with a month's
    members in bulk: spaces and a lower-case x do not matter, a blank number has no hash."""
    numbers = ["34060319750302001x", " 340603 19750302001X ", "13800000000", "", "   ", None, "\u3000138 0000 0000"]
    assert KEY.hash_many(numbers) == [KEY.hash(n) for n in numbers]
    assert KEY.hash_many(numbers)[0] == KEY.hash_many(numbers)[1] and KEY.hash_many(numbers)[3:6] == [None] * 3


def test_id_and_phone_numbers_are_stored_only_as_keyed_hashes(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    two_months(store, rules, tmp_path)
    ids = {m["id_number"] for h in population() for m in h.get("members") or [] if m.get("id_number")}
    phones = {m["phone"] for h in population() for m in h.get("members") or [] if m.get("phone")}
    rows = store.execute("SELECT id_hash, phone_hash, id_number, phone FROM identities")
    assert rows and all(r[2] is None and r[3] is None for r in rows)
    assert {r[0] for r in rows if r[0]} == {KEY.hash(i) for i in ids}
    assert {r[1] for r in rows if r[1]} == {KEY.hash(p) for p in phones}
    # Nowhere else either: no table holds a plain number.
    texts = {
        t: json.dumps(store.execute(f"SELECT * FROM {t}"), default=str) for t in ("households", "runs", "run_errors")
    }
    for run in store.runs():
        texts[f"decisions {run.as_of}"] = json.dumps(store.households(run.run_id), default=str, ensure_ascii=False)
        for name in ("changes", "visits", "focus", "focus_flags", "sample"):
            texts[f"{name} {run.as_of}"] = json.dumps(store.run_list(run.run_id, name), ensure_ascii=False)
    for where, text in texts.items():
        assert not any(i in text for i in ids | phones), where


def test_plain_numbers_only_when_the_caller_opts_in(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    m1 = write_jsonl(population(), tmp_path / "m.jsonl")
    run_monthly([m1], as_of=AUG, store=store, rules=rules, key=KEY, out_dir=tmp_path / "o", store_plain_ids=True)
    rows = store.execute("SELECT id_number FROM identities WHERE household_id = 'HB-001' ORDER BY member_id")
    assert rows[0][0] == "99999919750302000X"


def test_every_run_records_its_date_rules_input_and_counts(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    _, second = two_months(store, rules, tmp_path)
    # WX-018: no monitoring line for 维西 in 2023 — decided, the gap reported once
    assert second.gaps == [("yunnan-weixi", "monitoring_line", 1)]
    runs = store.runs("test")
    assert [r.as_of for r in runs] == [AUG, SEP]
    r = runs[1]
    n = len(population())  # every example household
    assert (r.rows, r.decided, r.errors) == (n, n, 0)
    assert r.ruleset_fingerprint.startswith("sha256:") and r.input_digest.startswith("sha256:")
    assert r.input_digest != runs[0].input_digest
    households = store.households(r.run_id)
    assert len(households) == n
    by_id = {h[0]: h for h in households}
    assert json.loads(by_id["WX-018"][5])["missing_parameters"] == ["monitoring_line"]
    assert json.loads(by_id["HB-003"][5])["status"] == "identified"
    # An unchanged household has the same input digest in both months; a changed one does not.
    before = {h[0]: h[4] for h in store.households(runs[0].run_id)}
    assert before["HB-001"] == by_id["HB-001"][4] and before["HB-003"] != by_id["HB-003"][4]
    errors = store.run_errors(r.run_id)
    assert errors == []


def test_the_input_digest_is_the_row_as_read_in_one_line_of_json(tmp_path: Path) -> None:
    """The store documents each household's input digest as BLAKE2b-128 of the row as read (the households
    frame without its position and date) written as one line of JSON; the columnar computation keeps that
    definition byte for byte, so digests stored by earlier versions still compare equal. A line separator
    inside a name (U+2028) is one row, not two."""
    import hashlib

    from eligibility.batch import read_inputs
    from eligibility.monitor.routine import input_digests

    households = population()
    households[0]["members"][0]["name"] = '王\u2028"引号" \\ 末'
    path = write_jsonl(households, tmp_path / "m.jsonl")
    frame = read_inputs([path], as_of=AUG).frame
    lines = frame.drop("_row", "as_of").write_ndjson().rstrip("\n").split("\n")
    assert len(lines) == frame.height == len(households)
    expected = [hashlib.blake2b(line.encode(), digest_size=16).digest() for line in lines]
    assert input_digests(frame).to_list() == expected
    # the position and the date are not part of it: the same rows read later in another file digest alike
    again = read_inputs([write_jsonl(households[::-1], tmp_path / "r.jsonl")], as_of=SEP).frame
    assert input_digests(again).to_list() == expected[::-1]
    assert input_digests(frame.head(0)).to_list() == []


def test_an_excel_list_keeps_every_row_and_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A list written as a workbook reads back as the frame it was (text stays text, numbers numbers,
    empty cells empty); a list longer than a sheet holds continues on numbered sheets, never cut off."""
    from eligibility.monitor import routine

    frame = pl.DataFrame(
        {
            "村": ["340603100201", "340603100202", "340603100201", None, "3406"],
            "户编号": ["HB-001", "HB-002", "HB-003", "HB-004", "HB-005"],
            "走访原因": ["新识别：入户核实、农户授权承诺", "预警：入户核查", "", "需研判", "本月应入户走访"],
            "户数": [3, None, 0, -2, 12_000_000],
        }
    )
    path = routine._write(frame, tmp_path / "一月一提示.xlsx", "一月一提示")
    sheets = pl.read_excel(path, sheet_id=0)
    assert list(sheets) == ["一月一提示"]
    back = sheets["一月一提示"]
    assert back.columns == frame.columns and back.height == frame.height
    assert back["村"].to_list() == frame["村"].to_list()  # a code of digits is still text
    assert back["户数"].to_list() == frame["户数"].to_list()
    assert back["走访原因"].fill_null("").to_list() == frame["走访原因"].to_list()

    monkeypatch.setattr(routine, "EXCEL_ROWS", 2)
    path = routine._write(frame, tmp_path / "变化清单.xlsx", "变化清单")
    sheets = pl.read_excel(path, sheet_id=0)
    assert list(sheets) == ["变化清单", "变化清单 (2)", "变化清单 (3)"]
    assert pl.concat(list(sheets.values()))["户编号"].to_list() == frame["户编号"].to_list()
    # an empty list is a sheet with its header
    empty = pl.read_excel(routine._write(frame.head(0), tmp_path / "空.xlsx", "一周一抽查"))
    assert empty.columns == frame.columns and empty.height == 0


def test_every_record_is_decided_or_an_error_in_the_errors_file(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    """Bad input gets a clear error and nothing is lost: a malformed record and a household id given twice
    are rows of 错误.xlsx (and of the store), every other record is decided."""
    households = population()
    broken = {**households[1], "household_id": "=HB-BAD", "income": {**households[1]["income"], "wage": "很多"}}
    path = write_jsonl([*households, households[0], broken], tmp_path / "m.jsonl")
    res = run_monthly([path], as_of=AUG, store=store, rules=rules, key=KEY, out_dir=tmp_path / "o", jurisdiction="t")
    n = len(households) + 2
    assert res.rows == n and res.decided == len(households) - 1 and res.errors == 3
    table = pl.read_excel(tmp_path / "o" / "错误.xlsx")
    assert table.columns == ["文件", "工作表", "行号", "列", "错误代码", "说明", "户编号", "序号"]
    by_code = sorted(zip(table["错误代码"], table["户编号"], strict=True))
    first = households[0]["household_id"]
    assert by_code[:2] == [("duplicate_id", first), ("duplicate_id", first)]
    assert by_code[2][1] == "'=HB-BAD"  # neutralised: a spreadsheet shows it, never runs it as a formula
    assert len(store.run_errors(res.run_id)) == 3


def test_a_run_that_fails_to_store_leaves_no_files(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    """The files are written beside the store but only moved into place once the run is committed: a run
    that fails while storing leaves neither a run in the store nor files in the folder."""
    path = write_jsonl(population(), tmp_path / "m.jsonl")

    def fail(batch: int) -> None:
        raise RuntimeError("disk full")

    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        run_monthly([path], as_of=AUG, store=store, rules=rules, key=KEY, out_dir=out, after_batch=fail)
    assert store.runs() == [] and list(out.iterdir()) == []
    again = run_monthly([path], as_of=AUG, store=store, rules=rules, key=KEY, out_dir=out)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in again.files)


def test_overlapping_steps_change_nothing(rules: RuleSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The routine runs the input digests beside the decisions and the files beside the store; run one step
    after the other instead, it writes the same files, byte for byte, and stores the same households."""
    from eligibility.monitor import routine

    m1 = write_jsonl(population(), tmp_path / "m1.jsonl")
    m2 = write_jsonl(month_two(population()), tmp_path / "m2.jsonl")
    got = {}
    for overlap in (True, False):
        monkeypatch.setattr(routine, "OVERLAP", overlap)
        with open_store(tmp_path / f"{overlap}.db") as store:
            for path, on in ((m1, AUG), (m2, SEP)):
                out = tmp_path / f"{overlap}-{on}"
                run_monthly([path], as_of=on, store=store, rules=rules, key=KEY, out_dir=out, fmt="csv")
            files = {p.name: p.read_bytes() for p in sorted(out.iterdir())}
            got[overlap] = (files, store.households(store.runs()[-1].run_id))
    assert got[True] == got[False]


def test_storing_the_same_month_again_replaces_it(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    two_months(store, rules, tmp_path)
    m2 = write_jsonl(month_two(population()), tmp_path / "again.jsonl")
    again = run_monthly([m2], as_of=SEP, store=store, rules=rules, key=KEY, out_dir=tmp_path / "o", jurisdiction="test")
    assert [r.as_of for r in store.runs("test")] == [AUG, SEP]
    assert again.previous is not None and again.previous.as_of == AUG
    assert store.execute("SELECT COUNT(*) FROM households")[0][0] == 2 * len(population())


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import date
    from eligibility import load_rules
    from eligibility.monitor.routine import run_monthly
    from eligibility.store import IdentityKey, open_store
    import eligibility.store as st
    st.BATCH_ROWS = 5  # several batches for 18 households, so the kill lands mid-run
    def die(batch):
        if batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    store = open_store(sys.argv[1])
    run_monthly([sys.argv[2]], as_of=date(2023, 9, 30), store=store, rules=load_rules(sys.argv[3]),
                key=IdentityKey("test-key-0123456789abcdef"), out_dir=sys.argv[4], jurisdiction="test",
                after_batch=die)
    """
)


def test_a_run_killed_midway_leaves_the_previous_state_and_can_be_run_again(
    store_url: str, rules: RuleSet, tmp_path: Path
) -> None:
    m1 = write_jsonl(population(), tmp_path / "m1.jsonl")
    m2 = write_jsonl(month_two(population()), tmp_path / "m2.jsonl")
    with open_store(store_url) as s:
        run_monthly([m1], as_of=AUG, store=s, rules=rules, key=KEY, out_dir=tmp_path / "o1", jurisdiction="test")
        snapshot = {t: s.execute(f"SELECT COUNT(*) FROM {t}")[0][0] for t in ("runs", "households", "identities")}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, store_url, str(m2), str(ROOT / "rules"), str(tmp_path / "o2")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    with open_store(store_url) as s:
        assert {t: s.execute(f"SELECT COUNT(*) FROM {t}")[0][0] for t in snapshot} == snapshot
        assert [r.as_of for r in s.runs("test")] == [AUG]
        done = run_monthly([m2], as_of=SEP, store=s, rules=rules, key=KEY, out_dir=tmp_path / "o2", jurisdiction="test")
        assert done.previous is not None and done.previous.as_of == AUG
        assert [r.as_of for r in s.runs("test")] == [AUG, SEP]


# ----------------------------------------------------------------------------------------------- routine


def test_two_months_give_the_change_lists(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    first, second = two_months(store, rules, tmp_path)
    assert first.previous is None and second.previous is not None
    kinds: dict[str, set[str]] = {}
    for c in second.changes:
        kinds.setdefault(c["change"], set()).add(c["household_id"])
    assert kinds["newly_identified"] == {"HB-003"}  # wage 5000: below 淮北's line
    assert kinds["eliminated"] == {"HB-013"}  # marked 风险已消除 this month
    assert kinds["re_entered"] == {"HB-015"}  # 风险已消除 last month, 监测中 again
    assert kinds["exit_opened"] == {"HB-014"}  # the 6-month gate opens in September

    identified = next(c for c in second.changes if c["change"] == "newly_identified")
    assert identified["rules"][0].startswith("identification.category.")  # the rule concluding its category
    opened = next(c for c in second.changes if c["change"] == "exit_opened")
    assert opened["rules"], "the rule that blocked exit last month is named"
    for c in second.changes:
        assert c["reason"], c
    # Month 1 against nothing: everyone identified is newly identified.
    assert {c["household_id"] for c in first.changes if c["change"] == "newly_identified"} == {
        "HB-001",
        "HB-002",
        "GS-012",
        "HB-017",
    }


def expected_visits(rules: RuleSet, households: list[dict[str, Any]], on: date) -> dict[str, set[str]]:
    """The visit criteria of docs/monitoring.md §3, applied to the per-household engine's decisions."""
    engine = Engine(rules)
    out: dict[str, set[str]] = {}
    for h in households:
        try:
            d = decision_row(engine.evaluate(h, on, trace="none"))
        except EvaluationError:
            continue
        why = set()
        monitored = (h.get("monitoring") or {}).get("status") == MONITORED
        if d["status"] == "identified" and not monitored:
            why.add("identify")
        if d["status"] == "needs_review":
            why.add("review")
        if d["exit_status"] == "eligible":
            why.add("exit")
        if any(p["code"] == "visit_missing" and p["certain"] for p in d["procedure"]):
            why.add("visit_due")
        if any((p["days_late"] or 0) > 0 and p["code"] != "visit_missing" for p in d["procedure"]):
            why.add("overdue")
        if any(g["certain"] for g in d["gaps"]):
            why.add("gap")
        if any(w["certain"] for w in d["warnings"]):
            why.add("warning")
        if why:
            out[h["household_id"]] = why
    return out


def test_the_second_months_visit_list_is_exactly_who_needs_a_visit(
    store: Store, rules: RuleSet, tmp_path: Path
) -> None:
    _, second = two_months(store, rules, tmp_path)
    got = {v["household_id"]: set(v["reasons"]) for v in second.visits}
    assert got == expected_visits(rules, month_two(population()), SEP)
    # Spot checks a village cadre would make: HB-003 newly identified, HB-014 may now exit, HB-013 (marked
    # eliminated, nothing pending) and GS-007 (not identified, no finding) are not visited.
    assert "identify" in got["HB-003"] and "exit" in got["HB-014"]
    assert "HB-013" not in got and "GS-007" not in got
    for v in second.visits:
        assert v["reason"] and v["village"] and v["town"] == v["village"][:9]
    # Each row names the household's 帮扶责任人 where the input records one (empty for the village to fill
    # otherwise), and the list runs village by village, officer by officer.
    officers = {
        h["household_id"]: (h.get("monitoring") or {}).get("assistance_officer") or "" for h in month_two(population())
    }
    assert {v["household_id"]: v["responsible"] for v in second.visits} == {h: officers[h] for h in got}
    assert any(v["responsible"] for v in second.visits) and any(not v["responsible"] for v in second.visits)
    order = [(v["village"], v["responsible"], v["household_id"]) for v in second.visits]
    assert order == sorted(order)
    # The file has the same rows, with Chinese headers.
    visits = pl.read_excel(tmp_path / "out-09" / "一月一提示.xlsx")
    assert visits.columns == ["乡镇", "村", "户编号", "帮扶责任人", "走访原因", "依据规则"]
    assert set(visits["户编号"]) == set(got)


def test_the_routine_writes_its_files(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    _, second = two_months(store, rules, tmp_path)
    out = tmp_path / "out-09"
    names = {p.name for p in out.iterdir()}
    assert {
        "一月一提示.xlsx",
        "一月一分析.xlsx",
        "一季一预警-2023Q3.xlsx",
        "一周一抽查.xlsx",
        "变化清单.xlsx",
        "monitor.json",
    } <= names
    # 云南 has no 2023 line: WX-018 is decided with the gap named (missing_parameters), not an error row
    assert "错误.xlsx" not in names
    analysis = pl.read_excel(out / "一月一分析.xlsx")
    assert {"户数", "上月户数", "户数变化"} <= set(analysis.columns)
    total = analysis.filter((pl.col("区划代码") == "合计") & (pl.col("指标") == "评估户数"))
    assert total["户数"].to_list() == [len(population())] and total["户数变化"].to_list() == [0]
    identified = analysis.filter(
        (pl.col("区划代码") == "合计") & (pl.col("指标") == "认定结论") & (pl.col("代码") == "identified")
    )
    assert identified["户数"].to_list() == [5] and identified["户数变化"].to_list() == [1]  # + HB-003
    report = json.loads((out / "monitor.json").read_text(encoding="utf-8"))
    assert report["previous_as_of"] == "2023-08-31"
    assert {c["household_id"] for c in report["changes"]["eliminated"]} == {"HB-013"}

    # The quarter's focus list counts the months a household was flagged.
    focus = {(f["household_id"], f["code"]): f["n_months"] for f in second.focus}
    assert focus[("HB-017", "identification_overdue")] == 2


def test_csv_files_carry_a_bom_and_chinese_headers(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    m1 = write_jsonl(population(), tmp_path / "m.jsonl")
    run_monthly([m1], as_of=AUG, store=store, rules=rules, key=KEY, out_dir=tmp_path / "o", fmt="csv")
    raw = (tmp_path / "o" / "一月一提示.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw[3:].decode().startswith("乡镇,村,户编号")


def test_the_weekly_sample_is_reproducible_and_stratified_by_village() -> None:
    pop = [(f"v{v}", f"h{v}-{i}") for v in range(5) for i in range(10 * (v + 1))]
    a = stratified_sample(pop, 15, seed=7)
    assert a == stratified_sample(list(reversed(pop)), 15, seed=7)  # input order does not matter
    assert a != stratified_sample(pop, 15, seed=8)
    per_village = {v: sum(1 for x, _ in a if x == v) for v in {v for v, _ in pop}}
    assert per_village == {"v0": 1, "v1": 2, "v2": 3, "v3": 4, "v4": 5}  # proportional to 10..50
    assert len(set(a)) == 15 and set(a) <= set(pop)
    assert len(stratified_sample(pop, 10_000, seed=1)) == len(pop)


# ----------------------------------------------------------------------------------------------- feeds


def test_a_feed_yields_one_lead_one_unmatched_and_one_error_and_reimport_adds_nothing(
    store: Store, rules: RuleSet, tmp_path: Path
) -> None:
    two_months(store, rules, tmp_path)
    feed = tmp_path / "医保.csv"
    feed.write_text(
        "身份证件号码,姓名,数据日期,合规自付金额\n"
        "99999919750302000X,王建国,2023-09-10,25000\n"  # HB-001's head of household
        "110101199001011234,张三,2023-09-11,3000\n"  # nobody in the store
        "99999919770812001X,李秀英,2023-09-31,100\n",  # no 31 September
        encoding="utf-8",
    )
    res = import_feed(feed, kind="medical", store=store, key=KEY, rules=rules)
    assert [(lead["household_id"], lead["line"]) for lead in res.leads] == [("HB-001", 2)]
    lead = res.leads[0]
    # 淮北's pack chain: identification within 15 days of the lead (identification_max_days, QINAN).
    assert lead["verify_by"] == (date(2023, 9, 10) + timedelta(days=15)).isoformat()
    assert [u["line"] for u in res.unmatched] == [3]
    assert [(e.line, e.column, e.code) for e in res.errors] == [(4, "数据日期", "bad_date")]
    assert "医保.csv:4" in str(res.errors[0])
    stored = store.execute("SELECT household_id, channel, verify_by FROM leads")
    assert stored == [("HB-001", CHANNEL, "2023-09-25")]
    again = import_feed(feed, kind="medical", store=store, key=KEY, rules=rules)
    assert again.leads == [] and again.duplicates == 2 and len(again.errors) == 1
    assert store.execute("SELECT COUNT(*) FROM leads")[0][0] == 1
    assert store.execute("SELECT COUNT(*) FROM feed_records")[0][0] == 2
    # No plain ID number is stored with the feed either.
    assert "99999919750302000X" not in json.dumps(store.execute("SELECT * FROM feed_records"), default=str)


def test_an_id_shared_by_two_households_is_ambiguous(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    pop = population()
    twin = json.loads(json.dumps(next(h for h in pop if h["household_id"] == "HB-001")))
    twin["household_id"] = "HB-901"
    write_jsonl([*pop, twin], tmp_path / "m.jsonl")
    run_monthly([tmp_path / "m.jsonl"], as_of=AUG, store=store, rules=rules, key=KEY, out_dir=tmp_path / "o")
    feed = tmp_path / "f.csv"
    feed.write_text("身份证件号码,数据日期,住房安全等级\n99999919750302000X,2023-08-01,C\n", encoding="utf-8")
    res = import_feed(feed, kind="housing", store=store, key=KEY, rules=rules)
    assert res.leads == [] and [sorted(c["household_id"] for c in a["candidates"]) for a in res.ambiguous] == [
        ["HB-001", "HB-901"]
    ]


def test_a_feed_without_its_required_column_is_refused(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    feed = tmp_path / "f.csv"
    feed.write_text("身份证件号码,数据日期\n99999919750302000X,2023-08-01\n", encoding="utf-8")
    with pytest.raises(Exception, match="合规自付金额"):
        import_feed(feed, kind="medical", store=store, key=KEY, rules=rules)


def test_leads_join_the_next_visit_list(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    m1 = write_jsonl(population(), tmp_path / "m1.jsonl")
    run_monthly([m1], as_of=AUG, store=store, rules=rules, key=KEY, out_dir=tmp_path / "o1", jurisdiction="test")
    feed = tmp_path / "edu.xlsx"
    pl.DataFrame({"身份证件号码": ["99999920110901052X"], "数据日期": ["2023-09-05"], "学段": ["八年级"]}).write_excel(
        feed
    )
    res = import_feed(feed, kind="education", store=store, key=KEY, rules=rules)
    assert len(res.leads) == 1
    hid = res.leads[0]["household_id"]
    m2 = write_jsonl(month_two(population()), tmp_path / "m2.jsonl")
    second = run_monthly(
        [m2], as_of=SEP, store=store, rules=rules, key=KEY, out_dir=tmp_path / "o2", jurisdiction="test"
    )
    visit = next(v for v in second.visits if v["household_id"] == hid)
    assert "lead" in visit["reasons"] and CHANNEL in visit["reason"] and "identification_max_days" in visit["rules"]


def test_the_example_months_are_the_test_population(tmp_path: Path) -> None:
    """examples/monitor holds the two months these tests use, for a new user to run by hand."""
    for name, households in (
        ("2022-09.jsonl", year_before(population())),
        ("2023-08.jsonl", population()),
        ("2023-09.jsonl", month_two(population())),
    ):
        want = write_jsonl(households, tmp_path / name).read_text(encoding="utf-8")
        assert (EXAMPLE_MONTHS / name).read_text(encoding="utf-8") == want


def test_the_commands_run_end_to_end_as_a_new_user_would(tmp_path: Path) -> None:
    env = {**os.environ, "ELIGIBILITY_ID_KEY": "cli-key-0123456789abcdef"}
    db = tmp_path / "s.db"
    exe = [sys.executable, "-m", "eligibility.cli"]

    def cli(*args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*exe, *args], capture_output=True, text=True, env=kw.get("env", env))

    for month, on in (("2023-08", "2023-08-31"), ("2023-09", "2023-09-30")):
        run = cli(
            "monitor",
            "run",
            str(EXAMPLE_MONTHS / f"{month}.jsonl"),
            "--as-of",
            on,
            "--db",
            str(db),
            "-o",
            str(tmp_path / month),
            "--format",
            "csv",
        )
        assert run.returncode == 1, run.stderr  # WX-018: no line for 维西 in 2023, a configuration gap
        assert "配置缺口" in run.stdout and "monitoring_line" in run.stdout
    assert "新识别监测对象 / newly_identified: 1" in run.stdout  # HB-003
    assert "风险消除 / eliminated: 1" in run.stdout  # HB-013
    visits = (tmp_path / "2023-09" / "一月一提示.csv").read_text(encoding="utf-8-sig")
    assert "HB-003" in visits and "HB-013" not in visits
    feed = str(EXAMPLE_MONTHS / "医保-2023-09.csv")
    first = cli("feeds", "import", feed, "--kind", "medical", "--db", str(db), "-o", str(tmp_path / "r.csv"))
    assert first.returncode == 1  # one unmatched and one malformed record
    assert "线索 / leads 1，未匹配 / unmatched 1，匹配到多户 / ambiguous 0，错误 / errors 1" in first.stdout
    assert "第 4 行" in first.stdout and "数据日期" in first.stdout
    again = cli("feeds", "import", feed, "--kind", "medical", "--db", str(db))
    assert "线索 / leads 0" in again.stdout and "已导入过 / already imported 2" in again.stdout
    report = cli("report", "--db", str(db), "--as-of", "2023-09-30", "-o", str(tmp_path / "r.html"))
    assert report.returncode == 0 and (tmp_path / "r.html").stat().st_size > 1_000_000
    nokey = {k: v for k, v in env.items() if k != "ELIGIBILITY_ID_KEY"}
    bad = cli(
        "monitor", "run", str(EXAMPLE_MONTHS / "2023-08.jsonl"), "--as-of", "2023-08-31", "--db", str(db), env=nokey
    )
    assert bad.returncode == 1 and "ELIGIBILITY_ID_KEY" in bad.stderr


# --------------------------------------------------------------------------------- history (§3)

YEAR_BEFORE = date(2022, 9, 30)


def three_runs(store: Store, rules: RuleSet, tmp_path: Path, second: list[dict[str, Any]] | None = None) -> Any:
    """2022-09 (a year before), then the two months; the September result."""
    kw: dict[str, Any] = {"store": store, "rules": rules, "key": KEY, "jurisdiction": "test"}
    months = (
        (YEAR_BEFORE, year_before(population())),
        (AUG, population()),
        (SEP, second if second is not None else month_two(population())),
    )
    res = None
    tmp_path.mkdir(parents=True, exist_ok=True)
    for on, households in months:
        path = write_jsonl(households, tmp_path / f"{on}.jsonl")
        res = run_monthly([path], as_of=on, out_dir=tmp_path / f"out-{on}", **kw)
    return res


def test_a_run_a_year_before_turns_an_undecided_income_drop_into_a_warning(
    store: Store, rules: RuleSet, tmp_path: Path
) -> None:
    """HB-003's wage falls in September. Without an earlier year its previous-year income is unknown, so
    the 收入下降 warning is undecided and on no list; with the 2022-09 run in the store it is certain: a
    new warning in the change list and a visit reason — and nothing else changes."""
    with_year = three_runs(store, rules, tmp_path / "with")
    (tmp_path / "without").mkdir()
    with open_store(tmp_path / "control.db") as control:
        _, without = two_months(control, rules, tmp_path / "without")

    def warned(res: Any) -> dict[str, list[str]]:
        return {c["household_id"]: c["rules"] for c in res.changes if c["change"] == "warning"}

    assert warned(with_year).get("HB-003") == ["warning.income_fell"]
    assert "HB-003" not in warned(without)
    change = next(c for c in with_year.changes if c["change"] == "warning" and c["household_id"] == "HB-003")
    assert change["after"] == "新：人均纯收入低于上年（收入下降户）"
    visits_with = {v["household_id"]: set(v["reasons"]) for v in with_year.visits}
    visits_without = {v["household_id"]: set(v["reasons"]) for v in without.visits}
    assert visits_with["HB-003"] - visits_without["HB-003"] == {"warning"}
    visits_with["HB-003"].discard("warning")
    assert visits_with == visits_without
    # The visit list is still exactly what the per-household engine decides, given the same history.
    history = {
        "HB-003": {"assessments": [{"as_of": "2022-09-30", "per_capita_net_income": "7900"}]},
    }
    sept = [
        {**h, "history": history[h["household_id"]]} if h["household_id"] in history else h
        for h in month_two(population())
    ]
    assert expected_visits(rules, sept, SEP)["HB-003"] == {"identify", "warning"}


def test_each_run_keeps_what_later_runs_read_as_history(store: Store, rules: RuleSet, tmp_path: Path) -> None:
    three_runs(store, rules, tmp_path)
    blocks = store.history("test", SEP + timedelta(days=1), YEAR_BEFORE)
    assert [on for on, _ in blocks] == [YEAR_BEFORE, AUG, SEP]
    sept = {r["household_id"]: r for r in pl.read_ipc(io.BytesIO(blocks[-1][1])).to_dicts()}
    assert sept["HB-003"]["per_capita_net_income"] == Decimal("4900.00")  # (5000 + 12400 − 3000 + 300) / 3
    assert sept["HB-013"]["risk_eliminated_on"] == date(2023, 9, 20)
    assert sept["HB-014"]["risks"] == (population()[13]["monitoring"].get("risks") or None)
    assert "WX-018" in sept  # decided (its line is a configuration gap), so part of the history
    # Month 2's households see the year before and August, in date order.
    frame = pl.DataFrame({"household_id": ["HB-003", "NEW-1"], "history.assessments": [None, None]})
    frame = frame.cast({"history.assessments": INPUT_SCHEMA["history.assessments"]})
    filled = with_history(frame, blocks[:2]).get_column("history.assessments").to_list()
    assert [a["as_of"] for a in filled[0]] == [YEAR_BEFORE, AUG]
    assert filled[0][0]["per_capita_net_income"] == Decimal("7900.00")  # August: 23,700 / 3
    assert filled[1] is None  # no earlier run: unknown, not empty


def test_a_history_given_in_the_input_is_used_instead_of_the_stores(
    store: Store, rules: RuleSet, tmp_path: Path
) -> None:
    """A county system that sends its own earlier assessments is taken at its word: HB-003's own record
    says it earned 1,000 a head a year before, so September's 4,900 is no drop."""
    second = month_two(population())
    for h in second:
        if h["household_id"] == "HB-003":
            h["history"] = {"assessments": [{"as_of": "2022-09-30", "per_capita_net_income": 1000}]}
    sept = three_runs(store, rules, tmp_path, second)
    assert not [c for c in sept.changes if c["change"] == "warning" and c["household_id"] == "HB-003"]


def test_a_parquet_input_carries_its_own_history_and_a_bad_item_is_an_error(tmp_path: Path) -> None:
    """Parquet in the frame contract keeps ``history.assessments``; each item is checked by the model, so a
    status that is not a code is an error naming the item, and that household alone is held back."""
    from eligibility import parse_household
    from eligibility.batch import read_inputs
    from eligibility.compile.polars import households_frame

    good = {**population()[0], "history": {"assessments": [{"as_of": "2022-09-30", "per_capita_net_income": 1000}]}}
    frame = households_frame([parse_household(good), parse_household({**good, "household_id": "X-2"})]).drop("as_of")
    dtype = frame.schema["history.assessments"]
    bad_item = [{"as_of": None, "per_capita_net_income": None, "monitoring_status": "乱写", "risks": None}]
    frame = frame.with_columns(
        pl.when(pl.col("household_id") == "X-2")
        .then(pl.lit([{**bad_item[0], "risk_eliminated_on": None}], dtype=dtype))
        .otherwise(pl.col("history.assessments"))
        .alias("history.assessments")
    )
    frame.write_parquet(tmp_path / "h.parquet")
    read = read_inputs([tmp_path / "h.parquet"], as_of=SEP)
    assert read.unknown_columns == []
    assert [(e.household_id, e.column, e.code) for e in read.errors] == [
        ("X-2", "history.assessments[0].monitoring_status", "enum")
    ]
    assert read.frame.get_column("history.assessments").to_list() == [
        [
            {
                "as_of": date(2022, 9, 30),
                "per_capita_net_income": Decimal("1000.00"),
                "monitoring_status": None,
                "risks": None,
                "risk_eliminated_on": None,
            }
        ]
    ]
