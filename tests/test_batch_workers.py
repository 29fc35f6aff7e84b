"""``run_batch(workers=N)``: parts decided in worker processes give the very files one process gives, stop
and resume as one process does, and leave no worker behind when the run is killed."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from eligibility import load_rules
from eligibility.batch import _workers, run_batch
from eligibility.cli import main

ROOT = Path(__file__).resolve().parent.parent
BATCH = ROOT / "examples" / "batch"
RULES = load_rules(ROOT / "rules")
ON = date(2023, 9, 30)


def _run(src: list[Path], out: Path, workers: int | str, **kw: object) -> object:
    return run_batch(src, out, rules=RULES, as_of=ON, chunk_rows=2, progress=False, workers=workers, **kw)  # type: ignore[arg-type]


def _files(out: Path) -> dict[str, bytes]:
    """The output and the errors file beside it, by name — a workbook by its members, less the time it
    was written (``docProps/core.xml``, different in every run)."""
    got: dict[str, bytes] = {}
    for p in sorted(out.parent.iterdir()):
        if not p.name.startswith(out.stem):
            continue
        if p.suffix == ".xlsx":
            with zipfile.ZipFile(p) as book:
                got |= {f"{p.name}:{n}": book.read(n) for n in book.namelist() if n != "docProps/core.xml"}
        else:
            got[p.name] = p.read_bytes()
    return got


@pytest.mark.parametrize(
    ("suffix", "source"),
    [
        (".parquet", "households.jsonl"),  # parts read by the workers from the file
        (".csv", "households-with-errors.csv"),  # bad rows; the parent's spill files, read by path
        (".jsonl", "households.jsonl"),
        (".xlsx", "households.xlsx"),  # a workbook read here, its parts' rows sent to the workers
    ],
)
def test_two_workers_write_the_bytes_one_process_writes(tmp_path: Path, suffix: str, source: str) -> None:
    import multiprocessing

    src = [BATCH / source]
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    a = _run(src, one / f"out{suffix}", 1, summary_path=one / "s.csv", log=io.StringIO())
    busy: list[int] = []
    b = _run(
        src,
        two / f"out{suffix}",
        2,
        summary_path=two / "s.csv",
        log=io.StringIO(),
        after_part=lambda part: busy.append(len(multiprocessing.active_children())),
    )
    assert busy and max(busy) == 2, "the parts were decided by two worker processes"
    assert _files(one / f"out{suffix}") == _files(two / f"out{suffix}")
    assert (one / "s.csv").read_bytes() == (two / "s.csv").read_bytes()
    for field in ("rows", "decided", "errors", "unknown_columns", "notes", "gaps"):
        assert getattr(a, field) == getattr(b, field), field
    assert b.rows > 2 and not (two / f"out{suffix}.parts").exists()  # type: ignore[attr-defined]


class _Stop(Exception):
    pass


def _stop_at(last: int) -> Callable[[int], None]:
    def stop(part: int) -> None:
        if part == last:
            raise _Stop

    return stop


def test_a_run_stopped_in_workers_resumes_to_the_same_bytes(tmp_path: Path) -> None:
    src = [BATCH / "households.jsonl"]
    clean = tmp_path / "clean.csv"
    _run(src, clean, 1, log=io.StringIO())
    out = tmp_path / "out.csv"
    seen: list[int] = []

    def stop(part: int) -> None:
        seen.append(part)
        _stop_at(1)(part)

    with pytest.raises(_Stop):
        _run(src, out, 2, after_part=stop, log=io.StringIO())
    assert seen == [0, 1]  # in part order, as one process records them
    manifest = json.loads((tmp_path / "out.csv.parts" / "manifest.json").read_text(encoding="utf-8"))
    assert [p["part"] for p in manifest["parts"]] == [0, 1]
    result = _run(src, out, 2, resume=True, log=io.StringIO())
    assert result.resumed_parts == 2  # type: ignore[attr-defined]
    assert out.read_bytes() == clean.read_bytes()


KILLER = """
import os, signal, sys
from datetime import date
from pathlib import Path
import multiprocessing
from eligibility import load_rules
from eligibility.batch import run_batch

