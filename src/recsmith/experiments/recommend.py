"""Recommendations with external ids in and out, from a benchmark run directory.

This is the edge where external ids are mapped: the model only ever sees internal ints. A user the
run does not know gets the model's cold-start answer (most popular items), flagged as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.idmap import IdMap
from recsmith.data.schema import Columns
from recsmith.errors import RecsmithError
from recsmith.models.base import Recommender


@dataclass
class RunArtifacts:
    path: Path
    user_map: IdMap
    item_map: IdMap
    item_names: dict[int, str]
    models: list[str]

    def load_model(self, name: str) -> Recommender:
        model_dir = self.path / "models" / name
        if not model_dir.exists():
            raise RecsmithError(
                f"run {self.path} has no model {name!r}; models in this run: {', '.join(self.models) or 'none'}"
            )
        return Recommender.load(model_dir)


def load_run(path: str | Path) -> RunArtifacts:
    path = Path(path)
    info_file = path / "run.json"
    if not info_file.exists():
        raise RecsmithError(f"{path} is not a recsmith run directory (no run.json); create one with `recsmith benchmark`")
    info = json.loads(info_file.read_text())
    data = path / "dataset"
    names: dict[int, str] = {}
    if (data / "items.parquet").exists():
        items = pl.read_parquet(data / "items.parquet")
        if Columns.Name in items.columns:
            names = {i: n for i, n in zip(items[Columns.Item].to_list(), items[Columns.Name].to_list()) if n is not None}
    return RunArtifacts(
        path=path,
        user_map=IdMap.load(data / "user_ids.parquet", kind="user"),
        item_map=IdMap.load(data / "item_ids.parquet", kind="item"),
        item_names=names,
        models=list(info.get("models", [])),
    )


def recommend_users(
    run: RunArtifacts, model: Recommender, user_ids: list[str], k: int, *, filter_seen: bool = True
) -> list[dict[str, Any]]:
    """One result per external user id: ``{"user_id", "cold_start", "items": [{rank, item_id, name, score}]}``."""
    internal = run.user_map.to_internal(user_ids, strict=False)
    known = internal >= 0
    results: list[dict[str, Any]] = [{} for _ in user_ids]
    if known.any():
        items, scores = model.recommend(internal[known], k, filter_seen=filter_seen)
        for pos, row_items, row_scores in zip(np.flatnonzero(known), items, scores):
            results[pos] = _result(run, user_ids[pos], row_items, row_scores, cold=False)
    if (~known).any():
        cold_items, cold_scores = model.recommend_cold(k)
        for pos in np.flatnonzero(~known):
            results[pos] = _result(run, user_ids[pos], cold_items, cold_scores, cold=True)
    return results


def _result(run: RunArtifacts, user_id: str, items: np.ndarray, scores: np.ndarray, *, cold: bool) -> dict[str, Any]:
    valid = items >= 0
    items, scores = items[valid], scores[valid]
    external = run.item_map.to_external(items)
    return {
        "user_id": str(user_id),
        "cold_start": cold,
        "items": [
            {"rank": r + 1, "item_id": e, "name": run.item_names.get(int(i)), "score": float(s)}
            for r, (i, e, s) in enumerate(zip(items, external, scores))
        ],
    }
