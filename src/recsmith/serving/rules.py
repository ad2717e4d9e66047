"""Business rules: which items a recommendation call may return.

A call may carry attribute filters over the bundle's item table (``items.parquet``), an exclude
list and an include-only candidate set. They become one boolean mask over internal items, applied
*before* the top-k is taken (or passed to the ANN index as an id selector), so a call returns ``k``
items whenever ``k`` eligible items exist.

Filter ops: ``eq``, ``ne``, ``in``, ``not_in``, ``gt``, ``gte``, ``lt``, ``lte``, ``between``
(``[low, high]``, inclusive). On a list column (e.g. ``genres``) ``eq`` means "contains" and
``in`` "shares an element with". Items without a row, or with a null value, fail every filter.

A value must fit its column: numbers (finite, integers within 64 bits) for numeric columns,
strings for text and categorical ones, ``true`` / ``false`` for booleans, ISO strings for dates;
one value for ``eq`` ... ``lte``, a list for ``in`` / ``not_in`` / ``between``. Anything else is a
422 that names the field, never an error of the dataframe library.
"""

from __future__ import annotations

import datetime
import json
import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import polars as pl

from recsmith.data.schema import Columns
from recsmith.serving.errors import InvalidRequest

OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between")
_MASK_CACHE_SIZE = 256


class ItemRules:
    """Compiles attribute filters against one item table; masks are cached by filter."""

    def __init__(self, items: pl.DataFrame | None, n_items: int) -> None:
        self.n_items = n_items
        self.items = items if items is not None and Columns.Item in items.columns else None
        self.fields = [] if self.items is None else [c for c in self.items.columns if c != Columns.Item]
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def filter_mask(self, filters: list[dict[str, Any]]) -> np.ndarray | None:
        """``(n_items,)`` bool mask of items passing every filter (None: no filters)."""
        if not filters:
            return None
        key = json.dumps(filters, sort_keys=True, default=str)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        mask = self._compile(filters)
        mask.flags.writeable = False
        with self._lock:
            self._cache[key] = mask
            while len(self._cache) > _MASK_CACHE_SIZE:
                self._cache.popitem(last=False)
        return mask

    def _compile(self, filters: list[dict[str, Any]]) -> np.ndarray:
        items = self.items
        if items is None:
            raise InvalidRequest(
                "this bundle has no item attributes, so filters cannot be applied", details={"filters": filters}
            )
        try:
            exprs = [self._expr(f, items.schema) for f in filters]
            passing = items.filter(pl.all_horizontal(exprs))[Columns.Item].to_numpy()
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException, TypeError, ValueError, OverflowError) as err:
            # values are checked against the column types first (_check_value); this is the last line
            raise InvalidRequest(
                f"filters do not fit the item attributes: {str(err).splitlines()[0][:200]}",
                details={"filters": filters},
            ) from None
        mask = np.zeros(self.n_items, dtype=bool)
        passing = passing[(passing >= 0) & (passing < self.n_items)]
        mask[passing] = True
        return mask

    def _expr(self, f: dict[str, Any], schema: pl.Schema) -> pl.Expr:
        name, op = f["field"], f["op"]
        value: Any = f.get("value")  # any JSON value; checked against the op below
        if name not in self.fields:
            raise InvalidRequest(f"unknown filter field {name!r}", details={"valid_fields": self.fields})
        if op not in OPS:
            raise InvalidRequest(f"filter {name!r}: unknown op {op!r}", details={"valid_ops": list(OPS)})
        dtype = schema[name]
        col = pl.col(name)
        is_list = isinstance(dtype, pl.List)
        many = op in ("in", "not_in", "between")
        if many and not isinstance(value, list):
            raise InvalidRequest(f"filter {name!r} {op}: value must be a list", details={"filter": f})
        if not many and isinstance(value, list):
            raise InvalidRequest(f"filter {name!r} {op}: value must be one value, not a list", details={"filter": f})
        if op == "between" and len(value) != 2:
            raise InvalidRequest(f"filter {name!r} between: value must be [low, high]", details={"filter": f})
        if is_list and op not in ("eq", "ne", "in", "not_in"):
            raise InvalidRequest(
                f"filter {name!r}: op {op!r} does not apply to a list attribute",
                details={"valid_ops": ["eq", "ne", "in", "not_in"]},
            )
        element = dtype.inner if isinstance(dtype, pl.List) else dtype
        values = [_check_value(name, op, element, v) for v in (value if many else [value])]
        if _kind(element) == "number" and any(isinstance(v, float) for v in values):
            values = [float(v) for v in values]  # one literal type: Polars refuses mixed int / float lists
            if not element.is_float():
                col = col.cast(pl.List(pl.Float64) if is_list else pl.Float64)
        value = values if many else values[0]
        if is_list:
            if op == "eq":
                return col.list.contains(value).fill_null(False)
            if op == "ne":
                return (~col.list.contains(value)).fill_null(False)
            overlap = col.list.eval(pl.element().is_in(value)).list.any().fill_null(False)
            return overlap if op == "in" else ~overlap & col.is_not_null()
        exprs = {
            "eq": lambda: col == value,
            "ne": lambda: col != value,
            "in": lambda: col.is_in(value),
            "not_in": lambda: ~col.is_in(value),
            "gt": lambda: col > value,
            "gte": lambda: col >= value,
            "lt": lambda: col < value,
            "lte": lambda: col <= value,
            "between": lambda: col.is_between(value[0], value[1], closed="both"),
        }
        return exprs[op]().fill_null(False)


