"""Evaluation on the task's eval splits with the task's own metric code (never inside the model)."""
from __future__ import annotations

import numpy as np

# MNLI's second split is reported with run_glue's "_mm" suffix; any other extra split by its name.
SPLIT_SUFFIX = {"validation_mismatched": "_mm"}


def evaluate(trainer, task, eval_sets: dict) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for i, (split, dataset) in enumerate(eval_sets.items()):
        output = trainer.predict(dataset, metric_key_prefix=split)
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        values = task.compute_metrics(task.predictions(np.asarray(logits)), output.label_ids)
        suffix = "" if i == 0 else SPLIT_SUFFIX.get(split, f"_{split}")
        metrics.update({f"{name}{suffix}": value for name, value in values.items()})
    return metrics
