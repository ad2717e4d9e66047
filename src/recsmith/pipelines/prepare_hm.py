"""The H&M preparation, out of core: ``recsmith data prepare hm --raw DIR --out DIR``.

The ``hm`` source names it as its preparer (:func:`recsmith.data.sources.base.register_source`), so
:func:`recsmith.pipelines.prepare.prepare_dataset` (the CLI and library callers alike) runs it for
``data.source: hm``.

Reads the Kaggle files (``transactions_train.csv``; ``articles.csv`` and ``customers.csv`` when
present) and writes a prepared dataset (loadable with :meth:`recsmith.data.dataset.Dataset.load`)
with its feature store in ``features/`` (:mod:`recsmith.features.store`). The transactions are
never held in memory:

1. ``articles.csv`` and ``customers.csv`` (small) are read eagerly with the exact checks of
   :mod:`recsmith.data.sources.hm`; customers are normalised (:func:`~recsmith.data.sources.hm.normalize_customers`).
2. ``transactions_train.csv`` is streamed by Polars (:func:`~recsmith.data.sources.hm.scan_transactions`):
   every row checked, article ids padded to 10 characters, articles and customers replaced by
   their row numbers in the side tables (a hash join against the small tables), and sunk to a
   stage Parquet file of integer codes. Bad rows raise (file, line, column) or are counted.
3. Users and items are numbered by first appearance in time order (ties: file order), exactly
   as :func:`recsmith.data.prepare.prepare` does: Polars streaming group-bys on the stage.
4. The interaction encoders (price, sales channel) are fitted on the training days of the stage.
5. DuckDB joins the id maps and sorts by (user, day, line): the one step that needs the whole
   table, run with ``memory_limit`` and a spill directory. Its result streams back in batches of
   whole users, which become ``interactions.parquet``, ``features/interactions.parquet`` (with the
   time features) and the sequence arrays.
6. The side tables and their features; the manifests.

Everything is written into a temporary sibling of the output directory and renamed into place at
the end, so an interrupted preparation leaves the previous output intact.

The split is the competition's (``features.split``: the last 7 days test, the 7 before validation);
the equivalent ``split`` section for ``recsmith benchmark`` is in the manifest under
``protocol``, with ``evaluation.filter_seen: false``: repeat purchases are legitimate targets.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from recsmith import __version__
from recsmith.data.config import DataConfig
from recsmith.data.dataset import FORMAT_VERSION, MANIFEST
from recsmith.data.idmap import IdMap
from recsmith.data.schema import INTERNAL_SCHEMA, Columns
from recsmith.data.sources._stream import BAD, LINE
from recsmith.data.sources._text import check_policy, directory, source_meta
from recsmith.data.sources.base import BadRowPolicy, require_file
from recsmith.data.sources.hm import (
    ARTICLE_ID_DIGITS,
    ARTICLES,
    CUSTOMERS,
    TRANSACTIONS,
    normalize_customers,
    read_articles,
    read_customers,
    scan_transactions,
)
from recsmith.errors import ConfigError, RecsmithError
from recsmith.features.arrays import ParquetAppender
from recsmith.features.config import FeatureConfig
from recsmith.features.engine import InputHash, duckdb_connection, prefetch
from recsmith.features.store import DAY, FEATURES_DIR, FeatureWriter, SplitBounds
from recsmith.features.time import whole_user_batches
from recsmith.utils.atomic import atomic_dir
from recsmith.utils.logging import log
from recsmith.utils.progress import track

_WORK = ".work"
_DAY_SHIFT = 1 << 32  # first-appearance key: day * 2^32 + line
_SEEDS = (0x5EED_0001, 0x5EED_0002)  # two independent hashes of customer ids


def prepare_hm(
    data: DataConfig, features: FeatureConfig, out: str | Path, *, overwrite: bool = False
) -> dict[str, Any]:
    """Prepare the H&M files in ``data.path`` into ``out`` (see the module docstring); return the manifest."""
    _check_supported(data)
    if data.path is None:
        raise ConfigError("data.path: the hm source reads a directory of the Kaggle CSV files (--raw DIR)")
    path = data.path
    policy = check_policy(data.on_bad_rows)
    fcfg = features
    root = directory(path, "H&M")
    tx_file = require_file(root / TRANSACTIONS, f"H&M transactions ({TRANSACTIONS})")
    article_file, customer_file = root / ARTICLES, root / CUSTOMERS
    files = [f for f in (tx_file, article_file, customer_file) if f.exists()]
    hashing = InputHash(files)
    timings: dict[str, float] = {}
    bad: dict[str, int] = {}
    clock = _Clock(timings)

    with atomic_dir(out, overwrite=overwrite) as tmp:
        work = Path(fcfg.engine.temp_dir) / f"recsmith-{tmp.name}" if fcfg.engine.temp_dir else tmp / _WORK
        work.mkdir(parents=True, exist_ok=True)
        try:
            # 1. side tables ----------------------------------------------------------------------
            items = read_articles(article_file, policy, bad) if article_file.exists() else None
            users = normalize_customers(read_customers(customer_file, policy, bad)) if customer_file.exists() else None
            clock.lap("read_side_tables")

            # 2. transactions -> stage ------------------------------------------------------------
            stage = work / "stage"
            n_raw = _stage_transactions(tx_file, policy, items, users, stage, bad)
            clock.lap("stage_transactions")
            good = pl.scan_parquet(stage / "*.parquet").filter(pl.col(BAD).is_null())

            # 3. id maps by first appearance ------------------------------------------------------
            user_map, user_lookups = _first_appearance(good, "customer", "customer_id", users, Columns.UserId, "user")
            item_map, item_lookups = _first_appearance(
                good, "article", "article_id", items, Columns.ItemId, "item", digits=ARTICLE_ID_DIGITS
            )
            clock.lap("id_maps")

            # 4. fit the interaction encoders -----------------------------------------------------
            fdir = tmp / FEATURES_DIR
            writer = None
            if fcfg.enabled:
                writer = FeatureWriter(fcfg, fdir, len(user_map), len(item_map), n_raw)
                timestamp = (pl.col("day").cast(pl.Int64) * DAY).alias(Columns.Timestamp)
                rows = good.select(timestamp, "price", "sales_channel_id")
                writer.fit_interactions(rows)
                clock.lap("fit_encoders")

            # 5. sort (DuckDB, spilling) and the batch pass ---------------------------------------
            con = duckdb_connection(fcfg.engine, work / "spill")
            batches = prefetch(_sorted_batches(con, stage, user_lookups, item_lookups, fcfg.engine.batch_rows))
            try:
                dataset_out = ParquetAppender(tmp / "interactions.parquet", dictionary=[])
                total = -(-n_raw // fcfg.engine.batch_rows)
                for batch in track(whole_user_batches(batches, Columns.User), "writing interactions", total=total):
                    batch = batch.with_columns(
                        (pl.col("day").cast(pl.Int64) * DAY).alias(Columns.Timestamp),
                        pl.lit(1.0, pl.Float32).alias(Columns.Weight),
                    )
                    dataset_out.append(batch.select([pl.col(c).cast(t) for c, t in INTERNAL_SCHEMA.items()]))
                    if writer is not None:
                        writer.add_batch(batch)
            finally:
                batches.close()  # stops the prefetching thread before the connection goes
                con.close()
            dataset_out.close(empty=pl.DataFrame(schema=INTERNAL_SCHEMA))
            if dataset_out.rows != n_raw:
                raise RecsmithError(f"internal error: wrote {dataset_out.rows} interactions of {n_raw}")
            clock.lap("sort_and_write_interactions")

            # 6. side tables and their features ---------------------------------------------------
            user_map.save(tmp / "user_ids.parquet")
            item_map.save(tmp / "item_ids.parquet")
            items_side = _side_table(items, item_map, Columns.ItemId, Columns.Item)
            users_side = _side_table(users, user_map, Columns.UserId, Columns.User)
            if items_side is not None:
                items_side.write_parquet(tmp / "items.parquet")
            if users_side is not None:
                users_side.write_parquet(tmp / "users.parquet")
            if writer is not None:
                writer.close_interactions()
                writer.write_table("users", users_side, user_map.external_ids)
                writer.write_table("items", items_side, item_map.external_ids)
            clock.lap("side_tables")

            # 7. manifests --------------------------------------------------------------------------
            inputs = hashing.result()
            clock.lap("input_hash_wait")
            bounds = writer.bounds if writer is not None else None
            if bounds is None:
                last = int(good.select(pl.col("day").max()).collect(engine="streaming").item())
                bounds = SplitBounds.from_last(last * DAY, fcfg.split.test_days, fcfg.split.valid_days)
            protocol = _protocol(bounds)
            if writer is not None:
                writer.finish(inputs, extra={"engine": fcfg.engine.model_dump()})
            manifest = _dataset_manifest(data, root, files, inputs, bad, n_raw, user_map, item_map, items_side,
                                         users_side, protocol, timings, features=writer is not None)  # fmt: skip
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return manifest


def _check_supported(d: DataConfig) -> None:
    unsupported = []
    if d.rating_threshold is not None:
        unsupported.append("data.rating_threshold")
    if d.dedupe != "none":
        unsupported.append(f"data.dedupe={d.dedupe}")
    if d.min_user_interactions > 1 or d.min_item_interactions > 1:
        unsupported.append("data.min_user_interactions / data.min_item_interactions (k-core)")
    if d.options:
        unsupported.append(f"data.options {sorted(d.options)}")
    if unsupported:
        raise ConfigError(
            "the H&M preparation keeps every purchase (repeat purchases are targets) and does not support "
            + ", ".join(unsupported)
        )


class _Clock:
    """Wall and CPU seconds (all threads of the process) per step, logged and kept for the manifest."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self.last, self.last_cpu = time.perf_counter(), time.process_time()

    def lap(self, name: str) -> None:
        now, now_cpu = time.perf_counter(), time.process_time()
        wall, cpu = now - self.last, now_cpu - self.last_cpu
        self.timings[name] = round(wall, 3)
        self.timings[f"{name}_cpu"] = round(cpu, 3)
        log(f"{name}: {wall:.1f}s ({cpu:.1f}s CPU)")
        self.last, self.last_cpu = now, now_cpu


