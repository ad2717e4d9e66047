"""JSON as RFC 8259 defines it, with errors that say what is wrong and where.

Python's ``json.loads`` also accepts ``NaN``, ``Infinity`` and ``-Infinity``, which no other JSON
parser produces and which the service could not store or answer with; it raises ``RecursionError``
on deeply nested input and ``UnicodeDecodeError`` on bytes that are not UTF-8. :func:`loads`
turns all of these into one :class:`JsonSyntaxError` carrying a message and, where known, the
line and column (both 1-based) of the problem.
"""

from __future__ import annotations

import json
from typing import Any


class JsonSyntaxError(ValueError):
    def __init__(self, message: str, *, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    @property
    def details(self) -> dict[str, int]:
        if self.line is None or self.column is None:
            return {}
        return {"line": self.line, "column": self.column}


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (use null, or send the number as a string field)")


def loads(data: bytes | str) -> Any:
    """Parse ``data`` (UTF-8 bytes or text) as strict JSON; :class:`JsonSyntaxError` otherwise."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise JsonSyntaxError(
                f"not UTF-8 text: byte 0x{data[err.start]:02x} at offset {err.start} cannot be decoded"
            ) from None
    else:
        text = data
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as err:
        raise JsonSyntaxError(
            f"{err.msg} at line {err.lineno}, column {err.colno}", line=err.lineno, column=err.colno
        ) from None
    except ValueError as err:  # a NaN / Infinity constant
        raise JsonSyntaxError(str(err)) from None
    except RecursionError:
        raise JsonSyntaxError("nested too deeply (arrays or objects inside each other)") from None
