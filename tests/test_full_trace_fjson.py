"""The full trace's shortcuts of session 13 (issue 9 §5) give what the rules as written give.

* ``_json_number`` (every household's money in its JSON, so its digest) reads a decimal's text instead of
  its tuple of digits: the same int or float — same type, same repr — or the same error as the rule as
  written (``_json_number_as_written``), for decimals of every exponent, sign and form (``1E+2``,
  ``0E-8``, ``-0``, NaN, infinities).
* ``household_digest`` hashes the serializer's bytes: the same digest as sha256 of ``model_dump_json()``
  encoded as UTF-8, for generated households (health sets, Chinese text, money of any exponent).
* A fact's settling-path texts are kept by its paths (``_paths_texts``): as the fact shows them (in
  their order) and as a leaf shows them (sorted, once each), and the same when kept.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from eligibility import Engine
from eligibility.compile import manifest as manifest_module
from eligibility.compile.manifest import _paths_texts
from eligibility.models import _json_number, _json_number_as_written, household_digest
from eligibility.strategies import households

from .test_full_trace_memo import cases

__all__ = ["cases"]  # the examples on three dates (a fixture of test_full_trace_memo.py)


def _outcome(f, v: Decimal) -> object:  # type: ignore[no-untyped-def]
    try:
        got = f(v)
    except Exception as e:  # the error's type is what is compared
        return type(e)
    return type(got), repr(got)


_FORMS = ["0", "-0", "0.0", "0E-8", "0E+3", "1E+2", "1.5E+3", "1E-7", "-1.50", "100", "100.00", "5E+0"]
_FORMS += ["123456789012.34", "0.000001", "0.0000001", "-0.00", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity"]


def test_json_number_forms() -> None:
    for text in _FORMS:
        v = Decimal(text)
        assert _outcome(_json_number, v) == _outcome(_json_number_as_written, v), text


@settings(max_examples=400, deadline=None)
@given(st.integers(-(10**16), 10**16), st.integers(-12, 8))
def test_json_number_any_exponent(coefficient: int, exponent: int) -> None:
    v = Decimal(coefficient).scaleb(exponent)
    assert _outcome(_json_number, v) == _outcome(_json_number_as_written, v), str(v)


@settings(max_examples=60, deadline=None)
@given(households())
def test_household_digest_is_sha256_of_the_canonical_json(h) -> None:  # type: ignore[no-untyped-def]
    text = h.model_dump_json()
    assert household_digest(h) == "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_paths_texts() -> None:
    paths = ("$.members[1].health", "$.income.wage", "$.income.wage", "$.年")
    shown, leaf = _paths_texts(paths)
    assert shown == json.dumps(list(paths), ensure_ascii=False, separators=(",", ":"))
    assert leaf == json.dumps(sorted(set(paths)), ensure_ascii=False, separators=(",", ":"))
    ordered = ("$.a", "$.b")
    assert _paths_texts(ordered) == ('["$.a","$.b"]', '["$.a","$.b"]')


def test_kept_paths_texts(cases, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The texts ``_missing_texts`` keeps by paths are those written afresh, and a full trace written
    with them kept is the one written with none kept."""
    rules, examples = cases
    kept: dict[tuple[str, ...], tuple[str, str]] = {}
    monkeypatch.setattr(manifest_module, "_PATH_TEXTS", kept)
    warm, cold = Engine(rules), Engine(rules)
    for h, on in examples:
        warm.full_json(warm.evaluate(h, on), indent=None)
    assert kept  # the examples have unknown facts with paths
    assert all(v == _paths_texts(k) for k, v in kept.items())
    for h, on in examples:
        with_kept = warm.full_json(warm.evaluate(h, on), indent=None)
        kept.clear()
        assert with_kept == cold.full_json(cold.evaluate(h, on), indent=None), (h.household_id, on)
