"""Which run a config names, and whether it has already finished: shared by the run itself (skip on rerun) and the
sweeper (leave finished runs out before launching anything). Cheap: no model, no data."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError
from .keys import RunKey, config_hash
from .methods import budget_slug, normalise_budget
from .records import read_record


def run_key(cfg: DictConfig) -> RunKey:
    config = OmegaConf.to_container(cfg, resolve=True)
    return RunKey(model=cfg.model.name, task=cfg.task.name, method=cfg.method.name,
                  budget_slug=budget_slug(cfg.method, cfg.budget), seed=int(cfg.seed), config_hash=config_hash(config))


def finished_record(cfg: DictConfig, key: RunKey) -> dict | None:
    """The finished record of this run if there is one (then the run is skipped unless force=true). A finished
    record of the same cell with other settings is an error: the user says which to keep."""
    path = key.record_path(cfg.results_dir)
    existing = read_record(path)
    if cfg.force or not existing or existing.get("status") != "ok":
        return None
    if existing.get("config_hash") != key.config_hash and config_hash(existing.get("config") or {}) != key.config_hash:
        # (a record written under an earlier hash rule whose config is this run's counts as this run: the hash is a
        # function of the stored config, runners/keys.py)
        raise ConfigError(f"{path} holds a finished run with other settings (hash {existing.get('config_hash')} vs "
                          f"{key.config_hash}); pass force=true to replace it, or results_dir=DIR to keep both")
    return existing


def finished_path(cfg: DictConfig) -> Path | None:
    """For planning a sweep: the record path if this run finished with these settings, else None (a run whose
    config cannot resolve, or whose cell holds other settings, is left to fail with its own message)."""
    try:
        key = run_key(normalise_budget(cfg))
        return key.record_path(cfg.results_dir) if finished_record(cfg, key) is not None else None
    except Exception:  # noqa: BLE001 - planning never decides a run's errors; the run reports them
        return None
