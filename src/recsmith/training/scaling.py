"""Embedding dimension from a scaling law: train a model family over dims x data fractions, fit

    L(d, n) = E + A * d ** -alpha + B * n ** -beta        (L = 1 - validation metric)

(the additive form of Hoffmann et al. 2022, with the embedding width ``d`` in place of parameters and
the training interactions ``n`` in place of tokens), and read off two answers:

* **dim**: the smallest ``d`` whose predicted metric on the full data is within ``tolerance`` (2 %
  by default) of what an unlimited width would reach there: ``A d^-alpha <= tol * (1 - E - B N^-beta)``,
  rounded up to a multiple of 8;
* **budget**: training FLOPs of that model on the full data, ``6 * d * candidates * N * epochs``
  (forward + backward of one dot product per scored candidate), and the wall-clock time predicted
  from the measured runs (seconds grow linearly in ``d * n * epochs``).

Each point is trained by the Trainer with early stopping on validation and scored by its best
validation value. The fractions are nested random subsets of the training interactions (one seed);
validation is always the full validation split, ranked with each user's *whole* training history
filtered as seen (a subsample must not leave known items in the ranking to crowd out the held-out
one). A run on a fraction ``f`` may run ``epochs / f`` epochs — the same number of optimizer steps
as the full data — so that small fractions are not simply undertrained; early stopping ends each
run when it stops improving. A law this simple does not model overfitting at large widths on small
data, nor an interaction of width and data size: look at the plot before trusting an extrapolation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError


@dataclass
class ScalingPoint:
    dim: int
    fraction: float
    n_train: int  # training interactions used
    value: float  # best validation value of the monitor
    best_epoch: int | None
    epochs_run: int
    seconds: float


@dataclass
class PowerLaw:
    """``L(d, n) = E + A d^-alpha + B n^-beta`` with the fit's root-mean-square error."""

    E: float
    A: float
    alpha: float
    B: float
    beta: float
    rmse: float

    def loss(self, d: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
        d, n = np.asarray(d, dtype=float), np.asarray(n, dtype=float)
        return self.E + self.A * d**-self.alpha + self.B * n**-self.beta


def fit_power_law(d: np.ndarray, n: np.ndarray, loss: np.ndarray) -> PowerLaw:
    """Least-squares fit of :class:`PowerLaw` to points ``(d_i, n_i) -> loss_i`` (several starts)."""
    from scipy.optimize import least_squares

    d, n, loss = (np.asarray(x, dtype=float) for x in (d, n, loss))
    if len(loss) < 5:
        raise RecsmithError(
            f"a power law in (dim, data size) has 5 parameters: it needs at least 5 points, got {len(loss)}"
        )

    # A and B are fitted in log space, so that widths of 8 or 1024 and sizes of 1e3 or 1e8 all work
    def residuals(p: np.ndarray) -> np.ndarray:
        e, log_a, alpha, log_b, beta = p
        return e + np.exp(log_a) * d**-alpha + np.exp(log_b) * n**-beta - loss

    lower, upper = [0.0, -30.0, 1e-3, -30.0, 1e-3], [1.0, 30.0, 3.0, 30.0, 3.0]
    fits = []
    for alpha in (0.2, 0.6, 1.2):
        for beta in (0.2, 0.6, 1.2):
            start = [
                max(loss.min() * 0.9, 0.0),
                math.log(max(np.ptp(loss), 1e-6)) + alpha * math.log(d.min()),
                alpha,
                math.log(max(np.ptp(loss), 1e-6)) + beta * math.log(n.min()),
                beta,
            ]
            start = np.clip(start, lower, upper)
            fits.append(least_squares(residuals, start, bounds=(lower, upper)))
    best = min(fits, key=lambda fit: fit.cost)  # the first of the lowest cost, as the loop tried them
    e, log_a, alpha, log_b, beta = best.x
    rmse = float(np.sqrt(np.mean(residuals(best.x) ** 2)))
    return PowerLaw(float(e), float(math.exp(log_a)), float(alpha), float(math.exp(log_b)), float(beta), rmse)


#: beyond this width a suggestion is an extrapolation too far to be useful
MAX_DIM = 65_536


def suggest_dim(law: PowerLaw, n_full: int, tolerance: float = 0.02) -> int | None:
    """Smallest multiple of 8 within ``tolerance`` of the unlimited-width metric at ``n_full``.

    None when the fit predicts no positive metric, or a width beyond :data:`MAX_DIM` (a tiny
    ``alpha``: the width barely matters over the measured range, so the law cannot say where it stops).
    """
    attainable = 1.0 - law.E - law.B * n_full**-law.beta  # the metric as d -> infinity
    if attainable <= 0 or law.A <= 0:
        return None
    log_d = (math.log(law.A) - math.log(tolerance * attainable)) / law.alpha
    if log_d > math.log(MAX_DIM):
        return None
    return int(8 * math.ceil(math.exp(log_d) / 8))


@dataclass
class ScalingReport:
    model: str
    monitor: str
    n_full: int
    candidates: float  # items scored per example by the loss (for the FLOP count)
    points: list[ScalingPoint]
    law: PowerLaw
    tolerance: float
    dim: int | None
    budget: dict[str, float] = field(default_factory=dict)

    def markdown_table(self) -> str:
        fractions = sorted({p.fraction for p in self.points})
        dims = sorted({p.dim for p in self.points})
        value = {(p.dim, p.fraction): p.value for p in self.points}
        lines = [
            "| dim | " + " | ".join(f"{f:g} of train" for f in fractions) + " |",
            "|---:|" + "---:|" * len(fractions),
        ]
        for d in dims:
            cells = [f"{value[(d, f)]:.4f}" if (d, f) in value else "-" for f in fractions]
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def suggestion_text(self) -> str:
        law = self.law
        text = (
            f"fit: 1 - {self.monitor} = {law.E:.4f} + {law.A:.4g} d^-{law.alpha:.3f} + "
            f"{law.B:.4g} n^-{law.beta:.3f} (rmse {law.rmse:.4f})\n"
        )
        if self.dim is None:
            return text + (
                "no dim suggested: over the measured widths the fit finds the width barely matters, "
                "or predicts no useful metric at the full data size; measure a wider range of dims"
            )
        return text + (
            f"suggested dim for the full data ({self.n_full} interactions): {self.dim} "
            f"(within {self.tolerance:.0%} of an unlimited width; predicted {self.monitor} "
            f"{1 - float(law.loss(self.dim, self.n_full)):.4f})\n"
            f"budget: {self.budget['epochs']:.0f} epochs, {self.budget['flops']:.3g} training FLOPs, "
            f"about {self.budget['seconds']:.0f} s on this machine"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "points": [asdict(p) for p in self.points], "law": asdict(self.law)}

    def plot(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from recsmith.training.lr_finder import save_figure

        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
        dims = np.array(sorted({p.dim for p in self.points}), dtype=float)
        grid_d = np.geomspace(dims.min() / 1.5, max(dims.max(), self.dim or 0) * 1.5, 100)
        for fraction in sorted({p.fraction for p in self.points}):
            pts = [p for p in self.points if p.fraction == fraction]
            n = pts[0].n_train
            line = left.plot(grid_d, 1 - self.law.loss(grid_d, n), linewidth=1)[0]
            left.scatter(
                [p.dim for p in pts],
                [p.value for p in pts],
                color=line.get_color(),
                label=f"{fraction:g} of train (n={n})",
            )
        if self.dim is not None:
            left.axvline(self.dim, color="tab:red", linestyle="--", label=f"suggested dim {self.dim}")
        left.set(xscale="log", xlabel="embedding dim", ylabel=f"validation {self.monitor}", title="metric vs width")
        left.legend(fontsize=8)
        ns = np.array(sorted({p.n_train for p in self.points}), dtype=float)
        grid_n = np.geomspace(ns.min() / 1.5, ns.max() * 1.5, 100)
        for d in dims:
            pts = [p for p in self.points if p.dim == d]
            line = right.plot(grid_n, 1 - self.law.loss(d, grid_n), linewidth=1)[0]
            right.scatter([p.n_train for p in pts], [p.value for p in pts], color=line.get_color(), label=f"dim {d:g}")
        right.set(
            xscale="log", xlabel="training interactions", ylabel=f"validation {self.monitor}", title="metric vs data"
        )
        right.legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, path)


def subsample(train: Interactions, fraction: float, seed: int) -> Interactions:
    """A random ``fraction`` of the rows, nested across fractions for one seed, dataset order kept."""
    n = len(train)
    keep = np.sort(np.random.default_rng(seed).permutation(n)[: max(1, round(fraction * n))])
    return Interactions(train.frame[keep], train.n_users, train.n_items)


def candidates_per_example(cfg: Any, n_items: int) -> float:
    """Items a loss scores per training example (what the FLOP count multiplies)."""
    per_loss = {
        "softmax": n_items,
        "sampled_softmax": cfg.batch_size + cfg.sampler.n_negatives,
        "infonce": cfg.batch_size,
        "mse": 1,
    }
    return float(per_loss.get(cfg.loss.name, 1 + cfg.sampler.n_negatives))


def budget(points: list[ScalingPoint], dim: int, n_full: int, candidates: float) -> dict[str, float]:
    """FLOPs and predicted seconds of training ``dim`` on the full data, for as many epochs as the
    full-data runs needed to reach their best validation."""
    full = [p for p in points if p.n_train == max(q.n_train for q in points)]
    epochs = float(np.median([p.best_epoch or p.epochs_run for p in full]))
    work = np.array([p.dim * p.n_train * p.epochs_run for p in points], dtype=float)
    seconds = np.array([p.seconds for p in points])
    # seconds ~ c0 + c1 * d * n * epochs, least squares (c0: per-run overhead such as validation)
    design = np.stack([np.ones_like(work), work], axis=1)
    c0, c1 = np.linalg.lstsq(design, seconds, rcond=None)[0]
    return {
        "epochs": epochs,
        "flops": 6.0 * dim * candidates * n_full * epochs,
        "seconds": float(max(c0, 0.0) + max(c1, 0.0) * dim * n_full * epochs),
    }
