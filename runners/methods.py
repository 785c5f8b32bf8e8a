"""From the `method` config and the `budget` label to an `adalora` method spec.

A method config's `name` is what records and paths use; its optional `spec` names the spec class it builds
(`svd-lora` is `spec: adalora` with `allocate: false`); without `spec`, `name` names the class. Every other key is
a field of that spec dataclass."""
from __future__ import annotations

import dataclasses
import logging

from omegaconf import DictConfig, OmegaConf

import adalora
from adalora import Resolution, resolve_budget
from adalora.budget import FIXED_SLUGS, SIZE_FIELDS, budget_applies, rank_unit

from .errors import ConfigError

log = logging.getLogger("runners")

SPECS = {"adalora": adalora.AdaLoRA, "lora": adalora.LoRA, "houlsby": adalora.Houlsby, "pfeiffer": adalora.Pfeiffer,
         "bitfit": adalora.BitFit, "full": adalora.Full, "prune-lora": adalora.PruneLoRA}


def allocates(fields) -> bool:
    return fields.get("allocate", True) is not False


def sized_as(kind: str, fields) -> str:
    """Which method's size a budget sets for this spec, as `resolve_budget` names methods: Prune-LoRA is sized like
    AdaLoRA (target rank r̄ from an initial rank, paper Table 4 compares them at one budget); SVD-LoRA (AdaLoRA
    without allocation) like LoRA: it keeps r triplets per matrix for the whole run."""
    if kind == "prune-lora":
        return "adalora"
    if kind == "adalora" and not allocates(fields):
        return "lora"
    return kind


def size_fields(kind: str, fields) -> tuple[str, ...]:
    """The spec fields that give its size."""
    if kind == "adalora" and not allocates(fields):
        return ("init_rank",)
    return SIZE_FIELDS.get(sized_as(kind, fields), ())


def adapt_resolution(resolution: Resolution, kind: str, fields, model) -> dict:
    """The resolved sizes as fields of this spec, and its exact step-0 parameter count where it differs from the
    method it is sized as (Prune-LoRA holds no λ; SVD-LoRA holds r λ per matrix)."""
    sizes = dict(resolution.sizes)
    if sized_as(kind, fields) == kind:
        return sizes
    unit, n = rank_unit(model, fields.get("targets"))
    if kind == "prune-lora":
        resolution.allocated_params = sizes["init_rank"] * unit
        return sizes
    rank = sizes["rank"]  # SVD-LoRA
    resolution.allocated_params = rank * (unit + n)
    return {"init_rank": rank, "target_rank": rank}


def spec_name(method_cfg: DictConfig) -> str:
    """The spec class a method config builds: its `spec:` key (ablation variants), else its `name`."""
    return method_cfg.get("spec") or method_cfg.name


def normalise_budget(cfg: DictConfig) -> DictConfig:
    """BitFit and full fine-tuning have fixed sizes, so a budget label does not apply to them: set it to null
    before the run key and config hash are computed, so that `method=full,lora budget=0.08%,0.16%` runs full
    once and finds it finished afterwards."""
    if cfg.get("budget") is not None and not budget_applies(spec_name(cfg.method)):
        log.info("method %s has a fixed size (%s); budget=%s does not apply to it and is set to null",
                 cfg.method.name, FIXED_SLUGS.get(spec_name(cfg.method), "fixed"), cfg.budget)
        cfg.budget = None
    return cfg


def build_spec(method_cfg: DictConfig, budget, model) -> tuple[object, Resolution | None]:
    """The spec the method config describes, with the sizes the budget names (the budget wins over the
    config's sizes; without a budget the config's sizes stand)."""
    fields = OmegaConf.to_container(method_cfg, resolve=True)
    name = fields.pop("name")
    kind = fields.pop("spec", None) or name
    cls = SPECS.get(kind)
    if cls is None:
        raise ConfigError(f"unknown method {kind!r}: choose one of {', '.join(SPECS)}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        settings = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"method.{unknown[0]} is not a setting of {name}; its settings are {settings}")
    resolution = None
    if budget is not None and budget_applies(kind):
        resolution = resolve_budget(budget, model, sized_as(kind, fields), targets=fields.get("targets"))
        fields.update(adapt_resolution(resolution, kind, fields, model))
    return cls(**fields), resolution


def budget_slug(method_cfg: DictConfig, budget) -> str:
    """The record-path component of the budget, known before any model is loaded: the label's slug ('0.3pct'),
    or without a label the method's own size ('r8', 'r2-from6', 'd16'); 'all' / 'bias' for full fine-tuning and
    BitFit, whose size is fixed."""
    kind = spec_name(method_cfg)
    if kind in FIXED_SLUGS:
        return FIXED_SLUGS[kind]
    if budget is not None:
        return adalora.parse_budget(budget).slug
    fields = size_fields(kind, method_cfg)
    if fields == ("target_rank", "init_rank"):
        return f"r{method_cfg.target_rank}-from{method_cfg.init_rank}"
    if fields in (("rank",), ("init_rank",)):
        return f"r{method_cfg[fields[0]]}"
    if kind in ("houlsby", "pfeiffer"):
        return f"d{method_cfg.dim}"
    return "fixed"


def budget_record(spec, method: str, resolution: Resolution | None) -> dict:
    """The record's `budget`: the label, its resolution and the sizes that ran."""
    sizes = {f: getattr(spec, f) for f in size_fields(method, {"allocate": getattr(spec, "allocate", True)})}
    if method in FIXED_SLUGS:
        return {"label": None, "slug": FIXED_SLUGS[method], "sizes": {}, "source": "fixed size (a budget does not apply)"}
    if resolution is None:
        return {"label": None, "slug": None, "sizes": sizes, "source": "method config"}
    return {**resolution.as_record(), "sizes": sizes}
