"""YAML rule packs → :class:`~eligibility.ruleset.RuleSet`, reporting every problem in one pass.

Policy staff edit these files; a loader that stops at the first mistake makes them run it ten times.
So every stage collects :class:`~eligibility.errors.Diagnostic` objects (``path:line:col: CODE
message``) and carries on with what it could read; :func:`load_rules` raises one
:class:`~eligibility.errors.RuleFileError` holding all of them, and :func:`lint` returns them.

Parsing and validating the YAML is a large part of what starting a process costs, and a rules folder
rarely changes, so :func:`load_rules` keeps what it built in an on-disk cache keyed by the folder's content
(:mod:`eligibility._cache`). For the same reason PyYAML, the rule-file format models and pydantic's
validation machinery are imported only when YAML is actually read: a load served from the cache — the
common case — never pays for them.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import stat
import typing
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .conditions import OPS, AtLeast, Cond, Group, Leaf, Negation, Operand, RuleRef
from .errors import Diagnostic, RuleFileError, SourceLocation, bilingual, type_zh
from .expressions import ExprError, Node, Type, check, compatible, compile_expr, names, parse, suggest
from .facts import CATALOGUE
from .ruleset import (
    INHERIT,
    TERM_SECTIONS,
    VOCAB_SECTIONS,
    Cite,
    FactDef,
    PackDef,
    ParamDef,
    ParamValue,
    RuleDef,
    RuleSet,
    RuleVersion,
    VocabItem,
)

if TYPE_CHECKING:  # imported where used at run time: see the module docstring
    from pydantic import BaseModel

    from . import rulefile as rf
    from ._yaml import Located

__all__ = ["KINDS", "bundled_rules_path", "find_root", "lint", "load_rules"]

KINDS: Final = ("identification", "assistance", "exit", "procedure", "warning")
MAX_RULE_FILE_BYTES: Final = 1 << 20
"""Largest rule file read (1 MiB; the largest bundled one is a few tens of kilobytes)."""
"""The decision kinds; each is a folder of rule files in a pack (design.md, "Rule packs")."""

M = TypeVar("M", bound="BaseModel")


def bundled_rules_path() -> Path:
    """The rules shipped with the package: inside an installed wheel, or the checkout's ``rules/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_rules", here.parent.parent / "rules"):
        if (candidate / "sources.yaml").is_file():
            return candidate
    raise FileNotFoundError("bundled rules not found")


def find_root(path: str | os.PathLike[str]) -> Path:
    """The rules root (the folder holding ``sources.yaml``) at or above ``path``."""
    p = Path(path)
    for cand in [p, *p.parents] if p.is_dir() else list(p.parents):
        if (cand / "sources.yaml").is_file():
            return cand
    return p if p.is_dir() else p.parent


def load_rules(path: str | os.PathLike[str] | None = None, *, cache: bool = True) -> RuleSet:
    """Load every pack under ``path`` (default: the bundled rules); raise one error listing all problems.

    With ``cache`` (the default) a RuleSet already built from exactly these files — same bytes, same
    package version, same Python — is read back from the on-disk cache instead of parsing the YAML again
    (see :mod:`eligibility._cache`); the result is the same either way. A folder with problems is never
    cached, so its diagnostics are reported on every call. ``cache=False`` always reads the YAML.
    """
    root = Path(path) if path is not None else bundled_rules_path()
    display = str(path) if path is not None else str(root)
    if not cache:
        return _read_rules(root, display)
    from ._cache import cached_load

    return cached_load(root, display, lambda: _read_rules(root, display))


def _read_rules(root: Path, display: str) -> RuleSet:
    """Parse and check the YAML under ``root``; ``display`` is how diagnostics and locations name it."""
    diags, rs = _Loader(root, display=display).run()
    if diags or rs is None:
        raise RuleFileError(diags)
    return rs


def lint(path: str | os.PathLike[str]) -> list[Diagnostic]:
    """Every problem in the rules under ``path``, sorted by place; empty when the rules are clean.

    The YAML rule tests (``tests/*.yaml`` inside the packs) are checked too: a typo in a test file
    would otherwise pass ``lint`` and only surface when ``test`` cannot read the file.
    """
    root = find_root(path)
    diags, _ = _Loader(root, display=None).run()
    from .testing import collect, find_test_files

    for f in find_test_files(root):
        diags += collect(f)[1]
    return sorted(diags)


def _model_at(model: Any, loc: Iterable[Any]) -> type[BaseModel] | None:
    """The pydantic model that owns the node at ``loc`` (to suggest the keys it knows)."""
    from pydantic import BaseModel

    cur: Any = model
    for part in loc:
        cur = _strip(cur)
        if isinstance(cur, type) and issubclass(cur, BaseModel):
            f = next((f for n, f in cur.model_fields.items() if (f.alias or n) == part), None)
            if f is None:
                return None
            cur = f.annotation
            continue
        origin = typing.get_origin(cur)
        if origin in (list, tuple) and isinstance(part, int):
            cur = typing.get_args(cur)[0]
        elif origin is dict and isinstance(part, str):
            cur = typing.get_args(cur)[1]
        else:
            return None
    cur = _strip(cur)
    return cur if isinstance(cur, type) and issubclass(cur, BaseModel) else None


