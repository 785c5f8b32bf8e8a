"""Decoder-only families (beyond the paper): Llama-style (Llama, Qwen2) and GPT-2 (Conv1D, fused QKV) adapted on
every attention and MLP projection, at init equal to the pretrained model, trained in bf16 with gradient
checkpointing, merged and exported; and a classification run on a tiny Llama through the command line."""
import json

import pytest
import torch
from transformers import (GPT2Config, GPT2ForSequenceClassification, LlamaConfig, LlamaForSequenceClassification,
                          Qwen2Config, Qwen2ForSequenceClassification)

import adalora
from adalora.families import describe
from adalora.sizes import rank_unit
from test_cli import run_cli


def tiny(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    common = dict(vocab_size=100, pad_token_id=0, num_labels=2)
    if kind == "llama":
        return LlamaForSequenceClassification(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                          num_attention_heads=4, num_key_value_heads=2, **common))
    if kind == "qwen2":
        return Qwen2ForSequenceClassification(Qwen2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                          num_attention_heads=4, num_key_value_heads=2, **common))
    return GPT2ForSequenceClassification(GPT2Config(n_embd=32, n_layer=2, n_head=4, bos_token_id=1, eos_token_id=2,
                                                    **common))


# kind: (adapted matrices per layer with their (in, out), matrix types)
SHAPES = {
    "llama": ({"q_proj": (32, 32), "k_proj": (32, 16), "v_proj": (32, 16), "o_proj": (32, 32), "gate_proj": (32, 64),
               "up_proj": (32, 64), "down_proj": (64, 32)}, {"W_q", "W_k", "W_v", "W_o", "W_g", "W_f1", "W_f2"}),
    "qwen2": ({"q_proj": (32, 32), "k_proj": (32, 16), "v_proj": (32, 16), "o_proj": (32, 32), "gate_proj": (32, 64),
               "up_proj": (32, 64), "down_proj": (64, 32)}, {"W_q", "W_k", "W_v", "W_o", "W_g", "W_f1", "W_f2"}),
    "gpt2": ({"c_attn": (32, 96), "attn.c_proj": (32, 32), "c_fc": (32, 128), "mlp.c_proj": (128, 32)},
             {"W_qkv", "W_o", "W_f1", "W_f2"}),
}
IDS = torch.randint(3, 100, (4, 10), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("kind", sorted(SHAPES))
@pytest.mark.parametrize("method", ["lora", "adalora"])
def test_every_projection_is_adapted_and_starts_at_the_pretrained_model(kind, method):
    base, model = tiny(kind).eval(), tiny(kind).eval()
    shapes, types = SHAPES[kind]
    unit, n = rank_unit(model)
    assert n == 2 * len(shapes) and unit == 2 * sum(i + o for i, o in shapes.values())
    spec = adalora.LoRA(rank=2) if method == "lora" else adalora.AdaLoRA(init_rank=4, target_rank=2, total_steps=10)
    handle = adalora.attach(model, spec)
    layers = [name for name, m in model.named_modules() if isinstance(m, (adalora.LoRALinear, adalora.SVDLinear))]
    assert len(layers) == n and {describe(model, name)[1] for name in layers} == types
    assert {describe(model, name)[0] for name in layers} == {"0", "1"}
    assert handle.parameter_report()["adapter"] == (2 if method == "lora" else 4) * unit + (0 if method == "lora" else 4 * n)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=IDS).logits, base(input_ids=IDS).logits)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in name or name.startswith("score") for name in trainable)


