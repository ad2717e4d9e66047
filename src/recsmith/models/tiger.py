"""``tiger``: generative retrieval with semantic ids (Rajput et al., "Recommender Systems with
Generative Retrieval", NeurIPS 2023).

Fitting has two stages:

1. **Semantic ids**, from item content only: each item's text (``text_columns`` of the item table,
   embedded by :func:`recsmith.encoders.encode_texts`) or a precomputed vector column
   (``embedding_column``) is quantised into ``rq_levels`` codes by an RQ-VAE or residual k-means
   (:mod:`recsmith.nn.rqvae`), and items sharing all codes get one more enumerating code
   (:func:`recsmith.nn.trie.unique_ids`). Every catalogue item gets an id, also items never seen in
   training (cold start: they can be generated as soon as their content places them near items
   users move to). The quantisation depends on content and config only, so it is cached in the
   dataset's cache directory and shared by the tuning fits and the refit.
2. **Seq2seq**, trained by the Trainer with the ``network_loss`` objective: one example per (user,
   position) of the training histories; the encoder reads the previous ``max_items`` items as
   semantic-id tokens plus a hashed user token, the decoder learns the next item's tokens
   (:mod:`recsmith.nn.tiger`).

Scoring runs beam search over the trie of valid ids: the ``beam`` generated items of each user get
the log-probability of their id and every other item ``-inf``, so ``recommend`` lists at most
``beam`` items (fewer once seen items are filtered): keep ``beam`` at least the largest k evaluated.

The ids, their statistics and each user's recent history are saved with the network weights, so a
loaded model recommends without side data. Example::

    models:
      tiger: {text_columns: [attributes], rq_levels: 3, rq_codes: 256, dim: 128, beam: 20,
              train: {loss: {name: network_loss}, epochs: 30}}
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from recsmith.data.histories import Histories, window_gather
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.errors import ConfigError, DataError, RecsmithError
from recsmith.models.abilities import ItemSimilarity
from recsmith.models.explainers import OcclusionExplanations
from recsmith.models.registry import register
from recsmith.models.sessions import SessionLists, Sessions, session_csr, session_lists, session_users
from recsmith.models.torch_base import TorchModelConfig, TorchRecommender
from recsmith.utils.logging import log

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

    from recsmith.nn.objectives import Batch
    from recsmith.nn.tiger import TigerNetwork

_CACHE_FORMAT = 1


class TigerConfig(TorchModelConfig):
    # ---- item content
    text_columns: list[str] = Field(
        default_factory=lambda: ["attributes"], description="item-table columns joined into each item's text"
    )
    embedding_column: str | None = Field(
        None, description="item-table column of precomputed content vectors (lists of floats) used instead of text"
    )
    text_model: str = Field("all-MiniLM-L6-v2", description="sentence encoder of the item texts (recsmith.encoders)")
    # ---- semantic ids
    quantiser: Literal["rqvae", "rqkmeans"] = Field("rqvae", description="RQ-VAE (trained) or residual k-means")
    rq_levels: int = Field(3, ge=1, le=8, description="codes per semantic id (before the collision code)")
    rq_codes: int = Field(256, ge=2, description="codewords per level")
    rq_latent_dim: int = Field(32, ge=1, description="rqvae: width of the quantised latent")
    rq_hidden: list[int] = Field(default_factory=lambda: [512, 256, 128], description="rqvae: encoder hidden widths")
    rq_beta: float = Field(0.25, ge=0, description="rqvae: weight of the commitment loss")
    rq_epochs: int = Field(300, ge=1, description="rqvae: passes over the items")
    rq_batch_size: int = Field(1024, ge=2, description="rqvae: items per step (the first batch seeds k-means)")
    rq_lr: float = Field(1e-3, gt=0, description="rqvae: Adam learning rate")
    rq_reset_every: int = Field(50, ge=0, description="rqvae: steps between dead-code resets (0: never)")
    # ---- seq2seq
    max_items: int = Field(20, ge=1, description="most recent history items read by the encoder")
    user_buckets: int = Field(2000, ge=1, description="hashed user-id tokens")
    dim: int = Field(128, ge=8, description="transformer width")
    heads: int = Field(4, ge=1, description="attention heads (must divide dim)")
    encoder_layers: int = Field(2, ge=1, description="transformer blocks of the history encoder")
    decoder_layers: int = Field(2, ge=1, description="transformer blocks of the semantic-id decoder")
    ff_dim: int = Field(512, ge=1, description="feed-forward width")
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout rate in the transformer")
    positions: Literal["relative", "learned"] = Field(
        "relative", description="T5-style relative attention bias or learned absolute positions"
    )
    beam: int = Field(20, ge=1, description="beams of the constrained search = items scored per user")
    cold_share: float = Field(
        0.0,
        ge=0,
        le=1,
        description="the paper's epsilon: up to round(cold_share * beam) items without training "
        "interactions per user, placed right below the generated item whose content prefix they share",
    )
    seed: int = Field(0, ge=0, description="seed of the quantiser (the network follows train.seed)")


@register("tiger")
class Tiger(OcclusionExplanations, SessionLists, ItemSimilarity, TorchRecommender):
    """TIGER; see the module docstring. Item similarity: shared leading codes, then embedding cosine.
    ``session_lists``: a history's finite scores are its beam's items (plus up to
    ``round(cold_share * beam)`` cold items)."""

    summary = "generative retrieval: a transformer decodes the next item's semantic id (sequences, item text)"

    Config = TigerConfig
    config: TigerConfig
    network: TigerNetwork | None
    uses_side_data = True
    default_train: ClassVar[dict[str, Any]] = {"loss": {"name": "network_loss"}, "batch_size": 256}
    #: the network learns the next item's semantic-id tokens with its own loss
    required_loss: ClassVar[str | None] = "network_loss"

    @classmethod
    def required_extras(cls, config: Any, *, fitting: bool) -> tuple[str, ...]:
        """Fitting encodes the item texts (unless they come as vectors); a fitted model keeps its ids."""
        text = fitting and config.embedding_column is None
        return (*cls.extras, "text") if text else cls.extras

    def __init__(self, config=None, **params: Any) -> None:
        super().__init__(config, **params)
        if self.config.dim % self.config.heads:
            raise ConfigError(f"tiger.heads ({self.config.heads}) must divide tiger.dim ({self.config.dim})")
        self.ids: np.ndarray | None = None  # (n_items, D) unique semantic ids
        self.vocab_sizes: list[int] = []
        #: quantisation report: usage / perplexity per level, collision rate, largest collision group
        self.id_stats: dict[str, Any] = {}
        self.histories: Histories | None = None
        self._cold: np.ndarray | None = None  # items without training interactions (set by fit)
        self._device_arrays: dict[str, tuple[Any, Any]] = {}

    # ------------------------------------------------------------------ stage 1: semantic ids
    def prepare_fit(self, interactions: Interactions) -> None:
        # the Trainer calls this under the run's thread count, so the quantiser runs under it too
        self._cold = np.bincount(interactions.frame[Columns.Item].to_numpy(), minlength=self.n_items) == 0
        self.ids, self.vocab_sizes, self.id_stats = self._semantic_ids(self._item_vectors())

    def _item_vectors(self) -> np.ndarray:
        """``(n_items, d)`` content vectors, from ``embedding_column`` or the encoded ``text_columns``."""
        c, side = self.config, self.side
        if side is None or side.items is None:
            raise ConfigError(
                "tiger derives semantic ids from item content: give it the item table with "
                "model.with_side_data(SideData.from_dataset(dataset)) before fit (the benchmark does)"
            )
        if side.n_items != self.n_items:
            raise DataError(
                f"the item table has {side.n_items} rows but the interactions have {self.n_items} items",
                hint="prepare the side data from the same dataset as the interactions",
            )
        if c.embedding_column is not None:
            values = side.item_column(c.embedding_column).to_list()
            if any(v is None for v in values) or len({len(v) for v in values}) != 1:
                raise DataError("every item needs a vector of the same length", column=c.embedding_column)
            return np.asarray(values, dtype=np.float32)
        from recsmith.encoders import EmbeddingCache, encode_texts

        texts = side.item_texts(c.text_columns)
        cache = EmbeddingCache(side.cache_dir) if side.cache_dir is not None else None
        keys = [str(k) for k in side.item_ids] if side.item_ids is not None else None
        return encode_texts(texts, c.text_model, cache=cache, keys=keys if cache is not None else None)

    def _semantic_ids(self, vectors: np.ndarray) -> tuple[np.ndarray, list[int], dict[str, Any]]:
        from recsmith.nn.trie import unique_ids

        c = self.config
        cached = self._read_cache(vectors)
        if cached is None:
            quant = self._quantise(vectors)
            cached = {
                "codes": quant.codes,
                "usage": quant.usage,
                "perplexity": quant.perplexity,
                "reconstruction": np.asarray(quant.reconstruction),
            }
            self._write_cache(vectors, cached)
        ids, collisions = unique_ids(cached["codes"])
        stats: dict[str, Any] = {
            "quantiser": c.quantiser,
            "usage": [round(float(u), 4) for u in cached["usage"]],
            "perplexity": [round(float(p), 1) for p in cached["perplexity"]],
            "reconstruction": float(cached["reconstruction"]),
            **collisions,
        }
        log(
            f"tiger semantic ids ({c.quantiser}, {c.rq_levels}x{c.rq_codes}): usage per level {stats['usage']}, "
            f"perplexity {stats['perplexity']}, collision rate {stats['collision_rate']:.3f}, "
            f"largest group {stats['max_group']}"
        )
        collapsed = [level for level, u in enumerate(stats["usage"]) if u * c.rq_codes < 2]
        if collapsed:
            log(
                f"[yellow]warning[/yellow]: tiger codebook level(s) {collapsed} put every item on one code, so "
                "the collision code alone identifies items; train the quantiser longer (rq_epochs) or use "
                "quantiser=rqkmeans"
            )
        return ids, [c.rq_codes] * c.rq_levels + [max(int(collisions["max_group"]), 1)], stats

    def _quantise(self, vectors: np.ndarray):
        from recsmith.nn.rqvae import rq_kmeans, train_rqvae

        c = self.config
        if c.quantiser == "rqkmeans":
            return rq_kmeans(vectors, levels=c.rq_levels, codes=c.rq_codes, seed=c.seed)
        quant, _ = train_rqvae(
            vectors,
            levels=c.rq_levels,
            codes=c.rq_codes,
            latent_dim=c.rq_latent_dim,
            hidden=c.rq_hidden,
            beta=c.rq_beta,
            epochs=c.rq_epochs,
            batch_size=c.rq_batch_size,
            lr=c.rq_lr,
            reset_every=c.rq_reset_every,
            seed=c.seed,
        )
        return quant

    # the quantisation depends on the content vectors and the quantiser settings only
    def _cache_path(self, vectors: np.ndarray):
        if self.side is None or self.side.cache_dir is None:
            return None
        keys = [
            "quantiser",
            "rq_levels",
            "rq_codes",
            "rq_latent_dim",
            "rq_hidden",
            "rq_beta",
            "rq_epochs",
            "rq_batch_size",
            "rq_lr",
            "rq_reset_every",
            "seed",
        ]
        settings = json.dumps({k: getattr(self.config, k) for k in keys}, sort_keys=True)
        digest = hashlib.blake2b(np.ascontiguousarray(vectors).tobytes() + settings.encode(), digest_size=12)
        return self.side.cache_dir / "tiger" / f"ids-{_CACHE_FORMAT}-{digest.hexdigest()}.npz"

    def _read_cache(self, vectors: np.ndarray) -> dict[str, np.ndarray] | None:
        path = self._cache_path(vectors)
        if path is None or not path.exists():
            return None
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}

    def _write_cache(self, vectors: np.ndarray, arrays: dict[str, np.ndarray]) -> None:
        import io

        from recsmith.utils.atomic import atomic_write_bytes

        path = self._cache_path(vectors)
        if path is None:
            return
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        atomic_write_bytes(path, buffer.getvalue())  # a reader never sees half a file

    # ------------------------------------------------------------------ stage 2: seq2seq
    def build_network(self, *, sparse: bool = False):
        from recsmith.nn.tiger import TigerNetwork

        c = self.config
        return TigerNetwork(
            self._fitted(self.ids, "semantic ids"),
            self.vocab_sizes,
            user_buckets=c.user_buckets,
            max_items=c.max_items,
            dim=c.dim,
            heads=c.heads,
            encoder_layers=c.encoder_layers,
            decoder_layers=c.decoder_layers,
            ff_dim=c.ff_dim,
            dropout=c.dropout,
            positions=c.positions,
            beam=c.beam,
            cold=self._cold,
            cold_per_user=round(c.cold_share * c.beam),
        )

    def training_examples(self, interactions: Interactions) -> dict[str, np.ndarray]:
        """One example per (user, position) whose item has a predecessor: flat indices into the histories."""
        h = Histories.from_interactions(interactions)
        self._set_histories(h)
        users = np.repeat(np.arange(h.n_users, dtype=np.int64), h.lengths)
        position = np.arange(len(h.items), dtype=np.int64)
        keep = position > h.offsets[users]  # a user's first item has no history to predict it from
        if not keep.any():
            raise RecsmithError("tiger: no user has two or more interactions to learn a next item from")
        return {"user": users[keep], "position": position[keep]}

    def make_batch(self, rows: dict[str, "torch.Tensor"]) -> "Batch":
        import torch

        from recsmith.nn.objectives import Batch

        users, position = rows["user"], rows["position"]
        offsets, items = self._arrays(users.device)
        # window ending just before ``position``: drop the items from ``position`` on
        history = window_gather(
            offsets, items, users, self.config.max_items, pad=-1, shift=offsets[users + 1] - position
        )
        return Batch(
            inputs=(users, history),
            users=users,
            positives=items[position],
            targets=torch.ones(len(users), device=users.device),
        )

    def score_inputs(self, users: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
        """Each user's most recent ``max_items`` training items."""
        offsets, items = self._arrays(users.device)
        return users, window_gather(offsets, items, users, self.config.max_items, pad=-1)

    def session_scores(
        self, sessions: Sessions, *, users: Sequence[int] | None = None, timestamps: list[list[int]] | None = None
    ) -> np.ndarray:
        """``(len(sessions), n_items)``: the beam's items for each history get their id's
        log-probability, every other item ``-inf``. ``users`` choose the user token (``-1`` or none:
        the average of the user tokens); ``timestamps`` are not used."""
        import torch

        self._check_fitted()
        lists = session_lists(sessions, self.n_items)
        offsets, flat = session_csr(lists)
        rows = np.arange(len(lists), dtype=np.int64)
        history = torch.from_numpy(window_gather(offsets, flat, rows, self.config.max_items, pad=-1))
        user_ids = torch.from_numpy(session_users(users, len(lists)))
        return self.network_scores(lambda device: (user_ids.to(device), history.to(device))).cpu().numpy()

    def list_size(self) -> int:
        """The beam's items (at most the catalogue) plus the cold items a list may take in."""
        c = self.config
        return min(c.beam, self.n_items) + round(c.cold_share * c.beam)

    def _explained_window(self) -> int:
        return self.config.max_items

    def _history_item_scores(self, histories: list[np.ndarray], user: int, items: np.ndarray) -> np.ndarray:
        """The log-probability of each item's id after each history, by teacher forcing: the beam
        gives its items the same score, but an occluded history may push an item out of the beam."""
        import torch

        offsets, flat = session_csr(histories)
        rows = np.arange(len(histories), dtype=np.int64)
        history = torch.from_numpy(window_gather(offsets, flat, rows, self.config.max_items, pad=-1))
        user_ids = torch.full((len(histories),), user, dtype=torch.int64)
        targets = torch.from_numpy(np.asarray(items, dtype=np.int64))
        scores = self.network_scores(lambda device: (user_ids.to(device), history.to(device)), targets)
        return scores.cpu().numpy()

    def training_history(self, user: int) -> np.ndarray:
        """The user's training history; after ``load`` its last ``max_items`` items (all scoring reads)."""
        self._check_fitted()
        histories = self._fitted(self.histories, "histories")
        return histories.of(int(self._checked_users([user])[0])).astype(np.int64)

    def _set_histories(self, histories: Histories) -> None:
        self.histories = histories
        self._device_arrays = {}

    def _arrays(self, device: "torch.device") -> tuple["torch.Tensor", "torch.Tensor"]:
        import torch

        key = str(device)
        if key not in self._device_arrays:
            h = self._fitted(self.histories, "histories")
            self._device_arrays[key] = (torch.from_numpy(h.offsets).to(device), torch.from_numpy(h.items).to(device))
        return self._device_arrays[key]

    # ------------------------------------------------------------------ similar items
    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        """Leading codes shared with the query (0..D), plus a tie-break in [0, 0.5]: the cosine of the
        items' summed token embeddings, so siblings under the same prefix are ordered by the network."""
        ids, network = self._fitted(self.ids, "semantic ids"), self._fitted(self.network, "network")
        shared = np.cumprod(ids[items][:, None, :] == ids[None, :, :], axis=2).sum(axis=2).astype(np.float32)
        tokens = network.tokens.cpu()
        vectors = network.embed.weight.detach().cpu()[tokens].sum(1).numpy().astype(np.float32)
        unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return shared + (unit[items] @ unit.T + 1) / 4

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v for k, v in super()._state().items()}
        recent = _recent(self._fitted(self.histories, "histories"), self.config.max_items)  # all scoring reads
        state.update(
            {
                "hist.offsets": recent.offsets,
                "hist.items": recent.items,
                "ids": self._fitted(self.ids, "semantic ids"),
                "vocab_sizes": np.asarray(self.vocab_sizes, dtype=np.int64),
                "id_stats": np.frombuffer(json.dumps(self.id_stats).encode(), dtype=np.uint8),
            }
        )
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        self.ids = state["ids"]
        self.vocab_sizes = [int(v) for v in state["vocab_sizes"]]
        self.id_stats = json.loads(state["id_stats"].tobytes().decode())
        items = state["hist.items"]
        self._set_histories(Histories(state["hist.offsets"], items, np.zeros_like(items), self.n_items))
        net = {k[len("net.") :]: v for k, v in state.items() if k.startswith("net.")}
        net.setdefault("cold", np.zeros(len(self.ids), dtype=bool))  # saved before cold items were tracked
        super()._load_state(net)


def _recent(h: Histories, length: int) -> Histories:
    """The last ``length`` items of every history (CSR again)."""
    keep = np.minimum(h.lengths, length)
    offsets = np.zeros_like(h.offsets)
    np.cumsum(keep, out=offsets[1:])
    ends = h.offsets[1:]
    index = np.repeat(ends - offsets[1:], keep) + np.arange(offsets[-1])  # source position of each kept item
    return Histories(offsets, h.items[index], h.timestamps[index], h.n_items)
