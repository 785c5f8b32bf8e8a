"""Attaching LoRA to a model."""
from __future__ import annotations

import torch
from torch import nn

from ...backbone import freeze_all_but_head, head_prefixes
from ...handle import Handle
from ...targets import default_targets, find_linear_targets, set_submodule
from ..adalora.regularizer import orthogonal_regularizer
from .config import LoRA
from .layer import LoRALinear


class LoRAHandle(Handle):
    method = "lora"

    def __init__(self, model: nn.Module, spec: LoRA, layers: dict[str, LoRALinear]) -> None:
        super().__init__(model, spec)
        self.layers = layers

    def regularizer(self) -> torch.Tensor:
        """LoRA_regu's orthogonal regulariser on A and B; zero for plain LoRA."""
        if self.spec.orth_reg_weight == 0:
            return super().regularizer()
        return self.spec.orth_reg_weight * orthogonal_regularizer(list(self.layers.values()), self.spec.reg_form)

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for layer in self.layers.values() for p in (layer.lora_A, layer.lora_B)]


def replace_with_lora(model: nn.Module, spec, rank: int) -> dict[str, LoRALinear]:
    """Freeze the backbone and put a LoRALinear of `rank` in place of every target (shared with Prune-LoRA)."""
    found = find_linear_targets(model, default_targets(model, spec.targets), exclude=head_prefixes(model))
    freeze_all_but_head(model)
    layers = {}
    for name, linear in found:
        layer = LoRALinear(linear, rank, spec.alpha, spec.dropout, spec.init, spec.init_std)
        set_submodule(model, name, layer)
        layers[name] = layer
    return layers


def attach_lora(model: nn.Module, spec: LoRA) -> LoRAHandle:
    return LoRAHandle(model, spec, replace_with_lora(model, spec, spec.rank))
