"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from recsmith.serving.deps import ServiceDep
from recsmith.serving.schemas import HealthPublic, ReadyPublic, error_responses

router = APIRouter(tags=["operations"], responses=error_responses(500))


@router.get("/health", response_model=HealthPublic)
async def health() -> dict:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready", response_model=ReadyPublic, responses={503: {"model": ReadyPublic}})
async def ready(service: ServiceDep) -> JSONResponse:
    """Readiness: a bundle is loaded and the feedback log is open (503 otherwise)."""
    engine = service.loaded_engine
    body = {"ready": service.ready, "model_version": engine.version if engine else None, "detail": service.load_error}
    return JSONResponse(body, status_code=200 if service.ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus text format: request counts and latency, cache hits, model version."""
    return Response(service.metrics.render(), media_type=service.metrics.content_type)
