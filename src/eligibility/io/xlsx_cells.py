"""The cells of an Excel table written by polars over whole columns, as xlsxwriter writes them one by one.

``DataFrame.write_excel`` hands xlsxwriter the frame's rows (``add_table(…, {"data": rows})``), and xlsxwriter
stores every cell in Python (``Worksheet._write``: its type, the shared-string index of its text) and later
writes every cell's XML in Python (``_write_rows``): with the column widths no longer measured cell by cell
(``writers._excel_widths``), that was nearly all of writing 100,000 bundled decisions to Excel. Here the
table's cells are left out of ``add_table`` (it still makes the table, its columns, formats and header
cells) and put in by :class:`TableCells` instead: the shared-string indices of the texts by polars, in the
order xlsxwriter gives them (first appearance, row by row, after the headers), and the rows' XML by polars,
a block of rows at a time, when the workbook is closed.

The workbook is the same file: the same ``<sheetData>`` byte for byte, the same shared strings, table and
dimensions (``tests/property/test_excel_cells.py`` compares the parts of the two files). Only the cells
xlsxwriter writes in one simple way are taken: texts (not links: ``writers._excel_widths`` sends a table
with one to ``autofit``, and so to xlsxwriter's own path), whole numbers within ±2**53 (written as
xlsxwriter writes the float it makes of them), decimals (formatted in Python as xlsxwriter formats them,
once per distinct value), dates, true/false and empty cells, every column with its
format, no row formats or heights, a table at A1 with a header row and no totals. Anything else is left to
xlsxwriter as before (:meth:`TableCells.takes` and the checks in ``add_table``).

Written against xlsxwriter 3.3 (``Worksheet._write_rows``, ``_write_row``, ``_write_cell``,
``SharedStringTable``, ``Packager._write_shared_strings_file``): those are xlsxwriter's own, not a public
interface, so this takes over only under the versions it was compared with (:data:`VERIFIED`, see
:func:`supported`); under any other the workbook is xlsxwriter's alone, slower and the same file. A new
version is added to :data:`VERIFIED` once ``tests/property/test_excel_cells.py`` passes with it.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO, Final

import polars as pl

_WHOLE: Final = 2**53
"""Whole numbers xlsxwriter writes as their digits: it formats a number ``{:.16G}``, which for an ``int``
is the float made of it, exact and without an exponent up to 2**53."""

_TEXT: Final = 32_767 // 2
"""The longest text (in characters) xlsxwriter cannot truncate: it cuts a text at 32,767 UTF-16 units."""

_EPOCH: Final = date(1899, 12, 31)
"""xlsxwriter's day 0 (its 1900 epoch); from day 60 on it counts Excel's 29 February 1900 as well."""

_BLOCK: Final = 50_000
"""Rows (or shared strings) whose XML is made and written at a time: the rows of 100,000 decisions are 85 MB
of XML, their 236,000 distinct texts 89 MB."""


VERIFIED: Final = frozenset({"3.3"})
"""The xlsxwriter releases (major.minor) whose workbooks this was compared with, part for part."""


@cache
def supported() -> bool:
    """Whether the installed xlsxwriter is one of :data:`VERIFIED`: a release that stored or wrote its
    cells another way could leave the data rows out of the sheet written here, so under an unverified one
    nothing here takes over (a county's workbook is never at stake for speed)."""
    import xlsxwriter  # type: ignore[import-untyped]

    return ".".join(str(xlsxwriter.__version__).split(".")[:2]) in VERIFIED


class TableCells:
    """The cells of ``frame`` (all of it, in the table ``write_excel`` makes of it at A1) for ``ws``.

    ``install()`` before ``write_excel(wb, worksheet=ws, …)`` of the frame it returns: the worksheet's
    ``add_table`` then leaves the data out, the texts go into the workbook's shared strings, and its ``_write_rows``
    writes the rows' XML when the workbook is closed. Where ``add_table`` is asked for a table this
    does not write (other options, a column without a format), the rows are handed to xlsxwriter."""

    def __init__(self, ws: Any, frame: pl.DataFrame) -> None:
        self.ws = ws
        self.frame = frame
        self.indices: dict[int, pl.Series] = {}
        """Each text column's shared-string indices and each decimal column's texts, by position (null: an
        empty cell)."""
        self.formats: list[Any] = []

    @staticmethod
    def takes(frame: pl.DataFrame) -> bool:
        """Whether every cell of ``frame`` is one this writes as xlsxwriter would (see the module), under a
        verified xlsxwriter (:func:`supported`)."""
        if frame.is_empty() or not supported():
            return False
        for s in frame.get_columns():
            values = s.rename("v").drop_nulls()  # renamed: see ``writers._excel_widths``
            if s.dtype in (pl.Boolean, pl.Null) or not len(values):
                continue
            if s.dtype == pl.String:
                values = values.str.len_chars()
                least, most = 0, _TEXT
            elif s.dtype.is_integer():
                least, most = -_WHOLE, _WHOLE
            elif s.dtype.is_decimal():
                continue  # written as ``{:.16G}`` of each distinct value, as xlsxwriter formats it
            elif s.dtype == pl.Date:
                least, most = date.min, date.max  # type: ignore[assignment]  # the dates Python holds (rows are Python values)
            else:
                return False
            if not (least <= values.min() and values.max() <= most):  # type: ignore[operator]
                return False
        return True

    def install(self) -> pl.DataFrame:
        """Take over the worksheet's ``add_table``; returns the frame to hand ``write_excel``: one of the same
        columns, types and rows, all null, whose rows polars turns into Python cheaply (``df.rows()`` of the
        decisions of 100,000 households cost about 1 CPU s, for rows this does not use). polars makes the
        table from the frame's names, types and height only; the rows of ``frame`` itself are given to
        xlsxwriter where this hands it the table."""
        self.add_table = self.ws.add_table
        self.ws.add_table = self._add_table
        n = self.frame.height  # (not ``frame.clear(n)``: it takes a name like ``^…$`` for a pattern)
        return pl.DataFrame(
            [pl.Series("v", dtype=s.dtype).extend_constant(None, n).rename(s.name) for s in self.frame.get_columns()]
        )

    def _add_table(self, first_row: int, first_col: int, last_row: int, last_col: int, options: dict[str, Any]) -> int:
        from xlsxwriter.utility import xl_range  # type: ignore[import-untyped]

        ws = self.ws
        ws.add_table = self.add_table  # once
        data = options.pop("data", None)
        columns = options.get("columns") or []
        self.formats = [c.get("format") if c else None for c in columns]
        if not (
            (first_row, first_col) == (0, 0)
            and last_row == self.frame.height
            and last_col == self.frame.width - 1
            and data is not None
            and options.get("header_row")
            and not options.get("total_row")
            and len(self.formats) == self.frame.width
            and all(f is not None for f in self.formats)
            and not any(c.get("formula") or c.get("total_function") or c.get("total_string") for c in columns)
            and not ws.constant_memory
            and not ws.row_info
            and not ws.comments
            and ws.default_row_height == ws.original_row_height
        ):
            if data is not None:
                # The rows polars would have made of ``frame`` (it changes only nested and object columns,
                # which :meth:`takes` refuses).
                options["data"] = self.frame.rows()
            return int(self.add_table(first_row, first_col, last_row, last_col, options))
        # The table over its header and first row only: ``add_table`` notes every cell of its range, one by one
        # in Python, to refuse a later table or merged range over it (none comes: the sheet is this table's);
        # the ranges it derives from the last row are then set as it sets them (no totals row: the data end
        # on the last row).
        done = int(self.add_table(first_row, first_col, first_row + 1, last_col, options))
        if done != 0:
            return done  # refused before any cell (xlsxwriter checks the table before its data)
        table = ws.tables[-1]
        table["range"] = table["a_range"] = xl_range(first_row, first_col, last_row, last_col)
        if options["autofilter"]:
            table["autofilter"] = table["a_range"]
        self._share_texts()
        self._format_decimals()
        ws._check_dimensions(last_row, last_col)  # as the last row's cells would
        ws._write_rows = self._write_rows
        return 0

    def _share_texts(self) -> None:
        """Put the texts in the shared-string table as xlsxwriter's ``_write_string`` does cell by cell: each
        text indexed where it first appears (row by row, column by column, after the header's texts), every
        cell counted; an empty text is an empty cell, not a string."""
        table = self.ws.str_table
        texts = [(k, s) for k, s in enumerate(self.frame.get_columns()) if s.dtype == pl.String]
        if not texts:
            return
        width, height = self.frame.width, self.frame.height
        # Where each cell is in xlsxwriter's order: row by row, and column by column within a row.
        at = pl.int_range(height, dtype=pl.Int64) * width
        cells = pl.concat(
            [
                s.rename("t").to_frame().select(pl.when(pl.col("t") != "").then(pl.col("t")), (at + k).alias("at"))
                for k, s in texts
            ]
        )
        known = pl.DataFrame(
            {"t": list(table.string_table), "i": list(table.string_table.values())},
            schema={"t": pl.String, "i": pl.Int64},
        )
        first = cells.drop_nulls("t").group_by("t").agg(pl.col("at").min())
        new = (
            first.join(known, on="t", how="anti")
            .sort("at")
            .select("t", pl.int_range(pl.len(), dtype=pl.Int64).add(table.unique_count).alias("i"))
        )
        every = pl.concat([known, new])
        indices = cells.join(every, on="t", how="left", maintain_order="left").get_column("i")
        for n, (k, _) in enumerate(texts):
            self.indices[k] = indices.slice(n * height, height)
        table.string_table.update(zip(new.get_column("t").to_list(), new.get_column("i").to_list(), strict=True))
        table.unique_count += new.height
        table.count += indices.count()

    def _format_decimals(self) -> None:
        """Each decimal cell's text as xlsxwriter writes the ``Decimal`` it is given (``{:.16G}``: at most 16
        significant digits, trailing zeros kept), worked out in Python once per distinct value."""
        for k, s in enumerate(self.frame.get_columns()):
            if s.dtype.is_decimal():
                cells = s.rename("v").to_frame()
                distinct = cells.drop_nulls().unique()
                texts = pl.Series("t", [f"{v:.16G}" for v in distinct.get_column("v").to_list()], dtype=pl.String)
                known = distinct.with_columns(texts)
                self.indices[k] = cells.join(known, on="v", how="left", maintain_order="left").get_column("t")

    def _write_rows(self) -> None:
        """``Worksheet._write_rows`` for this table: the header row by xlsxwriter, the data rows by polars.

        Every row has a cell in every column (every column has a format, so even an empty cell is
        written), so every block of 16 rows spans all the columns."""
        ws = self.ws
        spans = f"{ws.dim_colmin + 1}:{ws.dim_colmax + 1}"
        for r in sorted(k for k, v in ws.table.items() if v):
            ws._write_row(r, spans)
            for c in range(ws.dim_colmin, ws.dim_colmax + 1):
                if c in ws.table[r]:
                    ws._write_cell(r, c, ws.table[r][c])
            ws._xml_end_tag("row")
        row = pl.concat_str(
            [pl.lit('<row r="'), pl.col("r"), pl.lit(f'" spans="{spans}">'), *self._cells(), pl.lit("</row>")]
        )
        columns = self.frame.get_columns()
        for start in range(0, self.frame.height, _BLOCK):
            n = min(_BLOCK, self.frame.height - start)
            block = pl.DataFrame(
                [pl.int_range(start + 2, start + n + 2, dtype=pl.Int64, eager=True).cast(pl.String).alias("r")]
                + [self.indices.get(k, s).slice(start, n).alias(f"v{k}") for k, s in enumerate(columns)]
            )
            ws.fh.write(block.select(row.str.join("")).item())

    def _cells(self) -> list[pl.Expr]:
        """Each column's cells as ``_write_cell`` writes them: ``<c r="B2" s="3" t="s"><v>17</v></c>``."""
        from xlsxwriter.utility import xl_col_to_name

        out: list[pl.Expr] = []
        for k, dtype in enumerate(self.frame.dtypes):
            col = pl.col(f"v{k}")
            style = f'" s="{self.formats[k]._get_xf_index()}"'
            value: pl.Expr | None
            if dtype == pl.String:
                value = pl.concat_str(pl.lit(' t="s"><v>'), col.cast(pl.String))
            elif dtype.is_integer():
                value = pl.concat_str(pl.lit("><v>"), col.cast(pl.String))
            elif dtype.is_decimal():
                value = pl.concat_str(pl.lit("><v>"), col)  # its texts (``_format_decimals``)
            elif dtype == pl.Date:
                days = (col - pl.lit(_EPOCH)).dt.total_days()
                serial = pl.when(days > 59).then(days + 1).otherwise(days)
                value = pl.concat_str(pl.lit("><v>"), serial.cast(pl.String))
            elif dtype == pl.Boolean:
                value = pl.concat_str(pl.lit(' t="b"><v>'), col.cast(pl.Int8).cast(pl.String))
            else:
                value = None
            # A cell with a value ends ``…><v>value</v></c>``, an empty one ``…/>`` (its format only).
            ending = pl.lit("/>") if value is None else pl.concat_str(value, pl.lit("</v></c>")).fill_null(pl.lit("/>"))
            out.append(pl.concat_str(pl.lit(f'<c r="{xl_col_to_name(k)}'), pl.col("r"), pl.lit(style), ending))
        return out


def workbook(path: Path | BinaryIO, options: dict[str, Any]) -> Any:
    """``xlsxwriter.Workbook(path, options)`` whose shared strings (``xl/sharedStrings.xml``) are written by
    polars (:func:`_shared_strings`) rather than one ``<si>`` at a time in Python: the decisions of 100,000
    households hold about 236,000 distinct texts. The same part byte for byte (the tests compare it).
    xlsxwriter's own workbook under an xlsxwriter this was not compared with (:func:`supported`)."""
    if not supported():
        import xlsxwriter

        return xlsxwriter.Workbook(path, options)
    return _workbook_class()(path, options)


@cache
def _workbook_class() -> type:
    """The workbook class, made on first use (xlsxwriter is imported only by those who write Excel): its
    packager is xlsxwriter's but for the shared strings (``Workbook._get_packager`` is there to be
    overridden, as xlsxwriter's comment says)."""
    import xlsxwriter
    from xlsxwriter.packager import Packager  # type: ignore[import-untyped]
    from xlsxwriter.sharedstrings import SharedStrings  # type: ignore[import-untyped]

    class _Packager(Packager):  # type: ignore[misc]
        def _write_shared_strings_file(self) -> None:
            # Packager._write_shared_strings_file, with the strings' elements written by polars.
            sst = SharedStrings()
            sst.string_table = self.workbook.str_table
            if not self.workbook.str_table.count:
                return
            sst._set_xml_writer(self._filename("xl/sharedStrings.xml"))
            sst._write_sst_strings = lambda: _shared_strings(sst.string_table.string_array, sst.fh)
            sst._assemble_xml_file()

    class _Workbook(xlsxwriter.Workbook):  # type: ignore[misc]
        def _get_packager(self) -> Any:
            return _Packager()

    return _Workbook


_CONTROL: Final = {chr(c): f"_x{c:04X}_" for c in (*range(0x09), *range(0x0B, 0x20), 0xFFFE, 0xFFFF)}
"""What xlsxwriter writes for a control character or a non-character in a text (``_escape_control_characters``)."""


def _shared_strings(strings: list[str], fh: Any) -> None:
    """``SharedStrings._write_sst_strings``: each text's ``<si>`` element as ``_write_si`` writes it.

    A literal ``_xHHHH_`` gets its underscore escaped, then control characters (not tab or line feed) and
    U+FFFE/U+FFFF become ``_xHHHH_``; a text then starting ``<r>`` and ending ``</r>`` is taken for a rich
    string and written as it is; any other gets ``& < >`` escaped, and ``xml:space="preserve"`` when it
    starts or ends with white space (Python's ``\\s``; the characters where Rust's differs, U+001C–U+001F,
    are escaped by then)."""
    source = pl.col("s")
    text = source.str.replace_all(r"(_x[0-9a-fA-F]{4}_)", "_x005F${1}")
    # Only the few texts with a control character go through the replacements (a scan is the cheaper).
    controlled = text.str.contains("[" + "".join(f"\\x{{{ord(c):x}}}" for c in _CONTROL) + "]")
    text = pl.when(controlled).then(text.str.replace_many(list(_CONTROL), list(_CONTROL.values()))).otherwise(text)
    t = pl.col("t")  # the text escaped, worked out once
    rich = t.str.starts_with("<r>") & t.str.ends_with("</r>")
    preserve = t.str.contains(r"^\s") | t.str.contains(r"\s$")
    escaped = t.str.replace_many(["&", "<", ">"], ["&amp;", "&lt;", "&gt;"])
    plain = pl.concat_str(
        pl.lit("<si><t"),
        pl.when(preserve).then(pl.lit(' xml:space="preserve"')).otherwise(pl.lit("")),
        pl.lit(">"),
        escaped,
        pl.lit("</t></si>"),
    )
    element = pl.when(rich).then(pl.concat_str(pl.lit("<si>"), t, pl.lit("</si>"))).otherwise(plain)
    for start in range(0, len(strings), _BLOCK):
        block = pl.DataFrame({"s": strings[start : start + _BLOCK]}, schema={"s": pl.String})
        fh.write(block.select(text.alias("t")).select(element.str.join("")).item())
