"""durable-rules as an independent Rete engine — the only module that imports durable-rules.

The reference evaluator explains; durable-rules cross-checks. Both read the same IR, but this module
compiles each rule's condition tree into durable-rules' own JSON rule language, and rule-to-rule
chaining happens inside the Rete network: a rule that is definitely true asserts a conclusion fact,
and rules that depend on it join on that fact. So a mistake in the reference evaluator's condition
logic, Kleene tables or dependency order shows up as a disagreement.

Three-valued logic without a "not" in the target language: every condition ``C`` compiles twice,
``T(C)`` (definitely true) and ``F(C)`` (definitely false), pushed down to the leaves by De Morgan
(``T(not C) = F(C)``; ``T(all) = and T``, ``F(all) = or F``). Unknown values are simply absent from
the asserted fact and every leaf is guarded by ``$ex``, so a rule whose ``T`` and ``F`` both fail is
unknown, as in the reference evaluator. Derived facts (arithmetic, ages) are computed by
:mod:`eligibility.facts` and given to the engine as values: durable-rules checks the rule logic, not
the formulas.

Traps of durable-rules 2.0.28, each guarded here (see issue 3 and ``tests/test_durable.py``):

* households are asserted as *facts*, never posted as events (events are consumed by the first rule);
* an ``$or`` fires once per true branch: outcomes are collected into sets;
* a fact that matches no rule raises: every ruleset has a catch-all receipt rule;
* the Host's background dispatcher threads are never started (``_QuietHost``);
* at most 1024 live sessions per ruleset: one session per evaluation, deleted in ``finally``;
* sessions must not be shared between threads: evaluations are serialised by a lock (the C calls
  hold the GIL anyway, so nothing is lost);
* exceptions inside actions are swallowed into the session state: the state is checked every time;
* numbers in exponent form (``1e-05``) are rejected: all JSON is written by :func:`_dump` in
  fixed-point;
* a comparison with a *missing* field through ``$m`` can be true: every operand is guarded by ``$ex``;
* ``$iall`` over an empty array is false: set-valued fields become one yes/no field per value;
* a rule whose only test is "field absent" loops: every rule is conjoined with a positive tag;
* the alpha network is walked with a fixed stack of 64 nodes (``MAX_STACK_SIZE`` in its ``events.c``): a fact
  that matches more tests under one node than that fails with error 303, and the half-handled session then
  corrupts memory when deleted (a crash of the whole process). The household's tests are therefore spread over
  *buckets* whose worst case stays far below the limit (:func:`_buckets`), and the household is asserted once
  per bucket under the bucket's own tag;
* loading mutates the definition and a name cannot be registered twice: definitions are built fresh
  and rulesets are named by a digest of their content and cached for the life of the process;
* it does not import on Python ≥ 3.13: :data:`AVAILABLE` is False there and the engine says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import threading
import warnings
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any, Final

from .conditions import AtLeast, Cond, Group, Leaf, Negation, RuleRef
from .errors import InternalError, MissingParameterError
from .expressions import UNKNOWN
from .ruleset import Chain, RuleDef, RuleVersion

__all__ = ["AVAILABLE", "IMPORT_ERROR", "DurableBackend", "DurableLimitError"]

try:  # pragma: no cover - which branch runs depends on the Python version
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        import durable_rules_engine as _dre  # type: ignore[import-not-found]
        from durable import engine as _engine  # type: ignore[import-untyped]

    AVAILABLE: bool = True
    IMPORT_ERROR: str = ""
except Exception as exc:  # ImportError, or an undefined symbol on Python >= 3.13
    AVAILABLE = False
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """durable-rules 2.0.28 calls ``datetime.utcfromtimestamp``, deprecated since Python 3.12, on every
    assertion: a caller's ``-W error::DeprecationWarning`` suite would see each evaluation fail. Its
    deprecation warnings are silenced here, at the boundary, and nowhere else. (Evaluations are
    serialised by the backend's lock, so the process-wide warning filters are not raced.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        yield


MAX_RULES_PER_RULESET: Final = 400
"""durable-rules hangs loading ~840 rules under one node; stay far below and say so if exceeded."""

ALPHA_STACK_BUDGET: Final = 48
"""The most alpha nodes one household fact may have pending in durable-rules' walk (its fixed stack holds 64)."""

_TRUE: Final[dict[str, Any]] = {"$and": []}
Pattern = dict[str, Any]
Branch = tuple[Pattern | None, frozenset[tuple[str, bool]]]
"""One way a condition can hold: a test on the household fact (None: always) and the rule facts it joins."""


class DurableLimitError(InternalError):
    """A rule set too large for durable-rules in its compiled form: refused whole, never half-loaded."""


# ------------------------------------------------------------------------------------------ values


def _num(v: Decimal | int) -> str:
    """Fixed-point text for a number: durable-rules' parser rejects exponents."""
    if isinstance(v, int):
        return str(v)
    text = format(v, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _dump(v: Any) -> str:
    """JSON text with every number in fixed-point form."""
    if v is None or isinstance(v, bool | str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, int | Decimal):
        return _num(v)
    if isinstance(v, float):
        return _num(Decimal(repr(v)))
    if isinstance(v, dict):
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{_dump(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(_dump(x) for x in v) + "]"
    raise InternalError(f"cannot pass {type(v).__name__} to durable-rules")


def _plain(v: Any) -> Any:
    """A rule value as durable-rules sees it: dates as day numbers, numbers as Decimal."""
    if isinstance(v, date):
        return v.toordinal()
    if isinstance(v, bool | str):
        return v
    if isinstance(v, int | Decimal):
        return Decimal(v)
    return v


def _key(name: str) -> str:
    """A field name durable-rules will not read as a path."""
    return "f_" + name.replace(".", "__")


def _set_key(name: str, value: str) -> str:
    return f"{_key(name)}#{value}"


# ----------------------------------------------------------------------------------------- compile


def _flat(op: str, parts: list[Pattern]) -> list[Pattern]:
    """Splice ``{op: [...]}`` children into their parent: durable-rules rejects an ``$or`` directly
    inside an ``$or`` (error 113), and flat lists keep its internal expansion small."""
    out: list[Pattern] = []
    for p in parts:
        if len(p) == 1 and op in p:
            out.extend(_flat(op, p[op]))
        elif p is not _TRUE:
            out.append(p)
    return out


def _and(parts: list[Pattern]) -> Pattern:
    parts = _flat("$and", parts)
    if not parts:
        return _TRUE
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _or(parts: list[Pattern]) -> Pattern:
    parts = _flat("$or", parts)
    return parts[0] if len(parts) == 1 else {"$or": parts}


_FLIP: Final = {"lt": "ge", "le": "gt", "gt": "le", "ge": "lt", "eq": "ne", "ne": "eq"}
_DR_OP: Final = {"lt": "$lt", "le": "$lte", "gt": "$gt", "ge": "$gte", "ne": "$neq"}


class _Compiler:
    """Compiles the rules in force on one date, with that date's parameter values, to a ruleset."""

    def __init__(self, chain: Chain, on: date, in_force: list[tuple[RuleDef, RuleVersion]]) -> None:
        self.chain = chain
        self.on = on
        self.in_force = {r.id for r, _ in in_force}
        self.alias = chain.alias
        self.fields: set[str] = set()  # household fields and derived facts the rules read
        self.set_fields: dict[str, tuple[str, ...]] = {}

    def ex(self, name: str) -> Pattern:
        return {"$ex": {_key(name): 1}}

    def cmp(self, name: str, op: str, value: Any) -> Pattern:
        key = _key(name)
        if isinstance(value, dict):  # another field: {"$m": key}
            return {key: value} if op == "eq" else {_DR_OP[op]: {key: value}}
        return {key: value} if op == "eq" else {_DR_OP[op]: {key: value}}

    def leaf(self, c: Leaf, want: bool) -> Pattern:
        """The test that ``c`` is definitely ``want`` (True: holds; False: fails)."""
        subject = c.subject
        self.fields.add(subject)
        if c.subject_type.kind == "set":
            self.set_fields[subject] = c.subject_type.values
        if c.op == "known":
            known = c.operands[0].value is want
            return self.ex(subject) if known else {"$nex": {_key(subject): 1}}
        values: list[Any] = []
        guards = [self.ex(subject)]
        for o in c.operands:
            if o.kind == "literal":
                values.append(o.value)
            elif o.kind == "param":
                try:
                    values.append(self.chain.param_hit(o.name, self.on).value)
                except MissingParameterError:
                    return {"$nex": {"tag": 1}}  # no value on the date: neither true nor false (unknown)
            else:
                self.fields.add(o.name)
                guards.append(self.ex(o.name))
                values.append({"$m": _key(o.name)})
        if c.subject_type.kind == "set":
            return _and([*guards, self.set_test(c, values, want)])
        if c.op == "in":
            options = list(values[0]) if len(values) == 1 and isinstance(values[0], tuple | list) else values
            opts = list(dict.fromkeys(_plain(v) for v in options))  # a repeated option adds nothing
            if want:
                return (
                    _and([*guards, _or([self.cmp(subject, "eq", v) for v in opts])]) if opts else {"$nex": {"tag": 1}}
                )
            return _and([*guards, *[self.cmp(subject, "ne", v) for v in opts]])
        if c.op == "between":
            lo, hi = (v if isinstance(v, dict) else _plain(v) for v in values)
            if want:
                return _and([*guards, self.cmp(subject, "ge", lo), self.cmp(subject, "le", hi)])
            return _and([*guards, _or([self.cmp(subject, "lt", lo), self.cmp(subject, "gt", hi)])])
        value = values[0] if isinstance(values[0], dict) else _plain(values[0])
        op = c.op if want else _FLIP[c.op]
        return _and([*guards, self.cmp(subject, op, value)])

    def set_test(self, c: Leaf, values: list[Any], want: bool) -> Pattern:
        """``set in [a, b]`` as one yes/no field per value (``$iall`` is false on an empty array)."""
        options = list(values[0]) if len(values) == 1 and isinstance(values[0], tuple | list) else values
        self.set_fields[c.subject] = c.subject_type.values
        unique = dict.fromkeys(str(v) for v in options if v in c.subject_type.values)
        tests = [{_set_key(c.subject, v): want is True} for v in unique]
        if want:
            return _or(tests) if tests else {"$nex": {"tag": 1}}
        return _and(tests)

    def branches(self, c: Cond, want: bool) -> list[Branch]:
        """Disjunctive form over rule-fact joins: the ways ``c`` can be definitely ``want``."""
        if isinstance(c, Leaf):
            return [(self.leaf(c, want), frozenset())]
        if isinstance(c, Negation):
            return self.branches(c.item, not want)
        if isinstance(c, RuleRef):
            target = self.alias.get(c.rule, c.rule)
            if target not in self.in_force:  # not in force: the reference evaluator reads it as false
                return [(None, frozenset())] if not want else []
            return [(None, frozenset({(target, want)}))]
        if isinstance(c, AtLeast):
            # true: some n of them true; false: some len−n+1 of them false (too few can be true)
            size = c.n if want else len(c.items) - c.n + 1
            combos = [Group("all", combo, c.loc) for combo in itertools.combinations(c.items, size)]
            flipped = (
                combos if want else [Group("all", tuple(Negation(x, c.loc) for x in g.items), c.loc) for g in combos]
            )
            return _merge([b for g in flipped for b in self.branches(g, True)])
        assert isinstance(c, Group)
        conj = (c.op == "all") == want  # all/true and any/false are conjunctions
        kids = [self.branches(k, want) for k in c.items]
        if conj:
            out: list[Branch] = []
            for combo in itertools.product(*kids):
                tests = [t for t, _ in combo if t is not None]
                joins = frozenset().union(*(j for _, j in combo))
                out.append((_and(tests) if tests else None, joins))
            return _merge(out)
        return _merge([b for k in kids for b in k])

    def rules(self, order: Iterable[tuple[RuleDef, RuleVersion]]) -> dict[str, dict[str, Any]]:
        """durable-rules definitions: per rule, one entry per (outcome, branch), plus the receipt rule."""
        out: dict[str, dict[str, Any]] = {}
        for rule, version in order:
            for want in (True, False):
                i = 0
                for test, joins in self.branches(version.when, want):
                    # One durable rule per conjunction: durable-rules rejects deeply nested $or trees
                    # (error 113), so the test is put in disjunctive normal form here.
                    for conj in _dnf(test) if test is not None else [[]]:
                        patterns: list[dict[str, Any]] = [{"h": _and([{"tag": "h"}, *conj])}]
                        for j, (rid, value) in enumerate(sorted(joins)):
                            patterns.append({f"r{j}": {"$and": [{"tag": "r"}, {"id": rid}, {"v": value}]}})
                        out[f"{rule.id}|{want}|{i}"] = {"all": patterns, "_outcome": (rule.id, want)}
                        i += 1
        # Receipts: a fact that matches no rule raises in durable-rules, so every fact has one
        # (:func:`_buckets` gives each bucket of household tests its own).
        out["receipt_conclusion"] = {"all": [{"m": {"tag": "r"}}], "_outcome": "conclusion"}
        return out


MAX_CONJUNCTIONS: Final = 256
"""A condition whose disjunctive form exceeds this many conjunctions is refused, not half-compiled."""


def _dnf(p: Pattern) -> list[list[Pattern]]:
    """``p`` as a list of conjunctions of plain tests (duplicates within a conjunction removed)."""
    if len(p) == 1 and "$or" in p:
        out = [c for part in p["$or"] for c in _dnf(part)]
    elif len(p) == 1 and "$and" in p:
        out = [[]]
        for part in p["$and"]:
            out = [a + b for a in out for b in _dnf(part)]
            if len(out) > MAX_CONJUNCTIONS:
                raise InternalError(
                    f"a condition expands to more than {MAX_CONJUNCTIONS} alternatives for durable-rules"
                )
    else:
        return [[p]]
    return _unique_conjunctions(out)


def _unique_conjunctions(conjunctions: list[list[Pattern]]) -> list[list[Pattern]]:
    """Drop repeated tests within a conjunction and repeated conjunctions (same set of tests)."""
    out: dict[tuple[str, ...], list[Pattern]] = {}
    for conj in conjunctions:
        atoms: dict[str, Pattern] = {}
        for atom in conj:
            atoms.setdefault(json.dumps(atom, sort_keys=True, default=str), atom)
        out.setdefault(tuple(sorted(atoms)), list(atoms.values()))
    return list(out.values())


def _merge(branches: list[Branch]) -> list[Branch]:
    """Branches joining the same rule facts share one durable rule: their tests are OR-ed."""
    by_joins: dict[frozenset[tuple[str, bool]], list[Pattern | None]] = {}
    for test, joins in branches:
        by_joins.setdefault(joins, []).append(test)
    out: list[Branch] = []
    for joins, tests in by_joins.items():
        if any(t is None for t in tests):
            out.append((None, joins))
        else:
            out.append((_or([t for t in tests if t is not None]), joins))
    return out


def _alpha_peak(trie: dict[str, Any]) -> int:
    """Worst case of durable-rules' alpha stack below a node: every child pushed, then the worst child's own."""
    if not trie:
        return 0
    return len(trie) + max(_alpha_peak(child) for child in trie.values())


def _household_tests(definition: dict[str, Any]) -> list[str] | None:
    """The tests a durable rule makes on the household fact, in order (None: it reads no household fact)."""
    first = definition["all"][0]
    pattern = first.get("h")
    if pattern is None:
        return None
    tests = pattern.get("$and", [pattern])
    return [json.dumps(t, sort_keys=True, default=str) for t in tests[1:]]  # tests[0] is the tag


def _buckets(definitions: dict[str, dict[str, Any]], budget: int = ALPHA_STACK_BUDGET) -> int:
    """Give each rule that tests the household fact a bucket tag ``h0``, ``h1``, … so that no bucket's
    tests can have more than ``budget`` alpha nodes pending at once, whatever the household holds.

    durable-rules shares a node among rules whose tests begin alike, so a bucket's worst case is computed
    on the trie of its rules' test sequences, as durable-rules builds it (``$and`` in order). Rules are
    placed first-fit; the definitions are rewritten in place, with one receipt rule per bucket, and the
    number of buckets is returned (the household is asserted once per bucket).
    """
    tries: list[dict[str, Any]] = []
    for name, definition in list(definitions.items()):
        tests = _household_tests(definition)
        if tests is None:
            continue
        k = next((i for i, t in enumerate(tries) if _fits(t, tests, budget)), len(tries))
        if k == len(tries):
            tries.append({})
            if not _fits(tries[k], tests, budget):
                raise DurableLimitError(f"rule {name} alone has more than {budget} alternatives for durable-rules")
        trie = tries[k]
        node = trie
        for t in tests:
            node = node.setdefault(t, {})
        pattern = definition["all"][0]["h"]
        if "$and" in pattern:
            pattern["$and"][0] = {"tag": f"h{k}"}
        else:  # the tag is the rule's only test on the household
            definition["all"][0]["h"] = {"tag": f"h{k}"}
    for k in range(max(len(tries), 1)):
        definitions[f"receipt{k}"] = {"all": [{"m": {"tag": f"h{k}"}}], "_outcome": None}
    return max(len(tries), 1)


def _fits(trie: dict[str, Any], tests: list[str], budget: int) -> bool:
    """Whether adding one rule's test sequence keeps the bucket's worst case within ``budget``."""
    probe: dict[str, Any] = trie
    added: list[tuple[dict[str, Any], str]] = []
    for t in tests:
        if t not in probe:
            probe[t] = {}
            added.append((probe, t))
        probe = probe[t]
    ok = _alpha_peak(trie) <= budget
    for parent, t in reversed(added):  # undo: the caller inserts for real where it fits
        del parent[t]
    return ok


# ------------------------------------------------------------------------------------------ engine

if AVAILABLE:

    class _QuietHost(_engine.Host):  # type: ignore[misc]
        """A Host that never starts durable-rules' background dispatcher threads."""

        def _run(self) -> None:
            return None

    class _Ruleset(_engine.Ruleset):  # type: ignore[misc]
        """A ruleset created from JSON text we wrote (fixed-point numbers), with our own actions."""

        def __init__(self, name: str, host: Any, definition: dict[str, Any], actions: dict[str, Any]) -> None:
            self._actions = {rule: _engine.Promise(fn) for rule, fn in actions.items()}
            self._name = name
            self._host = host
            self._handle = _dre.create_ruleset(name, _dump(definition))
            self._definition = definition


class _Compiled:
    """One durable-rules ruleset and what it needs from a household."""

    def __init__(self, name: str, ruleset: Any, fields: set[str], set_fields: dict[str, tuple[str, ...]]) -> None:
        self.name = name
        self.ruleset = ruleset
        self.fields = sorted(fields)
        self.set_fields = set_fields
        self.rule_count = 0
        self.buckets = 1
        """How many copies of the household fact are asserted, one per bucket tag (see :func:`_buckets`)."""
        self.parts: list[_Compiled] = [self]
        """The rulesets a household goes through: itself, or — for rules beyond one ruleset's limit — one
        ruleset per decision kind, each holding that kind's rules and everything they refer to."""


class DurableBackend:
    """Evaluates rule outcomes with durable-rules, for comparison with the reference evaluator."""

    _lock = threading.Lock()
    _host: Any = None
    _cache: dict[str, _Compiled] = {}  # noqa: RUF012 - process-wide, like durable-rules' own state
    _by_date: dict[tuple[str, date], _Compiled] = {}  # noqa: RUF012
    _sids = itertools.count(1)
    _results: dict[str, dict[str, set[bool]]] = {}  # noqa: RUF012
    _receipts: dict[str, int] = {}  # noqa: RUF012 - per session, how many household copies were received
    retried = 0
    """Households durable-rules took in but ran no action for, decided by a second session (see ``_run``)."""

    def __init__(self) -> None:
        if not AVAILABLE:
            raise InternalError(f"durable-rules cannot be imported here ({IMPORT_ERROR})")

    def compile(self, chain: Chain, on: date) -> _Compiled:
        """:meth:`_compile_cached` with durable-rules' deprecation warnings silenced (see :func:`_quiet`)."""
        with _quiet():
            return self._compile_cached(chain, on)

    def outcomes(self, chain: Chain, on: date, fields: dict[str, Any], facts: dict[str, Any]) -> dict[str, str]:
        """Each in-force rule's outcome (fired / not_fired / unknown) as durable-rules concludes it."""
        with _quiet():
            return self._outcomes(chain, on, fields, facts)

    def _compile_cached(self, chain: Chain, on: date) -> _Compiled:
        """The ruleset for this chain's rules in force on ``on`` with that day's parameter values.

        Cached per (rule set, date); dates whose rules and values are the same share one ruleset,
        because the ruleset is named by a digest of its content.
        """
        by_date = self._by_date.get((chain.fingerprint, on))
        if by_date is not None:
            return by_date
        compiled = self._compile(chain, on)
        with self._lock:
            if len(self._by_date) > 10_000:  # a long-running service with many dates: start over
                self._by_date.clear()
            self._by_date[(chain.fingerprint, on)] = compiled
        return compiled

    def _compile(self, chain: Chain, on: date) -> _Compiled:
        in_force = chain.in_force(on)
        whole = self._compile_rules(chain, on, in_force, limit=None)
        if whole is not None:
            return whole
        # Too many for one ruleset (durable-rules hangs loading ~840): one ruleset per decision kind, each
        # closed under the rules it refers to. A rule in two parts is compiled the same way in both, so the
        # parts cannot disagree about it (checked when their outcomes are merged).
        parts = [
            self._compile_rules(chain, on, group, limit=MAX_RULES_PER_RULESET) for group in _groups(chain, in_force)
        ]
        head = parts[0]
        assert head is not None and all(p is not None for p in parts)
        combined = _Compiled(head.name + "+", head.ruleset, set(), {})
        combined.parts = [p for p in parts if p is not None]
        combined.fields = sorted({f for p in combined.parts for f in p.fields})
        combined.rule_count = sum(p.rule_count for p in combined.parts)
        return combined

    def _compile_rules(
        self, chain: Chain, on: date, in_force: list[tuple[RuleDef, RuleVersion]], limit: int | None
    ) -> _Compiled | None:
        """One ruleset for these rules; None when ``limit`` is None and they exceed one ruleset's limit."""
        comp = _Compiler(chain, on, in_force)
        definitions = comp.rules(in_force)
        buckets = _buckets(definitions)
        text = _dump({k: v["all"] for k, v in definitions.items()})
        name = "elig_" + hashlib.sha256((chain.fingerprint + text).encode()).hexdigest()[:24]
        with self._lock:
            got = self._cache.get(name)
            if got is not None:
                return got
            if len(definitions) > MAX_RULES_PER_RULESET:
                if limit is None:
                    return None
                raise DurableLimitError(
                    f"{len(definitions)} durable-rules rules in one ruleset (limit {MAX_RULES_PER_RULESET}); "
                    "split the pack or run the reference evaluator alone"
                )
            if DurableBackend._host is None:
                DurableBackend._host = _QuietHost()
            actions = {}
            for rule_name, d in definitions.items():
                actions[rule_name] = _action(d["_outcome"])
            body = {k: {"all": v["all"]} for k, v in definitions.items()}
            try:
                rs = _Ruleset(name, self._host, body, actions)
            except Exception as exc:  # durable-rules raises its own bare error type
                raise InternalError(f"durable-rules rejected ruleset {name}: {exc}") from None
            compiled = _Compiled(name, rs, comp.fields, comp.set_fields)
            compiled.rule_count = len(definitions)
            compiled.buckets = buckets
            self._cache[name] = compiled
            return compiled

    def _outcomes(self, chain: Chain, on: date, fields: dict[str, Any], facts: dict[str, Any]) -> dict[str, str]:
        seen: dict[str, set[bool]] = {}
        for part in self._compile_cached(chain, on).parts:
            for rid, got in self._run(part, fields, facts).items():
                seen.setdefault(rid, set()).update(got)
        out: dict[str, str] = {}
        for rule, _ in chain.in_force(on):
            got = seen.get(rule.id, set())
            if got == {True, False}:
                raise InternalError(f"durable-rules concluded rule {rule.id} both true and false")
            out[rule.id] = "fired" if True in got else ("not_fired" if False in got else "unknown")
        return out

    def _run(self, compiled: _Compiled, fields: dict[str, Any], facts: dict[str, Any]) -> dict[str, set[bool]]:
        """One household through one ruleset: the outcomes it concluded, per rule."""
        fact: dict[str, Any] = {}
        for name in compiled.fields:
            v = facts[name] if name in facts else fields.get(name, UNKNOWN)
            if v is UNKNOWN:
                continue
            if name in compiled.set_fields:
                for option in compiled.set_fields[name]:
                    fact[_set_key(name, option)] = option in v
                fact[_key(name)] = True
                continue
            if isinstance(v, tuple | list | frozenset):  # only whether it is known can be tested
                fact[_key(name)] = True
                continue
            fact[_key(name)] = _plain(v)
        with self._lock:
            seen, received, how = self._session(compiled, fact)
            if received != compiled.buckets:
                # durable-rules has, rarely and only in long processes under heavy load, run no action at
                # all for a household it accepted (0 of N receipts; its own C engine, cause not found).
                # A second session with a new id decides the same facts; a second miss is an error.
                first = f"{received} of {compiled.buckets} ({how})"
                seen, received, how = self._session(compiled, fact)
                if received != compiled.buckets:
                    raise InternalError(
                        f"durable-rules processed {first}, then {received} of {compiled.buckets} ({how}) "
                        "copies of the household (receipts), in two sessions"
                    )
                DurableBackend.retried += 1
        return seen

    def _session(self, compiled: _Compiled, fact: dict[str, Any]) -> tuple[dict[str, set[bool]], int, str]:
        """One durable-rules session for one household (the caller holds the lock): the outcomes per rule,
        how many household copies were received, and what durable-rules answered (for the error)."""
        sid = str(next(self._sids))
        copies = [{"tag": f"h{k}", **fact, "sid": sid} for k in range(compiled.buckets)]
        self._results[sid] = {}
        rs = compiled.ruleset
        asserted = False
        try:
            result = _dre.assert_facts(rs._handle, _dump(copies))
            state_handle = rs._handle_result(result, copies)
            asserted = True
            done: list[Any] = [None, None]

            def complete(error: Any, state: Any) -> None:
                done[0], done[1] = error, state

            rs.do_actions(state_handle, complete)
            if done[0] is not None:
                raise InternalError(f"durable-rules action failed: {done[0]}")
            if isinstance(done[1], dict) and "exception" in done[1]:
                raise InternalError(f"durable-rules action failed: {done[1]['exception']}")
            received = self._receipts.get(sid, 0)
            how = f"assert {tuple(result)}, actions {'ran' if done[1] is not None else 'none'}"
            return self._results[sid], received, how
        except InternalError:
            raise
        except Exception as exc:
            raise InternalError(f"durable-rules failed: {type(exc).__name__}: {exc}") from None
        finally:
            self._results.pop(sid, None)
            self._receipts.pop(sid, None)
            # A session whose facts durable-rules refused may be half built, and deleting it has been
            # seen to corrupt memory: it is left alone (a leak, never a crash).
            if asserted:
                with contextlib.suppress(Exception):
                    rs.delete_state(sid)

    @classmethod
    def live_sessions(cls) -> int:
        """Sessions not yet deleted (should be 0 between evaluations)."""
        return len(cls._results)


def _groups(chain: Chain, in_force: list[tuple[RuleDef, RuleVersion]]) -> list[list[tuple[RuleDef, RuleVersion]]]:
    """The in-force rules split by decision kind, each part closed under the rules it refers to (in order)."""
    by_id = {r.id: r for r, _ in in_force}
    out = []
    for kind in dict.fromkeys(r.kind for r, _ in in_force):
        keep: set[str] = set()
        stack = [r.id for r, _ in in_force if r.kind == kind]
        while stack:
            rid = stack.pop()
            if rid in keep or rid not in by_id:
                continue
            keep.add(rid)
            stack.extend(chain.alias.get(d, d) for d in by_id[rid].depends)
        out.append([(r, v) for r, v in in_force if r.id in keep])
    return out


def _action(outcome: tuple[str, bool] | str | None) -> Any:
    """The action of one durable rule: record the outcome; a definite outcome is asserted as a fact."""

    def run(c: Any) -> None:
        sid = c.s.sid
        if outcome is None:
            DurableBackend._receipts[sid] = DurableBackend._receipts.get(sid, 0) + 1
            return
        if isinstance(outcome, str):  # receipt of a conclusion fact: nothing to record
            return
        rule_id, value = outcome
        seen = DurableBackend._results.setdefault(sid, {}).setdefault(rule_id, set())
        if value not in seen:  # an $or fires once per true branch: assert the conclusion once
            seen.add(value)
            c.assert_fact({"tag": "r", "id": rule_id, "v": value})

    return run
