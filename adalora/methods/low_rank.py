"""What LoRA's and AdaLoRA's adapted layers share: an nn.Linear that keeps its frozen base `weight` and `bias` and
adds a low-rank update x downᵀ upᵀ (LoRA: B A; AdaLoRA: P Λ Q), computed in one GEMM with the base output, merged
into and out of the base weight for inference. The subclasses say what `down` (r x in) and `up` (out x r, the
scale folded in) are, and how their parameters start."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def add_low_rank(result: torch.Tensor, x: torch.Tensor, down: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """result + x downᵀ upᵀ for x (..., in), down (r x in), up (out x r), with the scaling already in `up`.

    The sum is one GEMM that accumulates into a copy of `result` (addmm, beta = 1): no separate pass over the
    (tokens x out) output to scale the update or to add it, forward or backward. With a base in another precision
    than the adapter (a bf16 model, fp32 adapters) the update is cast to the base's dtype and added, as before."""
    flat = result.reshape(-1, result.shape[-1])
    low = x.reshape(-1, x.shape[-1]) @ down.T                      # (tokens, r)
    if low.dtype == flat.dtype == up.dtype or torch.is_autocast_enabled(flat.device.type):
        return torch.addmm(flat, low, up.T).view(result.shape)
    return (flat + (low @ up.T).to(flat.dtype)).view(result.shape)


class LowRankLinear(nn.Linear):
    """The base layer `base` (its weight and bias, frozen by the caller) with room for a rank-`rank` adapter.

    Subclasses create `lora_A` (r x in) and `lora_B` (out x r) (and whatever else they hold), then implement
    `low_rank_factors()` -> (down, up), the factors of the forward pass, and `delta_weight()`, the update as a
    matrix (each in its method's own order of operations: merged weights stay bitwise what they were)."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = base.weight
        self.bias = base.bias
        self.fan_in_fan_out = getattr(base, "fan_in_fan_out", False)   # a GPT-2 Conv1D: W stored in x out
        self.r = rank
        self.lora_alpha = alpha
        self.merged = False

    def adapter_kwargs(self) -> dict:
        """Device and dtype of the adapter's parameters: fp32 (fp64 beside an fp64 base) whatever the base's
        precision, so a bf16 / fp16 model trains its adapter in fp32."""
        dtype = self.weight.dtype if self.weight.dtype == torch.float64 else torch.float32
        return dict(device=self.weight.device, dtype=dtype)

    def low_rank_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def delta_weight(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = F.linear(x, self.weight, self.bias)
        if self.merged:
            return result
        x = self.lora_dropout(x).to(self.lora_A.dtype)
        down, up = self.low_rank_factors()
        return add_low_rank(result, x, down, up)

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
