"""The fast paths keep the numbers: the allocator's flat statistics are bitwise the official code's per-matrix
formulas, and the one-GEMM adapter forward equals the textbook formula, values and gradients."""
import pytest
import torch
from torch import nn

import adalora
from adalora.methods.adalora.allocator import RankAllocator
from adalora.methods.adalora.layer import SVDLinear
from adalora.methods.adalora.regularizer import orthogonal_regularizer
from adalora.methods.lora.layer import LoRALinear

SHAPES = [(16, 16), (16, 40), (40, 16), (16, 16), (40, 16)]  # three shape groups, interleaved


def svd_layers(rank=5, seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(SHAPES):
        layer = SVDLinear(nn.Linear(fan_in, fan_out), rank, alpha=8.0)
        nn.init.normal_(layer.lora_E, std=0.1)
        layers.append((f"m{i}", layer))
    return layers


def reference_scores(params, grads_per_step, b1, b2):
    """The official RankAllocator / PEFT `update_ipt` and `_element_score`, one matrix at a time."""
    ema = [torch.zeros_like(p) for p in params]
    unc = [torch.zeros_like(p) for p in params]
    for grads in grads_per_step:
        for k, (p, g) in enumerate(zip(params, grads)):
            ipt = (p * g).abs()
            ema[k] = b1 * ema[k] + (1 - b1) * ipt
            unc[k] = b2 * unc[k] + (1 - b2) * (ipt - ema[k]).abs()
    return ema, unc


@pytest.mark.parametrize("importance", ["sensitivity_uncertainty", "sensitivity"])
def test_flat_statistics_are_bitwise_the_per_matrix_formulas(importance):
    layers = svd_layers()
    spec = adalora.AdaLoRA(init_rank=5, target_rank=2, beta1=0.85, beta2=0.7, importance=importance)
    alloc = RankAllocator(layers, spec)
    g = torch.Generator().manual_seed(1)
    steps = []
    for _ in range(4):
        grads = [torch.randn(p.shape, generator=g) * 1e-2 for p in alloc.params]
        for p, grad in zip(alloc.params, grads):
            p.grad = grad
        alloc.update_scores()
        steps.append(grads)
    ema, unc = reference_scores([p.detach() for p in alloc.params], steps, 0.85, 0.7)
    assert all(torch.equal(a, b) for a, b in zip(alloc.ema_ipt, ema))
    if importance == "sensitivity_uncertainty":
        assert all(torch.equal(a, b) for a, b in zip(alloc.ema_unc, unc))
    else:
        assert alloc.ema_unc == []

    # Triplet scores as PEFT's mask_to_budget combines them, in the allocator's shape-group order.
    n = len(layers)
    elem = [e * u for e, u in zip(ema, unc)] if importance == "sensitivity_uncertainty" else ema
    per_layer = [elem[n + i].view(-1) + (elem[i].mean(dim=1) + elem[2 * n + i].mean(dim=0)) for i in range(n)]
    expected = torch.cat([per_layer[i] for i in alloc.order])
    torch.testing.assert_close(alloc.triplet_scores(), expected, rtol=0, atol=0)


def test_flat_statistics_resume_through_state_dict():
    layers = svd_layers()
    spec = adalora.AdaLoRA(init_rank=5, target_rank=2)
    a, b = RankAllocator(layers, spec), RankAllocator(layers, spec)
    for p in a.params:
        p.grad = torch.randn_like(p)
    a.update_scores()
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(x, y) for x, y in zip(a.ema_ipt + a.ema_unc, b.ema_ipt + b.ema_unc))
    a.update_scores(), b.update_scores()                       # the loaded values live in b's flat buffers
    assert all(torch.equal(x, y) for x, y in zip(a.ema_ipt + a.ema_unc, b.ema_ipt + b.ema_unc))
    torch.testing.assert_close(a.triplet_scores(), b.triplet_scores(), rtol=0, atol=0)


def _reference_forward(layer, x):
    if isinstance(layer, SVDLinear):
        update = (x @ (layer.lora_A * layer.lora_E).T @ layer.lora_B.T) * layer.scaling / (layer.ranknum + 1e-5)
    else:
        update = (x @ layer.lora_A.T @ layer.lora_B.T) * layer.scaling
    return x @ layer.weight.T.to(x.dtype) + layer.bias.to(x.dtype) + update


