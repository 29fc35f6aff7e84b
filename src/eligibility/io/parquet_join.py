"""Parquet files of one schema joined into one file by copying their column chunks' bytes.

Why: a batch run with a Parquet output keeps each part's decisions as a Parquet file (so that a run
killed at any moment resumes), and the output is those parts one after the other. Joining them through
polars (scan, concatenate, write) decodes and encodes every nested finding list again — measured at
2.4 CPU s for 200,000 bundled households, the largest step after deciding (``docs/batch-speed.md``,
"Session 16 (lead)"). A Parquet file is its row groups' column chunks — each chunk's pages, then (as
polars and most writers put it) a copy of the chunk's metadata — then the page index, then a footer
that says where everything is. So the joined file is made by copying every chunk's pages as they are,
writing its metadata copy and the footer with the offsets moved to where the chunk landed, copying the
column indexes (they hold no offsets) and writing the offset indexes with their pages' offsets moved.
Nothing is decoded: the cells, their encoding and their statistics are the parts' own, and where the
parts' row groups line up with the joined file's (parts of whole row groups) the result is the very
file polars' own join writes (``tests/test_parquet_join.py`` compares the bytes).

The footer is Thrift's compact protocol (``FileMetaData`` of the Parquet format). It is read here into
a generic tree of fields that keeps every field it does not know, and written back the same way. A file
whose footer or offset indexes do not come back byte for byte, whose chunks are not one after the other
(each followed by nothing or by its own metadata), or that carries something whose offsets this module
does not move (bloom filters, encryption, chunks in other files), makes :func:`join_parquet` decline
(return False) so that the caller joins by decoding instead; so do parts of different schemas or
metadata. Only offsets (``RowGroup.file_offset``, ``ColumnChunk.file_offset``, ``ColumnMetaData``'s page
offsets, the page index's), the row groups' ordinals and the total row count change.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .filecopy import append_range

__all__ = ["join_parquet"]

_MAGIC = b"PAR1"

# Thrift compact protocol type codes.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)

# Parquet FileMetaData / RowGroup / ColumnChunk / ColumnMetaData field ids (parquet.thrift).
_FMD_NUM_ROWS, _FMD_ROW_GROUPS, _FMD_ENCRYPTION, _FMD_SIGNING_KEY = 3, 4, 8, 9
_RG_COLUMNS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 5, 7
_CC_FILE_PATH, _CC_FILE_OFFSET, _CC_META = 1, 2, 3
_CC_OI_OFFSET, _CC_OI_LENGTH, _CC_CI_OFFSET, _CC_CI_LENGTH = 4, 5, 6, 7  # the page index
_CC_CRYPTO = (8, 9)  # crypto metadata, encrypted column metadata
_CM_COMPRESSED, _CM_DATA_PAGE, _CM_DICT_PAGE = 7, 9, 11
_CM_OFFSETS = (9, 10, 11)  # data_page_offset, index_page_offset, dictionary_page_offset
_CM_BLOOM = 14  # bloom_filter_offset
_OI_PAGES, _PL_OFFSET = 1, 1  # OffsetIndex.page_locations, PageLocation.offset


@dataclass
class _Field:
    """One field of a Thrift struct: its id, compact type and value (a bool, int, float, bytes, a
    :class:`_List`, a :class:`_Map` or a list of fields for a struct)."""

    fid: int
    ftype: int
    value: Any


@dataclass
class _List:
    etype: int
    items: list[Any]
    is_set: bool


@dataclass
class _Map:
    ktype: int
    vtype: int
    pairs: list[tuple[Any, Any]]


@dataclass
class _Raw:
    """A field's value kept as its encoded bytes, not decoded: what this module never reads or changes
    (statistics, the schema, encodings, …), written back as it came. Decoding only the path to the
    offsets made a footer's round trip about twice as fast and its tree a fraction of the memory."""

    data: bytes


_Spec = dict[int, Any] | None
"""Which fields of a struct to decode (each with the spec of its own struct or list of structs); the
others are kept as :class:`_Raw`. None: every field."""

