"""A config model's options as rows a person reads: key, type, default, meaning.

Read from the pydantic model itself (its fields, annotations, defaults, ``description``s), so what
``recsmith models NAME`` and ``recsmith data sources NAME`` print cannot drift from what the config
accepts. Nested config models are flattened to dotted keys (``train.epochs``).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


@dataclass(frozen=True)
class OptionDoc:
    """One option: its dotted ``key``, readable ``type`` and ``default``, and its ``meaning``."""

    key: str
    type: str
    default: str
    meaning: str


def describe_options(model: type[BaseModel], prefix: str = "") -> list[OptionDoc]:
    """Every option of ``model`` in declaration order, nested models flattened (``a.b``)."""
    rows: list[OptionDoc] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _config_model(field.annotation)
        if nested is not None and field.default_factory is not None:
            rows.extend(describe_options(nested, prefix=f"{key}."))
            continue
        if field.default_factory is not None:
            default: Any = field.default_factory()  # type: ignore[call-arg]  # factories here take no argument
        else:
            default = field.default
        shown = "required" if default is PydanticUndefined else _value(default)
        rows.append(OptionDoc(key, type_name(field.annotation), shown, (field.description or "").strip()))
    return rows


def type_name(annotation: Any) -> str:
    """``int``, ``float | null``, ``one of a, b, c``, ``list[str]``: an annotation as a user writes it in YAML."""
    if annotation is None or annotation is type(None):
        return "null"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _config_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _value(value: Any) -> str:
    if isinstance(value, BaseModel):
        return str(value.model_dump(mode="json"))
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, str):
        return repr(value) if value == "" else value
    return str(value)


def options_text(rows: list[OptionDoc], indent: str = "  ") -> list[str]:
    """Lines for a terminal: ``key (type; default: X)`` then the meaning, indented below it (a block
    per option: types and defaults of nested configs are too long for a table's columns)."""
    lines = []
    for row in rows:
        lines.append(f"{indent}{row.key} ({row.type}; default: {row.default})")
        if row.meaning:
            lines.append(f"{indent}    {row.meaning}")
    return lines
