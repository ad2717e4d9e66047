"""``recsmith export``: a model bundle (model, id maps, encoders, index, manifest) from a run directory
(``recsmith benchmark`` or ``recsmith train``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsmith.cli.options import OverwriteOpt, parse_csv_list
from recsmith.utils.extras import require_extras


def _parse_params(values: list[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for text in values or []:
        name, sep, value = text.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise typer.BadParameter(f"--search-param must look like efSearch=128 or nprobe=16, got {text!r}")
        out[name.strip()] = int(value)
    return out


def export(
    run: Annotated[
        Path, typer.Option("--run", "-r", help="Run directory of `recsmith benchmark` or `recsmith train`.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle directory to write.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model name in the run (default: the run's only model).")
    ] = None,
    index: Annotated[
        str,
        typer.Option(
            "--index", help="FAISS factory string for factor models (Flat, HNSW32, IVF1024,PQ16), 'auto' or 'none'."
        ),
    ] = "auto",
    search_param: Annotated[
        list[str] | None,
        typer.Option("--search-param", help="Index search parameter, e.g. efSearch=128 (repeatable)."),
    ] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Bundle version (default: <model>-<UTC time>).")
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option("--features", help="Feature-store directory to include (default: RUN/features if present)."),
    ] = None,
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Also export the user/query encoder to ONNX (factor models).")
    ] = False,
    quantize: Annotated[
        bool, typer.Option("--quantize", help="With --onnx: add a dynamic-int8 quantised encoder.")
    ] = False,
    text_columns: Annotated[
        str | None,
        typer.Option(
            "--text-columns", help="Comma-separated item columns to encode for POST /v1/search, e.g. name,detail_desc."
        ),
    ] = None,
    text_model: Annotated[
        str | None,
        typer.Option(
            "--text-model",
            help="With --text-columns: text encoder name or path (default: the packaged "
            "all-MiniLM-L6-v2); the weights are not copied into the bundle.",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a model bundle that `recsmith serve --bundle DIR` serves."""
    require_extras(["serve"], "recsmith export")
    from recsmith.pipelines.export import export_bundle

    path = export_bundle(
        run,
        model,
        out,
        index_factory=None if index == "none" else index,
        search_params=_parse_params(search_param),
        version=version,
        features=features,
        onnx=onnx,
        quantize=quantize,
        text_columns=parse_csv_list(text_columns) if text_columns is not None else None,
        text_model=text_model,
        overwrite=overwrite,
    )
    manifest = json.loads((path / "manifest.json").read_text())
    idx = manifest.get("index")
    typer.echo(
        f"wrote bundle {path} (version {manifest['version']}, model {manifest['model']['name']}, "
        f"index {idx['factory'] + ' ' + idx['metric'] if idx else 'none'})"
    )
    text = manifest.get("text_encoder")
    if text:
        typer.echo(
            f"text search: {text['n_with_text']} of {manifest['model']['n_items']} items encoded with "
            f"{text['model']} ({text['dim']}-d, columns {', '.join(text['columns'])})"
        )
