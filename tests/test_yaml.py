"""Safe YAML with positions: no object construction, bounded aliases, exact decimals."""

from __future__ import annotations

from decimal import Decimal

from eligibility._yaml import read_yaml


def test_positions_of_values_and_keys() -> None:
    doc, diags = read_yaml("a:\n  b: [1, 2]\n  c: x\n", "f.yaml")
    assert not diags and doc is not None
    assert str(doc.loc(("a", "b", 1))) == "f.yaml:2:10"
    assert str(doc.loc(("a", "c"), key=True)) == "f.yaml:3:3"


def test_python_tags_are_refused_not_constructed() -> None:
    _, diags = read_yaml("x: !!python/object/apply:os.system ['echo hi']\n", "f.yaml")
    assert [str(d) for d in diags] == [
        "f.yaml:1:4: EL002 规则文件中不允许 YAML 标签 `tag:yaml.org,2002:python/object/apply:os.system` / YAML tag `tag:yaml.org,2002:python/object/apply:os.system` is not allowed in rule files"
    ]


def test_alias_expansion_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    _, diags = read_yaml("\n".join(lines) + "\n", "bomb.yaml")
    assert [d.code for d in diags] == ["EL003"]


def test_duplicate_keys_and_merge_keys_are_diagnostics() -> None:
    _, diags = read_yaml("a: 1\na: 2\nb: &x {c: 1}\nd: {<<: *x}\n", "f.yaml")
    assert [(d.location.line, d.code) for d in diags] == [(2, "EL004"), (4, "EL002")]


def test_numbers_with_a_fraction_are_decimals_and_dates_stay_text() -> None:
    doc, _ = read_yaml("a: 7899.99\nb: 2023-02-30\nc: 12\nd: true\n", "f.yaml")
    assert doc is not None
    assert doc.data == {"a": Decimal("7899.99"), "b": "2023-02-30", "c": 12, "d": True}


def test_syntax_error_has_a_position() -> None:
    _, diags = read_yaml("a: [1, 2\nb: 3\n", "f.yaml")
    assert len(diags) == 1 and diags[0].code == "EL001" and diags[0].location.line >= 2
