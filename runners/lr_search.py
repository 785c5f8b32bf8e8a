"""Selection step of the CPU reproduction: the learning rate each method keeps on each task, from the grid's records.

    python -m runners.lr_search            # reads results/lr-search/, writes conf/experiment/cpu/chosen_lr.yaml
                                           # and results/lr-search/README.md (every grid, the choice marked)

The grid (conf/experiment/cpu/lr_grid.yaml) runs every method on every task at the selection seed (0, not one of the
reported seeds 1-5) over the same rule of rates: three rates x2 apart up to the method family's centre. Per task and
method the rate with the best dev score of the task's main metric is kept; a tie goes to the smaller rate; a failed
run (e.g. diverged to NaN) is never chosen. A (task, method) whose grid is not complete yet gets no rate (the sweeps
that need it then stop at composition with the missing key), so a partial grid never decides. A choice at the
grid's edge, or one no better than the majority class, is flagged in the README and in the YAML's comment.

The chosen rates land in `cpu_tasks.<task>.lr.<method>`, which conf/experiment/cpu/protocol.yaml reads into
trainer.learning_rate: every table sweep (cpu/table1, table4, table5, fig2) trains each method at its task's rate.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from runners.errors import ConfigError

GRID_SWEEP = "python run.py +experiment=cpu/lr_grid"
GRID_CONFIG = Path(__file__).resolve().parent.parent / "conf" / "experiment" / "cpu" / "lr_grid.yaml"


@dataclass(frozen=True)
class Trial:
    task: str
    method: str
    lr: float
    score: float | None         # main metric on dev; None when the run failed
    baseline: float | None      # the majority class's score on dev (the record's baseline)
    metric: str
    path: Path


def planned_rates(grid_config: Path = GRID_CONFIG) -> dict[tuple[str, str], set[float]]:
    """(task, method) -> the rates the grid sweep runs, from its config (params x each grid)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from hydra_plugins.adalora_sweeper.grid_sweeper import expand

    sweeper = OmegaConf.load(grid_config).hydra.sweeper
    plan: dict[tuple[str, str], set[float]] = {}
    for job in expand(sweeper.params, sweeper.grids, [], OverridesParser.create()):
        kv = dict(item.split("=", 1) for item in job)
        plan.setdefault((kv["task"], kv["method"]), set()).add(float(kv["trainer.learning_rate"]))
    return plan


