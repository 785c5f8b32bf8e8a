"""`make bench-runs` (runners/bench/runs.py): which real run.py cells it runs, and how it turns interleaved
repetitions into ratios with intervals and a verdict. The runs themselves are stubbed here (one real quick pass
takes minutes: `python -m runners.bench.runs --quick`)."""
from pathlib import Path

import pytest
from conftest import tiny_bert

from runners.bench import runs


def test_the_cells_are_the_cpu_protocols():
    args = runs.run_args("cola", "adalora", "83k", Path("/tmp/x"), quick=False)
    assert args[0] == "+experiment=cpu/protocol" and "task=cola" in args and "method=adalora" in args
    assert "budget=83k" in args and "force=true" in args and "resume=false" in args
    assert "method=adalora" in runs.run_args("sst2", "peft_adalora", "83k", Path("/tmp/x"), quick=False)
    assert "method=lora" in runs.run_args("sst2", "lora", "83k", Path("/tmp/x"), quick=False)
    from omegaconf import OmegaConf
    protocol = OmegaConf.load(runs.PROTOCOL).cpu_tasks        # the timed cells run the protocol's own length
    assert runs.protocol_steps() == {task: int(cfg.max_steps) for task, cfg in protocol.items()}
    assert not any(a.startswith("trainer.max_steps=") for a in runs.run_args("sst2", "lora", "83k", Path("/x"), False))


def test_peft_s_schedule_is_resolved_against_the_runs_real_length():
    """PEFT's AdaLoRA, driven through run.py, gets t_init and t_final as shares of the run the Trainer makes (the
    handle learns it in set_total_steps), not of a length guessed before: the committed bench-runs record of
    2026-12-01 timed it with a schedule for 160 steps inside 320-step runs."""
    pytest.importorskip("peft")
    import adalora

    attach, state = runs._peft_attach(160)
    spec = adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=16, t_init=0.1, t_final=0.4, delta_t=10)
    handle = attach(tiny_bert(), spec)
    handle.set_total_steps(320)
    config = state["model"].peft_config["default"]
    assert (config.total_step, config.tinit, config.tfinal) == (320, 32, 128)


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
