"""`hydra/sweeper=grid`: Hydra's basic sweeper, plus unions of sweeps and skipping finished runs.

A paper table is rarely one Cartesian product: Table 1 runs full fine-tuning and BitFit once, the adapters at three
budgets and LoRA / AdaLoRA at two. `grids` lists the products whose union is the sweep; `params` and the command
line's sweeps apply to every one of them (the command line wins):

    hydra:
      sweeper:
        params: {task: "cola,sst2", seed: "1,2,3"}
        grids:
          - {method: "full,bitfit"}
          - {method: "lora,adalora", budget: "1.2M,0.3M"}

Before launching, every job's config is composed (a config error stops the sweep before anything runs) and jobs
whose result record already says `ok` are left out (`force=true` keeps them), so a rerun of a sweep, or of a SLURM
array after a crash, only starts what is missing. `hydra.sweeper.dry_run=true` prints the plan and runs nothing.
Without `grids` it sweeps exactly as the basic sweeper does.

Hydra loads sweepers only from the `hydra_plugins` package, which is why this module lives here and not in runners/.
"""
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class GridSweeperConf:
    _target_: str = "hydra_plugins.adalora_sweeper.grid_sweeper.GridSweeper"
    max_batch_size: Optional[int] = None
    params: Optional[Dict[str, Any]] = None
    grids: Optional[List[Dict[str, Any]]] = None
    skip_finished: bool = True
    dry_run: bool = False


ConfigStore.instance().store(group="hydra/sweeper", name="grid", node=GridSweeperConf, provider="adalora-suite")


def _value(value: Any) -> str:
    """A sweep value from YAML: a list becomes Hydra's comma list; anything else its text."""
    if isinstance(value, (list, tuple)) or OmegaConf.is_list(value):
        return ",".join(str(v) for v in value)
    return str(value)


def expand(params: Optional[Dict[str, Any]], grids: Optional[Sequence[Dict[str, Any]]], arguments: Sequence[str],
           parser: OverridesParser) -> List[List[str]]:
    """Every job's overrides: for each grid, the product of params + the grid + the command line (later wins per
    key), in order; a job two grids share appears once."""
    jobs: List[List[str]] = []
    seen: set = set()
    for grid in grids or [{}]:
        lines = [f"{k}={_value(v)}" for k, v in (params or {}).items()]
        lines += [f"{k}={_value(v)}" for k, v in (grid or {}).items()]
        lines += list(arguments)
        for job in BasicSweeper.split_arguments(parser.parse_overrides(lines), None)[0]:
            key = tuple(sorted(job))
            if key not in seen:
                seen.add(key)
                jobs.append(job)
    return jobs


def report_failures(results: Sequence[JobReturn]) -> int:
    """Name, at the end of the sweep's own output, each run that stopped on its error (a bad setting, a diverged
    loss: runners/cli.py returns {"error": ...}) while the others carried on; under submitit its line is otherwise
    only in that job's log. The number of such runs."""
    failed = [r for r in results if isinstance(r.return_value, dict) and "error" in r.return_value]
    for r in failed:
        print(f"error: run {' '.join(r.overrides)}: {r.return_value['error']}", file=sys.stderr, flush=True)
    if failed:
        log.info(f"Sweep: {len(results) - len(failed)} of {len(results)} runs ended ok; {len(failed)} failed (above)")
    return len(failed)


class GridSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, Any]] = None,
                 grids: Optional[List[Dict[str, Any]]] = None, skip_finished: bool = True,
                 dry_run: bool = False) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.grids = [dict(g) for g in grids] if grids else None
        self.skip_finished = skip_finished
        self.dry_run = dry_run

    def setup(self, *, hydra_context, task_function, config) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        if self.max_batch_size is None and type(self.launcher).__name__ == "LocalLauncher":
            # submitit's local executor starts every job it is given at once: hand it one at a time
            self.max_batch_size = 1

    def _job_config(self, overrides: List[str]) -> DictConfig:
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(cfg):
            del cfg["hydra"]
        return cfg

    def plan(self, arguments: List[str]) -> Tuple[List[List[str]], List[Tuple[List[str], str]]]:
        """(jobs to launch, [(finished job, its record)]). Composing every job here catches config errors early."""
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        jobs = expand(self.params, self.grids, arguments, parser)
        todo, done = [], []
        tic = time.perf_counter()
        finished = None
        if self.skip_finished:
            from runners.plan import finished_path  # lazy: Hydra imports this module at every start
            finished = finished_path
        for job in jobs:
            cfg = self._job_config(job)
            path = finished(cfg) if finished else None
            if path is None:
                todo.append(job)
            else:
                done.append((job, str(path)))
        log.debug(f"Composed {len(jobs)} job configs in {time.perf_counter() - tic:.1f} s")
        return todo, done

    def sweep(self, arguments: List[str]) -> Any:
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        todo, done = self.plan(arguments)
        total = len(todo) + len(done)
        log.info(f"Sweep: {total} runs; {len(done)} finished (skipped; force=true reruns them); {len(todo)} to run")
        if self.dry_run:
            for job in todo:
                print("run   ", " ".join(job))
            for job, path in done:
                print("done  ", " ".join(job), f"-> {path}")
            return []

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        self.overrides = list(self.split_overrides_to_chunks(todo, self.max_batch_size)) if todo else []
        returns: List[Sequence[JobReturn]] = []
        initial_job_idx = 0
        while not self.is_done():
            batch = self.get_job_batch()
            results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
            for r in results:
                _ = r.return_value  # a job that raised re-raises here, as with the basic sweeper
            initial_job_idx += len(batch)
            returns.append(results)
        report_failures([r for results in returns for r in results])
        return returns
