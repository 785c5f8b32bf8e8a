"""`python -m runners.bench.profile`: where AdaLoRA's training step spends its time next to LoRA's, as shares.

One process, one thread, the packaged MiniLM (or a tiny model with --quick) at the CPU reproduction's batch (16
sentences of 64 tokens by default), LoRA and AdaLoRA at the same budget, stepped alternately inside AdaLoRA's
budget phase. torch.profiler records every step; the output is each region's share of the variant's step (forward,
regulariser forward, backward, clipping, optimizer, the method step) and the operators whose self time differs
most between the two. Shares are what to read: on a machine shared with other jobs, absolute times are inflated
alike for every region, the shares much less so.

    python -m runners.bench.profile [--budget 83k|332k] [--batch 16x64] [--steps 30] [--out results/bench/profile.json]
    python -m runners.bench.profile --count      # ATen operators per region and step: exact, whatever the load
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from .models import MODELS, make_batch
from .variants import Schedule, VariantSpec, prepare

# MiniLM's CPU-protocol budgets (conf/experiment/cpu/protocol.yaml): LoRA rank, AdaLoRA initial and target rank.
BUDGETS = {"83k": (2, 4, 2), "332k": (8, 12, 8)}
REGIONS = ("forward", "regularizer", "backward", "clip", "optimizer", "method_step", "zero_grad")


def profiled_step(trainee, batch: dict, t: int, max_grad_norm: float, regularizer, tag: str) -> None:
    """The benchmark's training step (runners/bench/variants.py: train_step), each part in a region `tag/part`."""
    with record_function(f"{tag}/forward"):
        loss = trainee.model(**batch).loss
    with record_function(f"{tag}/regularizer"):
        loss = loss + regularizer()
    with record_function(f"{tag}/backward"):
        loss.backward()
    with record_function(f"{tag}/clip"):
        torch.nn.utils.clip_grad_norm_(trainee.trainable, max_grad_norm)
    with record_function(f"{tag}/optimizer"):
        trainee.optimizer.step()
    with record_function(f"{tag}/method_step"):
        trainee.method_step(t)
    with record_function(f"{tag}/zero_grad"):
        trainee.optimizer.zero_grad(set_to_none=True)


def _ops_under(events, tag: str) -> tuple[dict[str, float], dict[str, int]]:
    """Self CPU time (us) and calls of every operator that ran inside one of `tag`'s regions."""
    times, calls = defaultdict(float), defaultdict(int)
    stack = sorted(events, key=lambda e: e.time_range.start)
    regions = [e for e in stack if e.name.startswith(tag + "/")]
    spans = [(r.time_range.start, r.time_range.end) for r in regions]
    j = 0
    for e in stack:
        if e.name.startswith(("lora/", "adalora/")):
            continue
        while j < len(spans) and spans[j][1] < e.time_range.start:
            j += 1
        if j < len(spans) and spans[j][0] <= e.time_range.start <= spans[j][1]:
            times[e.name] += e.self_cpu_time_total
            calls[e.name] += 1
    return times, calls


