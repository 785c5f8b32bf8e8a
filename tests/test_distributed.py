"""One run over several processes: torchrun on CPU (gloo) and a submitit job of two tasks each write ONE record
(rank 0), with the world size in it and AdaLoRA's rank pattern at the target budget (every rank took the same
masks). And the submitit variables become torchrun's."""
import json
import os
import socket
import subprocess
import sys

import pytest

from runners.reliability.distributed import export_submitit_environment

TINY = ["task=sst2", "method=adalora", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=64",
        "task.max_eval_samples=32", "trainer.max_steps=6", "trainer.save_strategy=no", "trainer.disable_tqdm=true",
        "budget=0.3%", "trainer.global_batch_size=16", "trainer.per_device_train_batch_size=8"]
RECORD = "runs/tiny-bert/sst2/adalora/0.3pct/seed1.json"
TARGET_RANK, MATRICES = 3, 12  # 0.3% of tiny-bert resolves to r̄ 3 (from 5) on its 2 x 6 matrices


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_one_ddp_record(tmp_path, output: str) -> None:
    records = list(tmp_path.glob("runs/**/*.json"))
    assert [r.relative_to(tmp_path).as_posix() for r in records] == [RECORD]
    record = json.loads(records[0].read_text())
    assert record["status"] == "ok" and record["machine"]["world_size"] == 2
    assert record["batch"] == {"per_device": 8, "accumulation": 1, "processes": 2, "global": 16}
    assert record["steps"] == 6 and record["epochs"] == pytest.approx(6 * 16 / 64)  # each step saw 16 examples
    assert sum(record["rank_pattern"].values()) == TARGET_RANK * MATRICES
    assert output.count("record: ") == 1  # one summary, from rank 0


@pytest.mark.slow
def test_torchrun_on_cpu_writes_one_record_at_the_target_budget(repo, tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
           "run.py", *TINY, f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out"]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    check_one_ddp_record(tmp_path, done.stdout + done.stderr)


@pytest.mark.slow
def test_a_submitit_job_of_two_tasks_is_one_ddp_run(repo, tmp_path):
    cmd = [sys.executable, "run.py", "-m", "hydra/launcher=local", "hydra.launcher.tasks_per_node=2", *TINY,
           f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out", f"hydra.sweep.dir={tmp_path}/sweep"]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = "".join(p.read_text() for p in (tmp_path / "sweep/.submitit").glob("*/*_log.out"))
    check_one_ddp_record(tmp_path, logs)


SUBMITIT_TASK_1_OF_2 = {"SUBMITIT_EXECUTOR": "local", "SUBMITIT_LOCAL_JOB_ID": "4242", "SUBMITIT_LOCAL_NTASKS": "2",
                        "SUBMITIT_LOCAL_JOB_NUM_NODES": "1", "SUBMITIT_LOCAL_NODEID": "0",
                        "SUBMITIT_LOCAL_GLOBALID": "1", "SUBMITIT_LOCAL_LOCALID": "1"}
TORCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def clean_env(monkeypatch):
    for name in (*TORCH_VARS, *SUBMITIT_TASK_1_OF_2):
        monkeypatch.delenv(name, raising=False)
    yield monkeypatch
    for name in TORCH_VARS:  # export() writes os.environ directly
        os.environ.pop(name, None)


def test_submitit_tasks_become_torchrun_ranks(clean_env):
    assert export_submitit_environment() is False  # not a submitit job
    for name, value in SUBMITIT_TASK_1_OF_2.items():
        clean_env.setenv(name, value)
    assert export_submitit_environment() is True
    assert (os.environ["RANK"], os.environ["WORLD_SIZE"], os.environ["LOCAL_RANK"]) == ("1", "2", "1")
    assert os.environ["MASTER_ADDR"] and 20000 <= int(os.environ["MASTER_PORT"]) <= 60000


def test_single_task_jobs_and_torchrun_are_left_alone(clean_env):
    for name, value in {**SUBMITIT_TASK_1_OF_2, "SUBMITIT_LOCAL_NTASKS": "1", "SUBMITIT_LOCAL_GLOBALID": "0",
                        "SUBMITIT_LOCAL_LOCALID": "0"}.items():
        clean_env.setenv(name, value)
    assert export_submitit_environment() is False and "RANK" not in os.environ
    for name, value in SUBMITIT_TASK_1_OF_2.items():
        clean_env.setenv(name, value)
    clean_env.setenv("RANK", "0")  # torchrun inside the job already set the rendezvous
    assert export_submitit_environment() is False and "WORLD_SIZE" not in os.environ
