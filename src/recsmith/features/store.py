"""The feature store: encoders fitted on the training part, features written as Parquet / ``.npy``.

Layout, inside a prepared dataset (``DIR/features``)::

    manifest.json          format, inputs (files + content hash), config, split, per table: rows,
                           schema and the fitted state of every encoder; sequences; timings
    interactions.parquet   row-aligned with DIR/interactions.parquet (which has user, item,
                           timestamp, weight): part (Int8: 0 train, 1 validation, 2 test), the
                           interaction features, the time features
    users.parquet          one row per internal user id 0..n_users-1: user + features
    items.parquet          one row per internal item id 0..n_items-1: item + features
    vocab/<table>.<feature>.parquet          fitted vocabularies: value, id, count
    jagged/<table>.<feature>.{offsets,values}.npy   multi-valued features of users / items: row i's
                           ids are values[offsets[i]:offsets[i + 1]] (int64 offsets, int32 values:
                           the values / offsets of a TorchRec KeyedJaggedTensor for one key)
    sequences/{offsets,items,timestamps,parts}.npy  per-user chronological sequences (CSR): user u's
                           interactions are rows offsets[u]:offsets[u + 1] of the other arrays

Every ``.npy`` opens with ``np.load(path, mmap_mode="r")``; nothing is pickled.

:class:`FeatureWriter` fits and writes (used by :func:`build_feature_store` for a prepared dataset
in memory, and by the out-of-core H&M preparation, :mod:`recsmith.pipelines.prepare_hm`, batch by batch);
:class:`FeatureStore` reads a written store and encodes new rows with the fitted encoders
(serving).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recsmith import __version__
from recsmith.data.schema import Columns
from recsmith.errors import ConfigError, RecsmithError
from recsmith.features.arrays import NpyWriter, ParquetAppender, save_npy
from recsmith.features.config import FeatureConfig
from recsmith.features.time import DAY, cyclic_columns, cyclic_frame, history_features, whole_user_batches
from recsmith.features.transforms import Encoder, MultiValuedEncoder, check_inputs, make_encoder
from recsmith.utils.logging import log

FORMAT_VERSION = 1
FEATURES_DIR = "features"
MANIFEST = "manifest.json"
PART = "part"
TRAIN, VALID, TEST = 0, 1, 2
ENTITY_KEYS = {"users": Columns.User, "items": Columns.Item}
EXTERNAL_KEYS = {"users": Columns.UserId, "items": Columns.ItemId}


@dataclass(frozen=True)
class SplitBounds:
    """Timestamps (unix seconds) where validation and test start; see ``features.split``."""

    valid_start: int | None
    test_start: int | None

    @classmethod
    def from_last(cls, last_ts: int, test_days: int, valid_days: int) -> "SplitBounds":
        end = (last_ts // DAY + 1) * DAY  # midnight after the last day
        test = end - test_days * DAY if test_days else None
        valid = (test if test is not None else end) - valid_days * DAY if valid_days else None
        return cls(valid, test)

    def part(self, ts: pl.Expr) -> pl.Expr:
        expr = pl.lit(TRAIN, pl.Int8)
        if self.valid_start is not None:
            expr = pl.when(ts >= self.valid_start).then(pl.lit(VALID, pl.Int8)).otherwise(expr)
        if self.test_start is not None:
            expr = pl.when(ts >= self.test_start).then(pl.lit(TEST, pl.Int8)).otherwise(expr)
        return expr

    @property
    def train_end(self) -> int | None:
        return self.valid_start if self.valid_start is not None else self.test_start

    def split_config(self) -> dict[str, Any]:
        """The equivalent ``split`` section for ``recsmith benchmark`` (a temporal split)."""
        if self.test_start is None:
            return {}
        test_time = datetime.fromtimestamp(self.test_start, UTC)
        out: dict[str, Any] = {
            "method": "temporal",
            "test_time": test_time.date().isoformat() if self.test_start % DAY == 0 else test_time.isoformat(),
            "valid": self.valid_start is not None,
        }
        if self.valid_start is not None:
            out["valid_seconds"] = self.test_start - self.valid_start
        return out


class FeatureWriter:
    """Fits the configured encoders and writes a feature store into ``root``.

    Call order: :meth:`fit_interactions` (lazy training rows), :meth:`add_batch` for the
    interactions in (user, timestamp) order with whole users per batch, :meth:`close_interactions`,
    :meth:`write_table` for ``users`` and ``items``, then :meth:`finish`.
    """

    def __init__(self, cfg: FeatureConfig, root: Path, n_users: int, n_items: int, n_interactions: int) -> None:
        self.cfg = cfg
        self.root = root
        self.n_users, self.n_items, self.n_interactions = n_users, n_items, n_interactions
        self.encoders: dict[str, list[Encoder]] = {
            table: [make_encoder(name, spec) for name, spec in specs.items()] for table, specs in cfg.tables().items()
        }
        reserved = {Columns.User, Columns.Item, Columns.Timestamp, Columns.Weight, PART}
        if cfg.time is not None:
            reserved |= set(cyclic_columns(cfg.time.cyclic)) | set(cfg.time.history)
        for enc in self.encoders["interactions"]:
            if enc.name in reserved:
                raise ConfigError(
                    f"features.interactions.{enc.name}: the name is taken (by {sorted(reserved)}); "
                    f"name the feature differently and set its column, e.g. column: {enc.name}"
                )
        self.bounds = SplitBounds(None, None)
        self.fit_on = "train"
        self.tables: dict[str, dict[str, Any]] = {}
        self.timings: dict[str, float] = {}
        self._parts = np.zeros(3, dtype=np.int64)
        self._train_users = np.zeros(n_users, dtype=np.int64)
        self._train_items = np.zeros(n_items, dtype=np.int64)
        self._user_counts = np.zeros(n_users, dtype=np.int64)
        root.mkdir(parents=True, exist_ok=True)
        self._out = ParquetAppender(root / "interactions.parquet", dictionary=self._dictionary_columns())
        self._seq: dict[str, NpyWriter] = {}
        if cfg.sequences:
            (root / "sequences").mkdir(exist_ok=True)
            for name, dtype in (("items", np.int32), ("timestamps", np.int64), ("parts", np.int8)):
                self._seq[name] = NpyWriter(root / "sequences" / f"{name}.npy", dtype, n_interactions)

    # ------------------------------------------------------------------ interactions
    def fit_interactions(self, rows: pl.LazyFrame, last_ts: int | None = None) -> None:
        """Split bounds from the last timestamp, then fit the interaction encoders on the rows
        before the validation / test period (all rows when that leaves none, recorded as such)."""
        start = time.perf_counter()
        ts = pl.col(Columns.Timestamp)
        if last_ts is None:
            last_ts = int(rows.select(ts.max()).collect(engine="streaming").item())
        split = self.cfg.split
        self.bounds = SplitBounds.from_last(last_ts, split.test_days, split.valid_days)
        check_inputs("interactions", self.encoders["interactions"], rows.collect_schema().names())
        train = rows
        if self.bounds.train_end is not None:
            train = rows.filter(ts < self.bounds.train_end)
            if train.select(pl.len()).collect(engine="streaming").item() == 0:
                log("features: the split leaves no training interactions; the encoders are fitted on all of them")
                self.fit_on, train = "all (the split leaves no training interactions)", rows
        for enc in self.encoders["interactions"]:
            enc.fit(train)
        self.timings["fit_interactions"] = time.perf_counter() - start

    def transform_interactions(self, batch: pl.DataFrame) -> pl.DataFrame:
        """The feature columns of a batch sorted by (user, timestamp) holding whole users: ``part``,
        the interaction features and the time features (row-aligned with the batch)."""
        frame = batch.select(self.bounds.part(pl.col(Columns.Timestamp)).alias(PART))
        columns = [s for enc in self.encoders["interactions"] for s in enc.transform(batch)]
        time_spec = self.cfg.time
        if time_spec is not None:
            columns += cyclic_frame(batch[Columns.Timestamp], time_spec.cyclic).get_columns()
            history = history_features(
                batch[Columns.User].to_numpy(), batch[Columns.Timestamp].to_numpy(), time_spec.history
            )
            columns += [pl.Series(name, values, nan_to_null=True) for name, values in history.items()]
        return frame.with_columns(columns) if columns else frame

    def _dictionary_columns(self) -> list[str]:
        """Interaction feature columns with few distinct values (dictionary encoding pays off)."""
        columns = [PART]
        for enc in self.encoders["interactions"]:
            if enc.kind in ("categorical", "multi") or getattr(enc.spec, "transform", None) == "quantile":
                columns += enc.outputs
        if self.cfg.time is not None:
            columns += cyclic_columns(self.cfg.time.cyclic)
        return columns

    def add_batch(self, batch: pl.DataFrame) -> None:
        out = self.transform_interactions(batch)
        self._out.append(out)
        users = batch[Columns.User].to_numpy()
        items = batch[Columns.Item].to_numpy()
        parts = out[PART].to_numpy()
        self._user_counts += np.bincount(users, minlength=self.n_users)
        self._parts += np.bincount(parts, minlength=3)
        train = parts == TRAIN
        self._train_users += np.bincount(users[train], minlength=self.n_users)
        self._train_items += np.bincount(items[train], minlength=self.n_items)
        if self._seq:
            self._seq["items"].append(items)
            self._seq["timestamps"].append(batch[Columns.Timestamp].to_numpy())
            self._seq["parts"].append(parts)

    def add_batches(self, batches: Iterable[pl.DataFrame]) -> None:
        for batch in whole_user_batches(batches, Columns.User):
            self.add_batch(batch)

    def close_interactions(self) -> None:
        if self._out.rows == 0:
            raise RecsmithError("no interactions to write features for")
        self._out.close()
        if self._out.rows != self.n_interactions:
            raise RecsmithError(f"feature pass wrote {self._out.rows} interactions, expected {self.n_interactions}")
        for writer in self._seq.values():
            writer.close()
        if self._seq:
            offsets = np.zeros(self.n_users + 1, dtype=np.int64)
            np.cumsum(self._user_counts, out=offsets[1:])
            save_npy(self.root / "sequences" / "offsets.npy", offsets)
        # the schema of what was written (reading the file back would map all of it)
        self.tables["interactions"] = self._table_entry("interactions", self._out.rows, self._out.schema)

    # ------------------------------------------------------------------ users and items
    def write_table(self, table: str, frame: pl.DataFrame | None, external_ids: pl.Series) -> None:
        """Features of ``users`` or ``items``: ``frame`` is the side table keyed by the internal id
        (rows may be missing: they get missing values); ``external_ids`` the id map's ids."""
        start = time.perf_counter()
        key, n = ENTITY_KEYS[table], len(external_ids)
        full = pl.DataFrame({key: pl.int_range(0, n, dtype=pl.Int32, eager=True), EXTERNAL_KEYS[table]: external_ids})
        if frame is not None:
            frame = frame.drop(EXTERNAL_KEYS[table], strict=False).with_columns(pl.col(key).cast(pl.Int32))
            full = full.join(frame, on=key, how="left").sort(key)
        encoders = self.encoders[table]
        check_inputs(table, encoders, full.columns)
        counts = self._train_users if table == "users" else self._train_items
        fit_rows = full.filter(pl.Series(counts > 0))
        if fit_rows.height == 0:
            fit_rows = full
        for enc in encoders:
            enc.fit(fit_rows.lazy())
        out = full.select(key)
        jagged: dict[str, dict[str, str]] = {}
        for enc in encoders:
            out = out.with_columns(enc.transform(full))
            if isinstance(enc, MultiValuedEncoder):
                jagged[enc.name] = self._write_jagged(table, enc, full)
        out.write_parquet(self.root / f"{table}.parquet")
        self.tables[table] = self._table_entry(
            table, out.height, out.schema, fitted_on=int(fit_rows.height), jagged=jagged
        )
        self.timings[f"table_{table}"] = time.perf_counter() - start

    def _write_jagged(self, table: str, enc: MultiValuedEncoder, frame: pl.DataFrame) -> dict[str, str]:
        offsets, values = enc.jagged(frame)
        (self.root / "jagged").mkdir(exist_ok=True)
        files = {"offsets": f"jagged/{table}.{enc.name}.offsets.npy", "values": f"jagged/{table}.{enc.name}.values.npy"}
        save_npy(self.root / files["offsets"], offsets)
        save_npy(self.root / files["values"], values)
        return files

    def _table_entry(self, table: str, rows: int, schema: Any, **extra: Any) -> dict[str, Any]:
        features = {}
        for enc in self.encoders[table]:
            state = enc.state()
            for suffix, frame in enc.tables().items():
                (self.root / "vocab").mkdir(exist_ok=True)
                rel = f"vocab/{table}.{enc.name}" + ("" if suffix == "vocab" else f".{suffix}") + ".parquet"
                frame.write_parquet(self.root / rel)
                state.setdefault("files", {})[suffix] = rel
            state["spec"] = enc.spec.model_dump(mode="json")
            features[enc.name] = state
        entry = {"file": f"{table}.parquet", "rows": rows, "schema": {k: str(v) for k, v in dict(schema).items()},
                 "features": features, **extra}  # fmt: skip
        if table == "interactions" and self.cfg.time is not None:
            entry["time"] = {"cyclic": cyclic_columns(self.cfg.time.cyclic), "history": list(self.cfg.time.history)}
        return entry

    # ------------------------------------------------------------------ manifest
    def finish(self, inputs: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        parts = {"train": int(self._parts[TRAIN]), "valid": int(self._parts[VALID]), "test": int(self._parts[TEST])}
        bounds = self.bounds
        iso = lambda t: None if t is None else datetime.fromtimestamp(t, UTC).isoformat()  # noqa: E731
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "recsmith_version": __version__,
            "inputs": inputs,
            "config": self.cfg.model_dump(mode="json"),
            "split": {
                **self.cfg.split.model_dump(),
                "valid_start": iso(bounds.valid_start),
                "test_start": iso(bounds.test_start),
                "fit_on": self.fit_on,
                "interactions": parts,
                "split_config": bounds.split_config(),
            },
            "counts": {"users": self.n_users, "items": self.n_items, "interactions": self.n_interactions},
            "tables": self.tables,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            **(extra or {}),
        }
        if self.cfg.sequences:
            manifest["sequences"] = {
                "dir": "sequences",
                "files": {"offsets": "int64", "items": "int32", "timestamps": "int64", "parts": "int8"},
                "users": self.n_users,
                "interactions": self.n_interactions,
            }
        (self.root / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        return manifest


# ------------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class Sequences:
    """Per-user chronological sequences (CSR, memory-mapped): user ``u``'s interactions are rows
    ``offsets[u]:offsets[u + 1]`` of ``items``, ``timestamps`` and ``parts``."""

    offsets: np.ndarray
    items: np.ndarray
    timestamps: np.ndarray
    parts: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def user(self, u: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[u], self.offsets[u + 1]
        return self.items[a:b], self.timestamps[a:b]


class FeatureStore:
    """A written feature store (see the module docstring). ``path`` is the store or its dataset."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not (path / MANIFEST).exists() or (path / FEATURES_DIR / MANIFEST).exists():
            path = path / FEATURES_DIR
        if not (path / MANIFEST).exists():
            raise RecsmithError(f"{path} holds no feature store (prepare with features.enabled=true)")
        self.root = path
        self.manifest: dict[str, Any] = json.loads((path / MANIFEST).read_text())
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise RecsmithError(f"{path}: unsupported feature store format {self.manifest.get('format_version')!r}")
        self.config = FeatureConfig(**self.manifest["config"])

    def interactions(self) -> pl.LazyFrame:
        """The dataset's interactions (user, item, timestamp, weight) beside their features."""
        dataset = pl.scan_parquet(self.root.parent / "interactions.parquet")
        return pl.concat([dataset, pl.scan_parquet(self.root / "interactions.parquet")], how="horizontal")

    def table(self, table: str) -> pl.DataFrame:
        return pl.read_parquet(self.root / f"{table}.parquet")

    def _npy(self, rel: str) -> np.ndarray:
        return np.load(self.root / rel, mmap_mode="r", allow_pickle=False)

    def jagged(self, table: str, feature: str) -> tuple[np.ndarray, np.ndarray]:
        files = self.manifest["tables"][table]["jagged"][feature]
        return self._npy(files["offsets"]), self._npy(files["values"])

    def sequences(self) -> Sequences:
        if "sequences" not in self.manifest:
            raise RecsmithError(f"{self.root}: no sequences were written (features.sequences=false)")
        return Sequences(*(self._npy(f"sequences/{n}.npy") for n in ("offsets", "items", "timestamps", "parts")))

    def encoder(self, table: str, feature: str) -> Encoder:
        """The fitted encoder of ``table.feature``, as it was at preparation time."""
        state = self.manifest["tables"][table]["features"][feature]
        spec = getattr(self.config, table)[feature]
        tables = {suffix: pl.read_parquet(self.root / rel) for suffix, rel in state.get("files", {}).items()}
        return make_encoder(feature, spec, state=state, tables=tables)

    def encode(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        """The ``table`` features of new rows (e.g. a customer that arrived after preparation),
        with the encoders fitted at preparation time. ``frame`` has the input columns."""
        names = self.manifest["tables"][table]["features"]
        columns = [s for name in names for s in self.encoder(table, name).transform(frame)]
        return pl.DataFrame(columns)


# ------------------------------------------------------------------------------------------------
# a prepared dataset in memory


def build_feature_store(
    dataset: Any, cfg: FeatureConfig, root: Path, inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write the feature store of a :class:`~recsmith.data.dataset.Dataset` held in memory into
    ``root`` (the interactions are already sorted by (user, timestamp))."""
    frame = dataset.interactions.frame
    writer = FeatureWriter(cfg, root, dataset.n_users, dataset.n_items, frame.height)
    writer.fit_interactions(frame.lazy())
    start = time.perf_counter()
    writer.add_batches(frame.iter_slices(cfg.engine.batch_rows))
    writer.close_interactions()
    writer.timings["interactions"] = time.perf_counter() - start
    writer.write_table("users", dataset.users, dataset.user_map.external_ids)
    writer.write_table("items", dataset.items, dataset.item_map.external_ids)
    return writer.finish(inputs or {})


def save_with_features(
    dataset: Any, cfg: FeatureConfig, out: str | Path, *, overwrite: bool = False, inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Save ``dataset`` and its feature store (``out/features``) atomically, as one directory.

    The dataset manifest gains ``features`` (the store's directory) and ``protocol`` (the
    equivalent ``split`` section of ``features.split``, for ``recsmith benchmark``).
    """
    from recsmith.data.dataset import MANIFEST as DATASET_MANIFEST
    from recsmith.utils.atomic import atomic_dir

    with atomic_dir(out, overwrite=overwrite) as tmp:
        dataset.save(tmp, overwrite=True)
        features = build_feature_store(dataset, cfg, tmp / FEATURES_DIR, inputs)
        manifest = json.loads((tmp / DATASET_MANIFEST).read_text())
        manifest["features"] = FEATURES_DIR
        manifest["protocol"] = {"split": features["split"]["split_config"]}
        (tmp / DATASET_MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
    dataset.manifest = manifest
    return features


def source_inputs(source: dict[str, Any]) -> dict[str, Any]:
    """Content hash of a source's files (``RawData.source["files"]``), or of its description when
    it reads none (generated data)."""
    import hashlib

    from recsmith.features.engine import InputHash

    files = [Path(f["path"]) for f in source.get("files", [])]
    if files:
        return InputHash(files).result()
    text = json.dumps(source, sort_keys=True, default=str)
    return {"files": [], "sha256": hashlib.sha256(text.encode()).hexdigest(), "generated": source}