def test_gpt2_fused_qkv_is_one_matrix_and_merges_exactly():
    model = tiny("gpt2").eval()
    handle = adalora.attach(model, adalora.LoRA(rank=2))
    layer = model.get_submodule("transformer.h.0.attn.c_attn")
    assert (layer.in_features, layer.out_features) == (32, 96)
    with torch.no_grad():
        for p in handle.adapter_parameters():
            p.normal_(0, 0.1)
        before = model(input_ids=IDS).logits
        adalora.merge(model)
        merged = model(input_ids=IDS).logits
        adalora.unmerge(model)
        after = model(input_ids=IDS).logits
    torch.testing.assert_close(merged, before, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(before, tiny("gpt2").eval()(input_ids=IDS).logits, atol=1e-4)


def _train_bf16(kind, folder, checkpointing: bool):
    from datasets import Dataset
    from transformers import TrainingArguments, default_data_collator

    from runners.training import MethodTrainer

    model = tiny(kind)
    handle = adalora.attach(model, adalora.AdaLoRA(init_rank=4, target_rank=2, t_init=2, t_final=2, delta_t=1))
    g = torch.Generator().manual_seed(2)
    data = Dataset.from_dict({"input_ids": torch.randint(3, 100, (48, 12), generator=g).tolist(),
                              "labels": torch.randint(0, 2, (48,), generator=g).tolist()})
    args = TrainingArguments(output_dir=str(folder), max_steps=8, per_device_train_batch_size=8, learning_rate=1e-2,
                             bf16=True, use_cpu=True, activation_checkpointing=checkpointing, save_strategy="no",
                             report_to="none", disable_tqdm=True, logging_steps=1, seed=0)
    start = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    trainer = MethodTrainer(model=model, args=args, train_dataset=data, data_collator=default_data_collator,
                            handle=handle)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    end = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    return start, end, losses, handle.rank_pattern()


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_adalora_trains_in_bf16_with_gradient_checkpointing(kind, tmp_path):
    start, end, losses, pattern = _train_bf16(kind, tmp_path / "checkpointed", checkpointing=True)
    assert len(losses) == 8 and all(torch.isfinite(torch.tensor(losses)))
    assert all(not torch.equal(start[n], end[n]) for n in start if not n.endswith("lora_E"))  # P and Q all trained
    assert sum(pattern.values()) == 2 * len(pattern)                                          # the target budget
    _, plain, plain_losses, plain_pattern = _train_bf16(kind, tmp_path / "plain", checkpointing=False)
    assert pattern == plain_pattern and losses == pytest.approx(plain_losses, rel=1e-3)      # recomputation is exact
    for n in plain:
        torch.testing.assert_close(end[n], plain[n], rtol=1e-3, atol=1e-5)


def test_houlsby_on_a_decoder_is_one_clear_line():
    with pytest.raises(adalora.AdaLoRAError, match="no insertion points in the llama family"):
        adalora.attach(tiny("llama"), adalora.Houlsby(dim=4))


@pytest.mark.parametrize("model", ["tiny-llama", "tiny-gpt2"])
def test_classification_on_a_decoder_through_the_cli(repo, tmp_path, model):
    done = run_cli(repo, tmp_path, "task=sst2", "method=adalora", f"model={model}", "task.data_dir=data/glue/sst2",
                   "task.max_train_samples=32", "task.max_eval_samples=16", "trainer.max_steps=4",
                   "trainer.save_strategy=no", "trainer.disable_tqdm=true", "budget=2k", "method.t_init=1",
                   "method.t_final=1", "method.delta_t=1", "trainer.per_device_train_batch_size=8")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(next((tmp_path / "runs").rglob("seed1.json")).read_text())
    assert record["status"] == "ok" and record["steps"] == 4 and "accuracy" in record["metrics"]
    assert record["budget"]["sizes"]["target_rank"] >= 1 and len(record["rank_pattern"]) == (14 if "llama" in model else 8)


@pytest.mark.slow
def test_adalora_with_gradient_checkpointing_under_torchrun(repo, tmp_path):
    """The combination PEFT users report breaking: AdaLoRA + gradient checkpointing + DDP (here gloo, 2 CPU
    processes, bf16): one record, every rank took the same masks (the budget is met exactly)."""
    import subprocess
    import sys

    from test_distributed import free_port

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}",
           "run.py", "task=sst2", "method=adalora", "model=tiny-llama", "task.data_dir=data/glue/sst2",
           "task.max_train_samples=64", "task.max_eval_samples=16", "trainer.max_steps=6", "trainer.save_strategy=no",
           "trainer.disable_tqdm=true", "budget=2k", "method.t_init=1", "method.t_final=2", "method.delta_t=1",
           "trainer.per_device_train_batch_size=8", "trainer.activation_checkpointing=true", "trainer.bf16=true",
           f"results_dir={tmp_path}/runs", f"outputs_dir={tmp_path}/out"]
    done = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    records = list((tmp_path / "runs").rglob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "ok" and record["machine"]["world_size"] == 2 and record["steps"] == 6
    target = record["budget"]["sizes"]["target_rank"]
    assert sum(record["rank_pattern"].values()) == target * len(record["rank_pattern"])


@pytest.mark.filterwarnings("ignore:The following rank_pattern keys did not match")   # PEFT's own AdaLoRA format
@pytest.mark.filterwarnings("error:fan_in_fan_out is set to False")   # GPT-2's Conv1D is said in the config
@pytest.mark.parametrize("kind", sorted(SHAPES))
@pytest.mark.parametrize("method", ["lora", "adalora"])
def test_peft_reloads_a_decoder_export_to_the_same_logits(kind, method, tmp_path):
    """`adalora.export_peft` on Llama, Qwen2 and GPT-2 (fused QKV in a Conv1D): PEFT loads the folder onto the
    pretrained model and gives the adapted model's logits, pruned triplets and the trained head included."""
    peft = pytest.importorskip("peft")
    from test_families import perturb

    base = tiny(kind).eval()
    model = tiny(kind).eval()
    spec = adalora.LoRA(rank=3, alpha=8) if method == "lora" else adalora.AdaLoRA(init_rank=4, target_rank=2, alpha=16,
                                                                                  total_steps=10)
    handle = adalora.attach(model, spec)
    with torch.no_grad():
        perturb(handle)                                   # trained-like adapters; AdaLoRA: a mask with a rank-0 matrix
        model.score.weight.add_(0.3)                      # a trained head, which PEFT must load (modules_to_save)
    adalora.export_peft(model, handle, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["fan_in_fan_out"] == (kind == "gpt2") and config["modules_to_save"] == ["score"]
    theirs = peft.PeftModel.from_pretrained(base, str(tmp_path)).eval()
    with torch.no_grad():
        torch.testing.assert_close(theirs(input_ids=IDS).logits, model(input_ids=IDS).logits, atol=1e-6, rtol=1e-5)
