"""SoRA (Ding et al., 2023) as the paper describes it: B diag(g) A, the gate's L1 proximal step (soft threshold)
after each optimizer step, a pruned component that can return while its gate gets gradient, and (ours) the final
budget of AdaLoRA's size from the final phase on."""
import json

import pytest
import torch
from datasets import Dataset
from omegaconf import OmegaConf
from transformers import default_data_collator

import adalora
from adalora.methods.sora.layer import SoRALinear
from conftest import tiny_bert
from runners.training import MethodTrainer, training_arguments
from test_cli import run_cli


def test_the_update_is_b_diag_g_a_and_starts_at_zero():
    base = torch.nn.Linear(6, 5)
    layer = SoRALinear(base, rank=3, alpha=6.0)
    x = torch.randn(4, 6)
    torch.testing.assert_close(layer(x), base(x))   # B = 0
    with torch.no_grad():
        layer.lora_B.normal_()
    expected = base(x) + 2.0 * x @ (layer.lora_B @ torch.diag(layer.gate) @ layer.lora_A).T
    torch.testing.assert_close(layer(x), expected)
    torch.testing.assert_close(layer.delta_weight(), 2.0 * layer.lora_B @ torch.diag(layer.gate) @ layer.lora_A)


def test_the_proximal_step_soft_thresholds_every_gate():
    model = tiny_bert()
    handle = adalora.attach(model, adalora.SoRA(init_rank=3, target_rank=2, gate_threshold=0.1, total_steps=100))
    layer = next(iter(handle.layers.values()))
    with torch.no_grad():
        layer.gate.copy_(torch.tensor([0.05, -0.3, 0.25]))
    handle.step(0)
    torch.testing.assert_close(layer.gate.detach(), torch.tensor([0.0, -0.2, 0.15]))
    assert handle.rank_pattern()[next(iter(handle.layers))] == 2


def _train(folder, **spec):
    torch.manual_seed(0)
    model = tiny_bert()
    handle = adalora.attach(model, adalora.SoRA(**{"init_rank": 4, "target_rank": 2, "t_final": 3, **spec}))
    g = torch.Generator().manual_seed(1)
    data = Dataset.from_dict({"input_ids": torch.randint(5, 100, (48, 8), generator=g).tolist(),
                              "labels": torch.randint(0, 2, (48,), generator=g).tolist()})
    args = training_arguments(OmegaConf.create(dict(learning_rate=1e-2, per_device_train_batch_size=8, max_steps=6,
                                                    save_strategy="steps", save_steps=3, save_total_limit=None,
                                                    report_to="none", disable_tqdm=True, use_cpu=None)), folder, seed=0)
    trainer = MethodTrainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator,
                            handle=handle)
    return model, handle, trainer


def test_the_final_phase_holds_adalora_s_final_budget_and_resumes(tmp_path):
    model, handle, trainer = _train(tmp_path / "run")
    trainer.train()
    pattern = handle.rank_pattern()
    assert sum(pattern.values()) == 2 * len(pattern)          # b(T) = r̄ x n gates, the rest zero
    assert len(set(pattern.values())) > 1                      # allocated unevenly across matrices
    end = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    model, handle, trainer = _train(tmp_path / "run")
    trainer.train(resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-3"))
    assert handle.rank_pattern() == pattern
    for n, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p, end[n], rtol=0, atol=0)


def test_a_pruned_gate_can_return_before_the_final_phase(tmp_path):
    """Soft-thresholding zeroes a gate but keeps its gradient (∂L/∂g_i is not zero while A_i and B_i are not): an
    optimizer step larger than the threshold lifts it again, unlike a pruned Prune-LoRA doublet."""
    model, handle, trainer = _train(tmp_path / "run", gate_threshold=0.004, t_final=0)
    with torch.no_grad():
        for layer in handle.layers.values():
            layer.lora_B.normal_(0, 0.5)
            layer.gate.zero_()                      # every component pruned
    trainer.train()
    assert sum(handle.rank_pattern().values()) > 0  # some came back


def test_sora_through_the_cli_is_sized_like_adalora(repo, tmp_path):
    done = run_cli(repo, tmp_path, "task=sst2", "method=sora", "budget=2k", "model=tiny-bert",
                   "task.data_dir=data/glue/sst2", "task.max_train_samples=32", "task.max_eval_samples=16",
                   "trainer.max_steps=4", "trainer.save_strategy=no", "trainer.disable_tqdm=true", "method.t_final=2")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "runs/tiny-bert/sst2/sora/2k/seed1.json").read_text())
    assert record["budget"]["sizes"] == {"target_rank": 2, "init_rank": 4}
    assert sum(record["rank_pattern"].values()) <= 2 * 12 and record["params"]["target_budget"] == 24
