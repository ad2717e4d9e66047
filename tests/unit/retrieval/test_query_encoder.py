"""The history query encoder: torch == ONNX Runtime, int8 close, dynamic axes, fold-in semantics."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from recsmith.data.interactions import Interactions
from recsmith.models.registry import create_model

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from recsmith.retrieval.query_encoder import (  # noqa: E402
    OnnxEncoder,
    build_history_encoder,
    export_onnx,
    export_query_encoder,
    pad_histories,
    quantize_int8,
)


@pytest.fixture(scope="module", params=["als", "bpr"])
def model(request):
    rng = np.random.default_rng(0)
    n_users, n_items = 50, 80
    users = np.repeat(np.arange(n_users), 10)
    items = (users % 2) * 40 + rng.integers(0, 40, users.size)
    frame = pl.DataFrame(
        {"user": users, "item": items, "timestamp": np.arange(users.size), "weight": np.ones(users.size)}
    )
    inter = Interactions(frame.unique(["user", "item"], maintain_order=True), n_users, n_items)
    return create_model(request.param, {"factors": 8, "iterations": 5}).fit(inter)


def test_pad_histories():
    x = pad_histories([[1, 2, 3], [4], []], n_items=9, length=2)
    assert x.tolist() == [[2, 3], [4, 9], [9, 9]]


def test_torch_encoder_is_the_linear_fold_in(model):
    enc = build_history_encoder(model)
    V = model.item_factors.astype(np.float64)
    hist = [1, 5, 7]
    with torch.no_grad():
        u = enc(torch.from_numpy(pad_histories([hist], model.n_items, 6))).numpy()[0]
    alpha = model.config.alpha if model.name == "als" else 10.0
    reg = model.config.regularization if model.name == "als" else 1.0
    expected = np.linalg.solve(V.T @ V + reg * np.eye(V.shape[1]), (1 + alpha) * V[hist].sum(axis=0))
    np.testing.assert_allclose(u[: V.shape[1]], expected, rtol=1e-3, atol=1e-4)
    assert u.shape[0] == V.shape[1] + (1 if model.item_bias is not None else 0)
    if model.item_bias is not None:
        assert u[-1] == 1.0


def test_onnx_matches_torch_and_int8_is_close(model, tmp_path):
    enc = build_history_encoder(model)
    path = export_onnx(enc, tmp_path / "q.onnx", model.n_items)
    q8 = quantize_int8(path, tmp_path / "q8.onnx")
    assert q8.stat().st_size < path.stat().st_size
    for batch, length in ((1, 1), (7, 3), (16, 20)):  # dynamic batch and history axes
        x = np.random.default_rng(batch).integers(0, model.n_items + 1, size=(batch, length))
        with torch.no_grad():
            ref = enc(torch.from_numpy(x)).numpy()
        out = OnnxEncoder(path)(x)
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
        out8 = OnnxEncoder(q8)(x)
        assert out8.shape == ref.shape
        assert np.abs(out8 - ref).max() <= 0.1 * np.abs(ref).max() + 1e-6


def test_export_query_encoder_manifest(model, tmp_path):
    entry = export_query_encoder(model, tmp_path / "encoders", quantize=True)["query_encoder"]
    assert entry["file"] == "encoders/query_encoder.onnx" and entry["int8_file"] == "encoders/query_encoder.int8.onnx"
    assert (tmp_path / "encoders" / "query_encoder.onnx").is_file()
    assert (tmp_path / "encoders" / "query_encoder.int8.onnx").is_file()
    assert entry["input"]["padding"] == model.n_items
