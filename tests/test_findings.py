"""The claim table (runners/tables/findings.py) from hand-written records: Holm over a source's family, verdicts
(confirmed, not confirmed, pending, not testable here), the Fig. 3 shares from runs above the majority class only,
the plan counted from the sweep configs, and the README's marked section rewritten in place."""
import shutil

import pytest
from omegaconf import OmegaConf
from tables_records import BERT_TYPES, record, write

from runners.tables import findings
from runners.tables.stats import holm, paired

TABLE1 = [("adalora", "83k"), ("adalora", "332k"), ("lora", "83k"), ("lora", "166k"), ("lora", "332k"),
          ("lora", "498k"), ("houlsby", "83k"), ("pfeiffer", "83k"), ("full", None), ("bitfit", None)]
NOISE = (0.3, -0.2, 0.1, -0.4, 0.2)
PROTOCOL = findings.protocol_settings()


@pytest.fixture
def two_tasks(tmp_path):
    """The CPU sweeps with CoLA in them (as first planned): the mechanics of a second task that learns or not."""
    conf = tmp_path / "conf"
    shutil.copytree(findings.CPU_CONF, conf)
    for name in findings.SWEEPS:
        path = conf / f"{name}.yaml"
        cfg = OmegaConf.load(path)
        if name != "table5":                       # Table 5 on CoLA was dropped from the first plan already
            cfg.hydra.sweeper.params.task = "sst2,cola"
        OmegaConf.save(cfg, path)
    protocol = OmegaConf.load(conf / "protocol.yaml")
    del protocol.cpu_tasks.cola["dropped"]
    OmegaConf.save(protocol, conf / "protocol.yaml")
    return conf


def put(runs, task, method, label, values, base=50.0, pattern=None, steps=None):
    metric = findings.MAIN_METRIC[task]
    for seed, value in zip((1, 2, 3, 4, 5), values):
        rec = record("minilm", task, method, seed, {metric: value}, label=label, rank_pattern=pattern, layers=6,
                     sizes={"rank": 2} if label else {}, pretrained=22_713_216)
        rec["baseline"] = {"kind": "majority class of train", metric: base}
        want = PROTOCOL[task]
        rec["config"]["trainer"]["max_steps"] = steps or want["trainer.max_steps"]
        rec["config"]["task"].update(data_dir=want["task.data_dir"], max_seq_length=want["task.max_seq_length"])
        write(runs, rec, slug=label or "all")


def table1_records(runs, task="sst2", ada_gain=3.0, full=80.0):
    for method, label in TABLE1:
        level = 80.0 + (ada_gain if method == "adalora" else 0.0)
        if method == "full":
            level = full
        put(runs, task, method, label, [level + n * (1 + 0.5 * TABLE1.index((method, label))) for n in NOISE])


def test_table1_family_holm_and_verdicts(tmp_path, two_tasks):
    runs = tmp_path / "runs"
    table1_records(runs)
    table1_records(runs, task="cola", full=0.0)      # CoLA does not learn: out of the family
    f = findings.build(runs, conf=two_tasks)
    rows = [r for r in f.found if r.claim.family == "Table 1" and r.task == "sst2"]
    assert len(rows) == 8 and all(r.test is not None and r.test.n == 5 for r in rows)
    expected = holm([r.test.p_t for r in rows])                     # the family: Table 1's 8 comparisons on SST-2
    assert [r.test.p_holm for r in rows] == pytest.approx(expected)
    data = findings.Data(findings.collect(runs), protocol=PROTOCOL)
    first = paired(data.scores("sst2", findings.Arm("adalora", "83k")), data.scores("sst2", findings.Arm("lora", "83k")))
    assert rows[0].test.mean_diff == pytest.approx(first.mean_diff) and rows[0].test.p_t == pytest.approx(first.p_t)
    for r in rows:
        assert r.verdict == ("confirmed" if r.test.p_holm < 0.05 else "not confirmed")
    assert f.informative["sst2"] is True and f.informative["cola"] is False
    assert all(r.verdict in ("not testable here", findings.DROPPED) for r in f.found if r.task == "cola")
    # families with no records yet stay pending, and so does the claim table's summary
    assert all(r.verdict == "pending" for r in f.found if r.claim.family == "Table 4" and r.task == "sst2")
    lines = findings.claim_table(f.found, ["sst2"])
    assert any("| Table 4 |" in line and "pending (10 of 30 runs of its cells done)" in line for line in lines)


def test_records_of_another_protocol_are_left_out(tmp_path):
    runs = tmp_path / "runs"
    put(runs, "sst2", "full", None, [80.0] * 5, steps=160)          # issue 9's length
    f = findings.build(runs)
    assert f.runs_done == 0 and f.informative["sst2"] is None


def test_an_undecided_task_keeps_the_family_pending(tmp_path, two_tasks):
    runs = tmp_path / "runs"
    table1_records(runs)                              # SST-2 complete, CoLA not run yet: its tests will join
    f = findings.build(runs, conf=two_tasks)
    assert f.informative["cola"] is None
    assert all(r.verdict == "pending" for r in f.found if r.claim.family == "Table 1")


