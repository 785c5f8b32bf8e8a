"""Step-for-step parity with HF PEFT's AdaLoRA (0.21.x) where PEFT and the official code agree: from identical
weights and batches, through all three schedule phases (T - t_final is a masking step, where PEFT forces one)."""
import copy

import pytest
import torch

import adalora
from conftest import tiny_bert

peft = pytest.importorskip("peft")

TARGETS = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]


def test_losses_lambdas_and_rank_pattern_match_peft():
    T, t_init, t_final, delta_t = 48, 6, 12, 3
    base = tiny_bert(seed=0)
    theirs, ours = copy.deepcopy(base), copy.deepcopy(base)
    config = peft.AdaLoraConfig(init_r=6, target_r=2, lora_alpha=16, target_modules=TARGETS, tinit=t_init,
                                tfinal=t_final, deltaT=delta_t, beta1=0.85, beta2=0.85, orth_reg_weight=0.3,
                                total_step=T, task_type="SEQ_CLS", lora_dropout=0.0)
    theirs = peft.get_peft_model(theirs, config)
    handle = adalora.attach(ours, adalora.AdaLoRA(init_rank=6, target_rank=2, alpha=16, t_init=t_init,
                                                  t_final=t_final, delta_t=delta_t, orth_reg_weight=0.3, total_steps=T))
    state = theirs.state_dict()
    with torch.no_grad():
        for name, layer in handle.layers.items():
            for part in ("lora_A", "lora_E", "lora_B"):
                getattr(layer, part).copy_(state[f"base_model.model.{name}.{part}.default"])
        for part in ("weight", "bias"):
            getattr(ours.classifier, part).copy_(state[f"base_model.model.classifier.modules_to_save.default.{part}"])
    opt_theirs = torch.optim.AdamW([p for p in theirs.parameters() if p.requires_grad], lr=1e-2)
    opt_ours = torch.optim.AdamW([p for p in ours.parameters() if p.requires_grad], lr=1e-2)
    theirs.train(), ours.train()
    g = torch.Generator().manual_seed(1)
    for t in range(T):
        ids, y = torch.randint(0, 100, (8, 12), generator=g), torch.randint(0, 2, (8,), generator=g)
        loss_theirs = theirs(input_ids=ids, labels=y).loss              # PEFT adds the regulariser in forward
        loss_ours = ours(input_ids=ids, labels=y).loss + handle.regularizer()
        assert abs(loss_theirs.item() - loss_ours.item()) < 1e-5, f"step {t}"
        loss_theirs.backward(), loss_ours.backward()
        opt_theirs.step(), opt_ours.step()
        theirs.base_model.update_and_allocate(t)
        handle.step(t)
        opt_theirs.zero_grad(), opt_ours.zero_grad()

    pattern = theirs.peft_config["default"].rank_pattern
    mask = handle.rank_mask()
    assert {n.replace(".lora_E.default", ""): v for n, v in pattern.items()} == mask
    assert sum(map(sum, mask.values())) == 2 * len(TARGETS) * 2
    state = theirs.state_dict()
    for name, layer in handle.layers.items():
        torch.testing.assert_close(layer.lora_E, state[f"base_model.model.{name}.lora_E.default"], atol=1e-5, rtol=0)
