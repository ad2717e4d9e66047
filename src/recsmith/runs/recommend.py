"""Recommendations with external ids in and out, from a run directory (benchmark or train).

This is the edge where external ids are mapped: the model only ever sees internal ints. A user the
run does not know gets the model's cold-start answer (most popular items), flagged as such.

Besides users, a request may name an item (similar items: the model's item similarity, or the
items' text embeddings when the model has none), a text query or an image (content search over the
run's item table, see :mod:`recsmith.runs.search`). Every form returns the same item rows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recsmith.data.schema import Columns
from recsmith.errors import RecsmithError, UnknownIdError
from recsmith.models.abilities import (
    Explanation,
    Explanations,
    ItemSimilarity,
    missing_ability,
    popularity_explanation,
)
from recsmith.models.base import Recommender
from recsmith.models.registry import get_model_class
from recsmith.runs.layout import ITEM_IDS, Run, model_dir
from recsmith.runs.search import (
    DEFAULT_IMAGE_COLUMN,
    image_index,
    image_model_name,
    image_query_vector,
    query_vector,
    text_index,
)


def load_run(path: str | Path) -> Run:
    """A run directory of ``recsmith benchmark`` or ``recsmith train`` (:class:`~recsmith.runs.layout.Run`)."""
    return Run.open(path)


def recommend_users(
    run: Run, model: Recommender, user_ids: list[str], k: int, *, filter_seen: bool = True, explain: bool = False
) -> list[dict[str, Any]]:
    """One result per external user id: ``{"user_id", "cold_start", "items": [{rank, item_id, name, score}]}``.

    ``explain``: each item also carries its ``explanation`` (the model's ``explanations`` ability; a
    cold-start answer is explained by popularity); a model without the ability is an error that names
    the run's models that have it.
    """
    if explain and not isinstance(model, Explanations):
        able = [m for m in run.models if "explanations" in model_abilities(run, m)]
        raise RecsmithError(
            f"{missing_ability(model, Explanations)}, so it cannot explain its recommendations; models of run "
            f"{run.path} that can: {', '.join(able) or 'none'}"
        )
    internal = run.user_map.to_internal(user_ids, strict=False)
    known = internal >= 0
    results: list[dict[str, Any]] = [{} for _ in user_ids]
    if known.any():
        items, scores = model.recommend(internal[known], k, filter_seen=filter_seen)
        for pos, user, row_items, row_scores in zip(np.flatnonzero(known), internal[known], items, scores):
            results[pos] = _result(run, user_ids[pos], row_items, row_scores, cold=False)
            if explain and isinstance(model, Explanations):  # checked above; narrowed for the type checker
                listed = row_items[row_items >= 0]
                _add_explanations(run, results[pos], model.explain(listed, user=int(user)))
    if (~known).any():
        cold_items, cold_scores = model.recommend_cold(k)
        for pos in np.flatnonzero(~known):
            results[pos] = _result(run, user_ids[pos], cold_items, cold_scores, cold=True)
            if explain:
                valid = cold_items >= 0
                popular = [popularity_explanation(int(i), s) for i, s in zip(cold_items[valid], cold_scores[valid])]
                _add_explanations(run, results[pos], popular)
    return results


def _result(run: Run, user_id: str, items: np.ndarray, scores: np.ndarray, *, cold: bool) -> dict[str, Any]:
    return {"user_id": str(user_id), "cold_start": cold, "items": _item_rows(run, items, scores)}


def _add_explanations(run: Run, result: dict[str, Any], explanations: list[Explanation]) -> None:
    external = run.item_map.external_ids.to_list()
    for row, e in zip(result["items"], explanations):
        row["explanation"] = e.to_dict(external, run.item_names)


def model_abilities(run: Run, name: str) -> tuple[str, ...]:
    """The abilities of run model ``name``, without loading it (a run may alias a model, e.g. ``als_big``:
    its saved config names the registered model)."""
    registered = json.loads((model_dir(run.path, name) / "config.json").read_text())["model"]
    return get_model_class(registered).abilities()


def _item_rows(run: Run, items: np.ndarray, scores: np.ndarray) -> list[dict[str, Any]]:
    valid = items >= 0
    items, scores = items[valid], scores[valid]
    external = run.item_map.to_external(items)
    return [
        {"rank": r + 1, "item_id": e, "name": run.item_names.get(int(i)), "score": float(s)}
        for r, (i, e, s) in enumerate(zip(items, external, scores))
    ]


# ---------------------------------------------------------------------- items, text and image queries
def item_ids_to_internal(run: Run, item_ids: list[str]) -> np.ndarray:
    """Internal ids of external item ids; an unknown one is an error that says where ids are listed."""
    internal = run.item_map.to_internal(item_ids, strict=False)
    unknown = [i for i, x in zip(item_ids, internal) if x < 0]
    if unknown:
        examples = ", ".join(run.item_map.to_external(np.arange(min(3, len(run.item_map)))))
        raise UnknownIdError(
            f"unknown item id(s) {', '.join(map(repr, unknown))} in run {run.path}: item ids are the dataset's "
            f"external ids (e.g. {examples}); all of them are in {run.path / 'dataset' / ITEM_IDS}, "
            "and recommendations (--user-id) or a --query list them in the item_id column"
        )
    return internal


def similar_items(
    run: Run,
    model: Recommender | None,
    item_ids: list[str],
    k: int,
    *,
    text_columns: list[str] | None = None,
    text_model: str | None = None,
) -> list[dict[str, Any]]:
    """One result per item id: ``{"item_id", "name", "source", "items": [...]}``.

    ``source`` is ``model:<name>`` when the model has the ``item_similarity`` ability, else
    ``content:text`` (cosine of the items' text embeddings; also used when no model is given).
    """
    internal = item_ids_to_internal(run, item_ids)
    if isinstance(model, ItemSimilarity):
        items, scores = model.similar_items(internal, k)
        source = f"model:{model.name}"
    else:
        source = "content:text"
        index = text_index(run, text_columns or [Columns.Name], text_model)
        items, scores = index.search(index.vectors[internal], k, exclude=internal)
    return [
        {
            "item_id": str(e),
            "name": run.item_names.get(int(i)),
            "source": source,
            "items": _item_rows(run, row_items, row_scores),
        }
        # the dataset's spelling of each id (H&M's 0108775015 also for a query of 108775015)
        for e, i, row_items, row_scores in zip(run.item_map.to_external(internal), internal, items, scores)
    ]


def search_text(
    run: Run, query: str, k: int, *, text_columns: list[str] | None = None, text_model: str | None = None
) -> dict[str, Any]:
    """Items whose text embedding is closest to ``query``: ``{"query", "items": [...]}``."""
    columns = text_columns or [Columns.Name]
    index = text_index(run, columns, text_model)
    items, scores = index.search(query_vector(query, text_model), k)
    return {"query": query, "text_columns": columns, "items": _item_rows(run, items[0], scores[0])}


def search_image(
    run: Run, path: Path, k: int, *, image_model: str | None, image_column: str = DEFAULT_IMAGE_COLUMN
) -> dict[str, Any]:
    """Items whose image embedding is closest to the image at ``path``: ``{"image", "items": [...]}``."""
    if not Path(path).is_file():
        raise RecsmithError(f"query image {path} does not exist")
    index, n_failed = image_index(run, image_column, image_model)  # checks image_model first
    items, scores = index.search(image_query_vector(Path(path), image_model_name(image_model)), k)
    return {"image": str(path), "unreadable_item_images": n_failed, "items": _item_rows(run, items[0], scores[0])}
