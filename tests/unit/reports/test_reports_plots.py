"""The metric-vs-K figure: its overall title sits above the subplots' titles, never over them."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from recsmith.reports.plots import metric_vs_k, metric_vs_k_figure


@pytest.mark.parametrize("n_metrics", [1, 2, 4])
def test_the_overall_title_does_not_overlap_a_subplot_title(n_metrics: int) -> None:
    curve = list(np.linspace(0.1, 0.4, 20))
    by_k = {m: {f"metric{j}": curve for j in range(n_metrics)} for m in ("itemknn", "popular")}
    fig = metric_vs_k_figure(by_k, "run: metrics at K = 1..20")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    overall = fig._suptitle.get_window_extent(renderer)  # matplotlib keeps the suptitle Text there
    for ax in fig.axes:
        panel = ax.title.get_window_extent(renderer)
        assert panel.y1 <= overall.y0, f"title {ax.title.get_text()!r} reaches into the overall title"
    assert metric_vs_k(by_k, "t")[:8] == b"\x89PNG\r\n\x1a\n"
