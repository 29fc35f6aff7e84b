"""The decision store: every monthly run and, per household, its input digest, compact decision and errors.

Why a store: the routine compares each month with the one before (newly identified, eliminated, re-entered,
deadlines that became overdue), the quarterly focus lists look back over three months, department feeds
are matched against the households last seen, and the county report draws the trend over months. None of
that is possible when nothing survives an evaluation.

Two databases, one schema (:mod:`eligibility.store.schema`, versioned migrations):

* **SQLite** (a file path or ``sqlite:///path``): embedded, nothing to install — the default.
* **PostgreSQL** (``postgresql://user@host:port/db``) through psycopg 3, for counties that run one. The
  extra ``eligibility[postgres]`` installs the driver.

**Transactions.** A run is written in one transaction (:meth:`Store.record_run`): the run row, its
households, errors, lists and the identity index commit together or not at all, so a process killed
midway leaves the previous state as it was and the same run can simply be started again. Writing a run
for a (jurisdiction, as_of) that is already stored replaces it in the same transaction.

**Privacy.** ID-document and phone numbers are stored only as keyed hashes (HMAC-SHA256 with a key the
county keeps outside the database, :class:`IdentityKey`), unless the caller opts in with
``store_plain_ids=True``. The hashes still let a department feed find a household by ID number — the
department's numbers are hashed with the same key — but a copy of the database alone does not reveal
them. The store remembers a check value of the key and refuses a different key, which would silently
match nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Final, NamedTuple

from ..errors import EligibilityError
from .schema import MIGRATIONS, statements

__all__ = [
    "KEY_ENV",
    "HouseholdRow",
    "IdentityKey",
    "RunInfo",
    "Store",
    "StoreError",
    "open_store",
]

KEY_ENV: Final = "ELIGIBILITY_ID_KEY"
"""Environment variable holding the hashing key (at least 16 characters) when none is passed."""

BATCH_ROWS: Final = 20_000
"""Rows per executemany call: big enough to amortise the call, small enough to report progress."""

BLOCK_ROWS: Final = 2_000
"""Households per zlib block of compact decisions as JSON Lines (the format of stores written before the
decision table was kept as a Parquet table; still read)."""

SQLITE_CACHE_KIB: Final = 256 * 1024
"""SQLite's page cache per open store, in KiB (256 MiB): what the identity index and households of a city's
month need to be updated in memory."""

PARQUET_MAGIC: Final = b"PAR1"
"""How a block or list stored as a Parquet file begins (older ones are zlib-compressed JSON)."""


class StoreError(EligibilityError):
    """The store cannot be opened or used as asked (bad URL, newer schema, wrong key, missing driver)."""


class IdentityKey:
    """The county's secret for hashing ID-document and phone numbers (HMAC-SHA256, hex).

    Numbers are normalised first (spaces removed, a trailing ``x`` upper-cased), so the same person's
    number hashes alike in the households table and in a department's feed.
    """

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else secret
        if len(raw) < 16:
            raise StoreError("哈希密钥至少16个字符 / the hashing key must have at least 16 characters")
        self._raw = raw
        self._base = hmac.new(raw, digestmod=hashlib.sha256)

    @classmethod
    def from_env(cls, value: str | None = None) -> IdentityKey:
        """The key given, else ``$ELIGIBILITY_ID_KEY``; a clear error when there is none."""
        secret = value if value is not None else os.environ.get(KEY_ENV)
        if not secret:
            raise StoreError(
                f"没有哈希密钥：请设置环境变量 {KEY_ENV} 或使用 --key-file / no hashing key: set {KEY_ENV} "
                "or pass --key-file (ID and phone numbers are stored only as keyed hashes)"
            )
        return cls(secret.strip())

    @staticmethod
    def normalise(number: str) -> str:
        return "".join(number.split()).upper()

    def hash(self, number: str | None) -> str | None:
        """The keyed hash of a number (``None`` for a missing or blank one)."""
        if number is None:
            return None
        norm = self.normalise(number)
        if not norm:
            return None
        # The one-shot C HMAC: the same value as copying an HMAC object, several times faster (a city's
        # members are hashed every month).
        return hmac.digest(self._raw, norm.encode(), "sha256").hex()

    def hash_many(self, numbers: Iterable[str | None]) -> list[str | None]:
        """:meth:`hash` of each number, in order (the same values; one call for a city's members)."""
        # Copying the keyed HMAC object skips the digest lookup the one-shot hmac.digest makes on every call
        # (OpenSSL 3): about 1.7 times faster for a city's members, the same values (tested).
        base = self._base
        out: list[str | None] = []
        for number in numbers:
            norm = "".join(number.split()).upper() if number is not None else ""
            if norm:
                h = base.copy()
                h.update(norm.encode())
                out.append(h.hexdigest())
            else:
                out.append(None)
        return out

    def check_value(self) -> str:
        """A value that identifies the key without revealing it (stored to detect a changed key)."""
        h = self._base.copy()
        h.update(b"\x00eligibility-store-key-check")
        return h.hexdigest()[:16]


HOUSEHOLD_COLUMNS: Final = (
    "run_id",
    "household_id",
    "ordinal",
    "input_row",
    "region",
    "monitoring_status",
    "status",
    "category",
    "exit_status",
    "input_digest",
    "error",
)
"""The columns of the households table, in the order :meth:`Store.record_run` writes them."""


class HouseholdRow(NamedTuple):
    """One household of a run, as stored: where it was read and its state (its compact decision is in the
    run's decision blocks, at the same position)."""

    household_id: str
    input_row: int
    region: str | None
    monitoring_status: str | None
    status: str | None
    category: str | None
    exit_status: str | None
    input_digest: bytes
    error: str | None


@dataclass(frozen=True)
class RunInfo:
    """One stored run."""

    run_id: int
    jurisdiction: str
    as_of: date
    started_at: str
    finished_at: str
    ruleset_fingerprint: str
    input_digest: str
    rows: int
    decided: int
    errors: int
    summary: dict[str, Any]


_RUN_COLUMNS: Final = (
    "run_id, jurisdiction, as_of, started_at, finished_at, ruleset_fingerprint, input_digest, rows_read, "
    "decided, errors, summary"
)


def _run(row: Sequence[Any]) -> RunInfo:
    return RunInfo(
        run_id=int(row[0]),
        jurisdiction=row[1],
        as_of=date.fromisoformat(row[2]),
        started_at=row[3],
        finished_at=row[4],
        ruleset_fingerprint=row[5],
        input_digest=row[6],
        rows=int(row[7]),
        decided=int(row[8]),
        errors=int(row[9]),
        summary=json.loads(row[10]),
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """An open decision store (use :func:`open_store`). Not shared between threads."""

    def __init__(self, conn: Any, dialect: str, url: str) -> None:
        self._conn = conn
        self.dialect = dialect
        self.url = url
        self._in_tx = False
        self.migrate()

    # ------------------------------------------------------------------ connection and SQL

    def _sql(self, sql: str) -> str:
        # The statements are written with ``?`` placeholders (sqlite3's); psycopg's are ``%s``.
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; the rows it returns (if any)."""
        cur = self._conn.execute(self._sql(sql), tuple(params))
        try:
            return [tuple(r) for r in cur.fetchall()] if cur.description else []
        finally:
            cur.close()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        cur = self._conn.cursor()
        try:
            cur.executemany(self._sql(sql), rows)
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all (nested calls join the outer transaction)."""
        if self._in_tx:
            yield
            return
        self._in_tx = True
        try:
            if self.dialect == "sqlite":
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            else:
                with self._conn.transaction():
                    yield
        finally:
            self._in_tx = False

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    @property
    def version(self) -> int:
        rows = self.execute("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    def migrate(self) -> list[int]:
        """Apply the migrations this store lacks; the versions applied. Refuses a newer store."""
        with self.transaction():
            self.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
        current = self.version
        known = MIGRATIONS[-1].version
        if current > known:
            raise StoreError(
                f"数据库结构版本 {current} 比本程序（{known}）新，请升级 eligibility / the store's schema "
                f"version {current} is newer than this library knows ({known}): upgrade eligibility"
            )
        applied = []
        for m in MIGRATIONS:
            if m.version <= current:
                continue
            with self.transaction():
                for stmt in statements(m, self.dialect):
                    self.execute(stmt)
                self.execute(
                    "INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
                    (m.version, m.description, _now()),
                )
            applied.append(m.version)
        return applied

    def check_key(self, key: IdentityKey) -> None:
        """Remember the key's check value on first use; refuse a different key afterwards."""
        value = key.check_value()
        with self.transaction():
            rows = self.execute("SELECT value FROM meta WHERE key = 'id_key_check'")
            if not rows:
                self.execute("INSERT INTO meta (key, value) VALUES ('id_key_check', ?)", (value,))
            elif rows[0][0] != value:
                raise StoreError(
                    "哈希密钥与该数据库以前使用的不同，身份证号将无法匹配 / this hashing key differs from the one "
                    "the store was written with: ID numbers would match nothing"
                )

    # ------------------------------------------------------------------ runs

    def runs(self, jurisdiction: str | None = None) -> list[RunInfo]:
        """Stored runs (of one jurisdiction), oldest first."""
        if jurisdiction is None:
            rows = self.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY as_of, run_id")
        else:
            rows = self.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE jurisdiction = ? ORDER BY as_of", (jurisdiction,)
            )
        return [_run(r) for r in rows]

    def previous_run(self, jurisdiction: str, before: date) -> RunInfo | None:
        """The latest run of ``jurisdiction`` assessed strictly before ``before``."""
        rows = self.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE jurisdiction = ? AND as_of < ? ORDER BY as_of DESC LIMIT 1",
            (jurisdiction, before.isoformat()),
        )
        return _run(rows[0]) if rows else None

    def run_on(self, as_of: date, jurisdiction: str | None = None) -> RunInfo | None:
        """The latest run assessed on or before ``as_of`` (of ``jurisdiction``, else of any)."""
        where, params = "as_of <= ?", [as_of.isoformat()]
        if jurisdiction is not None:
            where += " AND jurisdiction = ?"
            params.append(jurisdiction)
        rows = self.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE {where} ORDER BY as_of DESC, run_id DESC LIMIT 1", params
        )
        return _run(rows[0]) if rows else None

    def households(self, run_id: int) -> list[tuple[Any, ...]]:
        """(household_id, input_row, region, monitoring_status, input_digest, decision JSON or None, error),
        in the order the run read them."""
        bodies: list[str] = []
        for body in self.decision_blocks(run_id):
            if body.startswith(PARQUET_MAGIC):
                import io

                import polars as pl

                frame = pl.read_parquet(io.BytesIO(body))
                bodies += frame.write_ndjson().splitlines() if frame.height else []
            else:
                bodies += zlib.decompress(body).decode().split("\n")
        return [
            (r[0], r[1], r[2], r[3], r[4], None if r[6] is not None else bodies[r[5]] or None, r[6])
            for r in self.household_rows(run_id)
        ]

    def household_rows(self, run_id: int) -> list[tuple[Any, ...]]:
        """(household_id, input_row, region, monitoring_status, input_digest as hex, ordinal, error) of a run,
        by ordinal: the households table in one query."""
        return [
            (r[0], int(r[1]), r[2], r[3], bytes(r[4]).hex(), int(r[5]), r[6])
            for r in self.execute(
                "SELECT household_id, input_row, region, monitoring_status, input_digest, ordinal, error "
                "FROM households WHERE run_id = ? ORDER BY ordinal",
                (run_id,),
            )
        ]

    def household_states(self, run_id: int) -> list[tuple[str, str | None, str | None]]:
        """(household_id, monitoring_status, error) of a run, by ordinal: what the next month compares
        (:meth:`household_rows` without the columns it does not read, nor a Python conversion per row)."""
        sql = "SELECT household_id, monitoring_status, error FROM households WHERE run_id = ? ORDER BY ordinal"
        return self.execute(sql, (run_id,))

    def decision_blocks(self, run_id: int) -> list[bytes]:
        """The run's stored decision blocks in order: Parquet files of the decision table (the routine
        keeps the table as it is), or zlib-compressed JSON Lines (older stores)."""
        rows = self.execute("SELECT body FROM decision_blocks WHERE run_id = ? ORDER BY block", (run_id,))
        return [bytes(b) for (b,) in rows]

    def history(self, jurisdiction: str, before: date, since: date) -> list[tuple[date, bytes]]:
        """(as_of, history block) of the runs of ``jurisdiction`` assessed on or after ``since`` and before
        ``before``, oldest first: the earlier assessments the routine gives the rules (Arrow IPC, as
        :meth:`record_run` stored them)."""
        rows = self.execute(
            "SELECT r.as_of, b.body FROM history_blocks b JOIN runs r ON r.run_id = b.run_id "
            "WHERE r.jurisdiction = ? AND r.as_of >= ? AND r.as_of < ? ORDER BY r.as_of",
            (jurisdiction, since.isoformat(), before.isoformat()),
        )
        return [(date.fromisoformat(a), bytes(b)) for a, b in rows]

    def run_errors(self, run_id: int) -> list[tuple[Any, ...]]:
        return self.execute(
            "SELECT input_row, household_id, file, line, column_name, code, message FROM run_errors "
            "WHERE run_id = ? ORDER BY input_row, line",
            (run_id,),
        )

    def run_list(self, run_id: int, name: str) -> Any:
        """A list the routine stored with the run, or ``None``: the rows as dicts when it was stored as an
        Parquet table, else the JSON it was stored as."""
        body = self.run_list_body(run_id, name)
        if body is None:
            return None
        if body.startswith(PARQUET_MAGIC):
            import io

            import polars as pl

            return pl.read_parquet(io.BytesIO(body)).to_dicts()
        return json.loads(zlib.decompress(body))

    def run_list_body(self, run_id: int, name: str) -> bytes | None:
        """A stored list as stored (a Parquet file, or zlib-compressed JSON), or ``None``."""
        rows = self.execute("SELECT body FROM run_lists WHERE run_id = ? AND name = ?", (run_id, name))
        return bytes(rows[0][0]) if rows else None

    def counts_by_region(self, run_id: int, digits: int) -> list[tuple[str | None, str | None, int]]:
        """(region prefix of ``digits``, status, households) of a run."""
        return [
            (r[0], r[1], int(r[2]))
            for r in self.execute(
                "SELECT SUBSTR(region, 1, ?) AS unit, status, COUNT(*) FROM households WHERE run_id = ? "
                "GROUP BY unit, status ORDER BY unit, status",
                (digits, run_id),
            )
        ]

    def record_run(
        self,
        *,
        jurisdiction: str,
        as_of: date,
        started_at: str,
        ruleset_fingerprint: str,
        input_digest: str,
        counts: tuple[int, int, int],
        summary: dict[str, Any],
        households: Sequence[Sequence[Any]],
        decisions: Sequence[bytes],
        errors: Iterable[Sequence[Any]],
        identities: Iterable[Sequence[Any]],
        lists: dict[str, Any],
        after_batch: Callable[[int], None] | None = None,
        history: bytes | None = None,
    ) -> int:
        """Write one run in one transaction; its ``run_id``. Replaces a stored run of the same
        (jurisdiction, as_of).

        ``households``: :class:`HouseholdRow` (or tuples in its order) in the order read. ``decisions``:
        the compact decisions of those households in the same order, as the blocks :meth:`households` reads
        (Parquet files of the decision table). ``errors``: (input_row, household_id, file, line, column,
        code, message). ``identities``: (household_id, region, member_id, id_hash, phone_hash, id_number,
        phone). ``lists``: name → a Parquet file (stored as it is) or JSON-able data (stored as
        zlib-compressed JSON).
        ``after_batch`` is called after each batch of household rows (tests kill the process there).
        ``history``: the run's history block (Arrow IPC) that later runs read with :meth:`history`.
        """
        rows_read, decided, n_errors = counts
        with self.transaction():
            self.execute("DELETE FROM runs WHERE jurisdiction = ? AND as_of = ?", (jurisdiction, as_of.isoformat()))
            got = self.execute(
                "INSERT INTO runs (jurisdiction, as_of, started_at, finished_at, ruleset_fingerprint, input_digest, "
                "rows_read, decided, errors, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING run_id",
                (
                    jurisdiction,
                    as_of.isoformat(),
                    started_at,
                    _now(),
                    ruleset_fingerprint,
                    input_digest,
                    rows_read,
                    decided,
                    n_errors,
                    json.dumps(summary, ensure_ascii=False),
                ),
            )
            run_id = int(got[0][0])
            for start in range(0, len(households), BATCH_ROWS):
                chunk = households[start : start + BATCH_ROWS]
                self.insert_many(
                    "households",
                    HOUSEHOLD_COLUMNS,
                    [(run_id, h[0], start + i, *h[1:]) for i, h in enumerate(chunk)],
                )
                if after_batch is not None:
                    after_batch(start // BATCH_ROWS)
            self.insert_many(
                "decision_blocks", ("run_id", "block", "body"), [(run_id, k, b) for k, b in enumerate(decisions)]
            )
            if history is not None:
                self.execute("INSERT INTO history_blocks (run_id, body) VALUES (?, ?)", (run_id, history))
            self.insert_many(
                "run_errors",
                ("run_id", "input_row", "household_id", "file", "line", "column_name", "code", "message"),
                [(run_id, *e) for e in errors],
            )
            self.insert_many(
                "run_lists",
                ("run_id", "name", "body"),
                [
                    (run_id, k, v if isinstance(v, bytes) else _pack(json.dumps(v, ensure_ascii=False, default=str)))
                    for k, v in lists.items()
                ],
            )
            latest = self.execute("SELECT MAX(as_of) FROM runs WHERE jurisdiction = ?", (jurisdiction,))[0][0]
            if latest == as_of.isoformat():
                # The identity index follows the newest month only: feeds match who lives where now.
                self._replace_identities(jurisdiction, run_id, [tuple(i) for i in identities])
        return run_id

    def _replace_identities(self, jurisdiction: str, run_id: int, rows: list[tuple[Any, ...]]) -> None:
        """Make the jurisdiction's identity index exactly ``rows``, every row marked with ``run_id``.

        SQLite: incrementally — a month changes few members, and deleting and inserting every member's row
        (indexed by hash: random positions in the B-tree) was most of storing a run. The rows already
        there are compared with ``rows`` as multisets; only the difference is deleted and inserted, and
        the rest re-marked with the new run in one statement (no index holds ``run_id``). PostgreSQL
        rewrites the index with ``COPY``, which costs little there."""
        columns = ("jurisdiction", "run_id", *IDENTITY_COLUMNS)
        if self.dialect != "sqlite":
            self.execute("DELETE FROM identities WHERE jurisdiction = ?", (jurisdiction,))
            self.insert_many("identities", columns, [(jurisdiction, run_id, *r) for r in rows])
            return
        wanted = Counter(rows)
        gone: list[tuple[int]] = []
        names = ", ".join(IDENTITY_COLUMNS)
        for rowid, *old in self.execute(
            f"SELECT rowid, {names} FROM identities WHERE jurisdiction = ?", (jurisdiction,)
        ):
            key = tuple(old)
            if wanted[key] > 0:
                wanted[key] -= 1
            else:
                gone.append((rowid,))
        if gone:
            self.executemany("DELETE FROM identities WHERE rowid = ?", gone)
        self.execute("UPDATE identities SET run_id = ? WHERE jurisdiction = ?", (run_id, jurisdiction))
        self.insert_many(
            "identities", columns, [(jurisdiction, run_id, *r) for r, n in wanted.items() for _ in range(n)]
        )

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Insert many rows in the current transaction: one prepared ``executemany`` on SQLite, ``COPY …
        FROM STDIN`` (binary rows, no statement per row) on PostgreSQL."""
        if not rows:
            return
        names = ", ".join(columns)
        if self.dialect == "postgresql":
            with self._conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("?" * len(columns))
        self.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)

    # ------------------------------------------------------------------ identities

    def households_by_id_hash(self, id_hashes: Iterable[str]) -> dict[str, list[tuple[str, str, str | None]]]:
        """id_hash → the distinct (jurisdiction, household_id, region) whose members carry it (latest runs)."""
        wanted = sorted(set(id_hashes))
        found: dict[str, set[tuple[str, str, str | None]]] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ", ".join("?" * len(part))
            for h, j, hid, region in self.execute(
                f"SELECT id_hash, jurisdiction, household_id, region FROM identities WHERE id_hash IN ({marks})", part
            ):
                found.setdefault(h, set()).add((j, hid, region))
        return {h: sorted(v, key=lambda t: (t[0], t[1])) for h, v in found.items()}

    def table_bytes(self) -> int:
        """The store's size on disk (SQLite: the file, its WAL; PostgreSQL: the database)."""
        if self.dialect == "sqlite":
            path = Path(self.url)
            return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        return int(self.execute("SELECT pg_database_size(current_database())")[0][0])


IDENTITY_COLUMNS: Final = ("household_id", "region", "member_id", "id_hash", "phone_hash", "id_number", "phone")
"""A row of the identity index as :meth:`Store.record_run` takes it (after the jurisdiction and run)."""


def _pack(text: str) -> bytes:
    return zlib.compress(text.encode(), 6)


def open_store(url: str | os.PathLike[str]) -> Store:
    """Open (and migrate) the store at ``url``: a file path or ``sqlite:///path`` for SQLite,
    ``postgresql://…`` for PostgreSQL."""
    text = os.fspath(url)
    if text.startswith(("postgresql://", "postgres://")):
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError(
                f"PostgreSQL 需要 / PostgreSQL needs: pip install 'eligibility[postgres]' ({exc})"
            ) from exc
        try:
            pg = psycopg.connect(text, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"无法连接数据库 / cannot connect to {text}: {exc}") from exc
        return Store(pg, "postgresql", text)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise StoreError(
            f"不支持的数据库地址 / unsupported store URL {text!r} (a file path, sqlite:///…, postgresql://…)"
        )
    path = Path(text)
    if path.parent and not path.parent.exists():
        raise StoreError(f"目录不存在 / no such folder: {path.parent}")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # A month replaces the identity index (a row per member, indexed by hash: random B-tree positions) and
    # adds a row per household: with SQLite's default 2 MiB page cache most of those inserts and deletes go
    # to disk and back. A cache of up to SQLITE_CACHE_KIB keeps them in memory (allocated only as used).
    conn.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    return Store(conn, "sqlite", str(path))
