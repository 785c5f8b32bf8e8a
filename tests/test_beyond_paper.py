"""Issue 17's options of AdaLoRA beyond the paper: re-enabling masked triplets (reactivation) and two importance
scores (a lower confidence bound Ī - kappa Ū, and empirical Fisher). Off by default: the paper's behaviour is pinned
by tests/test_behaviour_unchanged.py."""
import json

import pytest
import torch

import adalora
from conftest import tiny_bert
from test_cli import run_cli


def _attach(**spec):
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(**{"init_rank": 2, "target_rank": 1, "t_init": 0, "t_final": 0,
                                                     "delta_t": 1, "total_steps": 100, **spec}))
    return model, handle, handle.allocator


def _fake_grads(alloc, value: float = 1e-3) -> None:
    for p in alloc.params:
        p.grad = torch.full_like(p, value)


def test_fisher_scores_the_smoothed_squared_sensitivity():
    _, _, alloc = _attach(importance="fisher")
    with torch.no_grad():
        for p in alloc.params:
            p.normal_()
    _fake_grads(alloc, 0.5)
    alloc.update_scores()
    for p, ema in zip(alloc.params, alloc.ema_ipt):
        torch.testing.assert_close(ema, (1 - 0.85) * (p * 0.5) ** 2)
    assert alloc.ema_unc == []     # no uncertainty term


def test_lower_confidence_bound_trusts_noisy_sensitivity_less():
    _, _, lcb = _attach(importance="lower_confidence", importance_kappa=0.5)
    _, _, paper = _attach()
    for alloc in (lcb, paper):
        alloc._ipt_flat.copy_(torch.linspace(0.1, 1.0, alloc._size))
        alloc._unc_flat.copy_(torch.linspace(1.0, 0.0, alloc._size))
    lcb.triplet_scores(), paper.triplet_scores()
    ipt, unc = lcb._ipt_flat, lcb._unc_flat
    torch.testing.assert_close(lcb._elem, torch.clamp(ipt - 0.5 * unc, min=0))
    torch.testing.assert_close(paper._elem, ipt * unc)
    assert not torch.equal(lcb.triplet_scores().argsort(), paper.triplet_scores().argsort())


@pytest.mark.parametrize("reactivation", [True, False])
def test_a_triplet_pruned_early_can_return_and_the_budget_holds(reactivation):
    _, handle, alloc = _attach(reactivation=reactivation)
    with torch.no_grad():
        for e in alloc.E:
            e.fill_(1.0)
    keep = torch.ones(alloc.init_budget, dtype=torch.bool)
    keep[0] = False                                   # the first matrix's first triplet, pruned
    alloc.keep = keep
    alloc.apply(keep)
    first = alloc.order[0]
    for _ in range(20):                               # its λ's gradient is large: the loss wants it back
        _fake_grads(alloc)
        alloc.E[first].grad[0] = 5.0
        alloc.update_scores()
    budget = alloc.target_budget + 3
    again = alloc.mask_for_budget(budget)
    assert int(again.sum()) == budget                 # the budget is met exactly either way
    assert bool(again[0]) is reactivation             # it returns only with reactivation


def test_reactivation_trains_to_the_target_budget(repo, tmp_path):
    done = run_cli(repo, tmp_path, "task=sst2", "method=adalora-reactivation", "budget=2k", "model=tiny-bert",
                   "task.data_dir=data/glue/sst2", "task.max_train_samples=48", "task.max_eval_samples=16",
                   "trainer.max_steps=8", "trainer.save_strategy=no", "trainer.disable_tqdm=true",
                   "trainer.per_device_train_batch_size=8", "method.t_init=1", "method.t_final=2", "method.delta_t=1")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(next((tmp_path / "runs").rglob("seed1.json")).read_text())
    assert record["config"]["method"]["reactivation"] is True
    assert sum(record["rank_pattern"].values()) == record["budget"]["sizes"]["target_rank"] * 12


def test_reactivation_needs_singular_values():
    with pytest.raises(adalora.AdaLoRAError, match="no λ"):
        from adalora.methods.adalora.allocator import RankAllocator

        model = tiny_bert()
        handle = adalora.attach(model, adalora.PruneLoRA(init_rank=2, target_rank=1))
        spec = handle.spec
        spec.reactivation = True
        RankAllocator(list(handle.layers.items()), spec)
