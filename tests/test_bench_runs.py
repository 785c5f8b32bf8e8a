"""`make bench-runs` (runners/bench/runs.py): which real run.py cells it runs, and how it turns interleaved
repetitions into ratios with intervals and a verdict. The runs themselves are stubbed here (one real quick pass
takes minutes: `python -m runners.bench.runs --quick`)."""
from pathlib import Path

from runners.bench import runs


def test_the_cells_are_the_cpu_protocols():
    args = runs.run_args("cola", "adalora", "83k", Path("/tmp/x"), quick=False)
    assert args[0] == "+experiment=cpu/protocol" and "task=cola" in args and "method=adalora" in args
    assert "budget=83k" in args and "force=true" in args and "resume=false" in args
    assert "method=adalora" in runs.run_args("sst2", "peft_adalora", "83k", Path("/tmp/x"), quick=False)
    assert "method=lora" in runs.run_args("sst2", "lora", "83k", Path("/tmp/x"), quick=False)
    assert runs.STEPS == {"sst2": 160, "cola": 320, "rte": 100}


def test_interleaved_repetitions_give_ratios_with_intervals(monkeypatch):
    order = []
    cost = {"lora": 1.00, "adalora": 1.02, "peft_adalora": 1.30}

    def fake(task, variant, budget, quick, progress):
        order.append(variant)
        k = len(order)
        wiggle = 1 + 0.002 * (k % 3)
        return {"variant": variant, "exit_code": 0, "process_wall_s": 30 * cost[variant] * wiggle, "load_1min": 0.5,
                "cost": {"step_time_median_s": 0.1 * cost[variant] * wiggle, "train_time_s": 16 * cost[variant] * wiggle,
                         "train_cpu_s": 15 * cost[variant]}}

    monkeypatch.setattr(runs, "one_run", fake)
    record = runs.bench_runs(["sst2"], reps=6, budget="83k", quick=False, progress=lambda s: None)
    assert order[:3] == ["lora", "adalora", "peft_adalora"] and order[3:6] == ["adalora", "peft_adalora", "lora"]
    c = record["tasks_detail"]["sst2"]["comparisons"]["adalora_vs_lora:train_time_s"]
    assert c["n"] == 6 and c["ci_low"] <= c["ratio"] <= c["ci_high"] and abs(c["ratio"] - 1.02) < 0.01
    target = record["target_adalora_vs_lora_train_time"]
    assert target["met"] and target["task"] == "sst2" and record["verdict_valid"]
    text = runs.render(record)
    assert "AdaLoRA / LoRA training time" in text and "| yes |" in text
    cpu = record["tasks_detail"]["sst2"]["comparisons"]["adalora_vs_lora:train_cpu_s"]     # the load-proof figure
    assert abs(cpu["ratio"] - 1.02) < 1e-9 and "| adalora / lora, train_cpu_s | 1.020 |" in text

    cost["adalora"] = 1.20
    order.clear()
    record = runs.bench_runs(["sst2"], reps=6, budget="83k", quick=False, progress=lambda s: None)
    assert not record["target_adalora_vs_lora_train_time"]["met"]


def test_a_failed_run_is_left_out_of_its_pair(monkeypatch):
    def fake(task, variant, budget, quick, progress):
        if variant == "peft_adalora":
            return {"variant": variant, "failed": True, "exit_code": 1, "load_1min": 0.1}
        return {"variant": variant, "exit_code": 0, "process_wall_s": 10.0, "load_1min": 0.1,
                "cost": {"step_time_median_s": 0.1, "train_time_s": 5.0}}

    monkeypatch.setattr(runs, "one_run", fake)
    record = runs.bench_runs(["cola"], reps=3, budget="83k", quick=False, progress=lambda s: None)
    comparisons = record["tasks_detail"]["cola"]["comparisons"]
    assert comparisons["adalora_vs_peft_adalora:train_time_s"] is None
    assert comparisons["adalora_vs_lora:train_time_s"]["ratio"] == 1.0
    assert comparisons["adalora_vs_lora:train_cpu_s"] is None      # records made before cost.py measured it
    assert "| – | 10.0 |" in runs.render(record)
