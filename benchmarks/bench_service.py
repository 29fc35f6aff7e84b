"""The HTTP service's latency and throughput on 127.0.0.1 (issue 16 §4), beside in-process baselines.

Run: ``.venv/bin/python benchmarks/bench_service.py [--rate 500] [--seconds 10] [--connections 16]
[--batch 10000]``. Prints its figures; nothing asserts on time. Only loopback is ever contacted, every
loop is bounded in count and time, and the server it starts is stopped at the end.

1. Baseline: ``Engine.evaluate(household, as_of, trace="compact")`` and ``to_json`` in this process,
   one call after another — what the library costs without HTTP.
2. ``eligibility serve`` (one uvicorn process, started here) with ``--connections`` keep-alive
   connections from one asyncio client:
   a. open loop at ``--rate`` requests/s for ``--seconds`` (issue target: p99 < 10 ms at 500/s,
      compact trace); latency is measured from each request's *scheduled* send time, so a server that
      falls behind shows it in the percentiles instead of slowing the client down;
   b. closed loop (each connection sends its next request when the last answer arrives) for half as
      long: the most requests/s the server gives on this machine.
3. Batch: ``--batch`` households as JSON Lines through ``POST /v1/batch`` (both forms: ``decision``,
   the per-household engine, and ``table``, the columnar program) against ``eligibility batch
   in.jsonl -o out.jsonl`` (the CLI, a process of its own, start-up included) on the same file.

Households are ``workload.py``'s (fixed seed), each with its own assessment date. The machine has 2
cores: the client, the server and anything else running share them, so the figures are this
machine's on this run, printed with the baseline of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload

from eligibility import Engine, load_rules
from eligibility.service import hash_key

KEY = "elig_benchmark-key"


def pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(p / 100 * len(s)))] * 1e3


def line(label: str, lat: list[float], n: int, seconds: float) -> None:
    print(
        f"{label:<44} {n:>7,} req  {n / seconds:>8,.0f} req/s  p50 {pct(lat, 50):6.2f} ms  "
        f"p90 {pct(lat, 90):6.2f} ms  p99 {pct(lat, 99):6.2f} ms  max {max(lat) * 1e3:7.2f} ms"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): a cost per request that other load on
    the machine does not inflate, unlike wall-clock latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def baseline(bodies: list[bytes]) -> None:
    engine = Engine(load_rules())
    records = [json.loads(b) for b in bodies]
    for r in records:  # compile every program first
        engine.evaluate(r["household"], r["as_of"], trace="compact")
    lat = []
    t0, c0 = time.perf_counter(), time.process_time()
    for r in records:
        t = time.perf_counter()
        engine.evaluate(r["household"], r["as_of"], trace="compact").to_json(indent=None)
        lat.append(time.perf_counter() - t)
    cpu = (time.process_time() - c0) / len(records)
    line("baseline: Engine.evaluate compact, in-process", lat, len(lat), time.perf_counter() - t0)
    print(f"{'':<44} CPU {cpu * 1e3:.3f} ms a household: at most {1 / cpu:,.0f}/s on one core")


def request(body: bytes) -> bytes:
    head = (
        "POST /v1/evaluate?trace=compact HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for h in head.split(b"\r\n"):
        if h[:15].lower() == b"content-length:":
            length = int(h[15:])
    await reader.readexactly(length)
    return status


async def open_loop(port: int, raws: list[bytes], rate: float, seconds: float, conns: int) -> None:
    total = int(rate * seconds)
    lat: list[float] = []
    statuses: dict[int, int] = {}
    t0 = time.perf_counter() + 0.2

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(k, total, conns):
            at = t0 + i / rate
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            s = await exchange(reader, writer, raws[i % len(raws)])
            lat.append(time.perf_counter() - at)
            statuses[s] = statuses.get(s, 0) + 1
        writer.close()

    await asyncio.gather(*(worker(k) for k in range(conns)))
    line(f"open loop at {rate:,.0f}/s, {conns} connections", lat, total, time.perf_counter() - t0)
    print(f"{'':<44} status codes {statuses}")


async def closed_loop(port: int, raws: list[bytes], seconds: float, conns: int) -> int:
    lat: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds
    t0 = time.perf_counter()

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = k
        while time.perf_counter() < stop:
            t = time.perf_counter()
            s = await exchange(reader, writer, raws[i % len(raws)])
            lat.append(time.perf_counter() - t)
            statuses[s] = statuses.get(s, 0) + 1
            i += conns
        writer.close()

    await asyncio.gather(*(worker(k) for k in range(conns)))
    line(f"closed loop, {conns} connections", lat, len(lat), time.perf_counter() - t0)
    print(f"{'':<44} status codes {statuses}")
    return len(lat)


async def warm(port: int, raws: list[bytes]) -> None:
    """Every distinct household once, so each program the timed loops use is compiled before them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t0 = time.perf_counter()
    bad = sum([await exchange(reader, writer, raw) != 200 for raw in raws])
    writer.close()
    took = time.perf_counter() - t0
    print(f"{'warm-up (programs compiled on first use)':<44} {len(raws):>7,} req  {took:6.1f} s, {bad} not 200")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def batch(url: str, path: Path, n: int, workdir: Path) -> None:
    body = path.read_bytes()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=600) as c:
        for form in ("table", "decision"):
            t0 = time.perf_counter()
            lines = errors = 0
            with c.stream("POST", "/v1/batch", params={"form": form}, content=body) as r:
                for text in r.iter_lines():
                    lines += 1
                    errors += "error" in json.loads(text)
            s = time.perf_counter() - t0
            print(f"POST /v1/batch form={form:<9} {n:>7,} households {s:7.2f} s {n / s:>8,.0f} /s  ({errors} errors)")
    out = workdir / "out.jsonl"
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "eligibility.cli", "batch", str(path), "-o", str(out)],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    s = time.perf_counter() - t0
    print(f"baseline: eligibility batch (CLI process)  {n:>7,} households {s:7.2f} s {n / s:>8,.0f} /s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--batch", type=int, default=10_000)
    args = ap.parse_args()
    rng = random.Random(20261130)
    work = workload.generate(rng, 2_000, workload.sites())
    bodies = [json.dumps({"as_of": on.isoformat(), "household": h}, ensure_ascii=False).encode() for h, on in work]
    size = statistics.mean(map(len, bodies))
    print(f"{os.cpu_count()} CPUs; {len(bodies):,} distinct households, {size:,.0f} bytes each")
    baseline(bodies)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        keys = workdir / "keys.yaml"
        keys.write_text(f'keys:\n  - system: bench\n    sha256: "{hash_key(KEY)}"\n', encoding="utf-8")
        port = free_port()
        argv = [sys.executable, "-m", "eligibility.cli", "serve", "--port", str(port), "--keys", str(keys)]
        argv += ["--rate", "1000000", "--burst", "1000000", "--log-level", "warning"]
        argv += ["--max-batch-bytes", str(1 << 30), "--max-batch-records", str(10**7)]
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(url)
            raws = [request(b) for b in bodies]
            asyncio.run(warm(port, raws))
            asyncio.run(open_loop(port, raws, args.rate, args.seconds, args.connections))
            c0 = cpu_seconds(server.pid)
            n = asyncio.run(closed_loop(port, raws, args.seconds / 2, args.connections))
            cpu = (cpu_seconds(server.pid) - c0) / n
            print(f"{'':<44} server CPU {cpu * 1e3:.3f} ms a request: at most {1 / cpu:,.0f}/s on one core")
            if args.batch <= 0:
                return
            big = workload.generate(random.Random(20261201), args.batch, workload.sites())
            path = workdir / "households.jsonl"
            with path.open("w", encoding="utf-8") as f:
                for i, (h, on) in enumerate(big):
                    h["household_id"] = f"B{i:07d}"
                    f.write(json.dumps({"as_of": on.isoformat(), "household": h}, ensure_ascii=False) + "\n")
            batch(url, path, args.batch, workdir)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
