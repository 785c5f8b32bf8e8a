"""How a parameter budget sizes a method: the size rules the method records share (ALGORITHM.md §9).

A rule knows which spec fields a budget sets, which column of the paper's budget tables it reads, the nearest size
for a parameter count, the exact parameter count at a size (the final budget, what a label names) and what the
method holds at step 0, and how the size reads in a record path without a label. Everything is a pure function of
the sizes and the model's shapes; nothing is attached.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from torch import nn

from .backbone import backbone_of, head_prefixes
from .errors import AdaLoRAError
from .families import adapter_sites, site_width
from .targets import default_targets, find_linear_targets

# r̄ -> r_init as the paper's tables pair them (b0 ≈ 1.5 b(T) nominally, 2x at the smallest budgets).
PAPER_INIT_RANK = {1: 2, 2: 4, 4: 6, 8: 12, 16: 24}


def init_rank_for(target_rank: int) -> int:
    return PAPER_INIT_RANK.get(target_rank, math.ceil(1.5 * target_rank))


def pretrained_parameters(model: nn.Module) -> int:
    backbone = backbone_of(model) or model
    return sum(p.numel() for p in backbone.parameters())


def backbone_biases(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of every backbone parameter whose name contains "bias" (BitFit's selection rule, as the
    official `run_glue.py` selects them by name)."""
    backbone = backbone_of(model) or model
    return [(name, p) for name, p in backbone.named_parameters() if "bias" in name]


def rank_unit(model: nn.Module, targets=None) -> tuple[int, int]:
    """(Σ_k (in_k + out_k) over the adapted matrices, number of matrices): the A + B cost of one unit of rank."""
    found = find_linear_targets(model, default_targets(model, targets), exclude=head_prefixes(model))
    return sum(m.in_features + m.out_features for _, m in found), len(found)


def output_width(model: nn.Module, targets=None) -> int:
    """Σ_k out_k over the adapted matrices (DoRA's magnitude vectors)."""
    found = find_linear_targets(model, default_targets(model, targets), exclude=head_prefixes(model))
    return sum(m.out_features for _, m in found)


def adapter_unit(model: nn.Module, method: str) -> tuple[int, int, int]:
    """(Σ (2 w + 1), Σ w, number of adapters) over the method's insertion points: an adapter of width d costs
    d (2 w + 1) + w on hidden width w (down and up projections, both with bias)."""
    widths = [site_width(model, module) for _, module in adapter_sites(model, method)]
    return sum(2 * w + 1 for w in widths), sum(widths), len(widths)


def too_small(label: str, requested: int, method: str, what: str, unit: int, fixed: int, n: int,
              pretrained: int) -> AdaLoRAError:
    least = math.floor(fixed + unit / 2) + 1   # the sizes round half to even: exactly half a unit still rounds to 0
    return AdaLoRAError(f"budget {label} is {requested:,} parameters on this model, below one {what} for "
                        f"{method} ({fixed + unit:,} parameters over {n} {'matrices' if what.startswith('rank') else 'adapters'}); "
                        f"give at least {least:,} parameters (e.g. budget={(fixed + unit) / pretrained * 100:.3g}%)")


@dataclass(frozen=True)
class Size:
    """The common interface; `fields` empty means the model fixes the size (a label does not apply)."""

    fields: tuple[str, ...] = ()
    paper: str | None = None      # the paper budget tables' column this method reads

    @property
    def applies(self) -> bool:
        return bool(self.fields)

    def from_paper(self, row: Mapping) -> dict:
        """The paper table's sizes (in its column's fields) as this spec's fields."""
        return dict(row)

    def nearest(self, model: nn.Module, requested: int, targets, method: str, label: str) -> dict:
        raise NotImplementedError

    def params(self, model: nn.Module, sizes: Mapping, targets=None) -> int:
        """Parameters at the final size, head excluded (what a budget label names)."""
        raise NotImplementedError

    def allocated(self, model: nn.Module, sizes: Mapping, targets=None) -> int:
        """What the method holds at step 0; the final count unless it starts larger."""
        return self.params(model, sizes, targets)

    def slug(self, fields: Mapping) -> str:
        """The size as a record-path component when no budget label names it."""
        raise NotImplementedError


