"""The report's figures as PNG bytes (matplotlib's object API: no pyplot state, no display needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

_PALETTE = [
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
]


def colours(models: Sequence[str]) -> dict[str, str]:
    """One stable colour per model (by position)."""
    return {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(models)}


def _titled_figure(figsize: tuple[float, float]) -> Figure:
    """A figure for subplots under an overall title (``suptitle``): the constrained layout leaves
    the title its own room, where the default one draws it over the subplots' titles."""
    return Figure(figsize=figsize, layout="constrained")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def metric_vs_k(by_k: dict[str, dict[str, list[float]]], title: str) -> bytes:
    """One panel per metric: its value at K = 1..K_max, one line per model."""
    return _png(metric_vs_k_figure(by_k, title))


def metric_vs_k_figure(by_k: dict[str, dict[str, list[float]]], title: str) -> Figure:
    """The figure of :func:`metric_vs_k`."""
    models = list(by_k)
    metrics = list(next(iter(by_k.values()))) if by_k else []
    fig = _titled_figure(figsize=(4.2 * max(len(metrics), 1), 3.4))
    col = colours(models)
    for j, metric in enumerate(metrics):
        ax = fig.add_subplot(1, len(metrics), j + 1)
        for m in models:
            values = by_k[m][metric]
            ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=2.5, label=m, color=col[m])
        ax.set_xlabel("K")
        ax.set_title(f"{metric}@K")
        ax.grid(alpha=0.3)
    if metrics:
        fig.axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def popularity_cdf(
    ranks: np.ndarray, series: dict[str, np.ndarray], models: Sequence[str], k: int, title: str
) -> bytes:
    """Cumulative share of recommended items (solid) and of interactions (dashed) among the r most
    popular training items: a curve far above the interactions' means popularity bias."""
    fig = Figure(figsize=(7.5, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    col = colours(models)
    for name, values in series.items():
        if name in col:
            ax.plot(ranks, values, label=f"{name} (top-{k})", color=col[name], linewidth=1.6)
        else:
            style = "--" if name.startswith("test") else ":"
            ax.plot(ranks, values, style, label=name, color="black", linewidth=1.6)
    ax.set_xscale("log")
    ax.set_xlabel("item popularity rank in training (1 = most popular)")
    ax.set_ylabel("cumulative share")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title)
    return _png(fig)


def coverage_bars(models_info: dict[str, Any], ks: Sequence[int], title: str) -> bytes:
    """Left: catalogue coverage@K per model (grouped by K). Right: Gini index of exposure."""
    models = list(models_info)
    col = colours(models)
    fig = _titled_figure(figsize=(10, 3.8))
    ax = fig.add_subplot(1, 2, 1)
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(ks))
    for i, m in enumerate(models):
        b = models_info[m].get("beyond", {})
        vals = [b.get(f"coverage@{k}") or 0.0 for k in ks]
        ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=m, color=col[m])
    ax.set_xticks(x, [f"@{k}" for k in ks])
    ax.set_ylabel("catalogue coverage")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    ax2 = fig.add_subplot(1, 2, 2)
    gini = [models_info[m].get("beyond", {}).get("gini") or 0.0 for m in models]
    ax2.bar(np.arange(len(models)), gini, color=[col[m] for m in models])
    ax2.set_xticks(np.arange(len(models)), models, rotation=30, ha="right")
    ax2.set_ylabel("Gini index of exposure")
    ax2.set_ylim(0, 1.05)
    ax2.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    return _png(fig)


def slice_bars(slices: list[dict[str, Any]], metric: str, title: str) -> bytes:
    """``metric`` per slice (x) and model (bars), with bootstrap interval whiskers."""
    names = [s["name"] for s in slices]
    models = list(slices[0]["models"]) if slices else []
    col = colours(models)
    fig = Figure(figsize=(max(7.0, 1.3 * len(names) + 2), 4.0))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(len(models), 1)
    x = np.arange(len(names))
    for i, m in enumerate(models):
        vals, lo, hi = [], [], []
        for s in slices:
            entry = s["models"][m]
            v = entry["metrics"].get(metric)
            ci = entry.get("ci", {}).get(metric, [None, None])
            vals.append(v if v is not None else 0.0)
            lo.append(v - ci[0] if v is not None and ci[0] is not None else 0.0)
            hi.append(ci[1] - v if v is not None and ci[1] is not None else 0.0)
        ax.bar(
            x + i * width - 0.4 + width / 2,
            vals,
            width,
            yerr=[lo, hi],
            capsize=2,
            label=m,
            color=col[m],
            error_kw={"elinewidth": 0.8},
        )
    labels = [f"{s['name']}\n(n={max((e['n_users'] for e in s['models'].values()), default=0)})" for s in slices]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    ax.set_title(title)
    return _png(fig)


def training_curves(curves: dict[str, pl.DataFrame], title: str) -> bytes | None:
    """Per epoch: the loss (left) and the logged ranking metrics such as ``valid/ndcg@10``
    (right, when there are any), one line per log file. Throughput, learning rate and sampler
    diagnostics are left out."""
    series: list[tuple[str, str, np.ndarray, np.ndarray]] = []  # (panel, label, x, y)
    for label, frame in curves.items():
        x_name = next((c for c in ("epoch", "step") if c in frame.columns), None)
        x = frame[x_name].to_numpy() if x_name else np.arange(1, frame.height + 1)
        for column in frame.columns:
            panel = "loss" if "loss" in column else "metrics" if "@" in column else None
            if panel is None:
                continue
            y = frame[column].to_numpy().astype(np.float64)
            keep = ~np.isnan(y)
            if keep.any():
                series.append((panel, f"{label}: {column}", x[keep], y[keep]))
    if not series:
        return None
    panels = [p for p in ("loss", "metrics") if any(s[0] == p for s in series)]
    fig = _titled_figure(figsize=(5.5 * len(panels), 3.8))
    for j, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), j + 1)
        for _, label, x, y in (s for s in series if s[0] == panel):
            ax.plot(x, y, marker="o", markersize=2.5, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return _png(fig)
