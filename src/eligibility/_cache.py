"""An on-disk cache of loaded RuleSets, so a new process does not parse the same YAML again.

Reading and checking the 18 bundled packs takes tens of milliseconds of YAML parsing and validation,
paid by every process — a CLI call, a worker, a test run — although the files rarely change. Reading
the same bytes and hashing them costs about a millisecond, so the loaded :class:`RuleSet` is pickled
under a *fingerprint* of everything it was built from:

* every file under the rules folder (its path relative to the folder, and its bytes) — not only the
  ``*.yaml`` the loader reads today, so a future reader of other files cannot be served stale data;
* the folder as it was named (``RuleSet.root``, pack directories and every source location in the
  RuleSet are spelled from it);
* the package version, a digest of the package's own source files (the version does not change while
  the loader does, in a checkout), the Python version, and :data:`FORMAT`.

The fingerprint sits in a header in front of the pickle and is compared before anything is unpickled.

The cache is an optimisation and never a source of errors: a directory that cannot be created or
written means working without it; a file that cannot be read, has another fingerprint or does not
unpickle means loading the YAML and replacing the entry, atomically (a temporary file in the same
folder, then :func:`os.replace`), so concurrent processes only ever see a whole entry. A rules folder
with problems is never stored, so its diagnostics are raised on every load.

Where: ``$ELIGIBILITY_CACHE_DIR`` if set (and not empty), else ``$XDG_CACHE_HOME/eligibility``, else
``~/.cache/eligibility``; pointing it at something that is not a writable folder (``/dev/null``) turns
the cache off, as does ``load_rules(..., cache=False)``.

Unpickling runs code named by the file, so a cache file is trusted only if the current user owns it (on
systems with user ids); entries are written readable by their owner alone. The folder keeps at most
:data:`MAX_ENTRIES` entries: each rules folder (and each copy of one, such as the temporary folders of
a test run) gets its own, and the least recently used go first.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from . import __version__
from .ruleset import RuleSet

__all__ = ["FORMAT", "MAX_ENTRIES", "cache_dir", "cached_load", "fingerprint"]

FORMAT: Final = 1
"""Bump when what a cached entry means changes in a way the source digest would not notice."""

MAX_ENTRIES: Final = 16
"""Entries kept in the cache folder; the pickle of the bundled rules is about 150 kB."""

_MAGIC: Final = b"eligibility-ruleset "
_SKIP_DIRS: Final = frozenset({".git", ".hg", ".svn", "__pycache__"})
"""Folders that are no part of a rule set: version-control data can be large and changes on its own."""


def cache_dir() -> Path | None:
    """Where cache entries live (see the module docstring); None if no home folder can be found."""
    explicit = os.environ.get("ELIGIBILITY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative path
        return Path(xdg) / "eligibility"
    try:
        return Path.home() / ".cache" / "eligibility"
    except (RuntimeError, KeyError, OSError):  # no HOME and no password entry
        return None


def fingerprint(root: Path, display: str) -> str | None:
    """A digest of everything the RuleSet loaded from ``root`` depends on; None if a file cannot be read
    (the loader will then report it, and nothing is cached)."""
    code = _code_digest()
    if code is None:
        return None
    h = hashlib.sha256()
    for part in (f"format {FORMAT}", __version__, sys.version, sys.implementation.cache_tag or "", code):
        h.update(part.encode() + b"\0")
    h.update(os.fsencode(root) + b"\0" + display.encode("utf-8", "surrogateescape") + b"\0")
    files = _files(os.fspath(root))
    if files is None:
        return None
    for rel, path in files:
        try:
            # A FIFO would block the open and a device never end: not cacheable, and the loader says why.
            if not stat.S_ISREG(os.stat(path).st_mode):
                return None
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        h.update(f"{rel}\0{len(data)}\0".encode("utf-8", "surrogateescape"))
        h.update(data)
    return h.hexdigest()


def cached_load(root: Path, display: str, load: Callable[[], RuleSet]) -> RuleSet:
    """The RuleSet for ``root`` from the cache, or ``load()`` — stored for next time if it succeeds.

    ``load`` raising (a :class:`~eligibility.errors.RuleFileError`) propagates and stores nothing.
    """
    directory = cache_dir()
    key = fingerprint(root, display) if directory is not None else None
    if directory is None or key is None:
        return load()
    entry = directory / _entry_name(root, display)
    cached = _read(entry, key)
    if cached is not None:
        return cached
    rs = load()
    # A file edited while it was being parsed: the RuleSet may mix old and new; do not keep it.
    if fingerprint(root, display) == key:
        _write(directory, entry, key, rs)
    return rs


def _entry_name(root: Path, display: str) -> str:
    """One entry per rules folder and interpreter, replaced when the folder's content changes."""
    h = hashlib.sha256()
    for part in (os.fsdecode(root), display, __version__, sys.implementation.cache_tag or ""):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return f"rules-{h.hexdigest()[:32]}.pickle"


