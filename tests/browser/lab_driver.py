"""Drive a real JupyterLab in headless Chromium as a reader does: open a notebook, click Run -> Run All Cells, read
back every cell (execution count, errors, images, widgets). ``window.jupyterapp`` is used to read state only.

The notebooks run from a copy whose ``parameters`` cell alone is set to the smoke configuration (``prepare_workspace``),
in a JupyterLab with private settings and its own outputs folder (``JupyterLabServer``). By hand, for screenshots in
``outputs/browser/``: ``.venv/bin/python tests/browser/lab_driver.py [00 01 ...]`` (name 03 with 04: 04 reads 03's
adapter).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
VENV_BIN = Path(sys.executable).parent  # the interpreter running the tests: .venv/bin/python
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
SMOKE_PRESET = "tiny-gpt-oss"
# A code cell whose source calls one of these is expected to show a plot (matplotlib, inline backend).
PLOT_CALL = re.compile(r"\b(plt\.(show|plot|imshow|bar|hist|figure|subplots)|[A-Za-z_]*plot[A-Za-z_]*|[A-Za-z_]+_chart"
                       r"|[A-Za-z_]+_curves)\s*\(")


class BrowserTestSetupError(RuntimeError):
    """The browser test cannot start: the message says what to install or fix."""


def find_chromium() -> str:
    """Debian's chromium (``apt-get install chromium``), or ``$CHROMIUM`` when set; never a downloaded browser."""
    candidates = [os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else list(CHROMIUM_CANDIDATES)
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    raise BrowserTestSetupError(
        f"no Chromium executable at {', '.join(candidates)}: install Debian's chromium "
        "(`apt-get update && apt-get install -y chromium`), or set CHROMIUM=/path/to/chromium. "
        "The browser test never downloads a browser (no `playwright install`)."
    )


def import_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BrowserTestSetupError(
            f"the Python package playwright is missing ({exc}): `make setup` installs it from requirements-cpu.txt "
            "(or `.venv/bin/pip install playwright==1.65.2`). Only its driver is used, with Debian's chromium."
        ) from exc
    return sync_playwright


# -------------------------------------------------------------------------------------------------------------------
# the workspace


def smoke_values(notebook: Path) -> dict[str, str]:
    """``NAME -> Python source`` of the smoke configuration of ``notebook``: the preset and its smoke parameters."""
    from gpt_oss_tutorial import runner

    values = {"PRESET": SMOKE_PRESET, **runner.smoke_parameters(notebook)}
    return {name: python_literal(value) for name, value in values.items()}


def python_literal(value) -> str:
    """A JSON value as Python source, strings in double quotes as the notebooks write them."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)


def smoke_parameters_source(source: str, values: dict[str, str]) -> str:
    """The parameters cell with ``NAME = ...`` lines replaced for each name of ``values``; other lines kept.

    Raises ``ValueError`` when a name is not assigned exactly once at the start of a line.
    """
    lines = source.splitlines()
    for name, value in values.items():
        pattern = re.compile(rf"^{name}\s*=")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        if len(hits) != 1:
            raise ValueError(f"the parameters cell assigns {name} {len(hits)} time(s) at the start of a line, not once")
        lines[hits[0]] = f"{name} = {value}  # set by tests/browser (smoke run)"
    return "\n".join(lines) + ("\n" if source.endswith("\n") else "")


def prepare_workspace(workspace: Path, notebooks: list[Path]) -> list[Path]:
    """Copy ``notebooks`` into ``workspace/notebooks/``, parameters cell set to the smoke configuration."""
    target = workspace / "notebooks"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        if len(tagged) != 1:
            raise ValueError(f"{path.name}: {len(tagged)} cells tagged 'parameters', expected exactly one")
        cell = tagged[0]
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        try:
            cell["source"] = smoke_parameters_source(source, smoke_values(path))
        except ValueError as exc:
            raise ValueError(f"{path.name}: {exc}") from exc
        out = target / path.name
        out.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(out)
    return written


# -------------------------------------------------------------------------------------------------------------------
# the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAB_SETTINGS = {
    # every cell attached to the page: the test reads them all and the screenshot shows them all
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # no request to the internet from the page
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


class JupyterLabServer:
    """``jupyter lab`` on 127.0.0.1:<free port> serving ``root_dir``; a context manager that stops it (and its
    kernels) on exit. ``env`` is added to the server's environment, which the kernels inherit."""

    def __init__(self, root_dir: Path, state_dir: Path, env: dict[str, str] | None = None, startup_timeout: float = 90):
        self.root_dir = Path(root_dir)
        self.state_dir = Path(state_dir)
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.state_dir / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(self.url(path), method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> "JupyterLabServer":
        jupyter = VENV_BIN / "jupyter"
        if not jupyter.exists():
            raise BrowserTestSetupError(f"{jupyter} not found: run `make setup` (jupyterlab is in requirements-cpu.txt)")
        settings = self.state_dir / "user-settings"
        for name, value in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value), encoding="utf-8")
        for sub in ("workspaces", "runtime", "config", "ipython"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        # a private Jupyter state: no user config, no stored layout, kernels start as on a fresh machine
        env.update(JUPYTER_RUNTIME_DIR=str(self.state_dir / "runtime"), JUPYTER_CONFIG_DIR=str(self.state_dir / "config"),
                   IPYTHONDIR=str(self.state_dir / "ipython"), JUPYTER_PLATFORM_DIRS="1")
        env.pop("MPLBACKEND", None)  # the kernel's own default (inline), as for a reader
        command = [
            str(jupyter), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root_dir}",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={self.state_dir / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI and these machines run as root
            command.append("--allow-root")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=self.root_dir, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                self._log.close()
                raise BrowserTestSetupError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "api/status")
                return self
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise BrowserTestSetupError(f"jupyter lab did not answer within {self.startup_timeout:.0f} s:\n"
                                            f"{self.log_tail()}")
            time.sleep(0.5)

    def shutdown_kernels(self) -> None:
        """Shut down every running kernel (one notebook at a time keeps a 2-core machine usable)."""
        try:
            for session in self.api("GET", "api/sessions") or []:
                self.api("DELETE", f"api/sessions/{session['id']}")
            for kernel in self.api("GET", "api/kernels") or []:
                self.api("DELETE", f"api/kernels/{kernel['id']}")
        except (urllib.error.URLError, OSError):
            pass

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.shutdown_kernels()
            self.process.send_signal(signal.SIGINT)  # jupyter server: clean shutdown of itself and its kernels
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        self._log.close()


