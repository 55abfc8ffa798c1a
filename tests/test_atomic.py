"""Safe output (gpt_oss_tutorial.atomic): nothing of the reader's is replaced, nothing half-written looks finished,
one writer at a time, and what an interrupted writer left behind is cleaned up by the next one."""
from __future__ import annotations

import errno
import json
import multiprocessing
import os
import re
import sys
import threading

import pytest

from gpt_oss_tutorial import atomic
from gpt_oss_tutorial.errors import OutputError

FORK = multiprocessing.get_context("fork")  # children inherit the test's imports: cheap, and the same code


def _write(folder, writer: str, files: int = 3) -> None:
    for i in range(files):
        (folder / f"part{i}.txt").write_text(writer)


def _beside(final) -> list[str]:
    """What exists beside ``final`` apart from ``final`` itself (temporary, old and lock files would show here)."""
    return sorted(p.name for p in final.parent.iterdir() if p.name != final.name)


def _content(folder) -> dict:
    return {p.name: p.read_text() for p in sorted(folder.iterdir()) if p.name != atomic.MARKER}


# ---------------------------------------------------------------------------------------------------------------
# ownership


def test_a_new_folder_carries_the_marker_and_is_replaced_whole(tmp_path):
    final = tmp_path / "out"
    with atomic.atomic_dir(final) as tmp:
        assert list(tmp.iterdir()) == []  # the block starts from an empty folder
        _write(tmp, "first", files=3)
    marker = json.loads((final / atomic.MARKER).read_text())
    assert marker["written_by"].startswith("gpt-oss-tutorial ") and marker["pid"] == os.getpid()
    assert marker["writer"].endswith("test_a_new_folder_carries_the_marker_and_is_replaced_whole")
    assert atomic.is_ours(final)
    umask = os.umask(0o022)
    os.umask(umask)
    assert final.stat().st_mode & 0o777 == 0o777 & ~umask  # as mkdir makes it, not private like a temp folder
    with atomic.atomic_dir(final) as tmp:
        _write(tmp, "second", files=1)
    assert _content(final) == {"part0.txt": "second"}  # replaced, not merged
    assert _beside(final) == []  # no lock, temporary or old folder left


def test_a_folder_not_written_by_the_project_is_refused_untouched(tmp_path):
    final = tmp_path / "thesis"
    (final / "docs").mkdir(parents=True)
    (final / "notes.txt").write_text("mine")
    (final / "docs" / "thesis.tex").write_text("\\section{mine}")
    ran = []
    with pytest.raises(OutputError) as caught:
        with atomic.atomic_dir(final) as tmp:
            ran.append(tmp)
    message = str(caught.value)
    assert str(final) in message and "not written by this project" in message
    assert "--out" in message and "--output-dir" in message and "OUT_DIR" in message and "remove" in message
    assert not ran  # refused before any work is done
    assert (final / "notes.txt").read_text() == "mine" and (final / "docs" / "thesis.tex").exists()
    assert _beside(final) == []
    with pytest.raises(OutputError, match="not written by this project"):
        atomic.check_writable_output(final)


@pytest.mark.parametrize("kind", ["file", "link"])
def test_a_file_or_link_where_the_folder_goes_is_refused(tmp_path, kind):
    final = tmp_path / "out"
    if kind == "file":
        final.write_text("a reader's file")
    else:
        (tmp_path / "elsewhere").mkdir()
        final.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(OutputError, match=rf"{re.escape(str(final))} is a {kind}, not a folder"):
        with atomic.atomic_dir(final) as tmp:
            _write(tmp, "x")
    assert final.is_symlink() if kind == "link" else final.read_text() == "a reader's file"
    with pytest.raises(OutputError, match=f"is a {kind}"):
        atomic.check_writable_output(final)


def test_a_relative_path_is_written_where_it_points(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / ".")
    (tmp_path / "sub").mkdir()
    with atomic.atomic_dir("sub/../out/.") as tmp:
        _write(tmp, "relative", files=1)
    assert _content(tmp_path / "out") == {"part0.txt": "relative"} and _beside(tmp_path / "out") == ["sub"]
    with pytest.raises(OutputError, match=re.escape(f"{tmp_path} exists and was not written by this project")):
        with atomic.atomic_dir("."):
            pass


