"""The IncreLoRA-adapted linear layer: W x + b + s · P diag(λ_eff) Q x with room for `capacity` rank-one components.

Paper §3 writes the update as a sum of rank-one components, ΔW = Σ_i P_i λ_i Q_i, to which components are added
during training. The layer allocates its largest possible rank (`capacity`, the spec's init_rank) up front:
`lora_A` (Q, capacity x in), `lora_E` (Λ, capacity x 1), `lora_B` (P, out x capacity), the names AdaLoRA's layer
uses. Each component is in one of three states, kept in two non-persistent 0/1 buffers:

- active (`active` = 1): λ_eff = λ, all of P_i, λ_i, Q_i trained; the layer's rank r counts these;
- reserve (`reserve` = 1, §3, advance learning): λ_eff = `reserve_lambda` (a constant, 1e-5), so P_i and Q_i get
  gradient and train while the component adds almost nothing to the output; λ_i itself gets no gradient;
- inactive (both 0): λ_eff = 0, so P_i, λ_i, Q_i get exactly zero gradient; the handle holds them at zero.

So an inactive component changes neither the output nor any gradient, and the layer behaves as a rank-r layer.
The scale is s = alpha / (r + 1e-5) with r the active rank (the authors' `ranknum`), so it changes when rank is added.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..low_rank import LowRankLinear, add_low_rank


class IncreLoRALinear(LowRankLinear):
    def __init__(self, base: nn.Linear, capacity: int, alpha: float, dropout: float = 0.0,
                 reserve_lambda: float = 1e-5) -> None:
        super().__init__(base, capacity, alpha)
        kw = self.adapter_kwargs()
        self.capacity = capacity
        self.scaling = alpha
        self.reserve_lambda = float(reserve_lambda)
        self.lora_A = nn.Parameter(torch.zeros(capacity, self.in_features, **kw))
        self.lora_E = nn.Parameter(torch.zeros(capacity, 1, **kw))
        self.lora_B = nn.Parameter(torch.zeros(self.out_features, capacity, **kw))
        self.register_buffer("active", torch.zeros(capacity, 1, **kw), persistent=False)
        self.register_buffer("reserve", torch.zeros(capacity, 1, **kw), persistent=False)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.r = 0
        self.track_update_grad = False            # set by the handle while it scores
        self.update_grad: torch.Tensor | None = None   # ∂L/∂ΔW (out x in), summed over the step's micro-batches

    # --- state -------------------------------------------------------------------------------------------------
    @property
    def rank(self) -> int:
        """Active components."""
        return int(self.active.sum().item())

    def live(self) -> torch.Tensor:
        """(capacity,) bool: active or reserve components (those that train)."""
        return (self.active + self.reserve).view(-1) > 0

    @torch.no_grad()
    def set_state(self, active: torch.Tensor, reserve: torch.Tensor) -> None:
        """Adopt (capacity,) bool masks of active and reserve components."""
        self.active.copy_(active.view(-1, 1).to(self.active))
        self.reserve.copy_((reserve & ~active).view(-1, 1).to(self.reserve))
        self.r = self.rank

    def update_scale(self) -> float:
        return self.scaling / (self.r + 1e-5)

    def effective_lambda(self) -> torch.Tensor:
        """λ_eff (capacity x 1): λ for active components, the fixed reserve value for reserves, 0 otherwise."""
        return self.lora_E * self.active + self.reserve_lambda * self.reserve

    def low_rank_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lora_A * self.effective_lambda(), self.lora_B * self.update_scale()

    def delta_weight(self) -> torch.Tensor:
        return (self.lora_B @ (self.lora_A * self.effective_lambda())) * self.update_scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """As LowRankLinear's; while the handle scores, the gradient of the loss with respect to the update matrix
        ΔW, ∂L/∂ΔW = Σ_tokens gᵀ x (g the output's gradient, x the input after dropout), is accumulated for the
        matrix's importance (the authors' code gets it from a backward hook on a materialised ΔW)."""
        if self.merged or not (self.track_update_grad and self.training and torch.is_grad_enabled()):
            return super().forward(x)
        result = F.linear(x, self.weight, self.bias)
        x = self.lora_dropout(x).to(self.lora_A.dtype)
        down, up = self.low_rank_factors()
        out = add_low_rank(result, x, down, up)
        if out.requires_grad:
            seen = x.detach().reshape(-1, x.shape[-1]).float()

            def accumulate(grad: torch.Tensor) -> None:
                g = grad.detach().reshape(-1, grad.shape[-1]).float().T @ seen
                self.update_grad = g if self.update_grad is None else self.update_grad + g
            out.register_hook(accumulate)
        return out

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"capacity={self.capacity}, alpha={self.lora_alpha}")
