"""AdaLoRA's invariants (ALGORITHM.md §17) on a tiny BERT."""
import torch

import adalora
from adalora.methods.adalora.model import AdaLoRAHandle
from adalora.methods.adalora.regularizer import orthogonal_regularizer
from conftest import clone, tiny_bert

IDS = torch.randint(0, 100, (4, 10), generator=torch.Generator().manual_seed(0))


def attach(model, **kw):
    spec = dict(init_rank=4, target_rank=2, alpha=16, t_init=2, t_final=4, delta_t=2, total_steps=20)
    spec.update(kw)
    return adalora.attach(model, adalora.AdaLoRA(**spec))


def train(model, handle, steps, lr=1e-2, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for t in range(steps):
        ids, y = torch.randint(0, 100, (8, 10), generator=g), torch.randint(0, 2, (8,), generator=g)
        loss = model(input_ids=ids, labels=y).loss + handle.regularizer()
        loss.backward()
        opt.step()
        handle.step(t)
        opt.zero_grad()
    return opt


def test_update_is_zero_at_init():
    base = tiny_bert()
    model = clone(base)
    attach(model)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=IDS).logits, base(input_ids=IDS).logits, rtol=0, atol=0)


def test_only_adapters_and_head_train():
    model = tiny_bert()
    handle = attach(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in trainable if "lora_" in n or n.startswith("classifier.")}
    assert len(handle.layers) == 12  # 2 layers x 6 matrices
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.endswith(".weight") and "lora_" not in n
                   and not n.startswith("classifier."))


def test_mask_keeps_exactly_the_budget_and_zeroes_the_rest():
    model = tiny_bert()
    handle = attach(model, total_steps=40, t_init=2, t_final=10, delta_t=1)
    train(model, handle, steps=6)
    alloc = handle.allocator
    budget, _ = alloc.budget(5)
    scores = alloc.triplet_scores()
    tau = torch.kthvalue(scores, alloc.init_budget - budget).values
    kept = int((scores > tau).sum())
    assert kept == budget  # no ties with continuous scores
    assert sum(handle.rank_pattern().values()) == budget
    zeroed = torch.cat([l.lora_E.view(-1) for l in handle.layers.values()]) == 0
    assert int(zeroed.sum()) == alloc.init_budget - budget


def test_final_phase_freezes_scores_and_pattern():
    model = tiny_bert()
    handle = attach(model, total_steps=30, t_init=3, t_final=10, delta_t=2)
    train(model, handle, steps=21)                      # through step T - t_f = 20
    alloc = handle.allocator
    frozen = [t.clone() for t in alloc.ema_ipt + alloc.ema_unc]
    mask = handle.rank_mask()
    g = torch.Generator().manual_seed(5)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for t in range(21, 30):
        ids, y = torch.randint(0, 100, (8, 10), generator=g), torch.randint(0, 2, (8,), generator=g)
        (model(input_ids=ids, labels=y).loss + handle.regularizer()).backward()
        opt.step()
        handle.step(t)
        opt.zero_grad()
        for name, layer in handle.layers.items():   # pruned λ read 0 at every forward pass
            pruned = ~torch.tensor(mask[name])
            assert torch.all(layer.lora_E.view(-1)[pruned] == 0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, alloc.ema_ipt + alloc.ema_unc))
    assert handle.rank_mask() == mask
    assert sum(handle.rank_pattern().values()) == alloc.target_budget


def test_scaling_is_alpha_over_initial_rank_after_pruning():
    model = tiny_bert()
    handle = attach(model, alpha=16, init_rank=4)
    train(model, handle, steps=20)
    for layer in handle.layers.values():
        assert layer.scaling / (layer.ranknum.item() + 1e-5) == 16 / (4 + 1e-5)
        x = torch.randn(3, layer.in_features)
        expected = x @ layer.weight.T + layer.bias + (x @ (layer.lora_A * layer.lora_E).T @ layer.lora_B.T) * 16 / (4 + 1e-5)
        torch.testing.assert_close(layer(x), expected)


def test_code_form_regulariser_is_the_mean_of_unsquared_norms():
    model = tiny_bert()
    handle = attach(model, orth_reg_weight=0.3)
    layers = list(handle.layers.values())
    norms = []
    for l in layers:
        norms.append(torch.linalg.norm(l.lora_A @ l.lora_A.T - torch.eye(l.r)))
        norms.append(torch.linalg.norm(l.lora_B.T @ l.lora_B - torch.eye(l.r)))
    torch.testing.assert_close(handle.regularizer(), 0.3 * torch.stack(norms).mean())
    torch.testing.assert_close(orthogonal_regularizer(layers, "paper"), (torch.stack(norms) ** 2).sum())


def test_regulariser_gradient_reaches_the_scores():
    model = tiny_bert()
    handle = attach(model)
    handle.regularizer().backward()
    assert all(l.lora_A.grad is not None and l.lora_A.grad.abs().sum() > 0 for l in handle.layers.values())


def test_merge_equals_unmerged():
    model = tiny_bert()
    handle = attach(model)
    train(model, handle, steps=8)
    model.eval()
    with torch.no_grad():
        before = model(input_ids=IDS).logits
        for layer in handle.layers.values():
            layer.merge()
        torch.testing.assert_close(model(input_ids=IDS).logits, before, atol=1e-5, rtol=0)


def test_resume_from_handle_state_mid_budget_phase_matches_uninterrupted():
    kw = dict(total_steps=30, t_init=3, t_final=10, delta_t=2)
    torch.manual_seed(3)
    a = tiny_bert(seed=1)
    b = clone(a)
    ha = attach(a, **kw)
    torch.manual_seed(3)
    hb = attach(b, **kw)
    with torch.no_grad():
        for pa, pb in zip(a.parameters(), b.parameters()):
            pb.copy_(pa)
    # uninterrupted
    train(a, ha, steps=30, seed=9)
    # interrupted at step 12 (budget phase), state saved and restored into a fresh handle
    opt_b = torch.optim.AdamW([p for p in b.parameters() if p.requires_grad], lr=1e-2)
    g = torch.Generator().manual_seed(9)
    for t in range(30):
        if t == 12:
            state, opt_state = hb.state_dict(), opt_b.state_dict()
            hb = AdaLoRAHandle(b, hb.spec, hb.layers)
            hb.load_state_dict(state)
            opt_b = torch.optim.AdamW([p for p in b.parameters() if p.requires_grad], lr=1e-2)
            opt_b.load_state_dict(opt_state)
        b.train()
        ids, y = torch.randint(0, 100, (8, 10), generator=g), torch.randint(0, 2, (8,), generator=g)
        (b(input_ids=ids, labels=y).loss + hb.regularizer()).backward()
        opt_b.step()
        hb.step(t)
        opt_b.zero_grad()
    assert ha.rank_mask() == hb.rank_mask()
    for la, lb in zip(ha.layers.values(), hb.layers.values()):
        assert torch.equal(la.lora_E, lb.lora_E)