@dataclass(frozen=True)
class Rank(Size):
    """r per adapted matrix for the whole run (LoRA: `rank`; SVD-LoRA: `init_rank`, with r λ per matrix; DoRA: a
    magnitude per output besides)."""

    fields: tuple[str, ...] = ("rank",)
    paper: str | None = "lora"
    singular_values: bool = False   # SVD form: r λ per matrix besides A and B
    magnitude: bool = False         # DoRA: one magnitude per output of every adapted matrix

    def from_paper(self, row: Mapping) -> dict:
        return self._sizes(row["rank"])

    def _sizes(self, rank: int) -> dict:
        return {self.fields[0]: rank} if not self.singular_values else {"init_rank": rank, "target_rank": rank}

    def _fixed(self, model, targets) -> int:
        return output_width(model, targets) if self.magnitude else 0

    def nearest(self, model, requested, targets, method, label):
        unit, n = rank_unit(model, targets)
        fixed = self._fixed(model, targets)
        rank = round((requested - fixed) / unit)
        if rank < 1:
            raise too_small(label, requested, method, "rank per matrix", unit, fixed, n, pretrained_parameters(model))
        return self._sizes(rank)

    def params(self, model, sizes, targets=None):
        return sizes[self.fields[0]] * rank_unit(model, targets)[0] + self._fixed(model, targets)

    def allocated(self, model, sizes, targets=None):
        unit, n = rank_unit(model, targets)
        return sizes[self.fields[0]] * (unit + (n if self.singular_values else 0)) + self._fixed(model, targets)

    def slug(self, fields):
        return f"r{fields[self.fields[0]]}"


@dataclass(frozen=True)
class TargetRank(Size):
    """A target rank r̄ reached by pruning from an initial rank (AdaLoRA; Prune-LoRA without λ). The label names
    the final budget r̄ Σ (in + out), A and B only, the quantity the paper's % labels name."""

    fields: tuple[str, ...] = ("target_rank", "init_rank")
    paper: str | None = "adalora"
    singular_values: bool = True

    def nearest(self, model, requested, targets, method, label):
        unit, n = rank_unit(model, targets)
        rank = round(requested / unit)
        if rank < 1:
            raise too_small(label, requested, method, "rank per matrix", unit, 0, n, pretrained_parameters(model))
        return {"target_rank": rank, "init_rank": init_rank_for(rank)}

    def params(self, model, sizes, targets=None):
        return sizes["target_rank"] * rank_unit(model, targets)[0]

    def allocated(self, model, sizes, targets=None):
        unit, n = rank_unit(model, targets)
        return sizes["init_rank"] * (unit + (n if self.singular_values else 0))

    def slug(self, fields):
        return f"r{fields['target_rank']}-from{fields['init_rank']}"


@dataclass(frozen=True)
class AdapterWidth(Size):
    """A bottleneck width d at each of the method's insertion points (Houlsby, Pfeiffer)."""

    fields: tuple[str, ...] = ("dim",)
    sites: str = "houlsby"          # the family's insertion points (adalora.families)

    def nearest(self, model, requested, targets, method, label):
        per_dim, fixed, n = adapter_unit(model, self.sites)
        dim = round((requested - fixed) / per_dim)
        if dim < 1:
            raise too_small(label, requested, method, "adapter unit (d = 1)", per_dim, fixed, n,
                            pretrained_parameters(model))
        return {"dim": dim}

    def params(self, model, sizes, targets=None):
        per_dim, fixed, _ = adapter_unit(model, self.sites)
        return sizes["dim"] * per_dim + fixed

    def slug(self, fields):
        return f"d{fields['dim']}"


@dataclass(frozen=True)
class Fixed(Size):
    """A size the model fixes: every backbone parameter ("all") or its biases ("bias")."""

    selects: str = "all"

    def params(self, model, sizes=None, targets=None):
        if self.selects == "bias":
            return sum(p.numel() for _, p in backbone_biases(model))
        return pretrained_parameters(model)

    def slug(self, fields=None):
        return self.selects
