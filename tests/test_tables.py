"""`make tables`: the paper's tables rebuilt from hand-written records, checked to the character."""
import subprocess
import sys
from pathlib import Path

import pytest
from tables_records import BERT_TYPES, minilm_sweep, record, write

from runners.tables import make_tables
from runners.tables.__main__ import main
from runners.tables.collect import budget_group, collect
from runners.tables.stats import paired_t_test, summarize

REPO = Path(__file__).resolve().parent.parent
PAPER = REPO / "results/paper"
DEB = "deberta-v3-base"


def build(tmp_path, runs, figures=False):
    out = tmp_path / "tables"
    return make_tables(runs, PAPER, out, runs_label="results/runs", paper_label="results/paper", figures=figures), out


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A few hand-written DeBERTaV3-base records for Table 4, one failed run and one MiniLM run, built once."""
    tmp_path = tmp_path_factory.mktemp("small")
    runs = tmp_path / "runs"
    ada = {"target_rank": 2, "init_rank": 4}
    for seed, acc in zip((1, 2, 3), (95.0, 96.0, 97.0)):
        write(runs, record(DEB, "sst2", "adalora", seed, {"accuracy": acc}, label="0.16%", sizes=ada, retained=331_776))
    for seed, acc, lr in zip((1, 2, 3), (94.0, 94.5, 96.5), (5e-4, 5e-4, 8e-4)):
        write(runs, record(DEB, "sst2", "prune-lora", seed, {"accuracy": acc}, label="0.16%", sizes={"rank": 2},
                           adapter=331_776, lr=lr))
    write(runs, record(DEB, "rte", "adalora", 1, {"accuracy": 88.0}, label="0.08%",
                       sizes={"target_rank": 1, "init_rank": 2}, retained=165_000))
    for seed, mcc in zip((1, 2), (70.0, 71.0)):
        write(runs, record(DEB, "cola", "adalora-magnitude", seed, {"matthews_correlation": mcc}, label="0.65%",
                           sizes={"target_rank": 8, "init_rank": 12}, retained=1_270_000))
    write(runs, record(DEB, "sst2", "adalora", 4, {"accuracy": 10.0}, label="0.16%", sizes=ada, status="failed"))
    write(runs, record("minilm", "sst2", "adalora", 1, {"accuracy": 50.0}, label="0.16%", sizes=ada,
                       pretrained=22_713_216, adapter=40_000))
    (runs / "notes.json").write_text("[1, 2]")
    return build(tmp_path, runs)


TABLE4 = """\
# Table 4: importance-score ablations — DeBERTaV3-base

Model: `deberta-v3-base` (DeBERTaV3-base). Rebuilt by `make tables` from 9 result records of this model (listed in `results/tables/README.md`) and the paper's Table 4 (`results/paper/`).

Each cell: mean ± std (n seeds) of our records (sample std; one seed shows no std); **↳ paper**: the paper's value. **↳ Δ**: ours − paper. —: no record (cells are never filled in).

