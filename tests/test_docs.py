"""The README's commands are real: the Quickstart's test command is what CI runs, every script it names exists and
answers --help, and the Chinese README carries the same commands."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from gpt_oss_tutorial.paths import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def _quickstart_commands(text: str) -> list[str]:
    section = re.search(r"^## (Quickstart|快速上手)[^\n]*\n(.*?)^## ", text, re.S | re.M)
    assert section, "README needs a ## Quickstart section"
    block = re.search(r"```bash\n(.*?)```", section.group(2), re.S)
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]


def test_quickstart_is_two_commands_and_ci_runs_the_test_command():
    commands = _quickstart_commands(README)
    assert len(commands) == 2
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert re.search(rf"^\s*{re.escape(commands[1])}\s*$", ci, re.M), f"{commands[1]!r} must be in .ci/run"


def test_main_job_command_runs_run_all_on_auto():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "PRESET ?= auto" in makefile and "scripts/run_all.py --preset $(PRESET)" in makefile


SCRIPTS = sorted(set(re.findall(r"python (scripts/\w+\.py)", README)))


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_in_the_readme_answers_help(script):
    done = subprocess.run([sys.executable, str(REPO_ROOT / script), "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
    assert "usage:" in done.stdout


def test_chinese_readme_has_the_same_commands():
    zh = (REPO_ROOT / "README.zh-CN.md").read_text(encoding="utf-8")
    assert "(README.md)" in zh and "(README.zh-CN.md)" in README
    assert _quickstart_commands(zh) == _quickstart_commands(README)
    assert sorted(set(re.findall(r"python (scripts/\w+\.py)", zh))) == SCRIPTS
    # the whole README, not a summary: one Chinese section for every English one
    assert len(re.findall(r"^## ", zh, re.M)) == len(re.findall(r"^## ", README, re.M))


# What a file of this repository must not say: where our machines keep things, our issue tracker's numbers, files
# outside the repository. (Character classes keep this file from matching itself.)
NOT_OF_THIS_REPOSITORY = re.compile(
    r"/wor[k]/"  # a path on the machines the project was developed on
    r"|\b[Ii]ssues? [0-9]+|(?:^|[\s(\[,;])#[0-9]{1,3}\b"  # issue numbers
    r"|\banchor[s]\.md\b|\.\./share[d]\b",  # notes that live outside the repository
    re.M,
)


def test_the_repository_speaks_of_itself():
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    hits: dict[str, list[str]] = {}
    for name in filter(None, listed.stdout.split("\0")):
        try:
            text = (REPO_ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary, or deleted in the working tree
        for m in NOT_OF_THIS_REPOSITORY.finditer(text):
            hits.setdefault(name, []).append(f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0).strip()!r}")
    assert not hits, f"issue numbers, machine paths or outside references: {hits}"