# -------------------------------------------------------------------------------------------------------------------
# the browser


@dataclass
class CellState:
    index: int  # 0-based position in the notebook
    cell_type: str
    source: str
    execution_count: int | None = None
    prompt: str = ""  # what the page shows left of the cell: "[3]:", "[*]:", "[ ]:"
    output_types: list[str] = field(default_factory=list)
    mime_types: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "EName: evalue" of error outputs (the kernel's word)
    error_texts_shown: list[str] = field(default_factory=list)  # tracebacks the page shows
    stderr_shown: list[str] = field(default_factory=list)  # other stderr (warnings): reported, not an error
    images: int = 0  # <img> elements in the outputs
    images_rendered: int = 0  # of which decoded with a non-zero size
    widgets: int = 0  # widget views rendered (tqdm.auto progress bars, ...)
    broken_widgets: list[str] = field(default_factory=list)  # "Error displaying widget", text fallbacks

    @property
    def expects_plot(self) -> bool:
        return self.cell_type == "code" and bool(PLOT_CALL.search(self.source))

    @property
    def where(self) -> str:
        first = next((ln.strip() for ln in self.source.splitlines() if ln.strip()), "")
        return f"cell {self.index + 1} ({first[:60]!r})"


@dataclass
class NotebookRun:
    name: str
    seconds: float
    kernel_status: str
    cells: list[CellState]
    screenshot: Path | None
    timed_out: bool = False
    console_errors: list[str] = field(default_factory=list)

    @property
    def code_cells(self) -> list[CellState]:
        return [c for c in self.cells if c.cell_type == "code"]

    def problems(self) -> list[str]:
        """Everything that a person looking at the page would call broken (empty: the run is good)."""
        found = []
        if self.timed_out:
            found.append(f"Run All did not finish (kernel {self.kernel_status})")
        elif self.kernel_status != "idle":
            found.append(f"the kernel is {self.kernel_status!r} after Run All (did it die?)")
        for cell in self.code_cells:
            if cell.execution_count is None:
                found.append(f"{cell.where} was not executed (prompt {cell.prompt!r})")
            for error in cell.errors:
                found.append(f"{cell.where} raised {error}")
            for text in cell.error_texts_shown:
                found.append(f"{cell.where} shows a traceback: {text[:300]!r}")
            if cell.images != cell.images_rendered:
                found.append(f"{cell.where}: {cell.images - cell.images_rendered} of {cell.images} image(s) not rendered")
            for text in cell.broken_widgets:
                found.append(f"{cell.where}: a widget did not render: {text[:200]!r}")
            if cell.expects_plot and cell.execution_count is not None and cell.images_rendered == 0:
                found.append(f"{cell.where} calls a plotting function but shows no rendered image")
        return found


_READ_STATE_JS = r"""
() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.widgets.map((cell, index) => {
    const m = cell.model;
    const node = cell.node;
    const outputs = m.type === 'code' ? m.outputs.toJSON() : [];
    const mimes = [];
    const errors = [];
    for (const o of outputs) {
      if (o.output_type === 'error') errors.push(`${o.ename}: ${o.evalue}`);
      if (o.data) mimes.push(...Object.keys(o.data));
    }
    const shown = [];
    const stderr = [];
    for (const el of node.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')) {
      const text = el.innerText || '';
      if (/Traceback \(most recent call last\)|^\S*(Error|Exception)\b.*$/m.test(text)) shown.push(text.slice(0, 600));
      else stderr.push(text.slice(0, 300));
    }
    const imgs = [...node.querySelectorAll('.jp-OutputArea-output img')];
    const broken = [];
    for (const el of node.querySelectorAll('.jp-OutputArea-output')) {
      const text = el.innerText || '';
      if (/Error displaying widget|model not found|^(HBox|VBox|FloatProgress|IntProgress)\(/m.test(text)) broken.push(text.slice(0, 300));
    }
    const prompt = node.querySelector('.jp-InputArea-prompt');
    return {
      index, cell_type: m.type, source: m.sharedModel.getSource(),
      execution_count: m.type === 'code' ? m.executionCount : null,
      execution_state: m.type === 'code' ? (m.executionState || '') : '',
      prompt: prompt ? prompt.innerText.trim() : '',
      output_types: outputs.map(o => o.output_type), mime_types: mimes, errors,
      error_texts_shown: shown, stderr_shown: stderr,
      images: imgs.length,
      images_rendered: imgs.filter(i => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length,
      widgets: node.querySelectorAll('.jp-OutputArea-output .jupyter-widgets, .jp-OutputArea-output .widget-progress, .jp-OutputArea-output progress').length,
      broken_widgets: broken,
    };
  });
  return {path: panel.context.path, kernel: kernel ? kernel.status : 'no kernel', cells};
}
"""


def _read_state(page) -> dict | None:
    return page.evaluate(_READ_STATE_JS)


def _busy(state: dict) -> bool:
    """True while a cell is queued or running, or the kernel is not idle."""
    if state["kernel"] != "idle":
        return True
    for cell in state["cells"]:
        if cell["cell_type"] == "code" and ("*" in cell["prompt"] or cell["execution_state"] == "running"):
            return True
    return False


def launch_browser(playwright, chromium: str, user_data_dir: Path):
    """A persistent context in a fresh profile folder (Chromium's ``--user-data-dir``)."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000}, device_scale_factor=1,
    )


def run_all_in_browser(context, server: JupyterLabServer, rel_path: str, *, timeout: float = 300,
                       screenshot: Path | None = None, log=print) -> NotebookRun:
    """Open ``rel_path`` (relative to the server's root) in JupyterLab, Run -> Run All Cells, wait, read it back."""
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    name = Path(rel_path).stem
    try:
        page.goto(server.url(f"lab/tree/{rel_path}?reset"), wait_until="domcontentloaded", timeout=120_000)
        # the notebook is open and its kernel has started (a fresh kernel: the ipykernel of .venv)
        page.wait_for_function(
            """(path) => { const a = window.jupyterapp; const w = a && a.shell.currentWidget;
                return !!(w && w.context && w.context.path === path && w.content && w.content.widgets.length &&
                          w.sessionContext.session && w.sessionContext.session.kernel &&
                          w.sessionContext.session.kernel.status === 'idle'); }""",
            arg=rel_path, timeout=120_000, polling=500,
        )
        state = _read_state(page)
        log(f"[browser] {name}: opened, {len(state['cells'])} cells, kernel {state['kernel']}")
        # Run -> Run All Cells, clicked as a person would
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        start = time.monotonic()
        deadline = start + timeout
        timed_out = False
        page.wait_for_function(  # Run All has queued cells or the kernel took them
            """() => { const w = window.jupyterapp.shell.currentWidget; const k = w.sessionContext.session.kernel;
                return k.status !== 'idle' || w.content.widgets.some(c => c.model.type === 'code' &&
                  (c.model.executionCount !== null || c.model.executionState === 'running')); }""",
            timeout=30_000, polling=200,
        )
        idle_since = None
        last_report = start
        while True:
            state = _read_state(page)
            now = time.monotonic()
            if state["kernel"] in ("dead", "unknown"):  # killed (out of memory?): nothing more will run
                break
            if _busy(state):
                idle_since = None
            else:
                idle_since = idle_since or now
                if now - idle_since >= 2.0:  # idle twice, 2 s apart: nothing is queued behind
                    break
            if now > deadline:
                timed_out = True
                break
            if now - last_report > 30:
                done = sum(1 for c in state["cells"] if c["cell_type"] == "code" and c["execution_count"] is not None)
                total = sum(1 for c in state["cells"] if c["cell_type"] == "code")
                log(f"[browser] {name}: {done}/{total} code cells executed after {now - start:.0f} s")
                last_report = now
            time.sleep(0.5)
        seconds = time.monotonic() - start
        page.wait_for_timeout(1000)  # let the last images decode
        state = _read_state(page)
        shot = _screenshot(page, screenshot) if screenshot else None
        cells = [CellState(**{k: v for k, v in c.items() if k != "execution_state"}) for c in state["cells"]]
        return NotebookRun(name, seconds, state["kernel"], cells, shot, timed_out, console_errors)
    finally:
        page.close()


def _screenshot(page, path: Path) -> Path:
    """The whole notebook, top to bottom: the file browser is folded away and the page is made as tall as the
    notebook's content, then captured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => { const a = window.jupyterapp; if (!a.shell.leftCollapsed) a.shell.collapseLeft(); }")
    page.wait_for_timeout(300)
    height = page.evaluate(
        """() => { const w = window.jupyterapp.shell.currentWidget;
            const outer = w.content.node.closest('.jp-WindowedPanel-outer') ||
                          w.content.node.querySelector('.jp-WindowedPanel-outer') || w.content.node;
            outer.scrollTop = 0;
            return Math.ceil(outer.scrollHeight + (window.innerHeight - outer.clientHeight)); }""")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": max(1000, min(int(height) + 40, 30000))})
    page.wait_for_timeout(800)
    page.evaluate(
        """() => { const w = window.jupyterapp.shell.currentWidget;
            const outer = w.content.node.closest('.jp-WindowedPanel-outer') ||
                          w.content.node.querySelector('.jp-WindowedPanel-outer') || w.content.node;
            outer.scrollTop = 0; }""")
    page.wait_for_timeout(200)
    page.screenshot(path=str(path), full_page=True)
    return path


def discover_notebooks(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    return sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb") if p.is_file())


def write_selfcheck_notebook(path: Path) -> Path:
    """A notebook that must fail the checks in known ways: a plot that renders, a stderr warning (allowed), a tqdm.auto
    bar (a widget), a ZeroDivisionError in cell 6, and cell 7 that Run All therefore never executes."""
    def code(source, **meta):
        return {"cell_type": "code", "metadata": meta, "source": source, "outputs": [], "execution_count": None}

    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": "# self-check of the browser test"},
        code('PRESET = "auto"', tags=["parameters"]),
        code("import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(3, 2))\nax.plot([1, 3, 2])"),
        code("import sys, warnings\nwarnings.warn('a warning is not an error')\nprint('stderr too', file=sys.stderr)"),
        code("from tqdm.auto import tqdm\nfor _ in tqdm(range(3)):\n    pass"),
        code("1 / 0"),
        code("print('never reached')"),
    ]
    nb = {"cells": cells, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                      "language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1) + "\n", encoding="utf-8")
    return path


# -------------------------------------------------------------------------------------------------------------------
# by hand


def main(argv: list[str]) -> int:
    import tempfile

    only = [a.zfill(2) for a in argv]
    notebooks = [p for p in discover_notebooks() if not only or p.name[:2] in only]
    out_dir = REPO_ROOT / "outputs" / "browser"
    sync_playwright = import_playwright()
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="browser-test-") as tmp:
        tmp = Path(tmp)
        prepare_workspace(tmp / "workspace", discover_notebooks())
        env = {"GPT_OSS_TUTORIAL_OUTPUTS": str(tmp / "outputs"), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        with JupyterLabServer(tmp / "workspace", tmp / "state", env) as server, sync_playwright() as p:
            context = launch_browser(p, chromium, tmp / "chromium-profile")
            failed = 0
            try:
                for nb in notebooks:
                    run = run_all_in_browser(context, server, f"notebooks/{nb.name}",
                                             screenshot=out_dir / f"{nb.stem}.png")
                    server.shutdown_kernels()
                    problems = run.problems()
                    failed += bool(problems)
                    print(f"{nb.stem}: {run.seconds:.0f} s, {'OK' if not problems else 'FAILED'} -> {run.screenshot}")
                    for problem in problems:
                        print("   ", problem)
            finally:
                context.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
