"""``recsmith app``: the web app (Gradio) to look at a run's or bundles' recommendations and their reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsmith.cli.options import parse_csv_list
from recsmith.utils.extras import require_extras


def app(
    run: Annotated[
        Path | None, typer.Option("--run", "-r", help="Run directory of `recsmith benchmark` / `recsmith train`.")
    ] = None,
    bundle: Annotated[
        list[Path] | None,
        typer.Option("--bundle", "-b", help="Bundle directory of `recsmith export` (repeatable: compare models)."),
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 7860,
    text_columns: Annotated[
        str, typer.Option("--text-columns", help="Comma-separated item columns searched by text (runs).")
    ] = "name",
    text_model: Annotated[
        str | None, typer.Option("--text-model", help="Text encoder (default: the packaged all-MiniLM-L6-v2).")
    ] = None,
    image_model: Annotated[
        str | None,
        typer.Option("--image-model", help="Image encoder directory (CLIP / ViT) for search by image (runs)."),
    ] = None,
) -> None:
    """Open a web app on a run (all its models) or on bundles: users' histories and recommendations side
    by side, why each item is recommended, similar items, text / image search, anonymous sessions.
    Runs offline; stop it with Ctrl-C."""
    require_extras(["app"], "recsmith app")
    from recsmith.app.source import AppSource
    from recsmith.app.ui import AppOptions, launch

    if (run is None) == (not bundle):
        raise typer.BadParameter("give exactly one of --run DIR or --bundle DIR (repeatable)")
    src = AppSource.from_run(run) if run is not None else AppSource.from_bundles(list(bundle or []))
    options = AppOptions(tuple(parse_csv_list(text_columns)), text_model, image_model)
    typer.echo(f"recsmith app on http://{host}:{port} ({src.title}); Ctrl-C stops it", err=True)
    launch(src, options, host=host, port=port)
