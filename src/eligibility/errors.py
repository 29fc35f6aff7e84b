"""The exception hierarchy of ``eligibility``, source locations and diagnostic codes.

Every error the library raises on purpose derives from :class:`EligibilityError`, so a county system
can catch one class. User errors (a bad rule file, a bad household, a question the rules cannot answer)
are kept apart from internal failures, because the first must be shown to the person who can fix the
input and the second must be reported to us::

    EligibilityError
    ├── RuleFileError          one or more problems in rule files, each a Diagnostic
    ├── HouseholdError         a household that does not validate; each bad field by JSON path
    ├── EvaluationError        the rules cannot decide this household on this date
    │   ├── NoPackError            no pack covers the household's region code
    │   └── MissingParameterError  a parameter has no value on the assessment date
    ├── EngineUnavailableError an engine was asked for that cannot run here (durable-rules on 3.13+)
    └── InternalError          a bug in eligibility itself (never the user's fault)
        └── EngineDisagreementError  the two engines reached different outcomes

Rule-file problems print the way linters print — ``path:line:col: CODE message`` — and are all reported
in one pass, so policy staff fix a file in one round instead of one error at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CODES",
    "CODES_ZH",
    "BatchWorkerError",
    "Diagnostic",
    "EligibilityError",
    "EngineDisagreementError",
    "EngineUnavailableError",
    "EvaluationError",
    "FieldError",
    "HouseholdError",
    "InternalError",
    "MissingParameterError",
    "NoPackError",
    "RuleFileError",
    "SourceLocation",
    "bilingual",
    "did_you_mean",
    "punctuation_hints",
    "render_diagnostic",
    "type_zh",
]


@dataclass(frozen=True, order=True)
class SourceLocation:
    """A place in a rule file: path (as given to the loader), 1-based line and column."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"

    def shifted(self, chars: int) -> SourceLocation:
        """The location ``chars`` characters further on the same line (inside an expression string)."""
        return SourceLocation(self.path, self.line, self.col + chars)


