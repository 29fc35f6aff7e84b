"""``eligibility docs``: a static, offline site of the rules — the law beside each rule.

What policy staff and auditors open to see what the rules say, where they come from and how far the
tests pin them down (OpenFisca's legislation explorer, Catala's law beside code and ruff's page per
rule are the models):

* a page per **rule**: each version with its window, its condition in readable Chinese and as the YAML
  written in the rule file, its citations with the quoted clause and a link, the parameters it reads
  with their values per jurisdiction and date, and the YAML tests that exercise it with the outcome;
* a page per **parameter**: the value over time in every jurisdiction, as a table and a chart;
* a page per **pack**: its chain, regions, years covered, and what it overrides;
* a page per **diagnostic code**: cause and fix;
* a search box (a script over an index bundled in the site; no server, no network).

Everything is read from the RuleSet and the rule files; nothing on a page is typed in by hand here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from html import escape
from pathlib import Path
from typing import Any

from ..conditions import AtLeast, Cond, Group, Leaf, Negation, Operand, RuleRef
from ..errors import CODES, CODES_ZH, MissingParameterError
from ..explain import _OPS
from ..loader import find_root, load_rules
from ..ruleset import INHERIT, TERM_SECTIONS, VOCAB_SECTIONS, Chain, Cite, PackDef, RuleDef, RuleSet, RuleVersion
from .assets import CSS, SEARCH_JS
from .chart import Segment, step_chart

__all__ = ["BuiltSite", "build_site"]

KIND_ZH = {
    "identification": ("识别认定", "Identification"),
    "assistance": ("帮扶", "Assistance"),
    "exit": ("风险消除", "Exit"),
    "procedure": ("程序", "Procedure"),
    "warning": ("预警", "Warning"),
}


@dataclass
class BuiltSite:
    """What :func:`build_site` wrote: the output folder and every page (relative paths)."""

    out: Path
    pages: list[str] = field(default_factory=list)


def build_site(
    rules_path: str | os.PathLike[str] | None, out: str | os.PathLike[str], *, tests: bool = True
) -> BuiltSite:
    """Write the site for the rules under ``rules_path`` (default: the bundled rules) into ``out``.

    With ``tests`` (the default) the YAML rule tests are run once, so every rule page lists the cases
    that exercise it and the coverage of its thresholds.
    """
    from ..loader import bundled_rules_path

    root = Path(rules_path) if rules_path is not None else bundled_rules_path()
    rules = load_rules(root)
    cov = None
    if tests:
        from ..coverage import measure

        cov = measure(find_root(root))
    return _Site(rules, Path(out), cov).build()


# ---------------------------------------------------------------------------------------- helpers


def _e(v: Any) -> str:
    return escape(str(v))


def _value(v: Any) -> str:
    if v is None:
        return "—（无数值 / no value）"
    if v is INHERIT:
        return "↑ 上级包 / parent"
    if isinstance(v, bool):
        return "是 / yes" if v else "否 / no"
    if isinstance(v, list | tuple):
        return "、".join(map(str, v))
    return str(v)


def _window(start: date, until: date | None) -> str:
    return f"[{start}, {until or '…'})"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


class _Site:
    def __init__(self, rules: RuleSet, out: Path, cov: Any) -> None:
        self.rules = rules
        self.out = out
        self.cov = cov
        self.built = BuiltSite(out)
        self.index: list[dict[str, str]] = []
        self.chains = {pid: rules.chain(pid) for pid in rules.packs}
        self._sources: dict[str, list[str]] = {}
        self.first = min(
            [v.start for p in rules.packs.values() for vals in p.values.values() for v in vals]
            + [v.start for p in rules.packs.values() for r in p.rules.values() for v in r.versions],
            default=date(2021, 1, 1),
        )
        latest = max(
            [v.start for p in rules.packs.values() for vals in p.values.values() for v in vals]
            + [v.until or v.start for p in rules.packs.values() for r in p.rules.values() for v in r.versions],
            default=self.first,
        )
        self.last = date(latest.year + 2, 1, 1)

    # ------------------------------------------------------------------ output

    def page(self, rel: str, title: str, title_en: str, body: str, kind: str, keywords: str = "") -> None:
        depth = rel.count("/")
        root = "../" * depth
        html = (
            f'<!doctype html>\n<html lang="zh-CN" data-root="{root}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)} · 防止返贫监测规则 / Rules</title>"
            f'<link rel="stylesheet" href="{root}assets/site.css"></head><body>'
            f'<header><a class="home" href="{root}index.html">防止返贫监测规则 / Rules</a>'
            f'<form action="{root}search.html" method="get" role="search">'
            f'<input name="q" type="search" placeholder="搜索规则、参数、规则包、诊断代码 / search"></form></header>'
            f"<main>{body}</main>"
            f"<footer>由 eligibility docs 从规则文件生成 / generated from the rule files by eligibility docs</footer>"
            f'<script src="{root}assets/index.js"></script><script src="{root}assets/search.js"></script>'
            f"</body></html>\n"
        )
        path = self.out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(html, encoding="utf-8")
        self.built.pages.append(rel)
        if kind:
            self.index.append({"t": title, "e": title_en, "u": rel, "c": kind, "k": keywords})

    def rel(self, loc_path: str) -> str:
        """A rule file's path as shown on the site: relative to the rules folder (no machine paths)."""
        return Path(os.path.relpath(loc_path, self.rules.root)).as_posix()

    def source(self, loc_path: str) -> list[str]:
        if loc_path not in self._sources:
            try:
                self._sources[loc_path] = Path(loc_path).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                self._sources[loc_path] = []
        return self._sources[loc_path]

    def yaml_block(self, v: RuleVersion) -> str:
        """The version's lines as written in the rule file (comments included): from its ``- from:``
        line to the last line indented deeper than its list item."""
        lines = self.source(v.loc.path)
        if not lines:
            return ""
        i = v.loc.line - 1
        inner = v.loc.col - 1
        out = [lines[i]]
        for line in lines[i + 1 :]:
            stripped = line.strip()
            if stripped and len(line) - len(line.lstrip()) < inner:
                break
            out.append(line)
        while out and not out[-1].strip():
            out.pop()
        return "\n".join(out)

    # ------------------------------------------------------------------ pieces

    def link_rule(self, rid: str, up: str = "../") -> str:
        r = self.rule_def(rid)
        label = f"{_e(r.zh)} <code>{_e(rid)}</code>" if r else f"<code>{_e(rid)}</code>"
        return f'<a href="{up}rule/{_slug(rid)}.html">{label}</a>' if r else label

    def rule_def(self, rid: str) -> RuleDef | None:
        for p in self.rules.packs.values():
            if rid in p.rules:
                return p.rules[rid]
        return None

    def link_pack(self, pid: str, up: str = "../") -> str:
        p = self.rules.packs[pid]
        return f'<a href="{up}pack/{_slug(pid)}.html">{_e(p.zh)}</a> <span class="en">{_e(p.en)}</span>'

    def link_param(self, name: str, up: str = "../") -> str:
        decl = self.param_decl(name)
        label = _e(decl.zh) if decl else _e(name)
        return f'<a href="{up}param/{_slug(name)}.html">{label}</a> <code>{_e(name)}</code>'

    def param_decl(self, name: str) -> Any:
        for p in self.rules.packs.values():
            if name in p.params:
                return p.params[name]
        return None

    def cites(self, cites: Sequence[Cite]) -> str:
        if not cites:
            return ""
        items = []
        for c in cites:
            title = f'<a href="{_e(c.url)}">{_e(c.title)}</a>' if c.url else _e(c.title)
            clause = f"：「{_e(c.clause)}」" if c.clause else ""
            note = f'<br><span class="en">{_e(c.note)}</span>' if c.note else ""
            items.append(f"<li>{title}{clause} <span class='tag'>{_e(c.source)} · {_e(c.grade)}</span>{note}</li>")
        return "<ul class='cites'>" + "".join(items) + "</ul>"

    def subject_label(self, name: str, ref: str, chain: Chain) -> str:
        if ref == "fact" and name in chain.facts:
            f = chain.facts[name]
            return f'<span title="{_e(f.source)}">{_e(f.zh)}</span> <code>{_e(name)}</code>'
        from ..facts import CATALOGUE

        spec = CATALOGUE.get(name)
        return f"{_e(spec.zh)} <code>{_e(name)}</code>" if spec else f"<code>{_e(name)}</code>"

    def operand(self, o: Operand, chain: Chain) -> str:
        if o.kind == "param":
            return "参数 " + self.link_param(o.name)
        if o.kind in ("fact", "field"):
            return self.subject_label(o.name, o.kind, chain)
        return f"<code>{_e(_value(o.value))}</code>"

    def condition(self, c: Cond, chain: Chain) -> str:
        """A condition tree in readable Chinese (English beside the connectives), as nested lists."""
        if isinstance(c, Group):
            head = "同时满足 / all of:" if c.op == "all" else "满足其一 / any of:"
            return f"{head}<ul>" + "".join(f"<li>{self.condition(i, chain)}</li>" for i in c.items) + "</ul>"
        if isinstance(c, AtLeast):
            return (
                f"至少满足 {c.n} 项 / at least {c.n} of:<ul>"
                + "".join(f"<li>{self.condition(i, chain)}</li>" for i in c.items)
                + "</ul>"
            )
        if isinstance(c, Negation):
            return f"并非 / not:<ul><li>{self.condition(c.item, chain)}</li></ul>"
        if isinstance(c, RuleRef):
            return f"规则成立 / rule holds: {self.link_rule(chain.alias.get(c.rule, c.rule))}"
        if isinstance(c, Leaf):
            zh, en = _OPS.get(c.op, (c.op, c.op))
            subject = self.subject_label(c.subject, c.ref, chain)
            if c.op == "known":
                known = c.operands[0].value if c.operands else True
                return f"{subject} {'已知' if known else '未知'} / is {'known' if known else 'unknown'}"
            if c.op == "between":
                lo, hi = (self.operand(o, chain) for o in c.operands)
                return f"{subject} 介于 {lo} 与 {hi} 之间（含两端）/ between, inclusive"
            others = "、".join(self.operand(o, chain) for o in c.operands)
            return f"{subject} <b>{zh}</b> <span class='en'>({en})</span> {others}"
        return _e(type(c).__name__)

    def timeline(self, chain: Chain, name: str) -> list[Segment]:
        """The value in force in this chain over time: one segment per change, from every pack's dates."""
        starts = sorted({v.start for p in chain.packs for v in p.values.get(name, [])})
        segs: list[Segment] = []
        for i, start in enumerate(starts):
            until = starts[i + 1] if i + 1 < len(starts) else None
            try:
                hit = chain.param_hit(name, start)
                seg = Segment(start, until, hit.value, hit.pack, hit.cites)
            except MissingParameterError:
                seg = Segment(start, until, None, "")
            if segs and segs[-1].value == seg.value and segs[-1].pack == seg.pack:
                segs[-1] = Segment(segs[-1].start, until, seg.value, seg.pack, segs[-1].cites)
            else:
                segs.append(seg)
        return segs

    def timeline_table(self, rows: Sequence[tuple[str, Sequence[Segment]]], unit: str | None) -> str:
        out = [
            "<table><tr><th>辖区 / jurisdiction</th><th>期间 / window</th><th>数值 / value</th>"
            "<th>设定于 / set by</th><th>出处 / source</th></tr>"
        ]
        for label, segs in rows:
            if not segs:
                out.append(f"<tr><td>{label}</td><td colspan='4'>未设定 / not set</td></tr>")
            for j, s in enumerate(segs):
                head = f"<td rowspan='{len(segs)}'>{label}</td>" if j == 0 else ""
                unit_txt = f" {_e(unit)}" if unit and s.value is not None else ""
                by = self.link_pack(s.pack) if s.pack else ""
                out.append(
                    f"<tr>{head}<td>{_window(s.start, s.until)}</td><td>{_e(_value(s.value))}{unit_txt}</td>"
                    f"<td>{by}</td><td>{self.cites(s.cites)}</td></tr>"
                )
        out.append("</table>")
        return "".join(out)

    def param_rows(self, name: str, packs: Iterable[str]) -> list[tuple[str, list[Segment]]]:
        """One timeline per jurisdiction whose chain declares the parameter, leaving out those whose
        timeline is the same as their parent's (they inherit it unchanged; the pack page says so)."""
        shown = list(packs)
        rows = []
        for pid in shown:
            chain = self.chains[pid]
            if name not in chain.params:
                continue
            segs = self.timeline(chain, name)
            parent = chain.pack.extends
            same_as_parent = (
                parent in shown
                and name in self.chains[parent].params
                and segs == self.timeline(self.chains[parent], name)
            )
            if same_as_parent:
                continue
            rows.append((f"{_e(chain.pack.zh)}", segs))
        return rows

    # ------------------------------------------------------------------ pages

    def build(self) -> BuiltSite:
        self.out.mkdir(parents=True, exist_ok=True)
        rule_ids = sorted({rid for p in self.rules.packs.values() for rid in p.rules})
        for rid in rule_ids:
            self.rule_page(rid)
        params = sorted({n for p in self.rules.packs.values() for n in p.params})
        for name in params:
            self.param_page(name)
        for pid in self.rules.packs:
            self.pack_page(pid)
        for code in CODES:
            self.code_page(code)
        self.wording_page()
        self.index_page(rule_ids, params)
        self.search_page()
        assets = self.out / "assets"
        assets.mkdir(exist_ok=True)
        (assets / "site.css").write_text(CSS, encoding="utf-8")
        (assets / "search.js").write_text(SEARCH_JS, encoding="utf-8")
        index = json.dumps(self.index, ensure_ascii=False, separators=(",", ":"))
        (assets / "index.js").write_text(f"window.ELIGIBILITY_INDEX = {index};\n", encoding="utf-8")
        return self.built

    def rule_page(self, rid: str) -> None:
        r = self.rule_def(rid)
        assert r is not None
        home = self.chains[r.pack]
        where = [pid for pid, c in self.chains.items() if c.rules.get(rid) is r]
        disabled = [pid for pid, p in self.rules.packs.items() if rid in p.disabled]
        replaced = [
            (pid, p.rules[x].id) for pid, p in self.rules.packs.items() for x in p.rules if p.rules[x].replaces == rid
        ]
        kind_zh, kind_en = KIND_ZH.get(r.kind, (r.kind, r.kind))
        body = [
            f"<h1>{_e(r.zh)}</h1><p class='en'>{_e(r.en)}</p>",
            f"<p><code>{_e(rid)}</code> · {kind_zh} / {kind_en} · 定义于 / defined in {self.link_pack(r.pack)}"
            f" · <code>{_e(self.rel(r.loc.path))}:{r.loc.line}</code></p>",
        ]
        if r.description_zh or r.description_en:
            body.append(f"<p>{_e(r.description_zh or '')}</p><p class='en'>{_e(r.description_en or '')}</p>")
        if r.replaces:
            body.append(f"<p>替换上级规则 / replaces: {self.link_rule(r.replaces)}</p>")
        body.append("<h2>适用辖区 / Jurisdictions</h2><p>" + "、".join(self.link_pack(p) for p in where) + "</p>")
        for pid in disabled:
            zh, en, cites = self.rules.packs[pid].disabled[rid]
            body.append(f"<p>在 {self.link_pack(pid)} 停用 / disabled: {_e(zh)} <span class='en'>{_e(en)}</span></p>")
            body.append(self.cites(cites))
        for pid, new in replaced:
            body.append(f"<p>在 {self.link_pack(pid)} 被替换为 / replaced by {self.link_rule(new)}</p>")
        if r.conclusions:
            items = []
            for kind, code in r.conclusions:
                if kind in VOCAB_SECTIONS:
                    item = self.rules.vocab(kind, code)
                    items.append(
                        f"<li>{_e(kind)}: {_e(item.zh)} <span class='en'>{_e(item.en)}</span>"
                        f" <code>{_e(code)}</code></li>"
                    )
                else:
                    items.append(f"<li><code>{_e(kind)}</code></li>")
            body.append("<h2>结论 / Conclusions</h2><ul>" + "".join(items) + "</ul>")
        else:
            body.append("<p>中间规则：供其他规则引用 / intermediate rule: other rules refer to it</p>")
        body.append("<h2>版本 / Versions</h2>")
        for v in r.versions:
            body.append(self.version_block(r, v, home, where))
        body.append(self.tests_block(rid))
        keywords = " ".join([rid, r.kind, r.pack, *(c.source for v in r.versions for c in v.cites)])
        self.page(f"rule/{_slug(rid)}.html", r.zh, r.en, "".join(body), "规则 / rule", keywords)

    def version_block(self, r: RuleDef, v: RuleVersion, home: Chain, where: list[str]) -> str:
        out = [f"<div class='version'><h3>{_window(v.start, v.until)}</h3>"]
        out.append("<h4>条件 / Condition</h4><div class='cond'>" + self.condition(v.when, home) + "</div>")
        yaml_text = self.yaml_block(v)
        if yaml_text:
            out.append(
                f"<details open><summary>YAML <code>{_e(self.rel(v.loc.path))}:{v.loc.line}</code></summary>"
                f"<pre>{_e(yaml_text)}</pre></details>"
            )
        out.append("<h4>依据 / Citations</h4>" + (self.cites(v.cites) or "<p>—</p>"))
        params = sorted(set().union(*(self.chains[p]._version_params(v) for p in where)) if where else set())
        if params:
            out.append("<h4>读取的参数 / Parameters read</h4>")
            for name in params:
                rows = [
                    (
                        label,
                        [
                            s
                            for s in segs
                            if (s.until is None or s.until > v.start) and (v.until is None or s.start < v.until)
                        ],
                    )
                    for label, segs in self.param_rows(name, where)
                ]
                decl = self.param_decl(name)
                out.append(f"<p>{self.link_param(name)}</p>")
                out.append(self.timeline_table(rows, decl.unit if decl else None))
        out.append(self.threshold_block(r, v))
        out.append("</div>")
        return "".join(out)

    def threshold_block(self, r: RuleDef, v: RuleVersion) -> str:
        if self.cov is None:
            return ""
        rows = [t for t in self.cov.thresholds.values() if t.rule == r.id and t.version_from == v.start]
        if not rows:
            return ""
        out = [
            "<h4>阈值覆盖 / Threshold coverage</h4><table><tr><th>比较 / comparison</th>"
            "<th>测试所在一侧 / sides tested</th></tr>"
        ]
        for t in rows:
            sides = " ".join(
                f"<span class='tag {'fired' if t.sides.get(s) else 'not_fired'}'>{s} {len(t.sides.get(s, []))}</span>"
                for s in t.wanted
            )
            out.append(f"<tr><td><code>{_e(t.subject)} {_e(t.op)} param.{_e(t.param)}</code></td><td>{sides}</td></tr>")
        out.append("</table>")
        return "".join(out)

    def tests_block(self, rid: str) -> str:
        out = ["<h2>测试用例 / Tests</h2>"]
        if self.cov is None:
            return ""
        cases = self.cov.cases_of(rid)
        if not cases:
            return out[0] + "<p class='gap'>没有测试用例使本规则生效 / no YAML test exercises this rule</p>"
        out.append("<table><tr><th>用例 / case</th><th>结果 / outcome</th><th>位置 / where</th></tr>")
        for res, outcome in cases:
            mark = "" if not res.failures else " <span class='gap'>✗ 未通过 / failing</span>"
            out.append(
                f"<tr><td>{_e(res.case.name)}{mark}</td><td><span class='tag {outcome}'>{outcome}</span></td>"
                f"<td><code>{_e(self.rel(res.case.path))}:{res.case.line}</code></td></tr>"
            )
        out.append("</table>")
        return "".join(out)

    def param_page(self, name: str) -> None:
        decl = self.param_decl(name)
        rows = self.param_rows(name, self.rules.packs)
        chart = step_chart(rows, self.first, self.last)
        users = sorted(
            {
                r.id
                for c in self.chains.values()
                for r in c.rules.values()
                for v in r.versions
                if name in c._version_params(v)
            }
        )
        body = [
            f"<h1>{_e(decl.zh)}</h1><p class='en'>{_e(decl.en)}</p>",
            f"<p><code>{_e(name)}</code> · 类型 / type {_e(decl.type)}"
            + (f" · 单位 / unit {_e(decl.unit)}" if decl.unit else "")
            + (" · 可选（地方做法）/ optional (local practice)" if decl.optional else "")
            + f" · 声明于 / declared in {self.link_pack(decl.pack)}</p>",
            "<h2>各辖区数值 / Values by jurisdiction</h2>",
            chart,
            self.timeline_table(rows, decl.unit),
            "<p class='en'>未列出的辖区沿用上级包的数值 / jurisdictions not listed use their parent pack's values</p>",
            "<h2>使用本参数的规则 / Rules that read it</h2><ul>"
            + "".join(f"<li>{self.link_rule(rid)}</li>" for rid in users)
            + "</ul>",
        ]
        self.page(f"param/{_slug(name)}.html", decl.zh, decl.en, "".join(body), "参数 / parameter", name)

    def pack_page(self, pid: str) -> None:
        p: PackDef = self.rules.packs[pid]
        chain = self.chains[pid]
        children = [c for c, q in self.rules.packs.items() if q.extends == pid]
        body = [
            f"<h1>{_e(p.zh)}</h1><p class='en'>{_e(p.en)}</p>",
            f"<p><code>{_e(pid)}</code> · 区划代码前缀 / region prefixes: "
            + (", ".join(f"<code>{_e(r)}</code>" for r in p.regions) or "全部 / all")
            + "</p>",
            "<h2>继承链 / Chain</h2><p>" + " → ".join(self.link_pack(q.id) for q in chain.packs) + "</p>",
        ]
        if children:
            body.append("<p>下级包 / packs extending it: " + "、".join(self.link_pack(c) for c in children) + "</p>")
        body.append("<h2>本包设定的参数 / Parameters set here</h2>")
        if p.values:
            body.append(
                "<table><tr><th>参数 / parameter</th><th>覆盖年份 / years covered</th><th>性质 / kind</th></tr>"
            )
            for name in p.values:
                decl = chain.params.get(name)
                own = decl is not None and decl.pack == pid
                kind = "声明 / declared" if own else "覆盖上级数值 / overrides the parent's value"
                body.append(
                    f"<tr><td>{self.link_param(name)}</td><td>{_e(self.years(chain, name))}</td><td>{kind}</td></tr>"
                )
            body.append("</table>")
        else:
            body.append("<p>—</p>")
        added = [r for r in p.rules.values() if not r.replaces]
        replacing = [r for r in p.rules.values() if r.replaces]
        if replacing:
            body.append(
                "<h2>替换的规则 / Rules replaced</h2><ul>"
                + "".join(f"<li>{self.link_rule(r.replaces or '')} → {self.link_rule(r.id)}</li>" for r in replacing)
                + "</ul>"
            )
        if p.disabled:
            body.append(
                "<h2>停用的规则 / Rules disabled</h2><ul>"
                + "".join(
                    f"<li>{self.link_rule(rid)}：{_e(zh)} <span class='en'>{_e(en)}</span>{self.cites(c)}</li>"
                    for rid, (zh, en, c) in p.disabled.items()
                )
                + "</ul>"
            )
        if added:
            body.append(
                "<h2>本包的规则 / Rules of this pack</h2><ul>"
                + "".join(f"<li>{self.link_rule(r.id)}</li>" for r in added)
                + "</ul>"
            )
        body.append(f"<p class='en'>规则集指纹 / fingerprint <code>{_e(chain.fingerprint)}</code></p>")
        self.page(
            f"pack/{_slug(pid)}.html", p.zh, p.en, "".join(body), "规则包 / pack", pid + " " + " ".join(p.regions)
        )

    def years(self, chain: Chain, name: str) -> str:
        """The years this pack's own values are in force (by the chain's timeline), e.g. ``2023–2024``."""
        segs = [s for s in self.timeline(chain, name) if s.pack == chain.pack.id and s.value is not None]
        spans = []
        for s in segs:
            # [start, until) is half-open: a value ending on 2024-01-01 covers up to 2023.
            end = "" if s.until is None else str((s.until - timedelta(days=1)).year)
            spans.append(str(s.start.year) if end == str(s.start.year) else f"{s.start.year}–{end}")
        return "、".join(spans) or "—"

    def code_page(self, code: str) -> None:
        name, cause, fix = CODES[code]
        title, cause_zh, fix_zh = CODES_ZH.get(code, (name, cause, fix))
        body = (
            f"<h1>{_e(code)} {_e(title)}</h1><p class='en'>{_e(name)}</p>"
            f"<h2>原因 / Cause</h2><p>{_e(cause_zh)}</p><p class='en'>{_e(cause)}</p>"
            f"<h2>修改方法 / Fix</h2><p>{_e(fix_zh)}</p><p class='en'>{_e(fix)}</p>"
            f"<p>诊断以 <code>path:line:col: {_e(code)} message</code> 的形式报告，并显示源代码行和指示列的 ^。"
            f"<br><span class='en'>Reported as <code>path:line:col: {_e(code)} message</code> with the source line "
            f"and a caret under the column.</span></p>"
        )
        self.page(f"code/{code}.html", f"{code} {title}", f"{code} {name}", body, "诊断代码 / diagnostic code", name)

    def wording_page(self) -> None:
        """方案用语: the scheme's terms, the discovery channels and every code whose wording changes on a date,
        each wording with the day it starts and its sources (issue 12: labels are dated like parameters)."""
        body = [
            "<h1>方案用语与按日期的措辞</h1><p class='en'>Scheme wording, dated</p>",
            "<p>决定使用评估日当天的措辞；下表列出每个措辞的起始日期和出处。"
            "<br><span class='en'>A decision uses the wording in force on its assessment date.</span></p>",
        ]
        items = sorted(
            (item for item in self.rules.vocabulary.values() if item.kind in TERM_SECTIONS or item.versions),
            key=lambda item: (item.kind, item.code),
        )
        for item in items:
            body.append(f"<h2>{_e(item.kind)} <code>{_e(item.code)}</code></h2><table>")
            body.append("<tr><th>起 / from</th><th>中文</th><th>English</th><th>出处 / sources</th></tr>")
            for v in (item, *item.versions):
                start = str(v.start) if v.start is not None else "—"
                body.append(
                    f"<tr><td>{start}</td><td>{_e(v.zh)}</td><td class='en'>{_e(v.en)}</td>"
                    f"<td>{self.cites(v.cites)}</td></tr>"
                )
            body.append("</table>")
        self.page("wording.html", "方案用语", "Scheme wording", "".join(body), "用语 / wording", "scheme channel")

    def index_page(self, rule_ids: list[str], params: list[str]) -> None:
        body = [
            "<h1>防止返贫动态监测规则</h1>"
            "<p class='en'>Rules of the dynamic monitoring against falling back into poverty</p>"
        ]
        if self.cov is not None:
            rp, tp = self.cov.percent()
            failing = sum(1 for c in self.cov.cases if c.failures)
            body.append(
                f"<p>YAML 测试 {len(self.cov.cases)} 例（未通过 {failing}）；"
                f"规则版本完整覆盖 {rp:.1f}%，阈值完整覆盖 {tp:.1f}%。"
                f"<br><span class='en'>{len(self.cov.cases)} YAML tests ({failing} failing); "
                f"rule versions fully covered "
                f"{rp:.1f}%, thresholds {tp:.1f}%.</span></p>"
            )
        body.append("<p><a href='wording.html'>方案用语与按日期的措辞 / scheme wording, dated</a></p>")
        body.append("<h2>规则包 / Packs</h2><ul>")
        body += [f"<li>{self.link_pack(pid, '')}</li>" for pid in self.rules.packs]
        body.append("</ul><h2>规则 / Rules</h2>")
        for kind, (zh, en) in KIND_ZH.items():
            ids = [rid for rid in rule_ids if (r := self.rule_def(rid)) is not None and r.kind == kind]
            if ids:
                body.append(
                    f"<h3>{zh} / {en}</h3><ul>"
                    + "".join(f"<li>{self.link_rule(rid, '')}</li>" for rid in ids)
                    + "</ul>"
                )
        body.append(
            "<h2>参数 / Parameters</h2><ul>" + "".join(f"<li>{self.link_param(n, '')}</li>" for n in params) + "</ul>"
        )
        body.append(
            "<h2>诊断代码 / Diagnostic codes</h2><ul>"
            + "".join(
                f"<li><a href='code/{c}.html'>{c} {_e(CODES_ZH.get(c, ('',))[0])}</a>"
                f" <span class='en'>{_e(CODES[c][0])}</span></li>"
                for c in CODES
            )
            + "</ul>"
        )
        self.page("index.html", "首页", "Home", "".join(body), "")

    def search_page(self) -> None:
        body = (
            "<h1>搜索 / Search</h1>"
            "<p><input id='live' name='q' type='search' "
            "placeholder='输入规则、参数、规则包或代码 / type to search'></p>"
            "<p id='count'></p><ol id='results'></ol>"
        )
        self.page("search.html", "搜索", "Search", body, "")
