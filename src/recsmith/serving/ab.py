"""A/B tests in the service: two or more model versions as variants, each user always in the same one.

An experiment is a YAML (or JSON) file given as ``RECSMITH_AB_CONFIG`` / ``recsmith serve --ab FILE``::

    name: ranker-2026-12           # part of the assignment hash: a new experiment reshuffles users
    registry_model: recs           # variants by registered version (or give each a bundle path)
    variants:
      - {name: control, version: 1, share: 0.5}
      - {name: treatment, version: 2, share: 0.5}

Shares must sum to 1 and names be unique: the file is refused otherwise, naming the key, and the
service does not start with it. Assignment: ``u = sha256("<experiment>:<user id>")`` read as a
number in [0, 1); the variant is the one whose cumulative share interval holds ``u``. It needs no
state, is the same in every worker and every restart, and spreads users by the shares.

Every recommendation list for a user answers from the user's variant and says which
(``"variant"`` in the response); every feedback event is stored with the variant of its user
(``variant`` column of the feedback log); each list is an *exposure*, kept in
``STATE_DIR/ab.sqlite3`` (batched writes, one transaction a second) for ``recsmith ab report``.
The variants' engines are loaded once at start; the default engine of the service (routes other
than user recommendations: similar items, search, sessions) is the first variant's.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from recsmith.errors import ConfigError
from recsmith.serving.engine import Engine
from recsmith.utils.validation import describe_errors

EXPOSURES = "ab.sqlite3"
SHARE_TOLERANCE = 1e-6
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]


class VariantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    share: float = Field(gt=0, le=1, description="share of users in this variant")
    bundle: Path | None = Field(None, description="bundle directory of this variant")
    version: int | None = Field(None, ge=1, description="registered version of registry_model")

    @model_validator(mode="after")
    def _one_model(self) -> "VariantSpec":
        if (self.bundle is None) == (self.version is None):
            raise ValueError("give exactly one of 'bundle' or 'version'")
        return self


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    registry_model: str | None = Field(None, description="registered model whose versions the variants name")
    variants: list[VariantSpec] = Field(min_length=2)

    @model_validator(mode="after")
    def _consistent(self) -> "ExperimentSpec":
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique, got {names}")
        total = sum(v.share for v in self.variants)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            shares = " + ".join(f"{v.share:g}" for v in self.variants)
            raise ValueError(f"the variants' shares sum to {total:g} ({shares}), not 1")
        if any(v.version is not None for v in self.variants) and not self.registry_model:
            raise ValueError("variants given by version need registry_model")
        return self

    def assign(self, user_id: str) -> str:
        """The variant of ``user_id`` (module docstring): sticky, stateless, by the shares."""
        digest = hashlib.sha256(f"{self.name}:{user_id}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        edge = 0.0
        for variant in self.variants:
            edge += variant.share
            if u < edge:
                return variant.name
        return self.variants[-1].name  # u within rounding of 1


def load_experiment(path: str | Path) -> ExperimentSpec:
    """The experiment in ``path``; a :class:`ConfigError` names the file and the key that is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"A/B config {path} not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    try:
        return ExperimentSpec.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(f"{path}:\n" + describe_errors(err, ExperimentSpec)) from None


class AbRouter:
    """The running experiment: an engine per variant and the exposure log."""

    def __init__(self, spec: ExperimentSpec, engines: dict[str, Engine], exposures: "ExposureLog") -> None:
        self.spec = spec
        self.engines = engines
        self.exposures = exposures

    @classmethod
    def load(
        cls, spec: ExperimentSpec, state_dir: Path, *, registry_uri: str | None = None, **engine_args: Any
    ) -> "AbRouter":
        registry = None
        engines = {}
        for variant in spec.variants:
            path = variant.bundle
            if path is None:
                from recsmith.serving.registry import ModelRegistry

                registry = registry or ModelRegistry(registry_uri)
                assert spec.registry_model is not None and variant.version is not None
                path = registry.bundle_path(registry.get(spec.registry_model, variant.version))
            engines[variant.name] = Engine.from_path(str(path), **engine_args)
        exposures = ExposureLog(state_dir / EXPOSURES)
        exposures.record_experiment(spec)
        return cls(spec, engines, exposures)

    @property
    def default(self) -> Engine:
        return self.engines[self.spec.variants[0].name]

    def choose(self, user_id: str) -> tuple[str, Engine]:
        name = self.spec.assign(user_id)
        return name, self.engines[name]

    def close(self) -> None:
        self.exposures.close()


class ExposureLog:
    """Exposures (experiment, variant, user, time, list length) in SQLite, written in batches by a
    background thread once a second: a list costs the request an append to a Python list."""

    def __init__(self, path: str | Path, flush_s: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS exposures (id INTEGER PRIMARY KEY AUTOINCREMENT, experiment TEXT NOT NULL, "
            "variant TEXT NOT NULL, user_id TEXT NOT NULL, at REAL NOT NULL, items TEXT NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS experiments (name TEXT PRIMARY KEY, spec TEXT NOT NULL, started REAL NOT NULL)"
        )
        self._pending: list[tuple[str, str, str, float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(flush_s,), name="recsmith-ab-exposures", daemon=True)
        self._thread.start()

    def record_experiment(self, spec: ExperimentSpec) -> None:
        """The experiment's definition (variant order and shares), for the report."""
        with self._lock:
            self._db.execute(
                "INSERT INTO experiments (name, spec, started) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec",
                (spec.name, spec.model_dump_json(), time.time()),
            )

    def add(self, experiment: str, variant: str, user_id: str, items: list[str]) -> None:
        with self._lock:
            self._pending.append((experiment, variant, user_id, time.time(), json.dumps(items)))

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            if batch:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT INTO exposures (experiment, variant, user_id, at, items) VALUES (?, ?, ?, ?, ?)", batch
                )
                self._db.execute("COMMIT")

    def _run(self, flush_s: float) -> None:
        while not self._stop.wait(flush_s):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self.flush()
        self._db.close()
