"""The ``eligibility`` command: evaluate, explain, lint, test, schema, packs.

Exit codes: 0 success; 1 the input or rules have problems (every one is reported); 2 usage errors.
Batches never stop at a bad record: every input yields exactly one decision or one error line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import stat
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel

from . import __version__
from ._dates import iso_date
from ._safe import inline, printable
from .decision import Decision
from .engine import Engine, TraceLevel
from .errors import EligibilityError, EvaluationError, HouseholdError, RuleFileError
from .explain import explain
from .loader import bundled_rules_path, lint
from .members import named_brief
from .models import MAX_RECORD_BYTES, Household, household_from_json, loads_json
from .monitor.commands import add_parsers as add_monitor_parsers
from .monitor.commands import cmd_feeds, cmd_monitor, cmd_report
from .ruleset import INHERIT

__all__ = ["main"]


MAX_JSON_FILE_BYTES = 64 << 20
"""Largest ``.json`` file read whole (a list of households); a bigger batch belongs in JSON Lines."""


class InputError(EligibilityError):
    """A file or line that yields no record: unreadable, not a regular file, too large, empty."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _files(paths: Sequence[str]) -> Iterator[tuple[Path, InputError | None]]:
    """The files to read, in order: each path given, a folder's ``*.json``/``*.jsonl`` by name.

    Only regular files are read (``os.stat`` follows symlinks): a FIFO would block for ever, a device
    such as ``/dev/zero`` never ends, a symlink loop cannot be opened — each is an error of its own.
    """
    for given in paths:
        p = Path(given)
        if given == "-":  # standard input, read as JSON Lines
            yield p, None
            continue
        try:
            mode = p.stat().st_mode
        except OSError as exc:
            yield p, InputError("unreadable", f"无法读取 / cannot read: {exc.strerror or type(exc).__name__}")
            continue
        if stat.S_ISDIR(mode):
            try:
                entries = sorted(x for x in p.iterdir() if x.suffix in (".json", ".jsonl"))
            except OSError as exc:
                yield p, InputError("unreadable", f"无法读取目录 / cannot list: {exc.strerror or type(exc).__name__}")
                continue
            for x in entries:
                yield from _files([str(x)])
        elif not stat.S_ISREG(mode):
            yield p, InputError("not_a_file", "不是普通文件（管道、设备等）/ not a regular file (FIFO, device, …)")
        else:
            yield p, None


def _lines(f: Path) -> Iterator[tuple[str, Any]]:
    """JSON Lines framed on ``\\n`` only (U+2028 and a lone ``\\r`` belong to the record), read one line at
    a time so that memory stays flat; a line longer than a record may be is skipped as one error.
    ``-`` is standard input."""
    limit = MAX_RECORD_BYTES
    name = "<stdin>" if str(f) == "-" else str(f)
    with f.open("rb") if name != "<stdin>" else contextlib.nullcontext(sys.stdin.buffer) as fh:
        n = 0
        while line := fh.readline(limit + 1):
            n += 1
            label = f"{name}:{n}"
            if len(line) > limit and not line.endswith(b"\n"):
                while (rest := fh.readline(limit)) and not rest.endswith(b"\n"):
                    pass
                yield label, InputError("too_large", f"行超过 {limit} 字节 / line over {limit} bytes")
                continue
            if n == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if line.strip():
                yield label, _decoded(line)


def _decoded(data: bytes) -> Any:
    try:
        return loads_json(data)
    except HouseholdError as exc:
        return exc


def _inputs(paths: Sequence[str]) -> Iterator[tuple[str, Any]]:
    """(label, decoded JSON value or exception) for every record in the given files and folders, lazily.

    A ``.jsonl`` file holds one record a line; any other file one JSON object or a JSON list of them
    (at most :data:`MAX_JSON_FILE_BYTES`). Whatever a file holds, each record yields exactly one item —
    an unreadable file, a bad line, an empty list is an exception in the stream, never a stop.
    """
    for f, problem in _files(paths):
        if problem is not None:
            yield str(f), problem
            continue
        try:
            if f.suffix == ".jsonl" or str(f) == "-":
                yield from _lines(f)
                continue
            with f.open("rb") as fh:
                data = fh.read(MAX_JSON_FILE_BYTES + 1)
        except OSError as exc:
            yield str(f), InputError("unreadable", f"无法读取 / cannot read: {exc.strerror or type(exc).__name__}")
            continue
        if len(data) > MAX_JSON_FILE_BYTES:
            yield (
                str(f),
                InputError(
                    "too_large",
                    f"文件超过 {MAX_JSON_FILE_BYTES} 字节，请用 JSON Lines / file too large: use JSON Lines",
                ),
            )
            continue
        value = _decoded(data[3:] if data.startswith(b"\xef\xbb\xbf") else data)
        if isinstance(value, list):
            if not value:
                yield str(f), InputError("empty", "文件中没有农户记录 / no household records in the file")
            for i, item in enumerate(value):
                yield f"{f}[{i}]", item
        else:
            yield str(f), value


