"""The SLURM launcher fits its settings to the partition before submitting (hydra_plugins/adalora_launcher): what
`sinfo` reports decides the GPUs, CPUs and memory a null setting takes, and a setting the partition cannot meet is
one `error:` line before anything is queued. The real scheduler: tests/test_slurm_cluster.py."""
import logging
import os
import subprocess
import sys

import pytest

# through the module at call time: Hydra's plugin scan (any compose in this session) executes the module again in
# place, and a class imported before would no longer be the one its functions raise
from hydra_plugins.adalora_launcher import slurm_launcher as launcher

SINFO = "cpu*|(null)|2|19284\ngpu|gpu:a100:4(S:0-1)|64|512000\ngpu|gpu:2,shard:8|32|256000\n"
NULLS = {"partition": None, "gpus_per_node": None, "cpus_per_task": None, "mem_gb": None, "tasks_per_node": 1}


def test_sinfo_lines_become_the_most_each_partition_has():
    parts = launcher.parse_sinfo(SINFO)
    assert parts["cpu"].default and not parts["gpu"].default
    assert (parts["cpu"].gpus, parts["cpu"].cpus, parts["cpu"].mem_mb) == (0, 2, 19284)
    assert (parts["gpu"].gpus, parts["gpu"].cpus, parts["gpu"].mem_mb) == (4, 64, 512000)


def test_null_settings_follow_the_partition():
    parts = launcher.parse_sinfo(SINFO)
    cpu = launcher.fit(NULLS, parts)  # the default partition: no GPU, what its 2-CPU node has
    assert (cpu["partition"], cpu["gpus_per_node"], cpu["cpus_per_task"], cpu["mem_gb"]) == ("cpu", 0, 2, 18)
    gpu = launcher.fit({**NULLS, "partition": "gpu", "tasks_per_node": 2}, parts)  # a GPU per task, 8 CPUs, 64 GB
    assert (gpu["gpus_per_node"], gpu["cpus_per_task"], gpu["mem_gb"]) == (2, 8, 64)
    given = launcher.fit({**NULLS, "partition": "gpu", "gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 4}, parts)
    assert (given["gpus_per_node"], given["cpus_per_task"], given["mem_gb"]) == (0, 1, 4)  # explicit values stand


@pytest.mark.parametrize("settings,message", [
    ({"gpus_per_node": 1}, "hydra.launcher.gpus_per_node=1 but partition 'cpu' has no GPUs"),
    ({"partition": "gpu", "gpus_per_node": 8}, "partition 'gpu' has at most 4 GPUs per node"),
    ({"partition": "gpuu"}, "partition 'gpuu' is not on this cluster: set hydra.launcher.partition= one of cpu, gpu"),
    ({"cpus_per_task": 4}, "at most 2 CPUs"),
    ({"mem_gb": 64}, "at most 18 GB"),
])
def test_what_the_partition_cannot_meet_is_one_line(settings, message):
    with pytest.raises(launcher.ClusterError) as err:
        launcher.fit({**NULLS, **settings}, launcher.parse_sinfo(SINFO))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_cluster_without_a_default_partition_needs_one_named():
    with pytest.raises(launcher.ClusterError, match="no default partition: set hydra.launcher.partition= one of gpu"):
        launcher.fit(NULLS, launcher.parse_sinfo("gpu|gpu:4|64|512000\n"))


def test_sacct_errors_are_said_once():
    quiet = launcher._SacctOnce()
    records = [logging.LogRecord("submitit", logging.WARNING, __file__, 1, "Call #%d - Bypassing sacct error x, "
                                 "status may be inaccurate.", (n,), None) for n in range(5)]
    kept = [r for r in records if quiet.filter(r)]
    assert len(kept) == 1 and "sacct does not answer" in kept[0].getMessage()
    other = logging.LogRecord("submitit", logging.WARNING, __file__, 1, "Caught signal", (), None)
    assert quiet.filter(other)


def test_a_gpu_asked_for_on_a_cpu_partition_stops_the_sweep_before_submitting(repo, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in {"sinfo": "echo 'cpu*|(null)|2|19284'", "sbatch": f"touch {tmp_path}/submitted; exit 1",
                       "srun": "exit 0"}.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    cmd = [sys.executable, "run.py", "-m", "hydra/launcher=slurm", "task=rte", "method=lora,adalora",
           "model=tiny-bert", "hydra.launcher.gpus_per_node=1", f"results_dir={tmp_path}/runs",
           f"outputs_dir={tmp_path}/out", f"hydra.sweep.dir={tmp_path}/sweep"]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: hydra.launcher.gpus_per_node=1 but partition 'cpu' has no GPUs: set "
                      "hydra.launcher.gpus_per_node=0 or choose another partition (one of cpu)"]
    assert "Traceback" not in done.stderr and not (tmp_path / "submitted").exists()
