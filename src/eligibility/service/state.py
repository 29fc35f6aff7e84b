"""What the service runs on — the rules, their engine, the keys — and how it is swapped on reload.

Rules are loaded once at start. A reload (SIGHUP) loads the rules folder and the keys file again *beside*
the running ones and swaps them in one assignment only when both load without a problem; a broken rule
file leaves the running rules and keys in place and records the diagnostics (``path:line:col: CODE
message``) for ``/readyz`` and the log. A request takes one snapshot when it starts, so it is answered
by one rule set from start to end, and its ``Eligibility-Ruleset`` header names that rule set.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from ..compile.python import program_for
from ..engine import Engine
from ..errors import EligibilityError, RuleFileError
from ..loader import load_rules
from ..ruleset import RuleSet
from .keys import KeyFileError, KeyStore

__all__ = ["ReloadResult", "Snapshot", "State", "ruleset_fingerprint"]

log = logging.getLogger("eligibility.service")


def ruleset_fingerprint(rules: RuleSet) -> str:
    """One digest for the whole rule set: every pack's normalised files and the source registry.

    (Each decision's trace carries the fingerprint of its own pack chain; this one names all of them,
    so a county system can tell from any response whether the rules changed.)"""
    h = hashlib.sha256(rules.sources_digest.encode())
    for pid in sorted(rules.packs):
        h.update(f"\0{pid}\0{rules.packs[pid].digest}".encode())
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """The rules, engine and keys one request is answered with."""

    rules: RuleSet
    engine: Engine
    keys: KeyStore
    fingerprint: str
    loaded_at: str


@dataclass
class ReloadResult:
    """What the last reload did: ``ok``, when, and the problems that made it keep the running rules."""

    ok: bool
    at: str
    fingerprint: str
    diagnostics: list[str] = field(default_factory=list)


class State:
    """The current snapshot and the reload that replaces it."""

    def __init__(self, rules_path: str | os.PathLike[str] | None, keys_path: str | os.PathLike[str]) -> None:
        self.rules_path = rules_path
        self.keys_path = Path(keys_path)
        self._reload_lock = threading.Lock()
        self.current: Snapshot = self._load()  # raises at start: the service never runs without rules
        self.last_reload: ReloadResult | None = None
        log.info("规则已加载 / rules loaded: %s (%d packs)", self.current.fingerprint, len(self.current.rules.packs))

    def _load(self) -> Snapshot:
        rules = load_rules(self.rules_path)
        keys = KeyStore.load(self.keys_path)
        engine = Engine(rules)
        _warm(engine)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return Snapshot(rules, engine, keys, ruleset_fingerprint(rules), now)

    def reload(self) -> ReloadResult:
        """Load rules and keys again; swap them in if both load, else keep the running ones."""
        with self._reload_lock:
            t0 = time.perf_counter()
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            try:
                snap = self._load()
            except RuleFileError as exc:
                result = ReloadResult(False, now, self.current.fingerprint, [str(d) for d in exc.diagnostics])
            except (KeyFileError, EligibilityError, OSError) as exc:
                result = ReloadResult(False, now, self.current.fingerprint, [str(exc)])
            else:
                self.current = snap
                result = ReloadResult(True, now, snap.fingerprint)
            self.last_reload = result
            if result.ok:
                log.info("重新加载成功 / reloaded: %s in %.0f ms", result.fingerprint, (time.perf_counter() - t0) * 1e3)
            else:
                log.error(
                    "重新加载被拒绝，继续使用 / reload rejected, still serving %s:\n  %s",
                    result.fingerprint,
                    "\n  ".join(result.diagnostics),
                )
            return result

    def readiness(self) -> dict[str, Any]:
        snap = self.current
        out: dict[str, Any] = {
            "status": "ready",
            "ruleset_fingerprint": snap.fingerprint,
            "loaded_at": snap.loaded_at,
            "packs": len(snap.rules.packs),
            "keys": len(snap.keys.entries),
        }
        if self.last_reload is not None:
            r = self.last_reload
            out["last_reload"] = {"ok": r.ok, "at": r.at, "diagnostics": r.diagnostics}
        return out


def _warm(engine: Engine) -> None:
    """Compile each pack's program for today, so the first requests are not the slow ones."""
    today = date.today()
    for pid in engine.rules.packs:
        try:
            chain = engine.rules.chain(pid)
            if chain.in_force(today):
                program_for(chain, today)
        except EligibilityError:  # a pack that cannot decide today answers per request, with the reason
            continue
