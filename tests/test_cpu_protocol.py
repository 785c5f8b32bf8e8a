"""The CPU reproduction's protocol: every task composes with its shipped data, the grid gives every method the same
rates, and the learning-rate choice (runners/lr_search) picks the best dev score, skips failed runs, writes the
seed sweep's grids and hands the chosen runs over to the seed sweep."""
import json

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from hydra_plugins.adalora_sweeper.grid_sweeper import expand
from runners import lr_search
from runners.cli import CONF

PROTOCOL = CONF / "experiment" / "cpu"


def composed(*overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose(config_name="config", overrides=["+experiment=cpu/protocol", *overrides])


@pytest.mark.parametrize("task, steps, length", [("cola", 320, 64), ("sst2", 160, 64), ("rte", 100, 128)])
def test_each_task_trains_on_its_shipped_data(repo, task, steps, length):
    cfg = composed(f"task={task}", "method=adalora")
    assert cfg.model.name == "minilm" and cfg.task.name == task
    assert cfg.task.data_dir == f"data/glue/{task}" and (repo / cfg.task.data_dir / "dev.tsv").is_file()
    assert cfg.trainer.max_steps == steps and cfg.task.max_seq_length == length
    assert cfg.budget == "83k" and cfg.results_dir == "results/runs"


def test_the_grid_gives_every_method_the_same_rates():
    sweeper = OmegaConf.load(PROTOCOL / "lr_grid.yaml").hydra.sweeper
    jobs = expand(sweeper.params, sweeper.grids, [], OverridesParser.create())
    rates: dict[tuple, set] = {}
    for job in jobs:
        kv = dict(item.split("=", 1) for item in job)
        assert kv["task"] == "sst2"
        rates.setdefault((kv["method"], kv.get("budget")), set()).add(float(kv["trainer.learning_rate"]))
    assert len(rates) == 8 and len({frozenset(r) for r in rates.values()}) == 1
    assert {("lora", "83k"), ("lora", "332k"), ("adalora", "83k"), ("adalora", "332k")} <= set(rates)


def write_record(root, lr, method, slug, score, status="ok", budget="83k"):
    path = root / f"lr{lr}" / "minilm" / "sst2" / method / slug / "seed1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"method": method, "status": status, "main_metric": "accuracy",
              "metrics": {"accuracy": score} if status == "ok" else {},
              "config": {"budget": budget, "method": {"name": method}, "trainer": {"learning_rate": lr}}}
    path.write_text(json.dumps(record))
    return path


def test_the_best_rate_is_chosen_failed_runs_never_and_ties_go_low(tmp_path):
    for lr, score in ((1e-4, 60.0), (4e-4, 81.0), (1.6e-3, 81.0)):
        write_record(tmp_path, lr, "lora", "83k", score)
    write_record(tmp_path, 1e-4, "bitfit", "bias", 70.0)
    write_record(tmp_path, 6.4e-3, "bitfit", "bias", None, status="failed")
    chosen = lr_search.choose(lr_search.read_trials(tmp_path, "minilm", "sst2", 1))
    assert chosen[("lora", "83k")].lr == 4e-4 and chosen[("bitfit", None)].lr == 1e-4


def test_a_cell_whose_every_run_failed_is_an_error(tmp_path, capsys):
    write_record(tmp_path, 1e-4, "full", "all", None, status="failed")
    assert lr_search.main(["--results", str(tmp_path), "--out", str(tmp_path / "c.yaml")]) == 2
    assert "every grid run of full" in capsys.readouterr().err and not (tmp_path / "c.yaml").exists()


def test_no_grid_records_is_one_line(tmp_path, capsys):
    assert lr_search.main(["--results", str(tmp_path / "none"), "--out", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cpu/lr_grid" in err


def test_the_choice_becomes_the_seed_sweeps_grids_and_its_runs(tmp_path):
    grid = tmp_path / "lr-search"
    best = write_record(grid, 1.6e-3, "adalora", "332k", 85.0, budget="332k")
    write_record(grid, 1e-4, "adalora", "332k", 50.0, budget="332k")
    write_record(grid, 4e-4, "houlsby", "83k", 80.0)
    out, runs = tmp_path / "chosen_lr.yaml", tmp_path / "runs"
    assert lr_search.main(["--results", str(grid), "--out", str(out), "--runs", str(runs)]) == 0
    grids = OmegaConf.load(out).hydra.sweeper.grids
    assert [dict(g) for g in grids] == [{"method": "adalora", "budget": "332k", "trainer.learning_rate": 0.0016},
                                        {"method": "houlsby", "trainer.learning_rate": 0.0004}]
    seeds = OmegaConf.load(PROTOCOL / "seeds.yaml").hydra.sweeper
    jobs = expand(seeds.params, grids, [], OverridesParser.create())
    assert len(jobs) == 2 * 3 * 3
    copied = runs / "minilm/sst2/adalora/332k/seed1.json"
    assert copied.read_bytes() == best.read_bytes()
    assert "**85.00**" in (grid / "README.md").read_text()
    copied.write_text("{}")  # a record already there is never replaced
    lr_search.main(["--results", str(grid), "--out", str(out), "--runs", str(runs)])
    assert copied.read_text() == "{}"
