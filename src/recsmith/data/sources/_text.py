"""Shared parsing for the text-file sources: lines, fields, row checks, options.

How a delimited file is read (no Python loop over rows):

1. Fast path (:func:`_fast_read`): a UTF-8 file without quote characters goes through Polars'
   CSV reader, numbers parsed on the way. The result is used only when it provably has one
   complete row per physical line; anything else (a short, long, blank or undecodable line, a
   quoted field, a Polars error) takes the exact path.
2. :func:`read_lines` gives the physical lines, numbered from 1 (Polars for valid UTF-8; else
   Python's codec over large chunks, which locates undecodable bytes).
3. :func:`read_table` joins the lines of a quoted field that spans lines, drops blank lines,
   splits records into fields and flags a wrong field count or undecodable bytes.
4. The reader checks values with :class:`Rows` (vectorised casts; a value the cast turns into
   null is malformed) and calls :meth:`Rows.finish`, which either raises a :class:`DataError` for
   the earliest bad line (``on_bad_rows="error"``) or drops the bad rows and counts them
   (``"skip"``).

Blank lines are ignored anywhere in a file (trailing ones are common; no data is lost).
"""

from __future__ import annotations

import codecs
import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import ValidationError

from recsmith.data.sources.base import BadRowPolicy, SourceOptions, require_file
from recsmith.errors import ConfigError, DataError
from recsmith.utils.validation import describe_errors

# Helper columns carry this prefix; Rows.finish drops them.
LINE = "__line"
TEXT = "__text"
TOKENS = "__tokens"
UNDECODABLE = "__undecodable"
_BAD = "__bad"
_PREFIX = "__"

HINT = "fix the file, or pass --on-bad-rows skip (on_bad_rows='skip') to drop malformed rows and count them"
_CHUNK_BYTES = 64 << 20

# --------------------------------------------------------------------------------------------
# options and metadata


def check_policy(on_bad_rows: str) -> BadRowPolicy:
    if on_bad_rows not in ("error", "skip"):
        raise ConfigError(f"on_bad_rows must be 'error' or 'skip', got {on_bad_rows!r}")
    return "error" if on_bad_rows == "error" else "skip"


def take_options(source: str, options: Mapping[str, Any], declared: type[SourceOptions]) -> dict[str, Any]:
    """``options`` validated by the source's ``declared`` options model, defaults filled in; a
    ConfigError names the key (``data.options.KEY``) and, for an unknown one, lists the valid ones."""
    unknown = sorted(set(options) - set(declared.model_fields))
    if unknown:
        valid = ", ".join(sorted(declared.model_fields)) or "none"
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for source {source!r}; valid options: {valid}")
    try:
        return declared.model_validate(dict(options)).model_dump()
    except ValidationError as err:
        raise ConfigError(f"source {source!r}: " + describe_errors(err, declared, ["data", "options"])) from None


def file_info(path: Path) -> dict[str, Any]:
    return {"path": str(path), "bytes": path.stat().st_size}


def source_meta(name: str, path: Path, files: list[Path], options: Mapping[str, Any]) -> dict[str, Any]:
    """``RawData.source``: the source name, its path, every file read with its size, the options."""
    return {"name": name, "path": str(path), "files": [file_info(f) for f in files], "options": dict(options)}


def directory(path: str | Path, what: str) -> Path:
    """The data directory of a multi-file source (a file inside it is accepted too)."""
    p = Path(path)
    if p.is_file():
        return p.parent
    if not p.is_dir():
        raise DataError(f"{what} directory not found", path=str(p), hint="check the --path argument")
    return p


# --------------------------------------------------------------------------------------------
# lines


class _Undecodable:
    """Codec error handler that records where undecodable bytes are and replaces them by U+FFFD."""

    name = "recsmith-record"
    _local = threading.local()

    @classmethod
    def handler(cls, exc: UnicodeError) -> tuple[str, int]:
        assert isinstance(exc, UnicodeDecodeError)
        cls._local.starts.append(exc.start)
        return "\ufffd", exc.end

    @classmethod
    def decode(cls, data: bytes, encoding: str) -> tuple[str, list[int]]:
        cls._local.starts = []
        return data.decode(encoding, errors=cls.name), cls._local.starts