_SPEC_META: Final = {_CM_COMPRESSED: None, 9: None, 10: None, 11: None, _CM_BLOOM: None}
_SPEC_CHUNK: Final = {1: None, 2: None, _CC_META: _SPEC_META, 4: None, 5: None, 6: None, 7: None, 8: None, 9: None}
_SPEC_GROUP: Final = {_RG_COLUMNS: _SPEC_CHUNK, _RG_FILE_OFFSET: None, _RG_ORDINAL: None}
_SPEC_FOOTER: Final = {_FMD_NUM_ROWS: None, _FMD_ROW_GROUPS: _SPEC_GROUP, _FMD_ENCRYPTION: None, _FMD_SIGNING_KEY: None}
_SPEC_OFFSET_INDEX: Final = {_OI_PAGES: None}


class _Decline(Exception):
    """The footer holds something this module does not join (the caller joins by decoding instead)."""


class _In:
    """A reader of the compact protocol over one footer."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Decline("footer ends early")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise _Decline("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, t: int) -> None:
        """Move past one value of type ``t`` without building it."""
        if t in (_TRUE, _FALSE, _BYTE):
            self.pos += 1
        elif t in (_I16, _I32, _I64):
            self.varint()
        elif t == _DOUBLE:
            self.pos += 8
        elif t == _BINARY:
            n = self.varint()
            self.pos += n
        elif t in (_LIST, _SET):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            for _ in range(size):
                self.skip(etype)
        elif t == _MAP:
            size = self.varint()
            if size:
                kv = self.byte()
                for _ in range(size):
                    self.skip(kv >> 4)
                    self.skip(kv & 0x0F)
        elif t == _STRUCT:
            while True:
                head = self.byte()
                if head == 0:
                    break
                if not head >> 4:
                    self.zigzag()
                if head & 0x0F not in (_TRUE, _FALSE):
                    self.skip(head & 0x0F)
        else:
            raise _Decline(f"unknown compact type {t}")
        if self.pos > len(self.data):
            raise _Decline("footer ends early")

    def value(self, t: int, spec: _Spec = None) -> Any:
        if t in (_TRUE, _FALSE):  # a bool inside a list or map: one byte of its own
            return self.byte()
        if t == _BYTE:
            return self.byte()
        if t in (_I16, _I32, _I64):
            return self.zigzag()
        if t == _DOUBLE:
            end = self.pos + 8
            raw = self.data[self.pos : end]
            self.pos = end
            return raw
        if t == _BINARY:
            n = self.varint()
            end = self.pos + n
            if end > len(self.data):
                raise _Decline("binary past the footer's end")
            raw = self.data[self.pos : end]
            self.pos = end
            return raw
        if t in (_LIST, _SET):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return _List(etype, [self.value(etype, spec) for _ in range(size)], t == _SET)
        if t == _MAP:
            size = self.varint()
            if not size:
                return _Map(0, 0, [])
            kv = self.byte()
            kt, vt = kv >> 4, kv & 0x0F
            return _Map(kt, vt, [(self.value(kt), self.value(vt)) for _ in range(size)])
        if t == _STRUCT:
            return self.struct(spec)
        raise _Decline(f"unknown compact type {t}")

    def struct(self, spec: _Spec = None) -> list[_Field]:
        fields: list[_Field] = []
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            delta, t = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            if t in (_TRUE, _FALSE):
                fields.append(_Field(fid, t, t == _TRUE))
            elif spec is None or fid in spec:
                fields.append(_Field(fid, t, self.value(t, None if spec is None else spec[fid])))
            else:
                start = self.pos
                self.skip(t)
                fields.append(_Field(fid, t, _Raw(self.data[start : self.pos])))
            last = fid


class _Out:
    """A writer of the compact protocol, the inverse of :class:`_In`."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def varint(self, n: int) -> None:
        while n > 0x7F:
            self.buf.append((n & 0x7F) | 0x80)
            n >>= 7
        self.buf.append(n)

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) ^ (n >> 63))

    def value(self, t: int, v: Any) -> None:
        if isinstance(v, _Raw):
            self.buf += v.data
        elif t in (_TRUE, _FALSE, _BYTE):
            self.buf.append(v)
        elif t in (_I16, _I32, _I64):
            self.zigzag(v)
        elif t == _DOUBLE:
            self.buf += v
        elif t == _BINARY:
            self.varint(len(v))
            self.buf += v
        elif t in (_LIST, _SET):
            n = len(v.items)
            if n < 15:
                self.buf.append((n << 4) | v.etype)
            else:
                self.buf.append(0xF0 | v.etype)
                self.varint(n)
            for item in v.items:
                self.value(v.etype, item)
        elif t == _MAP:
            self.varint(len(v.pairs))
            if v.pairs:
                self.buf.append((v.ktype << 4) | v.vtype)
                for k, x in v.pairs:
                    self.value(v.ktype, k)
                    self.value(v.vtype, x)
        elif t == _STRUCT:
            self.struct(v)
        else:  # pragma: no cover - _In declines unknown types first
            raise _Decline(f"unknown compact type {t}")

    def struct(self, fields: list[_Field]) -> None:
        last = 0
        for f in fields:
            t = (_TRUE if f.value else _FALSE) if f.ftype in (_TRUE, _FALSE) else f.ftype
            delta = f.fid - last
            if 0 < delta <= 15:
                self.buf.append((delta << 4) | t)
            else:
                self.buf.append(t)
                self.zigzag(f.fid)
            if f.ftype not in (_TRUE, _FALSE):
                self.value(t, f.value)
            last = f.fid
        self.buf.append(0)


