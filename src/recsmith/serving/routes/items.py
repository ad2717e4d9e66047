"""Items similar to an item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from recsmith.serving.deps import EngineDep, RateLimitDep, SettingsDep
from recsmith.serving.engine import RuleSpec
from recsmith.serving.routes._limits import check_ids, check_k, parse_filters
from recsmith.serving.schemas import ERROR_RESPONSES, HARD_MAX_K, MAX_ID_LENGTH, SimilarItemsPublic

router = APIRouter(prefix="/v1/items", tags=["items"], dependencies=[RateLimitDep], responses=ERROR_RESPONSES)


@router.get("/{item_id}/similar", response_model=SimilarItemsPublic)
def similar_items(
    engine: EngineDep,
    settings: SettingsDep,
    item_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    k: Annotated[int, Query(ge=1, le=HARD_MAX_K)] = 10,
    exclude: Annotated[list[str] | None, Query(description="item ids never to return (repeatable)")] = None,
    include: Annotated[list[str] | None, Query(description="return only these item ids (repeatable)")] = None,
    filters: Annotated[str | None, Query(max_length=4096, description="JSON list of filters")] = None,
) -> dict:
    """The k items most similar to ``item_id`` under the model's item similarity (404 if unknown)."""
    check_k(k, settings)
    check_ids("exclude", exclude, settings.max_ids)
    check_ids("include", include, settings.max_ids)
    rules = RuleSpec(
        tuple(parse_filters(filters)), tuple(exclude or ()), tuple(include) if include is not None else None
    )
    return engine.similar(item_id, k, rules=rules)