def _stage_transactions(
    tx_file: Path,
    policy: BadRowPolicy,
    items: pl.DataFrame | None,
    users: pl.DataFrame | None,
    stage: Path,
    bad: dict[str, int],
) -> int:
    """Stream the transactions into the directory ``stage`` (Parquet parts of integer codes);
    return the number of good rows.

    Customers are matched on two independent 64-bit hashes of the id (a join on integers is several
    times faster than on 64-character strings); a pair collision is ~2^-128, and a collision of the
    first hash within customers.csv falls back to joining on the strings.
    """
    article_lookup = None
    if items is not None:
        article_lookup = items.select(
            pl.col(Columns.ItemId).cast(pl.Int64).alias("article_number"),
            pl.int_range(pl.len(), dtype=pl.Int32).alias("article"),
        )
    rows = scan_transactions(tx_file, policy, article_lookup)
    lookup, on = None, "customer_id"
    if users is not None:
        ids = pl.col(Columns.UserId)
        lookup = users.select(
            ids.hash(_SEEDS[0]).alias("__h1"), ids.hash(_SEEDS[1]).alias("__h2_known"),
            pl.int_range(pl.len(), dtype=pl.Int32).alias("customer"),
        )  # fmt: skip
        on = "__h1"
        if not lookup["__h1"].is_unique().all():
            on = "customer_id"
            lookup = users.select(ids.alias(on), pl.int_range(pl.len(), dtype=pl.Int32).alias("customer"))

    def finish(lf: pl.LazyFrame) -> pl.LazyFrame:
        if lookup is None:
            lf = lf.with_columns(pl.lit(None, pl.Int32).alias("customer"))
        elif on == "__h1":
            ids = pl.col("customer_id")
            lf = lf.with_columns(ids.hash(_SEEDS[0]).alias("__h1"), ids.hash(_SEEDS[1]).alias("__h2"))
            lf = lf.join(lookup.lazy(), on="__h1", how="left").with_columns(
                pl.when(pl.col("__h2") == pl.col("__h2_known")).then(pl.col("customer")).alias("customer")
            )
        else:
            lf = lf.join(lookup.lazy(), on="customer_id", how="left")
        return lf.select(
            LINE,
            pl.col("t_dat").cast(pl.Int32).alias("day"),
            "customer",
            pl.when(pl.col("customer").is_null()).then(pl.col("customer_id")).alias("customer_id"),
            "article",
            # an unlisted article is a bad row when there is a list: the id is only kept without one
            (
                pl.lit(None, pl.Utf8)
                if article_lookup is not None
                else pl.col("article_id").str.zfill(ARTICLE_ID_DIGITS)
            ).alias("article_id"),
            "price",
            "sales_channel_id",
            BAD,
        )

    rows.sink(finish, stage, compression="lz4")
    return rows.report(pl.scan_parquet(stage / "*.parquet"), bad, what="interactions")


