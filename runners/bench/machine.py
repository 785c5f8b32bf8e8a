"""What the benchmark ran on: processor, cores, threads, memory, load, and the package versions."""
from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

from ..environment import git_info, versions


def cpu_model() -> str:
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    except OSError:
        match = None
    return match.group(1).strip() if match else (platform.processor() or platform.machine())


def memory_total_bytes() -> int | None:
    try:
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def choose_threads(requested: str, device_type: str = "cpu") -> tuple[int, str]:
    """`auto` on a CPU: one thread. The headline ratios then compare the process's CPU time, which is the step's
    own work, and it is how the CPU reproduction runs its cells. On the 2-core machine two threads gave DeBERTa-shape
    intervals 10-16% wide, one thread 6-8%; the processor's own speed still varies from round to round, so one
    thread narrows intervals without making every verdict survive a rerun (results/bench/README.md). On a GPU the
    CPU threads only feed the device: torch's default. A number is taken as given."""
    default = torch.get_num_threads()
    if requested != "auto":
        return int(requested), "as requested (--threads)"
    if device_type == "cpu":
        return 1, "auto: 1 on a CPU (the ratios compare process CPU time, the step's own work)"
    return default, f"auto: torch's default ({default}) beside a {device_type} device"


def describe(device: torch.device, threads: int, threads_rule: str) -> dict:
    out = {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": threads, "threads_rule": threads_rule,
           "memory_bytes": memory_total_bytes(), "platform": platform.platform(), "host": platform.node(),
           "device": device.type}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        out["gpu"] = props.name
        out["gpu_memory_bytes"] = props.total_memory
    return out


def provenance() -> dict:
    return {"versions": versions(), "git": git_info()}
