"""The served model, and the admin reload that switches bundles without dropping requests."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from recsmith.serving.deps import ApiKeyDep, EngineDep, ServiceDep
from recsmith.serving.guard import GuardedRoute
from recsmith.serving.schemas import (
    BODY_ERRORS,
    COMMON_ERRORS,
    KEY_ERRORS,
    ModelPublic,
    ReloadPublic,
    ReloadRequest,
)

router = APIRouter(prefix="/v1", route_class=GuardedRoute, responses=COMMON_ERRORS)


@router.get("/model", response_model=ModelPublic, tags=["model"])
async def model_info(engine: EngineDep) -> dict:
    """Version, creation time, training metrics, sizes and index of the model being served."""
    return engine.info()


@router.post("/admin/reload", response_model=ReloadPublic, tags=["admin"], responses={**BODY_ERRORS, **KEY_ERRORS})
async def reload(service: ServiceDep, _key: ApiKeyDep, body: ReloadRequest | None = None) -> dict:
    """Load a bundle beside the current one and switch to it; requests keep being served meanwhile.

    422 when the path is not a bundle the server can read, or the bundle fails to load (the current
    one keeps serving; the server log has the details)."""
    target = body.bundle if body is not None else None
    return await run_in_threadpool(service.reload, target)
