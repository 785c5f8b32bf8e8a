"""What a table reads from one result record: a metric (in percent) or a cost, and the parameter count."""
from __future__ import annotations

import statistics

# The squad_v2 metric of `evaluate` names exact match "exact"; the squad one "exact_match".
ALIASES = {"exact_match": ("exact_match", "exact")}


def metric_value(record: dict, metric: str) -> float | None:
    """The value of `metric` in one record, or None where the record does not have it."""
    metrics = record.get("metrics") or {}
    if metric == "accuracy_mean_m_mm":           # Table 5's MNLI column: mean of matched and mismatched
        return _mean(metrics.get("accuracy"), metrics.get("accuracy_mm"))
    if metric == "combined_score" and metrics.get("combined_score") is None:
        return _mean(metrics.get("pearson"), metrics.get("spearmanr"))
    cost = record.get("cost") or {}
    if metric == "time_per_epoch_min":            # training time (records with cost) or the whole run / epochs
        wall, epochs = cost.get("train_time_s", record.get("wall_time_s")), record.get("epochs")
        return wall / 60 / epochs if isinstance(wall, (int, float)) and isinstance(epochs, (int, float)) and epochs > 0 else None
    if metric == "cpu_time_per_epoch_min":        # the process's CPU time in training (records that carry it)
        cpu, epochs = cost.get("train_cpu_s"), record.get("epochs")
        return cpu / 60 / epochs if isinstance(cpu, (int, float)) and isinstance(epochs, (int, float)) and epochs > 0 else None
    if metric == "cpu_share":                     # how much of its cores the run had (runners/cost.py)
        share = cost.get("cpu_share")
        return float(share) if isinstance(share, (int, float)) else None
    if metric == "memory_gb":                     # the training's peak (records with cost; runners/cost.py)
        peak = cost.get("peak_memory_mb")
        return peak / 1024 if isinstance(peak, (int, float)) else None
    for name in ALIASES.get(metric, (metric,)):
        value = metrics.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def task_score(record: dict, metrics: list[str]) -> float | None:
    """One task's share of Table 1's "All": the mean of its columns' metrics (MNLI m/mm, QQP acc/F1)."""
    return _mean(*(metric_value(record, m) for m in metrics))


def adapted_params(record: dict) -> int | None:
    """The parameters a method trains in the backbone (the paper's "#Params"): AdaLoRA's retained P, Q count,
    else the trainable parameters less the classification head."""
    params = record.get("params") or {}
    if isinstance(params.get("retained"), int):
        return params["retained"]
    trainable, head = params.get("trainable"), params.get("head", 0)
    return trainable - head if isinstance(trainable, int) and isinstance(head, int) else None


def pretrained_params(record: dict) -> int | None:
    value = (record.get("params") or {}).get("pretrained")
    return value if isinstance(value, int) and value > 0 else None


def _mean(*values) -> float | None:
    if not values or any(v is None for v in values):
        return None
    return statistics.fmean(float(v) for v in values)
