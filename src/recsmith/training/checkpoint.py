"""Training checkpoints: ``last.pt`` after every epoch (everything needed to resume) and
``best-<epoch>.pt`` (the network weights of the best validation so far).

The best weights carry their epoch in the file name and ``last.pt`` records which epoch is best,
so a run killed between writing a new best and the next ``last.pt`` resumes with the best file
that matches its state; older best files are removed once ``last.pt`` no longer needs them.

``last.pt`` holds the network, optimizer, schedule and grad-scaler states, the RNG states, the
sampler's state (hard-negative pools), the early-stopping state, the epoch history and the train
config it was written under. These are training state, not a model format: the fitted model is
saved without pickle by :meth:`Recommender.save`. ``torch.save`` is fine for them, and they are
read with ``weights_only=True`` so that a checkpoint cannot run code when loaded.

Writes are atomic (a temporary file in the same directory, then a rename): a run killed while
writing keeps its previous checkpoint.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from recsmith.errors import RecsmithError
from recsmith.utils.atomic import atomic_write_bytes

LAST = "last.pt"
FORMAT_VERSION = 1


def best_path(directory: Path, epoch: int) -> Path:
    return directory / f"best-{epoch}.pt"


def remove_stale_best(directory: Path, keep_epoch: int | None) -> None:
    """Delete the best-weight files of epochs other than ``keep_epoch``."""
    keep = best_path(directory, keep_epoch).name if keep_epoch is not None else None
    for path in directory.glob("best-*.pt"):
        if path.name != keep:
            path.unlink(missing_ok=True)


def save(state: dict[str, Any], path: str | Path) -> None:
    """``torch.save(state)`` into ``path`` atomically."""
    path = Path(path)
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save` onto the CPU, refusing anything but plain data."""
    path = Path(path)
    if not path.exists():
        raise RecsmithError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which, not a pickle traceback
        raise RecsmithError(f"{path} is not a readable recsmith checkpoint: {err}") from None
    if state.get("format_version") != FORMAT_VERSION:
        raise RecsmithError(f"{path}: unsupported checkpoint format {state.get('format_version')!r}")
    return state


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) global RNG states, as plain data."""
    # the global RandomState is MT19937, whose legacy state is this 5-tuple (the stubs allow a dict)
    legacy = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    kind, keys, pos, has_gauss, gauss = legacy
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