def _first_appearance(
    good: pl.LazyFrame,
    code: str,
    external: str,
    table: pl.DataFrame | None,
    key: str,
    kind: str,
    digits: int | None = None,
) -> tuple[IdMap, dict[str, pl.DataFrame]]:
    """The id map (first appearance by (day, line)) and the lookups code -> id, external -> id."""
    order = (pl.col("day").cast(pl.Int64) * _DAY_SHIFT + pl.col(LINE)).alias("__first")
    known = good.filter(pl.col(code).is_not_null()).group_by(code).agg(order.min()).collect(engine="streaming")
    unknown = good.filter(pl.col(code).is_null()).group_by(external).agg(order.min()).collect(engine="streaming")
    both = pl.concat(
        [
            known.select(pl.col(code), pl.lit(None, pl.Utf8).alias(external), "__first"),
            unknown.select(pl.lit(None, pl.Int32).alias(code), pl.col(external), "__first"),
        ]
    ).sort("__first")
    both = both.with_columns(pl.int_range(pl.len(), dtype=pl.Int32).alias(kind))
    ext = both[external]
    if table is not None and known.height:  # a known code's external id is the side table's
        named = table[key].gather(both[code].fill_null(0))
        ext = both.select(pl.when(pl.col(code).is_null()).then(pl.col(external)).otherwise(pl.lit(named))).to_series()
    idmap = IdMap(ext, kind=kind, digits=digits)
    lookups = {
        "known": both.filter(pl.col(code).is_not_null()).select(code, kind),
        "unknown": both.filter(pl.col(code).is_null()).select(external, kind),
    }
    return idmap, lookups


