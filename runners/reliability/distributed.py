"""Several processes, one run: `torchrun --nproc_per_node=N run.py ...`, or a submitit / SLURM job of N tasks.

torchrun exports the rendezvous (MASTER_ADDR/PORT, RANK, WORLD_SIZE, LOCAL_RANK) itself. A submitit job of several
tasks starts one process per task with its own variables; `export_submitit_environment` turns them into torchrun's,
so the HF Trainer (through accelerate) joins the tasks into one DDP run (NCCL on GPUs, gloo on CPUs). Every rank
composes the same config and takes the same run key, so all ranks share one output folder; rank 0 alone writes the
record and talks to W&B. The allocator steps on the unwrapped model after the all-reduce, so every rank takes the
same masks (ALGORITHM.md §5)."""
from __future__ import annotations

import os


def export_submitit_environment() -> bool:
    """Inside a submitit job with several tasks (and no torchrun variables yet), export the torch.distributed env://
    variables. Each task keeps every GPU of its node visible and picks its own by LOCAL_RANK. True if it did."""
    if not os.environ.get("SUBMITIT_EXECUTOR") or "RANK" in os.environ:
        return False
    import submitit

    env = submitit.JobEnvironment()
    if env.num_tasks <= 1:
        return False
    submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    return True


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0
