"""The ``two_stage`` model's configuration, declared once: candidate sources, features, the holdout
the ranker learns from, and the ranker. YAML example (``models.two_stage`` of a run config)::

    two_stage:
      sources:                                   # name -> source; every source's rank and score are features
        sasrec: {kind: model, model: sasrec, n: 200, params: {dim: 64, train: {epochs: 200}}}
        itemknn: {kind: model, model: itemknn, n: 100, params: {k: 200}}
        again: {kind: repurchase, n: 20, half_life_days: 14}
        trending: {kind: popular, n: 30, half_life_days: 7}
        bought_together: {kind: cooccurrence, n: 50, window: 3}
        same_product: {kind: same_group, column: product_code, n: 20}
        tower: {kind: ann, model: two_tower, n: 100, factory: HNSW32}
      candidates: {filter_seen: true, max_per_user: 300}
      features: [user_count, item_count, item_trend, ui_count, group_share]
      aggregates: {recent_days: 7, groups: [product_type_name]}
      holdout: {method: days, days: 7}           # the ranker's labels: the last week of the training data
      ranker: {name: lightgbm, n_estimators: 500, learning_rate: 0.05}

Every nested section is validated here, so a bad key or type anywhere stops ``recsmith benchmark``
when the config is loaded, with the dotted key and the valid choices. What depends on the data (a
price feature on data without prices, a group column that is not an item column) is checked when
the model gets its side data, before any fitting (:meth:`TwoStage.with_side_data`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from recsmith.errors import ConfigError


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------- candidate sources
class _SourceBase(Spec):
    n: int = Field(100, ge=1, description="candidates this source proposes per user (its top-n)")


class ModelSourceSpec(_SourceBase):
    """Any registered model: its top-n by score. Torch models early-stop on the holdout, then are
    refitted for the best epoch count."""

    kind: Literal["model"] = "model"
    model: str = Field(description="registered model name, e.g. sasrec, itemknn, ease")
    params: dict[str, Any] = Field(
        default_factory=dict, description="the model's hyperparameters; a torch model's Trainer overrides under `train`"
    )


class RepurchaseSpec(_SourceBase):
    """The user's own earlier items, scored by their count weighted by recency."""

    kind: Literal["repurchase"] = "repurchase"
    half_life_days: float | None = Field(
        None, gt=0, description="weight 2^(-age / half-life), age from the user's last interaction; None: plain counts"
    )


class PopularSpec(_SourceBase):
    """Items most interacted with lately (the same list for everyone), with time decay."""

    kind: Literal["popular"] = "popular"
    half_life_days: float | None = Field(7.0, gt=0, description="weight 2^(-age / half-life); None: plain counts")
    window_days: float | None = Field(None, gt=0, description="only the last window_days count (None: all)")


class CooccurrenceSpec(_SourceBase):
    """Items that appear near the user's recent items in other users' histories (item-to-item)."""

    kind: Literal["cooccurrence"] = "cooccurrence"
    window: int = Field(3, ge=1, description="pairs within this many positions of each other in a history")
    max_days: float | None = Field(None, gt=0, description="and at most this many days apart (None: no limit)")
    directed: bool = Field(False, description="count only later items after earlier ones (sequences)")
    last: int = Field(5, ge=1, description="the user's most recent items whose neighbours are proposed")
    neighbours: int = Field(100, ge=1, description="neighbours kept per item")


class SameGroupSpec(_SourceBase):
    """Other items of the groups (an item column, e.g. H&M product_code) of the user's recent items,
    most popular first."""

    kind: Literal["same_group"] = "same_group"
    column: str = Field(description="item column that groups items, e.g. product_code")
    last: int = Field(10, ge=1, description="the user's most recent items whose groups are used")
    half_life_days: float | None = Field(14.0, gt=0, description="popularity decay inside a group (None: counts)")


class AnnSpec(_SourceBase):
    """Approximate nearest neighbours (FAISS) of the user's embedding among item embeddings of a
    model that has them (two_tower)."""

    kind: Literal["ann"] = "ann"
    model: str = Field("two_tower", description="registered model with user / item embeddings")
    params: dict[str, Any] = Field(default_factory=dict, description="the model's hyperparameters")
    factory: str = Field("HNSW32", description="FAISS index factory string (inner product)")
    ef_search: int = Field(128, ge=1, description="HNSW search depth")


