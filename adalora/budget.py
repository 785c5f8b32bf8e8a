"""Parameter budgets: from a label ("0.3%", "0.32M", "300k") and a model to each method's size.

A budget is a share of the pretrained model's parameters or an absolute count. It resolves to the nearest size
of the method at hand (LoRA rank, AdaLoRA target rank with its initial rank, Houlsby / Pfeiffer adapter width),
except where the paper names the size for that label on that model (its budget tables, spec §9), which wins.
BitFit and full fine-tuning have fixed sizes (the model's biases, all of it): a label does not apply to them.
Everything here is a pure function of the label and the model's shapes; nothing is attached.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from torch import nn

from .backbone import backbone_of, head_prefixes
from .errors import AdaLoRAError
from .families import adapter_sites, site_width
from .methods.bitfit.model import backbone_biases
from .targets import default_targets, find_linear_targets

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


# --- the paper's own label -> size tables (spec §9) ------------------------------------------------------
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
# (the XSum script runs r̄ 8 from 12; the CNN/DM script r̄ 2 from 4) [spec §9: UNCONFIRMED for 2.20%].
_BART_LARGE = {
    "0.13%": {"lora": {"rank": 1}, "adalora": {"target_rank": 1, "init_rank": 2}},
    "0.26%": {"lora": {"rank": 2}, "adalora": {"target_rank": 2, "init_rank": 4}},
    "1.10%": {"lora": {"rank": 8}, "adalora": {"target_rank": 8, "init_rank": 12}},
    "2.20%": {"lora": {"rank": 16}, "adalora": {"target_rank": 16, "init_rank": 24}},
}
PAPER_TABLES = {"deberta-v3-base": _DEBERTA_V3_BASE, "bart-large": _BART_LARGE}

# r̄ -> r_init as the paper's tables pair them (b0 ≈ 1.5 b(T) nominally, 2x at the smallest budgets).
PAPER_INIT_RANK = {1: 2, 2: 4, 4: 6, 8: 12, 16: 24}


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


def init_rank_for(target_rank: int) -> int:
    return PAPER_INIT_RANK.get(target_rank, math.ceil(1.5 * target_rank))


# The spec fields a budget sets, per method. Empty: the model fixes the method's size and a label does not apply.
SIZE_FIELDS = {"lora": ("rank",), "adalora": ("target_rank", "init_rank"), "houlsby": ("dim",),
               "pfeiffer": ("dim",), "bitfit": (), "full": ()}
# What a fixed-size method trains, as it reads in a record path.
FIXED_SLUGS = {"bitfit": "bias", "full": "all"}


def budget_applies(method: str) -> bool:
    """False for methods whose size the model fixes (BitFit, full fine-tuning)."""
    return bool(SIZE_FIELDS.get(method, (None,)))


def pretrained_parameters(model: nn.Module) -> int:
    backbone = backbone_of(model) or model
    return sum(p.numel() for p in backbone.parameters())


def rank_unit(model: nn.Module, targets=None) -> tuple[int, int]:
    """(Σ_k (in_k + out_k) over the adapted matrices, number of matrices): the A + B cost of one unit of rank."""
    found = find_linear_targets(model, default_targets(model, targets), exclude=head_prefixes(model))
    return sum(m.in_features + m.out_features for _, m in found), len(found)


def adapter_unit(model: nn.Module, method: str) -> tuple[int, int, int]:
    """(Σ (2 w + 1), Σ w, number of adapters) over the method's insertion points: an adapter of width d costs
    d (2 w + 1) + w on hidden width w (down and up projections, both with bias)."""
    widths = [site_width(model, module) for _, module in adapter_sites(model, method)]
    return sum(2 * w + 1 for w in widths), sum(widths), len(widths)


def method_parameters(model: nn.Module, method: str, sizes: dict | None = None, targets=None) -> int:
    """The exact number of parameters `method` adds to (or, for BitFit and full fine-tuning, selects from) the
    backbone at `sizes`, head excluded. AdaLoRA counts its final budget r̄ Σ (in + out), A and B only, the
    quantity its % labels name; `allocated_parameters` gives what it allocates at the start."""
    sizes = sizes or {}
    if method == "lora":
        return sizes["rank"] * rank_unit(model, targets)[0]
    if method == "adalora":
        return sizes["target_rank"] * rank_unit(model, targets)[0]
    if method in ("houlsby", "pfeiffer"):
        per_dim, fixed, _ = adapter_unit(model, method)
        return sizes["dim"] * per_dim + fixed
    if method == "bitfit":
        return sum(p.numel() for _, p in backbone_biases(model))
    if method == "full":
        return pretrained_parameters(model)
    raise AdaLoRAError(f"method {method!r} has no parameter count here; known: {', '.join(SIZE_FIELDS)}")


def allocated_parameters(model: nn.Module, method: str, sizes: dict | None = None, targets=None) -> int:
    """What the method holds at step 0: AdaLoRA r_init (Σ (in + out) + n), with its λ; the rest as counted."""
    if method == "adalora":
        unit, n = rank_unit(model, targets)
        return sizes["init_rank"] * (unit + n)
    return method_parameters(model, method, sizes, targets)


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


def _too_small(budget: Budget, requested: int, method: str, what: str, unit: int, fixed: int, n: int,
               pretrained: int) -> AdaLoRAError:
    least = math.ceil(fixed + unit / 2)
    return AdaLoRAError(f"budget {budget.label} is {requested:,} parameters on this model, below one {what} for "
                        f"{method} ({fixed + unit:,} parameters over {n} {'matrices' if fixed == 0 else 'adapters'}); "
                        f"give at least {least:,} parameters (e.g. budget={(fixed + unit) / pretrained * 100:.3g}%)")


def resolve_budget(label, model: nn.Module, method: str, targets=None) -> Resolution:
    """The size of `method` that a budget label names on `model` (spec §9), with its exact parameter count."""
    budget = parse_budget(label)
    if method not in SIZE_FIELDS:
        raise AdaLoRAError(f"method {method!r} has no size a budget can set; budgets size {', '.join(SIZE_FIELDS)}")
    pretrained = pretrained_parameters(model)
    requested = round(budget.params(pretrained))
    if not budget_applies(method):
        count = method_parameters(model, method)
        return Resolution(label=budget.label, slug=FIXED_SLUGS[method], method=method, sizes={},
                          source="fixed size (a budget does not apply)", requested_params=requested, params=count,
                          allocated_params=count)
    known = paper_model(model)
    table = PAPER_TABLES.get(known, {}) if targets is None else {}
    row = next((sizes for key, sizes in table.items() if same_budget(parse_budget(key), budget)), {})
    if method in row:
        sizes = dict(row[method])
        source = f"paper table ({known})"
    elif method in ("lora", "adalora"):
        unit, n = rank_unit(model, targets)
        rank = round(requested / unit)
        if rank < 1:
            raise _too_small(budget, requested, method, "rank per matrix", unit, 0, n, pretrained)
        sizes = {"rank": rank} if method == "lora" else {"target_rank": rank, "init_rank": init_rank_for(rank)}
        source = "nearest"
    else:  # houlsby, pfeiffer
        per_dim, fixed, n = adapter_unit(model, method)
        dim = round((requested - fixed) / per_dim)
        if dim < 1:
            raise _too_small(budget, requested, method, "adapter unit (d = 1)", per_dim, fixed, n, pretrained)
        sizes = {"dim": dim}
        source = "nearest"
    return Resolution(label=budget.label, slug=budget.slug, method=method, sizes=sizes, source=source,
                      requested_params=requested, params=method_parameters(model, method, sizes, targets),
                      allocated_params=allocated_parameters(model, method, sizes, targets))
