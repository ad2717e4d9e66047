"""The learning-rate range test (Smith 2017; fastai's ``lr_find``).

Train from fresh weights while the learning rate grows exponentially from ``start_lr`` to
``end_lr``, one optimizer step per rate; smooth the loss with a bias-corrected exponential moving
average; stop when the smoothed loss exceeds ``diverge`` times its best (or turns NaN). The
suggestion is the rate where the smoothed loss falls fastest per unit of ``log(lr)``, looking only
at the descent before the minimum: large enough to learn quickly, well below the divergence point.

:func:`range_test` is the pure core (any ``step(lr) -> loss``); :func:`find_lr` runs it on a torch
model with the Trainer's network, objective, optimizer and precision; :func:`run_lr_find` is the
CLI pipeline (plot + JSON).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.training.config import TrainConfig

if TYPE_CHECKING:
    from recsmith.models.torch_base import TorchRecommender


@dataclass
class LRFinderResult:
    lrs: list[float]
    losses: list[float]  # raw loss of each step
    smoothed: list[float]  # bias-corrected EMA
    suggestion: float
    diverged: bool

    def plot(self, path: str | Path) -> Path:
        """Smoothed (and raw) loss against the learning rate on a log axis, the suggestion marked."""
        import matplotlib

        matplotlib.use("Agg")  # files only; no display needed
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        ax.plot(self.lrs, self.losses, color="0.8", linewidth=0.8, label="loss")
        ax.plot(self.lrs, self.smoothed, color="tab:blue", label="smoothed loss")
        ax.axvline(self.suggestion, color="tab:red", linestyle="--", label=f"suggested {self.suggestion:.2e}")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        finite = [s for s in self.smoothed[len(self.smoothed) // 10 :] if math.isfinite(s)]
        if finite:  # show the range up to the minimum: the divergence spike would flatten it
            lowest = int(np.argmin(finite))
            low, high = finite[lowest], max(finite[: lowest + 1])
            pad = 0.1 * (high - low) + 1e-12
            ax.set_ylim(low - pad, high + 3 * pad)
        ax.set_title("learning-rate range test")
        ax.legend()
        fig.tight_layout()
        return save_figure(fig, path)


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG atomically (temporary sibling, then rename) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fig.savefig(tmp, dpi=120, format="png")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return path


def range_test(
    step: Callable[[float], float],
    *,
    start_lr: float = 1e-6,
    end_lr: float = 10.0,
    num_steps: int = 100,
    beta: float = 0.98,
    diverge: float = 4.0,
) -> LRFinderResult:
    """Call ``step(lr)`` (one optimizer step at ``lr``, returning its loss) over an exponential ramp."""
    if not 0 < start_lr < end_lr:
        raise RecsmithError(f"the range test needs 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_steps < 5:
        raise RecsmithError(f"the range test needs at least 5 steps, got {num_steps}")
    lrs, losses, smoothed = [], [], []
    avg, best, diverged = 0.0, math.inf, False
    for i in range(num_steps):
        lr = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))
        loss = float(step(lr))
        avg = beta * avg + (1 - beta) * loss
        value = avg / (1 - beta ** (i + 1))
        lrs.append(lr)
        losses.append(loss)
        smoothed.append(value)
        if not math.isfinite(value) or value > diverge * best:
            diverged = True
            break
        best = min(best, value)
    return LRFinderResult(lrs, losses, smoothed, suggest(lrs, smoothed), diverged)


def suggest(lrs: list[float], smoothed: list[float], skip_start: float = 0.1) -> float:
    """The rate of steepest descent of the smoothed loss in ``log(lr)``, before its minimum.

    The first ``skip_start`` share of the points is left out, for the minimum too: the average has
    seen few losses there, so it still moves with their noise and fakes both steep slopes and a
    low point. Slopes are differences over a window of ``len / 20`` points on each side, for the
    same reason. Falls back to a tenth of the rate at the minimum when the descent is too short
    to measure.
    """
    values = np.asarray(smoothed, dtype=float)
    finite = np.isfinite(values)
    values, rates = values[finite], np.asarray(lrs, dtype=float)[finite]
    if values.size == 0:
        return lrs[0]
    first = int(skip_start * values.size) if values.size >= 20 else 0
    lowest = first + int(np.argmin(values[first:]))
    w = max(1, values.size // 20)
    centres = np.arange(first + w, lowest - w + 1)
    if centres.size == 0:
        return float(rates[lowest] / 10)
    log_r = np.log(rates)
    slope = (values[centres + w] - values[centres - w]) / (log_r[centres + w] - log_r[centres - w])
    return float(rates[centres[int(np.argmin(slope))]])


def find_lr(
    model: "TorchRecommender",
    train: Interactions,
    cfg: TrainConfig,
    *,
    start_lr: float = 1e-6,
    end_lr: float = 10.0,
    num_steps: int = 100,
) -> LRFinderResult:
    """The range test on ``model`` with ``cfg``'s objective, optimizer and precision.

    Param groups keep their ratio to ``optimizer.lr`` (a pretrained encoder at a tenth stays at a
    tenth). The model is left fitted with the weights of the last step, which mean nothing: fit
    it again to use it.
    """
    import torch

    from recsmith.training.optim import clip_grad_norm
    from recsmith.training.trainer import autocast_context, fitting_session, generator, resolve_device, setup

    seed = cfg.seed or 0
    device = resolve_device(cfg.device)
    # the Trainer's set-up (same session, network, objective, optimizer), a ramp instead of epochs
    with fitting_session(model, train, cfg):
        network, examples, objective, optimizer = setup(model, train, cfg, device, seed)
        ratios = [g["lr"] / cfg.optimizer.lr for g in optimizer.param_groups]
        scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
        autocast = autocast_context(device, cfg.amp)
        n = len(next(iter(examples.values())))
        gen = generator(seed, 0, 0, 1)
        order, position = torch.randperm(n, generator=generator(seed, 0)), 0
        network.train()

        def step(lr: float) -> float:
            nonlocal order, position
            if position >= n:  # a new epoch when the examples run out
                order, position = torch.randperm(n, generator=gen), 0
            index = order[position : position + cfg.batch_size].to(device)
            position += cfg.batch_size
            for group, ratio in zip(optimizer.param_groups, ratios):
                group["lr"] = lr * ratio
            batch = model.make_batch({k: v[index] for k, v in examples.items()})
            if objective.sampler is not None:
                objective.sampler.maybe_refresh(0, model.score_tensor)
            with autocast:
                loss = objective(network, batch, gen)
            scaler.scale(loss).backward()
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                clip_grad_norm(network.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            return float(loss.detach())

        return range_test(step, start_lr=start_lr, end_lr=end_lr, num_steps=num_steps)