#: Every diagnostic code: (short name, cause, fix). ``docs/rule-files.md`` documents each one and a
#: test checks that the page and this table agree, so a new code cannot ship undocumented.
CODES: Final[dict[str, tuple[str, str, str]]] = {
    "EL001": (
        "yaml-syntax",
        "The file is not valid YAML.",
        "Fix the indentation or quoting at the place shown.",
    ),
    "EL002": (
        "yaml-forbidden-tag",
        "A YAML tag (`!!python/...`, `!foo`) asks the loader to build an object.",
        "Remove the tag; rule files hold plain data only.",
    ),
    "EL003": (
        "yaml-alias-limit",
        "Anchors and aliases expand to more nodes than the loader allows (a 'billion laughs' file).",
        "Write the data out instead of nesting aliases.",
    ),
    "EL004": ("duplicate-key", "The same key appears twice in one mapping.", "Keep one of them."),
    "EL005": (
        "unreadable-file",
        "A file cannot be read as a rule file: missing (a dangling link), a link loop, a FIFO, device or "
        "socket, larger than 1 MiB, or not UTF-8.",
        "Replace it with a regular YAML file, or remove it.",
    ),
    "EL006": (
        "too-deep",
        "YAML nested more than 64 levels, or a formula nested more than 32 brackets or longer than 2,000 characters.",
        "Flatten the data; split the formula into named facts.",
    ),
    "EL101": (
        "unknown-key",
        "A key that the format does not know (often a misspelling).",
        "Use the suggested key.",
    ),
    "EL102": ("missing-key", "A required key is absent.", "Add the key named in the message."),
    "EL103": (
        "bad-value",
        "A value has the wrong YAML type or is outside what the format allows.",
        "Write the value in the form the message names.",
    ),
    "EL104": ("bad-date", "A date is not a real calendar date in YYYY-MM-DD form.", "Write e.g. 2023-01-01."),
    "EL201": (
        "overlapping-versions",
        "Two versions of one rule are in force on the same day, or a version ends before it starts.",
        "Make the windows [from, until) follow one another without overlap.",
    ),
    "EL202": (
        "missing-citation",
        "A rule version or parameter value has no citation.",
        "Add `cite:` with a source key from rules/sources.yaml and the article or clause.",
    ),
    "EL203": (
        "unknown-source",
        "A citation names a source that rules/sources.yaml does not register.",
        "Register the document in rules/sources.yaml, or use the suggested key.",
    ),
    "EL204": (
        "unknown-fact",
        "A condition or formula names a fact or household field that does not exist.",
        "Declare the fact in facts.yaml, or use the suggested name.",
    ),
    "EL205": (
        "unknown-parameter",
        "A condition or formula names a parameter no pack in the chain declares.",
        "Declare the parameter under parameters/, or use the suggested name.",
    ),
    "EL206": ("duplicate-id", "Two rules, facts, parameters or packs share one id.", "Rename one of them."),
    "EL207": (
        "dependency-cycle",
        "Facts or rules depend on each other in a circle, so no order can evaluate them.",
        "Break the circle: one of them must not use the other.",
    ),
    "EL208": (
        "type-mismatch",
        "Two values of incompatible types are compared or combined (e.g. money with a yes/no value).",
        "Compare money with money, dates with dates, yes/no with true/false.",
    ),
    "EL209": ("expression-syntax", "A formula cannot be parsed.", "Fix the formula at the column shown."),
    "EL210": (
        "unknown-rule",
        "A condition or `replaces`/`disable` names a rule id that does not exist.",
        "Use the suggested id.",
    ),
    "EL211": (
        "unknown-function",
        "A formula calls a function the language does not have.",
        "Use one listed in docs/rule-files.md.",
    ),
    "EL212": (
        "unknown-pack",
        "`extends` names a pack that does not exist, or packs extend each other in a circle.",
        "Use the id of an existing pack.",
    ),
    "EL213": (
        "bad-enum-value",
        "A literal is compared with a coded field but is not one of the field's values.",
        "Use one of the values listed in the message (Chinese value or English code).",
    ),
    "EL214": (
        "unknown-code",
        "A conclusion names a category, risk, exclusion or review reason the vocabulary does not declare.",
        "Declare it in the national pack's vocabulary.yaml, or use the suggested code.",
    ),
    "EL215": (
        "unordered-values",
        "The dated values of a parameter are not in increasing date order, or two share a date.",
        "Sort the values by `from` date.",
    ),
    "EL216": (
        "bad-test",
        "A YAML rule test is malformed (no household, unknown expectation, bad date).",
        "Follow the test format in docs/rule-files.md.",
    ),
}


