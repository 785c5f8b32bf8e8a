"""Peak memory of each variant, measured alone.

Every variant runs in a fresh process (`python -m runners.bench.memory ...`, one at a time) that builds the model,
adapts it, and then resets the peak counter before its training steps, so the peak covers training only:
- CPU: the peak resident set size (VmHWM of /proc/self/status, reset through /proc/self/clear_refs), i.e. the
  process's whole footprint at its highest (Python, torch, the model and its activations) during the steps;
- CUDA: torch.cuda.max_memory_allocated() after torch.cuda.reset_peak_memory_stats().
Beside it, an exact accounting of what persists between steps: parameters, gradients (at their peak, after
backward), the optimizer's state and the method's statistics.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]


def _tensor_bytes(tensors, seen: set) -> int:
    total = 0
    for t in tensors:
        storage = t.untyped_storage()
        key = (storage.data_ptr(), storage.device.type)
        if key not in seen and storage.nbytes():
            seen.add(key)
            total += storage.nbytes()
    return total


def _tensors_in(obj, depth: int = 3):
    """Tensors an object holds (attributes, lists, dicts), not descending into modules or parameters."""
    if isinstance(obj, torch.Tensor):
        if not isinstance(obj, nn.Parameter):
            yield obj
        return
    if depth == 0 or isinstance(obj, nn.Module) or obj is None:
        return
    if isinstance(obj, dict):
        items = obj.values()
    elif isinstance(obj, (list, tuple)):
        items = obj
    elif hasattr(obj, "__dict__"):
        items = vars(obj).values()
    else:
        return
    for item in items:
        yield from _tensors_in(item, depth - 1)


def state_bytes(trainee) -> dict[str, int]:
    """Bytes that persist between steps. Gradients count as the trainable parameters' size (they exist from
    backward until zero_grad)."""
    seen: set = set()
    model = trainee.model
    params = _tensor_bytes(list(model.parameters()) + list(model.buffers()), seen)
    trainable = sum(p.numel() * p.element_size() for p in trainee.trainable)
    optimizer = _tensor_bytes([t for s in trainee.optimizer.state.values() for t in s.values()
                               if isinstance(t, torch.Tensor)], set())
    method = _tensor_bytes(list(_tensors_in(trainee.method_state())), set())
    return {"parameters": params, "trainable": trainable, "gradients": trainable, "optimizer": optimizer,
            "method": method, "total": params + trainable + optimizer + method}


# --- the child process ---------------------------------------------------------------------------------------
def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M)
    return int(match.group(1)) if match else 0


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(model_name: str, variant: str, device: str, batch: int, seq_len: int, delta_ts: tuple[int, ...],
            steps: int, threads: int | None) -> dict:
    """Build, adapt, then train `steps` steps of one variant in this process; the peak memory of those steps."""
    from .models import MODELS, make_batch
    from .variants import Schedule, prepare, variant_specs

    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    spec = {s.name: s for s in variant_specs(delta_ts)}[variant]
    schedule = Schedule()
    source = MODELS[model_name].build().to(dev)
    trainee = prepare(spec, source, schedule, dev, share_frozen=None)   # the variant alone: no second copy
    del source
    data = make_batch(MODELS[model_name], batch, seq_len, dev)
    from .timing import make_clock
    from .variants import train_step

    clock = make_clock(dev)
    # Start on a masking step of the largest interval, so the measured steps include one.
    first = (schedule.first_step // max(delta_ts) + 1) * max(delta_ts) - (steps - 1)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        reset = _reset_peak_rss()
        base = _status_kib("VmRSS") * 1024
    for k in range(steps):
        train_step(trainee, data, first + k, clock, schedule.max_grad_norm)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        peak, how = torch.cuda.max_memory_allocated(dev), "torch.cuda.max_memory_allocated"
    else:
        # The kernel folds per-thread RSS counters into VmHWM lazily, so VmHWM can read a little below the RSS
        # measured before the steps; the peak of the steps is at least the memory they started with and ended with.
        peak = max(_status_kib("VmHWM"), _status_kib("VmRSS")) * 1024
        peak = max(peak, base)
        how = "peak RSS (VmHWM) during the steps" if reset else "peak RSS (VmHWM) of the whole process"
    return {"variant": variant, "peak_bytes": peak, "before_steps_bytes": base, "training_delta_bytes": peak - base,
            "measure": how, "steps": steps, "state_bytes": state_bytes(trainee)}


def measure_in_subprocess(model_name: str, variant: str, device: str, batch: int, seq_len: int,
                          delta_ts: tuple[int, ...], steps: int, threads: int | None, timeout: float = 900) -> dict:
    cmd = [sys.executable, "-m", "runners.bench.memory", "--model", model_name, "--variant", variant,
           "--device", device, "--batch", str(batch), "--seq-len", str(seq_len), "--steps", str(steps),
           "--delta-ts", ",".join(map(str, delta_ts))]
    if threads:
        cmd += ["--threads", str(threads)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"variant": variant, "error": f"exit {done.returncode}: {tail}"}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.bench.memory",
                                     description="peak memory of one variant's training steps (one JSON line)")
    parser.add_argument("--model", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--seq-len", type=int, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--delta-ts", default="10,1")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    result = measure(args.model, args.variant, args.device, args.batch, args.seq_len,
                     tuple(int(x) for x in args.delta_ts.split(",")), args.steps, args.threads)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
