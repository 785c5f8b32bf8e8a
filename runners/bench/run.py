"""The whole benchmark: training steps per model (interleaved variants), the method step against the number of
adapted matrices, peak memory per variant; the targets checked against the measurements."""
from __future__ import annotations

import datetime as dt
import math
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from .machine import choose_threads, describe, provenance
from .memory import measure_in_subprocess, state_bytes
from .models import MODELS, make_batch
from .scaling import method_step_scaling
from .timing import interleave
from .variants import Schedule, prepare, variant_specs

TARGETS = {"adalora_vs_lora": 1.03, "adalora_vs_peft_adalora": 1.00, "method_step_share": 0.02,
           "memory_adalora_vs_lora": 1.05, "method_step_growth_exponent": 1.10}


@dataclass
class Options:
    device: str = "cpu"
    models: tuple[str, ...] = ("minilm", "deberta-v3-base-shape")
    batches: dict[str, tuple[int, int]] = field(default_factory=dict)   # model -> (batch, seq_len) overrides
    repeats: int = 10
    warmup: int = 1
    delta_ts: tuple[int, ...] = (10, 1)
    variants: tuple[str, ...] = ()          # names to time (default: all); memory always covers the ΔT-free four
    scaling_layers: tuple[int, ...] = (12, 24, 48)
    scaling_repeats: int = 10
    memory: bool = True
    memory_steps: int = 2
    threads: str = "auto"

    def batch_of(self, model: str) -> tuple[int, int]:
        spec = MODELS[model]
        return self.batches.get(model, (spec.batch, spec.seq_len))


QUICK = dict(models=("tiny-bert", "tiny-deberta"), repeats=2, warmup=1, scaling_layers=(1, 2), scaling_repeats=2,
             memory=False)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _paired(rows_a: list[float], rows_b: list[float]) -> dict:
    """Per-round ratios (the two variants ran in the same round), their median and spread."""
    ratios = sorted(a / b for a, b in zip(rows_a, rows_b) if b)
    if not ratios:
        return {}
    q1, q3 = (statistics.quantiles(ratios, n=4, method="inclusive")[::2] if len(ratios) >= 2 else (ratios[0],) * 2)
    return {"median": statistics.median(ratios), "q1": q1, "q3": q3}


def _compare(variants: dict, a: str, b: str) -> dict | None:
    if a not in variants or b not in variants:
        return None
    va, vb = variants[a], variants[b]
    return {"ratio_of_medians": _ratio(va["step"]["median"], vb["step"]["median"]),
            "ratio_of_means": _ratio(va["step"]["mean"], vb["step"]["mean"]),
            "cpu_ratio_of_medians": _ratio(va["cpu"]["median"], vb["cpu"]["median"]),
            "paired": _paired(va["step"]["samples"], vb["step"]["samples"])}


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
    timed = interleave(trainees, data, warmup=opts.warmup, repeats=opts.repeats, first_step=schedule.first_step,
                       max_grad_norm=schedule.max_grad_norm, device=device, progress=progress)
    variants = timed["variants"]
    for trainee in trainees:
        v = variants[trainee.spec.name]
        v["label"] = trainee.spec.label
        v["delta_t"] = trainee.spec.delta_t
        v["trainable_parameters"] = sum(p.numel() for p in trainee.trainable)
        v["state_bytes"] = state_bytes(trainee)
    del trainees, source
    dt0 = opts.delta_ts[0]
    comparisons = {
        "adalora_vs_lora": _compare(variants, "adalora", "lora"),
        "adalora_vs_peft_adalora": _compare(variants, "adalora", "peft_adalora"),
        "peft_adalora_vs_lora": _compare(variants, "peft_adalora", "lora"),
        "full_vs_lora": _compare(variants, "full", "lora"),
    }
    for extra in opts.delta_ts[1:]:
        comparisons[f"adalora_dt{extra}_vs_lora"] = _compare(variants, f"adalora_dt{extra}", "lora")
        comparisons[f"adalora_dt{extra}_vs_peft_adalora_dt{extra}"] = _compare(
            variants, f"adalora_dt{extra}", f"peft_adalora_dt{extra}")
    method_share = {}
    for key in [k for k in variants if k.startswith("adalora")]:
        v = variants[key]
        method_share[key] = {"median": _ratio(v["method"]["median"], v["step"]["median"]),
                             "mean": _ratio(v["method"]["mean"], v["step"]["mean"]),
                             "cpu_median": _ratio(v["cpu_method"]["median"], v["cpu"]["median"]),
                             "cpu_mean": _ratio(v["cpu_method"]["mean"], v["cpu"]["mean"])}
    out = {"label": spec.label, "batch": batch, "seq_len": seq_len, "variants": variants,
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
                "peak": _ratio(memory["adalora"]["peak_bytes"], memory["lora"]["peak_bytes"]),
                "training_delta": _ratio(memory["adalora"]["training_delta_bytes"],
                                         memory["lora"]["training_delta_bytes"])}
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
        return "cpu_ratio_of_medians", "ratio of median process CPU times per training step (one thread), worst model"
    return "ratio_of_medians", "ratio of median wall-clock training steps, worst model"