#: The Chinese side of :data:`CODES`: (title, cause, fix) per code, as ``docs/rule-files.md`` gives them.
#: Diagnostics print the title first (policy staff read Chinese first), and the rules site's page per
#: code shows cause and fix in both languages.
CODES_ZH: Final[dict[str, tuple[str, str, str]]] = {
    "EL001": (
        "YAML 语法错误",
        "文件不是合法的 YAML。",
        "按所示位置修正缩进或引号。",
    ),
    "EL002": (
        "禁止的 YAML 标签",
        "YAML 标签（`!!python/...`、`!foo`）要求构造对象。",
        "删除标签；规则文件只含纯数据。",
    ),
    "EL003": (
        "别名展开过多",
        "锚点与别名展开后节点过多。",
        "直接写出数据，不要嵌套别名。",
    ),
    "EL004": (
        "重复的键",
        "同一映射中出现两次相同的键。",
        "保留其中一个。",
    ),
    "EL005": (
        "无法读取的文件",
        "文件不能作为规则文件读取：不存在（悬空链接）、链接循环、FIFO、设备或套接字、大于 1 MiB，或不是 UTF-8。",
        "换成普通的 YAML 文件，或删除它。",
    ),
    "EL006": (
        "嵌套过深",
        "YAML 嵌套超过 64 层，或公式括号嵌套超过 32 层、长度超过 2,000 个字符。",
        "把数据展平；把公式拆成几个有名字的派生事实。",
    ),
    "EL101": (
        "未知的键",
        "格式中不存在的键（多为拼写错误）。",
        "使用提示的键名。",
    ),
    "EL102": (
        "缺少键",
        "缺少必需的键。",
        "补上信息中所列的键。",
    ),
    "EL103": (
        "取值有误",
        "值的类型或取值不符合格式。",
        "按信息所述的形式填写。",
    ),
    "EL104": (
        "日期有误",
        "日期不是 YYYY-MM-DD 形式的真实日期。",
        "例如写 2023-01-01。",
    ),
    "EL201": (
        "版本时间重叠",
        "同一规则的两个版本在同一天生效，或版本结束早于开始。",
        "使各版本的 [from, until) 首尾相接、互不重叠。",
    ),
    "EL202": (
        "缺少出处",
        "规则版本或参数值没有引用出处。",
        "添加 `cite:`，写明 sources.yaml 中的来源和条款。",
    ),
    "EL203": (
        "未登记的来源",
        "引用的来源未在 rules/sources.yaml 登记。",
        "在 sources.yaml 登记该文件，或使用提示的键。",
    ),
    "EL204": (
        "未知的事实",
        "条件或公式引用了不存在的事实或农户字段。",
        "在 facts.yaml 中声明，或使用提示的名称。",
    ),
    "EL205": (
        "未知的参数",
        "条件或公式引用了继承链中没有声明的参数。",
        "在 parameters/ 中声明，或使用提示的名称。",
    ),
    "EL206": (
        "编号重复",
        "两条规则、事实、参数或规则包使用了同一编号。",
        "重命名其中一个。",
    ),
    "EL207": (
        "循环依赖",
        "事实或规则相互依赖成环，无法确定计算顺序。",
        "打破循环：其中一个不得引用另一个。",
    ),
    "EL208": (
        "类型不相容",
        "比较或运算的两个值类型不相容（如金额与是/否）。",
        "金额与金额比较，日期与日期比较，是/否与 true/false 比较。",
    ),
    "EL209": (
        "公式语法错误",
        "公式无法解析。",
        "按所示列号修正公式。",
    ),
    "EL210": (
        "未知的规则",
        "条件或 `replaces`/`disable` 引用了不存在的规则编号。",
        "使用提示的编号。",
    ),
    "EL211": (
        "未知的函数",
        "公式调用了语言中没有的函数。",
        "使用 docs/rule-files.md 所列函数。",
    ),
    "EL212": (
        "未知的规则包",
        "`extends` 指向不存在的规则包，或规则包相互继承成环。",
        "使用已有规则包的编号。",
    ),
    "EL213": (
        "编码取值有误",
        "与编码字段比较的常量不是该字段的取值。",
        "使用信息中所列的取值（中文值或英文代码）。",
    ),
    "EL214": (
        "未知的结论代码",
        "结论中的类别、风险、比对线索或研判事项代码未在词表中声明。",
        "在全国包 vocabulary.yaml 中声明，或使用提示的代码。",
    ),
    "EL215": (
        "参数值未按日期排序",
        "参数的各个值没有按日期递增，或两个值日期相同。",
        "按 `from` 日期排序。",
    ),
    "EL216": (
        "测试用例格式有误",
        "YAML 规则测试格式有误（缺少农户、未知的期望、日期错误）。",
        "按 docs/rule-files.md 的测试格式填写。",
    ),
}


def did_you_mean(hint: str) -> str:
    """The Chinese side of a `` (did you mean `x`?)`` hint (:func:`eligibility.expressions.suggest`)."""
    return f"（是否应为 `{hint.split('`')[1]}`？）" if hint.count("`") >= 2 else ""


def bilingual(zh: str, en: str, hint: str = "") -> str:
    """A diagnostic message: Chinese first (policy staff read it first), English beside; a "did you
    mean" hint goes on both sides, so either reader gets the suggested name."""
    return f"{zh}{did_you_mean(hint)} / {en}{hint}"


