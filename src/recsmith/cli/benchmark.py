"""``recsmith benchmark``: the leaderboard of several models on one prepared dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recsmith.cli.options import ConfigOpt, OverwriteOpt, SetOpt, parse_csv_list
from recsmith.cli.tables import leaderboard_table
from recsmith.config import RunConfig, load_config
from recsmith.data.dataset import Dataset
from recsmith.pipelines.benchmark import run_benchmark


def benchmark(
    data: Annotated[Path, typer.Option("--data", "-d", help="Prepared dataset directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    models: Annotated[
        str | None,
        typer.Option("--models", "-m", help="Comma-separated model names (default: those in the config)."),
    ] = None,
    split: Annotated[str | None, typer.Option("--split", help="loo, last_n, temporal or random.")] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Train and evaluate MODELS (selection on validation, numbers on test); write leaderboard.json/.md."""
    # the full help, with the defaults, is benchmark_help() (main.py registers the command with it)
    overrides = list(set_ or [])
    if split is not None:
        overrides.insert(0, f"split.method={split}")
    cfg = load_config(config, overrides)
    names = parse_csv_list(models) if models else list(cfg.models)
    if not names:
        raise typer.BadParameter("no models: pass --models popular,itemknn,... or list them in the config")
    dataset = Dataset.load(data)
    board = run_benchmark(dataset, cfg, names, out, dataset_path=data, overwrite=overwrite)
    title = f"Leaderboard: {dataset.manifest.get('name', data)} ({cfg.split.method})"
    Console().print(leaderboard_table(board, cfg.evaluation.select_metric, title))
    typer.echo(f"wrote {out}/leaderboard.json and {out}/leaderboard.md")


def benchmark_help() -> str:
    """The command's help: what it does, then what it does without --config, read from the run
    config's defaults (so the text cannot drift from them)."""
    cfg = RunConfig()
    split, ev = cfg.split, cfg.evaluation
    seen = "a user's training items are never recommended" if ev.filter_seen else "training items may be recommended"
    return (
        "Train and evaluate MODELS (selection on validation, numbers on test); write leaderboard.json/.md.\n\n"
        f"Without --config: split {split.method} (each user's last interaction is test, the one before "
        f"validation; users with fewer than {split.min_interactions} interactions stay in train); "
        f"K = {', '.join(map(str, ev.ks))}; {seen}; each model is chosen by {ev.select_metric} on "
        "validation and refitted on train + validation; no tuning (a tune: section in a config); each "
        f"model with its defaults (recsmith models NAME); seed {cfg.seed}; paired comparisons against {ev.baseline}."
    )
