"""A new process builds only what its first decision uses (session 18, cold) — and what it put off works.

The output models (``decision.py``) are built on first use (``defer_build``), the derived Household
validators (``models._FAST``, ``_FAST_DICT``, ``_EXACT``) on the first parse that needs each, and the
manifest's type adapters on the first full-trace model. Each test runs in a fresh interpreter, because in
the test process itself earlier tests have long since built everything: only a new process shows what is
built at import and that each first use — a validation, a schema, an error report, a full-trace JSON, in
several threads at once — gives what an eagerly built model gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from eligibility import Engine, HouseholdError, parse_household
from eligibility.decision import Decision
from eligibility.models import Household

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "households"
GOLDEN = Path(__file__).resolve().parent / "golden"
AS_OF = "2023-09-30"
MARGINAL = EXAMPLES / "01-huaibei-marginal.json"


def _fresh(code: str, *args: str) -> Any:
    """Run ``code`` in a new interpreter (this checkout's package, the test's cache folder); its last
    stdout line is JSON."""
    src = str(ROOT / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


BUILT = """
    import json, sys
    import eligibility
    from eligibility import decision, models

    def built():
        return sorted(n for n in decision.__all__ if getattr(decision, n).__pydantic_complete__)

    def derived():
        return sorted(n for n in ("_FAST", "_FAST_DICT", "_EXACT") if n in vars(models))

    steps = {"import": [built(), derived()]}
    engine = eligibility.Engine()
    h = eligibility.parse_household(open(sys.argv[1], encoding="utf-8").read())
    steps["parse text"] = [built(), derived()]
    d = engine.evaluate(h, sys.argv[2], trace="compact")
    d.to_json()
    steps["compact decision and its JSON"] = [built(), derived()]
    print(json.dumps(steps))
"""


def test_a_new_process_builds_only_what_its_first_decision_uses() -> None:
    steps = _fresh(BUILT, str(MARGINAL), AS_OF)
    # At import: the two output models whose empty defaults ``Decision`` holds, no derived validator.
    assert steps["import"] == [["Assistance", "Exit"], []]
    # A JSON text takes the fast validator alone.
    assert steps["parse text"] == [["Assistance", "Exit"], ["_FAST"]]
    # The engine makes its models without validation and writes the compact JSON without pydantic;
    # only the scheme is validated (once per program).
    assert steps["compact decision and its JSON"] == [["Assistance", "Exit", "Scheme"], ["_FAST"]]


FIRST_USES = """
    import io, json, os, sys
    from eligibility.cli import main

    out = io.StringIO()
    main(["evaluate", sys.argv[1], "--as-of", sys.argv[2]], out=out)  # a full trace's JSON, first thing
    text = out.getvalue()
    from eligibility.decision import Decision, Trace
    from eligibility.models import Household
    again = Decision.model_validate_json(text)
    print(json.dumps({
        "evaluate": text,
        "round trip": again.model_dump(mode="json"),
        "decision schema": Decision.model_json_schema(),
        "trace schema": Trace.model_json_schema(),
        "household schema": Household.model_json_schema(),
    }))
"""

SCHEMAS_FIRST = """
    import json
    from eligibility.decision import Decision, Trace
    from eligibility.models import Household
    print(json.dumps({
        "decision schema": Decision.model_json_schema(),
        "trace schema": Trace.model_json_schema(),
        "household schema": Household.model_json_schema(),
    }))
"""


def test_deferred_output_models_serialise_validate_and_describe_themselves_on_first_use() -> None:
    """The first full-trace JSON of a new process is the golden file's; that JSON validates back into an
    equal decision; the JSON schemas are those of a process that asked for them before anything else."""
    got = _fresh(FIRST_USES, str(MARGINAL), AS_OF)
    golden = (GOLDEN / "01-huaibei-marginal.evaluate.json").read_text(encoding="utf-8")
    assert got["evaluate"].replace(str(ROOT) + os.sep, "") == golden
    assert got["round trip"] == Decision.model_validate_json(got["evaluate"]).model_dump(mode="json")
    assert got["round trip"]["trace"]["rules"], "a full trace with its rules"
    schemas_first = _fresh(SCHEMAS_FIRST)
    for name in ("decision schema", "trace schema", "household schema"):
        assert got[name] == schemas_first[name]
    assert got["decision schema"] == Decision.model_json_schema()


THREADS = """
    import json, sys, threading
    from eligibility import HouseholdError, models
    from eligibility.models import Household, household_from_json, loads_json, parse_household

    text = open(sys.argv[1], encoding="utf-8").read()
    data = json.loads(text)
    bad = dict(data, region="x", members=[dict(data["members"][0], birth_date="1900-13-01", labour="不存在")])
    barrier = threading.Barrier(8)
    results, errors = [], []

    def work():
        barrier.wait()  # every thread makes its first use at once
        got = [parse_household(text), parse_household(data), household_from_json(loads_json(text))]
        results.append([h.model_dump_json() for h in got])
        for record in (bad, json.dumps(bad, ensure_ascii=False)):
            try:
                parse_household(record)
            except HouseholdError as exc:
                errors.append(sorted(e.path for e in exc.errors))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    complete = all(cls.__pydantic_complete__ for cls in models._SUBMODELS)
    print(json.dumps({"results": results, "errors": errors, "complete": complete,
                      "derived": sorted(n for n in ("_FAST", "_FAST_DICT", "_EXACT") if n in vars(models))}))
"""


def test_derived_validators_built_on_first_use_in_many_threads_at_once() -> None:
    """Eight threads' first parses (text, dict, the exact path, and records with errors) build the derived
    validators while the others validate: every result is the models' own, every error report names
    every bad field, and the models are left marked complete."""
    got = _fresh(THREADS, str(MARGINAL))
    text = MARGINAL.read_text(encoding="utf-8")
    want = Household.model_validate(json.loads(text)).model_dump_json()
    assert got["results"] == [[want] * 3] * 8
    assert got["derived"] == ["_EXACT", "_FAST", "_FAST_DICT"]
    assert got["complete"]
    data = json.loads(text)
    bad = dict(data, region="x", members=[dict(data["members"][0], birth_date="1900-13-01", labour="不存在")])
    expected = []
    for record in (bad, json.dumps(bad, ensure_ascii=False)):
        try:
            parse_household(record)
        except HouseholdError as exc:
            expected.append(sorted(e.path for e in exc.errors))
    assert len(expected) == 2 and all(len(paths) == 3 for paths in expected), expected
    assert sorted(got["errors"]) == sorted(expected * 8)


def test_the_derived_validators_are_module_attributes_as_before() -> None:
    """``models._FAST`` and the others are still there to read (benchmarks and tests read them)."""
    from eligibility import models

    for name in ("_FAST", "_FAST_DICT", "_EXACT"):
        assert getattr(models, name) is getattr(models, name)
    text = MARGINAL.read_text(encoding="utf-8")
    assert models._FAST.validate_json(text) == parse_household(text)
    assert Engine().evaluate(parse_household(text), AS_OF).identification.status
