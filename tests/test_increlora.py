"""IncreLoRA (Zhang et al., 2023, arXiv 2308.12043) against the paper's description: rank is added at the schedule's
steps to the matrices with the highest (per-matrix mean) importance score, the run ends at AdaLoRA's final budget
exactly, added components start as advance learning says (trained P, Q; λ from the reserve value), each added
component restarts a warm-up, inactive components hold zero and change nothing, and a resumed run ends as the
uninterrupted one."""
import json

import pytest
import torch
from datasets import Dataset
from omegaconf import OmegaConf
from transformers import default_data_collator

import adalora
from adalora.methods.increlora.layer import IncreLoRALinear
from conftest import tiny_bert
from runners.training import MethodTrainer, training_arguments
from test_cli import run_cli


def _batch(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(5, 100, (8, 8), generator=g), torch.randint(0, 2, (8,), generator=g)


def _loop(model, handle, steps, opt=None, lr=1e-2, on_step=None):
    """A plain training loop driving the handle as the suite's Trainer does."""
    model.train()
    opt = opt or torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    x, y = _batch()
    for t in range(steps):
        (model(input_ids=x, labels=y).loss + handle.regularizer()).backward()
        handle.before_optimizer_step(t)
        opt.step()
        handle.step(t)
        if on_step is not None:
            on_step(t)
        opt.zero_grad()
    return opt


def _attach(**spec):
    torch.manual_seed(0)
    model = tiny_bert()
    base = dict(init_rank=4, target_rank=2, t_init=2, delta_t=2, top_h=3, total_steps=16, restart_warmup=3, rank_step=1)
    return model, adalora.attach(model, adalora.IncreLoRA(**{**base, **spec}))


def test_inactive_components_change_neither_the_output_nor_any_gradient():
    base = torch.nn.Linear(6, 5)
    layer = IncreLoRALinear(base, capacity=4, alpha=4.0, reserve_lambda=1e-5)
    with torch.no_grad():
        for p in (layer.lora_A, layer.lora_E, layer.lora_B):
            p.normal_()                                  # inactive entries not even zero
    layer.set_state(torch.tensor([True, True, False, False]), torch.tensor([False, False, True, False]))
    x = torch.randn(3, 6)
    s = 4.0 / (2 + 1e-5)                                 # alpha / (active rank + 1e-5), the authors' ranknum
    lam = torch.cat([layer.lora_E[:2, 0].detach(), torch.tensor([1e-5, 0.0])])
    expected = base(x) + s * x @ (layer.lora_B @ torch.diag(lam) @ layer.lora_A).T
    torch.testing.assert_close(layer(x), expected)
    layer(x).sum().backward()
    assert layer.lora_A.grad[3].abs().sum() == 0 and layer.lora_B.grad[:, 3].abs().sum() == 0
    assert layer.lora_E.grad[2:].abs().sum() == 0        # a reserve's λ is fixed, an inactive one unused
    assert layer.lora_A.grad[2].abs().sum() > 0          # the reserve's P and Q learn (advance learning)


def test_inactive_components_are_held_at_zero_through_training():
    model, handle = _attach()
    for layer in handle.layers.values():                 # at attach: start_rank active, rank_step reserves
        assert layer.r == 1 and layer.reserve.view(-1).tolist() == [0, 1, 0, 0]
        assert layer.lora_A[2:].abs().sum() == 0 and layer.lora_B[:, 2:].abs().sum() == 0
    seen = []

    def check(t):
        for layer in handle.layers.values():
            dead = ~layer.live()
            seen.append(bool(layer.lora_A[dead].abs().sum() == 0 and layer.lora_B[:, dead].abs().sum() == 0
                             and layer.lora_E[layer.active.view(-1) == 0].abs().sum() == 0))
    _loop(model, handle, 16, on_step=check)
    assert all(seen)
    assert all(not layer.reserve.any() for layer in handle.layers.values())   # reserves cleared at the budget
    report = handle.parameter_report()
    unit = sum(l.in_features + l.out_features for l in handle.layers.values())
    assert report["adapter"] == 4 * (unit + 12)          # the allocated capacity, init_rank x (in + out + 1)
    assert report["live_trainable"] == sum(l.r * (l.in_features + l.out_features + 1) for l in handle.layers.values())
    assert report["live_trainable"] < report["peak_live_trainable"] < report["adapter"]


def test_rank_is_added_at_the_intervals_to_the_highest_scoring_matrices():
    model, handle = _attach()
    assert handle.addition_steps == [4, 6, 8, 10]        # t > t_init = 2 with t % delta_t == 0; 12 to add, 3 a time
    chosen, totals = [], []
    add_rank = handle.add_rank

    def spy(t):
        scores = handle.module_scores()
        before = handle.rank_pattern()
        add_rank(t)
        grown = [i for i, (n, r) in enumerate(handle.rank_pattern().items()) if r > before[n]]
        top = sorted(range(len(scores)), key=lambda i: -scores[i])
        eligible = [i for i in top if before[handle.names[i]] < handle.capacity][:3]
        chosen.append((t, sorted(grown), sorted(eligible)))
    handle.add_rank = spy
    _loop(model, handle, 16, on_step=lambda t: totals.append(sum(handle.rank_pattern().values())))
    assert [c[0] for c in chosen] == [4, 6, 8, 10]
    for t, grown, top in chosen:
        assert grown == top                              # exactly the top_h matrices by score got rank
    assert totals == [12] * 4 + [15, 15, 18, 18, 21, 21] + [24] * 6   # rank changes only at the addition steps
    assert len(set(handle.rank_pattern().values())) > 1  # allocated unevenly


def test_the_score_is_the_smoothed_sensitivity_of_the_update_matrix():
    """I_k = Σ|ΔW ⊙ ∂L/∂ΔW| / sqrt(out x in) with ∂L/∂ΔW as autograd gives it for a materialised ΔW (the authors'
    hook), smoothed as AdaLoRA's: Ī = (1 - b1) I, Ū = (1 - b2) |I - Ī| from zero; S = Ī Ū."""
    model, handle = _attach()
    layer = list(handle.layers.values())[4]             # intermediate.dense, 32 -> 64
    with torch.no_grad():
        layer.lora_E[0] = 0.3                            # a non-zero update
    model.train()
    x, y = _batch()
    model(input_ids=x, labels=y).loss.backward()
    tracked = layer.update_grad.clone()
    model.zero_grad()
    delta = layer.delta_weight().detach().requires_grad_()
    forward = layer.forward
    layer.forward = lambda inp: torch.nn.functional.linear(inp, layer.weight, layer.bias) + inp @ delta.T
    model(input_ids=x, labels=y).loss.backward()
    layer.forward = forward
    torch.testing.assert_close(tracked, delta.grad, rtol=1e-4, atol=1e-7)
    layer.update_grad = tracked
    expected = (delta.detach() * delta.grad).abs().sum().item() / (layer.in_features * layer.out_features) ** 0.5
    assert handle.sensitivities()[4].item() == pytest.approx(expected, rel=1e-4) and expected > 0
    handle.update_scores()
    ipt = 0.15 * expected
    assert handle.ema_ipt[4].item() == pytest.approx(ipt, rel=1e-4)
    assert handle.module_scores()[4] == pytest.approx(ipt * 0.15 * abs(expected - ipt), rel=1e-4)
    assert layer.update_grad is None


@pytest.mark.parametrize("spec", [dict(), dict(delta_t=1, t_init=0, total_steps=4), dict(rank_step=2, top_h=5),
                                  dict(target_total_rank=17), dict(advance_learning=False),
                                  dict(init_rank=12, target_rank=8, rank_step=None, top_h=6)])
def test_the_run_ends_at_adalora_s_final_budget_exactly(spec):
    model, handle = _attach(**spec)
    if spec.get("rank_step", 1) is None:
        assert handle.rank_step == 4                     # the authors' incre_rank_num for r̄ = 8
        assert all(int(l.reserve.sum()) == 4 for l in handle.layers.values())
    _loop(model, handle, handle.total_steps)
    budget = spec.get("target_total_rank", spec.get("target_rank", 2) * 12)
    assert sum(handle.rank_pattern().values()) == budget == handle.parameter_report()["target_budget"]
    assert max(handle.rank_pattern().values()) <= handle.capacity   # no matrix beyond init_rank


def test_added_components_start_as_advance_learning_says():
    """Advance learning (§3): the reserve's P and Q trained before it is added (λ held at the reserve value); on
    being added it keeps them and its λ starts at that value."""
    model, handle = _attach()
    layers = list(handle.layers.values())
    start = [(l.lora_A[1].detach().clone(), l.lora_B[:, 1].detach().clone()) for l in layers]
    before = {}
    add_rank = handle.add_rank

    def spy(t):
        before.update({k: (l.lora_A[1].detach().clone(), l.lora_B[:, 1].detach().clone())
                       for k, l in enumerate(layers)})
        add_rank(t)
    handle.add_rank = spy
    _loop(model, handle, 5)                              # step 4 adds rank
    grown = [k for k, l in enumerate(layers) if l.r == 2]
    assert len(grown) == 3
    for k in grown:
        l = layers[k]
        assert not torch.equal(before[k][0], start[k][0])      # the reserve trained in advance
        assert not torch.equal(before[k][1], start[k][1])
        assert torch.equal(l.lora_A[1], before[k][0]) and torch.equal(l.lora_B[:, 1], before[k][1])   # kept
        assert l.lora_E[1].item() == pytest.approx(1e-5)       # λ starts from the reserve value
        assert l.reserve.view(-1).tolist() == [0, 0, 1, 0]     # and the next reserve is drawn
    for k, l in enumerate(layers):
        if k not in grown:
            assert l.reserve.view(-1)[1] == 1 and l.lora_E[1].item() == 0


def test_without_advance_learning_an_added_component_starts_at_zero():
    model, handle = _attach(advance_learning=False)
    assert all(not l.reserve.any() for l in handle.layers.values())
    _loop(model, handle, 5)
    for l in handle.layers.values():
        if l.r == 2:
            assert l.lora_E[1].item() == 0 and l.lora_A[1].abs().sum() > 0


def test_an_added_component_restarts_its_warm_up():
    """Restart warmup (§3): the k-th update of a component added at step t is scaled by min(1, (k + 1) / W), W = 3."""
    model, handle = _attach()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    _loop(model, handle, 5, opt=opt)                     # step 4 added rank: the new λ train from step 5 on
    k = next(k for k, l in enumerate(handle.layers.values()) if l.r == 2)
    layer = list(handle.layers.values())[k]
    x, y = _batch()
    for t, factor in ((5, 1 / 3), (6, 2 / 3), (7, 1.0)):
        model(input_ids=x, labels=y).loss.backward()     # no regulariser: the λ step is lr x grad exactly
        lam, old_lam = layer.lora_E.grad[1].item(), layer.lora_E[1].item()
        handle.before_optimizer_step(t)
        opt.step()
        handle.step(t)
        assert layer.lora_E[1].item() == pytest.approx(old_lam - 0.5 * factor * lam, rel=1e-4, abs=1e-9)
        opt.zero_grad()


def _train(folder, **spec):
    torch.manual_seed(0)
    model = tiny_bert()
    handle = adalora.attach(model, adalora.IncreLoRA(**{"init_rank": 4, "target_rank": 2, "t_init": 0, "delta_t": 1,
                                                        "top_h": 4, "restart_warmup": 2, **spec}))
    g = torch.Generator().manual_seed(1)
    data = Dataset.from_dict({"input_ids": torch.randint(5, 100, (48, 8), generator=g).tolist(),
                              "labels": torch.randint(0, 2, (48,), generator=g).tolist()})
    args = training_arguments(OmegaConf.create(dict(learning_rate=1e-2, per_device_train_batch_size=8, max_steps=6,
                                                    save_strategy="steps", save_steps=3, save_total_limit=None,
                                                    report_to="none", disable_tqdm=True, use_cpu=None)), folder, seed=0)
    trainer = MethodTrainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator,
                            handle=handle)
    return model, handle, trainer


