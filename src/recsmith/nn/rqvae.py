"""Semantic ids for items: residual quantisation of content embeddings (TIGER, Rajput et al. 2023).

An item's content embedding ``x`` (e.g. a sentence embedding of its attributes) becomes a tuple of
``L`` codewords ``(c_0, ..., c_{L-1})``, each in ``[0, K)``: level 0 quantises a vector ``r_0``, level
``l`` the residual ``r_l = r_{l-1} - e_{l-1}[c_{l-1}]`` left by the levels before it, so the first
code is coarse (similar items share it) and later codes refine. Two ways to learn the codebooks:

``rqvae``     an MLP encoder maps ``x`` to a small latent ``z = r_0``; ``L`` codebooks quantise it;
              an MLP decoder reconstructs ``x`` from ``sum_l e_l[c_l]`` (straight-through gradient).
              Loss = reconstruction MSE + sum over levels of ``||sg(r_l) - e||^2 + beta ||r_l - sg(e)||^2``.
              Codebooks start as k-means centroids of the first batch's residuals; a code unused for
              ``reset_every`` steps is moved onto a residual of the current batch at its level (dead
              codes otherwise never receive gradient).
``rqkmeans``  no training: k-means on the embeddings, then k-means on the residuals, ``L`` times.

Both return ``(n, L)`` int64 codes plus per-level statistics (share of codes used, perplexity of the
code distribution). Items whose ``L`` codes coincide are made unique by :func:`recsmith.nn.trie.unique_ids`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recsmith.utils.progress import track


@dataclass
class Quantisation:
    """Codes of every item and how well the codebooks are used.

    Attributes:
        codes: ``(n, L)`` int64, each in ``[0, K)``.
        usage: ``(L,)`` share of the ``K`` codes used by at least one item, per level.
        perplexity: ``(L,)`` ``exp(entropy)`` of the code distribution per level (``K`` at best).
        reconstruction: final mean squared reconstruction error of the inputs (rqvae), or of the
            sum of centroids (rqkmeans).
        history: per-epoch training log of the RQ-VAE (empty for rqkmeans).
    """

    codes: np.ndarray
    usage: np.ndarray
    perplexity: np.ndarray
    reconstruction: float
    history: list[dict[str, float]] = field(default_factory=list)


# ---------------------------------------------------------------------- k-means
def kmeans(x: Tensor, k: int, *, iters: int = 20, generator: torch.Generator | None = None) -> Tensor:
    """``(k, d)`` centroids of the rows of ``x`` (``(n, d)``) by Lloyd's algorithm, k-means++ seeding.

    Fewer distinct points than ``k`` is allowed (small batches, duplicated items): the surplus
    centroids repeat points, and become live later through dead-code resets.
    """
    n = x.shape[0]
    centroids = _kmeans_pp(x, k, generator)
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        alive = counts > 0
        centroids[alive] = sums[alive] / counts[alive, None]
        if not alive.all() and n >= k:
            # an empty cluster takes the points worst served by the others (far from every centroid)
            far = torch.cdist(x, centroids).min(dim=1).values.argsort(descending=True)
            centroids[~alive] = x[far[: int((~alive).sum())]]
    return centroids


def _kmeans_pp(x: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    n = x.shape[0]
    first = torch.randint(n, (1,), generator=generator)
    chosen = [int(first)]
    dist = ((x - x[first]) ** 2).sum(dim=1)
    for _ in range(1, k):
        if float(dist.sum()) <= 0:  # every point is already a centroid: repeat random points
            chosen.append(int(torch.randint(n, (1,), generator=generator)))
            continue
        nxt = int(torch.multinomial(dist / dist.sum(), 1, generator=generator))
        chosen.append(nxt)
        dist = torch.minimum(dist, ((x - x[nxt]) ** 2).sum(dim=1))
    return x[torch.tensor(chosen)].clone()


# ---------------------------------------------------------------------- the RQ-VAE
def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class RQVAE(nn.Module):
    """Encoder MLP -> ``levels`` residual codebooks of ``codes`` vectors -> decoder MLP.

    Args:
        input_dim: width of the content embeddings.
        hidden: widths of the encoder's hidden layers (the decoder mirrors them).
        latent_dim: width of the quantised latent (and of every codeword).
        levels, codes: ``L`` codebooks of ``K`` codewords.
        beta: weight of the commitment term (the encoder's pull toward its codewords).
    """

    initialised: Tensor  # buffer: bool scalar, set once the codebooks are seeded

    def __init__(
        self, input_dim: int, hidden: list[int], latent_dim: int, levels: int, codes: int, beta: float = 0.25
    ) -> None:
        super().__init__()
        self.encoder = _mlp([input_dim, *hidden, latent_dim])
        self.decoder = _mlp([latent_dim, *reversed(hidden), input_dim])
        self.codebooks = nn.Parameter(torch.randn(levels, codes, latent_dim) * 0.01)
        self.beta = beta
        self.register_buffer("initialised", torch.tensor(False))

    @property
    def levels(self) -> int:
        return self.codebooks.shape[0]

    def quantise(self, z: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        """Codes ``(n, L)``, quantised latent ``(n, latent)`` and the residual entering each level."""
        residual, quantised, codes, residuals = z, torch.zeros_like(z), [], []
        for level in range(self.levels):
            book = self.codebooks[level]
            code = torch.cdist(residual, book).argmin(dim=1)
            residuals.append(residual)
            codes.append(code)
            quantised = quantised + book[code]
            residual = residual - book[code]
        return torch.stack(codes, dim=1), quantised, residuals

    @torch.no_grad()
    def init_codebooks(self, x: Tensor, generator: torch.Generator | None = None) -> None:
        """Each codebook = k-means centroids of the residuals of ``x`` at its level."""
        residual = self.encoder(x)
        for level in range(self.levels):
            self.codebooks.data[level] = kmeans(residual, self.codebooks.shape[1], generator=generator)
            code = torch.cdist(residual, self.codebooks[level]).argmin(dim=1)
            residual = residual - self.codebooks[level, code]
        self.initialised.fill_(True)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, list[Tensor]]:
        """``(loss, reconstruction error, codes (n, L), residuals per level)`` of a batch ``x`` ``(n, d)``."""
        z = self.encoder(x)
        residual, quantised, codes, residuals = z, torch.zeros_like(z), [], []
        quant_loss = z.new_zeros(())
        for level in range(self.levels):
            book = self.codebooks[level]
            code = torch.cdist(residual.detach(), book).argmin(dim=1)
            e = book[code]
            # codebook term moves codewords to the residuals; commitment keeps the encoder near them
            quant_loss = quant_loss + F.mse_loss(e, residual.detach()) + self.beta * F.mse_loss(residual, e.detach())
            residuals.append(residual.detach())
            codes.append(code)
            quantised = quantised + e
            residual = residual - e.detach()
        z_q = z + (quantised - z).detach()  # straight-through: the decoder's gradient reaches the encoder
        recon = F.mse_loss(self.decoder(z_q), x)
        return recon + quant_loss, recon.detach(), torch.stack(codes, dim=1), residuals

    @torch.no_grad()
    def reset_dead_codes(self, counts: Tensor, residuals: list[Tensor], generator: torch.Generator | None) -> int:
        """Move every code with ``counts[level, code] == 0`` onto a random residual of this batch at
        its level; returns how many were moved."""
        moved = 0
        for level in range(self.levels):
            dead = torch.nonzero(counts[level] == 0).ravel()
            if dead.numel() == 0:
                continue
            pool = residuals[level]
            pick = torch.randint(pool.shape[0], (dead.numel(),), generator=generator)
            self.codebooks.data[level, dead] = pool[pick]
            moved += dead.numel()
        return moved


def code_statistics(codes: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per level: share of the ``n_codes`` codes in use, and the perplexity of the code distribution."""
    usage, perplexity = [], []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=n_codes).astype(np.float64)
        p = counts[counts > 0] / counts.sum()
        usage.append((counts > 0).mean())
        perplexity.append(float(np.exp(-(p * np.log(p)).sum())))
    return np.asarray(usage, dtype=np.float64), np.asarray(perplexity, dtype=np.float64)