def test_four_seeds_keep_a_family_pending(tmp_path):
    runs = tmp_path / "runs"
    table1_records(runs)
    (runs / "minilm/sst2/bitfit/all/seed5.json").unlink()
    f = findings.build(runs)
    assert all(r.verdict == "pending" for r in f.found if r.claim.family == "Table 1" and r.task == "sst2")


def test_a_task_where_full_fine_tuning_stays_at_the_majority_class_is_not_testable(tmp_path, two_tasks):
    runs = tmp_path / "runs"
    table1_records(runs, task="cola", full=0.0)
    f = findings.build(runs, conf=two_tasks)
    assert f.informative["cola"] is False and "0 of 5 seeds above the majority class" in f.evidence["cola"]
    assert all(r.verdict in ("not testable here", findings.DROPPED) for r in f.found if r.task == "cola")
    assert "does not learn here" in findings.readme_section(f)


def test_fig3_shares_use_only_runs_above_the_majority_class(tmp_path):
    runs = tmp_path / "runs"
    pattern = {(layer, kind): (3 if kind in ("W_f1", "W_f2") else 1) for layer in range(6) for kind in BERT_TYPES}
    put(runs, "sst2", "adalora", "83k", [80.0, 81.0, 79.0, 40.0, 82.0], pattern=pattern)   # seed 4 below 50
    f = findings.build(runs)
    row = next(r for r in f.found if r.claim.key == "f3-ffn" and r.task == "sst2" and "AdaLoRA 83k" in r.label)
    assert row.test.seeds == (1, 2, 3, 5) and "4 of 5" in row.label
    assert row.test.mean_diff == pytest.approx(100 * 6 / 10 - 100 / 3)


def test_the_plan_is_counted_from_the_sweep_configs(two_tasks):
    # Table 1: 10 cells; Table 4: 12 (2 in Table 1); Table 5: 10 (4 in Table 1; SST-2 only); Fig. 2: 10 (6 in
    # Tables 1 and 4)
    for conf, cola in ((findings.CPU_CONF, 0), (two_tasks, (10 + 10 + 4) * 5)):     # CoLA dropped for compute
        plan = findings.planned_runs(conf)
        count = {task: sum(1 for t, *_ in plan if t == task) for task in ("sst2", "cola")}
        assert count == {"sst2": (10 + 10 + 6 + 4) * 5, "cola": cola}
        assert ("sst2", "full", None, 3) in plan and (("cola", "lora", "498k", 5) in plan) == bool(cola)


def test_a_claim_whose_cells_are_not_in_the_sweeps_says_so(tmp_path, two_tasks):
    f = findings.build(tmp_path / "none", conf=two_tasks)
    rows = [r for r in f.found if r.claim.family == "Table 5" and r.task == "cola"]
    assert rows and all(r.verdict == findings.DROPPED for r in rows)
    assert all(r.verdict != findings.DROPPED for r in f.found if r.task == "sst2")


def test_a_task_the_protocol_drops_is_listed_with_its_reason_and_left_out_of_the_claims(tmp_path):
    """CoLA and RTE are dropped for compute (protocol.yaml: cpu_tasks.<task>.dropped): each is listed with that reason,
    has no row in the claim table and no say in a family, so SST-2's complete Table 1 gets final verdicts."""
    runs = tmp_path / "runs"
    table1_records(runs)
    f = findings.build(runs)
    reasons = findings.dropped_tasks()
    assert set(f.dropped) == {"cola", "rte"} and all(r.startswith("dropped for compute") for r in reasons.values())
    assert not any(r.task in ("cola", "rte") for r in f.found)
    rows = [r for r in f.found if r.claim.family == "Table 1"]
    assert rows and all(r.verdict in ("confirmed", "not confirmed", "refuted") for r in rows)
    text = findings.readme_section(f)
    assert f"- CoLA: {reasons['cola']}; left out of the claims" in text
    assert "| CoLA |" not in text and "| RTE |" not in text


def test_the_readme_section_is_replaced_between_its_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Results\n\n{findings.START}\nold\n{findings.END}\n\nrest\n")
    assert findings.update_readme(readme, f"{findings.START}\nnew\n{findings.END}")
    assert readme.read_text() == f"# Results\n\n{findings.START}\nnew\n{findings.END}\n\nrest\n"
    assert not findings.update_readme(readme, f"{findings.START}\nnew\n{findings.END}")
    readme.write_text("no markers")
    with pytest.raises(SystemExit):
        findings.update_readme(readme, "x")