def die(part):
    if part == 0:
        # the workers' process ids, for the test to check that none outlives this process
        Path(sys.argv[3]).write_text(" ".join(str(p.pid) for p in multiprocessing.active_children()))
        os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":
    run_batch([Path(sys.argv[1])], Path(sys.argv[2]), rules=load_rules(sys.argv[4]), as_of=date(2023, 9, 30),
              chunk_rows=2, progress=False, after_part=die, workers=2)
"""


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, waiting for a parent to reap it, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers die with their parent on Linux")
def test_a_killed_run_leaves_no_worker_behind_and_resumes(tmp_path: Path) -> None:
    src = BATCH / "households.jsonl"
    out = tmp_path / "out.parquet"
    pids = tmp_path / "pids"
    script = tmp_path / "kill.py"
    script.write_text(KILLER, encoding="utf-8")
    # Output to a file, not pipes: a worker left alive would hold a pipe open and hang the test.
    with (tmp_path / "log").open("wb") as log:
        killed = subprocess.run(
            [sys.executable, str(script), str(src), str(out), str(pids), str(ROOT / "rules")],
            stdout=log,
            stderr=log,
            check=False,
            timeout=300,
        )
    assert killed.returncode == -signal.SIGKILL, (tmp_path / "log").read_text()
    workers = [int(p) for p in pids.read_text().split()]
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in workers if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "a worker outlived the killed run"
    manifest = json.loads((tmp_path / "out.parquet.parts" / "manifest.json").read_text(encoding="utf-8"))
    assert [p["part"] for p in manifest["parts"]] == [0]
    # what the killed run could not remove is in its parts folder, which the resumed run clears at its end
    assert len(list((tmp_path / "out.parquet.parts").glob("rules.tmp*.pickle"))) == 1
    result = _run([src], out, 2, resume=True, log=io.StringIO())
    assert not (tmp_path / "out.parquet.parts").exists()
    clean = tmp_path / "clean.parquet"
    _run([src], clean, 1, log=io.StringIO())
    assert result.resumed_parts == 1  # type: ignore[attr-defined]
    assert out.read_bytes() == clean.read_bytes()


ORPHAN = """
import os, signal, subprocess, sys, time
from pathlib import Path
ready = Path(sys.argv[1]) / "ready"
child = subprocess.Popen(
    [sys.executable, "-c", "import sys, time; from pathlib import Path; from eligibility.batch import "
     "_die_with_parent; _die_with_parent(); Path(sys.argv[1]).write_text('ready'); time.sleep(60)", str(ready)],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
while not ready.exists():
    time.sleep(0.02)
(Path(sys.argv[1]) / "pid").write_text(str(child.pid))
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_ends_with_its_parent(tmp_path: Path) -> None:
    # The mechanism itself: a process that called _die_with_parent ends when its parent is killed, rather
    # than sleeping on (without the call it lives the full minute). Output to files, not pipes: a child
    # left alive would hold a pipe open and hang the test instead of failing it.
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN, encoding="utf-8")
    with (tmp_path / "log").open("wb") as log:
        got = subprocess.run(
            [sys.executable, str(script), str(tmp_path)], stdout=log, stderr=log, check=False, timeout=60
        )
    assert got.returncode == -signal.SIGKILL, (tmp_path / "log").read_text()
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(pid)
    if alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "the child outlived its killed parent"


