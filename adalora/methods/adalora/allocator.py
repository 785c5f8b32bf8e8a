"""AdaLoRA's rank allocator (ALGORITHM.md §3-5): importance scores, the budget schedule, the global threshold, masking.

Per optimizer step t (0-based), called after `optimizer.step()` and before `zero_grad()`:
1. if t < T - t_final: for every entry w of every lora_A / lora_E / lora_B,
   I = |w * grad|, Ī <- b1 Ī + (1 - b1) I, Ū <- b2 Ū + (1 - b2) |I - Ī| (with the just-updated Ī);
   from T - t_final on the scores are frozen. w is the post-update weight (the official code) or, with
   score_weights="pre", the weight as it stood before this step's update (the paper's Algorithm 1).
2. b(t) and the masking flag from the schedule; when masking, the triplet score
   S_i = s(λ_i) + mean_j s(P_ji) + mean_j s(Q_ij), with s = Ī * Ū, is computed for all n * r triplets, τ is the
   K-th smallest (K = b0 - b(t)) over all of them, and every λ with S <= τ is set to 0 (ties prune more than K).
   P, Q and the optimizer state are not touched, so pruned triplets can revive until the final phase.

The same allocator prunes LoRA *doublets* (Prune-LoRA, Table 4) when the layers have no lora_E: the score is
mean_j s(A_ij) + mean_j s(B_ji) and a pruned doublet has its A row and B column zeroed in place, as the official
research code's `RankSelector` does (ALGORITHM.md §11).

Importance variants (ALGORITHM.md §3): "sensitivity" scores s = Ī (the official research code's "sensitivity only" path,
beta2 outside (0, 1)), "magnitude" scores a triplet by |λ_i| alone (its `magE,onlyE` setting).

All adapted matrices are handled at once. The statistics live in two flat buffers laid out by shape group (per
group: every A, then every B, then every λ, each block in layer order), so an EMA step is a dozen whole-buffer
operations (on a CPU run chunk by chunk, so that they stay in cache) after one foreach copy and one foreach
multiply that gather |w * grad| into a preallocated scratch; a group's triplet scores are reductions over views of
the buffer (no stacking), the threshold comes from one kthvalue and the mask from one foreach multiply. Nothing is
allocated on a step that only updates the scores, and nothing waits on the host (no .item()). The arithmetic is
operation for operation the official code's (and PEFT's), so the statistics are bitwise the same as theirs. The
buffers follow the adapters to their device (a trainer moves the model after `attach`).

Slicing (AdaLoRA's `slice_final`): once the final phase has fixed the pattern, `slice_layers` cuts every layer down to
its kept triplets (SVDLinear.keep_only). The statistics keep their initial-rank layout (they are frozen by then and
saved with the run), the masks keep describing the initial rank, and the allocator neither scores nor masks again.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from ...errors import AdaLoRAError
from ...grouping import group_indices
from ...schedule import budget_at, resolve_steps, validate_schedule

CPU_CHUNK = 1 << 16  # entries per chunk of the EMA step on a CPU (a few hundred KiB per buffer: cache-sized)


class ShapeBlock(NamedTuple):
    """One shape group's place in the flat statistics buffers: its matrices all have the same (r, in, out)."""
    n: int          # matrices in the group
    r: int
    fan_in: int
    fan_out: int
    a0: int         # where the group's A block starts
    b0: int         # ... its B block
    e0: int         # ... its λ block (AdaLoRA; unused for Prune-LoRA's doublets)


