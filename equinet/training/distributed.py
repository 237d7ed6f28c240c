"""Several processes training one model (torchrun, DDP): who this process is, and the few collectives a run needs.

Outside torchrun (no WORLD_SIZE, or 1) every function here is the identity of a single process, so the one-process
path runs exactly the code it always ran."""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable, TypeVar

import torch
import torch.distributed as dist

from equinet.training.device import pick_device

T = TypeVar("T")
TIMEOUT = 600  # seconds a collective waits for a silent peer before the run ends with an error


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 alone writes files and prints."""
        return self.rank == 0

    @property
    def share(self) -> tuple[int, int]:
        return self.rank, self.size


def world() -> World:
    """The ranks torchrun announced in the environment (one process when it did not)."""
    env = os.environ
    return World(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def join(device: str = "auto", timeout: float = TIMEOUT) -> tuple[World, torch.device]:
    """Join torchrun's process group (nccl on CUDA, gloo on the CPU) and pick this rank's device: with CUDA its
    own GPU (LOCAL_RANK)."""
    w, dev = world(), pick_device(device)
    if w.size == 1:
        return w, dev
    if dev.type == "mps":
        raise ValueError("several processes cannot share an Apple GPU (no collective backend for mps); "
                         "train with --device cpu under torchrun, or in one process")
    if dev.type == "cuda":
        dev = torch.device("cuda", w.local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", timeout=timedelta(seconds=timeout))
        atexit.register(leave)
    return w, dev


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast(obj: T) -> T:
    """Rank 0's obj on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main(action: Callable[[], T]) -> T:
    """Run action on rank 0 only; its result, or its error, reaches every rank, so all go on or all stop."""
    result, error = None, None
    if not active() or dist.get_rank() == 0:
        try:
            result = action()
        except (OSError, ValueError) as exc:
            error = exc
    result, error = broadcast((result, error))
    if error is not None:
        raise error
    return result


def gather_objects(obj: T) -> list[T]:
    """Every rank's obj, in rank order."""
    if not active():
        return [obj]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """t summed over the ranks (in place), on every rank."""
    if active():
        dist.all_reduce(t)
    return t


def gather_rows(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each tensor's rows [n_r, ...] from every rank, concatenated in rank order, on every rank (n_r may differ)."""
    if not active():
        return tensors
    n = torch.tensor([len(tensors[0])], device=tensors[0].device)
    sizes = torch.cat(_all_gather(n)).tolist()
    out = []
    for t in tensors:
        padded = t.new_zeros(max(sizes), *t.shape[1:])
        padded[:len(t)] = t
        out.append(torch.cat([part[:size] for part, size in zip(_all_gather(padded), sizes)]))
    return tuple(out)


def _all_gather(t: torch.Tensor) -> list[torch.Tensor]:
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.contiguous())
    return parts


def barrier() -> None:
    """Wait until every rank is here (after rank 0 wrote, before anyone reads)."""
    if active():
        dist.barrier()


def leave() -> None:
    """Leave the process group at the end of a run."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
