"""Items similar to an item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from recsmith.serving.deps import EngineDep, SettingsDep
from recsmith.serving.guard import GuardedRoute
from recsmith.serving.routes._limits import ExcludeQuery, FiltersQuery, IncludeQuery, KQuery, check_k, rules_from_query
from recsmith.serving.schemas import COMMON_ERRORS, ExternalId, SimilarItemsPublic, error_responses

router = APIRouter(prefix="/v1/items", tags=["items"], route_class=GuardedRoute, responses=COMMON_ERRORS)


@router.get("/{item_id}/similar", response_model=SimilarItemsPublic, responses=error_responses(404, 409))
def similar_items(
    engine: EngineDep,
    settings: SettingsDep,
    item_id: Annotated[ExternalId, Path(description="an item id the model knows (404 otherwise)")],
    k: KQuery = 10,
    exclude: ExcludeQuery = [],  # noqa: B006 (FastAPI copies defaults per request)
    include: IncludeQuery = [],  # noqa: B006
    filters: FiltersQuery = None,
) -> dict:
    """The k items most similar to ``item_id`` under the model's item similarity (404 if unknown)."""
    check_k(k, settings)
    return engine.similar(item_id, k, rules=rules_from_query(exclude, include, filters, settings))
