"""Safe YAML reading that remembers where every node came from.

PyYAML's composer gives each node — scalars included — its start line and column without building
any Python object, so no tag can construct one. We convert the node graph to plain data ourselves:

* only the standard scalar tags are accepted (a ``!!python/...`` or custom tag is a diagnostic);
* alias expansion is bounded, so a "billion laughs" file costs a diagnostic, not the machine;
* numbers with a fraction become :class:`~decimal.Decimal` (``7899.99`` must stay exactly 7899.99);
* dates stay strings, so the schema layer reports a bad date (``2023-02-30``) with its position;
* every value's location is recorded under its path (``("rules", 0, "versions", 1, "from")``), and
  every mapping key's location under the path plus the marker :data:`KEY`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Final

import yaml

from .errors import Diagnostic, SourceLocation

__all__ = ["KEY", "MAX_NODES", "Located", "read_yaml"]

# libyaml is much faster and keeps marks just as well; PyYAML built without it has only SafeLoader.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

KEY: Final = "<key>"
MAX_NODES: Final = 200_000
"""Upper bound on nodes after alias expansion; far above any real rule file."""
MAX_DEPTH: Final = 64
"""Deepest nesting of mappings and lists; the rule-file format needs about ten."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"

Path = tuple[Any, ...]


class Located:
    """Plain data read from one YAML file plus the location of every node in it."""

    def __init__(self, path: str, data: Any, locations: dict[Path, SourceLocation]) -> None:
        self.path = path
        self.data = data
        self.locations = locations

    def loc(self, path: Path, *, key: bool = False) -> SourceLocation:
        """The location of the node at ``path`` (or of its key); the nearest ancestor if absent."""
        key_path = (*path, KEY)
        if key and key_path in self.locations:
            return self.locations[key_path]
        p = tuple(path)
        while p:
            if p in self.locations:
                return self.locations[p]
            p = p[:-1]
        return self.locations.get((), SourceLocation(self.path, 1, 1))


class _Converter:
    def __init__(self, path: str) -> None:
        self.path = path
        self.locations: dict[Path, SourceLocation] = {}
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.too_big = False
        self.too_deep = False
        self._bool = yaml.constructor.SafeConstructor.bool_values

    def where(self, node: yaml.Node) -> SourceLocation:
        return SourceLocation(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if len(path) > MAX_DEPTH:
            if not self.too_deep:
                self.too_deep = True
                self.diagnostics.append(
                    Diagnostic(
                        self.where(node), "EL006", f"嵌套超过 {MAX_DEPTH} 层 / nested deeper than {MAX_DEPTH} levels"
                    )
                )
            return None
        if self.count > MAX_NODES:
            if not self.too_big:
                self.too_big = True
                self.diagnostics.append(
                    Diagnostic(
                        self.where(node),
                        "EL003",
                        f"别名展开后超过 {MAX_NODES} 个节点 / more than {MAX_NODES} nodes after alias expansion",
                    )
                )
            return None
        self.locations[path] = self.where(node)
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                self._forbidden(node)
            out: dict[Any, Any] = {}
            for knode, vnode in node.value:
                if isinstance(knode, yaml.ScalarNode) and knode.value == "<<":
                    self.diagnostics.append(
                        Diagnostic(
                            self.where(knode),
                            "EL002",
                            "不允许合并键（<<），请直接写出各键 / merge keys (<<) are not allowed; write the keys out",
                        )
                    )
                    continue
                key = self._scalar(knode) if isinstance(knode, yaml.ScalarNode) else None
                if not isinstance(key, str | int) or isinstance(key, bool):
                    self.diagnostics.append(
                        Diagnostic(self.where(knode), "EL103", "映射的键须为纯文本 / mapping keys must be plain text")
                    )
                    continue
                key = str(key)
                if key in out:
                    self.diagnostics.append(
                        Diagnostic(self.where(knode), "EL004", f"重复的键 `{key}` / duplicate key `{key}`")
                    )
                    continue
                key_path = (*path, key, KEY)
                self.locations[key_path] = self.where(knode)
                out[key] = self.convert(vnode, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                self._forbidden(node)
            return [self.convert(child, (*path, i)) for i, child in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return self._scalar(node)

    def _forbidden(self, node: yaml.Node) -> None:
        self.diagnostics.append(
            Diagnostic(
                self.where(node),
                "EL002",
                f"规则文件中不允许 YAML 标签 `{node.tag}` / YAML tag `{node.tag}` is not allowed in rule files",
            )
        )

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag, text = node.tag, node.value
        if tag in (_STR, _TIMESTAMP):
            return text
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return self._bool.get(text.lower(), text)
        if tag == _INT:
            try:
                return int(text.replace("_", ""), 0) if not text.lstrip("+-").isdigit() else int(text)
            except ValueError:
                return text
        if tag == _FLOAT:
            try:
                return Decimal(text.replace("_", ""))
            except InvalidOperation:
                return text
        self._forbidden(node)
        return text


def read_yaml(text: str, path: str) -> tuple[Located | None, list[Diagnostic]]:
    """Parse ``text`` (the contents of ``path``) into :class:`Located` data and diagnostics."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except RecursionError:  # PyYAML's composer recurses once per level: hundreds of levels exhaust the stack
        return None, [
            Diagnostic(
                SourceLocation(path, 1, 1), "EL006", f"嵌套超过 {MAX_DEPTH} 层 / nested deeper than {MAX_DEPTH} levels"
            )
        ]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLocation(path, mark.line + 1, mark.column + 1) if mark else SourceLocation(path, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [Diagnostic(loc, "EL001", f"YAML 语法错误 / YAML syntax: {problem}")]
    except yaml.YAMLError as exc:
        return None, [Diagnostic(SourceLocation(path, 1, 1), "EL001", f"YAML 语法错误 / YAML syntax: {exc}")]
    if node is None:
        return Located(path, None, {(): SourceLocation(path, 1, 1)}), []
    conv = _Converter(path)
    data = conv.convert(node, ())
    return Located(path, data, conv.locations), conv.diagnostics