def _household(raw: Any, as_of: str | None) -> tuple[Household, str]:
    """The household of one decoded record and its assessment date, or the error that says why not.

    A record ``{"as_of": DATE, "household": {...}}`` carries its own date; a plain household record uses
    ``as_of`` (``--as-of``)."""
    if isinstance(raw, BaseException):
        raise raw
    on = as_of
    if isinstance(raw, dict) and set(raw) == {"as_of", "household"}:
        # checked here, so that the message never quotes the value: a record's as_of is input, and a
        # careless export may have put a phone or ID number there (issue 13 §1, privacy)
        if iso_date(raw["as_of"]) is None:
            raise InputError("bad_as_of", "评估日期应为 YYYY-MM-DD / as_of must be a date YYYY-MM-DD")
        on, raw = raw["as_of"], raw["household"]
    if on is None:
        raise EvaluationError("没有评估日期 / no assessment date: give --as-of or an {as_of, household} record")
    return household_from_json(raw), on


def _error_record(label: str, exc: BaseException) -> dict[str, Any]:
    """The error line of one record: where (input, file, line or item), a code, a message, the bad fields.

    An exception of ours says what is wrong without echoing a value; any other exception is a bug, and
    its text might hold a field's value (an ID number in a ``KeyError``), so only its type is written.
    """
    if isinstance(exc, EligibilityError):
        message = str(exc)
    else:
        message = f"内部错误，请报告 / internal error, please report: {type(exc).__name__}"
    code = getattr(exc, "code", None) or _ERROR_CODES.get(type(exc).__name__, "internal_error")
    rec: dict[str, Any] = {"input": label, "error": {"type": type(exc).__name__, "code": code, "message": message}}
    if isinstance(exc, HouseholdError):
        rec["error"]["fields"] = [{"path": e.path, "code": e.code, "message": e.message} for e in exc.errors]
    return rec


_ERROR_CODES = {
    "HouseholdError": "invalid_household",
    "EvaluationError": "cannot_evaluate",
    "NoPackError": "no_pack",
    "MissingParameterError": "missing_parameter",
    "EngineDisagreementError": "engine_disagreement",
}


def _evaluate_all(
    engine: Engine, paths: Sequence[str], as_of: str | None, trace: TraceLevel = "full"
) -> Iterator[tuple[str, Decision | BaseException]]:
    """Evaluate every input, one at a time: exactly one decision or one exception per record, whatever
    the record holds (issue 13 §1) — an unexpected exception is caught and reported for its record too."""
    for label, raw in _inputs(paths):
        try:
            h, on = _household(raw, as_of)
            yield label, engine.evaluate(h, on, trace=trace)
        except Exception as exc:
            yield label, exc