| Method | Budget | #Params | SST-2 | RTE | CoLA |
|---|---|---|---|---|---|
| Prune LoRA | 0.08% | — | — | — | — |
| ↳ paper | 0.08% | 0.08% | 94.84 | 86.28 | 66.71 |
| AdaLoRA | 0.08% | 0.17M | — | 88.00 (1) | — |
| ↳ paper | 0.08% | 0.08% | 95.52 | 87.36 | 70.21 |
| ↳ Δ |  |  | — | +0.64 | — |
| s(·)=I(·) | 0.08% | — | — | — | — |
| ↳ paper | 0.08% | 0.08% | 94.61 | 87.36 | 66.71 |
| S_i=\\|λ_i\\| | 0.08% | — | — | — | — |
| ↳ paper | 0.08% | 0.08% | 95.41 | 87.00 | 67.67 |
| Prune LoRA | 0.16% | 0.33M | 95.00 ± 1.32 (3) | — | — |
| ↳ paper | 0.16% | 0.16% | 94.50 | 86.15 | 69.29 |
| ↳ Δ |  |  | +0.50 | — | — |
| AdaLoRA | 0.16% | 0.33M | 96.00 ± 1.00 (3) | — | — |
| ↳ paper | 0.16% | 0.16% | 95.80 | 87.73 | 70.04 |
| ↳ Δ |  |  | +0.20 | — | — |
| s(·)=I(·) | 0.16% | — | — | — | — |
| ↳ paper | 0.16% | 0.16% | 95.30 | 87.71 | 68.83 |
| S_i=\\|λ_i\\| | 0.16% | — | — | — | — |
| ↳ paper | 0.16% | 0.16% | 95.41 | 86.28 | 68.44 |
| Prune LoRA | 0.65% | — | — | — | — |
| ↳ paper | 0.65% | 0.65% | 94.95 | 87.00 | 69.57 |
| AdaLoRA | 0.65% | — | — | — | — |
| ↳ paper | 0.65% | 0.65% | 96.10 | 88.09 | 71.45 |
| s(·)=I(·) | 0.65% | — | — | — | — |
| ↳ paper | 0.65% | 0.65% | 95.64 | 88.10 | 70.19 |
| S_i=\\|λ_i\\| | 0.65% | 1.27M | — | — | 70.50 ± 0.71 (2) |
| ↳ paper | 0.65% | 0.65% | 95.87 | 88.00 | 70.38 |
| ↳ Δ |  |  | — | — | +0.12 |

## Significance

AdaLoRA against every other method at the same task and budget, paired by seed over the seeds both ran, where each has at least 3 seeds and they share at least 3. Mean difference: over those seeds; 95% CI: percentile bootstrap of it over the seeds (exact enumeration); t and p: paired t-test (two-sided, scipy.stats.ttest_rel), — where every seed gives the same difference; p Wilcoxon: signed-rank test (two-sided; with 5 seeds it cannot go below 0.0625); p Holm: the t-test's p Holm-adjusted over this table's comparisons (its family), the only p on which a difference is called significant (< 0.05); Detectable: the true difference the paired t-test finds with 80% power at α = 0.05, given the SD of the differences and the number of seeds.

| Column | Budget | Comparison | Seeds | Mean difference | 95% CI | t | p | p Wilcoxon | p Holm | Detectable |
|---|---|---|---|---|---|---|---|---|---|---|
| SST-2 | 0.16% | AdaLoRA − Prune LoRA | 1, 2, 3 | +1.00 | [+0.50, +1.50] | 3.46 | 0.0742 | 0.25 | 0.0742 | 1.63 |

## Notes

- spec §14.7: Table 5 gives 95.64 for AdaLoRA SST-2 at 0.08% (paper: AdaLoRA 0.08%, SST-2)
- spec §14.7: Table 4 RTE 0.08%/0.16% (87.36/87.73) do not line up with Table 1's AdaLoRA 0.32M RTE (87.36), which has the 0.16% sizes (paper: AdaLoRA 0.08%, RTE; AdaLoRA 0.16%, RTE)
- records of `deberta-v3-base/sst2/prune-lora/0.16%` differ in settings besides the seed: trainer.learning_rate
"""


def test_table4_markdown_from_hand_written_records(small):
    """Means, sample stds, n, differences against the paper, the paired t-test (hand-computed: differences
    1.0, 1.5, 0.5 give t = 1 / (0.5 / √3) = 3.46 and, with 2 degrees of freedom, p = 1 − t / √(t² + 2) = 0.0742; the
    bootstrap's extreme resamples, all 0.5 or all 1.5, each have probability 1/27 > 2.5%, so the interval is [0.5, 1.5];
    three positive differences give Wilcoxon p = 2/8; one comparison, so Holm changes nothing),
    missing cells, the paper's noted inconsistencies, a cell whose seeds ran with different settings."""
    report, out = small
    assert (out / DEB / "table4_ablation_importance.md").read_text() == TABLE4
    assert report.records == 10 and report.skipped == 1


