"""``recsmith recommend``: top-N items for users of a benchmark run, external ids in and out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recsmith.cli.tables import items_table
from recsmith.experiments.recommend import load_run, recommend_users


def recommend(
    run: Annotated[Path, typer.Option("--run", "-r", help="Run directory written by `recsmith benchmark`.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name in the run.")],
    user_id: Annotated[list[str], typer.Option("--user-id", "-u", help="External user id (repeatable).")],
    top_n: Annotated[int, typer.Option("--top-n", "-n", min=1, max=10_000, help="List length.")] = 10,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    keep_seen: Annotated[bool, typer.Option("--keep-seen", help="Do not filter already-seen items.")] = False,
) -> None:
    """Recommend TOP_N items for each USER_ID. Unknown users get the cold-start answer, flagged."""
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"--format must be table or json, got {fmt!r}")
    artifacts = load_run(run)
    results = recommend_users(artifacts, artifacts.load_model(model), user_id, top_n, filter_seen=not keep_seen)
    if fmt == "json":
        typer.echo(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    console = Console()
    for res in results:
        title = f"user {res['user_id']} · {model}" + (" · cold start (unknown user: popular items)" if res["cold_start"] else "")
        console.print(items_table(res["items"], title))
