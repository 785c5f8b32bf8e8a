"""The variants `make bench` compares, at equal budget, and one training step of each.

A training step is what the suite's Trainer runs per optimizer step: forward (with the method's regulariser in the
loss), backward, gradient clipping (max norm 1.0), fused AdamW (transformers' default optimizer), the method step
(`handle.step(t)` for ours, `update_and_allocate(t)` for PEFT's), then `zero_grad()`.

Equal budget: LoRA at rank 8 against AdaLoRA from 12 down to an average of 8 per matrix, the paper's 1.2M budget
on DeBERTaV3-base (its Table 7, ALGORITHM.md §9), on the same six matrix types of every layer. PEFT's AdaLoRA gets the
same ranks, alpha, schedule (tinit, tfinal, deltaT, total_step), betas and orthogonal-regulariser weight, the same
target modules and the same trainable head.

Two more of ours run in the final phase (t > T - t_final, the pattern fixed at target_rank per matrix): masked at the
initial rank, as the official code trains it, and sliced to the kept triplets (`slice_final`), to compare with LoRA
at the target rank.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

import adalora
from adalora.backbone import head_prefixes


@dataclass(frozen=True)
class Schedule:
    """AdaLoRA's settings for every AdaLoRA variant, ours and PEFT's. Steps are timed inside the budget phase
    (t_init < t <= T - t_final), where the allocator scores every step and masks every delta_t steps."""

    lora_rank: int = 8
    lora_alpha: float = 16.0
    init_rank: int = 12
    target_rank: int = 8
    alpha: float = 32.0
    total_steps: int = 2000
    t_init: int = 200
    t_final: int = 800
    beta1: float = 0.85
    beta2: float = 0.85
    orth_reg_weight: float = 0.1
    first_step: int = 300          # the optimizer-step counter of the first (warm-up) step
    lr: float = 1e-4
    max_grad_norm: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VariantSpec:
    name: str
    label: str
    kind: str                 # lora | adalora | peft_adalora | full
    delta_t: int | None = None
    phase: str = "budget"     # budget: steps inside the budget phase; final: after T - t_final, pattern fixed
    sliced: bool = False      # final phase only: the layers cut to the kept triplets (slice_final)


def variant_specs(delta_ts: tuple[int, ...]) -> list[VariantSpec]:
    """LoRA, ours and PEFT's AdaLoRA at each masking interval, full fine-tuning."""
    specs = [VariantSpec("lora", "LoRA r=8", "lora")]
    for dt in delta_ts:
        suffix = "" if dt == delta_ts[0] else f"_dt{dt}"
        specs.append(VariantSpec(f"adalora{suffix}", f"AdaLoRA (ours) ΔT={dt}", "adalora", dt))
        specs.append(VariantSpec(f"peft_adalora{suffix}", f"AdaLoRA (PEFT) ΔT={dt}", "peft_adalora", dt))
    specs.append(VariantSpec("full", "Full fine-tuning", "full"))
    dt = delta_ts[0]
    specs.append(VariantSpec("adalora_final", "AdaLoRA (ours) final phase, masked", "adalora", dt, phase="final"))
    specs.append(VariantSpec("adalora_sliced", "AdaLoRA (ours) final phase, sliced", "adalora", dt, phase="final",
                             sliced=True))
    return specs


@dataclass
class Trainee:
    """A model ready to train: its loss (regulariser included), its optimizer and its method step."""

    spec: VariantSpec
    model: nn.Module
    trainable: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    loss: Callable[[dict], torch.Tensor]
    method_step: Callable[[int], None]
    method_state: Callable[[], object]     # the objects holding the method's statistics (for the accounting)
    step_offset: int = 0                   # added to the round's step counter (final-phase variants)


def _shared_copy(source: nn.Module, share_frozen: bool) -> nn.Module:
    """A copy of `source`; with `share_frozen`, the backbone's parameters (frozen by every parameter-efficient
    variant) are the source's own tensors, so several variants fit in memory at once. The head is always copied.
    `share_frozen=None` adapts `source` itself (a process that measures one variant's memory)."""
    if share_frozen is None:
        return source
    if not share_frozen:
        return copy.deepcopy(source)
    heads = tuple(f"{p}." for p in head_prefixes(source))
    memo = {id(p): p for name, p in source.named_parameters() if not name.startswith(heads)}
    return copy.deepcopy(source, memo)


def _optimizer(params: list[nn.Parameter], schedule: Schedule, device: torch.device) -> torch.optim.Optimizer:
    """transformers' default optimizer (adamw_torch_fused since torch 2.8), with its default weight decay 0."""
    return torch.optim.AdamW(params, lr=schedule.lr, weight_decay=0.0, fused=True)


def adalora_spec(schedule: Schedule, delta_t: int, slice_final: bool = False) -> adalora.AdaLoRA:
    s = schedule
    return adalora.AdaLoRA(init_rank=s.init_rank, target_rank=s.target_rank, alpha=s.alpha, t_init=s.t_init,
                           t_final=s.t_final, delta_t=delta_t, beta1=s.beta1, beta2=s.beta2,
                           orth_reg_weight=s.orth_reg_weight, total_steps=s.total_steps, slice_final=slice_final)


