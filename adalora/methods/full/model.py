"""Attaching full fine-tuning: every parameter trains."""
from __future__ import annotations

from torch import nn

from ...backbone import backbone_of
from ...handle import Handle
from .config import Full


class FullHandle(Handle):
    method = "full"

    def adapter_parameters(self) -> list[nn.Parameter]:
        """The whole backbone: what full fine-tuning changes besides the head."""
        return list((backbone_of(self.model) or self.model).parameters())

    def added_parameters(self) -> list[nn.Parameter]:
        return []


def attach_full(model: nn.Module, spec: Full) -> FullHandle:
    for p in model.parameters():
        p.requires_grad_(True)
    return FullHandle(model, spec)