@pytest.mark.parametrize("kind", ["svd", "lora"])
def test_one_gemm_forward_matches_the_formula_with_gradients(kind):
    torch.manual_seed(0)
    base = nn.Linear(24, 40)
    layer = SVDLinear(base, 6, alpha=16.0) if kind == "svd" else LoRALinear(base, 6, alpha=16.0)
    with torch.no_grad():                                        # a mid-training adapter: every factor non-zero
        for p in (layer.lora_A, layer.lora_B) + ((layer.lora_E,) if kind == "svd" else ()):
            p.normal_(std=0.3)
    x = torch.randn(3, 7, 24)
    params = [p for n, p in layer.named_parameters() if n.startswith("lora_")]
    out = layer(x)
    grads = torch.autograd.grad(out.square().sum(), params)
    ref = _reference_forward(layer, x)
    ref_grads = torch.autograd.grad(ref.square().sum(), params)
    assert out.shape == (3, 7, 40)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_one_gemm_forward_keeps_a_low_precision_base():
    torch.manual_seed(0)
    layer = SVDLinear(nn.Linear(24, 40).to(torch.bfloat16), 6, alpha=16.0)
    with torch.no_grad():
        layer.lora_E.normal_(std=0.3)
    x = torch.randn(5, 24, dtype=torch.bfloat16)
    out = layer(x)
    assert out.dtype == torch.bfloat16 and layer.lora_A.dtype == torch.float32
    torch.testing.assert_close(out.float(), _reference_forward(layer, x.float()), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize("form", ["code", "paper"])
@pytest.mark.parametrize("batched", [False, True])
def test_regulariser_closed_form_gradient_matches_autograd(form, batched):
    layers = [layer for _, layer in svd_layers()]
    with torch.no_grad():                                    # one exactly orthogonal Q: its norm (and subgradient) is 0
        layers[0].lora_A.zero_()
        layers[0].lora_A[:, :5].copy_(torch.eye(5))
    params = [p for layer in layers for p in (layer.lora_A, layer.lora_B)]
    ours = orthogonal_regularizer(layers, form, batched=batched)
    grads = torch.autograd.grad(ours, params)
    norms = []
    for layer in layers:
        a, b = layer.lora_A, layer.lora_B
        norms += [torch.linalg.norm(a @ a.T - torch.eye(a.shape[0])), torch.linalg.norm(b.T @ b - torch.eye(b.shape[1]))]
    norms = torch.stack(norms)
    ref = norms.mean() if form == "code" else (norms ** 2).sum()
    ref_grads = torch.autograd.grad(ref, params)
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=0)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)
    assert torch.equal(grads[0], torch.zeros_like(grads[0]))


def test_statistics_follow_the_adapters_to_another_device():
    """A trainer moves the model after `attach`: the statistics and masks must go with it (here to `meta`, the one
    other device every machine has)."""
    layers = svd_layers()
    alloc = RankAllocator(layers, adalora.AdaLoRA(init_rank=5, target_rank=2, t_init=1, t_final=2, delta_t=1,
                                                 total_steps=10))
    alloc.set_total_steps(10)
    for p in alloc.params:
        p.grad = torch.randn_like(p)
    alloc.step(2)                                   # a masking step on the CPU: keep now exists there
    for _, layer in layers:
        layer.to("meta")
        for p in (layer.lora_A, layer.lora_E, layer.lora_B):
            p.grad = torch.empty_like(p)
    alloc.step(3)
    assert {t.device.type for t in alloc.ema_ipt + alloc.ema_unc + [alloc.keep]} == {"meta"}


def test_chunked_cpu_update_equals_one_chunk(monkeypatch):
    from adalora.methods.adalora import allocator as module

    spec = adalora.AdaLoRA(init_rank=5, target_rank=2)
    chunked, whole = RankAllocator(svd_layers(), spec), RankAllocator(svd_layers(), spec)
    monkeypatch.setattr(module, "CPU_CHUNK", 100)                        # several chunks for these small layers
    assert len(chunked._ema_plan()) > 3
    monkeypatch.setattr(module, "CPU_CHUNK", 10**9)
    assert len(whole._ema_plan()) == 1
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        for p, q in zip(chunked.params, whole.params):
            p.grad = torch.randn(p.shape, generator=g)
            q.grad = p.grad.clone()
        chunked.update_scores(), whole.update_scores()
    assert all(torch.equal(a, b) for a, b in zip(chunked.ema_ipt + chunked.ema_unc, whole.ema_ipt + whole.ema_unc))


@pytest.mark.parametrize("rank, dim", [(2, 384), (4, 384), (4, 1536), (8, 384), (12, 768), (12, 3072), (4, 64)])
@pytest.mark.parametrize("left", [True, False])
def test_cpu_batched_regulariser_is_bitwise_the_per_matrix_one(rank, dim, left):
    """Stacking a shape group on a CPU (where `batches_on` allows it) changes nothing, to the bit: the model shapes
    of MiniLM and DeBERTa at their budgets' ranks."""
    from adalora.methods.adalora.regularizer import batches_on, gram_deviation_norms

    g = torch.Generator().manual_seed(rank * dim)
    shape = (rank, dim) if left else (dim, rank)
    mats = [(torch.randn(shape, generator=g) * 0.05).requires_grad_() for _ in range(6)]
    assert batches_on(mats[0])
    one = gram_deviation_norms(mats, left, batched=False)
    grads_one = torch.autograd.grad(one.sum(), mats)
    stacked = gram_deviation_norms(mats, left)
    grads_stacked = torch.autograd.grad(stacked.sum(), mats)
    assert torch.equal(one, stacked)
    assert all(torch.equal(a, b) for a, b in zip(grads_one, grads_stacked))


def test_regulariser_inside_a_bf16_autocast_region_is_the_fp32_one():
    """A bf16 forward pass (autocast) may compute the loss, regulariser included: it stays in the adapters' fp32,
    and its backward (outside the region) works."""
    layers = [layer for _, layer in svd_layers()]
    plain = orthogonal_regularizer(layers)
    grads = torch.autograd.grad(plain, [l.lora_A for l in layers])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = orthogonal_regularizer(layers)
    assert inside.dtype == torch.float32 and torch.equal(inside, plain)
    again = torch.autograd.grad(inside, [l.lora_A for l in layers])
    assert all(torch.equal(a, b) for a, b in zip(grads, again))
