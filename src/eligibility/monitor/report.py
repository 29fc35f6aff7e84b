"""The county report: one self-contained HTML file from the store (``eligibility report``).

Headline numbers, bar charts by town and village, the trend over the stored months, the visit list, the
overdue list and the quarter's focus list, Chinese first. The charts are drawn by plotly.js, whose
minified bundle ships inside the ``plotly`` Python package (MIT licence) and is written into the page, so
the file opens offline, from a USB stick or an e-mail attachment, with no CDN and no network at all.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Final

from ..io.writers import STATUS_LABELS
from ..store import RunInfo, Store, StoreError
from .routine import CHANGE_KINDS, VISIT_REASONS

__all__ = ["render_report", "write_report"]

_STATUSES: Final = ("identified", "needs_review", "already_monitored", "not_identified")
_COLOURS: Final = {
    "identified": "#c0392b",
    "needs_review": "#e67e22",
    "already_monitored": "#2471a3",
    "not_identified": "#95a5a6",
    None: "#7f8c8d",
}
MAX_ROWS: Final = 1000
"""Rows of each list shown in the page (the full lists are in the routine's Excel files)."""


def _status_counts(run: RunInfo) -> dict[str, int]:
    """Households by status (the 合计 rows of 认定结论 in the run's summary)."""
    return {code: int(n) for code, n in run.summary.get("status", {}).items()}


def _figure_html(fig: Any, div_id: str) -> str:
    return str(
        fig.to_html(
            full_html=False, include_plotlyjs=False, div_id=div_id, config={"displayModeBar": False, "responsive": True}
        )
    )


def _bars(store: Store, run: RunInfo, digits: int, title: str, div_id: str, top: int) -> str:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    counts: dict[str, dict[str | None, int]] = {}
    for unit, status, n in store.counts_by_region(run.run_id, digits):
        counts.setdefault(unit or "未知", {})[status] = n
    units = sorted(counts, key=lambda u: (-sum(v for s, v in counts[u].items() if s != "not_identified"), u))[:top]
    fig = go.Figure()
    for status in (*_STATUSES, None):
        ys = [counts[u].get(status, 0) for u in units]
        if any(ys):
            name = STATUS_LABELS.get(status or "error", (status or "评估出错", ""))[0]
            fig.add_trace(go.Bar(name=name, x=units, y=ys, marker_color=_COLOURS[status]))
    fig.update_layout(
        barmode="stack",
        title=title,
        height=380,
        margin={"t": 50, "b": 80, "l": 50, "r": 20},
        xaxis={"type": "category", "title": "区划代码"},
        yaxis={"title": "户数"},
        legend={"orientation": "h"},
    )
    return _figure_html(fig, div_id)


def _trend(runs: Sequence[RunInfo], visits: dict[int, int]) -> str:
    import plotly.graph_objects as go

    xs = [r.as_of.isoformat() for r in runs]
    fig = go.Figure()
    for status in ("identified", "needs_review", "already_monitored"):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=[_status_counts(r).get(status, 0) for r in runs],
                mode="lines+markers",
                name=STATUS_LABELS[status][0],
                line={"color": _COLOURS[status]},
            )
        )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[visits.get(r.run_id, 0) for r in runs],
            mode="lines+markers",
            name="应走访户数",
            line={"color": "#16a085", "dash": "dot"},
        )
    )
    fig.update_layout(
        title="逐月趋势 / trend by month",
        height=360,
        margin={"t": 50, "b": 50, "l": 50, "r": 20},
        xaxis={"title": "评估日期", "type": "category"},
        yaxis={"title": "户数"},
        legend={"orientation": "h"},
    )
    return _figure_html(fig, "chart-trend")


