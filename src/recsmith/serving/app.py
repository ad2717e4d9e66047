"""The FastAPI application: ``create_app(settings)`` builds it, nothing happens at import time.

Routes (OpenAPI schema at ``/openapi.json``, docs at ``/docs``)::

    GET  /v1/users/{user_id}/recommendations   ?k=10&exclude_seen=true&exclude=..&include=..&filters=[..]
    POST /v1/recommendations                   {"user_ids": [...]} or {"session_items": [...]}, k, rules
    GET  /v1/items/{item_id}/similar           ?k=10 (+ the same rules)
    POST /v1/search                            text query: 409 for models without a text encoder
    POST /v1/feedback                          events (API key)
    GET  /v1/model                             served version, metrics, index
    POST /v1/admin/reload                      switch bundles without dropping requests (API key)
    GET  /health  /ready  /metrics

Every error answers with ``{"error": {"code", "message", "details"}}`` and a 4xx/5xx status, an
unexpected exception included (500, :class:`InternalErrorMiddleware`); docs/api.md is the contract.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from recsmith import __version__
from recsmith.errors import RecsmithError
from recsmith.serving.admission import Admission, AdmissionMiddleware
from recsmith.serving.batching import Overloaded
from recsmith.serving.docs_ui import add_offline_docs
from recsmith.serving.errors import ApiError, PayloadTooLarge
from recsmith.serving.metrics import MetricsMiddleware
from recsmith.serving.openapi import contract_openapi
from recsmith.serving.ratelimit import RateLimiter
from recsmith.serving.routes import feedback, items, model, ops, recommendations, search
from recsmith.serving.service import Service
from recsmith.serving.settings import ServeSettings

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
_log = logging.getLogger("recsmith.serving")


def create_app(settings: ServeSettings, *, service: Service | None = None) -> FastAPI:
    """The service for ``settings``. Pass ``service`` (e.g. with a tiny engine) to skip bundle loading."""
    service = service or Service(settings)
    admission = Admission(settings.max_in_flight, settings.max_loop_lag_ms / 1000)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watch = None
        if settings.ab_config is not None:  # an experiment: an engine per variant
            from recsmith.serving.ab import AbRouter, load_experiment

            router = await run_in_threadpool(
                AbRouter.load,
                load_experiment(settings.ab_config),
                settings.state_dir,
                registry_uri=settings.registry_uri,
                exact_below=settings.exact_below,
                ann_threads=settings.ann_threads,
            )
            service.start_experiment(router)
        if settings.registry_model:  # the production version of a registered model, followed
            from recsmith.serving.registry_watch import RegistryWatch

            watch = RegistryWatch(service, settings.registry_model, settings.registry_uri, settings.registry_poll_s)
            await run_in_threadpool(watch.install)
        await run_in_threadpool(service.start)  # no connection is accepted before the bundle is loaded
        if watch is not None:
            watch.start()
        try:
            async with admission.watching():
                yield
        finally:
            if watch is not None:
                watch.stop()
            service.close()

    app = FastAPI(
        title="recsmith",
        version=__version__,
        description="Recommendations, similar items and feedback over a recsmith model bundle.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    add_offline_docs(app)
    app.openapi = contract_openapi(app, settings)  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
    app.state.settings = settings
    app.state.service = service
    app.state.limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.state.admission = admission
    for module in (recommendations, items, search, feedback, model, ops):
        app.include_router(module.router)
    _add_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AdmissionMiddleware, admission=admission, metrics=service.metrics)  # sheds before the body
    app.add_middleware(MetricsMiddleware, metrics=service.metrics)
    app.add_middleware(InternalErrorMiddleware)  # outermost of ours: nothing escapes as plain text
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-worker runs: settings from ``RECSMITH_*``."""
    return create_app(ServeSettings())


def _error(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = jsonable_encoder(details)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError) -> JSONResponse:
        if isinstance(err, Overloaded):  # the inference queue is full
            request.app.state.service.metrics.shed.labels(reason="inference_queue").inc()
        return _error(err.status_code, err.code, err.message, err.details, err.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        details = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in err.errors()]
        if details and details[0]["type"] == "json_invalid":  # GuardedRoute parses bodies first; kept as a net
            return _error(400, "invalid_json", "the request body is not valid JSON", details)
        first = details[0] if details else {"loc": [], "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        return _error(422, "invalid_request", f"{where}: {first['msg']}", details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(err.status_code, "http_error")
        return _error(err.status_code, code, str(err.detail), headers=getattr(err, "headers", None))

    @app.exception_handler(RecsmithError)
    async def recsmith_error(request: Request, err: RecsmithError) -> JSONResponse:
        return _error(422, "invalid_request", str(err))


class InternalErrorMiddleware:
    """An exception no handler answered becomes the documented 500 JSON body, and goes no further.

    Starlette's own last-resort handler answers in plain text and re-raises; the server then logs
    the exception and closes the connection without ``Connection: close``, so a keep-alive client's
    next request fails. Here the answer is a complete JSON response (the connection stays usable)
    carrying an id that is logged with the traceback.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            _log.exception("internal error %s on %s %s", error_id, scope.get("method"), scope.get("path"))
            if started:
                raise  # half an answer is out: only the server can end the connection
            response = _error(
                500,
                "internal_error",
                f"internal error {error_id}; the server log has the details",
                {"error_id": error_id},
            )
            await response(scope, receive, send)


class BodyLimitMiddleware:
    """413 for request bodies above ``max_bytes``, by Content-Length or by counting a chunked body."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.max_bytes
            except ValueError:
                too_big = False
            if too_big:
                await self._reject(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # no Content-Length (chunked): read the body here, up to the limit, then replay it
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _reject(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        err = PayloadTooLarge(f"request body larger than {self.max_bytes} bytes", details={"max_bytes": self.max_bytes})
        await _error(err.status_code, err.code, err.message, err.details)(scope, receive, send)


def _replay(messages: list[dict[str, Any]], original: Any) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        return await original()  # later messages (a disconnect) come from the server

    return receive
