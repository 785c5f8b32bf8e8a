"""The SoRA-adapted linear layer: LoRA's A (r x in) and B (out x r) with a gate g (r) between them."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..low_rank import LowRankLinear


class SoRALinear(LowRankLinear):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0, gate_init: str = "normal",
                 init: str = "kaiming", init_std: float = 0.02) -> None:
        super().__init__(base, rank, alpha)
        kw = self.adapter_kwargs()
        self.scaling = alpha / rank
        self.lora_A = nn.Parameter(torch.zeros(rank, self.in_features, **kw))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, **kw))
        self.gate = nn.Parameter(torch.zeros(rank, **kw))
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        with torch.no_grad():
            if init == "kaiming":
                nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
            else:
                nn.init.normal_(self.lora_A, mean=0.0, std=init_std)
            if gate_init == "normal":
                self.gate.normal_()
            else:
                self.gate.fill_(1.0)

    def low_rank_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.gate[:, None] * self.lora_A, self.lora_B * self.scaling

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B @ (self.gate[:, None] * self.lora_A)) * self.scaling
