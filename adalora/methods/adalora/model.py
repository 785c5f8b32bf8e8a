"""Attaching AdaLoRA to a model, and the handle a training loop drives.

With `slice_final=True` the handle cuts P, Λ, Q down to the kept triplets once the final phase fixes the rank
pattern (the first masking step at or after T - t_final), together with the optimizer's per-parameter state
(AdamW's exp_avg / exp_avg_sq), so the final phase trains at the target size. The optimizer is the one
`bind_optimizer` was given (the suite's MethodCallback binds the Trainer's at `on_train_begin`); without one, under
DDP (whose gradient buckets are fixed when the model is wrapped), or with optimizer state of other shapes (e.g.
Adafactor's factored moments) the handle logs one line and the run goes on masked at the initial rank.

What slicing changes: the masked run's final phase still trains the pruned triplets' P columns and Q rows through
the orthogonal regulariser (over all r rows, spec §2) and counts the pruned λ's gradients in the clipping norm;
the sliced run has neither. With orth_reg_weight = 0 and no clipping the two runs are the same up to float rounding
(tests/test_slicing.py); otherwise they differ slightly, which is why the option is off by default.
"""
from __future__ import annotations

import logging

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

log = logging.getLogger("adalora")


class AdaLoRAHandle(Handle):
    """AdaLoRA's handle; Prune-LoRA's derives from it (same allocator, LoRA doublets instead of triplets)."""

    method = "adalora"

    def __init__(self, model: nn.Module, spec: AdaLoRA, layers: dict[str, SVDLinear]) -> None:
        super().__init__(model, spec)
        self.layers = layers
        self.allocator = RankAllocator(list(layers.items()), spec)
        self._snapshot_step: int | None = None
        self.bound_optimizer = None   # what bind_optimizer was given (slice_final cuts its state)
        self.slice_skipped: str | None = None   # why slice_final did not slice, once it should have
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
        if getattr(self.spec, "slice_final", False) and self.allocator.final_keep is not None:
            self._slice_final()

    # --- slicing the final phase ---------------------------------------------------------------------------
    def bind_optimizer(self, optimizer) -> None:
        """The optimizer training the adapters (wrappers such as accelerate's are unwrapped), whose state slicing
        cuts with the parameters."""
        while hasattr(optimizer, "optimizer") and not isinstance(optimizer, torch.optim.Optimizer):
            optimizer = optimizer.optimizer
        self.bound_optimizer = optimizer

    @property
    def sliced(self) -> bool:
        return self.allocator.sliced

    def _skip_slicing(self, reason: str) -> None:
        if self.slice_skipped is None:
            self.slice_skipped = reason
            log.warning("slice_final: not slicing (%s); the final phase trains masked at the initial rank", reason)

    def _slice_final(self) -> None:
        if self.allocator.sliced or self.slice_skipped is not None:
            return
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            return self._skip_slicing(f"DDP over {torch.distributed.get_world_size()} processes fixes the gradient "
                                      f"buckets' shapes when the model is wrapped")
        if self.bound_optimizer is None:
            return self._skip_slicing("no optimizer bound: call handle.bind_optimizer(optimizer) before training")
        params = self.allocator.params
        shapes = [p.shape for p in params]
        states = [self.bound_optimizer.state.get(p, {}) for p in params]
        for p, state in zip(params, states):
            odd = [k for k, v in state.items() if torch.is_tensor(v) and v.dim() > 0 and v.shape != p.shape]
            if odd:
                return self._skip_slicing(f"optimizer state {odd[0]!r} is not shaped like its parameter")
        indices = self.allocator.slice_layers()
        n = self.allocator.n
        with torch.no_grad():
            for k, (shape, state) in enumerate(zip(shapes, states)):   # params: every A, then every E, then every B
                index, dim = indices[k % n], (1 if k >= 2 * n else 0)
                for key, value in state.items():
                    if torch.is_tensor(value) and value.dim() > 0 and value.shape == shape:
                        state[key] = value.index_select(dim, index.to(value.device)).contiguous()
        log.info("slice_final: at step %s the adapters were cut to their %d kept triplets (of %d)",
                 self.allocator.last_step, sum(layer.r for layer in self.layers.values()), self.allocator.init_budget)

    def prepare_load(self, config: dict, shapes: dict[str, tuple[int, ...]]) -> None:
        """Before an adapter folder's tensors are copied in: a folder saved after slicing holds the kept triplets
        only, so the freshly attached layers are cut to its rank mask first."""
        mask = config.get("rank_mask")
        if self.allocator.sliced or not mask:
            return
        saved_ranks = [tuple(shapes.get(f"{name}.lora_A", (layer.r,)))[0] for name, layer in self.layers.items()]
        if saved_ranks == [layer.r for layer in self.layers.values()]:
            return
        self.allocator.set_rank_mask(mask, apply=False)
        self.allocator.slice_layers(self.allocator.per_layer_keep())

    def skipped_step(self, step: int) -> None:
        """A step whose update the grad scaler skipped (inf/NaN gradients): the scores are left as they were and
        the schedule still masks on time (the weights did not change)."""
        self.allocator.step(step, update=False)
        if getattr(self.spec, "slice_final", False) and self.allocator.final_keep is not None:
            self._slice_final()

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
