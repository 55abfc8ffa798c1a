"""Safe output: files and folders appear complete or not at all, and nothing this project did not write is replaced.

A folder written by ``atomic_dir`` (or claimed with ``mark_ours``) carries a marker file, ``.gpt-oss-tutorial``; an
existing folder without it is refused with a message, never deleted. One writer at a time per output: a lock file
beside it (``.<name>.lock``) is held from the start to the final rename, and what an interrupted writer left behind
(``.<name>.XXXXXXXX.partial``, ``.<name>.old-<pid>``) is removed by the next one. Disk full and read-only
destinations raise ``errors.OutputError`` with what to do.
"""
from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

from .errors import OutputError

try:
    import fcntl
except ImportError:  # Windows: no flock; writers are not serialised there
    fcntl = None

MARKER = ".gpt-oss-tutorial"
# How a reader chooses another output folder; every refusal says it.
CHOOSE_ANOTHER = ("choose another output folder (the command-line tools' --out / --output-dir flag, the notebooks' "
                  "OUT_DIR / OUTPUT_DIR parameter)")
# What the stages wrote before folders carried the marker. A marker-less folder inside the repository's own outputs/
# or .cache/models/ holding only such names is taken as ours (an older version wrote it); anywhere else it is refused,
# also under a folder named by $GPT_OSS_TUTORIAL_OUTPUTS, which may hold anything of the reader's.
LEGACY_NAMES = (
    "*.json", "*.jsonl", "*.safetensors", "*.gguf", "*.jinja", "*.png", "*.log", "*.md", "tokenizer*", "merges.txt",
    "vocab.txt", "Modelfile", "dataset", "adapter", "checkpoints", "checkpoint-*", "runs", "lora", "merged16", "gguf*",
    ".*.partial", ".*.old-*", ".*.lock", ".*.merged16", ".*.tmp*",
)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_HELD: dict[tuple[int, str], int] = {}  # locks this process holds: (pid, lock path) -> depth
_UMASK = os.umask(0o022)  # read once (setting it is the only way); files get the mode open() would give them
os.umask(_UMASK)


# ---------------------------------------------------------------------------------------------------------------
# files


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[Path]:
    """A temporary file name beside ``path``, renamed over it when the block succeeds, removed when it fails."""
    if path.is_dir():
        raise OutputError(f"{path} is a folder, not a file: nothing was written. Remove it or {CHOOSE_ANOTHER}.")
    with _as_output_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's files are private
    try:
        with _as_output_error(path, partial=Path(tmp)):
            yield Path(tmp)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: readers see the old file or the new one, never half of it."""
    path = Path(path)
    with _temp_beside(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return path


def write_json(path: str | os.PathLike, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def save_figure(fig, path: str | os.PathLike, *, dpi: int = 110) -> Path:
    """Save a matplotlib figure to ``path`` atomically, in the format of its suffix (png when it has none)."""
    path = Path(path)
    with _temp_beside(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix[1:] or "png")
    return path


# ---------------------------------------------------------------------------------------------------------------
# ownership


def is_ours(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder carrying this project's marker file."""
    path = Path(path)
    return path.is_dir() and not path.is_symlink() and (path / MARKER).is_file()


