"""``recsmith tune``: an Optuna study of one model's hyperparameters (``study`` section of the config)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from recsmith.cli.options import ConfigOpt, OverwriteOpt, SetOpt
from recsmith.config import load_config
from recsmith.data.dataset import Dataset


def tune(
    data: Annotated[Path, typer.Option("--data", "-d", help="Prepared dataset directory.")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model entry with a space in study.spaces.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Study directory (Optuna SQLite storage, MLflow, plots).")],
    config: ConfigOpt = None,
    trials: Annotated[
        int | None, typer.Option("--trials", "-n", min=1, help="Trials in all (default: study.trials).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the study in OUT: run only the missing trials.")
    ] = False,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Search MODEL's hyperparameters on validation (TPE, pruning, SQLite storage); write OUT/best_config.yaml."""
    from recsmith.utils.extras import require_extras

    require_extras(["tune"], "recsmith tune")
    from recsmith.pipelines.tune import BEST_CONFIG, run_tune

    cfg = load_config(config, list(set_ or []))
    result = run_tune(
        Dataset.load(data), cfg, model, out, dataset_path=data, trials=trials, resume=resume, overwrite=overwrite
    )
    table = Table(title=f"study {result.study}: best trial {result.best_trial}")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for key, value in result.best_params.items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    table.add_row(f"valid {cfg.evaluation.select_metric}", f"{result.best_value:.4f}")
    Console().print(table)
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(result.states.items()))
    typer.echo(f"trials: {counts}")
    typer.echo(f"train it: recsmith benchmark --data {data} --models {model} --config {out / BEST_CONFIG} --out RUN")