def _summary_line(label: str, result: Decision | BaseException) -> str:
    if isinstance(result, BaseException):
        body = "\n      ".join(str(result).splitlines())
        return f"{label}\n    错误 / error: {body}"
    i = result.identification
    cat = f" {i.category.zh}" if i.category else ""
    risks = "、".join(f.zh for f in i.risks if f.certain)
    parts = [f"{label}\n    {inline(result.household_id)} [{result.jurisdiction.zh}] {i.status}{cat}"]
    if risks:
        parts.append(f"风险: {risks}")
    if i.exclusions:
        parts.append("比对线索: " + "、".join(f.zh for f in i.exclusions if f.certain))
    if i.reviews:
        parts.append("研判: " + "、".join(f.code + ("" if f.certain else "（待定）") for f in i.reviews))
    blocking = [p for m in i.blocking for p in m.fields]
    if blocking:
        parts.append("待补: " + ", ".join(blocking))
    layers = [f.zh for f in i.layers if f.certain]
    if layers:
        parts.append("社会救助分层: " + "、".join(layers))
    if result.lead is not None and result.lead.channel is not None:
        parts.append(f"线索渠道: {result.lead.channel.zh}")
    ex = result.exit
    if ex.status != "not_applicable":
        blockers = "、".join(b.zh for b in ex.blockers if b.certain)
        opens = f"（{ex.opens_on} 起可启动）" if ex.opens_on else ""
        parts.append(f"风险消除: {ex.status}" + (f"（{blockers}）" if blockers else "") + opens)
    needs = [f.zh + named_brief(f) for f in result.assistance.required if f.certain]
    if needs:
        parts.append("帮扶: " + "、".join(needs))
    gaps = [f.zh + named_brief(f) for f in result.assistance.gaps if f.certain]
    if gaps:
        parts.append("缺口: " + "、".join(gaps))
    late = [
        f.zh if f.dated_check else f"{f.zh}（{f.days_late:+d}天）"
        for f in result.procedure
        if f.certain and f.days_late is not None
    ]
    if late:
        parts.append("程序: " + "、".join(late))
    warns = [f.zh for f in result.warnings if f.certain]
    if warns:
        parts.append("预警: " + "、".join(warns))
    if result.missing_parameters:
        parts.append("配置缺口（缺少参数）: " + "、".join(f"{m.zh}（{m.name}）" for m in result.missing_parameters))
    return "\n      ".join(parts) if len(" | ".join(parts)) > 160 else " | ".join(parts)


def _jsonl_record(label: str, result: Decision | BaseException) -> str:
    if isinstance(result, Decision):
        return json.dumps({"input": label, "decision": json.loads(result.to_json(indent=None))}, ensure_ascii=False)
    return json.dumps(_error_record(label, result), ensure_ascii=False)


def cmd_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    """Each decision or error is written and flushed as soon as it is made, in input order (issue 13 §1):
    memory stays flat, and a run killed midway keeps every line written so far. Only one record in
    all (not known until a second appears) is written as a plain indented decision."""
    engine = Engine(args.rules)
    n = failed = 0
    first: tuple[str, Decision | BaseException] | None = None

    def write(label: str, result: Decision | BaseException) -> None:
        if args.summary:
            print(printable(_summary_line(label, result)), file=out)
        else:
            print(_jsonl_record(label, result), file=out)
        out.flush()

    gaps = _Gaps()
    for label, result in _evaluate_all(engine, args.paths, args.as_of, args.trace):
        n += 1
        failed += isinstance(result, BaseException)
        gaps.add(result)
        if n == 1 and not args.summary and not args.jsonl:
            first = (label, result)  # one record in all prints differently: wait for a second
            continue
        if first is not None:
            write(*first)
            first = None
        write(label, result)
    if first is not None:
        label, result = first
        print(result.to_json() if isinstance(result, Decision) else _jsonl_record(label, result), file=out)
    if n == 0:
        print("没有输入记录 / no input records", file=sys.stderr)
        return 1
    if args.summary:
        ok = n - failed
        print(f"\n{n} 户：{ok} 个决定，{failed} 个错误 / {n} households: {ok} decisions, {failed} errors", file=out)
    reported = gaps.report()
    return 1 if (reported and not args.gaps_ok) or failed else 0


