"""What a run cost, for its record (Table 15's time and memory columns): `CostMeter`, a TrainerCallback.

- step_time_median_s: the median optimizer step, from `on_step_begin` to `on_step_end` (every micro-batch's forward
  and backward, clipping, the optimizer, the method's step, zero_grad). The step's batches are fetched before
  `on_step_begin`, and logging, evaluation and checkpoints run after `on_step_end`, so neither is in it.
- train_time_s: the training loop's wall time (`on_train_begin` to `on_train_end`) less the gaps between steps in
  which an evaluation or a checkpoint ran; loading the model and data before, and the final evaluation after,
  are outside it by construction. Data loading between steps counts: it is part of training.
- peak_memory_mb: on CUDA, torch.cuda.max_memory_allocated() over training (the peak counter is reset at
  `on_train_begin`); on a CPU, the process's peak resident set (VmHWM), reset at `on_train_begin` where Linux lets
  a process do that (/proc/self/clear_refs), otherwise since the process started (`peak_memory_scope` says which).
- train_cpu_s (CPU runs): the process's CPU time (all its threads) over the same window as train_time_s. Unlike
  the wall time it hardly moves when other processes share the cores, so cost ratios between runs made under
  different load stay comparable on it; cpu_share = train_cpu_s / (train_time_s x torch threads) says how much of
  its cores the run had (about 1 for a one-thread run that had a core to itself; well under 1 when it waited for
  one: compare wall times only between runs whose shares agree).
- device: "cpu" or "cuda (<GPU name>)"; steps: how many steps were timed.

On CUDA each step's end waits for the GPU (one synchronisation per optimizer step), so the times are the GPU's.

    meter = CostMeter()
    trainer.add_callback(meter)
    trainer.train()
    record["cost"] = meter.summary()
"""
from __future__ import annotations

import re
import resource
import statistics
import time
from pathlib import Path

import torch
from transformers import TrainerCallback

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def rss_high_water_mb() -> float | None:
    """The process's peak resident set size in MiB (VmHWM), or getrusage's ru_maxrss where /proc is missing."""
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", STATUS.read_text(), re.M)
        if match:
            return int(match.group(1)) / 1024
    except OSError:
        pass
    try:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # kB on Linux
    except (OSError, ValueError):
        return None


def reset_rss_high_water() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs); False where that is not allowed."""
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class CostMeter(TrainerCallback):
    """Times every optimizer step and the training loop, and takes the peak memory of training (see the module
    docstring); `summary()` is the record's `cost` entry."""

    def __init__(self) -> None:
        self.step_times: list[float] = []
        self.train_time_s: float | None = None
        self._cuda: torch.device | None = None
        self._clock = time.perf_counter
        self._cpu_clock = time.process_time
        self.train_cpu_s: float | None = None
        self._cpu_start: float | None = None
        self._gap_cpu_start: float | None = None
        self._cpu_excluded = 0.0
        self._train_start: float | None = None
        self._step_start: float | None = None
        self._gap_start: float | None = None
        self._gap_busy = False          # an evaluation or checkpoint ran since the last step ended
        self._excluded = 0.0
        self.peak_memory_mb: float | None = None
        self.peak_memory_scope = "training"

    # --- helpers ---------------------------------------------------------------------------------------------
    def _now(self) -> float:
        if self._cuda is not None:
            torch.cuda.synchronize(self._cuda)
        return self._clock()

    def _close_gap(self, now: float, cpu_now: float) -> None:
        if self._gap_start is not None and self._gap_busy:
            self._excluded += now - self._gap_start
            self._cpu_excluded += cpu_now - self._gap_cpu_start
        self._gap_start, self._gap_cpu_start, self._gap_busy = None, None, False

    def _open_gap(self, now: float) -> None:
        self._gap_start, self._gap_cpu_start, self._gap_busy = now, self._cpu_clock(), False

    # --- Trainer events --------------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        device = getattr(args, "device", None)
        self._cuda = device if device is not None and device.type == "cuda" else None
        if self._cuda is not None:
            torch.cuda.reset_peak_memory_stats(self._cuda)
        elif not reset_rss_high_water():
            self.peak_memory_scope = "process"
        self.step_times, self._excluded, self._cpu_excluded = [], 0.0, 0.0
        self._train_start = self._now()
        self._cpu_start = self._cpu_clock()
        self._open_gap(self._train_start)

    def on_step_begin(self, args, state, control, **kwargs):
        now = self._now()
        self._close_gap(now, self._cpu_clock())
        self._step_start = now

    def on_step_end(self, args, state, control, **kwargs):
        now = self._now()
        if self._step_start is not None:
            self.step_times.append(now - self._step_start)
        self._step_start = None
        self._open_gap(now)

    def on_evaluate(self, args, state, control, **kwargs):
        self._gap_busy = True

    def on_save(self, args, state, control, **kwargs):
        self._gap_busy = True

    def on_train_end(self, args, state, control, **kwargs):
        now, cpu_now = self._now(), self._cpu_clock()
        self._close_gap(now, cpu_now)
        if self._train_start is not None:
            self.train_time_s = now - self._train_start - self._excluded
            self.train_cpu_s = cpu_now - self._cpu_start - self._cpu_excluded
        if self._cuda is not None:
            self.peak_memory_mb = torch.cuda.max_memory_allocated(self._cuda) / 2**20
        else:
            self.peak_memory_mb = rss_high_water_mb()

    # --- the record --------------------------------------------------------------------------------------------
    def device_name(self) -> str:
        if self._cuda is not None:
            return f"cuda ({torch.cuda.get_device_name(self._cuda)})"
        return "cpu"

    def summary(self) -> dict:
        """{"step_time_median_s", "train_time_s", "peak_memory_mb", "device", ...} for the result record; None where
        a figure was not measured (e.g. a run that resumed after its last step)."""
        steps = self.step_times
        threads = torch.get_num_threads()
        cpu = self.train_cpu_s if self._cuda is None else None      # on a GPU the host's CPU time says little
        share = cpu / (self.train_time_s * threads) if cpu is not None and self.train_time_s else None
        return {
            "step_time_median_s": round(statistics.median(steps), 6) if steps else None,
            "step_time_iqr_s": round(_iqr(steps), 6) if len(steps) >= 2 else None,
            "steps_timed": len(steps),
            "train_time_s": round(self.train_time_s, 3) if self.train_time_s is not None else None,
            "train_cpu_s": round(cpu, 3) if cpu is not None else None,
            "cpu_share": round(share, 3) if share is not None else None,
            "peak_memory_mb": round(self.peak_memory_mb, 1) if self.peak_memory_mb is not None else None,
            "peak_memory_measure": ("torch.cuda.max_memory_allocated" if self._cuda is not None
                                    else f"RSS high-water mark (VmHWM) of the {self.peak_memory_scope}"),
            "device": self.device_name(),
            "torch_threads": threads,
        }


def _iqr(values: list[float]) -> float:
    q1, _, q3 = statistics.quantiles(sorted(values), n=4, method="inclusive")
    return q3 - q1
