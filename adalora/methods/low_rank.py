"""The low-rank update both LoRA-form layers add to their frozen base: LoRA's B A and AdaLoRA's P Λ Q."""
from __future__ import annotations

import torch


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
