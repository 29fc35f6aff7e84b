"""The "Done when" checks of issue 13, run as a new user would run them (``make contract``).

Run: ``.venv/bin/python benchmarks/contract_run.py [N ...] [--bad B]`` (default N = 2,000 then 10,000;
B = N / 100 corrupted lines). Prints figures and what was checked; exits 1 when a check failed. Nothing
in ``make test`` runs this (it takes minutes); the quick forms of the same checks are in
``tests/test_strict_input.py``, ``tests/test_determinism.py`` and ``tests/fuzz/``.

For each N, a JSON Lines file of N households (``bench_evaluate.generate``, fixed seed; a few names hold a
raw U+2028, which belongs to its record) has B of its lines, at fixed random places, replaced by a
corrupted record of each kind issue 13 lists, in turn: a lone surrogate, deep nesting, a truncated line,
non-UTF-8 bytes, a repeated key, NaN and Infinity, a 4,300-digit number, a procedure date 9999-12-31,
a birth in 2073 or ``0``, an impossible date, ``"14_000"``, Arabic-Indic digits, ``"1.4e4"``, ``"1"``
as a boolean, a number as a member id, a missing ``household_id``, an unknown key, a 10 MB string,
100,000 members, ``[]``, 24 significant digits of money, a water quantity with 20 decimals. Then

* ``eligibility evaluate FILE --jsonl --as-of 2023-09-30 --trace none`` runs under ``/usr/bin/time -v``:
  the lines out must be N - B decisions and B errors, one for each input line in input order, with exit
  status 1; its maximum resident set size is printed for each N (flat memory: the two figures side by side);
* the same command under ``PYTHONHASHSEED=0`` and ``=1`` must print the same bytes;
* ``eligibility batch`` of the same file to CSV, JSON Lines and Parquet under both seeds must write the
  same bytes (files compared one by one);
* ``eligibility serve`` started under each seed must answer the example households (``/v1/evaluate`` at
  every trace level, ``/v1/explain``, ``/v1/batch`` of the first 500 lines of the file) with the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_evaluate import generate

BIN = Path(sys.executable).parent
AS_OF = "2023-09-30"


def _splice(h: dict[str, Any], path: tuple[Any, ...], literal: str) -> str:
    """``h`` as JSON with the value at ``path`` replaced by ``literal`` (JSON text a dict cannot hold)."""
    data = json.loads(json.dumps(h, default=str))
    target = data
    for part in path[:-1]:  # a section the household lacks is added (water, procedure)
        target = target.setdefault(part, {}) if isinstance(target, dict) else target[part]
    target[path[-1]] = "@@HERE@@"
    return json.dumps(data, ensure_ascii=False).replace('"@@HERE@@"', literal)


def corrupted(kind: int, h: dict[str, Any]) -> bytes:
    """One corrupted JSON Lines record (without its newline): kind ``kind`` of :data:`KINDS`."""
    name = KINDS[kind % len(KINDS)]
    if name in SPLICED:
        path, literal = SPLICED[name]
        return _splice(h, path, literal).encode("utf-8", "surrogatepass")
    text: str
    if name == "truncated":
        text = json.dumps(h, ensure_ascii=False, default=str)[:-7]
    elif name == "non_utf8":
        raw = json.dumps(h, ensure_ascii=False, default=str).encode()
        return raw[:40] + b"\xff\xfe" + raw[40:]
    elif name == "missing_household_id":
        data = json.loads(json.dumps(h, default=str))
        del data["household_id"]
        text = json.dumps(data, ensure_ascii=False)
    elif name == "many_members":
        data = json.loads(json.dumps(h, default=str))
        data["members"] = [{"member_id": str(i)} for i in range(100_000)]
        text = json.dumps(data)
    else:  # empty_list
        text = "[]"
    return text.encode("utf-8", "surrogatepass")


KINDS = [
    "lone_surrogate", "deep_nesting", "truncated", "non_utf8", "duplicate_key", "nan", "infinity",
    "huge_integer", "procedure_9999", "born_2073", "born_0", "impossible_date", "underscore_money",
    "arabic_indic_money", "exponent_money", "string_boolean", "numeric_member_id", "missing_household_id",
    "unknown_key", "ten_mb_string", "many_members", "empty_list", "money_24_digits", "water_20_decimals",
]  # fmt: skip


SPLICED: dict[str, tuple[tuple[Any, ...], str]] = {
    # kind: (where in the household, the JSON text put there)
    "lone_surrogate": (("members", 0, "name"), '"\\ud800"'),
    "deep_nesting": (("income", "wage"), "[" * 2000 + "]" * 2000),
    "duplicate_key": (("income", "wage"), '0, "wage": 99999'),
    "nan": (("income", "wage"), "NaN"),
    "infinity": (("rigid_expenditure", "medical_self_pay"), "Infinity"),
    "huge_integer": (("income", "transfer"), "9" * 4300),
    "procedure_9999": (("procedure", "lead_found_on"), '"9999-12-31"'),
    "born_2073": (("members", 0, "birth_date"), '"2073-01-01"'),
    "born_0": (("members", 0, "birth_date"), "0"),
    "impossible_date": (("members", 0, "birth_date"), '"2023-02-30"'),
    "underscore_money": (("income", "wage"), '"14_000"'),
    "arabic_indic_money": (("income", "wage"), '"١٢٣"'),
    "exponent_money": (("income", "wage"), '"1.4e4"'),
    "string_boolean": (("members", 0, "basic_medical_insurance"), '"1"'),
    "numeric_member_id": (("members", 0, "member_id"), "7"),
    "unknown_key": (("income", "wage "), "1"),
    "ten_mb_string": (("members", 0, "name"), '"' + "x" * 10_000_000 + '"'),
    "money_24_digits": (("income", "wage"), "23699.999999999999999999"),
    "water_20_decimals": (("water", "litres_per_person_day"), "60.00000000000000000001"),
}
"""The corruptions that put one JSON literal at one place of the household."""


def write_file(path: Path, n: int, bad: int) -> set[int]:
    """N households with ``bad`` corrupted lines; returns the (1-based) line numbers of the corrupted ones."""
    rng = random.Random(20261130)
    households = generate(rng, n)
    where = set(rng.sample(range(1, n + 1), bad))
    kind = 0
    with path.open("wb") as f:
        for i, h in enumerate(households, 1):
            if i in where:
                f.write(corrupted(kind, h) + b"\n")
                kind += 1
                continue
            if i % 97 == 0 and h.get("members"):
                h["members"][0]["name"] = "王\u2028建\u2029国"  # raw separators inside a record
            f.write(json.dumps(h, ensure_ascii=False, default=str).encode() + b"\n")
    return where


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[bytes], int, float]:
    t0 = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, env=env, check=False)
    wall = time.perf_counter() - t0
    rss = re.search(rb"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return done, int(rss.group(1)) if rss else -1, wall


def check_evaluate(path: Path, n: int, where: set[int], failures: list[str]) -> None:
    cmd = [str(BIN / "eligibility"), "evaluate", str(path), "--jsonl", "--as-of", AS_OF, "--trace", "none"]
    outs = {}
    for seed in ("0", "1"):
        done, rss, wall = _timed(cmd, {**os.environ, "PYTHONHASHSEED": seed})
        # /usr/bin/time exits with the command's status ("Command exited with non-zero status 1")
        status = done.returncode
        lines = done.stdout.decode("utf-8").splitlines()
        records = [json.loads(x) for x in lines]
        decisions = sum("decision" in r for r in records)
        errors = sum("error" in r for r in records)
        labels = [r["input"] for r in records]
        in_order = labels == [f"{path}:{i}" for i in range(1, n + 1)]
        errors_where = {int(r["input"].rsplit(":", 1)[1]) for r in records if "error" in r}
        traceback = b"Traceback" in done.stderr
        print(
            f"  evaluate --jsonl N={n:>6,} PYTHONHASHSEED={seed}: {len(records):,} lines = {decisions:,} decisions + "
            f"{errors:,} errors; input order {'yes' if in_order else 'NO'}; errors exactly at the corrupted lines "
            f"{'yes' if errors_where == where else 'NO'}; exit {status}; traceback {'YES' if traceback else 'no'}; "
            f"max RSS {rss / 1024:,.1f} MiB; {wall:,.1f} s ({n / wall:,.0f} lines/s)"
        )
        if not (decisions == n - len(where) and errors == len(where) and in_order and errors_where == where):
            failures.append(f"evaluate N={n} seed={seed}: counts, order or error places")
        if status != (1 if where else 0) or traceback:
            failures.append(f"evaluate N={n} seed={seed}: exit {status}, traceback {traceback}")
        outs[seed] = done.stdout
        wage = [r for r in records if "error" in r and "14_000" in KIND_AT.get(r["input"], "")]
        for r in wage:
            paths = [f["path"] for f in r["error"].get("fields", [])]
            if paths != ["$.income.wage"]:
                failures.append(f'"14_000" named {paths}, not $.income.wage')
        if wage and seed == "0":
            print(f'  "wage": "14_000" → {json.dumps(wage[0]["error"]["fields"], ensure_ascii=False)}')
    same = outs["0"] == outs["1"]
    print(
        f"  evaluate --jsonl N={n:>6,}: same bytes under PYTHONHASHSEED=0 and =1: {'yes' if same else 'NO'} "
        f"(sha256 {hashlib.sha256(outs['0']).hexdigest()[:16]}…, {len(outs['0']):,} bytes)"
    )
    if not same:
        failures.append(f"evaluate N={n}: bytes differ between hash seeds")


KIND_AT: dict[str, str] = {}
"""Input label → "kind" of the corrupted line there (for the check on ``"14_000"``)."""


def check_batch(path: Path, folder: Path, failures: list[str]) -> None:
    digests: dict[str, dict[str, str]] = {}
    for seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        for suffix in ("csv", "jsonl", "parquet"):
            out = folder / f"seed{seed}" / f"decisions.{suffix}"
            out.parent.mkdir(parents=True, exist_ok=True)
            summary = folder / f"seed{seed}" / f"summary-{suffix}.csv"
            cmd = [str(BIN / "eligibility"), "batch", str(path), "--as-of", AS_OF, "-o", str(out)]
            cmd += ["--summary", str(summary)]
            done = subprocess.run(cmd, capture_output=True, env=env, check=False)
            text = (done.stdout + done.stderr).decode("utf-8", "replace")
            counts = re.search(r"([\d,]+) rows: ([\d,]+) decisions, ([\d,]+) errors", text)
            if seed == "0":
                print(
                    f"  batch → {suffix}: {counts.group(0) if counts else 'no counts printed'}; exit "
                    f"{done.returncode}; traceback {'YES' if 'Traceback' in text else 'no'}"
                )
            if "Traceback" in text or counts is None:
                failures.append(f"batch → {suffix} seed={seed}: traceback or no counts")
        files = sorted(p for p in (folder / f"seed{seed}").rglob("*") if p.is_file())
        digests[seed] = {
            str(p.relative_to(folder / f"seed{seed}")): hashlib.sha256(p.read_bytes()).hexdigest() for p in files
        }
    same = digests["0"] == digests["1"] and bool(digests["0"])
    differ = sorted(k for k in digests["0"].keys() | digests["1"].keys() if digests["0"].get(k) != digests["1"].get(k))
    print(
        f"  batch → CSV, JSON Lines, Parquet (+ summaries): {len(digests['0'])} files; same bytes under "
        f"PYTHONHASHSEED=0 and =1: {'yes' if same else 'NO: ' + ', '.join(differ)}"
    )
    if not same:
        failures.append("batch output files differ between hash seeds: " + ", ".join(differ))


def _serve(seed: str, folder: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """``eligibility serve`` on a free port of 127.0.0.1 under ``PYTHONHASHSEED=seed``: (process, url, key)."""
    import socket

    keys = folder / f"keys-{seed}.yaml"
    made = subprocess.run(
        [str(BIN / "eligibility"), "serve", "--keys", str(keys), "--new-key", "contract"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    key = next(w for w in made.stdout.split() if w.startswith("elig_"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONHASHSEED": seed}
    cmd = [str(BIN / "eligibility"), "serve", "--keys", str(keys), "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}", key


def check_service(path: Path, folder: Path, failures: list[str]) -> None:
    import httpx

    examples = sorted((Path(__file__).resolve().parents[1] / "examples" / "households").glob("*.json"))
    batch = b"".join(path.read_bytes().splitlines(keepends=True)[:500])
    answers: dict[str, list[bytes]] = {}
    for seed in ("0", "1"):
        proc, url, key = _serve(seed, folder)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        if c.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("eligibility serve did not start")
                    time.sleep(0.2)
                got = []
                for ex in examples:
                    body = ex.read_bytes()
                    for trace in ("full", "compact", "none"):
                        query = {"as_of": AS_OF, "trace": trace}
                        got.append(c.post("/v1/evaluate", params=query, content=body).content)
                    got.append(c.post("/v1/explain", params={"as_of": AS_OF}, content=body).content)
                got.append(c.post("/v1/batch", params={"as_of": AS_OF}, content=batch).content)
                got.append(c.post("/v1/batch", params={"as_of": AS_OF, "form": "table"}, content=batch).content)
                answers[seed] = got
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    same = answers["0"] == answers["1"]
    n = len(answers["0"])
    print(
        f"  serve: {n} responses ({len(examples)} examples × evaluate full/compact/none + explain, 2 batches of "
        f"500 lines); same bytes under PYTHONHASHSEED=0 and =1: {'yes' if same else 'NO'}"
    )
    if not same:
        failures.append("service responses differ between hash seeds")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[2_000, 10_000])
    parser.add_argument("--bad", type=int, default=None, help="corrupted lines (default N / 100)")
    parser.add_argument("--no-batch", action="store_true", help="skip the eligibility batch comparison")
    args = parser.parse_args()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="contract-") as tmp:
        for n in args.sizes:
            bad = args.bad if args.bad is not None else n // 100
            path = Path(tmp) / f"households-{n}.jsonl"
            where = write_file(path, n, bad)
            for k, line in enumerate(sorted(where)):
                KIND_AT[f"{path}:{line}"] = KINDS[k % len(KINDS)].replace("underscore_money", "14_000")
            print(
                f"{n:,} households, {bad} corrupted lines ({min(bad, len(KINDS))} kinds), {path.stat().st_size:,} bytes"
            )
            check_evaluate(path, n, where, failures)
            if not args.no_batch and n == args.sizes[-1]:
                check_batch(path, Path(tmp) / f"batch-{n}", failures)
                check_service(path, Path(tmp), failures)
    for f in failures:
        print(f"FAILED: {f}")
    print("全部通过 / all checks passed" if not failures else f"{len(failures)} 项未通过 / checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
