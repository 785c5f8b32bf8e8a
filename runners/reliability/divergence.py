"""Divergence: a non-finite training loss (NaN or ±inf) stops the run at that step, instead of training on for hours
and writing a record of garbage. The run writes a record with status `failed` and the reason (`failure`), so a
sweep carries on with its other cells, `make tables` skips and counts it, and a rerun trains it again."""
from __future__ import annotations

import math

import torch


class Diverged(Exception):
    """The training loss became NaN or infinite."""

    def __init__(self, value: float, step: int) -> None:
        self.value, self.step = value, step
        super().__init__(f"training loss is {value} at optimizer step {step}: the run diverged (lower "
                         f"trainer.learning_rate, raise trainer.warmup_steps, or check the data)")


def check_loss(loss: torch.Tensor, step: int) -> None:
    """Raise Diverged if `loss` (one micro-batch's, detached) is not finite."""
    value = float(loss.detach().float().mean())
    if not math.isfinite(value):
        raise Diverged(value, step)
