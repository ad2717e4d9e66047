"""The OpenAPI document of one deployment: the schemas' structure plus the deployment's real limits.

The request schemas (:mod:`recsmith.serving.schemas`) are static, while ``max_k``, ``max_batch``,
``max_ids`` and ``max_events`` are settings. FastAPI builds the document from the schemas; this
writes the settings' values in as ``maximum`` / ``maxItems``, so a client (or a fuzzer) reading the
document learns the limits the service enforces, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from recsmith.serving.schemas import MAX_FILTERS
from recsmith.serving.settings import ServeSettings


def _limits(settings: ServeSettings) -> dict[str, tuple[str, int]]:
    """Field or query-parameter name -> (JSON Schema keyword, value)."""
    return {
        "k": ("maximum", settings.max_k),
        "user_ids": ("maxItems", settings.max_batch),
        "session_items": ("maxItems", settings.max_ids),
        "exclude": ("maxItems", settings.max_ids),
        "include": ("maxItems", settings.max_ids),
        "events": ("maxItems", settings.max_events),
    }


def _constrain(schema: dict[str, Any], keyword: str, value: int) -> None:
    """Set ``keyword`` on ``schema``, or on its array / integer branches when it is a union."""
    kind = "array" if keyword == "maxItems" else "integer"
    branches = schema.get("anyOf")
    if branches:
        for branch in branches:
            if branch.get("type") == kind:
                branch[keyword] = value
    elif schema.get("type") == kind:
        schema[keyword] = value


def apply_limits(document: dict[str, Any], settings: ServeSettings) -> dict[str, Any]:
    limits = _limits(settings)
    for component in document.get("components", {}).get("schemas", {}).values():
        for name, prop in component.get("properties", {}).items():
            if name in limits:
                _constrain(prop, *limits[name])
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param.get("in") == "query" and param.get("name") in limits:
                    _constrain(param["schema"], *limits[param["name"]])
                if param.get("in") == "query" and param.get("name") == "filters":
                    _json_filters(param)
    return document


def _json_filters(param: dict[str, Any]) -> None:
    """The ``filters`` query string holds JSON: say so (OpenAPI ``content``), with the filter schema."""
    filters = {"type": "array", "maxItems": MAX_FILTERS, "items": {"$ref": "#/components/schemas/FilterSpec"}}
    param.pop("schema", None)
    param["content"] = {"application/json": {"schema": filters}}


def contract_openapi(app: FastAPI, settings: ServeSettings) -> Callable[[], dict[str, Any]]:
    """A replacement for ``app.openapi``: FastAPI's document with the limits, built once."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = apply_limits(document, settings)
        return app.openapi_schema

    return openapi