codecs.register_error(_Undecodable.name, _Undecodable.handler)


def _codec(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"unknown encoding {encoding!r}") from None


def read_lines(path: Path, encoding: str = "utf-8") -> pl.DataFrame:
    """Physical lines of ``path``: ``__line`` (1-based), ``__text`` and ``__undecodable``.

    Line ends may be ``\\n`` or ``\\r\\n``; a UTF-8 byte-order mark is dropped. Bytes that are not
    valid in ``encoding`` become U+FFFD and mark their line as undecodable.
    """
    require_file(path, "file")
    codec = _codec(encoding)
    if codec == "utf-8":
        try:  # fast path: Polars' multi-threaded reader, one string per line (blank lines are null)
            table = pl.read_csv(
                path,
                separator="\x1f",
                quote_char=None,
                has_header=False,
                infer_schema=False,
                new_columns=[TEXT],
                raise_if_empty=False,
            )
            return table.select(
                pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(LINE),
                pl.col(TEXT).fill_null(""),
                pl.lit(False).alias(UNDECODABLE),
            )
        except pl.exceptions.PolarsError:
            pass  # invalid UTF-8 (or a \x1f byte): the exact path below finds the lines
    frames = []
    first_line = 1
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            chunk += f.readline()  # end the chunk at a line end
            if first_line == 1 and chunk.startswith(codecs.BOM_UTF8) and codec == "utf-8":
                chunk = chunk[len(codecs.BOM_UTF8) :]
            text, bad_starts = _Undecodable.decode(chunk, encoding)
            lines = pl.Series(TEXT, [text]).str.split("\n").explode()
            if text.endswith("\n"):
                lines = lines.head(len(lines) - 1)
            if "\r" in text:
                lines = lines.str.strip_suffix("\r")
            bad = np.zeros(len(lines), dtype=bool)
            if bad_starts:  # byte offset -> line index within the chunk
                newlines = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10)
                bad[np.searchsorted(newlines, np.asarray(bad_starts), side="left")] = True
            numbers = pl.int_range(first_line, first_line + len(lines), dtype=pl.Int64, eager=True)
            frames.append(pl.DataFrame({LINE: numbers, TEXT: lines, UNDECODABLE: bad}))
            first_line += len(lines)
    return pl.concat(frames, rechunk=False) if len(frames) > 1 else frames[0]


def _join_quoted_lines(lines: pl.DataFrame) -> pl.DataFrame:
    """Join the physical lines of records whose quoted field spans lines (RFC 4180 quoting).

    A line whose cumulative count of ``"`` is odd leaves a quote open, so the next line belongs to the
    same record. A record keeps the number of its first line. ``__open`` marks a quote left open
    at the end of the file.
    """
    open_after = (pl.col(TEXT).str.count_matches('"', literal=True).cum_sum() % 2) == 1
    lines = lines.with_columns(open_after.alias("__open"))
    if not lines["__open"].any():
        return lines
    starts = ~pl.col("__open").shift(1, fill_value=False)
    return (
        lines.with_columns(starts.cum_sum().alias("__record"))
        .group_by("__record", maintain_order=True)
        .agg(
            pl.col(LINE).first(),
            pl.col(TEXT).str.join("\n"),
            pl.col(UNDECODABLE).any(),
            pl.col("__open").last(),
        )
        .drop("__record")
    )


def _hex(sep: str) -> str:
    return f"\\x{{{ord(sep):x}}}"


