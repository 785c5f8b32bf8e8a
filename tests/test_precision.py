"""Mixed precision and DDP semantics of the per-step work (ALGORITHM.md §5, §12 fp16 caveat).

- accelerate's AcceleratedOptimizer (what the Trainer hands its callbacks) unscales the gradients in place
  before `on_optimizer_step`, and says `step_was_skipped` when the grad scaler found inf/NaN: the callback
  then leaves every statistic untouched and the schedule still masks on time;
- adapters and their statistics stay fp32 on a bf16/fp16 base model;
- the Trainer calls the step once per optimizer step (gradient accumulation) under bf16 autocast;
- under DDP every rank, stepping its unwrapped module after the all-reduce, takes the same masks (slow).
"""
import copy
from types import SimpleNamespace

import pytest
import torch

import adalora
from conftest import tiny_bert
from runners.training import MethodCallback

SPEC = dict(init_rank=4, target_rank=2, alpha=16, t_init=0, t_final=2, delta_t=1, total_steps=6)


def batch(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 100, (8, 10), generator=g), torch.randint(0, 2, (8,), generator=g)


@pytest.fixture
def accelerated():
    """accelerate's optimizer wrapper around AdamW with a real (CPU) grad scaler, as the Trainer builds it on GPU."""
    from accelerate import Accelerator
    from accelerate.optimizer import AcceleratedOptimizer
    from accelerate.state import AcceleratorState, GradientState

    Accelerator(cpu=True)

    def wrap(params, scaler=None):
        return AcceleratedOptimizer(torch.optim.AdamW(params, lr=1e-2), scaler=scaler)
    yield wrap
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def test_scaled_steps_score_unscaled_gradients_and_skipped_steps_score_nothing(accelerated):
    base = tiny_bert()
    plain, scaled = copy.deepcopy(base), copy.deepcopy(base)
    h_plain = adalora.attach(plain, adalora.AdaLoRA(**SPEC))
    h_scaled = adalora.attach(scaled, adalora.AdaLoRA(**SPEC))
    with torch.no_grad():
        for a, b in zip(h_plain.adapter_parameters(), h_scaled.adapter_parameters()):
            b.copy_(a)
    opt_plain = accelerated([p for p in plain.parameters() if p.requires_grad])
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
    opt_scaled = accelerated([p for p in scaled.parameters() if p.requires_grad], scaler)
    cb_plain, cb_scaled = MethodCallback(h_plain), MethodCallback(h_scaled)

    for t in range(2):  # finite steps: the scaled run scores exactly what the unscaled one does
        ids, y = batch(t)
        (plain(input_ids=ids, labels=y).loss + h_plain.regularizer()).backward()
        scaler.scale(scaled(input_ids=ids, labels=y).loss + h_scaled.regularizer()).backward()
        opt_plain.step(), opt_scaled.step()
        assert not opt_scaled.step_was_skipped
        for cb, opt in ((cb_plain, opt_plain), (cb_scaled, opt_scaled)):
            cb.on_optimizer_step(None, SimpleNamespace(global_step=t), None, optimizer=opt)
            opt.zero_grad()
        for a, b in zip(h_plain.allocator.ema_ipt + h_plain.allocator.ema_unc,
                        h_scaled.allocator.ema_ipt + h_scaled.allocator.ema_unc):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=0)
    assert any(e.abs().sum() > 0 for e in h_scaled.allocator.ema_ipt)

    stats = [e.clone() for e in h_scaled.allocator.ema_ipt + h_scaled.allocator.ema_unc]
    weights = [p.detach().clone() for p in h_scaled.adapter_parameters()]
    ids, y = batch(2)
    scaler.scale(scaled(input_ids=ids, labels=y).loss * float("inf")).backward()   # an overflowing step
    opt_scaled.step()
    assert opt_scaled.step_was_skipped
    cb_scaled.on_optimizer_step(None, SimpleNamespace(global_step=2), None, optimizer=opt_scaled)
    assert all(torch.equal(a, b) for a, b in zip(stats, h_scaled.allocator.ema_ipt + h_scaled.allocator.ema_unc))
    assert h_scaled.allocator.last_step == 2 and h_scaled.allocator.history[-1][0] == 2  # the schedule ran
    n = len(h_scaled.layers)                                  # adapter_parameters(): all A, then all λ, then all B
    now = [p.detach() for p in h_scaled.adapter_parameters()]
    assert all(torch.equal(a, b) for a, b in zip(weights[:n] + weights[2 * n:], now[:n] + now[2 * n:]))
    keep = torch.cat([torch.tensor(m) for m in h_scaled.rank_mask().values()])
    lam_before, lam_now = torch.cat([w.view(-1) for w in weights[n:2 * n]]), torch.cat([w.view(-1) for w in now[n:2 * n]])
    assert (~keep).any() and torch.all(lam_now[~keep] == 0) and torch.equal(lam_now[keep], lam_before[keep])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_base_keeps_adapters_and_statistics_fp32(dtype):
    model = tiny_bert().to(dtype)
    handle = adalora.attach(model, adalora.AdaLoRA(**SPEC))
    assert {p.dtype for p in handle.adapter_parameters()} == {torch.float32}
    assert {e.dtype for e in handle.allocator.ema_ipt + handle.allocator.ema_unc} == {torch.float32}
    opt = torch.optim.AdamW(handle.adapter_parameters(), lr=1e-2)  # the fp16 head stays frozen (no fp32 master)
    model.train()
    for t in range(4):
        ids, y = batch(t)
        out = model(input_ids=ids, labels=y)
        assert out.logits.dtype == dtype
        (out.loss.float() + handle.regularizer()).backward()
        assert all(p.grad.dtype == torch.float32 for p in handle.adapter_parameters())
        opt.step()
        handle.step(t)
        opt.zero_grad()
    stats = handle.allocator.ema_ipt + handle.allocator.ema_unc
    assert {e.dtype for e in stats} == {torch.float32}
    assert all(torch.isfinite(e).all() for e in stats) and sum(e.sum() for e in stats) > 0
    assert sum(handle.rank_pattern().values()) < handle.allocator.init_budget


