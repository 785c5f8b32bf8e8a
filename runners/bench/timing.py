"""Timing in one process: every variant takes one step per round, in an order that rotates round by round, so slow
drift of a shared machine (other jobs starting and stopping) reaches every variant alike. Warm-up rounds are
dropped; each variant's step counter runs on inside AdaLoRA's budget phase."""
from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Sequence

import torch

from .variants import Trainee, train_step


def make_clock(device: torch.device) -> Callable[[], tuple[float, float]]:
    """(wall, process CPU) seconds; on CUDA after the queued kernels have finished."""
    if device.type == "cuda":
        def clock() -> tuple[float, float]:
            torch.cuda.synchronize(device)
            return time.perf_counter(), time.process_time()
        return clock
    return lambda: (time.perf_counter(), time.process_time())


def summary(samples: Sequence[float]) -> dict:
    """Median, spread and extremes of seconds, reported in milliseconds (the samples in the order they ran)."""
    in_order = [x * 1e3 for x in samples]
    ms = sorted(in_order)
    if len(ms) >= 2:
        q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
    else:
        q1 = q3 = ms[0]
    return {"median": statistics.median(ms), "iqr": q3 - q1, "q1": q1, "q3": q3, "mean": statistics.fmean(ms),
            "min": ms[0], "max": ms[-1], "n": len(ms), "samples": [round(x, 3) for x in in_order]}


def interleave(trainees: Sequence[Trainee], batch: dict, *, warmup: int, repeats: int, first_step: int,
               max_grad_norm: float, device: torch.device, progress: Callable[[str], None] = print,
               autocast: torch.dtype | None = None) -> dict:
    """Run warmup + repeats rounds; return per variant the summaries of its measured steps and their parts, the
    steps that masked, and the load average seen at each round."""
    clock = make_clock(device)
    raw = {t.spec.name: {} for t in trainees}
    steps = {t.spec.name: [] for t in trainees}
    loads = []
    gc.collect()
    gc.freeze()   # the models' objects: a collection between rounds then only walks what the steps made
    try:
        for rnd in range(warmup + repeats):
            order = [trainees[(rnd + k) % len(trainees)] for k in range(len(trainees))]
            step = first_step + rnd
            gc.collect()
            gc.disable()
            try:
                for trainee in order:
                    times = train_step(trainee, batch, step, clock, max_grad_norm, autocast)
                    if rnd >= warmup:
                        for key, value in times.items():
                            raw[trainee.spec.name].setdefault(key, []).append(value)
            finally:
                gc.enable()
            if rnd >= warmup:
                for trainee in trainees:
                    steps[trainee.spec.name].append(step + trainee.step_offset)
            loads.append(os.getloadavg()[0])
            if rnd < warmup:
                progress(f"  warm-up {rnd + 1}/{warmup} (load {loads[-1]:.1f})")
            else:
                progress(f"  round {rnd + 1 - warmup}/{repeats}: "
                         + ", ".join(f"{t.spec.name} {raw[t.spec.name]['step'][-1] * 1e3:.0f}" for t in trainees)
                         + f" ms (load {loads[-1]:.1f})")
    finally:
        gc.unfreeze()
    out = {}
    for trainee in trainees:
        name = trainee.spec.name
        dt = trainee.spec.delta_t
        out[name] = {key: summary(values) for key, values in raw[name].items()}
        out[name]["steps"] = steps[name]
        if trainee.spec.phase == "final":   # the final phase masks every step, unless the layers are sliced
            out[name]["masking_steps"] = [] if trainee.spec.sliced else list(steps[name])
        else:
            out[name]["masking_steps"] = [s for s in steps[name] if dt and s % dt == 0]
    return {"variants": out, "loadavg_1min": loads}

