"""Adapters on disk: our safetensors folders (weights, spec, rank pattern, resumable state), the handle state
through torch.save and safetensors, and the PEFT export that `peft.PeftModel.from_pretrained` reloads to the
same logits, on each model family."""
import copy
import json

import pytest
import torch

import adalora
from adalora.methods.adalora.model import AdaLoRAHandle
from conftest import tiny_bart, tiny_bert, tiny_deberta
from test_ablations import drive
from test_families import outputs, perturb

# PEFT 0.21 warns that an AdaLoRA rank_pattern's `<module>.lora_E` keys match no module; it warns the same for the
# adapters PEFT saves itself, and still slices and loads them (the logits below agree).
pytestmark = pytest.mark.filterwarnings("ignore:The following rank_pattern keys did not match")

KW = dict(init_rank=4, target_rank=2, alpha=16, t_init=3, t_final=10, delta_t=2, total_steps=30)


def same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k
        elif isinstance(a[k], dict):
            same_state(a[k], b[k])
        elif isinstance(a[k], (list, tuple)):
            assert len(a[k]) == len(b[k]), k
            for x, y in zip(a[k], b[k]):
                assert torch.equal(x, y) if isinstance(x, torch.Tensor) else list(x) == list(y) if isinstance(
                    x, (list, tuple)) else x == y, k
        else:
            assert a[k] == b[k], k


# --- our own folders -----------------------------------------------------------------------------------------
def test_resume_from_a_saved_folder_mid_budget_phase_matches_uninterrupted(tmp_path):
    base = tiny_bert(seed=1)
    a, b = copy.deepcopy(base), copy.deepcopy(base)
    torch.manual_seed(3)
    ha = adalora.attach(a, adalora.AdaLoRA(**KW))
    torch.manual_seed(3)
    hb = adalora.attach(b, adalora.AdaLoRA(**KW))
    drive(a, ha, 30, seed=9)                                   # uninterrupted
    opt = drive(b, hb, 12, seed=9)                             # stopped in the budget phase (3 < 12 <= 20) ...
    assert hb.allocator.history and hb.allocator.history[-1][1] > hb.allocator.target_budget
    adalora.save_adapter(b, hb, tmp_path / "ckpt")
    torch.save(opt.state_dict(), tmp_path / "opt.pt")
    config = json.loads((tmp_path / "ckpt/adalora_config.json").read_text())
    assert config["rank_mask"] == hb.rank_mask() and config["rank_pattern"] == hb.rank_pattern()
    assert config["spec_class"] == "AdaLoRA" and config["spec"]["init_rank"] == 4

    c = copy.deepcopy(base)                                    # ... and resumed in a fresh process-like setting
    hc = adalora.load_adapter(c, tmp_path / "ckpt")
    assert isinstance(hc, AdaLoRAHandle) and hc.rank_mask() == hb.rank_mask()
    same_state(hc.state_dict(), hb.state_dict())
    opt_c = torch.optim.AdamW([p for p in c.parameters() if p.requires_grad], lr=1e-2)
    opt_c.load_state_dict(torch.load(tmp_path / "opt.pt", weights_only=True))
    drive(c, hc, 18, seed=9, start=12, opt=opt_c)
    assert ha.rank_mask() == hc.rank_mask()
    for la, lc in zip(ha.layers.values(), hc.layers.values()):
        assert torch.equal(la.lora_E, lc.lora_E)


@pytest.mark.parametrize("spec", [adalora.LoRA(rank=3), adalora.PruneLoRA(**KW), adalora.AdaLoRA(**KW)],
                         ids=["lora", "prune-lora", "adalora"])
def test_saved_adapter_reloads_to_the_same_outputs_without_state(tmp_path, spec):
    base = tiny_bert()
    model = copy.deepcopy(base)
    handle = adalora.attach(model, spec)
    drive(model, handle, 8)
    model.eval()
    adalora.save_adapter(model, handle, tmp_path, include_state=False)
    assert not (tmp_path / "method_state.safetensors").exists()
    fresh = copy.deepcopy(base)
    loaded = adalora.load_adapter(fresh, tmp_path)
    assert type(loaded) is type(handle) and loaded.rank_pattern() == handle.rank_pattern()
    torch.testing.assert_close(outputs(fresh.eval()), outputs(model), rtol=0, atol=0)


def test_handle_state_round_trips_through_torch_save_and_safetensors(tmp_path):
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(**KW))
    drive(model, handle, 22)                                   # into the final phase: keep and final_keep set
    state = handle.state_dict()
    assert state["allocator"]["final_keep"] is not None and state["allocator"]["last_step"] == 21
    torch.save(state, tmp_path / "state.pt")
    same_state(torch.load(tmp_path / "state.pt", weights_only=True), state)
    adalora.save_state(state, tmp_path / "state.safetensors")
    back = adalora.load_state(tmp_path / "state.safetensors")
    same_state(back, state)
    other = AdaLoRAHandle(model, handle.spec, handle.layers)
    other.load_state_dict(back)
    same_state(other.state_dict(), state)


