"""Whole runs through the command line that are killed, corrupted or preempted, then rerun with the same command:
each ends with the same record (metrics, rank pattern, steps) and the same λ and masks as an uninterrupted run with
the same seed, bit for bit on a CPU. Real subprocesses, real SIGKILL / SIGTERM / SIGUSR1."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from runners.reliability.preemption import EXIT_REQUEUE
from run_state import end_state, same
from runners.training import TRAINABLE_WEIGHTS

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# 24 steps; AdaLoRA's budget phase is steps 5-18 (t_init 4, t_final 6); a checkpoint every 4 steps
ARGS = ["task=sst2", "method=adalora", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=64",
        "task.max_eval_samples=32", "trainer.max_steps=24", "trainer.per_device_train_batch_size=8",
        "trainer.save_steps=4", "trainer.save_total_limit=null", "method.init_rank=4", "method.target_rank=2",
        "method.t_init=4", "method.t_final=6", "method.delta_t=2", "trainer.disable_tqdm=true",
        "trainer.logging_steps=1000"]
RECORD = "runs/tiny-bert/sst2/adalora/r2-from4/seed1.json"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def command(folder: Path, slow: float | None = None) -> list[str]:
    entry = [str(REPO / "tests" / "slow_steps.py"), str(slow)] if slow else ["run.py"]
    return [sys.executable, *entry, *ARGS, f"results_dir={folder}/runs", f"outputs_dir={folder}/out"]


def rerun(folder: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command(folder), cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def start_slow(folder: Path) -> subprocess.Popen:
    return subprocess.Popen(command(folder, slow=0.3), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(folder: Path, step: int, proc: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while not list((folder / "out").glob(f"**/checkpoint-{step}")):
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.05)


def run_folder(folder: Path) -> Path:
    return next((folder / "out").glob("tiny-bert/sst2/adalora/r2-from4/seed1-*"))


def final_state(folder: Path) -> tuple[dict, dict, dict]:
    return end_state(folder / RECORD, run_folder(folder) / "checkpoint-24")


def assert_same_end(folder: Path, reference: Path) -> None:
    record, weights, method = final_state(folder)
    ref_record, ref_weights, ref_method = final_state(reference)
    assert record["status"] == "ok" and record["steps"] == 24
    assert record["metrics"] == ref_record["metrics"]
    assert record["rank_pattern"] == ref_record["rank_pattern"]
    lambdas = [k for k in weights if k.endswith("lora_E")]
    assert lambdas and all(torch.equal(weights[k], ref_weights[k]) for k in lambdas)  # the same λ, bit for bit
    assert same(weights, ref_weights)
    assert same(method, ref_method)  # masks and the allocator's statistics


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    rerun(folder)
    return folder


@pytest.mark.parametrize("corrupt", [False, True], ids=["sigkill", "sigkill-then-corrupt-newest"])
def test_a_run_killed_in_the_budget_phase_resumes_to_the_same_end(tmp_path, reference, corrupt):
    proc = start_slow(tmp_path)
    wait_for_checkpoint(tmp_path, 12, proc)  # mid budget phase
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / RECORD).exists()
    if corrupt:  # the newest checkpoint is damaged as well: the run falls back to the one before it
        newest = max(run_folder(tmp_path).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        (newest / TRAINABLE_WEIGHTS).write_bytes(b"\0" * 64)
    done = rerun(tmp_path)
    assert "resuming" in done.stdout + done.stderr
    assert ("unusable" in done.stdout + done.stderr) == corrupt
    assert_same_end(tmp_path, reference)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_a_preempted_run_checkpoints_exits_for_requeue_and_resumes(tmp_path, reference, signum):
    proc = start_slow(tmp_path)
    wait_for_checkpoint(tmp_path, 8, proc)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_REQUEUE, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"preempted: {signal.Signals(signum).name} received: saved a checkpoint at step ")
    step = int(last.split("at step ")[1].split()[0])
    assert 8 <= step < 24 and (run_folder(tmp_path) / f"checkpoint-{step}").is_dir()  # at the next step boundary
    assert "Traceback" not in err and not (tmp_path / RECORD).exists()
    done = rerun(tmp_path)
    assert f"checkpoint-{step}" in done.stdout + done.stderr  # the requeued run resumes from it
    assert_same_end(tmp_path, reference)


def test_two_sweeps_into_one_results_folder_run_each_cell_once(tmp_path):
    """Two real sweeps of the same two cells at once: each cell trained by one of them, one valid record each."""
    args = ["-m", *ARGS[:6], "trainer.max_steps=12", *ARGS[7:], "seed=1,2"]

    def start(name: str) -> subprocess.Popen:
        cmd = [sys.executable, str(REPO / "tests" / "slow_steps.py"), "0.5", *args, f"results_dir={tmp_path}/runs",
               f"outputs_dir={tmp_path}/out", f"hydra.sweep.dir={tmp_path}/sweep-{name}"]
        return subprocess.Popen(cmd, cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    procs = [start("a"), start("b")]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(logs)[-4000:]
    trained = sum(log.count(" record: ") for log in logs)  # the summary printed after each record is written
    assert trained == 2, "\n".join(logs)[-4000:]
    assert "being run by" in "\n".join(logs)
    records = sorted((tmp_path / "runs").rglob("*.json"))
    assert [p.name for p in records] == ["seed1.json", "seed2.json"]
    for path in records:
        record = json.loads(path.read_text())
        assert record["status"] == "ok" and record["steps"] == 12 and record["metrics"]
    assert not [p for p in (tmp_path / "runs").rglob("*") if p.is_file() and p.suffix != ".json"]
