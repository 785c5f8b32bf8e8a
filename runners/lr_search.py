"""Step 1 of the CPU reproduction, its decision: the learning rate each method keeps, from the grid's records.

    python -m runners.lr_search            # reads results/lr-search/, writes conf/experiment/cpu/chosen_lr.yaml
                                           # and results/lr-search/README.md (the whole grid, the choice marked)

Every cell (method x budget) takes the rate with the best dev score of its main metric (seed 1, SST-2); a tie goes
to the smaller rate. A run that failed (e.g. diverged to NaN) counts as not chosen. The chosen rates become the
`grids` of the seed sweep (conf/experiment/cpu/seeds.yaml), so the sweep runs exactly what the grid chose.

A chosen run is also the seed sweep's own run for that task and seed: the same settings, hence the same config
hash (where records go is not hashed). It is copied to results/runs/ (`--runs`), where the seed sweep finds it
finished instead of training it again; its config still names the grid's results_dir, so its origin stays visible.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from runners.errors import ConfigError

GRID_SWEEP = "python run.py +experiment=cpu/lr_grid"


@dataclass(frozen=True)
class Trial:
    method: str
    budget: str | None          # the budget label the run was asked for (None: the method's fixed size)
    lr: float
    score: float | None         # main metric on dev; None when the run failed
    metric: str
    path: Path

    @property
    def cell(self) -> tuple[str, str | None]:
        return self.method, self.budget


def read_trials(root: Path, model: str, task: str, seed: int) -> list[Trial]:
    trials = []
    for path in sorted(root.glob(f"lr*/{model}/{task}/*/*/seed{seed}.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(f"{path} is not a readable record ({err}): delete it and rerun `{GRID_SWEEP}`") from None
        config = record.get("config", {})
        budget = config.get("budget") if config.get("method", {}).get("name") in ("lora", "adalora") else None
        score = record.get("metrics", {}).get(record.get("main_metric")) if record.get("status") == "ok" else None
        trials.append(Trial(record["method"], budget, float(config["trainer"]["learning_rate"]),
                            None if score is None else float(score), record.get("main_metric", "?"), path))
    if not trials:
        raise ConfigError(f"no learning-rate grid records under {root}/lr*/{model}/{task}/: run `{GRID_SWEEP}` first")
    return trials


def choose(trials: list[Trial]) -> dict[tuple[str, str | None], Trial]:
    """The best trial of every cell (ties: the smaller rate); cells whose every run failed are an error."""
    chosen: dict[tuple[str, str | None], Trial] = {}
    for cell in dict.fromkeys(t.cell for t in trials):
        ok = [t for t in trials if t.cell == cell and t.score is not None]
        if not ok:
            raise ConfigError(f"every grid run of {cell[0]} {cell[1] or ''} failed: see {trials[0].path.parent}")
        chosen[cell] = max(ok, key=lambda t: (t.score, -t.lr))
    return chosen


def _cell_name(cell: tuple[str, str | None]) -> str:
    return f"{cell[0]} {cell[1]}" if cell[1] else cell[0]


def chosen_yaml(chosen: dict, trials: list[Trial], task: str, seed: int) -> str:
    lines = ["# @package _global_",
             f"# Written by `python -m runners.lr_search` from the learning-rate grid ({task} dev, seed {seed}): the rate",
             "# every cell of the CPU reproduction trains with. Regenerate it after rerunning the grid; do not edit.",
             "hydra:", "  sweeper:", "    grids:"]
    for cell, trial in chosen.items():
        scores = ", ".join(f"{t.lr:g}: {'failed' if t.score is None else f'{t.score:.2f}'}"
                           for t in sorted(trials, key=lambda t: t.lr) if t.cell == cell)
        lines.append(f"      # {_cell_name(cell)} -- {trial.metric} by rate: {scores}")
        entry = f"      - method: {cell[0]}\n"
        if cell[1]:
            entry += f"        budget: {cell[1]}\n"
        entry += f"        trainer.learning_rate: {trial.lr:g}"
        lines.append(entry)
    return "\n".join(lines) + "\n"


def grid_markdown(chosen: dict, trials: list[Trial], task: str, seed: int) -> str:
    rates = sorted({t.lr for t in trials})
    metric = trials[0].metric
    lines = [f"# Learning-rate grid of the CPU reproduction ({task} dev {metric}, seed {seed})", "",
             "Produced by `python run.py +experiment=cpu/lr_grid` (records in `lr<rate>/`) and read by",
             "`python -m runners.lr_search`, which keeps the **bold** rate of each row for every task and seed",
             "(conf/experiment/cpu/chosen_lr.yaml). These runs select; they are not results.", "",
             "| method | " + " | ".join(f"{r:g}" for r in rates) + " |", "|---|" + "---:|" * len(rates)]
    for cell, best in chosen.items():
        cells = []
        for rate in rates:
            found = [t for t in trials if t.cell == cell and t.lr == rate]
            text = "–" if not found else "failed" if found[0].score is None else f"{found[0].score:.2f}"
            cells.append(f"**{text}**" if found and found[0] is best else text)
        lines.append(f"| {_cell_name(cell)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def promote(chosen: dict, root: Path, runs: Path) -> list[Path]:
    """Copy each chosen record to where the seed sweep writes the same run; an existing record stays."""
    copied = []
    for trial in chosen.values():
        rel = trial.path.relative_to(root)
        target = runs.joinpath(*rel.parts[1:])          # drop the lr<rate>/ folder
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".json.tmp")
        shutil.copyfile(trial.path, tmp)
        tmp.replace(target)
        copied.append(target)
    return copied


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runners.lr_search", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/lr-search"))
    parser.add_argument("--out", type=Path, default=Path("conf/experiment/cpu/chosen_lr.yaml"))
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=Path, default=Path("results/runs"),
                        help="where the seed sweep's records go (the chosen runs are copied there)")
    args = parser.parse_args(argv)
    try:
        trials = read_trials(args.results, args.model, args.task, args.seed)
        chosen = choose(trials)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _write(args.out, chosen_yaml(chosen, trials, args.task, args.seed))
    _write(args.results / "README.md", grid_markdown(chosen, trials, args.task, args.seed))
    copied = promote(chosen, args.results, args.runs)
    for cell, trial in chosen.items():
        print(f"{_cell_name(cell):<14} lr {trial.lr:g}  ({trial.metric} {trial.score:.2f})")
    print(f"{len(copied)} chosen run(s) copied to {args.runs} (the seed sweep's seed {args.seed} on {args.task})")
    print(f"wrote {args.out} and {args.results / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
