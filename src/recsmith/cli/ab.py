"""``recsmith ab``: the report of an A/B test the service ran, and offline team-draft interleaving."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="A/B tests: the online report, offline interleaving.", no_args_is_help=True)


@app.command("report")
def report(
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="The service's state directory (RECSMITH_STATE_DIR).")
    ] = Path("var"),
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Experiment (default: the last).")
    ] = None,
    control: Annotated[
        str | None, typer.Option("--control", help="Variant to compare with (default: the first).")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level.")] = 0.05,
    mde: Annotated[float, typer.Option("--mde", help="Smallest relative lift worth detecting (sample size).")] = 0.1,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Conversion per variant with 95% intervals, a chi-square test, and whether the sample can conclude."""
    from recsmith.pipelines.ab_report import ab_report

    result = ab_report(state_dir, experiment, alpha=alpha, mde=mde, control=control)
    if json_:
        typer.echo(json.dumps(result, indent=2))
        return
    table = Table(title=f"experiment {result['experiment']}")
    for col in ("variant", "share", "users", "exposures", "converted", "conversion", "95% CI"):
        table.add_column(col)
    for name, v in result["variants"].items():
        table.add_row(
            name,
            f"{v['share']:g}",
            str(v["users"]),
            str(v["exposures"]),
            str(v["converted"]),
            f"{v['conversion']:.4f}",
            f"[{v['ci'][0]:.4f}, {v['ci'][1]:.4f}]",
        )
    Console().print(table)
    p = result["p_value"]
    typer.echo(f"{result['test']}: p = {p:.4g}" if p is not None else f"{result['test']}: not computable")
    needed = result["users_needed_per_variant"]
    typer.echo(
        f"verdict: {result['verdict']}"
        + (f" (about {needed} users per variant detect a {result['mde']:.0%} lift)" if needed else "")
    )


@app.command("interleave")
def interleave(
    run: Annotated[Path, typer.Option("--run", "-r", help="A `recsmith benchmark` run (its test lists and split).")],
    a: Annotated[str, typer.Option("--a", help="First model of the run.")],
    b: Annotated[str, typer.Option("--b", help="Second model of the run.")],
    k: Annotated[int, typer.Option("--k", min=1, help="Length of the interleaved list.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the team-draft coin.")] = 0,
) -> None:
    """Team-draft interleaving of models A and B on the run's test split: wins, ties, sign test."""
    import numpy as np

    from recsmith.errors import RecsmithError
    from recsmith.evaluation.interleaving import interleave as team_draft_interleave
    from recsmith.evaluation.store import has_evaluations, load_evaluation, load_manifest, load_split

    if not has_evaluations(run):
        raise RecsmithError(f"{run} has no stored test lists (eval/): run `recsmith benchmark` first")
    manifest = load_manifest(run)
    for name in (a, b):
        if name not in manifest["models"]:
            raise RecsmithError(f"run {run} has no model {name!r}; models: {', '.join(manifest['models'])}")
    ea, eb = load_evaluation(run, a), load_evaluation(run, b)
    users, ia, ib = np.intersect1d(ea.users, eb.users, return_indices=True)
    _, test = load_split(run, manifest)
    relevant = test.binary
    rel = [relevant.indices[relevant.indptr[u] : relevant.indptr[u + 1]] for u in users]
    result = team_draft_interleave(ea.lists[ia], eb.lists[ib], rel, k=k, seed=seed)
    typer.echo(json.dumps({"a": a, "b": b, "k": k, **result}, indent=2))
