"""AdaLoRA's rank allocator (spec §3-5): importance scores, the budget schedule, the global threshold, masking.

Per optimizer step t (0-based), called after `optimizer.step()` and before `zero_grad()`:
1. if t < T - t_final: for every entry w of every lora_A / lora_E / lora_B,
   I = |w * grad|, Ī <- b1 Ī + (1 - b1) I, Ū <- b2 Ū + (1 - b2) |I - Ī| (with the just-updated Ī);
   from T - t_final on the scores are frozen.
2. b(t) and the masking flag from the schedule; when masking, the triplet score
   S_i = s(λ_i) + mean_j s(P_ji) + mean_j s(Q_ij), with s = Ī * Ū, is computed for all n * r triplets, τ is the
   K-th smallest (K = b0 - b(t)) over all of them, and every λ with S <= τ is set to 0 (ties prune more than K).
   P, Q and the optimizer state are not touched, so pruned triplets can revive until the final phase.

All adapted matrices are handled at once: the EMAs with foreach ops over the parameter lists, the triplet scores
with one stacked reduction per shape group, the threshold with one kthvalue, the mask with one foreach multiply.
Nothing waits on the host (no .item()) during a step.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ...errors import AdaLoRAError
from ...grouping import group_indices
from ...schedule import budget_at, resolve_steps, validate_schedule
from .config import AdaLoRA
from .layer import SVDLinear


class RankAllocator:
    def __init__(self, layers: Sequence[tuple[str, SVDLinear]], spec: AdaLoRA) -> None:
        self.spec = spec
        self.names = [name for name, _ in layers]
        self.layers = [layer for _, layer in layers]
        self.n = len(self.layers)
        ranks = [layer.r for layer in self.layers]
        self.init_budget = sum(ranks)
        self.target_budget = spec.target_total_rank if spec.target_total_rank is not None else spec.target_rank * self.n
        if spec.allocate and not 0 < self.target_budget < self.init_budget:
            raise AdaLoRAError(f"target budget {self.target_budget} must lie between 1 and the initial budget "
                               f"{self.init_budget} (= {self.n} matrices x init_rank {spec.init_rank})")
        # Triplets are ordered by shape group; within a group by layer order.
        self.groups = group_indices([(l.r, l.in_features, l.out_features) for l in self.layers])
        self.order = [i for g in self.groups for i in g]
        self.ranks_in_order = [ranks[i] for i in self.order]
        self.E_in_order = [self.layers[i].lora_E for i in self.order]
        self.params = ([l.lora_A for l in self.layers] + [l.lora_E for l in self.layers]
                       + [l.lora_B for l in self.layers])
        tracks_ipt = spec.importance != "magnitude"
        tracks_unc = spec.importance == "sensitivity_uncertainty"
        self.ema_ipt = [torch.zeros_like(p, requires_grad=False) for p in self.params] if tracks_ipt else []
        self.ema_unc = [torch.zeros_like(p, requires_grad=False) for p in self.params] if tracks_unc else []
        self.keep: torch.Tensor | None = None        # current mask over the triplets (order above); None = all kept
        self.final_keep: torch.Tensor | None = None  # the fixed pattern of the final phase, once computed
        self.history: list[tuple[int, int]] = []     # (step, budget) of each masking step that set a new pattern
        self.total_steps: int | None = None
        self.t_init = self.t_final = None
        self.last_step: int | None = None

    # --- schedule ----------------------------------------------------------------------------------------
    def set_total_steps(self, total_steps: int) -> None:
        spec = self.spec
        t_init = resolve_steps(spec.t_init, total_steps, "t_init")
        t_final = resolve_steps(spec.t_final, total_steps, "t_final")
        validate_schedule(t_init, t_final, total_steps, spec.t_init, spec.t_final)
        self.total_steps, self.t_init, self.t_final = int(total_steps), t_init, t_final

    def budget(self, t: int) -> tuple[int, bool]:
        if self.total_steps is None:
            raise AdaLoRAError("the AdaLoRA schedule needs the run's total steps: call handle.set_total_steps(T) "
                               "(or pass total_steps=T in the spec) before the first step")
        return budget_at(t, init_budget=self.init_budget, target_budget=self.target_budget, t_init=self.t_init,
                         t_final=self.t_final, total_steps=self.total_steps, delta_t=self.spec.delta_t)

    @property
    def final_phase_start(self) -> int:
        return self.total_steps - self.t_final

    # --- scores ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def update_scores(self) -> None:
        """One EMA step of sensitivity (and uncertainty) for every adapter entry, from the weights and grads now."""
        if not self.ema_ipt:
            return
        b1, b2 = self.spec.beta1, self.spec.beta2
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        ipt = torch._foreach_mul(self.params, grads)
        torch._foreach_abs_(ipt)
        torch._foreach_mul_(self.ema_ipt, b1)
        torch._foreach_add_(self.ema_ipt, torch._foreach_mul(ipt, 1 - b1))
        if self.ema_unc:
            dev = torch._foreach_sub(ipt, self.ema_ipt)
            torch._foreach_abs_(dev)
            torch._foreach_mul_(self.ema_unc, b2)
            torch._foreach_add_(self.ema_unc, torch._foreach_mul(dev, 1 - b2))

    @torch.no_grad()
    def triplet_scores(self) -> torch.Tensor:
        """S for every triplet, flat, in shape-group order."""
        n = self.n
        if self.spec.importance == "magnitude":
            return torch.cat([torch.stack([self.layers[i].lora_E for i in g]).reshape(-1) for g in self.groups]).abs()
        elem = torch._foreach_mul(self.ema_ipt, self.ema_unc) if self.ema_unc else self.ema_ipt
        s_a, s_e, s_b = elem[:n], elem[n:2 * n], elem[2 * n:]
        out = []
        for g in self.groups:
            mean_a = torch.stack([s_a[i] for i in g]).mean(dim=2)   # mean over the Q row (in_features)
            mean_b = torch.stack([s_b[i] for i in g]).mean(dim=1)   # mean over the P column (out_features)
            s_lambda = torch.stack([s_e[i] for i in g]).squeeze(2)
            out.append((s_lambda + (mean_a + mean_b)).reshape(-1))
        return torch.cat(out)

    # --- masking -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def mask_for_budget(self, budget: int) -> torch.Tensor:
        k = self.init_budget - budget
        scores = self.triplet_scores()
        if k <= 0:
            return torch.ones_like(scores, dtype=torch.bool)
        threshold = torch.kthvalue(scores, k).values
        return scores > threshold

    @torch.no_grad()
    def apply(self, keep: torch.Tensor) -> None:
        chunks = keep.to(self.E_in_order[0].dtype).unsqueeze(1).split(self.ranks_in_order)
        torch._foreach_mul_(self.E_in_order, list(chunks))

    @torch.no_grad()
    def step(self, t: int, *, update: bool = True) -> None:
        """The allocator's work at optimizer step t. `update=False` when the scores were already updated from the
        pre-update weights (the paper's Algorithm 1)."""
        budget, masking = self.budget(t)
        if update and t < self.final_phase_start:
            self.update_scores()
        if masking and self.spec.allocate:
            if t >= self.final_phase_start:
                if self.final_keep is None:  # scores are frozen from here: one fixed pattern for the rest
                    self.final_keep = self.mask_for_budget(self.target_budget)
                    self.history.append((t, self.target_budget))
                keep = self.final_keep
            else:
                keep = self.mask_for_budget(budget)
                self.history.append((t, budget))
            self.keep = keep
            self.apply(keep)
        self.last_step = t

    # --- reporting ---------------------------------------------------------------------------------------
    def _keep_per_layer(self) -> list[torch.Tensor]:
        keep = self.keep if self.keep is not None else torch.ones(self.init_budget, dtype=torch.bool)
        chunks = keep.split(self.ranks_in_order)
        per_layer = [None] * self.n
        for i, chunk in zip(self.order, chunks):
            per_layer[i] = chunk
        return per_layer

    def rank_pattern(self) -> dict[str, int]:
        counts = torch.stack([c.sum() for c in self._keep_per_layer()]).tolist()
        return dict(zip(self.names, (int(c) for c in counts)))

    def rank_mask(self) -> dict[str, list[bool]]:
        return {name: c.tolist() for name, c in zip(self.names, self._keep_per_layer())}

    # --- resume ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "names": list(self.names),
            "ema_ipt": [t.clone() for t in self.ema_ipt],
            "ema_unc": [t.clone() for t in self.ema_unc],
            "keep": None if self.keep is None else self.keep.clone(),
            "final_keep": None if self.final_keep is None else self.final_keep.clone(),
            "history": list(self.history),
            "last_step": self.last_step,
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        if list(state["names"]) != self.names:
            raise AdaLoRAError("allocator state belongs to a different set of adapted modules; "
                               "resume with the same model, targets and method")
        for mine, saved in ((self.ema_ipt, state["ema_ipt"]), (self.ema_unc, state["ema_unc"])):
            if len(mine) != len(saved):
                raise AdaLoRAError("allocator state was saved with a different importance setting; resume with the same method")
            for m, t in zip(mine, saved):
                m.copy_(t)
        device = self.E_in_order[0].device
        self.keep = None if state["keep"] is None else state["keep"].to(device)
        self.final_keep = None if state["final_keep"] is None else state["final_keep"].to(device)
        self.history = [tuple(h) for h in state["history"]]
        self.last_step = state["last_step"]
