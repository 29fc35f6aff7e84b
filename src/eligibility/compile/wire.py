"""紧凑线格式 / The compact wire form of a decision: what ``Decision.to_json()`` writes at ``trace="compact"``.

A compact decision is what a county system stores for every household every month, so its JSON is
small: no indentation, and nothing the program's rules manifest (:func:`eligibility.compile.manifest.manifest`)
already holds is repeated — not the zh/en labels of codes, not the scheme's wording, not the program's
configuration gaps, not the rule ids (a rule is its index in the manifest's ``rules``), not the trace's
missing-fact names and paths. What a consumer reads without the manifest stays as it is: the status,
category, every finding's code, the measures, the exit status, the procedure's dates.
``docs/trace.md`` describes every field.

:func:`read_decision` gives the labelled form back exactly — the data of ``decision.model_dump(mode="json")``,
from which :class:`~eligibility.decision.Decision` validates — using nothing but the wire JSON and the
manifest; ``Engine.expand`` / ``Engine.full_json`` then give the full trace.

The writer needs only a :class:`Codec` (built from the manifest, once per program): the rule index and the
table of household paths. It finds it through the compact trace's program (the engine's decisions) or
the codecs registered by :func:`codec` (a decision read back with :func:`read_decision`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ..decision import Decision

__all__ = ["Codec", "codec", "read_decision", "write_decision"]

WIRE_LEVEL: Final = "compact"
"""``trace.level`` of a compact decision; the wire form is told from the labelled one by its
``jurisdiction``, a code (a string) rather than an object with labels."""

_ITEM = re.compile(r"\$\.(.+)\[(\d+)\]\.(.+)")
_NODE_BITS: Final = str.maketrans("01?", "012")
_NODE_CHARS: Final = str.maketrans("012", "01?")


class Codec:
    """What writing and reading a compact decision of one program needs from its manifest."""

    def __init__(self, m: dict[str, Any]) -> None:
        # Only what writing and reading need is kept (not the manifest's condition trees).
        self.key: str = m["program"]
        self.fingerprint: str = m["ruleset_fingerprint"]
        self.n_nodes: int = m["nodes"]
        self.rule_ids: list[str] = [r["id"] for r in m["rules"]]
        self.rule_index: dict[str, int] = {rid: i for i, rid in enumerate(self.rule_ids)}
        self.paths: list[str] = m["paths"]
        self.path_index: dict[str, int] = {p: i for i, p in enumerate(self.paths)}
        self.labels: dict[str, dict[str, list[str]]] = m["labels"]
        self.names: dict[str, list[str]] = m["names"]
        # Per fact: its value slot, the facts it reads and its reportable paths (see ``_missing``).
        self.facts = [(f["name"], f["index"], f["facts"], f["paths"]) for f in m["facts"]]
        self._rules_memo: dict[tuple[str, ...], Any] = {}
        self._where: dict[str, tuple[Any, int | None]] = {}

    # ------------------------------------------------------------------------------------- write

    def rules(self, ids: tuple[str, ...]) -> Any:
        """Rule ids as manifest indices (an id the manifest lacks stays a string: never lossy)."""
        got = self._rules_memo.get(ids)
        if got is None:
            got = [self.rule_index.get(r, r) for r in ids]
            if len(self._rules_memo) < 65_536:
                self._rules_memo[ids] = got
        return got

    def absent(self, missing: dict[str, list[str]]) -> list[Any]:
        """The household paths the unknown facts lack, once each: ``k`` for the path ``paths[k]``,
        ``[k, i, j…]`` for items ``i, j…`` of the item path ``paths[k]`` (``members[].dibao``)."""
        return self.absent_paths(sorted(set().union(*missing.values())) if missing else [])

    def absent_paths(self, every: Any) -> list[Any]:
        """:meth:`absent` of the sorted union of the unknown facts' paths."""
        out: list[Any] = []
        items: dict[int, list[Any]] = {}
        where = self._where
        for p in every:
            got = where.get(p)
            if got is None:
                got = self._place(p)
            k, i = got
            if i is None:
                out.append(k)  # a path of the table, or one not in it (written as it is)
                continue
            entry = items.get(k)
            if entry is None:
                entry = items[k] = [k]
                out.append(entry)
            entry.append(i)
        return out

    def _place(self, p: str) -> tuple[Any, int | None]:
        """Where path ``p`` goes in ``absent``: (table index, None), (item path's index, item number), or
        (``p`` itself, None) outside the table — kept per path (a county's paths repeat)."""
        k = self.path_index.get(p[2:]) if p.startswith("$.") else None
        got: tuple[Any, int | None]
        if k is not None:
            got = (k, None)
        else:
            m = _ITEM.fullmatch(p)
            k = self.path_index.get(f"{m.group(1)}[].{m.group(3)}") if m else None
            got = (p, None) if m is None or k is None else (k, int(m.group(2)))
        if len(self._where) < 65_536:
            self._where[p] = got
        return got

    # -------------------------------------------------------------------------------------- read

    def missing(self, values: list[Any], absent: list[Any]) -> dict[str, list[str]]:
        """The settling paths of every unknown fact (the compact trace's ``missing``), from the paths
        the household lacks: a fact's own absent paths and those of the unknown facts it reads."""
        plain: set[int] = set()
        items: dict[int, list[int]] = {}
        loose: set[str] = set()
        for a in absent:
            if type(a) is int:
                plain.add(a)
            elif type(a) is list:
                items[a[0]] = a[1:]
            else:
                loose.add(a)
        paths = self.paths
        done: dict[str, list[str]] = {}
        by_name = {name: (index, facts, own) for name, index, facts, own in self.facts}

        def of(name: str) -> list[str]:
            got = done.get(name)
            if got is not None:
                return got
            index, facts, own = by_name[name]
            if values[index] is not None:
                done[name] = []
                return []
            found: set[str] = set()
            for k, coll in own:
                if coll is None:
                    if k in plain:
                        found.add("$." + paths[k])
                elif coll in plain:
                    found.add("$." + paths[coll])
                else:
                    base, _, sub = paths[k].partition("[].")
                    found.update(f"$.{base}[{i}].{sub}" for i in items.get(k, ()))
            for d in facts:
                found.update(of(d))
            got = done[name] = sorted(found)
            return got

        out = {}
        for name, index, _, _ in self.facts:
            if values[index] is None:
                got = of(name)
                if got:
                    out[name] = got
        if loose:  # pragma: no cover - a path outside the table cannot be placed: kept on no fact
            raise ValueError(f"absent paths not in the manifest: {sorted(loose)}")
        return out


