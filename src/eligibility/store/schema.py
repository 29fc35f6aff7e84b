"""Versioned schema migrations of the decision store, one list for SQLite and PostgreSQL.

Each migration is a version number, a description and its statements; a statement may differ between the
two databases only in the few types and keys they spell differently (:data:`TYPES`). :func:`migrate`
applies the missing versions in order, each in its own transaction with its row in ``schema_migrations``,
so a store is always at a version that some release knew. A store newer than this library is refused
rather than written with an older idea of its tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["MIGRATIONS", "TYPES", "Migration", "statements"]

TYPES: Final[dict[str, dict[str, str]]] = {
    "sqlite": {"pk": "INTEGER PRIMARY KEY", "bigint": "INTEGER", "blob": "BLOB", "without_rowid": " WITHOUT ROWID"},
    "postgresql": {"pk": "BIGSERIAL PRIMARY KEY", "bigint": "BIGINT", "blob": "BYTEA", "without_rowid": ""},
}
"""What the two databases spell differently: an auto-numbered key, a 64-bit integer, bytes, SQLite's clustered
table."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: tuple[str, ...]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "runs, households per run, compressed decision blocks, run errors and lists, identities, feeds, leads",
        (
            # One row per monthly run of a jurisdiction; a run is written in one transaction, so a row here
            # means the run is complete.
            """CREATE TABLE runs (
                run_id {pk},
                jurisdiction TEXT NOT NULL,
                as_of TEXT NOT NULL,
                started_at TEXT NOT NULL,
                finished_at TEXT NOT NULL,
                ruleset_fingerprint TEXT NOT NULL,
                input_digest TEXT NOT NULL,
                rows_read {bigint} NOT NULL,
                decided {bigint} NOT NULL,
                errors {bigint} NOT NULL,
                summary TEXT NOT NULL,
                UNIQUE (jurisdiction, as_of)
            )""",
            # One row per household and run: what the report counts by SQL (status, category, exit status by
            # region) and the input digest that tells an unchanged household from a changed one.
            """CREATE TABLE households (
                run_id {bigint} NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
                household_id TEXT NOT NULL,
                ordinal {bigint} NOT NULL,
                input_row {bigint} NOT NULL,
                region TEXT,
                monitoring_status TEXT,
                status TEXT,
                category TEXT,
                exit_status TEXT,
                input_digest {blob} NOT NULL,
                error TEXT,
                PRIMARY KEY (run_id, household_id)
            ){without_rowid}""",
            # The compact decisions of a run, in household ordinal order, as zlib-compressed JSON Lines of
            # BLOCK_ROWS households each (an empty line for a household that could not be decided): decisions
            # of one month are alike, so a block compresses about tenfold, which keeps a 12-month history of a
            # city within the 2 GiB. (Since the routine went columnar a block is a Parquet file of
            # the decision table instead, of up to 50,000 households; the table is the same, both are read.)
            """CREATE TABLE decision_blocks (
                run_id {bigint} NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
                block {bigint} NOT NULL,
                body {blob} NOT NULL,
                PRIMARY KEY (run_id, block)
            )""",
            """CREATE TABLE run_errors (
                run_id {bigint} NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
                input_row {bigint},
                household_id TEXT,
                file TEXT,
                line {bigint},
                column_name TEXT,
                code TEXT NOT NULL,
                message TEXT NOT NULL
            )""",
            "CREATE INDEX run_errors_run ON run_errors (run_id)",
            """CREATE TABLE run_lists (
                run_id {bigint} NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
                name TEXT NOT NULL,
                body {blob} NOT NULL,
                PRIMARY KEY (run_id, name)
            )""",
            # Who is who, for matching department feeds: the latest run of each jurisdiction only, ID and
            # phone numbers as keyed hashes (plain only when the caller opted in).
            """CREATE TABLE identities (
                jurisdiction TEXT NOT NULL,
                run_id {bigint} NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
                household_id TEXT NOT NULL,
                region TEXT,
                member_id TEXT,
                id_hash TEXT,
                phone_hash TEXT,
                id_number TEXT,
                phone TEXT
            )""",
            "CREATE INDEX identities_id_hash ON identities (id_hash)",
            "CREATE INDEX identities_jurisdiction ON identities (jurisdiction)",
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """CREATE TABLE feed_imports (
                import_id {pk},
                kind TEXT NOT NULL,
                file_name TEXT NOT NULL,
                file_digest TEXT NOT NULL,
                imported_at TEXT NOT NULL,
                rows_read {bigint} NOT NULL,
                matched {bigint} NOT NULL,
                unmatched {bigint} NOT NULL,
                ambiguous {bigint} NOT NULL,
                errors {bigint} NOT NULL,
                duplicates {bigint} NOT NULL
            )""",
            # One row per distinct department record ever imported (record_key: a keyed hash of the kind and
            # the record's cells), whatever its outcome: importing a file again adds nothing.
            """CREATE TABLE feed_records (
                record_key TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                import_id {bigint} NOT NULL REFERENCES feed_imports (import_id),
                line {bigint} NOT NULL,
                id_hash TEXT NOT NULL,
                outcome TEXT NOT NULL,
                found_on TEXT NOT NULL,
                candidates TEXT NOT NULL,
                detail TEXT NOT NULL
            )""",
            """CREATE TABLE leads (
                lead_id {pk},
                record_key TEXT NOT NULL UNIQUE REFERENCES feed_records (record_key),
                kind TEXT NOT NULL,
                channel TEXT NOT NULL,
                jurisdiction TEXT NOT NULL,
                household_id TEXT NOT NULL,
                region TEXT,
                found_on TEXT NOT NULL,
                verify_by TEXT,
                reason TEXT NOT NULL,
                rule TEXT NOT NULL,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX leads_household ON leads (jurisdiction, household_id)",
        ),
    ),
    Migration(
        2,
        "per run, what later runs read as each household's history (issue 14 §3)",
        (
            # One Arrow IPC file (zstd) per run: household_id, monitoring_status, per_capita_net_income (the
            # rules' fact, to the fen), risks, risk_eliminated_on of every decided household. Read back by
            # polars in one call per run, so filling a city's three-year history costs no Python per row.
            """CREATE TABLE history_blocks (
                run_id {bigint} NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
                body {blob} NOT NULL,
                PRIMARY KEY (run_id)
            )""",
        ),
    ),
)
"""Every schema version, oldest first. Never edit a released migration: add the next one."""


def statements(migration: Migration, dialect: str) -> list[str]:
    """The migration's statements spelled for ``dialect`` (``sqlite`` or ``postgresql``)."""
    return [s.format(**TYPES[dialect]) for s in migration.sql]
