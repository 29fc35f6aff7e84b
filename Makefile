# Two commands work on a fresh machine: `make demo` and `make test` (each creates .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AS_OF ?= 2023-09-30

.PHONY: demo test lint typecheck pytest proptest bench bench-stream clean

$(BIN)/eligibility: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The package's bytecode, as `pip install` writes it: a machine that sets PYTHONDONTWRITEBYTECODE otherwise
# recompiles src/ in every new process (~100 ms each: the CLI, the tests' subprocesses, the cold start).
BYTECODE := $(BIN)/python -m compileall -q src/eligibility

demo: $(BIN)/eligibility
	$(BYTECODE)
	$(BIN)/eligibility lint rules
	$(BIN)/eligibility evaluate examples/households --as-of $(AS_OF) --summary --gaps-ok

lint: $(BIN)/eligibility
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(BIN)/eligibility
	$(BIN)/mypy --strict src/eligibility

# The suite on every core, up to four processes (pytest-xdist; CI has two cores): one process took ~17 min
# of CI, over its ~15-minute budget. PYTEST_WORKERS=0 runs it in this process (for a debugger or -x).
PYTEST_WORKERS ?= auto
pytest: $(BIN)/eligibility
	$(BYTECODE)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses=4 --dist worksteal

test: lint typecheck pytest

# Many more generated examples than `make test` (Hypothesis profile "thorough": 2,000 an ordinary property,
# 400 a population property, ELIGIBILITY_PROPTEST_POPULATIONS to change that), on every core like `make
# pytest`. Measured time and memory: docs/strategies.md.
proptest: $(BIN)/eligibility
	$(BYTECODE)
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses=4 --dist worksteal \
		tests/property tests/test_differential.py tests/test_members.py tests/test_policy_content.py

bench: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_compiled.py
	$(BIN)/python benchmarks/bench_parse.py
	$(BIN)/python benchmarks/bench_engines.py
	$(BIN)/python benchmarks/bench_batch_target.py
	$(BIN)/python benchmarks/bench_batch.py

# The 10,000,000-household streaming run of issue 10 §7 (generated into a temporary folder, deleted after).
bench-stream: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_batch.py --n 1000000 --repeat 1 --stream 10000000

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# What-if speed (issue 15): eligibility diff beside the batch path it is built on, in one run.
.PHONY: bench-whatif
bench-whatif: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_whatif.py

# The HTTP service on 127.0.0.1: latency at 500 requests/s, the most requests/s, batch vs the CLI (a few minutes).
.PHONY: bench-service
bench-service: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_service.py

# The monthly routine at 淮北's scale (issue 14 §6): 350,000 generated households, 12 months on SQLite.
# Long (well over 10 minutes on 2 cores); `benchmarks/bench_monitor.py 20000 --history 3` for a quick look.
.PHONY: bench-monitor
bench-monitor: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_monitor.py

# CPU time per stage of the routine's months 1 and 2 at 100,000 households (a few minutes).
.PHONY: bench-monitor-stages
bench-monitor-stages: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_monitor_stages.py

# The fuzz suite of issue 13 with many more corrupted households and rule-file mutants than `make test`
# runs (tens of minutes); the counts it reached are printed at the end.
.PHONY: fuzz
fuzz: $(BIN)/eligibility
	ELIGIBILITY_FUZZ_EXAMPLES=2000 $(BIN)/pytest tests/fuzz -p no:cacheprovider

# A JSON Lines batch end to end under /usr/bin/time -v (issue 10 §5): households/s and max RSS at
# 100,000 and 1,000,000 households (generated into a temporary folder, deleted after; long).
.PHONY: bench-jsonl
bench-jsonl: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_batch_jsonl.py

# A CSV batch read whole against read in parts (issue 10 §5): time and peak RSS side by side, 300,000
# generated households (into a temporary folder, deleted after).
.PHONY: bench-csv
bench-csv: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_batch_csv.py

# The generated programs alone beside the hand loop (issue 9, docs/codegen.md); BEFORE=<dir holding another
# revision's eligibility package, e.g. from `git archive main src`> times that revision's programs in the same run.
.PHONY: bench-codegen
bench-codegen: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_codegen.py $(if $(BEFORE),--before $(BEFORE))

# The "Done when" checks of issue 13 as a new user runs them (docs/issue13-audit.md): 2,000 and 10,000
# households with 1% corrupted lines through evaluate --jsonl (counts, order, exit 1, peak RSS), and the
# same bytes under two hash seeds from evaluate, batch and the HTTP service (several minutes).
.PHONY: contract
contract: $(BIN)/eligibility
	$(BIN)/python benchmarks/contract_run.py

# Full-trace JSON on households the engine has never seen, this checkout beside main in alternating
# processes (issue 9 §5; a few minutes), and `--check N` for byte sameness with main.
.PHONY: bench-full-trace
bench-full-trace: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_full_trace.py

# Instructions per household (valgrind's callgrind) beside the plain-Python baseline's (issue 9 §5): the
# load-independent figure to steer by on a shared machine; SRC="a/src b/src" compares trees (needs valgrind).
.PHONY: bench-instructions
bench-instructions: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_instructions.py $(foreach s,$(SRC),--src $(s))
