"""`hydra/launcher=slurm`: Hydra's submitit SLURM launcher, fitted to the partition before anything is submitted.

The cluster says what a partition has (`sinfo`); the launcher's settings that are left `null` follow it, and a
setting the partition cannot meet ends the sweep with one line before any job is queued (SLURM would otherwise
refuse the array with "Requested node configuration is not available", or queue it forever):

- `partition: null` takes the cluster's default partition (the one `sinfo` marks with `*`);
- `gpus_per_node: null` is one GPU per task where the partition has GPUs, none where it has none; a GPU asked for
  on a partition without GPUs (or more than its nodes have) is an error;
- `cpus_per_task: null` is up to 8 per task and `mem_gb: null` up to 64 GB per node, as far as the partition's
  nodes have them; asking for more than its largest node has is an error.

So a CPU-only partition needs one override (`hydra.launcher.partition=cpu`), and the same command runs on a GPU
partition with a GPU per run.

submitit reads job states with `sacct`. Where the cluster keeps no accounting, every poll used to log "Bypassing
sacct error ... status may be inaccurate"; that is now said once per sweep (the jobs' own result files still tell
when they end). Where accounting works nothing is said.
"""

import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher import submitit_launcher

DEFAULT_CPUS_PER_TASK = 8
DEFAULT_MEM_GB = 64


class ClusterError(Exception):
    """A setting the cluster cannot meet; the message is one line that says what to change."""


@dataclass
class Partition:
    name: str
    default: bool
    gpus: int  # most GPUs on one node
    cpus: int  # most CPUs on one node
    mem_mb: int  # most memory on one node (SLURM's RealMemory; 1 where it is not configured)


def _gpus(gres: str) -> int:
    """GPUs in a node's GRES (`gpu:4`, `gpu:a100:8(S:0-1)`, `gpu:2,shard:8`); 0 for `(null)`."""
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu" and len(parts) >= 2 and parts[-1].isdigit():
            total += int(parts[-1])
    return total


def parse_sinfo(text: str) -> dict[str, Partition]:
    """`sinfo -h -o %P|%G|%c|%m` (one line per partition and node kind): the most each partition's nodes have."""
    found: dict[str, Partition] = {}
    for line in text.splitlines():
        if line.count("|") != 3:
            continue
        name, gres, cpus, mem = line.strip().split("|")
        default = name.endswith("*")
        name = name.rstrip("*")
        cpus_n = int(cpus.rstrip("+")) if cpus.rstrip("+").isdigit() else 0
        mem_n = int(mem.rstrip("+")) if mem.rstrip("+").isdigit() else 0
        old = found.get(name)
        part = Partition(name, default, _gpus(gres), cpus_n, mem_n)
        if old:
            part = Partition(name, default or old.default, max(part.gpus, old.gpus), max(part.cpus, old.cpus),
                             max(part.mem_mb, old.mem_mb))
        found[name] = part
    return found


def read_partitions() -> dict[str, Partition]:
    if shutil.which("sinfo") is None:
        raise ClusterError("hydra/launcher=slurm needs SLURM's commands (sinfo, sbatch, sacct) on PATH, and sinfo "
                           "is not there: run the sweep on the cluster's login node")
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%P|%G|%c|%m"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise ClusterError("sinfo did not answer within 60 s: is the SLURM controller up?") from None
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise ClusterError(f"sinfo failed ({reason}): is the SLURM controller up?")
    return parse_sinfo(done.stdout)


def fit(params: dict[str, Any], partitions: dict[str, Partition]) -> dict[str, Any]:
    """The launcher's parameters with partition, gpus_per_node, cpus_per_task and mem_gb fitted to the partition;
    ClusterError if it cannot run them."""
    params = dict(params)
    names = ", ".join(sorted(partitions)) or "none"
    name = params.get("partition")
    if name is None:
        default = [p for p in partitions.values() if p.default]
        if not default:
            raise ClusterError(f"the cluster has no default partition: set hydra.launcher.partition= one of {names}")
        part = default[0]
        params["partition"] = part.name
    elif str(name) not in partitions:
        raise ClusterError(f"partition {name!r} is not on this cluster: set hydra.launcher.partition= one of {names}")
    else:
        part = partitions[str(name)]
    tasks = int(params.get("tasks_per_node") or 1)

    gpus = params.get("gpus_per_node")
    if gpus is None:
        params["gpus_per_node"] = min(tasks, part.gpus)
    elif int(gpus) > part.gpus:
        has = "has no GPUs" if part.gpus == 0 else f"has at most {part.gpus} GPUs per node"
        raise ClusterError(f"hydra.launcher.gpus_per_node={gpus} but partition {part.name!r} {has}: set "
                           f"hydra.launcher.gpus_per_node={min(part.gpus, tasks)} or choose another partition "
                           f"(one of {names})")

    cpus = params.get("cpus_per_task")
    if cpus is None:
        params["cpus_per_task"] = max(1, min(DEFAULT_CPUS_PER_TASK, part.cpus // tasks)) if part.cpus else None
    elif part.cpus and int(cpus) * tasks > part.cpus:
        raise ClusterError(f"hydra.launcher.cpus_per_task={cpus} x tasks_per_node={tasks} but the nodes of partition "
                           f"{part.name!r} have at most {part.cpus} CPUs: lower hydra.launcher.cpus_per_task")

    mem = params.get("mem_gb")
    node_gb = part.mem_mb // 1024
    if mem is None:
        params["mem_gb"] = min(DEFAULT_MEM_GB, node_gb) if node_gb >= 1 else None  # unconfigured memory: ask none
    elif node_gb >= 1 and int(mem) > node_gb:
        raise ClusterError(f"hydra.launcher.mem_gb={mem} but the nodes of partition {part.name!r} have at most "
                           f"{node_gb} GB: lower hydra.launcher.mem_gb")
    return params


class _SacctOnce(logging.Filter):
    """submitit's "Bypassing sacct error" on every poll, said once (job states then come from result files)."""

    def __init__(self) -> None:
        super().__init__()
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Bypassing sacct error" not in message:
            return True
        if self.said:
            return False
        self.said = True
        record.msg = ("sacct does not answer (no accounting on this cluster?): job states come from the jobs' "
                      "result files and a job that dies without one is seen late; said once per sweep")
        record.args = ()
        return True


class SlurmLauncher(submitit_launcher.SlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        try:
            self.params = fit(self.params, read_partitions())
        except ClusterError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            sys.exit(2)
        quiet = _SacctOnce()
        logger = logging.getLogger("submitit")
        logger.addFilter(quiet)
        try:
            return super().launch(job_overrides, initial_job_idx)
        finally:
            logger.removeFilter(quiet)

