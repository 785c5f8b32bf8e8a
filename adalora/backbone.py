"""The pretrained backbone versus the task head, and what a parameter-efficient method freezes.

As in the official code (ALGORITHM.md §1, §8), methods train their own parameters inside the backbone plus everything
outside it (the classifier, DeBERTa's pooler); base weights and biases inside the backbone stay frozen.
"""
from __future__ import annotations

from torch import nn


def backbone_of(model: nn.Module) -> nn.Module | None:
    """The pretrained backbone of a transformers model (`model.base_model`), or None when it is the model itself."""
    base = getattr(model, "base_model", None)
    return base if isinstance(base, nn.Module) and base is not model else None


def head_prefixes(model: nn.Module) -> list[str]:
    """Names of the top-level modules outside the backbone (the task head); adapters never go there."""
    backbone = backbone_of(model)
    if backbone is None:
        return []
    return [name for name, child in model.named_children() if child is not backbone]


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Parameters outside the backbone. Parameters tied into the backbone (BART's lm_head) are not head."""
    backbone = backbone_of(model)
    if backbone is None:
        return []
    inside = {id(p) for p in backbone.parameters()}
    return [p for p in model.parameters() if id(p) not in inside]


def freeze_all_but_head(model: nn.Module) -> None:
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head_parameters(model):
        p.requires_grad_(True)
