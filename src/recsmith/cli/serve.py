"""``recsmith serve``: the HTTP service (FastAPI + uvicorn) over a model bundle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, TypedDict

import typer

from recsmith.errors import ConfigError
from recsmith.utils.extras import require_extras


def serve(
    bundle: Annotated[
        Path | None, typer.Option("--bundle", "-b", help="Bundle directory (or RECSMITH_BUNDLE).")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, max=64, help="Worker processes.")] = 1,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Feedback log directory (or RECSMITH_STATE_DIR; default ./var)."),
    ] = None,
    registry_model: Annotated[
        str | None,
        typer.Option(
            "--registry-model",
            help="Serve the production version of this registered model and follow promotions "
            "(or RECSMITH_REGISTRY_MODEL); instead of --bundle.",
        ),
    ] = None,
    registry_uri: Annotated[
        str | None,
        typer.Option(
            "--registry-uri",
            help="MLflow registry URI (or RECSMITH_REGISTRY_URI; default sqlite:///registry/mlflow.db).",
        ),
    ] = None,
    ab: Annotated[
        Path | None,
        typer.Option(
            "--ab",
            help="An A/B experiment file (variants by bundle or registered version, shares); or RECSMITH_AB_CONFIG.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
    access_log: Annotated[bool, typer.Option("--access-log/--no-access-log", help="Log every request.")] = False,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            "--forwarded-allow-ips",
            envvar="RECSMITH_FORWARDED_ALLOW_IPS",
            help="Comma-separated addresses (or CIDR ranges) of reverse proxies whose X-Forwarded-For / "
            "X-Forwarded-Proto headers are trusted; '*' trusts any. Default: none, the socket's peer is the client.",
        ),
    ] = "",
) -> None:
    """Serve BUNDLE over HTTP. Other settings come from RECSMITH_* environment variables (docs/deployment.md)."""
    require_extras(["serve"], "recsmith serve")
    import uvicorn
    from pydantic import ValidationError

    from recsmith.serving.settings import ServeSettings

    # options become environment variables so that every worker process reads the same settings
    if bundle is not None:
        os.environ["RECSMITH_BUNDLE"] = str(bundle.resolve())
    if state_dir is not None:
        os.environ["RECSMITH_STATE_DIR"] = str(state_dir.resolve())
    if registry_model is not None:
        os.environ["RECSMITH_REGISTRY_MODEL"] = registry_model
    if registry_uri is not None:
        os.environ["RECSMITH_REGISTRY_URI"] = registry_uri
    if ab is not None:
        os.environ["RECSMITH_AB_CONFIG"] = str(ab.resolve())
    try:
        settings = ServeSettings()
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"invalid service settings: {problems}") from None
    if settings.ab_config is not None:
        from recsmith.serving.ab import load_experiment

        load_experiment(settings.ab_config)  # a bad experiment file stops here, naming the key
    elif settings.bundle is None and settings.registry_model is None:
        raise ConfigError("no bundle: pass --bundle DIR (or RECSMITH_BUNDLE), --registry-model NAME or --ab FILE")
    if settings.bundle is not None and not (settings.bundle / "manifest.json").exists():
        raise ConfigError(
            f"{settings.bundle} is not a model bundle (no manifest.json); write one with `recsmith export`"
        )
    proxies = proxy_options(forwarded_allow_ips)["forwarded_allow_ips"] or "none"
    served = f"the production version of {settings.registry_model!r}" if settings.registry_model else settings.bundle
    typer.echo(
        f"serving {served} on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}, "
        f"{settings.environment}, trusted proxies: {proxies}); OpenAPI at /docs",
        err=True,
    )
    if settings.uses_default_key:  # development only: elsewhere the settings refuse it
        warn_default_key()
    uvicorn.run(
        "recsmith.serving.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=10,
        **proxy_options(forwarded_allow_ips),
    )


def warn_default_key() -> None:
    """A loud start-up warning: the published default key opens feedback and reload to anyone."""
    from rich.console import Console

    from recsmith.serving.settings import DEFAULT_API_KEY  # the [serve] extra: imported where needed

    Console(stderr=True, highlight=False).print(
        f"[bold red]WARNING:[/bold red] [bold]the API key is the public default {DEFAULT_API_KEY!r}[/bold]: anyone "
        "who can reach this port may post feedback and reload the bundle. Set RECSMITH_API_KEYS to a secret "
        "of 8+ characters (RECSMITH_ENVIRONMENT=production refuses the default; docs/deployment.md).",
        soft_wrap=True,
    )


class ProxyOptions(TypedDict):
    proxy_headers: bool
    forwarded_allow_ips: str


def proxy_options(forwarded_allow_ips: str) -> ProxyOptions:
    """uvicorn's proxy settings. Without trusted proxies, X-Forwarded-* headers are ignored.

    uvicorn alone trusts them from 127.0.0.1 (or $FORWARDED_ALLOW_IPS): behind no proxy, any local
    client could then pick its own address per request, and so its own rate-limit bucket.
    """
    trusted = ",".join(part.strip() for part in forwarded_allow_ips.split(",") if part.strip())
    if not trusted:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}
