"""Attaching Houlsby adapters to a model."""
from __future__ import annotations

from torch import nn

from ...handle import Handle
from ..bottleneck import AdapterHandleMixin, insert_adapters
from .config import Houlsby
from .layer import with_adapter


class HoulsbyHandle(AdapterHandleMixin, Handle):
    method = "houlsby"

    def __init__(self, model: nn.Module, spec: Houlsby, layers: dict[str, nn.Module]) -> None:
        super().__init__(model, spec)
        self.layers = layers


def attach_houlsby(model: nn.Module, spec: Houlsby) -> HoulsbyHandle:
    return HoulsbyHandle(model, spec, insert_adapters(model, "houlsby", spec, with_adapter))
