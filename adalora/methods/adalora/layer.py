"""The SVD-form adapted linear layer: W x + b + s * P diag(λ) Q x, with s = alpha / (r_init + 1e-5).

It *is* an nn.Linear: the base `weight` and `bias` keep their names and stay frozen, and the layer holds the
adapter itself under the names the official code and PEFT use: `lora_A` (Q, r x in), `lora_E` (Λ, r x 1),
`lora_B` (P, out x r). `ranknum` stays at the initial rank, so pruning never rescales the update (ALGORITHM.md §1), and
neither does slicing the layer down to its kept triplets (`keep_only`, AdaLoRA's `slice_final`).
The parts shared with LoRALinear (base layer, one-GEMM forward, merging) are in adalora/methods/low_rank.py.
"""
from __future__ import annotations

import torch
from torch import nn

from ..low_rank import LowRankLinear


class SVDLinear(LowRankLinear):
    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0, init_std: float = 0.02) -> None:
        super().__init__(base, rank, alpha)
        kw = self.adapter_kwargs()
        self.scaling = alpha if alpha > 0 else float(rank)  # as the official SVDLinear stores it
        self.lora_A = nn.Parameter(torch.zeros(rank, self.in_features, **kw))
        self.lora_E = nn.Parameter(torch.zeros(rank, 1, **kw))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, rank, **kw))
        self.register_buffer("ranknum", torch.full((1,), float(rank), **kw), persistent=False)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self._scale_cache: tuple[tuple, float] | None = None
        self.reset_adapter(init_std)

    def reset_adapter(self, init_std: float = 0.02) -> None:
        """Λ = 0 and P, Q ~ N(0, init_std²): the update is exactly zero at init."""
        nn.init.zeros_(self.lora_E)
        nn.init.normal_(self.lora_A, mean=0.0, std=init_std)
        nn.init.normal_(self.lora_B, mean=0.0, std=init_std)

    def update_scale(self) -> float | torch.Tensor:
        """s = scaling / (ranknum + 1e-5) as the official code computes it in the adapter's precision, kept as a
        Python number: the forward pass then multiplies P by a scalar (bitwise the same product) instead of
        recomputing the quotient from the `ranknum` tensor in two extra operations per layer and step."""
        ranknum = self.ranknum
        key = (id(ranknum), ranknum._version, ranknum.dtype, ranknum.device)
        if self._scale_cache is None or self._scale_cache[0] != key:
            scale = self.scaling / (ranknum + 1e-5)
            if ranknum.device.type == "meta":
                return scale
            self._scale_cache = (key, float(scale.item()))
        return self._scale_cache[1]

    def low_rank_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        # W x + b + (x (Q * Λ)ᵀ) (s P)ᵀ: the scale goes onto P (out x r) instead of the (tokens x out) update, and
        # the sum with W x + b is one GEMM, so the adapter adds no pass over the layer's output.
        return self.lora_A * self.lora_E, self.lora_B * self.update_scale()

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B @ (self.lora_A * self.lora_E)) * self.scaling / (self.ranknum + 1e-5)

    @torch.no_grad()
    def keep_only(self, keep: torch.Tensor) -> torch.Tensor:
        """Slice Q, Λ, P (and their gradients, if any) down to the triplets `keep` (bool, length r) marks, in
        place: the Parameter objects stay, so an optimizer holding them keeps working (its state is sliced by the
        caller with the returned indices). `ranknum` keeps the initial rank, so the scale does not change."""
        index = torch.nonzero(keep.to(self.lora_A.device)).view(-1)
        for name, dim in (("lora_A", 0), ("lora_E", 0), ("lora_B", 1)):
            p = getattr(self, name)
            cut = nn.Parameter(p.detach().index_select(dim, index).contiguous(), requires_grad=p.requires_grad)
            if p.grad is not None:
                cut.grad = p.grad.index_select(dim, index).contiguous()
            # The same Python object with the cut tensor inside (optimizers and allocators key on the object); a
            # swap rather than `p.data = ...`, whose new shape autograd's cached gradient accumulator would not see.
            torch.utils.swap_tensors(p, cut)
        self.r = int(index.numel())
        return index
