"""Semantic ids: k-means, the RQ-VAE, residual k-means and collision handling on synthetic clustered
embeddings whose structure is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsmith.nn.rqvae import RQVAE, code_statistics, kmeans, rq_kmeans, train_rqvae
from recsmith.nn.trie import unique_ids

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def clustered(n_coarse: int = 8, n_fine: int = 4, per: int = 25, dim: int = 32, seed: int = 0):
    """Two-level clusters: ``n_coarse`` far-apart centres, each with ``n_fine`` nearer sub-centres."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=(n_coarse, dim)) * 4
    fine = coarse[:, None, :] + rng.normal(size=(n_coarse, n_fine, dim))
    x = fine[:, :, None, :] + rng.normal(size=(n_coarse, n_fine, per, dim)) * 0.1
    labels = np.repeat(np.arange(n_coarse), n_fine * per)
    return x.reshape(-1, dim).astype(np.float32), labels


def purity(codes: np.ndarray, labels: np.ndarray) -> float:
    """Share of points whose code's majority label is their own label."""
    hits = 0
    for c in np.unique(codes):
        hits += np.bincount(labels[codes == c]).max()
    return hits / len(labels)


def test_kmeans_recovers_separated_clusters() -> None:
    x, labels = clustered(n_fine=1)
    centroids = kmeans(torch.from_numpy(x), 8, generator=torch.Generator().manual_seed(0))
    assign = torch.cdist(torch.from_numpy(x), centroids).argmin(1).numpy()
    assert purity(assign, labels) == 1.0
    assert len(np.unique(assign)) == 8


def test_kmeans_with_fewer_distinct_points_than_clusters() -> None:
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    centroids = kmeans(x, 5, generator=torch.Generator().manual_seed(0))
    assert centroids.shape == (5, 2) and torch.isfinite(centroids).all()


def test_rqvae_reduces_reconstruction_and_uses_its_codebooks() -> None:
    x, labels = clustered()
    settings = {
        "levels": 2,
        "codes": 16,
        "latent_dim": 8,
        "hidden": [64],
        "beta": 0.25,
        "batch_size": 256,
        "lr": 3e-3,
        "reset_every": 20,
        "seed": 0,
        "progress": False,
    }
    short, _ = train_rqvae(x, epochs=1, **settings)
    trained, model = train_rqvae(x, epochs=120, **settings)
    assert trained.history[-1]["reconstruction"] < 0.5 * trained.history[0]["reconstruction"]
    assert trained.reconstruction < 0.5 * short.reconstruction
    assert trained.reconstruction < 0.2 * x.var(axis=0).sum() / x.shape[1]  # far below the data variance
    assert np.all(trained.usage >= 0.5), trained.usage  # dead codes were revived
    assert np.all(trained.perplexity >= 6), trained.perplexity
    assert purity(trained.codes[:, 0], labels) >= 0.9  # the first level captures the coarse clusters
    assert trained.codes.shape == (len(x), 2) and trained.codes.max() < 16
    assert bool(model.initialised)


def test_dead_codes_move_onto_batch_residuals() -> None:
    torch.manual_seed(0)
    model = RQVAE(4, [8], 3, levels=2, codes=5)
    residuals = [torch.randn(10, 3), torch.randn(10, 3)]
    counts = torch.ones(2, 5, dtype=torch.int64)
    counts[0, 2] = counts[1, 0] = counts[1, 4] = 0
    before = model.codebooks.detach().clone()
    assert model.reset_dead_codes(counts, residuals, torch.Generator().manual_seed(0)) == 3
    after = model.codebooks.detach()
    for level, code in [(0, 2), (1, 0), (1, 4)]:
        assert (after[level, code] == residuals[level]).all(dim=1).any()
    unchanged = counts > 0
    assert torch.equal(after[unchanged], before[unchanged])


def test_rq_kmeans_levels_refine() -> None:
    x, labels = clustered()
    one = rq_kmeans(x, levels=1, codes=8, seed=0)
    two = rq_kmeans(x, levels=2, codes=8, seed=0)
    assert purity(two.codes[:, 0], labels) == 1.0
    assert two.reconstruction < 0.75 * one.reconstruction
    np.testing.assert_array_equal(one.codes[:, 0], two.codes[:, 0])  # same seed, same first level
    assert len(np.unique(two.codes, axis=0)) > 8  # the second level splits the coarse clusters


def test_code_statistics() -> None:
    codes = np.array([[0, 1], [0, 1], [1, 1], [2, 1]])
    usage, perplexity = code_statistics(codes, 4)
    np.testing.assert_allclose(usage, [0.75, 0.25])
    p = np.array([0.5, 0.25, 0.25])
    np.testing.assert_allclose(perplexity, [np.exp(-(p * np.log(p)).sum()), 1.0])


@pytest.mark.parametrize("seed", range(5))
def test_unique_ids_make_every_item_distinct(seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 3, size=(200, 2))  # 9 possible tuples for 200 items: many collisions
    ids, stats = unique_ids(codes)
    assert ids.shape == (200, 3)
    assert len(np.unique(ids, axis=0)) == 200
    np.testing.assert_array_equal(ids[:, :2], codes)
    _, counts = np.unique(codes, axis=0, return_counts=True)
    assert stats["max_group"] == counts.max() == ids[:, 2].max() + 1
    assert stats["unique_codes"] == len(counts)
    for tup in np.unique(codes, axis=0):  # each group enumerated 0..size-1 in item order
        members = np.flatnonzero((codes == tup).all(axis=1))
        np.testing.assert_array_equal(ids[members, 2], np.arange(len(members)))


def test_unique_ids_collision_rate() -> None:
    codes = np.array([[0, 0], [0, 0], [1, 0], [2, 2], [2, 2], [2, 2]])
    ids, stats = unique_ids(codes)
    assert stats == {"collision_rate": 5 / 6, "max_group": 3, "unique_codes": 3}
    np.testing.assert_array_equal(ids[:, 2], [0, 1, 0, 0, 1, 2])
    alone, stats = unique_ids(np.array([[0, 1], [1, 0]]))
    assert stats["collision_rate"] == 0.0 and np.all(alone[:, 2] == 0)
