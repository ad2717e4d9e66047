"""A tiny catalogue with attributes, fitted models written as bundles, and a client factory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.models.registry import create_model
from recsmith.serving.bundle import write_bundle

N_USERS, N_ITEMS = 40, 60
API_KEY = "test-key-123456"
MODELS = {
    "itemknn": {"k": 20},
    "als": {"factors": 8, "iterations": 5, "num_threads": 1},
    "bpr": {"factors": 8, "iterations": 5},
    "popular": {},
}


def tiny_world(seed: int = 0) -> tuple[Interactions, IdMap, IdMap, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    # two taste groups: users 0..19 like items 0..29, users 20..39 like items 30..59 (mostly)
    users, items = [], []
    for u in range(N_USERS):
        base = 0 if u < N_USERS // 2 else N_ITEMS // 2
        liked = base + rng.choice(N_ITEMS // 2, size=8, replace=False)
        noise = rng.choice(N_ITEMS, size=2, replace=False)
        for i in np.concatenate([liked, noise]):
            users.append(u)
            items.append(int(i))
    frame = pl.DataFrame(
        {"user": users, "item": items, "timestamp": np.arange(len(users)), "weight": np.ones(len(users))}
    )
    frame = frame.unique(subset=["user", "item"], keep="first", maintain_order=True)
    inter = Interactions(frame, N_USERS, N_ITEMS)
    user_map = IdMap([f"u{i}" for i in range(N_USERS)], kind="user")
    item_map = IdMap([f"i{i}" for i in range(N_ITEMS)], kind="item")
    attrs = pl.DataFrame(
        {
            "item": pl.Series(np.arange(N_ITEMS, dtype=np.int32)),
            "category": [("a", "b", "c")[i % 3] for i in range(N_ITEMS)],
            "price": [float(5 + i) for i in range(N_ITEMS)],
            "in_stock": [i % 4 != 0 for i in range(N_ITEMS)],
            "tags": [["red", "sale"] if i % 5 == 0 else ["blue"] for i in range(N_ITEMS)],
        }
    )
    return inter, user_map, item_map, attrs


def make_bundle(
    path: Path, name: str, *, version: str | None = None, index: str | None = "auto", params: dict | None = None
) -> Path:
    inter, user_map, item_map, attrs = tiny_world()
    model = create_model(name, MODELS[name]).fit(inter)
    return write_bundle(
        path,
        model,
        user_map,
        item_map,
        items=attrs,
        version=version or f"{name}-v1",
        index_factory=index,
        search_params=params,
        metrics={"test": {"ndcg@10": 0.5}},
    )


@pytest.fixture(scope="session")
def tiny():
    """``(interactions, user_map, item_map, item attributes)`` of the tiny catalogue."""
    return tiny_world()


@pytest.fixture(scope="session")
def bundles(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    out = {name: make_bundle(root / name, name) for name in MODELS}
    out["als_hnsw"] = make_bundle(root / "als_hnsw", "als", version="als-hnsw", index="HNSW16", params={"efSearch": 32})
    return out


@pytest.fixture
def make_client(tmp_path):
    """``make_client(bundle, **settings)`` -> a started TestClient; closed at teardown."""
    from fastapi.testclient import TestClient

    from recsmith.serving.app import create_app
    from recsmith.serving.settings import ServeSettings

    clients = []

    def make(bundle: Path, **overrides):
        values = {
            "bundle": bundle,
            "state_dir": tmp_path / "state",
            "api_keys": [API_KEY],
            "environment": "test",
            "rate_limit_per_s": 0,
            # the suite runs beside other jobs on 2 cores, where the test loop can stall for longer than
            # the lag limit: shedding by loop lag is tested on its own (test_serve_shedding.py)
            "max_loop_lag_ms": 0,
            **overrides,
        }
        client = TestClient(create_app(ServeSettings(**values)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture
def auth() -> dict[str, str]:
    return {"X-API-Key": API_KEY}


@pytest.fixture(scope="session")
def bundle_factory():
    """``make_bundle(path, model name, version=...)`` for tests that need bundles of their own."""
    return make_bundle