def _encode(fields: list[_Field]) -> bytes:
    out = _Out()
    out.struct(fields)
    return bytes(out.buf)


def _get(fields: list[_Field], fid: int) -> _Field | None:
    return next((f for f in fields if f.fid == fid), None)


def _int(fields: list[_Field], fid: int) -> int | None:
    f = _get(fields, fid)
    return None if f is None else int(f.value)


@dataclass
class _Part:
    """One file to join: its footer; per chunk, in footer order, where its pages begin, how many bytes
    they take and whether a copy of its metadata follows them (``inline``: writers put one there, which
    holds the chunk's own offsets and so is written anew); and its page index — per chunk, the column
    index's bytes (copied as they are: it holds no offsets) and the offset index (its page locations
    are moved)."""

    path: Path
    footer: list[_Field]
    pages: list[tuple[int, int]]
    inline: list[bool]
    column_index: list[bytes]
    offset_index: list[list[_Field]]


def _read_part(path: Path) -> _Part:
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
        if size < 12 or head != _MAGIC:
            raise _Decline(f"{path.name}: not a Parquet file")
        f.seek(size - 8)
        tail = f.read(8)
        (length,) = struct.unpack("<I", tail[:4])
        if tail[4:] != _MAGIC or length > size - 12:
            raise _Decline(f"{path.name}: not a plain Parquet footer")
        footer_at = size - 8 - length
        f.seek(footer_at)
        raw = f.read(length)
        reader = _In(raw)
        footer = reader.struct(_SPEC_FOOTER)
        if reader.pos != len(raw) or _encode(footer) != raw:  # a footer this codec would not write back the same
            raise _Decline(f"{path.name}: footer not reproduced")
        if _get(footer, _FMD_ENCRYPTION) or _get(footer, _FMD_SIGNING_KEY):
            raise _Decline(f"{path.name}: encrypted")
        chunks = _all_chunks(footer)
        spans: list[tuple[int, int]] = []  # (start, end) of each chunk's pages
        ci: list[tuple[int, int]] = []
        oi: list[tuple[int, int]] = []
        for chunk in chunks:
            meta = _get(chunk, _CC_META)
            if _get(chunk, _CC_FILE_PATH) is not None or any(_get(chunk, k) for k in _CC_CRYPTO) or meta is None:
                raise _Decline(f"{path.name}: a chunk in another file, encrypted, or without metadata")
            if _get(meta.value, _CM_BLOOM) is not None:
                raise _Decline(f"{path.name}: a bloom filter")
            first = _int(meta.value, _CM_DICT_PAGE) or _int(meta.value, _CM_DATA_PAGE)
            if first is None:
                raise _Decline(f"{path.name}: a chunk without a page offset")
            spans.append((first, first + (_int(meta.value, _CM_COMPRESSED) or 0)))
            for index, at, n in ((ci, _CC_CI_OFFSET, _CC_CI_LENGTH), (oi, _CC_OI_OFFSET, _CC_OI_LENGTH)):
                start, length_ = _int(chunk, at), _int(chunk, n)
                if (start is None) != (length_ is None):
                    raise _Decline(f"{path.name}: a page index without its length")
                if start is not None and length_ is not None:
                    index.append((start, start + length_))
        if (ci and len(ci) != len(chunks)) or (oi and len(oi) != len(chunks)):
            raise _Decline(f"{path.name}: a page index for some chunks only")
        data_end = min([s for s, _ in ci + oi], default=footer_at)
        # The chunks follow each other from byte 4 in the footer's order, each its pages and then either
        # nothing or a copy of its metadata; the page index fills the rest up to the footer, in the
        # footer's order too (column indexes, then offset indexes, as polars writes them): then the
        # file is nothing but what this module rewrites.
        inline: list[bool] = []
        at = 4
        for k, (start, end) in enumerate(spans):
            nxt = spans[k + 1][0] if k + 1 < len(spans) else data_end
            if start != at or end > nxt:
                raise _Decline(f"{path.name}: the chunks are not one after the other")
            if nxt > end:
                meta = _get(chunks[k], _CC_META)
                assert meta is not None
                copy = _encode(meta.value)
                f.seek(end)
                if nxt - end != len(copy) or f.read(nxt - end) != copy:
                    raise _Decline(f"{path.name}: bytes after a chunk that are not its metadata")
            inline.append(nxt > end)
            at = nxt
        if at != data_end:
            raise _Decline(f"{path.name}: bytes after the chunks")
        for s, e in ci + oi:
            if s != at or e < s:
                raise _Decline(f"{path.name}: the page index is not where it is expected")
            at = e
        if at != footer_at:
            raise _Decline(f"{path.name}: bytes between the page index and the footer")
        column_index = []
        for s, e in ci:
            f.seek(s)
            column_index.append(f.read(e - s))
        offset_index = []
        for s, e in oi:
            f.seek(s)
            blob = f.read(e - s)
            r = _In(blob)
            parsed = r.struct(_SPEC_OFFSET_INDEX)
            if r.pos != len(blob) or _encode(parsed) != blob:
                raise _Decline(f"{path.name}: an offset index not reproduced")
            offset_index.append(parsed)
    return _Part(path, footer, [(a, b - a) for a, b in spans], inline, column_index, offset_index)


