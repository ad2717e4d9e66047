"""Losses over scores, as pure functions. Models produce scores; these turn scores into a loss.

Shapes: ``B`` examples in the batch, ``N`` negatives per example, ``C`` candidates (classes), ``d``
embedding width. Every loss computes in float32 whatever the input dtype (under bf16 / fp16
autocast the scores arrive in half precision; a log-sum-exp in half precision loses the small
probabilities that carry the gradient) and returns a scalar mean over the batch.

Masks are boolean, ``True`` = keep. A masked candidate takes no part in the loss at all: it is how
accidental hits (a sampled negative equal to the example's own positive) are removed.

===========================  =======================================================================
loss                          per example, before the batch mean
===========================  =======================================================================
``softmax_cross_entropy``     ``-(1-e) log p_target - e * mean_c log p_c`` (``p = softmax(logits)``)
``sampled_softmax_loss``      softmax cross-entropy over ``[s+, s-_1..N] / T - log q`` (logQ)
``in_batch_softmax_loss``     softmax cross-entropy of row ``i`` of a ``(B, B)`` matrix, target ``i``
``info_nce_loss``             ``in_batch_softmax_loss(query @ key.T / T)``
``bce_loss``                  ``-log s(s+) - sum_j log(1 - s(s-_j))`` (``s`` = sigmoid)
``gbce_loss``                 ``-beta log s(s+) - sum_j log(1 - s(s-_j))`` (gSASRec, Petrov & Macdonald 2023)
``bpr_loss``                  ``-log s(s+ - s-_j)``, mean over the pairs
``mse_loss``                  ``(pred - y')^2`` with ``y' = (1-e) y + e * center`` (label smoothing
                              for ratings: shrink toward the mean)
===========================  =======================================================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def softmax_cross_entropy(
    logits: Tensor, target: Tensor, *, label_smoothing: float = 0.0, mask: Tensor | None = None
) -> Tensor:
    """Cross-entropy of ``softmax(logits)`` against class ``target``, with label smoothing.

    Args:
        logits: ``(B, C)``.
        target: ``(B,)`` int64 class index in ``[0, C)``; must not be masked.
        label_smoothing: ``e``: the target distribution is ``(1-e) onehot + e uniform`` over the
            unmasked candidates (equal to ``F.cross_entropy(label_smoothing=e)`` without a mask).
        mask: optional ``(B, C)`` bool, ``False`` removes a candidate.

    Returns:
        scalar mean over the batch.
    """
    logits = logits.float()
    if mask is not None:
        logits = logits.masked_fill(~mask, -math.inf)
    log_p = F.log_softmax(logits, dim=-1)
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    if label_smoothing == 0:
        return nll.mean()
    if mask is None:
        uniform = -log_p.mean(dim=-1)
    else:  # zero the masked -inf entries before summing, and average over the kept candidates
        uniform = -log_p.masked_fill(~mask, 0.0).sum(dim=-1) / mask.sum(dim=-1)
    return ((1 - label_smoothing) * nll + label_smoothing * uniform).mean()


def sampled_softmax_loss(
    pos: Tensor,
    neg: Tensor,
    *,
    log_q_pos: Tensor | None = None,
    log_q_neg: Tensor | None = None,
    temperature: float = 1.0,
    label_smoothing: float = 0.0,
    mask: Tensor | None = None,
) -> Tensor:
    """Softmax over the positive and sampled negatives, with the logQ correction.

    Sampling negatives with probability ``q`` biases the softmax toward frequently sampled items;
    subtracting ``log q`` from every logit (the positive's too) corrects it (Bengio & Senecal 2008;
    Yi et al. 2019). Without the log-probabilities this is plain sampled softmax.

    Args:
        pos: ``(B,)`` scores of the positives.
        neg: ``(B, N)`` scores of the negatives (a shared set of ``N`` broadcast over the batch is
            passed as ``(B, N)`` too).
        log_q_pos: ``(B,)`` log sampling probability of each positive (as if it were drawn).
        log_q_neg: ``(B, N)`` or ``(N,)`` log sampling probability of each negative.
        temperature: logits are ``score / temperature`` before the correction.
        label_smoothing: as in :func:`softmax_cross_entropy`, over the ``1 + N`` candidates.
        mask: optional ``(B, N)`` bool over the negatives (``False``: accidental hit, dropped).
    """
    logits = torch.cat([pos.float()[:, None], neg.float()], dim=1) / temperature
    if (log_q_pos is None) != (log_q_neg is None):
        raise ValueError("pass both log_q_pos and log_q_neg, or neither")
    if log_q_pos is not None and log_q_neg is not None:
        log_q = torch.cat([log_q_pos[:, None], log_q_neg.expand_as(neg)], dim=1)
        logits = logits - log_q.float()
    full_mask = None
    if mask is not None:
        full_mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
    target = torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device)
    return softmax_cross_entropy(logits, target, label_smoothing=label_smoothing, mask=full_mask)


def in_batch_softmax_loss(
    logits: Tensor, *, log_q: Tensor | None = None, label_smoothing: float = 0.0, mask: Tensor | None = None
) -> Tensor:
    """Softmax cross-entropy where row ``i``'s positive is column ``i`` (in-batch negatives).

    Args:
        logits: ``(B, B)``, row = query, column = the batch's keys (positives).
        log_q: optional ``(B,)`` log probability of each key being in a batch (logQ correction:
            popular items are in-batch negatives more often than rare ones).
        label_smoothing: as in :func:`softmax_cross_entropy`.
        mask: optional ``(B, B)`` bool; the diagonal must be kept. Use it to drop duplicates of a
            row's positive elsewhere in the batch.
    """
    logits = logits.float()
    if log_q is not None:
        logits = logits - log_q.float()[None, :]
    target = torch.arange(logits.shape[0], device=logits.device)
    return softmax_cross_entropy(logits, target, label_smoothing=label_smoothing, mask=mask)


def info_nce_loss(query: Tensor, key: Tensor, *, temperature: float = 0.1, label_smoothing: float = 0.0) -> Tensor:
    """InfoNCE (van den Oord et al. 2018): each query must pick its own key among the batch's keys.

    Args:
        query: ``(B, d)``; key: ``(B, d)``, row ``i`` of ``key`` is the positive of row ``i`` of
            ``query``. Normalise them first for a cosine similarity.
        temperature: logits are ``query @ key.T / temperature``.
    """
    return in_batch_softmax_loss(query.float() @ key.float().T / temperature, label_smoothing=label_smoothing)


def bce_loss(pos: Tensor, neg: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Binary cross-entropy: positives labelled 1, sampled negatives 0.

    Args:
        pos: ``(B,)`` scores (logits); neg: ``(B, N)``; mask: optional ``(B, N)`` over ``neg``.

    Returns:
        ``mean_b [ -log sigmoid(pos_b) - sum_j log(1 - sigmoid(neg_bj)) ]``.
    """
    return gbce_loss(pos, neg, beta=1.0, mask=mask)


