"""Text that is safe where it is shown: spreadsheet cells and terminals (issue 13 §5).

Household fields are typed by county clerks and exported by county systems; whatever they hold must not
act when a decision table, a notice or a summary is opened. Two places act on text:

* a spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` as a formula (OWASP, "CSV
  Injection"), and a line break inside a cell looks like a new row to a reader who splits lines;
* a terminal obeys escape sequences (ESC …), and bidirectional overrides reorder what a clerk reads.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CONTROL", "FORMULA_START", "inline", "printable", "spreadsheet_cell"]

CONTROL: Final = r"[\x00-\x1f\x7f]"
"""C0 control characters and DEL: a cell has no use for them (tab, CR and LF included)."""

FORMULA_START: Final = r"^ *[=+\-@]"
"""What makes a spreadsheet read a cell as a formula (after control characters became spaces): the
OWASP list ``=`` ``+`` ``-`` ``@``, also after the spaces a leading tab or CR became, since an import
that trims spaces would otherwise hand the formula over."""

_CONTROL: Final = re.compile(CONTROL)
_FORMULA: Final = re.compile(FORMULA_START)
_UNPRINTABLE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NOT_INLINE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def spreadsheet_cell(text: str) -> str:
    """``text`` as a spreadsheet cell that cannot run: control characters become spaces (no forged rows),
    and a leading ``=`` ``+`` ``-`` ``@`` gets a ``'`` before it, which spreadsheets show as text."""
    text = _CONTROL.sub(" ", text)
    return "'" + text if _FORMULA.match(text) else text


def printable(text: str) -> str:
    """``text`` for a terminal: control characters and bidi overrides written as ``\\uXXXX``; newlines
    and tabs stay, since reports are multi-line."""
    return _UNPRINTABLE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def inline(text: str) -> str:
    """One value of a household (its id, a member id, a name) for a line of terminal text: as
    :func:`printable`, and line breaks and tabs too are written as ``\\uXXXX``, so a value cannot start
    a line of its own and pass for another household's summary or another line of an explanation."""
    return _NOT_INLINE.sub(_escaped, text)
