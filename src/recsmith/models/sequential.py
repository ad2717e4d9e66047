"""The shared base of sequential recommenders: the data path, scoring of any history, persistence.

A sequential model learns from each user's items in time order and predicts the next one. The
histories are CSR arrays (:class:`~recsmith.data.histories.Histories`); a training batch is a set of
users whose windows are cut on the training device with one gather, so memory is
``O(batch x max_len)`` whatever the lengths and no per-user Python objects exist. Subclasses choose
the encoder (``kind``) and the training task (next item, or masked items for BERT4Rec).

Inference works for any history: a known user's training history (``recommend``), or an arbitrary
list of item ids, an anonymous session (:meth:`SequentialRecommender.recommend_sessions`), which the
serving layer uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from recsmith.data.histories import Histories, window_gather
from recsmith.data.interactions import Interactions
from recsmith.errors import RecsmithError
from recsmith.models.abilities import ItemSimilarity, tensor_table
from recsmith.models.explainers import OcclusionExplanations
from recsmith.models.sessions import QueryEncoder, QueryVectors, Sessions, session_csr, session_lists
from recsmith.models.torch_base import TorchModelConfig, TorchRecommender

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

    from recsmith.nn.objectives import Batch
    from recsmith.nn.sequential import SeqInputs, SequentialNetwork


#: batches whose examples are sorted by length together (bigger: less padding, less randomness)
BUCKET_BATCHES = 32


class SequentialConfig(TorchModelConfig):
    dim: int = Field(64, ge=2, description="embedding and hidden size")
    max_len: int = Field(50, ge=2, le=4096, description="most recent items read per history")
    layers: int = Field(1, ge=1, description="transformer blocks / GRU layers")
    heads: int = Field(1, ge=1, description="attention heads (transformers)")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout rate on embeddings and inside the blocks")
    positions: Literal["learned", "rope"] = Field(
        "learned", description="learned absolute (recency) position embeddings, or rotary (RoPE)"
    )
    item_features: list[str] = Field(
        default_factory=list,
        description="item-table columns (categorical or lists) whose embeddings are added "
        "to the item representation, e.g. [attributes] or [genres]",
    )
    time_gaps: bool = Field(False, description="embed log2 buckets of the time since the previous interaction")
    time_of_day: bool = Field(False, description="embed hour of day and day of week of each interaction (UTC)")


class SequentialRecommender(OcclusionExplanations, QueryVectors, ItemSimilarity, TorchRecommender):
    """Base of SASRec / BERT4Rec / GRU4Rec; see the module docstring."""

    Config = SequentialConfig
    config: SequentialConfig
    network: SequentialNetwork | None
    uses_side_data = True  # only for ``item_features``
    #: encoder of the network: causal, bidirectional or gru
    kind: ClassVar[str] = "causal"
    #: full softmax by default (the issue's and eSASRec's finding: it beats sampled losses when affordable)
    default_train: ClassVar[dict[str, Any]] = {"loss": {"name": "softmax"}, "batch_size": 128}

    def __init__(self, config=None, **params: Any) -> None:
        super().__init__(config, **params)
        self.histories: Histories | None = None
        self._attrs: tuple[np.ndarray, np.ndarray, int] | None = None  # offsets, values, vocabulary size
        self._device_arrays: dict[str, Any] = {}

    @property
    def pad(self) -> int:
        return self.n_items

    @property
    def mask_token(self) -> int:
        return self.n_items + 1

    # ------------------------------------------------------------------ network
    def build_network(self, *, sparse: bool = False):
        import torch

        from recsmith.nn.sequential import ItemTable, SequentialNetwork

        c = self.config
        table = None
        if self._attrs is not None:
            offsets, values, n_values = self._attrs
            table = ItemTable(
                self.n_items,
                c.dim,
                attr_offsets=torch.from_numpy(offsets),
                attr_values=torch.from_numpy(values),
                n_attr_values=n_values,
            )
        return SequentialNetwork(
            self.n_items,
            kind=self.kind,
            dim=c.dim,
            max_len=c.max_len + 1,
            layers=c.layers,
            heads=c.heads,
            dropout=c.dropout,
            positions=c.positions,
            time_gaps=c.time_gaps,
            time_of_day=c.time_of_day,
            item_table=table,
        )

    # ------------------------------------------------------------------ training data
    def prepare_fit(self, interactions: Interactions) -> None:
        # the network's item table needs the attribute ids: derive them before the Trainer builds it
        self._set_histories(Histories.from_interactions(interactions))
        if self.config.item_features:
            self._attrs = item_attribute_ids(self.side, self.config.item_features, self.n_items, self.name)

    def training_examples(self, interactions: Interactions) -> dict[str, np.ndarray]:
        """One example per user with at least two items: the batch is cut from the histories later."""
        histories = self.histories
        if histories is None or histories.n_users != interactions.n_users:
            histories = Histories.from_interactions(interactions)
            self._set_histories(histories)
        users = np.flatnonzero(histories.lengths >= 2).astype(np.int64)
        if users.size == 0:
            raise RecsmithError(f"{self.name}: no user has two or more interactions to learn a next item from")
        return {"user": users}

    def batch_order(self, order: "torch.Tensor", batch_size: int, generator: "torch.Generator") -> "torch.Tensor":
        """Bucket by length: sort each run of ``BUCKET_BATCHES`` batches of the random order by history
        length, cut it into batches, and shuffle the batches. A batch then holds histories of similar
        length and :meth:`make_batch` trims its windows to the longest, so padding costs almost
        nothing (on Beauty most histories are a few items long, a random batch's longest ~45).
        """
        import torch

        lengths = torch.from_numpy(self._fitted(self.histories, "histories").lengths)[order.cpu()].clamp(
            max=self.config.max_len + 1
        )
        chunk = batch_size * BUCKET_BATCHES
        parts = []
        for start in range(0, len(order), chunk):
            sl = slice(start, start + chunk)
            parts.append(order[sl][torch.argsort(lengths[sl], stable=True).to(order.device)])
        regrouped = torch.cat(parts) if parts else order
        batches = list(torch.split(regrouped, batch_size))
        shuffled = torch.randperm(len(batches), generator=generator).tolist()
        return torch.cat([batches[i] for i in shuffled]) if batches else order

    def _batch_len(self, users: "torch.Tensor", extra: int) -> int:
        """Window length for a batch: its longest history (+ ``extra``), at most ``max_len + extra``."""
        offsets = self._device_arrays_for(users)[0]
        longest = int((offsets[users + 1] - offsets[users]).max()) if len(users) else 1
        return max(2, min(self.config.max_len + extra, longest))

    def make_batch(self, rows: dict[str, "torch.Tensor"]) -> "Batch":
        """Next-item prediction at every real position (SASRec, GRU4Rec); BERT4Rec overrides."""
        import torch

        from recsmith.nn.objectives import Batch
        from recsmith.nn.sequential import SeqInputs

        users = rows["user"]
        length = self._batch_len(users, 1)
        window = self._window(users, length)
        targets = window[:, 1:]
        select = targets != self.pad
        tokens = torch.where(select, window[:, :-1], self.pad)  # the last item has no target: not an input
        timestamps = None
        if self._time_features:
            ts = self._window(users, length, timestamps=True)[:, :-1]
            timestamps = torch.where(select, ts, 0)
        inputs = SeqInputs(tokens, select.sum(1), select, timestamps)
        return Batch(
            inputs=inputs,
            users=users[:, None].expand_as(select)[select],
            positives=targets[select],
            targets=torch.ones(int(select.sum()), device=users.device),
        )

    # ------------------------------------------------------------------ scoring
    def score_inputs(self, users: "torch.Tensor") -> "SeqInputs":
        """The most recent ``max_len`` items of each user's training history."""
        import torch

        from recsmith.nn.sequential import SeqInputs

        tokens = self._window(users, self._history_len)
        ts = self._window(users, self._history_len, timestamps=True) if self._time_features else None
        lengths = (tokens != self.pad).sum(1).clamp(min=1)
        return self._query(SeqInputs(tokens, lengths, None, ts), torch)

    def _query(self, inputs: "SeqInputs", torch_module) -> "SeqInputs":
        """Hook: how a history becomes a query (BERT4Rec appends its mask token)."""
        return inputs

    def query_vectors(
        self, sessions: Sessions, *, users: Sequence[int] | None = None, timestamps: list[list[int]] | None = None
    ) -> np.ndarray:
        """``(len(sessions), dim)`` float32: the encoder's output at each history's last position (or
        BERT4Rec's appended mask token), which scores the next item against the tied item table
        (``users`` are ignored: the history is the whole query)."""
        self._check_fitted()
        return self._hidden(self._session_inputs(sessions, timestamps))

    def query_encoder(self) -> QueryEncoder | None:
        """``(tokens (B, L), lengths (B,))`` -> queries; None with time features (not exported)."""
        if self._time_features:
            return None
        import torch

        from recsmith.nn.sequential import SeqInputs

        network = self._fitted(self.network, "network")

        class Encoder(torch.nn.Module):
            table: torch.Tensor

            def __init__(self) -> None:
                super().__init__()
                self.network = network
                # the item table as a constant: attribute embeddings are pooled once, not per call
                self.register_buffer("table", network.items.full().detach().clone())

            def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
                return self.network.hidden(SeqInputs(tokens, lengths), self.table)

        def inputs(sessions: Sessions, users: Sequence[int] | None = None) -> dict[str, np.ndarray]:
            prepared = self._session_inputs(sessions, None)
            return {"tokens": prepared.tokens.numpy(), "lengths": prepared.lengths.numpy()}

        return QueryEncoder(Encoder().eval(), inputs, {"tokens": {0: "batch", 1: "length"}, "lengths": {0: "batch"}})

    def _history_item_scores(self, histories: list[np.ndarray], user: int, items: np.ndarray) -> np.ndarray:
        """Occlusion scores only the explained items: ``(len(histories), len(items))``."""
        import torch

        inputs = self._session_inputs(histories, None)
        targets = torch.from_numpy(np.asarray(items, dtype=np.int64))
        return self.network_scores(lambda device: inputs.to(device), targets).cpu().numpy()

    def _session_inputs(self, sessions: Sessions, timestamps: list[list[int]] | None) -> "SeqInputs":
        """The network inputs of histories (BERT4Rec: with the mask token appended)."""
        import torch

        from recsmith.nn.sequential import SeqInputs

        lists = session_lists(sessions, self.n_items)
        offsets, flat = session_csr(lists)
        ts_flat = (
            np.concatenate([np.asarray(t, dtype=np.int64) for t in timestamps]) if timestamps else np.zeros_like(flat)
        )
        rows = np.arange(len(lists), dtype=np.int64)
        # the window ends at the longest history of the batch: right padding after it changes no output
        # (causal attention and the GRU read left to right, BERT4Rec masks padded keys, positions
        # count back from each history's end), and sessions are short (Beauty's median history: 6)
        length = max(1, min(self._history_len, max((len(s) for s in lists), default=1)))
        tokens = window_gather(offsets, flat, rows, length, pad=self.pad, right_pad=True)
        ts = window_gather(offsets, ts_flat, rows, length, pad=0, right_pad=True)
        inputs = SeqInputs(
            torch.from_numpy(tokens),
            torch.from_numpy((tokens != self.pad).sum(1).clip(1, None)),
            None,
            torch.from_numpy(ts) if self._time_features else None,
        )
        return self._query(inputs, torch)

    def user_query_vectors(self, users: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """Query vectors of known users from their training windows (with their timestamps), in the
        fixed padded blocks of ``scores`` (a user's vector never depends on who shares the block)."""
        import torch

        self._check_fitted()
        users = np.arange(self.n_users) if users is None else self._checked_users(users)
        n, block = len(users), self.score_block
        padded = np.resize(users, -(-n // block) * block) if n else users
        out = np.empty((len(padded), self.config.dim), dtype=np.float32)
        for start in range(0, len(padded), block):
            chunk = torch.from_numpy(np.ascontiguousarray(padded[start : start + block], dtype=np.int64))
            out[start : start + block] = self._hidden(self.score_inputs(chunk))
        return out[:n]

    def output_item_vectors(self) -> np.ndarray:
        """``(n_items, dim)``: the tied item table the outputs are scored against (ids + attributes)."""
        network = self._fitted(self.network, "network")
        return tensor_table(self.network_call(lambda _, device: network.items.full()[: self.n_items]))

    def _hidden(self, inputs: "SeqInputs") -> np.ndarray:
        network = self._fitted(self.network, "network")
        return (
            self.network_call(lambda _, device: network.hidden(inputs.to(device), network.items.full()))
            .float()
            .cpu()
            .numpy()
        )

    def training_history(self, user: int) -> np.ndarray:
        """The user's whole training history (scoring reads its last ``max_len`` items)."""
        self._check_fitted()
        histories = self._fitted(self.histories, "histories")
        return histories.of(int(self._checked_users([user])[0])).astype(np.int64)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        """Cosine similarity of the (tied) item representations."""
        import torch

        with torch.no_grad():
            table = self._fitted(self.network, "network").items.full()[: self.n_items].detach().float().cpu()
        unit = torch.nn.functional.normalize(table, dim=1)
        return (unit[torch.from_numpy(np.asarray(items, dtype=np.int64))] @ unit.T).numpy()

    def _explained_window(self) -> int:
        return self._history_len

    # ------------------------------------------------------------------ helpers
    @property
    def _history_len(self) -> int:
        """History items read at scoring time (BERT4Rec keeps one place for its mask token)."""
        return self.config.max_len

    @property
    def _time_features(self) -> bool:
        return self.config.time_gaps or self.config.time_of_day

    def _set_histories(self, histories: Histories) -> None:
        self.histories = histories
        self._device_arrays = {}

    def _window(self, users: "torch.Tensor", length: int, *, timestamps: bool = False) -> "torch.Tensor":
        """Right-padded windows of the most recent ``length`` items (or their timestamps), on ``users``' device."""
        offsets, items, ts = self._device_arrays_for(users)
        values, pad = (ts, 0) if timestamps else (items, self.pad)
        return window_gather(offsets, values, users, length, pad=pad, right_pad=True)

    def _device_arrays_for(self, like: "torch.Tensor") -> tuple["torch.Tensor", ...]:
        """The history arrays (offsets, items, timestamps) as tensors on ``like``'s device, made once."""
        import torch

        key = str(like.device)
        if key not in self._device_arrays:
            h = self._fitted(self.histories, "histories")
            self._device_arrays[key] = tuple(
                torch.from_numpy(a).to(like.device) for a in (h.offsets, h.items, h.timestamps)
            )
        return self._device_arrays[key]

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v for k, v in super()._state().items()}
        h = self._fitted(self.histories, "histories")
        state.update({"hist.offsets": h.offsets, "hist.items": h.items, "hist.timestamps": h.timestamps})
        if self._attrs is not None:
            state.update(
                {
                    "attr.offsets": self._attrs[0],
                    "attr.values": self._attrs[1],
                    "attr.n_values": np.asarray(self._attrs[2]),
                }
            )
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self._set_histories(
            Histories(state["hist.offsets"], state["hist.items"], state["hist.timestamps"], self.n_items)
        )
        if "attr.offsets" in state:
            self._attrs = (state["attr.offsets"], state["attr.values"], int(state["attr.n_values"]))
        super()._load_state({k[len("net.") :]: v for k, v in state.items() if k.startswith("net.")})


def item_attribute_ids(side, columns: list[str], n_items: int, model: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Jagged attribute ids of every item over ``columns`` (one shared vocabulary, ids from 1).

    Values are namespaced by column (``genres=Drama``), so equal strings in two columns stay apart.
    Returns ``(offsets (n_items + 1,), values, vocabulary size)``.
    """
    import polars as pl

    if side is None or side.items is None:
        raise RecsmithError(f"{model}: item_features {columns} need the dataset's item table, which is missing")
    if side.n_items != n_items:
        raise RecsmithError(f"{model}: the item table has {side.n_items} rows but the data has {n_items} items")
    per_item: list[list[str]] = [[] for _ in range(n_items)]
    for name in columns:
        col = side.item_column(name)
        if not isinstance(col.dtype, pl.List):
            col = col.cast(pl.Utf8).map_elements(lambda v: [v], return_dtype=pl.List(pl.Utf8))
        for i, values in enumerate(col.cast(pl.List(pl.Utf8)).to_list()):
            per_item[i].extend(f"{name}={v}" for v in (values or []) if v is not None)
    vocab = {v: j + 1 for j, v in enumerate(sorted({v for vs in per_item for v in vs}))}
    lengths = np.array([len(vs) for vs in per_item], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    values = np.array([vocab[v] for vs in per_item for v in vs], dtype=np.int64)
    return offsets, values, len(vocab)
