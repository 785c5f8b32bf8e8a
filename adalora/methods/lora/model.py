"""Attaching LoRA to a model."""
from __future__ import annotations

from torch import nn

from ...backbone import freeze_all_but_head, head_prefixes
from ...handle import Handle
from ...targets import default_targets, find_linear_targets, set_submodule
from .config import LoRA
from .layer import LoRALinear


class LoRAHandle(Handle):
    method = "lora"

    def __init__(self, model: nn.Module, spec: LoRA, layers: dict[str, LoRALinear]) -> None:
        super().__init__(model, spec)
        self.layers = layers

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for layer in self.layers.values() for p in (layer.lora_A, layer.lora_B)]


def attach_lora(model: nn.Module, spec: LoRA) -> LoRAHandle:
    found = find_linear_targets(model, default_targets(model, spec.targets), exclude=head_prefixes(model))
    freeze_all_but_head(model)
    layers = {}
    for name, linear in found:
        layer = LoRALinear(linear, spec.rank, spec.alpha, spec.dropout, spec.init, spec.init_std)
        set_submodule(model, name, layer)
        layers[name] = layer
    return LoRAHandle(model, spec, layers)
