"""What `adalora.attach` returns: the method's hooks into a training loop, and its accounting.

Every method has the same handle interface, so a training loop never branches on the method:
`regularizer()` joins the loss, `step(t)` runs once per optimizer step (after `optimizer.step()`, before
`zero_grad()`, with the 0-based optimizer-step counter), and `state_dict()` holds whatever a resumed run needs.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from .backbone import backbone_of, head_parameters
from .errors import AdaLoRAError
from .families import describe


def _numel(params: Iterable[nn.Parameter]) -> int:
    seen, total = set(), 0
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


class Handle:
    """The common interface. Methods without a regulariser or an allocator keep these defaults."""

    method = "base"

    def __init__(self, model: nn.Module, spec) -> None:
        self.model = model
        self.spec = spec
        self.total_steps: int | None = None

    # --- training-loop hooks -------------------------------------------------------------------------
    def regularizer(self) -> torch.Tensor:
        """The weighted extra loss term (zero where the method has none)."""
        p = next(self.model.parameters())
        return torch.zeros((), device=p.device, dtype=torch.float32)

    def set_total_steps(self, total_steps: int) -> None:
        """Tell the method how many optimizer steps the run has (before step 0)."""
        self.total_steps = int(total_steps)

    def before_optimizer_step(self, step: int) -> None:
        """Called after gradients are final (clipped) and before `optimizer.step()`."""

    def step(self, step: int) -> None:
        """Called once per optimizer step, after `optimizer.step()` and before `zero_grad()`."""

    def skipped_step(self, step: int) -> None:
        """Called instead of `step` when the optimizer skipped the update (fp16 grad-scaler overflow): the
        gradients are inf/NaN and must not reach any statistic."""

    def optimizer(self, optimizer_cls, optimizer_kwargs: dict):
        """An optimizer of the method's own for the trainable parameters (LoRA+: B faster than A), or None for the
        training loop's default. `optimizer_kwargs` hold the learning rate as `lr`."""
        return None

    def bind_optimizer(self, optimizer) -> None:
        """Called once before training with the optimizer (a wrapper such as accelerate's is fine). Methods that
        reshape their parameters during training (AdaLoRA with slice_final) reshape its state with them."""

    def prepare_load(self, config: dict, shapes: dict[str, tuple[int, ...]]) -> None:
        """Called by `load_adapter` with the folder's config and its tensors' shapes before they are copied in
        (AdaLoRA cuts fresh layers to the kept triplets of an adapter saved after slicing)."""

    # --- what the method did -------------------------------------------------------------------------
    def adapter_parameters(self) -> list[nn.Parameter]:
        """The parameters the method adds to (or selects from) the backbone, head excluded."""
        return []

    def added_parameters(self) -> list[nn.Parameter]:
        """The parameters the method added to the model (not pretrained). BitFit and full fine-tuning select
        pretrained parameters instead, and add none."""
        return self.adapter_parameters()

    def rank_pattern(self) -> dict[str, int]:
        """Kept rank per adapted matrix (AdaLoRA); empty for methods without ranks to allocate."""
        return {}

    def parameter_report(self) -> dict[str, int | float]:
        """Exact counts: trainable, adapter, head, total, pretrained, and their shares of the pretrained model."""
        model = self.model
        adapter = self.adapter_parameters()
        added_ids = {id(p) for p in self.added_parameters()}
        head = [p for p in head_parameters(model) if p.requires_grad]
        trainable = [p for p in model.parameters() if p.requires_grad]
        backbone = backbone_of(model) or model
        pretrained = _numel(p for p in backbone.parameters() if id(p) not in added_ids)
        report = {
            "trainable": _numel(trainable),
            "adapter": _numel(adapter),
            "head": _numel(head),
            "total": _numel(model.parameters()),
            "pretrained": pretrained,
        }
        report["trainable_share"] = report["trainable"] / pretrained
        report["adapter_share"] = report["adapter"] / pretrained
        return report

    def layout(self) -> dict[str, tuple[str, str]]:
        """(layer, matrix type) of each adapted module, for tables and heat maps."""
        return {name: describe(self.model, name) for name in self.rank_pattern()}

    # --- resume --------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"method": self.method, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict) -> None:
        if state.get("method", self.method) != self.method:
            raise AdaLoRAError(f"the state was saved by a {state['method']} run; this handle is {self.method}: "
                               f"resume with the same method")
        if state.get("total_steps") is not None:
            self.set_total_steps(state["total_steps"])
