"""The paper's ablations (Tables 4 and 5) as library options and method configs, each checked against an
independent computation: sensitivity only, |λ| magnitude, γ = 0, the paper's regulariser, SVD-LoRA, Prune-LoRA,
LoRA_regu, and pre- versus post-update scoring."""
import copy

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

import adalora
from adalora.methods.adalora.regularizer import orthogonal_regularizer
from conftest import tiny_bert
from runners.cli import CONF
from runners.methods import budget_record, budget_slug, build_spec

SCHEDULE = dict(t_init=2, t_final=4, delta_t=2, total_steps=16)


def batches(seed=0):
    g = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randint(0, 100, (8, 10), generator=g), torch.randint(0, 2, (8,), generator=g)


class ManualScores:
    """Ī and Ū kept by hand, entry by entry, from the same weights and gradients the handle sees."""

    def __init__(self, params, b1=0.85, b2=0.85):
        self.params, self.b1, self.b2 = params, b1, b2
        self.ipt = [torch.zeros_like(p) for p in params]
        self.unc = [torch.zeros_like(p) for p in params]

    def update(self, weights):
        for k, (w, p) in enumerate(zip(weights, self.params)):
            sens = (w * p.grad).abs()
            self.ipt[k] = self.b1 * self.ipt[k] + (1 - self.b1) * sens
            self.unc[k] = self.b2 * self.unc[k] + (1 - self.b2) * (sens - self.ipt[k]).abs()


def drive(model, handle, steps, *, lr=1e-2, seed=0, hook=None, start=0, opt=None, before_forward=None):
    """The training loop of a user: loss + regulariser, backward, optimizer step, handle.step, zero_grad.
    `hook(t, pre_weights)` runs after optimizer.step() and before handle.step(t); `before_forward(t)` first."""
    opt = opt or torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    data = batches(seed)
    for _ in range(start):
        next(data)
    model.train()
    for t in range(start, start + steps):
        if before_forward:
            before_forward(t)
        ids, y = next(data)
        (model(input_ids=ids, labels=y).loss + handle.regularizer()).backward()
        handle.before_optimizer_step(t)
        pre = [p.detach().clone() for p in handle.adapter_parameters()]
        opt.step()
        if hook:
            hook(t, pre)
        handle.step(t)
        opt.zero_grad()
    return opt


def expected_triplet_scores(handle, per_entry):
    """S_i = s(λ_i) + mean_j s(Q_ij) + mean_j s(P_ji) (doublets: no λ term), flat in the allocator's order."""
    alloc = handle.allocator
    n = alloc.n
    s_a, s_b = per_entry[:n], per_entry[len(per_entry) - n:]
    s_e = per_entry[n:2 * n] if alloc.has_E else None
    out = []
    for i in alloc.order:
        score = s_a[i].mean(dim=1) + s_b[i].mean(dim=0)
        if s_e is not None:
            score = score + s_e[i].view(-1)
        out.append(score)
    return torch.cat(out)


# --- Table 4: importance variants ----------------------------------------------------------------------------
@pytest.mark.parametrize("importance", ["sensitivity_uncertainty", "sensitivity"])
def test_scores_match_a_hand_computed_ema(importance):
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=16, importance=importance,
                                                   **SCHEDULE))
    manual = ManualScores(handle.adapter_parameters())
    drive(model, handle, 7, hook=lambda t, pre: manual.update(handle.adapter_parameters()))
    per_entry = ([i * u for i, u in zip(manual.ipt, manual.unc)] if importance == "sensitivity_uncertainty"
                 else manual.ipt)  # sensitivity only: s = Ī (the smoothed sensitivity), ALGORITHM.md §3
    torch.testing.assert_close(handle.allocator.triplet_scores(), expected_triplet_scores(handle, per_entry),
                               rtol=1e-5, atol=1e-12)
    assert (handle.allocator.ema_unc == []) == (importance == "sensitivity")


def test_magnitude_keeps_the_largest_singular_values():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=16, importance="magnitude",
                                                   **SCHEDULE))
    seen = {}

    def before_mask(t, pre):
        if t == 4:  # a masking step of the budget phase (t_init < 4 <= T - t_final, 4 % delta_t == 0)
            seen["lam"] = torch.cat([handle.layers[handle.allocator.names[i]].lora_E.detach().view(-1).abs()
                                     for i in handle.allocator.order])
    drive(model, handle, 5, hook=before_mask)
    budget, masking = handle.allocator.budget(4)
    assert masking and handle.allocator.ema_ipt == []
    expected_keep = seen["lam"] > torch.kthvalue(seen["lam"], handle.allocator.init_budget - budget).values
    assert torch.equal(handle.allocator.keep, expected_keep) and int(expected_keep.sum()) == budget


