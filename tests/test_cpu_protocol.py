"""The CPU reproduction's protocol (issue 14): every task composes with its shipped data and length, the selection
grid gives every method the same rule of rates at the selection seed (0, not a reported seed), the learning-rate
choice (runners/lr_search) picks the best dev score per task and method, skips failed runs, waits for complete
grids and flags edges, and its choice reaches every reported sweep through the protocol's rate table."""
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
LENGTHS = {task: (cfg.max_steps, cfg.max_seq_length, cfg.data_dir)
           for task, cfg in OmegaConf.load(PROTOCOL / "protocol.yaml").cpu_tasks.items()}


def composed(*overrides, experiment="cpu/protocol"):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return compose(config_name="config", overrides=[f"+experiment={experiment}", *overrides])


def jobs(name):
    sweeper = OmegaConf.load(PROTOCOL / f"{name}.yaml").hydra.sweeper
    return [dict(item.split("=", 1) for item in job) for job in expand(sweeper.params, sweeper.grids, [],
                                                                        OverridesParser.create())]


@pytest.mark.parametrize("task", sorted(LENGTHS))
def test_each_task_trains_on_its_shipped_data(repo, task):
    steps, length, data_dir = LENGTHS[task]
    cfg = composed(f"task={task}", "method=adalora", "trainer.learning_rate=1e-3")
    assert cfg.model.name == "minilm" and cfg.task.name == task
    assert cfg.task.data_dir == data_dir and (repo / data_dir / "dev.tsv").is_file()
    assert (repo / data_dir / "train.tsv").is_file()
    assert cfg.trainer.max_steps == steps and cfg.task.max_seq_length == length
    assert cfg.results_dir == "results/runs"


def test_the_chosen_rate_reaches_the_run_through_the_protocol(tmp_path):
    chosen = OmegaConf.load(PROTOCOL / "chosen_lr.yaml")
    for task, table in (chosen.get("cpu_tasks") or {}).items():
        for method, rate in table.lr.items():
            cfg = composed(f"task={task}", f"method={method}")
            assert cfg.trainer.learning_rate == rate


def test_the_grid_gives_every_method_the_same_rule_of_rates_at_the_selection_seed():
    grid = jobs("lr_grid")
    cfg = OmegaConf.load(PROTOCOL / "lr_grid.yaml")
    assert cfg.seed == 0 and cfg.budget == "83k"
    rates: dict[tuple, list] = {}
    for job in grid:
        rates.setdefault((job["task"], job["method"]), []).append(float(job["trainer.learning_rate"]))
    methods = {m for _, m in rates}
    assert methods == {"full", "bitfit", "houlsby", "pfeiffer", "lora", "adalora", "prune-lora", "adalora-sensitivity",
                       "adalora-magnitude", "lora-regu", "svd-lora", "adalora-gamma0"}
    for rs in rates.values():           # three rates, x2 apart: c/4, c/2, c
        rs = sorted(rs)
        assert len(rs) == 3 and all(b / a == pytest.approx(2.0) for a, b in zip(rs, rs[1:]))
    assert {t for t, _ in rates} == {"sst2"}          # CoLA and RTE: dropped for compute (protocol.yaml)
    sweeper = cfg.hydra.sweeper                       # `make cpu-select TASK=cola` still runs CoLA's grid
    with_cola = expand(sweeper.params, sweeper.grids, ["task=cola"], OverridesParser.create())
    assert len(with_cola) == 36 and all("task=cola" in job for job in with_cola)


def test_reported_sweeps_use_seeds_1_to_5_and_the_planned_cells():
    for name in ("table1", "table4", "table5", "fig2"):
        assert {int(j["seed"]) for j in jobs(name)} == {1, 2, 3, 4, 5}
    cells = {(j["method"], j.get("budget")) for j in jobs("table1")}
    assert {("lora", "166k"), ("lora", "498k"), ("adalora", "83k"), ("adalora", "332k"), ("full", None)} <= cells
    assert {j["budget"] for j in jobs("fig2")} == {"41k", "83k", "166k", "332k", "664k"}
    assert {j["budget"] for j in jobs("table4")} == {"41k", "83k", "332k"}


