"""Attaching Houlsby adapters to a model."""
from __future__ import annotations

from torch import nn

from ..bottleneck import AdapterHandle, insert_adapters
from .config import Houlsby
from .layer import with_adapter


def attach_houlsby(model: nn.Module, spec: Houlsby) -> AdapterHandle:
    return AdapterHandle(model, spec, insert_adapters(model, "houlsby", spec, with_adapter), method="houlsby")
