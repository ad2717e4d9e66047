"""``recsmith report``: Markdown + self-contained HTML about one or more leaderboard runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsmith.cli.options import OverwriteOpt


def report(
    runs: Annotated[list[Path], typer.Argument(help="Leaderboard run directories (from `recsmith benchmark`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write report.md / report.html / img/ into.")],
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Model to compare with (default: the run's evaluation.baseline)."),
    ] = None,
    k: Annotated[
        int | None, typer.Option("--k", help="Cutoff of the tables (default: the run's middle cutoff).")
    ] = None,
    category: Annotated[
        str | None, typer.Option("--category", help="Items-table column with item categories (default: guessed).")
    ] = None,
    cold_start: Annotated[
        int, typer.Option("--cold-start", help="Cold-start users: at most this many training interactions.")
    ] = 5,
    quantiles: Annotated[int, typer.Option("--quantiles", help="Activity slices: number of quantiles.")] = 4,
    bootstrap: Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples for intervals (0: none).")] = 1000,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the comparisons.")] = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap and of sampled negatives.")] = 0,
    sampled: Annotated[
        int,
        typer.Option("--sampled", help="Also score the saved models with N sampled negatives, for contrast (0: off)."),
    ] = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write a report (tables, paired comparisons, beyond-accuracy metrics, slices, plots) of RUNS."""
    from recsmith.reports import ReportOptions, write_report  # matplotlib: imported only when used

    if cold_start < 0 or quantiles < 1 or bootstrap < 0 or not 0 < alpha < 1 or sampled < 0:
        raise typer.BadParameter("--cold-start, --bootstrap, --sampled must be >= 0, --quantiles >= 1, 0 < --alpha < 1")
    options = ReportOptions(
        baseline=baseline,
        k=k,
        category=category,
        cold_start_max=cold_start,
        n_quantiles=quantiles,
        bootstrap=bootstrap,
        alpha=alpha,
        seed=seed,
        sampled_negatives=sampled,
    )
    path = write_report(runs, out, options, overwrite=overwrite)
    typer.echo(f"wrote {path}/report.md, {path}/report.html and {path}/img/")
