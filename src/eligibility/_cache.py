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

The same folder keeps the *compiled code* of the generated programs (:func:`cached_code`): compiling a
program's source (a few hundred kilobytes for the bundled packs) is most of a new process's first
decision. A code object is keyed by a digest of the very text it was compiled from, its file name and
the interpreter's bytecode version, so it cannot be stale: a changed rule file or a changed generator
writes other text, and other text has another key.

Unpickling runs code named by the file, so a cache file is trusted only if the current user owns it (on
systems with user ids); entries are written readable by their owner alone. The folder keeps at most
:data:`MAX_ENTRIES` entries: each rules folder (and each copy of one, such as the temporary folders of
a test run) gets its own, and the least recently used go first.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import marshal
import os
import pickle
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import CodeType
from typing import Final

from . import __version__
from .ruleset import RuleSet

__all__ = [
    "CODE_FORMAT",
    "FORMAT",
    "MAX_CODE_ENTRIES",
    "MAX_ENTRIES",
    "cache_dir",
    "cached_code",
    "cached_load",
    "fingerprint",
]

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
    package = os.path.dirname(os.path.realpath(__file__))
    h = hashlib.sha256()
    try:
        for parts, path in _sources(package):
            data = _read_bytes(path)
            h.update(f"{'/'.join(parts)}\0{len(data)}\0".encode())
            h.update(data)
    except OSError:  # e.g. a zipped install: no way to tell the code apart, so no cache
        return None
    return h.hexdigest()


def _sources(package: str) -> list[tuple[tuple[str, ...], str]]:
    """Every ``*.py`` under ``package`` (its path's parts relative to it, and its path), in the order
    ``sorted(Path(package).rglob("*.py"))`` gives — a POSIX path sorts by its parts — so the digest is the
    one that walk made. Plain :func:`os.walk`, because this runs in every new process: ``rglob`` compiled
    its pattern and made a :class:`~pathlib.Path` per file, ~1 ms of the cold start (session 18, cold).
    Links to folders are not followed (neither did ``rglob``); a folder that cannot be read raises."""
    out: list[tuple[tuple[str, ...], str]] = []

    def fail(error: OSError) -> None:
        raise error

    for dirpath, _, filenames in os.walk(package, onerror=fail):
        rel = os.path.relpath(dirpath, package)
        base = () if rel == os.curdir else tuple(rel.split(os.sep))
        out.extend(((*base, name), os.path.join(dirpath, name)) for name in filenames if name.endswith(".py"))
    out.sort()
    return out


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _header(key: str) -> bytes:
    return _MAGIC + key.encode() + b"\n"


def _read(entry: Path, key: str) -> RuleSet | None:
    """The RuleSet stored in ``entry`` under ``key``, or None for any reason at all."""
    got = _load(entry, len(_header(key)) + 1)
    if got is None or got[0] != _header(key):
        return None
    try:
        rs = pickle.loads(got[1])
    except Exception:  # truncated, or pickled by incompatible code
        return None
    if not isinstance(rs, RuleSet):
        return None
    _touch(entry)
    return rs


def _load(entry: Path, head_size: int) -> tuple[bytes, bytes] | None:
    """(the header line, the rest) of ``entry``; None if it cannot be read or the current user does not
    own it (on systems with user ids): unpickling or running what someone else wrote runs what they chose."""
    try:
        with open(entry, "rb") as f:
            if hasattr(os, "getuid") and os.fstat(f.fileno()).st_uid != os.getuid():
                return None
            return f.readline(head_size), f.read()
    except OSError:
        return None


def _touch(entry: Path) -> None:
    """Mark ``entry`` recently used: pruning removes the oldest entries first."""
    with contextlib.suppress(OSError):
        os.utime(entry)


