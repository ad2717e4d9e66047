"""``als`` and ``bpr``: matrix factorisation for implicit feedback, fitted by the ``implicit`` library.

Both run on the CPU (``implicit.cpu``) and keep only their factor matrices, so a saved model needs
nothing from ``implicit`` to recommend.
"""

from __future__ import annotations

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from pydantic import Field
from threadpoolctl import threadpool_limits

from recsmith.data.interactions import Interactions
from recsmith.errors import ConfigError
from recsmith.models.abilities import FoldInConstants, WarmStart
from recsmith.models.base import ModelConfig
from recsmith.models.factors import FactorModel
from recsmith.models.registry import register
from recsmith.utils.progress import progress_enabled


class MFConfig(ModelConfig):
    """Hyperparameters shared by the implicit-library factor models."""

    factors: int = Field(64, ge=1, description="latent dimensions")
    seed: int = Field(0, ge=0, description="seeds the factor initialisation (and BPR's sampling)")


@register("als")
class ALS(WarmStart, FactorModel):
    """Weighted ALS for implicit feedback (Hu, Koren & Volinsky 2008; conjugate-gradient solver).

    Every observed (user, item) pair is a positive with confidence ``1 + alpha * w``, every other
    pair a negative with confidence 1; ``w`` is 1 (``binary=True``) or the summed interaction
    weight. Fitting is deterministic for a seed at any ``num_threads`` (users and items are solved
    independently). A warm start (:class:`~recsmith.models.abilities.WarmStart`) begins the sweeps
    at an earlier model's factors; new users and items start as implicit starts them.
    """

    summary = "matrix factorisation by weighted ALS (implicit library): a strong, fast baseline for implicit feedback"

    _warm: tuple[np.ndarray, np.ndarray] | None = None

    class Config(MFConfig):
        regularization: float = Field(
            1.0, ge=0, description="L2 penalty lambda in each least-squares solve (not scaled by counts)"
        )
        iterations: int = Field(15, ge=1, description="alternating sweeps over users and items")
        alpha: float = Field(10.0, gt=0, description="confidence of a positive: 1 + alpha * w")
        binary: bool = Field(True, description="w = 1 for every interaction; False: w = summed weights (counts)")
        num_threads: int = Field(0, ge=0, description="fitting threads; 0 = all cores")

    config: Config

    def fold_in_constants(self) -> FoldInConstants:
        """ALS's own confidence scale and ridge: with ``binary=True`` folding in a user's training
        history is the user half-step of the fit (solved exactly; the fit uses conjugate gradient)."""
        return FoldInConstants(alpha=float(self.config.alpha), regularization=float(self.config.regularization))

    def warm_start_from(self, previous: WarmStart) -> None:
        if not isinstance(previous, ALS) or not previous.is_fitted:
            raise ConfigError("an ALS model warm-starts only from a fitted ALS model")
        if previous.config.factors != self.config.factors:
            raise ConfigError(
                f"warm start: the earlier model has {previous.config.factors} factors, this one {self.config.factors}"
            )
        self._warm = (previous.user_factors, previous.item_factors)

    def _initial_factors(self, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The warm start's factors, extended with implicit's own initialisation for new ids."""
        if self._warm is None:
            return None
        users, items = self._warm
        if users.shape[0] > n_users or items.shape[0] > n_items:
            raise ConfigError(
                f"warm start: the earlier model knows {users.shape[0]} users / {items.shape[0]} items, the data "
                f"only {n_users} / {n_items}: it must be the same dataset grown by appending"
            )
        rng = np.random.default_rng(self.config.seed)
        out = []
        for old, n in ((users, n_users), (items, n_items)):
            fresh = (rng.random((n - old.shape[0], old.shape[1]), dtype=np.float32) * 0.01).astype(np.float32)
            out.append(np.vstack([old, fresh]))
        return out[0], out[1]

    def _fit(self, interactions: Interactions) -> None:
        cfg = self.config
        initial = self._initial_factors(interactions.n_users, interactions.n_items)
        self._warm = None  # used once
        confidence = (interactions.binary if cfg.binary else interactions.matrix).copy()
        confidence.data = 1.0 + np.float32(cfg.alpha) * confidence.data
        # implicit's ALS runs its own threads; a threaded BLAS underneath only slows it down
        with threadpool_limits(1, "blas"):
            als = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=1.0,  # the confidence is already scaled above
                iterations=cfg.iterations,
                num_threads=cfg.num_threads,
                random_state=cfg.seed,
                dtype=np.float32,
            )
            if initial is not None:  # implicit starts from factors that are already set
                als.user_factors, als.item_factors = initial
            als.fit(confidence, show_progress=progress_enabled())
        self._set_factors(als.user_factors, als.item_factors)


@register("bpr")
class BPR(FactorModel):
    """Bayesian Personalized Ranking (Rendle et al. 2009), SGD on sampled (user, pos, neg) triples.

    Interaction weights are ignored. Scores are ``U @ V.T + item_bias``. With ``num_threads`` other
    than 1 the SGD runs Hogwild-style and results differ from run to run even for a fixed seed;
    the default of 1 thread is reproducible.
    """

    summary = "matrix factorisation by Bayesian Personalized Ranking, SGD on (user, positive, negative) triples"

    class Config(MFConfig):
        regularization: float = Field(0.01, ge=0, description="L2 weight decay in each SGD step")
        iterations: int = Field(100, ge=1, description="epochs (each samples as many triples as interactions)")
        learning_rate: float = Field(0.01, gt=0, description="SGD step size")
        verify_negative_samples: bool = Field(
            True, description="resample negatives the user actually interacted with (slower, better)"
        )
        num_threads: int = Field(
            1, ge=0, description="fitting threads; 0 = all cores. Only 1 is reproducible for a seed"
        )

    config: Config

    def _fit(self, interactions: Interactions) -> None:
        cfg = self.config
        bpr = BayesianPersonalizedRanking(
            factors=cfg.factors,
            learning_rate=cfg.learning_rate,
            regularization=cfg.regularization,
            iterations=cfg.iterations,
            verify_negative_samples=cfg.verify_negative_samples,
            num_threads=cfg.num_threads,
            random_state=cfg.seed,
            dtype=np.float32,
        )
        bpr.fit(interactions.binary, show_progress=progress_enabled())
        # implicit appends a bias column: users carry a constant 1, items their bias
        user, item = np.asarray(bpr.user_factors), np.asarray(bpr.item_factors)
        self._set_factors(user[:, : cfg.factors], item[:, : cfg.factors], item[:, cfg.factors])
