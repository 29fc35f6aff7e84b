"""``eligibility serve`` as a process: SIGHUP reloads the rules and the keys; a broken rule change is
rejected with its diagnostics while the running rules keep answering; the log holds no input value."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eligibility.service import add_key

from .conftest import AS_OF, EXAMPLES, RULES, free_port, write_keys

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="SIGHUP is POSIX")

KEY = "elig_reload-test-key"


def _wait(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Service:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc, self.url, self.log = proc, url, log

    def client(self, key: str = KEY) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def hup_and_wait(self) -> dict[str, Any]:
        """Send SIGHUP, wait for the reload's log line, return /readyz."""
        with httpx.Client(base_url=self.url) as c:
            count = self.log.read_text(encoding="utf-8").count("reload")
            self.proc.send_signal(signal.SIGHUP)
            _wait(lambda: self.log.read_text(encoding="utf-8").count("reload") > count, "the reload")
            doc: dict[str, Any] = c.get("/readyz").json()
            return doc


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("tests"))
    keys = tmp_path / "keys.yaml"
    write_keys(keys, {"county": KEY})
    port = free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eligibility.cli", "serve", str(rules), "--port", str(port), "--keys", str(keys)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
    svc = Service(proc, f"http://127.0.0.1:{port}", log)
    try:
        _wait(lambda: httpx.get(svc.url + "/readyz").status_code == 200, "the server to start")
        yield svc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _evaluate(c: httpx.Client) -> httpx.Response:
    return c.post(
        "/v1/evaluate",
        params={"as_of": AS_OF, "trace": "none"},
        content=(EXAMPLES / "01-huaibei-marginal.json").read_bytes(),
    )


def test_a_broken_pack_is_rejected_and_a_good_change_is_taken(service: Service, tmp_path: Path) -> None:
    with service.client() as c:
        first = _evaluate(c)
        assert first.status_code == 200
        running = first.headers["Eligibility-Ruleset"]

        # A broken rule change: bad YAML in one pack and an unknown key in another.
        pack = tmp_path / "rules" / "anhui-huaibei" / "pack.yaml"
        good = pack.read_text(encoding="utf-8")
        pack.write_text(good + "regionz: [oops\n", encoding="utf-8")
        ready = service.hup_and_wait()
        assert ready["last_reload"]["ok"] is False
        assert any("anhui-huaibei/pack.yaml" in d and "EL001" in d for d in ready["last_reload"]["diagnostics"])
        assert ready["ruleset_fingerprint"] == running
        still = _evaluate(c)
        assert still.status_code == 200 and still.headers["Eligibility-Ruleset"] == running
        assert still.json() == first.json()
        assert "reload rejected" in service.log.read_text(encoding="utf-8")

        # A good change (a pack's English name) is taken: new fingerprint on every response.
        pack.write_text(good.replace("en: Huaibei", "en: Huaibei City"), encoding="utf-8")
        ready = service.hup_and_wait()
        assert ready["last_reload"]["ok"] is True and ready["ruleset_fingerprint"] != running
        after = _evaluate(c)
        assert after.headers["Eligibility-Ruleset"] == ready["ruleset_fingerprint"]
        assert after.json()["jurisdiction"]["en"] == "Huaibei City"
        assert c.get("/healthz").headers["Eligibility-Ruleset"] == ready["ruleset_fingerprint"]


def test_keys_rotate_on_sighup(service: Service, tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    new = add_key(keys, "county")
    with service.client(new) as c:
        assert c.get("/v1/packs").status_code == 401  # not yet read
    service.hup_and_wait()
    with service.client(new) as c, service.client(KEY) as old:
        assert c.get("/v1/packs").status_code == 200
        assert old.get("/v1/packs").status_code == 200  # both work during the rotation
    from eligibility.service.keys import hash_key, revoke_key

    revoke_key(keys, hash_key(KEY)[:12])
    service.hup_and_wait()
    with service.client(new) as c, service.client(KEY) as old:
        assert c.get("/v1/packs").status_code == 200
        assert old.get("/v1/packs").status_code == 401


def test_the_log_has_one_line_per_request_and_no_input_value(service: Service) -> None:
    data = json.loads((EXAMPLES / "01-huaibei-marginal.json").read_text(encoding="utf-8"))
    member = data["members"][0]
    sensitive = [member["name"], member["id_number"], member["phone"], "6222020200112233445"]
    data["bank_account"] = sensitive[3]
    bad = {**data, "region": 1}
    with service.client() as c:
        assert c.post("/v1/evaluate", params={"as_of": AS_OF}, json=data).status_code == 200
        assert c.post("/v1/evaluate", params={"as_of": AS_OF}, json=bad).status_code == 422
        assert c.post("/v1/explain", params={"as_of": AS_OF}, json=data).status_code == 200
        c.post("/v1/batch", params={"as_of": AS_OF}, content=json.dumps(bad, ensure_ascii=False).encode())
    with httpx.Client(base_url=service.url) as anon:
        assert anon.post("/v1/evaluate", json=data).status_code == 401
    service.proc.send_signal(signal.SIGTERM)
    service.proc.wait(timeout=15)
    log = service.log.read_text(encoding="utf-8")
    assert "county POST /v1/evaluate 200" in log and "county POST /v1/evaluate 422" in log
    assert "- POST /v1/evaluate 401" in log
    for value in sensitive:
        assert value not in log
    assert KEY not in log