class _Gaps:
    """Configuration gaps (a required parameter without value) counted as decisions stream past, then
    printed once per jurisdiction, parameter and date to stderr with how many decisions they touched."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, str, str], int] = {}

    def add(self, r: Decision | BaseException) -> None:
        if isinstance(r, Decision):
            for m in r.missing_parameters:
                key = (m.jurisdiction, m.zh, m.name, r.as_of.isoformat())
                self.seen[key] = self.seen.get(key, 0) + 1

    def report(self) -> int:
        for (jur, zh, name, on), n in sorted(self.seen.items()):
            print(
                f"配置缺口 / configuration gap: {jur} 在 {on} 没有参数「{zh}」({name}) 的取值，"
                f"{n} 户的相关结论未能判定 / no value of {name} on {on}: {n} decision(s) partly undecided",
                file=sys.stderr,
            )
        return len(self.seen)


def cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    engine = Engine(args.rules)
    failed = 0
    for label, result in _evaluate_all(engine, [args.path], args.as_of):
        if isinstance(result, BaseException):
            failed += 1
            print(printable(f"{label}: {_error_record(label, result)['error']['message']}"), file=sys.stderr)
        else:
            print(printable(explain(_one_line_ids(result), args.lang)), file=out)
            failed += bool(result.missing_parameters)  # named in the text; the exit status says so too
    return 1 if failed else 0


def _one_line_ids(d: Decision) -> Decision:
    """``d`` with its household id and member ids written by :func:`~eligibility._safe.inline` when one
    holds a line break or a tab (which :func:`printable` keeps, explanations being multi-line): an id
    must not start a line that reads as part of the explanation. The decision itself keeps the ids."""
    if "\\n" not in (text := d.to_json(indent=None)) and "\\t" not in text and "\\r" not in text:
        return d
    return _inline_ids(d)  # type: ignore[no-any-return]


def _inline_ids(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        changed = {k: new for k, v in obj.__dict__.items() if (new := _inline_ids(v)) is not v}
        for key in ("household_id", "member_id"):
            if isinstance(getattr(obj, key, None), str) and inline(getattr(obj, key)) != getattr(obj, key):
                changed[key] = inline(getattr(obj, key))
        return obj.model_copy(update=changed) if changed else obj
    if isinstance(obj, tuple):
        items = tuple(_inline_ids(v) for v in obj)
        return items if any(a is not b for a, b in zip(items, obj, strict=True)) else obj
    return obj


def cmd_publicity(args: argparse.Namespace, out: TextIO) -> int:
    """The village notice for the identified households among the inputs (never sensitive fields)."""
    from .publicity import publicity_rows, render_csv, render_text

    engine = Engine(args.rules)
    items = []
    failed = 0
    for label, raw in _inputs(args.paths):
        try:
            h, on = _household(raw, args.as_of)
            items.append((h, engine.evaluate(h, on, trace="none")))
        except Exception as exc:
            failed += 1
            message = _error_record(label, exc)["error"]["message"]
            print(printable(f"{label}: {message.splitlines()[0]}"), file=sys.stderr)
    rows = publicity_rows(items, engine.rules)
    print(render_csv(rows) if args.format == "csv" else printable(render_text(rows)), end="", file=out)
    return 1 if failed else 0


def _missing_path(path: str) -> bool:
    """A mistyped path must fail a CI step, not pass it with nothing checked."""
    if Path(path).exists():
        return False
    print(printable(f"路径不存在 / no such path: {path}"), file=sys.stderr)
    return True


def cmd_lint(args: argparse.Namespace, out: TextIO) -> int:
    from .errors import render_diagnostic

    if _missing_path(args.path):
        return 1
    diags = lint(args.path)
    for d in diags:
        print(render_diagnostic(d), file=out)
    if diags:
        print(f"{len(diags)} 个问题 / {len(diags)} problem(s)", file=sys.stderr)
        return 1
    print("无问题 / no problems", file=sys.stderr)
    return 0


def cmd_test(args: argparse.Namespace, out: TextIO) -> int:
    from .testing import iter_results

    if _missing_path(args.path):
        return 1
    if args.coverage or args.fail_under is not None:
        return _test_coverage(args, out)
    passed = failed = 0
    for case, fails, diags in iter_results(Path(args.path)):
        for d in diags:
            print(d, file=out)
            failed += 1
        if case is None:
            continue
        if fails:
            failed += 1
            print(f"FAIL {case.where}: {case.name}", file=out)
            for f in fails:
                print(f"    {f}", file=out)
        else:
            passed += 1
            if args.verbose:
                print(f"ok   {case.where}: {case.name}", file=out)
    print(f"{passed} passed, {failed} failed", file=out)
    if passed + failed == 0:
        print("没有找到测试 / no tests found", file=sys.stderr)
        return 1
    return 1 if failed else 0


def _test_coverage(args: argparse.Namespace, out: TextIO) -> int:
    """``test --coverage``: run the cases, report failures, then the coverage table (eligibility.coverage).

    Exit 1 when a case fails, a test file is malformed, or (with ``--fail-under N``) the share of rule
    versions or of thresholds fully covered is below N percent."""
    from .coverage import measure, render_table

    cov = measure(args.path)
    for d in cov.diagnostics:
        print(d, file=out)
    failed = [c for c in cov.cases if c.failures]
    for c in failed:
        print(f"FAIL {c.case.where}: {c.case.name}", file=out)
        for f in c.failures:
            print(f"    {f}", file=out)
    print(render_table(cov), file=out)
    print(f"{len(cov.cases) - len(failed)} passed, {len(failed) + len(cov.diagnostics)} failed", file=out)
    low = args.fail_under is not None and min(cov.percent()) < args.fail_under
    if low:
        print(f"覆盖率低于 {args.fail_under}% / coverage below {args.fail_under}%", file=out)
    return 1 if failed or cov.diagnostics or low else 0


def cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    if args.rules_format:
        from . import rulefile as rf

        models: dict[str, type[BaseModel]] = {
            "pack.yaml": rf.PackFile,
            "sources.yaml": rf.SourcesFile,
            "vocabulary.yaml": rf.VocabularyFile,
            "parameters/*.yaml": rf.ParamsFile,
            "facts.yaml": rf.FactsFile,
            "<kind>/*.yaml": rf.RulesFile,
            "tests/*.yaml": rf.TestsFile,
        }
        schema: dict[str, Any] = {name: m.model_json_schema(by_alias=True) for name, m in models.items()}
    else:
        from .models import Household

        schema = Household.model_json_schema()
    print(json.dumps(schema, ensure_ascii=False, indent=2), file=out)
    return 0


def cmd_packs(args: argparse.Namespace, out: TextIO) -> int:
    engine = Engine(args.rules)
    rs = engine.rules
    for pid, p in rs.packs.items():
        regions = ", ".join(p.regions) or "（全部 / all）"
        parent = f" extends {p.extends}" if p.extends else ""
        print(f"{pid}: {p.zh} / {p.en}  regions: {regions}{parent}", file=out)
        for name, values in p.values.items():
            if not values:
                print(f"    {name}: （可选，本包未设定 / optional, not set here）", file=out)
                continue
            spans = []
            for i, v in enumerate(values):
                until = values[i + 1].start.isoformat() if i + 1 < len(values) else "…"
                shown = "—" if v.value is None else ("↑ 上级包 / parent" if v.value is INHERIT else str(v.value))
                spans.append(f"[{v.start}, {until}) {shown}")
            print(f"    {name}: " + "; ".join(spans), file=out)
    return 0


class _Version(argparse.Action):
    """``--version``: imports durable-rules only when asked, not on every command."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from . import _durable

        if _durable.AVAILABLE:
            engines = "compiled; verify: durable-rules"
        else:
            engines = f"compiled; verify: durable-rules unavailable ({_durable.IMPORT_ERROR})"
        print(f"eligibility {__version__} (engines: {engines})")
        parser.exit()


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """Both engines over a population: agreement counts and every disagreement with its input digest.

    ``--sample RATE`` checks a deterministic share of the households (chosen by a hash of each input's
    label, so a re-run checks the same ones)."""
    import hashlib

    from .errors import EngineDisagreementError

    engine = Engine(args.rules, verify="durable")
    rate = args.sample
    if not 0 < rate <= 1:
        print("--sample 须在 (0, 1] 之间 / --sample must be in (0, 1]", file=sys.stderr)
        return 2
    checked = agreed = skipped = errors = 0
    disagreements: list[dict[str, Any]] = []
    for label, raw in _inputs(args.paths):
        if rate < 1:
            h = int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") / 2**64
            if h >= rate:
                skipped += 1
                continue
        try:
            household, on = _household(raw, args.as_of)
        except EligibilityError:
            errors += 1
            continue
        checked += 1
        try:
            engine.evaluate(household, on, trace="none")
            agreed += 1
        except EngineDisagreementError as exc:
            disagreements.append({"input": label, "input_digest": exc.input_digest, "rules": exc.differences})
            print(json.dumps(disagreements[-1], ensure_ascii=False), file=out)
        except EligibilityError:
            errors += 1
    print(
        f"核对 {checked} 户：一致 {agreed}，不一致 {len(disagreements)}；未抽中 {skipped}，无法评估 {errors} / "
        f"checked {checked}: {agreed} agree, {len(disagreements)} disagree; {skipped} not sampled, "
        f"{errors} could not be evaluated",
        file=out,
    )
    return 1 if disagreements else 0


