"""Sweeps: the grid sweeper's expansion, every paper preset expanding to exactly the paper's cells, planning that
leaves finished runs out, and the launcher configs (submitit local and SLURM)."""
import json
import os
import subprocess
import sys
from itertools import product

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from hydra_plugins.adalora_sweeper.grid_sweeper import expand
from paper_settings import GLUE
from runners.cli import CONF

PARSER = OverridesParser.create()
SEEDS = (1, 2, 3, 4, 5)


def jobs_as_cells(jobs) -> list[tuple]:
    """(task, method, budget, seed, other overrides) per job."""
    cells = []
    for job in jobs:
        kv = dict(item.split("=", 1) for item in job)
        cells.append((kv.pop("task", None), kv.pop("method", None), kv.pop("budget", None),
                      int(kv.pop("seed")) if "seed" in kv else None, tuple(sorted(kv.items()))))
    return cells


def preset_jobs(name: str, *arguments: str) -> list[tuple]:
    sweeper = OmegaConf.load(CONF / "experiment" / "paper" / f"{name}.yaml").hydra.sweeper
    return jobs_as_cells(expand(sweeper.get("params"), sweeper.get("grids"), list(arguments), PARSER))


def test_grids_are_a_union_of_products_and_the_command_line_wins():
    grids = [{"method": "full,bitfit"}, {"method": "lora,adalora", "budget": ["1.2M", "0.3M"]}]
    jobs = expand({"task": "rte,cola"}, grids, ["seed=1,2"], PARSER)
    assert len(jobs) == 2 * 2 * 2 + 2 * 2 * 2 * 2
    assert ["task=rte", "method=lora", "budget=0.3M", "seed=2"] in jobs
    assert not any("budget" in item for job in jobs if "method=full" in job for item in job)
    narrowed = expand({"task": "rte,cola"}, grids, ["task=mnli", "method=lora"], PARSER)
    assert narrowed == [["task=mnli", "method=lora"], ["task=mnli", "method=lora", "budget=1.2M"],
                        ["task=mnli", "method=lora", "budget=0.3M"]]  # one per distinct job, in order
    assert expand(None, None, ["method=lora,adalora", "seed=1"], PARSER) == \
        [["method=lora", "seed=1"], ["method=adalora", "seed=1"]]  # no grids: the basic sweeper's product


def test_table1_is_every_glue_row_at_five_seeds():
    rows = [("full", None), ("bitfit", None), *product(("houlsby", "pfeiffer"), ("1.2M", "0.6M", "0.3M")),
            *product(("lora", "adalora"), ("1.2M", "0.3M"))]
    expected = {(t, m, b, s, ()) for t, (m, b), s in product(GLUE, rows, SEEDS)}
    jobs = preset_jobs("table1")
    assert len(jobs) == len(set(jobs)) == 8 * 12 * 5 == len(expected) and set(jobs) == expected


def test_table2_is_squad_at_four_budgets_and_full_fine_tuning():
    budgets = ("0.08%", "0.16%", "0.32%", "0.65%")
    expected = {(t, "full", None, None, ()) for t in ("squad", "squad_v2")}
    expected |= {(t, m, b, None, ()) for t, m, b in product(("squad", "squad_v2"),
                                                             ("houlsby", "pfeiffer", "lora", "adalora"), budgets)}
    jobs = preset_jobs("table2")
    assert len(jobs) == 34 and set(jobs) == expected


def test_table3_is_bart_summarisation():
    expected = {(t, "full", None, None, ()) for t in ("xsum", "cnn_dailymail")}
    expected |= {(t, m, b, None, ()) for t, m, b in product(("xsum", "cnn_dailymail"), ("lora", "adalora"),
                                                             ("2.20%", "1.10%", "0.26%", "0.13%"))}
    jobs = preset_jobs("table3")
    assert len(jobs) == 18 and set(jobs) == expected
    assert OmegaConf.load(CONF / "experiment/paper/table3.yaml").defaults[2] == {"override /model": "bart-large"}


