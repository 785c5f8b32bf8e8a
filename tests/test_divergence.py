"""Divergence: a NaN / inf loss stops the run with a `failed` record that says why; a sweep carries on; `make
tables` skips failed records and says how many."""
import json
import subprocess
import sys

import pytest
import torch
from transformers import TrainerCallback

import adalora
from runners.reliability.divergence import Diverged
from runners.tables.__main__ import main as tables_main
from runners.training import total_optimizer_steps
from tables_records import record, write
from test_training_wiring import adapted_bert, examples, trainer_for


class PoisonAt(TrainerCallback):
    """Fault injection: the classifier's weights become `value` before optimizer step `step`."""

    def __init__(self, step: int, value: float) -> None:
        self.step, self.value = step, value

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                model.classifier.weight.fill_(self.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_loss_stops_training_at_that_step(tiny_bert_factory, tmp_path, value):
    model, handle = adapted_bert(tiny_bert_factory, adalora.LoRA(rank=2))
    trainer = trainer_for(model, handle, examples(32), tmp_path, max_steps=8)
    trainer.add_callback(PoisonAt(3, value))
    with pytest.raises(Diverged, match="training loss is nan at optimizer step 3: the run diverged") as stop:
        trainer.train()
    assert stop.value.step == 3 == trainer.state.global_step


def test_make_tables_skips_failed_records_and_counts_them(tmp_path, repo, capsys):
    runs = tmp_path / "runs"
    write(runs, record("minilm", "sst2", "lora", 1, {"accuracy": 90.0}, label="0.38%", sizes={"rank": 2}))
    failed = record("minilm", "sst2", "lora", 2, {}, label="0.38%", sizes={"rank": 2}, status="failed")
    failed["failure"] = {"kind": "diverged", "reason": "training loss is nan at optimizer step 3", "step": 3}
    write(runs, failed)
    assert tables_main(["--runs", str(runs), "--paper", str(repo / "results/paper"), "--out", str(tmp_path / "t"),
                        "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "tables: 1 result records" in out and "skipped 1 whose status is not ok (failed: 1)" in out
    assert "90.00 (1)" in "".join(p.read_text() for p in (tmp_path / "t/minilm").glob("*.md"))  # only the ok seed


@pytest.mark.slow
def test_a_diverging_sweep_records_each_failure_and_carries_on(repo, tmp_path):
    cmd = [sys.executable, "run.py", "-m", "task=sst2", "method=adalora", "model=tiny-bert",
           "task.data_dir=data/glue/sst2", "task.max_train_samples=64", "task.max_eval_samples=32",
           "trainer.max_steps=8", "trainer.save_strategy=no", "method.init_rank=4", "method.target_rank=2",
           "method.t_init=2", "method.t_final=3", "trainer.disable_tqdm=true", "trainer.learning_rate=1e30",
           "seed=1,2", f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out", f"hydra.sweep.dir={tmp_path}/sw"]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]  # the sweep carried on past its failed cells
    assert done.stderr.count("error: run failed: ") == 2 and "Traceback" not in done.stderr
    for seed in (1, 2):
        rec = json.loads((tmp_path / f"runs/tiny-bert/sst2/adalora/r2-from4/seed{seed}.json").read_text())
        assert rec["status"] == "failed" and rec["metrics"] == {}
        assert rec["failure"]["kind"] == "diverged" and "the run diverged" in rec["failure"]["reason"]
        assert rec["steps"] < 8 and rec["config"]["trainer"]["learning_rate"] == 1e30
    tables = subprocess.run([sys.executable, "-m", "runners.tables", "--runs", f"{tmp_path}/runs", "--out",
                             f"{tmp_path}/tables", "--no-figures"], cwd=repo, capture_output=True, text=True, timeout=300)
    assert tables.returncode == 0 and "skipped 2 whose status is not ok (failed: 2)" in tables.stdout