def test_fig3_heat_maps_come_from_runs_above_the_majority_class(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "tables"
    pattern = {(layer, kind): (3 if kind in ("W_f1", "W_f2") else 1) for layer in range(6) for kind in BERT_TYPES}
    put(runs, "sst2", "adalora", "83k", [80.0, 81.0, 79.0, 40.0, 82.0], pattern=pattern)
    put(runs, "sst2", "adalora", "332k", [40.0] * 5, pattern=pattern)                    # learnt nothing: no map
    assert findings.main(["--runs", str(runs), "--out", str(out), "--readme", "", "--lr-search", str(tmp_path / "x"),
                          "--pilots", str(tmp_path / "x")]) == 0
    assert sorted(p.name for p in (out / "minilm").glob("claims_fig3_*.png")) == ["claims_fig3_sst2_83k.png"]
    md = (out / "minilm/claims.md").read_text()
    assert "### SST-2, 83k (seeds 1, 2, 3, 5)" in md and "| 0 | 1.0 | 1.0 | 1.0 | 1.0 | 3.0 | 3.0 |" in md


def test_selection_runs_of_one_cell_at_several_rates_all_count(tmp_path):
    grid = tmp_path / "lr-search"
    for lr in (4e-4, 8e-4):
        rec = record("minilm", "sst2", "lora", 0, {"accuracy": 80.0}, label="83k", sizes={"rank": 2}, lr=lr)
        want = PROTOCOL["sst2"]
        rec["config"]["trainer"]["max_steps"] = want["trainer.max_steps"]
        rec["config"]["task"].update(data_dir=want["task.data_dir"], max_seq_length=want["task.max_seq_length"])
        write(grid / f"lr{lr:g}", rec, slug="83k")
    f = findings.build(tmp_path / "runs", lr_search=grid)
    assert f.selection_done == 2 and f.selection_planned == 36          # 12 methods x 3 rates on SST-2


def test_beyond_the_paper_has_its_own_claim_table(tmp_path):
    """Issues 17 and 18 are asked like the paper's claims, in their own families (Holm within each) and their own
    README section; the plan comes from cpu/beyond and cpu/successors."""
    runs = tmp_path / "runs"
    table1_records(runs)                                      # full fine-tuning and LoRA learn on SST-2
    put(runs, "sst2", "adalora", "41k", [80.0 + n for n in NOISE])
    for label in ("41k", "83k"):
        put(runs, "sst2", "adalora-reactivation", label, [86.0 + 1.5 * n for n in NOISE])
    f = findings.build(runs, study=findings.BEYOND)
    rows = [r for r in f.found if r.claim.key == "b-reactivation" and r.task == "sst2"]
    assert [r.label for r in rows] == ["AdaLoRA + reactivation 41k − AdaLoRA 41k",
                                       "AdaLoRA + reactivation 83k − AdaLoRA 83k"]
    assert all(r.test is not None and r.test.n == 5 and r.test.mean_diff > 2 for r in rows)
    assert all(r.verdict == "pending" for r in f.found if r.task == "sst2")      # LCB and Fisher have no records
    assert [c.family for c in findings.BEYOND.claims].count("Issue 18") == 6
    assert {r.claim.family for r in f.found} == {"Issue 17", "Issue 18"}
    plan = findings.planned_runs(sweeps=findings.BEYOND.sweeps)
    assert sum(1 for t, *_ in plan if t == "sst2") == (4 * 2 + 8 * 2 - 1) * 5   # AdaLoRA 83k is in both sweeps
    section = findings.readme_section(f)
    assert section.startswith(findings.BEYOND.start) and section.endswith(findings.BEYOND.end)
    assert "cpu/lr_grid_beyond" in section and "cpu/beyond, successors" in section
    assert findings.BEYOND.start not in findings.readme_section(findings.build(runs))


def test_runs_that_collapsed_are_named_with_their_scores(tmp_path):
    """Runs under halfway from the majority class (50) to full fine-tuning's mean (80) are listed by name; they stay
    in the statistics."""
    runs = tmp_path / "runs"
    table1_records(runs)
    put(runs, "sst2", "lora", "332k", [80.0, 64.5, 81.0, 79.0, 50.0])
    f = findings.build(runs)
    text = findings.readme_section(f)
    assert ("  - 2 reported runs of this study ended below 65.00, halfway from the majority class to full "
            "fine-tuning's mean: LoRA 332k seed 2 (64.50), LoRA 332k seed 5 (50.00). They count in every statistic as "
            "they are") in text
    row = next(r for r in f.found if r.task == "sst2" and r.label == "AdaLoRA 332k − LoRA 332k")
    assert row.test.n == 5
    put(runs, "sst2", "lora", "332k", [80.0, 80.0, 81.0, 79.0, 50.0])
    assert ("ended below 65.00, halfway from the majority class to full fine-tuning's mean: LoRA 332k seed 5 (50.00). "
            "It counts in every statistic as it is;") in findings.readme_section(findings.build(runs))
    put(runs, "sst2", "lora", "332k", [80.0, 80.0, 81.0, 79.0, 80.0])
    assert "  - No reported run of this study has ended below 65.00" in findings.readme_section(findings.build(runs))
