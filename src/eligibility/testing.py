"""YAML rule tests: collection, running and failure reports — also a pytest plugin.

Policy staff write tests the way OpenFisca's country template does: sentence-named cases beside the
rules they test, on both sides of every threshold and every effective date::

    defaults:
      household: {region: "340602", household_type: 一般农户, ...}
    tests:
      - name: 一般农户人均纯收入恰好等于监测范围，不因收入纳入
        as_of: 2023-06-30
        household: {income: {wage: 23700}}      # merged over defaults.household
        expect: {status: not_identified, not_fired: [identification.income_below_line]}

``eligibility test PATH`` runs them; with ``-p eligibility.testing`` pytest collects every
``tests/*.yaml`` under a rules folder as test items, reporting failures by file, line and case name.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from . import rulefile as rf
from ._yaml import read_yaml
from .decision import Trace
from .engine import Engine
from .errors import Diagnostic, EligibilityError
from .loader import find_root

__all__ = ["Case", "collect", "find_test_files", "merge", "run_case"]


@dataclass
class Case:
    """One YAML test case with its place in the file."""

    path: str
    line: int
    name: str
    as_of: Any
    household: dict[str, Any]
    expect: rf.Expectation

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def merge(base: Any, over: Any) -> Any:
    """Deep merge for test households: mappings merge key by key; anything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = copy.deepcopy(base)
        for k, v in over.items():
            out[k] = merge(out[k], v) if k in out else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


def _plain(v: Any) -> Any:
    """YAML Decimals become strings pydantic parses exactly; dates stay ISO strings."""
    from decimal import Decimal

    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def collect(path: Path, shown: str | None = None) -> tuple[list[Case], list[Diagnostic]]:
    """Read one test file into cases, or diagnostics (EL216 and YAML errors) when it is malformed."""
    shown = shown or str(path)
    located, diags = read_yaml(path.read_text(encoding="utf-8"), shown)
    if located is None or diags:
        return [], diags
    try:
        tf = rf.TestsFile.model_validate(located.data)
    except ValidationError as exc:
        out = []
        for e in exc.errors(include_url=False):
            loc = located.loc(tuple(e["loc"]))
            out.append(Diagnostic(loc, "EL216", f"{'.'.join(map(str, e['loc']))}: {e['msg']}"))
        return [], out
    base = _plain(tf.defaults.get("household", {}))
    cases = []
    for i, t in enumerate(tf.tests):
        loc = located.loc(("tests", i))
        cases.append(Case(shown, loc.line, t.name, t.as_of, merge(base, _plain(t.household)), t.expect))
    return cases, []


