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

**Who drives whom.** The Trainer owns the loop and calls the model's public hooks, in this order
(as PyTorch Lightning's trainer calls a LightningModule's); the model never calls the Trainer and
this module imports nothing from :mod:`recsmith.training`::

    with model.fitting(train):          # the contract's bookkeeping (seen items, popularity, sizes)
        model.prepare_fit(train)         # what the model derives before its network exists
        network = model.build_network()  # then, each micro-batch:
        model.make_batch(rows of model.training_examples(train), cut by model.batch_order(...))
        ...                              # forward, loss, backward, step; validation through recommend()
        model.end_fit()                  # drop what was only needed while training

so ``Trainer(TrainConfig()).fit(model, train, valid)`` (or :func:`recsmith.training.fit_model` for any
model) trains a torch model; ``model.fit(train)`` alone says so. The model declares its training
defaults as data (:attr:`TorchRecommender.default_train`, :meth:`TorchRecommender.training_defaults`,
:attr:`TorchRecommender.required_loss`); the training layer merges them into its ``TrainConfig``.

Persistence keeps the foundation's rule of no pickle: the network's ``state_dict`` is exported as
numpy arrays into ``state.npz`` and loaded back into a freshly built network.

Torch is imported inside the methods, so registering a torch model keeps ``import recsmith``, the
CLI start and configs of non-torch runs free of it.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from recsmith.data.interactions import Interactions
from recsmith.data.schema import Columns
from recsmith.errors import RecsmithError
from recsmith.models.base import ModelConfig, Recommender

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch
    from torch import nn

    from recsmith.nn.objectives import Batch


class TorchModelConfig(ModelConfig):
    """Base config of torch models: the architecture's hyperparameters only.

    How a model is trained is the run's ``train`` section (and ``models.<name>.train`` overrides, split
    off by the run config before the model sees its parameters), not part of the model.
    """


class TorchRecommender(Recommender):
    """A recommender whose scores come from a torch network trained by the Trainer."""

    Config = TorchModelConfig
    extras: ClassVar[tuple[str, ...]] = ("torch",)
    #: the model's own training defaults (e.g. its usual loss), under the run's ``train`` section:
    #: a nested dict of ``TrainConfig`` keys
    default_train: ClassVar[dict[str, Any]] = {}
    #: the loss the network is built for, when only one makes sense (TIGER's token loss); the
    #: Trainer refuses any other with an error naming the key to set
    required_loss: ClassVar[str | None] = None
    #: users per forward pass when scoring. Fixed, and the last block padded, so that a user's
    #: scores never depend on which users share the batch: BLAS picks its kernel by matrix shape
    #: and different kernels round the same dot product differently in the last bit.
    score_block = 128

    def __init__(self, config: ModelConfig | dict[str, Any] | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        self.network: nn.Module | None = None
        #: per-epoch metrics of the last fit (loss, lr, validation metrics, sampler statistics),
        #: written by the Trainer
        self.history: list[dict[str, Any]] = []

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

    @classmethod
    def saved_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        # models saved before recsmith 0.2 kept their training overrides in their config; how a
        # model was trained is the run's record now (results.json / leaderboard.json), not the model's
        return {k: v for k, v in config.items() if k != "train"}

    # ------------------------------------------------------------------ training hooks (called by the Trainer)
    def training_defaults(self) -> dict[str, Any]:
        """This model's training defaults (nested ``TrainConfig`` keys), merged under what the run sets;
        default: :attr:`default_train`. A model whose defaults depend on its config overrides this."""
        return self.default_train

    def prepare_fit(self, interactions: Interactions) -> None:
        """Derive what the network and the examples need (vocabularies, histories, semantic ids),
        after the contract's bookkeeping and before :meth:`build_network`. Default: nothing."""

    def end_fit(self) -> None:
        """Drop what was only needed while training (always called, also after a failure)."""

    # ------------------------------------------------------------------ Recommender hooks
    def _fit(self, interactions: Interactions) -> None:
        raise RecsmithError(
            f"{self.name!r} is a torch model, trained by the Trainer: "
            "recsmith.training.fit_model(model, interactions[, valid, train_config]) or "
            "recsmith.training.Trainer(TrainConfig(...)).fit(model, interactions, valid)"
        )

    def score_tensor(self, users: "torch.Tensor") -> "torch.Tensor":
        """``(b, n_items)`` float32 scores of ``users`` (int64 ``(b,)``), network in eval mode, no grad."""
        return self.network_scores(lambda device: self.score_inputs(users.to(device)))

    def network_scores(
        self, inputs: "Callable[[torch.device], Any]", items: "torch.Tensor | None" = None
    ) -> "torch.Tensor":
        """The network's float32 scores for ``inputs(device)`` (built on the network's device) of all
        items, or of ``items`` (the scoring protocol's ``(M,)`` / ``(B, M)``), in eval mode and without
        gradients; the training mode is restored after."""
        return self.network_call(
            lambda network, device: network(inputs(device), None if items is None else items.to(device))
        ).float()

    def network_call(self, fn: "Callable[[nn.Module, torch.device], torch.Tensor]") -> "torch.Tensor":
        """``fn(network, device)`` in eval mode and without gradients (``device``: the network's);
        the training mode is restored after."""
        import torch

        network = self._fitted(self.network, "network")
        was_training = network.training
        if was_training:  # switching walks every submodule: a served network is in eval mode already
            network.eval()
        try:
            with torch.no_grad():
                return fn(network, next(network.parameters()).device)
        finally:
            if was_training:
                network.train(True)

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
        network = self._fitted(self.network, "network")
        return {k: v.detach().cpu().numpy() for k, v in network.state_dict().items()}

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        import torch

        self.network = self.build_network()
        self.network.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
        self.network.eval()  # a loaded model scores (the Trainer switches to training mode itself)
