"""The budget schedule (ALGORITHM.md §4, §17.2) and the step-count convention."""
import pytest

from adalora import AdaLoRAError
from adalora.schedule import budget_at, resolve_steps, validate_schedule

KW = dict(init_budget=144, target_budget=72, t_init=10, t_final=20, total_steps=100, delta_t=5)


def test_phase_boundaries_follow_the_code():
    assert budget_at(10, **KW) == (144, False)                       # b(t_i) = b0, no masking
    assert budget_at(11, **KW)[0] < 144                               # b(t_i + 1) < b0
    assert budget_at(80, **KW) == (72, True)                          # b(T - t_f) = bT, a mask step (80 % 5 == 0)
    assert budget_at(81, **KW) == (72, True)                          # final phase masks every step
    assert budget_at(99, **KW) == (72, True)


def test_budget_is_non_increasing_and_masks_only_every_delta_t():
    budgets = [budget_at(t, **KW) for t in range(100)]
    assert all(a[0] >= b[0] for a, b in zip(budgets, budgets[1:]))
    for t, (_, mask) in enumerate(budgets):
        if t <= 10:
            assert not mask
        elif t <= 80:
            assert mask == (t % 5 == 0)
        else:
            assert mask


def test_cubic_value_matches_the_formula():
    # t = 30: (1 - 20/70)^3 = 0.3644..., 72 + 72 * 0.3644 = 98.24 -> int 98
    assert budget_at(30, **KW)[0] == int(72 + 72 * (1 - 20 / 70) ** 3) == 98


@pytest.mark.parametrize("value,expected", [(100, 100), (0, 0), (0.1, 100), (0.25, 250), (300.0, 300)])
def test_steps_are_counts_or_shares(value, expected):
    assert resolve_steps(value, 1000, "t_init") == expected


@pytest.mark.parametrize("value", [-1, 2.5, "ten", True])
def test_bad_step_values_are_refused(value):
    with pytest.raises(AdaLoRAError):
        resolve_steps(value, 1000, "t_init")


def test_schedule_that_does_not_fit_names_the_values():
    with pytest.raises(AdaLoRAError, match=r"t_init \(8\) \+ t_final \(4\).*12 optimizer steps"):
        validate_schedule(8, 4, 12)
    validate_schedule(7, 4, 12)
