# Every target builds .venv first if it is missing, so a fresh clone needs only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo installs only what a run needs (no test tools), quietly: pip's chatter goes to
# a log that is shown only when the install fails. A full install (STAMP) includes it.
RUNTIME_STAMP := $(VENV)/.runtime-installed
PIP_LOG := $(VENV)/pip-install.log
# make demo MANIFEST=jobs/mixed.yaml runs every image API side by side, offline.
MANIFEST ?= jobs/catalog.yaml
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: install demo test lint fmt bench check clean chromium

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(RUNTIME_STAMP)

install: $(STAMP)

$(RUNTIME_STAMP): pyproject.toml
	@echo "installing batch_gen into $(VENV) (first time only)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e . \
	    > $(PIP_LOG) 2>&1 || { tail -n 25 $(PIP_LOG) >&2; \
	    echo "make: installing batch_gen failed; the whole log is $(PIP_LOG)" >&2; exit 1; }
	@touch $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/python -m batch_gen run $(MANIFEST) --offline

test: $(STAMP)
	$(BIN)/python -m pytest

# The gallery's browser tests open the page in headless Chromium: Debian's chromium
# package, installed here when missing (as root, else through sudo). `make test` does not
# install system packages by itself; without Chromium those tests fail and say how to get
# it (BATCH_GEN_SKIP_BROWSER_TESTS=1 skips them on purpose). .ci/run calls this first.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	    sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	    echo "installing Debian's chromium for the gallery's browser tests..."; \
	    $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	        --no-install-recommends chromium >/dev/null; }
	@chromium --version 2>/dev/null

lint: $(STAMP)
	$(BIN)/ruff check batch_gen tests
	$(BIN)/ruff format --check batch_gen tests
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format batch_gen tests
	$(BIN)/ruff check --fix batch_gen tests

check: lint test

# The bench extra brings the peers batch_gen is compared with (openai, litellm) and
# matplotlib for the chart. LiteLLM is large and pins a lot: if the extra cannot be
# installed, install the chart's matplotlib alone; bench.py skips a missing peer and says so.
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]' || { \
	    echo "bench: the bench extra did not install; missing peers will be skipped"; \
	    $(BIN)/python -m pip install --quiet -e '.[test]' 'matplotlib>=3.8'; }
	touch $(BENCH_STAMP)

# make bench BENCH_ARGS=--million adds --dry-run and status over a million jobs (~3 min more).
bench: $(BENCH_STAMP)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
