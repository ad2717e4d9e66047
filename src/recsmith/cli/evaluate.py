"""``recsmith evaluate``: metrics of a predictions file against a truth file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from recsmith.cli.options import parse_ks
from recsmith.evaluation import evaluate_files


def evaluate(
    predictions: Annotated[Path, typer.Option("--predictions", "-p", help="CSV/Parquet with user_id,item_id,rank.")],
    truth: Annotated[Path, typer.Option("--truth", "-t", help="CSV/Parquet with user_id,item_id.")],
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated.")] = "10",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Full-ranking metrics of PREDICTIONS against TRUTH, averaged over the users in TRUTH."""
    metrics = evaluate_files(predictions, truth, parse_ks(k))
    if as_json:
        typer.echo(json.dumps(metrics))
        return
    table = Table("metric", "value")
    for name, value in metrics.items():
        table.add_row(name, f"{value:.6f}" if isinstance(value, float) else str(value))
    Console().print(table)