def _table(title: str, table_id: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    shown = rows[:MAX_ROWS]
    more = (
        (
            f"<p class='note'>共 {len(rows):,} 行，此处显示前 {MAX_ROWS:,} 行；完整名单见一月一提示等文件 / "
            f"{len(rows):,} rows, the first {MAX_ROWS:,} shown</p>"
        )
        if len(rows) > MAX_ROWS
        else ""
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = (
        "".join(
            "<tr>"
            + "".join(f"<td>{html.escape('、'.join(v) if isinstance(v, list) else str(v))}</td>" for v in r)
            + "</tr>"
            for r in shown
        )
        or f"<tr><td colspan='{len(headers)}'>无 / none</td></tr>"
    )
    return (
        f"<section><h2>{html.escape(title)}（{len(rows):,}）</h2>{more}"
        f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )


_CSS: Final = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:24px;color:#222}
body{background:#fafafa}
h1{font-size:24px;margin-bottom:4px} h2{font-size:18px;border-left:4px solid #c0392b;padding-left:8px}
.sub{color:#666;margin-top:0}
.kpis{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.kpi{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 16px;min-width:130px}
.kpi .n{font-size:26px;font-weight:bold} .kpi .l{color:#555;font-size:13px}
.kpi .d{font-size:12px;color:#888}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top} th{background:#f0f0f0}
.note{color:#888;font-size:12px}
"""


def render_report(store: Store, as_of: date, jurisdiction: str | None = None) -> str:
    """The report of the latest run on or before ``as_of`` (of ``jurisdiction``), as one HTML string."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    run = store.run_on(as_of, jurisdiction)
    if run is None:
        raise StoreError(f"数据库中没有 {as_of} 及以前的监测运行 / no run on or before {as_of} in the store")
    runs = [r for r in store.runs(run.jurisdiction) if r.as_of <= run.as_of]
    previous = runs[-2] if len(runs) > 1 else None
    visits = store.run_list(run.run_id, "visits") or []
    changes = store.run_list(run.run_id, "changes") or []
    focus = store.run_list(run.run_id, "focus") or []
    visit_counts = {r.run_id: int(r.summary.get("visits", 0)) for r in runs}
    status, prev_status = _status_counts(run), _status_counts(previous) if previous else {}
    overdue = [v for v in visits if "overdue" in v["reasons"]]
    leads = [c for c in changes if c["change"] == "new_risk" and c["after"].startswith("部门")]
    change_counts = run.summary.get("changes", {})

    def kpi(kid: str, label: str, n: int, before: int | None) -> str:
        delta = "" if before is None else f"<div class='d'>较上月 {n - before:+,}</div>"
        return (
            f"<div class='kpi'><div class='n' id='kpi-{kid}'>{n:,}</div>"
            f"<div class='l'>{html.escape(label)}</div>{delta}</div>"
        )

    prev_n = previous.rows if previous else None
    by_status = [
        ("identified", "identified", "新识别（纳入监测）/ identified"),
        ("review", "needs_review", "需研判 / needs review"),
        ("monitored", "already_monitored", "已在监测 / monitored"),
    ]
    kpis = "".join(
        [
            kpi("households", "评估户数 / households", run.rows, prev_n),
            *(
                kpi(kid, label, status.get(code, 0), prev_status.get(code, 0) if previous else None)
                for kid, code, label in by_status
            ),
            kpi(
                "visits", "本月应走访 / to visit", len(visits), visit_counts.get(previous.run_id) if previous else None
            ),
            kpi("overdue", "程序逾期户 / overdue", len(overdue), None),
            kpi("focus", "本季重点关注 / quarter focus", len({f["household_id"] for f in focus}), None),
            kpi("errors", "出错记录 / errors", run.errors, None),
        ]
    )
    change_line = "；".join(f"{CHANGE_KINDS[k]} {change_counts.get(k, 0):,}" for k in CHANGE_KINDS)
    charts = "".join(
        f"<div class='chart'>{c}</div>"
        for c in (
            _bars(store, run, 9, "各乡镇认定结论 / by town", "chart-town", 40),
            _bars(store, run, 12, "各村认定结论（前30个村）/ by village, top 30", "chart-village", 30),
            _trend(runs, visit_counts),
        )
    )
    reason_text = {k: v for k, v in VISIT_REASONS.items()}
    tables = "".join(
        [
            _table(
                "一月一提示：本月走访名单 / visit list",
                "visits",
                ["乡镇", "村", "户编号", "帮扶责任人", "走访原因", "依据规则"],
                [
                    [v["town"], v["village"], v["household_id"], v["responsible"], v["reason"], v["rules"]]
                    for v in visits
                ],
            ),
            _table(
                "程序逾期名单 / overdue",
                "overdue",
                ["村", "户编号", "原因", "依据规则"],
                [[v["village"], v["household_id"], v["reason"], v["rules"]] for v in overdue],
            ),
            _table(
                "一季一预警：本季重点关注 / focus list of the quarter",
                "focus",
                ["村", "户编号", "重点事项", "本季出现月数", "依据规则"],
                [[f["village"], f["household_id"], f["label"], f["n_months"], f["rules"]] for f in focus],
            ),
            _table(
                "部门大数据预警线索 / department leads",
                "leads",
                ["村", "户编号", "原因"],
                [[c["village"], c["household_id"], c["reason"]] for c in leads],
            ),
        ]
    )
    title = f"防止返贫动态监测月报 · {run.jurisdiction} · {run.as_of.isoformat()}"
    meta = json.dumps(
        {
            "run_id": run.run_id,
            "as_of": run.as_of.isoformat(),
            "jurisdiction": run.jurisdiction,
            "rules": run.ruleset_fingerprint,
        },
        ensure_ascii=False,
    )
    legend = "；".join(f"{v}" for v in reason_text.values())
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style>
<script>{get_plotlyjs()}</script>
<script type="application/json" id="run-meta">{html.escape(meta)}</script>
</head><body>
<h1>{html.escape(title)}</h1>
<p class="sub">County monitoring report · 评估日期 {run.as_of.isoformat()}
{"· 上次 / previous " + previous.as_of.isoformat() if previous else "· 首次运行 / first run"} ·
规则版本 / rules {html.escape(run.ruleset_fingerprint[:19])}</p>
<div class="kpis">{kpis}</div>
<p id="changes">本月变化 / changes: {html.escape(change_line)}</p>
<div class="charts">{charts}</div>
{tables}
<p class="note">走访原因 / visit reasons: {html.escape(legend)}。
图表由 plotly.js（MIT 许可）绘制，已内嵌于本文件，离线可用。
Charts by plotly.js (MIT licence), embedded in this file: it works offline.</p>
</body></html>
"""


def write_report(store: Store, as_of: date, path: str | Path, jurisdiction: str | None = None) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8)."""
    p = Path(path)
    p.write_text(render_report(store, as_of, jurisdiction), encoding="utf-8")
    return p