def _files(root: str) -> list[tuple[str, str]] | None:
    """Every file under ``root``, sorted: its path relative to ``root`` in POSIX form, and its path.

    Symbolic links to folders are not followed, as :meth:`pathlib.Path.rglob` (the loader's walk) does
    not follow them either; links to files are read through. Plain strings, not :class:`Path`: this runs
    on every load, and pathlib's parsing would cost more than the reading.
    """
    out: list[tuple[str, str]] = []
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        for name in sorted(filenames):
            out.append((name if rel_dir == "." else f"{rel_dir}/{name}", os.path.join(dirpath, name)))
    return None if errors else out


@functools.cache
def _code_digest() -> str | None:
    """A digest of the package's source files: in a checkout the version stays the same while the code
    that builds a RuleSet changes, and an entry built by other code must not be used."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256()
    try:
        for path in sorted(package.rglob("*.py")):
            rel = path.relative_to(package).as_posix()
            data = path.read_bytes()
            h.update(f"{rel}\0{len(data)}\0".encode())
            h.update(data)
    except OSError:  # e.g. a zipped install: no way to tell the code apart, so no cache
        return None
    return h.hexdigest()


def _header(key: str) -> bytes:
    return _MAGIC + key.encode() + b"\n"


def _read(entry: Path, key: str) -> RuleSet | None:
    """The RuleSet stored in ``entry`` under ``key``, or None for any reason at all."""
    try:
        with open(entry, "rb") as f:
            if hasattr(os, "getuid") and os.fstat(f.fileno()).st_uid != os.getuid():
                return None  # someone else's file: unpickling it would run what they chose
            if f.readline(len(_header(key)) + 1) != _header(key):
                return None
            data = f.read()
        rs = pickle.loads(data)
    except Exception:  # missing, unreadable, truncated, or pickled by incompatible code
        return None
    if not isinstance(rs, RuleSet):
        return None
    with contextlib.suppress(OSError):
        os.utime(entry)  # recently used: pruning removes the oldest entries first
    return rs


def _write(directory: Path, entry: Path, key: str, rs: RuleSet) -> None:
    """Store ``rs`` atomically; any failure leaves the cache as it was, silently."""
    try:
        data = _header(key) + pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rules-", suffix=".tmp", dir=directory)
    except Exception:  # not picklable, or the folder is not writable: work without the cache
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, entry)
    except Exception:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    _prune(directory)


def _prune(directory: Path) -> None:
    """Keep the newest :data:`MAX_ENTRIES` entries, and drop temporary files a killed process left."""
    try:
        entries: list[tuple[float, Path]] = []
        now = time.time()
        for p in directory.iterdir():
            if p.name.startswith("rules-") and p.name.endswith(".pickle"):
                entries.append((p.stat().st_mtime, p))
            elif p.name.startswith(".rules-") and p.name.endswith(".tmp") and now - p.stat().st_mtime > 3600:
                p.unlink()
        entries.sort(reverse=True)
        for _, p in entries[MAX_ENTRIES:]:
            p.unlink()
    except OSError:
        pass