def profile_variants(model_name: str, budget: str, batch: int, seq_len: int, steps: int, warmup: int = 3,
                     top: int = 15) -> dict:
    """LoRA and AdaLoRA stepped alternately (one step each per round) under one profiler session, so that a shared
    machine's slow spells reach both alike."""
    lora_rank, init_rank, target_rank = BUDGETS[budget]
    schedule = Schedule(lora_rank=lora_rank, init_rank=init_rank, target_rank=target_rank)
    spec = MODELS[model_name]
    source = spec.build()
    device = torch.device("cpu")
    data = make_batch(spec, batch, seq_len, device)
    variants = {vspec.name: prepare(vspec, source, schedule, device)
                for vspec in (VariantSpec("lora", f"LoRA r={lora_rank}", "lora"),
                              VariantSpec("adalora", f"AdaLoRA r={init_rank}->{target_rank}", "adalora", 10))}
    regs = {name: _regularizer_of(t) for name, t in variants.items()}
    for k in range(warmup):   # lazy allocations, the first masking step's buffers
        for name, trainee in variants.items():
            profiled_step(trainee, data, schedule.first_step + k, schedule.max_grad_norm, regs[name], name)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=False) as prof:
        for k in range(steps):
            order = list(variants.items()) if k % 2 == 0 else list(variants.items())[::-1]
            for name, trainee in order:
                profiled_step(trainee, data, schedule.first_step + warmup + k, schedule.max_grad_norm, regs[name],
                              name)
    events = prof.events()
    averages = {e.key: e for e in prof.key_averages()}
    results = {}
    for name in variants:
        region = {r: averages[f"{name}/{r}"].cpu_time_total / steps / 1e3 for r in REGIONS
                  if f"{name}/{r}" in averages}
        total = sum(region.values())
        ops, calls = _ops_under(events, name)
        results[name] = {"step_ms": total, "regions_ms": region,
                         "region_shares": {k: v / total for k, v in region.items()},
                         "ops_self_ms": {k: v / steps / 1e3 for k, v in ops.items()},
                         "ops_calls_per_step": {k: v / steps for k, v in calls.items()},
                         "op_calls_per_step": sum(calls.values()) / steps}
    lora, ada = results["lora"], results["adalora"]
    extra = ada["step_ms"] - lora["step_ms"]
    diff = {k: ada["ops_self_ms"].get(k, 0.0) - lora["ops_self_ms"].get(k, 0.0)
            for k in set(ada["ops_self_ms"]) | set(lora["ops_self_ms"])}
    region_diff = {k: ada["regions_ms"].get(k, 0.0) - lora["regions_ms"].get(k, 0.0) for k in REGIONS}
    return {
        "model": model_name, "budget": budget, "batch": batch, "seq_len": seq_len, "steps": steps,
        "threads": torch.get_num_threads(), "loadavg": list(os.getloadavg()),
        "ratio_adalora_vs_lora": ada["step_ms"] / lora["step_ms"],
        "extra_ms": extra,
        "extra_by_region": {k: {"ms": v, "share_of_extra": v / extra if extra else None}
                            for k, v in region_diff.items()},
        "extra_by_op": [{"op": k, "ms": v, "share_of_extra": v / extra if extra else None,
                         "calls_lora": lora["ops_calls_per_step"].get(k, 0),
                         "calls_adalora": ada["ops_calls_per_step"].get(k, 0)}
                        for k, v in sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top]],
        "variants": {k: {kk: vv for kk, vv in v.items() if kk not in ("ops_self_ms", "ops_calls_per_step")}
                     for k, v in results.items()},
    }


