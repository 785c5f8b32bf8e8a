"""Misuse a caller can fix ends with one AdaLoRAError whose message is one line saying what to change."""
import pytest
import torch

import adalora
from adalora.methods.adalora.model import AdaLoRAHandle
from conftest import tiny_bert


def one_line_error(match, call):
    with pytest.raises(adalora.AdaLoRAError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("spec", [adalora.AdaLoRA(init_rank=4, target_rank=2, targets=["qkv"]),
                                  adalora.LoRA(targets=["qkv"]), adalora.PruneLoRA(init_rank=4, target_rank=2, targets=r"nothing\..*")],
                         ids=["adalora", "lora", "prune-lora"])
def test_no_module_matched_the_targets(spec):
    message = one_line_error("no module matched the targets", lambda: adalora.attach(tiny_bert(), spec))
    assert "bert.encoder.layer.0.attention.self.query" in message  # shows what the names look like


@pytest.mark.parametrize("cls", [adalora.AdaLoRA, adalora.PruneLoRA])
@pytest.mark.parametrize("target", [4, 6])
def test_target_rank_must_be_below_the_initial_rank(cls, target):
    one_line_error(f"target_rank={target} must be at least 1 and below init_rank=4", lambda: cls(init_rank=4, target_rank=target))


def test_target_total_rank_must_be_below_the_initial_budget():
    one_line_error(r"target budget 48 must lie between 1 and the initial budget 48 \(= 12 matrices x init_rank 4\)",
                   lambda: adalora.attach(tiny_bert(), adalora.AdaLoRA(init_rank=4, target_rank=2, target_total_rank=48)))


@pytest.mark.parametrize("cls", [adalora.AdaLoRA, adalora.PruneLoRA])
def test_schedule_longer_than_the_run(cls):
    one_line_error(r"t_init \(6\) \+ t_final \(4\) must be below the 10 optimizer steps",
                   lambda: adalora.attach(tiny_bert(), cls(init_rank=4, target_rank=2, t_init=6, t_final=4, total_steps=10)))
    handle = adalora.attach(tiny_bert(), cls(init_rank=4, target_rank=2, t_init=0.5, t_final=0.5))
    one_line_error(r"t_init \(0.5 -> 50 steps\) \+ t_final \(0.5 -> 50 steps\) must be below the 100",
                   lambda: handle.set_total_steps(100))


@pytest.mark.parametrize("cls", [adalora.AdaLoRA, adalora.PruneLoRA])
def test_stepping_before_the_total_steps_are_known(cls):
    model = tiny_bert()
    handle = adalora.attach(model, cls(init_rank=4, target_rank=2))
    model(input_ids=torch.ones(2, 4, dtype=torch.long), labels=torch.ones(2, dtype=torch.long)).loss.backward()
    one_line_error(r"needs the run's total steps: call handle.set_total_steps\(T\)", lambda: handle.step(0))


def test_svd_lora_needs_no_total_steps():
    handle = adalora.attach(tiny_bert(), adalora.AdaLoRA(init_rank=4, target_rank=4, allocate=False))
    handle.step(0)  # nothing to schedule


def test_loading_a_state_from_different_modules():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, total_steps=10, t_init=1, t_final=2))
    other = adalora.attach(tiny_bert(), adalora.AdaLoRA(init_rank=4, target_rank=2, targets=["query", "key"],
                                                       total_steps=10, t_init=1, t_final=2))
    one_line_error("allocator state belongs to a different set of adapted modules", lambda: other.load_state_dict(handle.state_dict()))
    wider = adalora.attach(tiny_bert(), adalora.AdaLoRA(init_rank=6, target_rank=2, total_steps=10, t_init=1, t_final=2))
    one_line_error(r"resume with the same ranks", lambda: wider.load_state_dict(handle.state_dict()))
    state = handle.state_dict()
    state["allocator"]["ema_unc"] = []
    one_line_error("different importance setting", lambda: AdaLoRAHandle(model, handle.spec, handle.layers).load_state_dict(state))


@pytest.mark.parametrize("kwargs,match", [
    (dict(importance="entropy"), "importance='entropy' is not one of"),
    (dict(reg_form="squared"), "reg_form='squared' is not one of"),
    (dict(score_weights="mid"), "score_weights='mid' is not one of"),
    (dict(beta2=1.0), "beta2=1.0 must lie strictly between 0 and 1"),
    (dict(orth_reg_weight=-0.1), "orth_reg_weight=-0.1 must be >= 0"),
    (dict(delta_t=0), "delta_t=0 must be a positive integer"),
    (dict(init_rank=0), "init_rank=0 must be a positive integer"),
])
def test_bad_spec_fields(kwargs, match):
    one_line_error(match, lambda: adalora.AdaLoRA(**{"init_rank": 4, "target_rank": 2, **kwargs}))


def test_lora_regu_fields():
    one_line_error("orth_reg_weight=-1 must be >= 0", lambda: adalora.LoRA(orth_reg_weight=-1))
    one_line_error("reg_form='x' is not one of", lambda: adalora.LoRA(reg_form="x"))


def test_an_unknown_spec_is_refused():
    one_line_error("is not a method spec", lambda: adalora.attach(tiny_bert(), object()))
