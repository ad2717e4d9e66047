"""MovieLens (GroupLens) in its three distribution layouts. ``path`` is the data directory.

``movielens-100k`` (ml-100k)
    ``u.data``: ``user\\titem\\trating\\tunix_ts``. ``u.item`` (latin-1): 24 ``|``-separated fields,
    ``id|title|release date|video release date|IMDb URL|`` then 19 genre flags (0/1), named by
    ``u.genre`` (``name|index``) when present, else by the standard 19 names. ``u.user``:
    ``id|age|gender|occupation|zip``.
``movielens-1m`` (ml-1m)
    ``ratings.dat``: ``UserID::MovieID::Rating::Timestamp``; ``movies.dat``:
    ``MovieID::Title::Genres`` (genres ``|``-separated); ``users.dat``:
    ``UserID::Gender::Age::Occupation::Zip-code`` (age and occupation are the README's codes).
    All latin-1.
``movielens`` (ml-20m, ml-25m, ml-latest, ml-latest-small)
    UTF-8 CSV with a header: ``ratings.csv`` (``userId,movieId,rating,timestamp``) and
    ``movies.csv`` (``movieId,title,genres``; titles with commas are quoted).

The ratings file is required; the item and user files are read when present. Interactions are
explicit: ``weight`` is the rating, ``timestamp`` the unix time. Items: ``item_id``, ``name`` (the
title), ``genres`` (list of names; ``(no genres listed)`` gives an empty list), plus
``release_date`` and ``imdb_url`` for 100K. Users: ``user_id`` plus the demographic fields. Ids
must be integers and are kept as their decimal strings.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import polars as pl

from recsmith.data.schema import Columns
from recsmith.data.sources._text import Rows, check_policy, directory, read_table, source_meta, take_options
from recsmith.data.sources.base import BadRowPolicy, RawData, SourceOptions, register_source, require_file

GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
]  # fmt: skip
_NO_GENRES = "(no genres listed)"
_RATING_TYPES = {"rating": pl.Float64(), "timestamp": pl.Int64()}
#: the fields of u.data and ratings.dat, in file order (a tuple: ``_ratings`` takes them one by one)
_RATING_FIELDS = ("user_id", "item_id", "rating", "timestamp")


def _ratings(rows: Rows, user: str, item: str, rating: str, ts: str, bad_rows: dict[str, int]) -> pl.DataFrame:
    rows.to_id(user)
    rows.to_id(item)
    rows.to_float(rating)
    rows.to_int(ts)
    frame = rows.finish(bad_rows, what="interactions")
    return frame.select(
        pl.col(user).alias(Columns.UserId),
        pl.col(item).alias(Columns.ItemId),
        pl.col(ts).alias(Columns.Timestamp),
        pl.col(rating).alias(Columns.Weight),
    )


def _bad_genre_flag(genre: str, row: dict[str, Any]) -> str:
    return f"expected a genre flag 0 or 1, got {row[genre]!r}"


def _split_genres(column: str) -> pl.Expr:
    genres = pl.col(column).str.strip_chars()
    return (
        pl.when(genres.is_in(["", _NO_GENRES])).then(pl.lit([], pl.List(pl.Utf8))).otherwise(genres.str.split("|"))
    ).alias("genres")


def _optional(path: Path) -> Path | None:
    return path if path.exists() else None


@register_source(
    "movielens-100k", summary="MovieLens 100K: the ml-100k directory (u.data; u.item names and genres, u.user)"
)
def read_movielens_100k(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """MovieLens 100K: ``u.data`` (+ ``u.item``, ``u.genre``, ``u.user``) in directory ``path``."""
    policy = check_policy(on_bad_rows)
    take_options("movielens-100k", options, SourceOptions)
    root = directory(path, "MovieLens 100K")
    data = require_file(root / "u.data", "MovieLens 100K ratings (u.data)")
    bad: dict[str, int] = {}
    files = [data]
    types = {"user_id": pl.Int64(), "item_id": pl.Int64(), **_RATING_TYPES}
    rows = read_table(data, policy=policy, sep="\t", names=list(_RATING_FIELDS), types=types)
    interactions = _ratings(rows, *_RATING_FIELDS, bad)

    genres = GENRES_100K
    if genre_file := _optional(root / "u.genre"):
        files.append(genre_file)
        # always strict: a skipped genre would shift every flag of u.item
        rows = read_table(genre_file, policy="error", sep="|", names=["genre", "index"], encoding="latin-1")
        rows.to_int("index")
        rows.unique("index", "genre index")
        genres = rows.finish(bad, what="genres").sort("index")["genre"].to_list()

    items = None
    if item_file := _optional(root / "u.item"):
        files.append(item_file)
        rows = read_table(
            item_file, policy=policy, sep="|", encoding="latin-1",
            names=["item_id", "title", "release_date", "video_release_date", "imdb_url", *genres],
        )  # fmt: skip
        rows.to_id("item_id")
        rows.to_date("release_date", "%d-%b-%Y", required=False)
        rows.to_date("video_release_date", "%d-%b-%Y", required=False)
        for g in genres:
            rows.flag(~pl.col(g).is_in(["0", "1"]), g, partial(_bad_genre_flag, g))
        rows.unique("item_id", "item id")
        frame = rows.finish(bad, what="items")
        items = frame.select(
            Columns.ItemId,
            pl.col("title").alias(Columns.Name),
            "release_date",
            pl.when(pl.col("imdb_url") != "").then(pl.col("imdb_url")).alias("imdb_url"),
            pl.concat_list([pl.when(pl.col(g) == "1").then(pl.lit(g)) for g in genres])
            .list.drop_nulls()
            .alias("genres"),
        )

    users = None
    if user_file := _optional(root / "u.user"):
        files.append(user_file)
        names = ["user_id", "age", "gender", "occupation", "zip_code"]
        rows = read_table(user_file, policy=policy, sep="|", encoding="latin-1", names=names)
        rows.to_id("user_id")
        rows.to_int("age", dtype=pl.Int32())
        rows.unique("user_id", "user id")
        users = rows.finish(bad, what="users")

    meta = source_meta("movielens-100k", root, files, options)
    return RawData(interactions, items=items, users=users, source=meta, bad_rows=bad, explicit=True)


@register_source("movielens-1m", summary="MovieLens 1M: the ml-1m directory (ratings.dat; movies.dat, users.dat)")
def read_movielens_1m(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """MovieLens 1M: ``ratings.dat`` (+ ``movies.dat``, ``users.dat``) in directory ``path``."""
    policy = check_policy(on_bad_rows)
    take_options("movielens-1m", options, SourceOptions)
    root = directory(path, "MovieLens 1M")
    data = require_file(root / "ratings.dat", "MovieLens 1M ratings (ratings.dat)")
    bad: dict[str, int] = {}
    files = [data]
    rows = read_table(data, policy=policy, sep="::", names=list(_RATING_FIELDS), encoding="latin-1")
    interactions = _ratings(rows, *_RATING_FIELDS, bad)

    items = None
    if movie_file := _optional(root / "movies.dat"):
        files.append(movie_file)
        rows = read_table(movie_file, policy=policy, sep="::", names=["item_id", "title", "genres"], encoding="latin-1")
        rows.to_id("item_id")
        rows.unique("item_id", "item id")
        frame = rows.finish(bad, what="items")
        items = frame.select(Columns.ItemId, pl.col("title").alias(Columns.Name), _split_genres("genres"))

    users = None
    if user_file := _optional(root / "users.dat"):
        files.append(user_file)
        rows = read_table(
            user_file, policy=policy, sep="::", encoding="latin-1",
            names=["user_id", "gender", "age", "occupation", "zip_code"],
        )  # fmt: skip
        rows.to_id("user_id")
        rows.to_int("age", dtype=pl.Int32())
        rows.to_int("occupation", dtype=pl.Int32())
        rows.unique("user_id", "user id")
        users = rows.finish(bad, what="users")

    meta = source_meta("movielens-1m", root, files, options)
    return RawData(interactions, items=items, users=users, source=meta, bad_rows=bad, explicit=True)


@register_source(
    "movielens", summary="MovieLens 20M / 25M / latest: a directory with ratings.csv (+ movies.csv), CSV format"
)
def read_movielens_csv(path: str | Path, *, on_bad_rows: BadRowPolicy = "error", **options: Any) -> RawData:
    """MovieLens 20M / 25M / latest: ``ratings.csv`` (+ ``movies.csv``) in directory ``path``."""
    policy = check_policy(on_bad_rows)
    take_options("movielens", options, SourceOptions)
    root = directory(path, "MovieLens")
    data = require_file(root / "ratings.csv", "MovieLens ratings (ratings.csv)")
    bad: dict[str, int] = {}
    files = [data]
    types = {"userId": pl.Int64(), "movieId": pl.Int64(), **_RATING_TYPES}
    rows = read_table(data, policy=policy, sep=",", quoted=True, types=types)
    rows.require_columns(list(types))
    interactions = _ratings(rows, "userId", "movieId", "rating", "timestamp", bad)

    items = None
    if movie_file := _optional(root / "movies.csv"):
        files.append(movie_file)
        rows = read_table(movie_file, policy=policy, sep=",", quoted=True, types={"movieId": pl.Int64()})
        rows.require_columns(["movieId", "title", "genres"])
        rows.to_id("movieId")
        rows.unique("movieId", "item id")
        frame = rows.finish(bad, what="items")
        items = frame.select(
            pl.col("movieId").alias(Columns.ItemId), pl.col("title").alias(Columns.Name), _split_genres("genres")
        )

    meta = source_meta("movielens", root, files, options)
    return RawData(interactions, items=items, source=meta, bad_rows=bad, explicit=True)
