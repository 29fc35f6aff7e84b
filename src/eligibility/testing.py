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


def _pydantic_diagnostics(exc: ValidationError, located: Any, prefix: tuple[Any, ...], model: Any) -> list[Diagnostic]:
    """Pydantic's errors as EL216 diagnostics in both languages, each at the key or value it is about.

    Policy staff never see pydantic's own wording: an unknown key gets "did you mean", a missing key is
    named, a wrong value says what is allowed.
    """
    from pydantic import BaseModel

    from .expressions import suggest

    out: list[Diagnostic] = []
    for e in exc.errors(include_url=False):
        rel = tuple(e["loc"])
        loc = (*prefix, *rel)
        dotted = ".".join(map(str, loc))
        kind = e["type"]
        if kind == "extra_forbidden":
            owner: Any = model
            for part in rel[:-1]:
                field = (
                    owner.model_fields.get(str(part))
                    if isinstance(owner, type) and issubclass(owner, BaseModel)
                    else None
                )
                owner = field.annotation if field is not None else None
            keys = list(owner.model_fields) if isinstance(owner, type) and issubclass(owner, BaseModel) else []
            key = str(rel[-1])
            hint = suggest(key, keys)
            zh = f"（是否应为 `{hint.split('`')[1]}`？）" if hint else ""
            msg = f"未知的键 `{key}`{zh} / unknown key `{key}`{hint}"
            where = located.loc(loc, key=True)
        elif kind == "missing":
            msg = f"缺少键 `{rel[-1]}` / missing key `{rel[-1]}`"
            where = located.loc(loc[:-1])
        elif kind.startswith("date"):
            msg = f"`{e.get('input')}` 不是日期（YYYY-MM-DD）/ is not a date (YYYY-MM-DD)"
            where = located.loc(loc)
        elif kind == "literal_error":
            allowed = e.get("ctx", {}).get("expected", "")
            msg = f"`{e.get('input')}` 不是可选值 / is not one of {allowed}"
            where = located.loc(loc)
        else:
            msg = f"取值有误 / bad value at {dotted}: {e['msg']}"
            where = located.loc(loc)
        out.append(Diagnostic(where, "EL216", msg))
    return out


def collect(path: Path, shown: str | None = None) -> tuple[list[Case], list[Diagnostic]]:
    """Read one test file into cases, and diagnostics (EL216 and YAML errors) for what is malformed.

    Each case is checked on its own, so one bad case does not hide the good ones: the good cases are
    returned beside the diagnostics of the bad. A case's household (merged over the defaults) is checked
    against the household model too, unless the case expects an error — a typo in a field name is
    reported here, by ``lint``, rather than as a puzzling test failure.
    """
    from .errors import HouseholdError
    from .models import parse_household

    shown = shown or str(path)
    located, diags = read_yaml(path.read_text(encoding="utf-8"), shown)
    if located is None or diags:
        return [], diags
    data = located.data
    if not isinstance(data, dict):
        return [], [
            Diagnostic(located.loc(()), "EL216", "测试文件应为映射 / a test file is a mapping: defaults, tests")
        ]
    raw_tests = data.get("tests")
    try:
        envelope = rf.TestsFile.model_validate({**data, "tests": [] if isinstance(raw_tests, list) else raw_tests})
    except ValidationError as exc:
        bad = [e for e in exc.errors(include_url=False) if tuple(e["loc"]) != ("tests",)]
        if bad or not isinstance(raw_tests, list):
            out = _pydantic_diagnostics(exc, located, (), rf.TestsFile)
            if not isinstance(raw_tests, list):
                return [], out
            return [], [d for d in out if not d.message.startswith("取值有误 / bad value at tests:")]
        envelope = rf.TestsFile.model_construct(defaults=data.get("defaults") or {}, tests=[])
    if not raw_tests:
        return [], [Diagnostic(located.loc(()), "EL216", "没有测试用例 / no test cases under `tests`")]
    base = _plain(envelope.defaults.get("household", {}))
    cases: list[Case] = []
    out_diags: list[Diagnostic] = []
    for i, raw in enumerate(raw_tests):
        try:
            t = rf.TestCase.model_validate(raw)
        except ValidationError as exc:
            out_diags += _pydantic_diagnostics(exc, located, ("tests", i), rf.TestCase)
            continue
        loc = located.loc(("tests", i))
        household = merge(base, _plain(t.household))
        if t.expect.error is None:
            try:
                parse_household(household)
            except HouseholdError as exc:
                where = located.loc(("tests", i, "household"))
                for fe in exc.errors:
                    out_diags.append(Diagnostic(where, "EL216", _household_message(fe.path, fe.code, fe.message)))
                continue
        cases.append(Case(shown, loc.line, t.name, t.as_of, household, t.expect))
    return cases, out_diags


def _household_message(path: str, code: str, message: str) -> str:
    """A bad field of a test's household, bilingual; an unknown field gets "did you mean"."""
    from .expressions import suggest
    from .facts import CATALOGUE

    if code == "extra_forbidden":
        parent, _, name = path.removeprefix("$.").rpartition(".")
        siblings = [p.rpartition(".")[2] for p in CATALOGUE if p.rpartition(".")[0] == parent]
        hint = suggest(name, siblings)
        zh = f"（是否应为 `{hint.split('`')[1]}`？）" if hint else ""
        return f"农户数据中没有字段 {path}{zh} / household has no field {path}{hint}"
    return f"农户数据 {path} 有误 / bad household field {path}: {message} [{code}]"


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
        ("layers", ident.layers),
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
    fails += _member_fails(d, exp)
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
    skipped = {s.id for s in d.trace.skipped}
    for rid in exp.skipped:
        if rid not in skipped:
            fails.append(f"rule {rid}: expected skipped (not applicable here), got {outcomes.get(rid, 'not in force')}")
    paths = {p for m in (*ident.blocking, *ident.unknown) for p in m.fields}
    for p in exp.missing:
        if p not in paths:
            fails.append(f"missing: expected {p} among the data to fill in, got {sorted(paths)}")
    if fails:
        fails += decisive_lines(engine, d.trace, _failed_kinds(fails, exp))
    return fails


