"""Request and response bodies, one schema per direction (``...Request`` in, ``...Public`` out).

The schemas hold the structural rules (types, ``k >= 1``, id length). The
deployment's limits (``max_k``, ``max_batch``, ``max_ids``, ``max_events`` in the settings) are
checked by the routes (:mod:`recsmith.serving.routes._limits`) with one kind of message, and written
into the OpenAPI document by :func:`recsmith.serving.openapi.contract_openapi`.

Numbers are strict: in a body ``k`` and ``timestamp`` must be JSON numbers with no fractional part
(``10``; JSON Schema counts ``10.0`` as the same integer; ``"10"``, ``true`` and ``10.5`` are refused),
in a query string only the digits ``0-9``; floats must be finite.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

MAX_ID_LENGTH = 256
MAX_FILTERS = 32
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z: beyond it no calendar (or SQLite integer) fits
EventType = Literal["view", "click", "add_to_cart", "purchase", "like", "rating", "dislike"]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


def _json_integer(value: Any) -> Any:
    """A body integer: a JSON number (pydantic's lax mode would also take ``"10"`` and ``true``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a JSON integer like 10, not {type(value).__name__} {str(value)[:40]!r}")
    return value


def _whole_number(value: Any) -> Any:
    """A query-string integer: digits only (no sign, blanks, decimal point or words like ``true``)."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,18}", value):
            raise ValueError(f"must be a whole number written with the digits 0-9, e.g. 10; got {value[:40]!r}")
        return int(value)
    return value


# pydantic refuses strings with lone surrogates (JSON can escape them: "\ud800"): no id that could not
# be stored or sent back as UTF-8 gets past validation
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_LENGTH)]
JsonInt = Annotated[int, BeforeValidator(_json_integer)]
K = Annotated[JsonInt, Field(ge=1, description="list length (at most the deployment's max_k)")]
QueryK = Annotated[int, Field(ge=1), BeforeValidator(_whole_number)]
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # strict: true is no number
Scalar = str | Annotated[int, Field(strict=True)] | Finite | bool


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterSpec(_In):
    """One attribute filter, e.g. ``{"field": "price", "op": "between", "value": [10, 50]}``."""

    field: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    op: Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between"]
    value: Scalar | list[Scalar] = Field(description="a scalar, or a list for in / not_in / between")


class RulesRequest(_In):
    """Business rules applied to every list: attribute filters, an exclude list, an include-only set."""

    filters: list[FilterSpec] = Field(default_factory=list, max_length=MAX_FILTERS)
    exclude: list[ExternalId] = Field(
        default_factory=list, description="never return these items (unknown ids are ignored and reported)"
    )
    include: list[ExternalId] | None = Field(
        None, description="return only items from this candidate set (unknown ids are ignored and reported)"
    )


class RecommendationsRequest(RulesRequest):
    """A batch of known (or unknown) users, or one anonymous session of recent item ids."""

    user_ids: list[ExternalId] | None = Field(None, min_length=1, description="unknown users get a cold-start list")
    session_items: list[ExternalId] | None = Field(
        None,
        min_length=1,
        description="recent item ids of an anonymous visitor, oldest first (unknown ids are ignored and reported)",
    )
    k: K = 10
    exclude_seen: Annotated[bool, Field(strict=True)] = True
    explain: Annotated[bool, Field(strict=True)] = Field(
        False, description="each item carries why it was recommended (its explanation)"
    )

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


_UNKNOWN_IDS: Any = Field(
    default_factory=list,
    description="item ids of the request (exclude, include, session_items) the model does not know: ignored",
)


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
    unknown_ids: list[str] = _UNKNOWN_IDS
    variant: str | None = Field(None, description="the user's A/B variant while an experiment runs")
    explanation_note: str | None = Field(None, description="with explain=true: why items carry no explanation")


class BatchRecommendationsPublic(BaseModel):
    results: list[RecommendationsPublic]
    model_version: str


class SimilarItemsPublic(BaseModel):
    item_id: str
    items: list[RecommendedItem]
    model_version: str
    unknown_ids: list[str] = _UNKNOWN_IDS


class SearchPublic(BaseModel):
    query: str
    items: list[RecommendedItem]
    model_version: str
    unknown_ids: list[str] = _UNKNOWN_IDS


class SearchRequest(RulesRequest):
    query: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    k: K = 10


class FeedbackEventRequest(_In):
    user_id: ExternalId
    item_id: ExternalId
    type: EventType = "click"
    timestamp: Annotated[JsonInt, Field(ge=0, le=MAX_TIMESTAMP)] | None = Field(
        None, description="seconds (not milliseconds) since the epoch, up to 9999-12-31; default: time received"
    )
    value: Finite | None = Field(None, description="optional strength, e.g. a rating")


class FeedbackRequest(_In):
    events: list[FeedbackEventRequest] = Field(min_length=1)


class FeedbackAcceptedPublic(BaseModel):
    accepted: int
    first_id: int
    last_id: int
    unknown_ids: list[str] = Field(
        default_factory=list,
        description="item ids the served model does not know: stored, but they change no list until a bundle knows them",
    )
    variants: dict[str, str] = Field(
        default_factory=dict, description="user id -> A/B variant the events were stored with (during an experiment)"
    )


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


_ERROR_TEXTS = {
    400: "the body is not valid JSON (what is wrong, line and column in the message)",
    401: "missing API key",
    403: "wrong API key",
    404: "unknown item id in the path",
    409: "the served model cannot answer this (no text encoder, no item similarity)",
    413: "request body too large",
    415: "the body is not sent as application/json",
    422: "invalid request (a field, a limit, a filter)",
    429: "rate limited (see Retry-After)",
    500: "internal error (the body carries an id to find in the server log)",
    503: "model not loaded yet (see Retry-After)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these status codes, each with the error body."""
    return {code: {"model": ErrorPublic, "description": _ERROR_TEXTS[code]} for code in codes}


# every /v1 route can answer these; routes add their own (a body: 400, 413, 415; a key: 401, 403)
COMMON_ERRORS = error_responses(422, 429, 500, 503)
BODY_ERRORS = error_responses(400, 413, 415)
KEY_ERRORS = error_responses(401, 403)
