"""Models made of other registered models (``hybrid``), above the training layer.

A composite model fits its parts with :func:`recsmith.training.fit_model`, so a part may be a torch
model trained by the one Trainer (with its ``train`` overrides among the part's parameters); the
models layer below cannot do that, since it never imports the Trainer. Composite models register
like any other model (:mod:`recsmith.models.registry` imports them by name).
"""
