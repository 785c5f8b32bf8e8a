"""The whole benchmark: training steps per model (interleaved variants), the method step against the number of
adapted matrices, peak memory per variant; the targets checked against the measurements.

Each step-time ratio is the ratio of the two variants' median steps over >= 30 interleaved rounds (after warm-up),
with a bootstrap 95% interval over rounds (runners/bench/stats.py); a target is met only when the point estimate is
at most its goal and the interval's upper end at most its interval goal (issue 13). The machine's load is sampled
every round: a run started on a busy machine is refused (--allow-load overrides), and one that ran under heavy load
says so in its record and table, whose verdicts then do not count."""
from __future__ import annotations

import datetime as dt
import math
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from . import stats
from .machine import choose_threads, describe, provenance
from .memory import measure_in_subprocess, state_bytes
from .models import MODELS, make_batch
from .scaling import method_step_scaling
from .timing import interleave
from .variants import Schedule, prepare, variant_specs

# Issue 13's targets: (goal for the point estimate, goal for the 95% interval's upper end).
TARGETS = {"adalora_vs_lora": (1.03, 1.05), "adalora_vs_peft_adalora": (0.90, 0.95),
           "adalora_sliced_vs_lora": (1.02, 1.02), "memory_adalora_vs_lora": (1.05, 1.05),
           "method_step_share": (0.02, 0.02), "method_step_growth_exponent": (1.10, 1.10)}


@dataclass
class Options:
    device: str = "cpu"
    models: tuple[str, ...] = ("minilm", "deberta-v3-base-shape")
    batches: dict[str, tuple[int, int]] = field(default_factory=dict)   # model -> (batch, seq_len) overrides
    repeats: int = 30
    warmup: int = 3
    delta_ts: tuple[int, ...] = (10, 1)
    variants: tuple[str, ...] = ()          # names to time (default: all); memory always covers the ΔT-free four
    scaling_layers: tuple[int, ...] = (12, 24, 48)
    scaling_repeats: int = 10
    memory: bool = True
    memory_steps: int = 2
    threads: str = "auto"
    dtype: str = "fp32"                     # fp32, or bf16 (autocast, as the Trainer's bf16=True)
    allow_load: bool = False                # run even when the machine is busy at the start (flagged in the record)
    quick: bool = False

    def batch_of(self, model: str) -> tuple[int, int]:
        spec = MODELS[model]
        return self.batches.get(model, (spec.batch, spec.seq_len))


QUICK = dict(models=("tiny-bert", "tiny-deberta"), repeats=4, warmup=1, scaling_layers=(1, 2), scaling_repeats=2,
             memory=False, quick=True)


class BusyMachine(RuntimeError):
    """The machine was busy when the benchmark was to start."""


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _compare(variants: dict, a: str, b: str, field: str) -> dict | None:
    """Ratio of a's to b's median step (`field`: "step" wall clock or "cpu" process time) with its interval, and
    the other clock's ratio of medians beside it."""
    if a not in variants or b not in variants:
        return None
    va, vb = variants[a], variants[b]
    out = stats.paired_ratio(va[field]["samples"], vb[field]["samples"]) or {}
    out["field"] = field
    out["ratio_of_medians_wall"] = _ratio(va["step"]["median"], vb["step"]["median"])
    out["ratio_of_medians_cpu"] = _ratio(va["cpu"]["median"], vb["cpu"]["median"])
    return out


