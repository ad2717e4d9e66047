"""DDP: two CPU processes under torchrun (gloo) train in sync and only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from train_fixtures import loo, planted

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["uniform"])
def test_two_cpu_processes_stay_in_sync(tmp_path, sampler):
    env = {**os.environ, "RECSMITH_PROGRESS": "0", "RECSMITH_QUIET": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(WORKER),
        str(tmp_path),
        sampler,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    assert [int(r["world"]) for r in ranks] == [2, 2]  # both processes ran, in one group of two
    # each process took a half of every epoch: ceil(ceil(n / 2) / 128) steps per epoch
    n = len(loo(planted()).train)
    assert int(ranks[0]["steps"]) == int(ranks[1]["steps"]) == 2 * _ceil_div(_ceil_div(n, 2), 128)
    # different shards and negatives, identical weights: the gradients were averaged every step
    keys = [k for k in ranks[0].files if k not in ("world", "steps")]
    assert keys
    for k in keys:
        np.testing.assert_array_equal(ranks[0][k], ranks[1][k], err_msg=k)

    run = tmp_path / "run"
    assert (run / "checkpoints" / "last.pt").exists()
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in lines] == [1, 2]  # one writer: no duplicated lines from rank 1
    assert "valid/ndcg@10" in lines[-1]


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)
