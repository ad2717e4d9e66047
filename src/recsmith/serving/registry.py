"""The model registry: bundles as numbered versions of a named model, on MLflow's Model Registry.

Not a home-made store: every call goes through ``MlflowClient``. The default backend is a SQLite
database (``sqlite:///registry/mlflow.db`` under the working directory, or ``RECSMITH_REGISTRY_URI``;
any MLflow tracking / registry URI works, e.g. a tracking server's ``http://...``), with the
registered bundles copied into its artifact store (``registry/artifacts`` beside a SQLite file), so a
version never changes when the export directory it came from does.

What a version holds (:meth:`ModelRegistry.register`):

* an MLflow run in the experiment ``registry/<name>`` with the bundle under ``bundle/`` in its
  artifacts, the bundle's validation / test metrics as metrics, the model's hyperparameters as
  params, and the run's ``config.yaml`` when the bundle's run directory is still there;
* a model version whose ``source`` is that bundle and whose tags are its lineage: the bundle's
  version and model, the SHA-256 of the prepared dataset's ``manifest.json`` (and its path), of the
  run config, the recsmith version and git commit of the code, and whatever the caller adds (a
  retrain adds its parent version and the paired test).

Production is the MLflow alias ``production``; the registered model's tag
``recsmith.production_history`` keeps the stack of versions promoted, so :meth:`rollback` returns to
the one before. ``recsmith registry list | promote | rollback`` are these methods; the service can
serve "the production version of model X" and follows it (:mod:`recsmith.serving.registry_watch`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from recsmith import __version__
from recsmith.errors import RecsmithError
from recsmith.serving.bundle import MANIFEST

PRODUCTION = "production"
REGISTRY_ENV = "RECSMITH_REGISTRY_URI"
DEFAULT_REGISTRY = Path("registry") / "mlflow.db"
HISTORY_TAG = "recsmith.production_history"
#: lineage tags every registered version carries (more may be added by the caller)
LINEAGE_TAGS = (
    "recsmith.bundle_version",
    "recsmith.model",
    "recsmith.dataset_sha256",
    "recsmith.dataset_path",
    "recsmith.config_sha256",
    "recsmith.code_version",
    "recsmith.git_commit",
    "recsmith.run",
)


class RegistryError(RecsmithError):
    """A registry request that cannot be met: an unknown model or version, nothing to roll back to."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model."""

    name: str
    version: int
    source: str  # the bundle in the registry's artifact store
    run_id: str
    created: str
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    production: bool = False

    @property
    def bundle_version(self) -> str:
        return self.tags.get("recsmith.bundle_version", "")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "bundle_version": self.bundle_version,
            "production": self.production,
            "created": self.created,
            "source": self.source,
            "run_id": self.run_id,
            "metrics": self.metrics,
            "lineage": self.tags,
        }


def default_registry_uri() -> str:
    """``$RECSMITH_REGISTRY_URI``, else ``sqlite:///<cwd>/registry/mlflow.db``."""
    configured = os.environ.get(REGISTRY_ENV)
    if configured:
        return configured
    return f"sqlite:///{(Path.cwd() / DEFAULT_REGISTRY).resolve()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