def _sorted_batches(con: Any, stage: Path, users: dict[str, pl.DataFrame], items: dict[str, pl.DataFrame], rows: int):
    """The good stage rows with internal ids, sorted by (user, day, line), as Polars batches."""
    for name, frame in (("user_known", users["known"]), ("user_unknown", users["unknown"]),
                        ("item_known", items["known"]), ("item_unknown", items["unknown"])):  # fmt: skip
        con.register(name, frame.to_arrow())
    sql = f"""
        SELECT coalesce(uk.user, uu.user) AS "user", coalesce(ik.item, iu.item) AS item,
               s.day, s.price, s.sales_channel_id
        FROM read_parquet('{stage / "*.parquet"}') s
        LEFT JOIN user_known uk ON s.customer = uk.customer
        LEFT JOIN user_unknown uu ON s.customer_id = uu.customer_id
        LEFT JOIN item_known ik ON s.article = ik.article
        LEFT JOIN item_unknown iu ON s.article_id = iu.article_id
        WHERE s.{BAD} IS NULL
        ORDER BY "user", s.day, s.{LINE}
    """
    reader = con.sql(sql).to_arrow_reader(rows)
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in reader:  # DuckDB hands out small batches: gather about `rows` of them
        pending.append(batch)
        size += batch.num_rows
        if size >= rows:
            yield pl.from_arrow(pa.Table.from_batches(pending))
            pending, size = [], 0
    if pending:
        yield pl.from_arrow(pa.Table.from_batches(pending))


def _side_table(table: pl.DataFrame | None, idmap: IdMap, key: str, internal: str) -> pl.DataFrame | None:
    """Rows of a side table whose id is in the dataset, keyed by the internal id (as in prepare)."""
    if table is None:
        return None
    out = idmap.encode(table, key, internal).filter(pl.col(internal).is_not_null())
    return out.select([internal, *[c for c in out.columns if c != internal]]).sort(internal)


def _protocol(bounds: SplitBounds) -> dict[str, Any]:
    """How to evaluate on this dataset like the competition (a config fragment for ``recsmith benchmark``)."""
    split = bounds.split_config()
    if split:
        split["drop_cold_users"] = False  # the competition scores every customer who bought in the test week
    return {"split": split, "evaluation": {"filter_seen": False, "ks": [12], "select_metric": "map@12"}}


def _dataset_manifest(
    data: DataConfig, root: Path, files: list[Path], inputs: dict[str, Any], bad: dict[str, int], n: int,
    user_map: IdMap, item_map: IdMap, items: pl.DataFrame | None, users: pl.DataFrame | None,
    protocol: dict[str, Any], timings: dict[str, float], *, features: bool,
) -> dict[str, Any]:  # fmt: skip
    """The manifest :class:`~recsmith.data.dataset.Dataset` reads (the keys of ``prepare`` + ``save``)."""
    return {
        "format_version": FORMAT_VERSION,
        "name": "hm",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "recsmith_version": __version__,
        "source": {**source_meta("hm", root, files, {}), "sha256": inputs.get("sha256")},
        "preparation": data.model_dump(mode="json", exclude={"path", "options", "source"}),
        "steps": {"raw_interactions": n, "after_dedupe": n, "after_k_core": n, "k_core_rounds": 0},
        "bad_rows": bad,
        "explicit": False,
        "counts": {"interactions": n, "users": len(user_map), "items": len(item_map)},
        "schema": {name: str(dtype) for name, dtype in INTERNAL_SCHEMA.items()},
        "tables": {
            "items": items.columns if items is not None else None,
            "users": users.columns if users is not None else None,
        },
        "features": FEATURES_DIR if features else None,
        "protocol": protocol,
        "timings": timings,
    }
