"""From the `method` config and the `budget` label to an `adalora` method spec."""
from __future__ import annotations

import dataclasses

from omegaconf import DictConfig, OmegaConf

import adalora
from adalora import Resolution, resolve_budget

from .errors import ConfigError

SPECS = {"adalora": adalora.AdaLoRA, "lora": adalora.LoRA}


def build_spec(method_cfg: DictConfig, budget, model) -> tuple[object, Resolution | None]:
    """The spec the method config describes, with the sizes the budget names (the budget wins over the
    config's sizes; without a budget the config's sizes stand)."""
    fields = OmegaConf.to_container(method_cfg, resolve=True)
    name = fields.pop("name")
    cls = SPECS.get(name)
    if cls is None:
        raise ConfigError(f"unknown method {name!r}: choose one of {', '.join(SPECS)}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"method.{unknown[0]} is not a setting of {name}; its settings are {', '.join(sorted(known))}")
    resolution = None
    if budget is not None:
        resolution = resolve_budget(budget, model, name, targets=fields.get("targets"))
        fields.update(resolution.sizes)
    return cls(**fields), resolution


SIZE_FIELDS = {"adalora": ("target_rank", "init_rank"), "lora": ("rank",)}


def budget_slug(method_cfg: DictConfig, budget) -> str:
    """The record-path component of the budget, known before any model is loaded: the label's slug ('0.3pct'),
    or without a label the method's own size ('r8', 'r2-from6')."""
    if budget is not None:
        return adalora.parse_budget(budget).slug
    if method_cfg.name == "adalora":
        return f"r{method_cfg.target_rank}-from{method_cfg.init_rank}"
    if method_cfg.name == "lora":
        return f"r{method_cfg.rank}"
    return "fixed"


def budget_record(spec, method: str, resolution: Resolution | None) -> dict:
    """The record's `budget`: the label, its resolution and the sizes that ran."""
    sizes = {f: getattr(spec, f) for f in SIZE_FIELDS.get(method, ())}
    if resolution is None:
        return {"label": None, "slug": None, "sizes": sizes, "source": "method config"}
    return {**resolution.as_record(), "sizes": sizes}