def test_trainer_steps_once_per_optimizer_step_under_bf16_and_accumulation(tmp_path):
    from transformers import TrainingArguments

    from runners.training import MethodTrainer

    model = tiny_bert()
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=16, t_init=1, t_final=2))
    calls, step = [], handle.step
    handle.step = lambda t: (calls.append(t), step(t))
    g = torch.Generator().manual_seed(0)
    data = [{"input_ids": torch.randint(0, 100, (8,), generator=g), "labels": int(torch.randint(0, 2, (1,), generator=g))}
            for _ in range(48)]
    args = TrainingArguments(output_dir=str(tmp_path), bf16=True, use_cpu=True, per_device_train_batch_size=4,
                             gradient_accumulation_steps=2, max_steps=6, save_strategy="no", report_to="none",
                             disable_tqdm=True, learning_rate=1e-2, logging_steps=100)
    trainer = MethodTrainer(model=model, args=args, train_dataset=data, handle=handle)
    trainer.train()
    assert trainer.accelerator.mixed_precision == "bf16"
    assert calls == list(range(6)) and handle.total_steps == 6
    assert {p.dtype for p in handle.adapter_parameters()} == {torch.float32}
    assert sum(e.sum() for e in handle.allocator.ema_ipt) > 0
    assert sum(handle.rank_pattern().values()) == handle.allocator.target_budget


# --- DDP -----------------------------------------------------------------------------------------------------
def _ddp_worker(rank, world, folder):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = tiny_bert(seed=0)
    torch.manual_seed(0)
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=16, t_init=2, t_final=4,
                                                   delta_t=1, total_steps=12))
    ddp = DistributedDataParallel(model)
    opt = torch.optim.AdamW([p for p in ddp.parameters() if p.requires_grad], lr=1e-2)
    ddp.train()
    for t in range(12):
        ids, y = batch(100 * rank + t)                       # every rank sees different data
        (ddp(input_ids=ids, labels=y).loss + handle.regularizer()).backward()
        opt.step()
        handle.step(t)                                       # the handle of the unwrapped module, after all-reduce
        opt.zero_grad()
    torch.save({"mask": handle.rank_mask(), "lam": [l.lora_E.detach() for l in handle.layers.values()],
                "ema": [e.clone() for e in handle.allocator.ema_ipt]}, f"{folder}/rank{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_ranks_take_the_same_masks(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["mask"] == r1["mask"] and sum(map(sum, r0["mask"].values())) == 2 * 12
    assert all(torch.equal(a, b) for a, b in zip(r0["lam"], r1["lam"]))
    assert all(torch.equal(a, b) for a, b in zip(r0["ema"], r1["ema"]))
