"""From the `method` config (conf/method/<name>.yaml) to an `adalora` method spec. What each method is, how a
budget sizes it and how it reads in a record path is the library's (adalora/registry.py, one record per method);
this module only reads the YAML.

A method config's `name` is what records and paths use; `spec` names the registered method it builds (a variant
such as `svd-lora` is `spec: adalora` with `allocate: false`), by default its `name`; `module` names a Python
module to import first, where a method outside the library registers itself. Every other key is a spec field."""
from __future__ import annotations

import importlib
import logging

from omegaconf import DictConfig, OmegaConf

import adalora
from adalora import Resolution

from .errors import ConfigError

log = logging.getLogger("runners")

RESERVED = ("name", "spec", "module")


def registered(method_cfg) -> adalora.Method:
    """The library's record of the method this config builds (its `module` imported first, if it names one)."""
    module = method_cfg.get("module")
    if module:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(f"method.module={module} cannot be imported ({err}); put its folder on PYTHONPATH "
                              f"or install it") from None
    try:
        return adalora.method(method_cfg.get("spec") or method_cfg["name"])
    except adalora.AdaLoRAError as err:
        raise ConfigError(str(err)) from None


def spec_fields(method_cfg) -> dict:
    """The config's spec fields (everything but name, spec and module); a DictConfig or a stored record's dict."""
    fields = OmegaConf.to_container(method_cfg, resolve=True) if isinstance(method_cfg, DictConfig) else method_cfg
    return {k: v for k, v in fields.items() if k not in RESERVED}


def budget_applies(method_cfg: DictConfig) -> bool:
    return registered(method_cfg).size_for(spec_fields(method_cfg)).applies


def size_fields(method_cfg) -> tuple[str, ...]:
    """The spec fields a budget sets for this method (they follow the label, so they are not part of the config
    hash when a label is given: runners/keys.py)."""
    return registered(method_cfg).size_for(spec_fields(method_cfg)).fields


def normalise_budget(cfg: DictConfig) -> DictConfig:
    """BitFit and full fine-tuning have fixed sizes, so a budget label does not apply to them: set it to null
    before the run key and config hash are computed, so that `method=full,lora budget=0.08%,0.16%` runs full
    once and finds it finished afterwards."""
    if cfg.get("budget") is not None and not budget_applies(cfg.method):
        log.info("method %s has a fixed size (%s); budget=%s does not apply to it and is set to null",
                 cfg.method.name, budget_slug(cfg.method, None), cfg.budget)
        cfg.budget = None
    return cfg


def build_spec(method_cfg: DictConfig, budget, model) -> tuple[object, Resolution | None]:
    """The spec the method config describes, with the sizes the budget names (the budget wins over the
    config's sizes; without a budget the config's sizes stand)."""
    method = registered(method_cfg)
    fields = spec_fields(method_cfg)
    unknown = sorted(set(fields) - set(method.settings()))
    if unknown:
        raise ConfigError(f"method.{unknown[0]} is not a setting of {method_cfg.name}; its settings are "
                          f"{', '.join(sorted(method.settings())) or 'none'}")
    return adalora.build_spec(method.name, budget, model, **fields)


def budget_slug(method_cfg: DictConfig, budget) -> str:
    """The record-path component of the budget, known before any model is loaded: the label's slug ('0.3pct'),
    or without a label the method's own size ('r8', 'r2-from6', 'd16'); 'all' / 'bias' for full fine-tuning and
    BitFit, whose size is fixed."""
    size = registered(method_cfg).size_for(spec_fields(method_cfg))
    if not size.applies:
        return size.slug({})
    if budget is not None:
        return adalora.parse_budget(budget).slug
    return size.slug(method_cfg)


def budget_record(spec, resolution: Resolution | None) -> dict:
    """The record's `budget`: the label, its resolution and the sizes that ran."""
    size = adalora.registry.method_of(spec).size_for(spec)
    if not size.applies:
        return {"label": None, "slug": size.slug({}), "sizes": {}, "source": "fixed size (a budget does not apply)"}
    sizes = {f: getattr(spec, f) for f in size.fields}
    if resolution is None:
        return {"label": None, "slug": None, "sizes": sizes, "source": "method config"}
    return {**resolution.as_record(), "sizes": sizes}
