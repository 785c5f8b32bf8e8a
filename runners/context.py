"""One run from config to record: its identity, where it writes, what it resolved to, how long it took.

A `RunContext` is opened from the composed config (the budget normalised, the key and paths fixed), gains the
method's spec and budget resolution once the model is loaded (`resolve`: the sizes are written into the config,
which is then final and still reproduces the key's hash), and gives the result record (`record`)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from adalora import Resolution

from .environment import git_info, machine, versions
from .errors import ConfigError
from .keys import HASH_RULE, RunKey, config_hash
from .methods import budget_record, normalise_budget
from .plan import run_key
from .records import SCHEMA_VERSION


@dataclass
class RunContext:
    cfg: DictConfig                      # the run's config; final (and hashed) once `resolve` has run
    task: object                         # tasks.Task
    key: RunKey
    record_path: Path
    output_dir: Path
    started: float = field(default_factory=time.time)
    spec: object | None = None           # the adalora spec the method config and budget built
    resolution: Resolution | None = None
    handle: object | None = None         # what adalora.attach returned
    data_sizes: dict = field(default_factory=dict)   # train_examples, eval_examples
    timings: dict = field(default_factory=dict)      # seconds outside training: load_s, evaluate_s
    cost: dict = field(default_factory=dict)         # runners/cost.py's CostMeter summary of the training loop

    @classmethod
    def open(cls, cfg: DictConfig, task) -> "RunContext":
        cfg = normalise_budget(cfg)  # full / bitfit: a budget does not apply; before the key and hash
        key = run_key(cfg)
        return cls(cfg=cfg, task=task, key=key, record_path=key.record_path(cfg.results_dir),
                   output_dir=key.output_dir(cfg.outputs_dir))

    def resolve(self, spec, resolution: Resolution | None) -> None:
        """Take the spec and its budget resolution; the config then says what runs (the sizes the budget set, the
        values the spec normalised) and must still reproduce the key's hash (the label-set sizes are not hashed:
        runners/keys.py)."""
        self.spec, self.resolution = spec, resolution
        for f in dataclasses.fields(spec):
            if f.name in self.cfg.method and self.cfg.method[f.name] != getattr(spec, f.name):
                OmegaConf.update(self.cfg, f"method.{f.name}", getattr(spec, f.name))
        final = config_hash(OmegaConf.to_container(self.cfg, resolve=True))
        if final != self.key.config_hash:
            raise ConfigError(f"the method spec changed settings of {self.key.cell} beyond the sizes its budget sets "
                              f"(config hash {self.key.config_hash} -> {final}); write the values the spec takes "
                              f"(e.g. integers for ranks) in the method config")

    def record(self, trainer, *, status: str, metrics: dict | None = None, reference: dict | None = None) -> dict:
        """The result record (README, "Reading a result record"); a failed run has no metrics."""
        args, handle = trainer.args, self.handle
        return {
            "schema": SCHEMA_VERSION,
            "task": self.task.name, "model": self.cfg.model.name, "method": self.cfg.method.name,
            "seed": int(self.cfg.seed),
            "status": status,
            "budget": budget_record(self.spec, self.resolution),
            "params": handle.parameter_report(),
            "metrics": metrics or {},
            "main_metric": self.task.main_metric,
            "paper_metrics": list(self.task.paper_metrics),
            "baseline": reference,
            "rank_pattern": handle.rank_pattern(),
            "rank_layout": {name: list(where) for name, where in handle.layout().items()},
            "steps": trainer.state.global_step,
            "epochs": trainer.state.epoch,
            "batch": {"per_device": args.per_device_train_batch_size,
                      "accumulation": args.gradient_accumulation_steps, "processes": args.world_size,
                      "global": args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size},
            "train_examples": self.data_sizes.get("train_examples"),
            "eval_examples": self.data_sizes.get("eval_examples"),
            "wall_time_s": round(time.time() - self.started, 2),
            "cost": {**self.cost, **self.timings},
            "run_key": self.key.cell + f"/seed{self.key.seed}",
            "config_hash": self.key.config_hash,
            "config_hash_rule": HASH_RULE,
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "versions": versions(),
            "git": git_info(),
            "machine": machine(args.world_size),
            "output_dir": str(self.output_dir),
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
