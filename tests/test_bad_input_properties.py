"""Property-based tests (hypothesis) of what a user types: a budget label and AdaLoRA's schedule knobs either
resolve to something sensible or end in AdaLoRAError with one line, never another exception."""
import math

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from adalora import AdaLoRAError
from adalora.budget import parse_budget, resolve_budget
from adalora.schedule import budget_at, resolve_steps, validate_schedule
from conftest import tiny_bert

NUMBER = st.one_of(st.integers(-10**6, 10**9).map(str),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.decimals(min_value=0, max_value=10**6, places=4).map(str))
LABELS = st.one_of(
    st.text(max_size=12),
    st.tuples(st.sampled_from(["", " ", "-", "+", "."]), NUMBER, st.sampled_from(["", " ", "%", "k", "K", "m", "M",
                                                                                 "G", "%%", "e3", " %"]))
    .map("".join),
    st.integers(-10, 10**9), st.floats(allow_nan=True, allow_infinity=True), st.none(), st.booleans(),
)


def one_line(err: Exception) -> bool:
    return "\n" not in str(err) and str(err).strip() != ""


@given(LABELS)
@example("nan%")
@example("1e400")
@example(float("nan"))
@example(float("inf"))
@example("99999999999999999999999999999999999999999999M")
@example("0.0000000000000000001%")
@settings(max_examples=400, deadline=None)
def test_a_budget_label_parses_to_a_positive_amount_or_one_clear_line(label):
    try:
        budget = parse_budget(label)
    except AdaLoRAError as err:
        assert one_line(err)
        return
    if budget.share is not None:
        assert budget.count is None and 0 < budget.share <= 1
    else:
        assert isinstance(budget.count, int) and budget.count >= 1
    assert "%" not in budget.slug and "/" not in budget.slug
    assert parse_budget(budget.label) == budget  # the label it keeps is itself a valid label, naming the same budget


MODEL = tiny_bert()


@given(LABELS, st.sampled_from(["lora", "adalora", "houlsby", "pfeiffer", "bitfit", "full", "prefix"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_budget_resolves_to_a_size_of_at_least_one_or_one_clear_line(label, method):
    try:
        resolution = resolve_budget(label, MODEL, method)
    except AdaLoRAError as err:
        assert one_line(err)
        return
    assert all(isinstance(v, int) and v >= 1 for v in resolution.sizes.values())
    if "target_rank" in resolution.sizes:
        assert resolution.sizes["init_rank"] >= resolution.sizes["target_rank"]
    assert resolution.params > 0


KNOB = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                 st.none(), st.booleans())


@given(KNOB, st.integers(1, 10**6))
@example(float("nan"), 100)
@example(float("inf"), 100)
@example(1e300, 100)
@settings(max_examples=400, deadline=None)
def test_a_schedule_knob_is_a_step_count_or_one_clear_line(value, total):
    try:
        steps = resolve_steps(value, total, "method.t_init")
    except AdaLoRAError as err:
        assert one_line(err) and "method.t_init" in str(err)
        return
    assert isinstance(steps, int) and steps >= 0
    if isinstance(value, float) and value < 1:
        assert steps <= total


@given(st.integers(0, 500), st.integers(0, 500), st.integers(-5, 1000), st.integers(1, 50), st.integers(0, 64),
       st.integers(0, 64))
@settings(max_examples=400, deadline=None)
def test_a_schedule_that_validates_gives_a_budget_falling_from_b0_to_bT(t_init, t_final, total, delta_t, b_target,
                                                                        b_extra):
    try:
        validate_schedule(t_init, t_final, total)
    except AdaLoRAError as err:
        assert one_line(err) and (total <= 0 or t_init + t_final >= total)
        return
    assert t_init + t_final < total
    b0 = b_target + b_extra
    budgets = [budget_at(t, init_budget=b0, target_budget=b_target, t_init=t_init, t_final=t_final,
                         total_steps=total, delta_t=delta_t)[0] for t in range(total)]
    assert budgets[0] == b0
    if t_final >= 1:  # the final phase holds b(T) (with t_final = 0 the cubic ends one step short of it)
        assert budgets[-1] == b_target
    assert all(b_target <= b <= b0 for b in budgets)
    assert all(a >= b for a, b in zip(budgets, budgets[1:]))  # never rises


@given(st.floats(min_value=0, max_value=0.999999), st.integers(1, 10**6))
def test_a_share_below_one_never_exceeds_the_run(share, total):
    assume(math.isfinite(share))
    assert 0 <= resolve_steps(share, total, "method.t_final") <= total
