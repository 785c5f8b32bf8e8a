"""Pure statistics for table cells and claims: mean ± sample std over seeds, and paired comparisons by seed.

A comparison of method A against method B on one task and budget pairs their runs by seed (the same seed gives both
the same data order and the same initial head). For the per-seed differences d_s = A_s − B_s it gives:

- the mean difference and a bootstrap 95% confidence interval of it (percentile method over resamples of the seeds;
  for up to `EXACT_BOOTSTRAP_MAX` seeds the bootstrap distribution is enumerated exactly, every multiset of seeds
  with its multinomial probability, so the interval has no Monte-Carlo noise and no random seed);
- the paired t-test (scipy.stats.ttest_rel, two-sided) and the Wilcoxon signed-rank test (scipy.stats.wilcoxon,
  two-sided, exact distribution where scipy uses it). With 5 seeds the Wilcoxon test cannot go below p = 2/32 =
  0.0625, so it can support but never establish a difference on its own;
- the smallest true mean difference the paired t-test detects with 80% power at α = 0.05 (two-sided), given the
  observed SD of the differences and the number of seeds (noncentral t; `detectable_difference`).

`holm` adjusts a family of p-values (Holm 1979, step-down; adjusted p = max over the earlier steps of
(m − i + 1) p_(i), capped at 1): a result is called significant only on its Holm-adjusted p.
"""
from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

TEST_NAME = "paired t-test"
MIN_SEEDS = 3
ALPHA = 0.05
POWER = 0.8
CONFIDENCE = 0.95
EXACT_BOOTSTRAP_MAX = 8       # C(15, 8) = 6,435 multisets: enumerated; above, `BOOTSTRAP_RESAMPLES` drawn
BOOTSTRAP_RESAMPLES = 20_000
BOOTSTRAP_SEED = 0


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


def _common(a: dict[int, float], b: dict[int, float], min_seeds: int) -> tuple[int, ...] | None:
    if len(a) < min_seeds or len(b) < min_seeds:
        return None
    seeds = tuple(sorted(set(a) & set(b)))
    return seeds if len(seeds) >= min_seeds else None


def _constant(diffs: list[float]) -> bool:
    return statistics.stdev(diffs) <= 1e-9 * max(1.0, abs(statistics.fmean(diffs)))


def paired_t_test(a: dict[int, float], b: dict[int, float], min_seeds: int = MIN_SEEDS) -> PairedTest | None:
    """Two-sided paired t-test of a against b over the seeds both ran (scipy.stats.ttest_rel); None unless both
    have at least `min_seeds` seeds and share at least `min_seeds`."""
    seeds = _common(a, b, min_seeds)
    if seeds is None:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    mean_diff = statistics.fmean(diffs)
    if _constant(diffs):
        return PairedTest(seeds, mean_diff, None, None)
    result = stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds])
    t, p = float(result.statistic), float(result.pvalue)
    return PairedTest(seeds, mean_diff, t if math.isfinite(t) else None, p if math.isfinite(p) else None)


# --- the bootstrap -----------------------------------------------------------------------------------------------
def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The q-quantile of a discrete distribution (the smallest value whose cumulative weight reaches q)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w) / w.sum()
    return float(v[min(int(np.searchsorted(cum, q - 1e-12)), len(v) - 1)])


def bootstrap_distribution(values) -> tuple[np.ndarray, np.ndarray]:
    """(means, probabilities) of the bootstrap distribution of the mean: exact for up to EXACT_BOOTSTRAP_MAX
    values (every multiset of n draws with replacement, probability n! / (Π c_i!) / n^n), else BOOTSTRAP_RESAMPLES
    resamples drawn with a fixed seed, each of probability 1 / resamples."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n <= EXACT_BOOTSTRAP_MAX:
        means, probs = [], []
        log_norm = math.lgamma(n + 1) - n * math.log(n)
        for combo in itertools.combinations_with_replacement(range(n), n):
            counts = np.bincount(combo, minlength=n)
            means.append(float(counts @ x) / n)
            probs.append(math.exp(log_norm - sum(math.lgamma(c + 1) for c in counts)))
        return np.asarray(means), np.asarray(probs)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    return x[idx].mean(axis=1), np.full(BOOTSTRAP_RESAMPLES, 1.0 / BOOTSTRAP_RESAMPLES)


def bootstrap_ci(values, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (at least 2 values)."""
    means, probs = bootstrap_distribution(values)
    tail = (1 - confidence) / 2
    return _weighted_quantile(means, probs, tail), _weighted_quantile(means, probs, 1 - tail)


