"""Two-stage recommendation: candidate sources, point-in-time features, a learned ranker.

The layer sits above ``training`` (its torch sources and neural ranker are trained by the one
Trainer) and below ``evaluation`` / ``serving``. Its model, ``two_stage``
(:mod:`recsmith.ranking.model`), is registered like any other: the registry imports it by module
name (``models.registry._BUILTIN_MODULES``), so ``models/`` never imports this layer.

- :mod:`.config`: the model's configuration (sources, candidates, holdout, rankers), validated once
- :mod:`.sources`: candidate sources (any registered model, repurchase, popular, co-occurrence,
  same group, ANN over two-tower embeddings)
- :mod:`.candidates`: the union of their proposals with per-source score / rank, candidate recall
- :mod:`.rankers`: the ranker interface and LightGBM LambdaRank; :mod:`.din` the neural ranker
- :mod:`.fitting`: torch parts trained by the Trainer (early stopping on the holdout, refit)
"""
