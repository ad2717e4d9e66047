"""``recsmith train`` / ``lr-find`` / ``scaling``: torch models through the one Trainer.

Torch is imported inside the commands, so the CLI starts fast for everything else; without the
``torch`` extra they stop with one line saying how to install it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from recsmith.cli.options import ConfigOpt, OverwriteOpt, SetOpt, parse_csv_list
from recsmith.config import load_config
from recsmith.data.dataset import Dataset
from recsmith.utils.extras import require_extras

DataOpt = Annotated[Path, typer.Option("--data", "-d", help="Prepared dataset directory.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")]
ModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="Torch model to train (default: the only one in the config).")
]


def train(
    data: DataOpt,
    out: OutOpt,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in OUT from its last checkpoint.")] = False,
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Train one torch model (train section of the config), early-stop on validation, score test, save."""
    require_extras(["torch"], "recsmith train")
    from recsmith.pipelines.train import run_training

    cfg = load_config(config, list(set_ or []))
    results = run_training(
        Dataset.load(data), cfg, out, model_name=model, resume=resume, overwrite=overwrite, dataset_path=data
    )
    if not results:  # a non-zero torchrun rank
        return
    table = Table(title=f"{results['model']}: best epoch {results['best_epoch']} of {results['epochs_run']}")
    table.add_column("metric")
    table.add_column("valid", justify="right")
    table.add_column("test", justify="right")
    for key, value in results["test"].items():
        if key == "n_users":
            continue
        valid = results["valid"].get(key)
        table.add_row(key, f"{valid:.4f}" if valid is not None else "-", f"{value:.4f}")
    Console().print(table)
    typer.echo(f"wrote {out}/results.json and {out}/model")


def lr_find(
    data: DataOpt,
    out: OutOpt,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    start_lr: Annotated[float, typer.Option("--start-lr", help="First learning rate of the ramp.")] = 1e-6,
    end_lr: Annotated[float, typer.Option("--end-lr", help="Last learning rate of the ramp.")] = 10.0,
    steps: Annotated[int, typer.Option("--steps", help="Optimizer steps of the ramp.")] = 100,
    set_: SetOpt = None,
) -> None:
    """Learning-rate range test: exponential ramp, smoothed loss, stop on divergence; plot + suggestion."""
    require_extras(["torch"], "recsmith lr-find")
    from recsmith.pipelines.lr_find import run_lr_find

    cfg = load_config(config, list(set_ or []))
    result = run_lr_find(
        Dataset.load(data), cfg, out, model_name=model, start_lr=start_lr, end_lr=end_lr, steps=steps, dataset_path=data
    )
    stop = f"diverged at {result.lrs[-1]:.2e}" if result.diverged else f"reached {result.lrs[-1]:.2e}"
    typer.echo(f"range test: {len(result.lrs)} steps, {stop}; plot in {out}/lr_find.png")
    typer.echo(f"suggested learning rate: {result.suggestion:.2e}")


def scaling(
    data: DataOpt,
    out: OutOpt,
    config: ConfigOpt = None,
    model: ModelOpt = None,
    dims: Annotated[str, typer.Option("--dims", help="Embedding dimensions, comma-separated.")] = "16,32,64,128,256",
    fractions: Annotated[
        str, typer.Option("--fractions", help="Shares of the training data, comma-separated.")
    ] = "0.25,0.5,1.0",
    set_: SetOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Train a model family over dims x data fractions, fit a power law, suggest a dim and a budget."""
    require_extras(["torch"], "recsmith scaling")
    from recsmith.pipelines.scaling import run_scaling

    try:
        dim_list = [int(d) for d in parse_csv_list(dims)]
        fraction_list = [float(f) for f in parse_csv_list(fractions)]
    except ValueError:
        raise typer.BadParameter(
            f"--dims takes integers and --fractions numbers, got {dims!r} / {fractions!r}"
        ) from None
    cfg = load_config(config, list(set_ or []))
    report = run_scaling(
        Dataset.load(data),
        cfg,
        out,
        dims=dim_list,
        fractions=fraction_list,
        model_name=model,
        overwrite=overwrite,
        dataset_path=data,
    )
    typer.echo(report.markdown_table())
    typer.echo(report.suggestion_text())
    typer.echo(f"wrote {out}/scaling.md, {out}/scaling.json and {out}/scaling.png")
