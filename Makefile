# Gallery: everyday commands. Every target works on a fresh clone: the
# virtualenv in .venv is created and (re)installed on demand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
PYTEST := $(BIN)/python -m pytest
PYTEST_ARGS ?=
LINT_PATHS := src tests alembic bench

# Install a Debian package (with sudo when not root). apt waits up to 10 minutes
# for dpkg's lock, which the machine's own apt runs may hold, instead of failing.
APT_GET := apt-get -o DPkg::Lock::Timeout=600
define apt_install
sudo=; if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then sudo=sudo; fi; \
echo "Installing $(1) with apt-get"; \
$$sudo $(APT_GET) update -qq && \
$$sudo env DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -qq $(1)
endef

.PHONY: run test test-mariadb lint bench bench-instructions clean chromium

# Serve the app on the embedded back-end (SQLite + embedded Redis): no servers needed.
run: $(VENV)/.installed
	$(BIN)/gallery serve

# Run the test suite on the embedded back-end (the default).
test: $(VENV)/.installed-test chromium
	$(PYTEST) $(PYTEST_ARGS)

# Run the test suite against MariaDB and Redis (see tests/conftest.py for the URLs).
test-mariadb: $(VENV)/.installed-test chromium
	GALLERY_TEST_BACKEND=mariadb $(PYTEST) $(PYTEST_ARGS)

# Check style, formatting, types and the layering (ruff, mypy and import-linter
# come with the [test] extras; the layering contracts are in pyproject.toml).
lint: $(VENV)/.installed-test
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo --no-cache

# Benchmark Gallery (production settings, MariaDB, Redis) against a bare Quart
# ceiling with wrk; installs wrk if missing. Options: make bench BENCH_ARGS="--duration 3"
# (see bench/run.py --help). httpx, which signs the bench user in, comes with [test].
bench: $(VENV)/.installed-test
	@if [ ! -x /usr/bin/wrk ]; then $(call apt_install,wrk); fi
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Count (with callgrind, not a clock) what a request costs one worker with and
# without open live sockets (bench/instructions.py); installs valgrind if missing.
bench-instructions: $(VENV)/.installed-test
	@if ! command -v valgrind >/dev/null; then $(call apt_install,valgrind); fi
	$(BIN)/python bench/instructions.py $(BENCH_ARGS)

# Remove the virtualenv, caches and build output (never instance/).
clean:
	rm -rf $(VENV) build dist src/*.egg-info test-artifacts \
	       .pytest_cache .ruff_cache .mypy_cache
	find src tests alembic bench -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true

# Install Debian's Chromium for the browser tests, unless it is already there.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then $(call apt_install,chromium); fi

# The virtualenv itself.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The package, reinstalled whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

# The package with its test tools, reinstalled whenever pyproject.toml changes.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[test]'
	touch $@