def gbce_beta(n_negatives: int, n_items: int, t: float) -> float:
    """gSASRec's ``beta = alpha (t (1 - 1/alpha) + 1/alpha)`` with ``alpha = N / (n_items - 1)``."""
    alpha = n_negatives / max(n_items - 1, 1)
    return alpha * (t * (1 - 1 / alpha) + 1 / alpha)


def gbce_loss(pos: Tensor, neg: Tensor, *, beta: float, mask: Tensor | None = None) -> Tensor:
    """Generalised BCE: the positive's probability raised to ``beta`` (see :func:`gbce_beta`).

    Sampling few negatives makes BCE overconfident about positives; ``sigmoid(s+) ** beta`` with
    ``beta <= 1`` counteracts it. ``-log(sigmoid(s) ** beta) = beta * softplus(-s)``.

    Args:
        pos: ``(B,)``; neg: ``(B, N)``; beta: from :func:`gbce_beta` (``1`` gives plain BCE).
    """
    pos_term = beta * F.softplus(-pos.float())
    neg_terms = F.softplus(neg.float())
    if mask is not None:
        neg_terms = neg_terms * mask
    return (pos_term + neg_terms.sum(dim=1)).mean()


def bpr_loss(pos: Tensor, neg: Tensor, *, mask: Tensor | None = None) -> Tensor:
    """Bayesian Personalised Ranking: ``-log sigmoid(pos - neg)`` averaged over the kept pairs.

    Args:
        pos: ``(B,)``; neg: ``(B, N)``; mask: optional ``(B, N)`` over ``neg``.
    """
    terms = F.softplus(neg.float() - pos.float()[:, None])
    if mask is None:
        return terms.mean()
    return (terms * mask).sum() / mask.sum().clamp(min=1)


def mse_loss(pred: Tensor, target: Tensor, *, label_smoothing: float = 0.0, center: float | None = None) -> Tensor:
    """Squared error of rating predictions, with label smoothing toward ``center``.

    Args:
        pred: ``(B,)`` predicted ratings; target: ``(B,)`` observed ratings.
        label_smoothing: ``e``: the target becomes ``(1-e) y + e center``, which keeps the model
            from chasing noisy extreme ratings (the regression analogue of smoothing a one-hot).
        center: the rating the targets shrink toward (default: the batch mean; pass the training
            mean for a target that does not depend on the batch).
    """
    target = target.float()
    if label_smoothing:
        c = target.mean() if center is None else center
        target = (1 - label_smoothing) * target + label_smoothing * c
    return F.mse_loss(pred.float(), target)