def _split(text: pl.Expr, sep: str, quoted: bool) -> pl.Expr:
    """Split records into a list of fields; with ``quoted``, ``"..."`` fields may hold ``sep``."""
    if not quoted:
        return text.str.split(sep)
    s = _hex(sep)
    # every field is matched together with the separator before it (one is prepended), so no
    # match is empty; a quoted field is "..." with "" for a quote inside
    fields = (pl.lit(sep) + text).str.extract_all(f'{s}(?:"(?:[^"]|"")*"|[^{s}"]*)')
    e = pl.element().str.slice(1)
    unquoted = e.str.slice(1, e.str.len_chars() - 2).str.replace_all('""', '"', literal=True)
    is_quoted = e.str.starts_with('"') & e.str.ends_with('"') & (e.str.len_chars() >= 2)
    return fields.list.eval(pl.when(is_quoted).then(unquoted).otherwise(e))


def _quoting_ok(text: pl.Expr, sep: str) -> pl.Expr:
    """Whether the quote-aware split covers the whole record (else a stray quote broke it)."""
    s = _hex(sep)
    matched = (pl.lit(sep) + text).str.extract_all(f'{s}(?:"(?:[^"]|"")*"|[^{s}"]*)')
    return matched.list.eval(pl.element().str.len_chars()).list.sum() == text.str.len_chars() + 1


def _unnamed(name: str) -> bool:
    # pandas writes its index as an unnamed first column ("" or "Unnamed: 0")
    return name == "" or name.startswith("Unnamed: ")