def test_an_empty_folder_is_taken(tmp_path):
    final = tmp_path / "empty"
    final.mkdir()
    atomic.check_writable_output(final)
    with atomic.atomic_dir(final) as tmp:
        _write(tmp, "new", files=1)
    assert _content(final) == {"part0.txt": "new"} and atomic.is_ours(final)


def test_a_failing_run_leaves_the_previous_result_current(tmp_path):
    final = tmp_path / "out"
    with atomic.atomic_dir(final) as tmp:
        _write(tmp, "good")
    with pytest.raises(ValueError, match="training diverged"):
        with atomic.atomic_dir(final) as tmp:
            _write(tmp, "half", files=1)
            raise ValueError("training diverged")
    assert _content(final) == {f"part{i}.txt": "good" for i in range(3)} and atomic.is_ours(final)
    assert _beside(final) == []


def test_folders_of_older_versions_in_the_outputs_folder(tmp_path, monkeypatch):
    """No marker: taken as ours only inside the repository's outputs/ and only when it holds what a stage writes."""
    from gpt_oss_tutorial import paths

    outputs = tmp_path / "repo" / "outputs"
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "repo")  # as if the repository were here
    old = outputs / "sft" / "tiny" / "adapter"
    old.mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"):
        (old / name).write_text("old")
    mixed = outputs / "data" / "tiny" / "prepared"
    (mixed / "dataset").mkdir(parents=True)
    (mixed / "notes.txt").write_text("mine")
    elsewhere = tmp_path / "adapter"  # e.g. under a folder named by $GPT_OSS_TUTORIAL_OUTPUTS
    elsewhere.mkdir()
    (elsewhere / "adapter_config.json").write_text("old")
    monkeypatch.setenv("GPT_OSS_TUTORIAL_OUTPUTS", str(tmp_path))

    with atomic.atomic_dir(old) as tmp:
        _write(tmp, "new", files=1)
    assert _content(old) == {"part0.txt": "new"} and atomic.is_ours(old)
    with pytest.raises(OutputError, match="notes.txt"):
        atomic.check_writable_output(mixed)
    atomic.check_writable_output(mixed, known=["notes.txt"])  # a stage may name what else it writes
    with pytest.raises(OutputError, match="not written by this project"):
        atomic.check_writable_output(elsewhere)


def test_mark_ours_makes_a_folder_built_in_place_replaceable(tmp_path):
    trainer_dir = tmp_path / "run"
    atomic.check_writable_output(trainer_dir)  # absent: fine, and not created by the check
    assert not trainer_dir.exists()
    atomic.mark_ours(trainer_dir)
    (trainer_dir / "notes.txt").write_text("a checkpoint, say")
    atomic.check_writable_output(trainer_dir)
    assert json.loads((trainer_dir / atomic.MARKER).read_text())["writer"].endswith("test_mark_ours_makes_a_folder"
                                                                                    "_built_in_place_replaceable")


def test_in_place_dir_checks_locks_and_marks(tmp_path):
    run = tmp_path / "run"
    with atomic.in_place_dir(run) as folder:
        assert folder == run and atomic.is_ours(run)
        (run / "checkpoint-2").mkdir()
        assert (tmp_path / ".run.lock").exists()  # held while the block writes
    assert _beside(run) == []
    with atomic.in_place_dir(run):  # ours now: may be continued (a resume)
        assert (run / "checkpoint-2").is_dir()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not written by this project"):
        with atomic.in_place_dir(theirs):
            pass
    assert not (theirs / atomic.MARKER).exists() and _beside(theirs) == ["run"]


# ---------------------------------------------------------------------------------------------------------------
# the destination fails


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
                                   RuntimeError("[enforce fail at inline_container.cc] . unexpected pos: No space "
                                                "left on device")])
def test_a_full_disk_while_writing_is_an_output_error_and_nothing_is_left(tmp_path, error):
    final = tmp_path / "out"
    with atomic.atomic_dir(final) as tmp:
        _write(tmp, "good")
    with pytest.raises(OutputError) as caught:
        with atomic.atomic_dir(final) as tmp:
            (tmp / "weights.bin").write_bytes(b"\0" * 5000)
            raise error
    message = str(caught.value)
    assert "disk is full" in message and str(final) in message
    assert re.search(r"[\d.]+ [KMGT]?B free in ", message) and "5.0 KB had been written" in message
    assert _content(final) == {f"part{i}.txt": "good" for i in range(3)}
    assert _beside(final) == []


