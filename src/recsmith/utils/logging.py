"""One place for user-facing progress messages (stderr, so JSON on stdout stays clean)."""

from __future__ import annotations

import os

from rich.console import Console

_console = Console(stderr=True, highlight=False)


def log(message: str) -> None:
    if os.environ.get("RECSMITH_QUIET") not in ("1", "true", "yes"):
        _console.print(f"[dim]·[/dim] {message}")
