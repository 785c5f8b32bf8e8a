"""Attaching AdaLoRA to a model, and the handle a training loop drives."""
from __future__ import annotations

import torch
from torch import nn

from ...backbone import freeze_all_but_head, head_prefixes
from ...errors import AdaLoRAError
from ...handle import Handle
from ...targets import default_targets, find_linear_targets, set_submodule
from .allocator import RankAllocator
from .config import AdaLoRA
from .layer import SVDLinear
from .regularizer import orthogonal_regularizer


class AdaLoRAHandle(Handle):
    """AdaLoRA's handle; Prune-LoRA's derives from it (same allocator, LoRA doublets instead of triplets)."""

    method = "adalora"

    def __init__(self, model: nn.Module, spec: AdaLoRA, layers: dict[str, SVDLinear]) -> None:
        super().__init__(model, spec)
        self.layers = layers
        self.allocator = RankAllocator(list(layers.items()), spec)
        self._snapshot_step: int | None = None
        if spec.total_steps is not None:
            self.set_total_steps(spec.total_steps)

    def regularizer(self) -> torch.Tensor:
        if self.spec.orth_reg_weight == 0:
            return super().regularizer()
        return self.spec.orth_reg_weight * orthogonal_regularizer(list(self.layers.values()), self.spec.reg_form)

    def set_total_steps(self, total_steps: int) -> None:
        self.allocator.set_total_steps(total_steps)
        self.total_steps = int(total_steps)

    def before_optimizer_step(self, step: int) -> None:
        """With score_weights="pre", keep the weights before the update; they are scored in `step` with the
        step's final gradients (unscaled and skipped-step aware, as for "post")."""
        if self.spec.score_weights == "pre" and self.allocator.scores_update_at(step):
            self.allocator.snapshot_weights()
            self._snapshot_step = step

    def step(self, step: int) -> None:
        weights = None
        if self.spec.score_weights == "pre" and self.allocator.scores_update_at(step):
            if self._snapshot_step != step:
                raise AdaLoRAError(f"score_weights='pre' scores the weights before the update: call "
                                   f"handle.before_optimizer_step({step}) before optimizer.step()")
            weights = self.allocator.pre_weights
        self.allocator.step(step, weights=weights)

    def skipped_step(self, step: int) -> None:
        """A step whose update the grad scaler skipped (inf/NaN gradients): the scores are left as they were and
        the schedule still masks on time (the weights did not change)."""
        self.allocator.step(step, update=False)

    def adapter_parameters(self) -> list[nn.Parameter]:
        return list(self.allocator.params)

    def rank_pattern(self) -> dict[str, int]:
        return self.allocator.rank_pattern()

    def rank_mask(self) -> dict[str, list[bool]]:
        return self.allocator.rank_mask()

    def set_rank_mask(self, mask: dict[str, list[bool]], apply: bool = True) -> None:
        self.allocator.set_rank_mask(mask, apply)

    def parameter_report(self) -> dict[str, int | float]:
        report = super().parameter_report()
        pattern = self.rank_pattern()
        # Σ_k r_k (in_k + out_k): the parameters the kept triplets use, as the official code logs `sum_param`.
        report["retained"] = sum(pattern[n] * (l.in_features + l.out_features) for n, l in self.layers.items())
        report["init_budget"] = self.allocator.init_budget
        report["target_budget"] = self.allocator.target_budget
        report["kept_rank"] = sum(pattern.values())
        return report

    def state_dict(self) -> dict:
        return {**super().state_dict(), "allocator": self.allocator.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.allocator.load_state_dict(state["allocator"])


def attach_adalora(model: nn.Module, spec: AdaLoRA) -> AdaLoRAHandle:
    targets = default_targets(model, spec.targets)
    found = find_linear_targets(model, targets, exclude=head_prefixes(model))
    freeze_all_but_head(model)
    layers = {}
    for name, linear in found:
        layer = SVDLinear(linear, spec.init_rank, spec.alpha, spec.dropout, spec.init_std)
        set_submodule(model, name, layer)
        layers[name] = layer
    return AdaLoRAHandle(model, spec, layers)
