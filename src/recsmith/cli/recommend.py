"""``recsmith recommend``: items for users, items like an item, a text query or an image, from a
run directory (``recsmith benchmark`` or ``recsmith train``), with external ids in and out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from recsmith.cli.options import parse_csv_list
from recsmith.cli.tables import items_table
from recsmith.runs.recommend import load_run, recommend_users, search_image, search_text, similar_items
from recsmith.runs.search import DEFAULT_IMAGE_COLUMN


def recommend(
    run: Annotated[
        Path, typer.Option("--run", "-r", help="Run directory of `recsmith benchmark` or `recsmith train`.")
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Model name in the run (default for --user-id: the run's only model; optional for --item-id).",
        ),
    ] = None,
    user_id: Annotated[
        list[str] | None, typer.Option("--user-id", "-u", help="External user id (repeatable): top-N for the user.")
    ] = None,
    item_id: Annotated[
        list[str] | None,
        typer.Option(
            "--item-id", "-i", help="External item id (repeatable): similar items (the model's, else by text)."
        ),
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Text query: items whose text embedding is closest.")
    ] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="Image file: items whose image embedding is closest.")
    ] = None,
    top_n: Annotated[int, typer.Option("--top-n", "-n", min=1, max=10_000, help="List length.")] = 10,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help='table, or json: always one object {"results": [...]}, one result per --user-id / --item-id '
            "(one for --query / --image), as the HTTP API's batch answer.",
        ),
    ] = "table",
    keep_seen: Annotated[
        bool, typer.Option("--keep-seen", help="Do not filter already-seen items (--user-id).")
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Say why each item is recommended: the history items (or features) behind it (--user-id)."
        ),
    ] = False,
    text_columns: Annotated[
        str, typer.Option("--text-columns", help="Comma-separated item columns that make an item's text.")
    ] = "name",
    text_model: Annotated[
        str | None, typer.Option("--text-model", help="Text encoder (default: the packaged all-MiniLM-L6-v2).")
    ] = None,
    image_model: Annotated[
        str | None, typer.Option("--image-model", help="Image encoder directory (CLIP / ViT) for --image.")
    ] = None,
    image_column: Annotated[
        str, typer.Option("--image-column", help="Item column holding image paths or URLs (--image).")
    ] = DEFAULT_IMAGE_COLUMN,
) -> None:
    """Recommend TOP_N items for exactly one of: --user-id, --item-id, --query or --image.

    Unknown users get the cold-start answer (popular items), flagged. Item embeddings for --query,
    --image and text-based --item-id are cached under RUN/cache.
    """
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"--format must be table or json, got {fmt!r}")
    forms = {
        "--user-id": bool(user_id),
        "--item-id": bool(item_id),
        "--query": query is not None,
        "--image": image is not None,
    }
    chosen = [name for name, given in forms.items() if given]
    if len(chosen) != 1:
        got = f"got {' and '.join(chosen)}" if chosen else "got none"
        raise typer.BadParameter(f"give exactly one of --user-id, --item-id, --query or --image ({got})")
    if explain and not user_id:
        raise typer.BadParameter(f"--explain needs --user-id (got {chosen[0]})")
    artifacts = load_run(run)
    if user_id:  # the run's only model (a train run) unless named
        model = artifacts.model_name(model)
    columns = parse_csv_list(text_columns)
    loaded = artifacts.load_model(model) if model is not None and not user_id else None
    if user_id:
        results = recommend_users(
            artifacts, artifacts.load_model(model), user_id, top_n, filter_seen=not keep_seen, explain=explain
        )
        titles = [
            f"user {r['user_id']} · {model}"
            + (" · cold start (unknown user: popular items)" if r["cold_start"] else "")
            for r in results
        ]
    elif item_id:
        results = similar_items(artifacts, loaded, item_id, top_n, text_columns=columns, text_model=text_model)
        titles = [f"items like {r['item_id']} ({r['name'] or 'no name'}) · {r['source']}" for r in results]
    elif query is not None:
        results = [search_text(artifacts, query, top_n, text_columns=columns, text_model=text_model)]
        titles = [f"query {query!r} · text of {', '.join(columns)}"]
    elif image is not None:
        results = [search_image(artifacts, image, top_n, image_model=image_model, image_column=image_column)]
        titles = [f"image {image} · {image_column}"]
    _print(results, titles, fmt)


def _print(results: list[dict[str, Any]], titles: list[str], fmt: str) -> None:
    if fmt == "json":  # one shape whatever the form and the number of ids: scripts never branch on it
        typer.echo(json.dumps({"results": results}, indent=2))
        return
    console = Console()
    for res, title in zip(results, titles):
        console.print(items_table(res["items"], title))
