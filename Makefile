# vpsorg: `make run` serves the API with the simulator on SQLite and prints a token;
# `make test` runs the whole test suite. Both bootstrap their own virtualenv.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
# The libvirt driver's binding (libvirt-python) compiles against libvirt's headers: where
# they are installed (libvirt-dev), the environment gets the `libvirt` extra.
LIBVIRT := $(shell pkg-config --exists libvirt 2>/dev/null && echo libvirt)
STAMP := $(VENV)/.synced-$(UV_VERSION)$(if $(LIBVIRT),-libvirt)
HOST ?= 127.0.0.1
PORT ?= 8000

export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install run test lint sdk bench clean

install: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen $(if $(LIBVIRT),--extra libvirt)
	@rm -f $(VENV)/.synced-*
	@touch $@

run: install
	$(VENV)/bin/vpsorg serve --demo --host $(HOST) --port $(PORT)

test: install
	$(VENV)/bin/pytest -q -n 2 --dist loadgroup --durations=15

# vpsorg beside perf-lab's DRF peer and raw handler (bench/compare.py; README "Development").
# Arguments through BENCH_ARGS, e.g. make bench BENCH_ARGS="--vpsorg before=../before --vpsorg ."
bench: install
	$(VENV)/bin/python bench/compare.py $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts
	$(VENV)/bin/python scripts/unasync.py --check
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The sync client (src/vpsorg/client/sync.py) is generated from the async one (aio.py):
# edit aio.py, then `make sdk`; `make lint` fails while sync.py is not current.
sdk: install
	$(VENV)/bin/python scripts/unasync.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .bench
