"""recsmith: build, evaluate and serve recommender systems.

Layers, top to bottom (a layer imports only those below it; the import-linter contract in
``pyproject.toml`` checks it, DEVELOPERS.md explains it)::

    cli/                             Typer commands, each a thin call into a layer below
    app/ | reports/ | pipelines/     web app; reports; prepare, benchmark, train, export, ... (one builder)
    runs/                            the run directory's layout and what it answers
    config.py                        the run config, assembled from the layers' sections
    serving/                         bundles and the FastAPI service
    retrieval/                       FAISS / exact search, item-vector indexes, ONNX query encoder
    composite/ | ranking/            models made of registered models
    training/                        the one Trainer, fit_model
    evaluation/                      metrics, the full-ranking evaluator, statistics
    models/                          one contract (``models.base.Recommender``), abilities, thin models
    nn/                              losses, samplers, objectives, networks
    features/ | encoders/            the feature store; pretrained text / image encoders
    data/                            sources -> preparation -> prepared-dataset store -> splits
    utils/                           atomic writes, progress, logging, packaged configs, extras
    errors                           the error types
"""

__version__ = "0.1.0"
