"""Distributed data parallel, kept out of the loop: the Trainer calls the same methods whether it
runs alone or as one of ``torchrun --nproc_per_node N`` processes.

Under torchrun (``WORLD_SIZE`` > 1 in the environment) the process group is initialised with gloo
on CPU and nccl on GPU; every process holds the full network (DDP averages the gradients in
``backward``), trains on its own shard of each epoch's permutation and draws its own negatives.
Rank 0 validates and broadcasts the result, so every process takes the same early-stopping and
schedule decisions; only rank 0 writes checkpoints and logs.

Launch, e.g.::

    torchrun --standalone --nproc_per_node 2 -m recsmith.cli.main train --data data/ml100k \\
        --config configs/mf_ml100k.yaml --out runs/mf-ddp
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """One GPU per process: ``cuda`` becomes ``cuda:<local_rank>``."""
        if device.type == "cuda" and self.enabled:
            return torch.device("cuda", self.local_rank)
        return device

    def wrap(self, network: nn.Module, device: torch.device) -> nn.Module:
        """The module the loop calls: DDP around ``network`` (which keeps the weights) when distributed."""
        if not self.enabled:
            return network
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This process's share of an epoch's permutation (the same in every process).

        Padded by wrapping around so every process runs the same number of steps: DDP hangs if one
        process calls ``backward`` more often than another.
        """
        if not self.enabled:
            return order
        per_rank = -(-len(order) // self.world_size)
        padded = torch.cat([order, order[: per_rank * self.world_size - len(order)]])
        return padded[self.rank :: self.world_size]

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` in every process."""
        if not self.enabled:
            return value
        box = [value if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar over the processes (for the logged training loss)."""
        if not self.enabled:
            return float(value)
        value = value.detach().clone().float()
        dist.all_reduce(value)
        return float(value) / self.world_size

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def from_environment(device_type: str) -> Distributed:
    """The process's place in a torchrun launch (initialising the process group once), or a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def is_main_process() -> bool:
    """True outside torchrun and in rank 0 (readable before the process group exists)."""
    return int(os.environ.get("RANK", "0")) == 0


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