def _strip(t: Any) -> Any:
    import types as _types

    if typing.get_origin(t) in (typing.Union, _types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return t


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


class _Loader:
    def __init__(self, root: Path, display: str | os.PathLike[str] | None) -> None:
        self.root = root
        self.display = str(display) if display is not None else str(root)
        self.diags: list[Diagnostic] = []
        self.sources: dict[str, Cite] = {}
        self.vocab: dict[tuple[str, str], VocabItem] = {}
        self.packs: dict[str, PackDef] = {}
        self.texts: dict[str, list[str]] = {}
        # Rules declared but not loaded because of a problem already reported: a reference to one of them
        # is not a second mistake, so it must not produce a follow-on EL210 (one mistake, one diagnostic).
        self.broken: set[str] = set()
        self.broken_facts: set[str] = set()  # the same for facts: declared, reported, not loaded
        self.broken_params: set[str] = set()  # parameters declared in a file that could not be read
        self.raws: dict[Path, bytes | None] = {}

    # ------------------------------------------------------------------ helpers

    def err(self, loc: SourceLocation, code: str, msg: str) -> None:
        self.diags.append(Diagnostic(loc, code, msg))

    def show(self, p: Path) -> str:
        try:
            rel = p.relative_to(self.root)
        except ValueError:
            return str(p)
        return str(Path(self.display) / rel)

    def raw(self, p: Path) -> bytes | None:
        """The bytes of a rule file, read once; None (and one EL005) when it is no file to read.

        ``stat`` before ``open``: opening a FIFO blocks until a writer comes, ``/dev/zero`` never ends, a
        dangling link or a link loop fails — each is a diagnostic, never a hang or a traceback.
        """
        if p in self.raws:
            return self.raws[p]
        data: bytes | None = None
        where = SourceLocation(self.show(p), 1, 1)
        try:
            st = p.stat()
            if not stat.S_ISREG(st.st_mode):
                self.err(
                    where,
                    "EL005",
                    "不是普通文件（FIFO、设备或套接字），规则文件须为普通文件 / "
                    "not a regular file (a FIFO, device or socket); rule files are plain files",
                )
            elif st.st_size > MAX_RULE_FILE_BYTES:
                self.err(
                    where,
                    "EL005",
                    f"文件超过 {MAX_RULE_FILE_BYTES} 字节 / file larger than {MAX_RULE_FILE_BYTES} bytes",
                )
            else:
                with p.open("rb") as fh:
                    data = fh.read(MAX_RULE_FILE_BYTES + 1)
                if len(data) > MAX_RULE_FILE_BYTES:
                    self.err(
                        where,
                        "EL005",
                        f"文件超过 {MAX_RULE_FILE_BYTES} 字节 / file larger than {MAX_RULE_FILE_BYTES} bytes",
                    )
                    data = None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            self.err(
                where,
                "EL005",
                f"无法读取文件：{reason}（悬空链接或链接循环？）/ "
                f"cannot read file: {reason} (a dangling link or a link loop?)",
            )
        self.raws[p] = data
        return data

    def normalised(self, p: Path) -> bytes:
        """The file's bytes with CRLF as LF, for the digests (empty when unreadable)."""
        return (self.raw(p) or b"").replace(b"\r\n", b"\n")

    def _declared(self, p: Path, pattern: re.Pattern[str]) -> set[str]:
        """Names a file declares, found in its text when it cannot be parsed (a YAML syntax error, a
        wrong shape): rules and facts referring to them then get no follow-on "unknown" diagnostic."""
        data = self.raws.get(p)
        text = data.decode("utf-8", "replace") if data else ""
        return {m.group(1) for m in pattern.finditer(text)}

    def read(self, p: Path) -> Located | None:
        from ._yaml import read_yaml

        shown = self.show(p)
        data = self.raw(p)
        if data is None:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.err(
                SourceLocation(shown, 1, 1),
                "EL005",
                f"不是 UTF-8 编码：第 {exc.start} 字节 / not UTF-8: byte {exc.start}: {exc.reason}",
            )
            return None
        self.texts[shown] = text.splitlines()
        located, diags = read_yaml(text, shown)
        self.diags.extend(diags)
        return located

    def validate(self, model: type[M], doc: Located, data: Any = ..., prefix: tuple[Any, ...] = ()) -> M | None:
        """Validate ``data`` (default: the whole file) against a format model, reporting every error.

        A misspelt key is reported once — as the unknown key with its "did you mean" — and not a
        second time as the required key it was meant to be.
        """
        from pydantic import ValidationError

        raw = doc.data if data is ... else data
        try:
            return model.model_validate(raw if raw is not None else {})
        except ValidationError as exc:
            found: list[tuple[SourceLocation, str, str, tuple[Any, ...]]] = []
            meant: set[tuple[Any, ...]] = set()
            for e in exc.errors(include_url=False):
                rel = tuple(e["loc"])
                loc = prefix + rel
                kind = e["type"]
                while loc and loc not in doc.locations and kind != "missing":
                    if kind == "extra_forbidden" and (*loc, "<key>") in doc.locations:
                        break
                    loc = loc[:-1]
                if kind == "missing":
                    found.append((doc.loc(loc[:-1]), "EL102", f"缺少键 `{loc[-1]}` / missing key `{loc[-1]}`", loc))
                elif kind == "extra_forbidden":
                    owner = _model_at(model, rel[:-1])
                    keys = _keys(owner) if owner else []
                    hint = suggest(str(loc[-1]), keys)
                    if hint:
                        meant.add((*loc[:-1], hint.split("`")[1]))
                    found.append(
                        (
                            doc.loc(loc, key=True),
                            "EL101",
                            bilingual(f"未知的键 `{loc[-1]}`", f"unknown key `{loc[-1]}`", hint),
                            loc,
                        )
                    )
                elif kind.startswith("date"):
                    found.append(
                        (
                            doc.loc(loc),
                            "EL104",
                            f"`{e.get('input')}` 不是日期（YYYY-MM-DD）/ `{e.get('input')}` is not a date (YYYY-MM-DD)",
                            loc,
                        )
                    )
                else:
                    found.append((doc.loc(loc), "EL103", _bad_value(e), loc))
            seen: set[tuple[Any, ...]] = set()
            for where, code, msg, loc in found:
                if (code == "EL102" and loc in meant) or (loc, code) in seen:
                    continue
                seen.add((loc, code))
                self.err(where, code, msg)
            return None

    def after(self, doc: Located, path: tuple[Any, ...], day: date, last: date | None) -> date:
        """Dated entries (parameter values, wording versions) must start in order: report one that does not."""
        if last is not None and day <= last:
            self.err(
                doc.loc((*path, "from")),
                "EL215",
                f"`{day}` 不晚于上一个值的日期 / `{day}` is not after the previous value's date",
            )
        return day

    def cites(
        self, doc: Located, path: tuple[Any, ...], cites: list[rf.Citation], what: tuple[str, str]
    ) -> tuple[Cite, ...]:
        """The citations resolved against sources.yaml; ``what`` names the cited thing (Chinese, English)."""
        if not cites:
            self.err(
                doc.loc(path),
                "EL202",
                f"{what[0]}没有出处（请添加 `cite:` 并写明来源）/ "
                f"{what[1]} has no citation (add `cite:` with a source)",
            )
            return ()
        out = []
        for i, c in enumerate(cites):
            src = self.sources.get(c.source)
            if src is None:
                self.err(
                    doc.loc((*path, "cite", i, "source")),
                    "EL203",
                    bilingual(
                        f"未登记的来源 `{c.source}`",
                        f"unknown source `{c.source}`",
                        suggest(c.source, list(self.sources)),
                    ),
                )
                continue
            out.append(Cite(c.source, src.title, src.grade, src.url, c.clause, c.note))
        return tuple(out)

    # ------------------------------------------------------------------ top level

    def run(self) -> tuple[list[Diagnostic], RuleSet | None]:
        from . import rulefile as rf

        src_path = self.root / "sources.yaml"
        if not src_path.is_file():
            self.err(
                SourceLocation(self.show(src_path), 1, 1),
                "EL102",
                "规则目录中没有 sources.yaml / rules folder has no sources.yaml",
            )
            return self.diags, None
        doc = self.read(src_path)
        digest = hashlib.sha256()
        digest.update(self.normalised(src_path))
        if doc is not None:
            sf = self.validate(rf.SourcesFile, doc)
            if sf is not None:
                for key, s in sf.sources.items():
                    if s.url is not None and not s.url.lower().startswith(("http://", "https://")):
                        where = doc.loc(("sources", key, "url"))
                        self.err(
                            where,
                            "EL103",
                            "来源网址须以 http:// 或 https:// 开头 / a source URL must begin with http:// or https://",
                        )
                        s = s.model_copy(update={"url": None})
                    self.sources[key] = Cite(key, s.title, s.grade, s.url, None, s.note)
        raw: dict[str, tuple[Path, Located, rf.PackFile]] = {}
        for pack_yaml in sorted(self.root.rglob("pack.yaml")):
            pdoc = self.read(pack_yaml)
            if pdoc is None:
                continue
            pf = self.validate(rf.PackFile, pdoc)
            if pf is None:
                continue
            if pf.id in raw:
                self.err(
                    pdoc.loc(("id",)),
                    "EL206",
                    f"规则包编号 `{pf.id}` 已被 {self.show(raw[pf.id][0])} 使用 / "
                    f"pack id `{pf.id}` is also used by {self.show(raw[pf.id][0])}",
                )
                continue
            raw[pf.id] = (pack_yaml.parent, pdoc, pf)
        for pid in self._pack_order(raw):
            directory, pdoc, pf = raw[pid]
            self._load_pack(directory, pdoc, pf)
        rs = RuleSet(str(self.root), self.packs, self.sources, self.vocab, digest.hexdigest())
        return self.diags, rs

    def _pack_order(self, raw: dict[str, tuple[Path, Located, rf.PackFile]]) -> list[str]:
        """Packs parents first. A pack whose parent is unknown or in a circle is reported once; its
        descendants are left out silently, so one mistake does not cascade into many diagnostics."""
        order: list[str] = []
        state: dict[str, str] = {}  # visiting | ok | failed

        def visit(pid: str) -> str:
            if pid in state:
                return "cycle" if state[pid] == "visiting" else state[pid]
            state[pid] = "visiting"
            _, doc, pf = raw[pid]
            result = "ok"
            if pf.extends is not None:
                if pf.extends not in raw:
                    hint = suggest(pf.extends, list(raw))
                    self.err(
                        doc.loc(("extends",)),
                        "EL212",
                        bilingual(f"未知的规则包 `{pf.extends}`", f"unknown pack `{pf.extends}`", hint),
                    )
                    result = "failed"
                else:
                    parent = visit(pf.extends)
                    if parent == "cycle":
                        self.err(
                            doc.loc(("extends",)),
                            "EL212",
                            f"规则包经 `{pid}` 相互继承成环 / packs extend each other in a circle through `{pid}`",
                        )
                    if parent != "ok":
                        result = "failed"
            state[pid] = result
            if result == "ok":
                order.append(pid)
            return result

        for pid in sorted(raw):
            visit(pid)
        return order

    # ------------------------------------------------------------------ one pack

    def _load_pack(self, directory: Path, pdoc: Located, pf: rf.PackFile) -> None:
        files = sorted(p for p in directory.rglob("*.yaml") if "tests" not in p.relative_to(directory).parts)
        h = hashlib.sha256(pf.id.encode())
        for f in files:
            h.update(str(f.relative_to(directory)).encode())
            h.update(self.normalised(f))
        self._regions(pdoc, pf)
        pack = PackDef(pf.id, pf.name.zh, pf.name.en, tuple(pf.regions), pf.extends, str(directory), h.hexdigest())
        self.packs[pf.id] = pack
        chain = self._ancestors(pack)
        rule_files: list[tuple[str, Path]] = []
        for f in files:
            rel = f.relative_to(directory).parts
            if rel == ("pack.yaml",):
                continue
            if rel == ("vocabulary.yaml",):
                self._vocabulary(f)
            elif rel == ("facts.yaml",):
                continue
            elif rel[0] == "parameters" and len(rel) == 2:
                self._params(f, pack, chain)
            elif rel[0] in KINDS:
                rule_files.append((rel[0], f))
            else:
                hint = suggest(rel[0], [*KINDS, "parameters", "facts.yaml", "vocabulary.yaml"])
                self.err(
                    SourceLocation(self.show(f), 1, 1),
                    "EL101",
                    bilingual("文件不在规定的位置", "file is not in a known place", hint),
                )
        if (directory / "facts.yaml").is_file():
            self._facts(directory / "facts.yaml", pack, chain)
        for kind, f in rule_files:
            self._rules(f, kind, pack, chain)
        self._disable(pdoc, pf, pack, chain)
        self._check_rule_refs(pack, chain)

    def _regions(self, pdoc: Located, pf: rf.PackFile) -> None:
        """Region prefixes: GB/T 2260 ASCII digits (2 to 12), inside the parent's regions; a pack that
        extends another lists at least one — an empty list would make a county pack cover the country."""
        parent = self.packs.get(pf.extends) if pf.extends else None
        if pf.extends is not None and not pf.regions:
            self.err(
                pdoc.loc(("regions",)),
                "EL103",
                "继承上级的规则包须列出区划代码前缀 / a pack that extends another must list its region prefixes",
            )
        for i, r in enumerate(pf.regions):
            where = pdoc.loc(("regions", i))
            if not (r.isascii() and r.isdigit() and 2 <= len(r) <= 12):
                self.err(
                    where,
                    "EL103",
                    f"区划代码前缀 `{r}` 须为 2 至 12 位 GB/T 2260 数字 / "
                    f"region prefix `{r}` must be 2 to 12 GB/T 2260 digits",
                )
            elif parent is not None and parent.regions and not any(r.startswith(p) for p in parent.regions):
                self.err(
                    where,
                    "EL103",
                    f"区划代码前缀 `{r}` 不在上级规则包 `{parent.id}` 的区划内 / "
                    f"region prefix `{r}` is outside the regions of pack `{parent.id}`",
                )

    def _ancestors(self, pack: PackDef) -> list[PackDef]:
        out = [pack]
        cur = pack.extends
        while cur is not None and cur in self.packs:
            out.append(self.packs[cur])
            cur = self.packs[cur].extends
        return out[::-1]

    def _vocabulary(self, f: Path) -> None:
        from . import rulefile as rf

        doc = self.read(f)
        envelope = self.validate(_envelope("vocabulary"), doc) if doc else None
        if envelope is None or doc is None:
            return
        for kind, section in (*VOCAB_SECTIONS.items(), *TERM_SECTIONS.items()):
            entries: dict[str, Any] = dict(envelope)[section] or {}
            for code, raw in entries.items():
                entry = self.validate(rf.VocabEntry, doc, raw, (section, code))
                if entry is None:
                    continue
                if (kind, code) in self.vocab:
                    self.err(
                        doc.loc((section, code), key=True),
                        "EL206",
                        f"{type_zh(kind)} `{code}` 重复声明 / {kind} `{code}` is declared twice",
                    )
                    continue
                cites = self.cites(doc, (section, code), entry.cite, (f"{type_zh(kind)} `{code}` ", f"{kind} `{code}`"))
                versions = []
                last: date | None = None
                for i, v in enumerate(entry.versions):
                    where = (section, code, "versions", i)
                    last = self.after(doc, where, v.from_, last)
                    vc = self.cites(
                        doc,
                        where,
                        v.cite,
                        (f"{type_zh(kind)} `{code}` 自 {v.from_} 起的措辞", f"{kind} `{code}` from {v.from_}"),
                    )
                    versions.append(VocabItem(kind, code, v.label.zh, v.label.en, vc, entry.severity, start=v.from_))
                self.vocab[(kind, code)] = VocabItem(
                    kind, code, entry.label.zh, entry.label.en, cites, entry.severity, tuple(versions)
                )

    # ------------------------------------------------------------------ parameters

    def _params(self, f: Path, pack: PackDef, chain: list[PackDef]) -> None:
        from . import rulefile as rf

        doc = self.read(f)
        pfile = self.validate(rf.ParamsFile, doc) if doc else None
        if pfile is None or doc is None:
            self.broken_params |= self._declared(f, _TOP_KEY)
            return
        for name, decl in pfile.parameters.items():
            path = ("parameters", name)
            inherited = next((p.params[name] for p in chain if name in p.params), None)
            if inherited is not None and (decl.label or decl.type or decl.unit or decl.optional is not None):
                where = "this pack" if inherited.pack == pack.id else f"pack `{inherited.pack}`"
                where_zh = "本包" if inherited.pack == pack.id else f"规则包 `{inherited.pack}` "
                self.err(
                    doc.loc(path, key=True),
                    "EL206",
                    f"参数 `{name}` 已在{where_zh}中声明，此处只写 `values` / "
                    f"parameter `{name}` is already declared by {where}; give only `values` here",
                )
                continue
            if inherited is None:
                missing = [k for k in ("label", "type") if getattr(decl, k) is None]
                for k in missing:
                    self.err(
                        doc.loc(path),
                        "EL102",
                        f"参数 `{name}` 在此声明，须写 `{k}` / parameter `{name}` is declared here and needs `{k}`",
                    )
                if missing or decl.label is None or decl.type is None:
                    continue
                pack.params[name] = inherited = ParamDef(
                    name,
                    decl.label.zh,
                    decl.label.en,
                    decl.type,
                    decl.unit,
                    pack.id,
                    doc.loc(path, key=True),
                    bool(decl.optional),
                )
            values: list[ParamValue] = []
            last: date | None = None
            for i, v in enumerate(decl.values):
                vpath = (*path, "values", i)
                last = self.after(doc, vpath, v.from_, last)
                cites = self.cites(
                    doc, vpath, v.cite, (f"参数 `{name}` 自 {v.from_} 起的值", f"value of `{name}` from {v.from_}")
                )
                if v.inherit and v.value is not None:
                    msg = "`value` 与 `inherit: true` 只能写一个 / give either `value` or `inherit: true`, not both"
                    self.err(doc.loc((*vpath, "inherit")), "EL103", msg)
                value = INHERIT if v.inherit else self._param_value(doc, (*vpath, "value"), inherited, v.value)
                values.append(ParamValue(v.from_, value, cites, doc.loc(vpath)))
            if name in pack.values:
                self.err(
                    doc.loc(path, key=True),
                    "EL206",
                    f"本包两次给出 `{name}` 的值 / values of `{name}` are given twice in this pack",
                )
                continue
            pack.values[name] = values

    def _param_value(self, doc: Located, path: tuple[Any, ...], decl: ParamDef, v: Any) -> Any:
        if v is None:
            return None
        t = decl.type
        ok = {
            "money": isinstance(v, int | Decimal) and not isinstance(v, bool),
            "number": isinstance(v, int | Decimal) and not isinstance(v, bool),
            "integer": isinstance(v, int) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "text": isinstance(v, str),
            "list": isinstance(v, list),
        }[t]
        if not ok:
            self.err(
                doc.loc(path),
                "EL208",
                f"`{name_of(v)}` 不是{type_zh(t)}（参数 `{decl.name}` 的类型为{type_zh(t)}）/ "
                f"`{name_of(v)}` is not a {t} value (parameter `{decl.name}` is {t})",
            )
            return None
        if t == "money" and v < 0:
            self.err(
                doc.loc(path),
                "EL103",
                f"`{name_of(v)}` 为负数；金额须 ≥ 0 / `{name_of(v)}` is negative; money values are ≥ 0",
            )
            return None
        if t in ("money", "number") and isinstance(v, int):
            return Decimal(v)
        if t == "list":
            return tuple(v)
        return v

    # ------------------------------------------------------------------ facts

    def _facts(self, f: Path, pack: PackDef, chain: list[PackDef]) -> None:
        from . import rulefile as rf

        doc = self.read(f)
        envelope = self.validate(_envelope("facts"), doc) if doc else None
        if envelope is None or doc is None:
            self.broken_facts |= self._declared(f, _TOP_KEY)
            return
        parsed: dict[str, tuple[rf.FactDecl, Node]] = {}
        declared: dict[str, Any] = dict(envelope)["facts"]
        for name, raw in declared.items():
            decl = self.validate(rf.FactDecl, doc, raw, ("facts", name))
            if decl is None:
                self.broken_facts.add(name)
                continue
            if any(name in p.facts for p in chain) or name in CATALOGUE:
                self.err(
                    doc.loc(("facts", name), key=True),
                    "EL206",
                    f"事实 `{name}` 已定义 / fact `{name}` is already defined",
                )
                continue
            try:
                parsed[name] = (decl, parse(decl.expr))
            except ExprError as exc:
                self.expr_err(doc, ("facts", name, "expr"), exc)
                self.broken_facts.add(name)
        # Order by the fact names each formula mentions; a circle is a diagnostic, not a hang. A fact
        # built on a broken one is skipped silently: its problem is already reported, once.
        mentionable = set(parsed) | self.broken_facts
        refs = {n: {".".join(x.parts) for x in names(node)} & mentionable for n, (_, node) in parsed.items()}
        order: list[str] = []
        state: dict[str, int] = {}
        in_cycle: set[str] = set()

        def visit(n: str, trail: list[str]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                cyc = [*trail[trail.index(n) :], n]
                in_cycle.update(cyc)
                self.err(
                    doc.loc(("facts", n), key=True),
                    "EL207",
                    "事实相互依赖成环 / facts depend on each other in a circle: " + " → ".join(cyc),
                )
                return
            state[n] = 1
            for d in sorted(refs[n] & set(parsed)):
                visit(d, [*trail, n])
            state[n] = 2
            order.append(n)

        for n in parsed:
            visit(n, [])
        resolver = _Resolver(chain)
        for name in order:
            decl, node = parsed[name]
            if name in in_cycle or not refs[name] <= _chain_facts(chain):
                self.broken_facts.add(name)
                continue  # already reported: in a circle, or built on a fact that failed
            try:
                checked = check(node, resolver)
            except ExprError as exc:
                self.expr_err(doc, ("facts", name, "expr"), exc)
                self.broken_facts.add(name)
                continue
            cites = (
                tuple(self.cites(doc, ("facts", name), decl.cite, (f"事实 `{name}` ", f"fact `{name}`")))
                if decl.cite
                else ()
            )
            pack.facts[name] = FactDef(
                name,
                decl.label.zh,
                decl.label.en,
                decl.expr,
                node,
                compile_expr(node),
                checked.type,
                frozenset(checked.facts),
                frozenset(checked.params),
                frozenset(checked.fields),
                cites,
                pack.id,
                doc.loc(("facts", name), key=True),
            )

    def expr_err(self, doc: Located, path: tuple[Any, ...], exc: ExprError) -> None:
        named = re.findall(r"`([^`]+)`", exc.message)
        unreadable = {"EL204": self.broken_facts, "EL205": self.broken_params, "EL210": self.broken}.get(
            exc.code, set()
        )
        if named and named[0] in unreadable:
            return  # it is declared in a file already reported as unreadable: no follow-on diagnostic
        loc = doc.loc(path)
        line = self.texts.get(loc.path, [])
        quote = 1 if 0 < loc.line <= len(line) and line[loc.line - 1][loc.col - 1 : loc.col] in "'\"" else 0
        self.err(loc.shifted(exc.offset + quote), exc.code, exc.message)

    # ------------------------------------------------------------------ rules

    def _rules(self, f: Path, kind: str, pack: PackDef, chain: list[PackDef]) -> None:
        from . import rulefile as rf

        doc = self.read(f)
        envelope = self.validate(_envelope("rules"), doc) if doc else None
        if envelope is None or doc is None:
            self.broken |= self._declared(f, _RULE_ID)
            return
        resolver = _Resolver(chain)
        rules: list[Any] = dict(envelope)["rules"]
        for i, raw in enumerate(rules):
            path: tuple[Any, ...] = ("rules", i)
            decl = self.validate(rf.RuleDecl, doc, raw, path)
            if decl is None:
                if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                    self.broken.add(raw["id"])
                # Still check the conditions, so one pass reports every problem of the rule.
                versions = raw.get("versions") if isinstance(raw, dict) else None
                for j, v in enumerate(versions if isinstance(versions, list) else []):
                    if isinstance(v, dict) and v.get("when") is not None:
                        self._cond(doc, (*path, "versions", j, "when"), v["when"], resolver)
                continue
            existing = next((p.rules[decl.id] for p in chain if decl.id in p.rules), None)
            if existing is not None and decl.replaces != decl.id:
                self.err(
                    doc.loc((*path, "id")),
                    "EL206",
                    f"规则编号 `{decl.id}` 已被使用（{existing.loc}）；"
                    + ("如要替换请写 `replaces:`" if existing.pack != pack.id else "请重命名其一")
                    + f" / rule id `{decl.id}` is already used ({existing.loc}); "
                    + ("write `replaces:` to replace it explicitly" if existing.pack != pack.id else "rename one"),
                )
                continue
            if (
                decl.replaces is not None
                and decl.replaces not in self.broken
                and not any(decl.replaces in p.rules for p in chain[:-1])
            ):
                self.err(
                    doc.loc((*path, "replaces")),
                    "EL210",
                    bilingual(
                        f"`replaces: {decl.replaces}` 不是继承来的规则",
                        f"`replaces: {decl.replaces}` names no inherited rule",
                        suggest(decl.replaces, [r for p in chain[:-1] for r in p.rules]),
                    ),
                )
            versions = self._versions(doc, path, decl, resolver)
            conclusions, modifiers = self._conclusions(doc, path, decl, resolver)
            selectors = self._selectors(doc, path, decl, resolver)
            if versions is None:
                self.broken.add(decl.id)
                continue
            pack.rules[decl.id] = RuleDef(
                decl.id,
                decl.label.zh,
                decl.label.en,
                kind,
                pack.id,
                versions,
                conclusions,
                doc.loc((*path, "id")),
                decl.replaces,
                decl.description.zh if decl.description else None,
                decl.description.en if decl.description else None,
                modifiers,
                selectors,
            )

    def _selectors(
        self, doc: Located, path: tuple[Any, ...], decl: rf.RuleDecl, r: _Resolver
    ) -> dict[tuple[str, str], Any]:
        """The ``members: {where: ...}`` of each measure or gap conclusion, checked (members.py)."""
        from .members import SELECTABLE_KINDS, MemberSelector, parse_selector
        from .models import MeasureType

        out: dict[tuple[str, str], Any] = {}
        for k, c in enumerate(decl.then):
            if c.members is None:
                continue
            cpath = (*path, "then", k)
            kind = next((kd for kd in SELECTABLE_KINDS if getattr(c, kd) is not None), None)
            if kind is None:
                self.err(
                    doc.loc((*cpath, "members"), key=True),
                    "EL101",
                    bilingual("`members` 只能用于 `measure` 或 `gap`", "`members` goes only with `measure` or `gap`"),
                )
                continue
            wpath = (*cpath, "members", "where")
            try:
                node = parse_selector(c.members.where, r)
            except ExprError as exc:
                self.expr_err(doc, wpath, exc)
                continue
            types = tuple(c.members.not_delivered)
            valid = [t.value for t in MeasureType]
            for j, t in enumerate(types):
                if t not in valid:
                    where = doc.loc((*cpath, "members", "not_delivered", j))
                    self.err(
                        where,
                        "EL214",
                        bilingual(f"未知的措施类别 `{t}`", f"unknown measure type `{t}`", suggest(t, valid)),
                    )
            out[(kind, str(getattr(c, kind)))] = MemberSelector(c.members.where, node, doc.loc(wpath), types)
        return out

    def _versions(
        self, doc: Located, path: tuple[Any, ...], decl: rf.RuleDecl, resolver: _Resolver
    ) -> tuple[RuleVersion, ...] | None:
        out: list[RuleVersion] = []
        ok = True
        for j, v in enumerate(decl.versions):
            vpath = (*path, "versions", j)
            if v.until is not None and v.until <= v.from_:
                self.err(
                    doc.loc((*vpath, "until")),
                    "EL201",
                    f"版本结束日（{v.until}）早于开始日（{v.from_}）/ "
                    f"version ends ({v.until}) before it starts ({v.from_})",
                )
            cites = self.cites(
                doc,
                vpath,
                v.cite,
                (f"规则 `{decl.id}` 自 {v.from_} 起的版本", f"version from {v.from_} of rule `{decl.id}`"),
            )
            if v.when is None:
                self.err(doc.loc(vpath), "EL102", "缺少键 `when` / missing key `when`")
                ok = False
                continue
            cond = self._cond(doc, (*vpath, "when"), v.when, resolver)
            if cond is None:
                ok = False
                continue
            out.append(RuleVersion(v.from_, v.until, cites, cond, doc.loc(vpath)))
        ordered = sorted(out, key=lambda v: v.start)
        for a, b in itertools.pairwise(ordered):
            if a.until is None or a.until > b.start:
                self.err(
                    b.loc,
                    "EL201",
                    f"自 {b.start} 起的版本与自 {a.start} 起的版本（至 {a.until or '无结束日'}）重叠 / "
                    f"version from {b.start} overlaps the version from {a.start} (until {a.until or 'open end'})",
                )
        return tuple(ordered) if ok else None

    def _conclusions(
        self, doc: Located, path: tuple[Any, ...], decl: rf.RuleDecl, r: _Resolver
    ) -> tuple[tuple[tuple[str, str], ...], dict[tuple[str, str], dict[str, str]]]:
        out: list[tuple[str, str]] = []
        modifiers: dict[tuple[str, str], dict[str, str]] = {}
        allowed = {"exit_blocker": {"until"}, "finding": {"due", "done"}}
        for k, c in enumerate(decl.then):
            cpath = (*path, "then", k)
            given = {key: val for key, val in c.model_dump().items() if val is not None}
            mods: dict[str, str] = {m: str(given.pop(m)) for m in ("until", "due", "done") if m in given}
            given.pop("members", None)  # checked by _selectors
            if len(given) != 1:
                kinds = ", ".join([*VOCAB_SECTIONS, "already_monitored", "exit_applies"])
                self.err(doc.loc(cpath), "EL103", f"一个结论只能有以下之一 / a conclusion has exactly one of: {kinds}")
                continue
            kind, code = next(iter(given.items()))
            for m in mods:
                if m not in allowed.get(kind, set()):
                    self.err(
                        doc.loc((*cpath, m), key=True),
                        "EL101",
                        f"`{m}` 不能用于 `{kind}` / `{m}` does not go with `{kind}`",
                    )
            if kind == "finding" and "due" not in mods:
                self.err(
                    doc.loc(cpath),
                    "EL102",
                    "程序问题须写 `due`：给出应完成日期的事实 / a finding needs `due`: the fact giving its due date",
                )
            for m, fact in mods.items():
                resolved = r.subject(fact)
                if resolved is None:
                    if fact not in self.broken_facts:
                        self.err(
                            doc.loc((*cpath, m)),
                            "EL204",
                            bilingual(f"未知的事实 `{fact}`", f"unknown fact `{fact}`", suggest(fact, r.names())),
                        )
                elif resolved[1].kind != "date":
                    self.err(
                        doc.loc((*cpath, m)),
                        "EL208",
                        f"`{m}` 须为日期事实，`{fact}` 是{type_zh(resolved[1].describe())} / "
                        f"`{m}` needs a date fact, `{fact}` is {resolved[1].describe()}",
                    )
            if kind in ("already_monitored", "exit_applies"):
                out.append((kind, "yes"))
                continue
            if (kind, code) not in self.vocab:
                known = [c for (k2, c) in self.vocab if k2 == kind]
                self.err(
                    doc.loc((*cpath, kind)),
                    "EL214",
                    bilingual(f"未知的{type_zh(kind)} `{code}`", f"unknown {kind} `{code}`", suggest(code, known)),
                )
                continue
            out.append((kind, code))
            if mods:
                modifiers[(kind, code)] = mods
        return tuple(out), modifiers

    def _cond(self, doc: Located, path: tuple[Any, ...], data: Any, r: _Resolver) -> Cond | None:
        loc = doc.loc(path)
        if not isinstance(data, dict) or not data:
            self.err(
                loc,
                "EL103",
                "条件须为映射：all、any、not、rule，或 fact 加一个运算符 / "
                "a condition is a mapping: all, any, not, rule, or fact with an operator",
            )
            return None
        for group in ("all", "any"):
            if group in data:
                if len(data) != 1:
                    extra = next(k for k in data if k != group)
                    self.err(
                        doc.loc((*path, extra), key=True),
                        "EL101",
                        f"`{group}` 旁有未知的键 `{extra}` / unknown key `{extra}` beside `{group}`",
                    )
                items = data[group]
                if not isinstance(items, list) or not items:
                    self.err(
                        doc.loc((*path, group)),
                        "EL103",
                        f"`{group}` 须为非空的条件列表 / `{group}` takes a non-empty list of conditions",
                    )
                    return None
                kids = [self._cond(doc, (*path, group, i), c, r) for i, c in enumerate(items)]
                if any(k is None for k in kids):
                    return None
                return Group(group, tuple(k for k in kids if k is not None), loc)
        if "not" in data:
            inner = self._cond(doc, (*path, "not"), data["not"], r)
            return Negation(inner, loc) if inner is not None else None
        if "at_least" in data:
            spec = data["at_least"]
            if not isinstance(spec, dict) or set(spec) != {"n", "of"} or not isinstance(spec.get("of"), list):
                self.err(
                    doc.loc((*path, "at_least")),
                    "EL103",
                    "`at_least` 的写法为 {n: 数目, of: [条件]} / `at_least` takes {n: NUMBER, of: [conditions]}",
                )
                return None
            n = spec["n"]
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(spec["of"]):
                self.err(
                    doc.loc((*path, "at_least", "n")),
                    "EL103",
                    "`n` 须为 1 至条件个数之间的整数 / `n` must be a whole number from 1 to the number of conditions",
                )
                return None
            kids = [self._cond(doc, (*path, "at_least", "of", i), c, r) for i, c in enumerate(spec["of"])]
            if any(k is None for k in kids):
                return None
            return AtLeast(n, tuple(k for k in kids if k is not None), loc)
        if "rule" in data:
            rid = data["rule"]
            if not isinstance(rid, str):
                self.err(doc.loc((*path, "rule")), "EL103", "`rule` 须为规则编号 / `rule` takes a rule id")
                return None
            return RuleRef(rid, doc.loc((*path, "rule")))
        if "fact" not in data:
            key = next(iter(data))
            hint = suggest(str(key), ["all", "any", "not", "at_least", "rule", "fact", *OPS])
            self.err(
                doc.loc((*path, key), key=True), "EL101", bilingual(f"未知的键 `{key}`", f"unknown key `{key}`", hint)
            )
            return None
        return self._leaf(doc, path, data, r)

    def _leaf(self, doc: Located, path: tuple[Any, ...], data: dict[str, Any], r: _Resolver) -> Cond | None:
        subject = data["fact"]
        sloc = doc.loc((*path, "fact"))
        if not isinstance(subject, str):
            self.err(sloc, "EL103", "`fact` 须为事实名称 / `fact` takes a fact name")
            return None
        resolved = r.subject(subject)
        ops = [k for k in data if k != "fact"]
        bad = [k for k in ops if k not in OPS]
        for k in bad:
            self.err(
                doc.loc((*path, k), key=True),
                "EL101",
                bilingual(f"未知的键 `{k}`", f"unknown key `{k}`", suggest(k, list(OPS))),
            )
        ops = [k for k in ops if k in OPS]
        if resolved is None:
            if subject not in self.broken_facts:
                self.err(
                    sloc,
                    "EL204",
                    bilingual(f"未知的事实 `{subject}`", f"unknown fact `{subject}`", suggest(subject, r.names())),
                )
            return None
        if bad:
            return None
        if len(ops) != 1:
            self.err(
                doc.loc(path),
                "EL103",
                f"`{subject}` 的条件须有且只有一个运算符 / "
                f"a condition on `{subject}` needs exactly one operator of {', '.join(OPS)}",
            )
            return None
        ref, stype = resolved
        op = ops[0]
        opath = (*path, op)
        raw = data[op]
        if op == "known":
            if not isinstance(raw, bool):
                self.err(doc.loc(opath), "EL208", "`known` 须为 true 或 false / `known` takes true or false")
                return None
            return Leaf(subject, ref, op, (Operand("literal", raw),), stype, doc.loc(path))
        if op == "between":
            if not isinstance(raw, list) or len(raw) != 2:
                self.err(
                    doc.loc(opath),
                    "EL103",
                    "`between` 须为两个界限的列表 [下限, 上限] / `between` takes a list of two bounds: [low, high]",
                )
                return None
            got = [self._operand(doc, (*opath, i), x, stype, r, subject) for i, x in enumerate(raw)]
            if any(g is None for g in got):
                return None
            return Leaf(subject, ref, op, tuple(g for g in got if g is not None), stype, doc.loc(path))
        if op == "in":
            if isinstance(raw, dict):
                got1 = self._operand(doc, opath, raw, Type("list", item=stype.kind), r, subject)
                return Leaf(subject, ref, op, (got1,), stype, doc.loc(path)) if got1 else None
            if not isinstance(raw, list) or not raw:
                self.err(
                    doc.loc(opath),
                    "EL103",
                    "`in` 须为取值列表或 {param: 参数名} / `in` takes a list of values or {param: name}",
                )
                return None
            item_type = Type("text", stype.values, stype.aliases) if stype.kind == "set" else stype
            got = [self._operand(doc, (*opath, i), x, item_type, r, subject) for i, x in enumerate(raw)]
            if any(g is None for g in got):
                return None
            lits = tuple(g.value for g in got if g is not None and g.kind == "literal")
            if len(lits) == len(got):
                return Leaf(subject, ref, op, (Operand("literal", lits),), stype, doc.loc(path))
            return Leaf(subject, ref, op, tuple(g for g in got if g is not None), stype, doc.loc(path))
        if stype.kind in ("set", "collection", "list"):
            self.err(
                doc.loc(opath),
                "EL208",
                f"`{subject}` 含多个值：请用 `in` 或 `known` / `{subject}` holds several values: use `in` or `known`",
            )
            return None
        if op in ("lt", "le", "gt", "ge") and stype.kind not in ("number", "money", "date"):
            self.err(
                doc.loc(opath),
                "EL208",
                f"`{op}` 不能比较{type_zh(stype.describe())}的大小 / `{op}` does not order {stype.describe()} values",
            )
            return None
        got2 = self._operand(doc, opath, raw, stype, r, subject)
        return Leaf(subject, ref, op, (got2,), stype, doc.loc(path)) if got2 else None

    def _operand(
        self, doc: Located, path: tuple[Any, ...], raw: Any, want: Type, r: _Resolver, subject: str
    ) -> Operand | None:
        loc = doc.loc(path)
        if isinstance(raw, dict):
            if len(raw) != 1 or next(iter(raw)) not in ("param", "fact"):
                key = next(iter(raw), "")
                self.err(
                    doc.loc((*path, key), key=True),
                    "EL101",
                    bilingual(f"未知的键 `{key}`", f"unknown key `{key}`", suggest(str(key), ["param", "fact"])),
                )
                return None
            kind, name = next(iter(raw.items()))
            if kind == "param":
                decl = r.param(name)
                if decl is None and name in self.broken_params:
                    return None  # declared in a file already reported as unreadable: one mistake, one diagnostic
                if decl is None:
                    self.err(
                        doc.loc((*path, "param")),
                        "EL205",
                        bilingual(
                            f"未知的参数 `{name}`", f"unknown parameter `{name}`", suggest(str(name), r.param_names())
                        ),
                    )
                    return None
                ptype = decl.expr_type
                ok = compatible(want, ptype) or (want.kind == "list" and ptype.kind == "list")
                if not ok:
                    self.err(
                        doc.loc((*path, "param")),
                        "EL208",
                        f"`{subject}`（{type_zh(want.describe())}）不能与参数 `{name}`"
                        f"（{type_zh(ptype.describe())}）比较 / "
                        f"cannot compare `{subject}` ({want.describe()}) with parameter `{name}` ({ptype.describe()})",
                    )
                    return None
                return Operand("param", name=name)
            other = r.subject(str(name))
            if other is None:
                if name not in self.broken_facts:
                    self.err(
                        doc.loc((*path, "fact")),
                        "EL204",
                        bilingual(f"未知的事实 `{name}`", f"unknown fact `{name}`", suggest(str(name), r.names())),
                    )
                return None
            if not compatible(want, other[1]):
                self.err(
                    doc.loc((*path, "fact")),
                    "EL208",
                    f"`{subject}`（{type_zh(want.describe())}）不能与 `{name}`（{type_zh(other[1].describe())}）比较 / "
                    f"cannot compare `{subject}` ({want.describe()}) with `{name}` ({other[1].describe()})",
                )
                return None
            return Operand(other[0], name=str(name))
        return self._literal(loc, raw, want, subject)

    def _literal(self, loc: SourceLocation, raw: Any, want: Type, subject: str) -> Operand | None:
        def mismatch() -> None:
            self.err(
                loc,
                "EL208",
                f"`{subject}`（{type_zh(want.describe())}）不能与 `{name_of(raw)}`（{type_zh(kind_of(raw))}）比较 / "
                f"cannot compare `{subject}` ({want.describe()}) with `{name_of(raw)}` ({kind_of(raw)})",
            )

        if want.numeric:
            if isinstance(raw, bool) or not isinstance(raw, int | Decimal):
                mismatch()
                return None
            return Operand("literal", Decimal(raw))
        if want.kind == "bool":
            if not isinstance(raw, bool):
                mismatch()
                return None
            return Operand("literal", raw)
        if want.kind == "date":
            try:
                return Operand("literal", date.fromisoformat(str(raw)))
            except ValueError:
                self.err(loc, "EL104", f"`{raw}` 不是日期（YYYY-MM-DD）/ `{raw}` is not a date (YYYY-MM-DD)")
                return None
        if not isinstance(raw, str):
            mismatch()
            return None
        norm = want.normalise(raw)
        if norm is None:
            self.err(
                loc,
                "EL213",
                f"`{raw}` 不是可选值（{'、'.join(want.values)}）/ `{raw}` is not one of: {', '.join(want.values)}",
            )
            return None
        return Operand("literal", norm)

    def _disable(self, pdoc: Located, pf: rf.PackFile, pack: PackDef, chain: list[PackDef]) -> None:
        for i, d in enumerate(pf.disable):
            path = ("disable", i)
            if not any(d.rule in p.rules for p in chain[:-1]):
                if d.rule in self.broken:
                    continue
                known = [r for p in chain[:-1] for r in p.rules]
                self.err(
                    pdoc.loc((*path, "rule")),
                    "EL210",
                    bilingual(
                        f"不能停用未知的规则 `{d.rule}`",
                        f"cannot disable unknown rule `{d.rule}`",
                        suggest(d.rule, known),
                    ),
                )
                continue
            cites = self.cites(pdoc, path, d.cite, (f"停用 `{d.rule}` ", f"disabling `{d.rule}`"))
            pack.disabled[d.rule] = (d.reason.zh, d.reason.en, cites)

    def _check_rule_refs(self, pack: PackDef, chain: list[PackDef]) -> None:
        known = {rid for p in chain for rid in p.rules}
        for rule in pack.rules.values():
            for v in rule.versions:
                for ref in _rule_refs(v.when):
                    if ref.rule not in known and ref.rule not in self.broken:
                        self.err(
                            ref.loc,
                            "EL210",
                            bilingual(
                                f"未知的规则 `{ref.rule}`",
                                f"unknown rule `{ref.rule}`",
                                suggest(ref.rule, sorted(known)),
                            ),
                        )
        # cycles over the whole chain, as a replacing overlay can close one
        graph: dict[str, set[str]] = {}
        for p in chain:
            for r in p.rules.values():
                graph[r.id] = r.depends & known
        state: dict[str, int] = {}

        def visit(n: str, trail: list[str]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                cyc = [*trail[trail.index(n) :], n]
                first = next(p.rules[n] for p in chain if n in p.rules)
                if first.pack == pack.id:
                    self.err(
                        first.loc,
                        "EL207",
                        "规则相互依赖成环 / rules depend on each other in a circle: " + " → ".join(cyc),
                    )
                return
            state[n] = 1
            for d in sorted(graph.get(n, ())):
                visit(d, [*trail, n])
            state[n] = 2

        for n in sorted(graph):
            visit(n, [])


def _rule_refs(c: Cond) -> list[RuleRef]:
    if isinstance(c, RuleRef):
        return [c]
    if isinstance(c, Group | AtLeast):
        return [r for i in c.items for r in _rule_refs(i)]
    if isinstance(c, Negation):
        return _rule_refs(c.item)
    return []


def _chain_facts(chain: list[PackDef]) -> set[str]:
    return {f for p in chain for f in p.facts}


_RULE_ID: Final = re.compile(r"^[ \t]*-?[ \t]*id[ \t]*[:：][ \t]*[\"']?([a-z][a-z0-9_.-]*)", re.MULTILINE)
"""A rule's ``id:`` line, found in the text of a rule file that cannot be parsed."""
_TOP_KEY: Final = re.compile(r"^ {1,4}([A-Za-z_][A-Za-z0-9_.]*)[ \t]*[:：]", re.MULTILINE)
"""A declared name (fact, parameter) one level in, found in the text of a file that cannot be parsed."""

_PYDANTIC_ZH: Final[dict[str, str]] = {
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "decimal_type": "应为数字",
    "decimal_parsing": "应为数字",
    "list_type": "应为列表",
    "dict_type": "应为映射",
    "model_type": "应为映射",
    "model_attributes_type": "应为映射",
    "literal_error": "不是可选值",
    "string_pattern_mismatch": "格式不符",
    "string_too_short": "不能为空",
    "too_short": "项数太少",
    "too_long": "项数太多",
    "greater_than_equal": "取值太小",
    "less_than_equal": "取值太大",
}


def _bad_value(e: Any) -> str:
    """A pydantic error on a rule file as a bilingual EL103 message (never raw pydantic text alone)."""
    return f"取值有误：{_PYDANTIC_ZH.get(e['type'], '不符合格式')} / bad value: {e['msg']}"


def name_of(v: Any) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    return str(v)


def kind_of(v: Any) -> str:
    if isinstance(v, bool):
        return "yes/no"
    if isinstance(v, int | Decimal):
        return "number"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "mapping"
    return "text"


@functools.cache
def _envelope(file: str) -> type[BaseModel]:
    """The outer shape of a rule file (``rules``), ``facts.yaml`` or ``vocabulary.yaml``.

    Only the outer keys are checked here; each rule, fact or vocabulary entry is then validated on its
    own, so one bad entry hides no other. The models are built on first use because creating pydantic
    models costs import time, and a RuleSet read from the cache never needs them (being built at run
    time, their fields are read as ``dict(model)[key]``).
    """
    from pydantic import ConfigDict, create_model

    fields: dict[str, Any]
    if file == "rules":
        fields = {"rules": (list[Any], ...)}
    elif file == "facts":
        fields = {"facts": (dict[str, Any], ...)}
    else:
        fields = {section: (dict[str, Any], {}) for section in (*VOCAB_SECTIONS.values(), *TERM_SECTIONS.values())}
    model: type[BaseModel] = create_model(
        f"_{file.capitalize()}Envelope",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return model


class _Resolver:
    """Names visible to one pack: its chain's facts and parameters, and the household fields."""

    def __init__(self, chain: list[PackDef]) -> None:
        self.chain = chain

    def _fact(self, name: str) -> FactDef | None:
        return next((p.facts[name] for p in reversed(self.chain) if name in p.facts), None)

    def param(self, name: str) -> ParamDef | None:
        return next((p.params[name] for p in reversed(self.chain) if name in p.params), None)

    def subject(self, name: str) -> tuple[str, Type] | None:
        f = self._fact(name)
        if f is not None:
            return "fact", f.type
        spec = CATALOGUE.get(name)
        if spec is not None and spec.type.kind != "collection":
            return "field", spec.type
        return None

    def field_type(self, path: str) -> Type | None:
        spec = CATALOGUE.get(path)
        return spec.type if spec else None

    def item_type(self, collection: str, field: str) -> Type | None:
        spec = CATALOGUE.get(collection)
        if spec is None or spec.item_fields is None:
            return None
        item = spec.item_fields.get(field)
        return item.type if item else None

    def fact_type(self, name: str) -> Type | None:
        f = self._fact(name)
        return f.type if f else None

    def param_type(self, name: str) -> Type | None:
        p = self.param(name)
        return p.expr_type if p else None

    def names(self) -> list[str]:
        return [*_chain_facts(self.chain), *CATALOGUE]

    def param_names(self) -> list[str]:
        return [n for p in self.chain for n in p.params]

    def item_names(self, collection: str) -> list[str]:
        spec = CATALOGUE.get(collection)
        return list(spec.item_fields or {}) if spec else []