def train_rqvae(
    x: np.ndarray,
    *,
    levels: int,
    codes: int,
    latent_dim: int,
    hidden: list[int],
    beta: float,
    epochs: int,
    batch_size: int,
    lr: float,
    reset_every: int,
    seed: int,
    progress: bool = True,
) -> tuple[Quantisation, RQVAE]:
    """Train an :class:`RQVAE` on ``x`` (``(n, d)`` float32) and return every row's codes.

    ``reset_every``: optimizer steps over which code usage is counted before unused codes are
    re-seeded (0 disables resets). Resets stop for the last fifth of training, so the codebooks the
    codes come from have settled.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    n = data.shape[0]
    model = RQVAE(data.shape[1], hidden, latent_dim, levels, codes, beta)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    counts = torch.zeros(levels, codes, dtype=torch.int64)
    step, history = 0, []
    steps_per_epoch = -(-n // batch_size)
    last_reset_step = int(0.8 * epochs * steps_per_epoch)
    epoch_iter = range(1, epochs + 1)
    for epoch in track(epoch_iter, "RQ-VAE") if progress else epoch_iter:
        order = torch.randperm(n, generator=generator)
        total = recon_total = 0.0
        resets = 0
        for start in range(0, n, batch_size):
            batch = data[order[start : start + batch_size]]
            if not bool(model.initialised):
                model.init_codebooks(batch, generator)
            loss, recon, batch_codes, residuals = model(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            for level in range(levels):
                counts[level] += torch.bincount(batch_codes[:, level], minlength=codes)
            if reset_every and step % reset_every == 0:
                if step <= last_reset_step:
                    resets += model.reset_dead_codes(counts, residuals, generator)
                counts.zero_()
            total += float(loss.detach()) * len(batch)
            recon_total += float(recon) * len(batch)
        history.append({"epoch": epoch, "loss": total / n, "reconstruction": recon_total / n, "resets": resets})
    model.eval()
    with torch.no_grad():
        z = model.encoder(data)
        code_tensor, quantised, _ = model.quantise(z)
        reconstruction = float(F.mse_loss(model.decoder(quantised), data))
    item_codes = code_tensor.numpy().astype(np.int64)
    usage, perplexity = code_statistics(item_codes, codes)
    return Quantisation(item_codes, usage, perplexity, reconstruction, history), model


def rq_kmeans(x: np.ndarray, *, levels: int, codes: int, seed: int, iters: int = 25) -> Quantisation:
    """Residual k-means (no training): level ``l``'s codebook is the k-means of the residuals left
    by levels ``< l``. Rows are clustered as given (normalise them first if cosine matters)."""
    generator = torch.Generator().manual_seed(seed)
    residual = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).clone()
    out = []
    for _ in range(levels):
        centroids = kmeans(residual, codes, iters=iters, generator=generator)
        code = torch.cdist(residual, centroids).argmin(dim=1)
        out.append(code)
        residual = residual - centroids[code]
    item_codes = torch.stack(out, dim=1).numpy().astype(np.int64)
    usage, perplexity = code_statistics(item_codes, codes)
    return Quantisation(item_codes, usage, perplexity, float((residual**2).mean()))
