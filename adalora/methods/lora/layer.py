"""The LoRA-adapted linear layer. Like SVDLinear it *is* an nn.Linear holding `lora_A` (r x in) and
`lora_B` (out x r) beside the frozen base `weight` and `bias`."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..low_rank import add_low_rank


class LoRALinear(nn.Linear):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0,
                 init: str = "gaussian", init_std: float = 0.02) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        dtype = base.weight.dtype if base.weight.dtype == torch.float64 else torch.float32
        kw = dict(device=base.weight.device, dtype=dtype)
        self.r = rank
        self.lora_alpha = alpha
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.zeros(rank, self.in_features, **kw))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, **kw))
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        self.reset_adapter(init, init_std)

    def reset_adapter(self, init: str = "gaussian", init_std: float = 0.02) -> None:
        if init == "gaussian":
            nn.init.normal_(self.lora_A, mean=0.0, std=init_std)
        else:
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = F.linear(x, self.weight, self.bias)
        if self.merged:
            return result
        x = self.lora_dropout(x).to(self.lora_A.dtype)
        return add_low_rank(result, x, self.lora_A, self.lora_B * self.scaling)

    @torch.no_grad()
    def merge(self) -> None:
        if not self.merged:
            self.weight.data += self.delta_weight().to(self.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        if self.merged:
            self.weight.data -= self.delta_weight().to(self.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, alpha={self.lora_alpha}"
