"""The ``monitor run``, ``feeds import`` and ``report`` subcommands (wired into :mod:`eligibility.cli`).

Kept apart from ``cli.py`` so that the command line stays importable without the ``batch`` extra: polars,
the store drivers and plotly are imported only when one of these commands runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TextIO

from ..loader import load_rules
from ..ruleset import RuleSet
from ..store import IdentityKey, open_store

__all__ = ["add_parsers", "cmd_feeds", "cmd_monitor", "cmd_report"]


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser], rules_arg: Callable[..., None]) -> None:
    """Add the three subcommands to the ``eligibility`` parser."""

    def store_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--db", required=True, help="数据库 / store: a SQLite file path or postgresql://…")
        sp.add_argument(
            "--key-file",
            default=None,
            help="身份证号哈希密钥文件 / file holding the hashing key (default: $ELIGIBILITY_ID_KEY)",
        )

    m = sub.add_parser("monitor", help="月度监测例程 / the monthly routine (batch + store + comparison)")
    msub = m.add_subparsers(dest="monitor_command", required=True)
    r = msub.add_parser("run", help="运行一个月 / run one month")
    r.add_argument("inputs", nargs="+", help="households file(s): .xlsx, .csv (+ members.csv), .jsonl, .parquet")
    r.add_argument("--as-of", required=True, type=_date, help="评估日期 / assessment date YYYY-MM-DD")
    store_args(r)
    r.add_argument(
        "-o", "--out-dir", default=None, help="输出目录 / folder for the routine's files (default: 监测-<as-of>)"
    )
    r.add_argument("--jurisdiction", default=None, help="辖区代码 / jurisdiction (default: the common region prefix)")
    r.add_argument(
        "--level",
        default="town",
        choices=["province", "city", "county", "town", "village"],
        help="一月一分析的汇总层级 / summary level",
    )
    r.add_argument("--sample", type=int, default=20, help="一周一抽查户数 / sample size")
    r.add_argument("--seed", default=None, help="抽查随机种子 / sample seed (default: the as-of date)")
    r.add_argument("--format", choices=["xlsx", "csv"], default="xlsx", help="表格格式 / table format")
    r.add_argument(
        "--store-plain-ids",
        action="store_true",
        help="同时保存身份证号和手机号明文（默认只存哈希）/ also store ID and phone numbers in clear",
    )
    rules_arg(r)
    f = sub.add_parser("feeds", help="部门大数据预警 / department data feeds")
    fsub = f.add_subparsers(dest="feeds_command", required=True)
    fi = fsub.add_parser("import", help="导入部门数据 / import a department file")
    fi.add_argument("file", help=".csv or .xlsx")
    fi.add_argument(
        "--kind", required=True, help="medical, civil_affairs, education, housing, water, disability, labour"
    )
    store_args(fi)
    fi.add_argument("-o", "--output", default=None, help="逐行结果 / write every record's outcome (.csv)")
    rules_arg(fi)
    rp = sub.add_parser("report", help="县级监测报告 / county report as one offline HTML file")
    rp.add_argument("--db", required=True, help="数据库 / store: a SQLite file path or postgresql://…")
    rp.add_argument("--as-of", required=True, type=_date, help="报告日期 / the latest run on or before this date")
    rp.add_argument("--jurisdiction", default=None, help="辖区代码 / jurisdiction (default: any)")
    rp.add_argument("-o", "--output", required=True, help="report.html")


def _date(text: str) -> date:
    """An ``--as-of`` value; argparse turns the error into a usage message and exit code 2."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期无效 / invalid date `{text}` (YYYY-MM-DD)") from None


def _key_and_rules(args: argparse.Namespace) -> tuple[IdentityKey, RuleSet]:
    """The hashing key (``--key-file`` or the environment) and the rules (``--rules`` or the bundled ones)."""
    secret = Path(args.key_file).read_text(encoding="utf-8").strip() if args.key_file else None
    return IdentityKey.from_env(secret), load_rules(args.rules)


def _extra_missing(exc: ImportError) -> int:
    print(f"需要安装 / needs: pip install 'eligibility[monitor]' ({exc})", file=sys.stderr)
    return 2


