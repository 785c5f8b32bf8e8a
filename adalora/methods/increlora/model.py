"""Attaching IncreLoRA, and the handle that scores the matrices, adds rank, trains the reserve components in advance
and restarts a warm-up for every added component (paper §3; the spec's docstring says what each field does).

Sources: the paper (arXiv 2308.12043: the SVD-like reconstruction of LoRA, incremental allocation by module
importance, advance learning, restart warmup) and, for every detail below that the paper leaves to its code, the
authors' code (github FeiyuZhang98/IncreLoRA at 51a2d73: loralib/loralib/increlora.py for the layer, the scores and
the allocator; NLU/src/transformers/optimization.py `Multi_LambdaLR` for the restart warm-up). Only the paper's
abstract was at hand in the stored corpus when this was written, not its method section's text: the equations
below are written from the code, and section references name the paper's method parts, not checked numbers.

Per optimizer step t (0-based; `step(t)` runs after `optimizer.step()`, before `zero_grad()`):
1. restart warm-up: the update the optimizer just made to a recently added component is multiplied by that
   component's factor (the weights from `before_optimizer_step(t)` plus factor x the update, the same as a
   per-component learning rate for SGD, Adam and AdamW; see `_factor`);
2. inactive components are set back to zero (AdamW's momentum would otherwise move a just-retired reserve);
3. until the budget is reached, every matrix's importance is updated: the sensitivity of its update matrix,
   I_k = Σ_ij |ΔW_ij ∂L/∂ΔW_ij| / sqrt(out x in) (the authors' code; score_norm="mean" divides by out x in, a
   plain average over the matrix's entries), smoothed as AdaLoRA's (eq. 8-10): Ī <- b1 Ī + (1 - b1) I,
   Ū <- b2 Ū + (1 - b2) |I - Ī|, S_k = Ī Ū (paper §3: the module's score decides where rank goes);
4. at an addition step the `top_h` highest-scoring matrices that have room get `rank_step` components each (the
   run's last addition step then gives out whatever the schedule could not fit, rank_step at a time, round-robin
   in score order), their reserves become active and fresh reserves are drawn (advance learning); once the total
   active rank reaches b(T), the statistics stop and the reserves are cleared (the authors zero the last reserves'
   λ), so the run ends with exactly b(T) active components.

Where it differs from the paper and the authors' code (FeiyuZhang98/IncreLoRA):
- Capacity: the authors append parameters as rank is added (no upper bound per matrix); here every matrix holds
  init_rank components from the start, inactive ones at zero, so a matrix cannot grow past init_rank (a budget label
  sets init_rank = AdaLoRA's r_init, e.g. 12 for r̄ = 8). The trainable parameters that actually train are in the
  parameter report (`live_trainable` now, `peak_live_trainable` over the run); `adapter` counts the allocated tensors.
- Score: as the authors' code, the sum over ΔW's entries is taken before the smoothing (one Ī, Ū per matrix);
  smoothing every entry of ΔW first (AdaLoRA's per-parameter form, then averaged per matrix) would need two out x in
  statistics per matrix and is not offered. ∂L/∂ΔW is accumulated from the layer's input and output gradient (one out
  x in product per matrix and step while scoring, as the authors' materialised ΔW costs); ΔW is the post-update one
  (the authors' hook sees the pre-update one). Scoring the entries of P, Λ, Q instead (AdaLoRA's triplet score
  averaged per matrix) was tried first and dropped: a newly added component's entries have little smoothed history, so
  the average penalises every matrix that just grew and the allocation came out uniform.
- Restart warm-up: the authors add each group of new parameters to the optimizer as a new parameter group with its
  own linear warm-up and linear decay to zero at T (and fresh Adam moments). The suite's Trainer owns the optimizer
  and its schedule, so here the component's update is rescaled instead: "warmup" multiplies the run's learning rate
  by min(1, (k + 1) / W) for the component's k-th update, then follows the run's schedule; "authors" gives it the
  authors' curve (base lr x warm-up then linear decay to zero at T) by dividing by the run's current factor
  (lr / initial_lr). Adam's moments of a newly added entry start from zero within a tensor whose bias correction
  is already ~1 (the authors' new group starts its own bias correction); the warm-up damps that first update.
- Orthogonal regulariser: AdaLoRA's R(P, Q) over each matrix's live components (the authors' code computes it
  per appended block, so across added components it only normalises each one).
- Order: the authors add rank before `optimizer.step()` of step t; here after it, so new components first train at
  step t + 1 (the authors' newly trainable λ has no gradient at step t either).
"""
from __future__ import annotations

