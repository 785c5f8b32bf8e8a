"""runners/cost.py: the cost a record carries (median step, training time without evaluation and saving, peak
memory), by the Trainer's own events: on a scripted clock, and in a real (tiny) Trainer run."""
from types import SimpleNamespace

import torch
from transformers import Trainer, TrainingArguments

from conftest import tiny_bert
from runners.cost import CostMeter, rss_high_water_mb


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_steps_and_training_time_leave_evaluation_and_saving_out():
    meter, clock, cpu = CostMeter(), Clock(), Clock()
    meter._clock, meter._cpu_clock = clock, cpu
    args = SimpleNamespace(device=torch.device("cpu"))
    meter.on_train_begin(args, None, None)
    for k, (load, step, after) in enumerate([(0.5, 2.0, None), (0.5, 3.0, "evaluate"), (0.5, 1.0, "save"),
                                             (0.5, 4.0, None)]):
        clock.t += load                       # fetching the step's batches: training time
        cpu.t += load / 2                     # (the process had half a core while it waited for them)
        meter.on_step_begin(args, None, None)
        clock.t += step
        cpu.t += step
        meter.on_step_end(args, None, None)
        if after:                             # an evaluation / a checkpoint after the step: not training time
            clock.t += 10.0
            cpu.t += 10.0
            getattr(meter, f"on_{after}")(args, None, None)
    clock.t += 0.25
    meter.on_train_end(args, None, None)
    out = meter.summary()
    assert out["step_time_median_s"] == 2.5 and out["steps_timed"] == 4
    # 4 x 0.5 loading + 10 s of steps + 0.25 at the end; the two 10 s gaps (and the loading inside them) are out
    assert out["train_time_s"] == 2 * 0.5 + 10.0 + 0.25
    # the CPU time over the same window: the gaps' CPU time is out as well
    assert out["train_cpu_s"] == 2 * 0.25 + 10.0
    assert out["cpu_share"] == round(10.5 / (11.25 * torch.get_num_threads()), 3)
    assert out["device"] == "cpu" and out["peak_memory_mb"] > 0


def test_a_real_trainer_run_records_its_cost(tmp_path):
    model = tiny_bert(seed=0)
    g = torch.Generator().manual_seed(0)
    rows = [{"input_ids": torch.randint(5, 100, (12,), generator=g), "attention_mask": torch.ones(12, dtype=torch.long),
             "labels": int(torch.randint(0, 2, (), generator=g))} for _ in range(24)]
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=4,
                             eval_strategy="steps", eval_steps=3, save_strategy="no", report_to="none",
                             use_cpu=True, disable_tqdm=True, logging_steps=100)
    meter = CostMeter()
    trainer = Trainer(model=model, args=args, train_dataset=rows, eval_dataset=rows[:8], callbacks=[meter])
    trainer.train()
    out = meter.summary()
    assert out["steps_timed"] == 6
    assert out["step_time_median_s"] > 0 and 0 < sum(meter.step_times) <= out["train_time_s"]
    assert 1 <= out["peak_memory_mb"] <= rss_high_water_mb() * 1.1   # the kernel folds RSS counters lazily
    assert out["device"] == "cpu" and set(out) >= {"step_time_median_s", "train_time_s", "peak_memory_mb", "device"}
    assert 0 < out["train_cpu_s"] and 0 < out["cpu_share"] <= 1.5   # CPU time over threads x wall
