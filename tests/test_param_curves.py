"""Score against trained parameters (runners/tables/param_curves.py): what each point stands for, the paper's
#Params on a count axis, AdaLoRA's starting size, the GLUE average, and the figure `make tables` writes."""
from pathlib import Path

import pytest

from runners.tables import make_tables
from runners.tables.collect import collect
from runners.tables.layouts import LAYOUTS
from runners.tables.paper import load_paper
from runners.tables.param_curves import AVERAGE, _ours, _theirs, paper_count, param_curves
from tables_records import record, write

REPO = Path(__file__).resolve().parent.parent
PAPER = REPO / "results/paper"
GLUE = next(layout for layout in LAYOUTS if layout.fig2 == "glue")
SQUAD = next(layout for layout in LAYOUTS if layout.fig2 == "squad")
SUMMARIES = next(layout for layout in LAYOUTS if layout.fig2 == "summarization")


def runs(tmp_path):
    """MiniLM on SST-2 and RTE: LoRA at two budgets, AdaLoRA at one (its final count differs by seed), full FT."""
    folder = tmp_path / "runs"
    for seed, (sst2, rte) in enumerate([(80.0, 50.0), (82.0, 54.0), (84.0, 58.0)], start=1):
        write(folder, record("minilm", "sst2", "lora", seed, {"accuracy": sst2}, label="83k", sizes={"rank": 2},
                             adapter=82_944, head=770, pretrained=22_713_216))
        write(folder, record("minilm", "sst2", "lora", seed, {"accuracy": sst2 + 1}, label="332k",
                             sizes={"rank": 8}, adapter=331_776, head=770, pretrained=22_713_216))
        write(folder, record("minilm", "rte", "lora", seed, {"accuracy": rte}, label="83k", sizes={"rank": 2},
                             adapter=82_944, head=770, pretrained=22_713_216))
        for task, value in (("sst2", sst2 + 2), ("rte", rte + 2)):
            ada = record("minilm", task, "adalora", seed, {"accuracy": value}, label="83k",
                         sizes={"target_rank": 2, "init_rank": 4}, adapter=124_416, head=770, pretrained=22_713_216,
                         retained=80_000 + 1_000 * seed)
            ada["budget"]["allocated_params"] = 124_416
            write(folder, ada)
        write(folder, record("minilm", "sst2", "full", seed, {"accuracy": 85.0}, adapter=22_713_216, head=770,
                             pretrained=22_713_216))
    # RTE's AdaLoRA has no seed 3: the average covers the seeds that ran every task
    (folder / "minilm/rte/adalora/83k/seed3.json").unlink()
    return folder


def test_each_point_is_a_budget_mean_over_seeds_at_the_parameters_trained_in_the_backbone(tmp_path):
    found = collect(runs(tmp_path))
    sst2 = _ours(GLUE, "minilm", found, "sst2")
    lora = sst2["lora"]
    assert [(p.label, p.x, p.xerr, p.y, p.n) for p in lora] == [("83k", 82_944, 0.0, 82.0, 3),
                                                                 ("332k", 331_776, 0.0, 83.0, 3)]
    assert lora[0].yerr == pytest.approx(2.0)  # sample std of 80, 82, 84
    assert lora[0].start is None
    (ada,) = sst2["adalora"]
    assert ada.x == pytest.approx(82_000) and ada.xerr == pytest.approx(1_000)  # retained P, Q: 81k, 82k, 83k
    assert ada.start == 124_416 and ada.y == pytest.approx(84.0)
    (full,) = sst2["full"]
    assert full.x == 22_713_216 and full.y == 85.0  # the head is not counted


def test_the_glue_average_takes_the_seeds_that_ran_every_task(tmp_path):
    found = collect(runs(tmp_path))
    average = _ours(GLUE, "minilm", found, AVERAGE)
    (ada,) = average["adalora"]
    # seeds 1 and 2 ran both tasks: (82 + 52) / 2 = 67, (84 + 56) / 2 = 70
    assert ada.n == 2 and ada.y == pytest.approx(68.5)
    assert [p.label for p in average["lora"]] == ["83k"]  # LoRA 332k has no RTE run
    assert "full" not in average


def test_the_papers_params_become_counts_and_its_average_covers_the_same_tasks():
    paper = load_paper(PAPER)
    theirs = _theirs(GLUE, paper, "sst2", [])
    assert theirs["adalora"] == [(320_000, 95.80), (1_270_000, 96.10)]
    assert theirs["full"] == [(184e6, 95.63)]
    value = next(v for v in paper if v.table == "2" and v.method == "lora" and v.budget == "0.08%")
    assert paper_count(value, SQUAD) == pytest.approx(0.0008 * 184e6)
    value = next(v for v in paper if v.table == "3" and v.method == "adalora" and v.budget == "1.10%")
    assert paper_count(value, SUMMARIES) == pytest.approx(0.011 * 406.29e6)
    both = _theirs(GLUE, paper, AVERAGE, ["sst2", "rte"])
    assert both["adalora"][0] == (320_000, pytest.approx((95.80 + 87.36) / 2))
    every = _theirs(GLUE, paper, AVERAGE, list(GLUE.tasks))  # all of GLUE: the paper's own "All"
    assert every["adalora"][0] == (320_000, 88.86)


def test_make_tables_draws_the_figure_per_model_and_family_byte_stable(tmp_path):
    folder = runs(tmp_path)
    found, paper = collect(folder), load_paper(PAPER)
    png, used = param_curves(GLUE, "minilm", found, paper)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(used) == 3 * 4 + 2 + 3
    assert param_curves(GLUE, "minilm", found, paper)[0] == png
    assert param_curves(SQUAD, "minilm", found, paper) == (None, [])  # no SQuAD record of MiniLM, not the paper's model
    report = make_tables(folder, PAPER, tmp_path / "tables")
    names = {p.relative_to(tmp_path / "tables").as_posix() for p in (tmp_path / "tables").rglob("params_*.png")}
    assert names == {"minilm/params_glue.png", "deberta-v3-base/params_glue.png", "deberta-v3-base/params_squad.png",
                     "bart-large/params_summarization.png"}
    assert (tmp_path / "tables/minilm/params_glue.png").read_bytes() == png
    index = (tmp_path / "tables/README.md").read_text()
    assert "score against trained parameters, GLUE tasks" in index and "minilm/params_glue.png" in index
    assert report.records == len(list(folder.rglob("*.json")))