def bench_model(name: str, opts: Options, device: torch.device, schedule: Schedule, threads: int,
                progress: Callable[[str], None]) -> dict:
    spec = MODELS[name]
    batch, seq_len = opts.batch_of(name)
    progress(f"{name}: building ({spec.label}), batch {batch} x {seq_len} tokens")
    source = spec.build().to(device)
    specs = [s for s in variant_specs(opts.delta_ts) if not opts.variants or s.name in opts.variants]
    trainees = [prepare(s, source, schedule, device) for s in specs]
    data = make_batch(spec, batch, seq_len, device)
    progress(f"{name}: {len(trainees)} variants interleaved, {opts.warmup} warm-up + {opts.repeats} rounds")
    autocast = torch.bfloat16 if opts.dtype == "bf16" else None
    timed = interleave(trainees, data, warmup=opts.warmup, repeats=opts.repeats, first_step=schedule.first_step,
                       max_grad_norm=schedule.max_grad_norm, device=device, progress=progress, autocast=autocast)
    variants = timed["variants"]
    for trainee in trainees:
        v = variants[trainee.spec.name]
        v["label"] = trainee.spec.label
        v["delta_t"] = trainee.spec.delta_t
        v["trainable_parameters"] = sum(p.numel() for p in trainee.trainable)
        v["state_bytes"] = state_bytes(trainee)
    del trainees, source
    dt0 = opts.delta_ts[0]
    field = "cpu" if headline_basis(device, threads)[0].startswith("cpu") else "step"
    pairs = [("adalora", "lora"), ("adalora", "peft_adalora"), ("peft_adalora", "lora"), ("full", "lora"),
             ("adalora_sliced", "lora"), ("adalora_final", "lora"), ("adalora_sliced", "adalora_final")]
    for extra in opts.delta_ts[1:]:
        pairs += [(f"adalora_dt{extra}", "lora"), (f"adalora_dt{extra}", f"peft_adalora_dt{extra}")]
    comparisons = {f"{a}_vs_{b}": _compare(variants, a, b, field) for a, b in pairs}
    method_share = {}
    for key in [k for k in variants if k.startswith("adalora")]:
        v = variants[key]
        method_share[key] = {"median": _ratio(v["method"]["median"], v["step"]["median"]),
                             "mean": _ratio(v["method"]["mean"], v["step"]["mean"]),
                             "cpu_median": _ratio(v["cpu_method"]["median"], v["cpu"]["median"]),
                             "cpu_mean": _ratio(v["cpu_method"]["mean"], v["cpu"]["mean"])}
    out = {"label": spec.label, "batch": batch, "seq_len": seq_len, "dtype": opts.dtype, "variants": variants,
           "comparisons": comparisons, "method_step_share": method_share, "delta_t": dt0,
           "loadavg_1min": timed["loadavg_1min"]}
    if opts.memory:
        memory = {}
        for s in specs:
            if s.delta_t not in (None, dt0):   # ΔT changes when masks are taken, not what is held in memory
                continue
            progress(f"{name}: peak memory of {s.name} (fresh process)")
            memory[s.name] = measure_in_subprocess(name, s.name, device.type, batch, seq_len, opts.delta_ts,
                                                   opts.memory_steps, threads)
        out["memory"] = memory
        if "peak_bytes" in memory.get("adalora", {}) and "peak_bytes" in memory.get("lora", {}):
            out["comparisons"]["memory_adalora_vs_lora"] = {
                "ratio": _ratio(memory["adalora"]["peak_bytes"], memory["lora"]["peak_bytes"]),
                "training_delta": _ratio(memory["adalora"]["training_delta_bytes"],
                                         memory["lora"]["training_delta_bytes"]),
                "ci_low": None, "ci_high": None, "n": 1}
    return out


def _growth_exponent(rows: list[dict], key: str) -> float | None:
    """log(time ratio) / log(size ratio) between the smallest and the largest stack: 1 = linear."""
    if len(rows) < 2:
        return None
    small, large = rows[0], rows[-1]
    size = large["adapter_entries"] / small["adapter_entries"]
    time_ratio = large[key]["median"] / small[key]["median"]
    return math.log(time_ratio) / math.log(size) if size > 1 and time_ratio > 0 else None


def headline_basis(device: torch.device, threads: int) -> tuple[str, str]:
    """Which step time the headline ratios compare. With one CPU thread, the process's CPU time is the work of the
    step itself; wall-clock time adds however long the thread waited for a core, which on a shared machine is
    noise from other jobs. Otherwise (several threads, which spin while they wait for each other, or a GPU) the
    wall-clock time."""
    if device.type == "cpu" and threads == 1:
        return ("cpu_ratio_of_medians", "ratio of median process CPU times per training step (one thread), bootstrap "
                "95% interval over interleaved rounds; the model whose interval reaches highest")
    return ("ratio_of_medians", "ratio of median wall-clock training steps, bootstrap 95% interval over "
            "interleaved rounds; the model whose interval reaches highest")