def read_table(
    path: Path,
    *,
    policy: BadRowPolicy,
    sep: str,
    names: list[str] | None = None,
    encoding: str = "utf-8",
    quoted: bool = False,
    types: Mapping[str, pl.DataType] | None = None,
) -> Rows:
    """Read a delimited file into :class:`Rows` of string fields.

    With ``names`` the file has no header and each line must have exactly these fields. Without,
    line 1 is the header; its names become the columns (unnamed index columns, as pandas writes
    them, are read but dropped) and every record must have as many fields. ``quoted`` enables
    RFC 4180 quotes (a field in ``"..."`` may contain ``sep``, newlines and ``""``).

    ``types`` (column -> Int64/Float64) lets the fast path parse numbers while reading; the
    fields are strings otherwise, and always on the exact path.
    """
    n_lines, has_quote = _scan(require_file(path, "file"))
    fast = _fast_read(
        path, n_lines, sep=sep, names=names, encoding=encoding, quoted=quoted and has_quote, types=types or {}
    )
    if fast is not None:
        numbered = fast.with_row_index(LINE, offset=1 if names else 2).with_columns(pl.col(LINE).cast(pl.Int64))
        rows = Rows(path, numbered, policy)
        rows.header = [c for c in fast.columns if not c.startswith(_PREFIX)]
        return rows

    lines = read_lines(path, encoding)
    quoted = quoted and has_quote
    if quoted:
        lines = _join_quoted_lines(lines)
    lines = lines.filter(pl.col(TEXT).str.contains(r"\S"))  # drop blank lines
    if names is None:
        if lines.height == 0:
            raise DataError("no header line", path=str(path))
        header = lines.head(1)
        lines = lines.slice(1)
        raw = header.select(_split(pl.col(TEXT), sep, quoted).alias("f"))["f"][0].to_list()
        raw = [n.strip() for n in raw]
        names = [f"__unnamed_{i}" if _unnamed(n) else n for i, n in enumerate(raw)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise DataError(f"duplicate column name(s) in the header: {dup}", path=str(path), line=header[LINE][0])
    n = len(names)
    if quoted:
        fields = lines.with_columns(_split(pl.col(TEXT), sep, quoted).alias("__fields"))
        fields = fields.with_columns(
            pl.col("__fields").list.len().alias("__n"),
            *[pl.col("__fields").list.get(i, null_on_oob=True).alias(c) for i, c in enumerate(names)],
        ).drop("__fields")
    else:
        # splitn into n + 1 parts is much faster than a list; a non-null last part means "too many"
        parts = [*names, "__extra"]
        fields = lines.with_columns(
            pl.col(TEXT).str.splitn(sep, n + 1).struct.rename_fields(parts).alias("__fields")
        ).unnest("__fields")
        fields = fields.with_columns(pl.sum_horizontal(pl.col(parts).is_not_null()).alias("__n")).drop("__extra")
    rows = Rows(path, fields, policy)
    rows.header = [n for n in names if not n.startswith(_PREFIX)]

    # (each check is skipped when a quick test shows no row can fail it: big clean files stay fast)
    if fields[UNDECODABLE].any():  # first, naming the field that holds the bytes
        for name in names:
            contains = pl.col(name).str.contains("\ufffd", literal=True)
            rows.flag(pl.col(UNDECODABLE) & contains, _shown(name), _not_decodable(encoding))
        rows.flag(pl.col(UNDECODABLE), None, _not_decodable(encoding))
    if quoted:
        rows.flag(pl.col("__open"), _shown(names[0]), "unterminated quoted field (a '\"' is never closed)")
        rows.flag(~_quoting_ok(pl.col(TEXT), sep), None, "malformed quoting (a '\"' inside an unquoted field)")
    shown_sep = repr(sep)

    def found(row: dict[str, Any]) -> int:
        return row["__n"] if quoted else row[TEXT].count(sep) + 1

    def too_few(row: dict[str, Any]) -> str:
        return f"expected {n} fields separated by {shown_sep}, found {found(row)}"

    def too_many(row: dict[str, Any]) -> str:
        return f"expected {n} fields separated by {shown_sep}, found {found(row)} (extra fields after {names[-1]!r})"

    if not (fields["__n"] == n).all():  # a short line names its first missing field, a long one its last
        for i, name in enumerate(names):
            rows.flag(pl.col("__n") == i, _shown(name), too_few)
        rows.flag(pl.col("__n") > n, _shown(names[-1]), too_many)
    return rows


def read_tokens(path: Path, *, policy: BadRowPolicy, columns: list[str], encoding: str = "utf-8") -> Rows:
    """Lines of whitespace-separated tokens: :class:`Rows` with a ``__tokens`` list column.

    ``columns`` names the tokens for error messages (the last name covers all later tokens).
    The caller checks how many tokens a line needs.
    """
    lines = read_lines(path, encoding).filter(pl.col(TEXT).str.contains(r"\S"))
    tokens = pl.col(TEXT).str.replace_all(r"\s+", " ").str.strip_chars(" ").str.split(" ")
    rows = Rows(path, lines.with_columns(tokens.alias(TOKENS)), policy)
    if lines[UNDECODABLE].any():
        for i, name in enumerate(columns[:-1]):
            contains = pl.col(TOKENS).list.get(i, null_on_oob=True).str.contains("\ufffd", literal=True)
            rows.flag(pl.col(UNDECODABLE) & contains, name, _not_decodable(encoding))
        rows.flag(pl.col(UNDECODABLE), columns[-1], _not_decodable(encoding))
    return rows


def _fast_read(
    path: Path,
    n_lines: int,
    *,
    sep: str,
    names: list[str] | None,
    encoding: str,
    quoted: bool,
    types: Mapping[str, pl.DataType],
) -> pl.DataFrame | None:
    """Polars' CSV reader, for a clean UTF-8 file only; None sends the file down the exact path.

    ``quoted`` means the file has quoted fields: they take the exact path, so quoting has one
    meaning. ``n_lines`` is the file's number of physical lines.
    The result is trusted only when it has one row per physical line and no missing value: then
    no line is blank, short, long or undecodable, and row ``i`` is line ``i + 1`` (``i + 2``
    after a header). Anything else, including a Polars error, returns None.
    """
    if quoted or len(sep) != 1 or _codec(encoding) != "utf-8":
        return None
    try:
        frame = pl.read_csv(
            path,
            separator=sep,
            has_header=names is None,
            new_columns=names,
            infer_schema=False,
            schema_overrides=dict(types),
            quote_char=None,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    if names is None:
        stripped = [c.strip() for c in frame.columns]
        if any("_duplicated_" in c for c in stripped) or len(set(stripped)) < len(stripped):
            return None
        frame.columns = [f"__unnamed_{i}" if _unnamed(c) else c for i, c in enumerate(stripped)]
    if frame.height == 0 or frame.null_count().sum_horizontal().item() > 0:
        return None
    return frame if frame.height + (names is None) == n_lines else None


def _scan(path: Path) -> tuple[int, bool]:
    """The number of lines, and whether the file contains a double quote."""
    n, last, quote = 0, b"", False
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK_BYTES):
            n += chunk.count(b"\n")
            quote = quote or b'"' in chunk
            last = chunk[-1:]
    return n + (last != b"\n"), quote


def _shown(name: str) -> str:
    return "(unnamed index column)" if name.startswith(_PREFIX) else name


def _not_decodable(encoding: str) -> str:
    return f"bytes that are not valid {encoding} (the file must be {encoding}-encoded)"


# --------------------------------------------------------------------------------------------
# row checks

Message = str | Callable[[dict[str, Any]], str]


class Rows:
    """The rows of one file under validation.

    ``frame`` holds ``__line`` plus the fields (strings until a ``to_*`` check casts them). Each
    check marks the rows it finds malformed with its reason; a row keeps its first reason.
    :meth:`finish` raises for the first marked line or drops the marked rows.
    """

    def __init__(self, path: Path, frame: pl.DataFrame, policy: BadRowPolicy) -> None:
        self.path = path
        self.policy = policy
        self.frame = frame.with_columns(pl.lit(None, pl.Int32).alias(_BAD))
        self.header: list[str] = []
        self._checks: list[tuple[str | None, Message]] = []
        self._pending: list[pl.Expr] = []

    def flag(self, bad: pl.Expr, column: str | None, message: Message) -> None:
        """Mark rows where ``bad`` holds: malformed in ``column`` for ``message`` (str or row -> str)."""
        self._pending.append(pl.when(bad.fill_null(False)).then(pl.lit(len(self._checks), pl.Int32)))
        self._checks.append((column, message))

    def _commit(self) -> None:
        # pending checks are evaluated together, in one pass: a row keeps its first reason
        if self._pending:
            self.frame = self.frame.with_columns(pl.coalesce(pl.col(_BAD), *self._pending).alias(_BAD))
            self._pending = []

    def update(self, *exprs: pl.Expr) -> None:
        """Replace or add columns (after evaluating the checks that read the old ones)."""
        self._commit()
        self.frame = self.frame.with_columns(*exprs)

    def require_columns(self, columns: list[str]) -> None:
        """Raise (whatever the policy: the header is not a row) if the header lacks a column."""
        for c in columns:
            if c not in self.header:
                raise DataError(
                    f"missing column {c!r}; the header has {self.header}",
                    path=str(self.path),
                    line=1,
                    column=c,
                )

    def strip(self, *columns: str) -> None:
        self.update(*(pl.col(c).str.strip_chars() for c in columns))

    def require(self, column: str, what: str | None = None) -> None:
        """A non-empty string (stripped)."""
        self.strip(column)
        self.flag(pl.col(column) == "", column, f"empty {what or column}")

    def parse(
        self, column: str, dtype: pl.DataType, what: str, *, required: bool = True, value: pl.Expr | None = None
    ) -> None:
        """Replace ``column`` by ``value`` (default: the stripped text cast to ``dtype``).

        A row is malformed where the result is null (or not finite, for floats) although the
        field is not empty; an empty field is malformed too when ``required``.
        """
        if value is None:
            is_text = self.frame.schema[column] == pl.Utf8  # else parsed already, by the fast path
            value = (pl.col(column).str.strip_chars() if is_text else pl.col(column)).cast(dtype, strict=False)
        self.update(value.alias("__value"))
        ok = pl.col("__value").is_not_null()
        if dtype.is_float():
            ok = ok & pl.col("__value").is_finite()
        if not required:
            text = pl.col(column).cast(pl.Utf8).str.strip_chars()
            ok = ok | text.is_null() | (text == "")
        k = len(self._checks)
        kept = f"__raw_{column}"

        def message(row: dict[str, Any]) -> str:
            text = "" if row[kept] is None else str(row[kept]).strip()
            return f"empty {column}" if not text else f"expected {what}, got {text!r}"

        self.flag(~ok, column, message)
        self._commit()
        # the parsed value replaces the field; the field of the rows this check marked stays for the message
        self.frame = self.frame.with_columns(
            pl.when(pl.col(_BAD) == k).then(pl.col(column)).alias(kept),
            pl.col("__value").alias(column),
        ).drop("__value")

    def to_int(self, column: str, *, required: bool = True, dtype: pl.DataType = pl.Int64()) -> None:
        self.parse(column, dtype, "an integer", required=required)

    def to_float(self, column: str, *, required: bool = True, dtype: pl.DataType = pl.Float64()) -> None:
        self.parse(column, dtype, "a number", required=required)

    def to_date(self, column: str, fmt: str, *, required: bool = True) -> None:
        value = pl.col(column).str.strip_chars().str.to_date(fmt, strict=False)
        self.parse(column, pl.Date(), f"a date like {fmt!r}", required=required, value=value)

    def to_id(self, column: str) -> None:
        """An integer id, kept as its canonical decimal string (``" 007"`` -> ``"7"``)."""
        self.to_int(column)
        self.update(pl.col(column).cast(pl.Utf8))

    def empty_to_null(self, *columns: str) -> None:
        """Empty strings in side-table attributes mean 'missing'."""
        empty = [pl.when(pl.col(c).str.strip_chars() == "").then(None).otherwise(pl.col(c)).alias(c) for c in columns]
        self.update(*empty)

    def unique(self, column: str, what: str) -> None:
        """Mark every later occurrence of an id (a row already marked does not count)."""
        first = pl.when(pl.col(_BAD).is_null()).then(pl.col(LINE)).min().over(column)
        self.update(first.alias("__first"))

        def message(row: dict[str, Any]) -> str:
            return f"duplicate {what} {row[column]!r} on lines {row['__first']} and {row[LINE]}"

        self.flag(pl.col(LINE) != pl.col("__first"), column, message)

    def finish(self, bad_rows: dict[str, int], *, what: str = "rows", keep: tuple[str, ...] = ()) -> pl.DataFrame:
        """The valid rows without helper columns (but ``keep``); raise or count (in ``bad_rows``) the others."""
        self._commit()
        bad = self.frame.filter(pl.col(_BAD).is_not_null())
        if bad.height and self.policy == "error":
            row = bad.filter(pl.col(LINE) == pl.col(LINE).min()).row(0, named=True)
            column, message = self._checks[row[_BAD]]
            text = message(row) if callable(message) else message
            raise DataError(text, path=str(self.path), line=row[LINE], column=column, hint=HINT)
        columns = [c for c in self.frame.columns if c in keep or not c.startswith(_PREFIX)]
        frame = self.frame.select(columns)  # before filtering: no copy of the helper columns
        if bad.height:
            frame = frame.filter(self.frame[_BAD].is_null())
            bad_rows[self.path.name] = bad_rows.get(self.path.name, 0) + bad.height
        if frame.height == 0:
            skipped = f" ({bad.height} malformed rows skipped)" if bad.height else ""
            raise DataError(f"no {what} in file{skipped}", path=str(self.path))
        return frame


# --------------------------------------------------------------------------------------------
# JSON side files


def read_json(path: Path) -> Any:
    """A JSON file, with a DataError naming the line of a syntax error or of undecodable bytes."""
    require_file(path, "file")
    data = path.read_bytes()
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(_not_decodable("utf-8"), path=str(path), line=line) from None
    except json.JSONDecodeError as e:
        raise DataError(f"invalid JSON: {e.msg}", path=str(path), line=e.lineno) from None