def test_models_never_share_a_table_and_skipped_records_are_counted(small):
    _, out = small
    deb = (out / DEB / "table5_ablation_components.md").read_text()
    assert "| AdaLoRA | 0.16% | 0.33M | 96.00 ± 1.00 (3) | — |" in deb       # the failed seed 4 (10.0) is not in
    minilm = (out / "minilm/table5_ablation_components.md").read_text()
    assert "| AdaLoRA | 0.16% | 40.0k | 50.00 (1) |" in minilm
    assert "↳ Δ" not in minilm
    assert "| ↳ paper ref. | 0.16% | 0.16% | 95.80 |" in minilm
    assert "different model, so no difference is computed" in minilm
    index = (out / "README.md").read_text()
    assert "11 read, 10 with status `ok` used, 1 skipped (failed: 1)" in index
    assert "- `deberta-v3-base/sst2/adalora/0.16pct/seed4.json`: status `failed`" in index
    assert "- `notes.json`: not a result record (invalid JSON, or not a JSON object)" in index
    assert ("- `deberta-v3-base/sst2/adalora/0.16%`: seeds 1, 2, 3 (`deberta-v3-base/sst2/adalora/0.16pct/seed1.json`, "
            "`deberta-v3-base/sst2/adalora/0.16pct/seed2.json`, `deberta-v3-base/sst2/adalora/0.16pct/seed3.json`)") in index


def test_table1_average_needs_every_task_and_matches_the_paper_layout(tmp_path):
    runs = tmp_path / "runs"
    metrics = {"mnli": {"accuracy": 90.0, "accuracy_mm": 91.0}, "sst2": {"accuracy": 95.0},
               "cola": {"matthews_correlation": 70.0}, "qqp": {"accuracy": 92.0, "f1": 90.0},
               "qnli": {"accuracy": 94.0}, "rte": {"accuracy": 86.0}, "mrpc": {"accuracy": 90.0, "f1": 92.0},
               "stsb": {"pearson": 91.0, "spearmanr": 92.0}}
    for seed in (1, 2):
        for task, m in metrics.items():
            shifted = {k: v + seed - 1 for k, v in m.items()}
            write(runs, record(DEB, task, "lora", seed, shifted, label="0.3M", sizes={"rank": 2}, adapter=331_776))
    write(runs, record(DEB, "sst2", "lora", 3, {"accuracy": 99.0}, label="0.3M", sizes={"rank": 2}, adapter=331_776))
    _, out = build(tmp_path, runs)
    md = (out / DEB / "table1_glue.md").read_text()
    # task means: 90.5, 95, 70, 91, 94, 86, 90, 91.5 -> 88.5 for seed 1, 89.5 for seed 2 (seed 3 lacks tasks)
    assert ("| LoRA | 0.3M | 0.33M | 90.50 ± 0.71 (2) | 91.50 ± 0.71 (2) | 96.67 ± 2.08 (3) | 70.50 ± 0.71 (2) | "
            "92.50 ± 0.71 (2) | 90.50 ± 0.71 (2) | 94.50 ± 0.71 (2) | 86.50 ± 0.71 (2) | 90.50 ± 0.71 (2) | "
            "92.00 ± 0.71 (2) | 89.00 ± 0.71 (2) |") in md
    assert "| ↳ paper | 0.3M | 0.33M | 90.30 | 90.38 | 94.95 | 68.71 | 91.61 | 88.91 | 94.03 | 85.56 | 89.71 | 91.68 | 88.15 |" in md
    assert "| ↳ Δ |  |  | +0.20 | +1.12 | +1.72 | +1.79 | +0.89 | +1.59 | +0.47 | +0.94 | +0.79 | +0.32 | +0.85 |" in md
    assert "| AdaLoRA | 1.2M | — | — | — | — | — | — | — | — | — | — | — | — |" in md
    assert "| ↳ paper | 1.2M | 1.27M | 90.76 | 90.79 | 96.10 | 71.45 | 92.23 | 89.74 | 94.55 | 88.09 | 90.69 | 91.84 | 89.31 |" in md
    tex = (out / DEB / "table1_glue.tex").read_text()
    assert r"\quad paper & 0.3M & 0.32M & 90.66 & 90.70 & 95.80 & 70.04 & 91.78 & 89.16 & 94.49 & 87.36 & 90.44 & 91.63 & 88.86 \\" in tex
    assert r"LoRA & 0.3M & 0.33M & 90.50 $\pm$ 0.71 (2)" in tex


