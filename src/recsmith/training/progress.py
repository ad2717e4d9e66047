"""The per-epoch progress bar of the Trainer: batches done, running loss and throughput (Rich, stderr).

Follows :func:`recsmith.utils.progress.progress_enabled` (off when stderr is not a terminal or
``RECSMITH_PROGRESS=0``); a no-op object otherwise, so the loop does not branch.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from recsmith.utils.progress import progress_enabled


class EpochProgress:
    """``with EpochProgress("epoch 3/20", total=88) as bar: bar.update(loss, examples)``."""

    def __init__(self, description: str, total: int, *, enabled: bool = True) -> None:
        self.enabled = enabled and progress_enabled()
        self._bar: Progress | None = None
        self._description = description
        self._total = total
        self._examples = 0
        self._start = time.perf_counter()

    def __enter__(self) -> "EpochProgress":
        if self.enabled:
            self._bar = Progress(
                TextColumn("[bold blue]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[speed]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self._description, total=self._total, loss="-", speed="")
        return self

    def update(self, batches: int, examples: int, loss: float | None = None) -> None:
        """``batches`` / ``examples`` done since the last call; ``loss``: the running mean, when known."""
        if self._bar is None:
            return
        self._examples += examples
        rate = self._examples / max(time.perf_counter() - self._start, 1e-9)
        fields: dict[str, Any] = {"speed": f"{rate / 1000:.1f}k ex/s"}  # custom task fields, shown by our columns
        if loss is not None:
            fields["loss"] = f"{loss:.4f}"
        self._bar.update(self._task, advance=batches, **fields)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(exc_type, exc, tb)
