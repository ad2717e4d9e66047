"""``hybrid``: content scores for users and items with little history, collaborative scores elsewhere."""

from __future__ import annotations

from typing import Any, Literal, cast

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from recsmith.data.interactions import Interactions
from recsmith.errors import ConfigError, RecsmithError
from recsmith.models.abilities import ItemSimilarity
from recsmith.models.base import ModelConfig, Recommender
from recsmith.models.content import normalise_rows
from recsmith.models.registry import create_model, get_model_class, register
from recsmith.models.torch_base import TorchRecommender
from recsmith.training.config import check_train_overrides, split_train_overrides
from recsmith.training.fit import fit_model


@register("hybrid")
class Hybrid(ItemSimilarity, Recommender):
    """A per-user, per-item blend of a content model and a collaborative model.

    Both parts are fitted on the same interactions (the content part also reads the side data).
    Their scores are first normalised per user over the whole catalogue (``normalise``: z-score by
    default, or rank; both keep each part's ranking, and make the two scales comparable). Then::

        w_u  = min(n_u / full_weight_after, 1)         n_u: distinct training items of user u
        v_i  = min(n_i / item_full_weight_after, 1)    n_i: distinct training users of item i (1 if M = 0)
        w_ui = w_u * v_i
        score(u, i) = w_ui * collab(u, i) + (1 - w_ui) * content(u, i)

    So a user without interactions gets the content model's ranking exactly, a user with at least
    ``full_weight_after`` interactions the collaborative ranking exactly on items with at least
    ``item_full_weight_after`` interactions, and an item nobody interacted with (a new product) is
    scored by content alone for everyone -- collaborative models know nothing about it.

    ``similar_items`` uses the collaborative part for items with at least ``item_full_weight_after``
    interactions and the content part for the others (or whichever part has the ``item_similarity``
    ability; every content model has it).

    A collaborative torch model is trained with its own ``train`` overrides on top of the default
    training settings (the hybrid is fitted as one model, so the run's ``train`` section and early
    stopping do not reach it). Persistence: both parts' states are saved inside the hybrid's
    ``state.npz`` under ``content.`` / ``collab.`` prefixes, so no side data is needed after loading.
    """

    summary = "content scores for users and items with little history, collaborative scores elsewhere (cold start)"

    uses_side_data = True

    class Config(ModelConfig):
        content: str = Field("tfidf", description="registered content model (one that reads side data)")
        content_params: dict[str, Any] = Field(default_factory=dict, description="the content model's params")
        collaborative: str = Field("ease", description="registered collaborative model, e.g. ease, als, itemknn")
        collaborative_params: dict[str, Any] = Field(
            default_factory=dict, description="the collaborative model's params"
        )
        full_weight_after: int = Field(
            10, ge=1, description="N: users with at least N training items get purely collaborative scores"
        )
        item_full_weight_after: int = Field(
            5, ge=0, description="M: items with fewer than M training users lean to content (0: no item rule)"
        )
        normalise: Literal["zscore", "rank"] = Field(
            "zscore", description="per-user normalisation of each part's scores before blending"
        )

        @field_validator("content", "collaborative")
        @classmethod
        def _registered(cls, name: str, info: ValidationInfo) -> str:
            if name == "hybrid":
                raise ValueError("a hybrid cannot contain another hybrid")
            try:
                model_cls = get_model_class(name)
            except ConfigError as err:
                raise ValueError(str(err)) from None
            if info.field_name == "content" and not model_cls.uses_side_data:
                raise ValueError(f"{name!r} does not read item attributes; use a content model such as tfidf")
            return name

        @field_validator("content_params", "collaborative_params")
        @classmethod
        def _valid_params(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
            field = cast(str, info.field_name)  # a field validator's info always names its field
            name = info.data.get(field.removesuffix("_params"))
            if name is not None:  # None: the model name itself was invalid, already reported
                try:
                    hyper, train = split_train_overrides(params)
                    if train and not issubclass(get_model_class(name), TorchRecommender):
                        raise ConfigError(f"{name!r} is not trained by the Trainer: it takes no train overrides")
                    create_model(name, hyper)
                    check_train_overrides(train, [field])
                except ConfigError as err:
                    raise ValueError(str(err).replace("\n", "; ")) from None
            return params

    config: Config

    @classmethod
    def required_extras(cls, config: Any, *, fitting: bool) -> tuple[str, ...]:
        """The extras of both parts (a torch collaborative part needs [torch])."""
        extras: list[str] = []
        for name, params in (
            (config.content, config.content_params),
            (config.collaborative, config.collaborative_params),
        ):
            part = get_model_class(name)
            extras += part.required_extras(part.Config(**split_train_overrides(params)[0]), fitting=fitting)
        return tuple(dict.fromkeys(extras))

    def __init__(self, config: ModelConfig | dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        self.content: Recommender | None = None
        self.collaborative: Recommender | None = None

    def _make_parts(self) -> tuple[Recommender, Recommender]:
        cfg = self.config
        return (
            create_model(cfg.content, split_train_overrides(cfg.content_params)[0]),
            create_model(cfg.collaborative, split_train_overrides(cfg.collaborative_params)[0]),
        )

    def _fitted_parts(self) -> tuple[Recommender, Recommender]:
        """``(content, collaborative)``, the parts that ``fit`` / ``load`` make."""
        return self._fitted(self.content, "content model"), self._fitted(self.collaborative, "collaborative model")

    def _fit(self, interactions: Interactions) -> None:
        cfg = self.config
        content, collaborative = self._make_parts()
        self.content = _fit_part(content.with_side_data(self.side), interactions, cfg.content_params)
        self.collaborative = _fit_part(collaborative.with_side_data(self.side), interactions, cfg.collaborative_params)

    # ------------------------------------------------------------------ weights
    def user_weights(self, users: np.ndarray) -> np.ndarray:
        """``w_u``: the collaborative share of each user's scores, ``(len(users),)`` float64."""
        n_u = np.diff(self.seen.indptr)[users]
        return np.minimum(n_u / self.config.full_weight_after, 1.0)

    def item_weights(self) -> np.ndarray:
        """``v_i``: how far each item trusts collaborative scores, ``(n_items,)`` float64."""
        m = self.config.item_full_weight_after
        if m == 0:
            return np.ones(self.n_items)
        return np.minimum(self._fitted(self._popularity, "item popularity").astype(np.float64) / m, 1.0)

    # ------------------------------------------------------------------ scoring
    def _score(self, users: np.ndarray) -> np.ndarray:
        method = self.config.normalise
        content_model, collab_model = self._fitted_parts()
        collab = normalise_rows(collab_model.scores(users), method)
        content = normalise_rows(content_model.scores(users), method)
        w = (self.user_weights(users)[:, None] * self.item_weights()[None, :]).astype(np.float32)
        with np.errstate(invalid="ignore"):  # -inf * 0 in the branch np.where does not pick
            mixed = w * collab + (1.0 - w) * content
        # w = 1 / w = 0 take one part verbatim, so its ranking is reproduced exactly
        return np.where(w >= 1.0, collab, np.where(w <= 0.0, content, mixed)).astype(np.float32)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        trusted = self.item_weights()[items] >= 1.0
        out = np.empty((len(items), self.n_items), dtype=np.float32)
        content, collaborative = self._fitted_parts()
        for mask, first, second in (
            (trusted, collaborative, content),
            (~trusted, content, collaborative),
        ):
            if mask.any():
                out[mask] = _similarity(first, second, items[mask])
        return out

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        state: dict[str, np.ndarray] = {}
        for prefix, part in zip(("content", "collab"), self._fitted_parts()):
            state.update({f"{prefix}.{k}": np.asarray(v) for k, v in part._state().items()})
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        parts = self._make_parts()
        for prefix, part in zip(("content", "collab"), parts):
            # the parts were fitted on the hybrid's interactions: same sizes, seen items, popularity
            part.n_users, part.n_items = self.n_users, self.n_items
            part._seen, part._popularity = self._seen, self._popularity
            part._load_state({k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(prefix + ".")})
        self.content, self.collaborative = parts


def _fit_part(part: Recommender, interactions: Interactions, params: dict[str, Any]) -> Recommender:
    """A part fitted on the hybrid's interactions: a torch part through the Trainer, with the
    ``train`` overrides among its parameters over its own training defaults."""
    return fit_model(part, interactions, train_config=split_train_overrides(params)[1] or None)


def _similarity(first: Recommender, second: Recommender, items: np.ndarray) -> np.ndarray:
    """``first``'s item similarities, or ``second``'s when ``first`` has none."""
    for part in (first, second):
        if isinstance(part, ItemSimilarity):
            return part.item_similarity(items)
    raise RecsmithError(f"hybrid: neither {first.name!r} nor {second.name!r} has the item_similarity ability")
