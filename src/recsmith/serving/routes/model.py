"""The served model, and the admin reload that switches bundles without dropping requests."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from recsmith.serving.deps import ApiKeyDep, EngineDep, RateLimitDep, ServiceDep
from recsmith.serving.schemas import ERROR_RESPONSES, ModelPublic, ReloadPublic, ReloadRequest

router = APIRouter(prefix="/v1", dependencies=[RateLimitDep], responses=ERROR_RESPONSES)


@router.get("/model", response_model=ModelPublic, tags=["model"])
async def model_info(engine: EngineDep) -> dict:
    """Version, creation time, training metrics, sizes and index of the model being served."""
    return engine.info()


@router.post("/admin/reload", response_model=ReloadPublic, tags=["admin"])
async def reload(service: ServiceDep, _key: ApiKeyDep, body: ReloadRequest | None = None) -> dict:
    """Load a bundle beside the current one and switch to it; requests keep being served meanwhile."""
    target = body.bundle if body is not None else None
    return await run_in_threadpool(service.reload, target)
