"""The app's content as plain tables and text (pandas frames, Markdown), with no Gradio in sight.

Every function takes the :class:`~recsmith.app.source.AppSource` and what the person typed or
clicked, and either returns what to show or raises :class:`AppInputError` with a message for them
(unknown ids, an empty or overlong query, a file that is not an image): the page shows it, and
the app keeps working.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsmith.app.source import IMAGE_COLUMN, AppSource
from recsmith.errors import RecsmithError
from recsmith.evaluation import beyond
from recsmith.models.abilities import Embeddings, ItemSimilarity, missing_ability
from recsmith.models.sessions import SessionRecommender

#: longest text query (as the API's /v1/search)
MAX_QUERY = 1000
#: history items shown (the most recent)
HISTORY_SHOWN = 50
LIST_COLUMNS = ["rank", "item_id", "name", "score", "because"]
ITEM_COLUMNS = ["item_id", "name", "score"]


class AppInputError(RecsmithError):
    """Input the app cannot use; the message is for the person at the page."""


# ---------------------------------------------------------------------- users and their history
@dataclass
class HistoryView:
    user_id: str
    known: bool
    message: str
    table: pd.DataFrame
    gallery: list[tuple[str, str]] = field(default_factory=list)


def user_history(src: AppSource, user_id: str, model: str) -> HistoryView:
    """The user's training history as ``model`` read it (newest first where the model keeps the order)."""
    user_id = _clean_id(user_id, "user id")
    user = src.internal_user(user_id)
    if user < 0:
        examples = ", ".join(src.user_map.to_external(np.arange(min(3, src.n_users))))
        return HistoryView(
            user_id,
            False,
            f"**Unknown user id `{user_id}`**: not among the {src.n_users:,} users of this {src.title.split()[0]} "
            f"(ids look like {examples}). Showing the cold-start answer: the most popular items.",
            _items_frame(src, np.empty(0, dtype=np.int64), None, columns=["position", "item_id", "name"]),
        )
    engine_model = src.engine(model).model
    if isinstance(engine_model, SessionRecommender):
        history, order = engine_model.training_history(user)[::-1], "newest first"
    else:
        history, order = engine_model.seen_items(user), "by item id (this model keeps no order)"
    shown = history[:HISTORY_SHOWN]
    table = _items_frame(src, shown, None, columns=["position", "item_id", "name"])
    more = f", the first {len(shown)} shown" if len(history) > len(shown) else ""
    message = f"User `{user_id}`: {len(history)} training items ({order}{more})."
    return HistoryView(user_id, True, message, table, _gallery(src, shown))


# ---------------------------------------------------------------------- recommendation lists
@dataclass
class ListView:
    """One model's list: the table shown, each row's explanation, and a note (cold start, no ability)."""

    model: str
    items: np.ndarray
    table: pd.DataFrame
    explanations: list[dict[str, Any] | None]
    note: str
    gallery: list[tuple[str, str]] = field(default_factory=list)


def user_recommendations(src: AppSource, user_id: str, model: str, k: int) -> ListView:
    user_id = _clean_id(user_id, "user id")
    answer = src.engine(model).recommend(user_id, k, explain=True)
    note = "cold start: the most popular items" if answer["cold_start"] else ""
    return _list_view(src, model, answer, note)


def session_recommendations(src: AppSource, session: list[str], model: str, k: int) -> ListView:
    """Recommendations for an anonymous session of item ids (clicked, oldest first)."""
    answer = src.engine(model).recommend_session(list(session), k, explain=True)
    note = "" if session else "an empty session: the most popular items"
    return _list_view(src, model, answer, note)


def _list_view(src: AppSource, model: str, answer: dict[str, Any], note: str) -> ListView:
    rows = answer["items"]
    items = src.internal_items([r["item_id"] for r in rows]) if rows else np.empty(0, dtype=np.int64)
    names = src.names
    table = pd.DataFrame(
        {
            "rank": [r["rank"] for r in rows],
            "item_id": [r["item_id"] for r in rows],
            "name": [names.get(int(i), "") for i in items],
            "score": [round(r["score"], 4) for r in rows],
            "because": [_because(r.get("explanation")) for r in rows],
        },
        columns=LIST_COLUMNS,
    )
    extra = answer.get("explanation_note")
    return ListView(
        model,
        items,
        table,
        [r.get("explanation") for r in rows],
        "; ".join(n for n in (note, extra) if n),
        _gallery(src, items),
    )


def overlap(a: ListView, b: ListView) -> str:
    """How much two lists agree: shared items, Jaccard, and which."""
    shared = [i for i in a.items.tolist() if i in set(b.items.tolist())]
    union = len(set(a.items.tolist()) | set(b.items.tolist()))
    if not union:
        return "Both lists are empty."
    ids = ", ".join(f"`{x}`" for x in a.table["item_id"][np.isin(a.items, shared)])
    return (
        f"**Overlap of {a.model} and {b.model}**: {len(shared)} of {len(a.items)} items in common "
        f"(Jaccard {len(shared) / union:.2f}){': ' + ids if ids else ''}."
    )