def targets(models: dict, scaling: dict | None, basis: tuple[str, str]) -> dict:
    """Every target with its measured value (the worst model's) and whether it is met."""
    out = {}
    field, described = basis

    def worst(key: str, field_: str = field) -> float | None:
        values = [m["comparisons"][key][field_] for m in models.values()
                  if m["comparisons"].get(key) and m["comparisons"][key].get(field_) is not None]
        return max(values) if values else None

    for key in ("adalora_vs_lora", "adalora_vs_peft_adalora"):
        value = worst(key)
        out[key] = {"value": value, "target": TARGETS[key], "met": value is not None and value <= TARGETS[key],
                    "statistic": described}
    memory = worst("memory_adalora_vs_lora", "peak")
    out["memory_adalora_vs_lora"] = {"value": memory, "target": TARGETS["memory_adalora_vs_lora"],
                                     "met": memory is not None and memory <= TARGETS["memory_adalora_vs_lora"],
                                     "statistic": "ratio of peak memory, worst model"}
    deberta = [m for name, m in models.items() if "deberta" in name]
    ref = deberta[-1] if deberta else (list(models.values())[-1] if models else None)
    cpu = field.startswith("cpu")
    share = ref["method_step_share"].get("adalora", {}).get("cpu_median" if cpu else "median") if ref else None
    out["method_step_share"] = {"value": share, "target": TARGETS["method_step_share"],
                                "met": share is not None and share <= TARGETS["method_step_share"],
                                "statistic": f"median method step / median training step "
                                             f"({'process CPU time' if cpu else 'wall clock'}), our AdaLoRA at "
                                             f"the headline ΔT, {ref['label'] if ref else '-'}"}
    if scaling:
        exponent = _growth_exponent(scaling["rows"], "cpu_ours_update_mask" if cpu else "ours_update_mask")
        out["method_step_growth_exponent"] = {
            "value": exponent, "target": TARGETS["method_step_growth_exponent"],
            "met": exponent is not None and exponent <= TARGETS["method_step_growth_exponent"],
            "statistic": f"log(time ratio) / log(adapter-entry ratio) of our update + mask "
                         f"({'CPU time' if cpu else 'wall clock'}), smallest to largest stack (1 = linear)"}
    return out


def run_bench(opts: Options, argv: list[str], progress: Callable[[str], None] = print) -> dict:
    device = torch.device(opts.device)
    threads, rule = choose_threads(opts.threads)
    if device.type == "cpu":
        torch.set_num_threads(threads)
    started = dt.datetime.now(dt.timezone.utc)
    load_start = os.getloadavg()
    schedule = Schedule()
    progress(f"bench on {device.type}: {threads} thread(s) ({rule})")
    models = {name: bench_model(name, opts, device, schedule, threads, progress) for name in opts.models}
    scaling = None
    if opts.scaling_layers:
        progress(f"method step alone: {', '.join(map(str, opts.scaling_layers))} DeBERTa-shaped layers")
        scaling = method_step_scaling(opts.scaling_layers, repeats=opts.scaling_repeats, device=device,
                                      progress=progress)
    basis = headline_basis(device, threads)
    checked = targets(models, scaling, basis)
    record = {
        "schema": 1,
        "created": started.isoformat(timespec="seconds"),
        "wall_time_s": round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1),
        "command": "python -m runners.bench " + " ".join(argv),
        "options": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(opts).items()},
        "machine": describe(device, threads, rule),
        "load": {"start": list(load_start), "end": list(os.getloadavg()),
                 "note": "os.getloadavg() of the whole machine; absolute times are from a machine shared with "
                         "other jobs when the load exceeds the cores"},
        **provenance(),
        "schedule": schedule.as_dict(),
        "step_time_ratio": {"adalora_vs_lora": checked["adalora_vs_lora"]["value"],
                            "adalora_vs_peft_adalora": checked["adalora_vs_peft_adalora"]["value"],
                            "delta_t": opts.delta_ts[0],
                            "basis": "cpu" if basis[0].startswith("cpu") else "wall",
                            "statistic": basis[1],
                            "by_model": {name: {k: (m["comparisons"][k] or {}).get(basis[0])
                                                for k in m["comparisons"] if k.startswith(("adalora", "peft", "full"))}
                                         for name, m in models.items()}},
        "targets": checked,
        "models": models,
        "method_step_scaling": scaling,
    }
    return record