def targets(models: dict, scaling: dict | None, basis: tuple[str, str], heavy_load: bool) -> dict:
    """Every target with its measured value and interval (the model whose interval reaches highest) and whether
    it is met. Under heavy load nothing counts as met."""
    out = {}
    _, described = basis

    def worst(key: str) -> tuple[str | None, dict | None]:
        found = [(name, m["comparisons"][key]) for name, m in models.items() if m["comparisons"].get(key)]
        if not found:
            return None, None
        return max(found, key=lambda nc: (nc[1].get("ci_high") if nc[1].get("ci_high") is not None
                                          else nc[1].get("ratio") or 0))

    for key in ("adalora_vs_lora", "adalora_vs_peft_adalora", "adalora_sliced_vs_lora"):
        model, estimate = worst(key)
        goal, ci_goal = TARGETS[key]
        out[key] = {**stats.verdict(estimate, goal, ci_goal), "model": model, "statistic": described,
                    "by_model": {name: {"ratio": m["comparisons"][key].get("ratio"),
                                        "ci": [m["comparisons"][key].get("ci_low"), m["comparisons"][key].get("ci_high")]}
                                 for name, m in models.items() if m["comparisons"].get(key)}}
    model, memory = worst("memory_adalora_vs_lora")
    goal, _ = TARGETS["memory_adalora_vs_lora"]
    value = memory.get("ratio") if memory else None
    out["memory_adalora_vs_lora"] = {"value": value, "ci": None, "goal": goal, "ci_goal": goal, "model": model,
                                     "met": value is not None and value <= goal,
                                     "why": "one fresh process per variant: peak memory is not a noisy measure",
                                     "statistic": "ratio of peak memory, worst model"}
    deberta = [m for name, m in models.items() if "deberta" in name]
    ref = deberta[-1] if deberta else (list(models.values())[-1] if models else None)
    cpu = basis[0].startswith("cpu")
    share = ref["method_step_share"].get("adalora", {}).get("cpu_median" if cpu else "median") if ref else None
    goal, _ = TARGETS["method_step_share"]
    out["method_step_share"] = {"value": share, "ci": None, "goal": goal, "ci_goal": goal,
                                "met": share is not None and share <= goal, "why": "median share, no interval",
                                "statistic": f"median method step / median training step "
                                             f"({'process CPU time' if cpu else 'wall clock'}), our AdaLoRA at "
                                             f"the headline ΔT, {ref['label'] if ref else '-'}"}
    if scaling:
        exponent = _growth_exponent(scaling["rows"], "cpu_ours_update_mask" if cpu else "ours_update_mask")
        goal, _ = TARGETS["method_step_growth_exponent"]
        out["method_step_growth_exponent"] = {
            "value": exponent, "ci": None, "goal": goal, "ci_goal": goal,
            "met": exponent is not None and exponent <= goal, "why": "two sizes' medians, no interval",
            "statistic": f"log(time ratio) / log(adapter-entry ratio) of our update + mask "
                         f"({'CPU time' if cpu else 'wall clock'}), smallest to largest stack (1 = linear)"}
    if heavy_load:
        for t in out.values():
            if t["met"]:
                t["met"] = False
                t["why"] = "measured under heavy load: no verdict (" + t["why"] + ")"
    return out


def run_bench(opts: Options, argv: list[str], progress: Callable[[str], None] = print) -> dict:
    device = torch.device(opts.device)
    cores = os.cpu_count() or 1
    load_start = os.getloadavg()
    if device.type == "cpu" and not opts.quick and not opts.allow_load and load_start[0] >= cores:
        raise BusyMachine(f"the machine is busy (1-minute load {load_start[0]:.1f} on {cores} cores): its timings "
                          f"would not be a verdict; wait for a quiet machine or pass --allow-load (the record then "
                          f"says so)")
    threads, rule = choose_threads(opts.threads, device.type)
    if device.type == "cpu":
        torch.set_num_threads(threads)
    started = dt.datetime.now(dt.timezone.utc)
    schedule = Schedule()
    progress(f"bench on {device.type}: {threads} thread(s) ({rule})")
    models = {name: bench_model(name, opts, device, schedule, threads, progress) for name in opts.models}
    scaling = None
    if opts.scaling_layers:
        progress(f"method step alone: {', '.join(map(str, opts.scaling_layers))} DeBERTa-shaped layers")
        scaling = method_step_scaling(opts.scaling_layers, repeats=opts.scaling_repeats, device=device,
                                      progress=progress)
    basis = headline_basis(device, threads)
    loads = [x for m in models.values() for x in m["loadavg_1min"]]
    load = stats.load_verdict(loads, cores, own=threads if device.type == "cpu" else 1)
    heavy = device.type == "cpu" and load["heavy"]
    if heavy:
        progress(f"WARNING: heavy load during the rounds (median 1-minute load {load['median']:.1f} on {cores} "
                 f"cores, {threads} of them the benchmark's): these timings are not a verdict")
    checked = targets(models, scaling, basis, heavy)
    record = {
        "schema": 1,
        "created": started.isoformat(timespec="seconds"),
        "wall_time_s": round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1),
        "command": "python -m runners.bench " + " ".join(argv),
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()},
        "machine": describe(device, threads, rule),
        "load": {"start": list(load_start), "end": list(os.getloadavg()), "during": load, "heavy": heavy,
                 "note": "os.getloadavg() of the whole machine (the benchmark's own threads included), sampled every "
                         "round; heavy = median >= limit (the cores, or the benchmark's threads + 1 where those fill "
                         "the cores): the machine was shared with other jobs and no target counts as met"},
        "verdict_valid": not heavy and not opts.quick,
        **provenance(),
        "schedule": schedule.as_dict(),
        "step_time_ratio": {"adalora_vs_lora": checked["adalora_vs_lora"]["value"],
                            "adalora_vs_peft_adalora": checked["adalora_vs_peft_adalora"]["value"],
                            "adalora_sliced_vs_lora": checked["adalora_sliced_vs_lora"]["value"],
                            "delta_t": opts.delta_ts[0],
                            "basis": "cpu" if basis[0].startswith("cpu") else "wall",
                            "statistic": basis[1],
                            "by_model": {name: {k: {"ratio": (c or {}).get("ratio"),
                                                    "ci": [(c or {}).get("ci_low"), (c or {}).get("ci_high")]}
                                                for k, c in m["comparisons"].items()
                                                if k.startswith(("adalora", "peft", "full"))}
                                         for name, m in models.items()}},
        "targets": checked,
        "models": models,
        "method_step_scaling": scaling,
    }
    return record
