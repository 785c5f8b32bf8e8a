"""GLUE metrics as GLUE defines them (and as `evaluate`'s glue metric computes them), in percent:
accuracy; F1 (binary, positive class 1) and accuracy for MRPC and QQP; Matthews correlation for CoLA;
Pearson and Spearman correlation for STS-B. `combined_score` is their mean where a task has two, as
run_glue reports it (STS-B's "average correlation" in the paper's Table 1)."""
from __future__ import annotations

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

METRICS = {
    "cola": ("matthews_correlation",),
    "sst2": ("accuracy",),
    "mrpc": ("accuracy", "f1"),
    "stsb": ("pearson", "spearmanr"),
    "qqp": ("accuracy", "f1"),
    "mnli": ("accuracy",),
    "qnli": ("accuracy",),
    "rte": ("accuracy",),
}


def _value(name: str, preds: np.ndarray, labels: np.ndarray) -> float:
    if name == "accuracy":
        return float((preds == labels).mean())
    if name == "f1":
        return float(f1_score(labels, preds))
    if name == "matthews_correlation":
        return float(matthews_corrcoef(labels, preds))
    if np.all(preds == preds[0]):  # a constant prediction has no correlation (scipy warns and returns nan)
        return 0.0
    if name == "pearson":
        return float(pearsonr(preds, labels)[0])
    if name == "spearmanr":
        return float(spearmanr(preds, labels)[0])
    raise KeyError(name)


def glue_metrics(task: str, predictions, labels) -> dict[str, float]:
    preds, labels = np.asarray(predictions), np.asarray(labels)
    out = {name: 100 * _value(name, preds, labels) for name in METRICS[task]}
    if len(out) > 1:
        out["combined_score"] = float(np.mean(list(out.values())))
    return out
