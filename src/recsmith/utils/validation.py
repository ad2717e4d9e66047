"""One wording for configuration errors: pydantic's errors as lines that name the dotted key."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError


def describe_errors(err: ValidationError, root: type[BaseModel], prefix: list[str] | None = None) -> str:
    """One line per problem: the dotted key, what is wrong, and the valid keys for unknown ones.

    ``root`` is the model that was validated (its fields name the valid keys); ``prefix`` the keys
    above it, e.g. ``["models", "itemknn"]`` for a model's parameters inside a run config.
    """
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        key = ".".join([*(prefix or []), *loc])
        if e["type"] == "extra_forbidden":
            valid = _fields_at(root, loc[:-1])
            hint = f"; valid keys: {', '.join(valid)}" if valid else ""
            lines.append(f"unknown key {key!r}{hint}")
        else:
            lines.append(f"{key}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def _fields_at(root: type[BaseModel], loc: list[str]) -> list[str]:
    model: Any = root
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return sorted(getattr(model, "model_fields", {}))
