"""The route class of every ``/v1`` endpoint: the checks that must come before FastAPI reads the body.

FastAPI parses and validates a request body before it solves the route's dependencies, so a
malformed body on a write endpoint would be answered 422 before a missing key is answered 401,
and a flood of bad bodies would never reach the rate limiter. :class:`GuardedRoute` runs, in this
order and before anything else:

1. the rate limit (429 with ``Retry-After``);
2. the API key, on routes that declare :func:`recsmith.serving.deps.require_api_key` (401 / 403);
3. on routes with a body: the media type (415 unless JSON) and the JSON syntax (400, with what is
   wrong and the line and column), using :func:`recsmith.serving.strict_json.loads`.

Only then does FastAPI validate the body against its schema (422).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from recsmith.serving import strict_json
from recsmith.serving.deps import authenticate, rate_limit, require_api_key
from recsmith.serving.errors import MalformedBody, UnsupportedMediaType


class GuardedRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        needs_key = require_api_key in _calls(self.dependant)
        has_body = self.body_field is not None

        async def guarded(request: Request) -> Response:
            rate_limit(request)
            if needs_key:
                authenticate(request)
            if has_body:
                await check_json_body(request)
            return await handler(request)

        return guarded


def _calls(dependant: Dependant) -> list[Any]:
    """Every dependency function of a route, at any depth."""
    return [c for d in dependant.dependencies for c in (d.call, *_calls(d))]


def _is_json(content_type: str) -> bool:
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def check_json_body(request: Request) -> None:
    """400 / 415 for a body FastAPI would otherwise fail to parse or parse too leniently."""
    body = await request.body()
    if not body:
        return  # FastAPI answers a missing required body with 422
    content_type = request.headers.get("content-type")
    if content_type and not _is_json(content_type):
        raise UnsupportedMediaType(
            f"the body must be JSON sent with Content-Type: application/json, not {content_type[:100]!r}",
            details={"content_type": content_type[:100]},
        )
    try:
        parsed = strict_json.loads(body)
    except strict_json.JsonSyntaxError as err:
        raise MalformedBody(f"the request body is not valid JSON: {err.message}", details=err.details) from None
    # Starlette caches the parsed body here; FastAPI then reads it instead of parsing the body again
    # with the lenient parser (which would also hit the recursion limit at a deeper stack).
    request._json = parsed