def cmd_batch(args: argparse.Namespace, out: TextIO) -> int:
    """A whole county's tables in one run (see :mod:`eligibility.batch` and docs/batch.md)."""
    try:
        from .batch import print_summary, run_batch
    except ImportError as exc:  # polars is the extra eligibility[batch]
        print(f"批量评估需要 / batch needs: pip install 'eligibility[batch]' ({exc})", file=sys.stderr)
        return 2
    from .errors import BatchWorkerError
    from .io.tables import TableFormatError
    from .loader import load_rules

    on = None
    if args.as_of:
        try:
            on = date.fromisoformat(args.as_of)
        except ValueError:
            print(f"评估日期无效 / invalid --as-of `{args.as_of}` (YYYY-MM-DD)", file=sys.stderr)
            return 2
    rules = load_rules(args.rules)
    try:
        result = run_batch(
            args.inputs,
            args.output,
            rules=rules,
            as_of=on,
            lang=args.lang,
            rule_columns=args.rule_columns,
            summary_path=args.summary,
            level=args.level,
            resume=args.resume,
            chunk_rows=args.chunk_rows,
            rowwise=args.rowwise_rows,
            workers=args.workers,
            progress=None,
            log=sys.stderr,
        )
    except (TableFormatError, ValueError, BatchWorkerError) as exc:
        print(f"错误 / error: {exc}", file=sys.stderr)
        return 1
    print_summary(result, out)
    return 1 if result.errors or result.gaps else 0


