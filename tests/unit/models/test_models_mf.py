"""``mf`` (matrix factorisation trained by the Trainer) passes the shared model contract."""

from __future__ import annotations

from model_contract import RecommenderContract

# tiny and fast: the checkerboard has 40 users x 20 items (a few ms per epoch)
_TRAIN = {
    "epochs": 40,
    "batch_size": 64,
    "optimizer": {"lr": 0.05},
    "sampler": {"n_negatives": 4},
    "tracking": {"mlflow": False},
    "threads": 1,
}


class TestMF(RecommenderContract):
    name = "mf"
    params = {"dim": 8, "train": _TRAIN}
    abilities = frozenset({"embeddings", "explanations", "fold_in", "item_similarity"})


class TestMFSoftmax(RecommenderContract):
    name = "mf"
    params = {"dim": 8, "train": {**_TRAIN, "loss": {"name": "softmax"}}}
    abilities = frozenset({"embeddings", "explanations", "fold_in", "item_similarity"})
