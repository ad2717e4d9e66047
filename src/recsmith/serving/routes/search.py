"""Text search, for models with a text encoder (none of the current models has one: 501)."""

from __future__ import annotations

from fastapi import APIRouter

from recsmith.serving.deps import EngineDep, RateLimitDep, SettingsDep
from recsmith.serving.errors import NotImplementedByModel
from recsmith.serving.routes._limits import check_k
from recsmith.serving.schemas import ERROR_RESPONSES, SearchRequest, SimilarItemsPublic

router = APIRouter(prefix="/v1", tags=["search"], dependencies=[RateLimitDep], responses=ERROR_RESPONSES)


@router.post(
    "/search",
    response_model=SimilarItemsPublic,
    responses={501: {"description": "this model has no text encoder"}},
)
def search(body: SearchRequest, engine: EngineDep, settings: SettingsDep) -> dict:
    """Items matching a text query. Answers 501 when the served model has no text encoder."""
    check_k(body.k, settings)
    if not engine.has_text_encoder:
        raise NotImplementedByModel(
            f"this model ({engine.model.name!r}, version {engine.version}) has no text encoder, so text search "
            "is not available; use /v1/items/{item_id}/similar or /v1/recommendations with session_items",
            details={"model": engine.model.name, "model_version": engine.version},
        )
    raise NotImplementedByModel("text encoders are declared in the manifest but not supported by this server yet")
