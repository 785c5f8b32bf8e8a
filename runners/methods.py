"""From the `method` config and the `budget` label to an `adalora` method spec."""
from __future__ import annotations

import dataclasses
import logging

from omegaconf import DictConfig, OmegaConf

import adalora
from adalora import Resolution, resolve_budget
from adalora.budget import FIXED_SLUGS, SIZE_FIELDS, budget_applies

from .errors import ConfigError

log = logging.getLogger("runners")

SPECS = {"adalora": adalora.AdaLoRA, "lora": adalora.LoRA, "houlsby": adalora.Houlsby, "pfeiffer": adalora.Pfeiffer,
         "bitfit": adalora.BitFit, "full": adalora.Full}


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
        resolution = resolve_budget(budget, model, kind, targets=fields.get("targets"))
        fields.update(resolution.sizes)
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
    if kind == "adalora":
        return f"r{method_cfg.target_rank}-from{method_cfg.init_rank}"
    if kind == "lora":
        return f"r{method_cfg.rank}"
    if kind in ("houlsby", "pfeiffer"):
        return f"d{method_cfg.dim}"
    return "fixed"


def budget_record(spec, method: str, resolution: Resolution | None) -> dict:
    """The record's `budget`: the label, its resolution and the sizes that ran."""
    sizes = {f: getattr(spec, f) for f in SIZE_FIELDS.get(method, ())}
    if method in FIXED_SLUGS:
        return {"label": None, "slug": FIXED_SLUGS[method], "sizes": {}, "source": "fixed size (a budget does not apply)"}
    if resolution is None:
        return {"label": None, "slug": None, "sizes": sizes, "source": "method config"}
    return {**resolution.as_record(), "sizes": sizes}
