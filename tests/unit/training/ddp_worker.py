"""Run by test_train_ddp.py under torchrun: each process trains MF on the planted data with the
Trainer and saves its final weights, so the test can check that DDP kept the processes in sync."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from train_fixtures import loo, planted, train_params

from recsmith.models import create_model
from recsmith.training import distributed
from recsmith.training.config import resolve_train_config
from recsmith.training.trainer import Trainer

out = Path(sys.argv[1])
parts = loo(planted())
model = create_model("mf", {"dim": 8})
trainer = Trainer(
    resolve_train_config(model, overrides=train_params(epochs=2, sampler={"name": sys.argv[2]})), out / "run"
)
result = trainer.fit(model, parts.train, parts.valid)
weights = {k: v.detach().numpy() for k, v in model.network.state_dict().items()}
np.savez(
    out / f"rank{trainer.dist.rank}.npz", world=trainer.dist.world_size, steps=result.history[-1]["step"], **weights
)
distributed.shutdown()
