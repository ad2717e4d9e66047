"""Text search over the catalogue, for bundles exported with a text encoder (``--text-columns``).

A plain ``def`` (thread pool): encoding a query runs a transformer for several milliseconds, which
must not stall the event loop.
"""

from __future__ import annotations

from fastapi import APIRouter

from recsmith.serving.deps import EngineDep, SettingsDep
from recsmith.serving.errors import InvalidRequest
from recsmith.serving.guard import GuardedRoute
from recsmith.serving.routes._limits import check_k, rules_from
from recsmith.serving.schemas import BODY_ERRORS, COMMON_ERRORS, SearchPublic, SearchRequest, error_responses

router = APIRouter(prefix="/v1", tags=["search"], route_class=GuardedRoute, responses=COMMON_ERRORS)


@router.post("/search", response_model=SearchPublic, responses={**BODY_ERRORS, **error_responses(409)})
def search(body: SearchRequest, engine: EngineDep, settings: SettingsDep) -> dict:
    """The ``k`` items whose text is nearest the query (cosine), under ``filters`` / ``exclude`` /
    ``include``; items without text are never returned. Answers 409 when the bundle has no text encoder."""
    check_k(body.k, settings)
    rules = rules_from(body, settings)
    if not body.query.strip():
        raise InvalidRequest(
            'query: the text query is empty (only white space); send words, e.g. "blue jeans"',
            details={"query": body.query},
        )
    return engine.search(body.query, body.k, rules=rules)