# ---------------------------------------------------------------------- explanations
def explanation(view: ListView, rank: int) -> tuple[str, pd.DataFrame]:
    """Markdown headline and a reasons table for the item at ``rank`` (1-based) of a list."""
    if not 1 <= rank <= len(view.explanations):
        raise AppInputError(
            f"there is no recommendation number {rank} in {view.model}'s list of {len(view.explanations)}"
        )
    row = view.table.iloc[rank - 1]
    e = view.explanations[rank - 1]
    title = f"**Why {view.model} recommends #{rank} `{row['item_id']}` {row['name']}**"
    empty = pd.DataFrame(columns=["reason", "item_id", "contribution", "share of listed"])
    if e is None:
        return f"{title}: {view.note or 'no explanation'}", empty
    how = {
        "item_item": "each history item adds its item-item weight to the score (exact)",
        "fold_in": "history items by their similarity to it in the model's embedding space, weighted by this history "
        "(the fold-in's exact split, Hu et al. 2008)",
        "occlusion": "how much the score drops when each history item alone is removed",
        "popularity": "popularity: the number of training users of the item",
    }.get(e["method"], e["method"])
    total = sum(r["contribution"] for r in e["reasons"]) or 1.0
    table = pd.DataFrame(
        {
            "reason": [r.get("name") or r.get("feature") or r.get("item_id") for r in e["reasons"]],
            "item_id": [r.get("item_id") or "" for r in e["reasons"]],
            "contribution": [round(r["contribution"], 4) for r in e["reasons"]],
            "share of listed": [f"{r['contribution'] / total:.0%}" for r in e["reasons"]],
        },
        columns=empty.columns,
    )
    lines = [f"{title} (score {e['score']:.4f}): {how}."]
    if "base" in e and e["method"] != "popularity":
        bias = f", item bias {e['base']:+.4f}" if e["base"] else ""
        listed = sum(r["contribution"] for r in e["reasons"])
        lines.append(f"Listed reasons {listed:+.4f}, other history items {e['other']:+.4f}{bias}.")
    if not e["reasons"]:
        lines.append("No single history item speaks for this item.")
    return "\n\n".join(lines), table


def _because(e: dict[str, Any] | None, n: int = 2) -> str:
    if not e:
        return ""
    return "; ".join((r.get("name") or r.get("feature") or r.get("item_id") or "") for r in e["reasons"][:n])


# ---------------------------------------------------------------------- similar items, search
def similar_items(src: AppSource, model: str, item_id: str, k: int) -> tuple[str, pd.DataFrame]:
    item_id = _clean_id(item_id, "item id")
    item = int(src.internal_items([item_id])[0])
    if item < 0:
        examples = ", ".join(src.item_map.to_external(np.arange(min(3, src.n_items))))
        raise AppInputError(
            f"unknown item id `{item_id}`: not among the {src.n_items:,} items (ids look like {examples})"
        )
    engine = src.engine(model)
    if not isinstance(engine.model, ItemSimilarity):
        raise AppInputError(f"{missing_ability(engine.model, ItemSimilarity)}: pick another model for similar items")
    answer = engine.similar(item_id, k)
    name = src.names.get(item, "")
    return f"Items like `{item_id}` {name} by {model}'s item similarity:", _answer_frame(src, answer["items"])


class TextSearch:
    """Text search over the catalogue: a run's items encoded once (cached under ``RUN/cache``), or a
    bundle's stored text vectors. Built in the background (:meth:`start`); a search waits for it."""

    def __init__(self, src: AppSource, columns: list[str], model: str | None) -> None:
        self.src, self.columns, self.model = src, columns, model
        self._index: Any = None
        self._error: Exception | None = None
        self._ready = threading.Event()
        self._started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._build, name="app-text-index", daemon=True).start()

    def _build(self) -> None:
        try:
            if self.src.run is not None:
                from recsmith.runs.search import text_index

                self._index = text_index(self.src.run, self.columns, self.model)
            else:
                self._index = next((n for n in self.src.model_names if self.src.engine(n).text is not None), None)
        except Exception as err:  # shown to the person at the first search
            self._error = err
        finally:
            self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def search(self, query: str, k: int) -> pd.DataFrame:
        query = check_query(query)
        self.start()
        self._ready.wait()
        if self._error is not None:
            raise AppInputError(f"text search is not available: {self._error}")
        if self.src.run is not None:
            from recsmith.runs.search import query_vector

            items, scores = self._index.search(query_vector(query, self.model), k)
            return _items_frame(self.src, items[0], scores[0])
        if self._index is None:
            raise AppInputError(
                "text search is not available: no bundle was exported with --text-columns (e.g. "
                "`recsmith export ... --text-columns name`)"
            )
        return _answer_frame(self.src, self.src.engine(self._index).search(query, k)["items"])


