"""The SLURM path against a real scheduler: the single-node cluster of tests/cluster/slurm.sh (`make cluster-up`;
.ci/run starts it). Real slurmctld, slurmd, slurmdbd and sacct; Hydra's submitit launcher through run.py, as a user
runs it. Each test asserts on the records, the jobs' logs and the job states SLURM keeps.

Without the cluster these tests skip, saying why; under CI (CI set) they fail instead: CI must run them.
Jobs take 1 CPU and 1 GB each; steps are slowed (tests/cluster/hooks) only where a test must catch a job while it
trains."""
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from run_state import end_state, same
from test_distributed import TINY as DDP_ARGS, check_one_ddp_record

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("ADALORA_CLUSTER_DIR", "/var/lib/adalora-test-cluster"))
SLURM_CONF = STATE / "etc" / "slurm.conf"
# 24 steps of 8 examples, a checkpoint every 4; AdaLoRA's budget phase is steps 5-18
ARGS = ["task=sst2", "method=adalora", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=64",
        "task.max_eval_samples=32", "trainer.max_steps=24", "trainer.per_device_train_batch_size=8",
        "trainer.save_steps=4", "trainer.save_total_limit=null", "method.init_rank=4", "method.target_rank=2",
        "method.t_init=4", "method.t_final=6", "method.delta_t=2", "trainer.disable_tqdm=true",
        "trainer.logging_steps=1000"]
# the README's command for a CPU partition, with this machine's small jobs
SLURM = ["hydra/launcher=slurm", "hydra.launcher.partition=cpu", "hydra.launcher.cpus_per_task=1",
         "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=10", "hydra.launcher.array_parallelism=2"]
CELL = "tiny-bert/sst2/adalora/r2-from4"


def cluster_problem() -> str | None:
    if not SLURM_CONF.is_file() or shutil.which("sbatch") is None:
        return f"no test SLURM cluster here ({SLURM_CONF} or sbatch missing): start one with `make cluster-up`"
    done = subprocess.run(["bash", str(REPO / "tests/cluster/slurm.sh"), "status"], capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        down = [line for line in done.stdout.splitlines() if "not running" in line]
        return f"the test SLURM cluster is not up ({'; '.join(down) or 'no idle node or sacct'}): `make cluster-up`"
    return None


@pytest.fixture(scope="module", autouse=True)
def cluster():
    problem = cluster_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SLURM cluster tests, but {problem}", pytrace=False)
        pytest.skip(problem)
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(SLURM_CONF)
    yield
    if before is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = before


def env(step_delay: float | None = None) -> dict:
    hooks = str(REPO / "tests/cluster/hooks")
    found = {**os.environ, "SLURM_CONF": str(SLURM_CONF), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
             "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled",
             "PYTHONPATH": os.pathsep.join(p for p in (hooks, os.environ.get("PYTHONPATH")) if p)}
    found.pop("ADALORA_TEST_STEP_DELAY", None)
    if step_delay:
        found["ADALORA_TEST_STEP_DELAY"] = str(step_delay)
    return found


def sweep_command(folder: Path, *args: str) -> list[str]:
    return [sys.executable, "run.py", "-m", *SLURM, *ARGS, *args, f"results_dir={folder}/runs",
            f"outputs_dir={folder}/out", f"hydra.sweep.dir={folder}/sweep"]


def run_sweep(folder: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_command(folder, *args), cwd=REPO, env=env(), capture_output=True, text=True,
                          timeout=timeout)


def start_sweep(folder: Path, *args: str, step_delay: float) -> subprocess.Popen:
    return subprocess.Popen(sweep_command(folder, *args), cwd=REPO, env=env(step_delay), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: int = 600) -> str:
    try:
        return proc.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def _folders(folder: Path) -> list[str]:
    root = folder / "sweep" / ".submitit"
    return [p.name for p in root.iterdir() if p.is_dir()] if root.is_dir() else []


def array_ids(folder: Path) -> list[str]:
    """The SLURM job ids of a sweep's submissions, oldest first, from submitit's folders (`<array>_<task>` for an
    array; a sweep of one cell is one plain job, `<job>`)."""
    return sorted({name.split("_")[0] for name in _folders(folder)}, key=int)


def job_ids(folder: Path) -> list[str]:
    """The sweep's jobs as scontrol and scancel name them: `<array>_<task>`, or `<job>` for a plain job."""
    names = _folders(folder)
    arrays = {name.split("_")[0] for name in names if "_" in name}
    return sorted(name for name in names if "_" in name or name not in arrays)


def wait_until(what: str, check, proc: subprocess.Popen | None = None, timeout: float = 300):
    deadline = time.time() + timeout
    while True:
        found = check()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the sweep ended before {what}:\n{proc.communicate()[0][-3000:]}")
        assert time.time() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.5)


