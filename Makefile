# Two commands work on a fresh machine: `make demo` and `make test` (each creates .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AS_OF ?= 2023-09-30

.PHONY: demo test lint typecheck pytest proptest bench clean

$(BIN)/eligibility: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/eligibility
	$(BIN)/eligibility lint rules
	$(BIN)/eligibility evaluate examples/households --as-of $(AS_OF) --summary

lint: $(BIN)/eligibility
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(BIN)/eligibility
	$(BIN)/mypy --strict src/eligibility

pytest: $(BIN)/eligibility
	$(BIN)/pytest

test: lint typecheck pytest

# Many more generated examples than `make test` (Hypothesis profile "thorough"; several minutes).
proptest: $(BIN)/eligibility
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest tests/property tests/test_differential.py

bench: $(BIN)/eligibility
	$(BIN)/python benchmarks/bench_compiled.py
	$(BIN)/python benchmarks/bench_parse.py
	$(BIN)/python benchmarks/bench_engines.py
	$(BIN)/python benchmarks/bench_batch_target.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis

# The fuzz suite of issue 13 with many more corrupted households and rule-file mutants than `make test`
# runs (tens of minutes); the counts it reached are printed at the end.
.PHONY: fuzz
fuzz: $(BIN)/eligibility
	ELIGIBILITY_FUZZ_EXAMPLES=2000 $(BIN)/pytest tests/fuzz -p no:cacheprovider
