"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the history, next-item prediction.

Pre-LayerNorm blocks on ``scaled_dot_product_attention``, learned recency positions or RoPE, scores
tied to the item embeddings. The loss is the Trainer's: full cross-entropy by default (what makes
SASRec competitive with BERT4Rec, Klenitskiy & Vasilev 2023), or ``sampled_softmax`` with logQ,
``bce`` / ``gbce`` with sampled negatives (gSASRec, Petrov & Macdonald 2023) by config. Every real
position of a history is a training example; padding costs nothing in the loss.
"""

from __future__ import annotations

from recsmith.models.registry import register
from recsmith.models.sequential import SequentialRecommender


@register("sasrec")
class SASRec(SequentialRecommender):
    summary = "causal self-attention over each history, next-item prediction (sequences)"
    kind = "causal"
