"""The base of every torch model: the :class:`~recsmith.models.base.Recommender` contract, trained by
the one :class:`~recsmith.training.trainer.Trainer`.

A torch model is three small pieces::

    @register("mf")
    class MF(TorchRecommender):
        class Config(TorchModelConfig):          # architecture hyperparameters, declared once
            dim: int = 64

        def build_network(self, *, sparse=False):  # an nn.Module following the scoring protocol
            return MatrixFactorization(self.n_users, self.n_items, self.config.dim, sparse=sparse)

and, when its examples are not ``(user, item, weight)`` rows, ``training_examples`` / ``make_batch``.
The loss, sampler, optimizer, schedule, precision, checkpoints and tracking are the Trainer's
(``train`` section of the run config, or ``models.<name>.train`` overrides); the network only
produces scores (protocol in :mod:`recsmith.nn.objectives`).

Persistence keeps the foundation's rule of no pickle: the network's ``state_dict`` is exported as
numpy arrays into ``state.npz`` and loaded back into a freshly built network.

Torch is imported inside the methods, so registering a torch model keeps ``import recsmith``, the
CLI start and configs of non-torch runs free of it.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field, ValidationError, field_validator

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.models.base import ModelConfig, Recommender

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from torch import nn

    from recsmith.nn.objectives import Batch
    from recsmith.training.config import TrainConfig
    from recsmith.training.trainer import Trainer


class TorchModelConfig(ModelConfig):
    """Base config of torch models: their own hyperparameters plus optional training overrides."""

    train: dict[str, Any] = Field(
        default_factory=dict,
        description="overrides of the run's `train` section for this model (any TrainConfig key, nested), "
        "e.g. {epochs: 30, optimizer: {lr: 0.01}}",
    )

    @field_validator("train")
    @classmethod
    def _valid_train_overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        from recsmith.config import describe_errors
        from recsmith.training.config import TrainConfig

        try:
            TrainConfig.model_validate(value)
        except ValidationError as err:
            raise ValueError(describe_errors(err, TrainConfig, ["train"]).replace("\n", "; ")) from None
        return value


class TorchRecommender(Recommender):
    """A recommender whose scores come from a torch network trained by the Trainer."""

    Config = TorchModelConfig
    #: the model's own training defaults (e.g. its usual loss), under the run's ``train`` section
    default_train: ClassVar[dict[str, Any]] = {}
    #: users per forward pass when scoring. Fixed, and the last block padded, so that a user's
    #: scores never depend on which users share the batch: BLAS picks its kernel by matrix shape
    #: and different kernels round the same dot product differently in the last bit.
    score_block = 128

    def __init__(self, config: ModelConfig | dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        self.network: nn.Module | None = None
        #: per-epoch metrics of the last fit (loss, lr, validation metrics, sampler statistics)
        self.history: list[dict[str, Any]] = []
        # (trainer, validation data) while Trainer.fit drives fit(); None for a plain model.fit()
        self._fit_request: tuple[Trainer, Interactions | None] | None = None

    # ------------------------------------------------------------------ what a torch model implements
    @abstractmethod
    def build_network(self, *, sparse: bool = False) -> "nn.Module":
        """A freshly initialised network for ``self.n_users`` x ``self.n_items`` (set before this runs).

        ``sparse``: use sparse embedding gradients (the ``sparse_adam`` optimizer asks for them).
        """

    def training_examples(self, interactions: Interactions) -> dict[str, np.ndarray]:
        """Equal-length arrays, one row per training example; default: the interaction rows."""
        f = interactions.frame
        return {
            "user": f[Columns.User].to_numpy().astype(np.int64),
            "item": f[Columns.Item].to_numpy().astype(np.int64),
            "weight": f[Columns.Weight].to_numpy().astype(np.float32),
        }

    def make_batch(self, rows: dict[str, "torch.Tensor"]) -> "Batch":
        """A :class:`~recsmith.nn.objectives.Batch` from a slice of :meth:`training_examples`."""
        from recsmith.nn.objectives import Batch

        return Batch(inputs=rows["user"], users=rows["user"], positives=rows["item"], targets=rows["weight"])

    def batch_order(self, order: "torch.Tensor", batch_size: int, generator: "torch.Generator") -> "torch.Tensor":
        """The epoch's example order, cut into micro-batches of ``batch_size`` by the Trainer.

        ``order`` is a random permutation; a model may regroup it (e.g. sequences of similar
        length together, so little compute goes to padding). Default: unchanged.
        """
        return order

    def score_inputs(self, users: "torch.Tensor") -> Any:
        """What the network takes to score ``users`` against every item; default: the user ids."""
        return users

    # ------------------------------------------------------------------ configuration
    def train_config(self, base: "TrainConfig | None" = None) -> "TrainConfig":
        """The training options of this model, by increasing priority: the TrainConfig defaults, the
        model's :attr:`default_train`, what ``base`` (the run's ``train`` section) sets explicitly, and
        this model's ``train`` overrides."""
        from recsmith.training.config import TrainConfig
        from recsmith.utils.dicts import deep_merge as merge

        explicit = base.model_dump(exclude_unset=True) if base is not None else {}
        merged = merge(merge(merge(TrainConfig().model_dump(), self.default_train), explicit), self.config.train)
        return TrainConfig.model_validate(merged)

    # ------------------------------------------------------------------ Recommender hooks
    def _fit(self, interactions: Interactions) -> None:
        from recsmith.training.trainer import Trainer

        trainer, valid = self._fit_request or (Trainer(self.train_config()), None)
        trainer.train(self, interactions, valid)

    def score_tensor(self, users: "torch.Tensor") -> "torch.Tensor":
        """``(b, n_items)`` float32 scores of ``users`` (int64 ``(b,)``), network in eval mode, no grad."""
        return self.network_scores(lambda device: self.score_inputs(users.to(device)))

    def network_scores(self, inputs: "Callable[[torch.device], Any]") -> "torch.Tensor":
        """The network's float32 scores of all items for ``inputs(device)`` (built on the network's
        device), in eval mode and without gradients; the training mode is restored after."""
        import torch

        network = self.network
        was_training = network.training
        network.eval()
        try:
            with torch.no_grad():
                return network(inputs(next(network.parameters()).device), None).float()
        finally:
            network.train(was_training)

    def _score(self, users: np.ndarray) -> np.ndarray:
        import torch

        n = len(users)
        block = self.score_block
        padded = np.resize(users, -(-n // block) * block) if n else users  # repeats users to fill
        out = np.empty((len(padded), self.n_items), dtype=np.float32)
        for start in range(0, len(padded), block):
            chunk = torch.from_numpy(np.ascontiguousarray(padded[start : start + block], dtype=np.int64))
            out[start : start + block] = self.score_tensor(chunk).cpu().numpy()
        return out[:n]

    def _state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.network.state_dict().items()}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        self.network = self.build_network()
        self.network.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
