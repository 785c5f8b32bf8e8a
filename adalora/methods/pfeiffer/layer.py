"""The LayerNorm that closes a layer's FFN sublayer, with a Pfeiffer adapter inside it.

The LayerNorm receives s = h + x (h the FFN output after dense and dropout, x the sublayer input) and returns
LN(s + adapter(LN(s))), which equals the official LN(h + adapter(LN(h + x)) + x) exactly. It *is* an
nn.LayerNorm holding the same weight and bias, so the pretrained parameters keep their names."""
from __future__ import annotations

import torch
from torch import nn

from ..bottleneck import Bottleneck


class PfeifferLayerNorm(nn.LayerNorm):
    def __init__(self, base: nn.LayerNorm, adapter: Bottleneck) -> None:
        nn.Module.__init__(self)
        self.normalized_shape = base.normalized_shape
        self.eps = base.eps
        self.elementwise_affine = base.elementwise_affine
        self.weight = base.weight
        self.bias = base.bias
        self.training = base.training
        self.adapter = adapter

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return super().forward(s + self.adapter(super().forward(s)))