_CODECS: dict[tuple[str, str], Codec] = {}
_LOCK = threading.Lock()


def codec(m: dict[str, Any]) -> Codec:
    """The codec of a manifest, registered so that ``to_json`` finds it for decisions of its program."""
    k = (m["program"], m["ruleset_fingerprint"])  # the same program of the same rules: the same manifest
    got = _CODECS.get(k)
    if got is None:
        got = Codec(m)
        with _LOCK:
            _CODECS[k] = got
    return got


def _codec_of(trace: Any) -> Codec | None:
    """The codec for a compact trace: registered, or built from the program of the engine's run."""
    got = _CODECS.get((trace.program, trace.ruleset_fingerprint))
    if got is not None:
        return got
    run = getattr(trace.missing, "run", None)
    if run is None:
        return None
    from .manifest import manifest

    program = run.program
    got = program.__dict__.get("_wire_codec")
    if got is None:
        got = program.__dict__["_wire_codec"] = Codec(manifest(program))
        with _LOCK:
            _CODECS[(trace.program, trace.ruleset_fingerprint)] = got
    return got


# ------------------------------------------------------------------------------------------ values


def _short(v: Any) -> str | None:
    """A value's one-character form in the slot pattern, if it has one (see :func:`_pack`)."""
    t = type(v)
    if v is None:
        return "n"
    if t is bool:
        return "t" if v else "f"
    if t is int and 0 <= v <= 9:
        return _SMALL[v]
    return None


