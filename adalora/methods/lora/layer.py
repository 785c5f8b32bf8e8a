"""The LoRA-adapted linear layer. Like SVDLinear it *is* an nn.Linear holding `lora_A` (r x in) and
`lora_B` (out x r) beside the frozen base `weight` and `bias` (the shared parts: adalora/methods/low_rank.py)."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..low_rank import LowRankLinear


class LoRALinear(LowRankLinear):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0,
                 init: str = "gaussian", init_std: float = 0.02) -> None:
        super().__init__(base, rank, alpha)
        kw = self.adapter_kwargs()
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.zeros(rank, self.in_features, **kw))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, **kw))
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.reset_adapter(init, init_std)

    def reset_adapter(self, init: str = "gaussian", init_std: float = 0.02) -> None:
        if init == "gaussian":
            nn.init.normal_(self.lora_A, mean=0.0, std=init_std)
        else:
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B)

    def low_rank_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lora_A, self.lora_B * self.scaling

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B @ self.lora_A) * self.scaling
