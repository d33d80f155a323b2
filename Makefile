# Two commands on a fresh Debian machine, as root: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Debian packages vtui needs to build and run (libvirt-python compiles against libvirt-dev).
BUILD_DEBS := libvirt-dev pkg-config gcc python3-dev python3-venv

.PHONY: run test test-fast lint testbed testbed-down clean

# compileall: vtui's bytecode, which Python does not write where PYTHONDONTWRITEBYTECODE is set (0.1 s a start)
run: $(STAMP)
	@$(PY) -m compileall -q vtui >/dev/null
	$(VENV)/bin/vtui $(ARGS)

test: $(STAMP)
	scripts/testbed.sh up
	$(PY) -m pytest -q $(PYTEST_ARGS)
	$(MAKE) --no-print-directory lint

# The tests that need no engine (no test bed): about 30 s.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m 'not engines' $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check vtui tests $(wildcard bench)
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

testbed:
	scripts/testbed.sh up

testbed-down:
	scripts/testbed.sh down

$(STAMP): pyproject.toml
	scripts/install-debs.sh $(BUILD_DEBS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info .mypy_cache .ruff_cache .pytest_cache
.PHONY: bench  # bench/ is also a directory: always run the benchmark (ARGS="--quick" for a smoke run)
BENCHES := startup stats console hosts links labs
# Every benchmark runs whole, even after one misses its target; make bench then fails, naming which missed.
bench: $(STAMP)
	scripts/testbed.sh up
	@missed=""; for b in $(BENCHES); do $(PY) bench/$${b}_bench.py $(ARGS) || missed="$$missed $$b"; done; \
	if [ -n "$$missed" ]; then echo "bench: missed a target or failed:$$missed"; exit 1; fi