import logging
import math

import torch
from torch import nn

from ...backbone import freeze_all_but_head, head_prefixes
from ...errors import AdaLoRAError
from ...handle import Handle
from ...schedule import resolve_steps
from ...targets import default_targets, find_linear_targets, set_submodule
from .config import IncreLoRA
from .layer import IncreLoRALinear

log = logging.getLogger("adalora")

NEVER = -1   # join step of components present from step 0: they follow the run's schedule


class IncreLoRAHandle(Handle):
    method = "increlora"

    def __init__(self, model: nn.Module, spec: IncreLoRA, layers: dict[str, IncreLoRALinear]) -> None:
        super().__init__(model, spec)
        self.layers = layers
        self.names = list(layers)
        self.n = len(layers)
        self.capacity = spec.init_rank
        self.budget = spec.target_total_rank if spec.target_total_rank is not None else spec.target_rank * self.n
        self.start_budget = spec.start_rank * self.n
        # rank_step None: the authors' default incre_rank_num, half the average target rank ({2: 1, 4: 2, 8: 4}).
        self.rank_step = spec.rank_step if spec.rank_step is not None else max(1, round(self.budget / self.n / 2))
        if not self.start_budget <= self.budget <= self.capacity * self.n:
            raise AdaLoRAError(f"target budget {self.budget} must lie between the starting rank {self.start_budget} "
                               f"(start_rank {spec.start_rank} x {self.n} matrices) and the capacity "
                               f"{self.capacity * self.n} (init_rank {self.capacity} x {self.n})")
        # Step at which each component's P, Q (and its λ) started training; NEVER = from the start.
        self.joined_pq = [[NEVER] * self.capacity for _ in range(self.n)]
        self.joined_e = [[NEVER] * self.capacity for _ in range(self.n)]
        self.ema_ipt = torch.zeros(self.n, dtype=torch.float64)   # Ī per matrix
        self.ema_unc = torch.zeros(self.n, dtype=torch.float64)   # Ū per matrix
        self.history: list[list[int]] = []        # [step, matrix index, components added]
        self.done = False
        self.last_step: int | None = None
        self.t_init = self.warmup = None
        self.addition_steps: list[int] = []
        self.bound_optimizer = None
        self.warned: str | None = None
        self._snapshot: tuple[int, list[list[torch.Tensor]]] | None = None
        # Fresh components are drawn from a generator of their own (seeded from the global one, saved with the
        # state), so adding rank does not shift the run's dropout / data RNG and a resumed run draws the same.
        self.generator = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,)).item()))
        with torch.no_grad():
            for i, layer in enumerate(layers.values()):
                active = torch.zeros(self.capacity, dtype=torch.bool)
                active[:spec.start_rank] = True
                self._draw(layer, range(spec.start_rank), lam=0.0)
                layer.set_state(active, torch.zeros_like(active))
            if self.budget == self.start_budget:
                self.done = True
            elif spec.advance_learning:
                for i, layer in enumerate(layers.values()):
                    self._refill_reserve(i, layer, NEVER)
        self.peak_live = self.live_trainable()
        self._track(not self.done)
        if spec.total_steps is not None:
            self.set_total_steps(spec.total_steps)

    # --- schedule ------------------------------------------------------------------------------------------
    def set_total_steps(self, total_steps: int) -> None:
        super().set_total_steps(total_steps)
        T = self.total_steps
        self.t_init = resolve_steps(self.spec.t_init, T, "t_init")
        self.warmup = resolve_steps(self.spec.restart_warmup, T, "restart_warmup")
        to_add = self.budget - self.start_budget
        if to_add == 0:
            self.addition_steps = []
            return
        delta = self.spec.delta_t
        first = (self.t_init // delta + 1) * delta         # the first t > t_init with t % delta_t == 0
        if first > T - 1:
            raise AdaLoRAError(f"IncreLoRA adds no rank in a {T}-step run: the first addition step after t_init="
                               f"{self.spec.t_init} ({self.t_init} steps) with delta_t={delta} is {first}; lower "
                               f"method.t_init or method.delta_t")
        rounds = math.ceil(to_add / (self.spec.top_h * self.rank_step))
        fitting = (T - 1 - first) // delta + 1
        if rounds > fitting:
            log.warning("IncreLoRA: %d additions of top_h=%d x rank_step=%d are needed to add %d rank, but only %d "
                        "fit in the %d-step run; the last one adds the remaining rank at once", rounds,
                        self.spec.top_h, self.rank_step, to_add, fitting, T)
        self.addition_steps = [first + j * delta for j in range(min(rounds, fitting))]

    # --- components ----------------------------------------------------------------------------------------
    @torch.no_grad()
    def _draw(self, layer: IncreLoRALinear, slots, lam: float) -> None:
        """Fresh components: P, Q ~ N(0, init_std²) (AdaLoRA's and the authors' init), λ = lam."""
        slots = list(slots)
        if not slots:
            return
        std = self.spec.init_std
        k = len(slots)
        a = torch.randn(k, layer.in_features, generator=self.generator) * std
        b = torch.randn(layer.out_features, k, generator=self.generator) * std
        index = torch.tensor(slots, device=layer.lora_A.device)
        layer.lora_A.index_copy_(0, index, a.to(layer.lora_A))
        layer.lora_B.index_copy_(1, index, b.to(layer.lora_B))
        layer.lora_E[index] = lam

    def _refill_reserve(self, i: int, layer: IncreLoRALinear, joined: int) -> None:
        """Advance learning (§3): the next rank_step components after the active ones train as reserves."""
        active, reserve = layer.active.view(-1) > 0, layer.reserve.view(-1) > 0
        r = int(active.sum())
        new = [s for s in range(r, min(r + self.rank_step, self.capacity)) if not reserve[s]]
        self._draw(layer, new, lam=0.0)
        for s in new:
            reserve[s] = True
            self.joined_pq[i][s] = joined
        layer.set_state(active, reserve)

    @torch.no_grad()
    def _activate(self, i: int, count: int, joined: int) -> None:
        """Make the next `count` components of matrix i active: reserves keep their trained P, Q and start λ at
        the reserve value (their contribution does not jump; the matrix's scale alpha / r does change, as in the
        authors' code); without a reserve a fresh component starts at λ = 0."""
        layer = self.layers[self.names[i]]
        active, reserve = layer.active.view(-1) > 0, layer.reserve.view(-1) > 0
        r = int(active.sum())
        for s in range(r, r + count):
            if reserve[s]:
                layer.lora_E[s] = layer.reserve_lambda
            else:
                self._draw(layer, [s], lam=0.0)
                self.joined_pq[i][s] = joined
            self.joined_e[i][s] = joined
            active[s], reserve[s] = True, False
        layer.set_state(active, reserve)
        self.history.append([joined - 1, i, count])

    @torch.no_grad()
    def _clear_reserves(self) -> None:
        for layer in self.layers.values():
            active = layer.active.view(-1) > 0
            layer.set_state(active, torch.zeros_like(active))
        self._hold_zero()

    @torch.no_grad()
    def _hold_zero(self) -> None:
        """Inactive components are zero: P column, Q row, and λ of every component that is not active."""
        for layer in self.layers.values():
            live = (layer.active + layer.reserve).clamp(max=1)
            layer.lora_A.mul_(live)
            layer.lora_B.mul_(live.view(1, -1))
            layer.lora_E.mul_(layer.active)

    # --- importance ----------------------------------------------------------------------------------------
    def _params(self, layer: IncreLoRALinear) -> list[nn.Parameter]:
        return [layer.lora_A, layer.lora_E, layer.lora_B]

    def _track(self, on: bool) -> None:
        for layer in self.layers.values():
            layer.track_update_grad = on
            if not on:
                layer.update_grad = None

    @torch.no_grad()
    def sensitivities(self) -> torch.Tensor:
        """I_k = Σ_ij |ΔW_ij ∂L/∂ΔW_ij| / norm for every matrix k (the authors' code: norm = sqrt(out x in); "mean":
        out x in, the plain average over ΔW's entries), with ΔW the update as it stands after this step's update
        (as the suite's AdaLoRA scores post-update weights) and ∂L/∂ΔW this step's (all micro-batches)."""
        values = []
        for layer in self.layers.values():
            grad = layer.update_grad
            if grad is None:
                values.append(0.0)
                continue
            numel = layer.in_features * layer.out_features
            norm = math.sqrt(numel) if self.spec.score_norm == "sqrt" else numel
            values.append(float((layer.delta_weight().float() * grad.to(layer.lora_A.device)).abs().sum()) / norm)
        out = torch.tensor(values, dtype=torch.float64)
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:   # every rank must add rank to the same matrices
            device = next(iter(self.layers.values())).lora_A.device
            reduced = out.to(device)
            torch.distributed.all_reduce(reduced)
            out = reduced.cpu() / torch.distributed.get_world_size()
        return out

    @torch.no_grad()
    def update_scores(self) -> None:
        """AdaLoRA's smoothing (eq. 8-9) of each matrix's sensitivity: Ī <- b1 Ī + (1 - b1) I,
        Ū <- b2 Ū + (1 - b2) |I - Ī|."""
        b1, b2 = self.spec.beta1, self.spec.beta2
        ipt = self.sensitivities()
        self.ema_ipt = b1 * self.ema_ipt + (1 - b1) * ipt
        self.ema_unc = b2 * self.ema_unc + (1 - b2) * (ipt - self.ema_ipt).abs()
        for layer in self.layers.values():
            layer.update_grad = None

    def module_scores(self) -> list[float]:
        """S_k = Ī_k Ū_k (AdaLoRA eq. 10 at the matrix level)."""
        return (self.ema_ipt * self.ema_unc).tolist()

    @torch.no_grad()
    def add_rank(self, t: int) -> None:
        """Rank addition at step t (paper §3): the top_h matrices by score (among those below init_rank) get
        rank_step components each; the run's last addition step then hands out whatever is left of the budget,
        rank_step at a time, round-robin over the matrices in score order (only when the additions the schedule
        planned do not fit in the run, or matrices at init_rank left too few to choose from)."""
        remaining = self.budget - self.total_rank()
        if remaining <= 0:
            return
        scores = self.module_scores()
        ranks = [layer.r for layer in self.layers.values()]
        order = sorted((i for i in range(self.n) if ranks[i] < self.capacity), key=lambda i: (-scores[i], i))
        passes = [order[:self.spec.top_h]]
        if t == self.addition_steps[-1]:
            passes += [order] * math.ceil(self.capacity / self.rank_step)   # whatever is left, round-robin
        for chosen in passes:
            for i in chosen:
                count = min(self.rank_step, self.capacity - ranks[i], remaining)
                if count > 0:
                    self._activate(i, count, t + 1)
                    ranks[i] += count
                    remaining -= count
        if self.total_rank() == self.budget:
            self.done = True
            self._track(False)
            self._clear_reserves()
        elif self.spec.advance_learning:
            for i, layer in enumerate(self.layers.values()):
                self._refill_reserve(i, layer, t + 1)
        self.peak_live = max(self.peak_live, self.live_trainable())

    # --- restart warm-up -----------------------------------------------------------------------------------
    def bind_optimizer(self, optimizer) -> None:
        while optimizer is not None and hasattr(optimizer, "optimizer") \
                and not isinstance(optimizer, torch.optim.Optimizer):
            optimizer = optimizer.optimizer
        self.bound_optimizer = optimizer

    def _run_factor(self) -> float | None:
        """The run's current learning-rate factor lr / initial_lr (what a torch LR scheduler applied), or None."""
        opt = self.bound_optimizer
        if opt is None or not getattr(opt, "param_groups", None):
            return None
        group = opt.param_groups[0]
        if "initial_lr" not in group or not group["initial_lr"]:
            return None
        return float(group["lr"]) / float(group["initial_lr"])

    def _factor(self, joined: int, t: int, run: float | None) -> float:
        """The multiplier of a component's update at step t, for a component that started training at `joined`."""
        W, T = self.warmup, self.total_steps
        if joined == NEVER or joined > t or (W == 0 and self.spec.restart_schedule == "warmup"):
            return 1.0
        k = t - joined
        warm = min(1.0, (k + 1) / W) if W > 0 else 1.0
        if self.spec.restart_schedule == "warmup" or run is None:
            return warm
        own = min(warm, (T - t) / max(1, T - joined - W))    # the authors' per-group curve (optimization.py)
        return own / run if run > 0 else 0.0

    def _needs_scaling(self, t: int) -> bool:
        if self.total_steps is None:
            return False
        for joined in (self.joined_pq, self.joined_e):
            for row in joined:
                for j in row:
                    if j != NEVER and j <= t and (self.spec.restart_schedule == "authors" or t - j + 1 < self.warmup):
                        return True
        return False

    def before_optimizer_step(self, step: int) -> None:
        if self._needs_scaling(step):
            self._snapshot = (step, [[p.detach().clone() for p in self._params(l)] for l in self.layers.values()])

    @torch.no_grad()
    def _apply_restart(self, t: int) -> None:
        if not self._needs_scaling(t):
            return
        if self._snapshot is None or self._snapshot[0] != t:
            if self.warned is None:
                self.warned = "restart warm-up skipped: call handle.before_optimizer_step(t) before optimizer.step()"
                log.warning("IncreLoRA: %s", self.warned)
            return
        run = self._run_factor() if self.spec.restart_schedule == "authors" else None
        if self.spec.restart_schedule == "authors" and run is None and self.warned is None:
            self.warned = ("restart_schedule='authors' needs an optimizer with initial_lr (a torch LR scheduler); "
                           "warm-up only")
            log.warning("IncreLoRA: %s", self.warned)
        for i, (layer, old) in enumerate(zip(self.layers.values(), self._snapshot[1])):
            f_pq = torch.tensor([self._factor(j, t, run) for j in self.joined_pq[i]], dtype=layer.lora_A.dtype,
                                device=layer.lora_A.device)
            f_e = torch.tensor([self._factor(j, t, run) for j in self.joined_e[i]], dtype=layer.lora_A.dtype,
                               device=layer.lora_A.device)
            for p, o, f in ((layer.lora_A, old[0], f_pq.view(-1, 1)), (layer.lora_E, old[1], f_e.view(-1, 1)),
                            (layer.lora_B, old[2], f_pq.view(1, -1))):
                p.copy_(o + f * (p - o))
        self._snapshot = None

    # --- the training-loop hooks ---------------------------------------------------------------------------
    def regularizer(self) -> torch.Tensor:
        """AdaLoRA's orthogonal regulariser (eq. 4 / the official code's mean form) on each matrix's live
        components: ||Q_l Q_lᵀ - I||_F and ||P_lᵀ P_l - I||_F with l the active and reserve rows / columns."""
        if self.spec.orth_reg_weight == 0:
            return super().regularizer()
        norms = []
        for layer in self.layers.values():
            live = (layer.active + layer.reserve).clamp(max=1)
            a = layer.lora_A * live
            b = layer.lora_B * live.view(1, -1)
            eye = torch.diag(live.view(-1))
            for gram in (a @ a.T - eye, b.T @ b - eye):
                norms.append((gram.pow(2).sum() + 1e-30).sqrt())
        norms = torch.stack(norms)
        value = norms.mean() if self.spec.reg_form == "code" else norms.pow(2).sum()
        return self.spec.orth_reg_weight * value

    def step(self, step: int) -> None:
        if self.total_steps is None:
            raise AdaLoRAError("IncreLoRA needs the run's total steps: call handle.set_total_steps(T) before training")
        self._apply_restart(step)
        self._after_update(step, update=True)

    def skipped_step(self, step: int) -> None:
        """A step the grad scaler skipped: no update to rescale and no gradient to score; rank is still added on
        time."""
        self._snapshot = None
        for layer in self.layers.values():
            layer.update_grad = None
        self._after_update(step, update=False)

    @torch.no_grad()
    def _after_update(self, step: int, update: bool) -> None:
        self._hold_zero()
        if not self.done:
            if update:
                self.update_scores()
            if step in self.addition_steps:
                self.add_rank(step)
        self.last_step = step

    # --- reporting -----------------------------------------------------------------------------------------
    def total_rank(self) -> int:
        return sum(layer.r for layer in self.layers.values())

    def live_trainable(self) -> int:
        """Adapter entries that train now: P column and Q row of every active and reserve component, λ of every
        active one (the rest of the allocated capacity is held at zero)."""
        total = 0
        for layer in self.layers.values():
            live = int((layer.active + layer.reserve).clamp(max=1).sum())
            total += live * (layer.in_features + layer.out_features) + layer.r
        return total

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for layer in self.layers.values() for p in self._params(layer)]

    def rank_pattern(self) -> dict[str, int]:
        """Active rank per adapted matrix."""
        return {name: layer.r for name, layer in self.layers.items()}

    def rank_mask(self) -> dict[str, list[bool]]:
        """Active components per matrix (a list of bools of length init_rank), as AdaLoRA's keep mask."""
        return {name: (layer.active.view(-1) > 0).tolist() for name, layer in self.layers.items()}

    @torch.no_grad()
    def set_rank_mask(self, mask: dict[str, list[bool]], apply: bool = True) -> None:
        """Adopt saved active masks (an adapter folder without the method state): no reserves; the allocation is
        over once the masks hold the budget. With `apply`, inactive components are set to zero."""
        if set(mask) != set(self.names):
            raise AdaLoRAError("the rank mask names other modules than this model adapts; load it into the same "
                               "architecture with the same targets")
        for name, layer in self.layers.items():
            active = torch.as_tensor(mask[name], dtype=torch.bool)
            if active.numel() != self.capacity:
                raise AdaLoRAError(f"the rank mask of {name} covers {active.numel()} components where this model has "
                                   f"init_rank={self.capacity}; load it with the same init_rank")
            layer.set_state(active, torch.zeros_like(active))
        if self.total_rank() >= self.budget:
            self.done = True
            self._track(False)
        if apply:
            self._hold_zero()

    def parameter_report(self) -> dict[str, int | float]:
        report = super().parameter_report()
        pattern = self.rank_pattern()
        report["retained"] = sum(pattern[n] * (l.in_features + l.out_features) for n, l in self.layers.items())
        report["kept_rank"] = sum(pattern.values())
        report["init_budget"] = self.capacity * self.n
        report["start_budget"] = self.start_budget
        report["target_budget"] = self.budget
        report["live_trainable"] = self.live_trainable()
        report["peak_live_trainable"] = self.peak_live
        return report

    # --- resume --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        layers = list(self.layers.values())
        return {
            **super().state_dict(),
            "names": list(self.names),
            "active": [l.active.view(-1).cpu() > 0 for l in layers],
            "reserve": [l.reserve.view(-1).cpu() > 0 for l in layers],
            "joined_pq": [list(r) for r in self.joined_pq],
            "joined_e": [list(r) for r in self.joined_e],
            "ema_ipt": self.ema_ipt.clone(),
            "ema_unc": self.ema_unc.clone(),
            "history": [list(h) for h in self.history],
            "done": self.done,
            "peak_live": self.peak_live,
            "last_step": self.last_step,
            "generator": self.generator.get_state(),
        }

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if list(state["names"]) != self.names:
            raise AdaLoRAError("IncreLoRA state belongs to another set of adapted modules; resume with the same "
                               "model, targets and method")
        for layer, active, reserve in zip(self.layers.values(), state["active"], state["reserve"]):
            if active.numel() != self.capacity:
                raise AdaLoRAError(f"IncreLoRA state holds {active.numel()} components per matrix where this model "
                                   f"has init_rank={self.capacity}; resume with the same init_rank")
            layer.set_state(active.bool(), reserve.bool())
        self.joined_pq = [[int(j) for j in r] for r in state["joined_pq"]]
        self.joined_e = [[int(j) for j in r] for r in state["joined_e"]]
        self.ema_ipt = state["ema_ipt"].to(torch.float64).clone()
        self.ema_unc = state["ema_unc"].to(torch.float64).clone()
        self.history = [list(h) for h in state["history"]]
        self.done = bool(state["done"])
        self.peak_live = int(state["peak_live"])
        self._track(not self.done)
        self.last_step = state["last_step"]
        self.generator.set_state(state["generator"].to(torch.uint8))


def attach_increlora(model: nn.Module, spec: IncreLoRA) -> IncreLoRAHandle:
    found = find_linear_targets(model, default_targets(model, spec.targets), exclude=head_prefixes(model))
    freeze_all_but_head(model)
    layers = {}
    for name, linear in found:
        layer = IncreLoRALinear(linear, spec.init_rank, spec.alpha, spec.dropout, spec.reserve_lambda)
        set_submodule(model, name, layer)
        layers[name] = layer
    return IncreLoRAHandle(model, spec, layers)