def test_lora_at_adaloras_starting_rank_holds_what_adalora_starts_with():
    try:
        from adalora.sizes import init_rank_for
    except ImportError:
        from adalora.methods.sizes import init_rank_for
    # AdaLoRA 83k = r̄ 2 from r 4; 332k = r̄ 8 from r 12; LoRA 166k = r 4 and 498k = r 12 on MiniLM (41,472 per rank)
    assert (init_rank_for(2), init_rank_for(8)) == (4, 12)
    assert round(166_000 / 41_472) == 4 and round(498_000 / 41_472) == 12


def write_record(root, lr, method, score, task="sst2", status="ok", seed=0, baseline=50.92):
    path = root / f"lr{lr}" / "minilm" / task / method / "83k" / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"task": task, "method": method, "status": status, "main_metric": "accuracy",
              "metrics": {"accuracy": score} if status == "ok" else {}, "baseline": {"accuracy": baseline},
              "config": {"budget": "83k", "method": {"name": method}, "trainer": {"learning_rate": lr}}}
    path.write_text(json.dumps(record))
    return path


def test_the_best_rate_is_chosen_failed_runs_never_and_ties_go_low(tmp_path):
    for lr, score in ((1e-4, 60.0), (4e-4, 81.0), (1.6e-3, 81.0)):
        write_record(tmp_path, lr, "lora", score)
    for lr, score in ((5e-5, 60.0), (1e-4, 70.0)):
        write_record(tmp_path, lr, "bitfit", score)
    write_record(tmp_path, 6.4e-3, "bitfit", None, status="failed")
    write_record(tmp_path, 1e-4, "lora", 99.0, seed=1)          # a reported seed: never read by the selection
    chosen, missing = lr_search.choose(lr_search.read_trials(tmp_path, "minilm", 0))
    assert chosen[("sst2", "lora")].trial.lr == 4e-4 and chosen[("sst2", "bitfit")].trial.lr == 1e-4
    assert not missing and not chosen[("sst2", "lora")].at_edge and not chosen[("sst2", "bitfit")].at_edge


def test_an_incomplete_grid_chooses_nothing_and_says_what_is_missing(tmp_path):
    write_record(tmp_path, 4e-4, "lora", 80.0)
    plan = {("sst2", "lora"): {4e-4, 8e-4}, ("cola", "full"): {1e-4}}
    chosen, missing = lr_search.choose(lr_search.read_trials(tmp_path, "minilm", 0), plan)
    assert chosen == {} and missing == {("sst2", "lora"): [8e-4], ("cola", "full"): [1e-4]}


def test_a_choice_no_better_than_the_majority_class_is_flagged(tmp_path):
    write_record(tmp_path, 2e-4, "lora", 50.0)
    for lr in (4e-4, 8e-4):
        write_record(tmp_path, lr, "lora", 50.92)
    chosen, _ = lr_search.choose(lr_search.read_trials(tmp_path, "minilm", 0))
    assert "no better than the majority class" in chosen[("sst2", "lora")].flags()


def test_a_cell_whose_every_run_failed_is_an_error(tmp_path, capsys):
    write_record(tmp_path, 1e-4, "full", None, status="failed")
    assert lr_search.main(["--results", str(tmp_path), "--out", str(tmp_path / "c.yaml"), "--grid", ""]) == 2
    assert "every grid run of full on sst2" in capsys.readouterr().err and not (tmp_path / "c.yaml").exists()


