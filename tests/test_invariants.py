"""Spec §17 invariants not covered elsewhere: the regulariser's gradient is part of what the scores read (§17.6),
and the parameter accounting a record reports (§17.8)."""
import torch

import adalora
from conftest import tiny_bert


def test_scores_read_the_regulariser_gradient():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, orth_reg_weight=0.5, t_init=2,
                                                   t_final=2, total_steps=10))
    params = handle.adapter_parameters()
    ids, y = torch.randint(0, 100, (4, 8)), torch.randint(0, 2, (4,))
    task = model(input_ids=ids, labels=y).loss
    task_grads = torch.autograd.grad(task, params, retain_graph=True, allow_unused=True)
    (task + handle.regularizer()).backward()
    handle.step(0)                                   # scores from the weights and the full gradient, no update
    for ema, p, g_task in zip(handle.allocator.ema_ipt, params, task_grads):
        torch.testing.assert_close(ema, 0.15 * (p.detach() * p.grad).abs())
    # at init λ = 0, so the task loss gives P and Q no gradient: their score is the regulariser's alone
    n = len(handle.layers)
    assert all(g is None or not g.any() for g in task_grads[:n] + task_grads[2 * n:])
    assert all(e.sum() > 0 for e in handle.allocator.ema_ipt[:n] + handle.allocator.ema_ipt[2 * n:])


def test_parameter_report_counts_allocated_retained_and_head():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, t_init=1, t_final=2, total_steps=10))
    g = torch.Generator().manual_seed(0)
    mask = {name: (torch.rand(4, generator=g) > 0.5).tolist() for name in handle.layers}
    handle.set_rank_mask(mask)
    report = handle.parameter_report()
    sizes = {n: (l.in_features, l.out_features) for n, l in handle.layers.items()}
    assert report["adapter"] == sum(4 * (i + o) + 4 for i, o in sizes.values())          # A + B + λ at init rank
    assert report["retained"] == sum(sum(mask[n]) * (i + o) for n, (i, o) in sizes.items())
    assert report["kept_rank"] == sum(map(sum, mask.values()))
    assert report["head"] == sum(p.numel() for p in model.classifier.parameters())
    assert report["trainable"] == report["adapter"] + report["head"]

    prune = adalora.attach(tiny_bert(), adalora.PruneLoRA(init_rank=4, target_rank=2, t_init=1, t_final=2, total_steps=10))
    prune.set_rank_mask(mask)
    report = prune.parameter_report()
    assert report["adapter"] == sum(4 * (i + o) for i, o in sizes.values())                # no λ
    assert report["retained"] == sum(sum(mask[n]) * (i + o) for n, (i, o) in sizes.items())
