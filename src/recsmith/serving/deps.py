"""FastAPI dependencies, as ``Annotated`` aliases the routes declare their parameters with.

They are ``async def``: trivial and non-blocking, they run on the event loop instead of a thread-pool
hop each. Tests replace any of them with ``app.dependency_overrides[get_service] = ...``.
"""

from __future__ import annotations

import secrets
from typing import Annotated, TypeGuard

from fastapi import Depends, Header, Request

from recsmith.serving.engine import Engine
from recsmith.serving.errors import Forbidden, RateLimited, Unauthorized
from recsmith.serving.ratelimit import RateLimiter, retry_after_header
from recsmith.serving.service import Service
from recsmith.serving.settings import ServeSettings


async def get_service(request: Request) -> Service:
    return request.app.state.service


async def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


async def get_limiter(request: Request) -> RateLimiter:
    return request.app.state.limiter


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[ServeSettings, Depends(get_settings)]


async def get_engine(service: ServiceDep) -> Engine:
    """The engine serving this request; a reload later in the request does not change it."""
    return service.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def _presented_key(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def _valid(key: str | None, settings: ServeSettings) -> TypeGuard[str]:
    return key is not None and any(
        secrets.compare_digest(key.encode(), k.get_secret_value().encode()) for k in settings.api_keys
    )


async def rate_limit(
    request: Request,
    settings: SettingsDep,
    limiter: Annotated[RateLimiter, Depends(get_limiter)],
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """429 with Retry-After when this client (a valid API key, else its address) exceeds its rate."""
    key = _presented_key(x_api_key, authorization)
    if _valid(key, settings):
        client = "key:" + key[-8:] + str(hash(key))
    else:
        client = f"ip:{request.client.host if request.client else '?'}"
    wait = limiter.acquire(client)
    if wait is not None:
        raise RateLimited("too many requests; slow down", headers={"Retry-After": retry_after_header(wait)})


async def require_api_key(
    settings: SettingsDep,
    x_api_key: Annotated[str | None, Header(description="API key (or Authorization: Bearer KEY)")] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str:
    """Write and admin endpoints: the request must carry one of the configured API keys."""
    key = _presented_key(x_api_key, authorization)
    if key is None:
        raise Unauthorized(
            "this endpoint needs an API key: send it as X-API-Key", headers={"WWW-Authenticate": "ApiKey"}
        )
    if not _valid(key, settings):
        raise Forbidden("the API key is not valid")
    return key


RateLimitDep = Depends(rate_limit)
ApiKeyDep = Annotated[str, Depends(require_api_key)]