def _pack(values: Any) -> tuple[str, list[Any]]:
    """The value slots as a pattern of one character per slot and the values the pattern does not hold.

    ``n`` unknown, ``t`` / ``f`` true / false, ``A``…``J`` the integers 0…9; ``d`` the next of
    ``values`` is a decimal (as a string); ``^`` the next of ``values`` is the position in ``values`` of
    an earlier string or decimal this slot repeats (a household's income shows in several formulas, its
    dates in several conditions); ``.`` the next of ``values`` as it is. A run of three or more of one
    character is written as the character and the run's length (``n16``).

    ``values``: the engine's own (unknown as ``UNKNOWN``, decimals, dates, enums) or their compact JSON
    forms (:func:`~eligibility.compile.manifest.encode_value`) — the same result either way. The
    engine's are packed in one pass, each put in its JSON form only where it is not its own."""
    from ..expressions import UNKNOWN
    from .manifest import encode_value

    chars: list[str] = []
    rest: list[Any] = []
    seen: dict[tuple[str, Any], int] = {}
    small = _SMALL
    c = ""
    for v in values:
        t = v.__class__
        if v is UNKNOWN:
            chars.append("n")
            continue
        if t is bool:
            chars.append("t" if v else "f")
            continue
        decimal = False
        if t is Decimal:  # encode_value's form: an integral amount as an int, any other as its digits
            if v == v.to_integral_value():
                v = int(v)
                t = int
            else:
                c, v, decimal = "d", str(v), True
        if t is int:
            if 0 <= v <= 9:
                chars.append(small[v])
            else:
                chars.append(".")
                rest.append(v)
            continue
        if decimal:
            pass
        elif t is str:
            c = "."
        elif t is date:
            c, v = ".", v.isoformat()
        else:
            e = encode_value(v)
            short = _short(e)
            if short is not None:
                chars.append(short)
                continue
            t = type(e)
            if t is dict and len(e) == 1 and "d" in e:
                c, v = "d", e["d"]
            elif t is str:
                c, v = ".", e
            else:
                chars.append(".")
                rest.append(e)
                continue
        at = seen.get((c, v))
        if at is None:
            seen[(c, v)] = len(rest)
            chars.append(c)
            rest.append(v)
        else:
            chars.append("^")
            rest.append(at)
    return _RUN.sub(_run, "".join(chars)), rest


_SMALL: Final = "ABCDEFGHIJ"
"""The integers 0…9 in the slot pattern (digits are run lengths there)."""
_RUN: Final = re.compile(r"([^0-9])\1{2,}")
_RUNS: Final = re.compile(r"(.)(\d+)")


def _run(m: re.Match[str]) -> str:
    """Three or more of one pattern character as the character and how many (``n16``)."""
    return f"{m.group(1)}{len(m.group(0))}"


_UNSHORT: Final[dict[str, Any]] = {"n": None, "t": True, "f": False, **{c: i for i, c in enumerate(_SMALL)}}


def _unpack(pattern: str, rest: list[Any]) -> list[Any]:
    """The value slots of a pattern and its values (:func:`_pack` undone)."""
    pattern = _RUNS.sub(lambda m: m.group(1) * int(m.group(2)), pattern)
    out: list[Any] = []
    got: list[Any] = []  # the value each entry of ``rest`` stands for
    for c, x in zip(pattern, _entries(pattern, rest), strict=True):
        if c == ".":
            got.append(x)
            out.append(x)
        elif c == "d":
            got.append({"d": x})
            out.append({"d": x})
        elif c == "^":
            v = got[x]
            got.append(v)
            out.append(dict(v) if type(v) is dict else v)
        else:
            out.append(_UNSHORT[c])
    return out


def _entries(pattern: str, rest: list[Any]) -> list[Any]:
    """``rest`` spread over the pattern: each slot with its entry (None where the pattern holds the value)."""
    it = iter(rest)
    out = [next(it) if c in ".d^" else None for c in pattern]
    if next(it, _END) is not _END:
        raise ValueError("紧凑轨迹的值多于槽位 / more values than the slot pattern holds")
    return out


