"""The query encoder of embedding models: their user side as a torch module, exported to ONNX for
ONNX Runtime (the pretrained text / image encoders are :mod:`recsmith.encoders`; the feature store's
column transforms :mod:`recsmith.features.transforms`).

:class:`HistoryEncoder` maps a user's item history to a query vector for the item index, for any
model with the ``fold_in`` ability (:class:`~recsmith.models.abilities.FoldIn`: als, bpr, mf,
two_tower), with the model's own constants. It is the linear part of the implicit-ALS fold-in::

    u = (V^T V + lambda I)^-1 (1 + alpha) sum_{i in history} v_i        # (d,)

i.e. the model's fold-in (what :mod:`recsmith.serving.online` uses) without the ``alpha V_h^T V_h``
term inside the inverse, which makes it one embedding-bag sum and one ``d x d`` matrix product --
operators every runtime has (an exact solve has no ONNX operator). For models with an item bias the output gets a
trailing 1, to search the ``[v, b]`` index by inner product.

Tensor shapes::

    items:  (B, L) int64, item ids padded with n_items (the padding row is all zeros)
    output: (B, d) float32, or (B, d + 1) with an item bias

:func:`export_onnx` writes the module with dynamic batch and history axes (opset 17);
:func:`quantize_int8` applies ONNX Runtime's dynamic int8 quantisation (weights of MatMul and
Gather to int8, activations quantised on the fly); :class:`OnnxEncoder` runs a file with ONNX Runtime.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from recsmith.errors import RecsmithError
from recsmith.models.abilities import FoldIn, missing_ability
from recsmith.models.base import Recommender

OPSET = 17


def factor_matrices(model: Recommender) -> tuple[np.ndarray, np.ndarray | None, float, float]:
    """``(item_embeddings, item_biases, alpha, lambda)`` of a model with the ``fold_in`` ability."""
    if not isinstance(model, FoldIn):
        raise RecsmithError(
            f"{missing_ability(model, FoldIn)}, so it has no query encoder to export: the encoder folds a "
            "history into a user vector; export a model with fold_in (als, bpr, mf, two_tower)"
        )
    constants = model.fold_in_constants()
    return model.item_embeddings(), model.item_biases(), constants.alpha, constants.regularization


def build_history_encoder(model: Recommender):
    """The torch :class:`HistoryEncoder` of a model with the ``fold_in`` ability."""
    import torch
    from torch import nn

    V, bias, alpha, reg = factor_matrices(model)

    class HistoryEncoder(nn.Module):
        """``items (B, L)`` padded with ``n_items`` -> query vectors ``(B, d [+1])``."""

        def __init__(self) -> None:
            super().__init__()
            n, d = V.shape
            table = np.vstack([V, np.zeros((1, d), dtype=np.float32)])  # row n_items: padding
            self.items = nn.Embedding(n + 1, d, padding_idx=n, _weight=torch.from_numpy(table))
            proj = (1.0 + alpha) * np.linalg.inv(V.T.astype(np.float64) @ V + reg * np.eye(d))
            self.proj = nn.Linear(d, d, bias=False)
            self.proj.weight.data = torch.from_numpy(proj.T.astype(np.float32).copy())
            self.with_bias = bias is not None
            self.n_items = n

        def forward(self, items: torch.Tensor) -> torch.Tensor:
            u = self.proj(self.items(items).sum(dim=1))
            if self.with_bias:
                u = torch.cat([u, torch.ones_like(u[:, :1])], dim=1)
            return u

    return HistoryEncoder().eval()


def pad_histories(histories: list[np.ndarray] | list[list[int]], n_items: int, length: int | None = None) -> np.ndarray:
    """``(B, L)`` int64 batch of histories padded (and cut to the last ``length`` items)."""
    length = length or max(1, max((len(h) for h in histories), default=1))
    out = np.full((len(histories), length), n_items, dtype=np.int64)
    for row, h in enumerate(histories):
        h = np.asarray(h, dtype=np.int64)[-length:]
        out[row, : h.size] = h
    return out


def export_onnx(module: Any, path: str | Path, n_items: int) -> Path:
    """Write ``module`` as ONNX with dynamic batch and history axes."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.from_numpy(pad_histories([[0, 1, 2]], n_items))
    with warnings.catch_warnings():
        # the TorchScript exporter (the dynamo one needs onnxscript) warns about its own deprecation
        # and about a shape check in F.embedding that it freezes; the tests check dynamic shapes
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["items"],
            output_names=["query"],
            dynamic_axes={"items": {0: "batch", 1: "history"}, "query": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    """Dynamic int8 quantisation (ONNX Runtime): int8 weights, activations quantised at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing hint to the root logger
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"])
    finally:
        root.setLevel(level)
    return Path(dst)


class OnnxEncoder:
    """An exported encoder run by ONNX Runtime on the CPU."""

    def __init__(self, path: str | Path, *, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def __call__(self, items: np.ndarray) -> np.ndarray:
        return self.session.run(["query"], {"items": np.ascontiguousarray(items, dtype=np.int64)})[0]

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The ``query`` output for named inputs (an exported :class:`~recsmith.models.sessions.QueryEncoder`)."""
        return self.session.run(["query"], {k: np.ascontiguousarray(v) for k, v in inputs.items()})[0]


def export_query_encoder(model: Recommender, out_dir: str | Path, *, quantize: bool = False) -> dict[str, Any]:
    """Export the history encoder of ``model`` into ``out_dir``; returns the manifest entry."""
    module = build_history_encoder(model)
    out_dir = Path(out_dir)
    fp32 = export_onnx(module, out_dir / "query_encoder.onnx", module.n_items)
    entry: dict[str, Any] = {
        "query_encoder": {
            "kind": "history_fold_in",
            "file": "encoders/query_encoder.onnx",
            "input": {"name": "items", "shape": ["batch", "history"], "dtype": "int64", "padding": module.n_items},
            "output": {"name": "query", "dim": int(module.proj.in_features + (1 if module.with_bias else 0))},
            "opset": OPSET,
        }
    }
    if quantize:
        quantize_int8(fp32, out_dir / "query_encoder.int8.onnx")
        entry["query_encoder"]["int8_file"] = "encoders/query_encoder.int8.onnx"
    (out_dir / "encoders.json").write_text(json.dumps(entry, indent=2))
    return entry


#: the file of a ``query_vectors`` model's encoder inside a bundle's ``encoders/``
QUERY_VECTORS_FILE = "query_vectors.onnx"
#: how far ONNX Runtime's queries may be from PyTorch's at export (share of the largest |component|);
#: seen: ~1e-7 (the same float32 operations, fused differently)
EXPORT_RTOL = 1e-4


def export_query_vectors_encoder(model: Recommender, out_dir: str | Path) -> dict[str, Any] | None:
    """Export the encoder of a ``query_vectors`` model (:meth:`~recsmith.models.sessions.QueryVectors.query_encoder`:
    the network that turns a history into its query vector) to ``out_dir/query_vectors.onnx``, for
    the service to run with ONNX Runtime. Checked at once: ONNX Runtime must reproduce PyTorch's
    queries on a few histories (within :data:`EXPORT_RTOL`), else nothing is exported. Returns the
    manifest entry, or None for models without an exportable encoder."""
    import torch

    from recsmith.models.sessions import QueryVectors

    if not isinstance(model, QueryVectors):
        return None
    encoder = model.query_encoder()
    if encoder is None:
        return None
    sessions: list[np.ndarray] = [
        np.arange(min(5, model.n_items)),
        np.arange(min(2, model.n_items))[::-1],
        np.zeros(1, np.int64),
    ]
    example = encoder.inputs(sessions, None)
    names = list(example)
    path = Path(out_dir) / QUERY_VECTORS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # the TorchScript exporter's deprecation and tracer warnings (see export_onnx)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            encoder.module,
            tuple(torch.from_numpy(example[n]) for n in names),
            str(path),
            input_names=names,
            output_names=["query"],
            dynamic_axes={**encoder.axes, "query": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    expected = model.query_vectors(sessions)
    got = OnnxEncoder(path).run(example)
    scale = float(np.abs(expected).max(initial=1.0))
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=EXPORT_RTOL * scale):
        path.unlink()
        logging.getLogger("recsmith").warning(
            "the %s query encoder's ONNX export differs from PyTorch: not exported", model.name
        )
        return None
    return {
        "query_vectors": {
            "kind": "query_vectors",
            "file": f"encoders/{QUERY_VECTORS_FILE}",
            "inputs": names,
            "output": {"name": "query", "dim": int(expected.shape[1])},
            "opset": OPSET,
        }
    }
