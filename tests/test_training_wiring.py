"""The HF Trainer wiring of runners/training.py on a tiny BERT: gradient accumulation averages exactly, checkpoints
hold only the trainable tensors and resume to the same end, bf16 runs, and the global batch splits over processes."""
import pytest
import safetensors.torch
import torch
from omegaconf import OmegaConf
from transformers import TrainerCallback, default_data_collator

import adalora
from runners.batching import apply_global_batch, split_global_batch
from runners.errors import ConfigError
from runners.training import (METHOD_STATE, TRAINABLE_WEIGHTS, MethodCallback, MethodTrainer, load_method_state,
                              total_optimizer_steps, training_arguments)


def examples(n: int, length: int = 12, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 100, (n, length), generator=g)
    return [{"input_ids": ids[i], "attention_mask": torch.ones(length, dtype=torch.long),
             "labels": torch.tensor(int(ids[i, 0]) % 2)} for i in range(n)]


def adapted_bert(tiny_bert_factory, spec, seed: int = 0):
    model = tiny_bert_factory(seed=seed)
    torch.manual_seed(seed + 1)
    handle = adalora.attach(model, spec)
    return model, handle


def trainer_for(model, handle, data, tmp_path, **overrides):
    cfg = dict(learning_rate=1e-2, per_device_train_batch_size=4, num_train_epochs=1, max_steps=-1, warmup_steps=0,
               weight_decay=0.0, max_grad_norm=1.0, gradient_accumulation_steps=1, logging_steps=100,
               save_strategy="no", disable_tqdm=True, dataloader_num_workers=0, use_cpu=None)
    cfg.update(overrides)
    args = training_arguments(OmegaConf.create(cfg), tmp_path, seed=0)
    return MethodTrainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator,
                         handle=handle)


class GradsAtFirstStep(TrainerCallback):
    """The gradients the optimizer is about to apply at step 0 (after accumulation and clipping)."""

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if state.global_step == 0:
            self.grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def test_gradient_accumulation_2x4_equals_1x8(tiny_bert_factory, tmp_path):
    data = examples(8)
    spec = adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=8, t_init=1, t_final=1, delta_t=1, orth_reg_weight=0.5)
    grads = {}
    for name, batch, accumulation in (("1x8", 8, 1), ("2x4", 4, 2)):
        model, handle = adapted_bert(tiny_bert_factory, spec)
        with torch.no_grad():  # away from the zero-init point, so every adapter tensor has a gradient
            for p in handle.adapter_parameters():
                p.normal_(0, 0.1, generator=torch.Generator().manual_seed(p.numel()))
        grab = GradsAtFirstStep()
        trainer = trainer_for(model, handle, data, tmp_path / name, per_device_train_batch_size=batch,
                              gradient_accumulation_steps=accumulation, max_steps=4, max_grad_norm=0.0)
        trainer.add_callback(grab)
        trainer.add_callback(StopAt(1))
        trainer.train()
        grads[name] = grab.grads
    assert grads["1x8"].keys() == grads["2x4"].keys() and len(grads["1x8"]) > 10
    for n in grads["1x8"]:
        assert grads["1x8"][n].abs().sum() > 0, n
        torch.testing.assert_close(grads["2x4"][n], grads["1x8"][n], atol=1e-6, rtol=0, msg=n)


class StopAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def test_checkpoints_hold_the_trainable_tensors_and_resume_to_the_same_end(tiny_bert_factory, tmp_path):
    data = examples(32)
    spec = adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=8, t_init=2, t_final=2, delta_t=1)
    common = dict(max_steps=8, save_strategy="steps", save_steps=4, save_total_limit=None)

    model, handle = adapted_bert(tiny_bert_factory, spec)
    trainer = trainer_for(model, handle, data, tmp_path / "straight", **common)
    trainer.train()
    straight = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    straight_pattern = handle.rank_pattern()

    model, handle = adapted_bert(tiny_bert_factory, spec)
    trainer = trainer_for(model, handle, data, tmp_path / "stopped", **common)
    trainer.add_callback(StopAt(4))
    trainer.train()
    checkpoint = tmp_path / "stopped" / "checkpoint-4"
    files = {p.name for p in checkpoint.iterdir()}
    assert {TRAINABLE_WEIGHTS, METHOD_STATE, "optimizer.pt", "trainer_state.json"} <= files
    assert "model.safetensors" not in files  # the frozen backbone is not copied into every checkpoint
    saved = safetensors.torch.load_file(str(checkpoint / TRAINABLE_WEIGHTS))
    assert set(saved) == {n for n, p in model.named_parameters() if p.requires_grad}

    model, handle = adapted_bert(tiny_bert_factory, spec)  # a fresh process: pretrained weights, new adapters
    trainer = trainer_for(model, handle, data, tmp_path / "stopped", **common)
    trainer.train(resume_from_checkpoint=str(checkpoint))
    assert trainer.state.global_step == 8
    for n, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p.detach(), straight[n], atol=0, rtol=0, msg=n)
    assert handle.rank_pattern() == straight_pattern


def test_resuming_a_checkpoint_of_other_trainable_tensors_fails_clearly(tiny_bert_factory, tmp_path):
    data = examples(16)
    model, handle = adapted_bert(tiny_bert_factory, adalora.LoRA(rank=2))
    trainer = trainer_for(model, handle, data, tmp_path, max_steps=2)
    trainer._save(str(tmp_path / "ckpt"))
    other, other_handle = adapted_bert(tiny_bert_factory, adalora.LoRA(rank=2, targets=["query", "value"]))
    with pytest.raises(ConfigError, match="does not match this run's trainable tensors"):
        trainer_for(other, other_handle, data, tmp_path, max_steps=2)._load_from_checkpoint(str(tmp_path / "ckpt"))


def test_a_fully_trained_model_is_saved_whole(tiny_bert_factory, tmp_path):
    model = tiny_bert_factory()
    handle = adalora.Handle(model, None)
    trainer = trainer_for(model, handle, examples(8), tmp_path, max_steps=1)
    trainer._save(str(tmp_path / "ckpt"))
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    assert not (tmp_path / "ckpt" / TRAINABLE_WEIGHTS).exists()


def test_bf16_trains_on_a_cpu(tiny_bert_factory, tmp_path):
    spec = adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=8, t_init=1, t_final=1, delta_t=1)
    model, handle = adapted_bert(tiny_bert_factory, spec)
    trainer = trainer_for(model, handle, examples(16), tmp_path, max_steps=4, bf16=True)
    assert trainer.args.bf16 and trainer.args.use_cpu
    out = trainer.train()
    assert out.global_step == 4 and torch.isfinite(torch.tensor(out.training_loss))
    assert sum(handle.rank_pattern().values()) == 2 * 12  # the allocator stepped under autocast


@pytest.mark.parametrize("total,cap,world,expected", [
    (32, 32, 1, (32, 1)), (32, 32, 2, (16, 1)), (64, 8, 1, (8, 8)), (64, 8, 8, (8, 1)), (32, 4, 8, (4, 1)),
    (32, 12, 1, (8, 4)), (16, 16, 4, (4, 1)), (7, 4, 1, (1, 7)),
])
def test_the_global_batch_splits_over_processes_and_micro_batches(total, cap, world, expected):
    micro, steps = split_global_batch(total, cap, world)
    assert (micro, steps) == expected and micro * steps * world == total and micro <= cap


def test_global_batch_errors_say_what_to_change():
    with pytest.raises(ConfigError, match="does not split over 3 processes"):
        split_global_batch(32, 32, 3)
    with pytest.raises(ConfigError, match="must be a positive integer"):
        split_global_batch(0, 32, 1)
    with pytest.raises(ConfigError, match="not both"):
        apply_global_batch({"global_batch_size": 32, "gradient_accumulation_steps": 2}, 1)
    assert apply_global_batch({"per_device_train_batch_size": 8, "global_batch_size": None}, 4) == \
        {"per_device_train_batch_size": 8}
