"""BERT4Rec (Sun et al., CIKM 2019): a bidirectional encoder trained by masked-item prediction.

Training masks each real position of a history with probability ``mask_prob`` (a history that draws
no mask gets its last item masked, so every example teaches something) and predicts the masked
items from both sides; a share ``last_item_prob`` of the histories get only their last item masked
instead, which is the next-item task the model is used for. To recommend, a mask token is appended after the history and its output
scores the next item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from recsmith.models.registry import register
from recsmith.models.sequential import SequentialConfig, SequentialRecommender

if TYPE_CHECKING:
    import torch

    from recsmith.nn.objectives import Batch
    from recsmith.nn.sequential import SeqInputs


class BERT4RecConfig(SequentialConfig):
    mask_prob: float = Field(0.2, gt=0, lt=1, description="share of positions masked in training")
    last_item_prob: float = Field(
        0.1,
        ge=0,
        le=1,
        description="share of histories that instead get only their last item masked: the "
        "next-item task the model is used for (random masks alone rarely put a mask at the end)",
    )
    layers: int = Field(2, ge=1, description="transformer blocks")
    heads: int = Field(2, ge=1, description="attention heads")


@register("bert4rec")
class BERT4Rec(SequentialRecommender):
    summary = "bidirectional transformer over each history, trained by masked-item prediction (sequences)"
    kind = "bidirectional"
    Config = BERT4RecConfig
    config: BERT4RecConfig

    @property
    def _history_len(self) -> int:
        return self.config.max_len - 1  # the appended mask token takes the last place

    def make_batch(self, rows: dict[str, "torch.Tensor"]) -> "Batch":
        import torch

        from recsmith.nn.objectives import Batch
        from recsmith.nn.sequential import SeqInputs

        users = rows["user"]
        length = self._batch_len(users, 0)
        window = self._window(users, length)
        real = window != self.pad
        lengths = real.sum(1)
        # torch's global generator: the Trainer seeds it per (seed, epoch), so masks are reproducible
        masked = (torch.rand(window.shape, device=window.device) < self.config.mask_prob) & real
        last_only = torch.rand(len(users), device=window.device) < self.config.last_item_prob
        masked[last_only] = False
        none = ~masked.any(1)
        masked[none, lengths[none] - 1] = True
        tokens = torch.where(masked, self.mask_token, window)
        ts = self._window(users, length, timestamps=True) if self._time_features else None
        inputs = SeqInputs(tokens, lengths, masked, ts)
        return Batch(
            inputs=inputs,
            users=users[:, None].expand_as(masked)[masked],
            positives=window[masked],
            targets=torch.ones(int(masked.sum()), device=users.device),
        )

    def _query(self, inputs: "SeqInputs", torch_module: Any) -> "SeqInputs":
        torch = torch_module
        from recsmith.nn.sequential import SeqInputs

        tokens, lengths = inputs.tokens, (inputs.tokens != self.pad).sum(1)
        b = len(tokens)
        tokens = torch.cat([tokens, torch.full((b, 1), self.pad, dtype=tokens.dtype, device=tokens.device)], 1)
        tokens[torch.arange(b, device=tokens.device), lengths] = self.mask_token
        ts = inputs.timestamps
        if ts is not None:  # the mask token happens "now": repeat the last timestamp
            last = ts[torch.arange(b, device=ts.device), (lengths - 1).clamp(min=0)]
            ts = torch.cat([ts, torch.zeros((b, 1), dtype=ts.dtype, device=ts.device)], 1)
            ts[torch.arange(b, device=ts.device), lengths] = last
        return SeqInputs(tokens, lengths + 1, None, ts)
