"""Counts of what the fuzz suite reached, printed at the end of the run (issue 13 §6 asks for them)."""

from __future__ import annotations

from collections import Counter
from typing import Any

COUNTS: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if COUNTS:
        terminalreporter.write_sep("-", "fuzz counts / 模糊测试计数")
        for key in sorted(COUNTS):
            terminalreporter.write_line(f"{key}: {COUNTS[key]}")
