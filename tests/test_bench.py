"""`make bench`'s machinery in a tiny configuration: it runs, writes a well-formed record and table, keeps CPU
runs off CUDA, and refuses bad options with one line. Times are never asserted."""
import json

import pytest
import torch

from runners.bench.__main__ import main
from runners.bench.memory import measure


@pytest.fixture
def no_cuda(monkeypatch):
    """Any CUDA call fails the test: a CPU run must not touch it."""
    def touched(*args, **kwargs):
        raise AssertionError("a CPU benchmark touched torch.cuda")

    for name in ("is_available", "synchronize", "reset_peak_memory_stats", "max_memory_allocated",
                 "memory_allocated", "get_device_properties"):
        monkeypatch.setattr(torch.cuda, name, touched)


def test_quick_bench_writes_record_and_table(tmp_path, no_cuda, capsys):
    out, table = tmp_path / "bench" / "latest.json", tmp_path / "tables" / "bench.md"
    threads = torch.get_num_threads()
    try:
        code = main(["--quick", "--models", "tiny-bert", "--scaling-layers", "1", "--threads", "1",
                     "--out", str(out), "--table", str(table)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    record = json.loads(out.read_text())
    ratios = record["step_time_ratio"]
    assert ratios["adalora_vs_lora"] > 0 and ratios["adalora_vs_peft_adalora"] > 0 and ratios["delta_t"] == 10
    assert ratios["adalora_sliced_vs_lora"] > 0
    assert record["machine"]["threads"] == 1 and record["machine"]["cpu"] and record["machine"]["device"] == "cpu"
    assert {"torch", "transformers", "peft"} <= set(record["versions"])
    assert len(record["load"]["start"]) == 3
    variants = record["models"]["tiny-bert"]["variants"]
    assert set(variants) == {"lora", "adalora", "peft_adalora", "adalora_dt1", "peft_adalora_dt1", "full",
                             "adalora_final", "adalora_sliced"}
    for v in variants.values():
        assert v["step"]["n"] == 4 and v["step"]["median"] > 0 and len(v["step"]["samples"]) == 4
        assert all(s > 300 for s in v["steps"])                      # inside the budget phase (t_init = 200)
    assert variants["adalora_dt1"]["masking_steps"] == variants["adalora_dt1"]["steps"]
    assert all(s > 2000 - 800 for s in variants["adalora_sliced"]["steps"])   # the final phase (T - t_final)
    assert variants["adalora_final"]["masking_steps"] == variants["adalora_final"]["steps"]
    assert variants["adalora_sliced"]["masking_steps"] == []
    assert variants["adalora_sliced"]["trainable_parameters"] < variants["adalora_final"]["trainable_parameters"]
    comparisons = record["models"]["tiny-bert"]["comparisons"]
    for key in ("adalora_vs_lora", "adalora_vs_peft_adalora", "adalora_sliced_vs_lora"):
        c = comparisons[key]
        assert c["n"] == 4 and c["ci_low"] <= c["ratio"] <= c["ci_high"]
    # quick mode is never a verdict
    assert record["verdict_valid"] is False
    assert all(t["met"] in (True, False) and "why" in t for t in record["targets"].values())
    assert variants["adalora"]["trainable_parameters"] > variants["lora"]["trainable_parameters"]
    assert variants["adalora"]["state_bytes"]["method"] > 0 == variants["lora"]["state_bytes"]["method"]
    scaling = record["method_step_scaling"]["rows"]
    assert [r["layers"] for r in scaling] == [1] and scaling[0]["matrices"] == 6
    assert {"ours_update", "ours_update_mask", "peft_update", "peft_update_mask"} <= set(scaling[0])
    assert set(record["targets"]) >= {"adalora_vs_lora", "adalora_vs_peft_adalora", "adalora_sliced_vs_lora",
                                      "method_step_share"}
    text = table.read_text()
    assert "| AdaLoRA (ours) ΔT=10 |" in text and "## Method step alone" in text and "95% CI" in text
    assert "Quick mode" in text
    assert text in capsys.readouterr().out


def test_memory_child_measures_one_variant():
    lora = measure("tiny-bert", "lora", "cpu", batch=2, seq_len=8, delta_ts=(10,), steps=2, threads=None)
    ours = measure("tiny-bert", "adalora", "cpu", batch=2, seq_len=8, delta_ts=(10,), steps=2, threads=None)
    for m in (lora, ours):
        assert m["peak_bytes"] >= m["before_steps_bytes"] > 0
    assert ours["state_bytes"]["method"] > 0 and lora["state_bytes"]["method"] == 0
    assert ours["state_bytes"]["optimizer"] >= 2 * ours["state_bytes"]["trainable"]   # AdamW's two moments


@pytest.mark.parametrize("argv, message", [
    (["--device", "tpu"], "use cpu or cuda"),
    (["--batch", "minilm=16by128"], "MODEL=BATCHxTOKENS"),
    (["--models", "bert-huge"], "unknown bert-huge"),
    (["--variants", "lora,dora"], "unknown dora"),
    (["--scaling-layers", "12,x"], "comma-separated positive integers"),
    (["--threads", "many"], "positive number or auto"),
])
def test_bad_options_end_with_one_line(argv, message, tmp_path, capsys):
    assert main(argv + ["--out", str(tmp_path / "x.json"), "--table", str(tmp_path / "x.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()


def test_cuda_without_a_gpu_is_refused(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--device", "cuda", "--out", str(tmp_path / "x.json")]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_a_busy_machine_is_refused_and_a_loaded_run_is_no_verdict(monkeypatch, tmp_path, capsys):
    import os

    from runners.bench import run as bench_run
    from runners.bench.run import targets

    cores = os.cpu_count() or 1
    monkeypatch.setattr(bench_run.os, "getloadavg", lambda: (cores + 3.0, cores + 2.0, cores + 1.0))
    assert main(["--models", "tiny-bert", "--out", str(tmp_path / "x.json"), "--table", str(tmp_path / "x.md")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: the machine is busy") and "--allow-load" in err and err.count("\n") == 1
    assert not (tmp_path / "x.json").exists()

    good = {"ratio": 1.0, "ci_low": 0.99, "ci_high": 1.01, "n": 30}
    models = {"m": {"comparisons": {"adalora_vs_lora": good, "adalora_vs_peft_adalora": {**good, "ratio": 0.8,
                                                                                         "ci_high": 0.85}},
                    "method_step_share": {}, "label": "m"}}
    quiet = targets(models, None, ("cpu_ratio_of_medians", "x"), heavy_load=False)
    loaded = targets(models, None, ("cpu_ratio_of_medians", "x"), heavy_load=True)
    assert quiet["adalora_vs_lora"]["met"] and quiet["adalora_vs_peft_adalora"]["met"]
    assert not loaded["adalora_vs_lora"]["met"] and "heavy load" in loaded["adalora_vs_lora"]["why"]


def test_a_target_needs_its_whole_interval_under_the_goal():
    from runners.bench.stats import paired_ratio, verdict

    a = [1.00 + 0.01 * (k % 3) for k in range(30)]
    b = [1.0] * 30
    est = paired_ratio(a, b)
    assert est["n"] == 30 and est["ci_low"] <= est["ratio"] <= est["ci_high"]
    assert verdict(est, 1.03, 1.05)["met"]
    noisy = paired_ratio([1.0 + (0.3 if k % 2 else -0.25) for k in range(30)], b)
    v = verdict(noisy, 1.03, 1.05)
    assert not v["met"] and noisy["ci_high"] > 1.05
    assert not verdict(paired_ratio(a[:2], b[:2]), 1.03)["met"]       # two rounds: no interval, no verdict


def test_the_benchmarks_own_threads_do_not_make_the_machine_busy():
    """On 2 cores a 2-thread benchmark holds the load near 2 by itself: only work beyond its own threads is load."""
    from runners.bench.stats import load_verdict

    assert not load_verdict([1.9, 2.0, 2.1], cores=2, own=2)["heavy"]       # the benchmark alone
    assert load_verdict([3.0, 3.1, 2.9], cores=2, own=2)["heavy"]           # plus one busy process
    assert load_verdict([2.0, 2.1, 1.9], cores=2, own=1)["heavy"]           # a 1-thread run beside one other
    assert not load_verdict([1.1, 1.0, 0.9], cores=2, own=1)["heavy"]
    assert load_verdict([16.5] * 3, cores=16, own=1)["heavy"] and not load_verdict([15.0] * 3, cores=16, own=1)["heavy"]


def test_two_bench_records_are_compared_target_by_target(tmp_path, capsys):
    from runners.bench.compare import main as compare_main

    def rec(met, valid=True):
        return {"created": "t", "git": {"commit": "abc"}, "load": {"during": {"median": 1.0}}, "verdict_valid": valid,
                "targets": {"adalora_vs_lora": {"value": 1.0, "ci": [0.97, 1.03], "met": True},
                            "sliced": {"value": 1.02, "ci": [0.96, 1.07], "met": met}}}
    paths = []
    for name, r in (("a", rec(False)), ("b", rec(False)), ("c", rec(True)), ("d", rec(False, valid=False))):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(r))
    out = tmp_path / "cmp.md"
    assert compare_main([str(paths[0]), str(paths[1]), "--out", str(out)]) == 0
    assert "every target's verdict agrees" in out.read_text() and "| sliced | 1.020 [0.960, 1.070] **not met**" in out.read_text()
    assert compare_main([str(paths[0]), str(paths[2])]) == 1                 # a verdict changed
    assert compare_main([str(paths[0]), str(paths[3])]) == 1                 # the rerun was no verdict
    capsys.readouterr()
    assert compare_main([str(paths[0]), str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_auto_threads_on_a_cpu_is_one_thread_so_the_ratios_compare_cpu_time():
    """Two threads on two cores gave the DeBERTa shape intervals too wide for a verdict that survives a rerun; one
    thread makes the headline the process CPU time of the step."""
    import torch

    from runners.bench.machine import choose_threads
    from runners.bench.run import headline_basis

    threads, rule = choose_threads("auto", "cpu")
    assert threads == 1 and "1 on a CPU" in rule
    assert headline_basis(torch.device("cpu"), threads)[0] == "cpu_ratio_of_medians"
    assert choose_threads("auto", "cuda")[0] == torch.get_num_threads()
    assert choose_threads("3", "cpu") == (3, "as requested (--threads)")