def _source_kind(value: Any) -> str | None:
    return value.get("kind", "model") if isinstance(value, dict) else getattr(value, "kind", None)


SourceSpec = Annotated[
    Annotated[ModelSourceSpec, Tag("model")]
    | Annotated[RepurchaseSpec, Tag("repurchase")]
    | Annotated[PopularSpec, Tag("popular")]
    | Annotated[CooccurrenceSpec, Tag("cooccurrence")]
    | Annotated[SameGroupSpec, Tag("same_group")]
    | Annotated[AnnSpec, Tag("ann")],
    Discriminator(_source_kind),
]


# ---------------------------------------------------------------------- candidates, holdout
class CandidateSpec(Spec):
    filter_seen: bool = Field(
        True, description="sources never propose the user's own training items (false where repeats are targets)"
    )
    max_per_user: int | None = Field(
        None, ge=1, description="cap on the union, by best source rank (None: the whole union)"
    )
    batch_users: int = Field(
        512, ge=1, description="users whose candidates are built at once (memory ~ sources x batch x items)"
    )


class HoldoutSpec(Spec):
    """The interactions the ranker learns to predict, cut from the end of the training data: the
    retrievers are fitted on what comes before, so the ranker sees candidates scored out of sample."""

    method: Literal["last", "days"] = Field(
        "last", description="last: each user's last n interactions; days: the last `days` days"
    )
    n: int = Field(1, ge=1, description="last: interactions per user held out")
    days: float = Field(7.0, gt=0, description="days: the window")
    min_history: int = Field(2, ge=1, description="last: users need this many interactions besides the held-out ones")
    max_users: int | None = Field(None, ge=1, description="train the ranker on at most this many users (seeded sample)")
    negatives: int | None = Field(
        None, ge=1, description="keep at most this many non-relevant candidates per user (seeded sample; None: all)"
    )


# ---------------------------------------------------------------------- rankers
class LightGBMSpec(Spec):
    """LightGBM LambdaRank over each user's candidates (the default ranker)."""

    name: Literal["lightgbm"] = "lightgbm"
    objective: Literal["lambdarank", "rank_xendcg", "binary"] = "lambdarank"
    n_estimators: int = Field(500, ge=1, description="boosting rounds (early stopping may use fewer)")
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(63, ge=2)
    min_data_in_leaf: int = Field(50, ge=1)
    min_sum_hessian_in_leaf: float = Field(1e-3, ge=0)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    eval_at: int = Field(10, ge=1, description="NDCG cutoff of the lambdarank loss and of early stopping")
    early_stopping_rounds: int = Field(50, ge=1)
    valid_share: float = Field(0.1, ge=0, lt=1, description="share of the holdout users kept for early stopping")
    threads: int | None = Field(None, ge=1, description="LightGBM threads (default: all cores)")


class DINSpec(Spec):
    """A neural ranker: target (cross-) attention from each candidate to the user's history
    (DIN-style), plus the same features as LightGBM, trained by the Trainer."""

    name: Literal["din"] = "din"
    dim: int = Field(32, ge=4, description="item embedding width")
    heads: int = Field(2, ge=1, description="attention heads (dim must be divisible)")
    history: int = Field(20, ge=1, description="most recent history items attended to")
    hidden: list[int] = Field(default_factory=lambda: [128, 64], description="MLP widths after the attention")
    dropout: float = Field(0.1, ge=0, lt=1)
    valid_share: float = Field(0.1, ge=0, lt=1, description="share of the holdout users kept for early stopping")
    train: dict[str, Any] = Field(
        default_factory=dict,
        description="Trainer overrides (any TrainConfig key), e.g. {epochs: 10, optimizer: {lr: 0.001}}",
    )

    @field_validator("train")
    @classmethod
    def _train_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        from recsmith.training.config import check_train_overrides

        try:
            check_train_overrides(value, ["ranker"])
        except ConfigError as err:
            raise ValueError(str(err)) from None
        return value


