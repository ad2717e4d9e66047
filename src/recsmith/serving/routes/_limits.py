"""Checks of the deployment's request limits (settings), answered with 422 and a JSON body."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from recsmith.serving.engine import RuleSpec
from recsmith.serving.errors import InvalidRequest
from recsmith.serving.schemas import FilterSpec, RulesRequest
from recsmith.serving.settings import ServeSettings

_FILTERS = TypeAdapter(list[FilterSpec])


def check_k(k: int, settings: ServeSettings) -> None:
    if k > settings.max_k:
        raise InvalidRequest(f"k must be at most {settings.max_k}, got {k}", details={"max_k": settings.max_k})


def check_ids(name: str, ids: list[Any] | None, limit: int) -> None:
    if ids is not None and len(ids) > limit:
        raise InvalidRequest(f"{name} has {len(ids)} ids; at most {limit} are allowed", details={"limit": limit})


def rules_from(body: RulesRequest, settings: ServeSettings) -> RuleSpec:
    check_ids("exclude", body.exclude, settings.max_ids)
    check_ids("include", body.include, settings.max_ids)
    return RuleSpec(
        filters=tuple(f.model_dump() for f in body.filters),
        exclude=tuple(body.exclude),
        include=tuple(body.include) if body.include is not None else None,
    )


def parse_filters(text: str | None) -> list[dict[str, Any]]:
    """The ``filters`` query parameter: a JSON list of filter objects."""
    if not text:
        return []
    try:
        return [f.model_dump() for f in _FILTERS.validate_python(json.loads(text))]
    except (ValueError, ValidationError) as err:
        details = err.errors(include_url=False) if isinstance(err, ValidationError) else None
        raise InvalidRequest(
            'filters must be a JSON list like [{"field": "category", "op": "in", "value": ["a"]}]',
            details=json.loads(json.dumps(details, default=str)) if details else None,
        ) from None
