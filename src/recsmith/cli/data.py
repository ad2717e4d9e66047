"""``recsmith data ...``: read a source and write a prepared dataset; write synthetic H&M files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsmith.cli.options import ConfigOpt, OverwriteOpt, SetOpt
from recsmith.config import load_config
from recsmith.data.sources.base import available_sources, source_spec
from recsmith.pipelines.prepare import prepare_dataset
from recsmith.utils.config_doc import describe_options, options_text
from recsmith.utils.logging import log

app = typer.Typer(help="Prepare datasets.", no_args_is_help=True)
synth_app = typer.Typer(help="Write synthetic data files.", no_args_is_help=True)
app.add_typer(synth_app, name="synth")


@app.command("prepare")
def prepare_cmd(
    source: Annotated[str, typer.Argument(help="Source name, e.g. movielens-100k, sequences, hm, csv, synthetic.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the prepared dataset to.")],
    path: Annotated[
        str | None, typer.Option("--path", "--raw", "-p", help="File or directory the source reads (raw data).")
    ] = None,
    on_bad_rows: Annotated[
        str | None, typer.Option("--on-bad-rows", help="error (default) or skip (skipped rows are counted).")
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Read SOURCE, prepare it (threshold, de-duplication, k-core, id encoding) and write it atomically.

    A source may prepare out of core (hm: streamed, with the feature store in OUT/features); any
    source writes a feature store too with --set features.enabled=true and the features.* keys.
    recsmith data sources lists the sources; recsmith data sources NAME, a source's options.
    """
    overrides = [f"data.source={source}", *(set_ or [])]
    if path is not None:
        overrides.append(f"data.path={json.dumps(path)}")
    if on_bad_rows is not None:
        overrides.append(f"data.on_bad_rows={on_bad_rows}")
    cfg = load_config(config, overrides)
    log(f"reading {cfg.data.source} from {cfg.data.path or '(generated)'}")
    manifest = prepare_dataset(cfg.data, out, features=cfg.features, overwrite=overwrite)
    counts = manifest["counts"]
    skipped = sum(manifest.get("bad_rows", {}).values())
    typer.echo(
        f"wrote {out}: {counts['interactions']} interactions, {counts['users']} users, {counts['items']} items"
        + (f" ({skipped} bad rows skipped)" if skipped else "")
    )


@app.command("sources")
def sources_cmd(
    name: Annotated[str | None, typer.Argument(help="A source: show what it reads and its options.")] = None,
) -> None:
    """List the registered data sources, one line each on what they read; with NAME, its options
    (type, default, meaning), read from the source's own options model."""
    if name is None:
        names = available_sources()
        width = max(len(n) for n in names)
        for source in names:
            typer.echo(f"{source:<{width}}  {source_spec(source).summary}")
        typer.echo("recsmith data sources NAME shows a source's options")
        return
    spec = source_spec(name)  # an unknown name is a ConfigError listing the sources
    options = describe_options(spec.options)
    lines = [f"{name}: {spec.summary}"]
    if options:
        lines.append("options (--set data.options.KEY=VALUE, or under data: options: in a config):")
        lines += options_text(options)
    else:
        lines.append("options: none")
    typer.echo("\n".join(lines))


@synth_app.command("hm")
def synth_hm_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the three CSV files to.")],
    customers: Annotated[int, typer.Option("--customers", help="Number of customers.")] = 1_371_980,
    articles: Annotated[int, typer.Option("--articles", help="Number of articles.")] = 105_542,
    transactions: Annotated[
        int, typer.Option("--transactions", help="Number of transactions (before --scale).")
    ] = 31_788_324,
    scale: Annotated[float, typer.Option("--scale", help="Multiply the number of transactions.", min=0.0)] = 1.0,
    start: Annotated[str, typer.Option("--start", help="First day (YYYY-MM-DD).")] = "2018-09-20",
    days: Annotated[int, typer.Option("--days", help="Length of the period in days.")] = 734,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed and sizes: same files).")] = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write articles.csv, customers.csv and transactions_train.csv in the Kaggle H&M schema, in chunks
    (memory stays bounded at any size; the defaults are the full H&M scale)."""
    from recsmith.data.synthetic import write_hm_csv_chunked

    n_transactions = max(1, round(transactions * scale))
    log(f"writing {customers} customers, {articles} articles, {n_transactions} transactions to {out}")
    paths = write_hm_csv_chunked(
        out, overwrite=overwrite, n_customers=customers, n_articles=articles, n_transactions=n_transactions,
        start=start, days=days, seed=seed,
    )  # fmt: skip
    sizes = ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.1f} MB)" for p in paths.values())
    typer.echo(f"wrote {out}: {sizes}")
