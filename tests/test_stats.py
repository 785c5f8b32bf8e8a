"""The statistics behind every claim (runners/tables/stats.py), against values known independently: hand-computed
Holm adjustments, the Wilcoxon test's exact distribution, the t-test's formula, the bootstrap against its definition
and against scipy.stats.bootstrap, the power of the t-test against a simulation and the normal approximation."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from runners.tables import stats


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = stats.holm([0.5, None, 0.6])
    assert adjusted[1] is None and adjusted[0] == pytest.approx(1.0) and adjusted[2] == pytest.approx(1.0)
    assert stats.holm([0.02]) == [0.02] and stats.holm([]) == []


def test_paired_t_and_wilcoxon_against_their_formulas():
    a = {1: 80.0, 2: 81.0, 3: 82.5, 4: 79.0, 5: 80.5}
    b = {1: 79.0, 2: 79.5, 3: 80.0, 4: 79.5, 5: 78.5, 6: 10.0}   # seed 6 has no partner: left out
    r = stats.paired(a, b)
    d = [1.0, 1.5, 2.5, -0.5, 2.0]
    mean, sd = sum(d) / 5, math.sqrt(sum((x - 1.3) ** 2 for x in d) / 4)
    t = mean / (sd / math.sqrt(5))
    assert r.seeds == (1, 2, 3, 4, 5) and r.diffs == pytest.approx(d) and r.mean_diff == pytest.approx(mean)
    assert r.sd == pytest.approx(sd) and r.t == pytest.approx(t)
    assert r.p_t == pytest.approx(2 * sps.t.sf(t, 4))
    # Wilcoxon: |d| ranks 2, 3, 5, 1, 4; the negative one has rank 1, so W = min(14, 1) = 1; of the 32 equally likely
    # sign patterns, those with W <= 1 are {}, {1} on either side: 4 of 32 -> p = 0.125
    assert r.p_wilcoxon == pytest.approx(4 / 32)


def test_five_seeds_all_one_way_give_wilcoxon_its_floor():
    r = stats.paired({s: 1.0 + s for s in range(1, 6)}, {s: 0.0 for s in range(1, 6)})
    assert r.p_wilcoxon == pytest.approx(2 / 32)


def test_too_few_or_unshared_seeds_give_no_test():
    assert stats.paired({1: 1.0, 2: 2.0}, {1: 0.0, 2: 0.0}) is None
    assert stats.paired({1: 1.0, 2: 2.0, 3: 3.0}, {4: 0.0, 5: 0.0, 6: 0.0}) is None
    same = stats.paired({1: 1.5, 2: 2.5, 3: 3.5}, {1: 0.5, 2: 1.5, 3: 2.5})
    assert same.t is None and same.p_t is None and same.mean_diff == pytest.approx(1.0) and same.detectable is None


def test_exact_bootstrap_by_definition():
    means, probs = stats.bootstrap_distribution([0.0, 1.0])
    table = sorted(zip(means.tolist(), probs.tolist()))
    assert [m for m, _ in table] == [0.0, 0.5, 1.0] and [p for _, p in table] == pytest.approx([0.25, 0.5, 0.25])
    means, probs = stats.bootstrap_distribution([3.0, 1.0, 4.0, 1.5, 9.0])
    assert len(means) == math.comb(9, 5) and probs.sum() == pytest.approx(1.0)
    assert float(means @ probs) == pytest.approx(np.mean([3.0, 1.0, 4.0, 1.5, 9.0]))   # E[bootstrap mean] = mean
    assert stats.bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)


def test_bootstrap_interval_agrees_with_scipys_resampling():
    x = [1.0, 1.5, 2.5, -0.5, 2.0]
    low, high = stats.bootstrap_ci(x)
    ref = sps.bootstrap((np.array(x),), np.mean, method="percentile", n_resamples=200_000,
                        random_state=np.random.default_rng(1)).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.05) and high == pytest.approx(ref.high, abs=0.05)
    many = list(np.random.default_rng(2).normal(1.0, 2.0, size=12))      # above the exact limit: resampled
    low, high = stats.bootstrap_ci(many)
    ref = sps.bootstrap((np.array(many),), np.mean, method="percentile", n_resamples=200_000,
                        random_state=np.random.default_rng(3)).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.05) and high == pytest.approx(ref.high, abs=0.05)


def test_detectable_difference_has_80_percent_power():
    d = stats.detectable_difference(sd=1.0, n=5)
    assert stats.t_test_power(d, 1.0, 5) == pytest.approx(0.8, abs=1e-6)
    # a simulation of the paired t-test at that difference rejects about 80% of the time
    rng = np.random.default_rng(0)
    samples = rng.normal(d, 1.0, size=(40_000, 5))
    rejected = (sps.ttest_1samp(samples, 0.0, axis=1).pvalue < 0.05).mean()
    assert rejected == pytest.approx(0.8, abs=0.01)
    # many seeds: the normal approximation (z_0.975 + z_0.8) sd / sqrt(n)
    big = stats.detectable_difference(sd=2.0, n=400)
    assert big == pytest.approx((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) * 2.0 / 20, rel=0.01)
    assert stats.detectable_difference(sd=1.0, n=5) == pytest.approx(2 * stats.detectable_difference(0.5, 5))


def test_with_holm_sets_the_adjusted_p_over_the_family():
    tests = [stats.one_sample([0.1, 0.3, 0.2, 0.5, 0.4]), None, stats.one_sample([0.3, -0.2, 0.1, 0.0, -0.1])]
    adjusted = stats.with_holm(tests)
    assert adjusted[1] is None
    ps = [tests[0].p_t, tests[2].p_t]
    assert [adjusted[0].p_holm, adjusted[2].p_holm] == pytest.approx(stats.holm(ps))
    assert adjusted[0].p_holm == pytest.approx(2 * min(ps))


def test_one_sample_against_a_null():
    r = stats.one_sample([40.0, 42.0, 44.0], null=100 / 3)
    assert r.mean_diff == pytest.approx(42.0 - 100 / 3)
    assert r.p_t == pytest.approx(sps.ttest_1samp([40.0, 42.0, 44.0], 100 / 3).pvalue)