def check_query(query: str | None) -> str:
    query = (query or "").strip()
    if not query:
        raise AppInputError("the search text is empty: type a few words, e.g. 'blue denim jacket'")
    if len(query) > MAX_QUERY:
        raise AppInputError(f"the search text is {len(query):,} characters long; keep it under {MAX_QUERY:,}")
    return query


def image_search(src: AppSource, path: str | None, k: int, image_model: str | None) -> pd.DataFrame:
    """Items whose image embedding is nearest the uploaded image (runs with an ``image`` column)."""
    if not path:
        raise AppInputError("no image uploaded: choose a picture file first")
    check_image(path)
    if src.run is None:
        raise AppInputError("image search needs a run directory (`recsmith app --run DIR --image-model M`)")
    if image_model is None:
        raise AppInputError("image search needs an image encoder: start the app with --image-model DIR (e.g. a CLIP)")
    from recsmith.runs.search import image_index, image_query_vector

    index, _ = image_index(src.run, IMAGE_COLUMN, image_model)
    items, scores = index.search(image_query_vector(Path(path), image_model), k)
    return _items_frame(src, items[0], scores[0])


def check_image(path: str) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise AppInputError(
            f"`{Path(path).name}` is not an image that can be read ({err.__class__.__name__}): "
            "upload a PNG, JPEG or WebP picture"
        ) from None


# ---------------------------------------------------------------------- beyond accuracy
def list_metrics(src: AppSource, views: list[ListView]) -> pd.DataFrame:
    """Novelty, intra-list diversity and popularity of each shown list (:mod:`recsmith.evaluation.beyond`)."""
    rows = []
    for view in views:
        engine = src.engine(view.model)
        seen = engine.model.seen
        popularity = np.diff(seen.tocsc().indptr)
        n_users = int((np.diff(seen.indptr) > 0).sum())
        lists = view.items[None, :] if view.items.size else np.full((1, 1), -1)
        features, by = _diversity_features(src, engine.model)
        ild = float(beyond.intra_list_diversity(lists, features)[0]) if features is not None else math.nan
        rows.append(
            {
                "model": view.model,
                "novelty (bits)": round(float(beyond.novelty(lists, popularity, n_users)[0]), 2),
                "diversity (ILD)": round(ild, 3),
                "diversity of": by,
                "mean popularity (users)": round(float(beyond.average_popularity(lists, popularity)[0]), 1),
                "long-tail share": round(float(beyond.long_tail_share(lists, popularity)[0]), 2),
            }
        )
    return pd.DataFrame(rows)


def _diversity_features(src: AppSource, model: Any) -> tuple[Any, str]:
    """Item features for diversity: the catalogue's categories, else the model's item embeddings."""
    column = beyond.guess_category_column(src.items)
    if column is not None and src.items is not None:
        return beyond.category_matrix(src.items, column, src.n_items)[0], column
    if isinstance(model, Embeddings):
        return model.item_embeddings(), "embeddings"
    return None, "no item features"


# ---------------------------------------------------------------------- helpers
def _clean_id(value: str | None, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise AppInputError(f"no {what} given: pick or type one")
    if len(value) > 256:
        raise AppInputError(f"that {what} is {len(value):,} characters long; ids are at most 256")
    return value


def _items_frame(
    src: AppSource, items: np.ndarray, scores: np.ndarray | None, *, columns: list[str] | None = None
) -> pd.DataFrame:
    keep = items >= 0
    items = items[keep]
    names = src.names
    data: dict[str, Any] = {
        "item_id": src.item_map.to_external(items) if items.size else [],
        "name": [names.get(int(i), "") for i in items],
    }
    if columns and "position" in columns:
        data = {"position": list(range(1, items.size + 1)), **data}
    if scores is not None:
        data["score"] = [round(float(s), 4) for s in scores[keep]]
    return pd.DataFrame(data, columns=columns or ITEM_COLUMNS)


def _answer_frame(src: AppSource, rows: list[dict[str, Any]]) -> pd.DataFrame:
    items = src.internal_items([r["item_id"] for r in rows]) if rows else np.empty(0, dtype=np.int64)
    return _items_frame(src, items, np.array([r["score"] for r in rows], dtype=np.float64))


def _gallery(src: AppSource, items: np.ndarray) -> list[tuple[str, str]]:
    """``(image file, caption)`` of the items that have a local image."""
    images, names = src.images, src.names
    return [(str(images[i]), names.get(i) or src.item_map.to_external([i])[0]) for i in items.tolist() if i in images]
