"""The ``features`` section of the run config: which columns become which features, per table.

Example (YAML)::

    features:
      enabled: true
      split: {test_days: 7, valid_days: 7}     # encoders are fitted on what comes before
      interactions:
        price: {kind: numeric, transform: log1p}
        channel: {kind: categorical, column: sales_channel_id}
      users:
        age: {kind: numeric, transform: quantile, buckets: 10}
        postal_code: {kind: categorical, hash_buckets: 100000}
      items:
        colour: {kind: categorical, column: colour_group_name, min_count: 5}
        tags: {kind: multi, columns: [graphical_appearance_name, perceived_colour_master_name]}
        description: {kind: text, column: detail_desc}
      time: {cyclic: [dow, month, season], history: [days_since_first, days_since_prev, velocity]}

The key of a feature is its output column; ``column`` (or ``columns``) names the input, the key by
default. ``preset: hm`` fills in the H&M features (:mod:`recsmith.features.presets`); explicit
keys override the preset's, key by key. Any key can be set with ``--set``, e.g.
``--set features.items.colour.min_count=10``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from recsmith.utils.dicts import deep_merge


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _VocabSpec(_Section):
    min_count: int = Field(1, ge=1, description="values seen fewer times in the fitting rows go to the OOV bucket(s)")
    max_size: int | None = Field(None, ge=1, description="keep at most this many of the most frequent values")
    oov_buckets: int = Field(1, ge=1, description="out-of-vocabulary values are hashed into this many ids")


class CategoricalSpec(_VocabSpec):
    """One value per row -> an Int32 id: 0 = missing, 1..V the vocabulary by descending frequency
    (ties by value), V+1..V+oov_buckets the out-of-vocabulary values (hashed). With
    ``hash_buckets`` there is no vocabulary: id = 1 + hash(value) mod hash_buckets."""

    kind: Literal["categorical"] = "categorical"
    column: str | None = None
    hash_buckets: int | None = Field(None, ge=1, description="hash into this many ids instead of a vocabulary")


class MultiSpec(_VocabSpec):
    """Several values per row (a list column, a string split at ``sep``, or several columns) ->
    a list of Int32 ids encoded like :class:`CategoricalSpec` (missing values are dropped), also
    written as jagged ``offsets`` / ``values`` arrays."""

    kind: Literal["multi"] = "multi"
    column: str | None = None
    columns: list[str] | None = Field(None, description="several columns, one value each")
    sep: str | None = Field(None, description="split a string column at this separator")


class NumericSpec(_Section):
    """A number -> Float32 ``standardize`` (z-score), ``log1p`` (z-score of log1p of the value
    clipped at 0), ``none`` (the value as Float32), or ``quantile``: an Int32 bucket 1..buckets
    between training quantiles (0 = missing). Missing values become 0 (the training mean) for the
    z-scores."""

    kind: Literal["numeric"] = "numeric"
    column: str | None = None
    transform: Literal["standardize", "log1p", "quantile", "none"] = "standardize"
    buckets: int = Field(10, ge=2, description="quantile: number of buckets")


class TextSpec(_Section):
    """Text kept as a string for the text encoders (several columns are joined with ``sep``,
    skipping missing ones)."""

    kind: Literal["text"] = "text"
    column: str | None = None
    columns: list[str] | None = None
    sep: str = " | "


class ImageSpec(_Section):
    """An image path kept as a string: a column of paths, or a ``template`` whose ``{col}`` is a
    column's value and ``{col:N}`` its first N characters, e.g. ``images/{article_id:3}/{article_id}.jpg``."""

    kind: Literal["image"] = "image"
    column: str | None = None
    template: str | None = None


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return value.get("kind", "categorical")
    return getattr(value, "kind", "categorical")


FeatureSpec = Annotated[
    Annotated[CategoricalSpec, Tag("categorical")]
    | Annotated[MultiSpec, Tag("multi")]
    | Annotated[NumericSpec, Tag("numeric")]
    | Annotated[TextSpec, Tag("text")]
    | Annotated[ImageSpec, Tag("image")],
    Discriminator(_kind),
]

Cyclic = Literal["hour", "dow", "month", "season"]
History = Literal["days_since_first", "days_since_prev", "velocity"]


class TimeSpec(_Section):
    """Time features of each interaction, from its own timestamp and the user's earlier ones only.

    ``cyclic``: ``<name>_sin`` / ``<name>_cos`` of the hour of day, day of week, month and
    meteorological season. ``history``: days since the user's first interaction, days since
    the user's previous interaction at an earlier time (null for none), and velocity: the user's
    interactions before this timestamp per day since the first (at least one day).
    """

    cyclic: list[Cyclic] = Field(default_factory=lambda: list(get_args(Cyclic)))  # all of them
    history: list[History] = Field(default_factory=lambda: list(get_args(History)))


class SplitSpec(_Section):
    """Which interactions the encoders are fitted on: all but the last ``valid_days`` +
    ``test_days`` calendar days (UTC) before the last timestamp's day. 0 and 0 fit on everything."""

    test_days: int = Field(0, ge=0, description="the last days are test")
    valid_days: int = Field(0, ge=0, description="the days before the test days are validation")


class EngineSpec(_Section):
    """Resources of the columnar engines."""

    memory_limit: str = Field(
        "1500MB", description="DuckDB memory_limit for the steps it runs (the sort); it spills beyond"
    )
    threads: int | None = Field(None, ge=1, description="engine threads (default: all cores)")
    temp_dir: str | None = Field(None, description="spill directory (default: inside the output's temporary directory)")
    batch_rows: int = Field(1_000_000, ge=1000, description="interactions per batch in the feature pass")


class FeatureConfig(_Section):
    """The feature store of a prepared dataset (see :mod:`recsmith.features`)."""

    enabled: bool = Field(False, description="write the feature store with the prepared dataset")
    preset: Literal["hm"] | None = Field(None, description="named defaults, merged under the keys set here")
    interactions: dict[str, FeatureSpec] = Field(default_factory=dict)
    users: dict[str, FeatureSpec] = Field(default_factory=dict)
    items: dict[str, FeatureSpec] = Field(default_factory=dict)
    time: TimeSpec | None = Field(default_factory=TimeSpec, description="null: no time features")
    sequences: bool = Field(True, description="write per-user chronological sequences (CSR .npy)")
    split: SplitSpec = Field(default_factory=SplitSpec)
    engine: EngineSpec = Field(default_factory=EngineSpec)

    @model_validator(mode="before")
    @classmethod
    def _merge_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset"):
            from recsmith.features.presets import PRESETS

            preset = PRESETS.get(data["preset"])
            if preset is not None:  # an unknown name fails the field's validation
                return deep_merge(preset, data)
        return data

    def tables(self) -> dict[str, dict[str, Any]]:
        return {"interactions": self.interactions, "users": self.users, "items": self.items}
