"""``two_tower``: a retrieval model whose item vectors come from item content, so cold items rank too.

The item tower embeds an item's id, its categorical columns (TorchRec bags) and its text (a frozen
sentence-transformer vector, or a fine-tuned encoder); the user tower embeds the user's categorical
columns and their last ``history_len`` training items (mean or attention pooled), optionally their
id. Both end in an MLP and are L2-normalised; ``score = <q_u, v_i> / temperature``
(:mod:`recsmith.nn.two_tower`). Trained by the Trainer with in-batch InfoNCE and the logQ correction
by default; ``loss: sampled_softmax`` with ``sampler: hard`` mines hard negatives. Example::

    models:
      two_tower:
        item_columns: [genres]
        user_columns: [age, gender, occupation]
        text_columns: [name, genres]

A training example's history is the user's items *before* it (no item predicts itself); scoring
reads the last ``history_len`` items of the whole training history. Everything derived from the
side data -- vocabularies, jagged feature ids, the frozen text matrix, item tokens when the encoder
is fine-tuned, the histories -- is saved in the model state, so a loaded model needs neither side
data nor an encoder (a fine-tuned one is rebuilt from its saved weights).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import polars as pl
from pydantic import Field

from recsmith.data.histories import window_gather
from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.errors import ConfigError, RecsmithError
from recsmith.models.abilities import FoldIn, ItemSimilarity
from recsmith.models.explainers import FoldInExplanations
from recsmith.models.registry import register
from recsmith.models.sessions import QueryVectors, Sessions, session_csr, session_lists, session_users
from recsmith.models.torch_base import TorchModelConfig, TorchRecommender

if TYPE_CHECKING:
    import torch

    from recsmith.nn.embeddings import JaggedFeature
    from recsmith.nn.objectives import Batch

#: the parameters of a fine-tuned text encoder (their own learning rate, ``text_lr``)
TEXT_ENCODER_PARAMS = "item_tower.text_encoder.*"


@register("two_tower")
class TwoTower(FoldInExplanations, QueryVectors, FoldIn, ItemSimilarity, TorchRecommender):
    """Two-tower retrieval. The towers' unit vectors are the ``embeddings`` (scores divide their
    inner product by ``temperature``); fold-in solves for a user vector against the item vectors with
    the default constants; item similarity is the cosine of the item tower's vectors. The user tower
    reads any history (``sessions``): its output divided by ``temperature`` is the ``query_vectors``
    query against the unit item vectors; an anonymous history (user ``-1``) has no user features."""

    summary = "retrieval with item vectors from item content, so cold items rank too (torch)"

    uses_side_data = True
    default_train: ClassVar[dict[str, Any]] = {
        "loss": {"name": "infonce"},
        "batch_size": 512,
        "epochs": 30,
        "optimizer": {"lr": 0.003},
    }
    extras = ("torch", "torchrec")

    class Config(TorchModelConfig):
        dim: int = Field(64, ge=1, description="width of the user and item vectors")
        embedding_dim: int = Field(32, ge=1, description="width of each id / categorical / text-projection embedding")
        hidden: list[int] = Field(default_factory=lambda: [128], description="hidden layer widths of both towers' MLPs")
        dropout: float = Field(0.0, ge=0, lt=1, description="dropout after each hidden layer")
        temperature: float = Field(0.05, gt=0, description="score = cosine / temperature")
        item_id: bool = Field(True, description="an embedding per item id (cold items have none)")
        user_id: bool = Field(False, description="an embedding per user id")
        item_columns: list[str] = Field(default_factory=list, description="categorical item columns (str, int, lists)")
        user_columns: list[str] = Field(default_factory=list, description="categorical user columns (str, int, lists)")
        max_vocab: int | None = Field(10_000, ge=1, description="most frequent values kept per column; rest unknown")
        text_columns: list[str] = Field(default_factory=list, description="item columns joined into the item text")
        # literal, equal to recsmith.encoders.DEFAULT_TEXT_MODEL: importing that module imports torch,
        # and the registry imports every model module to list them
        text_model: str = Field("all-MiniLM-L6-v2", description="text encoder: a name or local path")
        text_freeze: bool = Field(True, description="encode the texts once (False: fine-tune the encoder)")
        text_lr: float = Field(1e-5, gt=0, description="learning rate of the fine-tuned text encoder")
        text_max_length: int = Field(64, ge=1, description="tokens kept per item text")
        history_len: int = Field(50, ge=0, description="last training items describing a user (0: none)")
        history_pooling: Literal["mean", "attention"] = Field("attention", description="how history items are pooled")
        history_mode: Literal["past", "others"] = Field(
            "past",
            description="a training example's history: the user's last items before it (past: learns "
            "what comes next), or their last training items other than it (others: learns co-occurrence)",
        )
        init_std: float = Field(0.05, gt=0, description="std of the normal initialisation of the embedding tables")

    config: Config

    @classmethod
    def required_extras(cls, config: Any, *, fitting: bool) -> tuple[str, ...]:
        """Item texts are encoded when fitting; a fine-tuned encoder is rebuilt when loading too."""
        text = bool(config.text_columns) and (fitting or not config.text_freeze)
        return (*cls.extras, "text") if text else cls.extras

    def __init__(self, config: Any = None, **params: Any) -> None:
        super().__init__(config, **params)
        self.item_features: list[JaggedFeature] = []
        self.user_features: list[JaggedFeature] = []
        self.text: np.ndarray | None = None  # (n_items, t) frozen text vectors
        self.tokens: dict[str, np.ndarray] = {}  # item tokens of a fine-tuned encoder
        self.user_history: np.ndarray | None = None  # (n_users, history_len) last training items, -1 padded
        # while fitting: the training sequences that make_batch cuts the examples' histories from
        self._sequence: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ training hooks
    def training_defaults(self) -> dict[str, Any]:
        """:attr:`default_train`, plus a parameter group for a fine-tuned encoder (``text_lr``); a run
        that sets ``optimizer.param_groups`` itself replaces the list."""
        c = self.config
        if not c.text_columns or c.text_freeze:
            return self.default_train
        group = {"params": TEXT_ENCODER_PARAMS, "lr": c.text_lr}
        return {**self.default_train, "optimizer": {**self.default_train.get("optimizer", {}), "param_groups": [group]}}

    def prepare_fit(self, interactions: Interactions) -> None:
        self._derive_side_features()
        self._prepare_histories(interactions)

    def end_fit(self) -> None:
        self._sequence = {}

    def _derive_side_features(self) -> None:
        """Vocabulary ids of the configured columns and the item text vectors, from ``self.side``."""
        from recsmith.nn.embeddings import jagged_from_column

        c = self.config
        needs = [
            f"{name}={value}"
            for name, value in (
                ("item_columns", c.item_columns),
                ("user_columns", c.user_columns),
                ("text_columns", c.text_columns),
            )
            if value
        ]
        side = self.side
        if side is None:
            if needs:
                raise ConfigError(
                    f"two_tower with {', '.join(needs)} reads item / user attributes, but it got no side data: "
                    "call model.with_side_data(SideData.from_dataset(dataset, path)) before fit"
                )
            self.item_features, self.user_features, self.text, self.tokens = [], [], None, {}  # nothing to derive
            return
        users = side.users
        if c.user_columns and users is None:
            raise ConfigError(f"two_tower.user_columns={c.user_columns}, but the dataset has no user table")
        self.item_features = [
            jagged_from_column(
                _aligned(side.item_column(name), self.n_items, "item"), f"item.{name}", max_vocab=c.max_vocab
            )
            for name in c.item_columns
        ]
        self.user_features = (
            [
                jagged_from_column(
                    _aligned(_user_column(users, name), self.n_users, "user"), f"user.{name}", max_vocab=c.max_vocab
                )
                for name in c.user_columns
            ]
            if users is not None
            else []  # no user table, so no user columns (checked above)
        )
        self.text, self.tokens = None, {}
        if c.text_columns:
            self._encode_texts(side)

    def _encode_texts(self, side: Any) -> None:
        from recsmith.encoders import EmbeddingCache, TextEncoder, encode_texts

        c = self.config
        texts = side.item_texts(c.text_columns)
        if len(texts) != self.n_items:
            raise ConfigError(
                f"the item table has {len(texts)} rows for {self.n_items} items; build SideData from the same dataset"
            )
        cache = EmbeddingCache(side.cache_dir) if side.cache_dir is not None else None
        keys = [str(k) for k in side.item_ids] if side.item_ids is not None and cache is not None else None
        self.text = encode_texts(texts, c.text_model, cache=cache, keys=keys, max_length=c.text_max_length)
        if not c.text_freeze:
            encoder = TextEncoder(c.text_model, freeze=True, max_length=c.text_max_length)  # only its tokenizer
            self.tokens = {k: v.numpy() for k, v in encoder.tokenize(texts).items()}

    def _prepare_histories(self, interactions: Interactions) -> None:
        """Training sequences (for the examples' histories) and every user's last items (for scoring)."""
        import torch

        f = _chronological(interactions)
        counts = np.bincount(f[Columns.User].to_numpy(), minlength=self.n_users)
        offsets = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        items = f[Columns.Item].to_numpy().astype(np.int64)
        self._sequence = {"offsets": torch.from_numpy(offsets), "items": torch.from_numpy(items)}
        self.user_history = window_gather(offsets, items, np.arange(self.n_users), self.config.history_len, pad=-1)

    def training_examples(self, interactions: Interactions) -> dict[str, np.ndarray]:
        """One example per interaction, in the order of the sequences; ``position`` indexes them."""
        f = _chronological(interactions)
        return {
            "user": f[Columns.User].to_numpy().astype(np.int64),
            "item": f[Columns.Item].to_numpy().astype(np.int64),
            "weight": f[Columns.Weight].to_numpy().astype(np.float32),
            "position": np.arange(f.height, dtype=np.int64),
        }

    def make_batch(self, rows: dict[str, "torch.Tensor"]) -> "Batch":
        from recsmith.nn.objectives import Batch

        users = rows["user"]
        seq = self._sequence
        if seq["items"].device != users.device:
            self._sequence = seq = {k: v.to(users.device) for k, v in seq.items()}
        history = example_histories(
            seq["offsets"], seq["items"], users, rows["position"], self.config.history_len, self.config.history_mode
        )
        return Batch(inputs=(users, history), users=users, positives=rows["item"], targets=rows["weight"])

    def score_inputs(self, users: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
        import torch

        user_history = self._fitted(self.user_history, "user histories")
        history = torch.from_numpy(user_history[users.cpu().numpy()]).to(users.device)
        return users, history

    # ------------------------------------------------------------------ the network
    def build_network(self, *, sparse: bool = False):
        from recsmith.nn.embeddings import id_feature
        from recsmith.nn.two_tower import ItemTower, TwoTowerNetwork, UserTower

        if sparse:
            raise ConfigError("two_tower has dense layers: train it with optimizer adam or adamw, not sparse_adam")
        c = self.config
        item_features = list(self.item_features)
        if c.item_id:  # no id row for items without training interactions: their content speaks for them
            trained_items = self._fitted(self._popularity, "item popularity") > 0
            item_features.insert(0, id_feature("item.id", self.n_items, present=trained_items))
        user_features = list(self.user_features)
        if c.user_id:
            seen_users = np.diff(self.seen.indptr) > 0
            user_features.insert(0, id_feature("user.id", self.n_users, present=seen_users))
        encoder = None
        if c.text_columns and not c.text_freeze:
            from recsmith.encoders import TextEncoder

            encoder = TextEncoder(c.text_model, freeze=False, max_length=c.text_max_length)
        layers: dict[str, Any] = {"hidden": c.hidden, "dropout": c.dropout, "dim": c.dim, "init_std": c.init_std}
        try:
            item_tower = ItemTower(
                item_features,
                embedding_dim=c.embedding_dim,
                text=self.text,
                encoder=encoder,
                tokens=self.tokens or None,
                **layers,
            )
            user_tower = UserTower(
                user_features,
                embedding_dim=c.embedding_dim,
                history_dim=item_tower.content_dim,
                history_len=c.history_len,
                pooling=c.history_pooling,
                **layers,
            )
        except ValueError as err:
            raise ConfigError(f"two_tower: {err}") from None
        return TwoTowerNetwork(item_tower, user_tower, n_items=self.n_items, temperature=c.temperature)

    # ------------------------------------------------------------------ scoring
    def score_tensor(self, users: "torch.Tensor") -> "torch.Tensor":
        with _inference(self.network) as net:
            device = net.all_items.device
            q = net.user_vectors(*self.score_inputs(users.to(device)))
            return net.scores(q, net.all_item_vectors()).float()

    def _score(self, users: np.ndarray) -> np.ndarray:
        """Like the base class (fixed padded blocks), but the item vectors are computed once per call."""
        import torch

        n, block = len(users), self.score_block
        padded = np.resize(users, -(-n // block) * block) if n else users
        out = np.empty((len(padded), self.n_items), dtype=np.float32)
        with _inference(self.network) as net:
            device = net.all_items.device
            v = net.all_item_vectors()
            for start in range(0, len(padded), block):
                chunk = torch.from_numpy(np.ascontiguousarray(padded[start : start + block], dtype=np.int64))
                q = net.user_vectors(*self.score_inputs(chunk.to(device)))
                out[start : start + block] = net.scores(q, v).float().cpu().numpy()
        return out[:n]

    def item_embeddings(self) -> np.ndarray:
        """``(n_items, dim)`` float32 unit item vectors (for an inner-product index; scores divide by
        ``temperature``, which never changes a ranking)."""
        self._check_fitted()
        with _inference(self.network) as net:
            return net.all_item_vectors().float().cpu().numpy()

    def user_embeddings(self, users: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """``(len(users), dim)`` float32 unit user vectors from their training histories and features
        (all users for None)."""
        import torch

        self._check_fitted()
        users = np.arange(self.n_users) if users is None else self._checked_users(users)
        out = []
        with _inference(self.network) as net:
            for start in range(0, len(users), 4096):
                chunk = torch.from_numpy(users[start : start + 4096]).to(net.all_items.device)
                out.append(net.user_vectors(*self.score_inputs(chunk)).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.config.dim), dtype=np.float32)

    def embedding_scale(self) -> float:
        return 1.0 / self.config.temperature

    # ------------------------------------------------------------------ any history (sessions, query_vectors)
    def query_vectors(
        self, sessions: Sessions, *, users: Sequence[int] | None = None, timestamps: list[list[int]] | None = None
    ) -> np.ndarray:
        """``(len(sessions), dim)``: the user tower on each history's last ``history_len`` items (and the
        user's features; none for ``-1``), divided by ``temperature``. ``timestamps`` are not used."""
        import torch

        self._check_fitted()
        lists = session_lists(sessions, self.n_items)
        offsets, flat = session_csr(lists)
        history = window_gather(offsets, flat, np.arange(len(lists)), self.config.history_len, pad=-1)
        user_ids = session_users(users, len(lists))
        if user_ids.size and user_ids.max() >= self.n_users:
            raise RecsmithError(f"user ids must lie in [0, {self.n_users}) or be -1 for model {self.name!r}")
        with _inference(self.network) as net:
            device = net.all_items.device
            q = net.user_vectors(torch.from_numpy(user_ids).to(device), torch.from_numpy(history).to(device))
            return (q.float().cpu().numpy() / np.float32(self.config.temperature)).astype(np.float32)

    def user_query_vectors(self, users: np.ndarray | Sequence[int] | None = None) -> np.ndarray:
        """The users' embeddings divided by ``temperature``."""
        return (self.user_embeddings(users) / np.float32(self.config.temperature)).astype(np.float32)

    def output_item_vectors(self) -> np.ndarray:
        return self.item_embeddings()

    def training_history(self, user: int) -> np.ndarray:
        """The user's last ``history_len`` training items (all the user tower reads), oldest first."""
        row = self._fitted(self.user_history, "user histories")[int(self._checked_users([user])[0])]
        return row[row >= 0].astype(np.int64)

    def _item_similarity(self, items: np.ndarray) -> np.ndarray:
        v = self.item_embeddings()
        return v[items] @ v.T

    # ------------------------------------------------------------------ persistence
    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v for k, v in super()._state().items()}
        for prefix, features in (("item_feature", self.item_features), ("user_feature", self.user_features)):
            for f in features:
                state.update(f.to_arrays(f"{prefix}.{f.key.split('.', 1)[1]}"))
        if self.text is not None:
            state["text"] = self.text
        state.update({f"tokens.{k}": v for k, v in self.tokens.items()})
        state["user_history"] = self._fitted(self.user_history, "user histories")
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        from recsmith.nn.embeddings import JaggedFeature

        c = self.config
        self.item_features = [
            JaggedFeature.from_arrays(f"item.{n}", f"item_feature.{n}", state) for n in c.item_columns
        ]
        self.user_features = [
            JaggedFeature.from_arrays(f"user.{n}", f"user_feature.{n}", state) for n in c.user_columns
        ]
        self.text = state.get("text")
        self.tokens = {k.removeprefix("tokens."): v for k, v in state.items() if k.startswith("tokens.")}
        self.user_history = state["user_history"]
        super()._load_state({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")})


@contextlib.contextmanager
def _inference(network: Any) -> Iterator[Any]:
    """The network in eval mode under no_grad; its previous mode is restored after."""
    import torch

    was_training = network.training
    network.eval()
    try:
        with torch.no_grad():
            yield network
    finally:
        network.train(was_training)


def _chronological(interactions: Interactions) -> pl.DataFrame:
    """The interactions by (user, time); ties keep the table's order."""
    return interactions.frame.with_row_index("_row").sort([Columns.User, Columns.Timestamp, "_row"])


def example_histories(
    offsets: "torch.Tensor",
    items: "torch.Tensor",
    users: "torch.Tensor",
    positions: "torch.Tensor",
    length: int,
    mode: str,
) -> "torch.Tensor":
    """``(B, length)`` histories of training examples, -1 left-padded, oldest first.

    ``offsets`` / ``items``: the users' chronological training sequences (CSR); ``positions``: each
    example's index in ``items``. ``past``: the ``length`` items before the example; ``others``: the
    user's last ``length`` items with the example's own item left out (never its own answer).
    """
    import torch

    if mode == "past":
        shift = offsets[users + 1] - positions
        return window_gather(offsets, items, users, length, pad=-1, shift=shift)
    back = torch.arange(length - 1, -1, -1, device=items.device)  # column c is the (length-1-c)-th newest
    pos = offsets[users + 1][:, None] - 1 - back[None, :]
    pos = torch.where(pos <= positions[:, None], pos - 1, pos)  # step over the example itself
    valid = pos >= offsets[users][:, None]
    return torch.where(valid, items[pos.clamp(min=0)], -1)


def _aligned(column: pl.Series, n: int, what: str) -> pl.Series:
    if len(column) != n:
        raise ConfigError(
            f"the {what} table has {len(column)} rows for {n} {what}s; build SideData from the same dataset"
        )
    return column


def _user_column(users: pl.DataFrame, name: str) -> pl.Series:
    if name not in users.columns:
        raise ConfigError(f"user column {name!r} is not in the user table; columns: {', '.join(users.columns)}")
    return users[name]
