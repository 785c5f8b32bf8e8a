"""Attaching Pfeiffer adapters to a model."""
from __future__ import annotations

from torch import nn

from ..bottleneck import AdapterHandle, insert_adapters
from .config import Pfeiffer
from .layer import PfeifferLayerNorm


def attach_pfeiffer(model: nn.Module, spec: Pfeiffer) -> AdapterHandle:
    return AdapterHandle(model, spec, insert_adapters(model, "pfeiffer", spec, PfeifferLayerNorm), method="pfeiffer")