# --- Table 5: components -------------------------------------------------------------------------------------
def test_gamma_zero_has_no_regulariser():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, orth_reg_weight=0.0, **SCHEDULE))
    reg = handle.regularizer()
    assert reg.item() == 0 and not reg.requires_grad


def test_paper_regulariser_is_the_sum_of_squared_norms():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, orth_reg_weight=0.5,
                                                   reg_form="paper", **SCHEDULE))
    norms = [torch.linalg.norm(l.lora_A @ l.lora_A.T - torch.eye(4)) ** 2 + torch.linalg.norm(
        l.lora_B.T @ l.lora_B - torch.eye(4)) ** 2 for l in handle.layers.values()]
    torch.testing.assert_close(handle.regularizer(), 0.5 * torch.stack(norms).sum())


def test_svd_lora_regularises_but_never_masks():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=3, target_rank=3, alpha=16, allocate=False,
                                                   orth_reg_weight=0.1, t_init=1, t_final=2, delta_t=1))
    layers = list(handle.layers.values())
    torch.testing.assert_close(handle.regularizer(), 0.1 * orthogonal_regularizer(layers, "code"))
    assert handle.regularizer().requires_grad
    drive(model, handle, 12)  # no total steps needed: there is no schedule
    assert all(bool((l.lora_E != 0).all()) for l in layers)
    assert handle.rank_pattern() == {name: 3 for name in handle.layers}
    assert handle.allocator.ema_ipt == [] and handle.allocator.history == []


def test_lora_regu_regularises_a_and_b_and_plain_lora_does_not():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.LoRA(rank=2, orth_reg_weight=0.3))
    drive(model, handle, 2)  # B leaves zero
    norms = []
    for l in handle.layers.values():
        norms += [torch.linalg.norm(l.lora_A @ l.lora_A.T - torch.eye(2)), torch.linalg.norm(l.lora_B.T @ l.lora_B - torch.eye(2))]
    torch.testing.assert_close(handle.regularizer(), 0.3 * torch.stack(norms).mean())
    assert adalora.attach(tiny_bert(), adalora.LoRA(rank=2)).regularizer().item() == 0


# --- Table 4: Prune-LoRA -------------------------------------------------------------------------------------
def test_prune_lora_scores_doublets_and_zeroes_a_rows_and_b_columns():
    model = tiny_bert()
    spec = adalora.PruneLoRA(init_rank=4, target_rank=2, alpha=16, t_init=2, t_final=6, delta_t=2, total_steps=20)
    handle = adalora.attach(model, spec)
    assert all(isinstance(l, adalora.LoRALinear) and l.r == 4 and l.scaling == 16 / 4 for l in handle.layers.values())
    manual = ManualScores(handle.adapter_parameters())
    seen = {}

    def hook(t, pre):
        manual.update(handle.adapter_parameters())
        if t == 6:
            seen["scores"] = expected_triplet_scores(handle, [i * u for i, u in zip(manual.ipt, manual.unc)])
    drive(model, handle, 7, hook=hook)
    alloc = handle.allocator
    budget, masking = alloc.budget(6)
    assert masking and budget < alloc.init_budget
    tau = torch.kthvalue(seen["scores"], alloc.init_budget - budget).values
    expected_keep = seen["scores"] > tau
    torch.testing.assert_close(alloc.triplet_scores(), seen["scores"], rtol=1e-5, atol=1e-12)
    assert torch.equal(alloc.keep, expected_keep) and int(expected_keep.sum()) == budget
    for name, keep in handle.rank_mask().items():
        layer, pruned = handle.layers[name], ~torch.tensor(keep)
        assert torch.all(layer.lora_A[pruned] == 0) and torch.all(layer.lora_B[:, pruned] == 0)
        assert torch.all(layer.lora_A[~pruned].abs().sum(1) > 0)


def test_prune_lora_final_phase_is_fixed_and_pruned_doublets_stay_zero():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.PruneLoRA(init_rank=4, target_rank=2, alpha=16, t_init=2, t_final=6,
                                                     delta_t=2, total_steps=20))
    opt = drive(model, handle, 15)                            # through the first final-phase step (T - t_f = 14)
    mask = handle.rank_mask()
    assert sum(map(sum, mask.values())) == handle.allocator.target_budget
    frozen = [t.clone() for t in handle.allocator.ema_ipt + handle.allocator.ema_unc]
    moved = []

    def zero_at_forward(t):
        for name, keep in mask.items():
            pruned = ~torch.tensor(keep)
            assert torch.all(handle.layers[name].lora_A[pruned] == 0), t
            assert torch.all(handle.layers[name].lora_B[:, pruned] == 0), t

    def after_update(t, pre):  # Adam's retained momentum moves a zeroed doublet between two masks
        moved.append(any(bool((handle.layers[n].lora_A[~torch.tensor(k)] != 0).any()) for n, k in mask.items()))
    drive(model, handle, 5, start=15, opt=opt, before_forward=zero_at_forward, hook=after_update)
    zero_at_forward(20)
    assert any(moved)
    assert handle.rank_mask() == mask
    assert all(torch.equal(a, b) for a, b in zip(frozen, handle.allocator.ema_ipt + handle.allocator.ema_unc))