_END: Final = object()


def _pack_nodes(nodes: str) -> str:
    """Condition outcomes (``1`` / ``0`` / ``?`` per node) two bits each, as unpadded base64url."""
    if not nodes:
        return ""
    n = int(nodes.translate(_NODE_BITS), 4)
    raw = n.to_bytes((2 * len(nodes) + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unpack_nodes(text: str, count: int) -> str:
    if not count:
        return ""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    bits = format(int.from_bytes(raw, "big"), f"0{2 * count}b")
    return "".join(_PAIR[bits[i : i + 2]] for i in range(0, 2 * count, 2))


_PAIR: Final = {"00": "0", "01": "1", "10": "?"}


# ------------------------------------------------------------------------------------------- write


def _finding(c: Codec, f: Any) -> list[Any]:
    """A finding as ``[code, certain (1/0), [rules]]``."""
    return [f.code, 1 if f.certain else 0, _rule_refs(c, f.rules)]


def _rule_refs(c: Codec, ids: tuple[str, ...]) -> Any:
    """A finding's rules: the manifest index of its one rule, or the list of them."""
    got = c.rules(ids)
    return got[0] if len(got) == 1 else got


def _member(m: Any) -> Any:
    """A member as its position (when the member id is that position's digits) or ``[index, member_id]``."""
    return m.index if m.member_id == str(m.index) else [m.index, m.member_id]


def _measure(c: Codec, f: Any) -> list[Any]:
    """``[code, certain, [rules], members, members_to_review]``, the last left off when empty and then
    ``members`` too when null (a household-level measure)."""
    out = _finding(c, f)
    if f.members is not None or f.members_to_review:
        out.append(None if f.members is None else [_member(m) for m in f.members])
    if f.members_to_review:
        out.append([_member(m) for m in f.members_to_review])
    return out


def _blocker(c: Codec, b: Any) -> list[Any]:
    """``[code, certain, [rules], until]``, ``until`` left off when null."""
    out = _finding(c, b)
    if b.until is not None:
        out.append(b.until.isoformat())
    return out


def _procedure(c: Codec, p: Any) -> list[Any]:
    """``[code, certain, [rules], due, on, days_late]``: ``days_late`` left off when it is the days from
    ``due`` to ``on``, and then ``on`` too when it is ``due`` (a dated check)."""
    out = [p.code, 1 if p.certain else 0, _rule_refs(c, p.rules), _date(p.due), _date(p.on), p.days_late]
    if p.days_late == (None if p.due is None or p.on is None else (p.on - p.due).days):
        out.pop()
        if p.on == p.due:
            out.pop()
    return out


def _missing_fact(m: Any) -> Any:
    return m.name if m.fields == ("$." + m.name,) else [m.name, list(m.fields)]


def _date(d: Any) -> Any:
    return None if d is None else d.isoformat()


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != [] and value != {}:
        out[key] = value


def write_decision(d: Decision) -> str | None:
    """The compact wire JSON of a decision with a compact trace (None when no codec is known for its
    program: a compact decision read from the labelled form without its manifest)."""
    from ..decision import CompactTrace

    t = d.trace
    assert isinstance(t, CompactTrace)
    c = _codec_of(t)
    if c is None:
        return None
    out: dict[str, Any] = {"household_id": d.household_id, "as_of": d.as_of.isoformat()}
    _put(out, "region", d.region)
    out["jurisdiction"] = d.jurisdiction.code
    if d.lead is not None:
        lead: dict[str, Any] = {}
        _put(lead, "channel", None if d.lead.channel is None else d.lead.channel.code)
        _put(lead, "found_on", _date(d.lead.found_on))
        out["lead"] = lead
    i = d.identification
    ident: dict[str, Any] = {"status": i.status}
    _put(ident, "category", None if i.category is None else i.category.code)
    _put(ident, "candidate_categories", [x.code for x in i.candidate_categories])
    for key in ("risks", "risk_types", "layers", "exclusions", "reviews"):
        _put(ident, key, [_finding(c, f) for f in getattr(i, key)])
    _put(ident, "blocking", [_missing_fact(m) for m in i.blocking])
    _put(ident, "unknown", [_missing_fact(m) for m in i.unknown])
    out["identification"] = ident
    a: dict[str, Any] = {}
    _put(a, "required", [_measure(c, f) for f in d.assistance.required])
    _put(a, "gaps", [_measure(c, f) for f in d.assistance.gaps])
    _put(out, "assistance", a)
    e = d.exit
    if e.status != "not_applicable" or e.blockers or e.opens_on or e.method or e.blocking:
        ex: dict[str, Any] = {"status": e.status}
        _put(ex, "blockers", [_blocker(c, b) for b in e.blockers])
        _put(ex, "opens_on", _date(e.opens_on))
        _put(ex, "method", None if e.method is None else e.method.code)
        _put(ex, "blocking", [_missing_fact(m) for m in e.blocking])
        out["exit"] = ex
    _put(out, "procedure", [_procedure(c, p) for p in d.procedure])
    _put(out, "warnings", [_finding(c, f) for f in d.warnings])
    missing = t.missing
    if type(t.values) is tuple and hasattr(missing, "data"):
        # The engine's own compact trace: its values packed as they are, not first put in their JSON
        # form one by one.
        slots, values = _pack(t.values)
        nodes, absent = _pack_nodes(t.nodes_text()), c.absent(missing.data())
    else:
        data = t.to_data()
        slots, values = _pack(data["values"])
        nodes, absent = _pack_nodes(data["nodes"]), c.absent(data["missing"])
    trace = out["trace"] = {
        "level": WIRE_LEVEL,
        "program": t.program,
        "ruleset_fingerprint": t.ruleset_fingerprint,
        "engines": list(t.engines),
        "input_digest": str(t.input_digest),
        "slots": slots,
        "values": values,
        "nodes": nodes,
        "absent": absent,
    }
    if trace["engines"] == ["compiled"]:  # the default: only a cross-checked decision names its engines
        del trace["engines"]
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


# -------------------------------------------------------------------------------------------- read


def _label(c: Codec, kind: str, code: str) -> dict[str, Any]:
    zh, en = c.labels.get(kind, {}).get(code, (code, code))[:2]
    return {"code": code, "zh": zh, "en": en}


def _rule_ids(c: Codec, refs: Any) -> list[str]:
    if type(refs) is not list:
        refs = [refs]
    return [c.rule_ids[r] if type(r) is int else r for r in refs]


def _read_finding(c: Codec, kind: str, f: list[Any]) -> dict[str, Any]:
    return {**_label(c, kind, f[0]), "certain": bool(f[1]), "rules": _rule_ids(c, f[2])}


def _read_member(m: Any) -> dict[str, Any]:
    return {"index": m, "member_id": str(m)} if type(m) is int else {"index": m[0], "member_id": m[1]}


def _read_measure(c: Codec, kind: str, f: list[Any]) -> dict[str, Any]:
    out = _read_finding(c, kind, f)
    members = f[3] if len(f) > 3 else None
    out["members"] = None if members is None else [_read_member(m) for m in members]
    out["members_to_review"] = [_read_member(m) for m in (f[4] if len(f) > 4 else [])]
    return out


def _read_missing(c: Codec, m: Any) -> dict[str, Any]:
    name, fields = (m, ["$." + m]) if type(m) is str else (m[0], m[1])
    zh, en = c.names.get(name, (name, name))
    return {"name": name, "zh": zh, "en": en, "fields": fields}


def read_decision(wire: str | bytes | dict[str, Any], m: dict[str, Any]) -> dict[str, Any]:
    """The labelled decision data (``decision.model_dump(mode="json")``) of a compact wire JSON, with
    the manifest of its program (``Engine.manifest(trace.program)``). A decision already in the
    labelled form is returned as it is; ``Decision.model_validate`` the result for the model."""
    w: dict[str, Any] = json.loads(wire) if isinstance(wire, str | bytes) else wire
    if not isinstance(w.get("jurisdiction"), str):
        return w
    t = w["trace"]
    if t.get("program") != m["program"] or t.get("ruleset_fingerprint") != m["ruleset_fingerprint"]:
        raise ValueError(
            f"清单不符 / manifest {m['program']} ({m['ruleset_fingerprint'][:15]}…) is not that of "
            f"program {t.get('program')} ({str(t.get('ruleset_fingerprint'))[:15]}…)"
        )
    c = codec(m)
    i = w["identification"]
    a = w.get("assistance", {})
    e = w.get("exit", {})
    lead = w.get("lead")
    values = _unpack(t["slots"], t["values"])
    fr: Callable[[str, list[Any]], dict[str, Any]] = lambda kind, f: _read_finding(c, kind, f)  # noqa: E731
    return {
        "household_id": w["household_id"],
        "as_of": w["as_of"],
        "region": w.get("region"),
        "jurisdiction": m["jurisdiction"],
        "scheme": m["scheme"],
        "lead": None
        if lead is None
        else {
            "channel": None if lead.get("channel") is None else _label(c, "channel", lead["channel"]),
            "found_on": lead.get("found_on"),
        },
        "identification": {
            "status": i["status"],
            "category": None if i.get("category") is None else _label(c, "category", i["category"]),
            "candidate_categories": [_label(c, "category", x) for x in i.get("candidate_categories", [])],
            "risks": [fr("risk", f) for f in i.get("risks", [])],
            "risk_types": [fr("risk_type", f) for f in i.get("risk_types", [])],
            "layers": [fr("layer", f) for f in i.get("layers", [])],
            "exclusions": [fr("exclusion", f) for f in i.get("exclusions", [])],
            "reviews": [fr("review", f) for f in i.get("reviews", [])],
            "blocking": [_read_missing(c, x) for x in i.get("blocking", [])],
            "unknown": [_read_missing(c, x) for x in i.get("unknown", [])],
        },
        "assistance": {
            "required": [_read_measure(c, "measure", f) for f in a.get("required", [])],
            "gaps": [_read_measure(c, "gap", f) for f in a.get("gaps", [])],
        },
        "exit": {
            "status": e.get("status", "not_applicable"),
            "blockers": [
                {**fr("exit_blocker", b), "until": b[3] if len(b) > 3 else None} for b in e.get("blockers", [])
            ],
            "opens_on": e.get("opens_on"),
            "method": None if e.get("method") is None else _label(c, "exit_method", e["method"]),
            "blocking": [_read_missing(c, x) for x in e.get("blocking", [])],
        },
        "procedure": [_read_procedure(c, p) for p in w.get("procedure", [])],
        "warnings": [fr("warning", f) for f in w.get("warnings", [])],
        "missing_parameters": m["missing_parameters"],
        "trace": {
            "level": WIRE_LEVEL,
            "program": t["program"],
            "ruleset_fingerprint": t["ruleset_fingerprint"],
            "engines": t.get("engines", ["compiled"]),
            "input_digest": t["input_digest"],
            "values": values,
            "nodes": _unpack_nodes(t["nodes"], c.n_nodes),
            "missing": c.missing(values, t.get("absent", [])),
        },
    }


def _read_procedure(c: Codec, p: list[Any]) -> dict[str, Any]:
    due, on = p[3], p[4] if len(p) > 4 else p[3]
    if len(p) > 5:
        late = p[5]
    else:
        late = None if due is None or on is None else (date.fromisoformat(on) - date.fromisoformat(due)).days
    return {**_read_finding(c, "finding", p), "severity": _severity(c, p[0]), "due": due, "on": on, "days_late": late}


def _severity(c: Codec, code: str) -> str | None:
    got = c.labels.get("finding", {}).get(code)
    return got[2] if got is not None and len(got) > 2 else None
