"""The model bundle: everything the service needs, in one directory. The service reads only bundles;
:func:`write_bundle` is the one writer (``recsmith export`` turns a run into one through it,
:mod:`recsmith.pipelines.export`).

Layout (written atomically)::

    BUNDLE/
      manifest.json        format_version, version, created, model name/config/sizes, source run,
                           training metrics (the run's leaderboard entry), index and encoder metadata,
                           sha256 of every file
      model/               the fitted model (config.json + state.npz, no pickle)
      ids/user_ids.parquet external user ids (row i = internal user i)
      ids/item_ids.parquet external item ids (row i = internal item i)
      items.parquet        item attributes (item:int32 + columns); business-rule filters read it
      features/            feature-store encoders (manifest with fitted encoder states + vocab/),
                           from --features DIR, or the run's (RUN/features, else its DATASET/features)
      index/               ANN index over item vectors (factor and query-vector models): index.faiss
                           + index.json + labels.npy + external_ids.parquet
      state/               known users' state, so that serving them runs no network (sequential,
                           two-tower, TIGER): query vectors or beam lists as .npy, memory-mapped
                           when loaded (:mod:`recsmith.serving.user_state`)
      encoders/            ONNX query encoders: of fold-in models with ``--onnx``; of query-vector
                           models always (``query_vectors.onnx``: the network the service runs,
                           with ONNX Runtime, for sessions and users with new events)
      text/                optional item text vectors for ``POST /v1/search`` (``--text-columns``):
                           vectors.npy + valid.npy, see :mod:`recsmith.serving.text_search`

For an embedding model (als, bpr, mf: ``scores = u . v + b``) the index holds ``[v, b]`` (or ``v``) and the service
searches it with ``[u, 1]`` (or ``u``) under inner product, so the ANN answer ranks exactly as the
model does. A model with the ``query_vectors`` ability (sasrec, bert4rec, gru4rec, two_tower) is
searched the same way: its output item vectors are indexed, a history's query vector is the query,
and the inner products are the model's scores.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith import __version__
from recsmith.data.idmap import IdMap
from recsmith.errors import RecsmithError
from recsmith.models.abilities import Ability, Embeddings
from recsmith.models.base import Recommender
from recsmith.models.sessions import QueryVectors
from recsmith.serving.user_state import STATE_DIR, UserState, write_user_state
from recsmith.utils.atomic import atomic_dir

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
AUTO_FLAT_BELOW = 20_000  # "auto" index: exact search below this many items, HNSW32 above


@dataclass
class Bundle:
    """A loaded bundle. ``index`` is None for models without item vectors."""

    path: Path
    manifest: dict[str, Any]
    model: Recommender
    user_map: IdMap
    item_map: IdMap
    items: pl.DataFrame | None
    index: Any | None  # recsmith.retrieval.ann.AnnIndex
    text: Any | None = None  # recsmith.serving.text_search.TextIndex, for text search
    user_state: UserState | None = None  # known users' stored state (memory-mapped), when exported

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @classmethod
    def load(cls, path: str | Path) -> "Bundle":
        path = Path(path)
        manifest_file = path / MANIFEST
        if not manifest_file.exists():
            raise RecsmithError(f"{path} is not a model bundle (no {MANIFEST}); create one with `recsmith export`")
        manifest = json.loads(manifest_file.read_text())
        if manifest.get("format_version") != FORMAT_VERSION:
            raise RecsmithError(f"{path}: unsupported bundle format {manifest.get('format_version')!r}")
        index = None
        if manifest.get("index"):
            from recsmith.retrieval.ann import AnnIndex

            index = AnnIndex.load(path / "index")
        items = pl.read_parquet(path / "items.parquet") if (path / "items.parquet").exists() else None
        item_map = IdMap.load(path / "ids" / "item_ids.parquet", kind="item")
        text = None
        if manifest.get("text_encoder"):
            from recsmith.serving.text_search import TextIndex

            text = TextIndex.load(path, manifest["text_encoder"], len(item_map))
        model = Recommender.load(path / "model")
        state = manifest.get("user_state")
        return cls(
            path=path,
            manifest=manifest,
            model=model,
            user_map=IdMap.load(path / "ids" / "user_ids.parquet", kind="user"),
            item_map=item_map,
            items=items,
            index=index,
            text=text,
            user_state=UserState.load(path, state, model.n_users) if state else None,
        )


def item_vectors(model: Recommender | Ability) -> np.ndarray | None:
    """``(n_items, d [+1])`` vectors whose inner product with a query ranks as the model does: the
    output item vectors of ``query_vectors`` models (sasrec, bert4rec, gru4rec, two_tower), ``[v, b]``
    of ``embeddings`` models (als, bpr, mf; searched with :func:`query_vector`), else None."""
    if isinstance(model, QueryVectors):
        return np.ascontiguousarray(model.output_item_vectors(), dtype=np.float32)
    if not isinstance(model, Embeddings):
        return None
    V, bias = model.item_embeddings(), model.item_biases()
    return V if bias is None else np.hstack([V, bias[:, None]]).astype(np.float32)


def query_vector(user_vector: np.ndarray, has_bias: bool) -> np.ndarray:
    """The ANN query for a user vector ``(d,)``: ``[u, 1]`` when the items carry a bias column."""
    u = np.asarray(user_vector, dtype=np.float32)
    return np.append(u, np.float32(1.0)) if has_bias else u


def write_bundle(
    out: str | Path,
    model: Recommender,
    user_map: IdMap,
    item_map: IdMap,
    *,
    items: pl.DataFrame | None = None,
    version: str = "v1",
    index_factory: str | None = "auto",
    search_params: dict[str, int] | None = None,
    metrics: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    model_files: str | Path | None = None,
    features: str | Path | None = None,
    onnx: bool = False,
    quantize: bool = False,
    text_columns: list[str] | None = None,
    text_model: str | None = None,
    text_cache: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a bundle of ``model`` into ``out`` (atomically); returns ``out``. The one bundle writer:
    ``recsmith export`` (:func:`recsmith.pipelines.export.export_bundle`) calls it with what a run
    holds, tests and custom pipelines with objects in memory.

    Args:
        items: the item table (``item`` + attribute columns), for business rules and text search.
        version: the bundle's version (what ``/v1/model`` and every answer report).
        index_factory: FAISS factory string for the item index of factor models; ``"auto"`` picks
            ``Flat`` below 20k items and ``HNSW32`` above; ``None`` / ``"none"`` builds none.
        search_params: e.g. ``{"efSearch": 128}``; ``auto`` HNSW defaults to efSearch 128.
        metrics / source: the training record kept in the manifest (metrics, run, dataset, split).
        model_files: the model's saved directory to copy as it is (default: ``model.save``).
        features: a feature-store directory whose fitted encoders are copied in.
        onnx / quantize: also export the ONNX query encoder (and its dynamic-int8 version).
        text_columns: item columns whose joined text is encoded for ``POST /v1/search``; None: no
            text search. ``text_model``: encoder name or path (default all-MiniLM-L6-v2), stored,
            not copied. ``text_cache``: an embedding cache directory to reuse.
    """
    texts = _text_source(text_columns, text_model, items, len(item_map))
    with atomic_dir(out, overwrite=overwrite) as tmp:
        if model_files is not None:
            shutil.copytree(model_files, tmp / "model")
        else:
            model.save(tmp / "model")
        (tmp / "ids").mkdir()
        user_map.save(tmp / "ids" / "user_ids.parquet")
        item_map.save(tmp / "ids" / "item_ids.parquet")
        if items is not None:
            items.write_parquet(tmp / "items.parquet")
        if features is not None:
            _copy_encoders(Path(features), tmp / "features")
        index_meta = _write_index(tmp, model, item_map, index_factory, search_params)
        user_state = write_user_state(tmp / STATE_DIR, model)
        encoders = {}
        if onnx:
            from recsmith.retrieval.query_encoder import export_query_encoder

            encoders = export_query_encoder(model, tmp / "encoders", quantize=quantize)
        if isinstance(model, QueryVectors):  # what the service runs for sessions and new feedback
            from recsmith.retrieval.query_encoder import export_query_vectors_encoder

            encoders.update(export_query_vectors_encoder(model, tmp / "encoders") or {})
        text_meta = _write_text(
            tmp, texts, text_columns, text_model, item_map, Path(text_cache) if text_cache else None
        )
        manifest = {
            "format_version": FORMAT_VERSION,
            "version": version,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "recsmith_version": __version__,
            "model": {
                "name": model.name,
                "config": model.config.model_dump(mode="json"),
                "n_users": model.n_users,
                "n_items": model.n_items,
            },
            "source": source,
            "metrics": metrics or {},
            "index": index_meta,
            "user_state": user_state,
            "encoders": encoders,
            "features": "features" if features is not None else None,
            "text_encoder": text_meta,
        }
        manifest["files"] = _checksums(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return Path(out)


def _write_index(
    tmp: Path, model: Recommender, item_map: IdMap, factory: str | None, params: dict[str, int] | None
) -> dict[str, Any] | None:
    vectors = item_vectors(model)
    if vectors is None or factory in (None, "none"):
        return None
    from recsmith.retrieval.ann import AnnIndex

    if factory == "auto":
        factory = "Flat" if len(vectors) < AUTO_FLAT_BELOW else "HNSW32"
        if factory.startswith("HNSW") and not params:
            params = {"efSearch": 128}
    index = AnnIndex.build(
        vectors, factory=factory, metric="ip", search_params=params, external_ids=item_map.external_ids.to_list()
    )
    index.save(tmp / "index")
    return index.metadata()


def _text_source(
    columns: list[str] | None, model: str | None, items: pl.DataFrame | None, n_items: int
) -> list[str] | None:
    """The item texts to encode (None: no text search), checked before any file is written."""
    if columns is None:
        if model is not None:
            raise RecsmithError("a text model was given without text columns: add --text-columns (e.g. name)")
        return None
    from recsmith.serving.text_search import item_texts

    return item_texts(items, n_items, columns)


def _write_text(
    tmp: Path,
    texts: list[str] | None,
    columns: list[str] | None,
    model: str | None,
    item_map: IdMap,
    cache_dir: Path | None,
) -> dict[str, Any] | None:
    if texts is None:
        return None
    from recsmith.encoders.text import DEFAULT_MAX_LENGTH, DEFAULT_TEXT_MODEL
    from recsmith.serving.text_search import TEXT_DIR, write_text_index

    return write_text_index(
        tmp / TEXT_DIR,
        texts,
        [str(x) for x in item_map.external_ids.to_list()],
        model=model or DEFAULT_TEXT_MODEL,
        columns=columns or [],
        max_length=DEFAULT_MAX_LENGTH,
        cache_dir=cache_dir,
    )


def _copy_encoders(src: Path, dst: Path) -> None:
    """The feature store's fitted encoders: its manifest (encoder states) and vocabularies.

    The encoded feature tables themselves stay in the dataset: serving encodes new rows with the
    fitted encoders (``recsmith.features.store.FeatureStore``).
    """
    if not (src / "manifest.json").is_file():
        raise RecsmithError(f"{src} is not a feature store (no manifest.json)")
    dst.mkdir(parents=True)
    shutil.copy2(src / "manifest.json", dst / "manifest.json")
    if (src / "vocab").is_dir():
        shutil.copytree(src / "vocab", dst / "vocab")


def _checksums(root: Path) -> dict[str, str]:
    out = {}
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with file.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        out[str(file.relative_to(root))] = digest.hexdigest()
    return out
