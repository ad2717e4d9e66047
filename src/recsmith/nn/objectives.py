"""Objectives: a loss (:mod:`.losses`) and, where it needs one, a sampler (:mod:`.samplers`), applied
to a network's scores. The model never sees the loss: any network that follows the scoring
protocol below trains with any objective (TorchRec's split of ``DLRM`` and ``DLRMTrain``).

Scoring protocol of a network, ``network(inputs, items) -> scores``::

    items None       -> (B, n_items)  every item        (softmax)
    items (M,)       -> (B, M)        one shared set    (sampled softmax, in-batch, InfoNCE)
    items (B, M)     -> (B, M)        a set per row     (bce / gbce / bpr negatives, mse)

A network with the class attribute ``scores_positive_and_shared = True`` also takes
``items = (positives (B,), shared (M,))`` and returns ``(B, 1 + M)``: each row's own positive, then
the shared negatives. Sampled softmax then skips the ``(B, B)`` block of other rows' positives,
which dominates when ``B`` (e.g. every position of a batch of sequences) exceeds ``M``.

``inputs`` is whatever the model feeds its network for a batch (user ids for matrix factorisation,
a padded item sequence for a sequential model); the objective passes it through untouched.

=====================  ================================================  ==========================
loss                   candidates scored                                 sampler
=====================  ================================================  ==========================
``softmax``            the whole catalogue                               none
``sampled_softmax``    positive + ``n_negatives`` shared by the batch    any (logQ needs q)
``bce``, ``gbce``      positive + ``n_negatives`` per example            any
``bpr``                positive vs each of ``n_negatives`` per example   any
``infonce``            the batch's positives (in-batch softmax)          always in-batch
``mse``                the positive; the target is the interaction       none
                       weight (a rating)
=====================  ================================================  ==========================

``network_loss`` is for networks whose training signal is not a score of items (generative
retrieval: the cross-entropy of the next item's semantic-id tokens): the objective calls
``network(batch.inputs, batch.positives, loss=True)`` and the network returns the scalar loss.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from recsmith.nn import losses
from recsmith.nn.samplers import Negatives, NegativeSampler, NegativeStats, PositiveLookup, build_sampler

if TYPE_CHECKING:
    from recsmith.nn.config import LossConfig, SamplerConfig


@dataclass
class Batch:
    """One micro-batch of training examples, on the training device.

    ``inputs``: the network's first argument; ``users``, ``positives``: ``(B,)`` int64;
    ``targets``: ``(B,)`` float32, the interaction weight (a rating for ``mse``).
    """

    inputs: Any
    users: Tensor
    positives: Tensor
    targets: Tensor


#: losses whose candidates come from a sampler
SAMPLED = frozenset({"sampled_softmax", "bce", "gbce", "bpr"})


class Objective:
    """``objective(network, batch, generator) -> scalar loss``, with negative statistics per epoch."""

    def __init__(self, loss: "LossConfig", sampler: "SamplerConfig", seen: sp.csr_matrix, target_mean: float) -> None:
        self.cfg = loss
        self.n_negatives = sampler.n_negatives
        self.n_items = seen.shape[1]
        self.target_mean = target_mean
        self.sampler = build_sampler(sampler, seen) if loss.name in SAMPLED else None
        popularity = torch.from_numpy(np.asarray((seen > 0).sum(axis=0)).ravel().astype(np.float32))
        self._log_freq = (popularity / popularity.sum()).log()  # in-batch sampling probability
        self.stats = NegativeStats(popularity, PositiveLookup(seen))
        self._loss: Callable[..., Tensor] = _LOSSES[loss.name]

    def __call__(self, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
        return self._loss(self, network, batch, generator)

    def epoch_stats(self) -> dict[str, float]:
        """Statistics of the negatives since the last call, prefixed ``sampler/``; then reset."""
        out = {f"sampler/{k}": v for k, v in self.stats.compute().items()}
        self.stats.reset()
        return out

    @property
    def negative_sampler(self) -> NegativeSampler:
        """The sampler of a loss in ``SAMPLED`` (the other losses have none)."""
        if self.sampler is None:
            raise RuntimeError(f"loss {self.cfg.name!r} is not in SAMPLED: it has no negative sampler")
        return self.sampler

    # ------------------------------------------------------------------ shared pieces
    def score_candidates(self, network: nn.Module, batch: Batch, negs: Negatives) -> tuple[Tensor, Tensor, Tensor]:
        """Scores of the positives ``(B,)`` and negatives ``(B, N)``, and the mask of kept negatives.

        One forward call for both (DDP synchronises gradients through ``forward`` only). A
        negative equal to the row's positive is an accidental hit and is masked out.
        """
        pos = batch.positives
        b = pos.numel()
        if negs.shared and getattr(network, "scores_positive_and_shared", False):
            scores = network(batch.inputs, (pos, negs.items))  # (B, 1 + N): no (B, B) block to throw away
            pos_scores, neg_scores = scores[:, 0], scores[:, 1:]
            items = negs.items[None, :]
        elif negs.shared:
            scores = network(batch.inputs, torch.cat([pos, negs.items]))  # (B, B + N)
            pos_scores, neg_scores = scores[:, :b].diagonal(), scores[:, b:]
            items = negs.items[None, :]
        else:
            scores = network(batch.inputs, torch.cat([pos[:, None], negs.items], dim=1))  # (B, 1 + N)
            pos_scores, neg_scores = scores[:, 0], scores[:, 1:]
            items = negs.items
        mask = items != pos[:, None]
        self.stats.update(batch.users, pos, pos_scores.detach(), negs, neg_scores.detach(), mask)
        return pos_scores, neg_scores, mask

    def sampled(self, network: nn.Module, batch: Batch, generator: torch.Generator, *, shared: bool):
        negs = self.negative_sampler.sample(
            batch.users, batch.positives, self.n_negatives, shared=shared, generator=generator
        )
        return (*self.score_candidates(network, batch, negs), negs)


# ---------------------------------------------------------------------- one function per loss
def _softmax(o: Objective, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
    logits = network(batch.inputs, None) / o.cfg.temperature
    return losses.softmax_cross_entropy(logits, batch.positives, label_smoothing=o.cfg.label_smoothing)


def _sampled_softmax(o: Objective, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
    pos, neg, mask, negs = o.sampled(network, batch, generator, shared=True)
    log_q_pos = log_q_neg = None
    if o.cfg.logq_correction:
        log_q_pos, log_q_neg = o.negative_sampler.log_prob(batch.positives), negs.log_q
    return losses.sampled_softmax_loss(
        pos,
        neg,
        log_q_pos=log_q_pos,
        log_q_neg=log_q_neg,
        temperature=o.cfg.temperature,
        label_smoothing=o.cfg.label_smoothing,
        mask=mask,
    )


def _bce(o: Objective, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
    pos, neg, mask, _ = o.sampled(network, batch, generator, shared=False)
    return losses.bce_loss(pos, neg, mask=mask)


def _gbce(o: Objective, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
    pos, neg, mask, _ = o.sampled(network, batch, generator, shared=False)
    # beta follows the negatives actually used (in-batch draws lose the masked own positive)
    n_kept = max(float(mask.sum()) / mask.shape[0], 1.0)
    beta = losses.gbce_beta(n_kept, o.n_items, o.cfg.gbce_t)
    return losses.gbce_loss(pos, neg, beta=beta, mask=mask)


def _bpr(o: Objective, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
    pos, neg, mask, _ = o.sampled(network, batch, generator, shared=False)
    return losses.bpr_loss(pos, neg, mask=mask)


def _infonce(o: Objective, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
    positives = batch.positives
    logits = network(batch.inputs, positives) / o.cfg.temperature  # (B, B)
    # the same item twice in a batch: the other copy is not a negative of this row
    mask = (positives[None, :] != positives[:, None]) | torch.eye(
        len(positives), dtype=torch.bool, device=positives.device
    )
    log_q = o._log_freq.to(positives.device)[positives] if o.cfg.logq_correction else None
    off_diagonal = mask & ~torch.eye(len(positives), dtype=torch.bool, device=positives.device)
    o.stats.update(
        batch.users,
        positives,
        logits.diagonal().detach(),
        Negatives(positives, None, True),
        logits.detach(),
        off_diagonal,
    )
    return losses.in_batch_softmax_loss(logits, log_q=log_q, label_smoothing=o.cfg.label_smoothing, mask=mask)


def _mse(o: Objective, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
    pred = network(batch.inputs, batch.positives[:, None])[:, 0]
    return losses.mse_loss(pred, batch.targets, label_smoothing=o.cfg.label_smoothing, center=o.target_mean)


def _network_loss(o: Objective, network: nn.Module, batch: Batch, generator: torch.Generator) -> Tensor:
    return network(batch.inputs, batch.positives, loss=True)


_LOSSES: dict[str, Callable[[Objective, nn.Module, Batch, torch.Generator], Tensor]] = {
    "softmax": _softmax,
    "sampled_softmax": _sampled_softmax,
    "bce": _bce,
    "gbce": _gbce,
    "bpr": _bpr,
    "infonce": _infonce,
    "mse": _mse,
    "network_loss": _network_loss,
}