def mark_ours(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and mark it as written by this project (for folders built in place, e.g. a
    trainer's output folder). Check it first with ``check_writable_output``: marking does not check."""
    path = Path(path)
    with _as_output_error(path):
        path.mkdir(parents=True, exist_ok=True)
    write_json(path / MARKER, _marker_info())
    return path


def check_writable_output(path: str | os.PathLike, *, known: Iterable[str] = ()) -> Path:
    """Raise ``OutputError`` unless ``path`` may be written by this project: absent, an empty folder, or one of ours.

    Refused: a file or link at ``path``, a folder with files of someone else, and a place where nothing can be
    written (read-only, no permission). ``known`` adds names (glob patterns) the stage writes for the rule on
    folders of older versions (``LEGACY_NAMES``). Nothing is created or replaced.
    """
    path = Path(path)
    _refuse_if_not_ours(path, tuple(known))
    probe_in = path if path.is_dir() else _nearest_existing(path.parent)
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=probe_in)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _output_error(path, exc) from None
    return path


@contextlib.contextmanager
def in_place_dir(path: str | os.PathLike, *, known: Iterable[str] = ()) -> Iterator[Path]:
    """For a folder built in place (a trainer's output folder, with its checkpoints): check it
    (``check_writable_output``), take its writer lock (``exclusive``) and mark it ours, for the duration of the block."""
    with exclusive(path) as path:
        check_writable_output(path, known=known)
        yield mark_ours(path)


def _marker_info() -> dict:
    from . import __version__

    writer = "?"
    frame = sys._getframe(1)
    while frame is not None:  # the first caller outside this module and contextlib: who wrote the folder
        module = frame.f_globals.get("__name__", "")
        if module not in (__name__, "contextlib"):
            writer = f"{module}.{frame.f_code.co_name}"
            break
        frame = frame.f_back
    return {"written_by": f"gpt-oss-tutorial {__version__}", "writer": writer, "pid": os.getpid(),
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _in_default_folders(path: Path) -> bool:
    from . import paths

    resolved = path.resolve()
    roots = (paths.REPO_ROOT / "outputs", paths.REPO_ROOT / ".cache" / "models")
    return any(resolved.is_relative_to(root.resolve()) for root in roots)


def _refuse_if_not_ours(path: Path, known: tuple[str, ...]) -> bool:
    """Raise ``OutputError`` unless ``path`` is absent, an empty folder or ours; True when it exists."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        kind = "a link" if path.is_symlink() else "a file"
        raise OutputError(f"{path} is {kind}, not a folder: nothing was written. Move it away or {CHOOSE_ANOTHER}.")
    if not path.exists():
        return False
    if is_ours(path):
        return True
    try:
        names = [p.name for p in path.iterdir()]
    except OSError as exc:
        raise _output_error(path, exc) from None
    if not names:
        return True
    patterns = LEGACY_NAMES + known
    if _in_default_folders(path) and all(any(fnmatch.fnmatch(n, p) for p in patterns) for n in names):
        print(f"{path} has no {MARKER} marker but holds only files this project writes: taken as written by an "
              "earlier version.", file=sys.stderr)
        return True
    shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
    raise OutputError(
        f"{path} exists and was not written by this project (no {MARKER} marker in it; it holds {shown}), so it is "
        f"not replaced: its files may be yours. Either {CHOOSE_ANOTHER}, or remove {path} yourself if nothing in "
        "it is needed.")


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# ---------------------------------------------------------------------------------------------------------------
# errors of the destination


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def _is_disk_full(exc: BaseException) -> bool:
    return (isinstance(exc, OSError) and exc.errno in _DISK_FULL) or "No space left on device" in str(exc)


def _output_error(path: Path, exc: BaseException, partial: Path | None = None) -> OutputError:
    """The ``OutputError`` for a destination that is full, read-only or not ours to write."""
    if _is_disk_full(exc):
        where = _nearest_existing(path.parent)
        free = shutil.disk_usage(where).free
        written = f"; {_human(_size(partial))} had been written" if partial is not None and partial.exists() else ""
        return OutputError(f"the disk is full while writing {path} ({_human(free)} free in {where}{written}). Free "
                           f"some space, or {CHOOSE_ANOTHER} on a disk with room. The unfinished copy was removed.")
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "is on a read-only file system" if exc.errno == errno.EROFS else "is not writable for you"
        return OutputError(f"{path} {why} ({exc.strerror}): nothing was written; {CHOOSE_ANOTHER}.")
    return OutputError(f"{path} cannot be written: {exc}")


@contextlib.contextmanager
def _as_output_error(path: Path, partial: Path | None = None, *, access: bool = True) -> Iterator[None]:
    """Turn a full disk (always) and a read-only or forbidden destination (``access``) into ``OutputError``."""
    try:
        yield
    except OutputError:
        raise
    except Exception as exc:
        if _is_disk_full(exc) or (access and isinstance(exc, OSError)
                                  and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)):
            raise _output_error(path, exc, partial) from exc
        raise


# ---------------------------------------------------------------------------------------------------------------
# one writer at a time


def _lock_path(final: Path) -> Path:
    return final.parent / f".{final.name}.lock"


def _holder(lock: Path) -> str:
    """``(pid N)`` of the process holding ``lock``, read from the file (it writes its pid right after locking)."""
    for _ in range(100):
        with contextlib.suppress(OSError):
            text = lock.read_text().strip()
            if text.isdigit():
                return f" (pid {text})"
        time.sleep(0.01)
    return ""


def _acquire(lock: Path, path: Path, wait: bool) -> int | None:
    """An open descriptor of ``lock`` holding its flock; None where the file system cannot lock."""
    while True:
        with _as_output_error(path):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    raise OutputError(f"{path} is being written by another process{_holder(lock)}: wait for it to "
                                      f"finish, or {CHOOSE_ANOTHER}.") from None
                print(f"waiting for another process{_holder(lock)} to finish writing {path} ...", file=sys.stderr)
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                os.close(fd)  # e.g. some network file systems: write unlocked rather than not at all
                with contextlib.suppress(OSError):
                    os.unlink(lock)
                return None
            # The previous holder removes the file before it unlocks: a lock on a removed file locks nothing.
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def exclusive(path: str | os.PathLike, *, wait: bool = False) -> Iterator[Path]:
    """Hold the writer lock of ``path`` (the same lock ``atomic_dir`` takes; re-entrant within one process).

    Another process writing ``path`` raises ``OutputError`` (or, with ``wait``, is waited for). The lock file
    ``.<name>.lock`` beside ``path`` is removed when the lock is released.
    """
    path = Path(os.path.abspath(path))
    lock = _lock_path(path)
    key = (os.getpid(), str(lock))
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    with _as_output_error(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(lock, path, wait) if fcntl is not None else None
    _HELD[key] = 1
    try:
        if fd is not None:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        del _HELD[key]
        if fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)
            os.close(fd)


def _new_partial(final: Path) -> Path:
    """A new empty ``.<name>.XXXXXXXX.partial`` folder beside ``final``, with the permissions of a plain mkdir (a
    temporary folder of ``tempfile`` would be private, and stay private once renamed)."""
    while True:
        tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}.partial"
        with contextlib.suppress(FileExistsError):
            tmp.mkdir()
            return tmp


def _remove_leftovers(final: Path) -> list[str]:
    """Remove the temporary and old folders of earlier writers of ``final`` that died; call with the lock held."""
    pattern = re.compile(rf"^\.{re.escape(final.name)}\.([a-z0-9_]{{8}}\.partial|old-\d+)$")
    removed = []
    for entry in sorted(final.parent.iterdir()):
        if pattern.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            size = _size(entry)
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(f"{entry.name} ({_human(size)})")
    if removed:
        print(f"removed what an interrupted earlier run left beside {final}: {', '.join(removed)}", file=sys.stderr)
    return removed


# ---------------------------------------------------------------------------------------------------------------
# folders


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, *, known: Iterable[str] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``final``; when the block succeeds it replaces ``final``.

    Readers of ``final`` see the old complete folder or the new complete one, never a partial save. Before anything
    is written, ``final`` is checked (``check_writable_output``; ``known`` as there) and its writer lock taken
    (``exclusive``), and the leftovers of interrupted earlier runs are removed. On error the temporary folder is
    removed and ``final`` is untouched; a full disk or read-only destination raises ``OutputError``.
    """
    final = Path(os.path.abspath(final))
    _refuse_if_not_ours(final, tuple(known))  # before the lock: no lock file beside a folder that is refused
    with exclusive(final):
        exists = _refuse_if_not_ours(final, tuple(known))
        with _as_output_error(final):
            _remove_leftovers(final)
            tmp = _new_partial(final)
        try:
            with _as_output_error(final, tmp, access=False):  # the block may read files it may not: its error
                yield tmp
            with _as_output_error(final, tmp):
                write_json(tmp / MARKER, _marker_info())
                old = None
                if exists and final.exists():
                    old = final.with_name(f".{final.name}.old-{os.getpid()}")
                    os.replace(final, old)
                os.replace(tmp, final)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