@pytest.mark.parametrize("schedule", ["warmup", "authors"])
def test_a_resumed_run_ends_as_the_uninterrupted_one(tmp_path, schedule):
    model, handle, trainer = _train(tmp_path / "run", restart_schedule=schedule)
    assert handle.addition_steps == [1, 2, 3]           # 12 to add, 4 at a time
    trainer.train()
    pattern = handle.rank_pattern()
    assert sum(pattern.values()) == 24
    end = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    model, handle, trainer = _train(tmp_path / "run", restart_schedule=schedule)
    trainer.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-3"))
    assert handle.rank_pattern() == pattern and handle.warned is None
    for n, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p, end[n], rtol=0, atol=0)


def test_increlora_through_the_cli_is_sized_like_adalora(repo, tmp_path):
    done = run_cli(repo, tmp_path, "task=sst2", "method=increlora", "budget=2k", "model=tiny-bert",
                   "task.data_dir=data/glue/sst2", "task.max_train_samples=32", "task.max_eval_samples=16",
                   "trainer.max_steps=4", "trainer.save_strategy=no", "trainer.disable_tqdm=true",
                   "method.t_init=0", "method.delta_t=1")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "runs/tiny-bert/sst2/increlora/2k/seed1.json").read_text())
    assert record["budget"]["sizes"] == {"target_rank": 2, "init_rank": 4}
    assert sum(record["rank_pattern"].values()) == 2 * 12 and len(record["rank_pattern"]) == 12
    params = record["params"]
    assert params["target_budget"] == 24 and params["kept_rank"] == 24
    assert params["start_budget"] == 12 and params["live_trainable"] <= params["peak_live_trainable"]


