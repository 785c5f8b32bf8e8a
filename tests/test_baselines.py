"""The baselines (ALGORITHM.md §8) on every model family: Δ = 0 at init, what trains, where the adapters sit, exact
counts, merging, and one clear error per misuse."""
import pytest
import torch
from torch import nn

import adalora
from adalora.backbone import head_prefixes
from adalora.budget import allocated_parameters, method_parameters
from conftest import FAMILY_MODELS, clone, tiny_bart, tiny_bert

SPECS = {
    "lora": lambda: adalora.LoRA(rank=2, alpha=4),
    "adalora": lambda: adalora.AdaLoRA(init_rank=4, target_rank=2, t_init=2, t_final=4, delta_t=2, total_steps=20),
    "houlsby": lambda: adalora.Houlsby(dim=4),
    "pfeiffer": lambda: adalora.Pfeiffer(dim=4),
    "bitfit": adalora.BitFit,
    "full": adalora.Full,
}
SIZES = {"lora": {"rank": 2}, "adalora": {"target_rank": 2, "init_rank": 4}, "houlsby": {"dim": 4},
         "pfeiffer": {"dim": 4}, "bitfit": {}, "full": {}}


def inputs(family, seed=0):
    ids = torch.randint(3, 100, (3, 9), generator=torch.Generator().manual_seed(seed))
    if family == "bart":
        ids[:, -1] = 2  # eos, where BART's classification head reads
    return {"input_ids": ids}


def logits(model, family, seed=0):
    with torch.no_grad():
        return model(**inputs(family, seed)).logits


