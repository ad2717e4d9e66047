"""``recsmith demo``: the whole pipeline on built-in synthetic data (no files, no network);
``recsmith demo lifecycle``: train -> register -> serve -> drift -> retrain -> promote -> A/B."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recsmith.cli.options import ConfigOpt, SetOpt, parse_csv_list
from recsmith.cli.tables import items_table, leaderboard_table
from recsmith.config import load_config
from recsmith.pipelines.demo import run_demo

app = typer.Typer(help="Demos on built-in synthetic data.", invoke_without_command=True)


@app.callback()
def demo(
    ctx: typer.Context,
    config: ConfigOpt = Path("demo"),  # the packaged demo.yaml: works from any directory
    set_: SetOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the data and the run.")] = Path("runs/demo"),
) -> None:
    """Generate data -> prepare -> split -> train baselines -> evaluate -> leaderboard -> recommendations."""
    if ctx.invoked_subcommand is not None:
        return
    start = time.perf_counter()
    cfg = load_config(config, list(set_ or []))
    result = run_demo(cfg, list(cfg.models) or parse_csv_list("popular,itemknn,ease,als,bpr"), out)
    console = Console()
    select = cfg.evaluation.select_metric
    console.print(leaderboard_table(result.leaderboard, select, "Leaderboard: synthetic H&M-like data (leave-one-out)"))
    console.print(f"full table: {out}/run/leaderboard.md")
    console.print(
        f"\nSample recommendations from the best model on validation {select}: [bold]{result.best_model}[/bold]\n"
    )
    for rec in result.recommendations:
        history = "; ".join(result.histories.get(rec["user_id"], []))
        console.print(items_table(rec["items"], f"customer {rec['user_id'][:12]}… · recently bought: {history}"))
    console.print(f"\ndemo finished in {time.perf_counter() - start:.1f} s; outputs in {out}")


@app.command("lifecycle")
def lifecycle(
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write everything (lifecycle.json).")] = Path(
        "runs/lifecycle"
    ),
    rps: Annotated[float, typer.Option("--rps", help="Requests per second sent while production switches.")] = 100.0,
) -> None:
    """Train v1 -> register -> serve -> drifted feedback -> drift detected -> retrain -> promote -> live
    switch under load -> A/B v1 vs v2 -> report (OUT/lifecycle.json)."""
    from recsmith.pipelines.lifecycle import run_lifecycle

    start = time.perf_counter()
    result = run_lifecycle(out, rps=rps)
    c = result["retrain"]["comparison"]
    ab = result["ab"]
    console = Console()
    console.print(f"drift: {result['drift']['values']} (threshold {result['drift']['threshold']})")
    console.print(
        f"retrain: challenger {c['metric']} {c['challenger']:.4f} vs champion {c['champion']:.4f} "
        f"(p={c['p_t']:.3g}, {c['verdict']}); promoted: {result['promoted']['promoted']}"
    )
    console.print(
        f"switch: {result['switch']['requests']} requests at {result['switch']['rps']:.0f}/s, "
        f"{result['failed_requests']} failed"
    )
    rates = ", ".join(f"{v} {ab['conversion'][v]:.3f}" for v in ab["variants"])
    p_value = f"{ab['p_value']:.3g}" if ab["p_value"] is not None else "n/a"
    console.print(f"A/B: conversion {rates}; p = {p_value} ({ab['verdict']})")
    console.print(f"lifecycle demo finished in {time.perf_counter() - start:.0f} s; {out}/lifecycle.json")
