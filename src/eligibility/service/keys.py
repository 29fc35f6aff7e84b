"""API keys of the calling systems, kept hashed in a YAML file, and the per-key rate limit.

Each county or city system that calls the service gets its own key, so a leaked key is revoked for one
system without stopping the others, and the log says which system sent each request. The file holds
only the SHA-256 of each key: a copy of the file (a backup, a ticket attachment) does not let anyone
call the service. A key is 32 random bytes, so a plain SHA-256 is enough — there is no password to
guess, which is what slow hashes protect.

Rotation: add a second key for the same system (``eligibility serve --new-key SYSTEM``), give it to the
system, then remove the old entry (``--revoke-key PREFIX``) and send SIGHUP (or restart); the file is
re-read on SIGHUP together with the rules. Both keys work in between.

The file::

    # eligibility serve: API keys (SHA-256 of each key; the keys themselves are never stored)
    keys:
      - system: huaibei-pms          # who calls (in logs, never the key)
        sha256: "9f86d08188…"        # hex SHA-256 of the key, quoted (YAML would read all digits as a number)
        created: 2026-11-30
        rate_per_second: 50          # optional: this system's sustained request rate
        burst: 100                   # optional: requests it may send at once
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ..errors import EligibilityError

__all__ = ["KeyEntry", "KeyFileError", "KeyStore", "RateLimiter", "add_key", "hash_key", "revoke_key"]

_HEX = re.compile(r"^[0-9a-f]{64}$")
_SYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_PREFIX = "elig_"
"""Keys start with this, so a key pasted into the wrong place (a log, a repository) is recognisable."""


class KeyFileError(EligibilityError, ValueError):
    """The keys file cannot be read or has a bad entry; the message names the entry (never a key)."""


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, the form the keys file stores."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class KeyEntry:
    """One key of one calling system, with that system's rate limit (None: the service default)."""

    system: str
    sha256: str
    rate_per_second: float | None = None
    burst: int | None = None


@dataclass(frozen=True)
class KeyStore:
    """The keys of a keys file, looked up by hash."""

    entries: tuple[KeyEntry, ...] = ()
    _by_hash: dict[str, KeyEntry] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyStore:
        """Read and check a keys file; :class:`KeyFileError` names what is wrong (never a key)."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise KeyFileError(f"密钥文件无法读取 / cannot read keys file {path}: {exc}") from None
        if data is None:
            data = {"keys": []}
        if not isinstance(data, dict) or set(data) != {"keys"} or not isinstance(data["keys"], list):
            raise KeyFileError(f"密钥文件应为 `keys:` 列表 / keys file {path} must hold one list `keys:`")
        entries = [_entry(path, i, raw) for i, raw in enumerate(data["keys"])]
        return cls(tuple(entries), {e.sha256: e for e in entries})

    def find(self, key: str) -> KeyEntry | None:
        """The entry of ``key``, or None. The comparison of the hashes is constant-time."""
        digest = hash_key(key)
        entry = self._by_hash.get(digest)
        if entry is not None and hmac.compare_digest(entry.sha256, digest):
            return entry
        return None


def _entry(path: str | os.PathLike[str], i: int, raw: Any) -> KeyEntry:
    where = f"{path}: keys[{i}]"
    if not isinstance(raw, dict):
        raise KeyFileError(f"{where}: 应为映射 / must be a mapping")
    unknown = set(raw) - {"system", "sha256", "created", "rate_per_second", "burst"}
    if unknown:
        raise KeyFileError(f"{where}: 未知的键 / unknown keys {sorted(unknown)}")
    system, digest = raw.get("system"), raw.get("sha256")
    if not isinstance(system, str) or not _SYSTEM.match(system):
        raise KeyFileError(f"{where}: system 应为 1–64 个字母、数字、._- / system must be 1-64 of A-Z a-z 0-9 . _ -")
    if not isinstance(digest, str) or not _HEX.match(digest):
        raise KeyFileError(
            f"{where}: sha256 应为加引号的 64 位小写十六进制 / sha256 must be 64 lowercase hex digits, quoted"
        )
    rate, burst = raw.get("rate_per_second"), raw.get("burst")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0):
        raise KeyFileError(f"{where}: rate_per_second 应为正数 / rate_per_second must be a positive number")
    if burst is not None and (isinstance(burst, bool) or not isinstance(burst, int) or burst < 1):
        raise KeyFileError(f"{where}: burst 应为正整数 / burst must be a positive integer")
    return KeyEntry(system, digest, None if rate is None else float(rate), burst)


def add_key(path: str | os.PathLike[str], system: str) -> str:
    """Create a key for ``system``, append its hash to the keys file (created readable by its owner
    only), and return the key — the only time it exists in clear."""
    if not _SYSTEM.match(system):
        raise KeyFileError("system 应为 1–64 个字母、数字、._- / system must be 1-64 of A-Z a-z 0-9 . _ -")
    p = Path(path)
    if p.exists():
        KeyStore.load(p)  # never append to a file that does not load
        text = p.read_text(encoding="utf-8")
    else:
        text = "# eligibility serve: API keys (SHA-256 of each key; the keys themselves are never stored)\nkeys:\n"
    if "keys: []" in text:
        text = text.replace("keys: []", "keys:")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    if not text.endswith("\n"):
        text += "\n"
    text += f'  - system: {system}\n    sha256: "{hash_key(key)}"\n    created: {date.today().isoformat()}\n'
    _write_private(p, text)
    KeyStore.load(p)
    return key


def revoke_key(path: str | os.PathLike[str], prefix: str) -> KeyEntry:
    """Remove the one entry whose hash starts with ``prefix`` (at least 8 hex digits) from the file."""
    p = Path(path)
    store = KeyStore.load(p)
    if not re.fullmatch(r"[0-9a-f]{8,64}", prefix):
        raise KeyFileError("前缀应为至少 8 位十六进制 / give at least 8 hex digits of the sha256")
    hits = [e for e in store.entries if e.sha256.startswith(prefix)]
    if len(hits) != 1:
        raise KeyFileError(f"前缀匹配 {len(hits)} 个密钥 / prefix matches {len(hits)} keys, not one")
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    data["keys"] = [k for k in data["keys"] if k.get("sha256") != hits[0].sha256]
    head = "# eligibility serve: API keys (SHA-256 of each key; the keys themselves are never stored)\n"
    _write_private(p, head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    return hits[0]


def _write_private(p: Path, text: str) -> None:
    """Write atomically, readable and writable by the owner only."""
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, p)


class RateLimiter:
    """A token bucket per key: ``rate`` requests a second sustained, ``burst`` at once.

    In one process (one uvicorn worker); with several workers each keeps its own buckets, so the
    limit a system sees is the per-worker limit times the workers (docs/service.md says so).
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, entry: KeyEntry) -> float:
        """0 when the request may go ahead; else the seconds until it could."""
        rate = entry.rate_per_second or self.rate
        burst = float(entry.burst or self.burst)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(entry.sha256, (burst, now))
            tokens = min(burst, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[entry.sha256] = (tokens - 1.0, now)
                return 0.0
            self._buckets[entry.sha256] = (tokens, now)
            return (1.0 - tokens) / rate