def _row_groups(footer: list[_Field]) -> list[list[_Field]]:
    groups = _get(footer, _FMD_ROW_GROUPS)
    return [] if groups is None else list(groups.value.items)


def _chunks(group: list[_Field]) -> list[list[_Field]]:
    columns = _get(group, _RG_COLUMNS)
    return [] if columns is None else list(columns.value.items)


def _all_chunks(footer: list[_Field]) -> list[list[_Field]]:
    """Every column chunk of a footer, row group by row group: the order of the chunks in the file."""
    return [c for g in _row_groups(footer) for c in _chunks(g)]


def _replaced(fields: list[_Field], values: dict[int, Any]) -> list[_Field]:
    """``fields`` with the values of the ids in ``values`` replaced (order and types kept)."""
    return [_Field(f.fid, f.ftype, values[f.fid]) if f.fid in values else f for f in fields]


def _moved(fields: list[_Field], fids: tuple[int, ...], by: int) -> dict[int, int]:
    """The offsets among ``fields`` (those of ``fids`` that are set and not 0: a deprecated offset may
    be written as 0) moved ``by`` bytes, for :func:`_replaced`."""
    return {f.fid: int(f.value) + by for f in fields if f.fid in fids and f.value}


def _moved_pages(index: list[_Field], by: int) -> list[_Field]:
    """An offset index with its pages' offsets moved ``by`` bytes."""
    pages = _get(index, _OI_PAGES)
    if pages is None:
        return index
    moved = [_replaced(loc, _moved(loc, (_PL_OFFSET,), by)) for loc in pages.value.items]
    return _replaced(index, {_OI_PAGES: _List(pages.value.etype, moved, pages.value.is_set)})


def _same_apart_from_rows(parts: Sequence[_Part]) -> bool:
    """Whether every part's footer equals the first's except for its row count and row groups (schema,
    key-value metadata such as the Arrow schema, writer, column orders), and every part with rows has a
    page index or none has (a file of no rows has no chunks to index)."""

    def rest(p: _Part) -> bytes:
        return _encode([f for f in p.footer if f.fid not in (_FMD_NUM_ROWS, _FMD_ROW_GROUPS)])

    first = rest(parts[0])
    indexed = {(bool(p.column_index), bool(p.offset_index)) for p in parts if _row_groups(p.footer)}
    return all(rest(p) == first for p in parts[1:]) and len(indexed) <= 1