def test_a_rule_set_that_has_decided_still_travels_to_a_worker(tmp_path: Path) -> None:
    # Small parts are decided household by household by an engine kept on the rule set (compile.rowwise):
    # its generated programs cannot be pickled, and a worker gets the rules by pickle.
    import pickle

    rules = load_rules(ROOT / "rules")
    src = [BATCH / "households.xlsx"]
    kw = {"as_of": ON, "chunk_rows": 2, "rowwise": 400, "progress": False, "log": io.StringIO()}
    run_batch(src, tmp_path / "o.csv", rules=rules, **kw)  # type: ignore[arg-type]
    assert "_rowwise_engine" in rules.__dict__
    again = pickle.loads(pickle.dumps(rules))
    assert "_rowwise_engine" not in again.__dict__ and again.sources_digest == rules.sources_digest


def test_how_many_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELIGIBILITY_BATCH_WORKERS", raising=False)
    assert _workers(None, 10) == 1  # the API keeps to this process unless asked
    assert _workers(3, 10) == 3 and _workers(3, 2) == 2 and _workers(8, 1) == 1
    cores = len(os.sched_getaffinity(0))
    assert _workers("auto", 100) == cores
    assert _workers("auto", 3) == 1 and _workers("auto", 1) == 1  # at least two parts a worker
    assert _workers("auto", 4) == min(cores, 2)
    monkeypatch.setenv("ELIGIBILITY_BATCH_WORKERS", "2")
    assert _workers(None, 10) == 2
    for bad in (0, -1, "0", "two", True):
        with pytest.raises(ValueError, match="workers"):
            _workers(bad, 10)  # type: ignore[arg-type]


