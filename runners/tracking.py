"""Experiment tracking: Weights & Biases as a live view beside the local record, which stays the source of truth.

`logger=wandb` logs the resolved config, the training losses (train/*), the final metrics (eval/*), the parameter
report (params/*), the budget and AdaLoRA's rank pattern (rank/*, and a table of (matrix, layer, type, rank)).
group = the table cell (model/task/method/budget), job_type = train, tags name task, method, budget, model and
hparams; the run id derives from the run key and config hash, so a resumed or requeued run continues its W&B run.
Only rank 0 logs. Any W&B failure (no network, no account, a full disk) is one warning and the run carries on;
`wandb.finish()` runs however the run ends.
"""
from __future__ import annotations

import hashlib
import logging
import os
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from transformers import TrainerCallback

from .reliability.distributed import is_main_process
from .errors import ConfigError

log = logging.getLogger("runners")
LOGGERS = ("none", "wandb")
DEFAULT_PROJECT = "adalora-suite"


class Tracker:
    """No tracking: logger=none, a rank other than 0, or a tracker that failed to start."""

    def callbacks(self) -> list[TrainerCallback]:
        return []

    def log_result(self, record: dict) -> None:
        """The run's outcome: metrics, parameter report, budget, rank pattern."""

    def finish(self, ok: bool) -> None:
        """Close the tracker's run (always called, however the run ends)."""


class _LogCallback(TrainerCallback):
    """The Trainer's periodic logs (loss, learning rate, grad norm) as train/*, at the optimizer step."""

    def __init__(self, tracker: "WandbTracker") -> None:
        self.tracker = tracker

    def on_log(self, args, state, control, logs=None, **kwargs):
        values = {f"train/{k}": v for k, v in (logs or {}).items() if isinstance(v, (int, float))}
        if values:
            self.tracker.log(values, step=state.global_step)


class WandbTracker(Tracker):
    def __init__(self, run) -> None:
        self.run = run
        self.failed = False

    def _safe(self, what: str, fn, *args, **kwargs):
        if self.failed:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - W&B never fails a run
            self.failed = True
            log.warning("W&B: %s failed (%s); the run carries on without W&B, its record is unaffected", what,
                        str(err).splitlines()[0] if str(err) else type(err).__name__)
            return None

    def log(self, values: dict, step: int | None = None) -> None:
        self._safe("logging", self.run.log, values, step=step)

    def callbacks(self) -> list[TrainerCallback]:
        return [_LogCallback(self)]

    def log_result(self, record: dict) -> None:
        import wandb

        def result():
            metrics = record.get("metrics", {})
            self.run.log({f"eval/{k}": v for k, v in metrics.items() if v is not None}, step=record.get("steps"))
            summary = {f"eval/{k}": v for k, v in metrics.items()}
            summary.update({f"params/{k}": v for k, v in record.get("params", {}).items()})
            summary.update({f"rank/{k}": v for k, v in record.get("rank_pattern", {}).items()})
            budget = record.get("budget", {})
            summary.update({"budget/label": budget.get("label"), "budget/source": budget.get("source"),
                            **{f"budget/{k}": v for k, v in budget.get("sizes", {}).items()},
                            "main_metric": record.get("main_metric"), "steps": record.get("steps"),
                            "wall_time_s": record.get("wall_time_s"), "status": record.get("status")})
            self.run.summary.update(summary)
            layout = record.get("rank_layout", {})
            if record.get("rank_pattern"):
                rows = [[name, *layout.get(name, ["", ""]), rank] for name, rank in record["rank_pattern"].items()]
                self.run.log({"rank_pattern": wandb.Table(columns=["matrix", "layer", "type", "rank"], data=rows)},
                             step=record.get("steps"))

        self._safe("logging the result", result)

    def finish(self, ok: bool) -> None:
        try:
            self.run.finish(exit_code=0 if ok else 1)
        except Exception as err:  # noqa: BLE001
            log.warning("W&B: closing the run failed (%s)", err)


