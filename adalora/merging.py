"""Merging adapters into the base weights (W <- W + Δ) for inference, and taking them out again.

Works on every adapted layer of a model (SVD-form and LoRA layers alike), whatever handle made them. A merged
layer computes W x + b only, so merge for inference and unmerge before training on. With fp16/bf16 base weights
the merged weight is rounded to that precision, so unmerging restores W only up to that rounding."""
from __future__ import annotations

from torch import nn


def adapted_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers that carry an adapter (lora_A / lora_B) and know how to merge it, by module name."""
    return {name: m for name, m in model.named_modules()
            if hasattr(m, "lora_A") and callable(getattr(m, "merge", None)) and callable(getattr(m, "unmerge", None))}


def merge(model: nn.Module) -> int:
    """Fold every adapter's update into its base weight; returns how many layers were merged (0 if none)."""
    layers = adapted_layers(model)
    for layer in layers.values():
        layer.merge()
    return len(layers)


def unmerge(model: nn.Module) -> int:
    """Take every merged update out of the base weights again; returns how many layers were adapted."""
    layers = adapted_layers(model)
    for layer in layers.values():
        layer.unmerge()
    return len(layers)


def is_merged(model: nn.Module) -> bool:
    return any(layer.merged for layer in adapted_layers(model).values())