_TYPE_ZH: Final[dict[str, str]] = {
    "yes/no": "是/否",
    "bool": "是/否",
    "number": "数值",
    "integer": "整数",
    "money": "金额",
    "date": "日期",
    "text": "文本",
    "set": "多值字段",
    "list": "列表",
    "collection": "集合",
    "mapping": "映射",
    "category": "类别",
    "risk": "风险",
    "risk_type": "风险类型",
    "exclusion": "比对线索",
    "review": "研判事项",
    "measure": "帮扶措施",
    "gap": "措施缺口",
    "exit_blocker": "风险消除阻断项",
    "exit_method": "风险消除方式",
    "finding": "程序问题",
    "warning": "预警",
    "layer": "社会救助分层",
    "term": "方案用语",
    "channel": "线索渠道",
}


def type_zh(name: str) -> str:
    """The Chinese name of a value type (``Type.describe()``, a parameter type) or conclusion kind."""
    return _TYPE_ZH.get(name, name)


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in a rule file, printable as ``path:line:col: CODE message``."""

    location: SourceLocation
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.code} {self.message}"


class EligibilityError(Exception):
    """Base class of every error ``eligibility`` raises on purpose."""


class RuleFileError(EligibilityError):
    """Rule files have problems; ``diagnostics`` lists every one found in a single pass."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


@dataclass(frozen=True)
class FieldError:
    """One bad field of a household: its JSON path (``$.members[0].birth_date``), a code, a message."""

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"


class HouseholdError(EligibilityError):
    """A household record does not validate; ``errors`` names the JSON path of each bad field."""

    def __init__(self, errors: list[FieldError], household_id: str | None = None) -> None:
        self.errors = errors
        self.household_id = household_id
        head = f"户 {household_id} 数据有误 / invalid household" if household_id else "户数据有误 / invalid household"
        super().__init__(head + ":\n" + "\n".join(f"  {e}" for e in errors))


class EvaluationError(EligibilityError):
    """The rules cannot decide this household on this date (as opposed to deciding 'unknown')."""


class NoPackError(EvaluationError):
    """No rule pack covers the household's region code."""


class MissingParameterError(EvaluationError):
    """A parameter has no value in the household's jurisdiction on the assessment date.

    Raised instead of falling back to a default, because an invented monitoring line would silently
    misclassify households (policy.md §2.2: fail loudly when a value is missing).
    """

    def __init__(self, parameter: str, label_zh: str, jurisdiction: str, on: str) -> None:
        self.parameter = parameter
        self.jurisdiction = jurisdiction
        self.on = on
        year = on[:4]
        super().__init__(
            f"{jurisdiction} {year}年（评估日期 {on}）没有参数「{label_zh}」({parameter}) 的取值，无法评估 / "
            f"no value of parameter {parameter} for {jurisdiction} in {year} (assessment date {on})"
        )


class BatchWorkerError(EligibilityError):
    """A worker process of a batch run (``run_batch(workers=...)``, ``eligibility batch``) ended before its
    part was done: killed, out of memory, or started from a script whose ``run_batch`` call is not under
    ``if __name__ == "__main__":`` (workers start with ``spawn``, which runs the script's top level again).
    The parts recorded before it stay on disk, so the run resumes where it stopped."""

    def __init__(self) -> None:
        super().__init__(
            "批量评估的工作进程意外退出：已完成的部分都已保存，用 --resume（resume=True）继续；"
            '从脚本调用 run_batch(workers=…) 时，调用须写在 if __name__ == "__main__": 之下'
            "（工作进程以 spawn 启动，会再运行一次脚本），或改用 workers=1 / "
            "a worker process of the batch ended unexpectedly: the parts done are saved and --resume (resume=True) "
            "continues the run; a script calling run_batch(workers=...) must make the call under "
            'if __name__ == "__main__": (workers start with spawn, which runs the script again), or use workers=1'
        )


class EngineUnavailableError(EligibilityError):
    """An engine was requested that cannot run on this installation."""


class InternalError(EligibilityError):
    """A failure inside eligibility or a dependency that is not the user's fault: please report it."""


class EngineDisagreementError(InternalError):
    """The compiled evaluator and durable-rules reached different outcomes for the same household.

    Never shown as a decision: a rule set whose two independent engines disagree cannot be trusted for
    this household, and the message names the rules and the input digest so the case can be replayed.
    """

    def __init__(self, differences: dict[str, tuple[str, str]], input_digest: str) -> None:
        self.differences = differences
        self.input_digest = input_digest
        detail = "; ".join(f"{rid}: compiled {a}, durable-rules {b}" for rid, (a, b) in sorted(differences.items()))
        super().__init__(f"引擎结论不一致 / engines disagree for input {input_digest}: {detail}")