def test_minilm_sweep_gives_its_own_tables_and_figures_byte_stable_across_runs(tmp_path):
    """The shape of the committed MiniLM sweep: its own tables with the paper as reference only, Fig. 2 and six
    Fig. 3 heat maps; then the command, in a fresh process after two cells lost their records, removes the
    heat map that has no data any more, keeps another tool's file and rewrites nothing that did not change."""
    runs = tmp_path / "runs"
    minilm_sweep(runs)
    report, out = build(tmp_path, runs, figures=True)
    assert report.records == 72 and report.skipped == 0
    md = (out / "minilm/table1_glue.md").read_text()
    assert "Tasks without a record of this model are left out: MNLI, QQP, QNLI, MRPC, STS-B." in md
    assert "| Method | Budget | #Params | SST-2 | CoLA | RTE |" in md
    assert "| HAdapter | 0.38% | 85.0k |" in md and "| ↳ paper ref. | 0.3M | 0.31M | 95.41 | 67.65 | 83.39 |" in md
    assert "| LoRA | 1.5% | 0.33M |" in md and "| ↳ paper ref. | 1.2M | 1.33M | 94.95 | 69.82 | 85.20 |" in md
    assert "| SST-2 | 0.38% | AdaLoRA − LoRA | 1, 2, 3 | +0.50 |" in md and "↳ Δ" not in md
    figures = sorted(p.name for p in (out / "minilm").glob("*.png"))
    assert figures == ["fig2_glue.png"] + [f"fig3_rank_pattern_{t}_{b}.png" for t in ("cola", "rte", "sst2")
                                           for b in ("0.38pct", "1.5pct")] + ["params_glue.png"]
    assert all((out / "minilm" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    assert (out / DEB / "table1_glue.md").read_text().count("(3)") == 0   # MiniLM never enters DeBERTa's table

    (out / "bench.md").write_text("another tool's file\n")
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    for path in (runs / "minilm/sst2/adalora/1.5pct").glob("*.json"):
        path.unlink()
    cmd = [sys.executable, "-m", "runners.tables", "--runs", str(runs), "--out", str(out), "--paper", str(PAPER)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "removed " in done.stdout and "fig3_rank_pattern_sst2_1.5pct.png" in done.stdout
    second = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    changed = sorted(str(p) for p in second if second[p] != first.get(p))
    assert changed == ["README.md", "minilm/fig2_glue.png", "minilm/params_glue.png", "minilm/rank_pattern.md",
                       "minilm/table15_cost.md",
                       "minilm/table15_cost.tex", "minilm/table1_glue.md", "minilm/table1_glue.tex",
                       "minilm/table4_ablation_importance.md",
                       "minilm/table4_ablation_importance.tex", "minilm/table5_ablation_components.md",
                       "minilm/table5_ablation_components.tex"]
    assert set(first) - set(second) == {Path("minilm/fig3_rank_pattern_sst2_1.5pct.png")}
    assert second[Path("bench.md")] == b"another tool's file\n"
    assert f"wrote   {out}/deberta-v3-base" not in done.stdout


def test_with_no_records_the_tables_hold_the_papers_numbers_and_say_what_is_missing(tmp_path):
    report, out = build(tmp_path, tmp_path / "nothing-here", figures=True)
    t1 = (out / DEB / "table1_glue.md").read_text()
    assert "| ↳ paper | 1.2M | 1.27M |" in t1 and "| 89.31 |" in t1 and "| 88.86 |" in t1
    assert "| ↳ paper | — | 184M | 89.90 | 90.12 |" in t1
    assert "| 86.0/88.9" not in (out / DEB / "table2_squad.md").read_text()
    assert "| AdaLoRA | 0.65% | — | — | — | — | — |" in (out / DEB / "table2_squad.md").read_text()
    assert "| ↳ paper | 0.65% | 0.65% | 87.6 | 93.7 | 86.0 | 88.9 |" in (out / DEB / "table2_squad.md").read_text()
    assert "| ↳ paper | 1.10% | 1.10% | 44.35 | 21.13 | 36.13 |" in (out / "bart-large/table3_summarization.md").read_text()
    assert any("Fig. 3" in m and "no AdaLoRA record" in m for m in report.messages)
    assert sorted(p.name for p in out.rglob("*.png")) == ["fig2_glue.png", "fig2_squad.png", "fig2_summarization.png",
                                                          "params_glue.png", "params_squad.png",
                                                          "params_summarization.png"]


def test_committed_tables_are_what_make_tables_builds(tmp_path):
    """results/tables/ in the repository is up to date with results/runs and results/paper (text files)."""
    committed = REPO / "results/tables"
    if not committed.is_dir():
        pytest.skip("results/tables/ has not been generated")
    out = tmp_path / "tables"
    make_tables(REPO / "results/runs", PAPER, out, runs_label="results/runs", paper_label="results/paper",
                figures=False)
    built = {p.relative_to(out) for p in out.rglob("*") if p.suffix in (".md", ".tex")}
    for rel in sorted(built):
        assert (committed / rel).read_text() == (out / rel).read_text(), f"results/tables/{rel} is stale: run make tables"


def test_bad_paper_folder_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["--paper", str(tmp_path), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "restore results/paper/" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "bad.csv").write_text("table,value\n1,2\n")
    assert main(["--paper", str(tmp_path), "--out", str(tmp_path / "t")]) == 2
    assert "bad.csv has columns" in capsys.readouterr().err and not (tmp_path / "t").exists()


# --- pure parts ------------------------------------------------------------------------------------------------
def test_summary_and_paired_test_by_hand():
    s = summarize([95.0, 96.0, 97.0])
    assert (s.mean, s.std, s.n) == (96.0, 1.0, 3)
    assert summarize([88.0]).std is None and summarize([]) is None
    t = paired_t_test({1: 95.0, 2: 96.0, 3: 97.0}, {1: 94.0, 2: 94.5, 3: 96.5})
    assert t.seeds == (1, 2, 3) and t.mean_diff == pytest.approx(1.0)
    assert t.t == pytest.approx(3 ** 0.5 * 2) and t.p == pytest.approx(1 - t.t / (t.t ** 2 + 2) ** 0.5)
    assert paired_t_test({1: 1.0, 2: 2.0}, {1: 0.0, 2: 0.0}) is None                   # fewer than 3 seeds
    assert paired_t_test({1: 1.0, 2: 2.0, 3: 3.0}, {4: 0.0, 5: 0.0, 6: 0.0}) is None   # no seeds in common
    same = paired_t_test({1: 1.1, 2: 2.2, 3: 3.3}, {1: 0.1, 2: 1.2, 3: 2.3})           # one difference: no t
    assert same.t is None and same.p is None and same.mean_diff == pytest.approx(1.0)


def test_budget_labels_naming_the_same_amount_share_a_cell(tmp_path):
    assert budget_group({"label": "300k"}).key == budget_group({"label": "0.3M"}).key
    assert budget_group({"label": "0.3%"}).key != budget_group({"label": "0.3M"}).key
    assert budget_group({"label": None, "sizes": {"rank": 2}}).label == "rank 2"
    assert budget_group(None).kind == "none"
    runs = tmp_path / "runs"
    write(runs, record("minilm", "rte", "lora", 1, {"accuracy": 60.0}, label="300k"))
    write(runs, record("minilm", "rte", "lora", 2, {"accuracy": 61.0}, label="0.3M"))
    write(runs, record("minilm", "rte", "lora", 2, {"accuracy": 62.0}, label="300k"), slug="300k")
    found = collect(runs)
    assert [len(v) for v in found.cells.values()] == [2] and len(found.duplicates) == 1


def test_the_rank_pattern_table_gives_the_feed_forward_and_upper_layer_shares(tmp_path):
    """Feed-forward matrices at rank 3 and the rest at 1 in the lower half, everything at 2 in the upper half:
    feed-forward 6 + 4 of 10 + 12 kept rank per layer pair; the upper half holds 12 of 22 per layer pair."""
    runs = tmp_path / "runs"
    for seed in (1, 2):
        pattern = {(layer, kind): (3 if kind in ("W_f1", "W_f2") else 1) if layer < 3 else 2
                   for layer in range(6) for kind in BERT_TYPES}
        write(runs, record("minilm", "rte", "adalora", seed, {"accuracy": 60.0}, label="83k",
                           sizes={"target_rank": 2, "init_rank": 4}, rank_pattern=pattern, layers=6))
    _, out = build(tmp_path, runs, figures=False)
    md = (out / "minilm/rank_pattern.md").read_text()
    ffn, upper = 100 * (3 * 6 + 3 * 4) / (3 * 10 + 3 * 12), 100 * 36 / 66
    assert f"| RTE | 83k | 2 | {ffn:.1f} ± 0.0 (2) | {upper:.1f} ± 0.0 (2) |" in md
    assert "| 0 | 1.0 | 1.0 | 1.0 | 1.0 | 3.0 | 3.0 | 10.0 |" in md and "| 5 | 2.0 | 2.0 | 2.0 | 2.0 | 2.0 | 2.0 | 12.0 |" in md
    assert "rank_pattern.md" in (out / "README.md").read_text()


def test_methods_the_paper_never_ran_get_their_own_tables_and_join_the_parameter_figure(tmp_path):
    """Issue 17's options and issue 18's successors: a table per study for the model that ran them (no paper model
    table, no paper rows), AdaLoRA against every row, and the successors drawn in the score-vs-parameters figure."""
    runs = tmp_path / "runs"
    for seed, (a, s, d) in enumerate(((85.0, 83.0, 84.0), (86.0, 83.5, 84.5), (84.5, 82.0, 85.0)), start=1):
        write(runs, record("minilm", "sst2", "adalora", seed, {"accuracy": a}, label="83k",
                           sizes={"target_rank": 2, "init_rank": 4}, retained=90_000, pretrained=22_713_216))
        write(runs, record("minilm", "sst2", "sora", seed, {"accuracy": s}, label="83k",
                           sizes={"target_rank": 2, "init_rank": 4}, adapter=95_000, pretrained=22_713_216))
        write(runs, record("minilm", "sst2", "dora", seed, {"accuracy": d}, label="83k", sizes={"rank": 2},
                           adapter=86_000, pretrained=22_713_216))
        write(runs, record("minilm", "sst2", "adalora-fisher", seed, {"accuracy": a + 0.5}, label="83k",
                           sizes={"target_rank": 2, "init_rank": 4}, retained=90_000, pretrained=22_713_216))
    report, out = build(tmp_path, runs, figures=True)
    assert "minilm/successors_methods_since.md" in report.written and "minilm/beyond_adalora_options.md" in report.written
    assert not any(name.startswith(f"{DEB}/successors") or name.startswith(f"{DEB}/beyond") for name in report.written)
    md = (out / "minilm/successors_methods_since.md").read_text()
    assert "the paper has no such table" in md and "↳ paper" not in md
    assert "| SoRA | 83k |" in md and "| DoRA | 83k |" in md and "AdaLoRA − SoRA" in md and "AdaLoRA − DoRA" in md
    beyond = (out / "minilm/beyond_adalora_options.md").read_text()
    assert "| AdaLoRA, Fisher score | 83k |" in beyond and "AdaLoRA − AdaLoRA, Fisher score" in beyond
    assert "SoRA" not in beyond
    from runners.tables.collect import collect as collect_runs
    from runners.tables.layouts import LAYOUTS
    from runners.tables.param_curves import param_curves
    table1 = next(layout for layout in LAYOUTS if layout.key == "table1")
    _, used = param_curves(table1, "minilm", collect_runs(runs), [], render=False)
    assert {r.method for r in used} == {"adalora", "sora", "dora"}      # the options stay in their own table
    assert (out / "minilm/params_glue.png").is_file()
    again, _ = build(tmp_path, runs, figures=True)
    assert not again.written and not again.removed


def test_table15_ratios_give_cpu_time_beside_wall_time(tmp_path):
    """Wall times of runs made under different load disagree; the ratio line also gives the CPU time (which hardly
    moves with other processes) and the CPU share each run had, so a reader can tell the two apart."""
    runs = tmp_path / "runs"
    # LoRA on a quiet core (share 1.0); AdaLoRA while other processes took half its core: its wall time doubles
    # (ratio 2.4) while its CPU time is 1.2 x LoRA's
    for seed in (1, 2):
        for method, sizes, wall, cpu in (("lora", {"rank": 2}, 100.0, 100.0),
                                         ("adalora", {"target_rank": 2, "init_rank": 4}, 240.0, 120.0)):
            rec = record("minilm", "sst2", method, seed, {"accuracy": 80.0}, label="83k", sizes=sizes,
                         pretrained=22_713_216, epochs=0.25)
            rec["cost"] = {"train_time_s": wall, "train_cpu_s": cpu, "cpu_share": round(cpu / wall, 3),
                           "peak_memory_mb": 1000.0}
            write(runs, rec)
    (_, out) = build(tmp_path, runs)
    text = (out / "minilm/table15_cost.md").read_text()
    assert "| SST-2 time/epoch (min) | 83k | 2.400 | 1.200 (2 / 2 runs) | 0.50–1.00 | 1.164 |" in text
    assert "| LoRA | 83k | 0.30M | 6.67 ± 0.00 (2) | 0.98 ± 0.00 (2) |" in text            # wall: 100 s / 0.25 epoch
    assert "| AdaLoRA | 83k | 0.30M | 16.00 ± 0.00 (2) | 0.98 ± 0.00 (2) |" in text


def test_table15_ratios_list_budgets_small_to_large(tmp_path):
    """The ratio lines follow the budgets' sizes (41k before 332k), not their labels' spelling ('332k' < '41k')."""
    runs = tmp_path / "runs"
    for label, lora_rank, init_rank in (("332k", 8, 12), ("41k", 1, 2)):
        for method, sizes in (("lora", {"rank": lora_rank}), ("adalora", {"target_rank": lora_rank, "init_rank": init_rank})):
            rec = record("minilm", "sst2", method, 1, {"accuracy": 80.0}, label=label, sizes=sizes,
                         pretrained=22_713_216, epochs=0.25)
            rec["cost"] = {"train_time_s": 100.0, "peak_memory_mb": 1000.0}
            write(runs, rec)
    (_, out) = build(tmp_path, runs)
    text = (out / "minilm/table15_cost.md").read_text()
    ratios = text.split("## AdaLoRA / LoRA time per epoch")[1]
    assert ratios.index("| 41k |") < ratios.index("| 332k |")