def cmd_docs(args: argparse.Namespace, out: TextIO) -> int:
    """The static rules site (see :mod:`eligibility.site` and docs/site.md)."""
    from .site import build_site

    built = build_site(args.rules_path, args.output, tests=not args.no_tests)
    print(
        f"已生成 {len(built.pages)} 个页面 / wrote {len(built.pages)} pages: {built.out / 'index.html'}",
        file=out,
    )
    return 0


def cmd_diff(args: argparse.Namespace, out: TextIO) -> int:
    """What a rule change, or the next date's values, would change over a population (docs/whatif.md)."""
    try:
        from .whatif import impact, render_markdown, write_report
    except ImportError as exc:  # polars is the extra eligibility[batch]
        print(f"影响分析需要 / diff needs: pip install 'eligibility[batch]' ({exc})", file=sys.stderr)
        return 2
    from .io.tables import TableFormatError
    from .loader import load_rules

    if len(args.rules) > 2 or (len(args.rules) == 1) != (args.vs_as_of is not None):
        print(
            "用法 / usage: diff OLD_RULES NEW_RULES --as-of D，或 / or diff RULES --as-of A --vs-as-of B",
            file=sys.stderr,
        )
        return 2
    try:
        old_on = date.fromisoformat(args.as_of)
        new_on = date.fromisoformat(args.vs_as_of) if args.vs_as_of else old_on
    except ValueError:
        print("评估日期无效 / invalid date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    old_rules = load_rules(args.rules[0])
    new_rules = load_rules(args.rules[-1]) if len(args.rules) == 2 else old_rules
    old_label = f"{args.rules[0]} @ {old_on}"
    new_label = f"{args.rules[-1]} @ {new_on}"
    try:
        imp = impact(args.population, old_rules, new_rules, old_on, new_on, old_label=old_label, new_label=new_label)
    except (TableFormatError, ValueError) as exc:
        print(f"错误 / error: {exc}", file=sys.stderr)
        return 1
    if args.output:
        write_report(imp, args.output)
        n_in, p_in = imp.entering()
        n_out, p_out = imp.leaving()
        print(
            f"变化 {len(imp.changes)} 户（新纳入 {n_in} 户 {p_in} 人，退出 {n_out} 户 {p_out} 人）→ {args.output} / "
            f"{len(imp.changes)} change ({n_in} enter, {n_out} leave)",
            file=out,
        )
    else:
        print(printable(render_markdown(imp)), end="", file=out)
    return 1 if imp.read_errors else 0


def cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    """Overlap and gap of the category rules per pack chain and date span, with example households
    (eligibility.check, docs/check.md): exit 1 when one is found, 2 on bad arguments or without z3."""
    try:
        from .check import check_rules, render_table
    except ImportError as exc:  # z3-solver is the extra eligibility[check]
        print(f"完整性检查需要 / check needs: pip install 'eligibility[check]' ({exc})", file=sys.stderr)
        return 2
    from .loader import load_rules

    try:
        on = date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        print("评估日期无效 / invalid date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    rules = load_rules(args.rules_path or str(bundled_rules_path()))
    unknown = sorted(set(args.pack or ()) - set(rules.packs))
    if unknown:
        print(f"没有规则包 / no such pack: {', '.join(unknown)}", file=sys.stderr)
        return 2
    report = check_rules(rules, packs=args.pack or None, as_of=on)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2), file=out)
    else:
        print(render_table(report), file=out)
    return 1 if report.failed else 0


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    """The HTTP service for county systems (see :mod:`eligibility.service` and docs/service.md)."""
    try:
        from .service.server import run
    except ImportError as exc:  # FastAPI and uvicorn are the extra eligibility[server]
        print(f"HTTP 服务需要 / serve needs: pip install 'eligibility[server]' ({exc})", file=sys.stderr)
        return 2
    return run(args, out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="eligibility", description="防止返贫动态监测规则引擎 / rule engine for poverty-return monitoring"
    )
    p.add_argument("--version", action=_Version, nargs=0, help="版本与可用引擎 / version and engines available")
    sub = p.add_subparsers(dest="command", required=True)

    def rules_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--rules", default=None, help="规则目录 / rules folder (default: bundled rules)")

    e = sub.add_parser("evaluate", help="评估农户 / evaluate households")
    e.add_argument("paths", nargs="+", help="JSON / JSON Lines files or folders; - reads JSON Lines from stdin")
    e.add_argument("--as-of", default=None, help="评估日期 / assessment date YYYY-MM-DD (records may carry their own)")
    e.add_argument("--summary", action="store_true", help="一户一行摘要 / one summary per household")
    e.add_argument(
        "--gaps-ok",
        action="store_true",
        help="配置缺口照常报告，但不以退出码 1 表示 / report configuration gaps but do not exit 1 for them",
    )
    e.add_argument("--jsonl", action="store_true", help="JSON Lines even for one household")
    e.add_argument(
        "--trace",
        choices=["full", "compact", "none"],
        default="full",
        help="审计轨迹详略 / trace level: full (default), compact (refers to the rules manifest), none",
    )
    rules_arg(e)
    b = sub.add_parser("batch", help="批量评估表格 / decide a whole table of households (polars)")
    b.add_argument("inputs", nargs="+", help="households file(s): .xlsx, .csv (+ members.csv), .jsonl, .parquet")
    b.add_argument("-o", "--output", required=True, help="decisions file: .csv, .xlsx, .parquet or .jsonl")
    b.add_argument("--as-of", default=None, help="评估日期 / assessment date for rows without their own")
    b.add_argument("--lang", choices=["zh", "en"], default="zh", help="column labels / 列名语言")
    b.add_argument("--rule-columns", action="store_true", help="one column per rule in force, for audit")
    b.add_argument("--summary", default=None, help="汇总表 / write the summary (.csv, .xlsx or .md)")
    b.add_argument(
        "--level",
        choices=["province", "city", "county", "town", "village"],
        default="county",
        help="汇总层级 / summary by region level",
    )
    b.add_argument("--resume", action="store_true", help="续跑被中断的批次 / resume a run that was killed")
    b.add_argument("--chunk-rows", type=int, default=100_000, help="rows per written part")
    b.add_argument(
        "--rowwise-rows",
        type=int,
        default=None,
        help="少于此行数的部分逐户评估 / parts of fewer rows decided household by household "
        "(0: always columnar; default: ELIGIBILITY_BATCH_ROWWISE or 400)",
    )
    b.add_argument(
        "--workers",
        default="auto",
        help="并行评估的进程数 / processes deciding parts side by side: a number, or auto (every usable "
        "core; default). Memory grows with it: about one part per process",
    )
    rules_arg(b)
    v = sub.add_parser("verify", help="两个引擎核对一批农户 / both engines over a population")
    v.add_argument("paths", nargs="+", help="JSON / JSON Lines files or folders")
    v.add_argument("--as-of", default=None, help="评估日期 / assessment date (records may carry their own)")
    v.add_argument("--sample", type=float, default=1.0, help="抽查比例 / share of households to check (0–1]")
    rules_arg(v)
    x = sub.add_parser("explain", help="中文解释 / readable explanation")
    x.add_argument("path")
    x.add_argument("--as-of", default=None)
    x.add_argument("--lang", choices=["zh", "en"], default="zh")
    rules_arg(x)
    pb = sub.add_parser("publicity", help="村内公示名单 / village notice of identified households")
    pb.add_argument("paths", nargs="+")
    pb.add_argument("--as-of", required=True)
    pb.add_argument("--format", choices=["csv", "text"], default="text")
    rules_arg(pb)
    li = sub.add_parser("lint", help="检查规则文件 / check rule files")
    li.add_argument("path", nargs="?", default=None)
    t = sub.add_parser("test", help="运行YAML规则测试 / run YAML rule tests")
    t.add_argument("path", nargs="?", default=None)
    t.add_argument("-v", "--verbose", action="store_true")
    t.add_argument("--coverage", action="store_true", help="规则与阈值覆盖 / rule and threshold coverage table")
    t.add_argument("--fail-under", type=float, default=None, help="覆盖率低于此百分比时退出码为 1 / exit 1 below N%%")
    s = sub.add_parser("schema", help="JSON Schema")
    s.add_argument("--rules-format", action="store_true", help="规则文件格式 / of the rule-file format")
    pk = sub.add_parser("packs", help="规则包及参数覆盖 / packs and parameter coverage")
    rules_arg(pk)
    dc = sub.add_parser("docs", help="生成规则网站 / build the static rules site")
    dc.add_argument("rules_path", nargs="?", default=None, help="规则目录 / rules folder (default: bundled rules)")
    dc.add_argument("-o", "--output", required=True, help="输出目录 / output folder")
    dc.add_argument("--no-tests", action="store_true", help="不运行 YAML 测试 / skip running the YAML tests")
    df = sub.add_parser("diff", help="规则变更影响 / impact of a rule change over a population")
    df.add_argument("rules", nargs="+", help="OLD_RULES NEW_RULES, or one RULES with --vs-as-of")
    df.add_argument("--population", nargs="+", required=True, help="households: .jsonl, .csv, .xlsx, .parquet")
    df.add_argument("--as-of", required=True, help="评估日期 / assessment date YYYY-MM-DD")
    df.add_argument("--vs-as-of", default=None, help="与另一评估日期比较 / compare with a second date (one rule set)")
    df.add_argument("-o", "--output", default=None, help="报告 / report: .md, .csv or .xlsx (default: Markdown)")
    ck = sub.add_parser("check", help="类别规则重叠与缺口 / overlap and gap of the category rules (docs/check.md)")
    ck.add_argument("rules_path", nargs="?", default=None, metavar="RULES", help="规则目录 / rules folder")
    ck.add_argument("--pack", action="append", help="只查此规则包（可重复）/ only this pack chain (repeatable)")
    ck.add_argument("--as-of", default=None, help="只查此日期所在区间 / only the span holding this date")
    ck.add_argument("--json", action="store_true", help="JSON 输出 / JSON output")
    sv = sub.add_parser("serve", help="HTTP 服务 / the HTTP service for county systems (docs/service.md)")
    sv.add_argument("rules_path", nargs="?", default=None, metavar="RULES", help="规则目录 / rules folder")
    rules_arg(sv)
    sv.add_argument("--host", default="127.0.0.1", help="监听地址 / address to bind (default: loopback only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--keys", default="eligibility-keys.yaml", help="密钥文件（哈希）/ the hashed API keys file")
    sv.add_argument("--new-key", metavar="SYSTEM", help="新增密钥 / add a key for SYSTEM, print it, exit")
    sv.add_argument("--revoke-key", metavar="SHA256_PREFIX", help="删除密钥并退出 / remove a key from the file, exit")
    sv.add_argument("--max-body-bytes", type=int, default=1 << 20, help="one household's body (default 1 MiB)")
    sv.add_argument("--max-batch-bytes", type=int, default=64 << 20, help="a batch body (default 64 MiB)")
    sv.add_argument("--max-batch-records", type=int, default=100_000, help="lines of one batch")
    sv.add_argument("--rate", type=float, default=50.0, help="每个密钥每秒请求数 / requests a second per key")
    sv.add_argument("--burst", type=int, default=100, help="每个密钥突发请求数 / burst per key")
    sv.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="info")
    add_monitor_parsers(sub, rules_arg)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    if getattr(args, "path", "x") is None:
        args.path = str(bundled_rules_path())
    handlers = {
        "evaluate": cmd_evaluate,
        "explain": cmd_explain,
        "lint": cmd_lint,
        "test": cmd_test,
        "schema": cmd_schema,
        "packs": cmd_packs,
        "publicity": cmd_publicity,
        "verify": cmd_verify,
        "batch": cmd_batch,
        "docs": cmd_docs,
        "diff": cmd_diff,
        "serve": cmd_serve,
        "check": cmd_check,
        "monitor": cmd_monitor,
        "feeds": cmd_feeds,
        "report": cmd_report,
    }
    try:
        return handlers[args.command](args, out)
    except BrokenPipeError:  # `eligibility packs | head`: the reader left; not an error of ours
        return 0
    except RuleFileError as exc:
        for d in exc.diagnostics:
            print(d, file=sys.stderr)
        return 1
    except EligibilityError as exc:
        print(f"错误 / error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
