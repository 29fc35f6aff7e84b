"""Golden files: every example's ``eligibility evaluate`` JSON and ``explain`` text (zh, en), byte for byte.

They were pinned from the reference interpreter before the compiled evaluator replaced it (issue 9), so a
change of any decision, trace or explanation of an example shows here as a diff. Regenerate deliberately
with ``ELIGIBILITY_REGEN_GOLDEN=1 pytest tests/test_golden.py`` and review the diff before committing.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from eligibility.cli import main

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "households"
GOLDEN = Path(__file__).resolve().parent / "golden"
AS_OF = "2023-09-30"
NAMES = sorted(p.stem for p in EX.glob("*.json"))


def _run(argv: list[str]) -> str:
    out = io.StringIO()
    main(argv, out=out)
    # Paths in the output are the example's relative path, whatever the working directory is.
    return out.getvalue().replace(str(ROOT) + os.sep, "")


def _check(path: Path, text: str) -> None:
    if os.environ.get("ELIGIBILITY_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {path.name}: run with ELIGIBILITY_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} differs from its golden file"


@pytest.mark.parametrize("name", NAMES)
def test_evaluate_output_is_unchanged(name: str) -> None:
    _check(GOLDEN / f"{name}.evaluate.json", _run(["evaluate", str(EX / f"{name}.json"), "--as-of", AS_OF]))


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("name", NAMES)
def test_explain_output_is_unchanged(name: str, lang: str) -> None:
    text = _run(["explain", str(EX / f"{name}.json"), "--as-of", AS_OF, "--lang", lang])
    _check(GOLDEN / f"{name}.explain.{lang}.txt", text)