def fix_final_pattern(handle, schedule: Schedule, sliced: bool) -> None:
    """Put `handle` where the final phase starts: the pattern fixed at target_rank of init_rank per matrix (which
    triplets does not change the cost), and with `sliced` the layers cut to it."""
    keep = [True] * schedule.target_rank + [False] * (schedule.init_rank - schedule.target_rank)
    handle.set_rank_mask({name: keep for name in handle.layers})
    handle.allocator.final_keep = handle.allocator.keep
    if sliced:
        handle.allocator.slice_layers()


def prepare(spec: VariantSpec, source: nn.Module, schedule: Schedule, device: torch.device,
            share_frozen: bool | None = True) -> Trainee:
    """Adapt a copy of `source` (already on `device`) as `spec` says; `share_frozen=None` adapts `source` itself."""
    if spec.kind == "peft_adalora":
        return _prepare_peft(spec, source, schedule, device, share_frozen)
    if spec.kind == "full":   # trains every parameter: never shares them
        model = source if share_frozen is None else copy.deepcopy(source)
        handle = adalora.attach(model, adalora.Full())
    elif spec.kind == "lora":
        model = _shared_copy(source, share_frozen)
        handle = adalora.attach(model, adalora.LoRA(rank=schedule.lora_rank, alpha=schedule.lora_alpha))
    elif spec.kind == "adalora":
        model = _shared_copy(source, share_frozen)
        handle = adalora.attach(model, adalora_spec(schedule, spec.delta_t, slice_final=spec.sliced))
        if spec.phase == "final":
            fix_final_pattern(handle, schedule, spec.sliced)
    else:
        raise ValueError(f"unknown variant kind {spec.kind!r}")
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]

    def loss(batch: dict) -> torch.Tensor:   # MethodTrainer.compute_loss
        return model(**batch).loss + handle.regularizer()

    offset = (schedule.total_steps - schedule.t_final + 1 - schedule.first_step) if spec.phase == "final" else 0
    optimizer = _optimizer(trainable, schedule, device)
    handle.bind_optimizer(optimizer)
    return Trainee(spec, model, trainable, optimizer, loss, handle.step, lambda: getattr(handle, "allocator", None),
                   step_offset=offset)


def adapted_module_names(source: nn.Module, schedule: Schedule) -> list[str]:
    """The matrices our AdaLoRA adapts on this model (the model family's six types), for PEFT's target_modules."""
    probe = _shared_copy(source, share_frozen=True)
    handle = adalora.attach(probe, adalora_spec(schedule, 1))
    names = list(handle.layers)
    del probe, handle
    return names


def _prepare_peft(spec: VariantSpec, source: nn.Module, schedule: Schedule, device: torch.device,
                  share_frozen: bool) -> Trainee:
    import peft

    s = schedule
    names = adapted_module_names(source, schedule)   # before `source` itself may be adapted
    heads = [p for p in head_prefixes(source) if any(True for _ in getattr(source, p).parameters())]
    config = peft.AdaLoraConfig(
        init_r=s.init_rank, target_r=s.target_rank, lora_alpha=s.alpha, lora_dropout=0.0,
        target_modules="(" + "|".join(re.escape(n) for n in names) + ")", tinit=s.t_init, tfinal=s.t_final,
        deltaT=spec.delta_t, beta1=s.beta1, beta2=s.beta2, orth_reg_weight=s.orth_reg_weight,
        total_step=s.total_steps, modules_to_save=heads, task_type="SEQ_CLS")
    model = peft.get_peft_model(_shared_copy(source, share_frozen), config)
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]

    def loss(batch: dict) -> torch.Tensor:   # PEFT's forward adds the orthogonal regulariser to the loss
        return model(**batch).loss

    return Trainee(spec, model, trainable, _optimizer(trainable, schedule, device), loss,
                   model.base_model.update_and_allocate, lambda: model.base_model.rankallocator)


def train_step(trainee: Trainee, batch: dict, t: int, clock: Callable[[], tuple[float, float]],
               max_grad_norm: float, autocast: torch.dtype | None = None) -> dict[str, float]:
    """One optimizer step at step counter t (plus the variant's offset); returns wall-clock and process CPU seconds
    of the step and of its parts (forward + backward, optimizer, method step). With `autocast` (torch.bfloat16) the
    forward pass runs under autocast in that precision, as the Trainer's bf16=True does."""
    t = t + trainee.step_offset
    marks = [clock()]
    if autocast is not None:
        device_type = next(iter(batch.values())).device.type
        with torch.autocast(device_type, dtype=autocast):
            loss = trainee.loss(batch)
    else:
        loss = trainee.loss(batch)
    loss.backward()
    marks.append(clock())
    torch.nn.utils.clip_grad_norm_(trainee.trainable, max_grad_norm)
    trainee.optimizer.step()
    marks.append(clock())
    trainee.method_step(t)
    marks.append(clock())
    trainee.optimizer.zero_grad(set_to_none=True)
    marks.append(clock())
    (w0, c0), (w1, c1), (w2, c2), (w3, c3), (w4, c4) = marks
    return {"step": w4 - w0, "forward_backward": w1 - w0, "optimizer": (w2 - w1) + (w4 - w3), "method": w3 - w2,
            "cpu": c4 - c0, "cpu_forward_backward": c1 - c0, "cpu_optimizer": (c2 - c1) + (c4 - c3),
            "cpu_method": c3 - c2}
