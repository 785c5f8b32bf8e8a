"""Attaching BitFit: nothing is added, the backbone's biases are selected for training."""
from __future__ import annotations

from torch import nn

from ...backbone import freeze_all_but_head
from ...handle import Handle
from ...sizes import backbone_biases
from .config import BitFit


class BitFitHandle(Handle):
    method = "bitfit"

    def __init__(self, model: nn.Module, spec: BitFit, biases: list[nn.Parameter]) -> None:
        super().__init__(model, spec)
        self.biases = biases

    def adapter_parameters(self) -> list[nn.Parameter]:
        return list(self.biases)

    def added_parameters(self) -> list[nn.Parameter]:
        return []


def attach_bitfit(model: nn.Module, spec: BitFit) -> BitFitHandle:
    freeze_all_but_head(model)
    biases = [p for _, p in backbone_biases(model)]
    for p in biases:
        p.requires_grad_(True)
    return BitFitHandle(model, spec, biases)