def test_the_authors_schedule_is_their_per_group_curve():
    """restart_schedule="authors": base lr x (k + 1) / W, then linear decay to zero at T from the component's own
    peak (the authors' Multi_LambdaLR), divided by the run's factor lr / initial_lr so that the update gets it."""
    model, handle = _attach(restart_schedule="authors")   # T = 16, W = 3
    assert handle._factor(10, 10, run=0.5) == pytest.approx((1 / 3) / 0.5)
    assert handle._factor(10, 12, run=0.5) == pytest.approx(1.0 / 0.5)
    assert handle._factor(10, 14, run=0.25) == pytest.approx((2 / 3) / 0.25)    # (T - t) / (T - joined - W)
    assert handle._factor(-1, 14, run=0.25) == 1.0                              # present from the start


def test_a_saved_adapter_loads_with_its_rank_pattern(tmp_path):
    model, handle = _attach()
    _loop(model, handle, 16)
    adalora.save_adapter(model, handle, tmp_path / "adapter", include_state=False)
    fresh = tiny_bert()
    loaded = adalora.load_adapter(fresh, tmp_path / "adapter")
    assert loaded.rank_pattern() == handle.rank_pattern() and loaded.done
    x, _ = _batch()
    model.eval(), fresh.eval()
    torch.testing.assert_close(fresh(input_ids=x).logits, model(input_ids=x).logits)
