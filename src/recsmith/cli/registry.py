"""``recsmith registry``: bundles as versions of named models on MLflow's Model Registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from recsmith.serving.registry import ModelRegistry

app = typer.Typer(help="Register bundles, list versions, promote to production, roll back.", no_args_is_help=True)

RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry", help="MLflow registry URI (default: $RECSMITH_REGISTRY_URI, else sqlite:///registry/mlflow.db)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _registry(uri: str | None) -> "ModelRegistry":
    from recsmith.utils.extras import require_extras

    require_extras(["serve"], "recsmith registry")
    from recsmith.serving.registry import ModelRegistry  # MLflow loads only for these commands

    return ModelRegistry(uri)


@app.command("register")
def register(
    bundle: Annotated[Path, typer.Option("--bundle", "-b", help="Bundle directory (`recsmith export`).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Registered model name.")],
    registry: RegistryOpt = None,
    promote: Annotated[bool, typer.Option("--promote", help="Also make it the production version.")] = False,
) -> None:
    """Register BUNDLE as a new version of NAME, with its lineage (dataset, config, code, metrics)."""
    reg = _registry(registry)
    version = reg.register(bundle, name)
    if promote:
        version = reg.promote(name, version.version)
    typer.echo(
        f"registered {name} version {version.version} (bundle {version.bundle_version})"
        + (", now in production" if version.production else "")
    )


@app.command("list")
def list_versions(
    name: Annotated[str | None, typer.Argument(help="Model name (default: every model).")] = None,
    registry: RegistryOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Versions of NAME (or of every model), newest first; production marked."""
    reg = _registry(registry)
    names = [name] if name else reg.models()
    versions = [v for n in names for v in reg.versions(n)]
    if json_:
        typer.echo(json.dumps([v.to_json() for v in versions], indent=2))
        return
    table = Table(title=f"registry {reg.uri}")
    for col in ("model", "version", "stage", "bundle", "created", "test ndcg@10", "dataset", "code"):
        table.add_column(col)
    for v in versions:
        metric = v.metrics.get("test/ndcg_at_10")
        table.add_row(
            v.name,
            str(v.version),
            "production" if v.production else "",
            v.bundle_version,
            v.created,
            f"{metric:.4f}" if metric is not None else "-",
            v.tags.get("recsmith.dataset_sha256", "-")[:12],
            v.tags.get("recsmith.git_commit", v.tags.get("recsmith.code_version", "-"))[:12],
        )
    Console().print(table)


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version to put in production.")],
    registry: RegistryOpt = None,
) -> None:
    """Make VERSION the production version of NAME (services serving NAME switch within a poll)."""
    before = _registry(registry).production(name)
    promoted = _registry(registry).promote(name, version)
    typer.echo(f"{name}: production {before.version if before else 'none'} -> {promoted.version}")


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    to: Annotated[int | None, typer.Option("--to", help="Version to return to (default: the previous one).")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Put back the version that was in production before the current one (or --to VERSION)."""
    reg = _registry(registry)
    before = reg.production(name)
    after = reg.rollback(name, to)
    typer.echo(f"{name}: production {before.version if before else 'none'} -> {after.version} (rollback)")