def count_operators(model_name: str, budget: str, batch: int, seq_len: int) -> dict:
    """ATen operators dispatched per region of one training step (after two warm-up steps, on a step that does not
    mask, then on one that does), LoRA and AdaLoRA: a measure of the per-step fixed cost that a shared machine
    cannot distort."""
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.calls = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.calls[str(func.overloadpacket)] += 1
            return func(*args, **(kwargs or {}))

    lora_rank, init_rank, target_rank = BUDGETS[budget]
    schedule = Schedule(lora_rank=lora_rank, init_rank=init_rank, target_rank=target_rank)
    spec = MODELS[model_name]
    source = spec.build()
    device = torch.device("cpu")
    data = make_batch(spec, batch, seq_len, device)
    out = {}
    for vspec in (VariantSpec("lora", "LoRA", "lora"), VariantSpec("adalora", "AdaLoRA", "adalora", 10),
                  VariantSpec("adalora_sliced", "AdaLoRA sliced", "adalora", 10, phase="final", sliced=True)):
        trainee = prepare(vspec, source, schedule, device)
        reg = _regularizer_of(trainee)
        t0 = schedule.first_step + 1
        for k in range(2):
            profiled_step(trainee, data, t0 + k, schedule.max_grad_norm, reg, vspec.name)
        parts = {}
        for region, fn in (("forward", lambda: trainee.model(**data).loss),):
            with Count() as c:
                loss = fn()
            parts[region] = c.calls
        with Count() as c:
            loss = loss + reg()
        parts["regularizer"] = c.calls
        with Count() as c:
            loss.backward()
        parts["backward"] = c.calls
        with Count() as c:
            torch.nn.utils.clip_grad_norm_(trainee.trainable, schedule.max_grad_norm)
            trainee.optimizer.step()
        parts["clip_optimizer"] = c.calls
        step = t0 + 2 + trainee.step_offset
        with Count() as c:
            trainee.method_step(step if step % 10 else step + 1)
        parts["method_step"] = c.calls
        with Count() as c:
            trainee.method_step(((step // 10) + 1) * 10)
        parts["method_step_masking"] = c.calls
        trainee.optimizer.zero_grad(set_to_none=True)
        counts = {k: sum(v.values()) for k, v in parts.items()}
        counts["total"] = sum(v for k, v in counts.items() if k != "method_step_masking")
        out[vspec.name] = {"counts": counts, "top": {k: v.most_common(8) for k, v in parts.items()}}
    return {"model": model_name, "budget": budget, "batch": batch, "seq_len": seq_len, "variants": out}


def _regularizer_of(trainee):
    """The regulariser the variant's loss adds (zero for LoRA), called on its own so the profile can name it."""
    closure = trainee.loss
    handle = next((c.cell_contents for c in (closure.__closure__ or ()) if hasattr(c.cell_contents, "regularizer")),
                  None)
    return handle.regularizer if handle is not None else (lambda: torch.zeros(()))


def render(result: dict) -> str:
    lines = [f"{result['model']} {result['budget']}, batch {result['batch']} x {result['seq_len']}, "
             f"{result['threads']} thread(s), {result['steps']} profiled steps each, load {result['loadavg'][0]:.1f}",
             f"AdaLoRA / LoRA step (profiled, CPU time): {result['ratio_adalora_vs_lora']:.3f}; "
             f"AdaLoRA's extra: {result['extra_ms']:.2f} ms per step", "", "extra time by region (share of the extra):"]
    for k, v in result["extra_by_region"].items():
        share = "–" if v["share_of_extra"] is None else f"{v['share_of_extra']:6.1%}"
        lines.append(f"  {k:12s} {v['ms']:8.2f} ms  {share}")
    lines += ["", "step shares per variant:"]
    for name, v in result["variants"].items():
        lines.append(f"  {name:8s} " + ", ".join(f"{k} {s:.1%}" for k, s in v["region_shares"].items())
                     + f"; {v['op_calls_per_step']:.0f} operator calls per step")
    lines += ["", "operators whose self time differs most (AdaLoRA - LoRA, ms per step; calls per step):"]
    for row in result["extra_by_op"]:
        lines.append(f"  {row['op']:40s} {row['ms']:8.3f}  calls {row['calls_lora']:.0f} -> {row['calls_adalora']:.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.bench.profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="minilm", choices=list(MODELS))
    parser.add_argument("--budget", default="83k", choices=list(BUDGETS))
    parser.add_argument("--batch", default="16x64", help="sequences x tokens")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    parser.add_argument("--count", action="store_true", help="count ATen operators per region instead of timing")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    b, _, l = args.batch.partition("x")
    if args.count:
        result = count_operators(args.model, args.budget, int(b), int(l))
        for name, v in result["variants"].items():
            print(f"{name:15s} " + ", ".join(f"{k} {n}" for k, n in v["counts"].items()))
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        return 0
    result = profile_variants(args.model, args.budget, int(b), int(l), args.steps)
    print(render(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
