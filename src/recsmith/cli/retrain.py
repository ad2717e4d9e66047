"""``recsmith retrain``: served feedback -> new dataset version -> challenger -> paired test -> register -> promote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsmith.cli.options import OverwriteOpt

Policy = typer.Option(help="Ids the dataset does not know: add (new ids), skip (drop, counted) or error.")


def retrain(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Registered model: its production version is the champion.")
    ],
    feedback: Annotated[Path, typer.Option("--feedback", "-f", help="The service's log, STATE_DIR/feedback.sqlite3.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Work directory (data/, run/, bundle/, retrain.json).")],
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry", help="Registry URI (default: $RECSMITH_REGISTRY_URI or sqlite:///registry/mlflow.db)."
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="Dataset to grow (default: the champion's).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Run config (default: the champion's).")] = None,
    window: Annotated[
        float, typer.Option("--window-days", help="Newest time window the paired test is on, in days.")
    ] = 7.0,
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the paired test.")] = 0.05,
    promote: Annotated[str, typer.Option("--promote", help="not_worse (default), better or never.")] = "not_worse",
    warm_start: Annotated[
        bool, typer.Option("--warm-start/--cold-start", help="Start from the champion where possible.")
    ] = True,
    unknown_users: Annotated[str, Policy] = "add",
    unknown_items: Annotated[str, Policy] = "add",
    overwrite: OverwriteOpt = False,
) -> None:
    """Retrain MODEL on its feedback; promote the challenger only if the paired test says it is not worse."""
    from pydantic import ValidationError

    from recsmith.errors import ConfigError
    from recsmith.utils.extras import require_extras

    require_extras(["serve"], "recsmith retrain")
    from recsmith.pipelines.retrain import RetrainOptions, run_retrain
    from recsmith.utils.validation import describe_errors

    try:
        opts = RetrainOptions(
            model=model,
            feedback=feedback,
            out=out,
            registry=registry,
            data=data,
            config=config,
            window_s=max(int(window * 86400), 1),
            alpha=alpha,
            promote=promote,
            warm_start=warm_start,
            unknown_users=unknown_users,
            unknown_items=unknown_items,
            overwrite=overwrite,
        )
    except ValidationError as err:
        raise ConfigError("retrain options:\n" + describe_errors(err, RetrainOptions)) from None
    report = run_retrain(opts)
    c = report["comparison"]
    typer.echo(
        f"{model}: challenger v{report['challenger_version']} {c['metric']} {c['challenger']:.4f} vs champion "
        f"v{report['champion_version']} {c['champion']:.4f} on {c['users']} users (p={c['p_t']:.3g}, {c['verdict']}); "
        + ("promoted" if report["promoted"] else "production unchanged")
    )
    fb = report["feedback"]
    typer.echo(
        f"feedback: {fb['read']} events, {fb['interactions']} interactions, {fb['negative']} negative, "
        f"{fb['malformed']} malformed {json.dumps(fb['malformed_by_reason']) if fb['malformed'] else ''}".rstrip()
    )
    typer.echo(f"report: {out / 'retrain.json'}")
