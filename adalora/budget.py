"""Parameter budgets: from a label ("0.3%", "0.32M", "300k") and a model to each method's size.

A budget is a share of the pretrained model's parameters or an absolute count. It resolves to the nearest size
of the method at hand (LoRA rank, AdaLoRA target rank with its initial rank, Houlsby / Pfeiffer adapter width),
except where the paper names the size for that label on that model (its budget tables, ALGORITHM.md §9), which wins.
BitFit and full fine-tuning have fixed sizes (the model's biases, all of it): a label does not apply to them.
Everything here is a pure function of the label and the model's shapes; nothing is attached.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from torch import nn

from . import registry
from .errors import AdaLoRAError
from .sizes import PAPER_INIT_RANK, adapter_unit, init_rank_for, pretrained_parameters, rank_unit  # noqa: F401

_LABEL = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(%|[kKmM])?\s*$")


@dataclass(frozen=True)
class Budget:
    """A parsed budget label: either a share of the pretrained parameters or an absolute count."""

    label: str
    share: float | None = None
    count: int | None = None

    @property
    def slug(self) -> str:
        """The label as a path component: '%' never reaches a path (SLURM expands it)."""
        return self.label.replace("%", "pct")

    def params(self, pretrained: int) -> float:
        return self.share * pretrained if self.share is not None else float(self.count)


def parse_budget(label) -> Budget:
    """'0.3%' -> share 0.003; '0.32M' -> 320,000; '300k' -> 300,000; a bare integer is a count."""
    if isinstance(label, bool) or label is None:
        raise AdaLoRAError(f"budget {label!r} is not a budget: write a share like 0.3% or a count like 0.32M / 300k")
    text = str(label).strip()
    m = _LABEL.match(text)
    if not m:
        raise AdaLoRAError(f"budget {text!r} is not a budget: write a share of the pretrained parameters like 0.3%, "
                           f"or a parameter count like 0.32M or 300k")
    number, unit = float(m.group(1)), m.group(2)
    if unit is None and (isinstance(label, float) or "." in text):
        raise AdaLoRAError(f"budget {text} has no unit: write {text}% for a share of the pretrained parameters or "
                           f"{text}M for a parameter count")
    if unit == "%":
        if not 0 < number <= 100:
            raise AdaLoRAError(f"budget {text} is outside (0%, 100%]: give a share such as 0.3%")
        return Budget(label=f"{m.group(1)}%", share=number / 100)
    suffix = {None: "", "k": "k", "K": "k", "m": "M", "M": "M"}[unit]
    count = round(number * {"": 1, "k": 1e3, "M": 1e6}[suffix])
    if count < 1:
        raise AdaLoRAError(f"budget {text} is below one parameter: give a positive count such as 300k")
    return Budget(label=f"{m.group(1)}{suffix}" if suffix else str(count), count=count)


def same_budget(a: Budget, b: Budget) -> bool:
    """Equal as numbers ('1.1%' names the paper's '1.10%')."""
    if a.share is not None and b.share is not None:
        return math.isclose(a.share, b.share, rel_tol=1e-9)
    return a.count is not None and a.count == b.count


# --- the paper's own label -> size tables (ALGORITHM.md §9) ------------------------------------------------------
# DeBERTaV3-base: Table 7 (GLUE, absolute labels) and Table 9 (SQuAD, % labels).
_DEBERTA_V3_BASE = {
    "0.3M": {"lora": {"rank": 2}, "adalora": {"target_rank": 2, "init_rank": 4}, "houlsby": {"dim": 8}, "pfeiffer": {"dim": 16}},
    "0.6M": {"lora": {"rank": 4}, "adalora": {"target_rank": 4, "init_rank": 6}, "houlsby": {"dim": 16}, "pfeiffer": {"dim": 32}},
    "1.2M": {"lora": {"rank": 8}, "adalora": {"target_rank": 8, "init_rank": 12}, "houlsby": {"dim": 32}, "pfeiffer": {"dim": 64}},
    "0.08%": {"lora": {"rank": 1}, "adalora": {"target_rank": 1, "init_rank": 2}, "houlsby": {"dim": 4}, "pfeiffer": {"dim": 8}},
    "0.16%": {"lora": {"rank": 2}, "adalora": {"target_rank": 2, "init_rank": 4}, "houlsby": {"dim": 8}, "pfeiffer": {"dim": 16}},
    "0.32%": {"lora": {"rank": 4}, "adalora": {"target_rank": 4, "init_rank": 6}, "houlsby": {"dim": 16}, "pfeiffer": {"dim": 32}},
    "0.65%": {"lora": {"rank": 8}, "adalora": {"target_rank": 8, "init_rank": 12}, "houlsby": {"dim": 32}, "pfeiffer": {"dim": 64}},
}
# BART-large: Table 3's levels. 0.13% / 0.26% are r̄ = 1 / 2 exactly; 1.10% / 2.20% are taken as r̄ = 8 / 16
# (the XSum script runs r̄ 8 from 12; the CNN/DM script r̄ 2 from 4) [ALGORITHM.md §9: UNCONFIRMED for 2.20%].
_BART_LARGE = {
    "0.13%": {"lora": {"rank": 1}, "adalora": {"target_rank": 1, "init_rank": 2}},
    "0.26%": {"lora": {"rank": 2}, "adalora": {"target_rank": 2, "init_rank": 4}},
    "1.10%": {"lora": {"rank": 8}, "adalora": {"target_rank": 8, "init_rank": 12}},
    "2.20%": {"lora": {"rank": 16}, "adalora": {"target_rank": 16, "init_rank": 24}},
}
PAPER_TABLES = {"deberta-v3-base": _DEBERTA_V3_BASE, "bart-large": _BART_LARGE}


def paper_model(model: nn.Module) -> str | None:
    """Which of the paper's models this is, by shape (so a config-built copy with random weights counts too)."""
    c = getattr(model, "config", None)
    if c is None:
        return None
    if c.model_type == "deberta-v2" and (c.hidden_size, c.num_hidden_layers, c.intermediate_size, c.vocab_size) == (768, 12, 3072, 128100):
        return "deberta-v3-base"
    if c.model_type == "bart" and (c.d_model, c.encoder_layers, c.decoder_layers, c.vocab_size) == (1024, 12, 12, 50265):
        return "bart-large"
    return None


def method_parameters(model: nn.Module, method: str, sizes: dict | None = None, targets=None, **fields) -> int:
    """The exact number of parameters `method` adds to (or, for BitFit and full fine-tuning, selects from) the
    backbone at `sizes`, head excluded. AdaLoRA counts its final budget r̄ Σ (in + out), A and B only, the
    quantity its % labels name; `allocated_parameters` gives what it allocates at the start."""
    return registry.method(method).size_for(fields).params(model, sizes or {}, targets)


def allocated_parameters(model: nn.Module, method: str, sizes: dict | None = None, targets=None, **fields) -> int:
    """What the method holds at step 0: AdaLoRA r_init (Σ (in + out) + n), with its λ; the rest as counted."""
    return registry.method(method).size_for(fields).allocated(model, sizes or {}, targets)


def budget_applies(method: str, **fields) -> bool:
    """False for methods whose size the model fixes (BitFit, full fine-tuning)."""
    return registry.method(method).size_for(fields).applies


@dataclass
class Resolution:
    """What a budget label means for one method on one model."""

    label: str
    slug: str
    method: str
    sizes: dict = field(default_factory=dict)   # spec fields, e.g. {"rank": 2} or {"target_rank": 2, "init_rank": 4}
    source: str = "nearest"                      # "paper table (<model>)", "nearest" or "fixed size"
    requested_params: int = 0                    # the label's parameter count on this model
    params: int = 0                              # the method's parameters at the resolved size (AdaLoRA: final, A+B)
    allocated_params: int = 0                    # what it holds at step 0 (AdaLoRA: r_init triplets with λ)

    def as_record(self) -> dict:
        return {"label": self.label, "slug": self.slug, "sizes": dict(self.sizes), "source": self.source,
                "requested_params": self.requested_params, "params": self.params,
                "allocated_params": self.allocated_params}


def resolve_budget(label, model: nn.Module, method: str, targets=None, **fields) -> Resolution:
    """The size of `method` that a budget label names on `model` (ALGORITHM.md §9), as the method's spec
    fields, with its exact parameter counts. `fields` are other settings of the spec that change how it is sized
    (AdaLoRA with allocate=False, SVD-LoRA, is sized like LoRA)."""
    budget = parse_budget(label)
    size = registry.method(method).size_for(fields)
    pretrained = pretrained_parameters(model)
    requested = round(budget.params(pretrained))
    if not size.applies:
        count = size.params(model)
        return Resolution(label=budget.label, slug=size.slug(), method=method, sizes={},
                          source="fixed size (a budget does not apply)", requested_params=requested, params=count,
                          allocated_params=count)
    known = paper_model(model)
    table = PAPER_TABLES.get(known, {}) if targets is None else {}
    row = next((sizes for key, sizes in table.items() if same_budget(parse_budget(key), budget)), {})
    if size.paper in row:
        sizes = size.from_paper(row[size.paper])
        source = f"paper table ({known})"
    else:
        named = fields.get("variant") or method   # the name the user typed: dora, not the peft-lora spec it runs
        sizes = size.nearest(model, requested, targets, named, budget.label)
        source = "nearest"
    return Resolution(label=budget.label, slug=budget.slug, method=method, sizes=sizes, source=source,
                      requested_params=requested, params=size.params(model, sizes, targets),
                      allocated_params=size.allocated(model, sizes, targets))
