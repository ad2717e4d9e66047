"""Service settings, read from ``RECSMITH_*`` environment variables (or passed in tests).

Created by whoever starts the service (``recsmith serve`` or ``create_app_from_env``), never at
import time. Outside ``environment="development"`` the service refuses to start with the default
API key (the FastAPI full-stack template's rule for secrets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_API_KEY = "changethis"


class ServeSettings(BaseSettings):
    """Everything the service reads from its environment. Env var = ``RECSMITH_`` + field name."""

    model_config = SettingsConfigDict(env_prefix="RECSMITH_", extra="forbid", frozen=True)

    environment: Literal["development", "test", "production"] = Field(
        "development", description="outside development the default API key is refused"
    )
    bundle: Path | None = Field(None, description="model bundle directory written by `recsmith export`")
    # the model registry (recsmith.serving.registry): serve a model's production version and follow it
    registry_model: str | None = Field(
        None, description="serve the production version of this registered model (instead of `bundle`)"
    )
    registry_uri: str | None = Field(
        None, description="MLflow registry URI (default: $RECSMITH_REGISTRY_URI, else sqlite:///registry/mlflow.db)"
    )
    registry_poll_s: float = Field(5.0, gt=0, description="seconds between two checks of the production version")
    ab_config: Path | None = Field(None, description="an A/B experiment (YAML, recsmith.serving.ab): variants by share")
    state_dir: Path = Field(Path("var"), description="feedback log (feedback.sqlite3) lives here")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=lambda: [SecretStr(DEFAULT_API_KEY)],
        description="keys accepted for write and admin endpoints; comma-separated in the env var",
    )
    # request limits
    max_k: int = Field(100, ge=1, le=10_000, description="largest k a request may ask for")
    max_batch: int = Field(100, ge=1, description="users in one POST /v1/recommendations")
    max_ids: int = Field(1000, ge=1, description="ids in one exclude / include / session list")
    max_events: int = Field(1000, ge=1, description="events in one POST /v1/feedback")
    max_body_bytes: int = Field(1_000_000, ge=1024, description="request bodies above this get 413")
    # rate limiting (token bucket per API key, else per client address); 0 turns it off
    rate_limit_per_s: float = Field(100.0, ge=0, description="sustained requests per second per client")
    rate_limit_burst: int = Field(200, ge=1, description="requests a client may send at once")
    # recommendation cache
    cache_ttl_s: float = Field(60.0, ge=0, description="lifetime of a cached list; 0 turns caching off")
    cache_max_bytes: int = Field(
        64 * 2**20, ge=0, description="in-process cache size in bytes, per worker (lists of known users only)"
    )
    redis_url: str | None = Field(None, description="redis://host:port/db: share the cache between workers")
    # retrieval
    ann_threads: int = Field(1, ge=1, description="FAISS OpenMP threads per search (1 suits many small requests)")
    exact_below: int = Field(
        2048, ge=0, description="filtered searches with at most this many eligible items skip the ANN index"
    )
    # network inference (sequential, two-tower, TIGER): micro-batching, threads, kept states
    inference_threads: int = Field(
        1,
        ge=1,
        description="intra-op threads of torch / BLAS / FAISS per worker (1: the cores go to concurrent requests)",
    )
    onnx_runtime: bool = Field(
        True, description="run a bundle's exported query encoder with ONNX Runtime (False: the model's PyTorch network)"
    )
    batch_max: int = Field(32, ge=1, description="network requests run together at most (micro-batching)")
    batch_wait_ms: float = Field(
        2.0, ge=0, le=1000, description="longest a network request waits for others to batch with (added latency bound)"
    )
    queue_max: int = Field(256, ge=1, description="network requests waiting at most; more are shed with 503")
    fresh_states: int = Field(
        50_000, ge=0, description="users whose state after new feedback is kept until their next event (per worker)"
    )
    # load shedding: 503 + Retry-After instead of queueing without bound (0 turns a limit off)
    max_in_flight: int = Field(512, ge=0, description="requests inside the service at once; more are shed with 503")
    max_loop_lag_ms: float = Field(
        100.0,
        ge=0,
        description="shed new requests while the event loop runs this far behind, again and again (saturated)",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "ServeSettings":
        if self.ab_config is not None and self.registry_model is not None:
            raise ValueError(
                "ab_config and registry_model cannot be combined: an experiment fixes its variants' versions "
                "(name them by registered version in the A/B file)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_default_key(self) -> "ServeSettings":
        if not self.api_keys:
            raise ValueError("api_keys: at least one API key is needed (RECSMITH_API_KEYS)")
        if self.environment != "development" and self.uses_default_key:
            raise ValueError(
                f"api_keys: the default key {DEFAULT_API_KEY!r} is not allowed in the "
                f"{self.environment!r} environment; set RECSMITH_API_KEYS to a secret"
            )
        if any(len(k.get_secret_value()) < 8 for k in self.api_keys):
            raise ValueError("api_keys: every key must have at least 8 characters")
        return self

    @property
    def uses_default_key(self) -> bool:
        """Whether the publicly known default key opens the write and admin endpoints."""
        return any(k.get_secret_value() == DEFAULT_API_KEY for k in self.api_keys)

    @property
    def feedback_path(self) -> Path:
        return self.state_dir / "feedback.sqlite3"
