"""Today's LoRA variants through PEFT itself (DoRA, PiSSA, rsLoRA, LoRA+) as methods of the suite: counted the
suite's way (budget resolution = PEFT's own trainable parameters), starting at the pretrained function (PiSSA up
to float rounding), trained by the suite's Trainer (LoRA+ with PEFT's optimizer), resumable and recorded."""
import json

import pytest
import torch
from datasets import Dataset
from omegaconf import OmegaConf
from transformers import default_data_collator

import adalora
from conftest import tiny_bert
from runners.training import MethodTrainer, training_arguments
from test_cli import run_cli

pytest.importorskip("peft")
VARIANTS = ("dora", "pissa", "rslora", "loraplus")
IDS = torch.randint(5, 100, (3, 10), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("variant", VARIANTS)
def test_budget_resolution_counts_what_peft_trains(variant):
    model = tiny_bert()
    spec, resolution = adalora.build_spec("peft-lora", "3k", model, variant=variant)
    handle = adalora.attach(model, spec)
    trained = sum(p.numel() for p in handle.adapter_parameters())
    assert trained == resolution.params == adalora.method_parameters(tiny_bert(), "peft-lora", resolution.sizes,
                                                                      variant=variant)
    magnitudes = 2 * (4 * 32 + 64 + 32)   # DoRA: one per output of tiny-bert's 2 x 6 matrices
    assert trained == spec.rank * 2 * (4 * 64 + 96 + 96) + (magnitudes if variant == "dora" else 0)
    report = handle.parameter_report()
    assert report["adapter"] == trained and report["trainable"] == trained + report["head"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_starts_at_the_pretrained_function(variant):
    base, model = tiny_bert().eval(), tiny_bert().eval()
    adalora.attach(model, adalora.build_spec("peft-lora", None, None, variant=variant, rank=2)[0])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=IDS).logits, base(input_ids=IDS).logits, rtol=1e-4, atol=1e-5)


def _trainer(variant, folder, **overrides):
    torch.manual_seed(0)
    model = tiny_bert()
    handle = adalora.attach(model, adalora.build_spec("peft-lora", None, None, variant=variant, rank=2)[0])
    g = torch.Generator().manual_seed(1)
    data = Dataset.from_dict({"input_ids": torch.randint(5, 100, (32, 8), generator=g).tolist(),
                              "labels": torch.randint(0, 2, (32,), generator=g).tolist()})
    cfg = dict(learning_rate=1e-2, per_device_train_batch_size=8, max_steps=4, save_strategy="steps", save_steps=2,
               save_total_limit=None, report_to="none", disable_tqdm=True, use_cpu=None, logging_steps=1)
    cfg.update(overrides)
    args = training_arguments(OmegaConf.create(cfg), folder, seed=0)
    return model, handle, MethodTrainer(model=model, args=args, train_dataset=data,
                                        data_collator=default_data_collator, handle=handle)


def test_loraplus_trains_b_faster_with_pefts_optimizer(tmp_path):
    model, handle, trainer = _trainer("loraplus", tmp_path, max_steps=1)
    trainer.train()
    rates = {}
    for group in trainer.optimizer.param_groups:
        for p in group["params"]:
            rates[id(p)] = group["lr"]
    names = {id(p): n for n, p in model.named_parameters()}
    a = {rates[i] for i in rates if ".lora_A." in names[i]}
    b = {rates[i] for i in rates if ".lora_B." in names[i]}
    assert len(a) == len(b) == 1 and b.pop() == pytest.approx(16 * a.pop())


@pytest.mark.parametrize("variant", ["dora", "pissa"])
def test_a_variant_resumes_from_its_checkpoint_to_the_same_end(tmp_path, variant):
    model, _, trainer = _trainer(variant, tmp_path / "straight")
    trainer.train()
    straight = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    model, _, trainer = _trainer(variant, tmp_path / "straight")   # a fresh process resuming the same folder
    trainer.train(resume_from_checkpoint=str(tmp_path / "straight" / "checkpoint-2"))
    for n, p in model.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p, straight[n], rtol=0, atol=0)


def test_dora_through_the_cli_writes_a_record_and_its_adapter(repo, tmp_path):
    done = run_cli(repo, tmp_path, "task=sst2", "method=dora", "budget=3k", "model=tiny-bert",
                   "task.data_dir=data/glue/sst2", "task.max_train_samples=32", "task.max_eval_samples=16",
                   "trainer.max_steps=2", "trainer.save_strategy=no", "trainer.disable_tqdm=true")
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / "runs/tiny-bert/sst2/dora/3k/seed1.json").read_text())
    assert record["budget"]["params"] == record["params"]["adapter"] and record["budget"]["sizes"] == {"rank": 3}  # (3,000 - 448) / 896 = 2.8
    model = tiny_bert()
    handle = adalora.load_adapter(model, record["output_dir"])
    assert handle.spec.variant == "dora" and sum(p.numel() for p in handle.adapter_parameters()) == record["params"]["adapter"]
