"""``recsmith data ...``: read a source and write a prepared dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from recsmith.cli.options import ConfigOpt, OverwriteOpt, SetOpt
from recsmith.config import load_config
from recsmith.data.prepare import prepare, read_source
from recsmith.data.sources.base import available_sources
from recsmith.utils.logging import log

app = typer.Typer(help="Prepare datasets.", no_args_is_help=True)


@app.command("prepare")
def prepare_cmd(
    source: Annotated[str, typer.Argument(help="Source name, e.g. movielens-100k, sequences, hm, csv, synthetic.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the prepared dataset to.")],
    path: Annotated[Optional[str], typer.Option("--path", "-p", help="File or directory the source reads.")] = None,
    on_bad_rows: Annotated[
        Optional[str], typer.Option("--on-bad-rows", help="error (default) or skip (skipped rows are counted).")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Read SOURCE, prepare it (threshold, de-duplication, k-core, id encoding) and write it atomically."""
    overrides = [f"data.source={source}", *(set_ or [])]
    if path is not None:
        overrides.append(f"data.path={json.dumps(path)}")
    if on_bad_rows is not None:
        overrides.append(f"data.on_bad_rows={on_bad_rows}")
    cfg = load_config(config, overrides)
    log(f"reading {cfg.data.source} from {cfg.data.path or '(generated)'}")
    raw = read_source(cfg.data)
    dataset = prepare(raw, cfg.data)
    dataset.save(out, overwrite=overwrite)
    counts = dataset.manifest["counts"]
    skipped = sum(raw.bad_rows.values())
    typer.echo(
        f"wrote {out}: {counts['interactions']} interactions, {counts['users']} users, {counts['items']} items"
        + (f" ({skipped} bad rows skipped)" if skipped else "")
    )


@app.command("sources")
def sources_cmd() -> None:
    """List the registered data sources."""
    for name in available_sources():
        typer.echo(name)
