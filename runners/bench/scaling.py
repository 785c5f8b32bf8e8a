"""The method step alone against the number of adapted matrices: synthetic SVD layers of DeBERTa-v3-base's
shapes (per layer W_q, W_k, W_v, W_o: 768 x 768; W_f1: 768 -> 3072; W_f2: 3072 -> 768; rank 12), 12, 24 and 48
layers deep, with mid-training values (λ non-zero) and gradients.

Timed per size (wall clock and process CPU time), rounds interleaved across sizes: our allocator's step without masking (the EMA update) and with
masking (update, triplet scores, threshold, mask), PEFT's `update_and_allocate` the same two ways on layers holding
the same tensors, and our orthogonal regulariser's forward + backward.
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Sequence

import torch
from torch import nn

from adalora.methods.adalora.allocator import RankAllocator
from adalora.methods.adalora.layer import SVDLinear
from adalora.methods.adalora.regularizer import orthogonal_regularizer

from .timing import make_clock, summary
from .variants import Schedule, adalora_spec

DEBERTA_SHAPES = [("query_proj", 768, 768), ("key_proj", 768, 768), ("value_proj", 768, 768),
                  ("attention.output.dense", 768, 768), ("intermediate.dense", 768, 3072),
                  ("output.dense", 3072, 768)]
DELTA_T = 10


class _NoWeights:
    """A stand-in base layer: SVDLinear needs its shape, dtype and device, not its (frozen, unused) weights."""

    def __init__(self, fan_in: int, fan_out: int, device: torch.device) -> None:
        self.in_features, self.out_features = fan_in, fan_out
        self.weight, self.bias = torch.empty(0, device=device), None


class _PeftSVD(nn.Module):
    """The parameter layout PEFT's RankAllocator walks: `<name>.lora_A.default`, `.lora_E.default`, `.lora_B.default`."""

    def __init__(self, layer: SVDLinear) -> None:
        super().__init__()
        self.lora_A = nn.ParameterDict({"default": layer.lora_A})
        self.lora_E = nn.ParameterDict({"default": layer.lora_E})
        self.lora_B = nn.ParameterDict({"default": layer.lora_B})


def synthetic_layers(n_layers: int, rank: int, device: torch.device,
                     shapes: Sequence[tuple[str, int, int]] = DEBERTA_SHAPES) -> list[tuple[str, SVDLinear]]:
    g = torch.Generator().manual_seed(n_layers)
    layers = []
    for i in range(n_layers):
        for name, fan_in, fan_out in shapes:
            layer = SVDLinear(_NoWeights(fan_in, fan_out, device), rank, alpha=32.0)
            with torch.no_grad():
                layer.lora_E.copy_(torch.randn(layer.lora_E.shape, generator=g) * 0.02)
            for p in (layer.lora_A, layer.lora_E, layer.lora_B):
                p.grad = (torch.randn(p.shape, generator=g) * 1e-3).to(device)
            layers.append((f"layer.{i}.{name}", layer))
    return layers


def _peft_allocator(layers: list[tuple[str, SVDLinear]], schedule: Schedule):
    import peft
    from peft.tuners.adalora.layer import RankAllocator as PeftRankAllocator

    root = nn.Module()
    for i, (_, layer) in enumerate(layers):
        root.add_module(f"m{i}", _PeftSVD(layer))
    config = peft.AdaLoraConfig(init_r=schedule.init_rank, target_r=schedule.target_rank, target_modules=["dense"],
                                tinit=schedule.t_init, tfinal=schedule.t_final, deltaT=DELTA_T, beta1=schedule.beta1,
                                beta2=schedule.beta2, total_step=schedule.total_steps)
    return root, PeftRankAllocator(root, config, "default")


def method_step_scaling(layer_counts: Sequence[int], *, repeats: int, device: torch.device, with_peft: bool = True,
                        shapes: Sequence[tuple[str, int, int]] = DEBERTA_SHAPES,
                        progress: Callable[[str], None] = print) -> dict:
    schedule = Schedule()
    clock = make_clock(device)
    cases = {}
    for n in layer_counts:
        layers = synthetic_layers(n, schedule.init_rank, device, shapes)
        ours = RankAllocator(layers, adalora_spec(schedule, DELTA_T))
        ours.set_total_steps(schedule.total_steps)
        case = {"ours": ours, "modules": [layer for _, layer in layers], "layers": layers}
        if with_peft:
            case["peft_root"], case["peft"] = _peft_allocator(layers, schedule)
        cases[n] = case

    raw = {n: {} for n in layer_counts}
    first = schedule.first_step // DELTA_T * DELTA_T + 1      # t % DELTA_T == 1
    gc.collect()
    gc.freeze()
    try:
        _rounds(cases, layer_counts, repeats, first, with_peft, clock, raw, progress)
    finally:
        gc.unfreeze()
    out = []
    for n in layer_counts:
        ours = cases[n]["ours"]
        entries = sum(p.numel() for p in ours.params)
        row = {"layers": n, "matrices": ours.n, "adapter_entries": entries, "triplets": ours.init_budget}
        row.update({key: summary(values) for key, values in raw[n].items()})
        row["ours_update_mask_ms_per_million_entries"] = row["ours_update_mask"]["median"] / (entries / 1e6)
        row["cpu_ours_update_mask_ms_per_million_entries"] = row["cpu_ours_update_mask"]["median"] / (entries / 1e6)
        out.append(row)
    return {"shapes": [list(s) for s in shapes], "rank": schedule.init_rank, "delta_t": DELTA_T, "rows": out}



def _regulariser(case: dict) -> None:
    orthogonal_regularizer(case["modules"]).backward()


def _rounds(cases: dict, layer_counts: Sequence[int], repeats: int, first: int, with_peft: bool, clock,
            raw: dict, progress: Callable[[str], None]) -> None:
    """Round 0 warms up; each round times every measurement of every size once."""
    def timed(fn) -> tuple[float, float]:
        (w0, c0), _, (w1, c1) = clock(), fn(), clock()
        return w1 - w0, c1 - c0

    for rnd in range(1 + repeats):
        gc.collect()
        for n in layer_counts:
            case, t = cases[n], first + rnd * DELTA_T           # t does not mask, t + DELTA_T - 1 does
            runs = {"ours_update": lambda: case["ours"].step(t),
                    "ours_update_mask": lambda: case["ours"].step(t + DELTA_T - 1),
                    "regulariser_forward_backward": lambda: _regulariser(case)}
            if with_peft:
                runs["peft_update"] = lambda: case["peft"].update_and_allocate(case["peft_root"], t)
                runs["peft_update_mask"] = lambda: case["peft"].update_and_allocate(case["peft_root"], t + DELTA_T - 1)
            for key, fn in runs.items():
                wall, cpu = timed(fn)
                if rnd:
                    raw[n].setdefault(key, []).append(wall)
                    raw[n].setdefault(f"cpu_{key}", []).append(cpu)
        if rnd:
            progress(f"  round {rnd}/{repeats}: " + ", ".join(
                f"{n} layers {raw[n]['ours_update_mask'][-1] * 1e3:.1f} ms" for n in layer_counts))
