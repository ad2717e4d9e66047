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
    """Ranked items; a ``because`` column when they carry explanations (``recommend --explain``)."""
    explained = any("explanation" in it for it in items)
    table = Table("rank", "item_id", "name", "score", title=title, title_justify="left")
    if explained:
        table.add_column("because (contribution)")
    for it in items:
        row = [str(it["rank"]), it["item_id"], it["name"] or "", f"{it['score']:.4f}"]
        if explained:
            row.append(because(it.get("explanation")))
        table.add_row(*row)
    return table


def because(explanation: dict | None, n: int = 3) -> str:
    """The top ``n`` reasons of an explanation on one line: ``name (+0.42); feature (+1.00)``."""
    if not explanation:
        return ""
    parts = []
    for r in explanation["reasons"][:n]:
        label = r.get("feature") or r.get("name") or r.get("item_id")
        parts.append(f"{label} ({r['contribution']:+.3g})")
    return (
        "; ".join(parts) or f"no single {'item' if explanation['method'] != 'popularity' else 'reason'} speaks for it"
    )