def test_table4_and_table5_are_the_ablation_cells():
    t4 = {(t, m, b, s, ()) for t, m, b, s in product(("sst2", "rte", "cola"),
                                                      ("prune-lora", "adalora", "adalora-sensitivity",
                                                       "adalora-magnitude"), ("0.08%", "0.16%", "0.65%"), SEEDS)}
    assert set(preset_jobs("table4")) == t4 and len(preset_jobs("table4")) == 180
    cells = [("lora", b) for b in ("0.08%", "0.16%", "0.65%")] + [("lora-regu", b) for b in ("0.16%", "0.32%", "0.65%")]
    cells += list(product(("svd-lora", "adalora-gamma0", "adalora"), ("0.08%", "0.16%", "0.32%", "0.65%")))
    t5 = {(t, m, b, s, ()) for t, (m, b), s in product(("sst2", "mnli"), cells, SEEDS)}
    assert set(preset_jobs("table5")) == t5 and len(preset_jobs("table5")) == 180


def test_fig2_is_the_budget_curve():
    jobs = preset_jobs("fig2")
    pairs = [(1, 2), (2, 4), (8, 12), (16, 25), (32, 48), (58, 68)]  # the authors' SQuAD v2.0 curve up to 4.65%
    expected = {(t, "lora", None, None, (("method.rank", str(r)),)) for t, r in product(("squad_v2", "mnli"),
                                                                                      (1, 2, 8, 16, 32, 58))}
    expected |= {(t, "adalora", None, None, (("method.init_rank", str(i)), ("method.target_rank", str(r))))
                 for t, (r, i) in product(("squad_v2", "mnli"), pairs)}
    expected |= {("xsum", m, b, None, (("model", "bart-large"),)) for m, b in product(
        ("lora", "adalora"), ("2.20%", "1.10%", "0.26%", "0.13%"))}
    assert len(jobs) == 32 and set(jobs) == expected


def compose_job(preset: str, job: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[f"+experiment=paper/{preset}", *job])


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["table1", "table2", "table3", "table4", "table5", "fig2"])
def test_every_preset_job_composes_with_its_own_run_key(preset):
    from runners.plan import run_key

    sweeper = OmegaConf.load(CONF / "experiment" / "paper" / f"{preset}.yaml").hydra.sweeper
    jobs = expand(sweeper.get("params"), sweeper.get("grids"), ["seed=1"], PARSER)
    keys = set()
    for job in jobs:
        cfg = compose_job(preset, job)
        assert cfg.hparams.name == "scripts" and cfg.method.name == dict(i.split("=", 1) for i in job)["method"]
        keys.add(run_key(cfg).record_path("r"))
    assert len(keys) == len(jobs)


# --- the sweeper and the launchers, end to end -------------------------------------------------------------------
TINY = ["task=sst2", "model=tiny-bert", "task.data_dir=data/glue/sst2", "task.max_train_samples=32",
        "task.max_eval_samples=16", "trainer.max_steps=6", "trainer.save_strategy=no", "trainer.disable_tqdm=true"]


def run_cli(repo, tmp_path, *args, env=None, timeout=900):
    cmd = [sys.executable, "run.py", *args, f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out",
           f"hydra.sweep.dir={tmp_path}/sweep"]
    return subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_dry_run_plans_and_leaves_finished_runs_out(repo, tmp_path):
    from runners.plan import run_key

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["method=lora", "budget=0.3%", *TINY, f"results_dir={tmp_path}/runs",
                                           f"outputs_dir={tmp_path}/out"])
    key = run_key(cfg)
    path = key.record_path(cfg.results_dir)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"status": "ok", "config_hash": key.config_hash}))
    done = run_cli(repo, tmp_path, "-m", "method=lora,adalora", "budget=0.3%", *TINY, "hydra.sweeper.dry_run=true")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines if line.startswith(("run ", "done "))] == ["run", "done"]
    assert "method=adalora" in next(line for line in lines if line.startswith("run "))
    assert str(path) in next(line for line in lines if line.startswith("done "))
    assert "2 runs; 1 finished" in done.stdout + done.stderr
    assert not (tmp_path / "runs/tiny-bert/sst2/adalora").exists()  # nothing ran


