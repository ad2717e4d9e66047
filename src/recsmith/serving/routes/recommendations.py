"""Recommendations: one user (GET), a batch of users or an anonymous session (POST).

The single-user GET is ``async``: its work is bounded (one user, about a millisecond) and running it
on the event loop saves a thread-pool hop that costs more than the work under load. The batch POST
is a plain ``def`` (thread pool): a hundred users must not stall the loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from recsmith.serving.deps import EngineDep, RateLimitDep, ServiceDep, SettingsDep
from recsmith.serving.engine import RuleSpec
from recsmith.serving.routes._limits import check_ids, check_k, parse_filters, rules_from
from recsmith.serving.schemas import (
    ERROR_RESPONSES,
    HARD_MAX_K,
    MAX_ID_LENGTH,
    BatchRecommendationsPublic,
    RecommendationsPublic,
    RecommendationsRequest,
)

router = APIRouter(prefix="/v1", tags=["recommendations"], dependencies=[RateLimitDep], responses=ERROR_RESPONSES)


@router.get("/users/{user_id}/recommendations", response_model=RecommendationsPublic)
async def user_recommendations(
    service: ServiceDep,
    engine: EngineDep,
    settings: SettingsDep,
    user_id: Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)],
    k: Annotated[int, Query(ge=1, le=HARD_MAX_K)] = 10,
    exclude_seen: bool = True,
    exclude: Annotated[list[str] | None, Query(description="item ids never to return (repeatable)")] = None,
    include: Annotated[list[str] | None, Query(description="return only these item ids (repeatable)")] = None,
    filters: Annotated[
        str | None, Query(max_length=4096, description='JSON list, e.g. [{"field":"in_stock","op":"eq","value":true}]')
    ] = None,
    explain: Annotated[bool, Query(description="each item carries why it was recommended")] = False,
) -> dict:
    """Top-k items for a user. Unknown users get a cold-start answer (``cold_start: true``)."""
    check_k(k, settings)
    check_ids("exclude", exclude, settings.max_ids)
    check_ids("include", include, settings.max_ids)
    rules = RuleSpec(
        filters=tuple(parse_filters(filters)),
        exclude=tuple(exclude or ()),
        include=tuple(include) if include is not None else None,
    )
    return service.recommend_user(engine, user_id, k, exclude_seen=exclude_seen, rules=rules, explain=explain)


@router.post("/recommendations", response_model=BatchRecommendationsPublic)
def batch_recommendations(
    body: RecommendationsRequest, service: ServiceDep, engine: EngineDep, settings: SettingsDep
) -> dict:
    """Lists for a batch of users (``user_ids``), or for an anonymous session (``session_items``)."""
    check_k(body.k, settings)
    rules = rules_from(body, settings)
    if body.session_items is not None:
        check_ids("session_items", body.session_items, settings.max_ids)
        result = engine.recommend_session(
            body.session_items, body.k, exclude_seen=body.exclude_seen, rules=rules, explain=body.explain
        )
        service.metrics.strategies.labels(strategy=result["strategy"]).inc()
        return {"results": [result], "model_version": engine.version}
    check_ids("user_ids", body.user_ids, settings.max_batch)
    results = [
        service.recommend_user(engine, u, body.k, exclude_seen=body.exclude_seen, rules=rules, explain=body.explain)
        for u in body.user_ids
    ]
    return {"results": results, "model_version": engine.version}