def read_trials(root: Path, model: str, seed: int) -> list[Trial]:
    trials = []
    for path in sorted(root.glob(f"lr*/{model}/*/*/*/seed{seed}.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} is not a readable record ({err}): delete it and rerun `{GRID_SWEEP}`") from None
        config = record.get("config", {})
        metric = record.get("main_metric", "?")
        score = record.get("metrics", {}).get(metric) if record.get("status") == "ok" else None
        baseline = (record.get("baseline") or {}).get(metric)
        trials.append(Trial(record["task"], record["method"], float(config["trainer"]["learning_rate"]),
                            None if score is None else float(score), baseline, metric, path))
    if not trials:
        raise ConfigError(f"no learning-rate grid records under {root}/lr*/{model}/: run `{GRID_SWEEP}` first")
    return trials


@dataclass(frozen=True)
class Choice:
    trial: Trial
    rates: tuple[float, ...]     # the cell's grid

    @property
    def at_edge(self) -> bool:
        return len(self.rates) > 1 and self.trial.lr in (self.rates[0], self.rates[-1])

    @property
    def learns(self) -> bool:
        t = self.trial
        return t.baseline is None or (t.score is not None and t.score > t.baseline)

    def flags(self) -> list[str]:
        out = []
        if self.at_edge:
            out.append("at the grid's edge")
        if not self.learns:
            out.append("no better than the majority class")
        return out


def choose(trials: list[Trial], plan: dict[tuple[str, str], set[float]] | None = None
           ) -> tuple[dict[tuple[str, str], Choice], dict[tuple[str, str], list[float]]]:
    """(the choice of every complete (task, method), the rates still missing of every incomplete one). Without a
    plan every cell with records counts as complete. A cell whose every run failed is an error."""
    cells = dict.fromkeys((t.task, t.method) for t in trials)
    if plan:
        cells.update(dict.fromkeys(plan))
    chosen, missing = {}, {}
    for cell in cells:
        mine = [t for t in trials if (t.task, t.method) == cell]
        want = set(plan.get(cell, ())) if plan else set()
        lacking = sorted(want - {t.lr for t in mine})
        if lacking:
            missing[cell] = lacking
            continue
        ok = [t for t in mine if t.score is not None]
        if not ok:
            raise ConfigError(f"every grid run of {cell[1]} on {cell[0]} failed: see {mine[0].path.parent}")
        best = max(ok, key=lambda t: (t.score, -t.lr))
        chosen[cell] = Choice(best, tuple(sorted({t.lr for t in mine} | want)))
    return chosen, missing


def _scores(trials: list[Trial], cell: tuple[str, str]) -> str:
    return ", ".join(f"{t.lr:g}: {'failed' if t.score is None else f'{t.score:.2f}'}"
                     for t in sorted(trials, key=lambda t: t.lr) if (t.task, t.method) == cell)


def chosen_yaml(chosen: dict, trials: list[Trial], seed: int) -> str:
    lines = ["# @package _global_",
             f"# Written by `python -m runners.lr_search` from the learning-rate grid (dev set, selection seed {seed}):",
             "# the rate every method trains with on each task in the CPU reproduction's table sweeps (read by",
             "# cpu/protocol into trainer.learning_rate). Regenerate it after rerunning the grid; do not edit.",
             "cpu_tasks:"]
    for task in sorted({cell[0] for cell in chosen}):
        lines += [f"  {task}:", "    lr:"]
        for (t, method), choice in sorted(chosen.items()):
            if t != task:
                continue
            flags = choice.flags()
            note = f" [{'; '.join(flags)}]" if flags else ""
            lines.append(f"      # {method} -- {choice.trial.metric} by rate: {_scores(trials, (t, method))}{note}")
            lines.append(f"      {method}: {choice.trial.lr:g}")
    return "\n".join(lines) + "\n"


def grid_markdown(chosen: dict, missing: dict, trials: list[Trial], seed: int) -> str:
    lines = [f"# Learning-rate grid of the CPU reproduction (dev set, selection seed {seed})", "",
             "Produced by `make cpu-select` (`python run.py +experiment=cpu/lr_grid`, records in `lr<rate>/`) and read",
             "by `python -m runners.lr_search`, which keeps the **bold** rate of each row for every reported seed",
             "(conf/experiment/cpu/chosen_lr.yaml). These runs select; they are not results. Each method's three rates",
             "are x2 apart up to its family's centre (conf/experiment/cpu/lr_grid.yaml).", ""]
    for task in sorted({t.task for t in trials} | {c[0] for c in missing}):
        mine = [t for t in trials if t.task == task]
        metric = mine[0].metric if mine else "?"
        baseline = next((t.baseline for t in mine if t.baseline is not None), None)
        base = f"; majority class {baseline:.2f}" if baseline is not None else ""
        lines += [f"## {task} ({metric}{base})", "", "| method | rate: score | chosen | flags |", "|---|---|---:|---|"]
        methods = sorted({t.method for t in mine} | {c[1] for c in missing if c[0] == task})
        for method in methods:
            cell = (task, method)
            cells = []
            for t in sorted((t for t in mine if t.method == method), key=lambda t: t.lr):
                text = f"{t.lr:g}: " + ("failed" if t.score is None else f"{t.score:.2f}")
                cells.append(f"**{text}**" if cell in chosen and chosen[cell].trial is t else text)
            if cell in chosen:
                lines.append(f"| {method} | {', '.join(cells)} | {chosen[cell].trial.lr:g} | "
                             f"{'; '.join(chosen[cell].flags()) or '—'} |")
            else:
                lacking = ", ".join(f"{r:g}" for r in missing.get(cell, []))
                lines.append(f"| {method} | {', '.join(cells) or '—'} | pending | still to run: {lacking} |")
        lines.append("")
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.lr_search", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/lr-search"))
    parser.add_argument("--out", type=Path, default=Path("conf/experiment/cpu/chosen_lr.yaml"))
    parser.add_argument("--grid", default=str(GRID_CONFIG),
                        help="the grid sweep's config (what is planned); '' counts every cell with records as complete")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--seed", type=int, default=0, help="the selection seed (default 0)")
    args = parser.parse_args(argv)
    try:
        trials = read_trials(args.results, args.model, args.seed)
        chosen, missing = choose(trials, planned_rates(Path(args.grid)) if args.grid else None)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _write(args.out, chosen_yaml(chosen, trials, args.seed))
    _write(args.results / "README.md", grid_markdown(chosen, missing, trials, args.seed))
    for (task, method), choice in sorted(chosen.items()):
        flags = choice.flags()
        print(f"{task:<5} {method:<20} lr {choice.trial.lr:g}  ({choice.trial.metric} {choice.trial.score:.2f})"
              + (f"  [{'; '.join(flags)}]" if flags else ""))
    for (task, method), lacking in sorted(missing.items()):
        print(f"{task:<5} {method:<20} pending: {len(lacking)} rate(s) still to run")
    print(f"wrote {args.out} and {args.results / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