@pytest.mark.slow
def test_local_launcher_sweep_writes_one_record_per_method_and_skips_them_on_rerun(repo, tmp_path):
    args = ["-m", "hydra/launcher=local", "method=lora,adalora", "budget=0.3%", *TINY]
    first = run_cli(repo, tmp_path, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    records = sorted(tmp_path.glob("runs/**/*.json"))
    assert [r.relative_to(tmp_path / "runs").as_posix() for r in records] == [
        "tiny-bert/sst2/adalora/0.3pct/seed1.json", "tiny-bert/sst2/lora/0.3pct/seed1.json"]
    assert all(json.loads(r.read_text())["status"] == "ok" for r in records)
    assert len(list((tmp_path / "sweep" / ".submitit").glob("*/*_0_log.out"))) == 2  # two submitit jobs
    stamps = [r.stat().st_mtime_ns for r in records]
    again = run_cli(repo, tmp_path, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 runs; 2 finished" in again.stdout + again.stderr
    assert [r.stat().st_mtime_ns for r in records] == stamps


def test_local_launcher_config():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["task=rte", "method=lora", "hydra/launcher=local"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.LocalLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node) == (1, 1)
    assert cfg.hydra.sweeper._target_.endswith("GridSweeper")


def test_slurm_launcher_config_requeues_and_hard_codes_no_cluster(monkeypatch):
    monkeypatch.delenv("ADALORA_SLURM_PARTITION", raising=False)
    monkeypatch.setenv("ADALORA_SLURM_ACCOUNT", "abc123")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["task=rte", "method=lora", "hydra/launcher=slurm",
                                           "hydra.launcher.timeout_min=60"], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["_target_"] == "hydra_plugins.adalora_launcher.slurm_launcher.SlurmLauncher"
    assert launcher["partition"] is None and launcher["account"] == "abc123"
    assert launcher["max_num_timeout"] >= 1 and launcher["signal_delay_s"] > 0
    assert (launcher["tasks_per_node"], launcher["timeout_min"]) == (1, 60)
    # fitted to the partition at launch (tests/test_slurm_launcher.py)
    assert launcher["gpus_per_node"] is None and launcher["cpus_per_task"] is None and launcher["mem_gb"] is None


FAKE_SBATCH = """#!/bin/sh
cp "$1" "{out}/submission.sh"
echo "Submitted batch job 4242"
kill -TERM $PPID
"""


def test_slurm_sweep_submits_one_array_with_requeue(repo, tmp_path):
    """The real launcher against a fake `sbatch` that keeps the script it is given and stops the sweep there."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(FAKE_SBATCH.format(out=tmp_path))
    sbatch.chmod(0o755)
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")  # submitit checks that srun exists
    (bin_dir / "srun").chmod(0o755)
    (bin_dir / "sinfo").write_text("#!/bin/sh\necho 'cpu*|(null)|16|64000'\necho 'gpu|gpu:4|64|512000'\n")
    (bin_dir / "sinfo").chmod(0o755)  # the launcher fits its settings to the partition
    done = run_cli(repo, tmp_path, "-m", "hydra/launcher=slurm", "method=lora,adalora", "budget=0.3%", "seed=1,2",
                   *TINY, "hydra.launcher.partition=gpu", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
                   timeout=300)
    script = (tmp_path / "submission.sh").read_text()
    assert "#SBATCH --array=0-3%4" in script  # 2 methods x 2 seeds: one array of 4
    for line in ("#SBATCH --gpus-per-node=1", "#SBATCH --partition=gpu", "#SBATCH --time=1440",
                 "#SBATCH --cpus-per-task=8", "#SBATCH --mem=64GB",
                 "#SBATCH --signal=USR2@120", "#SBATCH --ntasks-per-node=1", "#SBATCH --requeue"):
        assert line in script, line
    assert "submitit.core._submit" in script and done.returncode != 0  # stopped by the fake sbatch
