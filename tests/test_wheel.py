"""The bundled rules travel inside the wheel: an installed package (not a checkout) can evaluate."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("eligibility-*.whl"))


def test_wheel_contains_rules_and_typing_marker(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "eligibility/py.typed" in names
    assert "eligibility/_rules/sources.yaml" in names
    assert "eligibility/_rules/national/identification/income.yaml" in names
    assert "eligibility/_rules/gansu/parameters/income.yaml" in names


def test_installed_wheel_evaluates_with_its_own_rules(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    example = ROOT / "examples" / "households" / "01-huaibei-marginal.json"
    code = (
        "import eligibility, sys;"
        "p = eligibility.bundled_rules_path();"
        f"assert str(p).startswith({str(site)!r}), p;"
        f"d = eligibility.Engine().evaluate(open({str(example)!r}, encoding='utf-8').read(), '2023-09-30');"
        "print(d.identification.status, d.identification.category.code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "identified marginal"


def test_default_install_needs_no_c_compiler(wheel: Path) -> None:
    """durable-rules (which compiles C on every install) is only the extra ``eligibility[durable]``:
    the wheel's own dependencies are pure Python."""
    meta = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    requires = [
        line.split(":", 1)[1].strip()
        for line in zipfile.ZipFile(wheel).read(meta).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    durable = [r for r in requires if r.lower().startswith("durable-rules")]
    assert durable and all("extra ==" in r for r in durable), requires
    base = [r for r in requires if "extra ==" not in r]
    assert sorted(r.split(">")[0].split("<")[0].split("=")[0].strip().lower() for r in base) == [
        "jiter",  # exact JSON (issue 13): prebuilt Rust wheels like pydantic-core's, no compiler
        "pydantic",
        "python-dateutil",
        "pyyaml",
    ]
