"""Problems a reader can fix: the notebooks raise them with a message that says what to do, the command-line tools
print that message and exit with status 2 (no traceback). Anything else is a bug and keeps its traceback."""
from __future__ import annotations


class TutorialError(Exception):
    """A problem with the reader's input, arguments, files or machine; the message names it and says what to do."""

    exit_code = 2


class DataError(TutorialError, ValueError):
    """An input file or row is invalid; the message names the file, row and field."""


class OutputError(TutorialError):
    """An output location cannot be written safely (not ours, a file where a folder goes, read-only, busy, full)."""


class CheckpointError(TutorialError):
    """A training run cannot start or resume from what its output folder holds."""


class MissingStageOutput(TutorialError, FileNotFoundError):
    """What an earlier notebook writes (an adapter, prepared data) is not there; the message names that notebook."""


class ExportError(TutorialError):
    """An export cannot be made or read back (missing or damaged adapter, no converter, no disk space)."""


class NotebookCellError(TutorialError):
    """A notebook cell that other stages run (it carries a tag) is missing or does not compile."""


def user_error_names() -> set[str]:
    """Class names of every ``TutorialError`` (how a notebook's exception is recognised from its ``ename``)."""
    found, todo = set(), [TutorialError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found
