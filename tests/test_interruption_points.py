"""A run killed at any point resumes to exactly the end of an uninterrupted run: the same record (steps, metrics,
rank pattern, epochs), the same λ and allocator state in its last checkpoint, and no step past trainer.max_steps.
Real subprocesses killed with SIGKILL at each point (tests/die_at.py), then the same command again.

The run: 10 optimizer steps of 8 examples over 64 (an epoch is 8 steps, so the run ends mid-epoch), a checkpoint
every 4 steps (4, 8 and the last, 10), AdaLoRA's budget phase over steps 3-7 (t_init 2, t_final 3)."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from run_state import end_state, same

REPO = Path(__file__).resolve().parent.parent
ARGS = ["task=sst2", "method=adalora", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=64",
        "task.max_eval_samples=32", "trainer.max_steps=10", "trainer.per_device_train_batch_size=8",
        "trainer.save_steps=4", "trainer.save_total_limit=null", "method.init_rank=4", "method.target_rank=2",
        "method.t_init=2", "method.t_final=3", "method.delta_t=1", "trainer.disable_tqdm=true",
        "trainer.logging_steps=1000"]
RECORD = "runs/tiny-bert/sst2/adalora/r2-from4/seed1.json"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
LAST = 10


def run(folder: Path, die_at: str | None = None) -> subprocess.CompletedProcess:
    entry = [str(REPO / "tests" / "die_at.py"), die_at] if die_at else ["run.py"]
    cmd = [sys.executable, *entry, *ARGS, f"results_dir={folder}/runs", f"outputs_dir={folder}/out"]
    return subprocess.run(cmd, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)


def run_folder(folder: Path) -> Path:
    return next((folder / "out").glob("tiny-bert/sst2/adalora/r2-from4/seed1-*"))


def end_of(folder: Path) -> tuple[dict, dict, dict]:
    return end_state(folder / RECORD, run_folder(folder) / f"checkpoint-{LAST}")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    done = run(folder)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


POINTS = [
    pytest.param("step:3", None, id="before-the-first-checkpoint", marks=pytest.mark.slow),
    pytest.param("step:6", "checkpoint-4", id="mid-budget-phase", marks=pytest.mark.slow),
    pytest.param(f"checkpoint:{LAST}", f"checkpoint-{LAST}", id="after-the-last-checkpoint"),
    pytest.param("evaluation", f"checkpoint-{LAST}", id="during-evaluation", marks=pytest.mark.slow),
    pytest.param("record", f"checkpoint-{LAST}", id="during-the-record-write", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("point,resumes_from", POINTS)
def test_a_run_killed_here_ends_as_an_uninterrupted_run(tmp_path, uninterrupted, point, resumes_from):
    killed = run(tmp_path, die_at=point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert f"die_at: SIGKILL at {point}" in killed.stderr
    assert not (tmp_path / RECORD).exists()  # no record, not even a partial one

    done = run(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stdout + done.stderr
    if resumes_from:
        assert f"from {run_folder(tmp_path) / resumes_from}" in log, log[-3000:]
    else:
        assert "resuming" not in log
    names = sorted(p.name for p in run_folder(tmp_path).glob("checkpoint-*"))
    assert names == ["checkpoint-10", "checkpoint-4", "checkpoint-8"]  # no step past the end (no checkpoint-11)

    record, weights, method = end_of(tmp_path)
    ref_record, ref_weights, ref_method = end_of(uninterrupted)
    assert record["status"] == "ok" and record["steps"] == LAST
    for key in ("metrics", "rank_pattern", "steps", "epochs", "params", "budget", "config_hash"):
        assert record[key] == ref_record[key], key
    lambdas = [k for k in weights if k.endswith("lora_E")]
    assert lambdas and all(torch.equal(weights[k], ref_weights[k]) for k in lambdas)  # the same λ, bit for bit
    assert same(weights, ref_weights) and same(method, ref_method)  # and every trained tensor, masks, statistics
    leftovers = [p.name for p in (tmp_path / RECORD).parent.iterdir() if p.name != "seed1.json"]
    assert not leftovers  # neither a claim nor the killed write's temporary file
