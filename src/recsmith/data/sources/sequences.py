"""Pre-processed sequential-recommendation files (S3-Rec / SASRec / P5 / TIGER benchmarks).

``sequences``: ``path`` is the file; one user a line, ``uid i1 i2 ... in``, whitespace separated,
items in time order (e.g. Amazon ``Beauty.txt``). ``timestamp`` is the 0-based position in the
user's sequence, ``weight`` 1.0. A user needs at least one item, and one line.

``sasrec``: ``path`` is the file; one ``user item`` pair a line, time ordered within each user
(SASRec's ``data/*.txt``). ``timestamp`` is the running 0-based position within the user.

Repeated items in a sequence are kept (de-duplication is a preparation policy). Ids are kept as
they appear (strings). When present beside the file, both read an items table from:

- ``<stem>_item2attributes.json``: item id -> list of attribute ids;
- ``datamaps.json`` (or ``<stem>_datamaps.json``): ``id2item`` (item id -> Amazon ASIN) and
  ``id2attribute`` (attribute id -> name); ``item2id`` / ``attribute2id`` are used when the
  ``id2*`` maps are missing.

Items table: ``item_id``, ``asin``, ``attributes`` (attribute names in file order; HTML entities
such as ``&amp;`` decoded; an attribute id without a name stays as its id) and ``name``. The
attributes mix brand and category path with no marker saying which is which, so ``name`` lists up
to three attributes from the rarest (the brand and most specific category, usually) to the most
common, then the ASIN: ``"Crabtree & Evelyn / Hand Creams & Lotions / COKA (B000052WYL)"``. Without
attributes it is the ASIN, without either the item id.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from recsmith.data.schema import Columns
from recsmith.data.sources._text import TOKENS, check_policy, read_json, read_tokens, source_meta, take_options
from recsmith.data.sources.base import BadRowPolicy, RawData, SourceOptions, register_source, require_file
from recsmith.errors import DataError

_NAME_ATTRIBUTES = 3


def _sequence_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if p.is_dir():
        hint = "e.g. --path .../Beauty.txt"
        raise DataError(f"the {what} source expects the file itself, not a directory", path=str(p), hint=hint)
    return require_file(p, f"{what} file")


@register_source(
    "sequences", summary="one user a line, 'uid i1 i2 ... in' in time order (--path FILE, e.g. Amazon Beauty.txt)"
)
def read_sequences(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """One user a line: ``uid i1 i2 ... in`` (see the module docstring)."""
    policy = check_policy(on_bad_rows)
    take_options("sequences", options, SourceOptions)
    file = _sequence_file(path, "sequences")
    bad: dict[str, int] = {}
    rows = read_tokens(file, policy=policy, columns=[Columns.UserId, "item_ids"])
    rows.flag(pl.col(TOKENS).list.len() < 2, "item_ids", "a user with no items (expected 'uid i1 i2 ... in')")
    rows.update(pl.col(TOKENS).list.first().alias(Columns.UserId), pl.col(TOKENS).list.slice(1).alias(Columns.ItemId))
    rows.unique(Columns.UserId, "user id")  # a user is one line
    frame = rows.finish(bad, what="interactions")
    interactions = (
        frame.with_columns(pl.int_ranges(0, pl.col(Columns.ItemId).list.len(), dtype=pl.Int64).alias(Columns.Timestamp))
        .explode(Columns.ItemId, Columns.Timestamp)
        .with_columns(pl.lit(1.0, pl.Float32).alias(Columns.Weight))
    )
    files = [file]
    items = _sidecar_items(file, interactions[Columns.ItemId], files)
    return RawData(interactions, items=items, source=source_meta("sequences", file, files, options), bad_rows=bad)


@register_source(
    "sasrec", summary="one 'user item' pair a line, time-ordered per user: the SASRec repository's format (--path FILE)"
)
def read_sasrec(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """One ``user item`` pair a line, time ordered per user (see the module docstring)."""
    policy = check_policy(on_bad_rows)
    take_options("sasrec", options, SourceOptions)
    file = _sequence_file(path, "sasrec")
    bad: dict[str, int] = {}
    rows = read_tokens(file, policy=policy, columns=[Columns.UserId, Columns.ItemId])
    n = pl.col(TOKENS).list.len()
    rows.flag(n < 2, Columns.ItemId, "expected 'user item', found one field")
    rows.flag(n > 2, Columns.ItemId, lambda row: f"expected 'user item', found {len(row[TOKENS])} fields")
    rows.update(
        pl.col(TOKENS).list.get(0).alias(Columns.UserId),
        pl.col(TOKENS).list.get(1, null_on_oob=True).alias(Columns.ItemId),
    )
    frame = rows.finish(bad, what="interactions")
    interactions = frame.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).over(Columns.UserId).alias(Columns.Timestamp),
        pl.lit(1.0, pl.Float32).alias(Columns.Weight),
    )
    files = [file]
    items = _sidecar_items(file, interactions[Columns.ItemId], files)
    return RawData(interactions, items=items, source=source_meta("sasrec", file, files, options), bad_rows=bad)


# --------------------------------------------------------------------------------------------
# side files


def _string_map(data: dict[str, Any], key: str, inverse: str, path: Path) -> dict[str, str] | None:
    """``data[key]`` (id -> value), or ``data[inverse]`` inverted, as str -> str."""
    mapping, invert = (data.get(key), False) if key in data else (data.get(inverse), True)
    if mapping is None:
        return None
    if not isinstance(mapping, dict):
        raise DataError(f"{key if not invert else inverse!r} must be a JSON object", path=str(path))
    pairs = ((str(v), str(k)) for k, v in mapping.items()) if invert else ((str(k), str(v)) for k, v in mapping.items())
    return dict(pairs)


def _sidecar_items(file: Path, seen: pl.Series, files: list[Path]) -> pl.DataFrame | None:
    attr_path = file.with_name(f"{file.stem}_item2attributes.json")
    candidates = (file.with_name("datamaps.json"), file.with_name(f"{file.stem}_datamaps.json"))
    maps_path = next((p for p in candidates if p.exists()), None)
    if not attr_path.exists() and maps_path is None:
        return None

    id2item: dict[str, str] = {}
    id2attr: dict[str, str] = {}
    if maps_path is not None:
        files.append(maps_path)
        maps = read_json(maps_path)
        if not isinstance(maps, dict):
            raise DataError("expected a JSON object with 'id2item' / 'id2attribute' maps", path=str(maps_path))
        id2item = _string_map(maps, "id2item", "item2id", maps_path) or {}
        names = _string_map(maps, "id2attribute", "attribute2id", maps_path) or {}
        id2attr = {k: html.unescape(v) for k, v in names.items()}

    attrs = pl.DataFrame(schema={Columns.ItemId: pl.Utf8, "attribute": pl.Utf8})
    if attr_path.exists():
        files.append(attr_path)
        raw = read_json(attr_path)
        if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
            raise DataError("expected a JSON object: item id -> list of attribute ids", path=str(attr_path))
        # one (item, attribute) pair a row, built flat: far faster than a list column from Python
        pairs = {
            Columns.ItemId: [str(k) for k, v in raw.items() for _ in v],
            "attribute": [str(a) for v in raw.values() for a in v],
        }
        attrs = pl.DataFrame(pairs, schema=attrs.schema).with_columns(pl.col("attribute").replace(id2attr))

    ids = pl.concat([seen, pl.Series(list(id2item), dtype=pl.Utf8), attrs[Columns.ItemId]]).unique()
    numeric_first = (pl.col(Columns.ItemId).cast(pl.Int64, strict=False), Columns.ItemId)
    items = pl.DataFrame({Columns.ItemId: ids}).sort(*numeric_first, nulls_last=True)
    asin = pl.DataFrame(
        {Columns.ItemId: list(id2item), "asin": list(id2item.values())},
        schema={Columns.ItemId: pl.Utf8, "asin": pl.Utf8},
    )

    # the label: the rarest attributes first (ties by name)
    freq = pl.len().over("attribute")
    label = (
        attrs.with_columns(freq.alias("freq"))
        .sort(Columns.ItemId, "freq", "attribute")
        .group_by(Columns.ItemId)
        .agg(pl.col("attribute").head(_NAME_ATTRIBUTES).str.join(" / ").alias("label"))
    )
    listed = attrs.group_by(Columns.ItemId, maintain_order=True).agg(pl.col("attribute").alias("attributes"))
    for extra in (asin, listed, label):
        items = items.join(extra, on=Columns.ItemId, how="left", maintain_order="left")
    name = (
        pl.when(pl.col("label").is_not_null() & pl.col("asin").is_not_null())
        .then(pl.format("{} ({})", "label", "asin"))
        .otherwise(pl.coalesce("label", "asin", Columns.ItemId))
    )
    return items.select(
        Columns.ItemId,
        name.alias(Columns.Name),
        "asin",
        pl.col("attributes").fill_null(pl.lit([], pl.List(pl.Utf8))),
    )
