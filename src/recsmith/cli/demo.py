"""``recsmith demo``: the whole pipeline on built-in synthetic data (no files, no network)."""

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


def demo(
    config: ConfigOpt = Path("demo"),  # the packaged demo.yaml: works from any directory
    set_: SetOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the data and the run.")] = Path("runs/demo"),
) -> None:
    """Generate data -> prepare -> split -> train baselines -> evaluate -> leaderboard -> recommendations."""
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