class EmaChunk(NamedTuple):
    """A cache-sized piece of the EMA step: whole matrices, in buffer order."""
    members: list[int]           # parameter indices (in `params` order)
    start: int                   # flat start and end in the buffers
    end: int
    views: list[torch.Tensor]    # each member's view in the chunk's scratch


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class RankAllocator:
    """Scores and masks the rank-one components of a set of adapted layers.

    `layers` are (name, layer) pairs whose layer holds `lora_A` (r x in) and `lora_B` (out x r), and `lora_E`
    (r x 1) for SVD-form layers. `spec` supplies the schedule and score settings (AdaLoRA or PruneLoRA)."""

    def __init__(self, layers: Sequence[tuple[str, nn.Module]], spec) -> None:
        self.spec = spec
        self.names = [name for name, _ in layers]
        self.layers = [layer for _, layer in layers]
        self.n = len(self.layers)
        self.allocate = getattr(spec, "allocate", True)
        self.has_E = all(hasattr(layer, "lora_E") for layer in self.layers)
        if spec.importance == "magnitude" and not self.has_E:
            raise AdaLoRAError("importance='magnitude' scores singular values |λ|; these layers have none "
                               "(use sensitivity_uncertainty or sensitivity)")
        ranks = [layer.r for layer in self.layers]
        self.init_budget = sum(ranks)
        self.target_budget = spec.target_total_rank if spec.target_total_rank is not None else spec.target_rank * self.n
        if self.allocate and not 0 < self.target_budget < self.init_budget:
            raise AdaLoRAError(f"target budget {self.target_budget} must lie between 1 and the initial budget "
                               f"{self.init_budget} (= {self.n} matrices x init_rank {spec.init_rank}): lower "
                               f"target_rank / target_total_rank or raise init_rank")
        # Components are ordered by shape group; within a group by layer order.
        self.groups = group_indices([(l.r, l.in_features, l.out_features) for l in self.layers])
        self.order = [i for g in self.groups for i in g]
        self.ranks_in_order = [ranks[i] for i in self.order]
        self._collect_parameters()
        self._shapes = [tuple(p.shape) for p in self.params]   # initial-rank shapes: the statistics' layout
        self.sliced = False                                       # layers cut down to their kept triplets
        # An allocator that never masks (SVD-LoRA) needs no statistics at all.
        tracks_ipt = self.allocate and spec.importance != "magnitude"
        tracks_unc = tracks_ipt and spec.importance in ("sensitivity_uncertainty", "lower_confidence")
        self.reactivation = bool(getattr(spec, "reactivation", False))
        if self.reactivation and not self.has_E:
            raise AdaLoRAError("reactivation scores a masked triplet by its λ's gradient; these layers have no λ")
        self._offsets, self._size, self._blocks = self._layout()
        self._stats_dtype = torch.float64 if all(p.dtype == torch.float64 for p in self.params) else torch.float32
        self._device = self.params[0].device
        self._ipt_flat = self._flat(self._size) if tracks_ipt else None
        self._unc_flat = self._flat(self._size) if tracks_unc else None
        self._set_views()
        self._plan: list[EmaChunk] | None = None  # EMA chunks, made on first use
        self._scratch: tuple[torch.Tensor, torch.Tensor] | None = None     # their |w * grad| and a temporary
        self._elem: torch.Tensor | None = None      # entry scores, made at the first masking step
        self.pre_weights: list[torch.Tensor] | None = None  # weights before this step's update (score_weights="pre")
        self.keep: torch.Tensor | None = None        # current mask over the components (order above); None = all kept
        self.final_keep: torch.Tensor | None = None  # the fixed pattern of the final phase, once computed
        self.history: list[tuple[int, int]] = []     # (step, budget) of each masking step that set a new pattern
        self.total_steps: int | None = None
        self.t_init = self.t_final = None
        self.last_step: int | None = None

    def _collect_parameters(self) -> None:
        self.A = [l.lora_A for l in self.layers]
        self.B = [l.lora_B for l in self.layers]
        self.E = [l.lora_E for l in self.layers] if self.has_E else []
        self.params = self.A + self.E + self.B
        # What a mask multiplies, in component order: λ of triplets, or the A rows and B columns of doublets.
        self.masked = ([self.E[i] for i in self.order] if self.has_E
                       else [self.A[i] for i in self.order] + [self.B[i] for i in self.order])

    # --- flat statistics ---------------------------------------------------------------------------------
    def _layout(self) -> tuple[list[int], int, list[ShapeBlock]]:
        """Offset of every parameter (in `params` order) in the flat buffers, their size, and a ShapeBlock per
        shape group."""
        n, has_E = self.n, self.has_E
        offsets, pos, blocks = [0] * len(self.params), 0, []
        for g in self.groups:
            first = self.layers[g[0]]
            r, fan_in, fan_out = first.r, first.in_features, first.out_features
            a0 = pos
            for i in g:
                offsets[i], pos = pos, pos + r * fan_in
            b0 = pos
            for i in g:
                offsets[len(self.params) - n + i], pos = pos, pos + fan_out * r
            e0 = pos
            if has_E:
                for i in g:
                    offsets[n + i], pos = pos, pos + r
            blocks.append(ShapeBlock(len(g), r, fan_in, fan_out, a0, b0, e0))
        return offsets, pos, blocks

    def _flat(self, size: int) -> torch.Tensor:
        """Statistics stay fp32 (fp64 for fp64 adapters) whatever the base model's precision."""
        return torch.zeros(size, dtype=self._stats_dtype, device=self._device)

    def _set_views(self) -> None:
        """Per-parameter views of the flat buffers, in parameter order (the public, saved form of the statistics)."""
        def views(flat):
            return [flat[o:o + _numel(shape)].view(shape) for o, shape in zip(self._offsets, self._shapes)]

        self.ema_ipt = views(self._ipt_flat) if self._ipt_flat is not None else []
        self.ema_unc = views(self._unc_flat) if self._unc_flat is not None else []

    def _follow_device(self) -> None:
        """Keep the statistics and masks where the adapters are: a trainer may move the model after `attach` (which
        may also replace the parameter objects, as a move to `meta` does)."""
        device = self.layers[0].lora_A.device
        if device == self._device:
            return
        self._device = device
        self._collect_parameters()
        for name in ("_ipt_flat", "_unc_flat", "keep", "final_keep"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(device))
        self._set_views()
        self.pre_weights, self._plan = None, None

    def _ema_plan(self) -> list[EmaChunk]:
        """The EMA step's chunks (EmaChunk: parameters, flat start, flat end, their views in the scratch), whole
        matrices in buffer order. On a CPU a chunk holds about CPU_CHUNK entries, so the step's dozen passes over a
        chunk stay in cache; on an accelerator one chunk holds everything (a handful of kernel launches)."""
        if self._plan is None:
            limit = CPU_CHUNK if self._device.type == "cpu" else self._size
            chunks, members, start = [], [], 0
            for i in sorted(range(len(self.params)), key=self._offsets.__getitem__):
                members.append(i)
                end = self._offsets[i] + _numel(self._shapes[i])
                if end - start >= limit:
                    chunks.append((members, start, end))
                    members, start = [], end
            if members:
                chunks.append((members, start, self._size))
            longest = max(end - start for _, start, end in chunks)
            self._scratch = (self._flat(longest), self._flat(longest))   # |w * grad| and a temporary
            self._plan = [EmaChunk(members, start, end,
                           [self._scratch[0][self._offsets[i] - start:self._offsets[i] - start + _numel(self._shapes[i])]
                            .view(self._shapes[i]) for i in members])
                          for members, start, end in chunks]
        return self._plan

    # --- schedule ----------------------------------------------------------------------------------------
    def set_total_steps(self, total_steps: int) -> None:
        spec = self.spec
        if not self.allocate:  # no schedule to fit
            self.total_steps = int(total_steps)
            return
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

    def scores_update_at(self, t: int) -> bool:
        """Whether step t updates the importance statistics (they are frozen from T - t_final on)."""
        if not self.ema_ipt or self.sliced:
            return False
        self.budget(t)  # the same clear error when the total steps are unknown
        return t < self.final_phase_start

    # --- scores ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def snapshot_weights(self) -> None:
        """Keep the weights as they are before `optimizer.step()`, for scoring them afterwards with the step's
        final (all-reduced, unscaled, clipped) gradients."""
        self._follow_device()
        if self.pre_weights is None:
            self.pre_weights = [torch.empty_like(p) for p in self.params]
        torch._foreach_copy_(self.pre_weights, self.params)

    @torch.no_grad()
    def update_scores(self, weights: Sequence[torch.Tensor] | None = None) -> None:
        """One EMA step of sensitivity (and uncertainty) for every adapter entry, from `weights` (default: the
        parameters as they are now) and the gradients now:
        I = |w * g|, Ī <- b1 Ī + (1 - b1) I, Ū <- b2 Ū + (1 - b2) |I - Ī|, each product rounded as the official code
        rounds it."""
        if not self.ema_ipt or self.sliced:
            return
        self._follow_device()
        weights = self.params if weights is None else list(weights)
        if self.reactivation and self.keep is not None:
            weights = self._with_reference_lambdas(weights)
        b1, b2 = self.spec.beta1, self.spec.beta2
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        squared = self.spec.importance == "fisher"
        for members, start, end, views in self._ema_plan():
            ipt, tmp = self._scratch[0][:end - start], self._scratch[1][:end - start]
            torch._foreach_copy_(views, [weights[i] for i in members])   # gather w, then w * g, into the scratch
            torch._foreach_mul_(views, [grads[i] for i in members])
            ipt.square_() if squared else ipt.abs_()
            ema_ipt = self._ipt_flat[start:end]
            ema_ipt.mul_(b1)
            ema_ipt.add_(torch.mul(ipt, 1 - b1, out=tmp))
            if self._unc_flat is not None:
                dev = torch.sub(ipt, ema_ipt, out=tmp).abs_()
                ema_unc = self._unc_flat[start:end]
                ema_unc.mul_(b2)
                ema_unc.add_(dev.mul_(1 - b2))

    def _with_reference_lambdas(self, weights: list[torch.Tensor]) -> list[torch.Tensor]:
        """Reactivation: the λ weights scored, with each masked λ_i replaced by its matrix's λ_ref (the mean |λ| of
        its kept triplets), so a masked triplet's sensitivity is |λ_ref ∂L/∂λ_i| (AdaLoRA.reactivation)."""
        weights = list(weights)
        kept = self.keep.split(self.ranks_in_order)
        n = self.n
        for pos, i in enumerate(self.order):
            lam, keep = weights[n + i], kept[pos].view(-1, *([1] * (weights[n + i].dim() - 1)))
            kept_abs = lam.abs() * keep
            count = keep.sum()
            ref = kept_abs.sum() / count if count > 0 else lam.abs().mean()
            weights[n + i] = torch.where(keep, lam, ref.to(lam.dtype).expand_as(lam))
        return weights

    @torch.no_grad()
    def triplet_scores(self) -> torch.Tensor:
        """S for every component (triplet or doublet), flat, in shape-group order."""
        if self.spec.importance == "magnitude":
            return torch.cat([torch.stack([self.E[i] for i in g]).reshape(-1) for g in self.groups]).abs()
        self._follow_device()
        if self._unc_flat is not None:
            if self._elem is None or self._elem.device != self._device:
                self._elem = self._flat(self._size)             # s = Ī * Ū, kept for the next masking step
            if self.spec.importance == "lower_confidence":      # s = max(Ī - kappa Ū, 0)
                elem = torch.sub(self._ipt_flat, self._unc_flat, alpha=self.spec.importance_kappa, out=self._elem)
                elem.clamp_(min=0)
            else:
                elem = torch.mul(self._ipt_flat, self._unc_flat, out=self._elem)
        else:
            elem = self._ipt_flat
        out = []
        for n_g, r, fan_in, fan_out, a0, b0, e0 in self._blocks:
            mean_a = elem[a0:b0].view(n_g, r, fan_in).mean(dim=2)    # mean over the Q / A row (in_features)
            mean_b = elem[b0:b0 + n_g * fan_out * r].view(n_g, fan_out, r).mean(dim=1)  # over the P / B column
            if self.has_E:
                out.append((elem[e0:e0 + n_g * r].view(n_g, r) + (mean_a + mean_b)).reshape(-1))
            else:
                out.append((mean_a + mean_b).reshape(-1))
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
        """Zero the pruned components in place: λ_i for triplets; the A row and the B column for doublets."""
        keep = keep.to(self.params[0].dtype)
        rows = keep.unsqueeze(1).split(self.ranks_in_order)             # (r, 1) per matrix: λ, or A's rows
        factors = rows if self.has_E else rows + keep.unsqueeze(0).split(self.ranks_in_order, dim=1)  # B's columns
        torch._foreach_mul_(self.masked, list(factors))

    @torch.no_grad()
    def step(self, t: int, *, update: bool = True, weights: Sequence[torch.Tensor] | None = None) -> None:
        """The allocator's work at optimizer step t: update the scores (unless `update=False`, e.g. on a step the
        grad scaler skipped) from `weights` (default: the post-update parameters), then mask per the schedule."""
        if not self.allocate or self.sliced:  # SVD-LoRA never masks; sliced layers hold only kept triplets
            self.last_step = t
            return
        self._follow_device()
        budget, masking = self.budget(t)
        if update and t < self.final_phase_start:
            self.update_scores(weights)
        if masking:
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

    @torch.no_grad()
    def set_rank_mask(self, mask: dict[str, list[bool]], apply: bool = True) -> None:
        """Adopt a saved keep mask (per matrix, as `rank_mask` gives it) and, with `apply`, zero what it prunes
        (loaded weights are taken as saved: between two mask steps a pruned λ may have moved off zero)."""
        if set(mask) != set(self.names):
            raise AdaLoRAError("the rank mask names other modules than this model adapts; load it into the same "
                               "architecture with the same targets")
        self._follow_device()
        device = self._device
        keep = torch.cat([torch.as_tensor(mask[self.names[i]], dtype=torch.bool, device=device) for i in self.order])
        if keep.numel() != self.init_budget:
            raise AdaLoRAError(f"the rank mask covers {keep.numel()} components where this model has "
                               f"{self.init_budget}; load it with the same init_rank")
        self.keep = keep
        if apply and not self.sliced:
            self.apply(keep)

    # --- slicing (the final phase at the final size) -------------------------------------------------------
    def per_layer_keep(self) -> list[torch.Tensor]:
        """The current keep mask of every layer (in layer order), each over the layer's initial rank."""
        return self._keep_per_layer()

    @torch.no_grad()
    def slice_layers(self, mask: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
        """Cut every layer down to its kept triplets (default: the fixed final pattern) and stop scoring and
        masking. Returns, per layer, the indices of the kept triplets (for slicing optimizer state)."""
        if self.sliced:
            raise AdaLoRAError("the layers are already sliced to their kept triplets")
        if not self.has_E:
            raise AdaLoRAError("slicing needs SVD-form layers (lora_E); these are LoRA doublets")
        if mask is None:
            if self.final_keep is None:
                raise AdaLoRAError("the final rank pattern is not fixed yet: slice after the budget phase")
            self.keep = self.final_keep
            mask = self._keep_per_layer()
        self._follow_device()
        indices = [layer.keep_only(keep) for layer, keep in zip(self.layers, mask)]
        self.sliced = True
        self._collect_parameters()
        self.pre_weights, self._plan, self._scratch, self._elem = None, None, None, None
        return indices

    # --- resume ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a resumed run needs; only tensors, lists, ints and None, so `torch.load(weights_only=True)`
        reads it back."""
        return {
            "names": list(self.names),
            "ema_ipt": [t.clone() for t in self.ema_ipt],
            "ema_unc": [t.clone() for t in self.ema_unc],
            "keep": None if self.keep is None else self.keep.clone(),
            "final_keep": None if self.final_keep is None else self.final_keep.clone(),
            "history": [list(h) for h in self.history],
            "last_step": self.last_step,
            "sliced": self.sliced,
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        if list(state["names"]) != self.names:
            theirs, mine = set(state["names"]), set(self.names)
            diff = sorted(theirs ^ mine)
            hint = f" (e.g. {diff[0]})" if diff else " (same modules in another order)"
            raise AdaLoRAError(f"allocator state belongs to a different set of adapted modules{hint}; "
                               f"resume with the same model, targets and method")
        for mine, saved in ((self.ema_ipt, state["ema_ipt"]), (self.ema_unc, state["ema_unc"])):
            if len(mine) != len(saved):
                raise AdaLoRAError("allocator state was saved with a different importance setting; resume with the same method")
            for m, t in zip(mine, saved):
                if m.shape != t.shape:
                    raise AdaLoRAError(f"allocator state holds a {tuple(t.shape)} statistic where this model has "
                                       f"{tuple(m.shape)}; resume with the same ranks (init_rank) and targets")
                m.copy_(t)
        self._follow_device()
        device = self._device
        self.keep = None if state["keep"] is None else state["keep"].to(device=device, dtype=torch.bool)
        self.final_keep = None if state["final_keep"] is None else state["final_keep"].to(device=device, dtype=torch.bool)
        for saved in (self.keep, self.final_keep):
            if saved is not None and saved.numel() != self.init_budget:
                raise AdaLoRAError(f"allocator state masks {saved.numel()} components where this model has "
                                   f"{self.init_budget}; resume with the same ranks and targets")
        self.history = [tuple(h) for h in state["history"]]
        self.last_step = state["last_step"]
        if state.get("sliced") and not self.sliced:   # a state saved after slicing: cut the layers alike, so the
            self.slice_layers(self._keep_per_layer())  # saved weights and optimizer state fit them
        elif self.sliced and not state.get("sliced"):
            raise AdaLoRAError("these layers are sliced to their kept triplets but the state was saved before "
                               "slicing; load it into a freshly attached model")
