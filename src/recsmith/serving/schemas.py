"""Request and response bodies, one schema per direction (``...Request`` in, ``...Public`` out).

Hard limits live here (they shape the OpenAPI schema); the deployment's tighter limits
(``max_k``, ``max_batch``, ``max_ids``, ``max_events`` in the settings) are checked by the routes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

HARD_MAX_K = 10_000
HARD_MAX_IDS = 100_000
MAX_ID_LENGTH = 256
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase", "like", "rating", "dislike")

ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
K = Annotated[int, Field(ge=1, le=HARD_MAX_K, description="list length")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterSpec(_In):
    """One attribute filter, e.g. ``{"field": "price", "op": "between", "value": [10, 50]}``."""

    field: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    op: Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"]
    value: str | int | float | bool | list[str | int | float | bool] = Field(
        description="a scalar, or a list for in / not_in / between"
    )


class RulesRequest(_In):
    """Business rules applied to every list: attribute filters, an exclude list, an include-only set."""

    filters: list[FilterSpec] = Field(default_factory=list, max_length=32)
    exclude: list[ExternalId] = Field(
        default_factory=list, max_length=HARD_MAX_IDS, description="never return these items"
    )
    include: list[ExternalId] | None = Field(
        None, max_length=HARD_MAX_IDS, description="return only items from this candidate set"
    )


class RecommendationsRequest(RulesRequest):
    """A batch of known (or unknown) users, or one anonymous session of recent item ids."""

    user_ids: list[ExternalId] | None = Field(None, min_length=1, max_length=HARD_MAX_IDS)
    session_items: list[ExternalId] | None = Field(
        None, min_length=1, max_length=HARD_MAX_IDS, description="recent item ids of an anonymous visitor, oldest first"
    )
    k: K = 10
    exclude_seen: bool = True
    explain: bool = Field(False, description="each item carries why it was recommended (its explanation)")

    @model_validator(mode="after")
    def _one_of(self) -> "RecommendationsRequest":
        if (self.user_ids is None) == (self.session_items is None):
            raise ValueError("give exactly one of user_ids or session_items")
        return self


class ReasonPublic(BaseModel):
    """A history item (``item_id``, ``name``) or a named ``feature``, and its contribution to the score."""

    item_id: str | None = None
    name: str | None = None
    feature: str | None = None
    contribution: float


class ExplanationPublic(BaseModel):
    method: str = Field(description="item_item, fold_in, occlusion, popularity (or a ranker's feature_contributions)")
    score: float = Field(description="the score the reasons explain")
    reasons: list[ReasonPublic] = Field(description="largest contribution first; only reasons that spoke for the item")
    base: float | None = Field(None, description="additive methods: the part of the score no reason accounts for")
    other: float | None = Field(None, description="additive methods: summed contributions of unlisted reasons")


class RecommendedItem(BaseModel):
    rank: int
    item_id: str
    score: float
    explanation: ExplanationPublic | None = Field(None, description="with explain=true: why the item is listed")


class RecommendationsPublic(BaseModel):
    user_id: str | None = Field(description="null for an anonymous session")
    items: list[RecommendedItem]
    cold_start: bool = Field(description="the model does not know this user: a session or popularity answer")
    strategy: Literal["personal", "session", "popular"]
    model_version: str
    cached: bool = False
    explanation_note: str | None = Field(None, description="with explain=true: why items carry no explanation")


class BatchRecommendationsPublic(BaseModel):
    results: list[RecommendationsPublic]
    model_version: str


class SimilarItemsPublic(BaseModel):
    item_id: str
    items: list[RecommendedItem]
    model_version: str


class SearchRequest(RulesRequest):
    query: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    k: K = 10


class FeedbackEventRequest(_In):
    user_id: ExternalId
    item_id: ExternalId
    type: Literal[EVENT_TYPES] = "click"  # type: ignore[valid-type]
    timestamp: int | None = Field(None, ge=0, description="seconds since the epoch; default: time received")
    value: float | None = Field(None, description="optional strength, e.g. a rating")


class FeedbackRequest(_In):
    events: list[FeedbackEventRequest] = Field(min_length=1, max_length=HARD_MAX_IDS)


class FeedbackAcceptedPublic(BaseModel):
    accepted: int
    first_id: int
    last_id: int


class ModelPublic(BaseModel):
    version: str
    model: str
    created: str | None
    n_users: int
    n_items: int
    config: dict[str, Any]
    metrics: dict[str, Any]
    index: dict[str, Any] | None
    text_encoder: Any | None
    loaded_at: float


class ReloadRequest(_In):
    bundle: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = Field(
        None, description="bundle directory on the server; default: the configured one"
    )


class ReloadPublic(BaseModel):
    previous_version: str | None
    version: str
    seconds: float


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ReadyPublic(BaseModel):
    ready: bool
    model_version: str | None
    detail: str | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorPublic(BaseModel):
    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorPublic, "description": text}
    for code, text in {
        401: "missing API key",
        403: "wrong API key",
        404: "unknown id",
        413: "request body too large",
        422: "invalid request",
        429: "rate limited (see Retry-After)",
        503: "model not loaded yet (see Retry-After)",
    }.items()
}