def checkpoint(folder: Path, step: int) -> list[Path]:
    return list((folder / "out").glob(f"**/checkpoint-{step}"))


def states(job: str) -> list[tuple[str, str]]:
    """(job id, state) of every run of the job or array, requeued runs included (sacct --duplicates)."""
    done = subprocess.run(["sacct", "-n", "-P", "-X", "-D", "-o", "JobID,State", "-j", job], capture_output=True,
                          text=True, timeout=60, env=env())
    assert done.returncode == 0, done.stderr
    rows = [line.split("|") for line in done.stdout.splitlines() if line.strip()]
    return [(job_id, state.split()[0]) for job_id, state in rows]  # "CANCELLED by 0" is CANCELLED


def settled(job: str) -> list[tuple[str, str]]:
    """The job's states once SLURM has finished with it (accounting lags the job's end by a moment)."""
    return wait_until(f"final states of {job}", lambda: (s := states(job)) and all(
        st in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "REQUEUED", "NODE_FAIL", "OUT_OF_MEMORY")
        for _, st in s) and s, timeout=120)


def logs(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((folder / "sweep/.submitit").glob("*/*_log.*")))


def end_of(folder: Path, seed: int = 1) -> tuple[dict, dict, dict]:
    return end_state(folder / f"runs/{CELL}/seed{seed}.json",
                     next((folder / "out").glob(f"{CELL}/seed{seed}-*")) / "checkpoint-24")


def assert_same_end(folder: Path, reference: Path) -> None:
    record, weights, method = end_of(folder)
    ref_record, ref_weights, ref_method = end_of(reference)
    assert record["status"] == "ok" and record["steps"] == 24
    for key in ("metrics", "rank_pattern", "steps", "epochs", "config_hash"):
        assert record[key] == ref_record[key], key
    lambdas = [k for k in weights if k.endswith("lora_E")]
    assert lambdas and all(torch.equal(weights[k], ref_weights[k]) for k in lambdas)  # the same λ, bit for bit
    assert same(weights, ref_weights) and same(method, ref_method)  # every trained tensor, masks, statistics


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """Four cells (seeds 1-4) as one job array, two at a time; every later test compares with its seed 1."""
    folder = tmp_path_factory.mktemp("sweep")
    done = run_sweep(folder, "seed=1,2,3,4")
    assert done.returncode == 0, done.stderr[-4000:]
    assert "sacct" not in done.stdout + done.stderr  # accounting answers: no "Bypassing sacct error" noise
    return folder


def test_a_sweep_is_one_job_array_two_at_a_time_and_a_rerun_submits_nothing(sweep):
    [array] = array_ids(sweep)
    script = next((sweep / "sweep/.submitit").glob("*/*_submission.sh")).read_text()
    assert "#SBATCH --array=0-3%2" in script and "#SBATCH --requeue" in script
    assert "--gpus-per-node" not in script.replace("--gpus-per-node=0", "")  # a CPU partition: no GPU asked for
    final = settled(array)
    assert sorted(final) == [(f"{array}_{i}", "COMPLETED") for i in range(4)]
    records = sorted((sweep / "runs").rglob("*.json"))
    assert [p.name for p in records] == ["seed1.json", "seed2.json", "seed3.json", "seed4.json"]
    for path in records:
        record = json.loads(path.read_text())
        assert record["status"] == "ok" and record["steps"] == 24 and record["metrics"]
    assert logs(sweep).count(" record: ") == 4  # each record written once, by its own job
    # at most two ran at once: the array's runs as SLURM timed them
    times = subprocess.run(["sacct", "-n", "-P", "-X", "-o", "Start,End", "-j", array], capture_output=True,
                           text=True, env=env(), timeout=60).stdout.split()
    spans = [tuple(dt.datetime.fromisoformat(t).timestamp() for t in line.split("|")) for line in times]
    # (accounting times are whole seconds: a job ending and the next starting share one)
    assert len(spans) == 4 and all(sum(s <= start + 1 < e for s, e in spans) <= 2 for start, _ in spans), times
    stamps = [p.stat().st_mtime_ns for p in records]

    again = run_sweep(sweep, "seed=1,2,3,4")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "4 runs; 4 finished" in again.stdout + again.stderr
    assert array_ids(sweep) == [array]  # no new job was submitted
    assert [p.stat().st_mtime_ns for p in records] == stamps


