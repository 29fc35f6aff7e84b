"""A real uvicorn server on 127.0.0.1 (a free port, in a thread) and a real HTTP client (httpx).

The server runs the application ``eligibility serve`` runs, over the bundled rules, with a keys file of
three calling systems: ``county-a`` and ``county-b`` (generous rate) and ``slow`` (one request a
second, burst two) for the rate-limit test. Limits are lowered so the oversize tests send little.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from eligibility.service import Limits, State, create_app, hash_key

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
EXAMPLES = ROOT / "examples" / "households"
GOLDEN = ROOT / "tests" / "golden"
AS_OF = "2023-09-30"

KEYS = {"county-a": "elig_test-key-county-a", "county-b": "elig_test-key-county-b", "slow": "elig_test-key-slow"}
LIMITS = Limits(max_body_bytes=64 * 1024, max_batch_bytes=512 * 1024, max_batch_records=40, batch_chunk=7)
"""Small limits (oversize tests) and a small chunk (several chunks in one batch: order across chunks)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def write_keys(path: Path, keys: dict[str, str], slow: frozenset[str] = frozenset()) -> None:
    lines = ["keys:"]
    for system, key in keys.items():
        lines += [f"  - system: {system}", f'    sha256: "{hash_key(key)}"']
        if system in slow:
            lines += ["    rate_per_second: 1", "    burst: 2"]
        else:
            lines += ["    rate_per_second: 10000", "    burst: 10000"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Running:
    url: str
    state: State

    def client(self, system: str | None = "county-a", **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {KEYS[system]}"} if system else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    keys = tmp_path_factory.mktemp("service") / "keys.yaml"
    write_keys(keys, KEYS, slow=frozenset({"slow"}))
    state = State(RULES, keys)
    port = free_port()
    config = uvicorn.Config(create_app(state, LIMITS), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Running(f"http://127.0.0.1:{port}", state)
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def client(server: Running) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c
