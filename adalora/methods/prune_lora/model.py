"""Attaching Prune-LoRA: LoRA layers at the initial rank, driven by AdaLoRA's allocator (which zeroes the A row
and B column of a pruned doublet)."""
from __future__ import annotations

from torch import nn

from ..adalora.model import AdaLoRAHandle
from ..lora.model import replace_with_lora
from .config import PruneLoRA


class PruneLoRAHandle(AdaLoRAHandle):
    method = "prune-lora"


def attach_prune_lora(model: nn.Module, spec: PruneLoRA) -> PruneLoRAHandle:
    return PruneLoRAHandle(model, spec, replace_with_lora(model, spec, spec.init_rank))