_INT64 = (-(2**63), 2**63 - 1)
_EXPECTED = {
    "number": "a number",
    "string": "a string",
    "bool": "true or false",
    "date": "an ISO date string like 2024-05-31",
    "datetime": "an ISO date-time string like 2024-05-31T12:00:00",
}


def _kind(dtype: pl.DataType | pl.datatypes.DataTypeClass) -> str | None:
    """The JSON kind of value a column's filters take (None: the column cannot be filtered)."""
    if dtype.is_numeric():
        return "number"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum | pl.Categorical):
        return "string"
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    return None


def _check_value(name: str, op: str, dtype: pl.DataType | pl.datatypes.DataTypeClass, value: Any) -> Any:
    """``value`` as a literal for a column of ``dtype``; 422 naming the field when it does not fit."""
    kind = _kind(dtype)
    if kind is None:
        raise InvalidRequest(f"filter {name!r}: attributes of type {dtype} cannot be filtered", details={"field": name})
    ok = {
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "bool": isinstance(value, bool),
        "date": isinstance(value, str),
        "datetime": isinstance(value, str),
    }[kind]
    if not ok:
        raise InvalidRequest(
            f"filter {name!r} {op}: {json.dumps(value)[:60]} is not {_EXPECTED[kind]} ({name} is {dtype})",
            details={"field": name, "expected": _EXPECTED[kind]},
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(f"filter {name!r} {op}: numbers must be finite", details={"field": name})
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        raise InvalidRequest(f"filter {name!r} {op}: {value} does not fit in 64 bits", details={"field": name})
    if kind in ("date", "datetime"):
        parse = datetime.date.fromisoformat if kind == "date" else datetime.datetime.fromisoformat
        try:
            return parse(value)
        except ValueError:
            raise InvalidRequest(
                f"filter {name!r} {op}: {value[:40]!r} is not {_EXPECTED[kind]}", details={"field": name}
            ) from None
    return value


def eligible_mask(
    n_items: int,
    *,
    filter_mask: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
    include: np.ndarray | None = None,
) -> np.ndarray | None:
    """Combine filters, an exclude list and an include-only set into one mask (None = all items)."""
    if filter_mask is None and exclude is None and include is None:
        return None
    if include is not None:
        mask = np.zeros(n_items, dtype=bool)
        mask[include] = True
        if filter_mask is not None:
            mask &= filter_mask
    else:
        mask = np.ones(n_items, dtype=bool) if filter_mask is None else filter_mask.copy()
    if exclude is not None and len(exclude):
        mask[exclude] = False
    return mask
