"""recsmith: build, evaluate and serve recommender systems.

Layers (data flows one way, lower layers never import higher ones)::

    data/         sources -> preparation -> prepared-dataset store -> splits
    models/       one contract (``models.base.Recommender``), thin models, a registry by name
    evaluation/   pure metric functions, batched full-ranking evaluator, file-based evaluation
    experiments/  leaderboard / demo pipelines that wire the layers together
    cli/          Typer commands, each a thin call into the layers above
"""

__version__ = "0.1.0"
