"""Options shared by several commands (declared once)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsmith.utils.packaged import packaged_configs

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help=f"YAML run config: a file, or a packaged one by name ({', '.join(packaged_configs())}).",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a config key, e.g. --set models.itemknn.k=200 (repeatable)."),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace the output directory if it exists.")]


def parse_csv_list(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def parse_ks(text: str) -> list[int]:
    try:
        ks = [int(p) for p in parse_csv_list(text)]
    except ValueError:
        raise typer.BadParameter(f"--k must be comma-separated positive integers, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise typer.BadParameter(f"--k must be comma-separated positive integers, got {text!r}")
    return ks
