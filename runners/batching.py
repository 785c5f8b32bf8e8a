"""The batch behind one optimizer step, whatever the number of processes.

The paper's settings name one batch per step (32 on GLUE, 64 on XSum over 8 GPUs x 8). `trainer.global_batch_size`
keeps that batch on any hardware: it splits the batch over the processes, then into micro-batches of at most
`per_device_train_batch_size` with gradient accumulation (the loss is averaged over micro-batches, so 8 x 8 trains
as 1 x 64)."""
from __future__ import annotations

import math

from .errors import ConfigError


def split_global_batch(global_batch: int, max_per_device: int, world_size: int) -> tuple[int, int]:
    """(per-device micro-batch, accumulation steps) with micro-batch x steps x world_size == global_batch, the
    fewest accumulation steps whose micro-batch fits `max_per_device`."""
    if isinstance(global_batch, bool) or int(global_batch) != global_batch or global_batch < 1:
        raise ConfigError(f"trainer.global_batch_size={global_batch} must be a positive integer")
    if int(max_per_device) != max_per_device or max_per_device < 1:
        raise ConfigError(f"trainer.per_device_train_batch_size={max_per_device} must be a positive integer")
    if global_batch % world_size:
        raise ConfigError(f"trainer.global_batch_size={global_batch} does not split over {world_size} processes: "
                          f"use a multiple of {world_size}, or another number of processes")
    per_process = global_batch // world_size
    steps = math.ceil(per_process / max_per_device)
    while per_process % steps:
        steps += 1
    return per_process // steps, steps


def apply_global_batch(trainer_kwargs: dict, world_size: int) -> dict:
    """TrainingArguments keywords with `global_batch_size` turned into the per-device batch and accumulation."""
    kwargs = dict(trainer_kwargs)
    total = kwargs.pop("global_batch_size", None)
    if total is None:
        return kwargs
    if kwargs.get("gradient_accumulation_steps", 1) != 1:
        raise ConfigError("set trainer.global_batch_size or trainer.gradient_accumulation_steps, not both "
                          "(the accumulation follows from the global batch)")
    micro, steps = split_global_batch(total, kwargs.get("per_device_train_batch_size", 8), world_size)
    kwargs.update(per_device_train_batch_size=micro, gradient_accumulation_steps=steps)
    return kwargs
