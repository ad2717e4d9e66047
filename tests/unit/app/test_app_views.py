"""The app's content without a browser: a tiny run of two taste groups (items named and pictured by
group), every view, and the messages for bad input. The text and image encoders are replaced by tiny
deterministic ones (as in the CLI tests): these tests check the app, not a transformer."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from PIL import Image

from recsmith.app import views
from recsmith.app.source import AppSource
from recsmith.config import validate_config
from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.pipelines.benchmark import run_benchmark
from recsmith.pipelines.export import export_bundle
from recsmith.runs import search

N_USERS, N_ITEMS = 40, 24
WORDS = ("blue denim jeans", "red silk scarf")
COLOURS = ((20, 40, 230), (230, 30, 30))
MODELS = {"popular": {}, "itemknn": {"k": 10}, "als": {"factors": 8, "iterations": 5, "num_threads": 1}}


def _bag_of_words(texts, model, *, cache_root, keys):
    out = np.zeros((len(texts), 32), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().split():
            out[row, zlib.crc32(word.encode()) % 32] += 1.0
    return out


def _mean_colour(paths, model, *, cache_root, keys):
    out = np.zeros((len(paths), 3), dtype=np.float32)
    for row, path in enumerate(paths):
        out[row] = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean(axis=(0, 1))
    return out, []


@pytest.fixture(autouse=True)
def fake_encoders(monkeypatch):
    monkeypatch.setattr(search, "_encode_texts", _bag_of_words)
    monkeypatch.setattr(search, "_encode_images", _mean_colour)


def build_run(root: Path) -> Path:
    """Users of group g buy items of parity g; item names and pictures tell the group."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(N_USERS):
        for i in rng.choice(N_ITEMS // 2, size=6, replace=False):
            users.append(u)
            items.append(int(i) * 2 + u % 2)
    frame = pl.DataFrame(
        {"user": users, "item": items, "timestamp": np.arange(len(users)), "weight": np.ones(len(users))}
    )
    table = pl.DataFrame(
        {
            "item": np.arange(N_ITEMS, dtype=np.int32),
            "name": [f"{WORDS[i % 2]} no{i}" for i in range(N_ITEMS)],
            "category": ["blue" if i % 2 == 0 else "red" for i in range(N_ITEMS)],
            "image": [f"img/{i}.png" for i in range(N_ITEMS)],
        }
    )
    dataset = Dataset(
        Interactions(frame, N_USERS, N_ITEMS),
        IdMap([f"u{u}" for u in range(N_USERS)], kind="user"),
        IdMap([f"sku{i}" for i in range(N_ITEMS)], kind="item"),
        items=table,
        manifest={"name": "app"},
    )
    data = dataset.save(root / "data")
    (data / "img").mkdir()
    for i in range(N_ITEMS):
        Image.new("RGB", (4, 4), COLOURS[i % 2]).save(data / "img" / f"{i}.png")
    cfg = validate_config(
        {
            "split": {"method": "loo"},
            "evaluation": {"bootstrap": 0, "ks": [5], "select_metric": "ndcg@5"},
            "models": MODELS,
        }
    )
    run_benchmark(Dataset.load(data), cfg, list(MODELS), root / "run", dataset_path=data)
    return root / "run"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return build_run(tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def src(run_dir) -> AppSource:
    return AppSource.from_run(run_dir)


def test_source_lists_explaining_models_first_and_reads_the_catalogue(src) -> None:
    assert src.model_names[-1] == "popular" and set(src.model_names) == set(MODELS)
    assert src.names[3] == f"{WORDS[1]} no3"
    assert src.images[3].is_file() and src.images[3].name == "3.png"
    assert len(src.sample_users(10)) == 10 and src.sample_users(10)[0] == "u0"


def test_history_and_recommendations_with_explanations(src) -> None:
    history = views.user_history(src, "u1", "itemknn")
    assert history.known and "5 training items" in history.message  # 6 bought, the last one is the test item
    assert history.table["name"].str.startswith(WORDS[1]).all()  # u1 is of group 1
    assert len(history.gallery) == 5 and all(Path(p).is_file() for p, _ in history.gallery)
    view = views.user_recommendations(src, "u1", "itemknn", 10)
    assert list(view.table.columns) == views.LIST_COLUMNS and len(view.table) == 10
    assert view.table["name"].iloc[0].startswith(WORDS[1]) and view.note == ""
    text, reasons = views.explanation(view, 1)
    assert "Why itemknn recommends #1" in text and "item-item weight" in text
    assert len(reasons) and reasons["reason"].str.startswith(WORDS[1]).all()
    assert set(reasons["item_id"]) <= set(history.table["item_id"])
    assert view.table["because"].iloc[0] == "; ".join(reasons["reason"].iloc[:2])
    with pytest.raises(views.AppInputError, match="no recommendation number 11"):
        views.explanation(view, 11)


def test_two_models_side_by_side_with_overlap_and_list_metrics(src) -> None:
    a = views.user_recommendations(src, "u2", "itemknn", 5)
    b = views.user_recommendations(src, "u2", "als", 5)
    shared = len(set(a.table["item_id"]) & set(b.table["item_id"]))
    assert f"{shared} of 5 items in common" in views.overlap(a, b)
    fold_in_text, _ = views.explanation(b, 1)
    assert "embedding space" in fold_in_text
    metrics = views.list_metrics(src, [a, b])
    assert list(metrics["model"]) == ["itemknn", "als"]
    assert list(metrics["diversity of"]) == ["category", "category"]  # the catalogue's category column
    assert np.isfinite(metrics.drop(columns=["model", "diversity of"]).to_numpy(dtype=float)).all()
    # the first list is all of the user's group, so all one category: no category diversity
    assert metrics["diversity (ILD)"].iloc[0] == pytest.approx(0.0)


def test_unknown_user_gets_a_message_and_the_cold_start_list(src) -> None:
    history = views.user_history(src, "nobody", "itemknn")
    assert not history.known and "Unknown user id `nobody`" in history.message and "u0, u1, u2" in history.message
    view = views.user_recommendations(src, "nobody", "itemknn", 5)
    assert "cold start" in view.note and len(view.table) == 5
    text, _ = views.explanation(view, 1)
    assert "popularity" in text
    for bad in ("", "   ", "x" * 10_000):
        with pytest.raises(views.AppInputError):
            views.user_history(src, bad, "itemknn")


def test_a_model_without_explanations_says_so(src) -> None:
    view = views.user_recommendations(src, "u1", "popular", 5)
    assert "does not have the 'explanations' ability" in view.note
    text, reasons = views.explanation(view, 1)
    assert "does not have the 'explanations' ability" in text and reasons.empty


def test_similar_items_and_their_errors(src) -> None:
    title, table = views.similar_items(src, "itemknn", "sku4", 5)
    assert "Items like `sku4`" in title and table["name"].str.startswith(WORDS[0]).all()
    with pytest.raises(views.AppInputError, match="unknown item id `nope`.*sku0, sku1, sku2"):
        views.similar_items(src, "itemknn", "nope", 5)
    with pytest.raises(views.AppInputError, match="does not have the 'item_similarity' ability"):
        views.similar_items(src, "popular", "sku4", 5)


def test_text_search_and_bad_queries(src) -> None:
    text = views.TextSearch(src, ["name"], None)
    found = text.search("silk scarf", 5)
    assert len(found) == 5 and found["name"].str.startswith(WORDS[1]).all()
    for bad, message in (("", "empty"), ("  ", "empty"), ("a" * 10_000, "10,000 characters")):
        with pytest.raises(views.AppInputError, match=message):
            text.search(bad, 5)
    broken = views.TextSearch(src, ["no_such_column"], None)
    with pytest.raises(views.AppInputError, match="text search is not available.*no_such_column"):
        broken.search("silk", 5)


def test_image_search_and_files_that_are_not_images(src, tmp_path) -> None:
    picture = tmp_path / "q.png"
    Image.new("RGB", (8, 8), COLOURS[1]).save(picture)
    found = views.image_search(src, str(picture), 4, "fake-model")
    assert found["name"].str.startswith(WORDS[1]).all()
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(views.AppInputError, match="`notes.png` is not an image"):
        views.image_search(src, str(text), 4, "fake-model")
    with pytest.raises(views.AppInputError, match="--image-model"):
        views.image_search(src, str(picture), 4, None)
    with pytest.raises(views.AppInputError, match="no image uploaded"):
        views.image_search(src, None, 4, "fake-model")


def test_anonymous_session_is_explained_by_its_items(src) -> None:
    session = ["sku1", "sku3", "sku5"]
    view = views.session_recommendations(src, session, "itemknn", 5)
    assert view.table["name"].str.startswith(WORDS[1]).all()
    assert not set(view.table["item_id"]) & set(session)
    _, reasons = views.explanation(view, 1)
    assert set(reasons["item_id"]) <= set(session) and len(reasons)
    empty = views.session_recommendations(src, [], "itemknn", 5)
    assert "empty session" in empty.note


def test_bundles_compare_one_catalogue(run_dir, tmp_path) -> None:
    a = export_bundle(run_dir, "itemknn", tmp_path / "knn")
    b = export_bundle(run_dir, "als", tmp_path / "als")
    src = AppSource.from_bundles([a, b])
    assert src.model_names == ["knn", "als"] and src.names[0] == f"{WORDS[0]} no0"
    view = views.user_recommendations(src, "u1", "als", 5)
    assert view.explanations[0]["method"] == "fold_in"
    with pytest.raises(views.AppInputError, match="export ... --text-columns"):
        views.TextSearch(src, ["name"], None).search("silk", 5)
    with pytest.raises(RecsmithError, match="not a model bundle"):
        AppSource.from_bundles([tmp_path])


def test_guard_turns_failures_into_messages() -> None:
    pytest.importorskip("gradio")
    from recsmith.app.ui import _guard

    @_guard(2)
    def bad_input():
        raise views.AppInputError("that id is unknown")

    @_guard(2)
    def bug():
        raise KeyError("internal")

    message, _ = bad_input()
    assert message == "⚠️ that id is unknown"
    message, _ = bug()
    assert "Something went wrong (KeyError)" in message and "Traceback" not in message and "internal" not in message
