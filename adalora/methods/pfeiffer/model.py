"""Attaching Pfeiffer adapters to a model."""
from __future__ import annotations

from torch import nn

from ...handle import Handle
from ..bottleneck import AdapterHandleMixin, insert_adapters
from .config import Pfeiffer
from .layer import PfeifferLayerNorm


class PfeifferHandle(AdapterHandleMixin, Handle):
    method = "pfeiffer"

    def __init__(self, model: nn.Module, spec: Pfeiffer, layers: dict[str, nn.Module]) -> None:
        super().__init__(model, spec)
        self.layers = layers


def attach_pfeiffer(model: nn.Module, spec: Pfeiffer) -> PfeifferHandle:
    return PfeifferHandle(model, spec, insert_adapters(model, "pfeiffer", spec, PfeifferLayerNorm))
