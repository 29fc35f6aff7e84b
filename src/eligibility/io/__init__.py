"""Batch input and output: county files of households in, decision tables and monthly counts out.

* :func:`read_households` — JSON Lines, Parquet, CSV (households + members + measures tables) or Excel
  (sheets 农户/成员/措施) → the households frame of the columnar evaluator, with every bad row reported;
* :func:`write_decisions`, :func:`write_errors` — decision tables and row errors as Parquet, JSON Lines,
  CSV (UTF-8 with BOM, Chinese headers) or Excel;
* :func:`summarise`, :func:`write_summary` — the 一月一分析 counts per region level;
* :mod:`eligibility.io.columns` — the one table of column names behind all of these.

polars (and fastexcel / xlsxwriter for Excel) are needed only here, so ``import eligibility`` does not
load them; see ``docs/batch.md``.
"""

from __future__ import annotations

from .columns import TABLES, column_table_markdown, frame_schema
from .summary import render_markdown, summarise, write_summary
from .tables import ReadResult, RowError, TableFormatError, frame_from_households, read_households
from .writers import decision_table, write_decisions, write_errors, write_household_tables

__all__ = [
    "TABLES",
    "ReadResult",
    "RowError",
    "TableFormatError",
    "column_table_markdown",
    "decision_table",
    "frame_from_households",
    "frame_schema",
    "read_households",
    "render_markdown",
    "summarise",
    "write_decisions",
    "write_errors",
    "write_household_tables",
    "write_summary",
]