# --- power ---------------------------------------------------------------------------------------------------------
def t_test_power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided one-sample (paired) t-test with n pairs to detect a true mean difference `effect`
    when the differences have standard deviation `sd` (noncentral t with n − 1 degrees of freedom)."""
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    nc = effect / sd * math.sqrt(n)
    lower = stats.nct.cdf(-crit, df, nc)      # NaN far in the tail (scipy), where it is 0 to double precision
    return float(stats.nct.sf(crit, df, nc) + (lower if math.isfinite(lower) else 0.0))


def detectable_difference(sd: float, n: int, power: float = POWER, alpha: float = ALPHA) -> float | None:
    """The smallest true mean difference the paired t-test detects with `power` (two-sided, level alpha), for
    differences of standard deviation `sd` over n seeds; None for n < 2 or sd = 0."""
    if n < 2 or not sd or not math.isfinite(sd):
        return None
    return float(optimize.brentq(lambda d: t_test_power(d, sd, n, alpha) - power, 1e-9 * sd, 1e3 * sd, xtol=1e-12 * sd))


# --- a paired comparison with everything ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Paired:
    seeds: tuple[int, ...]
    diffs: tuple[float, ...]        # a − b per seed
    mean_diff: float
    ci: tuple[float, float]         # bootstrap 95% interval of the mean difference
    sd: float                       # sample SD of the differences
    t: float | None
    p_t: float | None               # paired t-test, two-sided (None where every difference is the same)
    p_wilcoxon: float | None        # Wilcoxon signed-rank, two-sided (None where every difference is 0)
    detectable: float | None        # the difference the t-test finds with 80% power at alpha 0.05 given sd, n
    p_holm: float | None = None     # set by `with_holm` over the comparison's family

    @property
    def n(self) -> int:
        return len(self.seeds)


def paired(a: dict[int, float], b: dict[int, float], min_seeds: int = MIN_SEEDS) -> Paired | None:
    """A against B over the seeds both ran; None unless both have and share at least `min_seeds` seeds."""
    seeds = _common(a, b, min_seeds)
    if seeds is None:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    return one_sample(diffs, seeds)


def one_sample(diffs, seeds=None, null: float = 0.0) -> Paired:
    """The same statistics for values against a fixed `null` (e.g. a share against the uniform allocation's)."""
    d = [float(x) - null for x in diffs]
    seeds = tuple(seeds) if seeds is not None else tuple(range(1, len(d) + 1))
    mean = statistics.fmean(d)
    sd = statistics.stdev(d) if len(d) > 1 else 0.0
    if len(d) > 1 and not _constant(d):
        res = stats.ttest_1samp(d, 0.0)
        t, p_t = float(res.statistic), float(res.pvalue)
    else:
        t = p_t = None
    p_w = float(stats.wilcoxon(d).pvalue) if any(x != 0 for x in d) and len(d) > 1 else None
    ci = bootstrap_ci(d) if len(d) > 1 else (mean, mean)
    return Paired(seeds, tuple(d), mean, ci, sd, t, p_t, p_w, detectable_difference(sd, len(d)))


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values; None entries (no test) are left out of the family and
    stay None."""
    index = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(index)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(index, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def with_holm(tests: list[Paired | None]) -> list[Paired | None]:
    """The family's tests with `p_holm` set (Holm over the paired t-tests' p of the tests present)."""
    adjusted = holm([t.p_t if t is not None else None for t in tests])
    return [None if t is None else Paired(**{**t.__dict__, "p_holm": q}) for t, q in zip(tests, adjusted)]
