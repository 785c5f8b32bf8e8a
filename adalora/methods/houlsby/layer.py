"""Modules with a Houlsby adapter after them: h = module(x); return h + adapter(h).

Each *is* the module it replaces (an nn.Dropout or an nn.Linear holding the same weight and bias), so the
pretrained parameters keep their names and the adapter appears as `<module>.adapter.{down,up}`."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..bottleneck import Bottleneck


class HoulsbyDropout(nn.Dropout):
    """BERT / DeBERTa: dropout(dense(h)) -> adapter, before the block's LayerNorm(h + input)."""

    def __init__(self, base: nn.Dropout, adapter: Bottleneck) -> None:
        super().__init__(base.p, base.inplace)
        self.training = base.training
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = super().forward(x)
        return h + self.adapter(h)


class HoulsbyLinear(nn.Linear):
    """BART: the output projection (out_proj, fc2) -> adapter; the layer's own dropout and residual follow."""

    def __init__(self, base: nn.Linear, adapter: Bottleneck) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.training = base.training
        self.adapter = adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.linear(x, self.weight, self.bias)
        return h + self.adapter(h)


WRAPPERS = {nn.Dropout: HoulsbyDropout, nn.Linear: HoulsbyLinear}


def with_adapter(module: nn.Module, adapter: Bottleneck) -> nn.Module:
    for base_type, wrapper in WRAPPERS.items():
        if isinstance(module, base_type):
            return wrapper(module, adapter)
    raise TypeError(f"no Houlsby wrapper for {type(module).__name__}")
