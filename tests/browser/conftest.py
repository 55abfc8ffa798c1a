"""The browser test's opt-in: this folder is outside the default test paths (`pytest tests/browser` or
`make test-browser` runs it). Its marker is registered here so that `--strict-markers` accepts it."""
from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives a real JupyterLab in headless Chromium (opt-in: pytest tests/browser)"
    )
