"""AdaLoRA's budget schedule (ALGORITHM.md §4), as pure functions.

The step `t` is the 0-based optimizer-step counter: the first call sees t = 0, the last t = T - 1.

- Phase 1, t <= t_init: budget b0, no masking.
- Phase 2, t_init < t <= T - t_final: cubic decrease, in the official code's form
  b(t) = int(bT + (b0 - bT) * (1 - (t - t_init) / (T - t_final - t_init)) ** 3), masking when t % delta_t == 0.
- Phase 3, t > T - t_final: budget bT, masking at every step (with frozen scores the pattern is fixed).

The paper's eq. 14 writes the middle phase with (t - t_i - t_f); that is a typo (it exceeds b0 at t = t_i),
so the code form is the only one offered.
"""
from __future__ import annotations

import math

from .errors import AdaLoRAError


def resolve_steps(value: int | float, total_steps: int, name: str) -> int:
    """Transformers 5's convention for schedule knobs: an integer is a step count, a float below 1 a share of
    the total steps (rounded up, as transformers does for `warmup_steps`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AdaLoRAError(f"{name}={value!r} is not a number: give a step count (e.g. 100) or a share below 1 (e.g. 0.1)")
    if not math.isfinite(value):
        raise AdaLoRAError(f"{name}={value} is not a finite number: give a step count (e.g. 100) or a share below 1 (e.g. 0.1)")
    if value < 0:
        raise AdaLoRAError(f"{name}={value} is negative: give a step count >= 0 or a share in [0, 1)")
    if isinstance(value, float):
        if value < 1:
            return math.ceil(value * total_steps)
        if not value.is_integer():
            raise AdaLoRAError(f"{name}={value} is neither a step count nor a share below 1: write {int(value)} or {value / total_steps:.3f}")
        return int(value)
    return int(value)


def validate_schedule(t_init: int, t_final: int, total_steps: int, init_spec=None, final_spec=None) -> None:
    """The official allocator asserts T > t_init + t_final; PEFT checks the same. Fail before training."""
    if total_steps <= 0:
        raise AdaLoRAError(f"total steps must be positive, got {total_steps}")
    if t_init + t_final >= total_steps:
        shown_init = f"{init_spec} -> {t_init} steps" if init_spec is not None and init_spec != t_init else f"{t_init}"
        shown_final = f"{final_spec} -> {t_final} steps" if final_spec is not None and final_spec != t_final else f"{t_final}"
        raise AdaLoRAError(
            f"AdaLoRA schedule does not fit the run: t_init ({shown_init}) + t_final ({shown_final}) must be below "
            f"the {total_steps} optimizer steps; lower method.t_init / method.t_final (a float below 1 is a share of "
            f"the run, e.g. method.t_init=0.1 method.t_final=0.4) or train longer"
        )


def budget_at(t: int, *, init_budget: int, target_budget: int, t_init: int, t_final: int,
              total_steps: int, delta_t: int) -> tuple[int, bool]:
    """Budget b(t) and whether step t masks, exactly as the official RankAllocator computes them."""
    if t <= t_init:
        return init_budget, False
    if t > total_steps - t_final:
        return target_budget, True
    mul_coeff = 1 - (t - t_init) / (total_steps - t_final - t_init)
    budget = int((init_budget - target_budget) * (mul_coeff ** 3) + target_budget)
    return budget, t % delta_t == 0