def randomise_adapters(model):
    """Give every added parameter non-zero values, so the adapted model differs from the base."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".adapter." in name or "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


@pytest.mark.parametrize("family", FAMILY_MODELS)
@pytest.mark.parametrize("method", SPECS)
def test_update_is_zero_at_init_for_every_method_and_family(family, method):
    base = FAMILY_MODELS[family]()
    model = clone(base)
    handle = adalora.attach(model, SPECS[method]())
    torch.testing.assert_close(logits(model, family), logits(base, family), rtol=0, atol=0)
    report = handle.parameter_report()
    assert report["adapter"] == allocated_parameters(base, method, SIZES[method])  # = method_parameters but AdaLoRA
    assert report["trainable"] == report["adapter"] + report["head"]
    if method not in ("bitfit", "full"):
        randomise_adapters(model)
        assert not torch.allclose(logits(model, family), logits(base, family))


def test_normal_init_is_the_official_path_and_moves_the_output():
    base = tiny_bert()
    model = clone(base)
    adalora.attach(model, adalora.Houlsby(dim=4, init="normal", init_std=0.5))
    assert not torch.allclose(logits(model, "bert"), logits(base, "bert"))


@pytest.mark.parametrize("family", FAMILY_MODELS)
@pytest.mark.parametrize("method", ["houlsby", "pfeiffer", "bitfit", "full"])
def test_what_trains(family, method):
    model = FAMILY_MODELS[family]()
    adalora.attach(model, SPECS[method]())
    heads = tuple(p + "." for p in head_prefixes(model))
    backbone = {n: p.requires_grad for n, p in model.named_parameters() if not n.startswith(heads)}
    assert all(p.requires_grad for n, p in model.named_parameters() if n.startswith(heads))
    trains = {n for n, on in backbone.items() if on}
    if method in ("houlsby", "pfeiffer"):
        assert trains == {n for n in backbone if ".adapter." in n} and trains
        assert not any(on for n, on in backbone.items() if ("LayerNorm" in n or "layer_norm" in n)
                       and ".adapter." not in n)
    elif method == "bitfit":
        assert trains == {n for n in backbone if "bias" in n} and trains
    else:
        assert trains == set(backbone)


def test_adapter_placement_and_counts_per_family():
    sites = {}
    for family, factory in FAMILY_MODELS.items():
        for method in ("houlsby", "pfeiffer"):
            handle = adalora.attach(factory(), SPECS[method]())
            sites[family, method] = sorted(handle.layers)
    assert sites["bert", "houlsby"] == [f"bert.encoder.layer.{i}.{b}.dropout" for i in (0, 1)
                                        for b in ("attention.output", "output")]
    assert sites["deberta", "pfeiffer"] == [f"deberta.encoder.layer.{i}.output.LayerNorm" for i in (0, 1)]
    assert sites["bart", "houlsby"] == sorted(
        [f"model.encoder.layers.{i}.{m}" for i in (0, 1) for m in ("self_attn.out_proj", "fc2")]
        + [f"model.decoder.layers.{i}.{m}" for i in (0, 1) for m in ("self_attn.out_proj", "encoder_attn.out_proj", "fc2")])
    assert sites["bart", "pfeiffer"] == [f"model.{s}.layers.{i}.final_layer_norm" for s in ("decoder", "encoder")
                                         for i in (0, 1)]
    # an adapter on width w with bottleneck d holds (2w + 1) d + w parameters: 32-wide models, d = 4
    assert method_parameters(tiny_bert(), "houlsby", {"dim": 4}) == 4 * (65 * 4 + 32)
    assert method_parameters(tiny_bart(), "houlsby", {"dim": 4}) == 10 * (65 * 4 + 32)


def test_bart_classification_head_is_never_adapted():
    model = tiny_bart(head="classification")
    for spec in (adalora.Houlsby(dim=2), adalora.LoRA(rank=1)):
        m = clone(model)
        adalora.attach(m, spec)
        assert type(m.classification_head.out_proj) is nn.Linear


def _block_io(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 5, 64, generator=g), torch.randn(2, 5, 32, generator=g)


def test_bert_blocks_compute_the_official_formulas():
    """Houlsby: LN(h + A(h) + x); Pfeiffer: LN(h + A(LN(h + x)) + x), with h = dropout(dense(.)) (ALGORITHM.md §8)."""
    houlsby, pfeiffer = tiny_bert(), tiny_bert()
    adalora.attach(houlsby, adalora.Houlsby(dim=4))
    adalora.attach(pfeiffer, adalora.Pfeiffer(dim=4))
    randomise_adapters(houlsby)
    randomise_adapters(pfeiffer)
    ffn_in, x = _block_io()
    with torch.no_grad():
        block = houlsby.bert.encoder.layer[0].output
        h = block.dense(ffn_in)
        want = torch.nn.functional.layer_norm(h + block.dropout.adapter(h) + x, (32,), block.LayerNorm.weight,
                                              block.LayerNorm.bias, block.LayerNorm.eps)
        torch.testing.assert_close(block(ffn_in, x), want)
        attn = houlsby.bert.encoder.layer[1].attention.output
        h = attn.dense(x)
        want = torch.nn.functional.layer_norm(h + attn.dropout.adapter(h) + x, (32,), attn.LayerNorm.weight,
                                              attn.LayerNorm.bias, attn.LayerNorm.eps)
        torch.testing.assert_close(attn(x, x), want)
        block = pfeiffer.bert.encoder.layer[0].output
        ln = lambda s: torch.nn.functional.layer_norm(s, (32,), block.LayerNorm.weight, block.LayerNorm.bias,
                                                      block.LayerNorm.eps)
        h = block.dense(ffn_in)
        torch.testing.assert_close(block(ffn_in, x), ln(h + block.LayerNorm.adapter(ln(h + x)) + x))


@pytest.mark.parametrize("method", ["houlsby", "pfeiffer"])
def test_bart_ffn_sublayer_computes_the_formula(method):
    """In the real BART layer forward: x = fc1's input (the residual), h = fc2's output without adapter."""
    model = tiny_bart()
    adalora.attach(model, SPECS[method]())
    randomise_adapters(model)
    layer = model.model.decoder.layers[1]
    seen = {}
    layer.fc1.register_forward_hook(lambda m, a, out: seen.update(x=a[0]))
    layer.fc2.register_forward_hook(lambda m, a, out: seen.update(z=a[0]))
    layer.final_layer_norm.register_forward_hook(lambda m, a, out: seen.update(out=out))
    logits(model, "bart")
    norm = layer.final_layer_norm
    ln = lambda s: torch.nn.functional.layer_norm(s, (32,), norm.weight, norm.bias, norm.eps)
    with torch.no_grad():
        x, h = seen["x"], torch.nn.functional.linear(seen["z"], layer.fc2.weight, layer.fc2.bias)
        if method == "houlsby":
            want = ln(x + h + layer.fc2.adapter(h))
        else:
            want = ln(h + norm.adapter(ln(h + x)) + x)
    torch.testing.assert_close(seen["out"], want)


@pytest.mark.parametrize("family", FAMILY_MODELS)
@pytest.mark.parametrize("method", ["lora", "adalora"])
def test_merged_outputs_equal_unmerged(family, method):
    model = FAMILY_MODELS[family]()
    handle = adalora.attach(model, SPECS[method]())
    randomise_adapters(model)
    before = logits(model, family)
    for layer in handle.layers.values():
        layer.merge()
    torch.testing.assert_close(logits(model, family), before, rtol=0, atol=1e-5)
    for layer in handle.layers.values():
        layer.unmerge()
    torch.testing.assert_close(logits(model, family), before, rtol=0, atol=1e-5)


class Plain(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(8, 8)
        self.out = nn.Linear(8, 2)


@pytest.mark.parametrize("make,spec,message", [
    (Plain, adalora.Houlsby(dim=2), "Houlsby adapters need the model family's insertion points"),
    (Plain, adalora.Pfeiffer(dim=2), "is not a family the suite knows"),
    (tiny_bert, adalora.LoRA(targets=["nope"]), "no module matched the targets ['nope']"),
    (tiny_bert, adalora.AdaLoRA(init_rank=4, target_rank=2, targets=r".*\.nope"), "no module matched the targets"),
])
def test_misuse_is_one_clear_line(make, spec, message):
    with pytest.raises(adalora.AdaLoRAError) as err:
        adalora.attach(make(), spec)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("first", [adalora.Houlsby(dim=2), adalora.LoRA(rank=1)])
def test_a_second_method_on_adapted_modules_is_refused(first):
    model = tiny_bart()
    adalora.attach(model, first)
    with pytest.raises(adalora.AdaLoRAError, match="was another method attached first"):
        adalora.attach(model, adalora.Houlsby(dim=2))


@pytest.mark.parametrize("kwargs,message", [
    (dict(dim=0), "dim=0 must be a positive integer"), (dict(dim=2.5), "dim=2.5"),
    (dict(activation="mish"), "activation='mish' is not one of"), (dict(init="xavier"), "init='xavier'"),
])
def test_bad_adapter_specs(kwargs, message):
    for cls in (adalora.Houlsby, adalora.Pfeiffer):
        with pytest.raises(adalora.AdaLoRAError, match=message.replace("(", r"\(").replace("[", r"\[")):
            cls(**kwargs)


def test_plain_modules_take_bitfit_and_full():
    model = Plain()
    handle = adalora.attach(model, adalora.BitFit())
    assert handle.parameter_report()["adapter"] == 8 + 2
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"dense.bias", "out.bias"}
    assert adalora.attach(Plain(), adalora.Full()).parameter_report()["trainable"] == 64 + 8 + 16 + 2
