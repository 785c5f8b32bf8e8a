"""Budgets -> sizes -> exact parameter counts (ALGORITHM.md §9), on a DeBERTaV3-base built from its config and on tiny
models. The big model is built on the meta device: its real modules and shapes, no storage, no download."""
import copy

import re

import pytest
import torch

import adalora
from adalora.budget import method_parameters, pretrained_parameters, resolve_budget
from adalora.families import DEBERTA
from conftest import tiny_bart, tiny_bert, tiny_deberta


@pytest.fixture(scope="module")
def deberta_v3_base():
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    config = DebertaV2Config(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                             vocab_size=128100, relative_attention=True, position_buckets=256,
                             norm_rel_ebd="layer_norm", share_att_key=True, pos_att_type=["p2c", "c2p"],
                             max_relative_positions=-1, position_biased_input=False, type_vocab_size=0,
                             layer_norm_eps=1e-7, num_labels=2)
    with torch.device("meta"):
        return DebertaV2ForSequenceClassification(config)


def test_the_model_is_deberta_v3_base_sized(deberta_v3_base):
    assert pretrained_parameters(deberta_v3_base) == 183_831_552  # "183.83M" (ALGORITHM.md §9)
    assert adalora.budget.paper_model(deberta_v3_base) == "deberta-v3-base"


@pytest.mark.parametrize("spec,count", [
    (adalora.LoRA(rank=2), 331_776),      # 12 x (4 x 1,536 + 2 x 3,840) x 2
    (adalora.Houlsby(dim=8), 313_536),    # 24 x (1,537 d + 768)
    (adalora.Pfeiffer(dim=16), 304_320),  # 12 x (1,537 d + 768)
])
def test_spec_9_counts_when_attached(deberta_v3_base, spec, count):
    model = copy.deepcopy(deberta_v3_base)
    report = adalora.attach(model, spec).parameter_report()
    assert report["adapter"] == count
    assert report["pretrained"] == 183_831_552 and report["trainable"] == count + report["head"]


def test_fixed_size_methods(deberta_v3_base):
    assert method_parameters(deberta_v3_base, "bitfit") == 102_912  # "0.1M"
    assert method_parameters(deberta_v3_base, "full") == 183_831_552
    full = adalora.attach(copy.deepcopy(deberta_v3_base), adalora.Full()).parameter_report()
    assert (full["adapter"], full["trainable"]) == (183_831_552, 183_831_552 + full["head"])
    r = resolve_budget("0.3%", deberta_v3_base, "bitfit")
    assert (r.sizes, r.slug, r.params, r.source) == ({}, "bias", 102_912, "fixed size (a budget does not apply)")


@pytest.mark.parametrize("label,target_rank,init_rank", [("0.08%", 1, 2), ("0.16%", 2, 4), ("0.32%", 4, 6),
                                                         ("0.65%", 8, 12)])
def test_percent_labels_resolve_to_the_papers_ranks(deberta_v3_base, label, target_rank, init_rank):
    r = resolve_budget(label, deberta_v3_base, "adalora")
    assert r.sizes == {"target_rank": target_rank, "init_rank": init_rank}
    assert r.source == "paper table (deberta-v3-base)" and r.params == target_rank * 165_888


@pytest.mark.parametrize("label,lora,houlsby,pfeiffer", [("0.3M", 2, 8, 16), ("0.6M", 4, 16, 32), ("1.2M", 8, 32, 64),
                                                         ("0.08%", 1, 4, 8), ("0.65%", 8, 32, 64)])
def test_paper_tables_give_every_methods_size(deberta_v3_base, label, lora, houlsby, pfeiffer):
    sizes = {m: resolve_budget(label, deberta_v3_base, m).sizes for m in ("lora", "houlsby", "pfeiffer")}
    assert sizes == {"lora": {"rank": lora}, "houlsby": {"dim": houlsby}, "pfeiffer": {"dim": pfeiffer}}


