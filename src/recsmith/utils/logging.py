"""One place for user-facing progress messages (stderr, so JSON on stdout stays clean), and the
verbosity switch (``RECSMITH_VERBOSE``, set by ``recsmith --verbose``) that libraries' own chatter
(Hugging Face's progress bars and warnings) obeys."""

from __future__ import annotations

import os

from rich.console import Console

_console = Console(stderr=True, highlight=False)


def log(message: str) -> None:
    if os.environ.get("RECSMITH_QUIET") not in ("1", "true", "yes"):
        _console.print(f"[dim]·[/dim] {message}")


def verbose() -> bool:
    """Whether ``recsmith --verbose`` (or ``RECSMITH_VERBOSE=1``) asked for the libraries' own output."""
    return os.environ.get("RECSMITH_VERBOSE", "").lower() in ("1", "true", "yes")