def test_a_real_enospc_from_the_kernel(tmp_path):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    with pytest.raises(OutputError, match="disk is full"):
        with atomic.atomic_dir(tmp_path / "out"), open("/dev/full", "wb") as f:
            f.write(b"x" * 10)
            f.flush()
    assert _beside(tmp_path / "out") == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_a_read_only_destination_is_an_output_error(tmp_path, monkeypatch, code):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    final = tmp_path / "out"
    monkeypatch.setattr(atomic, "_new_partial", refuse)
    with pytest.raises(OutputError, match="read-only" if code == errno.EROFS else "not writable"):
        with atomic.atomic_dir(final):
            pass
    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=re.escape(str(final))):
        atomic.check_writable_output(final)
    with pytest.raises(OutputError, match="nothing was written"):
        atomic.write_text(tmp_path / "a.json", "{}")
    assert _beside(final) == [] and not final.exists()


def test_files_and_figures_are_written_atomically(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = atomic.save_figure(fig, tmp_path / "plots" / "loss.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() makes it, not private like a temp file
    atomic.save_figure(fig, tmp_path / "plots" / "loss.svg")
    assert "<svg" in (tmp_path / "plots" / "loss.svg").read_text()
    plt.close(fig)

    class Broken:
        def savefig(self, *args, **kwargs):
            raise ValueError("cannot draw")

    with pytest.raises(ValueError, match="cannot draw"):
        atomic.save_figure(Broken(), tmp_path / "plots" / "loss.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the previous figure stays
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["loss.png", "loss.svg"]
    with pytest.raises(OutputError, match="is a folder, not a file"):
        atomic.write_json(tmp_path / "plots", {"x": 1})


# ---------------------------------------------------------------------------------------------------------------
# writers in other processes


def _pair_worker(me: int, final, rounds: int, start, attempted, results) -> None:
    """One of two writers: each round both start together; the one that gets in holds until the other has tried."""
    for r in range(rounds):
        start.wait()
        outcome = None
        try:
            with atomic.atomic_dir(final) as tmp:
                _write(tmp, f"writer {me} round {r}", files=5)
                attempted[r][1 - me].wait(timeout=60)  # the other writer tries while this one writes
            outcome = ("ok", "")
        except OutputError as exc:
            outcome = ("busy", str(exc))
        except BaseException as exc:  # anything else is what the test looks for
            outcome = ("crash", f"{type(exc).__name__}: {exc}")
        finally:
            attempted[r][me].set()
            results.put((r, me, os.getpid(), outcome))
            start.wait()  # round done: the test looks at the folder before the next round


def test_two_processes_writing_one_folder_get_one_result_or_a_clean_error(tmp_path):
    rounds = 50
    final = tmp_path / "out"
    with atomic.atomic_dir(final) as tmp:
        _write(tmp, "before", files=5)
    start = FORK.Barrier(3)
    attempted = [[FORK.Event(), FORK.Event()] for _ in range(rounds)]
    results = FORK.Queue()
    workers = [FORK.Process(target=_pair_worker, args=(me, final, rounds, start, attempted, results))
               for me in (0, 1)]
    for w in workers:
        w.start()
    pids = {}
    try:
        for r in range(rounds):
            start.wait()  # both writers go
            start.wait()  # both are done
            outcomes = {}
            for _ in range(2):
                rr, me, pid, outcome = results.get(timeout=120)
                assert rr == r
                outcomes[me], pids[me] = outcome, pid
            assert sorted(o[0] for o in outcomes.values()) == ["busy", "ok"], (r, outcomes)
            winner = next(me for me, o in outcomes.items() if o[0] == "ok")
            busy = outcomes[1 - winner][1]
            holder = re.search(r"is being written by another process(?: \(pid (\d+)\))?", busy)
            assert holder and str(final) in busy, busy
            assert holder.group(1) in (None, str(pids[winner])), busy  # never a wrong pid
            assert _content(final) == {f"part{i}.txt": f"writer {winner} round {r}" for i in range(5)}, r
            assert atomic.is_ours(final) and _beside(final) == [], (r, _beside(final))
    finally:
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
    assert all(w.exitcode == 0 for w in workers)


def _hold(final, inside, release, die: bool) -> None:
    with atomic.atomic_dir(final) as tmp:
        _write(tmp, f"holder {os.getpid()}", files=2)
        (tmp / "big.bin").write_bytes(b"\0" * 2_000_000)
        inside.set()
        release.wait(timeout=60)
        if die:
            os._exit(9)  # killed: no cleanup runs


def test_a_live_writer_keeps_its_folder_and_the_next_run_cleans_what_a_killed_one_left(tmp_path, capsys):
    final = tmp_path / "out"
    (tmp_path / ".other.abcdefgh.partial").mkdir()  # another target's: not touched
    inside, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold, args=(final, inside, release, True))
    holder.start()
    try:
        assert inside.wait(timeout=60)
        (tmp_path / ".out.old-12345").mkdir()  # an old folder an interrupted rename left
        (tmp_path / ".out.old-12345" / "x.bin").write_bytes(b"\0" * 1000)
        with pytest.raises(OutputError, match=rf"being written by another process \(pid {holder.pid}\)"):
            with atomic.atomic_dir(final):
                pass
        partial = [n for n in _beside(final) if n.endswith(".partial") and n.startswith(".out.")]
        assert len(partial) == 1 and (tmp_path / ".out.old-12345").exists()  # the live writer's work is kept
    finally:
        release.set()
        holder.join(timeout=60)
    assert holder.exitcode == 9 and not final.exists()
    assert (tmp_path / partial[0]).exists() and (tmp_path / ".out.lock").exists()  # what the killed writer left
    capsys.readouterr()

    with atomic.atomic_dir(final) as tmp:
        _write(tmp, "next")
    report = capsys.readouterr().err
    assert "interrupted earlier run" in report and str(final) in report
    assert f"{partial[0]} (2.0 MB)" in report and ".out.old-12345 (1.0 KB)" in report
    assert _beside(final) == [".other.abcdefgh.partial"]
    assert _content(final) == {f"part{i}.txt": "next" for i in range(3)}


class _Watch:
    """A stderr that sets an event when a line containing ``text`` is written."""

    def __init__(self, text: str):
        self.text, self.seen, self.lines = text, threading.Event(), []

    def write(self, s: str) -> int:
        self.lines.append(s)
        if self.text in s:
            self.seen.set()
        return len(s)

    def flush(self) -> None:
        pass


def test_exclusive_waits_for_another_writer_and_is_reentrant(tmp_path, monkeypatch):
    final = tmp_path / "model"
    inside, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold, args=(final, inside, release, False))
    holder.start()
    watch = _Watch("waiting for another process")
    monkeypatch.setattr(sys, "stderr", watch)
    seen = {}

    def wait_then_read():
        with atomic.exclusive(final, wait=True):
            seen["content"] = _content(final)
            with atomic.atomic_dir(final) as tmp:  # the same process may write while it holds the lock
                _write(tmp, "after", files=1)

    try:
        assert inside.wait(timeout=60)
        waiter = threading.Thread(target=wait_then_read)
        waiter.start()
        assert watch.seen.wait(timeout=60), watch.lines
        assert f"(pid {holder.pid})" in "".join(watch.lines)
    finally:
        release.set()
        holder.join(timeout=60)
    waiter.join(timeout=60)
    assert not waiter.is_alive() and holder.exitcode == 0
    assert seen["content"] == {"big.bin": "\0" * 2_000_000, **{f"part{i}.txt": f"holder {holder.pid}" for i in
                                                               range(2)}}
    assert _content(final) == {"part0.txt": "after"} and _beside(final) == []


def test_a_file_system_without_locks_is_written_unlocked(tmp_path, monkeypatch):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(atomic.fcntl, "flock", no_locks)
    with atomic.atomic_dir(tmp_path / "out") as tmp:
        _write(tmp, "unlocked", files=1)
    assert _content(tmp_path / "out") == {"part0.txt": "unlocked"} and _beside(tmp_path / "out") == []
