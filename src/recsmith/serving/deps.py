"""FastAPI dependencies, as ``Annotated`` aliases the routes declare their parameters with.

They are ``async def``: trivial and non-blocking, they run on the event loop instead of a thread-pool
hop each. Tests replace any of them with ``app.dependency_overrides[get_service] = ...``.

:func:`rate_limit` and :func:`authenticate` are plain functions of the request: the route class
(:class:`recsmith.serving.guard.GuardedRoute`) calls them before FastAPI reads the body.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Annotated, TypeGuard

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers

from recsmith.serving.engine import Engine
from recsmith.serving.errors import Forbidden, RateLimited, Unauthorized
from recsmith.serving.ratelimit import RateLimiter, retry_after_header
from recsmith.serving.service import Service
from recsmith.serving.settings import ServeSettings


async def get_service(request: Request) -> Service:
    return request.app.state.service


async def get_settings(request: Request) -> ServeSettings:
    return request.app.state.settings


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[ServeSettings, Depends(get_settings)]


async def get_engine(service: ServiceDep) -> Engine:
    """The engine serving this request; a reload later in the request does not change it."""
    return service.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


_API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="ApiKey", description="one of the service's API keys"
)
_BEARER = HTTPBearer(auto_error=False, scheme_name="Bearer", description="the same key as `Authorization: Bearer KEY`")


def _presented_key(headers: Headers) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key
    authorization = headers.get("authorization")
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def _valid(key: str | None, settings: ServeSettings) -> TypeGuard[str]:
    return key is not None and any(
        secrets.compare_digest(key.encode(), k.get_secret_value().encode()) for k in settings.api_keys
    )


def authenticate(request: Request) -> str:
    """The request's valid API key; 401 without one, 403 with a wrong one."""
    key = _presented_key(request.headers)
    if key is None:
        raise Unauthorized(
            "this endpoint needs an API key: send it as X-API-Key (or Authorization: Bearer KEY)",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    if not _valid(key, request.app.state.settings):
        raise Forbidden("the API key is not valid")
    return key


def rate_limit(request: Request) -> None:
    """429 with Retry-After when this client (a valid API key, else its address) exceeds its rate.

    The address is the socket's peer, or the one a trusted proxy forwarded (``recsmith serve
    --forwarded-allow-ips``): an X-Forwarded-For header from anyone else is ignored by the server.
    """
    limiter: RateLimiter = request.app.state.limiter
    if not limiter.enabled:
        return
    key = _presented_key(request.headers)
    if _valid(key, request.app.state.settings):
        client = "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    else:
        client = f"ip:{request.client.host if request.client else '?'}"
    wait = limiter.acquire(client)
    if wait is not None:
        raise RateLimited("too many requests; slow down", headers={"Retry-After": retry_after_header(wait)})


async def require_api_key(
    request: Request,
    _header: Annotated[str | None, Security(_API_KEY_HEADER)] = None,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)] = None,
) -> str:
    """Write and admin endpoints need one of the configured API keys.

    The check itself runs before the body is read (:class:`recsmith.serving.guard.GuardedRoute`);
    this dependency declares the security schemes in the OpenAPI document and hands the key on.
    """
    return authenticate(request)


ApiKeyDep = Annotated[str, Depends(require_api_key)]
