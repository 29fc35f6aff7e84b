"""The full trace's kept value and formula texts of decimals, keyed by the decimal's text (session 24, fjs4).

A fresh household's decimals are new objects whose first hash is dear (~1,800 instructions), so
``_value_text`` / ``_sub_text`` keep a decimal's texts under ``str(v)`` rather than the decimal itself.
Checked: the texts are those written without any table, on first writing and when read back from the
table, for decimals that are equal but written differently (``1.5``, ``1.50``), for zero's signs, for
exponents, NaN — and a signalling NaN, which cannot be hashed, still fails as writing it fails.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

import pytest

from eligibility.compile import manifest as m

_DECIMALS = ["1.5", "1.50", "0", "-0", "0.00", "1E+2", "100", "-3.14159", "123456789.123", "NaN", "-12E-3"]


@pytest.fixture
def empty_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "_VALUE_TEXTS", {})
    monkeypatch.setattr(m, "_SUB_TEXTS", {})


@pytest.mark.usefixtures("empty_tables")
def test_decimal_texts_are_the_written_ones_first_and_kept() -> None:
    for _ in range(2):  # written, then read from the tables
        for text in _DECIMALS:
            v = Decimal(text)
            assert m._value_text(v) == m._value_text_of(v), text
            assert m._sub_text(v) == m._sub_text_of(v), text
    assert m._value_text(Decimal("1.5")) == m._value_text(Decimal("1.50")) == "1.5"
    on = date(2024, 3, 1)
    assert m._value_text(on) == '"2024-03-01"' and m._sub_text(on) == m._sub_text_of(on)


@pytest.mark.usefixtures("empty_tables")
def test_decimals_are_kept_by_their_text_dates_by_value() -> None:
    """Fails before session 24: the tables were keyed by the decimals themselves."""
    on = date(2024, 3, 1)
    for v in (Decimal("1.50"), Decimal("1.5"), Decimal("-0"), on):
        m._value_text(v)
        m._sub_text(v)
    for table in (m._VALUE_TEXTS, m._SUB_TEXTS):
        assert set(table) == {"1.50", "1.5", "-0", on}
        assert not any(type(k) is Decimal for k in table)


@pytest.mark.usefixtures("empty_tables")
def test_a_signalling_nan_fails_as_its_writing_does() -> None:
    v = Decimal("sNaN")
    for write, direct in ((m._value_text, m._value_text_of), (m._sub_text, m._sub_text_of)):
        with pytest.raises(InvalidOperation):
            direct(v)
        with pytest.raises(InvalidOperation):
            write(v)
    assert m._VALUE_TEXTS == {} and m._SUB_TEXTS == {}
