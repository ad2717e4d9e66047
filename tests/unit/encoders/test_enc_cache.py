"""EmbeddingCache: rows reused only for the same (key, model, content), no pickle, atomic writes;
and the encoders compute only what the cache lacks."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from recsmith.encoders import EmbeddingCache, TextEncoder, encode_images, encode_texts
from recsmith.errors import DataError


def _vectors(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def test_the_cache_imports_without_torch():
    code = "import sys; from recsmith.encoders import EmbeddingCache; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_get_returns_hits_only_for_matching_key_and_hash(tmp_path):
    cache = EmbeddingCache(tmp_path)
    vectors, hit = cache.get("m", ["a", "b"], ["h1", "h2"])
    assert not hit.any() and len(vectors) == 0
    v = _vectors(2)
    cache.put("m", ["a", "b"], ["h1", "h2"], v)
    got, hit = cache.get("m", ["b", "x", "a", "a"], ["h2", "h1", "CHANGED", "h1"])
    assert hit.tolist() == [True, False, False, True]
    np.testing.assert_array_equal(got, v[[1, 0]])
    assert not cache.get("other-model", ["a"], ["h1"])[1].any()  # models never share rows


def test_put_replaces_a_changed_row_and_keeps_the_rest(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put("m", ["a", "b"], ["h1", "h2"], _vectors(2))
    new = _vectors(1, seed=1)
    cache.put("m", ["a"], ["h1-new"], new)
    got, hit = cache.get("m", ["a", "b"], ["h1-new", "h2"])
    assert hit.all()
    np.testing.assert_array_equal(got[0], new[0])
    meta = json.loads((cache.path("m") / "meta.json").read_text())
    assert meta["n"] == 2 and meta["dim"] == 4 and meta["model"] == "m"


def test_a_reader_sees_rows_that_another_writer_added(tmp_path):
    reader, writer = EmbeddingCache(tmp_path), EmbeddingCache(tmp_path)
    writer.put("m", ["a"], ["h"], _vectors(1))
    assert reader.get("m", ["a", "b"], ["h", "h"])[1].tolist() == [True, False]  # now held in memory
    writer.put("m", ["b"], ["h"], _vectors(1, seed=2))
    assert reader.get("m", ["a", "b"], ["h", "h"])[1].tolist() == [True, True]


def test_files_are_plain_arrays_without_pickle(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put("text:all-MiniLM-L6-v2|max_length=64", ["item/1"], ["h"], _vectors(1))
    folder = cache.path("text:all-MiniLM-L6-v2|max_length=64")
    assert folder.parent == tmp_path and "/" not in folder.name
    keys = np.load(folder / "keys.npy", allow_pickle=False)
    assert keys.dtype.kind == "U" and keys.tolist() == ["item/1"]
    assert np.load(folder / "vectors.npy", allow_pickle=False).dtype == np.float32


def test_a_failed_put_leaves_the_previous_cache_intact(tmp_path, monkeypatch):
    cache = EmbeddingCache(tmp_path)
    v = _vectors(1)
    cache.put("m", ["a"], ["h"], v)
    real_save = np.save

    def failing_save(path, array, **kw):
        if str(path).endswith("vectors.npy"):
            raise OSError("disk full")
        real_save(path, array, **kw)

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        cache.put("m", ["b"], ["h2"], _vectors(1, seed=3))
    monkeypatch.undo()
    got, hit = cache.get("m", ["a", "b"], ["h", "h2"])
    assert hit.tolist() == [True, False]
    np.testing.assert_array_equal(got, v)
    assert [p.name for p in tmp_path.iterdir()] == [cache.path("m").name]  # no temporary left behind


def test_wrong_dim_and_damaged_cache_are_data_errors(tmp_path):
    cache = EmbeddingCache(tmp_path)
    cache.put("m", ["a"], ["h"], _vectors(1))
    with pytest.raises(DataError, match="holds 4-d vectors, got 8-d"):
        cache.put("m", ["b"], ["h"], _vectors(1, dim=8))
    (cache.path("m") / "vectors.npy").write_bytes(b"garbage")
    with pytest.raises(DataError, match="(?s)unreadable.*delete this folder"):
        cache.get("m", ["a"], ["h"])


@pytest.fixture(scope="module")
def counted_encoder():
    """The packaged MiniLM with a counter of the texts its forward sees."""
    enc = TextEncoder()
    enc.seen = []
    original = enc.forward

    def forward(tokens):
        enc.seen.append(int(tokens["input_ids"].shape[0]))
        return original(tokens)

    enc.forward = forward
    return enc


def test_encode_texts_computes_only_what_the_cache_lacks(tmp_path, counted_encoder):
    enc, cache = counted_encoder, EmbeddingCache(tmp_path)
    texts, keys = ["blue jeans", "denim trousers", "lipstick"], ["i1", "i2", "i3"]
    enc.seen.clear()
    first = encode_texts(texts, enc, cache=cache, keys=keys, progress=False)
    assert sum(enc.seen) == 3
    enc.seen.clear()
    second = encode_texts(texts, enc, cache=cache, keys=keys, progress=False)
    assert enc.seen == []
    np.testing.assert_array_equal(first, second)
    # the text of i2 changed: only it is encoded again, and the cache now holds the new vector
    texts[1] = "red lipstick"
    third = encode_texts(texts, enc, cache=cache, keys=keys, progress=False)
    assert sum(enc.seen) == 1
    np.testing.assert_array_equal(third[[0, 2]], first[[0, 2]])
    assert third[1] @ first[2] > first[1] @ first[2]
    enc.seen.clear()
    np.testing.assert_array_equal(encode_texts(texts, enc, cache=cache, keys=keys, progress=False), third)
    assert enc.seen == []


def test_interrupted_encoding_keeps_the_finished_batches(tmp_path, counted_encoder):
    enc, cache = counted_encoder, EmbeddingCache(tmp_path)
    texts = [f"product number {i}" for i in range(6)]
    calls = []
    inner = enc.forward

    def flaky(tokens):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return inner(tokens)

    enc.forward = flaky
    try:
        with pytest.raises(KeyboardInterrupt):
            encode_texts(texts, enc, batch_size=2, cache=cache, progress=False)
    finally:
        enc.forward = inner
    enc.seen.clear()
    encode_texts(texts, enc, batch_size=2, cache=cache, progress=False)
    assert sum(enc.seen) == 4  # the first batch of 2 came from the cache


def test_encode_images_reuses_cached_rows(tmp_path, tiny_vit, image_files):
    cache = EmbeddingCache(tmp_path)
    paths = [image_files["red"], image_files["missing"], image_files["green"]]
    first, errors = encode_images(paths, str(tiny_vit), cache=cache, keys=["a", "b", "c"], progress=False)
    assert [e.index for e in errors] == [1]
    meta = json.loads(next(tmp_path.glob("*/meta.json")).read_text())
    assert meta["n"] == 2  # the failed image is not cached
    from recsmith.encoders import ImageEncoder

    enc = ImageEncoder(str(tiny_vit))
    enc.forward = lambda pixel_values: pytest.fail("a cached image was encoded again")
    second, _ = encode_images(paths, enc, cache=cache, keys=["a", "b", "c"], progress=False)
    np.testing.assert_array_equal(first, second)