def _member_fails(d: Any, exp: rf.Expectation) -> list[str]:
    """``members`` / ``members_to_review``: the member ids each given measure or gap names (members.py)."""
    found = {f.code: f for f in (*d.assistance.required, *d.assistance.gaps)}
    fails: list[str] = []
    for key, want_by_code in (("members", exp.members), ("members_to_review", exp.members_to_review)):
        for code, want in (want_by_code or {}).items():
            f = found.get(code)
            if f is None:
                fails.append(f"{key}: `{code}` is not among the measures and gaps")
                continue
            named = getattr(f, key)
            if named is None:
                fails.append(f"{key}: `{code}` names no members (a household-level measure)")
                continue
            got = [m.member_id for m in named]
            if got != want:
                fails.append(f"{key} of {code}: expected {want}, got {got}")
    return fails


_KIND_OF_KEY = {
    "status": "identification",
    "category": "identification",
    "risks": "identification",
    "exclusions": "identification",
    "reviews": "identification",
    "measures": "assistance",
    "gaps": "assistance",
    "members": "assistance",
    "members_to_review": "assistance",
    "exit": "exit",
    "exit_blockers": "exit",
    "exit_opens_on": "exit",
    "exit_method": "exit",
    "findings": "procedure",
    "warnings": "warning",
    "missing": "identification",
}

_SIGNS = {
    "lt": ("<", "≥"),
    "le": ("≤", ">"),
    "gt": (">", "≤"),
    "ge": ("≥", "<"),
    "eq": ("=", "≠"),
    "ne": ("≠", "="),
    "in": ("∈", "∉"),
}


def _failed_kinds(fails: list[str], exp: rf.Expectation) -> set[str]:
    """Rule kinds (and explicit rule ids) behind the failed expectations, to pick the thresholds shown."""
    out: set[str] = set()
    for f in fails:
        key = f.split(":", 1)[0]
        if key.startswith("rule "):
            out.add(key[5:])
        elif key in _KIND_OF_KEY:
            out.add(_KIND_OF_KEY[key])
    return out


def _number(v: Any) -> str:
    """A number with thousands separators; amounts with a fraction keep two decimals (7,800.01)."""
    from decimal import Decimal

    if isinstance(v, bool) or not isinstance(v, int | float | Decimal):
        return str(v)
    d = Decimal(str(v))
    return f"{d:,.0f}" if d == d.to_integral_value() else f"{d:,.2f}"


def decisive_lines(engine: Engine, trace: Any, kinds: set[str]) -> list[str]:
    """The comparisons with parameters that decided the rules behind a failure, with the numbers:
    ``判定依据 / decided by: 家庭人均纯收入 7,800.00 ≥ 监测范围 7,800（甘肃省 2024-01-01 起）``.

    Read from the full trace of the case (the values and the dated parameter the engine used), so a
    policy officer sees at once which income met which line without running ``explain``."""
    if not isinstance(trace, Trace):
        return []
    found: dict[str, tuple[float, list[str]]] = {}

    def leaves(node: Any) -> Iterator[Any]:
        if node.children:
            for c in node.children:
                yield from leaves(c)
        else:
            yield node

    for rt in trace.rules:
        if rt.kind not in kinds and rt.id not in kinds:
            continue
        for leaf in leaves(rt.condition):
            src = next((s for s in leaf.sources if s.kind == "parameter"), None)
            if src is None or leaf.op not in _SIGNS or leaf.outcome == "unknown":
                continue
            sign = _SIGNS[leaf.op][0 if leaf.outcome == "true" else 1]
            pack = engine.rules.packs.get(src.pack or "")
            where = f"{pack.zh if pack else src.pack} {src.valid_from} 起 / from {src.valid_from}"
            text = (
                f"判定依据 / decided by: {leaf.zh or leaf.subject} {_number(leaf.actual)} {sign} "
                f"{src.zh or src.name} {_number(leaf.expected)}（{where}）"
            )
            found.setdefault(text, (_distance(leaf.actual, leaf.expected), []))[1].append(rt.id)
    # Nearest to its threshold first: in a failing boundary case that is the comparison that decided it.
    ranked = sorted(found.items(), key=lambda kv: kv[1][0])[:5]
    return [f"{text} [{', '.join(rules)}]" for text, (_, rules) in ranked]


def _distance(actual: Any, expected: Any) -> float:
    """Relative distance of a value from its threshold (infinite when they are not numbers)."""
    try:
        a, e = float(actual), float(expected)
    except (TypeError, ValueError):
        return float("inf")
    return abs(a - e) / max(abs(e), 1.0)


def iter_results(path: Path) -> Iterator[tuple[Case | None, list[str], list[Diagnostic]]]:
    """(case, failures, diagnostics) for every case of every test file under ``path``."""
    for f in find_test_files(path):
        cases, diags = collect(f)
        if diags:
            yield None, [], diags
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
                from .errors import render_diagnostic

                raise YamlRuleTestFailure("\n".join(render_diagnostic(d) for d in diags))
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