def test_the_command_takes_workers_and_refuses_a_wrong_value(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    args = ["batch", str(BATCH / "households.jsonl"), "--as-of", "2023-09-30", "-o", str(out), "--chunk-rows", "2"]
    assert main([*args, "--workers", "2"], out=io.StringIO()) == 0
    two = out.read_bytes()
    assert main([*args, "--workers", "1"], out=io.StringIO()) == 0
    assert out.read_bytes() == two
    assert main([*args, "--workers", "none"], out=io.StringIO()) == 1


def test_workers_start_with_their_share_of_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    # polars reads POLARS_MAX_THREADS once, when a worker imports it: set while workers start, then gone;
    # a value the caller set is theirs.
    from eligibility.batch import _polars_threads

    monkeypatch.delenv("POLARS_MAX_THREADS", raising=False)
    with _polars_threads(1):
        assert os.environ["POLARS_MAX_THREADS"] == "1"
    assert "POLARS_MAX_THREADS" not in os.environ
    monkeypatch.setenv("POLARS_MAX_THREADS", "7")
    with _polars_threads(1):
        assert os.environ["POLARS_MAX_THREADS"] == "7"
    assert os.environ["POLARS_MAX_THREADS"] == "7"


UNGUARDED = """
import sys
from datetime import date
from pathlib import Path
from eligibility import load_rules
from eligibility.batch import run_batch

# No ``if __name__ == "__main__":``: each spawned worker runs this again and dies starting a pool of its own.
run_batch([Path(sys.argv[1])], Path(sys.argv[2]), rules=load_rules(sys.argv[3]), as_of=date(2023, 9, 30),
          chunk_rows=2, progress=False, workers=2)
"""


def test_a_script_without_a_main_guard_gets_an_error_not_a_hang(tmp_path: Path) -> None:
    # The rule set used to travel in the workers' start-up data, more than a pipe holds: with a worker dead
    # while starting, the parent waited on that pipe for ever. Output to a file, not pipes (see above).
    script = tmp_path / "unguarded.py"
    script.write_text(UNGUARDED, encoding="utf-8")
    temp = tmp_path / "temp"  # the run's temporary files, here: none may be left
    temp.mkdir()
    args = [
        sys.executable,
        str(script),
        str(BATCH / "households.jsonl"),
        str(tmp_path / "out.csv"),
        str(ROOT / "rules"),
    ]
    with (tmp_path / "log").open("wb") as log:
        try:
            got = subprocess.run(
                args, stdout=log, stderr=log, check=False, timeout=240, env={**os.environ, "TMPDIR": str(temp)}
            )
        except subprocess.TimeoutExpired:
            pytest.fail("run_batch(workers=2) from a script without a main guard hung")
    text = (tmp_path / "log").read_text(encoding="utf-8")
    assert got.returncode == 1, text
    assert "BatchWorkerError" in text and 'if __name__ == "__main__":' in text, text
    assert not list(temp.iterdir()), "the run left a file in the system's temporary folder"


def test_workers_killed_midway_are_an_error_and_the_run_resumes(tmp_path: Path) -> None:
    import multiprocessing

    from eligibility import BatchWorkerError

    src = [BATCH / "households.jsonl"]
    out = tmp_path / "out.csv"
    killed: list[int] = []

    def kill_the_workers(part: int) -> None:
        # Part 0 is recorded and parts 1-2 are out; part 3 is handed to the pool after this, with no worker
        # left to take it (one part per household: six parts).
        if part == 0:
            for victim in multiprocessing.active_children():
                assert victim.pid is not None
                killed.append(victim.pid)
                os.kill(victim.pid, signal.SIGKILL)

    kw = {"rules": RULES, "as_of": ON, "chunk_rows": 1, "progress": False, "log": io.StringIO()}
    with pytest.raises(BatchWorkerError, match="--resume"):
        run_batch(src, out, workers=2, after_part=kill_the_workers, **kw)  # type: ignore[arg-type]
    assert len(killed) == 2
    parts = tmp_path / "out.csv.parts"
    assert not list(parts.glob("rules.*")), "the rules file the workers read was left"
    done = [p["part"] for p in json.loads((parts / "manifest.json").read_text(encoding="utf-8"))["parts"]]
    assert done[:1] == [0] and done == list(range(len(done))) and len(done) < 6  # in order, not all
    result = run_batch(src, out, workers=2, resume=True, **kw)  # type: ignore[arg-type]
    clean = tmp_path / "clean.csv"
    run_batch(src, clean, workers=1, **kw)  # type: ignore[arg-type]
    assert result.resumed_parts == len(done)  # type: ignore[attr-defined]
    assert out.read_bytes() == clean.read_bytes()
    assert not parts.exists()


ONE_KILLED = """
import io, multiprocessing, os, signal, sys
from datetime import date
from pathlib import Path
from eligibility import BatchWorkerError, load_rules
from eligibility.batch import run_batch

def kill_one(part):
    if part == 0:
        os.kill(multiprocessing.active_children()[0].pid, signal.SIGKILL)

if __name__ == "__main__":
    rules = load_rules(sys.argv[2])
    for i in range(int(sys.argv[3])):
        try:
            run_batch([Path(sys.argv[1])], Path(sys.argv[4]) / f"out{i}.csv", rules=rules, as_of=date(2023, 9, 30),
                      chunk_rows=2, progress=False, log=io.StringIO(), after_part=kill_one, workers=2)
            print("finished", flush=True)
        except BatchWorkerError:
            print("error", flush=True)
"""


def test_a_run_with_one_worker_killed_ends(tmp_path: Path) -> None:
    # One of two workers killed after part 0, in runs of three parts: whether the run ends in an error or
    # (its parts all back already) finishes, it ends. It used to hang at the pool's shutdown (the 9th of 40
    # such runs, session 28): the killed worker held a lock of the pool's queues that the other waited on.
    script = tmp_path / "one_killed.py"
    script.write_text(ONE_KILLED, encoding="utf-8")
    runs = 16
    args = [sys.executable, str(script), str(BATCH / "households.jsonl"), str(ROOT / "rules"), str(runs), str(tmp_path)]
    with (tmp_path / "log").open("wb") as log:
        try:
            got = subprocess.run(args, stdout=log, stderr=log, check=False, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.fail("a run with a killed worker hung: " + (tmp_path / "log").read_text(encoding="utf-8"))
    text = (tmp_path / "log").read_text(encoding="utf-8")
    assert got.returncode == 0, text
    assert sum(line in ("finished", "error") for line in text.splitlines()) == runs, text
