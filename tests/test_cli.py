"""The command line end to end, as a user runs it: a record with every contract field, skipping a finished run,
and one clear line (exit 2, no record) for each bad input."""
import json
import subprocess
import sys

import pytest

from runners.records import REQUIRED

TINY = ["task=sst2", "method=adalora", "model=tiny-bert", "task.data_dir=data/glue/sst2",
        "task.max_train_samples=64", "task.max_eval_samples=32", "trainer.max_steps=8", "trainer.save_strategy=no",
        "method.init_rank=4", "method.target_rank=2", "method.t_init=2", "method.t_final=3", "method.delta_t=1",
        "trainer.disable_tqdm=true"]


def run_cli(repo, tmp_path, *args):
    cmd = [sys.executable, "run.py", *args, f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out"]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=600)


def test_tiny_run_writes_a_complete_record_and_is_skipped_on_rerun(repo, tmp_path):
    done = run_cli(repo, tmp_path, *TINY)
    assert done.returncode == 0, done.stderr[-2000:]
    path = tmp_path / "runs/tiny-bert/sst2/adalora/r2-from4/seed1.json"
    record = json.loads(path.read_text())
    assert all(field in record for field in REQUIRED)
    assert record["status"] == "ok" and record["steps"] == 8
    assert sum(record["rank_pattern"].values()) == 2 * 12  # the final phase holds the target budget
    assert set(record["metrics"]) == {"accuracy"} and record["budget"]["sizes"] == {"target_rank": 2, "init_rank": 4}
    assert record["params"]["trainable"] == record["params"]["adapter"] + record["params"]["head"]
    again = run_cli(repo, tmp_path, *TINY)
    assert again.returncode == 0 and "skipping" in again.stdout + again.stderr
    assert json.loads(path.read_text())["finished_at"] == record["finished_at"]


@pytest.mark.parametrize("args,message", [
    (["task=mnlii", "method=adalora"], "unknown task 'mnlii'"),
    (["task=rte", "method=adaloraa"], "unknown method 'adaloraa'"),
    (["task=rte", "method=adalora", "model=bert-huge"], "unknown model 'bert-huge'"),
    (TINY + ["budget=abc"], "budget 'abc' is not a budget"),
    (TINY + ["budget=-1%"], "is not a budget"),
    (TINY + ["budget=0%"], "outside (0%, 100%]"),
    (TINY + ["budget=150%"], "outside (0%, 100%]"),
    (TINY + ["budget=0.3"], "has no unit"),
    (TINY + ["method.t_init=6", "method.t_final=2"], "t_init (6) + t_final (2) must be below the 8 optimizer steps"),
    (TINY + ["budget=100"], "below one rank per matrix"),
    # the paper's SST-2 schedule (t_i 6000, t_f 22000) on an 8-step run
    (TINY[:7] + ["hparams=scripts"], "t_init (6000) + t_final (22000) must be below the 8 optimizer steps"),
    (["task=rte", "method=adalora", "hparams=paperr"], "unknown hparams 'paperr'"),
    (["-m", "task=rte", "method=adalora", "hydra/launcher=slrum"], "unknown hydra/launcher 'slrum'"),
    (["+experiment=paper/tabel1"], "unknown experiment 'paper/tabel1'"),
])
def test_bad_input_ends_with_one_line_and_no_record(repo, tmp_path, args, message):
    done = run_cli(repo, tmp_path, *args)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and done.stderr.rstrip().endswith(errors[0]), done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    assert not list(tmp_path.glob("runs/**/*.json")) and not list(tmp_path.glob("out/**/checkpoint-*"))


def test_help_lists_every_group_and_the_paper_experiments(repo):
    done = subprocess.run([sys.executable, "run.py", "--help"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr
    for text in ("task ", "method ", "model ", "trainer ", "logger ", "hparams ", "hydra/launcher ", "adalora",
                 "deberta-v3-base", "wandb", "scripts", "slurm", "paper/table1", "paper/fig2", "budget"):
        assert text in done.stdout, text


@pytest.mark.slow
@pytest.mark.shared_data
def test_issue_command_on_real_rte_with_minilm(repo, tmp_path, shared_data):
    done = run_cli(repo, tmp_path, "task=rte", "method=adalora", "budget=0.3%", "model=minilm",
                   f"task.data_dir={shared_data}/glue/rte", "trainer.max_steps=12", "method.t_init=2",
                   "method.t_final=4", "method.delta_t=1", "logger=none")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "runs/minilm/rte/adalora/0.3pct/seed1.json").read_text())
    assert record["status"] == "ok" and record["rank_pattern"] and all(f in record for f in REQUIRED)
