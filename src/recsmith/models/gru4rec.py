"""GRU4Rec (Hidasi et al., ICLR 2016): a recurrent baseline on the same data path as SASRec.

A GRU reads the history left to right; its output at every real position predicts the next item,
scored against the (tied) item embeddings, with the Trainer's loss (full cross-entropy by default,
as in Hidasi & Czapp 2023's strong GRU4Rec settings).
"""

from __future__ import annotations

from recsmith.models.registry import register
from recsmith.models.sequential import SequentialRecommender


@register("gru4rec")
class GRU4Rec(SequentialRecommender):
    summary = "recurrent (GRU) next-item model over each history (sequences)"
    kind = "gru"