def test_no_grid_records_is_one_line(tmp_path, capsys):
    assert lr_search.main(["--results", str(tmp_path / "none"), "--out", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cpu/lr_grid" in err


def test_the_choice_becomes_the_protocols_rate_table(tmp_path):
    grid = tmp_path / "lr-search"
    write_record(grid, 8e-4, "adalora", 60.0)
    write_record(grid, 1.6e-3, "adalora", 85.0)
    write_record(grid, 3.2e-3, "adalora", 50.0)
    write_record(grid, 4e-4, "houlsby", 80.0, task="cola")
    out = tmp_path / "chosen_lr.yaml"
    assert lr_search.main(["--results", str(grid), "--out", str(out), "--grid", ""]) == 0
    table = OmegaConf.to_container(OmegaConf.load(out).cpu_tasks)
    assert table == {"cola": {"lr": {"houlsby": 0.0004}}, "sst2": {"lr": {"adalora": 0.0016}}}
    assert "**0.0016: 85.00**" in (grid / "README.md").read_text()


def test_the_protocols_compute_plan_is_what_cpu_plan_prints(capsys):
    """The COMPUTE PLAN in protocol.yaml is `python -m runners.cpu_plan`'s output (issue 9's timings from git)."""
    import re
    import subprocess

    from runners import cpu_plan
    if subprocess.run(["git", "cat-file", "-e", "23d5af0"], cwd=PROTOCOL.parents[2]).returncode != 0:
        pytest.skip("issue 9's records (commit 23d5af0) are not in this clone's history")
    assert cpu_plan.main([]) == 0
    out = capsys.readouterr().out
    runs, hours = re.search(r"total\s+(\d+) runs\s+([\d.]+) CPU h", out).groups()
    text = (PROTOCOL / "protocol.yaml").read_text()
    assert f"total {runs} runs, {hours} CPU hours" in text
    for line in out.splitlines()[:-1]:
        sweep, task, n, _, _, h = line.split()[:6]
        assert re.search(rf"{sweep}\s.*{task}\s+{n} runs {h} CPU h", text), line


def test_a_choice_at_the_grids_edge_extends_the_grid_until_it_is_inside(tmp_path):
    grid, ext = tmp_path / "lr-search", tmp_path / "lr_extend.yaml"
    for lr, score in ((2.5e-5, 79.0), (5e-5, 80.0), (1e-4, 84.0)):        # best at the upper edge
        write_record(grid, lr, "full", score)
    for lr, score in ((4e-4, 82.0), (8e-4, 83.0), (1.6e-3, 81.0)):         # inside
        write_record(grid, lr, "lora", score)
    args = ["--results", str(grid), "--out", str(tmp_path / "c.yaml"), "--grid", "", "--extend", str(ext)]
    assert lr_search.main(args) == 0
    assert OmegaConf.to_container(OmegaConf.load(tmp_path / "c.yaml").cpu_tasks) == {"sst2": {"lr": {"lora": 0.0008}}}
    sweep = OmegaConf.load(ext)
    assert [dict(g) for g in sweep.hydra.sweeper.grids] == [{"task": "sst2", "method": "full",
                                                            "trainer.learning_rate": 0.0002}]
    assert "best at the grid's edge; next rate: 0.0002" in (grid / "README.md").read_text()
    write_record(grid, 2e-4, "full", 83.0)                                 # now inside: 1e-4 is chosen
    assert lr_search.main(args) == 0 and not ext.exists()
    assert OmegaConf.load(tmp_path / "c.yaml").cpu_tasks.sst2.lr.full == 1e-4


def test_the_extension_stops_at_its_cap(tmp_path):
    grid = tmp_path / "lr-search"
    for i, lr in enumerate((4e-4, 8e-4, 1.6e-3, 3.2e-3, 6.4e-3, 1.28e-2)):  # 3 planned + 3 extensions, still rising
        write_record(grid, lr, "lora", 70.0 + i)
    chosen, missing = lr_search.choose(lr_search.read_trials(grid, "minilm", 0),
                                       {("sst2", "lora"): {4e-4, 8e-4, 1.6e-3}})
    assert not missing and chosen[("sst2", "lora")].trial.lr == 1.28e-2 and chosen[("sst2", "lora")].at_edge


def test_a_grid_extends_only_its_own_cells(tmp_path):
    """Choosing for cpu/lr_grid_beyond reads cpu/lr_grid's records too: their cells keep their choice (flagged at an
    edge) and are never put into the beyond grid's extension (a stopped grid of another task stays where it is)."""
    grid = tmp_path / "lr-search"
    for lr, score in ((4e-4, 60.0), (8e-4, 50.0)):                      # lr_grid's cell, best at its lower edge
        write_record(grid, lr, "lora", score)
    for lr, score in ((4e-4, 70.0), (8e-4, 72.0), (1.6e-3, 71.0)):       # the beyond grid's cell, inside
        write_record(grid, lr, "dora", score)
    chosen, missing = lr_search.choose(lr_search.read_trials(grid, "minilm", 0),
                                       {("sst2", "dora"): {4e-4, 8e-4, 1.6e-3}})
    assert not missing and chosen[("sst2", "dora")].trial.lr == 8e-4
    assert chosen[("sst2", "lora")].trial.lr == 4e-4 and "at the grid's edge" in chosen[("sst2", "lora")].flags()


def test_the_beyond_grid_extends_the_selection_grid_with_the_same_rule():
    """cpu/lr_grid_beyond sets only its methods' grids; the tasks (and the seed) come from cpu/lr_grid, and
    runners.lr_search reads its plan the same way (make cpu-beyond)."""
    from runners.lr_search import planned_rates

    plan = planned_rates(PROTOCOL / "lr_grid_beyond.yaml")
    assert {t for t, _ in plan} == {"sst2"}
    assert {m for _, m in plan} == {"adalora-reactivation", "adalora-lcb", "adalora-fisher", "increlora", "sora",
                                    "dora", "pissa", "rslora", "loraplus"}
    for rs in plan.values():
        rs = sorted(rs)
        assert len(rs) == 3 and all(b / a == pytest.approx(2.0) for a, b in zip(rs, rs[1:]))


def test_spent_holds_the_plan_against_the_records(tmp_path):
    """`cpu_plan --spent`: the hours of the runs done (wall x CPU share; wall alone for older records), the selection
    grid's extensions apart, and the hours left at the mean of the runs done of the same task and method."""
    from runners import cpu_plan

    def rec(base, method, label, seed, wall, share=None, lr=None):
        data = {"status": "ok", "model": "minilm", "task": "cola", "method": method, "seed": seed,
                "run_key": f"minilm/cola/{method}/{label}/seed{seed}", "wall_time_s": wall,
                "config": {"trainer": {"learning_rate": lr}}, "cost": {"cpu_share": share} if share else {}}
        path = tmp_path / base / "minilm" / "cola" / method / label / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))

    rec("results/runs", "lora", "83k", 1, 400.0, share=0.9)            # 360 CPU s
    rec("results/runs", "lora", "83k", 2, 200.0)                       # no share: its wall time
    rec("results/lr-search/lr0.0002", "lora", "83k", 0, 300.0, share=1.0, lr=2e-4)     # an extension
    planned = {cpu_plan.plan_key("cola", "lora", "83k", s, None): ("table1", 999.0) for s in (1, 2, 3)}
    planned[cpu_plan.plan_key("cola", "full", None, 1, None)] = ("table1", 500.0)
    lines = cpu_plan.spent(planned, cpu_plan.records(tmp_path))
    # done: seeds 1, 2 (560 s); left: seed 3 at the mean of LoRA's CoLA runs (360, 200, 300 -> 286.7 s) + full's
    # estimate (500 s)
    assert lines[0].split() == ["table1", "cola", "2", "of", "4", "runs", "done", "0.16", "CPU", "h", "spent",
                                "0.22", "CPU", "h", "left"]
    assert lines[1].split()[:3] == ["outside", "cola", "1"] and lines[1].endswith("0.08 CPU h spent")
    assert lines[2].split()[:7] == ["total", "3", "runs", "done", "0.24", "CPU", "h"]
    assert "1 of 3 records predate the CPU share" in lines[3]
