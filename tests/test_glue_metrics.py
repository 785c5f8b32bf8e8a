"""GLUE metrics against values worked out by hand from their definitions."""
import math

import pytest

from tasks.metrics.glue import glue_metrics


def test_accuracy():
    assert glue_metrics("rte", [0, 1, 1, 0], [0, 1, 0, 0]) == {"accuracy": 75.0}


def test_f1_and_accuracy_for_mrpc():
    # preds 1,1,0,0 vs labels 1,0,1,0: tp=1 fp=1 fn=1 -> P=R=0.5, F1=0.5; accuracy 0.5
    out = glue_metrics("mrpc", [1, 1, 0, 0], [1, 0, 1, 0])
    assert out == {"accuracy": 50.0, "f1": 50.0, "combined_score": 50.0}


def test_matthews_for_cola():
    # tp=2 tn=1 fp=1 fn=0: (2*1 - 1*0) / sqrt(3*2*2*1) = 2/sqrt(12)
    out = glue_metrics("cola", [1, 1, 1, 0], [1, 1, 0, 0])
    assert out["matthews_correlation"] == pytest.approx(100 * 2 / math.sqrt(12))
    assert glue_metrics("cola", [1, 1, 1, 1], [1, 0, 1, 0])["matthews_correlation"] == 0.0


def test_pearson_spearman_for_stsb():
    # y = 2x + 1 is perfectly correlated; a monotone non-linear map keeps Spearman at 1
    out = glue_metrics("stsb", [1.0, 2.0, 3.0, 4.0], [3.0, 5.0, 7.0, 9.0])
    assert out["pearson"] == pytest.approx(100) and out["spearmanr"] == pytest.approx(100)
    out = glue_metrics("stsb", [1.0, 2.0, 3.0], [1.0, 4.0, 9.0])
    # pearson of (1,2,3) and (1,4,9): cov = 8/3 * ... computed: r = 0.98974...
    assert out["pearson"] == pytest.approx(100 * 0.9897433186107869)
    assert out["spearmanr"] == pytest.approx(100)
    assert out["combined_score"] == pytest.approx((out["pearson"] + out["spearmanr"]) / 2)
