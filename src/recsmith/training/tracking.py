"""Experiment tracking: ``metrics.jsonl`` in the run directory always, MLflow when enabled.

``metrics.jsonl`` has one JSON object per line: ``{"epoch": 1, "step": 88, "loss": ..., "lr": ...,
"valid/ndcg@10": ..., "sampler/neg_popularity": ...}``, then a final ``{"final": {...}}`` line
with test metrics when a pipeline logs them. It needs nothing to read: ``pl.read_ndjson``.

MLflow gets the same per-epoch metrics (``@`` is not allowed in MLflow names: ``ndcg@10`` is
logged as ``ndcg_at_10``), the flattened configs as params and files as artifacts. The default
store is a SQLite database, ``RUN/mlflow.db`` (``sqlite:///...``; MLflow creates its tables with
Alembic on first use), with the artifacts in ``RUN/mlartifacts``; browse it with ``mlflow ui
--backend-store-uri sqlite:///RUN/mlflow.db``. MLflow 3 keeps its older file store in maintenance
mode; a run directory from before (``RUN/mlruns``) moves over with ``mlflow migrate-filestore
--source RUN --target sqlite:///RUN/mlflow.db`` (docs/lifecycle.md). A resumed run logs into the
same MLflow run (its id is kept in ``RUN/tracking.json``).

Only the main process writes (under DDP, rank 0).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from recsmith.training.config import TrackingConfig
from recsmith.utils.atomic import atomic_write_text

METRICS = "metrics.jsonl"
_STATE = "tracking.json"
#: the default MLflow database and artifact folder of a run (or study) directory
MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "mlartifacts"


def sqlite_uri(path: str | Path) -> str:
    """``sqlite:///<absolute path>``: the URI of an MLflow (or Optuna) SQLite database file."""
    return f"sqlite:///{Path(path).resolve()}"


def mlflow_client(tracking_uri: str, registry_uri: str | None = None) -> Any:
    """An ``MlflowClient`` on ``tracking_uri`` (and ``registry_uri``), with MLflow's and Alembic's
    table-creation chatter kept out of the user's terminal."""
    for name in ("mlflow.store.db.utils", "alembic", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)


def experiment_id(client: Any, name: str, artifacts: Path) -> str:
    """The id of MLflow experiment ``name``, created with its artifacts under ``artifacts`` (a
    database backend would otherwise put them in ``./mlruns`` of whatever directory the process
    runs in)."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(name, artifact_location=Path(artifacts).resolve().as_uri()))


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optimizer": {"lr": 0.1}}`` -> ``{"optimizer.lr": 0.1}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def mlflow_name(name: str) -> str:
    return name.replace("@", "_at_")


class Tracker:
    """Per-epoch metrics to ``metrics.jsonl`` (and MLflow); a no-op without a run directory."""

    def __init__(self, run_dir: Path | None, cfg: TrackingConfig, *, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None and enabled else None
        self.cfg = cfg
        self._client: Any = None
        self._run_id: str | None = None

    @property
    def active(self) -> bool:
        return self.run_dir is not None

    @property
    def _dir(self) -> Path:
        """The run directory, read only once ``active`` is checked."""
        if self.run_dir is None:
            raise RuntimeError("an inactive tracker (no run directory) has nothing to write")
        return self.run_dir

    def start(self, params: dict[str, Any], *, resume_epoch: int | None = None) -> None:
        """Open the log: fresh, or continuing after ``resume_epoch`` (later lines of a killed run dropped)."""
        if not self.active:
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        self._trim_metrics(resume_epoch)
        if self.cfg.mlflow:
            self._start_mlflow(params, resume=resume_epoch is not None)

    def log(self, metrics: dict[str, Any], step: int) -> None:
        if not self.active:
            return
        with open(self._dir / METRICS, "a") as f:
            f.write(json.dumps(metrics) + "\n")
        if self._client is not None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            numeric = {
                k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and k not in ("epoch", "step")
            }
            self._client.log_batch(
                self._run_id, metrics=[Metric(mlflow_name(k), v, now, step) for k, v in numeric.items()]
            )

    def log_final(self, metrics: dict[str, float], prefix: str = "test/") -> None:
        """Summary metrics after training (e.g. on the test split)."""
        if not self.active:
            return
        with open(self._dir / METRICS, "a") as f:
            f.write(json.dumps({"final": {f"{prefix}{k}": v for k, v in metrics.items()}}) + "\n")
        if self._client is not None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            self._client.log_batch(
                self._run_id,
                metrics=[
                    Metric(mlflow_name(f"{prefix}{k}"), float(v), now, 0)
                    for k, v in metrics.items()
                    if isinstance(v, int | float)
                ],
            )

    def log_artifact(self, path: str | Path) -> None:
        if self._client is not None and Path(path).exists():
            self._client.log_artifact(self._run_id, str(path))

    def finish(self, status: str = "FINISHED") -> None:
        if self._client is not None:
            self.log_artifact(self._dir / METRICS)
            self._client.set_terminated(self._run_id, status=status)
            self._client = None

    # ------------------------------------------------------------------ internals
    def _trim_metrics(self, resume_epoch: int | None) -> None:
        path = self._dir / METRICS
        if resume_epoch is None or not path.exists():
            path.unlink(missing_ok=True)
            return
        # a run killed after logging an epoch but before its checkpoint replays that epoch
        kept = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("epoch", resume_epoch + 1) <= resume_epoch
        ]
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))

    def _start_mlflow(self, params: dict[str, Any], *, resume: bool) -> None:
        uri = self.cfg.tracking_uri or sqlite_uri(self._dir / MLFLOW_DB)
        from mlflow.entities import Param

        client = mlflow_client(uri)
        state_file = self._dir / _STATE
        if resume and state_file.exists():
            self._run_id = json.loads(state_file.read_text())["mlflow_run_id"]
            client.update_run(self._run_id, status="RUNNING")
        else:
            experiment = experiment_id(client, self.cfg.experiment, self._dir / MLFLOW_ARTIFACTS)
            self._run_id = client.create_run(experiment, run_name=self._dir.name).info.run_id
            atomic_write_text(state_file, json.dumps({"mlflow_run_id": self._run_id, "tracking_uri": uri}))
            flat = [Param(mlflow_name(k), str(v)[:6000]) for k, v in flatten(params).items()]
            for start in range(0, len(flat), 100):  # MLflow takes at most 100 params per batch
                client.log_batch(self._run_id, params=flat[start : start + 100])
        self._client = client
