"""Pure statistics for table cells: mean ± sample std over seeds, and a paired t-test by seed."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats

TEST_NAME = "paired t-test"
MIN_SEEDS = 3


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float | None   # sample standard deviation (n − 1); None for a single seed
    n: int


def summarize(values) -> Summary | None:
    values = [float(v) for v in values]
    if not values:
        return None
    std = statistics.stdev(values) if len(values) > 1 else None
    return Summary(statistics.fmean(values), std, len(values))


@dataclass(frozen=True)
class PairedTest:
    seeds: tuple[int, ...]
    mean_diff: float         # mean over seeds of (a − b)
    t: float | None          # None where every seed gives the same difference (t is undefined)
    p: float | None          # two-sided


def paired_t_test(a: dict[int, float], b: dict[int, float], min_seeds: int = MIN_SEEDS) -> PairedTest | None:
    """Two-sided paired t-test of a against b over the seeds both ran (scipy.stats.ttest_rel); None unless both
    have at least `min_seeds` seeds and share at least `min_seeds`."""
    if len(a) < min_seeds or len(b) < min_seeds:
        return None
    seeds = tuple(sorted(set(a) & set(b)))
    if len(seeds) < min_seeds:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    mean_diff = statistics.fmean(diffs)
    if statistics.stdev(diffs) <= 1e-9 * max(1.0, abs(mean_diff)):
        return PairedTest(seeds, mean_diff, None, None)
    result = stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds])
    t, p = float(result.statistic), float(result.pvalue)
    return PairedTest(seeds, mean_diff, t if math.isfinite(t) else None, p if math.isfinite(p) else None)
