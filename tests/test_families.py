"""Every adapter method on every model family the paper uses (BERT/MiniLM, DeBERTa-v2/v3, BART with encoder,
decoder and cross attention): the update is exactly zero at init, and merged outputs equal unmerged ones."""
import copy

import pytest
import torch

import adalora
from conftest import tiny_bart, tiny_bert, tiny_deberta

IDS = torch.randint(3, 100, (3, 9), generator=torch.Generator().manual_seed(0))


def outputs(model, ids=IDS):
    with torch.no_grad():
        return model(input_ids=ids).logits

FAMILIES = {"bert": (tiny_bert, 12), "deberta": (tiny_deberta, 12), "bart": (tiny_bart, 2 * 6 + 2 * 10)}
METHODS = {
    "adalora": lambda: adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=16, t_init=1, t_final=2, total_steps=10),
    "lora": lambda: adalora.LoRA(rank=3, alpha=8),
    "prune-lora": lambda: adalora.PruneLoRA(init_rank=4, target_rank=2, alpha=16, t_init=1, t_final=2, total_steps=10),
    "svd-lora": lambda: adalora.AdaLoRA(init_rank=3, target_rank=3, alpha=16, allocate=False),
}


@torch.no_grad()
def perturb(handle, seed=1):
    """Move every adapter off its init (as training would) and prune some components, so merging has work to do."""
    g = torch.Generator().manual_seed(seed)
    for p in handle.adapter_parameters():
        p.add_(torch.randn(p.shape, generator=g) * 0.3)
    if hasattr(handle, "set_rank_mask") and handle.allocator.allocate:
        mask = {name: (torch.rand(layer.r, generator=g) > 0.4).tolist() for name, layer in handle.layers.items()}
        mask[next(iter(mask))] = [False] * handle.layers[next(iter(mask))].r  # one matrix keeps rank 0
        handle.set_rank_mask(mask)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_update_is_zero_at_init(family, method):
    build, n = FAMILIES[family]
    base = build()
    model = copy.deepcopy(base)
    handle = adalora.attach(model, METHODS[method]())
    assert len(handle.layers) == n
    torch.testing.assert_close(outputs(model), outputs(base), rtol=0, atol=0)


def test_bart_adapts_encoder_decoder_and_cross_attention():
    handle = adalora.attach(tiny_bart(), METHODS["adalora"]())
    names = list(handle.layers)
    for part, count in (("encoder.layers.", 12), (".self_attn.", 4 * 4), (".encoder_attn.", 4 * 2), ("decoder.layers.", 20)):
        assert sum(part in n for n in names) == count, part


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("method", METHODS)
def test_merged_equals_unmerged_and_unmerge_restores(family, method):
    build, _ = FAMILIES[family]
    model = build()
    handle = adalora.attach(model, METHODS[method]())
    perturb(handle)
    weights = {n: l.weight.detach().clone() for n, l in handle.layers.items()}
    unmerged = outputs(model)
    assert (unmerged - outputs(build())).abs().max() > 1e-3      # the adapters change the outputs well above 1e-5
    assert adalora.merge(model) == len(handle.layers) and adalora.is_merged(model)
    # float32: W x + B (A x) and (W + B A) x round differently; through BART's 4 layers and LM head that reaches
    # ~2e-5 on some logits (the adapters move them by > 1e-3, so a wrong merge still fails)
    torch.testing.assert_close(outputs(model), unmerged, atol=5e-5, rtol=1e-5)
    adalora.unmerge(model)
    assert not adalora.is_merged(model)
    for name, layer in handle.layers.items():
        torch.testing.assert_close(layer.weight, weights[name], atol=1e-6, rtol=0)
    torch.testing.assert_close(outputs(model), unmerged, atol=5e-5, rtol=1e-5)