def join_parquet(files: Sequence[Path], out: Path) -> bool:
    """Write ``out`` as the rows of ``files`` one after the other, their chunks' pages copied byte for byte;
    False (``out`` not written) when the files cannot be joined so — different schemas or metadata, or
    something in a footer this module does not move (see the module's docstring) — and the caller is to
    join them by decoding. Files of no rows are left out; ``out`` is written whole or not at all (through
    a temporary file renamed into place).

    The file is laid out as polars writes one: every row group's chunks, then every chunk's column index,
    then every chunk's offset index, then the footer."""
    try:
        parts = [_read_part(Path(f)) for f in files]
    except _Decline:
        return False
    if not parts or not _same_apart_from_rows(parts):
        return False
    kept = [p for p in parts if _row_groups(p.footer)]
    if not kept:
        return False
    # Where each chunk lands: its pages, then its metadata's copy written anew (when the part had one),
    # and that metadata with its page offsets moved (the footer's too).
    moves: list[int] = []  # per chunk across the output, how far its pages move
    metas: list[list[_Field]] = []
    inline: list[bytes | None] = []
    at = 4
    for p in kept:
        for chunk, (first, size), has_copy in zip(_all_chunks(p.footer), p.pages, p.inline, strict=True):
            by = at - first
            meta = _get(chunk, _CC_META)
            assert meta is not None  # _read_part declines chunks without
            metas.append(_replaced(meta.value, _moved(meta.value, _CM_OFFSETS, by)))
            copy = _encode(metas[-1]) if has_copy else None
            moves.append(by)
            inline.append(copy)
            at += size + (len(copy) if copy is not None else 0)
    column_at: list[int] = []
    for p in kept:
        for blob in p.column_index:
            column_at.append(at)
            at += len(blob)
    offset_blobs: list[bytes] = []
    offset_at: list[int] = []
    n = 0
    for p in kept:
        for index in p.offset_index:
            offset_blobs.append(_encode(_moved_pages(index, moves[n])))
            offset_at.append(at)
            at += len(offset_blobs[-1])
            n += 1
    groups: list[list[_Field]] = []
    n = 0  # the chunk's number across the output
    rows = 0
    for p in kept:
        for group in _row_groups(p.footer):
            chunks: list[list[_Field]] = []
            for chunk in _chunks(group):
                values: dict[int, Any] = {_CC_META: metas[n], **_moved(chunk, (_CC_FILE_OFFSET,), moves[n])}
                if p.column_index:
                    values[_CC_CI_OFFSET] = column_at[n]
                if p.offset_index:
                    values[_CC_OI_OFFSET] = offset_at[n]
                    values[_CC_OI_LENGTH] = len(offset_blobs[n])
                chunks.append(_replaced(chunk, values))
                n += 1
            columns = _get(group, _RG_COLUMNS)
            assert columns is not None
            values = {_RG_COLUMNS: _List(columns.value.etype, chunks, columns.value.is_set), _RG_ORDINAL: len(groups)}
            # a row group's offset is its first chunk's, which moved with that chunk
            values.update(_moved(group, (_RG_FILE_OFFSET,), moves[n - len(chunks)] if chunks else 0))
            groups.append(_replaced(group, values))
        rows += _int(p.footer, _FMD_NUM_ROWS) or 0
    listed = _get(kept[0].footer, _FMD_ROW_GROUPS)
    assert listed is not None
    raw = _encode(
        _replaced(
            kept[0].footer,
            {_FMD_NUM_ROWS: rows, _FMD_ROW_GROUPS: _List(listed.value.etype, groups, listed.value.is_set)},
        )
    )
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    with tmp.open("wb") as sink:
        sink.write(_MAGIC)
        for p in kept:
            with p.path.open("rb") as source:
                for first, size in p.pages:
                    append_range(source, sink, first, size)
                    copy = inline[n]
                    if copy is not None:
                        sink.write(copy)
                    n += 1
        for p in kept:
            for blob in p.column_index:
                sink.write(blob)
        for blob in offset_blobs:
            sink.write(blob)
        sink.write(raw)
        sink.write(struct.pack("<I", len(raw)))
        sink.write(_MAGIC)
    os.replace(tmp, out)
    return True
