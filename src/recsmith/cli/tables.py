"""Rich tables for the terminal (the Markdown files keep every column)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def leaderboard_table(board: dict[str, dict[str, Any]], select: str, title: str) -> Table:
    """A compact leaderboard: the selection metric on validation, the main test metrics, fit time."""
    k = select.split("@")[-1]
    cols = [f"ndcg@{k}", f"recall@{k}", f"hit@{k}", f"mrr@{k}", f"map@{k}"]
    table = Table(title=title, title_justify="left")
    # headers on two lines, each column at least as wide as its longest line and its values: a
    # narrow terminal never cuts a metric's name to "recall..." (the table gets wider instead)
    table.add_column("model", min_width=max(len("model"), *(len(name) for name in board)), no_wrap=True)
    for header in (f"valid\n{select}", *(f"test\n{c}" for c in cols), "fit\ns"):
        table.add_column(header, justify="right", min_width=max(6, *map(len, header.split("\n"))), no_wrap=True)
    ranked = sorted(board.items(), key=lambda kv: -kv[1]["test"].get(select, float("-inf")))
    for name, r in ranked:
        valid = r["valid"].get(select)
        table.add_row(
            name,
            f"{valid:.4f}" if valid is not None else "-",
            *[f"{r['test'].get(c, float('nan')):.4f}" for c in cols],
            f"{r['fit_seconds']:.2f}",
        )
    return table


def items_table(items: list[dict], title: str) -> Table:
    table = Table("rank", "item_id", "name", "score", title=title, title_justify="left")
    for it in items:
        table.add_row(str(it["rank"]), it["item_id"], it["name"] or "", f"{it['score']:.4f}")
    return table
