"""A stable string hash for hashed feature ids (FNV-1a, 64 bit, over the UTF-8 bytes).

Engine hashes (``pl.Expr.hash``, DuckDB ``hash``) may change between versions; ids stored with a
fitted encoder and recomputed at serving time must not. This one is defined by the algorithm:
``h = 0xcbf29ce484222325; for each byte b: h = (h ^ b) * 0x100000001b3 mod 2**64``.

Vectorised over rows: the loop runs over byte positions (up to the longest string), each step a
numpy operation on all strings that are that long.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

_OFFSET = np.uint64(0xCBF29CE484222325)
_PRIME = np.uint64(0x100000001B3)


def fnv1a(values: pl.Series) -> np.ndarray:
    """uint64 FNV-1a of each string (a null hashes like the empty string)."""
    arr = values.cast(pl.Utf8).fill_null("").to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    n = len(arr)
    h = np.full(n, _OFFSET, dtype=np.uint64)
    if n == 0:
        return h
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64, count=n + 1, offset=arr.offset * 8)
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    rows = np.arange(n)
    for j in range(int(lengths.max(initial=0))):
        rows = rows[lengths[rows] > j]  # strings with a byte at position j
        h[rows] = (h[rows] ^ data[starts[rows] + j].astype(np.uint64)) * _PRIME
    return h


def bucket(values: pl.Series, buckets: int) -> np.ndarray:
    """``fnv1a(values) mod buckets`` as int64 in ``[0, buckets)``."""
    return (fnv1a(values) % np.uint64(buckets)).astype(np.int64)