def find_test_files(path: Path) -> list[Path]:
    """Every ``*.yaml`` inside a ``tests`` folder at or under ``path`` (or ``path`` itself)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.yaml") if "tests" in p.relative_to(path).parts)


_ENGINES: dict[Path, Engine] = {}


def engine_for(test_file: Path) -> Engine:
    """One engine per rules root, shared by every test file under it."""
    root = find_root(test_file).resolve()
    if root not in _ENGINES:
        _ENGINES[root] = Engine(root)
    return _ENGINES[root]


def run_case(engine: Engine, case: Case) -> list[str]:
    """Evaluate a case; return one message per unmet expectation (empty when the case passes)."""
    exp = case.expect
    given = exp.model_fields_set
    try:
        d = engine.evaluate(case.household, case.as_of, trace="full")
    except EligibilityError as exc:
        if exp.error is not None and exp.error in str(exc):
            return []
        return [f"unexpected error: {exc}"]
    if exp.error is not None:
        return [f"expected an error containing `{exp.error}`, got status {d.identification.status}"]
    ident = d.identification
    fails: list[str] = []
    if "status" in given and ident.status != exp.status:
        fails.append(f"status: expected {exp.status}, got {ident.status}")
    if "category" in given:
        got = ident.category.code if ident.category else None
        if got != exp.category:
            fails.append(f"category: expected {exp.category}, got {got}")
    for key, findings in (
        ("risks", ident.risks),
        ("risk_types", ident.risk_types),
        ("exclusions", ident.exclusions),
        ("reviews", ident.reviews),
    ):
        if key in given:
            want = sorted(getattr(exp, key) or [])
            got_codes = sorted(f.code for f in findings if f.certain)
            if want != got_codes:
                fails.append(f"{key}: expected {want}, got {got_codes}")
    certain = {
        "measures": d.assistance.required,
        "gaps": d.assistance.gaps,
        "exit_blockers": d.exit.blockers,
        "warnings": d.warnings,
    }
    for key, found in certain.items():
        if key in given:
            want = sorted(getattr(exp, key) or [])
            got_codes = sorted(f.code for f in found if f.certain)
            if want != got_codes:
                fails.append(f"{key}: expected {want}, got {got_codes}")
    if "exit" in given and d.exit.status != exp.exit:
        fails.append(f"exit: expected {exp.exit}, got {d.exit.status}")
    if "exit_opens_on" in given and d.exit.opens_on != exp.exit_opens_on:
        fails.append(f"exit_opens_on: expected {exp.exit_opens_on}, got {d.exit.opens_on}")
    if "exit_method" in given:
        got_m = d.exit.method.code if d.exit.method else None
        if got_m != exp.exit_method:
            fails.append(f"exit_method: expected {exp.exit_method}, got {got_m}")
    if "findings" in given:
        got_f = {f.code: f.days_late for f in d.procedure if f.certain}
        if got_f != (exp.findings or {}):
            fails.append(f"findings: expected {exp.findings}, got {got_f}")
    if "missing_parameters" in given:
        got_p = sorted(m.name for m in d.missing_parameters)
        if got_p != sorted(exp.missing_parameters or []):
            fails.append(f"missing_parameters: expected {exp.missing_parameters}, got {got_p}")
    assert isinstance(d.trace, Trace)  # run_case asks for the full trace
    outcomes = {r.id: r.outcome for r in d.trace.rules}
    for key, outcome in (("fired", "fired"), ("not_fired", "not_fired"), ("unknown", "unknown")):
        for rid in getattr(exp, key):
            got_o = outcomes.get(rid, "not in force")
            if got_o != outcome:
                fails.append(f"rule {rid}: expected {outcome}, got {got_o}")
    paths = {p for m in (*ident.blocking, *ident.unknown) for p in m.fields}
    for p in exp.missing:
        if p not in paths:
            fails.append(f"missing: expected {p} among the data to fill in, got {sorted(paths)}")
    return fails


def iter_results(path: Path) -> Iterator[tuple[Case | None, list[str], list[Diagnostic]]]:
    """(case, failures, diagnostics) for every case of every test file under ``path``."""
    for f in find_test_files(path):
        cases, diags = collect(f)
        if diags:
            yield None, [], diags
            continue
        engine = engine_for(f)
        for c in cases:
            yield c, run_case(engine, c), []


# ----------------------------------------------------------------------------------- pytest plugin

try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed to collect YAML tests
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    class YamlRuleTestFailure(Exception):
        """Raised by a YAML case that does not meet its expectations."""

    class YamlTestFile(pytest.File):
        """A ``tests/*.yaml`` file of a rule pack."""

        def collect(self) -> Iterator[pytest.Item]:
            cases, diags = collect(self.path)
            if diags:
                raise YamlRuleTestFailure("\n".join(str(d) for d in diags))
            for c in cases:
                yield YamlTestItem.from_parent(self, name=c.name, case=c)

    class YamlTestItem(pytest.Item):
        """One sentence-named case."""

        def __init__(self, *, case: Case, **kw: Any) -> None:
            super().__init__(**kw)
            self.case = case

        def runtest(self) -> None:
            fails = run_case(engine_for(self.path), self.case)
            if fails:
                raise YamlRuleTestFailure("\n".join(fails))

        def repr_failure(self, excinfo: Any, style: Any = None) -> str:
            if isinstance(excinfo.value, YamlRuleTestFailure):
                return f"{self.case.where}: {self.case.name}\n" + "\n".join(
                    f"  {line}" for line in str(excinfo.value).splitlines()
                )
            return str(super().repr_failure(excinfo))

        def reportinfo(self) -> tuple[Path, int, str]:
            return self.path, self.case.line - 1, self.case.name

    def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
        """Collect ``tests/*.yaml`` inside a rules folder (one that has ``sources.yaml`` above it)."""
        if file_path.suffix == ".yaml" and file_path.parent.name == "tests":
            root = find_root(file_path)
            if (root / "sources.yaml").is_file():
                return YamlTestFile.from_parent(parent, path=file_path)
        return None