class ModelRegistry:
    """Named models and their versions in MLflow's Model Registry (module docstring)."""

    def __init__(self, uri: str | None = None) -> None:
        from recsmith.training.tracking import mlflow_client

        self.uri = uri or default_registry_uri()
        db = sqlite_path(self.uri)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        self.artifacts = db.parent / "artifacts" if db is not None else None
        self.client = mlflow_client(self.uri, self.uri)

    # ------------------------------------------------------------------ writing
    def register(
        self, bundle: str | Path, name: str, *, tags: dict[str, str] | None = None, description: str = ""
    ) -> ModelVersion:
        """A new version of model ``name`` holding a copy of ``bundle``, with its lineage."""
        from mlflow.entities import Metric, Param

        from recsmith.training.tracking import experiment_id, flatten, mlflow_name

        bundle = Path(bundle)
        manifest = _read_manifest(bundle)
        lineage = {**bundle_lineage(bundle, manifest), **(tags or {})}
        artifacts = (self.artifacts or Path("mlartifacts")) / name
        experiment = experiment_id(self.client, f"registry/{name}", artifacts)
        run = self.client.create_run(experiment, run_name=manifest["version"], tags=lineage)
        run_id = run.info.run_id
        now = int(datetime.now(UTC).timestamp() * 1000)
        metrics = [
            Metric(mlflow_name(f"{part}/{key}"), float(value), now, 0)
            for part in ("valid", "test")
            for key, value in (manifest.get("metrics", {}).get(part) or {}).items()
            if isinstance(value, int | float)
        ]
        params = [
            Param(mlflow_name(k), str(v)[:6000])
            for k, v in flatten(manifest["model"].get("config", {}), "model.").items()
        ]
        self.client.log_batch(run_id, metrics=metrics, params=params[:100])
        self.client.log_artifacts(run_id, str(bundle), "bundle")
        config = _run_config(manifest)
        if config is not None:
            self.client.log_artifact(run_id, str(config))
        self.client.set_terminated(run_id)
        if not self._exists(name):
            self.client.create_registered_model(name, description=f"recsmith model {name}")
        created = self.client.create_model_version(
            name, source=f"{run.info.artifact_uri}/bundle", run_id=run_id, tags=lineage, description=description
        )
        return self.get(name, int(created.version))

    def promote(self, name: str, version: int, *, reason: str = "promote") -> ModelVersion:
        """Make ``version`` the production version of ``name`` (one alias write; servers follow it)."""
        target = self.get(name, version)
        history = self._history(name)
        self.client.set_registered_model_alias(name, PRODUCTION, str(version))
        history.append({"version": version, "at": _now(), "reason": reason})
        self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-100:]))
        return ModelVersion(**{**target.__dict__, "production": True})

    def rollback(self, name: str, to: int | None = None) -> ModelVersion:
        """Production goes back to the version promoted before the current one (or to ``to``)."""
        history = self._history(name)
        current = self.production(name)
        if to is not None:
            self.get(name, to)
        else:
            if current is None:
                raise RegistryError(f"model {name!r} has no production version to roll back from")
            while history and history[-1]["version"] == current.version:
                history.pop()
            if not history:
                raise RegistryError(
                    f"model {name!r}: no version was in production before version {current.version}; "
                    "promote one with `recsmith registry promote`"
                )
            to = int(history[-1]["version"])
            # the popped promotions are undone: the next rollback goes further back
            self.client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[:-1]))
        return self.promote(name, to, reason=f"rollback from {current.version if current else None}")

    # ------------------------------------------------------------------ reading
    def models(self) -> list[str]:
        return sorted(m.name for m in self.client.search_registered_models())

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, newest first."""
        self._require(name)
        production = self._production_number(name)
        found = self.client.search_model_versions(f"name = '{_quote(name)}'")
        out = [self._version(mv, production) for mv in found]
        return sorted(out, key=lambda v: -v.version)

    def get(self, name: str, version: int) -> ModelVersion:
        """Version ``version`` of ``name``; a :class:`RegistryError` lists the versions there are."""
        from mlflow.exceptions import MlflowException

        self._require(name)
        try:
            mv = self.client.get_model_version(name, str(version))
        except MlflowException:
            listed = ", ".join(str(v.version) for v in reversed(self.versions(name))) or "none"
            raise RegistryError(f"model {name!r} has no version {version}; its versions: {listed}") from None
        return self._version(mv, self._production_number(name))

    def production(self, name: str) -> ModelVersion | None:
        """The production version of ``name``, or None when none was promoted."""
        number = self._production_number(name)
        return None if number is None else self.get(name, number)

    def production_number(self, name: str) -> int | None:
        """Just the production version's number: one read, what a polling server asks for."""
        return self._production_number(name)

    def bundle_path(self, version: ModelVersion, cache: str | Path | None = None) -> Path:
        """A local directory with the version's bundle: the artifact store's own copy when it is a
        local directory, else a download into ``cache`` (default: beside the registry database)."""
        parsed = urlparse(version.source)
        if parsed.scheme in ("", "file"):
            return Path(unquote(parsed.path))
        import mlflow.artifacts

        target = Path(cache or (self.artifacts or Path("registry-cache"))) / f"{version.name}-v{version.version}"
        if not (target / "bundle" / MANIFEST).is_file():
            mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(target))
        return target / "bundle"

    def history(self, name: str) -> list[dict[str, Any]]:
        self._require(name)
        return self._history(name)

    # ------------------------------------------------------------------ internals
    def _exists(self, name: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException:
            return False
        return True

    def _require(self, name: str) -> None:
        if not self._exists(name):
            known = ", ".join(self.models()) or "none"
            raise RegistryError(f"the registry at {self.uri} has no model {name!r}; models: {known}")

    def _production_number(self, name: str) -> int | None:
        aliases = self.client.get_registered_model(name).aliases or {}
        value = aliases.get(PRODUCTION)
        return None if value is None else int(value)

    def _history(self, name: str) -> list[dict[str, Any]]:
        raw = self.client.get_registered_model(name).tags.get(HISTORY_TAG)
        return list(json.loads(raw)) if raw else []

    def _version(self, mv: Any, production: int | None) -> ModelVersion:
        metrics = dict(self.client.get_run(mv.run_id).data.metrics) if mv.run_id else {}
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(timespec="seconds")
        return ModelVersion(
            name=mv.name,
            version=int(mv.version),
            source=mv.source,
            run_id=mv.run_id or "",
            created=created,
            tags=dict(mv.tags or {}),
            metrics=metrics,
            production=production == int(mv.version),
        )


# ---------------------------------------------------------------------- lineage
def bundle_lineage(bundle: Path, manifest: dict[str, Any]) -> dict[str, str]:
    """The lineage tags of a bundle (module docstring); unknown parts are left out, never guessed."""
    source = manifest.get("source") or {}
    tags = {
        "recsmith.bundle_version": str(manifest["version"]),
        "recsmith.model": str(manifest["model"]["name"]),
        "recsmith.code_version": str(manifest.get("recsmith_version") or __version__),
    }
    run = source.get("run")
    if run:
        tags["recsmith.run"] = str(run)
        record = Path(run) / "run.json"
        if record.is_file():
            dataset = (json.loads(record.read_text()).get("dataset") or {}).get("path")
            if dataset and (Path(dataset) / "manifest.json").is_file():
                tags["recsmith.dataset_path"] = str(dataset)
                tags["recsmith.dataset_sha256"] = sha256_file(Path(dataset) / "manifest.json")
        config = _run_config(manifest)
        if config is not None:
            tags["recsmith.config_sha256"] = sha256_file(config)
    commit = git_commit()
    if commit:
        tags["recsmith.git_commit"] = commit
    return tags


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def git_commit() -> str | None:
    """The commit of the recsmith source tree this process runs, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _run_config(manifest: dict[str, Any]) -> Path | None:
    run = (manifest.get("source") or {}).get("run")
    config = Path(run) / "config.yaml" if run else None
    return config if config is not None and config.is_file() else None


def _read_manifest(bundle: Path) -> dict[str, Any]:
    if not (bundle / MANIFEST).is_file():
        raise RegistryError(f"{bundle} is not a model bundle (no {MANIFEST}); write one with `recsmith export`")
    return json.loads((bundle / MANIFEST).read_text())


def _quote(name: str) -> str:
    return name.replace("'", "\\'")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