def test_prune_lora_refuses_magnitude():
    with pytest.raises(adalora.AdaLoRAError, match="importance='magnitude' is not one of"):
        adalora.PruneLoRA(importance="magnitude")


# --- pre- versus post-update scoring -------------------------------------------------------------------------
def test_pre_and_post_scores_differ_and_each_matches_its_weights():
    results = {}
    for weights in ("post", "pre"):
        torch.manual_seed(0)
        model = tiny_bert()
        handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=16, score_weights=weights,
                                                       **SCHEDULE))
        manual = ManualScores(handle.adapter_parameters())
        drive(model, handle, 3, lr=0.05,
              hook=lambda t, pre: manual.update(pre if weights == "pre" else handle.adapter_parameters()))
        for mine, theirs in zip(handle.allocator.ema_ipt, manual.ipt):
            torch.testing.assert_close(mine, theirs, rtol=1e-6, atol=1e-12)
        results[weights] = torch.cat([t.view(-1) for t in handle.allocator.ema_ipt])
    assert not torch.allclose(results["pre"], results["post"], rtol=1e-3, atol=0)


def test_pre_update_scoring_needs_the_snapshot():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, score_weights="pre", **SCHEDULE))
    (model(input_ids=torch.ones(2, 5, dtype=torch.long), labels=torch.ones(2, dtype=torch.long)).loss).backward()
    with pytest.raises(adalora.AdaLoRAError, match=r"call handle.before_optimizer_step\(0\) before optimizer.step"):
        handle.step(0)


# --- method configs ------------------------------------------------------------------------------------------
def compose_method(name, *overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=["task=rte", f"method={name}", *overrides]).method


RANK2 = "1792"  # tiny BERT: one unit of rank costs 2 layers x (4 x 64 + 96 + 96) = 896 parameters

CASES = {
    "adalora-sensitivity": (adalora.AdaLoRA, {"importance": "sensitivity", "target_rank": 2, "init_rank": 4}),
    "adalora-magnitude": (adalora.AdaLoRA, {"importance": "magnitude", "target_rank": 2, "init_rank": 4}),
    "adalora-gamma0": (adalora.AdaLoRA, {"orth_reg_weight": 0.0, "target_rank": 2, "init_rank": 4}),
    "adalora-paper-reg": (adalora.AdaLoRA, {"reg_form": "paper", "orth_reg_weight": 0.1, "target_rank": 2, "init_rank": 4}),
    "adalora-pre-update": (adalora.AdaLoRA, {"score_weights": "pre", "target_rank": 2, "init_rank": 4}),
    "svd-lora": (adalora.AdaLoRA, {"allocate": False, "init_rank": 2, "target_rank": 2, "orth_reg_weight": 0.1}),
    "lora-regu": (adalora.LoRA, {"rank": 2, "orth_reg_weight": 0.1, "reg_form": "code"}),
    "prune-lora": (adalora.PruneLoRA, {"target_rank": 2, "init_rank": 4, "orth_reg_weight": 0.0}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ablation_configs_build_their_spec_at_a_budget(name):
    cls, expected = CASES[name]
    method = compose_method(name)
    assert method.name == name
    spec, resolution = build_spec(method, RANK2, tiny_bert())
    assert type(spec) is cls and resolution is not None
    assert {k: getattr(spec, k) for k in expected} == expected
    base = compose_method(method.get("spec") or name)   # a delta over its base config: nothing else changed
    fields = {k: v for k, v in base.items() if k not in ("name", "spec")}
    changed = {k for k in fields if getattr(spec, k) != fields[k]} - {"target_rank", "init_rank", "rank"}
    assert changed <= set(expected)
    record = budget_record(spec, resolution)
    assert record["label"] == RANK2 and record["sizes"] == {k: v for k, v in expected.items() if "rank" in k}
    assert budget_slug(method, None).startswith("r")
    adalora.attach(tiny_bert(), spec)  # and it attaches


def test_svd_lora_without_a_budget_keeps_its_rank():
    method = compose_method("svd-lora", "method.init_rank=3")
    spec, _ = build_spec(method, None, tiny_bert())
    assert (spec.init_rank, spec.allocate) == (3, False) and budget_slug(method, None) == "r3"