def wandb_run_id(key) -> str:
    """Stable across restarts of the same run (same cell, seed and settings), so a resumed run continues."""
    digest = hashlib.sha1(f"{key.cell}/seed{key.seed}".encode()).hexdigest()[:10]
    return f"{digest}-{key.config_hash}"


def wandb_settings(lcfg: DictConfig, output_dir: Path) -> dict:
    """Where and how the W&B run logs, as W&B users expect: each `logger.*` key when it is set (conf/logger/wandb.yaml
    leaves them null, so only the command line or an experiment sets them), else W&B's own environment variable
    (WANDB_PROJECT, WANDB_ENTITY, WANDB_MODE, WANDB_DIR), else the suite's default (project adalora-suite, the run's
    output folder, W&B's default entity and mode). WANDB_TAGS (comma-separated) add to the run's tags."""
    env = os.environ
    env_tags = [t.strip() for t in env.get("WANDB_TAGS", "").split(",") if t.strip()]
    return {"project": lcfg.get("project") or env.get("WANDB_PROJECT") or DEFAULT_PROJECT,
            "entity": lcfg.get("entity") or env.get("WANDB_ENTITY") or None,
            "mode": lcfg.get("mode") or env.get("WANDB_MODE") or None,
            "dir": str(lcfg.get("dir") or env.get("WANDB_DIR") or output_dir),
            "tags": [*[str(t) for t in (lcfg.get("tags") or [])], *env_tags]}


def start(cfg: DictConfig, key, output_dir: Path) -> Tracker:
    """The tracker `cfg.logger` asks for (on rank 0; other ranks get none)."""
    name = cfg.logger.get("name", "none")
    if name not in LOGGERS:
        raise ConfigError(f"unknown logger {name!r}: choose one of {', '.join(LOGGERS)}")
    if name == "none" or not is_main_process():
        return Tracker()
    budget_label = cfg.budget if cfg.budget is not None else key.budget_slug
    tags = [f"task:{key.task}", f"method:{key.method}", f"budget:{budget_label}", f"model:{key.model}",
            f"hparams:{cfg.get('hparams', {}).get('name', 'none')}"]
    where = wandb_settings(cfg.logger, output_dir)
    folder = Path(where["dir"])
    try:
        import wandb

        folder.mkdir(parents=True, exist_ok=True)
        config = OmegaConf.to_container(cfg, resolve=True)
        config.update(run_key=f"{key.cell}/seed{key.seed}", config_hash=key.config_hash)
        run = wandb.init(project=where["project"], entity=where["entity"], mode=where["mode"], dir=str(folder),
                         id=wandb_run_id(key), resume="allow",
                         name=f"{key.task}/{key.method}/{key.budget_slug}/seed{key.seed}", group=key.cell,
                         job_type="train", tags=[t[:64] for t in [*tags, *where["tags"]]], config=config,
                         reinit="finish_previous", settings=wandb.Settings(console="off"))
    except Exception as err:  # noqa: BLE001 - W&B never fails a run
        log.warning("W&B: could not start a run (%s); the run carries on without W&B",
                    str(err).splitlines()[0] if str(err) else type(err).__name__)
        return Tracker()
    log.info("W&B run %s (group %s) in %s", run.id, key.cell, folder)
    return WandbTracker(run)


class Session:
    """Holds the run's tracker so that it is closed whatever happens (see `session`)."""

    def __init__(self) -> None:
        self.tracker: Tracker = Tracker()
        self.ok = False

    def start(self, cfg: DictConfig, key, output_dir: Path) -> Tracker:
        self.tracker = start(cfg, key, output_dir)
        return self.tracker


@contextmanager
def session():
    """`with session() as s: ... s.start(...) ... s.ok = True`: the tracker finishes on every exit path."""
    s = Session()
    try:
        yield s
    finally:
        s.tracker.finish(s.ok)