# ------------------------------------------------------------------ diagnostics shown with their source

_FULLWIDTH: Final[dict[str, tuple[str, str]]] = {
    "：": (
        ":",
        "全角冒号「：」：YAML 的键后须用半角冒号加空格 / full-width colon: YAML needs ': ' (ASCII colon, space)",
    ),
    "，": (",", "全角逗号「，」：列表和映射中须用半角逗号 / full-width comma: lists and mappings need an ASCII ','"),
    "\u3000": (" ", "全角空格：缩进和分隔须用半角空格 / full-width space: indent and separate with ASCII spaces"),
    "“": ('"', "全角引号「“”」：YAML 字符串须用半角引号 / full-width quotes: quote YAML strings with ASCII quotes"),
    "”": ('"', "全角引号「“”」：YAML 字符串须用半角引号 / full-width quotes: quote YAML strings with ASCII quotes"),
}


def punctuation_hints(line: str) -> list[str]:
    """Hints for full-width punctuation and tabs that YAML reads as text or rejects.

    Chinese labels legitimately contain ``：`` and ``，``, so a full-width mark counts only where YAML
    syntax is expected: next to ASCII letters, digits or brackets (``value：8000``, ``[a，b]``), or in the
    indentation. A tab anywhere in the indentation is always wrong (YAML forbids tabs there).
    """
    hints: list[str] = []
    body = line.split(" #", 1)[0]
    indent = body[: len(body) - len(body.lstrip(" \t\u3000"))]
    if "\t" in indent or "\t" in body.strip():
        hints.append("制表符：YAML 缩进须用空格 / tab: YAML indents with spaces, never tabs")
    for i, ch in enumerate(body):
        if ch not in _FULLWIDTH:
            continue
        before = body[i - 1] if i else " "
        after = body[i + 1] if i + 1 < len(body) else " "
        syntactic = ch in indent or any(c.isascii() and (c.isalnum() or c in "[]{}_-'\"") for c in (before, after))
        hint = _FULLWIDTH[ch][1]
        if syntactic and hint not in hints:
            hints.append(hint)
    return hints


def _width(text: str) -> int:
    """Terminal columns of ``text``: CJK wide and full-width characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def render_diagnostic(d: Diagnostic, source: str | None = None) -> str:
    """A diagnostic as a linter shows it: the ``path:line:col: CODE message`` line, then the offending
    source line with a caret under the column labelled with the code's title (Chinese first), then any
    punctuation hints.

    ``source`` is the file's text; when omitted the file is read from ``d.location.path`` (and the
    source part is left out if it cannot be read).
    """
    title = CODES_ZH.get(d.code, ("", "", ""))[0]
    name = CODES.get(d.code, ("",))[0]
    head = str(d)  # the linter line stays as it is, for editors and scripts that parse it
    if source is None:
        try:
            with open(d.location.path, encoding="utf-8") as f:
                source = f.read()
        except (OSError, UnicodeDecodeError):
            return head
    lines = source.splitlines()
    if not 1 <= d.location.line <= len(lines):
        return head
    text = lines[d.location.line - 1]
    shown = text.replace("\t", "    ")
    gutter = str(d.location.line)
    pad = " " * len(gutter)
    caret = " " * _width(text[: max(d.location.col - 1, 0)].replace("\t", "    ")) + "^"
    if title:
        caret += f" {title} / {name}"
    out = [head, f"{pad} |", f"{gutter} | {shown}", f"{pad} | {caret}"]
    out += [f"{pad} = 提示 / hint: {h}" for h in punctuation_hints(text)]
    if d.code == "EL001" and d.location.line > 1:
        # The YAML parser often notices a full-width colon only on the line after it.
        prev = d.location.line - 1
        out += [f"{pad} = 提示 / hint: 第 {prev} 行 / line {prev}: {h}" for h in punctuation_hints(lines[prev - 1])]
    return "\n".join(out)
