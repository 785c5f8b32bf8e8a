"""Attaching a PEFT LoRA variant: PEFT injects its own LoRA layers into the model in place; the handle gives the
suite's accounting and, for LoRA+, PEFT's optimizer. `peft` is imported only when such a method is attached."""
from __future__ import annotations

from torch import nn

from ...backbone import freeze_all_but_head, head_prefixes
from ...handle import Handle
from ...targets import default_targets, find_linear_targets
from .config import PeftLoRA

ADAPTER_NAME = "default"


class PeftLoRAHandle(Handle):
    method = "peft-lora"

    def __init__(self, model: nn.Module, spec: PeftLoRA, modules: list[str]) -> None:
        super().__init__(model, spec)
        self.modules = modules

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.model.named_parameters() if ".lora_" in name]

    def optimizer(self, optimizer_cls, optimizer_kwargs: dict):
        """LoRA+: PEFT's optimizer with B at loraplus_lr_ratio x the learning rate; None (the Trainer's own) else."""
        if self.spec.variant != "loraplus":
            return None
        from peft.optimizers import create_loraplus_optimizer

        kwargs = dict(optimizer_kwargs)
        lr = kwargs.pop("lr")
        return create_loraplus_optimizer(self.model, optimizer_cls, lr=lr, loraplus_lr_ratio=self.spec.loraplus_lr_ratio,
                                         **kwargs)


def attach_peft_lora(model: nn.Module, spec: PeftLoRA) -> PeftLoRAHandle:
    from peft import LoraConfig, inject_adapter_in_model

    found = find_linear_targets(model, default_targets(model, spec.targets), exclude=head_prefixes(model))
    modules = [name for name, _ in found]
    init = "pissa" if spec.variant == "pissa" else (True if spec.init == "kaiming" else "gaussian")
    config = LoraConfig(r=spec.rank, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=modules,
                        use_dora=spec.variant == "dora", use_rslora=spec.variant == "rslora",
                        init_lora_weights=init, fan_in_fan_out=any(type(m).__name__ == "TransposedLinear"
                                                                   for _, m in found))
    inject_adapter_in_model(config, model, adapter_name=ADAPTER_NAME)
    freeze_all_but_head(model)                 # the backbone frozen, the task head trainable, as for every method
    handle = PeftLoRAHandle(model, spec, modules)
    for p in handle.adapter_parameters():
        p.requires_grad_(True)
    return handle
