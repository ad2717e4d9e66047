"""Recommendations: one user (GET), a batch of users or an anonymous session (POST).

The single-user GET is ``async``: a known user's work is bounded (a stored vector or list and one
search, about a millisecond) and running it on the event loop saves a thread-pool hop that costs
more than the work under load; network work (a user with new events of a sequential, two-tower or
TIGER model) is awaited on the engine's micro-batcher, never run on the loop. An anonymous session
is awaited the same way. A batch of users, and any request with ``explain`` (occlusion runs the
network once per history item), runs in the thread pool: it must not stall the loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from recsmith.serving.deps import EngineDep, ServiceDep, SettingsDep
from recsmith.serving.guard import GuardedRoute
from recsmith.serving.routes._limits import (
    ExcludeQuery,
    FiltersQuery,
    IncludeQuery,
    KQuery,
    check_ids,
    check_k,
    rules_from,
    rules_from_query,
)
from recsmith.serving.schemas import (
    BODY_ERRORS,
    COMMON_ERRORS,
    BatchRecommendationsPublic,
    ExternalId,
    RecommendationsPublic,
    RecommendationsRequest,
)

router = APIRouter(prefix="/v1", tags=["recommendations"], route_class=GuardedRoute, responses=COMMON_ERRORS)


@router.get("/users/{user_id}/recommendations", response_model=RecommendationsPublic)
async def user_recommendations(
    service: ServiceDep,
    engine: EngineDep,
    settings: SettingsDep,
    user_id: Annotated[ExternalId, Path(description="any user id: unknown users get a cold-start list")],
    k: KQuery = 10,
    exclude_seen: bool = True,
    exclude: ExcludeQuery = [],  # noqa: B006 (FastAPI copies defaults per request)
    include: IncludeQuery = [],  # noqa: B006
    filters: FiltersQuery = None,
    explain: Annotated[bool, Query(description="each item carries why it was recommended")] = False,
) -> dict:
    """Top-k items for a user. Unknown users get a cold-start answer (``cold_start: true``)."""
    check_k(k, settings)
    rules = rules_from_query(exclude, include, filters, settings)
    if explain:  # explanations may run the network many times (occlusion): never on the event loop
        return await run_in_threadpool(
            lambda: service.recommend_user(engine, user_id, k, exclude_seen=exclude_seen, rules=rules, explain=True)
        )
    return await service.recommend_user_async(engine, user_id, k, exclude_seen=exclude_seen, rules=rules)


@router.post("/recommendations", response_model=BatchRecommendationsPublic, responses=BODY_ERRORS)
async def batch_recommendations(
    body: RecommendationsRequest, service: ServiceDep, engine: EngineDep, settings: SettingsDep
) -> dict:
    """Lists for a batch of users (``user_ids``), or for an anonymous session (``session_items``)."""
    check_k(body.k, settings)
    rules = rules_from(body, settings)
    if body.session_items is not None:
        check_ids("session_items", body.session_items, settings.max_ids)
        session, k, exclude_seen = body.session_items, body.k, body.exclude_seen
        if body.explain:  # as above: explanations off the event loop
            result = await run_in_threadpool(
                lambda: engine.recommend_session(session, k, exclude_seen=exclude_seen, rules=rules, explain=True)
            )
        else:
            result = await engine.recommend_session_async(session, k, exclude_seen=exclude_seen, rules=rules)
        service.metrics.strategies.labels(strategy=result["strategy"]).inc()
        return {"results": [result], "model_version": engine.version}
    check_ids("user_ids", body.user_ids, settings.max_batch)
    user_ids = body.user_ids or []  # never None here: the schema requires user_ids or session_items

    def lists() -> list[dict]:
        return [
            service.recommend_user(engine, u, body.k, exclude_seen=body.exclude_seen, rules=rules, explain=body.explain)
            for u in user_ids
        ]

    return {"results": await run_in_threadpool(lists), "model_version": engine.version}
