"""A small driver for real headless Chromium over the DevTools protocol, on a pipe (no websocket needed).

``--remote-debugging-pipe`` makes Chromium read protocol commands on file descriptor 3 and write
replies and events on descriptor 4, each message JSON ending in a NUL byte. One browser serves every
page of a test session, so opening a hundred pages costs seconds, not a browser start per page.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from typing import Any

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Debian's /usr/bin/chromium is a launcher script; the browser itself is run directly so the DevTools pipe
# reaches it unchanged.
CHROMIUM_BINARY = "/usr/lib/chromium/chromium"
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # without these, Chromium keeps calling Google's hosts, which this closed network refuses
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
"""Chromium's flags for the tests: headless, as root, no network of its own."""


def available() -> bool:
    return os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


class Browser:
    """One headless Chromium with one page; :meth:`open` loads a URL and returns what the page did."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="eligibility-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child: the pipe ends become descriptors 3 and 4, kept across exec
            read_end, write_end = os.dup(to_chrome_r), os.dup(from_chrome_w)  # the ends may be 3 or 4 already
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [
                CHROMIUM_BINARY if os.path.exists(CHROMIUM_BINARY) else CHROMIUM,
                *HEADLESS_FLAGS,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            close_fds=False,  # descriptors 3 and 4 are set up by `wire`; closing would undo it
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.call(f"{domain}.enable", session=True)

    def _send(self, msg: dict[str, Any]) -> None:
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buf:
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self._send(msg)
        while True:
            got = self._read()
            if got.get("id") == self._id:
                if "error" in got:
                    raise RuntimeError(f"{method}: {got['error']}")
                result: dict[str, Any] = got.get("result", {})
                return result
            self.events.append(got)

    def wait_for(self, method: str) -> dict[str, Any]:
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            got = self._read()
            if got.get("method") == method:
                return got
            self.events.append(got)

    def evaluate(self, expression: str) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        return r["result"].get("value")

    def open(self, url: str) -> dict[str, Any]:
        """Load ``url``; return the JS exceptions and failed resource loads seen while it loaded."""
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")
        errors = [e["params"] for e in self.events if e.get("method") == "Runtime.exceptionThrown"]
        failed = [e["params"] for e in self.events if e.get("method") == "Network.loadingFailed"]
        return {"exceptions": errors, "failed": failed}

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.call("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        shutil.rmtree(self.profile, ignore_errors=True)