def test_loading_into_other_modules_is_refused(tmp_path):
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(**KW))
    adalora.save_adapter(model, handle, tmp_path)
    other = tiny_bert()
    narrow = adalora.attach(other, adalora.AdaLoRA(**{**KW, "targets": ["query", "value"]}))
    with pytest.raises(adalora.AdaLoRAError, match="saved from different modules"):
        adalora.load_adapter(other, tmp_path, narrow)
    with pytest.raises(adalora.AdaLoRAError, match="different set of adapted modules"):
        narrow.load_state_dict(handle.state_dict())
    lora = adalora.attach(tiny_bert(), adalora.LoRA(rank=4))
    with pytest.raises(adalora.AdaLoRAError, match="holds a adalora adapter but the handle is lora"):
        adalora.load_adapter(lora.model, tmp_path, lora)
    with pytest.raises(adalora.AdaLoRAError, match="saved by a adalora run"):
        lora.load_state_dict(handle.state_dict())


def test_merged_adapters_are_not_saved_or_exported(tmp_path):
    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(**KW))
    adalora.merge(model)
    with pytest.raises(adalora.AdaLoRAError, match="unmerge"):
        adalora.save_adapter(model, handle, tmp_path)
    with pytest.raises(adalora.AdaLoRAError, match="unmerge"):
        adalora.export_peft(model, handle, tmp_path)
    assert not list(tmp_path.iterdir())


# --- PEFT ----------------------------------------------------------------------------------------------------
peft = pytest.importorskip("peft")


@torch.no_grad()
def perturb_head(model):
    """A trained head, so that PEFT must load it (modules_to_save) for the logits to agree."""
    for p in model.parameters():
        if p.requires_grad and not any(p is q for q in adalora_params(model)):
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(7)) * 0.3)


def adalora_params(model):
    return [p for n, p in model.named_parameters() if "lora_" in n]


def peft_reload(base, out_dir):
    return peft.PeftModel.from_pretrained(copy.deepcopy(base), str(out_dir)).eval()


@pytest.mark.parametrize("build", [tiny_bert, tiny_deberta, tiny_bart], ids=["bert", "deberta", "bart"])
def test_peft_reloads_an_adalora_export_to_the_same_logits(tmp_path, build):
    base = build()
    model = copy.deepcopy(base)
    handle = adalora.attach(model, adalora.AdaLoRA(**KW))
    perturb(handle)                                            # trained-like weights and a mask with a rank-0 matrix
    perturb_head(model)
    adalora.export_peft(model, handle, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["peft_type"] == "ADALORA" and config["init_r"] == 4
    assert {k[: -len(".lora_E")]: v for k, v in config["rank_pattern"].items()} == handle.rank_mask()
    theirs = peft_reload(base, tmp_path)
    torch.testing.assert_close(outputs(theirs), outputs(model), atol=1e-6, rtol=0)
    for name, layer in handle.layers.items():                  # sliced to the kept ranks, scale still alpha / init_r
        module = theirs.base_model.model.get_submodule(name)
        assert module.r["default"] == sum(handle.rank_mask()[name])
        if module.r["default"]:  # PEFT leaves ranknum at 0 where nothing is kept (no update to scale)
            assert module.ranknum["default"].item() == 4 and module.scaling["default"] == 16


def test_peft_reloads_a_trained_adalora_export_between_mask_steps(tmp_path):
    """Between two mask steps a pruned λ moves off zero again; the export keeps it so the logits still agree."""
    base = tiny_bert()
    model = copy.deepcopy(base)
    handle = adalora.attach(model, adalora.AdaLoRA(**KW))
    drive(model, handle, 10)                                  # step 9 is odd: no mask after the last update
    revived = sum(int(((l.lora_E.view(-1) != 0) & ~torch.tensor(handle.rank_mask()[n])).sum())
                  for n, l in handle.layers.items())
    assert revived > 0
    adalora.export_peft(model.eval(), handle, tmp_path)
    torch.testing.assert_close(outputs(peft_reload(base, tmp_path)), outputs(model), atol=1e-6, rtol=0)


@pytest.mark.parametrize("spec", [adalora.LoRA(rank=3, alpha=8), adalora.PruneLoRA(**KW),
                                  adalora.AdaLoRA(init_rank=3, target_rank=3, alpha=16, allocate=False)],
                         ids=["lora", "prune-lora", "svd-lora"])
def test_peft_reloads_lora_family_exports(tmp_path, spec):
    base = tiny_deberta()
    model = copy.deepcopy(base)
    handle = adalora.attach(model, spec)
    perturb(handle)
    perturb_head(model)
    adalora.export_peft(model, handle, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["modules_to_save"] == ["pooler", "classifier"] and config["task_type"] == "SEQ_CLS"
    # PEFT's layers add the same update in another order: equal up to float32 rounding (a few ulps)
    torch.testing.assert_close(outputs(peft_reload(base, tmp_path)), outputs(model), atol=1e-6, rtol=1e-5)
