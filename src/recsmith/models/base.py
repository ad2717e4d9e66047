"""The model contract every recommender follows.

A model is a thin subclass of :class:`Recommender` that declares its hyperparameters once, as a
pydantic ``Config``, and implements a few private hooks. Everything users call lives here, once:

============================  ==================================================================
public (do not override)      what the base class does
============================  ==================================================================
``fit(interactions)``          checks input, remembers seen items and item popularity, calls ``_fit``
``fitting(interactions)``      that bookkeeping as a context, for training loops outside the model
                               (the Trainer fits torch models inside it)
``recommend(users, k, ...)``   scores users in batches, removes seen / excluded items, takes top-k
``recommend_cold(k)``          the cold-start answer for an unknown user: most popular items
``scores(users)``              raw ``(len(users), n_items)`` scores (nothing filtered), as ``_score``
``seen`` / ``seen_items(u)``   the training interactions (what ``filter_seen`` removes): the
                               ``(n_users, n_items)`` 0/1 CSR matrix / one user's sorted item ids
``abilities()``                (class method) names of the optional abilities the model declares
``with_side_data(side)``       hands item / user tables (:class:`~recsmith.data.side.SideData`) to
                               models that read them (``uses_side_data``); called before ``fit``
``save(dir)`` / ``load(dir)``  ``config.json`` + ``state.npz`` (``allow_pickle=False``); no pickle
============================  ==================================================================

============================  ==================================================================
hook (implement)              contract
============================  ==================================================================
``_fit(interactions)``         learn from :class:`~recsmith.data.interactions.Interactions`
``_score(users)``              ``(len(users), n_items)`` float32 scores, higher is better; a fresh
                               array (the caller masks it in place), never a view of model state
``_state()``                   dict of numpy arrays that, with the config, restore the fitted model
``_load_state(state)``         inverse of ``_state``
============================  ==================================================================

All ids are internal ints; mapping to and from external ids happens at the edges (CLI, API).
Scores of ``-inf`` mark items that must never be recommended.

**Typing a model** (mypy, configured in ``pyproject.toml``, sees what each model really holds):

- ``config``: right after its nested ``Config`` (or ``Config = SomeConfig``) a model annotates
  ``config: Config`` in its class body, so ``self.config.dim`` is typed by the model's own fields.
  (A generic ``Recommender[C]`` cannot name a nested class in the bases.)
- other attributes whose type is narrower than the base's, the same way: a torch model's network
  (``network: MatrixFactorization | None``), under ``if TYPE_CHECKING`` where the import is heavy.
- state that only ``fit`` / ``load`` set is ``X | None`` and is read through
  ``self._fitted(self.x, "what")``, once per call (never per row of a scoring loop): the value, or
  a :class:`~recsmith.errors.NotFittedError` that says what is missing.

Optional abilities (:mod:`recsmith.models.abilities`) are declared by inheriting their interface,
and tools use a model's extras only through them, never by probing attributes or names:

=====================  ====================================================  ==========================
ability                what it gives                                         declared by
=====================  ====================================================  ==========================
``embeddings``         user / item vectors (+ item bias) whose inner         als, bpr, mf, two_tower
                       products are the scores: the ANN index
``fold_in``            a user vector from any item history, with the         als, bpr, mf, two_tower
                       model's constants: online feedback, ONNX encoder
``item_item``          scores linear in a history row, ``X_u W``: online     itemknn, ease, tfidf
                       feedback edits the row
``item_similarity``    ``item_similarity`` / ``similar_items`` (hook         all but popular, random
                       ``_item_similarity``)
``sessions``           scores of any item history (anonymous sessions)       sasrec, bert4rec, gru4rec,
                                                                             two_tower, tiger
``query_vectors``      sessions scored as query vector x output item         sasrec, bert4rec, gru4rec,
                       vectors: a user's state is one vector                 two_tower
``session_lists``      sessions scored on a short list only (a beam): a      tiger
                       user's state is that list
=====================  ====================================================  ==========================
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, ValidationError

from recsmith.data.interactions import Interactions
from recsmith.data.side import SideData
from recsmith.errors import ConfigError, NotFittedError, RecsmithError
from recsmith.utils.atomic import atomic_dir
from recsmith.utils.extras import require_extras
from recsmith.utils.validation import describe_errors

FORMAT_VERSION = 1

_T = TypeVar("_T")


class ModelConfig(BaseModel):
    """Base of every model's hyperparameter config: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Recommender(ABC):
    """Base class of all recommenders. See the module docstring for the contract."""

    #: registered name, e.g. ``"itemknn"`` (set by :func:`recsmith.models.registry.register`)
    name: ClassVar[str] = ""
    #: one line on what the model is and when to pick it (``recsmith models`` lists it)
    summary: ClassVar[str] = ""
    #: the model's hyperparameters, declared once
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    #: True for models that read item / user attributes (content, hybrid, two-tower, TIGER);
    #: they get them from :meth:`with_side_data` and save whatever they derive in their state
    uses_side_data: ClassVar[bool] = False
    #: a model that fills what it cannot rank with popularity scores below this value (two_stage: a
    #: user without candidates); a list whose best score is below it is that fallback, and the
    #: service flags it as ``strategy: popular``. None: the model has no such fallback
    fallback_below: ClassVar[float | None] = None
    #: pip extras the model needs to be created, loaded and scored (``recsmith.utils.extras``): a model
    #: whose extra is not installed stops with one line naming it, and ``recsmith models`` shows it
    extras: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ModelConfig | dict[str, Any] | None = None, **params: Any) -> None:
        if isinstance(config, ModelConfig) and type(config) is self.Config and not params:
            validated = config
        else:
            # a config object of another class, or overrides on top of one, are re-validated:
            # ``model_copy(update=...)`` would skip validation and let bad keys and types through
            if isinstance(config, ModelConfig):
                config = config.model_dump()
            merged = {**(config or {}), **params}
            try:
                validated = self.Config(**merged)
            except ValidationError as err:
                raise ConfigError(
                    f"invalid config for model {self.name!r}:\n" + describe_errors(err, self.Config, [self.name])
                ) from None
        self.config = validated
        self.n_users = 0
        self.n_items = 0
        self._seen: sp.csr_matrix | None = None
        self._popularity: np.ndarray | None = None
        self.side: SideData | None = None
        self.check_extras(fitting=False)

    @classmethod
    def required_extras(cls, config: ModelConfig, *, fitting: bool) -> tuple[str, ...]:
        """The extras the model with ``config`` needs; ``fitting``: to fit it (a fitted model may need
        less, e.g. no text encoder once its item vectors are saved). Default: :attr:`extras`."""
        return cls.extras

    def check_extras(self, *, fitting: bool) -> None:
        """Raise :class:`~recsmith.errors.MissingExtraError` unless :meth:`required_extras` are installed."""
        require_extras(self.required_extras(self.config, fitting=fitting), f"model {self.name!r}")

    def with_side_data(self, side: "SideData | None") -> Self:
        """Give the model the item / user tables it may read in ``fit``; returns ``self``.

        Harmless for models that do not use side data (they ignore it), so callers pass it to all.
        """
        self.side = side
        return self

    # ------------------------------------------------------------------ fitting
    def fit(self, interactions: Interactions) -> Self:
        """Learn from ``interactions``; returns ``self``."""
        with self.fitting(interactions):
            self._fit(interactions)
        return self

    @contextmanager
    def fitting(self, interactions: Interactions) -> Iterator[Self]:
        """The bookkeeping around every fit, also for a training loop outside the model (the Trainer).

        Checks the input and records the sizes, the seen items and the item popularity before the
        body runs; if the body raises, the model is left unfitted (a failed fit must not look fitted).
        """
        if len(interactions) == 0:
            raise RecsmithError(f"cannot fit {self.name!r} on an empty interactions table")
        self.check_extras(fitting=True)
        self.n_users, self.n_items = interactions.n_users, interactions.n_items
        self._seen = interactions.binary
        self._popularity = np.asarray(self._seen.sum(axis=0)).ravel().astype(np.float32)
        try:
            yield self
        except BaseException:
            self._seen = self._popularity = None
            raise

    @property
    def is_fitted(self) -> bool:
        return self._seen is not None

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"model {self.name!r} is not fitted: call fit() or load() first")

    def _fitted(self, value: _T | None, what: str) -> _T:
        """``value``, a piece of state that only ``fit`` / ``load`` set, known not to be None; else
        :class:`NotFittedError` naming ``what``. Narrow once per call, not per row of a loop."""
        if value is None:
            raise NotFittedError(f"model {self.name!r} is not fitted ({what} missing): call fit() or load() first")
        return value

    @classmethod
    def abilities(cls) -> tuple[str, ...]:
        """Sorted names of the optional abilities this model class declares (see
        :mod:`recsmith.models.abilities`), e.g. ``("embeddings", "fold_in", "item_similarity")``."""
        from recsmith.models.abilities import declared_abilities

        return declared_abilities(cls)

    # ------------------------------------------------------------------ what every fitted model knows
    @property
    def seen(self) -> sp.csr_matrix:
        """``(n_users, n_items)`` 0/1 CSR of the training interactions (what ``filter_seen`` removes).
        Model state: do not modify."""
        self._check_fitted()
        return self._fitted(self._seen, "seen items")

    def seen_items(self, user: int) -> np.ndarray:
        """Sorted int64 internal ids of the items ``user`` interacted with in the training data."""
        seen = self.seen
        u = int(self._checked_users([user])[0])
        return np.sort(seen.indices[seen.indptr[u] : seen.indptr[u + 1]]).astype(np.int64)

    def scores(self, users: np.ndarray | list[int]) -> np.ndarray:
        """``(len(users), n_items)`` float32 raw scores of ``users``: higher is better, ``-inf`` never
        recommended, nothing filtered (``recommend`` ranks these). A fresh array."""
        self._check_fitted()
        return np.asarray(self._score(self._checked_users(users)), dtype=np.float32)

    def _checked_users(self, users: np.ndarray | list[int]) -> np.ndarray:
        """``users`` as a 1-d int64 array, every id checked against ``n_users``."""
        users = np.asarray(users, dtype=np.int64).ravel()
        if users.size and (users.min() < 0 or users.max() >= self.n_users):
            raise RecsmithError(f"user ids must lie in [0, {self.n_users}) for model {self.name!r}")
        return users

    def _checked_items(self, items: np.ndarray | list[int]) -> np.ndarray:
        """``items`` as a 1-d int64 array, every id checked against ``n_items``."""
        items = np.asarray(items, dtype=np.int64).ravel()
        if items.size and (items.min() < 0 or items.max() >= self.n_items):
            raise RecsmithError(f"item ids must lie in [0, {self.n_items}) for model {self.name!r}")
        return items

    # ------------------------------------------------------------------ recommending
    def recommend(
        self,
        users: np.ndarray | list[int],
        k: int = 10,
        *,
        filter_seen: bool = True,
        exclude: sp.csr_matrix | None = None,
        batch_size: int = 1024,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for each user.

        Args:
            users: internal user ids, shape ``(n,)``.
            k: list length. Fewer than ``k`` items are returned (padded with ``-1`` / ``-inf``)
                only when fewer than ``k`` items are eligible.
            filter_seen: remove the items each user interacted with in the training data.
            exclude: optional extra ``(n_users, n_items)`` matrix of items to remove per user.
            batch_size: users scored at once; bounds memory to ``batch_size * n_items`` floats.

        Returns:
            ``(items, scores)``, both ``(n, k)``; items int64 in descending score order.
        """
        seen = self.seen
        users = self._checked_users(users)
        if k < 1:
            raise RecsmithError(f"k must be at least 1, got {k}")
        k_eff = min(k, self.n_items)
        items_out = np.full((users.size, k), -1, dtype=np.int64)
        scores_out = np.full((users.size, k), -np.inf, dtype=np.float32)
        for start, batch in _batches(users, batch_size):
            scores = np.asarray(self._score(batch), dtype=np.float32)
            if filter_seen:
                _mask(scores, seen[batch])
            if exclude is not None:
                _mask(scores, exclude[batch])
            top, top_scores = top_k(scores, k_eff)
            items_out[start : start + len(batch), :k_eff] = top
            scores_out[start : start + len(batch), :k_eff] = top_scores
        items_out[~np.isfinite(scores_out)] = -1
        return items_out, scores_out

    def recommend_cold(self, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Cold-start answer for a user the model does not know: the most popular training items."""
        self._check_fitted()
        popularity = self._fitted(self._popularity, "item popularity")
        top, scores = top_k(popularity[None, :], min(k, self.n_items))
        return top[0], scores[0]

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _fit(self, interactions: Interactions) -> None: ...

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _state(self) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def _load_state(self, state: dict[str, np.ndarray]) -> None: ...

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``state.npz`` into directory ``path``, atomically."""
        seen = self.seen
        path = Path(path)
        state = {f"model.{k}": np.asarray(v) for k, v in self._state().items()}
        state.update(_csr_to_arrays("seen", seen))
        state["popularity"] = self._fitted(self._popularity, "item popularity")
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": self.config.model_dump(mode="json"),
            "n_users": self.n_users,
            "n_items": self.n_items,
        }
        with atomic_dir(path, overwrite=True) as tmp:
            np.savez(tmp / "state.npz", allow_pickle=False, **state)
            (tmp / "config.json").write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Recommender":
        """Load a model saved by :meth:`save`. Called on the base class it dispatches by name."""
        from recsmith.models.registry import get_model_class

        path = Path(path)
        meta_file = path / "config.json"
        if not meta_file.exists():
            raise RecsmithError(f"{path} is not a saved recsmith model (no config.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise RecsmithError(f"{path}: unsupported model format {meta.get('format_version')!r}")
        if cls is not Recommender and meta.get("model") != cls.name:
            raise RecsmithError(f"{path} holds a {meta.get('model')!r} model, not {cls.name!r}")
        model_cls = get_model_class(meta["model"]) if cls is Recommender else cls
        model = model_cls(model_cls.saved_config(meta["config"]))
        with np.load(path / "state.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        model.n_users, model.n_items = int(meta["n_users"]), int(meta["n_items"])
        model._seen = _arrays_to_csr("seen", arrays, (model.n_users, model.n_items))
        model._popularity = arrays["popularity"]
        model._load_state({k[len("model.") :]: v for k, v in arrays.items() if k.startswith("model.")})
        return model

    @classmethod
    def saved_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The config of a saved model as this version reads it (older saves may carry moved keys)."""
        return config

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({params})"


# ---------------------------------------------------------------------- helpers
def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-``k`` of a dense ``(n, m)`` array, sorted by descending score.

    Ties are broken by the lower item id, so results are deterministic.
    """
    n, m = scores.shape
    k = min(k, m)
    if k <= 0:
        return np.empty((n, 0), dtype=np.int64), np.empty((n, 0), dtype=np.float32)
    if k < m:
        part = _top_k_unsorted(scores, k)
        _prefer_low_ids_at_boundary(scores, part)
    else:
        part = np.broadcast_to(np.arange(m), (n, m)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    # lexsort: primary key descending score, secondary ascending item id
    order = np.lexsort((part, -part_scores), axis=1)
    top = np.take_along_axis(part, order, axis=1).astype(np.int64)
    return top, np.take_along_axis(part_scores, order, axis=1)


def _top_k_unsorted(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of a row-wise top-``k`` in any order: ``torch.topk`` (several times faster than
    ``np.argpartition`` on wide rows) where torch is already loaded, else numpy."""
    import sys

    torch = sys.modules.get("torch")
    # a module another thread is still importing is in sys.modules half-built (spec._initializing)
    importing = torch is not None and getattr(getattr(torch, "__spec__", None), "_initializing", False)
    if torch is None or importing or scores.dtype not in (np.float32, np.float64) or not scores.flags.c_contiguous:
        return np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return torch.topk(torch.from_numpy(scores), k, dim=1, sorted=False).indices.numpy()


def _prefer_low_ids_at_boundary(scores: np.ndarray, part: np.ndarray) -> None:
    """Fix ``part`` (in place) in rows where items tied with the k-th score straddle the cut.

    ``argpartition`` keeps an arbitrary subset of the items tied at the k-th score; the contract
    is the lowest ids. Rows without such ties (almost all, for continuous scores) are untouched.
    """
    k = part.shape[1]
    kept = np.take_along_axis(scores, part, axis=1)
    thr = kept.min(axis=1)
    ties_all = (scores == thr[:, None]).sum(axis=1)
    ties_kept = (kept == thr[:, None]).sum(axis=1)
    rows = np.flatnonzero(ties_all > ties_kept)
    if rows.size == 0:
        return
    sub, t = scores[rows], thr[rows, None]
    above = sub > t
    tied = sub == t
    need = k - above.sum(axis=1)
    keep = above | (tied & (np.cumsum(tied, axis=1) <= need[:, None]))
    part[rows] = np.nonzero(keep)[1].reshape(rows.size, k)


def _mask(scores: np.ndarray, rows: sp.csr_matrix) -> None:
    """Set ``scores[i, j] = -inf`` wherever ``rows[i, j]`` is stored (in place)."""
    rows = rows.tocsr()
    r = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
    scores[r, rows.indices] = -np.inf


def _batches(values: np.ndarray, size: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, len(values), size):
        yield start, values[start : start + size]


def _csr_to_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {f"{prefix}.indptr": m.indptr, f"{prefix}.indices": m.indices, f"{prefix}.data": m.data}


def _arrays_to_csr(prefix: str, arrays: dict[str, np.ndarray], shape: tuple[int, int]) -> sp.csr_matrix:
    return sp.csr_matrix(
        (arrays[f"{prefix}.data"], arrays[f"{prefix}.indices"], arrays[f"{prefix}.indptr"]), shape=shape
    )
