"""The terminal leaderboard keeps its headers whole on an 80-column terminal."""

from __future__ import annotations

import io

from rich.console import Console

from recsmith.cli.tables import leaderboard_table


def test_headers_are_not_cut_on_80_columns() -> None:
    metrics = {"ndcg@10": 0.1, "recall@10": 0.2, "hit@10": 0.3, "mrr@10": 0.1, "map@10": 0.05}
    board = {
        name: {"valid": {"ndcg@10": 0.1}, "test": metrics, "fit_seconds": 12.5} for name in ("itemknn", "two_stage")
    }
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(leaderboard_table(board, "ndcg@10", "Leaderboard: ml100k (loo)"))
    text = console.export_text()
    assert "…" not in text and "..." not in text
    for header in ("recall@10", "ndcg@10", "map@10", "two_stage"):
        assert header in text
    assert max(len(line) for line in text.splitlines()) <= 80
