"""``append_range``: a range of one file appended to another, in the kernel or, where the kernel call
is missing or refused, through Python's buffers — the same bytes either way."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from eligibility.io.filecopy import append_range


def _run(tmp_path: Path, start: int, n: int) -> bytes:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 40_000)  # 10 MB: several blocks of the plain copy
    dst = tmp_path / "dst.bin"
    dst.write_bytes(b"head")
    with dst.open("r+b") as sink, src.open("rb") as source:
        sink.seek(0, os.SEEK_END)
        sink.write(b"-buffered-")  # not yet flushed when the range is appended
        append_range(source, sink, start, n)
        sink.write(b"tail")
    return dst.read_bytes()


@pytest.mark.parametrize("kernel", ["copy_file_range", "refused", "missing"])
def test_append_range_appends_exactly_the_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel: str) -> None:
    data = bytes(range(256)) * 40_000
    if kernel == "refused":

        def refuse(*_: object) -> int:
            raise OSError(errno.EXDEV, "cross-device")

        monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    elif kernel == "missing":
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    for start, n in ((0, len(data)), (7, 5_000_001), (len(data) - 3, 3), (100, 0)):
        assert _run(tmp_path, start, n) == b"head-buffered-" + data[start : start + n] + b"tail"


def test_a_short_source_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    with (tmp_path / "dst.bin").open("wb") as sink, src.open("rb") as source, pytest.raises(OSError):
        append_range(source, sink, 0, 10)
