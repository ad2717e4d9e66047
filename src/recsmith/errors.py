"""Errors that speak to the user.

Every error raised for bad *input* (files, configs, ids) is a :class:`RecsmithError`; the CLI prints
its message without a traceback and exits with :attr:`RecsmithError.exit_code`. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class RecsmithError(Exception):
    """Base class for errors caused by the user's input rather than by a bug."""

    exit_code = 1


class ConfigError(RecsmithError):
    """A config file or ``--set`` override is invalid (unknown key, wrong type, bad value)."""

    exit_code = 2


class DataError(RecsmithError):
    """A data file is malformed. Names the file and, where known, the line and column.

    ``line`` is 1-based and counts physical lines of the file (a header is line 1).
    """

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        self.reason = message
        self.hint = hint
        where = []
        if path is not None:
            where.append(str(path))
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        text = f"{', '.join(where)}: {message}" if where else message
        if hint:
            text += f"\n  hint: {hint}"
        super().__init__(text)


class UnknownIdError(RecsmithError, KeyError):
    """An external user or item id that the dataset / model does not know."""

    exit_code = 4

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotFittedError(RecsmithError):
    """A model was used before ``fit`` (or ``load``)."""


class MissingExtraError(RecsmithError, ImportError):
    """A model, engine or command needs an optional part of recsmith (a pip extra) that is not installed.

    The message is one line naming the extra and the command that installs it
    (:func:`recsmith.utils.extras.require_extras`). An :class:`ImportError` too, so code that
    falls back when an optional module is missing keeps working.
    """

    exit_code = 5
