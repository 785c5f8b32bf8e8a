"""Attaching SoRA, and the handle that applies the gates' proximal step and the final budget."""
from __future__ import annotations

import torch
from torch import nn

from ...backbone import freeze_all_but_head, head_prefixes
from ...errors import AdaLoRAError
from ...handle import Handle
from ...schedule import resolve_steps
from ...targets import default_targets, find_linear_targets, set_submodule
from .config import SoRA
from .layer import SoRALinear


class SoRAHandle(Handle):
    method = "sora"

    def __init__(self, model: nn.Module, spec: SoRA, layers: dict[str, SoRALinear]) -> None:
        super().__init__(model, spec)
        self.layers = layers
        self.budget = spec.target_total_rank or spec.target_rank * len(layers)
        self.keep: torch.Tensor | None = None     # the final phase's kept gates, flat over the layers (bool)
        self.final_from: int | None = None
        if spec.total_steps is not None:
            self.set_total_steps(spec.total_steps)

    def set_total_steps(self, total_steps: int) -> None:
        super().set_total_steps(total_steps)
        final = resolve_steps(self.spec.t_final, self.total_steps, "t_final")
        if not 0 <= final < self.total_steps:
            raise AdaLoRAError(f"t_final={self.spec.t_final} leaves no steps before the final phase of a "
                               f"{self.total_steps}-step run")
        self.final_from = self.total_steps - final

    def _gates(self) -> list[nn.Parameter]:
        return [layer.gate for layer in self.layers.values()]

    @torch.no_grad()
    def step(self, step: int) -> None:
        """After optimizer.step(): the L1 proximal step on every gate, then (final phase) the budget's mask."""
        if self.final_from is None:
            raise AdaLoRAError("SoRA needs the run's total steps: call handle.set_total_steps(T) before training")
        xi = self.spec.gate_threshold
        for g in self._gates():
            g.copy_(torch.sign(g) * torch.clamp(g.abs() - xi, min=0.0))
        if step + 1 >= self.final_from:
            if self.keep is None:
                flat = torch.cat([g.detach().abs().float().flatten() for g in self._gates()])
                keep = torch.zeros_like(flat, dtype=torch.bool)
                keep[torch.topk(flat, min(self.budget, flat.numel())).indices] = True
                self.keep = keep & (flat > 0)
            self._apply_keep()

    def _apply_keep(self) -> None:
        start = 0
        for g in self._gates():
            n = g.numel()
            g.mul_(self.keep[start:start + n].to(g.dtype))
            start += n

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for layer in self.layers.values() for p in (layer.lora_A, layer.gate, layer.lora_B)]

    def rank_pattern(self) -> dict[str, int]:
        """Components whose gate is not zero, per adapted matrix."""
        return {name: int((layer.gate != 0).sum()) for name, layer in self.layers.items()}

    def parameter_report(self) -> dict[str, int | float]:
        report = super().parameter_report()
        pattern = self.rank_pattern()
        report["retained"] = sum(pattern[n] * (l.in_features + l.out_features) for n, l in self.layers.items())
        report["kept_rank"] = sum(pattern.values())
        report["init_budget"] = self.spec.init_rank * len(self.layers)
        report["target_budget"] = self.budget
        return report

    def state_dict(self) -> dict:
        return {**super().state_dict(), "keep": self.keep}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.keep = state.get("keep")


def attach_sora(model: nn.Module, spec: SoRA) -> SoRAHandle:
    found = find_linear_targets(model, default_targets(model, spec.targets), exclude=head_prefixes(model))
    freeze_all_but_head(model)
    layers = {}
    for name, linear in found:
        layer = SoRALinear(linear, spec.init_rank, spec.alpha, spec.dropout, spec.gate_init, spec.init, spec.init_std)
        set_submodule(model, name, layer)
        layers[name] = layer
    return SoRAHandle(model, spec, layers)
