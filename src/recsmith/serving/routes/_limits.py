"""The deployment's request limits (settings) and the rule parameters shared by the routes.

Every limit is checked here, with one kind of message and 422; the same limits are written into
the OpenAPI document (:func:`recsmith.serving.openapi.contract_openapi`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import Field, TypeAdapter, ValidationError

from recsmith.serving import strict_json
from recsmith.serving.engine import RuleSpec
from recsmith.serving.errors import InvalidRequest
from recsmith.serving.schemas import MAX_FILTERS, ExternalId, FilterSpec, QueryK, RulesRequest
from recsmith.serving.settings import ServeSettings

_FILTERS = TypeAdapter(Annotated[list[FilterSpec], Field(max_length=MAX_FILTERS)])
_FILTERS_EXAMPLE = '[{"field": "category", "op": "in", "value": ["a"]}]'

# query parameters of the GET routes (the POST bodies carry the same rules as RulesRequest fields)
KQuery = Annotated[QueryK, Query(description="list length (at most the deployment's max_k)")]
# plain lists (default: empty), not ``list | None``: a query string cannot say "an empty include set"
ExcludeQuery = Annotated[
    list[ExternalId], Query(description="item ids never to return (repeatable; unknown ids are reported)")
]
IncludeQuery = Annotated[
    list[ExternalId],
    Query(description="return only these item ids (repeatable; unknown ids are reported); absent: all items"),
]
FiltersQuery = Annotated[
    str | None, Query(max_length=4096, description=f"JSON list of filters, e.g. {_FILTERS_EXAMPLE}")
]


def check_k(k: int, settings: ServeSettings) -> None:
    if k > settings.max_k:
        raise InvalidRequest(f"k must be at most {settings.max_k}, got {k}", details={"max_k": settings.max_k})


def check_ids(name: str, ids: list[Any] | None, limit: int) -> None:
    if ids is not None and len(ids) > limit:
        raise InvalidRequest(f"{name} has {len(ids)} ids; at most {limit} are allowed", details={"limit": limit})


def rules_from(body: RulesRequest, settings: ServeSettings) -> RuleSpec:
    """The rules of a POST body."""
    return _rules(body.exclude, body.include, [f.model_dump() for f in body.filters], settings)


def rules_from_query(exclude: list[str], include: list[str], filters: str | None, settings: ServeSettings) -> RuleSpec:
    """The rules of a GET request's query parameters (no ``include`` values: no include restriction)."""
    return _rules(exclude, include or None, parse_filters(filters), settings)


def _rules(
    exclude: list[str], include: list[str] | None, filters: list[dict[str, Any]], settings: ServeSettings
) -> RuleSpec:
    check_ids("exclude", exclude, settings.max_ids)
    check_ids("include", include, settings.max_ids)
    return RuleSpec(
        filters=tuple(filters), exclude=tuple(exclude), include=tuple(include) if include is not None else None
    )


def parse_filters(text: str | None) -> list[dict[str, Any]]:
    """The ``filters`` query parameter: a JSON list of filter objects."""
    if not text:
        return []
    try:
        return [f.model_dump() for f in _FILTERS.validate_python(strict_json.loads(text))]
    except strict_json.JsonSyntaxError as err:
        raise InvalidRequest(
            f"filters: not valid JSON ({err.message}); send a list like {_FILTERS_EXAMPLE}", details=err.details
        ) from None
    except ValidationError as err:
        problems = err.errors(include_url=False, include_context=False, include_input=False)
        first = problems[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidRequest(
            f"filters{'.' + where if where else ''}: {first['msg']}; send a list like {_FILTERS_EXAMPLE}",
            details=[{"loc": list(p["loc"]), "msg": p["msg"], "type": p["type"]} for p in problems],
        ) from None
