"""Files the feature pass appends to batch by batch: ``.npy`` arrays and Parquet tables.

:class:`NpyWriter` writes a 1-d ``.npy`` file whose length is known in advance: the header first,
then each batch's bytes, so that no more than one batch is in memory and nothing is memory-mapped
while writing (a memory map would count against an address-space limit). Training opens the
files with ``np.load(path, mmap_mode="r")``.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


class NpyWriter:
    """Append-only writer of a 1-d ``.npy`` file of ``length`` items of ``dtype``."""

    def __init__(self, path: Path, dtype: Any, length: int) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.length = length
        self.written = 0
        self._file = path.open("wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (length,)}
        np.lib.format.write_array_header_2_0(self._file, header)

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        if self.written + values.size > self.length:
            raise ValueError(f"{self.path.name}: more than the {self.length} items announced")
        self._file.write(values.tobytes())
        self.written += values.size

    def close(self) -> None:
        self._file.close()
        if self.written != self.length:
            raise ValueError(f"{self.path.name}: {self.written} items written, {self.length} announced")


def save_npy(path: Path, values: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(values), allow_pickle=False)


class ParquetAppender:
    """Append Polars frames with one schema to a Parquet file (one row group per frame).

    Writes run in a background thread (pyarrow releases the GIL while encoding and compressing),
    one at a time and in order, so that encoding this frame overlaps with computing the next.
    """

    def __init__(self, path: Path, compression: str = "lz4", dictionary: list[str] | None = None) -> None:
        self.path = path
        self.compression = compression
        self.dictionary = dictionary  # columns worth dictionary-encoding (few distinct values); None: all
        self.rows = 0
        self.schema: pl.Schema | None = None  # of the frames appended
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recsmith-parquet")
        self._last: Future[None] | None = None

    def append(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow()
        if self._writer is None:
            self.schema = frame.schema
            self._schema = table.schema
            dictionary = True if self.dictionary is None else [c for c in self.dictionary if c in table.column_names]
            self._writer = pq.ParquetWriter(
                self.path, self._schema, compression=self.compression, use_dictionary=dictionary
            )
        else:
            table = table.cast(self._schema)
        self._wait()  # at most one write in flight: memory stays at two frames
        self._last = self._pool.submit(self._writer.write_table, table)
        self.rows += frame.height

    def _wait(self) -> None:
        if self._last is not None:
            self._last.result()
            self._last = None

    def close(self, empty: pl.DataFrame | None = None) -> None:
        """Finish the file; with no frame appended, write ``empty`` (a frame with the schema)."""
        try:
            self._wait()
        finally:
            self._pool.shutdown(wait=True)
        if self._writer is None and empty is not None:
            empty.write_parquet(self.path)
        if self._writer is not None:
            self._writer.close()
