"""Statistics that let a benchmark verdict survive a rerun: paired ratios of interleaved rounds with a bootstrap
95% confidence interval, and a target that counts as met only when the whole interval is under it.

Why: ten rounds on a shared 2-core machine could not tell 1.01 from 1.09 (issue 13). The variants ran in the same
rounds (interleaved), so a round is the unit of resampling: every bootstrap draw takes whole rounds, both variants'
times together, which keeps what a slow spell did to both of them in the same draw.
"""
from __future__ import annotations

import random
import statistics
from collections.abc import Sequence

RESAMPLES = 4000
SEED = 20261201


def paired_ratio(a: Sequence[float], b: Sequence[float], *, resamples: int = RESAMPLES, level: float = 0.95,
                 seed: int = SEED) -> dict | None:
    """Ratio of medians median(a) / median(b) of paired samples (a[i], b[i] from round i), with a percentile
    bootstrap interval over rounds, and the median of the per-round ratios beside it."""
    pairs = [(x, y) for x, y in zip(a, b) if y]
    n = len(pairs)
    if n == 0:
        return None
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    point = statistics.median(xs) / statistics.median(ys)
    per_round = sorted(x / y for x, y in pairs)
    out = {"ratio": point, "paired_median": statistics.median(per_round), "n": n, "level": level,
           "ci_low": None, "ci_high": None, "method": f"percentile bootstrap over rounds, {resamples} resamples"}
    if n < 3:
        return out
    rng = random.Random(seed)
    draws = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        my = statistics.median(ys[i] for i in idx)
        if my:
            draws.append(statistics.median(xs[i] for i in idx) / my)
    draws.sort()
    tail = (1 - level) / 2
    out["ci_low"] = _quantile(draws, tail)
    out["ci_high"] = _quantile(draws, 1 - tail)
    return out


def ratio_of_totals(a: Sequence[float], b: Sequence[float], **kw) -> dict | None:
    """For whole runs (one number per repetition, a[i] and b[i] from the same repetition): the same estimate."""
    return paired_ratio(a, b, **kw)


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def verdict(estimate: dict | None, goal: float, ci_goal: float | None = None) -> dict:
    """A target met only when the point estimate is at most `goal` and the interval's upper end is under
    `ci_goal` (default: `goal`). Without an interval (too few rounds) a target is never met."""
    ci_goal = goal if ci_goal is None else ci_goal
    if not estimate:
        return {"value": None, "ci": None, "goal": goal, "ci_goal": ci_goal, "met": False,
                "why": "not measured"}
    low, high = estimate.get("ci_low"), estimate.get("ci_high")
    value = estimate["ratio"]
    if high is None:
        met, why = False, "too few rounds for an interval"
    elif value <= goal and high <= ci_goal:
        met, why = True, "point and whole interval under the goal"
    elif value <= goal:
        met, why = False, f"point under the goal but the interval reaches {high:.3f} (> {ci_goal})"
    elif low is not None and low > ci_goal:
        met, why = False, "the whole interval is above the goal"
    else:
        met, why = False, "point above the goal"
    return {"value": value, "ci": [low, high], "goal": goal, "ci_goal": ci_goal, "met": met, "why": why}


def load_verdict(loads: Sequence[float], cores: int, own: int = 1) -> dict:
    """How busy the machine was while the rounds ran (1-minute load averages sampled once a round). The benchmark
    itself keeps `own` cores busy (its torch threads), and they count in the load average; `heavy` when the median
    load reaches the core count or, when the benchmark's own threads fill the cores, its threads + 1: either way
    other jobs then held at least one more core's worth of work (times inflate, and the interleaving can only partly
    pair the slow spells)."""
    limit = max(cores, own + 1)
    if not loads:
        return {"median": None, "max": None, "cores": cores, "limit": limit, "heavy": False, "samples": 0}
    med = statistics.median(loads)
    return {"median": med, "max": max(loads), "cores": cores, "limit": limit, "heavy": med >= limit,
            "samples": len(loads)}
