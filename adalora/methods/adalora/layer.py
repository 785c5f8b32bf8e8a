"""The SVD-form adapted linear layer: W x + b + s * P diag(λ) Q x, with s = alpha / (r_init + 1e-5).

It *is* an nn.Linear: the base `weight` and `bias` keep their names and stay frozen, and the layer holds the
adapter itself under the names the official code and PEFT use: `lora_A` (Q, r x in), `lora_E` (Λ, r x 1),
`lora_B` (P, out x r). `ranknum` stays at the initial rank, so pruning never rescales the update (spec §1).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..low_rank import add_low_rank


class SVDLinear(nn.Linear):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0, init_std: float = 0.02) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        dtype = base.weight.dtype if base.weight.dtype == torch.float64 else torch.float32
        kw = dict(device=base.weight.device, dtype=dtype)
        self.r = rank
        self.lora_alpha = alpha
        self.scaling = alpha if alpha > 0 else float(rank)  # as the official SVDLinear stores it
        self.lora_A = nn.Parameter(torch.zeros(rank, self.in_features, **kw))
        self.lora_E = nn.Parameter(torch.zeros(rank, 1, **kw))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, **kw))
        self.register_buffer("ranknum", torch.full((1,), float(rank), **kw), persistent=False)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        self.reset_adapter(init_std)

    def reset_adapter(self, init_std: float = 0.02) -> None:
        """Λ = 0 and P, Q ~ N(0, init_std²): the update is exactly zero at init."""
        nn.init.zeros_(self.lora_E)
        nn.init.normal_(self.lora_A, mean=0.0, std=init_std)
        nn.init.normal_(self.lora_B, mean=0.0, std=init_std)

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B @ (self.lora_A * self.lora_E)) * self.scaling / (self.ranknum + 1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = F.linear(x, self.weight, self.bias)
        if self.merged:
            return result
        x = self.lora_dropout(x).to(self.lora_A.dtype)
        # W x + b + (x (Q * Λ)ᵀ) (s P)ᵀ: the scale goes onto P (out x r) instead of the (tokens x out) update, and
        # the sum with W x + b is one GEMM, so the adapter adds no pass over the layer's output.
        return add_low_rank(result, x, self.lora_A * self.lora_E, self.lora_B * (self.scaling / (self.ranknum + 1e-5)))

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
