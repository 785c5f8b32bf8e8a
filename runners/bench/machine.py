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


def choose_threads(requested: str) -> tuple[int, str]:
    """`auto`: torch's default, unless the machine is already busy (1-minute load average >= its cores): then 1,
    because a parallel region waits for its slowest thread, and on a busy machine that thread is often off-CPU for
    a whole scheduler slice. A number is taken as given."""
    cores = os.cpu_count() or 1
    default = torch.get_num_threads()
    if requested != "auto":
        return int(requested), "as requested (--threads)"
    load = os.getloadavg()[0]
    if load >= cores and default > 1:
        return 1, f"auto: 1 because the load average {load:.1f} was >= {cores} cores at the start"
    return default, f"auto: torch's default ({default}); load average {load:.1f} on {cores} cores at the start"


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