def cmd_monitor(args: argparse.Namespace, out: TextIO) -> int:
    """``eligibility monitor run``: one month of the routine; exit 1 when some rows are errors or a
    required parameter has no value (a configuration gap)."""
    on: date = args.as_of
    try:
        from ..batch import print_gaps
        from .routine import CHANGE_KINDS, run_monthly
    except ImportError as exc:
        return _extra_missing(exc)
    key, rules = _key_and_rules(args)
    with open_store(args.db) as store:
        try:
            res = run_monthly(
                args.inputs,
                as_of=on,
                store=store,
                rules=rules,
                key=key,
                out_dir=args.out_dir or f"监测-{on.isoformat()}",
                jurisdiction=args.jurisdiction,
                level=args.level,
                sample_size=args.sample,
                seed=args.seed,
                fmt=args.format,
                store_plain_ids=args.store_plain_ids,
            )
        except ValueError as exc:
            print(f"错误 / error: {exc}", file=sys.stderr)
            return 1
        except ImportError as exc:
            return _extra_missing(exc)
    prev = res.previous.as_of.isoformat() if res.previous else "无 / none"
    print(f"辖区 / jurisdiction {res.jurisdiction}，评估日期 / as of {res.as_of}，上次 / previous {prev}", file=out)
    print(
        f"{res.rows:,} 行：{res.decided:,} 个决定，{res.errors:,} 个错误；用时 {res.seconds:,.1f} 秒 / "
        f"{res.rows:,} rows, {res.decided:,} decisions, {res.errors:,} errors",
        file=out,
    )
    counts = res.change_counts()
    for k, zh in CHANGE_KINDS.items():
        print(f"  {zh} / {k}: {counts[k]:,}", file=out)
    print(
        f"  本月走访 / to visit: {res.visits_frame.height:,}；本季重点 / focus: {res.focus_frame.height:,}；"
        f"抽查 / sample: {res.sample_frame.height:,}",
        file=out,
    )
    for f in res.files:
        print(f"  {f}", file=out)
    print_gaps(res.gaps, out)
    return 1 if res.errors or res.gaps else 0


def cmd_feeds(args: argparse.Namespace, out: TextIO) -> int:
    """``eligibility feeds import``: exit 1 when a record is malformed, unmatched or ambiguous."""
    try:
        from .feeds import FEEDS, import_feed, lead_rows
    except ImportError as exc:
        return _extra_missing(exc)
    key, rules = _key_and_rules(args)
    with open_store(args.db) as store:
        res = import_feed(args.file, kind=args.kind, store=store, key=key, rules=rules)
    feed = FEEDS[args.kind]
    print(
        f"{feed.department}（{args.kind}）{res.rows:,} 条 / records：线索 / leads {len(res.leads):,}，"
        f"未匹配 / unmatched {len(res.unmatched):,}，匹配到多户 / ambiguous {len(res.ambiguous):,}，"
        f"错误 / errors {len(res.errors):,}，已导入过 / already imported {res.duplicates:,}",
        file=out,
    )
    from .._safe import inline

    for row in lead_rows(res):
        # household ids and the notes quote the department's cells: escaped so that none of them can
        # carry a terminal escape or start a line that passes for another record's (issue 13 §5)
        print(
            f"  第 {row['行号']} 行 / line {row['行号']}: {inline(str(row['结果']))} {inline(str(row['户编号']))} "
            f"{inline(str(row['核实期限']))} {inline(str(row['说明']))}",
            file=out,
        )
    if args.output:
        import csv

        from .._safe import spreadsheet_cell

        # The outcomes quote the department's cells: neutralised, as every table a clerk opens (issue 13 §5).
        rows = [{k: spreadsheet_cell(v) if isinstance(v, str) else v for k, v in r.items()} for r in lead_rows(res)]
        with open(args.output, "w", encoding="utf-8-sig", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["行号", "结果", "户编号", "核实期限", "说明"])
            w.writeheader()
            w.writerows(rows)
    return 1 if (res.errors or res.unmatched or res.ambiguous) else 0


def cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    """``eligibility report``: the county report of the latest run on or before ``--as-of``."""
    on: date = args.as_of
    try:
        from .report import write_report
    except ImportError as exc:
        return _extra_missing(exc)
    with open_store(args.db) as store:
        path = write_report(store, on, args.output, args.jurisdiction)
    print(f"报告 / report: {path}", file=out)
    return 0