def test_a_job_requeued_mid_training_resumes_to_the_uninterrupted_end(sweep, tmp_path):
    proc = start_sweep(tmp_path, "seed=1", step_delay=0.5)
    wait_until("checkpoint-8", lambda: checkpoint(tmp_path, 8), proc)
    [job] = job_ids(tmp_path)
    requeue = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True, env=env())
    assert requeue.returncode == 0, requeue.stderr
    output = finish(proc)
    assert proc.returncode == 0, output[-4000:]
    assert settled(job) == [(job, "REQUEUED"), (job, "COMPLETED")]
    log = logs(tmp_path)
    saved = int(log.split("received: saving a checkpoint at step ")[1].split()[0])  # at the step boundary
    assert 8 <= saved < 24 and f"checkpoint-{saved}" in log.split("resuming")[1].splitlines()[0]
    assert log.count(" record: ") == 1
    assert_same_end(tmp_path, sweep)


def test_a_job_whose_time_runs_out_is_requeued_by_submitit_and_finishes(sweep, tmp_path):
    # a 3-minute job, warned (SIGUSR2) 60 s before its end; SLURM may send the warning up to 60 s early, so it comes
    # 60-120 s in, while the first run trains (steps of 5 s: past 150 s). The requeued run goes at full speed and
    # ends within the 60 s before its own warning could come
    proc = start_sweep(tmp_path, "seed=1", "hydra.launcher.timeout_min=3", "hydra.launcher.signal_delay_s=60",
                       step_delay=5.0)
    output = finish(proc)
    assert proc.returncode == 0, output[-4000:]
    [job] = job_ids(tmp_path)
    final = settled(job)
    assert final[-1] == (job, "COMPLETED") and {st for _, st in final[:-1]} == {"REQUEUED"}, final
    log = logs(tmp_path)
    assert "SIGUSR2 received: saving a checkpoint at step" in log  # ours, at the step boundary
    assert "Caught signal SIGUSR2" in log and "this job is timed-out" in log  # then submitit's requeue
    assert "resuming" in log and log.count(" record: ") == 1
    assert_same_end(tmp_path, sweep)


def test_cancelling_a_sweep_leaves_no_record_and_no_claim_in_the_way(tmp_path):
    proc = start_sweep(tmp_path, "seed=5,6", step_delay=1.0)
    wait_until("both jobs training", lambda: len(list((tmp_path / "out").glob("**/checkpoint-4"))) == 2, proc)
    [array] = array_ids(tmp_path)
    assert subprocess.run(["scancel", array], env=env()).returncode == 0
    output = finish(proc, timeout=300)
    assert proc.returncode != 0  # the sweep says its jobs did not complete
    assert sorted(st for _, st in settled(array)) == ["CANCELLED", "CANCELLED"]
    assert not [p for p in (tmp_path / "runs").rglob("*") if p.is_file() and ".claim" not in p.name], output[-2000:]

    again = run_sweep(tmp_path, "seed=5,6")  # the next sweep runs both cells; nothing left blocks it
    assert again.returncode == 0, again.stderr[-3000:]
    [_, second] = array_ids(tmp_path)
    assert sorted(st for _, st in settled(second)) == ["COMPLETED", "COMPLETED"]
    assert "being run by" not in logs(tmp_path)
    for seed in (5, 6):
        record = json.loads((tmp_path / f"runs/{CELL}/seed{seed}.json").read_text())
        assert record["status"] == "ok" and record["steps"] == 24
    assert sorted(p.name for p in (tmp_path / "runs").rglob("*") if p.is_file()) == ["seed5.json", "seed6.json"]


def test_a_cell_with_a_bad_setting_fails_alone_with_its_reason_in_the_sweep_output(tmp_path):
    done = run_sweep(tmp_path, "budget=0.3%,100")  # 100 parameters: below one rank per adapted matrix
    assert done.returncode == 0, done.stderr[-3000:]
    [array] = array_ids(tmp_path)
    assert sorted(st for _, st in settled(array)) == ["COMPLETED", "COMPLETED"]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "budget=100" in errors[0], done.stderr[-3000:]
    assert "sacct" not in done.stdout + done.stderr
    assert "below one rank per matrix" in errors[0]
    records = list((tmp_path / "runs").rglob("*.json"))
    assert [p.relative_to(tmp_path / "runs").as_posix() for p in records] == [
        "tiny-bert/sst2/adalora/0.3pct/seed1.json"]
    assert json.loads(records[0].read_text())["status"] == "ok"


def test_one_run_as_two_tasks_of_one_job_is_one_ddp_run(tmp_path):
    cmd = [sys.executable, "run.py", "-m", *SLURM, "hydra.launcher.tasks_per_node=2", *DDP_ARGS,
           f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out", f"hydra.sweep.dir={tmp_path}/sweep"]
    done = subprocess.run(cmd, cwd=REPO, env=env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [job] = job_ids(tmp_path)
    assert settled(job) == [(job, "COMPLETED")]
    assert "#SBATCH --ntasks-per-node=2" in next((tmp_path / "sweep/.submitit").glob("*/*_submission.sh")).read_text()
    check_one_ddp_record(tmp_path, logs(tmp_path))