def _ranker_name(value: Any) -> str | None:
    return value.get("name", "lightgbm") if isinstance(value, dict) else getattr(value, "name", None)


RankerSpec = Annotated[
    Annotated[LightGBMSpec, Tag("lightgbm")] | Annotated[DINSpec, Tag("din")], Discriminator(_ranker_name)
]


# ---------------------------------------------------------------------- validation with dotted keys
SOURCE_CLASSES: dict[str, type[Spec]] = {
    "model": ModelSourceSpec,
    "repurchase": RepurchaseSpec,
    "popular": PopularSpec,
    "cooccurrence": CooccurrenceSpec,
    "same_group": SameGroupSpec,
    "ann": AnnSpec,
}
RANKER_CLASSES: dict[str, type[Spec]] = {"lightgbm": LightGBMSpec, "din": DINSpec}


def checked(
    annotation: Any, key: str, classes: dict[str, type[Spec]] | type[Spec], tag_at: int | None = None, tag: str = "kind"
):
    """A ``BeforeValidator`` that validates a nested section and turns its errors into one
    ``ValueError`` at the section's own key, naming each nested key and the valid choices, e.g.
    ``ranker.num_leaves: Input should be a valid integer`` or ``sources.x.kind: unknown kind 'knn';
    valid: model, repurchase, ...``. ``classes``: the section's model, or the tagged models of a
    union by tag; ``tag_at``: where pydantic puts the union tag in an error's location."""
    adapter = TypeAdapter(annotation)

    def validate(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as err:
            raise ValueError(describe(err, key, classes, tag_at, tag)) from None

    return BeforeValidator(validate)


def describe(
    err: ValidationError, key: str, classes: dict[str, type[Spec]] | type[Spec], tag_at: int | None, tag: str
) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        model = classes if isinstance(classes, type) else None
        if tag_at is not None and len(loc) > tag_at and isinstance(classes, dict):
            model = classes.get(loc[tag_at])
            loc = loc[:tag_at] + loc[tag_at + 1 :]  # the tag is not a key the user wrote
        dotted = ".".join([key, *loc])
        if e["type"] == "union_tag_invalid":
            lines.append(f"{dotted}.{tag}: unknown {tag} {e['ctx']['tag']!r}; valid: {e['ctx']['expected_tags']}")
        elif e["type"] == "extra_forbidden":
            valid = ", ".join(sorted(model.model_fields)) if model is not None else "?"
            lines.append(f"unknown key {dotted!r}; valid keys: {valid}")
        else:
            lines.append(f"{dotted}: {e['msg']} (got {e.get('input')!r})")
    return "; ".join(lines)


def check_sources(sources: dict[str, Any]) -> dict[str, Any]:
    """Source names are usable as feature-name prefixes and each model source's params are valid
    for its model (the model's own error, with its keys)."""
    from recsmith.models.abilities import Embeddings
    from recsmith.models.registry import create_model, get_model_class
    from recsmith.models.torch_base import TorchRecommender
    from recsmith.training.config import check_train_overrides, split_train_overrides

    if not sources:
        raise ValueError("at least one candidate source is needed")
    for name, spec in sources.items():
        if not name.replace("_", "").isalnum():
            raise ValueError(f"source name {name!r}: use letters, digits and underscores")
        if getattr(spec, "kind", None) in ("model", "ann"):
            if spec.model == "two_stage":
                raise ValueError(f"sources.{name}: a two_stage model cannot be its own candidate source")
            try:
                hyper, train = split_train_overrides(spec.params)
                model_cls = get_model_class(spec.model)
                if train and not issubclass(model_cls, TorchRecommender):
                    raise ConfigError(f"{spec.model!r} is not trained by the Trainer: it takes no train overrides")
                if spec.kind == "ann" and not issubclass(model_cls, Embeddings):
                    raise ConfigError(
                        f"{spec.model!r} has no embeddings ability (models with it: two_tower, mf, als, bpr)"
                    )
                create_model(spec.model, hyper)
                check_train_overrides(train, ["sources", name, "params"])
            except ConfigError as err:
                raise ValueError(f"sources.{name}: " + str(err).replace("\n", "; ")) from None
    return sources


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
