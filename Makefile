# Two commands do everything (see README.md, Quickstart):
#   make run    - set up .venv/ if needed, then run every notebook headless on the auto preset -> outputs/
#   make test   - set up .venv/ if needed, then the whole test suite (it executes every notebook in smoke mode)
# Two parts of the suite need Debian packages (CI installs them first with `make system-deps`):
#   make system-deps    - chromium + a CJK font (the browser test), golang-go (Ollama's template engine, test_export)
#   make test-browser   - Run All in a real JupyterLab, in headless Chromium (opt-in: pytest tests/browser)
PRESET ?= auto
PYTEST_ARGS ?=
VENV_PY := .venv/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run test test-browser system-deps sync-notebooks check-env lab clean

setup:
	@env/bootstrap.sh

run: setup
	$(VENV_PY) scripts/run_all.py --preset $(PRESET)

test: setup
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

test-browser: setup
	$(VENV_PY) -m pytest tests/browser $(PYTEST_ARGS)

system-deps:
	@command -v chromium >/dev/null 2>&1 && command -v go >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "wenquanyi" \
	  || ( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	       --no-install-recommends chromium fonts-wqy-microhei golang-go )

sync-notebooks: setup
	$(VENV_PY) tools/sync_notebooks.py

check-env: setup
	$(VENV_PY) scripts/check_env.py --preset $(PRESET)

lab: setup
	.venv/bin/jupyter lab notebooks/

clean:
	rm -rf outputs/ .cache/