def _write(directory: Path, entry: Path, key: str, rs: RuleSet) -> None:
    """Store ``rs`` atomically; any failure leaves the cache as it was, silently."""
    try:
        data = _header(key) + pickle.dumps(rs, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # not picklable: work without the cache
        return
    if _store(directory, entry, "rules-", data):
        _prune(directory, "rules-", ".pickle", MAX_ENTRIES)


def _store(directory: Path, entry: Path, prefix: str, data: bytes) -> bool:
    """Write ``data`` to ``entry`` atomically (a temporary file in the same folder, then
    :func:`os.replace`); False, with the cache as it was, if anything fails."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{prefix}", suffix=".tmp", dir=directory)
    except Exception:  # the folder is not writable: work without the cache
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, entry)
    except Exception:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True


def _prune(directory: Path, prefix: str, suffix: str, keep: int) -> None:
    """Keep the newest ``keep`` entries named ``prefix…suffix``, and drop temporary files of theirs that
    a killed process left."""
    try:
        entries: list[tuple[float, Path]] = []
        now = time.time()
        for p in directory.iterdir():
            if p.name.startswith(prefix) and p.name.endswith(suffix):
                entries.append((p.stat().st_mtime, p))
            elif p.name.startswith(f".{prefix}") and p.name.endswith(".tmp") and now - p.stat().st_mtime > 3600:
                p.unlink()
        entries.sort(reverse=True)
        for _, p in entries[keep:]:
            p.unlink()
    except OSError:
        pass


# ------------------------------------------------------------------------------- compiled programs

CODE_FORMAT: Final = 1
"""Bump when what a cached code entry means changes (the key already holds the text and interpreter)."""

MAX_CODE_ENTRIES: Final = 512
"""Code entries kept in the cache folder: one per generated text (a program, its ``trace="none"`` variant,
a member selector, a gap-report text) per (pack chain, date span) in use. An entry pruned costs its next
process a compile — in a cold start, that is the cliff: deciding the bundled packs' mixed households
(``benchmarks/decision_digests.py``) writes 184 entries (5–135 kB, median 70 kB, 12.5 MB in all), so with
room for 128 one such run evicted 2 of the 5 entries a later process's first Huaibei decision reads, and
that process took ~190 million instructions (+15 %, ~45 ms) more (``docs/engine_speed.md``, session 18,
cold). 512 keep the whole bundled set of one version of the generators and of two more (a checkout being
edited, a second install): at most some 70 MB, 36 MB at the median size."""

_CODE_MAGIC: Final = b"eligibility-code "
_CODE_MEMO_SIZE: Final = 64
_code_memo: dict[str, CodeType] = {}
_code_lock = threading.Lock()


def cached_code(text: str, filename: str) -> CodeType:
    """``compile(text, filename, "exec")``, read from the cache when this text was compiled before.

    The key is a digest of ``text``, ``filename`` and the interpreter's bytecode version
    (:data:`importlib.util.MAGIC_NUMBER`, which changes whenever the bytecode does): an entry can only be
    the compilation of this very text, never of an older version of a program. Within one process the
    last few code objects are kept too (a test run loads the same rules into many engines). A file that
    is missing, someone else's, damaged or written for another key is compiled afresh and replaced.
    """
    h = hashlib.sha256()
    for part in (f"code {CODE_FORMAT}", sys.version, filename):
        h.update(part.encode("utf-8", "surrogateescape") + b"\0")
    h.update(importlib.util.MAGIC_NUMBER + b"\0")
    h.update(text.encode("utf-8", "surrogateescape"))
    key = h.hexdigest()
    code = _code_memo.get(key)
    if code is not None:
        return code
    directory = cache_dir()
    entry = directory / f"code-{key[:40]}.marshal" if directory is not None else None
    code = _read_code(entry, key) if entry is not None else None
    if code is None or code.co_filename != filename:
        code = compile(text, filename, "exec")
        if directory is not None and entry is not None:
            _write_code(directory, entry, key, code)
    with _code_lock:
        if len(_code_memo) >= _CODE_MEMO_SIZE:
            _code_memo.clear()
        _code_memo[key] = code
    return code


def _code_header(key: str, payload: bytes) -> bytes:
    """The key, then a digest of the marshalled bytes: a damaged file is never loaded as code."""
    return _CODE_MAGIC + key.encode() + b" " + hashlib.sha256(payload).hexdigest().encode() + b"\n"


def _read_code(entry: Path, key: str) -> CodeType | None:
    """The code object stored in ``entry`` under ``key``, or None for any reason at all."""
    got = _load(entry, len(_CODE_MAGIC) + 64 + 1 + 64 + 1)
    if got is None or got[0] != _code_header(key, got[1]):
        return None
    try:
        code = marshal.loads(got[1])
    except Exception:  # (the digest matched: only marshal data of another interpreter gets here)
        return None
    if not isinstance(code, CodeType):
        return None
    _touch(entry)
    return code


def _write_code(directory: Path, entry: Path, key: str, code: CodeType) -> None:
    """Store ``code`` atomically; any failure leaves the cache as it was, silently."""
    payload = marshal.dumps(code)
    if _store(directory, entry, "code-", _code_header(key, payload) + payload):
        _prune(directory, "code-", ".marshal", MAX_CODE_ENTRIES)
