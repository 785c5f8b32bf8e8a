"""results/paper/: the paper's numbers as data, checked against the specification (spec §11)."""
import os
import re
from pathlib import Path

import pytest

from runners.tables.paper import load_paper

REPO = Path(__file__).resolve().parent.parent


def spec_path() -> Path | None:
    candidates = [os.environ.get("ADALORA_SPEC", ""), REPO.parent / "shared/reference/adalora-spec.md",
                  REPO.parent.parent / "shared/reference/adalora-spec.md"]
    return next((Path(p) for p in candidates if p and Path(p).is_file()), None)


@pytest.fixture(scope="module")
def paper():
    return load_paper(REPO / "results/paper")


def value(paper, table, task, method, budget, metric, variant=""):
    hits = [v.value for v in paper if (v.table, v.task, v.method, v.budget, v.metric, v.variant)
            == (table, task, method, budget, metric, variant)]
    assert len(hits) == 1, (table, task, method, budget, metric, hits)
    return hits[0]


# Copied by hand from the specification's §11, independently of the files.
SAMPLE = [
    (("1", "all", "adalora", "1.2M", "average"), "89.31"),
    (("1", "all", "adalora", "0.3M", "average"), "88.86"),
    (("1", "qqp", "full", "", "accuracy"), "92.40"),
    (("1", "qqp", "full", "", "f1"), "89.80"),
    (("1", "mnli", "houlsby", "0.6M", "accuracy_mm"), "90.23"),
    (("1", "cola", "lora", "1.2M", "matthews_correlation"), "69.82"),
    (("1", "stsb", "pfeiffer", "0.3M", "combined_score"), "91.38"),
    (("2", "squad_v2", "adalora", "0.65%", "exact_match"), "86.0"),
    (("2", "squad_v2", "adalora", "0.65%", "f1"), "88.9"),
    (("2", "squad", "full", "", "f1"), "92.7"),
    (("2", "squad", "houlsby", "0.08%", "exact_match"), "84.4"),
    (("3", "xsum", "adalora", "1.10%", "rouge1"), "44.35"),
    (("3", "xsum", "adalora", "1.10%", "rouge2"), "21.13"),
    (("3", "xsum", "adalora", "1.10%", "rougeLsum"), "36.13"),
    (("3", "cnn_dailymail", "lora", "0.13%", "rougeLsum"), "40.71"),
    (("4", "cola", "prune-lora", "0.65%", "matthews_correlation"), "69.57"),
    (("4", "rte", "adalora-sensitivity", "0.65%", "accuracy"), "88.10"),
    (("5", "mnli", "svd-lora", "0.08%", "accuracy_mean_m_mm"), "90.28"),
    (("5", "mnli", "svd-lora", "0.16%", "accuracy_mean_m_mm"), "90.25"),
    (("5", "mnli", "svd-lora", "0.32%", "accuracy_mean_m_mm"), "90.52"),
    (("5", "mnli", "svd-lora", "0.65%", "accuracy_mean_m_mm"), "90.62"),
    (("5", "sst2", "adalora-gamma0", "0.65%", "accuracy"), "95.10"),
    (("15", "sst2", "adalora", "0.65%", "memory_gb"), "13.226"),
    (("15", "sst2", "adalora", "0.65%", "time_per_epoch_min"), "71"),
    (("15", "mnli", "lora", "0.08%", "time_per_epoch_min"), "105"),
]


@pytest.mark.parametrize("key,expected", SAMPLE)
def test_a_sample_of_values_equals_the_spec(paper, key, expected):
    assert value(paper, *key) == expected


def test_table14_keeps_both_rows_and_the_label_caveat(paper):
    assert value(paper, "14", "stsb", "lora", "0.3M", "combined_score", "targets all") == "91.68"
    assert value(paper, "14", "mnli", "lora", "0.3M", "accuracy", "targets W_q,W_k") == "89.80"
    assert all("caption says W_q, W_v" in v.note for v in paper if v.variant == "targets W_q,W_k")


def test_gaps_stay_gaps(paper):
    """Table 5's dashes and Table 1's missing 0.6M LoRA rows are absent, not zero."""
    assert not [v for v in paper if v.table == "5" and v.method == "lora" and v.budget == "0.32%"]
    assert not [v for v in paper if v.table == "5" and v.method == "lora-regu" and v.budget == "0.08%"]
    assert not [v for v in paper if v.table == "1" and v.method in ("lora", "adalora") and v.budget == "0.6M"]


def test_table1_all_is_the_mean_of_task_means(paper):
    """The paper's "All" (our inference, results/paper/README.md): mean over tasks of each task's mean."""
    rows = {}
    for v in paper:
        if v.table == "1":
            rows.setdefault((v.method, v.budget), {}).setdefault(v.task, []).append(v.number)
    assert len(rows) == 12
    for key, tasks in rows.items():
        average = tasks.pop("all")[0]
        mine = sum(sum(vals) / len(vals) for vals in tasks.values()) / len(tasks)
        assert abs(mine - average) <= 0.0101, key


def test_discrepancies_are_noted_where_they_touch_a_value(paper):
    assert "95.64" in value_note(paper, "4", "sst2", "adalora", "0.08%", "accuracy")
    assert "95.52" in value_note(paper, "5", "sst2", "adalora", "0.08%", "accuracy")
    assert "90.67" in value_note(paper, "5", "mnli", "lora", "0.65%", "accuracy_mean_m_mm")


def value_note(paper, table, task, method, budget, metric):
    return next(v.note for v in paper if (v.table, v.task, v.method, v.budget, v.metric) == (table, task, method, budget, metric))


# --- every value against the specification, where it is at hand ---------------------------------------------
LABEL_CELLS = {"1": 2, "2": 1, "3": 2, "4": 1, "5": 1, "14": 1, "15": 2}   # leading cells that are row labels


def spec_numbers(text: str, table: str) -> list[str]:
    start = text.index(f"### Table {table}")
    end = min(i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i > 0)
    section = text[start:end]
    numbers = []
    if table == "2":  # the full fine-tuning row is a sentence above the table
        numbers += re.findall(r"\d+\.\d+", re.search(r"Full FT: (.*)", section).group(1).replace("v1.1", "").replace("v2.0", ""))
    rows = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")][1:]
    for line in rows:
        cells = [c.strip() for c in line.replace("\\|", "").strip().strip("|").split("|")]
        for cell in cells[LABEL_CELLS[table]:]:
            numbers += re.findall(r"\d+(?:\.\d+)?", cell)
    return numbers


@pytest.mark.parametrize("table", sorted(LABEL_CELLS))
def test_every_value_equals_the_spec_in_order(paper, table):
    spec = spec_path()
    if spec is None:
        pytest.skip("the specification (shared/reference/adalora-spec.md) is not at hand; set ADALORA_SPEC")
    mine = [v.value for v in paper if v.table == table]
    assert mine == spec_numbers(spec.read_text(encoding="utf-8"), table)
