"""Streaming reads of delimited files larger than memory, with the bad-row rules of :mod:`._text`.

:func:`scan_table` gives :class:`StreamRows`: a recipe of checks and conversions that builds one
Polars lazy query per chunk of the file; :meth:`StreamRows.sink` extends each with the caller's
steps and writes it to a Parquet part, then :meth:`StreamRows.report` raises for the earliest bad
line or counts the bad rows. No Python loop over rows.

The file is read in chunks of whole lines (:func:`chunks`, ``CHUNK_BYTES`` each), never
memory-mapped (Polars maps a file it scans whole, which counts the whole file against an
address-space limit), so memory stays at a few chunks whatever the file's size. Two scans build
the same query for a chunk (the checks are replayed on either):

1. **fast**: Polars' CSV reader, with the numbers and dates of ``types`` parsed by the reader and
   the other columns as strings; ``__line`` from the row index (a blank line comes back as a row of
   nulls and is dropped, so numbering holds).
2. **exact**, for a chunk the fast scan cannot parse (a line with too many fields makes Polars
   stop): each physical line is read as one string and split at the separator, so every line has a
   known number of fields and a short or long line is a bad row like any other.

What is checked, per row (the first failing check is the row's reason): the number of fields
(exact scan; on the fast scan a short line shows as empty trailing fields), then the caller's
checks: undecodable bytes (read as U+FFFD) in the fields that stay strings, dates, numbers, ids,
lookups. The message of an error quotes the offending field: the bad line's chunk is read again as
text (on errors only). Differences from the eager reader of :mod:`._text`, deliberate: quote
characters are not special (quoted fields belong to the eager reader: a quoted separator shows as
a wrong field count), the file must be UTF-8, a line of separators only counts as blank, and the
reader's own number parsing is a little more lenient (``+1``, `` 0.5``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from recsmith.data.sources._text import HINT
from recsmith.data.sources.base import BadRowPolicy
from recsmith.errors import DataError
from recsmith.utils.logging import log

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

LINE = "__line"
BAD = "__bad"
BAD_VALUE = "__bad_value"
_TEXT = "__text"
CHUNK_BYTES = 256 << 20  # bytes of whole lines per chunk (the lookups of a chunk are hashed per chunk)
_COUNT = "__n"
_UNDECODABLE = "\ufffd"
_NOT_UTF8 = "bytes that are not valid utf-8 (the file must be UTF-8)"

Message = str | Callable[[Any], str]
Step = Callable[[pl.LazyFrame, Any], pl.LazyFrame]


def scan_table(
    path: Path,
    *,
    policy: BadRowPolicy,
    required: list[str],
    sep: str = ",",
    types: Mapping[str, pl.DataType] | None = None,
) -> "StreamRows":
    """Start a streamed read of ``path``: header line 1, fields separated by ``sep`` (one byte).

    ``types`` (column -> dtype) lets the fast scan's CSV reader parse required numbers and dates
    itself (cheaper than casting text); such a column must be converted with a required
    :meth:`StreamRows.parse`. Raises DataError (whatever the policy: the header is not a row) for a
    missing or duplicate column name. An unnamed leading index column, as pandas writes it, is read
    and dropped.
    """
    names = _header(path, sep)
    header = [n for n in names if not n.startswith("__")]
    for c in required:
        if c not in header:
            raise DataError(f"missing column {c!r}; the header has {header}", path=str(path), line=1, column=c)
    # the first column stays text: a blank line is told from a line of garbage by its first field
    typed = {c: t for c, t in (types or {}).items() if c in header and c != names[0]}
    return StreamRows(path, names, policy, sep, typed)


@dataclass(frozen=True)
class _Scan:
    """What a step needs to know about the scan it extends."""

    typed: frozenset[str]  # columns the CSV reader parsed (fast scan)
    explain: bool  # one line, with the offending text


Check = pl.Expr | Callable[[_Scan], pl.Expr]


class StreamRows:
    """Checks and conversions of one streamed file; see the module docstring.

    Mirrors :class:`~recsmith.data.sources._text.Rows`: :meth:`flag` marks rows with a reason,
    :meth:`update` replaces or adds columns, :meth:`parse` converts a field and flags the values that
    do not convert. A message is a string or a function of the offending field's text.
    """

    def __init__(
        self, path: Path, names: list[str], policy: BadRowPolicy, sep: str, types: dict[str, pl.DataType]
    ) -> None:
        self.path = path
        self.policy = policy
        self.sep = sep
        self.names = names
        self.types = types
        self.header = [n for n in names if not n.startswith("__")]
        self.mode = "fast"
        self._steps: list[Step] = []
        self._checks: list[tuple[str | None, Message]] = []
        self._pending: list[tuple[Check, int, pl.Expr]] = []
        self._columns = set(names)
        self._exact_chunks: set[int] = set()  # first lines of the chunks read line by line

    # ------------------------------------------------------------------ building the query
    def flag(self, bad: Check, column: str | None, message: Message) -> None:
        """Mark rows where ``bad`` holds as malformed in ``column`` (its text goes to the message).
        ``bad`` may depend on the scan (a function of it)."""
        value = pl.col(column).cast(pl.Utf8) if column in self._columns else pl.lit(None, pl.Utf8)
        self._pending.append((bad, len(self._checks), value))
        self._checks.append((column, message))

    def _commit(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []

        def step(lf: pl.LazyFrame, scan: _Scan) -> pl.LazyFrame:
            # a row keeps its first reason; the offending text (BAD_VALUE) is only worked out when
            # explaining one line: formatting every row's fields as text would cost more than the checks
            bads = [(b(scan) if callable(b) else b).fill_null(False) for b, _, _ in pending]
            code: Then | ChainedThen = pl.when(pl.col(BAD).is_not_null()).then(pl.col(BAD))
            for bad, (_, k, _) in zip(bads, pending):
                code = code.when(bad).then(pl.lit(k, pl.Int16))
            exprs = [code.otherwise(None).alias(BAD)]
            if scan.explain:
                value: Then | ChainedThen = pl.when(pl.col(BAD).is_not_null()).then(pl.col(BAD_VALUE))
                for bad, (_, _, text) in zip(bads, pending):
                    value = value.when(bad).then(text)
                exprs.append(value.otherwise(None).alias(BAD_VALUE))
            return lf.with_columns(exprs)

        self._steps.append(step)

    def update(self, *exprs: pl.Expr) -> None:
        """Replace or add columns (after the pending checks, which read the old ones)."""
        self._commit()
        self._steps.append(lambda lf, scan: lf.with_columns(exprs))
        self._columns.update(e.meta.output_name() for e in exprs)

    def join(self, table: pl.DataFrame, on: str) -> None:
        """Left-join a small lookup ``table`` (unique keys); unmatched rows get nulls."""
        self._commit()
        lookup = table.lazy()
        self._steps.append(lambda lf, scan: lf.join(lookup, on=on, how="left"))
        self._columns.update(table.columns)

    def undecodable(self, *columns: str) -> None:
        """Flag bytes that are not valid UTF-8 (read as U+FFFD) in string fields that stay strings
        (a field that is parsed as a number or date fails its own check instead)."""
        for c in columns:
            self.flag(pl.col(c).str.contains(_UNDECODABLE, literal=True), c, _NOT_UTF8)

    def strip(self, *columns: str) -> None:
        self.update(*(pl.col(c).str.strip_chars() for c in columns))

    def require(self, column: str) -> None:
        """A non-empty string (stripped)."""
        self.strip(column)
        self.flag(pl.col(column).is_null() | (pl.col(column) == ""), column, f"empty {column}")

    def parse(
        self,
        column: str,
        dtype: pl.DataType,
        what: str,
        *,
        required: bool = True,
        convert: Callable[[pl.Expr], pl.Expr] | None = None,
    ) -> None:
        """Replace ``column`` by its value: ``convert(stripped text)`` (default: a cast to ``dtype``),
        or the CSV reader's own parse on the fast scan when the column is typed there; flag the rows
        where the conversion fails (an empty field too, when ``required``)."""
        if column in self.types and not required:
            raise ValueError(f"{column}: a column the reader parses must be required")
        text = pl.col(column).str.strip_chars()

        def value(scan: _Scan) -> pl.Expr:
            if column in scan.typed:
                return pl.col(column).cast(dtype)
            return convert(text) if convert is not None else text.cast(dtype, strict=False)

        def bad(scan: _Scan) -> pl.Expr:
            v = value(scan)
            ok = v.is_not_null() & v.is_finite() if dtype.is_float() else v.is_not_null()
            if not required:
                ok = ok | text.is_null() | (text == "")
            return ~ok

        def message(raw: str | None) -> str:
            raw = (raw or "").strip()
            return f"expected {what}, got {raw!r}" if raw else f"empty {column}"

        self.flag(bad, column, message)
        self._commit()
        self._steps.append(lambda lf, scan: lf.with_columns(value(scan).alias(column)))

    def to_int(self, column: str, *, required: bool = True, dtype: pl.DataType = pl.Int64()) -> None:
        self.parse(column, dtype, "an integer", required=required)

    def to_float(self, column: str, *, required: bool = True, dtype: pl.DataType = pl.Float64()) -> None:
        self.parse(column, dtype, "a number", required=required)

    def to_date(self, column: str, fmt: str, *, required: bool = True) -> None:
        """A date in ``fmt`` (on the fast scan a typed column is parsed by the CSV reader, which
        takes ISO-like dates: ``2018/09/20`` passes there and fails the exact check)."""
        self.parse(column, pl.Date(), f"a date like {fmt!r}", required=required,
                   convert=lambda text: text.str.to_date(fmt, strict=False))  # fmt: skip

    # ------------------------------------------------------------------ running it
    def plan(self, chunk: "Chunk", mode: str = "fast", *, line: int | None = None) -> pl.LazyFrame:
        """The lazy query over one chunk: ``__line``, the fields (converted) and ``__bad`` (the first
        failing check's code). With ``line``, only that line (read as text), with ``__bad_value``
        (the offending text)."""
        self._commit()
        explain = line is not None
        fast = mode == "fast"
        lf = self._fast_scan(chunk, typed=not explain) if fast else self._exact_scan(chunk)
        if explain:
            lf = lf.filter(pl.col(LINE) == line)
        scan = _Scan(typed=frozenset(self.types) if fast and not explain else frozenset(), explain=explain)
        for step in self._steps:
            lf = step(lf, scan)
        return lf

    def sink(self, finish: Callable[[pl.LazyFrame], pl.LazyFrame], out: Path, **options: Any) -> None:
        """Write ``finish(plan)`` of every chunk to the directory ``out`` (``part-NNNNN.parquet``).

        A chunk the fast scan cannot parse (e.g. a line with too many fields) is read line by line.
        """
        out.mkdir(parents=True, exist_ok=True)
        self.mode = "fast"
        for i, chunk in enumerate(chunks(self.path)):
            part = out / f"part-{i:05d}.parquet"
            try:
                finish(self.plan(chunk, "fast")).sink_parquet(part, **options)
            except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, pl.exceptions.ShapeError) as err:
                log(f"{self.path.name} from line {chunk.first_line}: the fast scan stopped "
                    f"({str(err).splitlines()[0]}); reading line by line")  # fmt: skip
                part.unlink(missing_ok=True)
                finish(self.plan(chunk, "exact")).sink_parquet(part, **options)
                self.mode = "exact"
                self._exact_chunks.add(chunk.first_line)

    def report(self, result: pl.LazyFrame, bad_rows: dict[str, int], *, what: str = "rows") -> int:
        """Raise for the earliest bad line of ``result`` (a scan of what :meth:`sink` wrote) under
        ``on_bad_rows="error"``, else count the bad rows in ``bad_rows``; return the good rows."""
        bad = pl.col(BAD).is_not_null()
        first = pl.col(LINE).filter(bad).min().alias("first")
        stats = result.select(pl.len().alias("n"), bad.sum().alias("bad"), first)
        n, n_bad, first = stats.collect().row(0)
        if n_bad and self.policy == "error":
            raise self._explain(int(first), int(result.filter(pl.col(LINE) == first).select(BAD).collect().item()))
        if n_bad:
            bad_rows[self.path.name] = bad_rows.get(self.path.name, 0) + int(n_bad)
        if n - n_bad == 0:
            skipped = f" ({n_bad} malformed rows skipped)" if n_bad else ""
            raise DataError(f"no {what} in file{skipped}", path=str(self.path))
        return int(n - n_bad)

    def _explain(self, line: int, code: int) -> DataError:
        """The error for ``line``, whose first failing check was ``code``: its chunk is read again as
        text (on errors only) so that the message can quote the offending field."""
        chunk = next(c for c in chunks(self.path) if c.first_line <= line < c.first_line + c.lines)
        mode = "exact" if chunk.first_line in self._exact_chunks else "fast"
        row = self.plan(chunk, mode, line=line).select(BAD, BAD_VALUE).collect().row(0)
        if row[0] is None:  # the reader's own parse was stricter than the text check
            column, _ = self._checks[code]
            return DataError(f"the CSV reader could not parse the {column} field", path=str(self.path),
                             line=line, column=column, hint=HINT)  # fmt: skip
        column, message = self._checks[row[0]]
        text = message(row[1]) if callable(message) else message
        return DataError(text, path=str(self.path), line=line, column=column, hint=HINT)

    # ------------------------------------------------------------------ the two scans
    def _base(self, lf: pl.LazyFrame) -> pl.LazyFrame:
        """Common start: typed line numbers and the (empty) check columns."""
        return lf.with_columns(
            pl.col(LINE).cast(pl.Int64), pl.lit(None, pl.Int16).alias(BAD), pl.lit(None, pl.Utf8).alias(BAD_VALUE)
        )

    def _fast_scan(self, chunk: "Chunk", typed: bool) -> pl.LazyFrame:
        # typed columns: a value the reader cannot parse becomes null (ignore_errors), which the
        # column's parse check flags; a line with too many fields still stops the reader
        lf = pl.scan_csv(
            chunk.data, separator=self.sep, has_header=False, new_columns=self.names, infer_schema=False,
            schema_overrides=dict(self.types) if typed else None, ignore_errors=typed,
            quote_char=None, encoding="utf8-lossy", truncate_ragged_lines=False, raise_if_empty=False,
            row_index_name=LINE, row_index_offset=chunk.first_line,
        )  # fmt: skip
        blank = pl.all_horizontal([pl.col(n).is_null() for n in self.names])
        return self._base(lf.filter(~blank))

    def _exact_scan(self, chunk: "Chunk") -> pl.LazyFrame:
        lines = pl.scan_csv(
            chunk.data, separator="\x1f", has_header=False, new_columns=[_TEXT], infer_schema=False,
            quote_char=None, encoding="utf8-lossy", raise_if_empty=False, row_index_name=LINE,
            row_index_offset=chunk.first_line,
        )  # fmt: skip
        text = pl.col(_TEXT).str.strip_suffix("\r")
        lines = lines.with_columns(text).filter(pl.col(_TEXT).str.contains(r"\S"))
        n = len(self.names)
        parts = [*self.names, "__extra"]
        fields = (
            lines.with_columns(
                (pl.col(_TEXT).str.count_matches(self.sep, literal=True) + 1).alias(_COUNT),
                pl.col(_TEXT).str.splitn(self.sep, n + 1).struct.rename_fields(parts).alias("__fields"),
            )
            .unnest("__fields")
            .drop("__extra")
        )
        empty = [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in self.names]
        lf = self._base(fields.with_columns(empty))
        # the field count is checked first: a short line names its first missing field, a long one
        # its last
        shown = repr(self.sep)
        code: Then | ChainedThen = pl.when(pl.col(BAD).is_not_null()).then(pl.col(BAD))
        value: Then | ChainedThen = pl.when(pl.col(BAD).is_not_null()).then(pl.col(BAD_VALUE))
        for i, name in enumerate(self.names):
            k = self._check_code(name, f"expected {n} fields separated by {shown}, found {{}}")
            code = code.when(pl.col(_COUNT) == i).then(pl.lit(k, pl.Int16))
            value = value.when(pl.col(_COUNT) == i).then(pl.col(_COUNT).cast(pl.Utf8))
        k = self._check_code(self.names[-1], f"expected {n} fields separated by {shown}, found {{}} (extra fields)")
        code = code.when(pl.col(_COUNT) > n).then(pl.lit(k, pl.Int16))
        value = value.when(pl.col(_COUNT) > n).then(pl.col(_COUNT).cast(pl.Utf8))
        return lf.with_columns(code.otherwise(None).alias(BAD), value.otherwise(None).alias(BAD_VALUE)).drop(
            _TEXT, _COUNT
        )

    def _check_code(self, column: str, template: str) -> int:
        shown = None if column.startswith("__") else column
        for k, (c, m) in enumerate(self._checks):
            if c == shown and getattr(m, "template", None) == template:
                return k
        message = _Formatted(template)
        self._checks.append((shown, message))
        return len(self._checks) - 1


@dataclass(frozen=True)
class Chunk:
    """Whole lines of a file: ``data`` starts at line ``first_line`` and holds ``lines`` lines."""

    data: bytes
    first_line: int
    lines: int


def chunks(path: Path, size: int | None = None) -> Iterator[Chunk]:
    """The lines after the header, in pieces of about ``size`` bytes cut at line ends.

    The file is read, never memory-mapped: a map of a file larger than memory would count against
    an address-space limit. Line numbers count ``\\n``.
    """
    size = size or CHUNK_BYTES
    with path.open("rb") as f:
        f.readline()  # the header
        first = 2
        while data := f.read(size):
            data += f.readline()
            n = data.count(b"\n") + (not data.endswith(b"\n"))
            yield Chunk(data, first, n)
            first += n


class _Formatted:
    """A message ``template.format(value)`` (kept as an object so that it can be found again)."""

    def __init__(self, template: str) -> None:
        self.template = template

    def __call__(self, value: Any) -> str:
        return self.template.format(value)


def _header(path: Path, sep: str) -> list[str]:
    """Column names from line 1 (a UTF-8 byte-order mark dropped; unnamed columns renamed)."""
    with path.open("rb") as f:
        line = f.readline(1 << 20)
    try:
        text = line.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError:
        raise DataError("bytes that are not valid utf-8 in the header", path=str(path), line=1) from None
    if not text.strip():
        raise DataError("no header line", path=str(path), line=1)
    raw = [n.strip().strip('"') for n in text.split(sep)]
    names = [f"__unnamed_{i}" if (n == "" or n.startswith("Unnamed: ")) else n for i, n in enumerate(raw)]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DataError(f"duplicate column name(s) in the header: {dup}", path=str(path), line=1)
    return names