def test_the_table_wins_over_the_nearest_size(deberta_v3_base):
    # 0.65% of 183.83M is 1,194,905 parameters: 7.2 ranks of 165,888, so the nearest rank is 7; the paper says 8
    nearest = resolve_budget("0.65%", deberta_v3_base, "adalora", targets=list(DEBERTA.targets))
    assert nearest.source == "nearest" and nearest.sizes["target_rank"] == 7
    assert resolve_budget("0.65%", deberta_v3_base, "adalora").sizes["target_rank"] == 8


@pytest.mark.parametrize("label,method,sizes,params", [
    ("313536", "houlsby", {"dim": 8}, 313_536), ("304320", "pfeiffer", {"dim": 16}, 304_320),
    ("331776", "lora", {"rank": 2}, 331_776), ("0.5M", "houlsby", {"dim": 13}, 24 * (1537 * 13 + 768)),
])
def test_labels_outside_the_tables_take_the_nearest_size(deberta_v3_base, label, method, sizes, params):
    r = resolve_budget(label, deberta_v3_base, method)
    assert (r.sizes, r.source, r.params) == (sizes, "nearest", params)


@pytest.mark.parametrize("factory,method,label,sizes,params", [
    (tiny_bert, "houlsby", "1k", {"dim": 3}, 4 * (65 * 3 + 32)),
    (tiny_bert, "pfeiffer", "1k", {"dim": 7}, 2 * (65 * 7 + 32)),
    (tiny_deberta, "houlsby", "2k", {"dim": 7}, 4 * (65 * 7 + 32)),
    (tiny_bart, "houlsby", "2k", {"dim": 3}, 10 * (65 * 3 + 32)),
    (tiny_bart, "pfeiffer", "2k", {"dim": 7}, 4 * (65 * 7 + 32)),
    (tiny_bart, "lora", "2k", {"rank": 1}, 2 * (4 * 64 + 2 * 96) + 2 * (8 * 64 + 2 * 96)),
])
def test_tiny_models_resolve_and_attach_to_the_same_count(factory, method, label, sizes, params):
    model = factory()
    r = resolve_budget(label, model, method)
    assert (r.sizes, r.params) == (sizes, params)
    spec = {"houlsby": adalora.Houlsby, "pfeiffer": adalora.Pfeiffer, "lora": adalora.LoRA}[method](**sizes)
    assert adalora.attach(model, spec).parameter_report()["adapter"] == params


@pytest.mark.parametrize("method,fields,message", [
    ("lora", {}, "below one rank per matrix for lora (896 parameters over 12 matrices)"),
    ("adalora", {}, "below one rank per matrix for adalora"),
    ("peft-lora", {"variant": "dora"}, "below one rank per matrix for dora (1,344 parameters over 12 matrices)"),
    ("houlsby", {}, "below one adapter unit (d = 1) for houlsby (388 parameters over 4 adapters)"),
    ("pfeiffer", {}, "below one adapter unit (d = 1) for pfeiffer"),
])
def test_budgets_too_small_say_the_least_that_works(method, fields, message):
    model = tiny_bert()
    with pytest.raises(adalora.AdaLoRAError) as err:
        resolve_budget("50", model, method, **fields)
    text = str(err.value)
    assert message in text and "give at least" in text and "\n" not in text
    least = int(re.search(r"give at least ([\d,]+) parameters", text).group(1).replace(",", ""))
    assert resolve_budget(least, model, method, **fields).sizes               # the least it names is enough ...
    with pytest.raises(adalora.AdaLoRAError, match="give at least"):          # ... and one fewer is not
        resolve_budget(least - 1, model, method, **fields)


def test_houlsby_budget_on_an_unknown_family_is_refused():
    with pytest.raises(adalora.AdaLoRAError, match="is not a family the suite knows"):
        resolve_budget("1k", torch.nn.Sequential(torch.nn.Linear(4, 4)), "houlsby")
