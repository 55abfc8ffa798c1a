# Two commands do everything (see README.md, Quickstart):
#   make run    - set up .venv/ if needed, then run every notebook headless on the auto preset -> outputs/
#   make test   - set up .venv/ if needed, then the whole test suite (it executes every notebook in smoke mode)
# make setup runs the preflight (scripts/check_env.py) first and stops on a failure; then it installs the pinned set
# for this machine, with the torch build its NVIDIA driver runs. With the conda environment of environment.yml active
# (conda activate gpt-oss), every target uses it instead of .venv/. make check-env works before any install.
# Two parts of the suite need Debian packages (CI installs them first with `make system-deps`):
#   make system-deps    - chromium + a CJK font (the browser test), golang-go (Ollama's template engine, test_export)
#   make test-browser   - Run All in a real JupyterLab, in headless Chromium (opt-in: pytest tests/browser)
PRESET ?= auto
PYTEST_ARGS ?=
CONDA_ENV_NAME := $(or $(GPT_OSS_ENV),$(shell sed -n 's/^name:[[:space:]]*//p' environment.yml))
ifneq ($(and $(CONDA_PREFIX),$(filter $(CONDA_ENV_NAME),$(CONDA_DEFAULT_ENV))),)
PY := $(CONDA_PREFIX)/bin/python
else
PY := .venv/bin/python
endif
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test test-browser system-deps sync-notebooks check-env lab clean

setup:
	@PRESET=$(PRESET) env/bootstrap.sh

run: setup
	$(PY) scripts/run_all.py --preset $(PRESET)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test-browser: setup
	$(PY) -m pytest tests/browser $(PYTEST_ARGS)

system-deps:
	@command -v chromium >/dev/null 2>&1 && command -v go >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "wenquanyi" \
	  || ( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	       --no-install-recommends chromium fonts-wqy-microhei golang-go )

sync-notebooks: setup
	$(PY) tools/sync_notebooks.py

# before setup: the preflight on the system's python3 (standard library only); after it, with the pins compared
check-env:
	@if [ -x $(PY) ]; then $(PY) scripts/check_env.py --preset $(PRESET); \
	 else $${PYTHON:-python3} scripts/check_env.py --preset $(PRESET); fi

lab: setup
	$(PY) -m jupyter lab notebooks/

clean:
	rm -rf outputs/ .cache/
